//! Where a run's environment-agnostic stacks go, decided once before the first stage starts:
//! the account of the credentials (the identity check every run begins with) and the configured
//! region (`--region`, `AWS_REGION`, the profile), checked before any AWS call.

use anyhow::Result;

use crate::aws::Aws;
use crate::error::{ExitKind, fail, fail_fix};
use crate::model::env::{AccountId, Region, RunDefaults, StackEnv};
use crate::model::plan::Plan;
use crate::progress::{Reporter, one_line};

/// `plan` placed where it runs, after the identity check of the credentials (logged): stacks
/// leaving their account to the run deploy to the caller's account, those leaving their region
/// to the configured region (checked before any AWS call).
pub(super) async fn placed(plan: Plan<StackEnv>, aws: &Aws, reporter: &Reporter) -> Result<Plan> {
    let open_region: Vec<&str> = plan
        .stages
        .iter()
        .filter(|s| s.env.region.is_none())
        .map(|s| s.name.as_str())
        .collect();
    // Only stacks leaving their region open need one configured (and a valid one).
    let region = match (aws.configured_region(), open_region.is_empty()) {
        (Some(name), open_ok) => match Region::new(name) {
            Ok(region) => Some(region),
            Err(_) if open_ok => None,
            Err(_) => {
                return Err(fail_fix(
                    ExitKind::Validation,
                    format!(
                        "the configured region '{}' is not an AWS region name, and environment-agnostic stacks {} deploy there",
                        one_line(name),
                        open_region.join(", ")
                    ),
                    "pass --region (e.g. --region ap-northeast-1), or fix AWS_REGION or the profile's region",
                ));
            }
        },
        (None, true) => None,
        (None, false) => {
            return Err(fail_fix(
                ExitKind::Validation,
                format!(
                    "stacks {} are environment-agnostic (no region of their own) and no region is configured; nothing was sent to AWS",
                    open_region.join(", ")
                ),
                NO_REGION_FIX,
            ));
        }
    };
    let caller =
        crate::run::interrupt::before_stages("checking the AWS credentials", aws.caller()).await?;
    reporter.info(&format!(
        "pipeline-run {}: identity {} (account {})",
        env!("CARGO_PKG_VERSION"),
        caller.arn,
        caller.account
    ));
    let account = AccountId::new(&caller.account).ok();
    if account.is_none() && plan.stages.iter().any(|s| s.env.account.is_none()) {
        return Err(fail_fix(
            ExitKind::Credentials,
            format!(
                "the credentials' account '{}' is not a 12-digit account id, and environment-agnostic stacks deploy there",
                one_line(&caller.account)
            ),
            "use credentials of an AWS account, or set env.account on the stacks and synthesize again",
        ));
    }
    let agnostic: Vec<String> = plan
        .stages
        .iter()
        .filter(|s| s.env.is_agnostic())
        .map(|s| s.name.clone())
        .collect();
    let plan = plan
        .resolve(&RunDefaults { account, region })
        .map_err(|e| {
            fail_fix(
                ExitKind::Validation,
                format!(
                    "stacks {} cannot be placed: no region is configured",
                    e.stages.join(", ")
                ),
                NO_REGION_FIX,
            )
        })?;
    let plan = relinked(plan, !agnostic.is_empty())?;
    for s in plan.stages.iter().filter(|s| agnostic.contains(&s.name)) {
        reporter.info(&format!(
            "stack {} is environment-agnostic: deploying to {} (account of the credentials, region of the configuration)",
            s.name, s.env
        ));
    }
    Ok(plan)
}

/// The `Fn::GetStackOutput` references of a plan with environment-agnostic stacks, linked at
/// load in a stand-in environment (`source::cdk::stages`), linked again where they now deploy:
/// the roles they read through then name the real account and region.
fn relinked(mut plan: Plan, agnostic: bool) -> Result<Plan> {
    if !agnostic {
        return Ok(plan);
    }
    let qualifier = plan.qualifier.clone();
    let problems = crate::model::stack_links::link(&mut plan.stages, &qualifier);
    if problems.is_empty() {
        return Ok(plan);
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "stack {}: {}\n  fix: {}",
                plan.stages[p.stage].name, p.message, p.fix
            )
        })
        .collect();
    Err(fail(ExitKind::Validation, lines.join("\n")))
}

const NO_REGION_FIX: &str = "pass --region REGION, set AWS_REGION or the profile's `region`, or set env.region on the stacks and synthesize again";
