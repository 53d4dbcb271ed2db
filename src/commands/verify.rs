//! `pipeline-run verify`: the network paths declared under `verify:`, by static analysis and
//! SSM ping.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{GlobalArgs, VerifyArgs};
use crate::error::{ExitKind, fail};
use crate::progress::Reporter;
use crate::report::RunReport;

use super::shared::{context, finish, load_plan, verify_input};

pub(super) async fn verify(
    g: &GlobalArgs,
    args: VerifyArgs,
    reporter: &Arc<Reporter>,
) -> Result<i32> {
    crate::run::interrupt::watch();
    let plan = load_plan(g, reporter).await?;
    if plan.checks.is_empty() {
        return Err(fail(
            ExitKind::Validation,
            format!(
                "{} declares no `verify:` checks\n  fix: add checks (see README, \"Verification\")",
                plan.file.display()
            ),
        ));
    }
    let ctx = context(g, reporter, plan).await?;
    let started = Instant::now();
    let verification = crate::verify::run(&verify_input(&ctx), args.static_only).await;
    let report = RunReport::new(
        "verify",
        Vec::new(),
        false,
        Some(verification),
        started.elapsed().as_secs_f64(),
    );
    Ok(finish(g, reporter, &report))
}
