//! The result of each check: its static and live verdicts, what makes it fail, and the report
//! of all checks (JSON for machines, a table for people).

use serde::Serialize;

use crate::model::plan::{CheckPlan, Expectation, Target};
use crate::progress::Reporter;

use super::collect::NetworkError;
use super::live::{self, LiveOutcome, LiveResult};
use super::ping::PingSummary;
use super::reachability::{self, Topology};
use super::resolve::{Resolved, Unresolved};

/// One check as the report shows it. Fields are in alphabetical order, the order of the keys in
/// the JSON report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckResult {
    /// Account and region of the source stage, whose deploy role runs the ping.
    pub(crate) account: String,
    pub(crate) command_id: Option<String>,
    pub(crate) expect: Expectation,
    /// The stage output naming the source instance, as written in the stage file.
    pub(crate) from: String,
    pub(crate) from_instance: String,
    /// How the live check ended: reachable, unreachable, no_summary, undeliverable, timed_out,
    /// not_bootstrapped (no ping document), refused (instance without the verification tag),
    /// error, skipped or not_run.
    pub(crate) live_outcome: String,
    pub(crate) live_reachable: Option<bool>,
    pub(crate) live_reason: String,
    pub(crate) live_seconds: Option<f64>,
    /// "reachable", "unreachable", "unknown", "skipped" (--static-only) or "not run".
    pub(crate) live_verdict: String,
    pub(crate) name: String,
    pub(crate) ok: bool,
    pub(crate) ping: Option<PingSummary>,
    /// "3/3 received, 0% loss", or empty when ping printed no statistics.
    pub(crate) ping_summary: String,
    /// Why the check failed; `None` when it passed.
    pub(crate) problem: Option<String>,
    pub(crate) region: String,
    pub(crate) static_reachable: Option<bool>,
    /// One line: the path that carries the echo, or the first thing that stops it.
    pub(crate) static_reason: String,
    /// "reachable", "unreachable" or "unknown".
    pub(crate) static_verdict: String,
    /// The target as written in the stage file: an address or a stage output.
    pub(crate) to: String,
    pub(crate) to_ip: String,
}

/// Every check of one verification. Fields in alphabetical order, as in `CheckResult`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VerifyReport {
    pub(crate) checks: Vec<CheckResult>,
    pub(crate) duration_seconds: f64,
    /// Ctrl-C stopped the verification; unfinished checks failed as interrupted.
    pub(crate) interrupted: bool,
    pub(crate) static_only: bool,
}

impl CheckResult {
    /// "reachable" or "unreachable", as the report words verdicts.
    pub(crate) fn expected(&self) -> &'static str {
        verdict_word(Some(self.expect == Expectation::Reachable))
    }
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
                    c.expected().to_string(),
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

/// The static verdict of one resolved check.
pub(crate) struct StaticView {
    pub(crate) reachable: Option<bool>,
    pub(crate) reason: String,
}

/// The verdict from the topology; without one, "unknown" and the headline of why the network
/// could not be read (its fixes are printed once, as a warning).
pub(crate) fn static_view(topology: &Result<Topology, NetworkError>, r: &Resolved) -> StaticView {
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
            reason: format!("unknown ({})", e.summary()),
        },
    }
}

pub(crate) fn verdict_word(reachable: Option<bool>) -> &'static str {
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

/// A check as nothing has decided it yet: the plan's view of it, no verdicts.
fn unresolved(check: &CheckPlan, static_only: bool) -> CheckResult {
    CheckResult {
        account: String::new(),
        command_id: None,
        expect: check.expect,
        from: format!("{}.{}", check.from_stage, check.from_output),
        from_instance: String::new(),
        live_outcome: if static_only { "skipped" } else { "not_run" }.into(),
        live_reachable: None,
        live_reason: String::new(),
        live_seconds: None,
        live_verdict: if static_only { "skipped" } else { "not run" }.into(),
        name: check.name.clone(),
        ok: false,
        ping: None,
        ping_summary: String::new(),
        problem: None,
        region: String::new(),
        static_reachable: None,
        static_reason: String::new(),
        static_verdict: "unknown".into(),
        to: match &check.to {
            Target::Ip(ip) => ip.to_string(),
            Target::Output { stage, output } => format!("{stage}.{output}"),
        },
        to_ip: String::new(),
    }
}

/// The result of one check from whatever was learnt about it.
pub(crate) fn build(
    check: &CheckPlan,
    resolved: &Result<Resolved, Unresolved>,
    stat: Option<&StaticView>,
    live: Option<&LiveResult>,
    static_only: bool,
) -> CheckResult {
    let mut result = unresolved(check, static_only);
    let r = match resolved {
        Ok(r) => r,
        Err(e) => {
            result.static_reason = "not analysed: the check could not be resolved".into();
            result.problem = Some(e.to_string());
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

/// The log line for a check as soon as it is decided.
pub(crate) fn report_line(reporter: &Reporter, c: &CheckResult) {
    let live = if c.ping_summary.is_empty() {
        c.live_verdict.clone()
    } else {
        format!("{} ({})", c.live_verdict, c.ping_summary)
    };
    match &c.problem {
        None => reporter.info(&format!(
            "verify {}: ok — expected {}, static {}, live {live}",
            c.name,
            c.expected(),
            c.static_verdict
        )),
        Some(p) => reporter.error(&format!("verify {}: FAIL — {p}", c.name), None, None),
    }
}

#[cfg(test)]
mod tests;
