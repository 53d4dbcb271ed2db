//! Change sets: create one, wait until CloudFormation has computed it, read its resource
//! changes, execute or withdraw it. Refusals caused by another deployment of the same stack say
//! so, with the stack's current state.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::SdkError;
use aws_sdk_cloudformation::operation::create_change_set::builders::CreateChangeSetFluentBuilder;
use aws_sdk_cloudformation::types::{
    Capability, Change, ChangeSetStatus, ChangeSetType, Parameter, RollbackConfiguration,
    RollbackTrigger, Tag,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::events::is_final;
use super::{
    ResourceChange, StackSpec, TemplateSource, deploy_error, describe, region_flag, status_of,
};
use crate::aws::errors::{describe_sdk_error, is_lost_race, is_no_updates};
use crate::error::{ExitKind, fail_fix};
use crate::poll::Backoff;
use crate::progress::StageProgress;

/// A change set this run created.
pub(super) struct ChangeSet {
    /// Unique per run; also the idempotency token of its creation and execution.
    name: String,
    id: String,
    pub(super) kind: ChangeSetType,
}

/// Creates the change set of `spec`; None when CloudFormation answered at once that nothing
/// would change.
pub(super) async fn create(
    cfn: &Client,
    spec: &StackSpec,
    kind: ChangeSetType,
) -> Result<Option<ChangeSet>> {
    let stack = &spec.stack_name;
    let name = format!("pipeline-run-{}", unix_millis());
    match request(cfn, spec, &name, kind.clone()).send().await {
        Ok(out) => Ok(Some(ChangeSet {
            id: out.id().unwrap_or(&name).to_string(),
            name,
            kind,
        })),
        // Some CloudFormation implementations answer an empty update synchronously.
        Err(e) if is_no_updates(&e) => Ok(None),
        Err(e) => Err(raced_or(
            cfn,
            stack,
            format!("cannot create a change set for stack {stack}"),
            Refusal::of(&e),
        )
        .await),
    }
}

fn request(
    cfn: &Client,
    spec: &StackSpec,
    name: &str,
    kind: ChangeSetType,
) -> CreateChangeSetFluentBuilder {
    let mut request = cfn
        .create_change_set()
        .stack_name(&spec.stack_name)
        .change_set_name(name)
        .change_set_type(kind)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .client_token(name)
        .description("Created by pipeline-run");
    request = match &spec.template {
        TemplateSource::Body(b) => request.template_body(b),
        TemplateSource::Url { url, .. } => request.template_url(url),
    };
    for p in parameters(spec) {
        request = request.parameters(p);
    }
    for (k, v) in &spec.tags {
        request = request.tags(Tag::builder().key(k).value(v).build());
    }
    if let Some(role) = &spec.execution_role_arn {
        request = request.role_arn(role);
    }
    if !spec.triggers.is_empty() {
        request = request.rollback_configuration(rollback_configuration(&spec.triggers));
    }
    if !spec.notification_arns.is_empty() {
        request = request.set_notification_arns(Some(spec.notification_arns.clone()));
    }
    request
}

fn rollback_configuration(t: &super::Triggers) -> RollbackConfiguration {
    let triggers = t
        .alarms
        .iter()
        .map(|arn| {
            RollbackTrigger::builder()
                .arn(arn)
                .r#type("AWS::CloudWatch::Alarm")
                .build()
        })
        .collect();
    RollbackConfiguration::builder()
        .set_rollback_triggers(Some(triggers))
        .set_monitoring_time_in_minutes(t.minutes.and_then(|m| i32::try_from(m).ok()))
        .build()
}

/// The change set's parameters: the values of the spec, then the kept ones with
/// `UsePreviousValue` (a key with a value is not kept).
fn parameters(spec: &StackSpec) -> Vec<Parameter> {
    let values = spec.parameters.iter().map(|(k, v)| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    });
    let kept = spec
        .keep_parameters
        .iter()
        .filter(|k| !spec.parameters.contains_key(*k))
        .map(|k| {
            Parameter::builder()
                .parameter_key(k)
                .use_previous_value(true)
                .build()
        });
    values.chain(kept).collect()
}

/// Waits until the change set is computed and returns its resource changes; None when it holds
/// none (the change set is then deleted, as it is when it failed).
pub(super) async fn wait(
    cfn: &Client,
    stack: &str,
    change_set: &ChangeSet,
) -> Result<Option<Vec<ResourceChange>>> {
    let id = &change_set.id;
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
                    Refusal::of(&e),
                )
                .await);
            }
        };
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let mut changes = collect_changes(out.changes());
                let token = out.next_token().map(str::to_string);
                changes.extend(further_changes(cfn, stack, id, token).await?);
                return Ok(Some(changes));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given");
                delete(cfn, stack, id).await;
                if reports_no_changes(reason) {
                    return Ok(None);
                }
                return Err(deploy_error(format!(
                    "the change set for stack {stack} failed: {reason}"
                )));
            }
            _ => backoff.wait().await,
        }
    }
}

