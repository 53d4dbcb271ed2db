//! action.yml's install steps (`install`: build from source; `release`: download a release) run
//! the way a runner runs them (`bash --noprofile --norc -eo pipefail`, the step's `env:`
//! evaluated), with the job's AWS credentials and OIDC request variables in the environment, and
//! with `cargo` and `gh` replaced by recorders on PATH: the recorder `cargo install` writes a
//! binary that reports the version in the `--path` source's Cargo.toml, the recorder `gh release
//! download` copies files from a directory the test prepared. What is checked is the action's
//! own logic: when it reinstalls, what the build sees, what it refuses to install.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

fn step(id: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    let action: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no step {id}"))
        .clone()
}

fn source_version() -> String {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let line = toml.lines().find(|l| l.starts_with("version = ")).unwrap();
    line.trim_start_matches("version = ")
        .trim_matches('"')
        .to_string()
}

const RECORDER_CARGO: &str = r#"#!/bin/bash
env > "$RECORDER_DIR/cargo.env"
echo "$*" >> "$RECORDER_DIR/cargo.calls"
while [ $# -gt 0 ]; do
  case "$1" in --path) src="$2"; shift ;; --root) root="$2"; shift ;; esac
  shift
done
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$src/Cargo.toml" | head -n 1)
mkdir -p "$root/bin"
printf '#!/bin/sh\necho "pipeline-run %s"\n' "$version" > "$root/bin/pipeline-run"
chmod +x "$root/bin/pipeline-run"
"#;

/// `gh release download TAG --repo R --pattern A --pattern B --dir D --clobber` copies A and B
/// from $RECORDER_DIR/release; `gh attestation verify --help` fails: an old gh.
const RECORDER_GH: &str = r#"#!/bin/bash
echo "$*" >> "$RECORDER_DIR/gh.calls"
[ "$1 $2" = "release download" ] || exit 1
shift 2
while [ $# -gt 0 ]; do
  case "$1" in --pattern) files+=("$2"); shift ;; --dir) dir="$2"; shift ;; esac
  shift
done
mkdir -p "$dir"
for f in "${files[@]}"; do cp "$RECORDER_DIR/release/$f" "$dir/" || exit 1; done
"#;

struct Runner {
    scratch: Scratch,
}

struct StepRun {
    code: i32,
    log: String,
    github_path: String,
}

impl Runner {
    fn new(name: &str) -> Runner {
        let scratch = Scratch::new(name);
        for (name, body) in [("bin/cargo", RECORDER_CARGO), ("bin/gh", RECORDER_GH)] {
            let p = scratch.write(name, body);
            Command::new("chmod").arg("+x").arg(&p).status().unwrap();
        }
        std::fs::create_dir_all(scratch.0.join("home")).unwrap();
        std::fs::create_dir_all(scratch.0.join("temp")).unwrap();
        Runner { scratch }
    }

    fn home_binary(&self) -> std::path::PathBuf {
        self.scratch.0.join("home/.pipeline-run/bin/pipeline-run")
    }

    /// Puts a binary reporting `version` where a previous job left one.
    fn leave_binary(&self, version: &str, source_key: &str) {
        let bin = self.home_binary();
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(
            &bin,
            format!("#!/bin/sh\necho \"pipeline-run {version}\"\n"),
        )
        .unwrap();
        Command::new("chmod").arg("+x").arg(&bin).status().unwrap();
        std::fs::write(
            self.scratch.0.join("home/.pipeline-run/source-key"),
            format!("{source_key}\n"),
        )
        .unwrap();
    }

    fn cargo_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.scratch.0.join("cargo.calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn run(&self, id: &str, inputs: &[(&str, &str)]) -> StepRun {
        let step = step(id);
        let inputs: BTreeMap<&str, &str> = inputs.iter().copied().collect();
        let expand = |text: &str| -> String {
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("${{") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find("}}").unwrap() + start;
                out.push_str(&match rest[start + 3..end].trim() {
                    "github.action_path" => repo().display().to_string(),
                    "github.action_repository" => "owner/pipeline-run".into(),
                    "steps.source.outputs.key" => "source-key-1".into(),
                    "runner.os" => "Linux".into(),
                    "runner.arch" => "X64".into(),
                    "inputs.token" => "ghs_token".into(),
                    "inputs.version" => inputs.get("version").unwrap_or(&"").to_string(),
                    other => panic!("the test runner does not evaluate ${{{{ {other} }}}}"),
                });
                rest = &rest[end + 2..];
            }
            out.push_str(rest);
            out
        };
        let s = &self.scratch;
        let script = s.write("step.sh", step["run"].as_str().unwrap());
        let github_path = s.write("github_path", "");
        let path = format!("{}:{}", s.path("bin"), std::env::var("PATH").unwrap());
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .env_clear()
            .env("PATH", path)
            .env("HOME", s.path("home"))
            .env("RUNNER_TEMP", s.path("temp"))
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_OUTPUT", s.path("github_output"))
            .env("RECORDER_DIR", &s.0)
            // What configure-aws-credentials and `permissions: id-token: write` leave in the job.
            .env("AWS_ACCESS_KEY_ID", "AKIAPIPELINECI111111")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "pipelineRunCiSecretAccessKey000000000001",
            )
            .env("AWS_SESSION_TOKEN", "session-token")
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc-request-token")
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example")
            .stdin(Stdio::null());
        for (k, v) in step["env"].as_mapping().unwrap() {
            cmd.env(k.as_str().unwrap(), expand(v.as_str().unwrap()));
        }
        let out = cmd.output().unwrap();
        StepRun {
            code: out.status.code().unwrap_or(-1),
            log: format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            github_path: std::fs::read_to_string(&github_path).unwrap(),
        }
    }
}

