//! The dependency scheduler: every selected stage starts once the stages it waits for have
//! succeeded, at most `concurrency` at a time; a failure stops new starts; Ctrl-C stops all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use crate::error::ExitKind;
use crate::model::plan::Stage;
use crate::run::context::Context;
use crate::run::outcome::{StageReport, StageState};

type StageFuture = Pin<Box<dyn Future<Output = StageReport> + Send>>;

/// Outcome of scheduling: the stage reports in plan order, and whether Ctrl-C stopped the run.
pub(crate) struct Scheduled {
    pub(crate) stages: Vec<StageReport>,
    pub(crate) interrupted: bool,
}

/// Runs `task` for every selected stage once all its `waits_for` stages have succeeded (or are
/// not selected), at most `concurrency` at a time. After a failure nothing new starts; running
/// stages finish. Ctrl-C stops everything at once and reports what is still running.
pub(crate) async fn schedule(
    ctx: &Arc<Context>,
    waits_for: &[Vec<usize>],
    selected: &[usize],
    concurrency: usize,
    task: impl Fn(usize) -> StageFuture,
) -> Scheduled {
    let plan = &ctx.plan;
    let n = plan.stages.len();
    let selected: HashSet<usize> = selected.iter().copied().collect();
    let mut reports: Vec<Option<StageReport>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running: JoinSet<(usize, StageReport)> = JoinSet::new();
    let mut running_names: HashMap<usize, Instant> = HashMap::new();
    let mut stopped_by: Option<String> = None;
    let mut interrupted = false;
    let order: Vec<usize> = plan.waves.iter().flatten().copied().collect();

    loop {
        for &i in &order {
            if !selected.contains(&i) || started[i] {
                continue;
            }
            let blocking = waits_for[i].iter().find(|&&d| {
                selected.contains(&d) && reports[d].as_ref().is_some_and(|r| r.status.is_failure())
            });
            if let Some(&d) = blocking {
                started[i] = true;
                reports[i] = Some(skipped(
                    &plan.stages[i],
                    format!("not started: stage {} did not succeed", plan.stages[d].name),
                ));
                continue;
            }
            let ready = waits_for[i]
                .iter()
                .all(|&d| !selected.contains(&d) || reports[d].is_some());
            if !ready || stopped_by.is_some() || running.len() >= concurrency.max(1) {
                continue;
            }
            started[i] = true;
            running_names.insert(i, Instant::now());
            let fut = task(i);
            running.spawn(async move { (i, fut.await) });
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { break };
                match joined {
                    Ok((i, report)) => {
                        running_names.remove(&i);
                        if report.status.is_failure() && stopped_by.is_none() {
                            stopped_by = Some(report.stage.clone());
                        }
                        reports[i] = Some(report);
                    }
                    Err(e) => {
                        ctx.reporter.error(&format!("internal error in a stage task: {e}"), None, None);
                        stopped_by.get_or_insert_with(|| "(internal error)".into());
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                interrupted = true;
                running.abort_all();
                for (&i, since) in &running_names {
                    let s = &plan.stages[i];
                    ctx.reporter.error(
                        &format!(
                            "interrupted while stage {} was running: stack {} in {} may still be changing in CloudFormation; see: aws cloudformation describe-stacks --stack-name {} --region {}",
                            s.name, s.stack_name, s.env, s.stack_name, s.env.region
                        ),
                        None,
                        None,
                    );
                    let mut r = skipped(s, "interrupted (Ctrl-C) while running; CloudFormation may still be working on it".into());
                    r.status = StageState::Interrupted;
                    r.duration_seconds = since.elapsed().as_secs_f64();
                    reports[i] = Some(r);
                }
                break;
            }
        }
    }
    let why = match (&stopped_by, interrupted) {
        (_, true) => "not started: the run was interrupted (Ctrl-C)".to_string(),
        (Some(s), false) => format!("not started: the run stopped after stage {s} failed"),
        (None, false) => "not started".to_string(),
    };
    let stages = (0..n)
        .filter(|i| selected.contains(i))
        .map(|i| {
            reports[i]
                .take()
                .unwrap_or_else(|| skipped(&plan.stages[i], why.clone()))
        })
        .collect();
    Scheduled {
        stages,
        interrupted,
    }
}

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
        duration_seconds: 0.0,
        error: Some(why),
        assets: None,
        exit_code: ExitKind::Deploy as i32,
    }
}
