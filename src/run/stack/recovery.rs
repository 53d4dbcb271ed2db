//! Stacks a failure left stuck, and the ways out. `analyse` reads a stack's events (and those of
//! its nested stacks) for the cause of its last operation's failure and the resources still
//! failed (those whose rollback failed, or that could not be deleted); `explain` and `stuck` turn
//! them into a failure naming each with its reason and the fix; `recover` runs
//! ContinueUpdateRollback (from UPDATE_ROLLBACK_FAILED) or RollbackStack (from CREATE_FAILED and
//! UPDATE_FAILED) and follows the stack to a stable state.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use anyhow::Result;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Stack, StackEvent};

use super::events::{event_ids, follow_to, is_cancellation};
use super::{deploy_error, describe, status_of};
use crate::aws::errors::describe_sdk_error;
use crate::error::{Detail, ExitKind, Failure, fail_fix};
use crate::progress::{StageProgress, one_line};

const NESTED: &str = "AWS::CloudFormation::Stack";
/// How deep nested stacks are followed.
const MAX_DEPTH: usize = 5;

/// A resource whose last event is a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailedResource {
    /// `Child.LogicalId` for a resource of a nested stack, as ResourcesToSkip names it.
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    pub(crate) status: String,
    pub(crate) reason: String,
}

impl FailedResource {
    fn of(e: &Ev) -> FailedResource {
        FailedResource {
            logical_id: e.logical.clone(),
            resource_type: e.rtype.clone(),
            status: e.status.clone(),
            reason: e.reason.clone(),
        }
    }

    fn inside(mut self, parent: &str) -> FailedResource {
        self.logical_id = format!("{parent}.{}", self.logical_id);
        self
    }

    /// `A (AWS::SSM::Parameter) UPDATE_FAILED: reason`, on one line.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} ({}) {}: {}",
            self.logical_id,
            self.resource_type,
            self.status,
            one_line(&self.reason)
        )
    }
}

/// What a stack's events say about its last operation.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// The first resource failure of the operation, before any rollback; inside a nested stack
    /// when that is where it happened.
    pub(crate) cause: Option<FailedResource>,
    /// The resources whose newest event in the operation's last phase (its last rollback, else the
    /// operation itself) is a failure; a nested stack's own failed resources stand for it.
    pub(crate) still_failed: Vec<FailedResource>,
}

/// One event, as the analysis reads it.
#[derive(Debug, Clone)]
struct Ev {
    logical: String,
    rtype: String,
    status: String,
    reason: String,
    physical: String,
    /// An event of the stack itself (not of a resource).
    own: bool,
}

fn ev(e: &StackEvent) -> Ev {
    let rtype = e.resource_type().unwrap_or_default().to_string();
    let physical = e.physical_resource_id().unwrap_or_default().to_string();
    let own = rtype == NESTED
        && (e.stack_id() == Some(physical.as_str()) || e.logical_resource_id() == e.stack_name());
    Ev {
        logical: e.logical_resource_id().unwrap_or_default().to_string(),
        rtype,
        status: e
            .resource_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        reason: e.resource_status_reason().unwrap_or_default().to_string(),
        physical,
        own,
    }
}

/// Whether `e` starts an operation (of `kind` when given: "CREATE", "UPDATE", "DELETE").
fn starts_operation(e: &Ev, kind: Option<&str>) -> bool {
    e.own
        && kind.is_none_or(|k| e.status.strip_suffix("_IN_PROGRESS") == Some(k))
        && matches!(
            e.status.as_str(),
            "CREATE_IN_PROGRESS"
                | "UPDATE_IN_PROGRESS"
                | "DELETE_IN_PROGRESS"
                | "IMPORT_IN_PROGRESS"
        )
}

/// The stack's events, oldest first, back to the start of its last operation (of `kind`): pages
/// are read newest first until one holds that start, so a long history is not read whole.
async fn operation_events(cfn: &Client, stack: &str, kind: Option<&str>) -> Result<Vec<Ev>> {
    let mut evs = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = cfn
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                deploy_error(format!(
                    "cannot read the events of stack {stack}: {}",
                    describe_sdk_error(&e)
                ))
            })?;
        let page: Vec<Ev> = out.stack_events().iter().map(ev).collect();
        let started = page.iter().any(|e| starts_operation(e, kind));
        evs.extend(page);
        token = out.next_token().map(str::to_string);
        if started || token.is_none() {
            break;
        }
    }
    evs.reverse();
    Ok(evs)
}

