//! Deleting the selected stages' stacks, dependents first.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, exit_code_of, fail_fix};
use crate::model::graph;
use crate::model::plan::Stage;
use crate::model::roles::BootstrapRole;
use crate::progress::StageProgress;
use crate::run::context::Context;
use crate::run::outcome::{StageReport, StageState};
use crate::run::peering;
use crate::run::schedule::Scheduled;
use crate::run::stack;
use crate::run::stages::{self, skipped};

/// Deletes the selected stages' stacks, dependents first.
pub(crate) async fn destroy(
    ctx: &Arc<Context>,
    selected: &[usize],
    concurrency: usize,
) -> Scheduled {
    let depends_on: Vec<Vec<usize>> = ctx
        .plan
        .stages
        .iter()
        .map(|s| s.depends_on.clone())
        .collect();
    let dependents = graph::reversed(&depends_on);
    stages::run(ctx, &dependents, selected, concurrency, |i| {
        let ctx = ctx.clone();
        async move { destroy_stage(&ctx, i).await }
    })
    .await
}

async fn destroy_stage(ctx: &Arc<Context>, index: usize) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("delete stack {} in {}", stage.stack_name, stage.env),
    );
    let result = destroy_stack(ctx, stage, &progress).await;
    let mut report = skipped(stage, String::new());
    report.error = None;
    report.duration_seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(state) => {
            report.status = state;
            progress.finish(
                if state == StageState::Absent {
                    "already absent"
                } else {
                    "deleted"
                },
                true,
            );
        }
        Err(e) => {
            report.status = StageState::Failed;
            report.exit_code = exit_code_of(&e);
            report.error = Some(format!("{e:#}"));
            progress.finish("FAILED", false);
            ctx.reporter.error(
                &format!("stage {} could not be destroyed: {e:#}", stage.name),
                None,
                None,
            );
        }
    }
    report
}

/// Turns off the peering DNS resolution the stage enabled, deletes its stack and the SSM
/// parameters it published its outputs as.
async fn destroy_stack(
    ctx: &Context,
    stage: &Stage,
    progress: &StageProgress,
) -> Result<StageState> {
    let cfg = ctx
        .stage_role(
            stage,
            BootstrapRole::Deploy,
            &format!("destroy stage {}", stage.name),
        )
        .await?;
    let cfn = ctx.aws.cloudformation(&cfg);
    let Some(existing) = stack::describe(&cfn, &stage.stack_name).await? else {
        return Ok(StageState::Absent);
    };
    let outputs = stack::outputs_of(&existing);
    for p in ctx.plan.peerings.iter().filter(|p| p.allow_dns_resolution) {
        if let Some((owner, output)) = &p.connection
            && owner == &stage.name
            && let Some(pcx) = outputs.get(output)
        {
            progress.phase("turning peering DNS resolution off");
            peering::set_dns_resolution(&ctx.aws, &ctx.plan, &stage.env, pcx, false, progress)
                .await?;
        }
    }
    if existing.enable_termination_protection().unwrap_or(false) {
        return Err(fail_fix(
            ExitKind::Deploy,
            format!("stack {} has termination protection", stage.stack_name),
            format!(
                "set termination_protection: false on stage {} and deploy, then destroy",
                stage.name
            ),
        ));
    }
    progress.phase("deleting");
    stack::delete(&cfn, &stage.stack_name, progress).await?;
    let ssm = ctx.aws.ssm(&cfg);
    for name in stage.publish_outputs.values() {
        // Already gone is fine; anything else (a refusal) is said, the stack is gone anyway.
        if let Err(e) = ssm.delete_parameter().name(name).send().await
            && !e
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found())
        {
            progress.line(&format!(
                "could not delete SSM parameter {name}: {}",
                describe_sdk_error(&e)
            ));
        }
    }
    Ok(StageState::Destroyed)
}
