//! The dependency scheduler, generic over what a task does: every selected node starts once the
//! selected nodes it waits for have succeeded, at most `concurrency` at a time; a failure stops
//! new starts; an interrupt (Ctrl-C) stops all.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;

use crate::run::outcome::StageReport;

/// Outcome of scheduling stages: their reports in plan order, and whether Ctrl-C stopped the run.
pub(crate) struct Scheduled {
    pub(crate) stages: Vec<StageReport>,
    pub(crate) interrupted: bool,
}

/// What to schedule: nodes `0..waits_for.len()`, of which `selected` run.
pub(crate) struct Graph<'a> {
    /// The order in which nodes are considered for a start (e.g. the plan's waves).
    pub(crate) order: &'a [usize],
    /// Per node, the nodes that must have succeeded first; those not selected do not count.
    pub(crate) waits_for: &'a [Vec<usize>],
    pub(crate) selected: &'a [usize],
    /// At most this many tasks at a time (at least one).
    pub(crate) concurrency: usize,
}

/// How a selected node ended.
#[derive(Debug)]
pub(crate) enum Ended<R> {
    /// Its task ran to completion with this result.
    Finished(R),
    /// Not started: it waits for this node, which did not succeed.
    Blocked(usize),
    /// Not started because the run stopped (see `Run::stopped_by`, `Run::interrupted`).
    NotStarted,
    /// Running when the interrupt came; its task was aborted.
    Interrupted { ran_for: Duration },
}

/// Why the run stopped starting nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// This node's task finished without success.
    Failed(usize),
    /// A task panicked or was cancelled (see `Run::task_errors`).
    TaskError,
}

/// What scheduling came to.
#[derive(Debug)]
pub(crate) struct Run<R> {
    /// Every selected node with how it ended, in index order.
    pub(crate) nodes: Vec<(usize, Ended<R>)>,
    /// The first failure, after which nothing new started.
    pub(crate) stopped_by: Option<Stop>,
    /// The interrupt resolved while tasks were running.
    pub(crate) interrupted: bool,
    /// Tasks that panicked or were cancelled (their nodes end `NotStarted`).
    pub(crate) task_errors: Vec<JoinError>,
}

/// Runs `task(i)` for every selected node once all the selected nodes it waits for finished
/// with a result `succeeded` accepts, at most `graph.concurrency` at a time. A node waiting for
/// one that did not succeed ends `Blocked`. After a failure nothing new starts and running tasks
/// finish. When `interrupt` resolves, running tasks are aborted and end `Interrupted`.
pub(crate) async fn run<R, F>(
    graph: &Graph<'_>,
    succeeded: impl Fn(&R) -> bool,
    mut task: impl FnMut(usize) -> F,
    interrupt: impl Future<Output = ()>,
) -> Run<R>
where
    F: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let mut state = State::new(graph);
    let mut interrupt = std::pin::pin!(interrupt);
    let mut interrupted = false;
    loop {
        state.start_ready(graph, &succeeded, &mut task);
        if state.running.is_empty() {
            break;
        }
        tokio::select! {
            joined = state.running.join_next() => {
                if let Some(joined) = joined {
                    state.joined(joined, &succeeded);
                }
            }
            () = &mut interrupt => {
                interrupted = true;
                state.interrupt();
                break;
            }
        }
    }
    state.finish(interrupted)
}

struct State<R> {
    selected: HashSet<usize>,
    ended: Vec<Option<Ended<R>>>,
    started: Vec<bool>,
    running: JoinSet<(usize, R)>,
    /// When each running node started.
    since: HashMap<usize, Instant>,
    /// The node of each running task, to place a task error.
    tasks: HashMap<task::Id, usize>,
    stopped_by: Option<Stop>,
    task_errors: Vec<JoinError>,
}

impl<R: Send + 'static> State<R> {
    fn new(graph: &Graph<'_>) -> Self {
        let n = graph.waits_for.len();
        State {
            selected: graph.selected.iter().copied().collect(),
            ended: (0..n).map(|_| None).collect(),
            started: vec![false; n],
            running: JoinSet::new(),
            since: HashMap::new(),
            tasks: HashMap::new(),
            stopped_by: None,
            task_errors: Vec::new(),
        }
    }

    /// Whether node `d` ended, and not successfully.
    fn failed(&self, d: usize, succeeded: &impl Fn(&R) -> bool) -> bool {
        match &self.ended[d] {
            None => false,
            Some(Ended::Finished(r)) => !succeeded(r),
            Some(_) => true,
        }
    }

    /// Marks the nodes whose dependencies failed, and starts those that are ready while the run
    /// goes on and a slot is free.
    fn start_ready<F>(
        &mut self,
        graph: &Graph<'_>,
        succeeded: &impl Fn(&R) -> bool,
        task: &mut impl FnMut(usize) -> F,
    ) where
        F: Future<Output = R> + Send + 'static,
    {
        for &i in graph.order {
            if !self.selected.contains(&i) || self.started[i] {
                continue;
            }
            let waits_for = &graph.waits_for[i];
            let blocking = waits_for
                .iter()
                .find(|&&d| self.selected.contains(&d) && self.failed(d, succeeded));
            if let Some(&d) = blocking {
                self.started[i] = true;
                self.ended[i] = Some(Ended::Blocked(d));
                continue;
            }
            let ready = waits_for
                .iter()
                .all(|&d| !self.selected.contains(&d) || self.ended[d].is_some());
            if !ready || self.stopped_by.is_some() || self.running.len() >= graph.concurrency.max(1)
            {
                continue;
            }
            self.started[i] = true;
            self.since.insert(i, Instant::now());
            let fut = task(i);
            let handle = self.running.spawn(async move { (i, fut.await) });
            self.tasks.insert(handle.id(), i);
        }
    }

    fn joined(&mut self, joined: Result<(usize, R), JoinError>, succeeded: &impl Fn(&R) -> bool) {
        match joined {
            Ok((i, result)) => {
                self.since.remove(&i);
                if !succeeded(&result) && self.stopped_by.is_none() {
                    self.stopped_by = Some(Stop::Failed(i));
                }
                self.ended[i] = Some(Ended::Finished(result));
            }
            Err(e) => {
                if let Some(i) = self.tasks.get(&e.id()) {
                    self.since.remove(i);
                }
                self.stopped_by.get_or_insert(Stop::TaskError);
                self.task_errors.push(e);
            }
        }
    }

    /// Aborts the running tasks; their nodes end `Interrupted`.
    fn interrupt(&mut self) {
        self.running.abort_all();
        for (&i, since) in &self.since {
            self.ended[i] = Some(Ended::Interrupted {
                ran_for: since.elapsed(),
            });
        }
    }

    fn finish(self, interrupted: bool) -> Run<R> {
        let State {
            selected,
            ended,
            stopped_by,
            task_errors,
            ..
        } = self;
        let nodes = ended
            .into_iter()
            .enumerate()
            .filter(|(i, _)| selected.contains(i))
            .map(|(i, e)| (i, e.unwrap_or(Ended::NotStarted)))
            .collect();
        Run {
            nodes,
            stopped_by,
            interrupted,
            task_errors,
        }
    }
}

#[cfg(test)]
mod tests;
