//! `pipeline-run bootstrap`: prepare environments like `cdk bootstrap --trust` (or print the
//! template with `--show-template`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{BootstrapArgs, GlobalArgs};
use crate::error::{ExitKind, fail};
use crate::model::env::RunDefaults;
use crate::model::plan::Plan;
use crate::model::roles::DEFAULT_QUALIFIER;
use crate::progress::Reporter;
use crate::report::RunReport;
use crate::run::bootstrap::{self, BootstrapOptions};

use super::place::placed;
use super::shared::{finish, load_aws, load_plan};

pub(super) async fn bootstrap(
    g: &GlobalArgs,
    args: BootstrapArgs,
    reporter: &Arc<Reporter>,
) -> Result<i32> {
    if args.show_template {
        print!("{}", bootstrap::TEMPLATE);
        return Ok(0);
    }
    // The environments of the plan; stacks leaving theirs to the run need the credentials'
    // account and the configured region first.
    let mut aws = None;
    let plan = match args.environments.is_empty() {
        false => None,
        true => {
            let plan = load_plan(g, reporter).await?;
            if plan.has_agnostic_stages() {
                let fallback = plan.stages.iter().find_map(|s| s.env.region.as_ref());
                let loaded = load_aws(g, fallback.map(|r| r.to_string())).await?;
                let placed = placed(plan, &loaded, reporter).await?;
                aws = Some(loaded);
                Some(placed)
            } else {
                Some(plan.resolve(&RunDefaults::default()).map_err(|e| {
                    fail(
                        ExitKind::Validation,
                        format!("stacks {} have no environment", e.stages.join(", ")),
                    )
                })?)
            }
        }
    };
    let opts = options(args, plan)?;
    bootstrap::validate(&opts)?;
    let aws = match aws {
        Some(aws) => Arc::new(aws),
        None => {
            let fallback = opts.environments.first().map(|e| e.region.to_string());
            Arc::new(load_aws(g, fallback).await?)
        }
    };
    let started = Instant::now();
    let stages = bootstrap::bootstrap(aws, reporter.clone(), opts).await;
    let report = RunReport::new(
        "bootstrap",
        stages,
        false,
        None,
        started.elapsed().as_secs_f64(),
    );
    Ok(finish(g, reporter, &report))
}

/// The environments named on the command line, else every environment of the plan (whose
/// qualifier is then the default one).
fn options(args: BootstrapArgs, plan: Option<Plan>) -> Result<BootstrapOptions> {
    let mut plan_qualifier = None;
    let (environments, bad_environments) = match plan {
        Some(plan) => {
            plan_qualifier = Some(plan.qualifier.clone());
            (plan.environments(), Vec::new())
        }
        None => bootstrap::parse_environments(&args.environments)?,
    };
    Ok(BootstrapOptions {
        trust: args.trust,
        trust_for_lookup: args.trust_for_lookup,
        trust_for_stack_refs: args.trust_for_stack_refs,
        execution_policies: args.cloudformation_execution_policies,
        qualifier: args
            .qualifier
            .or(plan_qualifier)
            .unwrap_or_else(|| DEFAULT_QUALIFIER.to_string()),
        toolkit_stack_name: args.toolkit_stack_name,
        access_role_name: args.bootstrap_role_name,
        environments,
        bad_environments,
        force: args.force,
    })
}
