//! `Fn::GetStackOutput` in the stages' templates: each reference to a stack of the plan makes its
//! stage wait for that stack's stage, and is checked (output declared, role known); problems are
//! reported on the stage's `template:` (or `source:`) line, naming the template's own line.

use super::problems::Cx;
use crate::model::plan::Stage;
use crate::model::stack_links;
use crate::source::stagefile::StageEntry;

/// Links the references of `stages` (built from `entries`, before the waves are ordered).
pub(super) fn link(cx: &mut Cx, entries: &[StageEntry], stages: &mut [Stage], qualifier: &str) {
    for p in stack_links::link(stages, qualifier) {
        let name = &stages[p.stage].name;
        let sourced = entries
            .iter()
            .any(|e| &e.name == name && e.source.is_some());
        let key = if sourced { "source" } else { "template" };
        cx.in_stage(name, key).field(key).report(p.message, p.fix);
    }
}
