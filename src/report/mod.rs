//! The result of a run: a summary table for people and JSON for machines. Holds only stage
//! metadata, change lists and stack outputs — never credentials.

pub(crate) mod ci;

use serde::Serialize;

use crate::run::outcome::StageReport;
use crate::table::table;

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
