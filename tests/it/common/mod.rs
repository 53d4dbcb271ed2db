//! Shared fixture for the integration tests: one local AWS (tests/emulator/start) for the test
//! binary, on a free loopback port, reset before each test that uses it; those tests take turns.
//! Also the helpers several test modules need: running pipeline-run, the emulator's control API,
//! bootstrapping, stage files and result documents.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub const ACCOUNT_A: &str = "111111111111";
pub const ACCOUNT_B: &str = "222222222222";
pub const REGION: &str = "ap-northeast-1";
pub const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An emulator process (tests/emulator/start) on a loopback port. It stops when dropped, and
/// when this process exits (its stdin closes).
pub struct Emulator {
    child: Child,
    pub endpoint: String,
}

impl Emulator {
    /// Starts one on `port` with a CloudFormation per-resource delay of `delay_ms` (0: every
    /// operation completes inside its API call), and waits until it answers.
    pub fn start(port: u16, delay_ms: u64) -> Emulator {
        let mut child = Command::new(repo().join("tests/emulator/start"))
            .args(["--port", &port.to_string(), "--exit-with-stdin"])
            .env("EMULATOR_CFN_RESOURCE_DELAY_MS", delay_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run tests/emulator/start");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(180);
        while http(&endpoint, "GET", "/moto-api/", "").0 != 200 {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("emulator exited: {status}");
            }
            assert!(Instant::now() < deadline, "emulator not ready after 180 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Emulator { child, endpoint }
    }

    /// SIGKILL: no shutdown, no chance to save anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

static SERVER: OnceLock<Emulator> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 request to the emulator's control API: (status, body). No HTTP client crate needed.
pub fn http(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A control-API call that must answer 200 with JSON (`/_emulator/faults`, `/_emulator/config`).
pub fn control(endpoint: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, text) = http(endpoint, method, path, body);
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The emulator's CloudFormation per-resource delay from now on (until the next reset).
pub fn set_delay(endpoint: &str, ms: u64) {
    control(
        endpoint,
        "POST",
        "/_emulator/config",
        &format!("{{\"cfn_resource_delay_ms\": {ms}}}"),
    );
}

/// The environment pipeline-run gets to act as `profile` against `endpoint`.
pub fn env_for(endpoint: &str, profile: &str) -> Vec<(String, String)> {
    let emu = repo().join("tests/emulator/aws");
    vec![
        (
            "AWS_CONFIG_FILE".into(),
            emu.join("config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            emu.join("credentials").display().to_string(),
        ),
        ("AWS_PROFILE".into(), profile.into()),
        ("AWS_ENDPOINT_URL".into(), endpoint.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// Only the endpoint and a region, no profile or credential files: every credential source has
/// to come from the test.
pub fn bare_env(endpoint: &str) -> Vec<(String, String)> {
    let nowhere = repo().join("target/no-such-aws-config");
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint.into()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), nowhere.display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            nowhere.display().to_string(),
        ),
    ]
}

/// `pipeline-run bootstrap` of `accounts` at `endpoint` as the CI identity, trusting account A
/// with the AdministratorAccess execution policy (as the demo does), plus `args` and `env`.
pub fn bootstrap_run(
    endpoint: &str,
    accounts: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let envs: Vec<String> = accounts.iter().map(|a| env_url(a)).collect();
    let mut all = vec![
        "bootstrap",
        "--trust",
        ACCOUNT_A,
        "--cloudformation-execution-policies",
        ADMIN_POLICY,
    ];
    all.extend(envs.iter().map(String::as_str));
    all.extend_from_slice(args);
    run_binary(&all, &env_for(endpoint, "ci"), env)
}

/// Bootstraps `accounts` at `endpoint` as [`bootstrap_run`] does; it must succeed.
pub fn bootstrap_at(endpoint: &str, accounts: &[&str]) {
    let r = bootstrap_run(endpoint, accounts, &[], &[]);
    assert_eq!(r.code, 0, "bootstrap failed:\n{}", r.stderr);
}

/// Exclusive use of the emulator for one test, starting from an empty AWS.
pub struct Aws {
    _turn: MutexGuard<'static, ()>,
    pub endpoint: String,
}

pub fn aws() -> Aws {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let server = SERVER.get_or_init(|| Emulator::start(free_port(), 0));
    let aws = Aws {
        _turn: turn,
        endpoint: server.endpoint.clone(),
    };
    aws.reset();
    aws
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Aws {
    /// Runs pipeline-run as the CI identity (profile `ci`, account A).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_as("ci", args, &[])
    }

    pub fn run_as(&self, profile: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_binary(args, &self.env(profile), env)
    }

    pub fn env(&self, profile: &str) -> Vec<(String, String)> {
        env_for(&self.endpoint, profile)
    }

    /// Back to an empty AWS (the seeded identities only), as at the start of the test.
    pub fn reset(&self) {
        let (status, body) = http(&self.endpoint, "POST", "/moto-api/reset", "");
        assert_eq!(status, 200, "emulator reset failed: {body}");
    }

    /// Bootstraps `accounts`, trusting account A (as the demo does).
    pub fn bootstrap(&self, accounts: &[&str]) {
        bootstrap_at(&self.endpoint, accounts);
    }

    /// Bootstraps both reference accounts, trusting account A (as the demo does).
    pub fn bootstrap_both(&self) {
        self.bootstrap(&[ACCOUNT_A, ACCOUNT_B]);
    }

    /// An SDK configuration for direct checks, as `profile`.
    pub async fn sdk(&self, profile: &str) -> aws_config::SdkConfig {
        let (key, secret) = match profile {
            "ci" => (
                "AKIAPIPELINECI111111",
                "pipelineRunCiSecretAccessKey000000000001",
            ),
            "admin-b" => (
                "AKIAPIPELINEADMIN222",
                "pipelineRunAdminSecretAccessKey000000002",
            ),
            other => panic!("no such profile {other}"),
        };
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                key, secret, None, None, "test",
            ))
            .load()
            .await
    }

    /// An S3 client as `profile`, addressing buckets by path (the emulator has no bucket DNS).
    pub async fn s3(&self, profile: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk(profile).await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// The staging bucket `bootstrap` creates in `account` (default qualifier, [`REGION`]).
pub fn staging_bucket(account: &str) -> String {
    format!("cdk-hnb659fds-assets-{account}-{REGION}")
}

pub fn env_url(account: &str) -> String {
    format!("aws://{account}/{REGION}")
}

/// The pipeline-run command with a clean AWS environment plus `base` and `extra`, in the
/// repository, without standard input.
pub fn pipeline_run_command(
    args: &[&str],
    base: &[(String, String)],
    extra: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline-run"));
    cmd.args(args).current_dir(repo()).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_")
            || k.starts_with("GITHUB_")
            || k.starts_with("PIPELINE_RUN_")
            || k == "CODEBUILD_BUILD_NUMBER"
        {
            cmd.env_remove(k);
        }
    }
    for (k, v) in base {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the binary with a clean AWS environment plus `base` and `extra`.
pub fn run_binary(args: &[&str], base: &[(String, String)], extra: &[(&str, &str)]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = pipeline_run_command(args, base, extra)
        .output()
        .expect("cannot run pipeline-run");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// PATH with the directory of the test build of pipeline-run first, as a CI install step
/// leaves it.
pub fn path_with_binary() -> std::ffi::OsString {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_pipeline-run"))
        .parent()
        .unwrap()
        .to_path_buf();
    std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap()
}

/// A scratch directory under target/, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        // Unique within the process too: every test of the binary shares its process id.
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let n = MADE.fetch_add(1, Ordering::SeqCst);
        let dir = repo()
            .join("target/test-scratch")
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn write(&self, name: &str, body: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, body).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn reference_file() -> String {
    Path::new("pipelines/vpc-peering.yml").display().to_string()
}

/// The stage named `name` in a result document (`--output json`).
pub fn stage<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {json}"))
}

/// CloudFormation's TemplateBody limit: a larger template must be deployed from S3.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// Writes `big.yml`, a template just over the TemplateBody limit (SSM parameters), and
/// `pipeline.yml`, one stage `Big` deploying it to account A; returns the stage file's path.
pub fn oversized_stage_file(s: &Scratch) -> String {
    let mut template = String::from("Resources:\n");
    let mut n = 0;
    while template.len() <= TEMPLATE_BODY_LIMIT {
        template.push_str(&format!(
            "  Param{n}:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: value-{n}\n"
        ));
        n += 1;
    }
    s.write("big.yml", &template);
    s.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Big\n    account: A\n    template: big.yml\n",
    );
    s.path("pipeline.yml")
}

/// Runs pipeline-run against a loopback port that only accepts and counts connections (it
/// answers nothing), with valid-looking credentials: the run, and how many connections it made.
/// `deploy --all -f FILE --no-verify --output json` as the CI identity.
pub fn deploy_all_json(aws: &Aws, file: &str) -> Run {
    aws.run(&[
        "deploy",
        "--all",
        "-f",
        file,
        "--no-verify",
        "--output",
        "json",
    ])
}

/// A loopback endpoint that accepts and drops connections, counting them.
pub fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (endpoint, count)
}

/// A session of role `arn` assumed with the credentials of `profile`; the refusal when STS
/// refuses.
pub async fn assumed_session(
    aws: &Aws,
    profile: &str,
    arn: &str,
    session_name: &str,
) -> Result<aws_config::SdkConfig, String> {
    let sts = aws_sdk_sts::Client::new(&aws.sdk(profile).await);
    let out = sts
        .assume_role()
        .role_arn(arn)
        .role_session_name(session_name)
        .send()
        .await
        .map_err(|e| format!("{:?}", e.into_service_error()))?;
    let c = out.credentials().expect("credentials");
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&aws.endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "assumed-role",
        ))
        .load()
        .await)
}

/// Zero connections proves that no AWS request was sent.
pub fn run_offline(args: &[&str]) -> (Run, usize) {
    run_offline_with(args, &[])
}

/// [`run_offline`] with `extra` environment variables.
pub fn run_offline_with(args: &[&str], extra: &[(&str, &str)]) -> (Run, usize) {
    let (endpoint, count) = counting_listener();
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIAPIPELINECI111111"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "pipelineRunCiSecretAccessKey000000000001",
        ),
        ("AWS_REGION", REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let run = run_binary(args, &env, extra);
    // A connection attempt the process made just before exiting may still be in the backlog.
    std::thread::sleep(Duration::from_millis(50));
    (run, count.load(Ordering::SeqCst))
}

/// Output `output` of stack `stack`, as account `profile` reads it.
pub async fn stack_output(aws: &Aws, profile: &str, stack: &str, output: &str) -> String {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk(profile).await);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    out.stacks()[0]
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(output))
        .and_then(|o| o.output_value())
        .unwrap_or_else(|| panic!("stack {stack} has no output {output}"))
        .to_string()
}