/// The changes on the pages after the first, from `token` on.
async fn further_changes(
    cfn: &Client,
    stack: &str,
    id: &str,
    mut token: Option<String>,
) -> Result<Vec<ResourceChange>> {
    let mut changes = Vec::new();
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
    Ok(changes)
}

/// Whether the `StatusReason` of a FAILED change set says it had nothing to change. CloudFormation
/// fails such a change set instead of creating it, with "The submitted information didn't contain
/// changes. …", or "No updates are to be performed." when a transform is involved (the two texts
/// the CDK's `changeSetHasNoChanges` accepts).
fn reports_no_changes(status_reason: &str) -> bool {
    status_reason.contains("didn't contain changes")
        || status_reason.contains("No updates are to be performed")
}

fn collect_changes(changes: &[Change]) -> Vec<ResourceChange> {
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

/// One line per resource change, as `cdk diff` marks them.
pub(super) fn show(changes: &[ResourceChange], progress: &StageProgress) {
    for c in changes {
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

pub(super) async fn execute(
    cfn: &Client,
    stack: &str,
    change_set: &ChangeSet,
    disable_rollback: bool,
) -> Result<()> {
    match cfn
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(&change_set.id)
        .set_disable_rollback(disable_rollback.then_some(true))
        .client_request_token(format!("exec-{}", change_set.name))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(raced_or(
            cfn,
            stack,
            format!("cannot execute the change set of stack {stack}"),
            Refusal::of(&e),
        )
        .await),
    }
}

/// Deletes a change set that will not be executed, and the empty REVIEW_IN_PROGRESS stack that
/// its creation left on a `first_deploy`.
pub(super) async fn withdraw(
    cfn: &Client,
    stack: &str,
    change_set: &ChangeSet,
    first_deploy: bool,
) {
    delete(cfn, stack, &change_set.id).await;
    if first_deploy {
        let _ = cfn.delete_stack().stack_name(stack).send().await;
    }
}

async fn delete(cfn: &Client, stack: &str, id: &str) {
    // Best effort: a leftover change set costs nothing and never blocks the next run, which
    // creates its own uniquely named one.
    let _ = cfn
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await;
}

/// A refused request: CloudFormation's reason, and whether another deployment caused it.
struct Refusal {
    reason: String,
    raced: bool,
}

impl Refusal {
    fn of<E, R>(err: &SdkError<E, R>) -> Refusal
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        Refusal {
            reason: describe_sdk_error(err),
            raced: is_lost_race(err),
        }
    }
}

/// `what` was refused; when that is another deployment's doing, says so with the stack's current
/// state and what to do, instead of CloudFormation's raw refusal.
async fn raced_or(cfn: &Client, name: &str, what: String, refusal: Refusal) -> anyhow::Error {
    let Refusal { reason, raced } = refusal;
    if raced && let Ok(Some(stack)) = describe(cfn, name).await {
        let status = status_of(&stack);
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
        return fail_fix(
            ExitKind::Deploy,
            format!("{state} ({what}: {reason})"),
            format!(
                "{fix}; see: aws cloudformation describe-stacks --stack-name {name}{}",
                region_flag(cfn)
            ),
        );
    }
    deploy_error(format!("{what}: {reason}"))
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
    fn kept_parameters_use_the_previous_value_unless_given_one() {
        let spec = StackSpec {
            stack_name: "CDKToolkit".into(),
            template: TemplateSource::Body(String::new()),
            parameters: [("TrustedAccounts".to_string(), "111111111111".to_string())].into(),
            keep_parameters: [
                "TrustedAccounts".to_string(),
                "FileAssetsBucketName".to_string(),
            ]
            .into(),
            tags: Default::default(),
            execution_role_arn: None,
            termination_protection: false,
            stage: None,
            disable_rollback: false,
            triggers: Default::default(),
            notification_arns: Vec::new(),
        };
        let built = parameters(&spec);
        let got: Vec<(Option<&str>, Option<&str>, Option<bool>)> = built
            .iter()
            .map(|p| {
                (
                    p.parameter_key(),
                    p.parameter_value(),
                    p.use_previous_value(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some("TrustedAccounts"), Some("111111111111"), None),
                (Some("FileAssetsBucketName"), None, Some(true)),
            ]
        );
    }

    #[test]
    fn the_status_reasons_of_an_empty_change_set_are_recognised() {
        assert!(reports_no_changes(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(reports_no_changes("No updates are to be performed."));
        assert!(!reports_no_changes("Template format error"));
    }
}
