//! Faults during a deploy, against the local AWS: throttling bursts, sessions that expire, Ctrl-C,
//! two runs on one stack, the endpoint going away (an outage, and the emulator killed outright),
//! and a staging bucket that is gone. Nothing is lost and a re-run converges.

use std::io::{BufRead, BufReader, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::*;

const STAGES: [&str; 4] = ["VpcA", "VpcC", "CrossAccountPeering", "VpcCRoutes"];

// ---------------------------------------------------------------------------------------------
// Helpers: a pipeline-run process watched while it runs, a TCP proxy that can drop the endpoint,
// and CloudFormation stack states.

/// pipeline-run running in the background; its stderr is collected line by line as it comes.
pub(crate) struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: JoinHandle<()>,
    stdout: JoinHandle<String>,
    started: Instant,
}

impl Running {
    pub(crate) fn start(
        args: &[&str],
        env: &[(String, String)],
        extra: &[(&str, &str)],
    ) -> Running {
        let mut child = pipeline_run_command(args, env, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run pipeline-run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let sink = lines.clone();
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines,
            stderr,
            stdout,
            started: Instant::now(),
        }
    }

    pub(crate) fn saw(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    /// Waits until a stderr line contains `needle`; panics with what was printed after `secs`.
    pub(crate) fn wait_for(&mut self, needle: &str, secs: u64) {
        let lines = self.lines.clone();
        self.wait_until(&format!("printing {needle:?}"), secs, || {
            lines.lock().unwrap().iter().any(|l| l.contains(needle))
        });
    }

    /// Waits until `ready` (checked every 50 ms while pipeline-run runs); panics, with what was
    /// printed, when pipeline-run ends first or after `secs`.
    pub(crate) fn wait_until(&mut self, what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pipeline-run ended ({status}) before {what}:\n{}",
                    self.lines.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "not {what} after {secs} s:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    pub(crate) fn finish(mut self) -> (Run, Duration) {
        let status = self.child.wait().unwrap();
        let took = self.started.elapsed();
        self.stderr.join().unwrap();
        let stdout = self.stdout.join().unwrap();
        let stderr = self.lines.lock().unwrap().join("\n");
        (
            Run {
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
            },
            took,
        )
    }
}

/// Forwards a loopback port to the emulator. `down` closes the port and cuts every connection (the
/// endpoint is gone, as in a network outage); `up` listens on the same port again.
struct Proxy {
    port: u16,
    backend: String,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    fn new(backend: &str) -> Proxy {
        let mut p = Proxy {
            port: 0,
            backend: backend.trim_start_matches("http://").to_string(),
            stop: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        p.up();
        p
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.port = listener.local_addr().unwrap().port();
        self.stop.store(false, Ordering::SeqCst);
        let (stop, conns, backend) = (self.stop.clone(), self.conns.clone(), self.backend.clone());
        self.acceptor = Some(std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&backend) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                };
                let mut held = conns.lock().unwrap();
                held.push(client.try_clone().unwrap());
                held.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        }));
    }

    fn down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the acceptor
        if let Some(a) = self.acceptor.take() {
            a.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Stack status as account `profile` sees it, or None when there is no such stack.
async fn stack_status(cfg: &aws_config::SdkConfig, name: &str) -> Option<String> {
    let cfn = aws_sdk_cloudformation::Client::new(cfg);
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out.stacks()[0]
            .stack_status()
            .map(|s| s.as_str().to_string()),
        Err(e) => {
            let text = format!("{:?}", e.into_service_error());
            assert!(text.contains("does not exist"), "{text}");
            None
        }
    }
}

