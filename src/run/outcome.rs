//! What running a stage came to: its state and the facts a report shows (change list, outputs,
//! assets, timing). Built by the scheduler, deploys, destroys and bootstrap; rendered by `report`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::run::assets::AssetCounts;
use crate::run::stack::StackChange;
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
    /// `rollback`: the stack was brought back to a stable state.
    RolledBack,
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
            StageState::RolledBack => "rolled back",
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
    /// Number of changes (0 when nothing changed): the `change_list`.
    pub(crate) changes: usize,
    pub(crate) change_set_executed: bool,
    /// The change set's resource changes, then a termination-protection change (no change set
    /// carries it) when the stack's differed from the stage's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) change_list: Vec<StackChange>,
    pub(crate) outputs: BTreeMap<String, String>,
    /// The outputs declared secret (`secret_outputs`): redacted from every report.
    #[serde(skip)]
    pub(crate) secret_outputs: BTreeSet<String>,
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

impl StageReport {
    /// What the stage did to termination protection, in words: "termination protection enabled"
    /// (a diff: "… to be enabled"); None when it left it as it was.
    pub(crate) fn protection_change(&self) -> Option<&'static str> {
        self.change_list.iter().find_map(|c| match c {
            StackChange::TerminationProtection { action } => {
                Some(if self.status == StageState::Changes {
                    action.pending()
                } else {
                    action.done()
                })
            }
            StackChange::Resource(_) => None,
        })
    }

    /// The report as files and logs show it: the values of secret outputs replaced by
    /// [`REDACTED`].
    pub(crate) fn redacted(&self) -> StageReport {
        let mut shown = self.clone();
        for (k, v) in shown.outputs.iter_mut() {
            if self.secret_outputs.contains(k) {
                *v = REDACTED.to_string();
            }
        }
        shown
    }
}

/// What a secret output's value is shown as.
pub(crate) const REDACTED: &str = "***";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::stack::{Protection, ResourceChange};

    #[test]
    fn a_protection_change_is_listed_with_its_own_kind_and_named_in_words() {
        let change_list = vec![
            StackChange::Resource(ResourceChange {
                action: "Add".into(),
                logical_id: "Vpc".into(),
                resource_type: "AWS::EC2::VPC".into(),
                replacement: None,
            }),
            StackChange::TerminationProtection {
                action: Protection::Enable,
            },
        ];
        assert_eq!(
            serde_json::to_value(&change_list).unwrap(),
            serde_json::json!([
                {"kind": "resource", "action": "Add", "logical_id": "Vpc", "resource_type": "AWS::EC2::VPC"},
                {"kind": "termination_protection", "action": "Enable"}
            ])
        );
        let mut report = StageReport {
            stage: "Net".into(),
            account: "111111111111".into(),
            region: "ap-northeast-1".into(),
            stack: "Net".into(),
            status: StageState::Deployed,
            stack_status: None,
            changes: change_list.len(),
            change_set_executed: true,
            change_list,
            outputs: BTreeMap::new(),
            secret_outputs: BTreeSet::new(),
            duration_seconds: 1.0,
            error: None,
            assets: None,
            exit_code: 0,
            diff: None,
        };
        assert_eq!(
            report.protection_change(),
            Some("termination protection enabled")
        );
        report.status = StageState::Changes;
        assert_eq!(
            report.protection_change(),
            Some("termination protection to be enabled")
        );
        report.change_list.truncate(1);
        assert_eq!(report.protection_change(), None);
    }
}
