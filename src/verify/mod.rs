//! Network verification: for each declared check, a static verdict from the EC2 state of all
//! accounts and a live verdict from `ping` run on the source instance through SSM.
//!
//! Reading the EC2 state and the pings run at the same time; each check is reported as soon as
//! its ping ends.
//!
//! `resolve` turns each check into an instance and an address through stage outputs, `collect`
//! reads every account's network (`merge` turns EC2's descriptions into one `Topology`),
//! `reachability` decides statically, `live` and `ping` run and read the ping, and `check`
//! weighs the verdicts into the report.

mod check;
mod collect;
mod live;
mod merge;
mod ping;
mod reachability;
mod resolve;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::{JoinHandle, JoinSet};

use crate::aws::Aws;
use crate::model::plan::{CheckPlan, Plan, Stage};
use crate::progress::Reporter;

pub(crate) use self::check::{CheckResult, VerifyReport};
use self::check::{StaticView, build, report_line, static_view};
use self::collect::NetworkError;
use self::live::{LiveOutcome, LiveResult, PingRequest};
use self::reachability::Topology;
use self::resolve::{Resolved, Unresolved};

/// The outputs of one stage, as `StageOutputs` reads them.
pub(crate) type OutputsFuture<'a> =
    Pin<Box<dyn Future<Output = anyhow::Result<BTreeMap<String, String>>> + Send + 'a>>;

/// Where verify reads the outputs of the stages its checks name (the instances and addresses):
/// a deploy's run context knows those it deployed and reads the others from CloudFormation.
pub(crate) trait StageOutputs: Send + Sync {
    fn outputs_of<'a>(&'a self, stage: &'a Stage) -> OutputsFuture<'a>;
}

/// What a verification needs: the checks (in the plan), AWS access, where to log, and the
/// stage outputs.
pub(crate) struct VerifyInput {
    pub(crate) plan: Arc<Plan>,
    pub(crate) aws: Arc<Aws>,
    pub(crate) reporter: Arc<Reporter>,
    pub(crate) outputs: Arc<dyn StageOutputs>,
}

type Resolution = Result<Resolved, Unresolved>;
type TopologyTask = JoinHandle<(Result<Topology, NetworkError>, Duration)>;

/// Runs every check of the plan. Never fails as a whole: whatever goes wrong is reported on the
/// checks it affects.
pub(crate) async fn run(input: &VerifyInput, static_only: bool) -> VerifyReport {
    let started = Instant::now();
    announce(input, static_only);
    let topology_task = spawn_topology(input);
    // The command watches for Ctrl-C and SIGTERM from its start (run::interrupt::watch): they no
    // longer end the process, so every wait here must give way to them.
    let mut interrupted = false;
    let resolved = tokio::select! {
        resolved = resolve::resolve_all(&input.plan, &input.outputs) => resolved,
        _ = crate::run::interrupt::interrupted() => {
            interrupted = true;
            topology_task.abort();
            vec![Err(Unresolved::Interrupted); input.plan.checks.len()]
        }
    };
    let pings = if static_only {
        JoinSet::new()
    } else {
        spawn_pings(input, &resolved)
    };
    let topology = await_topology(input, topology_task, &mut interrupted).await;
    let statics = resolved
        .iter()
        .map(|r| r.as_ref().ok().map(|r| static_view(&topology, r)))
        .collect();
    let mut checks = Checks {
        input,
        static_only,
        resolved,
        statics,
        results: vec![None; input.plan.checks.len()],
    };
    checks.decide_unpinged();
    if !interrupted {
        interrupted = checks.await_pings(pings).await;
    }
    let report = VerifyReport {
        checks: checks.finish(interrupted),
        duration_seconds: started.elapsed().as_secs_f64(),
        interrupted,
        static_only,
    };
    input.reporter.info(&format!(
        "verify: {} of {} check(s) passed in {:.2}s",
        report.checks.iter().filter(|c| c.ok).count(),
        report.checks.len(),
        report.duration_seconds
    ));
    report
}

fn announce(input: &VerifyInput, static_only: bool) {
    input.reporter.info(&format!(
        "verify: {} check(s): static analysis of {} environment(s){}",
        input.plan.checks.len(),
        input.plan.environments().len(),
        if static_only {
            " (--static-only: no ping)"
        } else {
            " and ping through SSM"
        }
    ));
}

fn spawn_topology(input: &VerifyInput) -> TopologyTask {
    let (plan, aws) = (input.plan.clone(), input.aws.clone());
    tokio::spawn(async move {
        let t = Instant::now();
        (collect::topology(plan, aws).await, t.elapsed())
    })
}

