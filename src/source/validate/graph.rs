//! The order of the stages: dependency waves, or the cycle that makes them impossible.

use super::problems::Cx;
use crate::model::graph;
use crate::model::plan::Stage;

/// The waves of `stages` (whose `depends_on` are indices into it); a cycle is a problem naming
/// its members in waiting order and the stages it blocks.
pub(super) fn waves(cx: &mut Cx, stages: &[Stage]) -> Vec<Vec<usize>> {
    let depends_on: Vec<Vec<usize>> = stages.iter().map(|s| s.depends_on.clone()).collect();
    let order = graph::waves(&depends_on);
    if let Some(cycle) = order.cycle {
        let name = |i: &usize| stages[*i].name.as_str();
        let mut names: Vec<&str> = cycle.nodes.iter().map(name).collect();
        names.push(names[0]);
        let blocked: Vec<&str> = cycle.blocked.iter().map(name).collect();
        let first = &stages[cycle.nodes[0]];
        cx.at(first.line).stage(&first.name).field("depends_on").report(
            format!(
                "dependency cycle among stages: {} (each waits for the next, through depends_on or an output reference){}",
                names.join(" → "),
                if blocked.is_empty() {
                    String::new()
                } else {
                    format!("; also blocked by it: {}", blocked.join(", "))
                }
            ),
            "remove a depends_on entry or an output reference so the stages can be ordered",
        );
    }
    order.waves
}