fn is_failure(e: &Ev) -> bool {
    !e.own && e.status.ends_with("_FAILED") && !is_cancellation(&e.reason)
}

/// Over the events, oldest first: the index of the cause (the first resource failure of the last
/// operation before its first rollback) and those of the resources still failed (their newest
/// event since the last rollback began, else since the operation began, is a failure). `kind`
/// ("CREATE", "UPDATE", "DELETE") narrows the operation to the last of that kind: a nested stack
/// whose failed create its parent then deleted is read at its create.
fn read_events(evs: &[Ev], kind: Option<&str>) -> (Option<usize>, Vec<usize>) {
    let starts_rollback = |e: &Ev| e.own && e.status.ends_with("ROLLBACK_IN_PROGRESS");
    let op = evs
        .iter()
        .rposition(|e| starts_operation(e, kind))
        .unwrap_or(0);
    let first_rollback = (op..evs.len()).find(|&i| starts_rollback(&evs[i]));
    let last_rollback = (op..evs.len()).rev().find(|&i| starts_rollback(&evs[i]));
    let cause = (op..first_rollback.unwrap_or(evs.len())).find(|&i| is_failure(&evs[i]));
    let mut newest: HashMap<&str, usize> = HashMap::new();
    let from = last_rollback.unwrap_or(op);
    for (i, e) in evs.iter().enumerate().skip(from) {
        if !e.own {
            newest.insert(e.logical.as_str(), i);
        }
    }
    let mut still: Vec<usize> = newest
        .into_values()
        .filter(|&i| is_failure(&evs[i]))
        .collect();
    still.sort_unstable();
    (cause, still)
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Reads `stack`'s events (a name or an id) and those of the nested stacks its failures point to.
pub(crate) fn analyse<'a>(
    cfn: &'a Client,
    stack: &'a str,
    depth: usize,
) -> Boxed<'a, Result<Analysis>> {
    analyse_kind(cfn, stack, depth, None)
}

/// `analyse`, the cause read in the last operation of `kind` (see `read_events`).
fn analyse_kind<'a>(
    cfn: &'a Client,
    stack: &'a str,
    depth: usize,
    kind: Option<&'a str>,
) -> Boxed<'a, Result<Analysis>> {
    Box::pin(async move {
        let evs = operation_events(cfn, stack, kind).await?;
        let (cause, _) = read_events(&evs, kind);
        let (_, still) = read_events(&evs, None);
        let mut out = Analysis::default();
        if let Some(i) = cause {
            let e = &evs[i];
            let kind = e.status.split('_').next();
            out.cause = Some(
                match nested(cfn, e, depth, kind).await.and_then(|a| a.cause) {
                    Some(inner) => inner.inside(&e.logical),
                    None => FailedResource::of(e),
                },
            );
        }
        for i in still {
            let e = &evs[i];
            match nested(cfn, e, depth, None).await.map(|a| a.still_failed) {
                Some(inner) if !inner.is_empty() => out
                    .still_failed
                    .extend(inner.into_iter().map(|r| r.inside(&e.logical))),
                _ => out.still_failed.push(FailedResource::of(e)),
            }
        }
        Ok(out)
    })
}

/// The analysis of the child stack behind a nested-stack resource's event.
async fn nested(cfn: &Client, e: &Ev, depth: usize, kind: Option<&str>) -> Option<Analysis> {
    if e.rtype != NESTED || e.physical.is_empty() || depth >= MAX_DEPTH {
        return None;
    }
    analyse_kind(cfn, &e.physical, depth + 1, kind).await.ok()
}