fn version_of(binary: &Path) -> String {
    let out = Command::new(binary).arg("--version").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_binary_of_another_version_is_rebuilt_without_credentials_and_a_current_one_is_kept() {
    let runner = Runner::new("install-mismatch");
    let version = source_version();
    // A persistent runner kept a binary of another version (built from the same source key,
    // so only the version check can notice).
    runner.leave_binary("0.0.1-old", "source-key-1");
    let r = runner.run("install", &[]);
    assert_eq!(r.code, 0, "{}", r.log);
    let root = runner.scratch.0.join("home/.pipeline-run");
    assert_eq!(
        runner.cargo_calls(),
        [format!(
            "install --locked --force --path {} --root {}",
            repo().display(),
            root.display()
        )]
    );
    assert_eq!(
        version_of(&runner.home_binary()),
        format!("pipeline-run {version}")
    );
    assert_eq!(r.github_path.trim(), root.join("bin").display().to_string());
    assert!(r.log.contains("found: pipeline-run 0.0.1-old"), "{}", r.log);
    let build_env = std::fs::read_to_string(runner.scratch.0.join("cargo.env")).unwrap();
    let leaked: Vec<&str> = build_env
        .lines()
        .filter(|l| l.starts_with("AWS_") || l.starts_with("ACTIONS_ID_TOKEN_REQUEST_"))
        .collect();
    assert!(leaked.is_empty(), "cargo install saw {leaked:?}");
    assert!(
        build_env.contains("HOME="),
        "the recorder saw the environment"
    );

    // The next job on the same runner: the right version from the same source is kept.
    let r = runner.run("install", &[]);
    assert_eq!(r.code, 0, "{}", r.log);
    assert_eq!(runner.cargo_calls().len(), 1, "{}", r.log);

    // The same version from another source (a cache of another commit) is rebuilt.
    runner.leave_binary(&version, "source-key-0");
    let r = runner.run("install", &[]);
    assert_eq!((r.code, runner.cargo_calls().len()), (0, 2), "{}", r.log);
}

#[test]
fn a_requested_version_the_source_is_not_is_refused_before_building() {
    let runner = Runner::new("install-wrong-version");
    let r = runner.run("install", &[("version", "9.9.9")]);
    assert_eq!(r.code, 1, "{}", r.log);
    assert!(
        r.log.contains(&format!(
            "::error title=pipeline-run::version 9.9.9 was requested, it has no release asset for this runner, and the action's source is version {}",
            source_version()
        )),
        "{}",
        r.log
    );
    assert!(runner.cargo_calls().is_empty());
}

/// A release asset whose SHA-256 is not the published one is not installed; a matching one is,
/// and an old gh without `attestation verify` is said to have verified the checksum only.
#[test]
fn a_release_download_is_installed_only_when_its_checksum_matches() {
    let runner = Runner::new("install-release");
    let release = runner.scratch.0.join("release");
    let payload = runner.scratch.0.join("payload");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::create_dir_all(&payload).unwrap();
    let bin = payload.join("pipeline-run");
    std::fs::write(&bin, "#!/bin/sh\necho \"pipeline-run 7.7.7\"\n").unwrap();
    Command::new("chmod").arg("+x").arg(&bin).status().unwrap();
    let asset = "pipeline-run-7.7.7-x86_64-unknown-linux-musl.tar.gz";
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(release.join(asset))
        .arg("-C")
        .arg(&payload)
        .arg("pipeline-run")
        .status()
        .unwrap();
    assert!(ok.success());
    let sum = |file: &Path| {
        let out = Command::new("sha256sum").arg(file).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let checksum_file = release.join(format!("{asset}.sha256"));
    std::fs::write(&checksum_file, format!("{}  {asset}\n", "0".repeat(64))).unwrap();
    let r = runner.run("release", &[("version", "7.7.7")]);
    assert_eq!(r.code, 1, "{}", r.log);
    assert!(
        r.log.contains(&format!(
            "::error title=pipeline-run::{asset}: SHA-256 {}",
            sum(&release.join(asset))
        )),
        "{}",
        r.log
    );
    let dir = runner.scratch.0.join("temp/pipeline-run-7.7.7");
    assert!(
        !dir.join("pipeline-run").exists(),
        "a corrupt asset was unpacked"
    );

    std::fs::write(
        &checksum_file,
        format!("{}  {asset}\n", sum(&release.join(asset))),
    )
    .unwrap();
    let r = runner.run("release", &[("version", "7.7.7")]);
    assert_eq!(r.code, 0, "{}", r.log);
    assert!(r.log.contains("verified by SHA-256 only"), "{}", r.log);
    assert_eq!(r.github_path.trim(), dir.display().to_string());
    assert_eq!(version_of(&dir.join("pipeline-run")), "pipeline-run 7.7.7");
}

/// Every action that action.yml and the workflows use is pinned by full commit SHA, with the tag
/// it was taken from in a comment: a moved tag cannot change what runs.
#[test]
fn every_third_party_action_is_pinned_by_commit_sha_with_its_tag() {
    let mut files = vec![repo().join("action.yml")];
    for entry in std::fs::read_dir(repo().join(".github/workflows")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut uses = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        serde_yaml::from_str::<serde_yaml::Value>(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            let Some(rest) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            else {
                continue;
            };
            uses += 1;
            let (target, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
            let sha = target.split_once('@').map(|(_, r)| r.trim()).unwrap_or("");
            let pinned = sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit());
            if !pinned || !comment.trim().starts_with('v') {
                wrong.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(uses >= 5, "{uses} uses: lines found");
    assert!(
        wrong.is_empty(),
        "not pinned by SHA with a tag comment:\n{}",
        wrong.join("\n")
    );
}
