//! `pipeline-run rollback STAGE [--skip LOGICAL_ID...]`: the stage's stack brought back from a
//! failed state (`run::rollback`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{GlobalArgs, RollbackArgs, SelectionArgs};
use crate::error::{ExitKind, fail};
use crate::progress::Reporter;
use crate::report::RunReport;
use crate::run::{interrupt, rollback};

use super::select::{Direction, select};
use super::shared::{context, finish, load_plan};

pub(super) async fn rollback(
    g: &GlobalArgs,
    args: RollbackArgs,
    reporter: &Arc<Reporter>,
) -> Result<i32> {
    interrupt::watch();
    let plan = load_plan(g, reporter).await?;
    // Exactly the stage named: its dependencies are not touched.
    let selection = SelectionArgs {
        all: false,
        exclusively: true,
        stages: vec![args.stage],
    };
    let selected = select(g, &plan, &selection, Direction::Upstream, reporter)?;
    let [index] = selected[..] else {
        return Err(fail(
            ExitKind::Validation,
            format!(
                "rollback takes one stage; '{}' selects {}\n  fix: name one stage (a stack id with --app)",
                selection.stages[0],
                selected.len()
            ),
        ));
    };
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
