//! `pipeline-run diff`: change sets created and shown, then deleted; nothing is executed. A stage
//! whose deploy role STS refuses is diffed at the template level through its lookup role.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{DiffArgs, GlobalArgs};
use crate::progress::Reporter;
use crate::report::RunReport;
use crate::run::context::RunOptions;
use crate::run::stack::{Approval, Mode};
use crate::run::stage;

use super::select::{Direction, select};
use super::shared::{context, finish, load_plan};

pub(super) async fn diff(g: &GlobalArgs, args: DiffArgs, reporter: &Arc<Reporter>) -> Result<i32> {
    crate::run::interrupt::watch();
    let plan = load_plan(g, reporter).await?;
    let selected = select(g, &plan, &args.selection, Direction::Upstream, reporter)?;
    let ctx = context(g, reporter, plan).await?;
    let started = Instant::now();
    let opts = RunOptions {
        selected,
        concurrency: args.concurrency.concurrency,
        stage_timeout: args.concurrency.stage_timeout,
        approval: Approval::Never,
        no_rollback: false,
    };
    let scheduled = stage::deploy(&ctx, &opts, Mode::Diff).await;
    let report = RunReport::new(
        "diff",
        scheduled.stages,
        scheduled.interrupted,
        None,
        started.elapsed().as_secs_f64(),
    );
    Ok(finish(g, reporter, &report))
}
