//! `pipeline-run rollback STAGE [--skip LOGICAL_ID...]`: the stage's stack brought back from a
//! failed state (`run::rollback`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{GlobalArgs, RollbackArgs, SelectionArgs};
use crate::progress::Reporter;
use crate::report::RunReport;
use crate::run::rollback;

use super::shared::{context, finish, load_plan, select};

pub(super) async fn rollback(
    g: &GlobalArgs,
    args: RollbackArgs,
    reporter: &Arc<Reporter>,
) -> Result<i32> {
    let plan = Arc::new(load_plan(g, reporter)?);
    let selection = SelectionArgs {
        all: false,
        stages: vec![args.stage],
    };
    let index = select(&plan, &selection)?[0];
    let ctx = context(g, reporter, plan).await?;
    let started = Instant::now();
    let scheduled = rollback::rollback(&ctx, index, args.skip, args.stage_timeout).await;
    let report = RunReport::new(
        "rollback",
        scheduled.stages,
        scheduled.interrupted,
        None,
        started.elapsed().as_secs_f64(),
    );
    Ok(finish(g, reporter, &report))
}