/// How to go on from a stack stuck in `status`, for the stage named (None: a stack of no stage,
/// the bootstrap stack, whose fixes are the AWS CLI's).
fn fix_for(
    status: &str,
    name: &str,
    stage: Option<&str>,
    still: &[FailedResource],
) -> Option<String> {
    let skips: String = still
        .iter()
        .map(|r| format!(" --skip {}", r.logical_id))
        .collect();
    match (status, stage) {
        ("UPDATE_ROLLBACK_FAILED", Some(stage)) => Some(format!(
            "remove what blocked the rollback and run `pipeline-run rollback {stage}`, or leave those resources as they are with `pipeline-run rollback {stage}{skips}` (then make them match the template); then deploy again"
        )),
        ("UPDATE_ROLLBACK_FAILED", None) => Some(format!(
            "aws cloudformation continue-update-rollback --stack-name {name} (--resources-to-skip to leave resources as they are), then run again"
        )),
        ("CREATE_FAILED" | "UPDATE_FAILED", Some(stage)) => Some(format!(
            "the resources are kept as they are (deployed with --no-rollback): fix the template and run `pipeline-run deploy {stage} --no-rollback` again (an update from this state must run without rollback), or run `pipeline-run rollback {stage}` to return to the last stable state"
        )),
        ("CREATE_FAILED" | "UPDATE_FAILED", None) => Some(format!(
            "aws cloudformation rollback-stack --stack-name {name}, then run again"
        )),
        ("DELETE_FAILED", Some(stage)) => {
            let mut top: Vec<&str> = still
                .iter()
                .map(|r| r.logical_id.split('.').next().unwrap_or_default())
                .collect();
            top.dedup();
            let retains: String = top.iter().map(|id| format!(" --retain {id}")).collect();
            Some(format!(
                "remove what blocks the deletion and run `pipeline-run destroy {stage}` again, or complete the deletion keeping those resources with `pipeline-run destroy {stage}{retains}` (they stay in the account, outside any stack)"
            ))
        }
        ("DELETE_FAILED", None) => Some(format!(
            "aws cloudformation delete-stack --stack-name {name} --retain-resources ..., then run again"
        )),
        _ => None,
    }
}

/// The failure of a stack that is `status` (`how`: "ended" after an operation, "is" when found
/// so), with the cause, the resources still failed and the fix.
fn report(
    name: &str,
    how: &str,
    status: &str,
    stage: Option<&str>,
    analysis: &Analysis,
    fallback_cause: Option<String>,
) -> anyhow::Error {
    let cause = analysis
        .cause
        .as_ref()
        .map(FailedResource::line)
        .or(fallback_cause);
    let mut summary = format!("stack {name} {how} {status}");
    let deleting = status == "DELETE_FAILED";
    if let Some(c) = cause.as_ref().filter(|_| !deleting) {
        summary.push_str(&format!("\n  cause: {c}"));
    }
    let rollback = status.ends_with("ROLLBACK_FAILED");
    let what = match (rollback, deleting) {
        (true, _) => "rollback failed",
        (_, true) => "not deleted",
        _ => "failed",
    };
    for r in &analysis.still_failed {
        let line = r.line();
        if rollback || deleting || cause.as_deref() != Some(line.as_str()) {
            summary.push_str(&format!("\n  {what}: {line}"));
        }
    }
    summary.push_str(&format!(
        "\n  see: aws cloudformation describe-stack-events --stack-name {name}"
    ));
    let mut failure = Failure::new(ExitKind::Deploy, summary).with_detail(Detail::StackEnded {
        status: status.to_string(),
        cause,
    });
    if let Some(fix) = fix_for(status, name, stage, &analysis.still_failed) {
        failure = failure.with_fix(fix);
    }
    failure.into()
}

/// A failed operation's error `err` (a stack that ended in a failed state) restated from the
/// stack's events: the cause (inside a nested stack when it is there), the resources still
/// failed, and the fix for the state it ended in. Other errors are returned as they are.
pub(crate) async fn explain(
    cfn: &Client,
    name: &str,
    stage: Option<&str>,
    alarms: &[String],
    err: anyhow::Error,
) -> anyhow::Error {
    let Some(status) = Failure::stack_status(&err) else {
        return err;
    };
    let Ok(analysis) = analyse(cfn, name, 0).await else {
        return err;
    };
    let fallback = Failure::of(&err).and_then(|f| match &f.detail {
        Some(Detail::StackEnded { cause, .. }) => cause.clone(),
        _ => None,
    });
    let failure = report(name, "ended", &status, stage, &analysis, fallback);
    if analysis.cause.is_some() || alarms.is_empty() || !status.ends_with("ROLLBACK_COMPLETE") {
        return failure;
    }
    // No resource failed: what rolled it back is a rollback trigger, whose alarm the stack's
    // status reason names.
    failure.context(format!(
        "stack {name} was rolled back by a rollback trigger: an alarm of rollback_alarms ({}) was in ALARM",
        alarms.join(", ")
    ))
}

