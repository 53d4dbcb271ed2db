//! No credential ever leaves pipeline-run: the whole reference pipeline (bootstrap, deploy, verify)
//! and two failing runs, with `--output json`, `-v` and the GitHub Actions mode, and everything
//! they print or write is scanned for the access keys and secret keys in use and for every
//! assumed-role session the emulator issued during the runs (key id, secret and token).

use std::collections::BTreeSet;

use crate::common::*;

const SEEDED: [&str; 4] = [
    "AKIAPIPELINECI111111",
    "pipelineRunCiSecretAccessKey000000000001",
    "AKIAPIPELINEADMIN222",
    "pipelineRunAdminSecretAccessKey000000002",
];

/// Markers of signed requests or credential files: none belongs in a log.
const MARKERS: [&str; 8] = [
    "aws_session_token",
    "aws_secret_access_key",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-credential",
    "aws4-hmac-sha256",
    "credential=",
    "signature=",
];

/// An AWS access key id (AKIA… long-term, ASIA… temporary): 4 letters and 16 of [A-Z2-7].
fn key_ids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    for i in 0..b.len().saturating_sub(19) {
        let prefix = &b[i..i + 4];
        if (prefix == b"AKIA" || prefix == b"ASIA")
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric())
        {
            found.push(text[i..i + 20].to_string());
        }
    }
    found
}

/// What leaked from `secrets` into `text` (named by `source`), and the markers found.
fn leaks(source: &str, text: &str, secrets: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for s in secrets {
        if text.contains(s.as_str()) {
            out.push(format!("{source}: contains {}…", &s[..8]));
        }
    }
    let lower = text.to_ascii_lowercase();
    for m in MARKERS {
        if lower.contains(m) {
            out.push(format!("{source}: contains {m:?}"));
        }
    }
    for id in key_ids(text) {
        out.push(format!("{source}: contains an access key id {}…", &id[..8]));
    }
    out
}