/// Creates stack `name` from `template` with `cfg` (CreateStack, named IAM resources allowed)
/// and waits until it is CREATE_COMPLETE: its outputs.
pub async fn create_stack(
    cfg: &aws_config::SdkConfig,
    name: &str,
    template: &str,
) -> std::collections::BTreeMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(cfg);
    cfn.create_stack()
        .stack_name(name)
        .template_body(template)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create stack {name}: {:?}", e.into_service_error()));
    for _ in 0..100 {
        let stacks = cfn.describe_stacks().stack_name(name).send().await.unwrap();
        let stack = &stacks.stacks()[0];
        let status = stack.stack_status().unwrap().as_str().to_string();
        if status == "CREATE_COMPLETE" {
            return stack
                .outputs()
                .iter()
                .map(|o| {
                    (
                        o.output_key().unwrap_or_default().to_string(),
                        o.output_value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
        }
        assert!(
            status.ends_with("IN_PROGRESS"),
            "stack {name} ended {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stack {name} did not complete");
}

/// The positive control of [`run_offline`]'s counter: a command that does call AWS (a deploy's
/// first request, one attempt, answered by a closed connection) is counted.
#[test]
fn the_offline_counter_counts_a_call_that_is_made() {
    let file = reference_file();
    let (r, connections) = run_offline_with(
        &["deploy", "--all", "-f", &file, "--no-verify"],
        &[("AWS_MAX_ATTEMPTS", "1")],
    );
    assert_ne!(
        r.code, 0,
        "a deploy against a silent endpoint succeeded:\n{}",
        r.stderr
    );
    assert!(
        connections >= 1,
        "the deploy called AWS but the counter saw {connections} connections:\n{}",
        r.stderr
    );
}
