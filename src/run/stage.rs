//! One stage of a deploy (or diff): outputs of earlier stages, the deploy role, the bootstrap
//! check, assets, the template's location, the change set, then outputs and peering DNS.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::error::{ExitKind, Failure, exit_code_of, fail};
use crate::model::plan::Stage;
use crate::model::roles::BootstrapRole;
use crate::run::assets;
use crate::run::context::{Context, RunOptions};
use crate::run::outcome::{StageReport, StageState};
use crate::run::outputs::publish_outputs;
use crate::run::peering;
use crate::run::schedule::{Scheduled, schedule, skipped};
use crate::run::stack::{self, Approval, Mode, StackSpec, TemplateSource};

/// Deploys (or diffs) the selected stages.
pub(crate) async fn deploy(ctx: &Arc<Context>, opts: &RunOptions, mode: Mode) -> Scheduled {
    let waits_for: Vec<Vec<usize>> = ctx
        .plan
        .stages
        .iter()
        .map(|s| s.depends_on.clone())
        .collect();
    let approval = opts.approval;
    schedule(ctx, &waits_for, &opts.selected, opts.concurrency, |i| {
        let ctx = ctx.clone();
        Box::pin(async move { run_stage(&ctx, i, mode, approval).await })
    })
    .await
}

async fn run_stage(
    ctx: &Arc<Context>,
    index: usize,
    mode: Mode,
    approval: Approval,
) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("stack {} in {}", stage.stack_name, stage.env),
    );
    let mut asset_counts = None;
    let result = deploy_stage(ctx, stage, mode, approval, &progress, &mut asset_counts).await;
    let mut report = skipped(stage, String::new());
    report.assets = asset_counts;
    report.duration_seconds = started.elapsed().as_secs_f64();
    report.error = None;
    match result {
        Ok(outcome) => {
            report.status = match (mode, outcome.no_changes, outcome.executed) {
                (_, true, _) => StageState::NoChanges,
                (Mode::Diff, false, _) => StageState::Changes,
                (Mode::Deploy, false, _) => StageState::Deployed,
            };
            report.stack_status = Some(outcome.status.clone());
            report.changes = outcome.changes.len();
            report.change_set_executed = outcome.executed;
            report.change_list = outcome.changes;
            report.outputs = outcome.outputs;
            let summary = match report.status {
                StageState::NoChanges => "no changes".to_string(),
                StageState::Changes => format!("{} change(s) (not executed)", report.changes),
                _ => format!(
                    "{} — {} change(s){}",
                    outcome.status,
                    report.changes,
                    outcome
                        .recreated_from
                        .map(|s| format!(", re-created after {s}"))
                        .unwrap_or_default()
                ),
            };
            progress.finish(&summary, true);
        }
        Err(e) => {
            let msg = format!("{e:#}");
            report.status = StageState::Failed;
            report.exit_code = exit_code_of(&e);
            report.error = Some(msg.clone());
            progress.finish("FAILED", false);
            let kind = exit_code_of(&e);
            ctx.reporter.error(
                &format!("stage {} failed: {msg}", stage.name),
                (kind == ExitKind::Validation as i32)
                    .then(|| ctx.plan.file.display().to_string())
                    .as_deref(),
                (kind == ExitKind::Validation as i32)
                    .then_some(stage.line)
                    .flatten(),
            );
            report.stack_status = Failure::stack_status(&e);
        }
    }
    report
}

async fn deploy_stage(
    ctx: &Arc<Context>,
    stage: &Stage,
    mode: Mode,
    approval: Approval,
    progress: &crate::progress::StageProgress,
    asset_counts: &mut Option<assets::AssetCounts>,
) -> Result<stack::Outcome> {
    let plan = &ctx.plan;
    progress.phase("resolving parameters");
    let mut outputs = HashMap::new();
    for dep in stage
        .parameters
        .values()
        .flat_map(|v| v.references())
        .map(|(s, _)| s.to_string())
        .collect::<HashSet<_>>()
    {
        let dep_stage = &plan.stages[plan.stage_index(&dep).expect("validated reference")];
        outputs.insert(dep.clone(), ctx.outputs_of(dep_stage).await?);
    }

    progress.phase("assuming deploy role");
    let cfg = ctx
        .stage_role(
            stage,
            BootstrapRole::Deploy,
            &format!("deploy stage {}", stage.name),
        )
        .await?;
    ctx.check_bootstrap(stage, &cfg).await?;

    // Published before the change set, as cdk-assets runs before `cdk deploy`; also for a
    // diff, whose change set may read the template from S3 (content-addressed, so harmless).
    let mut locations = BTreeMap::new();
    if !stage.assets.is_empty() {
        progress.phase("publishing assets");
        let (published, counts) = assets::publish_assets(
            &ctx.aws,
            &stage.env,
            &stage.roles,
            &plan.qualifier,
            &stage.name,
            &stage.assets,
            progress,
        )
        .await?;
        *asset_counts = Some(counts);
        locations = published;
    }
    let mut parameters = BTreeMap::new();
    for (k, v) in &stage.parameters {
        let value = v
            .resolve_with_assets(&outputs, &locations)
            .map_err(|e| fail(ExitKind::Deploy, format!("parameter {k}: {e}")))?;
        parameters.insert(k.clone(), value);
    }

    let body = stage.template.body.clone();
    let template = if let Some(url) = &stage.overrides.template_url {
        TemplateSource::Url {
            url: assets::template_url_from(url, &stage.env.region),
            body,
        }
    } else if stage.template.is_over_body_limit() {
        progress.phase("uploading template");
        let url = assets::publish_template(
            &ctx.aws,
            &stage.env,
            &stage.roles,
            &plan.qualifier,
            &body,
            &format!("upload the template of stage {}", stage.name),
        )
        .await?;
        TemplateSource::Url { url, body }
    } else {
        TemplateSource::Body(body)
    };
    let spec = StackSpec {
        stack_name: stage.stack_name.clone(),
        template,
        parameters,
        tags: stage.tags.clone(),
        execution_role_arn: Some(stage.roles.cfn_exec.arn.clone()),
        termination_protection: stage.termination_protection,
    };
    let cfn = ctx.aws.cloudformation(&cfg);
    let outcome = stack::deploy(&cfn, &spec, mode, approval, progress).await?;
    if mode == Mode::Diff {
        return Ok(outcome);
    }
    ctx.record_outputs(&stage.name, outcome.outputs.clone());

    if !stage.publish_outputs.is_empty() {
        progress.phase("publishing outputs to Parameter Store");
        publish_outputs(ctx, stage, &cfg, &outcome.outputs, progress).await?;
    }
    for p in plan.peerings.iter().filter(|p| p.allow_dns_resolution) {
        if let Some((owner, output)) = &p.connection
            && owner == &stage.name
        {
            let pcx = outcome.outputs.get(output).ok_or_else(|| {
                fail(
                    ExitKind::Deploy,
                    format!(
                        "stage {} has no output {output} holding the peering id",
                        stage.name
                    ),
                )
            })?;
            progress.phase("enabling peering DNS resolution");
            peering::set_dns_resolution(&ctx.aws, plan, &stage.env, pcx, true, progress).await?;
        }
    }
    Ok(outcome)
}
