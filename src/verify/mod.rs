//! Network verification: for each declared check, a static verdict from the EC2 state of all
//! accounts and a live verdict from `ping` run on the source instance through SSM.
//!
//! Reading the EC2 state and the pings run at the same time; each check is reported as soon as
//! its ping ends.

pub(crate) mod collect;
pub(crate) mod live;
pub(crate) mod ping;
pub(crate) mod reachability;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::task::JoinSet;

use crate::model::env::Environment;
use crate::model::plan::{CheckPlan, Expectation, Target};
use crate::run::context::Context;

use self::live::{LiveOutcome, LiveResult, PingRequest};
use self::ping::PingSummary;
use self::reachability::Topology;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckResult {
    pub(crate) name: String,
    /// The stage output naming the source instance, as written in the stage file.
    pub(crate) from: String,
    /// The target as written in the stage file: an address or a stage output.
    pub(crate) to: String,
    /// Account and region of the source stage, whose deploy role runs the ping.
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) from_instance: String,
    pub(crate) to_ip: String,
    pub(crate) expect: Expectation,
    /// "reachable", "unreachable" or "unknown".
    pub(crate) static_verdict: String,
    pub(crate) static_reachable: Option<bool>,
    /// One line: the path that carries the echo, or the first thing that stops it.
    pub(crate) static_reason: String,
    /// "reachable", "unreachable", "unknown", "skipped" (--static-only) or "not run".
    pub(crate) live_verdict: String,
    pub(crate) live_reachable: Option<bool>,
    /// How the live check ended: reachable, unreachable, no_summary, undeliverable, timed_out,
    /// error, skipped or not_run.
    pub(crate) live_outcome: String,
    pub(crate) live_reason: String,
    /// "3/3 received, 0% loss", or empty when ping printed no statistics.
    pub(crate) ping_summary: String,
    pub(crate) ping: Option<PingSummary>,
    pub(crate) command_id: Option<String>,
    pub(crate) live_seconds: Option<f64>,
    pub(crate) ok: bool,
    /// Why the check failed; `None` when it passed.
    pub(crate) problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct VerifyReport {
    pub(crate) static_only: bool,
    /// Ctrl-C stopped the verification; unfinished checks failed as interrupted.
    pub(crate) interrupted: bool,
    pub(crate) duration_seconds: f64,
    pub(crate) checks: Vec<CheckResult>,
}

impl VerifyReport {
    pub(crate) fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The result table, then one line per check: why it failed, or the path (or blocker)
    /// that explains its verdict.
    pub(crate) fn table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    verdict_word(Some(c.expect == Expectation::Reachable)).to_string(),
                    c.static_verdict.clone(),
                    c.live_verdict.clone(),
                    c.ping_summary.clone(),
                    if c.ok { "ok".into() } else { "FAIL".into() },
                ]
            })
            .collect();
        let mut out = crate::table::table(
            &["CHECK", "EXPECTED", "STATIC", "LIVE", "PING", "RESULT"],
            &rows,
        );
        out.push('\n');
        // An unreadable network gives every check the same reason: say it once.
        let mut unknown_static: Vec<&str> = Vec::new();
        for c in &self.checks {
            match &c.problem {
                Some(p) => out.push_str(&format!("{}: FAIL — {p}\n", c.name)),
                None if c.static_reachable.is_none() && !self.static_only => {
                    if !unknown_static.contains(&c.static_reason.as_str()) {
                        unknown_static.push(&c.static_reason);
                    }
                }
                None => out.push_str(&format!("{}: {}\n", c.name, c.static_reason)),
            }
        }
        for reason in unknown_static {
            out.push_str(&format!("static analysis: {reason}\n"));
        }
        out
    }
}