/// Every session the emulator issued since its last reset, from moto's model dump.
fn issued_sessions(endpoint: &str) -> Vec<(String, String, String)> {
    let (status, body) = http(endpoint, "GET", "/moto-api/data.json", "");
    assert_eq!(status, 200, "{body}");
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    data["sts"]["AssumedRole"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .map(|r| {
                    (
                        r["access_key_id"].as_str().unwrap().to_string(),
                        r["secret_access_key"].as_str().unwrap().to_string(),
                        r["session_token"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_scanner_finds_what_it_looks_for() {
    let secrets: BTreeSet<String> =
        ["FQoGZXIvYXdzEBYaDfbHskBNvy3DOnK5h5n9g5Zss1QT1vEIUOkkV".to_string()]
            .into_iter()
            .collect();
    let found = leaks(
        "sample",
        "token FQoGZXIvYXdzEBYaDfbHskBNvy3DOnK5h5n9g5Zss1QT1vEIUOkkV, key ASIARTXV5AHD67DGBP7R, Authorization: AWS4-HMAC-SHA256 Credential=x",
        &secrets,
    );
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        leaks(
            "clean",
            "vpc-0123 ASIAN AKIA123 arn:aws:iam::111111111111:role/x",
            &secrets
        )
        .is_empty()
    );
}

#[test]
fn nothing_printed_or_written_by_a_whole_run_contains_a_credential() {
    let aws = aws();
    let dir = Scratch::new("secrets");
    let github_output = dir.path("github_output");
    let summary = dir.path("step_summary");
    let result = dir.path("result.json");
    let export = dir.path("export.env");
    let github: Vec<(&str, &str)> = vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", &github_output),
        ("GITHUB_STEP_SUMMARY", &summary),
        ("GITHUB_RUN_ID", "4242"),
        ("PIPELINE_RUN_RESULT_FILE", &result),
        // The SDK traces requests (signatures included) at trace level: nothing may print them.
        ("RUST_LOG", "trace"),
    ];
    let file = reference_file();
    let mut printed: Vec<(String, String)> = Vec::new();
    let mut record = |what: &str, r: &Run| {
        printed.push((format!("{what} stdout"), r.stdout.clone()));
        printed.push((format!("{what} stderr"), r.stderr.clone()));
    };

    let boot = bootstrap_run(
        &aws.endpoint,
        &[ACCOUNT_A, ACCOUNT_B],
        &["-v", "--output", "json"],
        &github,
    );
    assert_eq!(boot.code, 0, "{}", boot.stderr);
    record("bootstrap", &boot);
    let deploy = aws.run_as(
        "ci",
        &[
            "deploy",
            "--all",
            "-f",
            &file,
            "-v",
            "--output",
            "json",
            "--export-env",
            &export,
        ],
        &github,
    );
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    assert_eq!(deploy.json()["ok"], true);
    record("deploy", &deploy);
    let verify = aws.run_as(
        "ci",
        &["verify", "-f", &file, "-v", "--output", "json"],
        &github,
    );
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    record("verify", &verify);

    // Failures print more: a stack that rolls back, and a role that cannot be assumed (the
    // credential provider's error, retries exhausted on a throttled AssumeRole).
    dir.write("broken.yml", "Resources:\n  Net:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.9.0.0/16\n  Rt:\n    Type: AWS::EC2::RouteTable\n    Properties:\n      VpcId: !Ref Net\n  Broken:\n    Type: AWS::EC2::Route\n    DependsOn: Rt\n    Properties:\n      RouteTableId: !Ref Rt\n      DestinationCidrBlock: 10.8.0.0/16\n      VpcPeeringConnectionId: pcx-0000000000000dead\n");
    let broken = dir.write(
        "broken-pipeline.yml",
        "version: 1\naccounts:\n  B:\n    id: \"222222222222\"\n    region: ap-northeast-1\nstages:\n  - name: Broken\n    account: B\n    template: broken.yml\n",
    );
    let broken = broken.display().to_string();
    let failed = aws.run_as(
        "ci",
        &["deploy", "--all", "-f", &broken, "-v", "--output", "json"],
        &github,
    );
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    record("failed deploy", &failed);
    control(
        &aws.endpoint,
        "POST",
        "/_emulator/faults",
        r#"{"throttle": {"service": "sts", "action": "AssumeRole", "count": 5}}"#,
    );
    let mut github_one_attempt = github.clone();
    github_one_attempt.push(("AWS_MAX_ATTEMPTS", "1"));
    let denied = aws.run_as(
        "ci",
        &["deploy", "--all", "-f", &broken, "-v", "--output", "json"],
        &github_one_attempt,
    );
    assert_eq!(denied.code, 5, "{}", denied.stderr);
    assert!(denied.stderr.contains("Throttling"), "{}", denied.stderr);
    record("credentials failure", &denied);

    for path in [&github_output, &summary, &result, &export] {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        printed.push((path.to_string(), text));
    }

    // The secrets in use: the seeded keys and every session the runs were issued.
    let sessions = issued_sessions(&aws.endpoint);
    assert!(
        sessions.len() >= 6,
        "the runs assumed too few roles for this test to mean much: {}",
        sessions.len()
    );
    let mut secrets: BTreeSet<String> = SEEDED.iter().map(|s| s.to_string()).collect();
    for (key, secret, token) in &sessions {
        assert!(key.starts_with("ASIA"), "{key}");
        secrets.extend([key.clone(), secret.clone(), token.clone()]);
    }

    // The scan covers real output: the stack outputs and the verification are all there.
    let everything: String = printed.iter().map(|(_, t)| t.as_str()).collect();
    assert!(everything.contains("PeeringConnectionId") && everything.contains("::group::"));
    assert!(everything.contains("VpcCId") && everything.contains("not transitive"));
    let found: Vec<String> = printed
        .iter()
        .flat_map(|(source, text)| leaks(source, text, &secrets))
        .collect();
    assert!(
        found.is_empty(),
        "credentials leaked:\n{}",
        found.join("\n")
    );
    eprintln!(
        "scanned {} bytes from {} streams and files for {} secrets ({} sessions): none found",
        everything.len(),
        printed.len(),
        secrets.len(),
        sessions.len()
    );
}

/// Names whose values are secret in a trace; each occurrence must be followed by a redacted value.
const TRACE_SECRET_NAMES: [&str; 6] = [
    "signature",
    "x-amz-security-token",
    "secret_access_key",
    "secretaccesskey",
    "session_token",
    "sessiontoken",
];

/// Occurrences in `text` of a secret-bearing name (HTTP header, query or form field, XML element,
/// Debug field) followed by a value that is not redacted.
fn unredacted_fields(source: &str, text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for name in TRACE_SECRET_NAMES {
        for (at, _) in lower.match_indices(name) {
            if text[..at].ends_with('/') {
                continue; // an XML closing tag
            }
            let rest = &text[at + name.len()..];
            let value = rest.trim_start_matches(['"', '\\', ':', '=', ' ', '>']);
            let value = value.strip_prefix("Some(").unwrap_or(value);
            let value = value.trim_start_matches(['"', '\\']);
            let separated = rest.len() != value.len();
            if separated && !value.starts_with("**") && !value.starts_with(['<', ',', '}']) {
                let shown: String = rest.chars().take(12).collect();
                out.push(format!("{source}: {name}{shown}…"));
            }
        }
    }
    out
}

#[test]
fn the_trace_scanner_finds_unredacted_fields() {
    let found = unredacted_fields(
        "sample",
        r#"X-Amz-Signature=abc "x-amz-security-token": "IQo" <SessionToken>FQo</SessionToken> secret_access_key: Some("s")"#,
    );
    assert_eq!(found.len(), 4, "{found:?}");
    let clean = unredacted_fields(
        "clean",
        r#""x-amz-security-token": "** redacted (length=3) **", secret_access_key: "** redacted **", <SessionToken>** redacted **</SessionToken> signature.rs SignatureV4"#,
    );
    assert!(clean.is_empty(), "{clean:?}");
}

/// `-vv` in GitHub mode: the SDK's traces of a bootstrap, a deploy (STS and CloudFormation
/// requests and their responses, response bodies included: `LOG_SENSITIVE_BODIES=true` makes the
/// SDK print even AssumeRole's credentials) and a denied AssumeRole are on stderr, one line each, and
/// none holds a secret key, a session token or an unredacted signature; without `-vv`, a
/// `RUST_LOG=trace` environment prints no trace at all.
#[test]
fn sdk_traces_at_vv_are_produced_and_hold_no_credential() {
    let aws = aws();
    let dir = Scratch::new("secrets-trace");
    let github_output = dir.path("github_output");
    let summary = dir.path("step_summary");
    let github: Vec<(&str, &str)> = vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", &github_output),
        ("GITHUB_STEP_SUMMARY", &summary),
        ("GITHUB_RUN_ID", "4242"),
        ("LOG_SENSITIVE_BODIES", "true"),
    ];
    let file = reference_file();
    let boot = bootstrap_run(&aws.endpoint, &[ACCOUNT_A, ACCOUNT_B], &["-vv"], &github);
    assert_eq!(boot.code, 0, "{}", boot.stderr);
    let deploy = aws.run_as("ci", &["deploy", "--all", "-f", &file, "-vv"], &github);
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    control(
        &aws.endpoint,
        "POST",
        "/_emulator/faults",
        r#"{"throttle": {"service": "sts", "action": "AssumeRole", "count": 5}}"#,
    );
    let mut one_attempt = github.clone();
    one_attempt.push(("AWS_MAX_ATTEMPTS", "1"));
    let denied = aws.run_as("ci", &["deploy", "--all", "-f", &file, "-vv"], &one_attempt);
    assert_eq!(denied.code, 5, "{}", denied.stderr);
    let mut quiet_env = github.clone();
    quiet_env.push(("RUST_LOG", "trace"));
    let quiet = aws.run_as("ci", &["diff", "--all", "-f", &file, "-v"], &quiet_env);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(
        !quiet.stderr.contains("aws_smithy_runtime"),
        "a trace without -vv:\n{}",
        quiet.stderr
    );

    let runs = [
        ("bootstrap", &boot),
        ("deploy", &deploy),
        ("denied", &denied),
    ];
    // Traces were produced: requests and responses of the services a deploy uses.
    let traces: String = runs.iter().map(|(_, r)| r.stderr.as_str()).collect();
    for needle in [
        "transmitting request",
        "received response from service",
        "read HTTP response body",
        "rpc.service=\"STS\" rpc.method=\"AssumeRole\"",
        "rpc.service=\"CloudFormation\" rpc.method=\"CreateChangeSet\"",
        "rpc.service=\"STS\" rpc.method=\"GetCallerIdentity\"",
        "rpc.service=\"CloudFormation\" rpc.method=\"DescribeStacks\"",
        "Throttling",
    ] {
        assert!(traces.contains(needle), "no {needle:?} in the traces");
    }
    // One line per event, each starting with its timestamp: no trace line is a workflow command.
    let trace_lines: Vec<&str> = traces
        .lines()
        .filter(|l| l.contains(" aws_smithy_runtime"))
        .collect();
    assert!(trace_lines.len() > 100, "{} trace lines", trace_lines.len());
    for line in &trace_lines {
        assert!(line.starts_with("20") && !line.contains('\r'), "{line}");
    }

    let sessions = issued_sessions(&aws.endpoint);
    assert!(sessions.len() >= 4, "{} sessions", sessions.len());
    let mut secrets: BTreeSet<String> = [SEEDED[1], SEEDED[3]].map(String::from).into();
    for (_, secret, token) in &sessions {
        secrets.extend([secret.clone(), token.clone()]);
    }
    let mut found = Vec::new();
    for (what, run) in runs.iter().chain([&("quiet diff", &quiet)]) {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            let source = format!("{what} {stream}");
            for s in &secrets {
                if text.contains(s.as_str()) {
                    found.push(format!("{source}: contains {}…", &s[..8]));
                }
            }
            found.extend(unredacted_fields(&source, text));
        }
    }
    assert!(
        found.is_empty(),
        "credentials in the traces:\n{}",
        found.join("\n")
    );
    eprintln!(
        "scanned {} trace lines ({} bytes) for {} secrets ({} sessions): none found",
        trace_lines.len(),
        traces.len(),
        secrets.len(),
        sessions.len()
    );
}

/// Secret values of the declared kinds: an output listed under `secret_outputs`, a literal
/// passed to a `NoEcho` parameter, and an earlier stage's secret output resolved into a later
/// stage's `NoEcho` parameter.
const DECLARED_SECRET: &str = "sk-declared-7d1e9a4b2c";
const NO_ECHO_VALUE: &str = "pw-noecho-3f8c2e6a91";

/// A template with a `NoEcho` parameter, and outputs: the secret ones carry the values.
const DB_TEMPLATE: &str = "Parameters:\n  MasterPassword:\n    Type: String\n    NoEcho: true\nResources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.5.0.0/16\nOutputs:\n  SigningKey:\n    Value: sk-declared-7d1e9a4b2c\n  DatabaseUrl:\n    Value: !Sub 'postgres://app:${MasterPassword}@db'\n  VpcId:\n    Value: !Ref Vpc\n";
const CONSUMER_TEMPLATE: &str = "Parameters:\n  Key:\n    Type: String\n    NoEcho: 'true'\nResources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.6.0.0/16\nOutputs:\n  Plain:\n    Value: !Ref Vpc\n";

#[tokio::test]
async fn declared_secrets_and_no_echo_values_appear_in_nothing_a_run_prints_or_writes() {
    let aws = aws();
    aws.bootstrap_both();
    let dir = Scratch::new("declared-secrets");
    let github_output = dir.path("github_output");
    let summary = dir.path("step_summary");
    let result = dir.path("result.json");
    let export = dir.path("export.env");
    let github: Vec<(&str, &str)> = vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", &github_output),
        ("GITHUB_STEP_SUMMARY", &summary),
        ("PIPELINE_RUN_RESULT_FILE", &result),
    ];
    dir.write("db.yml", DB_TEMPLATE);
    dir.write("consumer.yml", CONSUMER_TEMPLATE);
    let file = dir
        .write(
            "pipeline.yml",
            &format!(
                "version: 1\naccounts:\n  B:\n    id: \"{ACCOUNT_B}\"\n    region: {REGION}\nstages:\n  - name: Db\n    account: B\n    template: db.yml\n    parameters:\n      MasterPassword: {NO_ECHO_VALUE}\n    secret_outputs: [SigningKey, DatabaseUrl]\n    publish_outputs:\n      SigningKey: /pipeline-run/hnb659fds/db/signing-key\n      VpcId: /pipeline-run/hnb659fds/db/vpc-id\n  - name: Consumer\n    account: B\n    template: consumer.yml\n    parameters:\n      Key: ${{Db.SigningKey}}\n"
            ),
        )
        .display()
        .to_string();
    let base = [
        "deploy",
        "--all",
        "-f",
        file.as_str(),
        "-v",
        "--output",
        "json",
    ];
    let first: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--export-env", export.as_str()])
        .collect();
    let deploy = aws.run_as("ci", &first, &github);
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    // A re-run prints everything again, the outputs read back from AWS.
    let rerun = aws.run_as("ci", &base, &github);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);

    // The values exist in AWS, so the scan below can fail: the stack outputs in clear, the
    // published secret as a SecureString.
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let stacks = cfn.describe_stacks().stack_name("Db").send().await.unwrap();
    let outputs: Vec<(String, String)> = stacks.stacks()[0]
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_string(),
                o.output_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let url = format!("postgres://app:{NO_ECHO_VALUE}@db");
    assert!(
        outputs.contains(&("SigningKey".into(), DECLARED_SECRET.into()))
            && outputs.contains(&("DatabaseUrl".into(), url.clone())),
        "{outputs:?}"
    );
    let ssm = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let p = ssm
        .get_parameter()
        .name("/pipeline-run/hnb659fds/db/signing-key")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let p = p.parameter().unwrap();
    assert_eq!(
        p.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    assert_eq!(p.value(), Some(DECLARED_SECRET));
    let plain = ssm
        .get_parameter()
        .name("/pipeline-run/hnb659fds/db/vpc-id")
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.parameter().unwrap().r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::String)
    );

    let mut printed: Vec<(String, String)> = Vec::new();
    for (what, r) in [("deploy", &deploy), ("re-run", &rerun)] {
        printed.push((format!("{what} stdout"), r.stdout.clone()));
        printed.push((format!("{what} stderr"), r.stderr.clone()));
    }
    for path in [&github_output, &summary, &result, &export] {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        printed.push((path.to_string(), text));
    }
    // Masked before the first line that could hold them: the runner hides a value from the
    // `::add-mask::` line on, so each mask comes before anything of its stage's outcome.
    for value in [DECLARED_SECRET, NO_ECHO_VALUE, url.as_str()] {
        let mask = format!("::add-mask::{value}");
        let at = deploy
            .stderr
            .find(&mask)
            .unwrap_or_else(|| panic!("{value} never masked:\n{}", deploy.stderr));
        let group = deploy.stderr.find("::group::Db").expect("the Db group");
        assert!(
            at < group,
            "{value} masked after the stage's lines:\n{}",
            deploy.stderr
        );
    }
    // The reports are complete otherwise: the secret outputs are there, redacted.
    let json = deploy.json();
    assert_eq!(stage(&json, "Db")["outputs"]["SigningKey"], "***");
    assert!(
        stage(&json, "Db")["outputs"]["VpcId"]
            .as_str()
            .unwrap()
            .starts_with("vpc-")
    );
    let mut found = Vec::new();
    for (source, text) in &printed {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            for value in [DECLARED_SECRET, NO_ECHO_VALUE] {
                if line.contains(value) {
                    found.push(format!("{source}: {line}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "secrets printed or written:\n{}",
        found.join("\n")
    );
}
