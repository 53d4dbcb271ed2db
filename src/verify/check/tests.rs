use std::net::Ipv4Addr;

use super::*;
use crate::model::env::Environment;

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

fn failed_b_to_c() -> CheckResult {
    let resolved = Ok(Resolved {
        instance: "i-0b".into(),
        ip: Ipv4Addr::new(10, 2, 1, 10),
        env: Environment::new("111111111111", "ap-northeast-1").unwrap(),
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
    let c = check(to_c(), Expectation::Reachable);
    build(&c, &resolved, Some(&stat), Some(&live), false)
}

fn report(checks: Vec<CheckResult>) -> VerifyReport {
    VerifyReport {
        static_only: false,
        interrupted: false,
        duration_seconds: 0.3,
        checks,
    }
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
fn an_unresolved_check_fails_with_its_reason_and_is_not_analysed() {
    let c = check(to_c(), Expectation::Reachable);
    let result = build(&c, &Err(Unresolved::Interrupted), None, None, true);
    assert!(!result.ok);
    assert_eq!(
        result.problem.as_deref(),
        Some("interrupted (Ctrl-C) before the check's stage outputs were read")
    );
    assert_eq!(
        result.static_reason,
        "not analysed: the check could not be resolved"
    );
    assert_eq!(result.live_verdict, "skipped");
    assert_eq!(result.to, "VpcC.InstanceCPrivateIp");
}

#[test]
fn results_serialise_with_their_expectation_and_the_table_explains_failures() {
    let result = failed_b_to_c();
    assert!(!result.ok);
    assert_eq!(result.ping_summary, "0/3 received, 100% loss");
    let report = report(vec![result]);
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

/// The report has always listed its keys in alphabetical order; the structs keep it.
#[test]
fn report_keys_are_in_alphabetical_order() {
    let empty = serde_json::to_string(&report(Vec::new())).unwrap();
    assert_eq!(
        empty,
        r#"{"checks":[],"duration_seconds":0.3,"interrupted":false,"static_only":false}"#
    );
    let result = failed_b_to_c();
    let ping = serde_json::to_string(&result.ping).unwrap();
    assert_eq!(
        ping,
        r#"{"loss_percent":100.0,"received":0,"rtt_avg_ms":null,"transmitted":3}"#
    );
    let text = serde_json::to_string(&result).unwrap();
    let value = serde_json::to_value(&result).unwrap();
    // `Value` sorts its keys: their places in the text must grow in that order.
    let places: Vec<usize> = value
        .as_object()
        .unwrap()
        .keys()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(places.is_sorted(), "{text}");
}
