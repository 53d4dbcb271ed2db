//! The result of a run: a summary table for people and JSON for machines. Holds only stage
//! metadata, change lists and stack outputs — never credentials.

pub(crate) mod ci;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::run::stack::ResourceChange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StageState {
    Deployed,
    NoChanges,
    /// `diff`: a change set was created and shown, nothing executed.
    Changes,
    Failed,
    /// Not started because a dependency failed or the run stopped.
    Skipped,
    /// Still running in CloudFormation when the run was interrupted.
    Interrupted,
    Destroyed,
    /// `destroy`: the stack did not exist.
    Absent,
}

impl StageState {
    pub(crate) fn is_failure(self) -> bool {
        matches!(
            self,
            StageState::Failed | StageState::Skipped | StageState::Interrupted
        )
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            StageState::Deployed => "deployed",
            StageState::NoChanges => "no changes",
            StageState::Changes => "changes",
            StageState::Failed => "FAILED",
            StageState::Skipped => "skipped",
            StageState::Interrupted => "interrupted",
            StageState::Destroyed => "destroyed",
            StageState::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StageReport {
    pub(crate) stage: String,
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) stack: String,
    pub(crate) status: StageState,
    /// CloudFormation's status of the stack at the end, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stack_status: Option<String>,
    /// Number of resource changes in the change set (0 when nothing changed).
    pub(crate) changes: usize,
    pub(crate) change_set_executed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) change_list: Vec<ResourceChange>,
    pub(crate) outputs: BTreeMap<String, String>,
    pub(crate) duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Asset objects uploaded and found already published, when the stage has assets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) assets: Option<crate::run::assets::AssetCounts>,
    /// The process exit code this stage's failure calls for (see `error::ExitKind`).
    #[serde(skip)]
    pub(crate) exit_code: i32,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunReport {
    pub(crate) command: String,
    pub(crate) ok: bool,
    pub(crate) stages: Vec<StageReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verification: Option<serde_json::Value>,
    pub(crate) duration_seconds: f64,
}

impl RunReport {
    pub(crate) fn changes(&self) -> usize {
        self.stages.iter().map(|s| s.changes).sum()
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
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

pub(crate) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_are_aligned() {
        let t = table(
            &["A", "BB"],
            &[["long".into(), "x".into()], ["s".into(), "yy".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "A     BB");
        assert_eq!(lines[1], "long  x");
        assert_eq!(lines[2], "s     yy");
    }
}