fn spawn_pings(input: &VerifyInput, resolved: &[Resolution]) -> JoinSet<(usize, LiveResult)> {
    let mut pings = JoinSet::new();
    for (i, r) in resolved.iter().enumerate() {
        if let Ok(r) = r {
            let (plan, aws) = (input.plan.clone(), input.aws.clone());
            let (check, r) = (plan.checks[i].clone(), r.clone());
            pings.spawn(async move { (i, live_check(&plan, &aws, &check, &r).await) });
        }
    }
    pings
}

/// The network, once read (or why it could not be); a Ctrl-C while waiting sets `interrupted`.
async fn await_topology(
    input: &VerifyInput,
    mut task: TopologyTask,
    interrupted: &mut bool,
) -> Result<Topology, NetworkError> {
    let joined = tokio::select! {
        joined = &mut task => Some(joined),
        _ = crate::run::interrupt::interrupted(), if !*interrupted => None,
    };
    let topology = match joined {
        None => {
            *interrupted = true;
            task.abort();
            Err(NetworkError::Interrupted)
        }
        Some(Ok((topology, took))) => {
            if topology.is_ok() {
                input.reporter.info(&format!(
                    "verify: read the EC2 network of {} environment(s) in {:.2}s",
                    input.plan.environments().len(),
                    took.as_secs_f64()
                ));
            }
            topology
        }
        Some(Err(e)) if e.is_cancelled() => Err(NetworkError::Interrupted),
        Some(Err(e)) => Err(NetworkError::Internal(e.to_string())),
    };
    if let Err(e) = &topology
        && !*interrupted
    {
        input
            .reporter
            .warn(&format!("static analysis unavailable: {e}"));
    }
    topology
}

/// The checks being decided: what is known of each, and the results so far.
struct Checks<'a> {
    input: &'a VerifyInput,
    static_only: bool,
    resolved: Vec<Resolution>,
    statics: Vec<Option<StaticView>>,
    results: Vec<Option<CheckResult>>,
}

impl Checks<'_> {
    fn decide(&mut self, i: usize, live: Option<&LiveResult>) {
        let result = build(
            &self.input.plan.checks[i],
            &self.resolved[i],
            self.statics[i].as_ref(),
            live,
            self.static_only,
        );
        report_line(&self.input.reporter, &result);
        self.results[i] = Some(result);
    }

    /// Checks no ping will decide (--static-only, or not resolved) are decided at once.
    fn decide_unpinged(&mut self) {
        for i in 0..self.resolved.len() {
            if self.static_only || self.resolved[i].is_err() {
                self.decide(i, None);
            }
        }
    }

    /// Decides each pinged check as its ping ends. Returns whether Ctrl-C stopped the wait.
    async fn await_pings(&mut self, mut pings: JoinSet<(usize, LiveResult)>) -> bool {
        loop {
            let joined = tokio::select! {
                joined = pings.join_next() => joined,
                _ = crate::run::interrupt::interrupted() => {
                    pings.abort_all();
                    return true;
                }
            };
            match joined {
                None => return false,
                Some(Ok((i, live))) => self.decide(i, Some(&live)),
                Some(Err(e)) => self.input.reporter.error(
                    &format!("internal error in a ping task: {e}"),
                    None,
                    None,
                ),
            }
        }
    }

    /// Every result, in plan order; a check whose ping never ended failed as interrupted or lost.
    fn finish(self, interrupted: bool) -> Vec<CheckResult> {
        let checks = &self.input.plan.checks;
        self.results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    let lost = LiveResult {
                        outcome: if interrupted {
                            LiveOutcome::Interrupted
                        } else {
                            LiveOutcome::Failed("the ping task ended without a result".into())
                        },
                        command_id: None,
                        seconds: 0.0,
                    };
                    build(
                        &checks[i],
                        &self.resolved[i],
                        self.statics[i].as_ref(),
                        Some(&lost),
                        self.static_only,
                    )
                })
            })
            .collect()
    }
}

/// Pings from the check's source instance, as the deploy role of its environment.
async fn live_check(plan: &Plan, aws: &Aws, check: &CheckPlan, r: &Resolved) -> LiveResult {
    let started = Instant::now();
    let cfg = match aws
        .role(
            &plan.roles_in(&r.env).deploy,
            &r.env,
            &plan.qualifier,
            &format!("ping for check {} through SSM", check.name),
        )
        .await
    {
        Ok(cfg) => cfg,
        Err(e) => {
            return LiveResult {
                outcome: LiveOutcome::Failed(format!("{e:#}")),
                command_id: None,
                seconds: started.elapsed().as_secs_f64(),
            };
        }
    };
    let ip = r.ip.to_string();
    live::ping(
        &aws.ssm(&cfg),
        &PingRequest {
            check: &check.name,
            from_stage: &check.from_stage,
            from_output: &check.from_output,
            env: &r.env,
            qualifier: &plan.qualifier,
            instance: &r.instance,
            ip: &ip,
            count: check.count,
            timeout_seconds: check.timeout_seconds,
        },
    )
    .await
}
