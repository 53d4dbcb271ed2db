//! Dependency order, for everyone who needs it: the stage file's waves, the cloud assembly's
//! stack order, the scheduler's deploy order and destroy's reversed one. Nodes are indices;
//! `depends_on[i]` lists the nodes `i` waits for.

/// The result of ordering: waves (every node of a wave depends only on earlier waves; each wave
/// sorted), and, if some nodes can never run, one dependency cycle among them and the other
/// nodes it blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) waves: Vec<Vec<usize>>,
    pub(crate) cycle: Option<Cycle>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// The nodes of the cycle in waiting order: each waits for the next, the last for the first.
    pub(crate) nodes: Vec<usize>,
    /// Nodes outside the cycle that wait for it.
    pub(crate) blocked: Vec<usize>,
}

/// Orders `depends_on` into waves (Kahn's algorithm, level by level).
pub(crate) fn waves(depends_on: &[Vec<usize>]) -> Order {
    let n = depends_on.len();
    let mut remaining: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let dependents = reversed(depends_on);
    let mut done = vec![false; n];
    let mut waves = Vec::new();
    let mut wave: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    while !wave.is_empty() {
        let mut next = Vec::new();
        for &i in &wave {
            done[i] = true;
            for &j in &dependents[i] {
                remaining[j] -= 1;
                if remaining[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        waves.push(std::mem::replace(&mut wave, next));
    }
    let cycle = (0..n)
        .find(|&i| !done[i])
        .map(|start| find_cycle(depends_on, &done, start));
    Order { waves, cycle }
}

/// A blocked node always waits for another blocked one: follow those waits from `start` until
/// a node repeats, and the loop from there is a cycle, in waiting order.
fn find_cycle(depends_on: &[Vec<usize>], done: &[bool], start: usize) -> Cycle {
    let mut path = vec![start];
    let nodes = loop {
        let current = *path.last().expect("path starts non-empty");
        let Some(next) = depends_on[current].iter().copied().find(|&d| !done[d]) else {
            break path.clone();
        };
        if let Some(k) = path.iter().position(|&p| p == next) {
            break path[k..].to_vec();
        }
        path.push(next);
    };
    let blocked = (0..done.len())
        .filter(|&i| !done[i] && !nodes.contains(&i))
        .collect();
    Cycle { nodes, blocked }
}

/// The dependents of every node: the graph with its edges reversed (destroy runs in this order).
pub(crate) fn reversed(depends_on: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); depends_on.len()];
    for (i, deps) in depends_on.iter().enumerate() {
        for &d in deps {
            dependents[d].push(i);
        }
    }
    dependents
}

/// An order that keeps the given order wherever dependencies allow (the CDK's stack order):
/// repeatedly the first node whose dependencies are all placed. `Err` holds the nodes left when
/// none is ready (they form or wait for a cycle).
pub(crate) fn stable_order(depends_on: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = depends_on.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let ready = (0..n).find(|&i| !placed[i] && depends_on[i].iter().all(|&d| placed[d]));
        match ready {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err((0..n).filter(|&i| !placed[i]).collect()),
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_nodes_share_a_wave_and_dependents_follow() {
        let order = waves(&[vec![], vec![], vec![0, 1], vec![2]]);
        assert_eq!(order.waves, vec![vec![0, 1], vec![2], vec![3]]);
        assert_eq!(order.cycle, None);
    }

    #[test]
    fn a_cycle_is_named_in_waiting_order_with_what_it_blocks() {
        // 0 → 1 → 2 → 1; 3 waits for 2; 4 is free.
        let order = waves(&[vec![1], vec![2], vec![1], vec![2], vec![]]);
        assert_eq!(order.waves, vec![vec![4]]);
        let cycle = order.cycle.unwrap();
        assert_eq!(cycle.nodes, vec![1, 2]);
        assert_eq!(cycle.blocked, vec![0, 3]);
    }

    #[test]
    fn reversing_gives_dependents() {
        assert_eq!(
            reversed(&[vec![], vec![0], vec![0, 1]]),
            vec![vec![1, 2], vec![2], vec![]]
        );
    }

    #[test]
    fn the_stable_order_keeps_the_given_order_where_it_can() {
        assert_eq!(stable_order(&[vec![1], vec![], vec![]]), Ok(vec![1, 0, 2]));
        assert_eq!(stable_order(&[vec![1], vec![0], vec![]]), Err(vec![0, 1]));
    }
}
