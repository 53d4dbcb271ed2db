//! Which stacks of a cloud assembly a command runs, as `cdk deploy` / `cdk destroy` select them:
//! patterns (`model::glob`) matched against each stack's ids (its hierarchical id), `--all` for
//! the top-level stacks, and the selection extended by dependencies — upstream for deploy and
//! diff (what the selected stacks need), downstream for destroy (what needs them) — unless
//! `--exclusively`. Stage files keep their exact-name selection (in `commands`).

use super::glob::{Pattern, PatternError};

/// A stage as selection sees it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    /// The ids patterns are matched against (the hierarchical id first; the first is shown).
    pub(crate) ids: Vec<&'a str>,
    /// In the top-level assembly (`--all` and `*` select these), not in a nested stage.
    pub(crate) top_level: bool,
    /// Indices of the candidates it depends on.
    pub(crate) depends_on: &'a [usize],
}

/// Which way the selection grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extend {
    /// `--exclusively`: the matches only.
    None,
    /// Deploy, diff: the stacks the matches depend on, transitively.
    Upstream,
    /// Destroy: the stacks depending on the matches, transitively.
    Downstream,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Selected indices, in candidate (deployment) order.
    pub(crate) stages: Vec<usize>,
    /// Those added by the extension, in candidate order.
    pub(crate) added: Vec<usize>,
}

/// Why nothing could be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SelectError {
    /// A pattern that selects no stack (each one is checked, not only the whole selection).
    NoMatch { pattern: String },
    /// The patterns together select nothing.
    NothingSelected,
    /// Neither patterns nor `--all`, and not exactly one top-level stack.
    NothingNamed,
    /// A pattern pipeline-run cannot read.
    Unsupported {
        pattern: String,
        reason: PatternError,
    },
}

/// The candidates `patterns` (or `all`) select, extended as `extend` says.
pub(crate) fn select(
    candidates: &[Candidate],
    patterns: &[String],
    all: bool,
    extend: Extend,
) -> Result<Selection, SelectError> {
    let matched = matched(candidates, patterns, all)?;
    let mut selected = vec![false; candidates.len()];
    for &i in &matched {
        selected[i] = true;
    }
    let mut grown = true;
    while grown && extend != Extend::None {
        grown = false;
        for (i, c) in candidates.iter().enumerate() {
            match extend {
                Extend::Upstream if selected[i] => {
                    for &d in c.depends_on {
                        if !selected[d] {
                            selected[d] = true;
                            grown = true;
                        }
                    }
                }
                Extend::Downstream if !selected[i] && c.depends_on.iter().any(|&d| selected[d]) => {
                    selected[i] = true;
                    grown = true;
                }
                _ => {}
            }
        }
    }
    let stages: Vec<usize> = (0..candidates.len()).filter(|&i| selected[i]).collect();
    let added = stages
        .iter()
        .copied()
        .filter(|i| !matched.contains(i))
        .collect();
    Ok(Selection { stages, added })
}

