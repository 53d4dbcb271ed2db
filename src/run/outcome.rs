//! What running a stage came to: its state and the facts a report shows (change list, outputs,
//! assets, timing). Built by the scheduler, deploys, destroys and bootstrap; rendered by `report`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::run::assets::AssetCounts;
use crate::run::stack::ResourceChange;
use crate::run::stack::template_diff::TemplateDiff;

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
    pub(crate) assets: Option<AssetCounts>,
    /// The process exit code this stage's failure calls for (see `error::ExitKind`).
    #[serde(skip)]
    pub(crate) exit_code: i32,
    /// `diff`: how the changes were found (`diff_method`, …, flattened into the stage's JSON).
    #[serde(flatten)]
    pub(crate) diff: Option<DiffInfo>,
}

/// How `diff` found a stage's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum DiffMethod {
    /// A change set created through the deploy role, shown, then deleted.
    #[serde(rename = "change-set")]
    ChangeSet,
    /// The deployed template compared with the stage's, through the lookup role.
    #[serde(rename = "template")]
    Template,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DiffInfo {
    pub(crate) diff_method: DiffMethod,
    /// Why a template diff rather than a change set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diff_reason: Option<String>,
    /// What a template diff cannot know (replacements, resolved values, assets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) diff_limits: Vec<&'static str>,
    /// A template diff's details: what differs in each modified resource, parameters, tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) template_diff: Option<TemplateDiff>,
}

impl DiffInfo {
    pub(crate) fn change_set() -> DiffInfo {
        DiffInfo {
            diff_method: DiffMethod::ChangeSet,
            diff_reason: None,
            diff_limits: Vec::new(),
            template_diff: None,
        }
    }
}
