//! One CloudFormation stack: skip when unchanged, otherwise create, show and execute a change
//! set (`changeset`), follow its `events` to a final state and read the outputs. Also deletion
//! (`delete`).

mod changeset;
mod delete;
mod events;
pub(crate) mod template_diff;

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{ChangeSetType, Stack, TemplateStage};
use serde::Serialize;

use crate::aws::errors::{describe_sdk_error, is_stack_not_found};
use crate::error::{ExitKind, fail, fail_fix};
use crate::progress::StageProgress;
use changeset::ChangeSet;
pub(crate) use delete::delete;

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

impl Outcome {
    /// Nothing executed: `stack` as it is (NOT_DEPLOYED when there is none), `changes` shown.
    fn not_executed(stack: Option<&Stack>, changes: Vec<ResourceChange>) -> Outcome {
        Outcome {
            status: stack
                .map(status_of)
                .unwrap_or_else(|| "NOT_DEPLOYED".into()),
            no_changes: changes.is_empty(),
            changes,
            executed: false,
            outputs: stack.map(outputs_of).unwrap_or_default(),
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
    let (kind, recreated_from) = match start(cfn, spec, existing.as_ref(), mode, progress).await? {
        Start::Unchanged(outcome) => return Ok(outcome),
        Start::ChangeSet(kind, recreated_from) => (kind, recreated_from),
    };
    progress.phase("creating change set");
    let Some(change_set) = changeset::create(cfn, spec, kind).await? else {
        return no_change_outcome(cfn, name, existing.as_ref()).await;
    };
    let Some(changes) = changeset::wait(cfn, name, &change_set).await? else {
        return no_change_outcome(cfn, name, existing.as_ref()).await;
    };
    changeset::show(&changes, progress);

    // A change set that is not executed leaves, on a first deploy, an empty REVIEW_IN_PROGRESS
    // stack behind; withdraw both so nothing is left half-made.
    let first_deploy = change_set.kind == ChangeSetType::Create && existing.is_none();
    if mode == Mode::Diff {
        changeset::withdraw(cfn, name, &change_set, first_deploy).await;
        return Ok(Outcome::not_executed(existing.as_ref(), changes));
    }
    if approval == Approval::AnyChange && !changes.is_empty() && !approved(name, &changes).await {
        changeset::withdraw(cfn, name, &change_set, first_deploy).await;
        return Err(fail_fix(
            ExitKind::Deploy,
            format!("change set for stack {name} was not approved; nothing was executed"),
            "approve on a terminal, or pass --require-approval never (as CI must)",
        ));
    }

    let stack = execute(cfn, name, &change_set, changes.len(), progress).await?;
    set_termination_protection(cfn, spec, &stack).await?;
    Ok(Outcome {
        status: status_of(&stack),
        changes,
        executed: true,
        no_changes: false,
        outputs: outputs_of(&stack),
        recreated_from,
    })
}

/// How a deploy starts, given the stack as it is.
enum Start {
    /// Same as deployed: nothing to do.
    Unchanged(Outcome),
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
        // A stack whose first creation failed can only be deleted; the CDK and rain both delete
        // and re-create it, so a failed first deploy never blocks the next one.
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => {
            if mode == Mode::Diff {
                progress.line(&format!(
                    "stack {name} is {status}; deploy will delete and re-create it"
                ));
                return Ok(Start::ChangeSet(ChangeSetType::Create, None));
            }
            progress.phase(&format!("deleting {status} stack to re-create it"));
            delete(cfn, name, progress).await?;
            Ok(Start::ChangeSet(ChangeSetType::Create, Some(status)))
        }
        s if s.ends_with("_IN_PROGRESS") => Err(fail_fix(
            ExitKind::Deploy,
            format!("stack {name} is {s}: another deployment is running or was interrupted"),
            format!(
                "wait until it finishes (aws cloudformation describe-stacks --stack-name {name}) and run again"
            ),
        )),
        "UPDATE_ROLLBACK_FAILED" => Err(fail_fix(
            ExitKind::Deploy,
            format!("stack {name} is UPDATE_ROLLBACK_FAILED"),
            format!(
                "aws cloudformation continue-update-rollback --stack-name {name}, then run again"
            ),
        )),
        "DELETE_FAILED" => Err(fail_fix(
            ExitKind::Deploy,
            format!("stack {name} is DELETE_FAILED"),
            "remove what blocks deletion (see its events) and delete it, then run again",
        )),
        _ => {
            if mode == Mode::Deploy && unchanged(cfn, stack, spec).await? {
                return Ok(Start::Unchanged(Outcome::not_executed(
                    Some(stack),
                    Vec::new(),
                )));
            }
            Ok(Start::ChangeSet(ChangeSetType::Update, None))
        }
    }
}

async fn no_change_outcome(cfn: &Client, name: &str, existing: Option<&Stack>) -> Result<Outcome> {
    let stack = match existing {
        Some(s) => Some(s.clone()),
        None => describe(cfn, name).await?,
    };
    Ok(Outcome::not_executed(stack.as_ref(), Vec::new()))
}

async fn approved(name: &str, changes: &[ResourceChange]) -> bool {
    crate::progress::confirm(&format!(
        "Execute {} change(s) on stack {name}?",
        changes.len()
    ))
    .await
}

/// Executes the change set and follows the stack to a final state.
async fn execute(
    cfn: &Client,
    name: &str,
    change_set: &ChangeSet,
    changes: usize,
    progress: &StageProgress,
) -> Result<Stack> {
    progress.set_total(changes as u64);
    progress.phase("executing");
    let seen = events::event_ids(cfn, name).await;
    changeset::execute(cfn, name, change_set).await?;
    events::follow(cfn, name, seen, progress).await
}

/// Termination protection is no change-set property: set it apart when it differs.
async fn set_termination_protection(cfn: &Client, spec: &StackSpec, stack: &Stack) -> Result<()> {
    if spec.termination_protection == stack.enable_termination_protection().unwrap_or(false) {
        return Ok(());
    }
    let name = &spec.stack_name;
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

/// The CDK's skip rule: same template, parameters, tags and termination protection as deployed.
async fn unchanged(cfn: &Client, stack: &Stack, spec: &StackSpec) -> Result<bool> {
    if !same_settings(stack, spec) {
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

/// Same parameters (those the spec sets), tags and termination protection as deployed.
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
    deployed_tags == spec.tags
        && stack.enable_termination_protection().unwrap_or(false) == spec.termination_protection
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
