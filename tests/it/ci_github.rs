//! action.yml run the way a GitHub runner runs it: the `run` step's script, with the step's
//! `env:` expressions evaluated from the inputs (defaults from action.yml), executed by
//! `bash --noprofile --norc -eo pipefail`, with GITHUB_ACTIONS=true and temporary GITHUB_OUTPUT,
//! GITHUB_STEP_SUMMARY and RUNNER_TEMP; then the action's declared outputs evaluated from what the
//! step wrote. The install steps are not run: the test build of pipeline-run is put on PATH, as
//! the build step's `$GITHUB_PATH` line does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;

const CI_SECRET: &str = "pipelineRunCiSecretAccessKey000000000001";

fn action() -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo().join("action.yml")).expect("action.yml");
    serde_yaml::from_str(&text).expect("action.yml is YAML")
}

fn step<'a>(action: &'a serde_yaml::Value, id: &str) -> &'a serde_yaml::Value {
    action["runs"]["steps"]
        .as_sequence()
        .expect("runs.steps")
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no step with id {id} in action.yml"))
}

/// The expression contexts the run step may use; anything else fails the test, so a new
/// expression in action.yml has to be taught here first.
struct Contexts<'a> {
    action: &'a serde_yaml::Value,
    inputs: BTreeMap<String, String>,
    runner_temp: String,
    step_outputs: BTreeMap<String, BTreeMap<String, String>>,
}