/// Runs every check of the plan. Never fails as a whole: whatever goes wrong is reported on the
/// checks it affects.
pub(crate) async fn run(ctx: &Arc<Context>, static_only: bool) -> VerifyReport {
    let started = Instant::now();
    let checks = &ctx.plan.checks;
    let environments = ctx.plan.environments().len();
    ctx.reporter.info(&format!(
        "verify: {} check(s): static analysis of {environments} environment(s){}",
        checks.len(),
        if static_only {
            " (--static-only: no ping)"
        } else {
            " and ping through SSM"
        }
    ));

    let mut topology_task = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            (collect::topology(ctx).await, t.elapsed())
        })
    };
    // Once a Ctrl-C handler exists (the deploy scheduler installs one) SIGINT no longer ends
    // the process, so every wait here must give way to it.
    let mut interrupted = false;
    let resolved = tokio::select! {
        resolved = resolve_all(ctx) => resolved,
        _ = tokio::signal::ctrl_c() => {
            interrupted = true;
            topology_task.abort();
            let why = Err("interrupted (Ctrl-C) before the check's stage outputs were read".to_string());
            vec![why; checks.len()]
        }
    };

    let mut pings = JoinSet::new();
    if !static_only {
        for (i, r) in resolved.iter().enumerate() {
            if let Ok(r) = r {
                let (ctx, check, r) = (ctx.clone(), checks[i].clone(), r.clone());
                pings.spawn(async move { (i, live_check(&ctx, &check, &r).await) });
            }
        }
    }

    let joined = tokio::select! {
        joined = &mut topology_task => Some(joined),
        _ = tokio::signal::ctrl_c(), if !interrupted => None,
    };
    let topology = match joined {
        None => {
            interrupted = true;
            topology_task.abort();
            Err("interrupted (Ctrl-C) before the network was read".to_string())
        }
        Some(Ok((topology, took))) => {
            if topology.is_ok() {
                ctx.reporter.info(&format!(
                    "verify: read the EC2 network of {environments} environment(s) in {:.2}s",
                    took.as_secs_f64()
                ));
            }
            topology
        }
        Some(Err(e)) if e.is_cancelled() => {
            Err("interrupted (Ctrl-C) before the network was read".to_string())
        }
        Some(Err(e)) => Err(format!("internal error while reading the network: {e}")),
    };
    if let Err(e) = &topology
        && !interrupted
    {
        ctx.reporter
            .warn(&format!("static analysis unavailable: {e}"));
    }
    let statics: Vec<Option<StaticView>> = resolved
        .iter()
        .map(|r| r.as_ref().ok().map(|r| static_view(&topology, r)))
        .collect();

    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    for (i, check) in checks.iter().enumerate() {
        if static_only || resolved[i].is_err() {
            let result = build(check, &resolved[i], statics[i].as_ref(), None, static_only);
            report_line(ctx, &result);
            results[i] = Some(result);
        }
    }
    while !interrupted {
        let joined = tokio::select! {
            joined = pings.join_next() => joined,
            _ = tokio::signal::ctrl_c() => {
                interrupted = true;
                pings.abort_all();
                break;
            }
        };
        let Some(joined) = joined else { break };
        match joined {
            Ok((i, live)) => {
                let result = build(
                    &checks[i],
                    &resolved[i],
                    statics[i].as_ref(),
                    Some(&live),
                    static_only,
                );
                report_line(ctx, &result);
                results[i] = Some(result);
            }
            Err(e) => {
                ctx.reporter
                    .error(&format!("internal error in a ping task: {e}"), None, None)
            }
        }
    }
    let checks = results
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
                    &resolved[i],
                    statics[i].as_ref(),
                    Some(&lost),
                    static_only,
                )
            })
        })
        .collect();
    let report = VerifyReport {
        static_only,
        interrupted,
        duration_seconds: started.elapsed().as_secs_f64(),
        checks,
    };
    ctx.reporter.info(&format!(
        "verify: {} of {} check(s) passed in {:.2}s",
        report.checks.iter().filter(|c| c.ok).count(),
        report.checks.len(),
        report.duration_seconds
    ));
    report
}

/// A check with its stage outputs read: what to ping from, what to ping, and where it runs.
#[derive(Debug, Clone)]
struct Resolved {
    instance: String,
    ip: Ipv4Addr,
    env: Environment,
}

type StageOutputs = HashMap<String, Result<BTreeMap<String, String>, String>>;

