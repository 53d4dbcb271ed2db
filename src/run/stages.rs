//! The selected stages of a plan through the scheduler: their reports in plan order, including
//! those that never ran, the stage deadline (`--stage-timeout`), and the interrupt (Ctrl-C,
//! SIGTERM) and task-error messages.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ExitKind;
use crate::model::plan::Stage;
use crate::run::context::Context;
use crate::run::interrupt;
use crate::run::outcome::{StageReport, StageState};
use crate::run::schedule::{self, Ended, Graph, Run, Scheduled, Stop};

/// Runs `task` for the `selected` stages once the stages they wait for have succeeded, at most
/// `concurrency` at a time, until a failure (running stages finish) or an interrupt (Ctrl-C,
/// SIGTERM: they are aborted). A stage still running after `stage_timeout` is stopped and fails
/// as timed out, which stops the run as any failure does.
pub(crate) async fn run<F>(
    ctx: &Arc<Context>,
    waits_for: &[Vec<usize>],
    selected: &[usize],
    concurrency: usize,
    stage_timeout: Duration,
    mut task: impl FnMut(usize) -> F,
) -> Scheduled
where
    F: Future<Output = StageReport> + Send + 'static,
{
    let order: Vec<usize> = ctx.plan.waves.iter().flatten().copied().collect();
    let graph = Graph {
        order: &order,
        waits_for,
        selected,
        concurrency,
    };
    let run = schedule::run(
        &graph,
        |r: &StageReport| !r.status.is_failure(),
        |i| {
            let work = task(i);
            let ctx = ctx.clone();
            async move {
                match tokio::time::timeout(stage_timeout, work).await {
                    Ok(report) => report,
                    Err(_) => timed_out(&ctx, i, stage_timeout),
                }
            }
        },
        interrupt::interrupted(),
    )
    .await;
    reports(ctx, run)
}

/// One report per selected stage; prints what went wrong in the scheduling itself.
fn reports(ctx: &Context, run: Run<StageReport>) -> Scheduled {
    let stages = &ctx.plan.stages;
    for e in &run.task_errors {
        ctx.reporter
            .error(&format!("internal error in a stage task: {e}"), None, None);
    }
    let why = match (run.stopped_by, run.interrupted) {
        (_, true) => format!(
            "not started: the run was interrupted ({})",
            interrupt::what()
        ),
        (Some(Stop::Failed(i)), false) => format!(
            "not started: the run stopped after stage {} failed",
            stages[i].name
        ),
        (Some(Stop::TaskError), false) => {
            "not started: the run stopped after stage (internal error) failed".to_string()
        }
        (None, false) => "not started".to_string(),
    };
    let reports = run
        .nodes
        .into_iter()
        .map(|(i, ended)| match ended {
            Ended::Finished(report) => report,
            Ended::Blocked(d) => skipped(
                &stages[i],
                format!("not started: stage {} did not succeed", stages[d].name),
            ),
            Ended::NotStarted => skipped(&stages[i], why.clone()),
            Ended::Interrupted { ran_for } => {
                let s = &stages[i];
                ctx.reporter.error(
                    &format!(
                        "interrupted while stage {} was running: stack {} in {} may still be changing in CloudFormation; see: aws cloudformation describe-stacks --stack-name {} --region {}",
                        s.name, s.stack_name, s.env, s.stack_name, s.env.region
                    ),
                    None,
                    None,
                );
                let mut r = skipped(
                    s,
                    format!(
                        "interrupted ({}) while running; CloudFormation may still be working on it",
                        interrupt::what()
                    ),
                );
                r.status = StageState::Interrupted;
                r.duration_seconds = ran_for.as_secs_f64();
                r
            }
        })
        .collect();
    Scheduled {
        stages: reports,
        interrupted: run.interrupted,
    }
}

/// The report of stage `i` stopped by its deadline: a failure naming the stack, saying that its
/// CloudFormation operation (if one started) goes on, and how to look at it.
fn timed_out(ctx: &Context, i: usize, after: Duration) -> StageReport {
    let s = &ctx.plan.stages[i];
    let message = format!(
        "stage {} timed out after {} (--stage-timeout) and was stopped; what it started on stack {} in {} is left in CloudFormation as it is (an executing change set goes on, one not yet executed stays for review); see: aws cloudformation describe-stack-events --stack-name {} --region {}",
        s.name,
        crate::model::duration::render(after),
        s.stack_name,
        s.env,
        s.stack_name,
        s.env.region
    );
    ctx.reporter.error(&message, None, None);
    let mut r = skipped(s, message);
    r.status = StageState::Failed;
    r.duration_seconds = after.as_secs_f64();
    r
}

/// The report of a stage that did not run (or the base of one that did), saying `why`.
pub(crate) fn skipped(stage: &Stage, why: String) -> StageReport {
    StageReport {
        stage: stage.name.clone(),
        account: stage.env.account.to_string(),
        region: stage.env.region.to_string(),
        stack: stage.stack_name.clone(),
        status: StageState::Skipped,
        stack_status: None,
        changes: 0,
        change_set_executed: false,
        change_list: Vec::new(),
        outputs: BTreeMap::new(),
        secret_outputs: stage.secret_outputs.iter().cloned().collect(),
        duration_seconds: 0.0,
        error: Some(why),
        assets: None,
        exit_code: ExitKind::Deploy as i32,
        diff: None,
    }
}
