//! One stage of a deploy (or diff): outputs of earlier stages, the deploy role, the bootstrap
//! check, assets, the template's location, the change set, then outputs and peering DNS.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use aws_config::SdkConfig;

use crate::error::{ExitKind, Failure, exit_code_of, fail, summary_of};
use crate::model::assets::{AssetLocation, AssetSpec};
use crate::model::plan::Stage;
use crate::model::roles::BootstrapRole;
use crate::progress::StageProgress;
use crate::run::assets::{self, AssetCounts};
use crate::run::context::{Context, RunOptions};
use crate::run::lookup_diff::{self, TemplateOutcome};
use crate::run::outcome::{DiffInfo, StageReport, StageState};
use crate::run::outputs::publish_outputs;
use crate::run::peering;
use crate::run::schedule::Scheduled;
use crate::run::secrets::{mask_no_echo_parameters, mask_secret_outputs};
use crate::run::stack::{self, Approval, Mode, StackSpec, TemplateSource};
use crate::run::stack_refs;
use crate::run::stages::{self, skipped};

/// Deploys (or diffs) the selected stages.
pub(crate) async fn deploy(ctx: &Arc<Context>, opts: &RunOptions, mode: Mode) -> Scheduled {
    let waits_for: Vec<Vec<usize>> = ctx
        .plan
        .stages
        .iter()
        .map(|s| s.depends_on.clone())
        .collect();
    let approval = opts.approval;
    let no_rollback = opts.no_rollback;
    stages::run(
        ctx,
        &waits_for,
        &opts.selected,
        opts.concurrency,
        opts.stage_timeout,
        |i| {
            let ctx = ctx.clone();
            async move { run_stage(&ctx, i, mode, approval, no_rollback).await }
        },
    )
    .await
}

async fn run_stage(
    ctx: &Arc<Context>,
    index: usize,
    mode: Mode,
    approval: Approval,
    no_rollback: bool,
) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("stack {} in {}", stage.stack_name, stage.env),
    );
    let mut asset_counts = None;
    let result = deploy_stage(
        ctx,
        stage,
        (mode, approval, no_rollback),
        &progress,
        &mut asset_counts,
    )
    .await;
    let mut report = skipped(stage, String::new());
    report.assets = asset_counts;
    report.duration_seconds = started.elapsed().as_secs_f64();
    report.error = None;
    match result {
        Ok(Done::ChangeSet(outcome)) => {
            if mode == Mode::Diff {
                report.diff = Some(DiffInfo::change_set());
            }
            succeeded(&mut report, mode, outcome, &progress)
        }
        Ok(Done::Template(outcome)) => template_diffed(&mut report, outcome, &progress),
        Ok(Done::NoResources { deleted }) => no_resources(&mut report, mode, deleted, &progress),
        Err(e) => failed(ctx, stage, &mut report, &e, &progress),
    }
    report
}

/// How a stage's deploy or diff came out.
enum Done {
    /// Through a change set (or skipped as unchanged).
    ChangeSet(stack::Outcome),
    /// `diff` as a template comparison through the lookup role.
    Template(TemplateOutcome),
    /// A template without resources: not deployed; the stack, if it existed, deleted (deploy) or
    /// to be deleted (diff).
    NoResources { deleted: Option<bool> },
}

/// The report of a stage whose template has no resources (`deleted`: None when no stack existed).
fn no_resources(
    report: &mut StageReport,
    mode: Mode,
    deleted: Option<bool>,
    progress: &StageProgress,
) {
    let (status, summary) = match (deleted, mode) {
        (None, _) => (
            StageState::NoChanges,
            "has no resources, skipping deployment",
        ),
        (Some(_), Mode::Deploy) => (
            StageState::Destroyed,
            "has no resources, deleted the existing stack",
        ),
        (Some(_), Mode::Diff) => (
            StageState::Changes,
            "has no resources: a deploy deletes the existing stack",
        ),
    };
    report.status = status;
    progress.finish(summary, true);
}

