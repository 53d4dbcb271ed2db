//! The subcommands, one file each: load what the command needs, call the modules, print the
//! result, and return the exit code. `shared` holds what several of them do (load the plan,
//! select stages, build the run context, finish and publish the report).

mod bootstrap;
mod deploy;
mod destroy;
mod diff;
mod list;
mod place;
mod plan;
mod rollback;
mod select;
mod shared;
mod verify;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{Cli, Command, GlobalArgs, OutputFormat};
use crate::error::exit_code_of;
use crate::progress::{Mode as ProgressMode, Reporter};
use crate::report::ci::publish_failure;

/// Runs the parsed command line to its end; the process exit code.
pub fn run(cli: Cli) -> i32 {
    let reporter = Reporter::new(ProgressMode::detect(), cli.global.verbose > 0);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let command = cli.command.name();
    let started = Instant::now();
    let Cli {
        global,
        command: args,
    } = cli;
    match runtime.block_on(dispatch(&global, args, &reporter)) {
        Ok(code) => code,
        Err(e) => failed(&global, command, &e, started, &reporter),
    }
}

async fn dispatch(g: &GlobalArgs, command: Command, reporter: &Arc<Reporter>) -> Result<i32> {
    match command {
        Command::Bootstrap(args) => bootstrap::bootstrap(g, args, reporter).await,
        Command::Deploy(args) => deploy::deploy(g, args, reporter).await,
        Command::Diff(args) => diff::diff(g, args, reporter).await,
        Command::Destroy(args) => destroy::destroy(g, args, reporter).await,
        Command::List => list::list(g, reporter).await,
        Command::Plan(args) => plan::plan(g, args, reporter).await,
        Command::Rollback(args) => rollback::rollback(g, args, reporter).await,
        Command::Verify(args) => verify::verify(g, args, reporter).await,
    }
}

/// A command that stopped with an error: it is logged, and the commands that act leave a
/// result for CI saying why (`list` and `plan` only print).
fn failed(
    g: &GlobalArgs,
    command: &str,
    e: &anyhow::Error,
    started: Instant,
    reporter: &Reporter,
) -> i32 {
    let code = exit_code_of(e);
    let message = format!("{e:#}");
    reporter.flush_unfinished();
    reporter.fatal(&message);
    if !matches!(command, "list" | "plan") {
        let json = publish_failure(
            command,
            &message,
            code,
            started.elapsed().as_secs_f64(),
            g.export_env.as_deref(),
        );
        if g.output == OutputFormat::Json {
            println!("{json}");
        }
    }
    code
}
