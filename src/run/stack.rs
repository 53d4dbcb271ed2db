//! One CloudFormation stack: skip when unchanged, otherwise create, show and execute a change
//! set, follow its events to a final state and read the outputs. Also deletion.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackEvent, Tag, TemplateStage,
};
use serde::Serialize;

use crate::aws::errors::describe_sdk_error;
use crate::error::{Detail, ExitKind, Failure, fail};
use crate::poll::Backoff;
use crate::progress::StageProgress;

/// What to deploy.
#[derive(Debug, Clone)]
pub(crate) struct StackSpec {
    pub(crate) stack_name: String,
    pub(crate) template: TemplateSource,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
    /// The CloudFormation execution role (passed as RoleARN); None deploys with the caller's rights.
    pub(crate) execution_role_arn: Option<String>,
    pub(crate) termination_protection: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum TemplateSource {
    Body(String),
    /// Uploaded to S3 (templates over the TemplateBody limit); the body is kept for comparisons.
    Url {
        url: String,
        body: String,
    },
}

impl TemplateSource {
    fn body(&self) -> &str {
        match self {
            TemplateSource::Body(b) => b,
            TemplateSource::Url { body, .. } => body,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Create and execute the change set.
    Deploy,
    /// Create and show the change set, then delete it.
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Approval {
    Never,
    AnyChange,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResourceChange {
    pub(crate) action: String,
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replacement: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Final stack status (or the status it has when nothing was done).
    pub(crate) status: String,
    pub(crate) changes: Vec<ResourceChange>,
    pub(crate) executed: bool,
    /// Nothing differed: either skipped before any change set, or the change set was empty.
    pub(crate) no_changes: bool,
    pub(crate) outputs: BTreeMap<String, String>,
    /// Set when a stack left in a failed-creation state was deleted to be created again.
    pub(crate) recreated_from: Option<String>,
}

/// Deploys (or diffs) one stack. Errors carry `ExitKind::Deploy` and name the root cause.
pub(crate) async fn deploy(
    cfn: &Client,
    spec: &StackSpec,
    mode: Mode,
    approval: Approval,
    progress: &StageProgress,
) -> Result<Outcome> {
    let name = &spec.stack_name;
    progress.phase("reading stack");
    let existing = describe(cfn, name).await?;
    let mut recreated_from = None;
    let change_set_type = match &existing {
        None => ChangeSetType::Create,
        Some(stack) => {
            let status = status_of(stack);
            match status.as_str() {
                "REVIEW_IN_PROGRESS" => ChangeSetType::Create,
                // A stack whose first creation failed can only be deleted; the CDK and rain both
                // delete and re-create it, so a failed first deploy never blocks the next one.
                "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => {
                    if mode == Mode::Diff {
                        progress.line(&format!(
                            "stack {name} is {status}; deploy will delete and re-create it"
                        ));
                    } else {
                        progress.phase(&format!("deleting {status} stack to re-create it"));
                        delete(cfn, name, progress).await?;
                        recreated_from = Some(status.clone());
                    }
                    ChangeSetType::Create
                }
                s if s.ends_with("_IN_PROGRESS") => {
                    return Err(fail(
                        ExitKind::Deploy,
                        format!(
                            "stack {name} is {s}: another deployment is running or was interrupted\n  fix: wait until it finishes (aws cloudformation describe-stacks --stack-name {name}) and run again"
                        ),
                    ));
                }
                "UPDATE_ROLLBACK_FAILED" => {
                    return Err(fail(
                        ExitKind::Deploy,
                        format!(
                            "stack {name} is UPDATE_ROLLBACK_FAILED\n  fix: aws cloudformation continue-update-rollback --stack-name {name}, then run again"
                        ),
                    ));
                }
                "DELETE_FAILED" => {
                    return Err(fail(
                        ExitKind::Deploy,
                        format!(
                            "stack {name} is DELETE_FAILED\n  fix: remove what blocks deletion (see its events) and delete it, then run again"
                        ),
                    ));
                }
                _ => {
                    if mode == Mode::Deploy && unchanged(cfn, stack, spec).await? {
                        return Ok(Outcome {
                            status,
                            changes: Vec::new(),
                            executed: false,
                            no_changes: true,
                            outputs: outputs_of(stack),
                            recreated_from: None,
                        });
                    }
                    ChangeSetType::Update
                }
            }
        }
    };

    let change_set_name = format!("pipeline-run-{}", unix_millis());
    progress.phase("creating change set");
    let mut request = cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(&change_set_name)
        .change_set_type(change_set_type.clone())
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .client_token(&change_set_name)
        .description("Created by pipeline-run");
    request = match &spec.template {
        TemplateSource::Body(b) => request.template_body(b),
        TemplateSource::Url { url, .. } => request.template_url(url),
    };
    for (k, v) in &spec.parameters {
        request = request.parameters(
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build(),
        );
    }
    for (k, v) in &spec.tags {
        request = request.tags(Tag::builder().key(k).value(v).build());
    }
    if let Some(role) = &spec.execution_role_arn {
        request = request.role_arn(role);
    }
    let created = match request.send().await {
        Ok(out) => out,
        // Some CloudFormation implementations answer an empty update synchronously.
        Err(e) if is_no_changes_text(&describe_sdk_error(&e)) => {
            return no_change_outcome(cfn, name, existing.as_ref()).await;
        }
        Err(e) => {
            return Err(raced_or(
                cfn,
                name,
                format!("cannot create a change set for stack {name}"),
                describe_sdk_error(&e),
            )
            .await);
        }
    };
    let change_set_id = created.id().unwrap_or(&change_set_name).to_string();

    let changes = match wait_for_change_set(cfn, name, &change_set_id).await? {
        ChangeSetResult::Ready(changes) => changes,
        ChangeSetResult::Empty => {
            delete_change_set(cfn, name, &change_set_id).await;
            return no_change_outcome(cfn, name, existing.as_ref()).await;
        }
    };
    for c in &changes {
        let replacement = match c.replacement.as_deref() {
            Some("True") => " (replacement)",
            Some("Conditional") => " (may replace)",
            _ => "",
        };
        progress.line(&format!(
            "{} {} {}{}",
            sign(&c.action),
            c.logical_id,
            c.resource_type,
            replacement
        ));
    }

    // A change set that is not executed leaves, on a first deploy, an empty REVIEW_IN_PROGRESS
    // stack behind; withdraw both so nothing is left half-made.
    let withdraw = async || {
        delete_change_set(cfn, name, &change_set_id).await;
        if change_set_type == ChangeSetType::Create && existing.is_none() {
            let _ = cfn.delete_stack().stack_name(name).send().await;
        }
    };

    if mode == Mode::Diff {
        withdraw().await;
        return Ok(Outcome {
            status: existing
                .as_ref()
                .map(status_of)
                .unwrap_or_else(|| "NOT_DEPLOYED".into()),
            no_changes: changes.is_empty(),
            changes,
            executed: false,
            outputs: existing.as_ref().map(outputs_of).unwrap_or_default(),
            recreated_from: None,
        });
    }

    if approval == Approval::AnyChange
        && !changes.is_empty()
        && !crate::progress::confirm(&format!(
            "Execute {} change(s) on stack {name}?",
            changes.len()
        ))
        .await
    {
        withdraw().await;
        return Err(fail(
            ExitKind::Deploy,
            format!(
                "change set for stack {name} was not approved; nothing was executed\n  fix: approve on a terminal, or pass --require-approval never (as CI must)"
            ),
        ));
    }

    progress.set_total(changes.len() as u64);
    progress.phase("executing");
    let seen = event_ids(cfn, name).await;
    if let Err(e) = cfn
        .execute_change_set()
        .stack_name(name)
        .change_set_name(&change_set_id)
        .client_request_token(format!("exec-{change_set_name}"))
        .send()
        .await
    {
        return Err(raced_or(
            cfn,
            name,
            format!("cannot execute the change set of stack {name}"),
            describe_sdk_error(&e),
        )
        .await);
    }

    let stack = follow(cfn, name, seen, progress).await?;
    let status = status_of(&stack);
    if spec.termination_protection != stack.enable_termination_protection().unwrap_or(false) {
        cfn.update_termination_protection()
            .stack_name(name)
            .enable_termination_protection(spec.termination_protection)
            .send()
            .await
            .map_err(|e| {
                deploy_error(format!(
                    "cannot set termination protection on {name}: {}",
                    describe_sdk_error(&e)
                ))
            })?;
    }
    Ok(Outcome {
        status,
        changes,
        executed: true,
        no_changes: false,
        outputs: outputs_of(&stack),
        recreated_from,
    })
}

async fn no_change_outcome(cfn: &Client, name: &str, existing: Option<&Stack>) -> Result<Outcome> {
    let stack = match existing {
        Some(s) => Some(s.clone()),
        None => describe(cfn, name).await?,
    };
    Ok(Outcome {
        status: stack
            .as_ref()
            .map(status_of)
            .unwrap_or_else(|| "NOT_DEPLOYED".into()),
        changes: Vec::new(),
        executed: false,
        no_changes: true,
        outputs: stack.as_ref().map(outputs_of).unwrap_or_default(),
        recreated_from: None,
    })
}

fn sign(action: &str) -> &'static str {
    match action {
        "Add" => "+",
        "Remove" => "-",
        "Modify" => "~",
        "Import" => "<",
        _ => "*",
    }
}

fn deploy_error(msg: String) -> anyhow::Error {
    fail(ExitKind::Deploy, msg)
}

/// CloudFormation's answers when another deployment of the same stack got there first (two runs
/// at once): the stack is busy, was created meanwhile, or its execution removed our change set.
fn is_race_text(reason: &str) -> bool {
    reason.contains("state and can not be updated")
        || reason.contains("already exists and cannot be created again")
        || reason.starts_with("ChangeSetNotFound")
        || reason.starts_with("InvalidChangeSetStatus")
}

/// `what` failed with `reason`; when that is another deployment's doing, says so with the
/// stack's current state and what to do, instead of CloudFormation's raw refusal.
async fn raced_or(cfn: &Client, name: &str, what: String, reason: String) -> anyhow::Error {
    if is_race_text(&reason)
        && let Ok(Some(stack)) = describe(cfn, name).await
    {
        let status = status_of(&stack);
        let region = cfn
            .config()
            .region()
            .map(|r| format!(" --region {r}"))
            .unwrap_or_default();
        let (state, fix) = if is_final(&status) {
            (
                format!(
                    "another deployment changed stack {name} (now {status}) while this run prepared its own"
                ),
                "run again: the next run compares against what is deployed now",
            )
        } else {
            (
                format!("stack {name} is {status}: another deployment is running"),
                "wait until it finishes and run again",
            )
        };
        return deploy_error(format!(
            "{state} ({what}: {reason})\n  fix: {fix}; see: aws cloudformation describe-stacks --stack-name {name}{region}"
        ));
    }
    deploy_error(format!("{what}: {reason}"))
}

/// Following an executed change set failed (the endpoint went away, say): the stack keeps
/// changing without us, so say where to look.
fn lost_track(cfn: &Client, name: &str, e: anyhow::Error) -> anyhow::Error {
    let region = cfn
        .config()
        .region()
        .map(|r| format!(" --region {r}"))
        .unwrap_or_default();
    e.context(format!(
        "lost track of stack {name} after its change set was executed; CloudFormation may still be working on it (see: aws cloudformation describe-stacks --stack-name {name}{region})"
    ))
}

/// The stack, or None when it does not exist.
pub(crate) async fn describe(cfn: &Client, name: &str) -> Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out
            .stacks()
            .first()
            .cloned()
            .filter(|s| status_of(s) != "DELETE_COMPLETE")),
        Err(e) => {
            let text = describe_sdk_error(&e);
            if text.contains("does not exist") {
                Ok(None)
            } else {
                Err(deploy_error(format!("cannot read stack {name}: {text}")))
            }
        }
    }
}

