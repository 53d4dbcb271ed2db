//! One CloudFormation stack: skip when unchanged, otherwise create, show and execute a change
//! set (`changeset`), follow its `events` to a final state and read the outputs; whichever way a
//! deploy goes, termination protection ends as the stage sets it. Also deletion (`delete`).

mod changeset;
mod delete;
mod events;
mod recovery;
pub(crate) mod template_diff;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{ChangeSetType, Stack, TemplateStage};
use serde::Serialize;

use crate::aws::errors::{describe_sdk_error, is_stack_not_found};
use crate::error::{ExitKind, fail, fail_fix};
use crate::model::template::resolved_from_ssm;
use crate::progress::StageProgress;
use changeset::ChangeSet;
pub(crate) use delete::{delete, delete_retaining};
pub(crate) use recovery::{Recovered, busy, recover};

/// What to deploy.
#[derive(Debug, Clone)]
pub(crate) struct StackSpec {
    pub(crate) stack_name: String,
    pub(crate) template: TemplateSource,
    pub(crate) parameters: BTreeMap<String, String>,
    /// Parameters of the deployed stack kept as they are (`UsePreviousValue`); those also in
    /// `parameters` take that value.
    pub(crate) keep_parameters: BTreeSet<String>,
    pub(crate) tags: BTreeMap<String, String>,
    /// The CloudFormation execution role (passed as RoleARN); None deploys with the caller's rights.
    pub(crate) execution_role_arn: Option<String>,
    pub(crate) termination_protection: bool,
    /// The stage it deploys, which the fixes of a stuck stack name (`pipeline-run rollback
    /// STAGE`); None for a stack of no stage (the bootstrap stack: the AWS CLI's fixes).
    pub(crate) stage: Option<String>,
    /// Execute without rollback (`deploy --no-rollback`): a failure keeps what was made.
    pub(crate) disable_rollback: bool,
    /// The change set's rollback triggers (stage `rollback_alarms:`, `monitoring_minutes:`).
    pub(crate) triggers: Triggers,
    /// SNS topics for the stack's events (a cloud assembly's `notificationArns`); none given keeps
    /// the stack's.
    pub(crate) notification_arns: Vec<String>,
}

/// Rollback triggers (RollbackConfiguration): CloudWatch alarms that roll the operation back
/// while in ALARM, watched through the resources and `minutes` after them. None given keeps the
/// stack's (CloudFormation uses the last ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Triggers {
    pub(crate) alarms: Vec<String>,
    pub(crate) minutes: Option<u32>,
}

impl Triggers {
    pub(crate) fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.minutes.is_none()
    }

    /// Whether the deployed stack's rollback configuration is this one (always, when none is set).
    fn same_as(&self, stack: &Stack) -> bool {
        if self.is_empty() {
            return true;
        }
        let deployed = stack.rollback_configuration();
        let mut arns: Vec<&str> = deployed
            .map(|c| {
                c.rollback_triggers()
                    .iter()
                    .filter_map(|t| t.arn())
                    .collect()
            })
            .unwrap_or_default();
        let mut wanted: Vec<&str> = self.alarms.iter().map(String::as_str).collect();
        arns.sort_unstable();
        wanted.sort_unstable();
        let minutes = deployed
            .and_then(|c| c.monitoring_time_in_minutes())
            .unwrap_or(0);
        arns == wanted && i64::from(minutes) == i64::from(self.minutes.unwrap_or(0))
    }
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

/// Termination protection turned on or off: a setting of the stack that no change set carries,
/// set apart (UpdateTerminationProtection) when the stack's differs from the stage's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Protection {
    Enable,
    Disable,
}

impl Protection {
    /// What takes a stack protected as `live` to `wanted`; None when they agree.
    pub(crate) fn between(live: bool, wanted: bool) -> Option<Protection> {
        match (live, wanted) {
            (false, true) => Some(Protection::Enable),
            (true, false) => Some(Protection::Disable),
            _ => None,
        }
    }

    /// "termination protection enabled" (or disabled).
    pub(crate) fn done(self) -> &'static str {
        match self {
            Protection::Enable => "termination protection enabled",
            Protection::Disable => "termination protection disabled",
        }
    }

    /// What a diff says: "termination protection to be enabled" (or disabled).
    pub(crate) fn pending(self) -> &'static str {
        match self {
            Protection::Enable => "termination protection to be enabled",
            Protection::Disable => "termination protection to be disabled",
        }
    }
}