/// A stack found in a failed `status` that no change set can start from as asked.
pub(crate) async fn stuck(
    cfn: &Client,
    name: &str,
    stage: Option<&str>,
    status: &str,
) -> anyhow::Error {
    let analysis = analyse(cfn, name, 0).await.unwrap_or_default();
    report(name, "is", status, stage, &analysis, None)
}

/// A stack another operation is still changing (`status` `*_IN_PROGRESS`): refused, naming the
/// operation and when it started; pipeline-run never starts a second operation on a stack.
pub(crate) fn busy(cfn: &Client, name: &str, stack: &Stack, status: &str) -> anyhow::Error {
    let since = stack
        .last_updated_time()
        .or(stack.creation_time())
        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .map(|t| format!(" (since {t})"))
        .unwrap_or_default();
    fail_fix(
        ExitKind::Deploy,
        format!(
            "stack {name} is {status}: another deployment is running or was interrupted{since}"
        ),
        format!(
            "wait until it finishes (aws cloudformation describe-stacks --stack-name {name}{}) and run again",
            super::region_flag(cfn)
        ),
    )
}

/// What `recover` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// ContinueUpdateRollback from UPDATE_ROLLBACK_FAILED.
    Continued,
    /// RollbackStack from CREATE_FAILED / UPDATE_FAILED.
    RolledBack,
    /// The stack was in no state to roll back from.
    Nothing,
}

