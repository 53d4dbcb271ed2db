use super::*;
use crate::model::plan::Expectation;
use crate::run::outcome::StageState;
use crate::verify::CheckResult;

pub(super) fn stage(name: &str, account: &str, outputs: &[(&str, &str)]) -> StageReport {
    StageReport {
        stage: name.into(),
        account: account.into(),
        region: "ap-northeast-1".into(),
        stack: name.into(),
        status: StageState::Deployed,
        stack_status: Some("CREATE_COMPLETE".into()),
        changes: 2,
        change_set_executed: true,
        change_list: Vec::new(),
        outputs: outputs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        secret_outputs: Default::default(),
        duration_seconds: 1.25,
        error: None,
        assets: None,
        exit_code: 0,
        diff: None,
    }
}

/// A pinged check whose static and live verdicts are both `verdict`.
pub(super) fn check(name: &str, expect: Expectation, verdict: &str, ok: bool) -> CheckResult {
    CheckResult {
        account: "111111111111".into(),
        command_id: Some("cmd-1".into()),
        expect,
        from: "VpcA.InstanceAId".into(),
        from_instance: "i-0a".into(),
        live_outcome: verdict.into(),
        live_reachable: Some(verdict == "reachable"),
        live_reason: String::new(),
        live_seconds: Some(0.1),
        live_verdict: verdict.into(),
        name: name.into(),
        ok,
        ping: None,
        ping_summary: "3/3".into(),
        problem: (!ok).then(|| format!("expected {expect:?}")),
        region: "ap-northeast-1".into(),
        static_reachable: Some(verdict == "reachable"),
        static_reason: "route".into(),
        static_verdict: verdict.into(),
        to: "10.0.0.10".into(),
        to_ip: "10.0.0.10".into(),
    }
}

fn verification(checks: Vec<CheckResult>, interrupted: bool) -> VerifyReport {
    VerifyReport {
        checks,
        duration_seconds: 1.0,
        interrupted,
        static_only: false,
    }
}

fn failed(mut s: StageReport, state: StageState, exit_code: i32) -> StageReport {
    s.status = state;
    s.exit_code = exit_code;
    s
}

#[test]
fn a_run_succeeds_only_when_every_stage_and_check_does() {
    let ok_check = check("A → B", Expectation::Reachable, "reachable", true);
    let run = RunReport::new(
        "deploy",
        vec![stage("A", "1", &[])],
        false,
        Some(verification(vec![ok_check.clone()], false)),
        1.0,
    );
    assert!(run.ok);
    assert_eq!(run.exit_code(), 0);

    let bad_check = check("A → C", Expectation::Unreachable, "reachable", false);
    let run = RunReport::new(
        "verify",
        Vec::new(),
        false,
        Some(verification(vec![ok_check, bad_check], false)),
        1.0,
    );
    assert!(!run.ok);
    assert_eq!(run.exit_code(), 4);
}

#[test]
fn the_exit_code_is_interrupted_then_the_failed_stage_then_the_verification() {
    let bad_check = || check("A → C", Expectation::Unreachable, "reachable", false);
    let credentials = failed(stage("B", "2", &[]), StageState::Failed, 5);
    let run = |stages: Vec<StageReport>, interrupted, verify_interrupted| {
        RunReport::new(
            "deploy",
            stages,
            interrupted,
            Some(verification(vec![bad_check()], verify_interrupted)),
            1.0,
        )
    };
    assert_eq!(run(vec![credentials.clone()], true, false).exit_code(), 130);
    assert_eq!(run(Vec::new(), false, true).exit_code(), 130);
    assert_eq!(run(vec![credentials], false, false).exit_code(), 5);
    let skipped = failed(stage("C", "2", &[]), StageState::Skipped, 0);
    assert_eq!(run(vec![skipped], false, false).exit_code(), 3);
    assert!(!run(Vec::new(), true, false).ok);
}

#[test]
fn the_summary_line_notes_a_deploy_without_changes() {
    let mut unchanged = stage("A", "1", &[]);
    unchanged.changes = 0;
    unchanged.change_set_executed = false;
    unchanged.status = StageState::NoChanges;
    let run = RunReport::new("deploy", vec![unchanged.clone()], false, None, 1.25);
    assert_eq!(run.summary_line(), "deploy succeeded in 1.2s — no changes");
    let run = RunReport::new("diff", vec![unchanged], false, None, 2.0);
    assert_eq!(run.summary_line(), "diff succeeded in 2.0s");
    let run = RunReport::new("deploy", vec![stage("A", "1", &[])], true, None, 2.0);
    assert_eq!(run.summary_line(), "deploy FAILED in 2.0s");
}

#[test]
fn a_failure_report_keeps_its_keys_in_alphabetical_order() {
    let doc = FailureReport {
        command: "deploy",
        duration_seconds: 0.5,
        error: "no stage file",
        exit_code: 2,
        ok: false,
        stages: [],
    };
    assert_eq!(
        serde_json::to_string_pretty(&doc).unwrap(),
        "{\n  \"command\": \"deploy\",\n  \"duration_seconds\": 0.5,\n  \"error\": \"no stage file\",\n  \"exit_code\": 2,\n  \"ok\": false,\n  \"stages\": []\n}"
    );
}

#[test]
fn declared_secret_outputs_are_redacted_from_the_result_json() {
    let mut s = stage(
        "Db",
        "111111111111",
        &[("DatabaseUrl", "postgres://u:pw@h"), ("VpcId", "vpc-1")],
    );
    s.secret_outputs.insert("DatabaseUrl".into());
    let report = RunReport::new("deploy", vec![s], false, None, 1.0);
    let json = report.to_json();
    assert!(!json.contains("pw@h"), "{json}");
    assert!(
        json.contains("\"DatabaseUrl\": \"***\"") && json.contains("vpc-1"),
        "{json}"
    );
    // The report itself keeps the value (GITHUB_OUTPUT may ask for it).
    assert_eq!(report.stages[0].outputs["DatabaseUrl"], "postgres://u:pw@h");
}