/// One change a deploy makes or a diff shows: a resource of the change set, or the stack's
/// termination protection. In JSON `{"kind": "resource", "action": "Add", "logical_id": …}` or
/// `{"kind": "termination_protection", "action": "Enable"}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum StackChange {
    Resource(ResourceChange),
    TerminationProtection { action: Protection },
}

#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Final stack status (or the status it has when nothing was done).
    pub(crate) status: String,
    pub(crate) changes: Vec<StackChange>,
    pub(crate) executed: bool,
    /// Nothing differed: skipped before any change set, or the change set was empty, and the
    /// termination protection already as the stage sets it.
    pub(crate) no_changes: bool,
    pub(crate) outputs: BTreeMap<String, String>,
    /// Set when a stack left in a failed-creation state was deleted to be created again.
    pub(crate) recreated_from: Option<String>,
}

impl Outcome {
    /// The termination-protection change among the changes, if any.
    pub(crate) fn protection(&self) -> Option<Protection> {
        self.changes.iter().find_map(|c| match c {
            StackChange::TerminationProtection { action } => Some(*action),
            StackChange::Resource(_) => None,
        })
    }
}

/// Where a deploy (or diff) got to, before termination protection is settled.
struct Done {
    /// The stack as it is now (None: there is none).
    stack: Option<Stack>,
    changes: Vec<ResourceChange>,
    executed: bool,
    recreated_from: Option<String>,
}

impl Done {
    /// No change set executed (or none needed): the stack as it is, with `changes` shown.
    fn not_executed(stack: Option<Stack>, changes: Vec<ResourceChange>) -> Done {
        Done {
            stack,
            changes,
            executed: false,
            recreated_from: None,
        }
    }
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
    // The change is counted against the stack as it was, whichever way the deploy goes.
    let protection = Protection::between(protected(existing.as_ref()), spec.termination_protection);
    let settle = |done| finish(cfn, spec, mode, protection, done, progress);
    let (kind, recreated_from) = match start(cfn, spec, existing.as_ref(), mode, progress).await? {
        Start::Unchanged => return settle(Done::not_executed(existing, Vec::new())).await,
        Start::ChangeSet(kind, recreated_from) => (kind, recreated_from),
    };
    progress.phase("creating change set");
    let Some(change_set) = changeset::create(cfn, spec, kind).await? else {
        let stack = current(cfn, name, existing).await?;
        return settle(Done::not_executed(stack, Vec::new())).await;
    };
    let Some(changes) = changeset::wait(cfn, name, &change_set).await? else {
        let stack = current(cfn, name, existing).await?;
        return settle(Done::not_executed(stack, Vec::new())).await;
    };
    changeset::show(&changes, progress);

    // A change set that is not executed leaves, on a first deploy, an empty REVIEW_IN_PROGRESS
    // stack behind; withdraw both so nothing is left half-made.
    let first_deploy = change_set.kind == ChangeSetType::Create && existing.is_none();
    if mode == Mode::Diff {
        changeset::withdraw(cfn, name, &change_set, first_deploy).await;
        return settle(Done::not_executed(existing, changes)).await;
    }
    if approval == Approval::AnyChange && !changes.is_empty() && !approved(name, &changes).await {
        changeset::withdraw(cfn, name, &change_set, first_deploy).await;
        return Err(fail_fix(
            ExitKind::Deploy,
            format!("change set for stack {name} was not approved; nothing was executed"),
            "approve on a terminal, or pass --require-approval never (as CI must)",
        ));
    }

    if spec.disable_rollback
        && let Some(r) = changes
            .iter()
            .find(|c| c.replacement.as_deref() == Some("True"))
    {
        changeset::withdraw(cfn, name, &change_set, first_deploy).await;
        return Err(fail_fix(
            ExitKind::Deploy,
            format!(
                "change set for stack {name} replaces {} ({}): a replacement cannot run without rollback; nothing was executed",
                r.logical_id, r.resource_type
            ),
            "deploy without --no-rollback",
        ));
    }
    let stack = execute(cfn, spec, &change_set, changes.len(), progress).await?;
    settle(Done {
        stack: Some(stack),
        changes,
        executed: true,
        recreated_from,
    })
    .await
}

