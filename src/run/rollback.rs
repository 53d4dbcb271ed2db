//! `rollback`: one stage's stack brought back from a failed state through its deploy role, the
//! CloudFormation execution role acting (as deploys do): ContinueUpdateRollback from
//! UPDATE_ROLLBACK_FAILED (`--skip` names resources to leave as they are, `Child.LogicalId` in a
//! nested stack), RollbackStack from CREATE_FAILED / UPDATE_FAILED (left by `deploy
//! --no-rollback`), followed to a stable state with progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::exit_code_of;
use crate::model::plan::Stage;
use crate::model::roles::BootstrapRole;
use crate::progress::StageProgress;
use crate::run::context::Context;
use crate::run::outcome::{StageReport, StageState};
use crate::run::schedule::Scheduled;
use crate::run::stack::{self, Recovered};
use crate::run::stages::{self, skipped};

/// Rolls back the stack of stage `index`, skipping `skip`, within `stage_timeout`.
pub(crate) async fn rollback(
    ctx: &Arc<Context>,
    index: usize,
    skip: Vec<String>,
    stage_timeout: Duration,
) -> Scheduled {
    // One stage, waiting for nothing: its dependencies are not touched.
    let waits_for = vec![Vec::new(); ctx.plan.stages.len()];
    let skip = Arc::new(skip);
    stages::run(ctx, &waits_for, &[index], 1, stage_timeout, |i| {
        let ctx = ctx.clone();
        let skip = skip.clone();
        async move { rollback_stage(&ctx, i, &skip).await }
    })
    .await
}

async fn rollback_stage(ctx: &Arc<Context>, index: usize, skip: &[String]) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("roll back stack {} in {}", stage.stack_name, stage.env),
    );
    let result = roll_back(ctx, stage, skip, &progress).await;
    let mut report = skipped(stage, String::new());
    report.error = None;
    report.duration_seconds = started.elapsed().as_secs_f64();
    match result {
        Ok((done, status)) => {
            report.status = match done {
                Recovered::Nothing => StageState::NoChanges,
                Recovered::Continued | Recovered::RolledBack => StageState::RolledBack,
            };
            let summary = match done {
                Recovered::Nothing => format!("{status}: nothing to roll back"),
                Recovered::Continued => format!("{status} (rollback continued)"),
                Recovered::RolledBack => format!("{status} (rolled back)"),
            };
            report.stack_status = Some(status);
            progress.finish(&summary, true);
        }
        Err(e) => {
            report.status = StageState::Failed;
            report.exit_code = exit_code_of(&e);
            report.error = Some(format!("{e:#}"));
            report.stack_status = crate::error::Failure::stack_status(&e);
            progress.finish("FAILED", false);
            ctx.reporter.error(
                &format!("stage {} could not be rolled back: {e:#}", stage.name),
                None,
                None,
            );
        }
    }
    report
}

async fn roll_back(
    ctx: &Context,
    stage: &Stage,
    skip: &[String],
    progress: &StageProgress,
) -> Result<(Recovered, String)> {
    progress.phase("assuming deploy role");
    let cfg = ctx
        .stage_role(
            stage,
            BootstrapRole::Deploy,
            &format!("roll back stage {}", stage.name),
        )
        .await?;
    let cfn = ctx.aws.cloudformation(&cfg);
    let (done, stack) = stack::recover(
        &cfn,
        &stage.stack_name,
        &stage.name,
        skip,
        Some(&stage.roles.cfn_exec.arn),
        progress,
    )
    .await?;
    Ok((done, stack::status_of(&stack)))
}