/// Brings a stuck stack back to a stable state: ContinueUpdateRollback (skipping `skip`) from
/// UPDATE_ROLLBACK_FAILED, RollbackStack from CREATE_FAILED / UPDATE_FAILED, both as
/// `role_arn`, followed to UPDATE_ROLLBACK_COMPLETE (ROLLBACK_COMPLETE for a failed create).
pub(crate) async fn recover(
    cfn: &Client,
    name: &str,
    stage: &str,
    skip: &[String],
    role_arn: Option<&str>,
    progress: &StageProgress,
) -> Result<(Recovered, Stack)> {
    progress.phase("reading stack");
    let Some(stack) = describe(cfn, name).await? else {
        return Err(fail_fix(
            ExitKind::Deploy,
            format!("stack {name} does not exist: there is nothing to roll back"),
            format!("deploy stage {stage}"),
        ));
    };
    let status = status_of(&stack);
    let seen = event_ids(cfn, name).await;
    let (done, success): (Recovered, &[&str]) = match status.as_str() {
        "UPDATE_ROLLBACK_FAILED" => {
            progress.phase("continuing the rollback");
            cfn.continue_update_rollback()
                .stack_name(name)
                .set_resources_to_skip((!skip.is_empty()).then(|| skip.to_vec()))
                .set_role_arn(role_arn.map(str::to_string))
                .send()
                .await
                .map_err(|e| {
                    deploy_error(format!(
                        "cannot continue the rollback of stack {name}: {}",
                        describe_sdk_error(&e)
                    ))
                })?;
            (Recovered::Continued, &["UPDATE_ROLLBACK_COMPLETE"])
        }
        "CREATE_FAILED" | "UPDATE_FAILED" => {
            if !skip.is_empty() {
                return Err(fail_fix(
                    ExitKind::Validation,
                    format!(
                        "stack {name} is {status}: --skip only applies to a stack in UPDATE_ROLLBACK_FAILED"
                    ),
                    format!("run `pipeline-run rollback {stage}` without --skip"),
                ));
            }
            progress.phase("rolling back");
            cfn.rollback_stack()
                .stack_name(name)
                .set_role_arn(role_arn.map(str::to_string))
                .send()
                .await
                .map_err(|e| {
                    deploy_error(format!(
                        "cannot roll back stack {name}: {}",
                        describe_sdk_error(&e)
                    ))
                })?;
            (
                Recovered::RolledBack,
                &["UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"],
            )
        }
        s if s.ends_with("_IN_PROGRESS") => return Err(busy(cfn, name, &stack, s)),
        _ => return Ok((Recovered::Nothing, stack)),
    };
    match follow_to(cfn, name, seen, progress, success).await {
        Ok(stack) => Ok((done, stack)),
        Err(e) => Err(explain(cfn, name, Some(stage), &[], e).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(logical: &str, status: &str, reason: &str) -> Ev {
        let own = logical == "app";
        Ev {
            logical: logical.into(),
            rtype: if own { NESTED } else { "AWS::SSM::Parameter" }.into(),
            status: status.into(),
            reason: reason.into(),
            physical: String::new(),
            own,
        }
    }

    fn ids(evs: &[Ev], (cause, still): (Option<usize>, Vec<usize>)) -> (Option<&str>, Vec<&str>) {
        (
            cause.map(|i| evs[i].logical.as_str()),
            still.iter().map(|&i| evs[i].logical.as_str()).collect(),
        )
    }

    #[test]
    fn a_failed_rollback_names_the_update_cause_and_what_could_not_be_restored() {
        let evs = [
            e("app", "CREATE_IN_PROGRESS", ""),
            e("A", "CREATE_FAILED", "old failure"),
            e("app", "UPDATE_IN_PROGRESS", ""),
            e("A", "UPDATE_COMPLETE", ""),
            e("C", "UPDATE_FAILED", "Resource update cancelled"),
            e("B", "UPDATE_FAILED", "quota"),
            e("app", "UPDATE_ROLLBACK_IN_PROGRESS", ""),
            e("B", "UPDATE_COMPLETE", ""),
            e("A", "UPDATE_FAILED", "denied"),
            e("app", "UPDATE_ROLLBACK_FAILED", ""),
        ];
        assert_eq!(ids(&evs, read_events(&evs, None)), (Some("B"), vec!["A"]));
    }

    #[test]
    fn a_continued_rollback_counts_only_its_own_failures() {
        let evs = [
            e("app", "UPDATE_IN_PROGRESS", ""),
            e("B", "UPDATE_FAILED", "quota"),
            e("app", "UPDATE_ROLLBACK_IN_PROGRESS", ""),
            e("A", "UPDATE_FAILED", "denied"),
            e("D", "UPDATE_FAILED", "denied"),
            e("app", "UPDATE_ROLLBACK_FAILED", ""),
            e("app", "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated"),
            e("D", "UPDATE_COMPLETE", ""),
            e("A", "UPDATE_FAILED", "denied again"),
            e("app", "UPDATE_ROLLBACK_FAILED", ""),
        ];
        let (cause, still) = read_events(&evs, None);
        assert_eq!(ids(&evs, (cause, still.clone())), (Some("B"), vec!["A"]));
        assert_eq!(evs[still[0]].reason, "denied again");
    }

    #[test]
    fn a_nested_stack_deleted_after_its_failed_create_is_read_at_its_create() {
        let evs = [
            e("app", "CREATE_IN_PROGRESS", ""),
            e("P", "CREATE_FAILED", "refused"),
            e("app", "CREATE_FAILED", ""),
            e("app", "DELETE_IN_PROGRESS", ""),
            e("app", "DELETE_COMPLETE", ""),
        ];
        assert_eq!(ids(&evs, read_events(&evs, None)).0, None);
        assert_eq!(ids(&evs, read_events(&evs, Some("CREATE"))).0, Some("P"));
    }

    #[test]
    fn a_failed_delete_lists_every_resource_left() {
        let evs = [
            e("app", "DELETE_IN_PROGRESS", ""),
            e("B", "DELETE_COMPLETE", ""),
            e("A", "DELETE_FAILED", "in use"),
            e("C", "DELETE_FAILED", "in use too"),
            e("app", "DELETE_FAILED", ""),
        ];
        assert_eq!(
            ids(&evs, read_events(&evs, None)),
            (Some("A"), vec!["A", "C"])
        );
    }

    #[test]
    fn the_fix_names_the_stage_and_each_resource_to_skip() {
        let still = [FailedResource {
            logical_id: "Child.P".into(),
            resource_type: "AWS::SSM::Parameter".into(),
            status: "UPDATE_FAILED".into(),
            reason: "denied".into(),
        }];
        let fix = fix_for("UPDATE_ROLLBACK_FAILED", "app", Some("Net"), &still).unwrap();
        assert!(
            fix.contains("`pipeline-run rollback Net --skip Child.P`"),
            "{fix}"
        );
        assert!(fix_for("UPDATE_ROLLBACK_COMPLETE", "app", Some("Net"), &still).is_none());
    }
}