/// Ends a deploy with the stack's termination protection as the stage sets it, whatever path it
/// took (a diff only shows the change), and says what it came to.
async fn finish(
    cfn: &Client,
    spec: &StackSpec,
    mode: Mode,
    protection: Option<Protection>,
    done: Done,
    progress: &StageProgress,
) -> Result<Outcome> {
    let stack = done.stack.as_ref();
    if mode == Mode::Deploy && stack.is_some() && protected(stack) != spec.termination_protection {
        set_termination_protection(cfn, &spec.stack_name, spec.termination_protection).await?;
    }
    let mut changes: Vec<StackChange> = done
        .changes
        .into_iter()
        .map(StackChange::Resource)
        .collect();
    if let Some(p) = protection {
        progress.line(&match mode {
            Mode::Deploy => p.done().to_string(),
            Mode::Diff => format!("~ {} (by deploy, apart from the change set)", p.pending()),
        });
        changes.push(StackChange::TerminationProtection { action: p });
    }
    Ok(Outcome {
        status: stack
            .map(status_of)
            .unwrap_or_else(|| "NOT_DEPLOYED".into()),
        no_changes: changes.is_empty() && !done.executed,
        changes,
        executed: done.executed,
        outputs: stack.map(outputs_of).unwrap_or_default(),
        recreated_from: done.recreated_from,
    })
}

/// How a deploy starts, given the stack as it is.
enum Start {
    /// Same as deployed: no change set (termination protection is still settled).
    Unchanged,
    /// A change set of this type, after re-creating the stack from the failed state named.
    ChangeSet(ChangeSetType, Option<String>),
}

/// Decides from the existing stack's state: create, update, skip, re-create a stack whose first
/// creation failed, or refuse a state no change set can be made in.
async fn start(
    cfn: &Client,
    spec: &StackSpec,
    existing: Option<&Stack>,
    mode: Mode,
    progress: &StageProgress,
) -> Result<Start> {
    let name = &spec.stack_name;
    let Some(stack) = existing else {
        return Ok(Start::ChangeSet(ChangeSetType::Create, None));
    };
    let status = status_of(stack);
    match status.as_str() {
        "REVIEW_IN_PROGRESS" => Ok(Start::ChangeSet(ChangeSetType::Create, None)),
        // Left failed on purpose (--no-rollback): an update goes on from what is there, again
        // without rollback, as AWS requires.
        "CREATE_FAILED" | "UPDATE_FAILED" if spec.disable_rollback => {
            Ok(Start::ChangeSet(ChangeSetType::Update, None))
        }
        "UPDATE_FAILED" if mode == Mode::Deploy => {
            Err(recovery::stuck(cfn, name, spec.stage.as_deref(), &status).await)
        }
        // A stack whose first creation failed can only be deleted; the CDK and rain both delete
        // and re-create it, so a failed first deploy never blocks the next one.
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => {
            if mode == Mode::Diff {
                progress.line(&format!(
                    "stack {name} is {status}; deploy will delete and re-create it"
                ));
                return Ok(Start::ChangeSet(ChangeSetType::Create, None));
            }
            if protected(Some(stack)) {
                if spec.termination_protection {
                    return Err(fail_fix(
                        ExitKind::Deploy,
                        format!(
                            "stack {name} is {status} and has termination protection: it cannot be deleted to be created again"
                        ),
                        format!(
                            "turn its protection off (aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name {name}{}) and run again: the stack is created again, protected",
                            region_flag(cfn)
                        ),
                    ));
                }
                // The stage does not protect it: as on any deploy, protection goes, then the stack.
                set_termination_protection(cfn, name, false).await?;
            }
            progress.phase(&format!("deleting {status} stack to re-create it"));
            delete(cfn, name, progress).await?;
            Ok(Start::ChangeSet(ChangeSetType::Create, Some(status)))
        }
        s if s.ends_with("_IN_PROGRESS") => Err(recovery::busy(cfn, name, stack, s)),
        "UPDATE_ROLLBACK_FAILED" => {
            Err(recovery::stuck(cfn, name, spec.stage.as_deref(), &status).await)
        }
        "DELETE_FAILED" => Err(fail_fix(
            ExitKind::Deploy,
            format!("stack {name} is DELETE_FAILED"),
            "remove what blocks deletion (see its events) and delete it, then run again",
        )),
        _ => {
            if mode == Mode::Deploy && unchanged(cfn, stack, spec, progress).await? {
                return Ok(Start::Unchanged);
            }
            Ok(Start::ChangeSet(ChangeSetType::Update, None))
        }
    }
}

