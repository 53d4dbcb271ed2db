//! Before the first stage: an interrupt during the identity check ends the run like any later
//! one; the profile's own endpoint URL (`endpoint_url`, `services`) counts as a custom endpoint
//! for the region warning and is named when unreachable; a profile that assumes a role for the
//! base credentials (`role_arn`, `source_profile`) is named when that AssumeRole fails.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::faults::{Running, deploy_all};

/// The emulator's CI identity (its keys in the emulator's credentials file) with the shared
/// config file `config` instead of the emulator's, and no AWS_ENDPOINT_URL: every endpoint comes
/// from that file.
fn profile_env(s: &Scratch, config: &str, profile: &str) -> Vec<(String, String)> {
    let config = s.write("config", config);
    let mut env = env_for("http://unused.invalid", profile);
    env.retain(|(k, _)| k != "AWS_CONFIG_FILE" && k != "AWS_ENDPOINT_URL");
    env.push(("AWS_CONFIG_FILE".into(), config.display().to_string()));
    env
}

/// A port nothing listens on: connections to it are refused.
fn refused_endpoint() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// The first connection pipeline-run opens to `listener`, while it runs.
fn first_connection(listener: &TcpListener, run: &mut Running) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let mut stream = None;
    run.wait_until("connecting to the endpoint", 60, || {
        match listener.accept() {
            Ok((s, _)) => stream = Some(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        stream.is_some()
    });
    stream.unwrap()
}

#[test]
fn sigterm_during_the_identity_check_exits_130_with_a_result_file_naming_that_nothing_started() {
    // Connections complete (the kernel's backlog) but nothing ever answers: the identity check
    // waits for its answer until the signal.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let s = Scratch::new("sigterm-identity");
    let (result, summary, output) = (
        s.path("result.json"),
        s.path("summary.md"),
        s.path("github-output"),
    );
    let mut run = Running::start(
        &deploy_all(&[]),
        &env_for(&endpoint, "ci"),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("PIPELINE_RUN_RESULT_FILE", &result),
            ("GITHUB_STEP_SUMMARY", &summary),
            ("GITHUB_OUTPUT", &output),
        ],
    );
    // The identity check has begun once its request connects.
    let _request = first_connection(&listener, &mut run);
    let signalled = Instant::now();
    run.signal("-TERM");
    let (r, _) = run.finish();
    let after_signal = signalled.elapsed();
    assert_eq!(r.code, 130, "{}", r.stderr);
    let message =
        "interrupted (SIGTERM) while checking the AWS credentials, before anything was started";
    assert!(r.stderr.contains(message), "{}", r.stderr);
    // Ended by the signal, not by the identity check's own timeout (7 s).
    assert!(!r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert!(after_signal < Duration::from_secs(5), "{after_signal:?}");

    // The result file is complete: the failure document of a run that started no stage.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).expect("no result file"))
            .expect("the result file is not JSON");
    assert_eq!(json["command"], "deploy");
    assert_eq!(json["ok"], false);
    assert_eq!(json["exit_code"], 130);
    assert_eq!(json["error"], message);
    assert_eq!(json["stages"], serde_json::json!([]));
    // The step summary and the step outputs are written.
    let summary = std::fs::read_to_string(&summary).expect("no step summary");
    assert!(
        summary.contains("exit code 130") && summary.contains(message),
        "{summary}"
    );
    let output = std::fs::read_to_string(&output).expect("no step outputs");
    assert!(
        output.lines().any(|l| l == "ok=false")
            && output.lines().any(|l| l == format!("result-json={result}")),
        "{output}"
    );
}

/// With the endpoint only in the profile (`endpoint_url`, or the `services` section), an unknown
/// region is allowed as with AWS_ENDPOINT_URL, and the warning names the endpoint.
#[test]
fn an_endpoint_url_of_the_profile_allows_an_unknown_region() {
    let file = "tests/corpus/_accepted/region-unknown/pipeline.yml";
    let s = Scratch::new("region-profile-endpoint");
    let configs = [
        "[profile ci]\nregion = ap-northeast-1\nendpoint_url = http://127.0.0.1:4566\n",
        "[profile ci]\nregion = ap-northeast-1\nservices = local\n\n[services local]\ncloudformation =\n  endpoint_url = http://127.0.0.1:4566\n",
    ];
    for config in configs {
        let r = run_binary(&["list", "-f", file], &profile_env(&s, config, "ci"), &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains("warning: region 'ap-nowhere-9' (stage Net) is not a known AWS region; allowed because a custom endpoint is used (http://127.0.0.1:4566)"),
            "{config}\n{}",
            r.stderr
        );
        assert!(!r.stderr.contains("did you mean"), "{}", r.stderr);
    }
    // Without one, the same profile gets the closest names.
    let config = "[profile ci]\nregion = ap-northeast-1\n";
    let r = run_binary(&["list", "-f", file], &profile_env(&s, config, "ci"), &[]);
    assert!(r.stderr.contains("did you mean"), "{}", r.stderr);
}

/// The endpoint of the profile is the one named when it does not answer (not AWS's regional
/// one), whether set for every service or for STS in a `services` section.
#[test]
fn an_unreachable_endpoint_url_of_the_profile_is_named() {
    let s = Scratch::new("unreachable-profile-endpoint");
    let (global, sts) = (refused_endpoint(), refused_endpoint());
    let configs = [
        (
            format!("[profile ci]\nregion = ap-northeast-1\nendpoint_url = {global}\n"),
            &global,
        ),
        (
            format!(
                "[profile ci]\nregion = ap-northeast-1\nservices = local\n\n[services local]\nsts =\n  endpoint_url = {sts}\n"
            ),
            &sts,
        ),
    ];
    for (config, endpoint) in &configs {
        let started = Instant::now();
        let r = run_binary(&deploy_all(&[]), &profile_env(&s, config, "ci"), &[]);
        let took = started.elapsed();
        assert_eq!(r.code, 6, "{}", r.stderr);
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(
            r.stderr
                .contains(&format!("cannot reach {endpoint}: connection refused")),
            "{config}\n{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("fix: check AWS_ENDPOINT_URL")
                && r.stderr
                    .contains("the profile's endpoint_url or services section"),
            "{}",
            r.stderr
        );
    }
}

/// A profile whose credentials come from AssumeRole (`role_arn` + `source_profile`), at an
/// endpoint that refuses: the error says that role was being assumed, for which profile.
#[test]
fn an_unreachable_assume_role_of_the_profile_names_the_role_and_profile() {
    let s = Scratch::new("unreachable-role-named");
    let endpoint = refused_endpoint();
    let config = format!(
        "[profile ci]\nregion = ap-northeast-1\n[profile via-role]\nregion = ap-northeast-1\nrole_arn = arn:aws:iam::111111111111:role/ci-deployer\nsource_profile = ci\nendpoint_url = {endpoint}\n"
    );
    let started = Instant::now();
    let r = run_binary(&deploy_all(&[]), &profile_env(&s, &config, "via-role"), &[]);
    let took = started.elapsed();
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        r.stderr.contains(&format!("cannot reach {endpoint}: ")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(", while assuming role arn:aws:iam::111111111111:role/ci-deployer (role_arn of profile via-role, with the credentials of its source_profile ci) to get the AWS credentials"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("provide credentials"), "{}", r.stderr);
}

/// The profile's AssumeRole refused by STS (the role does not trust the source identity): the
/// error names the role, the profile and its source, and says how to make the role trust it.
#[test]
fn a_refused_assume_role_of_the_profile_names_the_role_and_the_fix() {
    let aws = aws();
    let s = Scratch::new("refused-role-profile");
    let config = "[profile ci]\nregion = ap-northeast-1\n[profile via-role]\nregion = ap-northeast-1\nrole_arn = arn:aws:iam::222222222222:role/not-trusting-ci\nsource_profile = ci\n";
    let mut env = profile_env(&s, config, "via-role");
    env.push(("AWS_ENDPOINT_URL".into(), aws.endpoint.clone()));
    let r = run_binary(&deploy_all(&[]), &env, &[]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot get the AWS credentials: assuming role arn:aws:iam::222222222222:role/not-trusting-ci (role_arn of profile via-role, with the credentials of its source_profile ci) failed: AccessDenied: "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("fix: let the identity of source_profile ci assume arn:aws:iam::222222222222:role/not-trusting-ci: the role's trust policy must allow it"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("provide credentials"), "{}", r.stderr);
}
