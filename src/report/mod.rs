//! The result of a run: a summary table for people and JSON for machines. Holds only stage
//! metadata, change lists and stack outputs — never credentials.

pub(crate) mod ci;
pub(crate) mod listing;

use serde::Serialize;

use crate::error::ExitKind;
use crate::run::outcome::StageReport;
use crate::table::table;
use crate::verify::VerifyReport;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunReport {
    pub(crate) command: String,
    pub(crate) ok: bool,
    pub(crate) stages: Vec<StageReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verification: Option<VerifyReport>,
    pub(crate) duration_seconds: f64,
    /// Ctrl-C stopped the stages (the stage reports say which were cut short).
    #[serde(skip)]
    pub(crate) interrupted: bool,
}

/// A run that ended before it had stages to report (invalid stage file, no credentials).
/// Fields in alphabetical order, the order of the keys in its JSON.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FailureReport<'a> {
    pub(crate) command: &'a str,
    pub(crate) duration_seconds: f64,
    pub(crate) error: &'a str,
    pub(crate) exit_code: i32,
    pub(crate) ok: bool,
    pub(crate) stages: [StageReport; 0],
}

impl RunReport {
    /// The report of a finished run: its stages, whether Ctrl-C stopped them, and the network
    /// verification that followed, if any.
    pub(crate) fn new(
        command: &str,
        stages: Vec<StageReport>,
        interrupted: bool,
        verification: Option<VerifyReport>,
        duration_seconds: f64,
    ) -> RunReport {
        let stages_ok = stages.iter().all(|s| !s.status.is_failure());
        let verify_ok = verification.as_ref().is_none_or(|v| v.ok());
        RunReport {
            command: command.to_string(),
            ok: stages_ok && verify_ok && !interrupted,
            stages,
            verification,
            duration_seconds,
            interrupted,
        }
    }

    /// The exit code the run ends with: interrupted, else the first failed stage's, else a
    /// failed verification's, else success.
    pub(crate) fn exit_code(&self) -> i32 {
        if self.interrupted || self.verification.as_ref().is_some_and(|v| v.interrupted) {
            return ExitKind::Interrupted.code();
        }
        if let Some(failed) = self.stages.iter().find(|s| s.status.is_failure()) {
            return if failed.exit_code > 0 {
                failed.exit_code
            } else {
                ExitKind::Deploy.code()
            };
        }
        if self.verification.as_ref().is_some_and(|v| !v.ok()) {
            return ExitKind::Verification.code();
        }
        0
    }

    pub(crate) fn changes(&self) -> usize {
        self.stages.iter().map(|s| s.changes).sum()
    }

    /// The result JSON (stdout with `--output json`, the result file): secret outputs redacted.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.redacted()).unwrap_or_else(|_| "{}".into())
    }

    /// The report with the values of secret outputs redacted (see `StageReport::redacted`).
    pub(crate) fn redacted(&self) -> RunReport {
        RunReport {
            stages: self.stages.iter().map(StageReport::redacted).collect(),
            ..self.clone()
        }
    }

    /// The last line of the log: "deploy succeeded in 3.2s — no changes".
    pub(crate) fn summary_line(&self) -> String {
        let stages_ok = self.stages.iter().all(|s| !s.status.is_failure());
        let no_changes = self
            .stages
            .iter()
            .all(|s| s.changes == 0 && !s.change_set_executed)
            && self.command == "deploy"
            && stages_ok;
        format!(
            "{} {} in {:.1}s{}",
            self.command,
            if self.ok { "succeeded" } else { "FAILED" },
            self.duration_seconds,
            if no_changes { " — no changes" } else { "" }
        )
    }
}

/// A fixed-width table of the stages, for the end of a run.
pub(crate) fn stage_table(stages: &[StageReport]) -> String {
    let header = [
        "STAGE", "ACCOUNT", "REGION", "STACK", "RESULT", "CHANGES", "TIME",
    ];
    let rows: Vec<[String; 7]> = stages
        .iter()
        .map(|s| {
            [
                s.stage.clone(),
                s.account.clone(),
                s.region.clone(),
                s.stack.clone(),
                s.status.label().to_string(),
                s.changes.to_string(),
                format!("{:.1}s", s.duration_seconds),
            ]
        })
        .collect();
    table(&header, &rows)
}

#[cfg(test)]
mod tests;
