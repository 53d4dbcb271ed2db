//! `pipeline-run deploy`: the selected stages by change set, in dependency order, then the
//! network verification.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{DeployArgs, GlobalArgs, RequireApproval};
use crate::progress::Reporter;
use crate::report::RunReport;
use crate::run::context::RunOptions;
use crate::run::stack::{Approval, Mode};
use crate::run::stage;

use super::select::{Direction, select};
use super::shared::{context, finish, load_plan, verify_input};

pub(super) async fn deploy(
    g: &GlobalArgs,
    args: DeployArgs,
    reporter: &Arc<Reporter>,
) -> Result<i32> {
    crate::run::interrupt::watch();
    let plan = load_plan(g, reporter).await?;
    let selected = select(g, &plan, &args.selection, Direction::Upstream, reporter)?;
    let ctx = context(g, reporter, plan).await?;
    let plan = ctx.plan.clone();
    let started = Instant::now();
    let opts = RunOptions {
        selected,
        concurrency: args.concurrency.concurrency,
        stage_timeout: args.concurrency.stage_timeout,
        approval: match args.require_approval {
            RequireApproval::Never => Approval::Never,
            RequireApproval::AnyChange => Approval::AnyChange,
        },
        no_rollback: args.no_rollback,
    };
    let scheduled = stage::deploy(&ctx, &opts, Mode::Deploy).await;
    let all_ok = !scheduled.interrupted && scheduled.stages.iter().all(|s| !s.status.is_failure());
    // The network is only worth proving once every stage is in place.
    let verification = if all_ok && !args.no_verify && !plan.checks.is_empty() {
        Some(crate::verify::run(&verify_input(&ctx), false).await)
    } else {
        None
    };
    let report = RunReport::new(
        "deploy",
        scheduled.stages,
        scheduled.interrupted,
        verification,
        started.elapsed().as_secs_f64(),
    );
    Ok(finish(g, reporter, &report))
}