/// `cdk deploy` of a stack without resources: skipped, and its stack deleted if there is one
/// (`diff` only says so).
async fn deploy_no_resources(
    ctx: &Context,
    stage: &Stage,
    cfg: &SdkConfig,
    mode: Mode,
    progress: &StageProgress,
) -> Result<Done> {
    let cfn = ctx.aws.cloudformation(cfg);
    if stack::describe(&cfn, &stage.stack_name).await?.is_none() {
        ctx.record_outputs(&stage.name, BTreeMap::new());
        return Ok(Done::NoResources { deleted: None });
    }
    if mode == Mode::Deploy {
        progress.phase("has no resources, deleting the existing stack");
        stack::delete(&cfn, &stage.stack_name, progress).await?;
        ctx.record_outputs(&stage.name, BTreeMap::new());
    }
    Ok(Done::NoResources {
        deleted: Some(mode == Mode::Deploy),
    })
}

fn template_diffed(report: &mut StageReport, outcome: TemplateOutcome, progress: &StageProgress) {
    report.status = if outcome.no_changes {
        StageState::NoChanges
    } else {
        StageState::Changes
    };
    report.stack_status = Some(outcome.status);
    report.changes = outcome.changes.len();
    report.change_list = outcome.changes;
    report.outputs = outcome.outputs;
    report.diff = Some(outcome.info);
    let summary = match report.status {
        StageState::NoChanges => "no changes (template-level diff)".to_string(),
        _ => format!(
            "{} resource change(s) (template-level diff, not executed)",
            report.changes
        ),
    };
    progress.finish(&summary, true);
}

