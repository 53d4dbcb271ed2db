//! The interrupts a run stops for: Ctrl-C (SIGINT) and SIGTERM, which CI runners send when a job
//! is cancelled. Both end the run the same way: running stages are cut short and reported, the
//! result file and summary are written, and the exit code is 130 (`ExitKind::Interrupted`).
//!
//! The commands that act start listening (`watch`) before they load anything, so an interrupt
//! during plan loading or the identity check ends the run the same way, naming that nothing was
//! started. The first interrupt is remembered: every later wait gives way to it at once.

use std::future::Future;
use std::sync::OnceLock;

use anyhow::Result;
use tokio::sync::watch::{Receiver, channel};

use crate::error::{ExitKind, fail};

/// The first interrupt of the process, by name ("Ctrl-C" or "SIGTERM").
static FIRST: OnceLock<&'static str> = OnceLock::new();

/// Set to true at the first interrupt; present once `watch` ran.
static SEEN: OnceLock<Receiver<bool>> = OnceLock::new();

/// Starts listening for Ctrl-C and SIGTERM (once per process; must run inside the runtime). From
/// then on neither signal ends the process by itself: every wait of a run gives way to
/// `interrupted`. The handlers are installed before this returns. An error installing one
/// counts as an interrupt, as it always has for Ctrl-C.
pub(crate) fn watch() {
    let _ = seen();
}

/// Whether the first interrupt came, watching from the first call on.
fn seen() -> Receiver<bool> {
    SEEN.get_or_init(|| {
        let (tx, rx) = channel(false);
        let next = next_signal();
        tokio::spawn(async move {
            let name = next.await;
            let _ = FIRST.set(name);
            let _ = tx.send(true);
            // The sender stays alive (and the handlers installed) until the process ends.
            std::future::pending::<()>().await;
        });
        rx
    })
    .clone()
}

/// Resolves at the first Ctrl-C or SIGTERM, at once when it already came.
pub(crate) async fn interrupted() {
    let mut seen = seen();
    let _ = seen.wait_for(|&interrupted| interrupted).await;
}

/// What interrupted the run, for the reports ("Ctrl-C" when nothing did yet).
pub(crate) fn what() -> &'static str {
    FIRST.get().copied().unwrap_or("Ctrl-C")
}

/// `work` (what a run does before its first stage, `doing` it), unless an interrupt comes
/// first, or came already: then the run ends as interrupted, naming that nothing was started.
pub(crate) async fn before_stages<T>(
    doing: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let stopped = || {
        fail(
            ExitKind::Interrupted,
            format!(
                "interrupted ({}) while {doing}, before anything was started",
                what()
            ),
        )
    };
    if *seen().borrow() {
        return Err(stopped());
    }
    tokio::select! {
        biased;
        _ = interrupted() => Err(stopped()),
        done = work => done,
    }
}

/// The next interrupt, with its handlers installed when this returns (not when first polled:
/// a signal in between would end the process).
#[cfg(unix)]
fn next_signal() -> impl Future<Output = &'static str> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        match (int, term) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            },
            (Ok(mut int), Err(_)) => {
                int.recv().await;
                "Ctrl-C"
            }
            (Err(_), _) => "Ctrl-C",
        }
    }
}

#[cfg(not(unix))]
fn next_signal() -> impl Future<Output = &'static str> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
