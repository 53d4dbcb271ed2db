//! The scheduler with fake tasks on a paused clock: each task sleeps its duration and returns
//! whether it succeeded; a log records when every task started and ended.

use std::future::{self, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

const MS: Duration = Duration::from_millis(1);

/// A fake task: how long it runs and whether it succeeds.
#[derive(Clone, Copy)]
struct Fake {
    runs: Duration,
    ok: bool,
}

fn ok(ms: u64) -> Fake {
    Fake {
        runs: MS * ms as u32,
        ok: true,
    }
}

fn fails(ms: u64) -> Fake {
    Fake {
        ok: false,
        ..ok(ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Start(usize),
    End(usize),
}

/// Runs the fakes with the dependencies `waits_for`, all selected, in index order.
struct Harness {
    fakes: Vec<Fake>,
    waits_for: Vec<Vec<usize>>,
    selected: Vec<usize>,
    concurrency: usize,
    log: Arc<Mutex<Vec<(Event, u128)>>>,
    running: Arc<AtomicUsize>,
    high_water: Arc<AtomicUsize>,
}

impl Harness {
    fn new(fakes: Vec<Fake>, waits_for: Vec<Vec<usize>>, concurrency: usize) -> Harness {
        Harness {
            selected: (0..fakes.len()).collect(),
            fakes,
            waits_for,
            concurrency,
            log: Arc::default(),
            running: Arc::default(),
            high_water: Arc::default(),
        }
    }

    async fn run(&self, interrupt: impl Future<Output = ()>) -> Run<bool> {
        let order: Vec<usize> = (0..self.fakes.len()).collect();
        let graph = Graph {
            order: &order,
            waits_for: &self.waits_for,
            selected: &self.selected,
            concurrency: self.concurrency,
        };
        let started = Instant::now();
        let task = |i: usize| {
            let fake = self.fakes[i];
            let (log, running, high) = (
                self.log.clone(),
                self.running.clone(),
                self.high_water.clone(),
            );
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                high.fetch_max(now, Ordering::SeqCst);
                let at = || started.elapsed().as_millis();
                log.lock().unwrap().push((Event::Start(i), at()));
                tokio::time::sleep(fake.runs).await;
                log.lock().unwrap().push((Event::End(i), at()));
                running.fetch_sub(1, Ordering::SeqCst);
                fake.ok
            }
        };
        run(&graph, |ok: &bool| *ok, task, interrupt).await
    }

    /// When `event` happened, in ms since the start.
    fn at(&self, event: Event) -> Option<u128> {
        let log = self.log.lock().unwrap();
        log.iter().find(|(e, _)| *e == event).map(|(_, t)| *t)
    }
}

fn never() -> impl Future<Output = ()> {
    future::pending()
}

fn ended<R: std::fmt::Debug>(run: &Run<R>, node: usize) -> &Ended<R> {
    &run.nodes.iter().find(|(i, _)| *i == node).unwrap().1
}

#[tokio::test(start_paused = true)]
async fn a_stage_starts_only_after_all_it_waits_for_succeeded() {
    // 0 → 2 ← 1, 2 → 3; 4 is independent.
    let h = Harness::new(
        vec![ok(100), ok(300), ok(50), ok(10), ok(20)],
        vec![vec![], vec![], vec![0, 1], vec![2], vec![]],
        8,
    );
    let run = h.run(never()).await;
    assert!(!run.interrupted && run.stopped_by.is_none());
    assert!(
        run.nodes
            .iter()
            .all(|(_, e)| matches!(e, Ended::Finished(true)))
    );
    let at = |e| h.at(e).unwrap();
    assert_eq!(at(Event::Start(0)), 0);
    assert_eq!(at(Event::Start(1)), 0);
    assert_eq!(at(Event::Start(4)), 0);
    assert_eq!(at(Event::Start(2)), at(Event::End(1)));
    assert!(at(Event::Start(2)) >= at(Event::End(0)));
    assert_eq!(at(Event::Start(3)), at(Event::End(2)));
    assert_eq!(at(Event::End(3)), 360);
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_is_never_exceeded() {
    let fakes: Vec<Fake> = (0..10).map(|i| ok(10 + 7 * i)).collect();
    let h = Harness::new(fakes, vec![vec![]; 10], 3);
    let run = h.run(never()).await;
    assert_eq!(run.nodes.len(), 10);
    assert!(
        run.nodes
            .iter()
            .all(|(_, e)| matches!(e, Ended::Finished(true)))
    );
    assert_eq!(h.high_water.load(Ordering::SeqCst), 3);

    // Zero means one at a time, not none.
    let h = Harness::new(vec![ok(10); 4], vec![vec![]; 4], 0);
    h.run(never()).await;
    assert_eq!(h.high_water.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_its_dependents_and_stops_new_starts_while_running_ones_finish() {
    // 0 fails at 10 ms; 1 waits for 0, 3 for 1; 2 is running then and finishes; 4 would start
    // only when a slot frees up (concurrency 2), which is after the failure.
    let h = Harness::new(
        vec![fails(10), ok(10), ok(100), ok(10), ok(10)],
        vec![vec![], vec![0], vec![], vec![1], vec![]],
        2,
    );
    let run = h.run(never()).await;
    assert_eq!(run.stopped_by, Some(Stop::Failed(0)));
    assert!(matches!(ended(&run, 0), Ended::Finished(false)));
    assert!(matches!(ended(&run, 1), Ended::Blocked(0)));
    // Blocked by a stage that was itself blocked.
    assert!(matches!(ended(&run, 3), Ended::Blocked(1)));
    assert!(matches!(ended(&run, 2), Ended::Finished(true)));
    assert_eq!(h.at(Event::End(2)), Some(100));
    assert!(matches!(ended(&run, 4), Ended::NotStarted));
    assert_eq!(h.at(Event::Start(4)), None);
}

#[tokio::test(start_paused = true)]
async fn stages_that_are_not_selected_do_not_hold_back_those_waiting_for_them() {
    let mut h = Harness::new(vec![fails(10), ok(10)], vec![vec![], vec![0]], 2);
    h.selected = vec![1];
    let run = h.run(never()).await;
    assert_eq!(run.nodes.len(), 1);
    assert!(matches!(ended(&run, 1), Ended::Finished(true)));
    assert_eq!(h.at(Event::Start(0)), None);
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_aborts_running_tasks_and_starts_nothing_more() {
    // 0 ends at 100 ms, then 1 runs; the interrupt comes at 150 ms. 2 waits for 1.
    let h = Harness::new(
        vec![ok(100), ok(100), ok(10)],
        vec![vec![], vec![0], vec![1]],
        4,
    );
    let run = h.run(tokio::time::sleep(MS * 150)).await;
    assert!(run.interrupted);
    assert!(matches!(ended(&run, 0), Ended::Finished(true)));
    match ended(&run, 1) {
        Ended::Interrupted { ran_for } => assert_eq!(*ran_for, MS * 50),
        other => panic!("{other:?}"),
    }
    assert!(matches!(ended(&run, 2), Ended::NotStarted));
    // The aborted task never ends, even given the time.
    tokio::time::sleep(MS * 500).await;
    assert_eq!(h.at(Event::End(1)), None);
    assert_eq!(h.running.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_is_reported_and_stops_the_run() {
    let order = [0, 1, 2];
    let waits_for = vec![vec![], vec![0], vec![]];
    let graph = Graph {
        order: &order,
        waits_for: &waits_for,
        selected: &[0, 1, 2],
        concurrency: 1,
    };
    let task = |i: usize| async move {
        tokio::time::sleep(MS).await;
        assert_ne!(i, 0, "task 0 panics");
        true
    };
    let run = run(&graph, |ok: &bool| *ok, task, never()).await;
    assert_eq!(run.stopped_by, Some(Stop::TaskError));
    assert_eq!(run.task_errors.len(), 1);
    assert!(run.task_errors[0].is_panic());
    for i in 0..3 {
        assert!(matches!(ended(&run, i), Ended::NotStarted), "{i}");
    }
}
