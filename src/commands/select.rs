//! Which stages a deploy, diff or destroy runs: a stage file's stages by exact name; a cloud
//! assembly's stacks as `cdk deploy` selects them (`model::selection`: ids and patterns, `--all`,
//! dependencies included unless `--exclusively`).

use anyhow::Result;

use crate::cli::{GlobalArgs, SelectionArgs};
use crate::error::{ExitKind, fail};
use crate::model::env::StackEnv;
use crate::model::glob::PatternError;
use crate::model::plan::{Plan, Stage};
use crate::model::selection::{self, Candidate, Extend, SelectError};
use crate::progress::{Reporter, one_line};

/// Which way `--app` selections grow: deploy and diff take the dependencies of what is named,
/// destroy what depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Upstream,
    Downstream,
}

/// The indices of the selected stages: in the order named for a stage file, in deployment
/// order for a cloud assembly (whose added dependencies are logged).
pub(super) fn select(
    g: &GlobalArgs,
    plan: &Plan<StackEnv>,
    selection: &SelectionArgs,
    direction: Direction,
    reporter: &Reporter,
) -> Result<Vec<usize>> {
    if g.app.is_none() {
        return select_by_name(plan, selection);
    }
    let extend = match (selection.exclusively, direction) {
        (true, _) => Extend::None,
        (false, Direction::Upstream) => Extend::Upstream,
        (false, Direction::Downstream) => Extend::Downstream,
    };
    let candidates: Vec<Candidate> = plan
        .stages
        .iter()
        .map(|s| Candidate {
            ids: selection_ids(s),
            top_level: is_top_level(s),
            depends_on: &s.depends_on,
        })
        .collect();
    let chosen = selection::select(&candidates, &selection.stages, selection.all, extend)
        .map_err(|e| refusal(plan, &candidates, e))?;
    if !chosen.added.is_empty() {
        let names: Vec<&str> = chosen.added.iter().map(|&i| candidates[i].ids[0]).collect();
        let what = match extend {
            Extend::Downstream => "depending stacks",
            _ => "dependency stacks",
        };
        reporter.info(&format!(
            "Including {what}: {} (pass --exclusively for only the stacks named)",
            one_line(&names.join(", "))
        ));
    }
    Ok(chosen.stages)
}

/// The ids a stack is selected by: its hierarchical id (`Beta/Api`), the only id `cdk deploy`
/// matches (an artifact id such as `BetaApi1A2B` would let `*` reach into a stage); the stage
/// name for stacks that carry none.
fn selection_ids(stage: &Stage<StackEnv>) -> Vec<&str> {
    vec![stage.hierarchical_id.as_deref().unwrap_or(&stage.name)]
}

/// A stack of the top-level assembly, not of a nested one (a `Stage`): what `--all` and the
/// one-stack default select, as the CDK's `allTopLevel`.
fn is_top_level(stage: &Stage<StackEnv>) -> bool {
    stage
        .hierarchical_id
        .as_deref()
        .is_none_or(|id| !id.contains('/'))
}

fn refusal(plan: &Plan<StackEnv>, candidates: &[Candidate], e: SelectError) -> anyhow::Error {
    let ids: Vec<&str> = candidates.iter().map(|c| c.ids[0]).collect();
    let joined = ids.join(", ");
    let available = one_line(&joined);
    let file = plan.file.display();
    let message = match e {
        SelectError::NoMatch { pattern } => format!(
            "no stack of {file} matches '{}'\n  fix: use one of: {available} (patterns as `cdk deploy` takes them: '*' for the top-level stacks, 'Stage/*' for a stage's)",
            one_line(&pattern)
        ),
        SelectError::NothingSelected => {
            format!("the patterns select no stack of {file}\n  fix: use one of: {available}")
        }
        SelectError::NothingNamed => format!(
            "name the stacks to run (ids or patterns such as '*'), or pass --all\n  stacks of {file}: {available}"
        ),
        SelectError::Unsupported { pattern, reason } => {
            let why = match reason {
                PatternError::Empty => "is empty",
                PatternError::Extglob => {
                    "is an extglob (+(…), @(…), !(…)), which pipeline-run does not read"
                }
            };
            format!(
                "stack pattern '{}' {why}\n  fix: use ids, '*', '**', '?', [abc] or {{a,b}}; stacks: {available}",
                one_line(&pattern)
            )
        }
    };
    fail(ExitKind::Validation, message)
}

/// A stage file's stages by exact name.
fn select_by_name(plan: &Plan<StackEnv>, selection: &SelectionArgs) -> Result<Vec<usize>> {
    if selection.all {
        return Ok((0..plan.stages.len()).collect());
    }
    if selection.stages.is_empty() {
        return Err(fail(
            ExitKind::Validation,
            "name the stages to run, or pass --all",
        ));
    }
    selection
        .stages
        .iter()
        .map(|name| {
            plan.stage_index(name).ok_or_else(|| {
                let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
                fail(
                    ExitKind::Validation,
                    format!(
                        "no stage named '{name}' in {}\n  fix: use one of: {}",
                        plan.file.display(),
                        names.join(", ")
                    ),
                )
            })
        })
        .collect()
}