async fn wait_for_status(cfg: &aws_config::SdkConfig, name: &str, want: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let status = stack_status(cfg, name).await;
        if status.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stack {name} is {status:?}, not {want}, after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn deploy_all<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["deploy", "--all", "-f", "pipelines/vpc-peering.yml"];
    args.extend_from_slice(extra);
    args
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_throttling_burst_is_retried_with_backoff_and_the_deploy_succeeds() {
    let aws = aws();
    aws.bootstrap_both();
    // The plain rules hit whatever call comes next; the targeted ones hit the calls that change
    // something (a retried CreateChangeSet/ExecuteChangeSet must not act twice) and the STS call
    // of the credential provider, which has its own client.
    let rules = r#"{"throttle": [
        {"service": "cloudformation", "count": 5},
        {"service": "sts", "count": 3},
        {"service": "sts", "action": "AssumeRole", "count": 2},
        {"service": "cloudformation", "action": "CreateChangeSet", "count": 2},
        {"service": "cloudformation", "action": "ExecuteChangeSet", "count": 2},
        {"service": "ssm", "count": 2},
        {"service": "ec2", "count": 2}]}"#;
    control(&aws.endpoint, "DELETE", "/_emulator/faults", ""); // counters from here on
    control(&aws.endpoint, "POST", "/_emulator/faults", rules);
    let started = Instant::now();
    let r = aws.run(&deploy_all(&["--output", "json"]));
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["ok"], true);
    for name in STAGES {
        let s = stage(&json, name);
        assert_eq!(s["status"], "deployed", "{s}");
        assert_eq!(s["stack_status"], "CREATE_COMPLETE", "{s}");
    }
    // Every throttle was answered, so every one of them was retried.
    let state = control(&aws.endpoint, "GET", "/_emulator/faults", "");
    for rule in state["throttle"].as_array().unwrap() {
        assert_eq!(rule["remaining"], 0, "{rule}");
    }
    let injected: u64 = state["injected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(injected, 18, "{}", state["injected"]);
    for call in [
        "sts:AssumeRole",
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
    ] {
        assert!(
            state["injected"][call].as_u64() >= Some(2),
            "{call}: {}",
            state["injected"]
        );
    }
    // Retried changes acted once: one change set executed per stack.
    assert_eq!(state["requests"]["cloudformation:ExecuteChangeSet"], 4 + 2);
    eprintln!(
        "18 throttles absorbed; deploy + verify took {took:?}; injected: {}",
        state["injected"]
    );
}

#[tokio::test]
async fn assumed_role_sessions_that_expire_during_a_long_deploy_are_renewed() {
    let aws = aws();
    aws.bootstrap_both();

    // The emulator refuses expired sessions as AWS does (patches/faults.py): shown here with a
    // 2-second session, so a client that kept using its first session would fail.
    let sts = aws_sdk_sts::Client::new(&aws.sdk("ci").await);
    let role =
        format!("arn:aws:iam::{ACCOUNT_A}:role/cdk-hnb659fds-deploy-role-{ACCOUNT_A}-{REGION}");
    let creds = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name("expiry-probe")
        .duration_seconds(2)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let session = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&aws.endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            None,
            "probe",
        ))
        .load()
        .await;
    let as_role = aws_sdk_sts::Client::new(&session);
    as_role.get_caller_identity().send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let err = as_role.get_caller_identity().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err.into_service_error()),
        Some("ExpiredToken")
    );
    control(&aws.endpoint, "DELETE", "/_emulator/faults", "");

    // 12-second sessions (the hidden --session-seconds; AWS's minimum is 900, the emulator takes
    // any) on a deploy slowed to last well beyond them.
    set_delay(&aws.endpoint, 900);
    let started = Instant::now();
    let r = aws.run(&deploy_all(&[
        "--no-verify",
        "--session-seconds",
        "12",
        "--output",
        "json",
    ]));
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    for name in STAGES {
        assert_eq!(stage(&r.json(), name)["status"], "deployed");
    }
    assert!(
        took > Duration::from_secs(24),
        "the deploy must outlast two session lifetimes; took {took:?}"
    );
    let state = control(&aws.endpoint, "GET", "/_emulator/faults", "");
    assert_eq!(
        state["expired"],
        serde_json::json!({}),
        "a request went out with an expired session"
    );
    // With hour-long sessions this deploy assumes 2 roles once each (measured): more means renewal.
    let assumed = state["requests"]["sts:AssumeRole"].as_u64().unwrap();
    assert!(assumed >= 5, "AssumeRole calls: {assumed}");
    eprintln!("deploy of {took:?} with 12 s sessions: {assumed} AssumeRole calls, none expired");
}

