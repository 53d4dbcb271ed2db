//! Deleting the selected stages' stacks, dependents first; none of them while one is protected
//! (its stack's termination protection, or the stage's `termination_protection`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tokio::task::JoinSet;

use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, exit_code_of, fail, fail_fix};
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

/// Deletes the selected stages' stacks, dependents first, once every one of them was read and
/// none is protected (else nothing is deleted; `--force` only skips the question, as AWS has no
/// override either). `retain`: resources kept when a stack in DELETE_FAILED is deleted
/// (`--retain`, given for one stage).
pub(crate) async fn destroy(
    ctx: &Arc<Context>,
    selected: &[usize],
    concurrency: usize,
    stage_timeout: std::time::Duration,
    retain: Vec<String>,
) -> Scheduled {
    let retain = Arc::new(retain);
    if let Some(refused) = refuse_protected(ctx, selected).await {
        return refused;
    }
    let depends_on: Vec<Vec<usize>> = ctx
        .plan
        .stages
        .iter()
        .map(|s| s.depends_on.clone())
        .collect();
    let dependents = graph::reversed(&depends_on);
    stages::run(
        ctx,
        &dependents,
        selected,
        concurrency,
        stage_timeout,
        |i| {
            let ctx = ctx.clone();
            let retain = retain.clone();
            async move { destroy_stage(&ctx, i, &retain).await }
        },
    )
    .await
}

/// Reads the stack of every selected stage before anything is deleted. When one is protected or
/// cannot be read, the run ends there: those stages fail with the reason and the fix, the others
/// are not started. None when every stack may go.
async fn refuse_protected(ctx: &Arc<Context>, selected: &[usize]) -> Option<Scheduled> {
    let mut reads = JoinSet::new();
    for &i in selected {
        let ctx = ctx.clone();
        reads.spawn(async move { (i, may_delete(&ctx, &ctx.plan.stages[i]).await) });
    }
    // A read that panicked leaves its stage here: refused too.
    let mut refused: BTreeMap<usize, anyhow::Error> = selected
        .iter()
        .map(|&i| {
            (
                i,
                fail(ExitKind::Deploy, "internal error reading the stack"),
            )
        })
        .collect();
    while let Some(joined) = reads.join_next().await {
        if let Ok((i, read)) = joined {
            match read {
                Ok(()) => {
                    refused.remove(&i);
                }
                Err(e) => {
                    refused.insert(i, e);
                }
            }
        }
    }
    if refused.is_empty() {
        return None;
    }
    let stages = &ctx.plan.stages;
    let blocking: Vec<&str> = refused.keys().map(|&i| stages[i].name.as_str()).collect();
    let why = format!(
        "not started: nothing is deleted while {} cannot be destroyed",
        blocking.join(", ")
    );
    let mut order = selected.to_vec();
    order.sort_unstable();
    let reports = order
        .into_iter()
        .map(|i| match refused.remove(&i) {
            Some(e) => refusal_report(ctx, &stages[i], &e),
            None => skipped(&stages[i], why.clone()),
        })
        .collect();
    Some(Scheduled {
        stages: reports,
        interrupted: false,
    })
}

/// The stage's deploy role, for destroying it.
async fn deploy_role(ctx: &Context, stage: &Stage) -> Result<aws_config::SdkConfig> {
    ctx.stage_role(
        stage,
        BootstrapRole::Deploy,
        &format!("destroy stage {}", stage.name),
    )
    .await
}

/// Ok when the stage's stack may be deleted: it does not exist, or neither it nor the stage is
/// protected.
async fn may_delete(ctx: &Context, stage: &Stage) -> Result<()> {
    let cfg = deploy_role(ctx, stage).await?;
    let cfn = ctx.aws.cloudformation(&cfg);
    match stack::describe(&cfn, &stage.stack_name).await? {
        Some(existing) => unprotected(ctx, stage, stack::protected(Some(&existing))),
        None => Ok(()),
    }
}

/// Refuses a stack protected `live` or by its stage, naming the stage file, the stage and the fix.
fn unprotected(ctx: &Context, stage: &Stage, live: bool) -> Result<()> {
    let (name, stack, env) = (&stage.name, &stage.stack_name, &stage.env);
    let file = ctx.plan.file.display();
    let why = match (live, stage.termination_protection) {
        (false, false) => return Ok(()),
        (true, true) => format!(
            "stack {stack} in {env} has termination protection, as stage {name} of {file} sets it"
        ),
        (true, false) => format!(
            "stack {stack} in {env} has termination protection (stage {name} of {file} does not set it; no deploy has turned it off since)"
        ),
        (false, true) => format!(
            "stage {name} of {file} sets termination protection on stack {stack} in {env} (not applied to the stack yet)"
        ),
    };
    let fix = if stage.termination_protection {
        format!("set termination_protection: false on stage {name} in {file}, deploy, then destroy")
    } else {
        format!("deploy stage {name} (it turns the protection off, as {file} says), then destroy")
    };
    Err(fail_fix(
        ExitKind::Deploy,
        format!("{why}: it cannot be destroyed, and --force does not override that"),
        fix,
    ))
}

fn refusal_report(ctx: &Context, stage: &Stage, e: &anyhow::Error) -> StageReport {
    let mut report = skipped(stage, format!("{e:#}"));
    report.status = StageState::Failed;
    report.exit_code = exit_code_of(e);
    // Point at the stage in the stage file when the file is what protects it.
    let in_file = stage.termination_protection;
    ctx.reporter.error(
        &format!("stage {} cannot be destroyed: {e:#}", stage.name),
        in_file
            .then(|| ctx.plan.file.display().to_string())
            .as_deref(),
        in_file.then_some(stage.line).flatten(),
    );
    report
}

async fn destroy_stage(ctx: &Arc<Context>, index: usize, retain: &[String]) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("delete stack {} in {}", stage.stack_name, stage.env),
    );
    let result = destroy_stack(ctx, stage, retain, &progress).await;
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
    retain: &[String],
    progress: &StageProgress,
) -> Result<StageState> {
    let cfg = deploy_role(ctx, stage).await?;
    let cfn = ctx.aws.cloudformation(&cfg);
    let Some(existing) = stack::describe(&cfn, &stage.stack_name).await? else {
        return Ok(StageState::Absent);
    };
    // Read again: protection may have been turned on since the check before any deletion.
    unprotected(ctx, stage, stack::protected(Some(&existing)))?;
    let status = stack::status_of(&existing);
    if status.ends_with("_IN_PROGRESS") {
        return Err(stack::busy(&cfn, &stage.stack_name, &existing, &status));
    }
    if !retain.is_empty() && status != "DELETE_FAILED" {
        return Err(fail_fix(
            ExitKind::Validation,
            format!(
                "stack {} is {status}: --retain only applies to a stack in DELETE_FAILED",
                stage.stack_name
            ),
            format!("run `pipeline-run destroy {}` without --retain", stage.name),
        ));
    }
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
    progress.phase("deleting");
    stack::delete_retaining(&cfn, &stage.stack_name, retain, Some(&stage.name), progress).await?;
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