fn succeeded(
    report: &mut StageReport,
    mode: Mode,
    outcome: stack::Outcome,
    progress: &StageProgress,
) {
    report.status = match (mode, outcome.no_changes) {
        (_, true) => StageState::NoChanges,
        (Mode::Diff, false) => StageState::Changes,
        (Mode::Deploy, false) => StageState::Deployed,
    };
    report.stack_status = Some(outcome.status.clone());
    let protection = outcome
        .protection()
        .map(|p| match mode {
            Mode::Deploy => format!(", {}", p.done()),
            Mode::Diff => format!(", {}", p.pending()),
        })
        .unwrap_or_default();
    report.changes = outcome.changes.len();
    report.change_set_executed = outcome.executed;
    report.change_list = outcome.changes;
    report.outputs = outcome.outputs;
    let summary = match report.status {
        StageState::NoChanges => "no changes".to_string(),
        StageState::Changes => format!("{} change(s) (not executed){protection}", report.changes),
        _ => format!(
            "{} — {} change(s){protection}{}",
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

fn failed(
    ctx: &Context,
    stage: &Stage,
    report: &mut StageReport,
    e: &anyhow::Error,
    progress: &StageProgress,
) {
    let msg = format!("{e:#}");
    let kind = exit_code_of(e);
    report.status = StageState::Failed;
    report.exit_code = kind;
    report.error = Some(msg.clone());
    progress.finish("FAILED", false);
    // A validation failure points at the stage in the stage file.
    let validation = kind == ExitKind::Validation as i32;
    ctx.reporter.error(
        &format!("stage {} failed: {msg}", stage.name),
        validation
            .then(|| ctx.plan.file.display().to_string())
            .as_deref(),
        validation.then_some(stage.line).flatten(),
    );
    report.stack_status = Failure::stack_status(e);
}

/// `how`: diff or deploy, the approval asked for, and whether to execute without rollback.
async fn deploy_stage(
    ctx: &Arc<Context>,
    stage: &Stage,
    how: (Mode, Approval, bool),
    progress: &StageProgress,
    asset_counts: &mut Option<AssetCounts>,
) -> Result<Done> {
    let (mode, approval, no_rollback) = how;
    progress.phase("resolving parameters");
    let outputs = referenced_outputs(ctx, stage).await?;

    progress.phase("assuming deploy role");
    let cfg = match ctx
        .stage_role(
            stage,
            BootstrapRole::Deploy,
            &format!("{} stage {}", mode_verb(mode), stage.name),
        )
        .await
    {
        Ok(cfg) => cfg,
        // Credentials that may only look (a pull-request role): a diff can still compare
        // templates through the lookup role. A deploy fails as before.
        // When the lookup role is refused too (an account that does not trust the caller at
        // all), the deploy role's refusal, with its fix, is the error.
        Err(e) if mode == Mode::Diff && Failure::is_assume_role_denied(&e) => {
            progress.phase("assuming lookup role");
            let Ok(lookup) = ctx
                .stage_role(
                    stage,
                    BootstrapRole::Lookup,
                    &format!("diff stage {} (template-level)", stage.name),
                )
                .await
            else {
                return Err(e);
            };
            let reason = summary_of(&e);
            return lookup_diff::diff_stage(ctx, stage, &lookup, &outputs, reason, progress)
                .await
                .map(|o| {
                    mask_secret_outputs(&ctx.reporter, stage, &o.outputs);
                    Done::Template(o)
                });
        }
        Err(e) => return Err(e),
    };
    if stage.no_resources {
        return deploy_no_resources(ctx, stage, &cfg, mode, progress).await;
    }
    // A stack deployed with the credentials in use (legacy synthesizer) needs no bootstrap
    // unless its manifest says so.
    if !stage.overrides.caller_credentials || stage.overrides.bootstrap_version.is_some() {
        ctx.check_bootstrap(stage, &cfg).await?;
    }

    // Published before the change set, as cdk-assets runs before `cdk deploy`; also for a
    // diff, whose change set may read the template from S3 (content-addressed, so harmless).
    let (legacy_assets, legacy_parameters) = assets::legacy::prepare(&ctx.aws, &cfg, stage).await?;
    let locations = publish_assets(ctx, stage, &legacy_assets, progress, asset_counts).await?;
    let mut parameters = resolve_parameters(stage, &outputs, &locations)?;
    parameters.extend(legacy_parameters);
    mask_no_echo_parameters(&ctx.reporter, stage, &parameters);
    let spec = StackSpec {
        stack_name: stage.stack_name.clone(),
        template: template_source(ctx, stage, &cfg, progress).await?,
        parameters,
        keep_parameters: Default::default(),
        tags: stack_tags(ctx, stage).await?,
        execution_role_arn: (!stage.overrides.no_execution_role)
            .then(|| stage.roles.cfn_exec.arn.clone()),
        termination_protection: stage.termination_protection,
        stage: Some(stage.name.clone()),
        disable_rollback: no_rollback,
        triggers: stack::Triggers {
            alarms: stage.rollback_alarms.clone(),
            minutes: stage.monitoring_minutes,
        },
        notification_arns: stage.overrides.notification_arns.clone(),
    };
    let cfn = ctx.aws.cloudformation(&cfg);
    let outcome = stack::deploy(&cfn, &spec, mode, approval, progress).await?;
    mask_secret_outputs(&ctx.reporter, stage, &outcome.outputs);
    if mode == Mode::Deploy {
        after_deploy(ctx, stage, &cfg, &outcome, progress).await?;
    }
    Ok(Done::ChangeSet(outcome))
}

/// The stage's tags, with the fingerprint of its `Fn::GetStackOutput` values (`run::stack_refs`).
async fn stack_tags(ctx: &Context, stage: &Stage) -> Result<BTreeMap<String, String>> {
    let mut tags = stage.tags.clone();
    if let Some(fingerprint) = stack_refs::fingerprint(ctx, stage).await? {
        tags.insert(stack_refs::TAG.to_string(), fingerprint);
    }
    Ok(tags)
}

fn mode_verb(mode: Mode) -> &'static str {
    match mode {
        Mode::Deploy => "deploy",
        Mode::Diff => "diff",
    }
}

/// The outputs of the stages `stage`'s parameters refer to, by stage name.
async fn referenced_outputs(
    ctx: &Context,
    stage: &Stage,
) -> Result<HashMap<String, BTreeMap<String, String>>> {
    let plan = &ctx.plan;
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
    Ok(outputs)
}

/// Publishes the stage's assets; where each went, by asset name.
async fn publish_assets(
    ctx: &Context,
    stage: &Stage,
    legacy: &[AssetSpec],
    progress: &StageProgress,
    asset_counts: &mut Option<AssetCounts>,
) -> Result<BTreeMap<String, AssetLocation>> {
    if stage.assets.is_empty() && legacy.is_empty() {
        return Ok(BTreeMap::new());
    }
    let all: Vec<AssetSpec> = stage.assets.iter().chain(legacy).cloned().collect();
    progress.phase("publishing assets");
    let (locations, counts) = assets::publish_assets(
        &ctx.aws,
        &stage.env,
        &stage.roles,
        &ctx.plan.qualifier,
        &stage.name,
        &all,
        progress,
    )
    .await?;
    *asset_counts = Some(counts);
    Ok(locations)
}

fn resolve_parameters(
    stage: &Stage,
    outputs: &HashMap<String, BTreeMap<String, String>>,
    locations: &BTreeMap<String, AssetLocation>,
) -> Result<BTreeMap<String, String>> {
    let mut parameters = BTreeMap::new();
    for (k, v) in &stage.parameters {
        let value = v
            .resolve_with_assets(outputs, locations)
            .map_err(|e| fail(ExitKind::Deploy, format!("parameter {k}: {e}")))?;
        parameters.insert(k.clone(), value);
    }
    Ok(parameters)
}

/// Where CloudFormation reads the template: the URL the source names, the staging bucket for a
/// template over the TemplateBody limit, else the body itself.
async fn template_source(
    ctx: &Context,
    stage: &Stage,
    cfg: &SdkConfig,
    progress: &StageProgress,
) -> Result<TemplateSource> {
    let body = stage.template.body.clone();
    if let Some(url) = &stage.overrides.template_url {
        return Ok(TemplateSource::Url {
            url: assets::template_url_from(url, &stage.env.region),
            body,
        });
    }
    if !stage.template.is_over_body_limit() {
        return Ok(TemplateSource::Body(body));
    }
    progress.phase("uploading template");
    if stage.overrides.caller_credentials {
        let url = assets::legacy::publish_template(&ctx.aws, cfg, stage, &body).await?;
        return Ok(TemplateSource::Url { url, body });
    }
    let url = assets::publish_template(
        &ctx.aws,
        &stage.env,
        &stage.roles,
        &ctx.plan.qualifier,
        &body,
        &format!("upload the template of stage {}", stage.name),
    )
    .await?;
    Ok(TemplateSource::Url { url, body })
}

/// After a deploy: the outputs are known to later stages, published to Parameter Store where
/// asked, and peerings whose id this stage outputs get their DNS resolution enabled.
async fn after_deploy(
    ctx: &Arc<Context>,
    stage: &Stage,
    cfg: &SdkConfig,
    outcome: &stack::Outcome,
    progress: &StageProgress,
) -> Result<()> {
    ctx.record_outputs(&stage.name, outcome.outputs.clone());
    if !stage.publish_outputs.is_empty() {
        progress.phase("publishing outputs to Parameter Store");
        publish_outputs(ctx, stage, cfg, &outcome.outputs, progress).await?;
    }
    for p in ctx.plan.peerings.iter().filter(|p| p.allow_dns_resolution) {
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
            peering::set_dns_resolution(&ctx.aws, &ctx.plan, &stage.env, pcx, true, progress)
                .await?;
        }
    }
    Ok(())
}