/// Reads the outputs of every stage the checks name (each stage once, all at the same time),
/// then resolves each check.
async fn resolve_all(ctx: &Arc<Context>) -> Vec<Result<Resolved, String>> {
    let plan = &ctx.plan;
    let mut stages: Vec<String> = Vec::new();
    for check in &plan.checks {
        stages.push(check.from_stage.clone());
        if let Target::Output { stage, .. } = &check.to {
            stages.push(stage.clone());
        }
    }
    stages.sort();
    stages.dedup();
    let mut reads = JoinSet::new();
    for name in stages {
        let ctx = ctx.clone();
        reads.spawn(async move {
            let outputs = match ctx.plan.stage_index(&name) {
                Some(i) => ctx
                    .outputs_of(&ctx.plan.stages[i])
                    .await
                    .map_err(|e| format!("{e:#}")),
                None => Err(format!("the stage file has no stage {name}")),
            };
            (name, outputs)
        });
    }
    let mut outputs = StageOutputs::new();
    while let Some(joined) = reads.join_next().await {
        if let Ok((name, o)) = joined {
            outputs.insert(name, o);
        }
    }
    plan.checks
        .iter()
        .map(|check| {
            let env = plan
                .stage_index(&check.from_stage)
                .map(|i| plan.stages[i].env.clone())
                .ok_or_else(|| format!("the stage file has no stage {}", check.from_stage))?;
            resolve_check(check, env, &outputs)
        })
        .collect()
}

fn resolve_check(
    check: &CheckPlan,
    env: Environment,
    outputs: &StageOutputs,
) -> Result<Resolved, String> {
    let instance = output_value(outputs, &check.from_stage, &check.from_output)?;
    if !instance.starts_with("i-") {
        return Err(format!(
            "from: {}.{} is {instance:?}, not an EC2 instance id (i-…)",
            check.from_stage, check.from_output
        ));
    }
    let ip = match &check.to {
        Target::Ip(ip) => *ip,
        Target::Output { stage, output } => {
            let value = output_value(outputs, stage, output)?;
            value
                .trim()
                .parse()
                .map_err(|_| format!("to: {stage}.{output} is {value:?}, not an IPv4 address"))?
        }
    };
    Ok(Resolved {
        instance: instance.to_string(),
        ip,
        env,
    })
}

