//! Shared fixture for the integration tests: one local AWS (tests/emulator/start) per test
//! binary, on a free loopback port, reset before each test; tests of one binary take turns.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub const ACCOUNT_A: &str = "111111111111";
pub const ACCOUNT_B: &str = "222222222222";
pub const REGION: &str = "ap-northeast-1";
pub const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Server {
    // Held for its stdin pipe: when this process exits the pipe closes and the emulator stops.
    _child: Child,
    endpoint: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Server {
    let port = free_port();
    let mut child = Command::new(repo().join("tests/emulator/start"))
        .args(["--port", &port.to_string(), "--exit-with-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run tests/emulator/start");
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("emulator printed no endpoint");
    let endpoint = first.trim().to_string();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "unexpected endpoint line: {endpoint:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    while !http_ok(&endpoint, "GET", "/moto-api/") {
        assert!(Instant::now() < deadline, "emulator not ready after 180 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        _child: child,
        endpoint,
    }
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

fn http_ok(endpoint: &str, method: &str, path: &str) -> bool {
    http(endpoint, method, path, "").0 == 200
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

/// Bootstraps both reference accounts at `endpoint`, trusting account A (as the demo does).
pub fn bootstrap_both_at(endpoint: &str) {
    let r = run_binary(
        &[
            "bootstrap",
            "--trust",
            ACCOUNT_A,
            "--cloudformation-execution-policies",
            ADMIN_POLICY,
            &env_url(ACCOUNT_A),
            &env_url(ACCOUNT_B),
        ],
        &env_for(endpoint, "ci"),
        &[],
    );
    assert_eq!(r.code, 0, "bootstrap failed:\n{}", r.stderr);
}

/// Exclusive use of the emulator for one test, starting from an empty AWS.
pub struct Aws {
    _turn: MutexGuard<'static, ()>,
    pub endpoint: String,
}

pub fn aws() -> Aws {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let server = SERVER.get_or_init(start);
    assert!(
        http_ok(&server.endpoint, "POST", "/moto-api/reset"),
        "emulator reset failed"
    );
    Aws {
        _turn: turn,
        endpoint: server.endpoint.clone(),
    }
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

    /// Bootstraps both reference accounts, trusting account A (as the demo does).
    pub fn bootstrap_both(&self) {
        bootstrap_both_at(&self.endpoint);
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
}

pub fn env_url(account: &str) -> String {
    format!("aws://{account}/{REGION}")
}

/// Runs the binary with a clean AWS environment plus `base` and `extra`.
pub fn run_binary(args: &[&str], base: &[(String, String)], extra: &[(&str, &str)]) -> Run {
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
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("cannot run pipeline-run");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A scratch directory under target/, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = repo()
            .join("target/test-scratch")
            .join(format!("{name}-{}", std::process::id()));
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

/// Runs pipeline-run against a loopback port that only accepts and counts connections (it
/// answers nothing), with valid-looking credentials: the run, and how many connections it made.
/// Zero connections proves that no AWS request was sent.
pub fn run_offline(args: &[&str]) -> (Run, usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
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
    let run = run_binary(args, &env, &[]);
    // A connection attempt the process made just before exiting may still be in the backlog.
    std::thread::sleep(Duration::from_millis(50));
    (run, count.load(Ordering::SeqCst))
}
