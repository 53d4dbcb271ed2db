//! Stack events: the new ones since a point, streamed to the progress display while a stack is
//! followed to a final state; the first resource failure is the root cause a failure names.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{HookFailureMode, HookStatus, Stack, StackEvent};

use super::{deploy_error, describe, region_flag, status_of};
use crate::aws::errors::describe_sdk_error;
use crate::error::{Detail, ExitKind, Failure};
use crate::poll::Backoff;
use crate::progress::StageProgress;

/// The ids of the stack's events so far (none when they cannot be read): what `follow` skips.
pub(super) async fn event_ids(cfn: &Client, stack: &str) -> HashSet<String> {
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
pub(super) async fn new_events(
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

pub(super) fn is_final(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

/// Streams events to the progress display and collects resource failures (the root-cause
/// candidates; cancellations caused by another failure are not causes).
pub(super) fn show_events(
    events: &[StackEvent],
    progress: &StageProgress,
    failures: &mut Vec<String>,
) {
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
        failures.extend(hook_failure(e));
        if status.ends_with("_FAILED") && !is_stack && !is_cancellation(reason) {
            failures.push(format!("{logical} ({resource_type}) {status}: {reason}"));
        }
    }
}

/// A CloudFormation Hook that failed a resource (failure mode `FAIL`; a `WARN` hook only warns):
/// its result, which the resource's own failure ("The following hook(s) failed") only points to.
fn hook_failure(e: &StackEvent) -> Option<String> {
    let failed = matches!(
        e.hook_status(),
        Some(HookStatus::HookCompleteFailed | HookStatus::HookFailed)
    );
    if !failed || e.hook_failure_mode() != Some(&HookFailureMode::Fail) {
        return None;
    }
    Some(format!(
        "{} ({}) hook {} {}: {}",
        e.logical_resource_id().unwrap_or_default(),
        e.resource_type().unwrap_or_default(),
        e.hook_type().unwrap_or_default(),
        e.hook_status().map(HookStatus::as_str).unwrap_or_default(),
        e.hook_status_reason().unwrap_or_default()
    ))
}

/// Whether a resource's status reason says CloudFormation cancelled it because another resource
/// failed ("Resource creation cancelled", "Resource update cancelled"): a consequence, not a cause.
pub(super) fn is_cancellation(status_reason: &str) -> bool {
    status_reason.contains("cancelled")
}

/// Follows a stack to a final state, streaming its resource events. Fails with the root cause.
pub(super) async fn follow(
    cfn: &Client,
    name: &str,
    seen: HashSet<String>,
    progress: &StageProgress,
) -> Result<Stack> {
    follow_to(cfn, name, seen, progress, &SUCCEEDED).await
}

/// The final states a deploy succeeds in.
const SUCCEEDED: [&str; 3] = ["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"];

/// Follows a stack to a final state, streaming its resource events; Ok when it is one of
/// `success`, else fails with the root cause.
pub(super) async fn follow_to(
    cfn: &Client,
    name: &str,
    mut seen: HashSet<String>,
    progress: &StageProgress,
    success: &[&str],
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
            if success.contains(&status.as_str()) {
                return Ok(stack);
            }
            return Err(ended(name, status, &failures, &stack));
        }
        backoff.wait().await;
    }
}

/// A stack that ended in a failed `status`: named with its root cause, the first resource
/// failure, else the stack's own status reason.
fn ended(name: &str, status: String, failures: &[String], stack: &Stack) -> anyhow::Error {
    let cause = failures.first().cloned().unwrap_or_else(|| {
        stack
            .stack_status_reason()
            .map(str::to_string)
            .unwrap_or_else(|| "no failed resource event was found".into())
    });
    let summary = format!(
        "stack {name} ended {status}\n  cause: {cause}\n  see: aws cloudformation describe-stack-events --stack-name {name}"
    );
    Failure::new(ExitKind::Deploy, summary)
        .with_detail(Detail::StackEnded {
            status,
            cause: Some(cause),
        })
        .into()
}

/// Following an executed change set failed (the endpoint went away, say): the stack keeps
/// changing without us, so say where to look.
fn lost_track(cfn: &Client, name: &str, e: anyhow::Error) -> anyhow::Error {
    e.context(format!(
        "lost track of stack {name} after its change set was executed; CloudFormation may still be working on it (see: aws cloudformation describe-stacks --stack-name {name}{})",
        region_flag(cfn)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_progress_and_review_states_are_not_final() {
        assert!(!is_final("CREATE_IN_PROGRESS"));
        assert!(!is_final("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(!is_final("REVIEW_IN_PROGRESS"));
        assert!(is_final("UPDATE_ROLLBACK_COMPLETE"));
        assert!(is_final("CREATE_COMPLETE"));
    }

    #[test]
    fn resources_cancelled_by_another_failure_are_not_causes() {
        assert!(is_cancellation("Resource creation cancelled"));
        assert!(!is_cancellation(
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
        ));
    }

    fn hook_event(mode: HookFailureMode, status: HookStatus) -> StackEvent {
        StackEvent::builder()
            .logical_resource_id("Bucket")
            .resource_type("AWS::S3::Bucket")
            .resource_status(aws_sdk_cloudformation::types::ResourceStatus::CreateInProgress)
            .hook_type("Org::Security::BucketPolicy")
            .hook_status(status)
            .hook_status_reason("public access is not allowed")
            .hook_failure_mode(mode)
            .build()
    }

    #[test]
    fn a_failing_hook_in_fail_mode_is_the_cause_and_one_in_warn_mode_is_not() {
        assert_eq!(
            hook_failure(&hook_event(
                HookFailureMode::Fail,
                HookStatus::HookCompleteFailed
            ))
            .as_deref(),
            Some(
                "Bucket (AWS::S3::Bucket) hook Org::Security::BucketPolicy HOOK_COMPLETE_FAILED: public access is not allowed"
            )
        );
        assert_eq!(
            hook_failure(&hook_event(
                HookFailureMode::Warn,
                HookStatus::HookCompleteFailed
            )),
            None
        );
        assert_eq!(
            hook_failure(&hook_event(
                HookFailureMode::Fail,
                HookStatus::HookCompleteSucceeded
            )),
            None
        );
    }
}