/// The stack after an empty change set: `existing`, or read again when there was none.
async fn current(cfn: &Client, name: &str, existing: Option<Stack>) -> Result<Option<Stack>> {
    match existing {
        Some(s) => Ok(Some(s)),
        None => describe(cfn, name).await,
    }
}

/// Whether `stack` has termination protection (no stack has none).
pub(crate) fn protected(stack: Option<&Stack>) -> bool {
    stack.is_some_and(|s| s.enable_termination_protection().unwrap_or(false))
}

async fn approved(name: &str, changes: &[ResourceChange]) -> bool {
    crate::progress::confirm(&format!(
        "Execute {} change(s) on stack {name}?",
        changes.len()
    ))
    .await
}

/// Executes the change set and follows the stack to a final state; a failure is explained from
/// the stack's events (`recovery::explain`).
async fn execute(
    cfn: &Client,
    spec: &StackSpec,
    change_set: &ChangeSet,
    changes: usize,
    progress: &StageProgress,
) -> Result<Stack> {
    let name = &spec.stack_name;
    progress.set_total(changes as u64);
    progress.phase("executing");
    let seen = events::event_ids(cfn, name).await;
    changeset::execute(cfn, name, change_set, spec.disable_rollback).await?;
    match events::follow(cfn, name, seen, progress).await {
        Ok(stack) => Ok(stack),
        Err(e) => {
            Err(recovery::explain(cfn, name, spec.stage.as_deref(), &spec.triggers.alarms, e).await)
        }
    }
}

/// Termination protection is no change-set property: it is set apart.
async fn set_termination_protection(cfn: &Client, name: &str, enabled: bool) -> Result<()> {
    cfn.update_termination_protection()
        .stack_name(name)
        .enable_termination_protection(enabled)
        .send()
        .await
        .map_err(|e| {
            deploy_error(format!(
                "cannot set termination protection on {name}: {}",
                describe_sdk_error(&e)
            ))
        })?;
    Ok(())
}

fn deploy_error(msg: String) -> anyhow::Error {
    fail(ExitKind::Deploy, msg)
}

/// ` --region R` for the commands a message suggests, when the client has a region.
fn region_flag(cfn: &Client) -> String {
    cfn.config()
        .region()
        .map(|r| format!(" --region {r}"))
        .unwrap_or_default()
}

/// The stack, or None when it does not exist.
pub(crate) async fn describe(cfn: &Client, name: &str) -> Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out
            .stacks()
            .first()
            .cloned()
            .filter(|s| status_of(s) != "DELETE_COMPLETE")),
        Err(e) if is_stack_not_found(&e) => Ok(None),
        Err(e) => Err(deploy_error(format!(
            "cannot read stack {name}: {}",
            describe_sdk_error(&e)
        ))),
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

/// The CDK's skip rule: same template, parameters and tags as deployed, and no parameter whose
/// value CloudFormation reads from Parameter Store (that value may have changed behind an
/// unchanged name). Termination protection is settled apart, on every deploy.
async fn unchanged(
    cfn: &Client,
    stack: &Stack,
    spec: &StackSpec,
    progress: &StageProgress,
) -> Result<bool> {
    if !same_settings(stack, spec) {
        return Ok(false);
    }
    let from_ssm = resolved_from_ssm(spec.template.body());
    if !from_ssm.is_empty() {
        progress.line(&format!(
            "parameters resolved from SSM ({}): creating a change set",
            from_ssm.join(", ")
        ));
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

/// Same parameters (those the spec sets) and tags as deployed.
fn same_settings(stack: &Stack, spec: &StackSpec) -> bool {
    let deployed_params: BTreeMap<&str, &str> = stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?, p.parameter_value().unwrap_or_default())))
        .collect();
    // Parameters the spec leaves out keep their template defaults, which the deployed stack also
    // lists; only compare what the spec sets.
    if spec
        .parameters
        .iter()
        .any(|(k, v)| deployed_params.get(k.as_str()) != Some(&v.as_str()))
    {
        return false;
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
    deployed_tags == spec.tags && spec.triggers.same_as(stack)
}

/// Equal text, or equal documents once parsed (CloudFormation may hand back JSON for YAML).
fn same_template(a: &str, b: &str) -> bool {
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
}
