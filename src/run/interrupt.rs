//! The interrupts a run stops for: Ctrl-C (SIGINT) and SIGTERM, which CI runners send when a job
//! is cancelled. Both end the run the same way: running stages are cut short and reported, the
//! result file and summary are written, and the exit code is 130 (`ExitKind::Interrupted`).

use std::sync::OnceLock;

/// The first interrupt of the process, by name ("Ctrl-C" or "SIGTERM").
static FIRST: OnceLock<&'static str> = OnceLock::new();

/// Resolves at the next Ctrl-C or SIGTERM. Once called, neither signal ends the process by itself
/// any more (tokio keeps its handler installed), so every wait of a run must give way to this.
/// An error installing a handler counts as an interrupt, as it always has for Ctrl-C.
pub(crate) async fn interrupted() {
    let name = next_signal().await;
    let _ = FIRST.set(name);
}

/// What interrupted the run, for the reports ("Ctrl-C" when nothing did yet).
pub(crate) fn what() -> &'static str {
    FIRST.get().copied().unwrap_or("Ctrl-C")
}

#[cfg(unix)]
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(not(unix))]
async fn next_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