#[tokio::test]
async fn ctrl_c_stops_new_stages_and_says_what_is_still_in_progress() {
    let aws = aws();
    aws.bootstrap_both();
    set_delay(&aws.endpoint, 500);
    let mut run = Running::start(
        &deploy_all(&["--no-verify", "--output", "json"]),
        &aws.env("ci"),
        &[],
    );
    // VpcC (9 resources) is done while VpcA (17) is still being created.
    run.wait_for("VpcC: CREATE_COMPLETE — ", 120);
    assert!(!run.saw("VpcA: CREATE_COMPLETE — "));
    run.signal("-INT");
    let (r, _) = run.finish();
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert!(
        r.stderr.contains("interrupted while stage VpcA was running: stack VpcA in aws://111111111111/ap-northeast-1 may still be changing in CloudFormation; see: aws cloudformation describe-stacks --stack-name VpcA --region ap-northeast-1"),
        "{}",
        r.stderr
    );
    let json = r.json();
    assert_eq!(stage(&json, "VpcA")["status"], "interrupted");
    assert_eq!(stage(&json, "VpcC")["status"], "deployed");
    for later in ["CrossAccountPeering", "VpcCRoutes"] {
        assert_eq!(stage(&json, later)["status"], "skipped");
        assert_eq!(
            stage(&json, later)["error"],
            "not started: the run was interrupted (Ctrl-C)"
        );
        assert!(!r.stderr.contains(&format!("{later}: started")));
    }

    // CloudFormation carries on without us (as on AWS); no later stage ever appears.
    let a = aws.sdk("ci").await;
    wait_for_status(&a, "VpcA", "CREATE_COMPLETE", 120).await;
    assert_eq!(stack_status(&a, "CrossAccountPeering").await, None);
    assert_eq!(
        stack_status(&aws.sdk("admin-b").await, "VpcCRoutes").await,
        None
    );

    // And a re-run picks up where the interrupted one stopped.
    set_delay(&aws.endpoint, 0);
    let again = aws.run(&deploy_all(&["--no-verify", "--output", "json"]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let json = again.json();
    assert_eq!(stage(&json, "VpcA")["status"], "no_changes");
    assert_eq!(stage(&json, "VpcC")["status"], "no_changes");
    assert_eq!(stage(&json, "CrossAccountPeering")["status"], "deployed");
    assert_eq!(stage(&json, "VpcCRoutes")["status"], "deployed");
}

#[tokio::test]
async fn two_runs_on_one_stack_at_once_one_deploys_and_the_other_is_refused() {
    let aws = aws();
    aws.bootstrap_both();
    set_delay(&aws.endpoint, 500);
    let args = [
        "deploy",
        "VpcA",
        "-f",
        "pipelines/vpc-peering.yml",
        "--no-verify",
    ];
    let first = Running::start(&args, &aws.env("ci"), &[]);
    let second = Running::start(&args, &aws.env("ci"), &[]);

    // A third run that starts while the stack is being created is refused before any change set.
    let a = aws.sdk("ci").await;
    wait_for_status(&a, "VpcA", "CREATE_IN_PROGRESS", 60).await;
    let third = aws.run(&args);

    let (r1, _) = first.finish();
    let (r2, _) = second.finish();
    let mut codes = [r1.code, r2.code];
    codes.sort();
    assert_eq!(
        codes,
        [0, 3],
        "first:\n{}\nsecond:\n{}",
        r1.stderr,
        r2.stderr
    );
    let refused = if r1.code == 3 { &r1 } else { &r2 };
    // Usually both created a change set and CloudFormation refused the slower one's; either way
    // the message names the stack, its state, what to do and where to look.
    assert!(
        refused
            .stderr
            .contains("stack VpcA is CREATE_IN_PROGRESS: another deployment is running")
            && refused.stderr.contains("fix: wait until it finishes")
            && refused
                .stderr
                .contains("aws cloudformation describe-stacks --stack-name VpcA"),
        "{}",
        refused.stderr
    );
    assert_eq!(third.code, 3, "{}", third.stderr);
    assert!(
        third.stderr.contains(
            "stack VpcA is CREATE_IN_PROGRESS: another deployment is running or was interrupted"
        ),
        "{}",
        third.stderr
    );

    // The stack is whole: created once, every resource of the template, and a re-run finds
    // nothing to change.
    assert_eq!(
        stack_status(&a, "VpcA").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    let cfn = aws_sdk_cloudformation::Client::new(&a);
    let resources = cfn
        .describe_stack_resources()
        .stack_name("VpcA")
        .send()
        .await
        .unwrap();
    assert_eq!(resources.stack_resources().len(), 17);
    let stacks = cfn.list_stacks().send().await.unwrap();
    assert_eq!(
        stacks
            .stack_summaries()
            .iter()
            .filter(|s| s.stack_name() == Some("VpcA"))
            .count(),
        1
    );
    set_delay(&aws.endpoint, 0);
    let again = aws.run(&[
        "deploy",
        "VpcA",
        "-f",
        "pipelines/vpc-peering.yml",
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(stage(&again.json(), "VpcA")["status"], "no_changes");
}

#[tokio::test]
async fn an_endpoint_outage_mid_deploy_is_reported_and_a_rerun_converges() {
    let aws = aws();
    aws.bootstrap_both();
    set_delay(&aws.endpoint, 500);
    let mut proxy = Proxy::new(&aws.endpoint);
    // Two attempts instead of pipeline-run's eight, so the outage is noticed in seconds.
    let mut run = Running::start(
        &deploy_all(&["--no-verify", "--output", "json"]),
        &env_for(&proxy.endpoint(), "ci"),
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    run.wait_for("VpcC: CREATE_COMPLETE — ", 120);
    proxy.down();
    let (r, took) = run.finish();
    assert_eq!(r.code, 3, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["ok"], false);
    assert_eq!(stage(&json, "VpcC")["status"], "deployed");
    let a = stage(&json, "VpcA");
    assert_eq!(a["status"], "failed");
    let error = a["error"].as_str().unwrap();
    assert!(
        error.contains("lost track of stack VpcA after its change set was executed; CloudFormation may still be working on it (see: aws cloudformation describe-stacks --stack-name VpcA --region ap-northeast-1)")
            && error.contains("could not reach the AWS endpoint: connection refused"),
        "{error}"
    );
    assert_eq!(
        stage(&json, "CrossAccountPeering")["error"],
        "not started: stage VpcA did not succeed"
    );
    for later in ["CrossAccountPeering", "VpcCRoutes"] {
        assert_eq!(stage(&json, later)["status"], "skipped");
        let why = stage(&json, later)["error"].as_str().unwrap();
        assert!(why.starts_with("not started: "), "{why}");
    }
    // The summary on stderr says the same.
    for (name, result) in [
        ("VpcA", "FAILED"),
        ("VpcC", "deployed"),
        ("CrossAccountPeering", "skipped"),
        ("VpcCRoutes", "skipped"),
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with(name) && l.split_whitespace().nth(4) == Some(result)),
            "{name} {result}:\n{}",
            r.stderr
        );
    }

    // CloudFormation finished VpcA during the outage; once the endpoint is back, a re-run
    // converges: nothing done twice, the rest deployed.
    let sdk = aws.sdk("ci").await;
    wait_for_status(&sdk, "VpcA", "CREATE_COMPLETE", 120).await;
    proxy.up();
    set_delay(&aws.endpoint, 0);
    let again = run_binary(
        &deploy_all(&["--no-verify", "--output", "json"]),
        &env_for(&proxy.endpoint(), "ci"),
        &[],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let json = again.json();
    assert_eq!(stage(&json, "VpcA")["status"], "no_changes");
    assert_eq!(stage(&json, "VpcC")["status"], "no_changes");
    assert_eq!(stage(&json, "CrossAccountPeering")["status"], "deployed");
    assert_eq!(stage(&json, "VpcCRoutes")["status"], "deployed");
    proxy.down();
    eprintln!("outage noticed and reported {took:?} after the run started");
}

/// The emulator process itself is killed (SIGKILL) in the middle of a deploy and started again on
/// the same port. Its state lives in memory and does not survive (moto's recorder cannot bring it
/// back: see tests/emulator/README.md, "Faults"), so the re-run starts from an empty AWS: it is
/// refused until the accounts are bootstrapped again, then completes the pipeline.
#[test]
fn the_emulator_killed_mid_deploy_is_reported_and_after_a_restart_the_pipeline_completes() {
    // Holds the shared emulator's turn so this test does not compete with the others for CPU.
    let _turn = aws();
    let port = free_port();
    // An emulator of our own (not the shared one), so it can be killed.
    let emulator = Emulator::start(port, 500);
    let endpoint = emulator.endpoint.clone();
    bootstrap_at(&endpoint, &[ACCOUNT_A, ACCOUNT_B]);
    let mut run = Running::start(
        &deploy_all(&["--no-verify", "--output", "json"]),
        &env_for(&endpoint, "ci"),
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    run.wait_for("VpcC: CREATE_COMPLETE — ", 120);
    emulator.kill();
    let (r, took) = run.finish();
    assert_eq!(r.code, 3, "{}", r.stderr);
    let json = r.json();
    assert_eq!(stage(&json, "VpcC")["status"], "deployed");
    assert_eq!(stage(&json, "VpcA")["status"], "failed");
    assert!(
        stage(&json, "VpcA")["error"]
            .as_str()
            .unwrap()
            .contains("describe-stacks --stack-name VpcA"),
        "{json}"
    );
    for later in ["CrossAccountPeering", "VpcCRoutes"] {
        assert_eq!(stage(&json, later)["status"], "skipped");
    }
    eprintln!(
        "killed mid-deploy: exit 3 after {took:?}; VpcA: {}",
        stage(&json, "VpcA")["error"]
    );

    let emulator = Emulator::start(port, 0);
    assert_eq!(emulator.endpoint, endpoint);
    let lost = run_binary(
        &deploy_all(&["--no-verify"]),
        &env_for(&endpoint, "ci"),
        &[],
    );
    assert_eq!(lost.code, 5, "{}", lost.stderr);
    assert!(
        lost.stderr
            .contains("pipeline-run bootstrap --trust 111111111111"),
        "{}",
        lost.stderr
    );
    bootstrap_at(&endpoint, &[ACCOUNT_A, ACCOUNT_B]);
    let again = run_binary(
        &deploy_all(&["--no-verify", "--output", "json"]),
        &env_for(&endpoint, "ci"),
        &[],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    for name in STAGES {
        assert_eq!(stage(&again.json(), name)["status"], "deployed");
    }
}

/// A template over the TemplateBody limit goes through the staging bucket; with the bucket gone
/// (deleted by hand), the stage fails with the bucket's name and the fix, before any change set.
#[tokio::test]
async fn an_oversized_template_without_its_staging_bucket_fails_with_the_fix() {
    let aws = aws();
    aws.bootstrap_both();
    let s3 = aws.s3("ci").await;
    let bucket = staging_bucket(ACCOUNT_A);
    let objects = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    for o in objects.contents() {
        s3.delete_object()
            .bucket(&bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();

    let scratch = Scratch::new("no-bucket");
    let file = oversized_stage_file(&scratch);
    let r = aws.run(&["deploy", "--all", "-f", &file, "--no-verify"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&bucket) && r.stderr.contains("NoSuchBucket"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("fix: bootstrap the environment (pipeline-run bootstrap)"),
        "{}",
        r.stderr
    );
    assert_eq!(stack_status(&aws.sdk("ci").await, "Big").await, None);
}

// ---------------------------------------------------------------------------------------------
// Unreachable endpoints, SIGTERM and the stage deadline.

/// The base environment of the CI identity (credential files that work) at `endpoint`, which
/// nothing answers at.
fn unreachable_env(endpoint: &str) -> Vec<(String, String)> {
    env_for(endpoint, "ci")
}

/// Asserts that `deploy --all` ended quickly with the unreachable exit code, naming the endpoint
/// and what to check, and not blaming the credentials.
fn assert_unreachable(r: &Run, took: Duration, endpoint: &str, why: &str) {
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        r.stderr
            .contains(&format!("cannot reach {endpoint}: {why}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("fix: check AWS_ENDPOINT_URL"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("provide credentials"), "{}", r.stderr);
}

#[test]
fn a_refused_endpoint_fails_the_deploy_within_seconds_naming_it() {
    // A port that was just free: nothing listens there, connections are refused.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let r = run_binary(&deploy_all(&[]), &unreachable_env(&endpoint), &[]);
    let took = started.elapsed();
    assert_unreachable(&r, took, &endpoint, "connection refused");
    eprintln!("refused endpoint reported after {took:?}");
}

#[test]
fn a_black_holed_endpoint_fails_the_deploy_within_ten_seconds_naming_it() {
    // Connections complete (the kernel's backlog) but nothing ever answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let started = Instant::now();
    let r = run_binary(&deploy_all(&[]), &unreachable_env(&endpoint), &[]);
    let took = started.elapsed();
    assert_unreachable(&r, took, &endpoint, "no response in time");
    drop(listener);
    eprintln!("black-holed endpoint reported after {took:?}");
}

#[test]
fn credentials_that_need_an_unreachable_sts_are_reported_unreachable_not_missing() {
    // The profile assumes a role first (AssumeRole in the credential chain), at a refused port.
    let s = Scratch::new("unreachable-role-profile");
    let config = s.write(
        "config",
        "[profile ci]\nregion = ap-northeast-1\n[profile via-role]\nregion = ap-northeast-1\nrole_arn = arn:aws:iam::111111111111:role/x\nsource_profile = ci\n",
    );
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let mut env = unreachable_env(&endpoint);
    env.retain(|(k, _)| k != "AWS_CONFIG_FILE" && k != "AWS_PROFILE");
    env.push(("AWS_CONFIG_FILE".into(), config.display().to_string()));
    env.push(("AWS_PROFILE".into(), "via-role".into()));
    let started = Instant::now();
    let r = run_binary(&deploy_all(&[]), &env, &[]);
    let took = started.elapsed();
    assert_unreachable(&r, took, &endpoint, "");
    eprintln!("unreachable STS behind a role profile reported after {took:?}");
}

#[tokio::test]
async fn sigterm_mid_deploy_exits_130_with_a_complete_result_file_summary_and_stage_lines() {
    let aws = aws();
    aws.bootstrap_both();
    set_delay(&aws.endpoint, 500);
    let s = Scratch::new("sigterm");
    let result = s.path("result.json");
    let summary = s.path("summary.md");
    let output = s.path("github-output");
    let mut run = Running::start(
        &deploy_all(&["--no-verify"]),
        &aws.env("ci"),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("PIPELINE_RUN_RESULT_FILE", &result),
            ("GITHUB_STEP_SUMMARY", &summary),
            ("GITHUB_OUTPUT", &output),
        ],
    );
    // Under GitHub a stage's lines are printed in its group when it ends: VpcC (9 resources)
    // ends while VpcA (17) is still being created.
    run.wait_for("::group::VpcC — ", 120);
    assert!(!run.saw("::group::VpcA — "));
    run.signal("-TERM");
    let (r, _) = run.finish();
    assert_eq!(r.code, 130, "{}", r.stderr);

    // The result file is complete: every stage, the interrupted one named as such.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).expect("no result file"))
            .expect("the result file is not JSON");
    assert_eq!(json["ok"], false);
    assert_eq!(stage(&json, "VpcA")["status"], "interrupted");
    assert_eq!(
        stage(&json, "VpcA")["error"],
        "interrupted (SIGTERM) while running; CloudFormation may still be working on it"
    );
    assert_eq!(stage(&json, "VpcC")["status"], "deployed");
    for later in ["CrossAccountPeering", "VpcCRoutes"] {
        assert_eq!(
            stage(&json, later)["error"],
            "not started: the run was interrupted (SIGTERM)"
        );
    }
    // The step summary is written, with the interrupted stage.
    let summary = std::fs::read_to_string(&summary).expect("no step summary");
    assert!(
        summary.contains("VpcA") && summary.contains("interrupted"),
        "{summary}"
    );
    // VpcA's buffered lines are printed in its group, not lost.
    let lines: Vec<&str> = r.stderr.lines().collect();
    let group = lines
        .iter()
        .position(|l| l.starts_with("::group::VpcA — did not finish"))
        .unwrap_or_else(|| panic!("no group for VpcA:\n{}", r.stderr));
    let end = group
        + lines[group..]
            .iter()
            .position(|l| *l == "::endgroup::")
            .unwrap();
    assert!(
        lines[group..end]
            .iter()
            .any(|l| l.contains("CREATE_IN_PROGRESS") && l.contains("AWS::EC2::VPC")),
        "{}",
        lines[group..end].join("\n")
    );
    set_delay(&aws.endpoint, 0);
}

#[tokio::test]
async fn a_stage_over_its_deadline_fails_as_timed_out_and_its_operation_is_left_running() {
    let aws = aws();
    aws.bootstrap_both();
    // VpcC's 9 resources take at least 4.5 s: more than the 2 s allowed.
    set_delay(&aws.endpoint, 500);
    let started = Instant::now();
    let r = aws.run(&deploy_all(&[
        "--no-verify",
        "--output",
        "json",
        "--stage-timeout",
        "2s",
    ]));
    let took = started.elapsed();
    assert_eq!(r.code, 3, "{}", r.stderr);
    let json = r.json();
    let c = stage(&json, "VpcC");
    assert_eq!(c["status"], "failed");
    assert_eq!(
        c["error"],
        "stage VpcC timed out after 2s (--stage-timeout) and was stopped; what it started on stack VpcC in aws://222222222222/ap-northeast-1 is left in CloudFormation as it is (an executing change set goes on, one not yet executed stays for review); see: aws cloudformation describe-stack-events --stack-name VpcC --region ap-northeast-1"
    );
    for later in ["CrossAccountPeering", "VpcCRoutes"] {
        assert_eq!(stage(&json, later)["status"], "skipped");
    }
    // Stopped at the deadline, not when CloudFormation finished.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // What it started is left visible in CloudFormation (not cleaned up behind the user's back).
    let left = stack_status(&aws.sdk("admin-b").await, "VpcC").await;
    assert!(
        matches!(
            left.as_deref(),
            Some("REVIEW_IN_PROGRESS" | "CREATE_IN_PROGRESS" | "CREATE_COMPLETE")
        ),
        "{left:?}"
    );
    assert!(
        r.stderr.contains("error: stage VpcC timed out after 2s"),
        "{}",
        r.stderr
    );
    set_delay(&aws.endpoint, 0);
    eprintln!("stage deadline of 2 s: run ended after {took:?}, VpcC left {left:?}");
}
