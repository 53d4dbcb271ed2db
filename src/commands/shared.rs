//! What several commands do: load the plan, select its stages, build the run context, and
//! finish a run (print, publish for CI, choose the exit code).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::aws::{Aws, AwsOptions};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::{ExitKind, fail};
use crate::model::env::{self, StackEnv};
use crate::model::plan::{Plan, Stage};
use crate::progress::Reporter;
use crate::report::{RunReport, ci, stage_table};
use crate::run::context::Context;
use crate::run::interrupt;
use crate::source::validate::{self, ProcessEnv};
use crate::verify::{OutputsFuture, StageOutputs, VerifyInput};

use super::place::placed;

/// The plan of the stage file (`-f`) or the cloud assembly (`--app`, whose stacks may leave
/// their account or region to the run: `context` places them); every problem of the stage file
/// is reported as an annotation.
pub(super) async fn load_plan(g: &GlobalArgs, reporter: &Reporter) -> Result<Plan<StackEnv>> {
    if let Some(app) = &g.app {
        let plan = crate::source::cdk::stages::load_plan(app)?;
        for warning in &plan.warnings {
            reporter.warn(warning);
        }
        warn_unknown_regions(g, &plan, reporter).await;
        return Ok(plan);
    }
    if !g.file.exists() && g.file.as_os_str() == "pipeline-run.yml" {
        return Err(fail(
            ExitKind::Validation,
            "no stage file: pipeline-run.yml does not exist here\n  fix: pass one with -f, e.g. -f pipelines/vpc-peering.yml",
        ));
    }
    let plan = validate::load(&g.file, &ProcessEnv).map_err(|problems| {
        for p in &problems.0 {
            reporter.error(
                &format!(
                    "stage {}field {}: {} (fix: {})",
                    p.stage
                        .as_ref()
                        .map(|s| format!("{s}, "))
                        .unwrap_or_default(),
                    p.field,
                    p.message,
                    p.fix
                ),
                Some(&p.file.display().to_string()),
                p.line,
            );
        }
        fail(
            ExitKind::Validation,
            problems.to_string().trim_end().to_string(),
        )
    })?;
    let plan = Plan::from_pinned(plan);
    warn_unknown_regions(g, &plan, reporter).await;
    Ok(plan)
}

/// A region pipeline-run does not know is warned about, with the nearest known names (a typo
/// would otherwise surface as an unreachable endpoint); with a custom endpoint (`--endpoint-url`,
/// `AWS_ENDPOINT_URL`, the profile's `endpoint_url` or `services`, as the SDK resolves them) it is
/// expected.
async fn warn_unknown_regions(g: &GlobalArgs, plan: &Plan<StackEnv>, reporter: &Reporter) {
    let unknown = |s: &&Stage<StackEnv>| {
        s.env
            .region
            .as_deref()
            .is_some_and(|r| !env::is_known_region(r))
    };
    if !plan.stages.iter().any(|s| unknown(&s)) {
        return;
    }
    let custom_endpoint =
        crate::aws::custom_endpoint(g.endpoint_url.as_deref(), g.profile.as_deref()).await;
    let mut seen = std::collections::BTreeSet::new();
    for stage in plan.stages.iter().filter(unknown) {
        let Some(region) = stage.env.region.as_deref() else {
            continue;
        };
        if !seen.insert(region) {
            continue;
        }
        let closest = env::closest_regions(region).join(", ");
        let message = if let Some(url) = &custom_endpoint {
            format!(
                "region '{region}' (stage {}) is not a known AWS region; allowed because a custom endpoint is used ({url})",
                stage.name
            )
        } else {
            format!(
                "region '{region}' (stage {}) is not a known AWS region; did you mean {closest}? (a new region is fine: this is only a warning)",
                stage.name
            )
        };
        reporter.warn(&message);
    }
}

/// AWS access with the command line's endpoint, profile and session lifetime.
pub(super) async fn load_aws(g: &GlobalArgs, fallback_region: Option<String>) -> Result<Aws> {
    Aws::load(AwsOptions {
        endpoint_url: g.endpoint_url.clone(),
        profile: g.profile.clone(),
        region: g.region.clone(),
        fallback_region,
        session_duration: g.session_seconds.map(Duration::from_secs),
    })
    .await
}

/// The run context of `plan`, once the credentials are known to work (their identity is logged),
/// with its environment-agnostic stacks placed (`placed`). An interrupt (`interrupt::watch` runs
/// first) during plan loading or the identity check ends the run as interrupted, naming that
/// nothing was started.
pub(super) async fn context(
    g: &GlobalArgs,
    reporter: &Arc<Reporter>,
    plan: Plan<StackEnv>,
) -> Result<Arc<Context>> {
    let fallback = plan.stages.iter().find_map(|s| s.env.region.as_ref());
    let aws = interrupt::before_stages(
        "loading the plan and the AWS configuration",
        load_aws(g, fallback.map(|r| r.to_string())),
    )
    .await?;
    let aws = Arc::new(aws);
    let plan = Arc::new(placed(plan, &aws, reporter).await?);
    Ok(Context::new(plan, aws, reporter.clone()))
}

/// Verification within a run: the stage outputs come from its context (those it deployed, the
/// others read from CloudFormation).
pub(super) fn verify_input(ctx: &Arc<Context>) -> VerifyInput {
    VerifyInput {
        plan: ctx.plan.clone(),
        aws: ctx.aws.clone(),
        reporter: ctx.reporter.clone(),
        outputs: ctx.clone(),
    }
}

impl StageOutputs for Context {
    fn outputs_of<'a>(&'a self, stage: &'a Stage) -> OutputsFuture<'a> {
        Box::pin(Context::outputs_of(self, stage))
    }
}

/// Ends a run: the tables and the summary line in the log, the result for CI, the JSON on
/// stdout with `--output json`, and the exit code (1 when a result file could not be written).
pub(super) fn finish(g: &GlobalArgs, reporter: &Reporter, report: &RunReport) -> i32 {
    // Stages cut short (interrupt, timeout) never closed their GitHub group: print it first.
    reporter.flush_unfinished();
    if !report.stages.is_empty() {
        reporter.info(&format!("\n{}", stage_table(&report.stages).trim_end()));
    }
    if let Some(v) = &report.verification {
        reporter.info(&format!("\n{}", v.table().trim_end()));
    }
    reporter.info(&report.summary_line());
    let published = ci::publish(reporter, report, g.export_env.as_deref());
    if let Err(e) = &published {
        reporter.error(e, None, None);
    }
    if g.output == OutputFormat::Json {
        println!("{}", report.to_json());
    }
    match report.exit_code() {
        0 if published.is_err() => 1,
        code => code,
    }
}