fn output_value<'a>(
    outputs: &'a StageOutputs,
    stage: &str,
    output: &str,
) -> Result<&'a str, String> {
    match outputs.get(stage) {
        Some(Ok(values)) => values.get(output).map(String::as_str).ok_or_else(|| {
            let known: Vec<&str> = values.keys().map(String::as_str).collect();
            format!(
                "stage {stage} has no output {output} (it has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        }),
        Some(Err(e)) => Err(e.clone()),
        None => Err(format!("the outputs of stage {stage} could not be read")),
    }
}

struct StaticView {
    reachable: Option<bool>,
    reason: String,
}

/// The headline of each failure, without the indented fix lines (printed once, as a warning).
fn first_lines(error: &str) -> String {
    error
        .lines()
        .filter(|l| !l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("; ")
}

fn static_view(topology: &Result<Topology, String>, r: &Resolved) -> StaticView {
    match topology {
        Ok(topo) => {
            let v = reachability::analyze(topo, &r.instance, r.ip);
            StaticView {
                reachable: Some(v.reachable),
                reason: v.reason,
            }
        }
        Err(e) => StaticView {
            reachable: None,
            reason: format!("unknown ({})", first_lines(e)),
        },
    }
}

async fn live_check(ctx: &Context, check: &CheckPlan, r: &Resolved) -> LiveResult {
    let started = Instant::now();
    let cfg = match ctx
        .aws
        .role(
            &ctx.plan.roles_in(&r.env).deploy,
            &r.env,
            &ctx.plan.qualifier,
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
        &ctx.aws.ssm(&cfg),
        &PingRequest {
            check: &check.name,
            instance: &r.instance,
            ip: &ip,
            count: check.count,
            timeout_seconds: check.timeout_seconds,
        },
    )
    .await
}

fn verdict_word(reachable: Option<bool>) -> &'static str {
    match reachable {
        Some(true) => "reachable",
        Some(false) => "unreachable",
        None => "unknown",
    }
}

/// Everything that makes a check fail; empty when it passes. The live verdict decides against
/// the expectation, and the static verdict must agree with it: a disagreement means the model
/// of the network or the network itself is not what it seems. An unknown static verdict (the
/// network could not be read) does not fail a check whose ping answered as expected.
fn problems(
    expect: Expectation,
    static_only: bool,
    static_reachable: Option<bool>,
    static_reason: &str,
    live: Option<&LiveOutcome>,
) -> Vec<String> {
    let expected = expect == Expectation::Reachable;
    let want = verdict_word(Some(expected));
    let mut problems = Vec::new();
    if static_only {
        match static_reachable {
            Some(s) if s == expected => {}
            Some(s) => problems.push(format!(
                "expected {want}, static analysis says {}: {static_reason}",
                verdict_word(Some(s))
            )),
            None => problems.push(format!(
                "expected {want}, static analysis could not decide: {static_reason}"
            )),
        }
        return problems;
    }
    let Some(live) = live else {
        problems.push("the live check did not run".into());
        return problems;
    };
    match (live.reachable(), static_reachable) {
        (Some(l), _) if l == expected => {}
        (Some(_), Some(s)) if s != expected => problems.push(format!(
            "expected {want}, but {}; static analysis agrees: {static_reason}",
            live.reason()
        )),
        (Some(_), _) => problems.push(format!("expected {want}, but {}", live.reason())),
        (None, _) => problems.push(format!("live check inconclusive: {}", live.reason())),
    }
    if let (Some(l), Some(s)) = (live.reachable(), static_reachable)
        && l != s
    {
        problems.push(format!(
            "static analysis and ping disagree: static analysis says {} ({static_reason}), ping says {}",
            verdict_word(Some(s)),
            verdict_word(Some(l))
        ));
    }
    problems
}

fn build(
    check: &CheckPlan,
    resolved: &Result<Resolved, String>,
    stat: Option<&StaticView>,
    live: Option<&LiveResult>,
    static_only: bool,
) -> CheckResult {
    let mut result = CheckResult {
        name: check.name.clone(),
        from: format!("{}.{}", check.from_stage, check.from_output),
        to: match &check.to {
            Target::Ip(ip) => ip.to_string(),
            Target::Output { stage, output } => format!("{stage}.{output}"),
        },
        account: String::new(),
        region: String::new(),
        from_instance: String::new(),
        to_ip: String::new(),
        expect: check.expect,
        static_verdict: "unknown".into(),
        static_reachable: None,
        static_reason: String::new(),
        live_verdict: if static_only { "skipped" } else { "not run" }.into(),
        live_reachable: None,
        live_outcome: if static_only { "skipped" } else { "not_run" }.into(),
        live_reason: String::new(),
        ping_summary: String::new(),
        ping: None,
        command_id: None,
        live_seconds: None,
        ok: false,
        problem: None,
    };
    let r = match resolved {
        Ok(r) => r,
        Err(e) => {
            result.static_reason = "not analysed: the check could not be resolved".into();
            result.problem = Some(e.clone());
            return result;
        }
    };
    result.account = r.env.account.to_string();
    result.region = r.env.region.to_string();
    result.from_instance = r.instance.clone();
    result.to_ip = r.ip.to_string();
    if let Some(s) = stat {
        result.static_reachable = s.reachable;
        result.static_verdict = verdict_word(s.reachable).into();
        result.static_reason = s.reason.clone();
    }
    if let Some(l) = live {
        result.live_reachable = l.outcome.reachable();
        result.live_verdict = verdict_word(l.outcome.reachable()).into();
        result.live_outcome = l.outcome.kind().into();
        result.live_reason = l.outcome.reason();
        result.command_id = l.command_id.clone();
        result.live_seconds = Some(l.seconds);
        if let LiveOutcome::Replied(summary) = &l.outcome {
            result.ping_summary = live::summary_text(summary);
            result.ping = Some(summary.clone());
        }
    }
    let found = problems(
        check.expect,
        static_only,
        result.static_reachable,
        &result.static_reason,
        live.map(|l| &l.outcome),
    );
    result.ok = found.is_empty();
    result.problem = (!found.is_empty()).then(|| found.join("; "));
    result
}

fn report_line(ctx: &Context, c: &CheckResult) {
    let live = if c.ping_summary.is_empty() {
        c.live_verdict.clone()
    } else {
        format!("{} ({})", c.live_verdict, c.ping_summary)
    };
    match &c.problem {
        None => ctx.reporter.info(&format!(
            "verify {}: ok — expected {}, static {}, live {live}",
            c.name,
            verdict_word(Some(c.expect == Expectation::Reachable)),
            c.static_verdict
        )),
        Some(p) => ctx
            .reporter
            .error(&format!("verify {}: FAIL — {p}", c.name), None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(to: Target, expect: Expectation) -> CheckPlan {
        CheckPlan {
            name: "B → C".into(),
            from_stage: "VpcA".into(),
            from_output: "InstanceBId".into(),
            to,
            expect,
            count: 3,
            timeout_seconds: 2,
        }
    }

    fn env() -> Environment {
        Environment::new("111111111111", "ap-northeast-1").unwrap()
    }

    fn outputs(pairs: &[(&str, &[(&str, &str)])]) -> StageOutputs {
        pairs
            .iter()
            .map(|(stage, values)| {
                (
                    stage.to_string(),
                    Ok(values
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()),
                )
            })
            .collect()
    }

    fn to_c() -> Target {
        Target::Output {
            stage: "VpcC".into(),
            output: "InstanceCPrivateIp".into(),
        }
    }

    fn replied(received: u32) -> LiveOutcome {
        LiveOutcome::Replied(PingSummary {
            transmitted: 3,
            received,
            loss_percent: if received == 0 { 100.0 } else { 0.0 },
            rtt_avg_ms: None,
        })
    }

    #[test]
    fn checks_resolve_through_stage_outputs() {
        let o = outputs(&[
            ("VpcA", &[("InstanceBId", "i-0b")]),
            ("VpcC", &[("InstanceCPrivateIp", "10.2.1.10")]),
        ]);
        let r = resolve_check(&check(to_c(), Expectation::Reachable), env(), &o).unwrap();
        assert_eq!(r.instance, "i-0b");
        assert_eq!(r.ip, Ipv4Addr::new(10, 2, 1, 10));
        assert_eq!(r.env, env());
    }

    #[test]
    fn a_target_that_is_not_an_address_is_a_clear_problem() {
        let o = outputs(&[
            ("VpcA", &[("InstanceBId", "i-0b")]),
            (
                "VpcC",
                &[("InstanceCPrivateIp", "ip-10-2-1-10.ec2.internal")],
            ),
        ]);
        let e = resolve_check(&check(to_c(), Expectation::Reachable), env(), &o).unwrap_err();
        assert_eq!(
            e,
            "to: VpcC.InstanceCPrivateIp is \"ip-10-2-1-10.ec2.internal\", not an IPv4 address"
        );
    }

    #[test]
    fn a_missing_output_names_the_outputs_that_exist() {
        let o = outputs(&[("VpcA", &[("InstanceAId", "i-0a")])]);
        let e = resolve_check(
            &check(
                Target::Ip(Ipv4Addr::new(10, 0, 1, 10)),
                Expectation::Reachable,
            ),
            env(),
            &o,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "stage VpcA has no output InstanceBId (it has: InstanceAId)"
        );
    }

    #[test]
    fn a_source_that_is_not_an_instance_is_refused() {
        let o = outputs(&[("VpcA", &[("InstanceBId", "vpc-0b")])]);
        let e = resolve_check(
            &check(
                Target::Ip(Ipv4Addr::new(10, 0, 1, 10)),
                Expectation::Reachable,
            ),
            env(),
            &o,
        )
        .unwrap_err();
        assert!(e.contains("not an EC2 instance id"), "{e}");
    }

    #[test]
    fn an_unreadable_stage_carries_its_own_error() {
        let mut o = StageOutputs::new();
        o.insert("VpcA".into(), Err("stage VpcA is not deployed".into()));
        let e = resolve_check(&check(to_c(), Expectation::Reachable), env(), &o).unwrap_err();
        assert_eq!(e, "stage VpcA is not deployed");
    }

    #[test]
    fn agreeing_verdicts_that_match_the_expectation_pass() {
        let p = problems(
            Expectation::Unreachable,
            false,
            Some(false),
            "transitive peering via vpc-b is not routed by AWS",
            Some(&replied(0)),
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn an_unmet_expectation_carries_both_explanations() {
        let p = problems(
            Expectation::Reachable,
            false,
            Some(false),
            "return path: no route to 10.1.1.10 in rtb-c",
            Some(&replied(0)),
        );
        assert_eq!(
            p,
            vec![
                "expected reachable, but ping got no reply (0/3 received, 100% loss); static analysis agrees: return path: no route to 10.1.1.10 in rtb-c"
            ]
        );
    }

    #[test]
    fn a_disagreement_fails_even_when_the_ping_matches() {
        let p = problems(
            Expectation::Reachable,
            false,
            Some(false),
            "no route to 10.2.1.10 in rtb-b",
            Some(&replied(3)),
        );
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("static analysis and ping disagree: static analysis says unreachable"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn an_inconclusive_ping_fails_whatever_was_expected() {
        let undelivered = LiveOutcome::Undeliverable(
            "instance i-0c is not managed by SSM or its agent is offline".into(),
        );
        let p = problems(
            Expectation::Unreachable,
            false,
            Some(false),
            "no route",
            Some(&undelivered),
        );
        assert_eq!(
            p,
            vec![
                "live check inconclusive: instance i-0c is not managed by SSM or its agent is offline"
            ]
        );
    }

    #[test]
    fn an_unknown_static_verdict_alone_does_not_fail_a_matching_ping() {
        let p = problems(
            Expectation::Reachable,
            false,
            None,
            "unknown (cannot read the EC2 network state)",
            Some(&replied(3)),
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn static_only_decides_on_the_static_verdict() {
        assert!(problems(Expectation::Reachable, true, Some(true), "route", None).is_empty());
        let p = problems(Expectation::Reachable, true, None, "unknown (denied)", None);
        assert_eq!(
            p,
            vec!["expected reachable, static analysis could not decide: unknown (denied)"]
        );
    }

    #[test]
    fn results_serialise_with_their_expectation_and_the_table_explains_failures() {
        let c = check(to_c(), Expectation::Reachable);
        let resolved = Ok(Resolved {
            instance: "i-0b".into(),
            ip: Ipv4Addr::new(10, 2, 1, 10),
            env: env(),
        });
        let stat = StaticView {
            reachable: Some(false),
            reason: "return path: no route to 10.1.1.10 in rtb-c".into(),
        };
        let live = LiveResult {
            outcome: replied(0),
            command_id: Some("cmd-1".into()),
            seconds: 0.2,
        };
        let result = build(&c, &resolved, Some(&stat), Some(&live), false);
        assert!(!result.ok);
        assert_eq!(result.ping_summary, "0/3 received, 100% loss");
        let report = VerifyReport {
            static_only: false,
            interrupted: false,
            duration_seconds: 0.3,
            checks: vec![result],
        };
        let json = serde_json::to_value(&report).unwrap();
        let c = &json["checks"][0];
        assert_eq!(c["expect"], "reachable");
        assert_eq!(c["static_verdict"], "unreachable");
        assert_eq!(c["live_verdict"], "unreachable");
        assert_eq!(c["live_outcome"], "unreachable");
        assert_eq!(c["ok"], false);
        let table = report.table();
        assert!(table.lines().nth(1).unwrap().ends_with("FAIL"), "{table}");
        assert!(
            table.contains("B → C: FAIL — expected reachable, but ping got no reply"),
            "{table}"
        );
    }
}