/// The candidates the patterns match (a positive pattern includes, a negated one excludes, as
/// the CDK CLI's matcher combines them), or `--all`'s top-level stacks, or the only top-level
/// stack when nothing is named.
fn matched(
    candidates: &[Candidate],
    patterns: &[String],
    all: bool,
) -> Result<Vec<usize>, SelectError> {
    let top_level = || (0..candidates.len()).filter(|&i| candidates[i].top_level);
    if all {
        return Ok(top_level().collect());
    }
    if patterns.is_empty() {
        let only: Vec<usize> = top_level().collect();
        return match only.as_slice() {
            [one] => Ok(vec![*one]),
            _ => Err(SelectError::NothingNamed),
        };
    }
    let mut parsed = Vec::new();
    for text in patterns {
        let pattern = Pattern::parse(text).map_err(|reason| SelectError::Unsupported {
            pattern: text.clone(),
            reason,
        })?;
        let hits = |c: &Candidate| c.ids.iter().any(|id| pattern.matches_body(id));
        if !pattern.negated && !candidates.iter().any(hits) {
            return Err(SelectError::NoMatch {
                pattern: text.clone(),
            });
        }
        parsed.push(pattern);
    }
    let (negatives, positives): (Vec<&Pattern>, Vec<&Pattern>) =
        parsed.iter().partition(|p| p.negated);
    let selects = |c: &Candidate| {
        let hit = |p: &Pattern| c.ids.iter().any(|id| p.matches_body(id));
        (positives.is_empty() || positives.iter().any(|p| hit(p)))
            && negatives.iter().all(|p| !hit(p))
    };
    let matched: Vec<usize> = (0..candidates.len())
        .filter(|&i| selects(&candidates[i]))
        .collect();
    if matched.is_empty() {
        return Err(SelectError::NothingSelected);
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Network ← Api ← Web at the top level; Beta/Db ← Beta/Api in a stage; Beta/Api also
    /// needs Network.
    fn assembly() -> Vec<(Vec<&'static str>, bool, Vec<usize>)> {
        vec![
            (vec!["Network"], true, vec![]),
            (vec!["Api"], true, vec![0]),
            (vec!["Web"], true, vec![1]),
            (vec!["Beta/Db"], false, vec![]),
            (vec!["Beta/Api"], false, vec![3, 0]),
        ]
    }

    fn run(patterns: &[&str], all: bool, extend: Extend) -> Result<Selection, SelectError> {
        let a = assembly();
        let candidates: Vec<Candidate> = a
            .iter()
            .map(|(ids, top, deps)| Candidate {
                ids: ids.clone(),
                top_level: *top,
                depends_on: deps,
            })
            .collect();
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        select(&candidates, &patterns, all, extend)
    }

    fn stages(patterns: &[&str], extend: Extend) -> Vec<usize> {
        run(patterns, false, extend).unwrap().stages
    }

    #[test]
    fn a_top_level_star_does_not_reach_into_stages_and_stage_star_does() {
        assert_eq!(stages(&["*"], Extend::None), [0, 1, 2]);
        assert_eq!(stages(&["Beta/*"], Extend::None), [3, 4]);
        assert_eq!(stages(&["**"], Extend::None), [0, 1, 2, 3, 4]);
        assert_eq!(stages(&["Api"], Extend::None), [1], "exact id");
        assert_eq!(stages(&["*", "!Web"], Extend::None), [0, 1]);
        assert_eq!(stages(&["!Web"], Extend::None), [0, 1, 3, 4]);
    }

    #[test]
    fn dependencies_come_along_unless_exclusively() {
        let up = run(&["Web"], false, Extend::Upstream).unwrap();
        assert_eq!(up.stages, [0, 1, 2]);
        assert_eq!(up.added, [0, 1]);
        assert_eq!(stages(&["Beta/Api"], Extend::Upstream), [0, 3, 4]);
        let down = run(&["Network"], false, Extend::Downstream).unwrap();
        assert_eq!(down.stages, [0, 1, 2, 4]);
        assert_eq!(down.added, [1, 2, 4]);
        assert_eq!(stages(&["Network"], Extend::None), [0]);
    }

    #[test]
    fn all_selects_the_top_level_and_nothing_named_needs_a_single_stack() {
        assert_eq!(run(&[], true, Extend::None).unwrap().stages, [0, 1, 2]);
        assert_eq!(
            run(&[], false, Extend::None),
            Err(SelectError::NothingNamed)
        );
    }

    #[test]
    fn every_pattern_must_select_something() {
        assert_eq!(
            run(&["Api", "Nope*"], false, Extend::None),
            Err(SelectError::NoMatch {
                pattern: "Nope*".into()
            })
        );
        assert_eq!(
            run(&["Api", "!Api"], false, Extend::None),
            Err(SelectError::NothingSelected)
        );
        assert!(matches!(
            run(&["+(Api)"], false, Extend::None),
            Err(SelectError::Unsupported { .. })
        ));
    }

    #[test]
    fn any_id_of_a_stage_selects_it() {
        let deps = [];
        let candidates = [Candidate {
            ids: vec!["Beta/Api", "BetaApi1A2B3C"],
            top_level: false,
            depends_on: &deps,
        }];
        for pattern in ["Beta/Api", "BetaApi*"] {
            let s = select(&candidates, &[pattern.to_string()], false, Extend::None).unwrap();
            assert_eq!(s.stages, [0], "{pattern}");
        }
    }
}
