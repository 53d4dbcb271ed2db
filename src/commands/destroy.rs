//! `pipeline-run destroy`: the stacks of the selected stages deleted, dependents first, once
//! confirmed.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{DestroyArgs, GlobalArgs};
use crate::error::{ExitKind, fail};
use crate::model::env::StackEnv;
use crate::model::plan::Plan;
use crate::progress::{Reporter, confirm};
use crate::report::RunReport;
use crate::run::{destroy, interrupt};

use super::select::{Direction, select};
use super::shared::{context, finish, load_plan};

pub(super) async fn destroy(
    g: &GlobalArgs,
    args: DestroyArgs,
    reporter: &Arc<Reporter>,
) -> Result<i32> {
    // A question on the terminal keeps Ctrl-C's default (it ends the process: nothing was
    // done); from the answer on, interrupts end the run with its report.
    if args.force {
        interrupt::watch();
    }
    let plan = load_plan(g, reporter).await?;
    let selected = select(g, &plan, &args.selection, Direction::Downstream, reporter)?;
    if !args.retain.is_empty() && selected.len() != 1 {
        return Err(fail(
            ExitKind::Validation,
            "--retain names resources of one stack: destroy one stage with it\n  fix: pipeline-run destroy STAGE --retain LOGICAL_ID",
        ));
    }
    if !args.force {
        confirmed(&plan, &selected).await?;
        interrupt::watch();
    }
    let ctx = context(g, reporter, plan).await?;
    let started = Instant::now();
    let scheduled = destroy::destroy(
        &ctx,
        &selected,
        args.concurrency.concurrency,
        args.concurrency.stage_timeout,
        args.retain,
    )
    .await;
    let report = RunReport::new(
        "destroy",
        scheduled.stages,
        scheduled.interrupted,
        None,
        started.elapsed().as_secs_f64(),
    );
    Ok(finish(g, reporter, &report))
}

/// Asks on the terminal before anything is deleted; without one, `--force` is required.
async fn confirmed(plan: &Plan<StackEnv>, selected: &[usize]) -> Result<()> {
    let names: Vec<&str> = selected
        .iter()
        .map(|&i| plan.stages[i].name.as_str())
        .collect();
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            ExitKind::Validation,
            "destroy needs confirmation: pass --force (no terminal to ask on)",
        ));
    }
    if !confirm(&format!("Delete the stacks of {}?", names.join(", "))).await {
        return Err(fail(
            ExitKind::Validation,
            "destroy cancelled; nothing was deleted",
        ));
    }
    Ok(())
}