impl Contexts<'_> {
    fn lookup(&self, expr: &str) -> String {
        let parts: Vec<&str> = expr.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => {
                let declared = &self.action["inputs"][*name];
                assert!(
                    !declared.is_null(),
                    "action.yml uses undeclared input {name}"
                );
                self.inputs
                    .get(*name)
                    .cloned()
                    .unwrap_or_else(|| declared["default"].as_str().unwrap_or_default().to_string())
            }
            ["runner", "temp"] => self.runner_temp.clone(),
            ["runner", "os"] => "Linux".into(),
            ["github", "action_path"] | ["github", "workspace"] => repo().display().to_string(),
            ["steps", id, "outputs", name] => self
                .step_outputs
                .get(*id)
                .and_then(|o| o.get(*name))
                .cloned()
                .unwrap_or_default(),
            _ => panic!("the test runner does not evaluate ${{{{ {expr} }}}}"),
        }
    }

    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unterminated ${{") + start;
            out.push_str(&self.lookup(rest[start + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads $GITHUB_OUTPUT.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

struct StepRun {
    code: i32,
    stdout: String,
    stderr: String,
    /// What the step wrote to $GITHUB_OUTPUT.
    step_outputs: BTreeMap<String, String>,
    /// The action's declared outputs, evaluated as the runner does after the last step.
    action_outputs: BTreeMap<String, String>,
    summary: String,
    _runner_temp: Scratch,
}

impl StepRun {
    fn log(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs action.yml's `run` step with `inputs` and the job environment `job_env` (what
/// configure-aws-credentials would have exported).
fn run_action(inputs: &[(&str, &str)], job_env: &[(String, String)]) -> StepRun {
    let action = action();
    let run = step(&action, "run");
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let runner_temp = Scratch::new(&format!(
        "runner-temp-{}",
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    let mut ctx = Contexts {
        action: &action,
        inputs: inputs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        runner_temp: runner_temp.0.display().to_string(),
        step_outputs: BTreeMap::new(),
    };
    assert_eq!(run["shell"].as_str(), Some("bash"));
    let script = run["run"].as_str().expect("run step has a script");
    assert!(
        !script.contains("${{"),
        "inputs must reach the script through env:, not be spliced into it"
    );
    let script_file = runner_temp.write("step.sh", script);
    let output_file = runner_temp.write("github_output", "");
    let summary_file = runner_temp.write("step_summary.md", "");
    let workdir = run["working-directory"]
        .as_str()
        .map(|w| repo().join(ctx.expand(w)))
        .unwrap_or_else(repo);

    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script_file)
        .current_dir(&workdir)
        .env_clear()
        .env("PATH", path_with_binary())
        .env("HOME", runner_temp.path("home"))
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("GITHUB_WORKSPACE", repo())
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .env("RUNNER_TEMP", &runner_temp.0)
        .stdin(Stdio::null());
    for (k, v) in job_env {
        cmd.env(k, v);
    }
    if let Some(env) = run["env"].as_mapping() {
        for (k, v) in env {
            let value = match v {
                serde_yaml::Value::String(s) => ctx.expand(s),
                other => panic!("unexpected env value {other:?}"),
            };
            cmd.env(k.as_str().unwrap(), value);
        }
    }
    let out = cmd.output().expect("bash");
    let step_outputs = parse_github_output(&std::fs::read_to_string(&output_file).unwrap());
    ctx.step_outputs.insert("run".into(), step_outputs.clone());
    let action_outputs = action["outputs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                ctx.expand(v["value"].as_str().unwrap()),
            )
        })
        .collect();
    StepRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        step_outputs,
        action_outputs,
        summary: std::fs::read_to_string(&summary_file).unwrap(),
        _runner_temp: runner_temp,
    }
}

/// The job environment aws-actions/configure-aws-credentials leaves behind (static keys here;
/// OIDC is covered by tests/ci_credentials.rs), pointed at the local AWS.
fn job_env(aws: &Aws) -> Vec<(String, String)> {
    let mut env = bare_env(&aws.endpoint);
    env.extend([
        ("AWS_ACCESS_KEY_ID".into(), "AKIAPIPELINECI111111".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), CI_SECRET.into()),
        ("AWS_DEFAULT_REGION".into(), REGION.into()),
    ]);
    env
}

fn no_aws_env() -> Vec<(String, String)> {
    vec![("AWS_EC2_METADATA_DISABLED".into(), "true".into())]
}

#[test]
fn the_action_deploys_the_reference_pipeline_and_leaves_outputs_summary_and_groups() {
    let aws = aws();
    aws.bootstrap_both();
    let r = run_action(
        &[
            ("command", "deploy"),
            ("pipeline", "pipelines/vpc-peering.yml"),
            ("stages", "all"),
            ("args", "--concurrency 4"),
        ],
        &job_env(&aws),
    );
    assert_eq!(r.code, 0, "the step failed:\n{}", r.log());

    // Step outputs: ok, changes, one <stage>-<output> per stack output, the result file.
    let o = &r.step_outputs;
    assert_eq!(o.get("ok").map(String::as_str), Some("true"), "{o:?}");
    let changes: usize = o["changes"].parse().unwrap();
    assert!(changes >= 4, "a first deploy changes things: {o:?}");
    assert!(o["VpcC-VpcCId"].starts_with("vpc-"), "{o:?}");
    assert!(o["VpcA-VpcBId"].starts_with("vpc-"), "{o:?}");
    assert!(
        o["CrossAccountPeering-PeeringConnectionId"].starts_with("pcx-"),
        "{o:?}"
    );
    let result_path = PathBuf::from(&o["result-json"]);
    assert!(result_path.starts_with(&r._runner_temp.0), "{o:?}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result_path).unwrap()).unwrap();
    assert_eq!(result["ok"], true);
    assert_eq!(result["stages"].as_array().unwrap().len(), 4);

    // The action's declared outputs, as a workflow reads them from `steps.<id>.outputs`.
    let a = &r.action_outputs;
    assert_eq!(a["ok"], "true");
    assert_eq!(a["changes"], changes.to_string());
    assert_eq!(a["result-json"], o["result-json"]);
    let outputs: serde_json::Value = serde_json::from_str(&a["outputs"]).unwrap();
    assert_eq!(outputs["VpcC"]["VpcCId"], o["VpcC-VpcCId"].as_str());
    assert_eq!(
        outputs["CrossAccountPeering"]["PeeringConnectionId"],
        o["CrossAccountPeering-PeeringConnectionId"].as_str()
    );

    // Summary: a row per stage with its account, then the outputs.
    let md = &r.summary;
    assert!(
        md.starts_with("## pipeline-run deploy — ✅ succeeded"),
        "{md}"
    );
    assert!(md.contains("4 stages in 2 accounts"), "{md}");
    for (stage, account) in [
        ("VpcA", ACCOUNT_A),
        ("VpcC", ACCOUNT_B),
        ("CrossAccountPeering", ACCOUNT_A),
        ("VpcCRoutes", ACCOUNT_B),
    ] {
        let row = format!("| {stage} | {account} | {REGION} | {stage} | deployed | ");
        assert!(md.contains(&row), "no row {row:?} in:\n{md}");
    }
    assert!(
        md.contains(&format!("| VpcC | VpcCId | `{}` |", o["VpcC-VpcCId"])),
        "{md}"
    );
    // The network verification that followed, one row per check.
    assert!(md.contains("### Network verification"), "{md}");
    for check in ["A → B", "B → C", "A → C (not transitive)"] {
        assert!(
            md.lines()
                .any(|l| l.starts_with(&format!("| {check} | ")) && l.ends_with("| ✅ |")),
            "no passing row for {check}:\n{md}"
        );
    }

    // Log: one folded group per stage, closed; stable lines, no terminal control codes.
    for stage in ["VpcA", "VpcC", "CrossAccountPeering", "VpcCRoutes"] {
        assert!(
            r.stderr.contains(&format!("::group::{stage} — ")),
            "no group for {stage}:\n{}",
            r.stderr
        );
    }
    assert_eq!(
        r.stderr.matches("::group::").count(),
        r.stderr.matches("::endgroup::").count()
    );
    assert!(!r.stderr.contains('\u{1b}'), "ANSI codes in a CI log");
    assert!(!r.stderr.contains("::error"), "{}", r.stderr);

    // A failed expectation: exit code 4, an annotation naming the check, a ❌ row.
    let scratch = Scratch::new("ci-verify");
    let templates = repo().join("pipelines/templates/");
    let wrong = std::fs::read_to_string(repo().join("pipelines/vpc-peering.yml"))
        .unwrap()
        .replace(
            "template: templates/",
            &format!("template: {}", templates.display()),
        )
        .replace(
            "      to: VpcC.InstanceCPrivateIp\n      expect: unreachable",
            "      to: VpcC.InstanceCPrivateIp\n      expect: reachable",
        );
    let wrong_file = scratch.write("wrong.yml", &wrong);
    let v = run_action(
        &[
            ("command", "verify"),
            ("pipeline", &wrong_file.display().to_string()),
        ],
        &job_env(&aws),
    );
    assert_eq!(v.code, 4, "{}", v.log());
    let annotations: Vec<&str> = v
        .stderr
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 1, "{}", v.stderr);
    assert!(
        annotations[0].contains("A → C (not transitive)")
            && annotations[0].contains("expected reachable"),
        "{}",
        annotations[0]
    );
    assert_eq!(v.action_outputs["ok"], "false");
    assert!(
        v.summary
            .lines()
            .any(|l| l.starts_with("| A → C (not transitive) | reachable |")
                && l.ends_with("| ❌ |")),
        "{}",
        v.summary
    );

    // Credentials never reach the log, the outputs or the summary.
    let result_text = std::fs::read_to_string(&result_path).unwrap();
    for (what, text) in [
        ("log", r.log()),
        ("outputs", format!("{o:?}")),
        ("summary", md.clone()),
        ("result", result_text),
    ] {
        assert!(!text.contains(CI_SECRET), "secret key in the {what}");
    }
}

#[test]
fn a_broken_stage_file_fails_with_exit_code_2_and_an_annotation_on_its_line() {
    let scratch = Scratch::new("ci-broken");
    scratch.write("t.yml", "Resources: {}\n");
    let file = scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Net\n    account: Z\n    template: t.yml\n",
    );
    let relative = file.strip_prefix(repo()).unwrap().display().to_string();
    // Named relative to a working-directory: the annotation is relative to the workspace.
    let workdir = scratch
        .0
        .strip_prefix(repo())
        .unwrap()
        .display()
        .to_string();
    let r = run_action(
        &[
            ("command", "deploy"),
            ("pipeline", "pipeline.yml"),
            ("working-directory", &workdir),
        ],
        &no_aws_env(),
    );
    assert_eq!(r.code, 2, "{}", r.log());
    let annotation = format!(
        "::error file={relative},line=8,title=pipeline-run::stage Net, field account: account 'Z' is not declared"
    );
    assert!(
        r.stderr.contains(&annotation),
        "no {annotation:?} in:\n{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("::error").count(),
        1,
        "one problem, one annotation:\n{}",
        r.stderr
    );
    assert_eq!(r.action_outputs["ok"], "false");
    assert_eq!(r.action_outputs["changes"], "0");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r.action_outputs["result-json"]).unwrap())
            .unwrap();
    assert_eq!(result["ok"], false);
    assert_eq!(result["exit_code"], 2);
    assert!(
        r.summary
            .starts_with("## pipeline-run deploy — ❌ failed (exit code 2)"),
        "{}",
        r.summary
    );
    assert!(r.summary.contains("account 'Z' is not declared"));
}

fn wave_stages(matrix: &serde_json::Value, wave: usize) -> Vec<String> {
    let mut names: Vec<String> = matrix["waves"][wave]["include"]
        .as_array()
        .unwrap_or_else(|| panic!("no wave {wave} in {matrix}"))
        .iter()
        .map(|j| j["stage"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn plan_gives_the_reference_pipeline_as_a_job_matrix_one_wave_per_job() {
    let r = run_action(
        &[
            ("command", "plan"),
            ("pipeline", "pipelines/vpc-peering.yml"),
        ],
        &no_aws_env(),
    );
    assert_eq!(r.code, 0, "{}", r.log());
    let matrix: serde_json::Value = serde_json::from_str(&r.action_outputs["matrix"]).unwrap();
    assert_eq!(r.action_outputs["wave-count"], "3");
    assert_eq!(matrix["wave_count"], 3);
    // VpcA (account A) and VpcC (account B) depend on nothing: the first wave runs both.
    assert_eq!(wave_stages(&matrix, 0), ["VpcA", "VpcC"]);
    assert_eq!(wave_stages(&matrix, 1), ["CrossAccountPeering"]);
    assert_eq!(wave_stages(&matrix, 2), ["VpcCRoutes"]);
    let vpc_c = &matrix["waves"][0]["include"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["stage"] == "VpcC")
        .unwrap()
        .clone();
    assert_eq!(vpc_c["account"], ACCOUNT_B);
    assert_eq!(vpc_c["region"], REGION);

    // Run directly in a `run:` step, the same document is on stdout and each wave is an output.
    let wave1: serde_json::Value = serde_json::from_str(&r.step_outputs["wave-1"]).unwrap();
    assert_eq!(wave1, matrix["waves"][0]);
    let stdout: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(stdout, matrix);
}

#[test]
fn an_output_named_like_a_secret_is_masked_before_anything_could_print_it() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_A]);
    let scratch = Scratch::new("ci-mask");
    let value = "correct-horse-battery-staple-42";
    scratch.write(
        "t.yml",
        &format!("Resources:\n  Net:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.9.0.0/16\nOutputs:\n  NetId:\n    Value: !Ref Net\n  DbPassword:\n    Value: {value}\n"),
    );
    let file = scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Db\n    account: A\n    template: t.yml\n",
    );
    let file = file.strip_prefix(repo()).unwrap().display().to_string();
    let r = run_action(
        &[("pipeline", file.as_str()), ("args", "--output json")],
        &job_env(&aws),
    );
    assert_eq!(r.code, 0, "{}", r.log());
    // The step output carries the value (a later step may need it) …
    assert_eq!(r.step_outputs["Db-DbPassword"], value);
    // … the runner is told to mask it before it shows up anywhere in the log (stdout included:
    // --output json prints it after the mask) …
    let mask = format!("::add-mask::{value}");
    assert!(r.stderr.contains(&mask), "{}", r.stderr);
    assert_eq!(
        r.stderr.matches(value).count(),
        1,
        "only the mask command names it:\n{}",
        r.stderr
    );
    assert!(r.stdout.contains(value), "--output json still has it");
    // … and the summary does not show it.
    assert!(!r.summary.contains(value), "{}", r.summary);
    assert!(r.summary.contains("| Db | DbPassword | *** (masked) |"));
    assert!(r.summary.contains("| Db | NetId | `vpc-"), "{}", r.summary);
}

#[test]
fn an_account_that_was_never_bootstrapped_fails_with_exit_code_5_and_an_annotation() {
    let aws = aws();
    let r = run_action(
        &[
            ("pipeline", "pipelines/vpc-peering.yml"),
            ("stages", "VpcA"),
            ("args", "--no-verify"),
        ],
        &job_env(&aws),
    );
    assert_eq!(r.code, 5, "{}", r.log());
    let annotation = r
        .stderr
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation:\n{}", r.stderr));
    assert!(
        annotation.contains("stage VpcA failed")
            && annotation.contains("cdk-hnb659fds-deploy-role-111111111111-ap-northeast-1")
            && annotation.contains("%0A  fix: bootstrap"),
        "{annotation}"
    );
    assert!(r.stderr.contains("::group::VpcA — FAILED"), "{}", r.stderr);
    assert_eq!(r.action_outputs["ok"], "false");
    assert!(
        r.summary
            .contains("| VpcA | 111111111111 | ap-northeast-1 | VpcA | FAILED |")
    );
    assert!(r.summary.contains("### Problems"), "{}", r.summary);
    assert!(!r.log().contains(CI_SECRET));
}