pub(crate) fn status_of(stack: &Stack) -> String {
    stack
        .stack_status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "UNKNOWN".into())
}

pub(crate) fn outputs_of(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| {
            Some((
                o.output_key()?.to_string(),
                o.output_value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The CDK's skip rule: same template, parameters, tags and termination protection as deployed.
async fn unchanged(cfn: &Client, stack: &Stack, spec: &StackSpec) -> Result<bool> {
    let deployed_params: BTreeMap<String, String> = stack
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    // Parameters the spec leaves out keep their template defaults, which the deployed stack also
    // lists; only compare what the spec sets.
    if spec
        .parameters
        .iter()
        .any(|(k, v)| deployed_params.get(k) != Some(v))
    {
        return Ok(false);
    }
    let deployed_tags: BTreeMap<String, String> = stack
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    if deployed_tags != spec.tags {
        return Ok(false);
    }
    if stack.enable_termination_protection().unwrap_or(false) != spec.termination_protection {
        return Ok(false);
    }
    let template = cfn
        .get_template()
        .stack_name(spec.stack_name.as_str())
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .map_err(|e| {
            deploy_error(format!(
                "cannot read the deployed template of {}: {}",
                spec.stack_name,
                describe_sdk_error(&e)
            ))
        })?;
    let deployed = template.template_body().unwrap_or_default();
    Ok(same_template(deployed, spec.template.body()))
}

/// Equal text, or equal documents once parsed (CloudFormation may hand back JSON for YAML).
pub(crate) fn same_template(a: &str, b: &str) -> bool {
    if a.trim() == b.trim() {
        return true;
    }
    match (
        serde_yaml::from_str::<serde_yaml::Value>(a),
        serde_yaml::from_str::<serde_yaml::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

enum ChangeSetResult {
    Ready(Vec<ResourceChange>),
    Empty,
}

fn is_no_changes_text(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

async fn wait_for_change_set(cfn: &Client, stack: &str, id: &str) -> Result<ChangeSetResult> {
    let mut backoff = Backoff::cloudformation();
    loop {
        let out = match cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                return Err(raced_or(
                    cfn,
                    stack,
                    format!("cannot read the change set of stack {stack}"),
                    describe_sdk_error(&e),
                )
                .await);
            }
        };
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let mut changes = collect_changes(out.changes());
                let mut token = out.next_token().map(str::to_string);
                while let Some(t) = token {
                    let page = cfn
                        .describe_change_set()
                        .stack_name(stack)
                        .change_set_name(id)
                        .next_token(t)
                        .send()
                        .await
                        .map_err(|e| {
                            deploy_error(format!(
                                "cannot read the change set of stack {stack}: {}",
                                describe_sdk_error(&e)
                            ))
                        })?;
                    changes.extend(collect_changes(page.changes()));
                    token = page.next_token().map(str::to_string);
                }
                return Ok(ChangeSetResult::Ready(changes));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given");
                if is_no_changes_text(reason) {
                    return Ok(ChangeSetResult::Empty);
                }
                delete_change_set(cfn, stack, id).await;
                return Err(deploy_error(format!(
                    "the change set for stack {stack} failed: {reason}"
                )));
            }
            _ => backoff.wait().await,
        }
    }
}

fn collect_changes(changes: &[aws_sdk_cloudformation::types::Change]) -> Vec<ResourceChange> {
    changes
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|rc| ResourceChange {
            action: rc
                .action()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: rc.resource_type().unwrap_or_default().to_string(),
            replacement: rc.replacement().map(|r| r.as_str().to_string()),
        })
        .collect()
}

async fn delete_change_set(cfn: &Client, stack: &str, id: &str) {
    // Best effort: a leftover change set costs nothing and never blocks the next run, which
    // creates its own uniquely named one.
    let _ = cfn
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await;
}

async fn event_ids(cfn: &Client, stack: &str) -> HashSet<String> {
    match cfn.describe_stack_events().stack_name(stack).send().await {
        Ok(out) => out
            .stack_events()
            .iter()
            .filter_map(|e| e.event_id().map(str::to_string))
            .collect(),
        Err(_) => HashSet::new(),
    }
}

/// New events since `seen`, oldest first. Pages back until it meets an event already seen.
async fn new_events(
    cfn: &Client,
    stack: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<StackEvent>> {
    let mut fresh = Vec::new();
    let mut token: Option<String> = None;
    'pages: loop {
        let mut req = cfn.describe_stack_events().stack_name(stack);
        if let Some(t) = &token {
            req = req.next_token(t);
        }
        let out = req.send().await.map_err(|e| {
            deploy_error(format!(
                "cannot read the events of stack {stack}: {}",
                describe_sdk_error(&e)
            ))
        })?;
        for e in out.stack_events() {
            let id = e.event_id().unwrap_or_default().to_string();
            if seen.contains(&id) {
                break 'pages;
            }
            fresh.push(e.clone());
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for e in &fresh {
        seen.insert(e.event_id().unwrap_or_default().to_string());
    }
    fresh.reverse();
    Ok(fresh)
}

fn is_final(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

/// Streams events to the progress display and collects resource failures (the root-cause
/// candidates; cancellations caused by another failure are not causes).
fn show_events(events: &[StackEvent], progress: &StageProgress, failures: &mut Vec<String>) {
    for e in events {
        let status = e
            .resource_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let logical = e.logical_resource_id().unwrap_or_default();
        let resource_type = e.resource_type().unwrap_or_default();
        let is_stack = resource_type == "AWS::CloudFormation::Stack";
        let reason = e.resource_status_reason().unwrap_or_default();
        progress.resource_event(logical, resource_type, &status, reason, is_stack);
        if status.ends_with("_FAILED") && !is_stack && !reason.contains("cancelled") {
            failures.push(format!("{logical} ({resource_type}) {status}: {reason}"));
        }
    }
}

/// Follows a stack to a final state, streaming its resource events. Fails with the root cause.
async fn follow(
    cfn: &Client,
    name: &str,
    mut seen: HashSet<String>,
    progress: &StageProgress,
) -> Result<Stack> {
    let mut backoff = Backoff::cloudformation();
    let mut failures: Vec<String> = Vec::new();
    loop {
        let events = new_events(cfn, name, &mut seen)
            .await
            .map_err(|e| lost_track(cfn, name, e))?;
        if !events.is_empty() {
            backoff.reset_to(Duration::from_millis(100));
        }
        show_events(&events, progress, &mut failures);
        let stack = describe(cfn, name)
            .await
            .map_err(|e| lost_track(cfn, name, e))?
            .ok_or_else(|| {
                deploy_error(format!(
                    "stack {name} disappeared while it was being deployed"
                ))
            })?;
        let status = status_of(&stack);
        if is_final(&status) {
            // One last look: the events of the final transition may land after the status.
            let last = new_events(cfn, name, &mut seen)
                .await
                .map_err(|e| lost_track(cfn, name, e))?;
            show_events(&last, progress, &mut failures);
            if status == "CREATE_COMPLETE"
                || status == "UPDATE_COMPLETE"
                || status == "IMPORT_COMPLETE"
            {
                return Ok(stack);
            }
            let cause = failures.first().cloned().unwrap_or_else(|| {
                stack
                    .stack_status_reason()
                    .map(str::to_string)
                    .unwrap_or_else(|| "no failed resource event was found".into())
            });
            let summary = format!(
                "stack {name} ended {status}\n  cause: {cause}\n  see: aws cloudformation describe-stack-events --stack-name {name}"
            );
            return Err(Failure::new(ExitKind::Deploy, summary)
                .with_detail(Detail::StackEnded {
                    status,
                    cause: Some(cause),
                })
                .into());
        }
        backoff.wait().await;
    }
}

/// Deletes a stack and waits until it is gone.
pub(crate) async fn delete(cfn: &Client, name: &str, progress: &StageProgress) -> Result<()> {
    let seen = event_ids(cfn, name).await;
    cfn.delete_stack()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            deploy_error(format!(
                "cannot delete stack {name}: {}",
                describe_sdk_error(&e)
            ))
        })?;
    let mut seen = seen;
    let mut backoff = Backoff::cloudformation();
    loop {
        if let Ok(events) = new_events(cfn, name, &mut seen).await {
            show_events(&events, progress, &mut Vec::new());
        }
        match describe(cfn, name).await? {
            None => return Ok(()),
            Some(stack) => {
                let status = status_of(&stack);
                if status == "DELETE_FAILED" {
                    return Err(deploy_error(format!(
                        "stack {name} could not be deleted (DELETE_FAILED): {}\n  see: aws cloudformation describe-stack-events --stack-name {name}",
                        stack.stack_status_reason().unwrap_or("no reason given")
                    )));
                }
            }
        }
        backoff.wait().await;
    }
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_equal_as_documents_count_as_unchanged() {
        assert!(same_template(
            "A: 1\nB: [x]\n",
            "{\"B\": [\"x\"], \"A\": 1}"
        ));
        assert!(!same_template("A: 1\n", "A: 2\n"));
    }

    #[test]
    fn the_aws_texts_for_an_empty_change_set_are_recognised() {
        assert!(is_no_changes_text(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_no_changes_text(
            "ValidationError: No updates are to be performed."
        ));
        assert!(!is_no_changes_text("Template format error"));
    }

    #[test]
    fn the_refusals_of_a_concurrent_deployment_are_recognised() {
        assert!(is_race_text(
            "ValidationError: Stack:arn:aws:cloudformation:ap-northeast-1:111111111111:stack/VpcA/x is in CREATE_IN_PROGRESS state and can not be updated."
        ));
        assert!(is_race_text(
            "ValidationError: Stack [VpcA] already exists and cannot be created again with the changeSet [pipeline-run-1]."
        ));
        assert!(is_race_text(
            "ChangeSetNotFound: ChangeSet [x] does not exist"
        ));
        assert!(!is_race_text(
            "ValidationError: Template format error: Unresolved resource dependencies"
        ));
    }

    #[test]
    fn in_progress_and_review_states_are_not_final() {
        assert!(!is_final("CREATE_IN_PROGRESS"));
        assert!(!is_final("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(!is_final("REVIEW_IN_PROGRESS"));
        assert!(is_final("UPDATE_ROLLBACK_COMPLETE"));
        assert!(is_final("CREATE_COMPLETE"));
    }
}
