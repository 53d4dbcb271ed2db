//! Stacks a failure leaves stuck, produced with the emulator's resource fault rules, reported
//! with the failing resource's logical id and reason, and brought back with pipeline-run's own
//! commands until `deploy` converges: UPDATE_ROLLBACK_FAILED (`rollback --skip`), UPDATE_FAILED
//! after `deploy --no-rollback` (deploy again, or `rollback`), DELETE_FAILED (`destroy
//! --retain`), and a stack another operation is still changing (refused). Stage `Net` deploys to
//! account B, whose admin checks the result.

use std::time::{Duration, Instant};

use crate::common::*;

/// Two parameters, B after A, with these values (and names).
fn template(a: &str, b: &str) -> String {
    template_named("/recovery/a", a, b)
}

fn template_named(a_name: &str, a: &str, b: &str) -> String {
    format!(
        "Resources:\n  A:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: {a_name}\n      Type: String\n      Value: \"{a}\"\n  B:\n    Type: AWS::SSM::Parameter\n    DependsOn: A\n    Properties:\n      Name: /recovery/b\n      Type: String\n      Value: \"{b}\"\n"
    )
}

struct Stage {
    scratch: Scratch,
    file: String,
}

impl Stage {
    /// Stage `Net` in account B deploying `t.yml`, written with `body`.
    fn new(body: &str) -> Stage {
        let scratch = Scratch::new("recovery");
        scratch.write(
            "pipeline.yml",
            "version: 1\naccounts:\n  B: {id: \"222222222222\", region: ap-northeast-1}\nstages:\n  - name: Net\n    account: B\n    template: t.yml\n",
        );
        let file = scratch.path("pipeline.yml");
        let stage = Stage { scratch, file };
        stage.template(body);
        stage
    }

    fn template(&self, body: &str) {
        self.scratch.write("t.yml", body);
    }

    fn run(&self, aws: &Aws, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-f", self.file.as_str(), "--output", "json"]);
        aws.run(&all)
    }

    fn deploy(&self, aws: &Aws, extra: &[&str]) -> Run {
        let mut args = vec!["deploy", "Net", "--no-verify"];
        args.extend_from_slice(extra);
        self.run(aws, &args)
    }
}

async fn cfn(aws: &Aws) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await)
}

/// The stack's status, None when there is none.
async fn status(aws: &Aws) -> Option<String> {
    let out = cfn(aws)
        .await
        .describe_stacks()
        .stack_name("Net")
        .send()
        .await
        .ok()?;
    let s = out.stacks().first()?.stack_status()?.as_str().to_string();
    (s != "DELETE_COMPLETE").then_some(s)
}

/// A parameter's value in account B (None when there is none).
async fn parameter(aws: &Aws, name: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let out = ssm.get_parameter().name(name).send().await.ok()?;
    out.parameter()?.value().map(str::to_string)
}

async fn values(aws: &Aws) -> (Option<String>, Option<String>) {
    (
        parameter(aws, "/recovery/a").await,
        parameter(aws, "/recovery/b").await,
    )
}

fn some(a: &str, b: &str) -> (Option<String>, Option<String>) {
    (Some(a.to_string()), Some(b.to_string()))
}

fn faults(aws: &Aws, rules: serde_json::Value) {
    control(
        &aws.endpoint,
        "POST",
        "/_emulator/faults",
        &rules.to_string(),
    );
}

fn assert_has(run: &Run, needles: &[&str]) {
    for needle in needles {
        assert!(run.stderr.contains(needle), "{needle}:\n{}", run.stderr);
    }
}

/// The run failed its stage (exit 3) with the stack left in `status`.
#[track_caller]
fn assert_ended(run: &Run, status: &str) {
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(stage_json(run)["stack_status"], status, "{}", run.stderr);
}

fn stage_json(run: &Run) -> serde_json::Value {
    run.json()["stages"][0].clone()
}

#[tokio::test]
async fn a_failed_rollback_is_reported_with_its_resources_and_rollback_skip_brings_it_back() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let stage = Stage::new(&template("1", "1"));
    let first = stage.deploy(&aws, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    // B's update fails, then restoring A fails too: UPDATE_ROLLBACK_FAILED.
    faults(
        &aws,
        serde_json::json!({"fail": [
            {"stack": "Net", "logical_id": "B", "on": "update", "reason": "quota of B exceeded"},
            {"stack": "Net", "logical_id": "A", "on": "rollback", "reason": "A is locked"}]}),
    );
    stage.template(&template("2", "2"));
    let failed = stage.deploy(&aws, &[]);
    assert_ended(&failed, "UPDATE_ROLLBACK_FAILED");
    assert_has(
        &failed,
        &[
            "stack Net ended UPDATE_ROLLBACK_FAILED",
            "cause: B (AWS::SSM::Parameter) UPDATE_FAILED: ",
            "quota of B exceeded",
            "rollback failed: A (AWS::SSM::Parameter) UPDATE_FAILED: ",
            "A is locked",
            "`pipeline-run rollback Net`",
            "`pipeline-run rollback Net --skip A`",
        ],
    );

    // The next deploy stops before any change set, with the same resources and fix.
    let stuck = stage.deploy(&aws, &[]);
    assert_eq!(stuck.code, 3, "{}", stuck.stderr);
    assert_has(
        &stuck,
        &[
            "stack Net is UPDATE_ROLLBACK_FAILED",
            "rollback failed: A (AWS::SSM::Parameter) UPDATE_FAILED: ",
            "`pipeline-run rollback Net --skip A`",
        ],
    );
    assert!(
        !stuck.stderr.contains("creating change set"),
        "{}",
        stuck.stderr
    );

    // --skip on a resource that did not fail to roll back: CloudFormation refuses, nothing moves.
    let wrong = stage.run(&aws, &["rollback", "Net", "--skip", "B"]);
    assert_eq!(wrong.code, 3, "{}", wrong.stderr);
    assert_eq!(
        status(&aws).await.as_deref(),
        Some("UPDATE_ROLLBACK_FAILED")
    );

    let back = stage.run(&aws, &["rollback", "Net", "--skip", "A"]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    let s = stage_json(&back);
    assert_eq!(
        (s["status"].as_str(), s["stack_status"].as_str()),
        (Some("rolled_back"), Some("UPDATE_ROLLBACK_COMPLETE")),
        "{}",
        back.stderr
    );
    // A was left as the failed update made it, B restored.
    assert_eq!(values(&aws).await, some("2", "1"));

    let converged = stage.deploy(&aws, &[]);
    assert_eq!(converged.code, 0, "{}", converged.stderr);
    assert_eq!(stage_json(&converged)["stack_status"], "UPDATE_COMPLETE");
    assert_eq!(values(&aws).await, some("2", "2"));
    let again = stage.run(&aws, &["rollback", "Net"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(stage_json(&again)["status"], "no_changes");
}

#[tokio::test]
async fn no_rollback_keeps_a_failed_update_and_both_ways_out_converge() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let stage = Stage::new(&template("1", "1"));
    assert_eq!(stage.deploy(&aws, &[]).code, 0);

    faults(
        &aws,
        serde_json::json!({"fail": {"stack": "Net", "logical_id": "B", "on": "update", "reason": "B broke"}}),
    );
    stage.template(&template("2", "2"));
    let failed = stage.deploy(&aws, &["--no-rollback"]);
    assert_ended(&failed, "UPDATE_FAILED");
    assert_has(
        &failed,
        &[
            "stack Net ended UPDATE_FAILED",
            "cause: B (AWS::SSM::Parameter) UPDATE_FAILED: ",
            "B broke",
            "`pipeline-run deploy Net --no-rollback`",
            "`pipeline-run rollback Net`",
        ],
    );
    // What the update did is kept for debugging.
    assert_eq!(values(&aws).await, some("2", "1"));

    // A deploy with rollback cannot start from there: stopped with the ways out.
    let refused = stage.deploy(&aws, &[]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert_has(
        &refused,
        &["stack Net is UPDATE_FAILED", "`pipeline-run rollback Net`"],
    );

    // Fixed and deployed again without rollback: the update goes on from what is there.
    stage.template(&template("2", "3"));
    let fixed = stage.deploy(&aws, &["--no-rollback"]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert_eq!(stage_json(&fixed)["stack_status"], "UPDATE_COMPLETE");
    assert_eq!(values(&aws).await, some("2", "3"));

    // Failed again, then `rollback`: back to the last stable state (RollbackStack).
    faults(
        &aws,
        serde_json::json!({"fail": {"stack": "Net", "logical_id": "B", "on": "update"}}),
    );
    stage.template(&template("4", "4"));
    assert_eq!(stage.deploy(&aws, &["--no-rollback"]).code, 3);
    assert_eq!(values(&aws).await, some("4", "3"));
    let skip = stage.run(&aws, &["rollback", "Net", "--skip", "B"]);
    assert_eq!(
        skip.code, 2,
        "--skip is for UPDATE_ROLLBACK_FAILED:\n{}",
        skip.stderr
    );
    let back = stage.run(&aws, &["rollback", "Net"]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        stage_json(&back)["stack_status"],
        "UPDATE_ROLLBACK_COMPLETE"
    );
    assert_eq!(values(&aws).await, some("2", "3"));
    let converged = stage.deploy(&aws, &[]);
    assert_eq!(converged.code, 0, "{}", converged.stderr);
    assert_eq!(values(&aws).await, some("4", "4"));
}

#[tokio::test]
async fn no_rollback_refuses_a_change_set_that_replaces_a_resource_before_executing_it() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let stage = Stage::new(&template("1", "1"));
    assert_eq!(stage.deploy(&aws, &[]).code, 0);
    // A new Name replaces the parameter.
    stage.template(&template_named("/recovery/a2", "1", "1"));
    let refused = stage.deploy(&aws, &["--no-rollback"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert_has(
        &refused,
        &[
            "replaces A (AWS::SSM::Parameter)",
            "cannot run without rollback; nothing was executed",
            "deploy without --no-rollback",
        ],
    );
    assert_eq!(status(&aws).await.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(parameter(&aws, "/recovery/a2").await, None);
    let with_rollback = stage.deploy(&aws, &[]);
    assert_eq!(with_rollback.code, 0, "{}", with_rollback.stderr);
    assert_eq!(parameter(&aws, "/recovery/a2").await.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_failed_delete_names_what_was_left_and_destroy_retain_completes_it() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let stage = Stage::new(&template("1", "1"));
    assert_eq!(stage.deploy(&aws, &[]).code, 0);

    // --retain is only for a stack in DELETE_FAILED: refused, nothing deleted.
    let early = stage.run(&aws, &["destroy", "Net", "--force", "--retain", "A"]);
    assert_eq!(early.code, 2, "{}", early.stderr);
    assert_eq!(status(&aws).await.as_deref(), Some("CREATE_COMPLETE"));

    faults(
        &aws,
        serde_json::json!({"fail": {"stack": "Net", "logical_id": "A", "on": "delete", "count": 5, "reason": "A is in use"}}),
    );
    let failed = stage.run(&aws, &["destroy", "Net", "--force"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert_has(
        &failed,
        &[
            "stack Net is DELETE_FAILED",
            "not deleted: A (AWS::SSM::Parameter) DELETE_FAILED: ",
            "A is in use",
            "`pipeline-run destroy Net --retain A`",
        ],
    );
    assert_eq!(status(&aws).await.as_deref(), Some("DELETE_FAILED"));

    let done = stage.run(&aws, &["destroy", "Net", "--force", "--retain", "A"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(stage_json(&done)["status"], "destroyed");
    assert_eq!(status(&aws).await, None);
    // A kept, outside any stack; B deleted.
    assert_eq!(values(&aws).await, (Some("1".to_string()), None));
}

#[tokio::test]
async fn a_stack_another_operation_is_changing_is_refused_naming_it_until_it_ends() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let stage = Stage::new(&template("1", "1"));
    assert_eq!(stage.deploy(&aws, &[]).code, 0);

    // Another operation (account B's admin) updates the stack and is held on B.
    faults(
        &aws,
        serde_json::json!({"hold": {"stack": "Net", "logical_id": "B", "on": "update"}}),
    );
    let cfn = cfn(&aws).await;
    cfn.create_change_set()
        .stack_name("Net")
        .change_set_name("other")
        .template_body(template("5", "5"))
        .send()
        .await
        .unwrap();
    cfn.execute_change_set()
        .stack_name("Net")
        .change_set_name("other")
        .send()
        .await
        .unwrap();
    assert_eq!(status(&aws).await.as_deref(), Some("UPDATE_IN_PROGRESS"));

    for args in [
        &["deploy", "Net", "--no-verify"][..],
        &["destroy", "Net", "--force"][..],
        &["rollback", "Net"][..],
    ] {
        let refused = stage.run(&aws, args);
        assert_eq!(refused.code, 3, "{args:?}: {}", refused.stderr);
        assert_has(
            &refused,
            &[
                "stack Net is UPDATE_IN_PROGRESS: another deployment is running or was interrupted (since ",
                "fix: wait until it finishes",
            ],
        );
    }
    assert_eq!(status(&aws).await.as_deref(), Some("UPDATE_IN_PROGRESS"));

    control(
        &aws.endpoint,
        "POST",
        "/_emulator/faults",
        r#"{"release": {}}"#,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&aws).await.as_deref() != Some("UPDATE_COMPLETE") {
        assert!(Instant::now() < deadline, "{:?}", status(&aws).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stage.template(&template("5", "5"));
    let converged = stage.deploy(&aws, &[]);
    assert_eq!(converged.code, 0, "{}", converged.stderr);
    assert_eq!(stage_json(&converged)["status"], "no_changes");
}

/// A nested stack `Child` (its template read from account B's staging bucket at `key`) of
/// parameters P and Q with these values.
async fn nested_parent(aws: &Aws, key: &str, p: &str, q: &str) -> String {
    let child = format!(
        "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /recovery/p\n      Type: String\n      Value: \"{p}\"\n  Q:\n    Type: AWS::SSM::Parameter\n    DependsOn: P\n    Properties:\n      Name: /recovery/q\n      Type: String\n      Value: \"{q}\"\n"
    );
    let bucket = staging_bucket(ACCOUNT_B);
    aws.s3("admin-b")
        .await
        .put_object()
        .bucket(&bucket)
        .key(key)
        .body(child.into_bytes().into())
        .send()
        .await
        .unwrap();
    format!(
        "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://s3.amazonaws.com/{bucket}/{key}\n"
    )
}

#[tokio::test]
async fn a_failure_inside_a_nested_stack_names_the_child_resource_and_its_rollback_failure() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let stage = Stage::new(&nested_parent(&aws, "child-v1.yml", "1", "1").await);
    let first = stage.deploy(&aws, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    // Q's update fails inside the child, and restoring P fails: the parent is UPDATE_ROLLBACK_FAILED.
    faults(
        &aws,
        serde_json::json!({"fail": [
            {"stack": "Net.Child", "logical_id": "Q", "on": "update", "reason": "Q refused"},
            {"stack": "Net.Child", "logical_id": "P", "on": "rollback", "count": 9, "reason": "P stuck"}]}),
    );
    stage.template(&nested_parent(&aws, "child-v2.yml", "2", "2").await);
    let failed = stage.deploy(&aws, &[]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert_has(
        &failed,
        &[
            "stack Net ended UPDATE_ROLLBACK_FAILED",
            "cause: Child.Q (AWS::SSM::Parameter) UPDATE_FAILED: ",
            "Q refused",
            "rollback failed: Child.P (AWS::SSM::Parameter) UPDATE_FAILED: ",
            "P stuck",
            "`pipeline-run rollback Net --skip Child.P`",
        ],
    );

    let back = stage.run(&aws, &["rollback", "Net", "--skip", "Child.P"]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        stage_json(&back)["stack_status"],
        "UPDATE_ROLLBACK_COMPLETE"
    );
    let converged = stage.deploy(&aws, &[]);
    assert_eq!(converged.code, 0, "{}", converged.stderr);
    assert_eq!(parameter(&aws, "/recovery/q").await.as_deref(), Some("2"));
}

#[tokio::test]
async fn a_failed_first_deploy_of_a_nested_stack_names_the_child_resource() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    faults(
        &aws,
        serde_json::json!({"fail": {"stack": "Net.Child", "logical_id": "P", "on": "create", "reason": "P refused"}}),
    );
    let stage = Stage::new(&nested_parent(&aws, "child.yml", "1", "1").await);
    let failed = stage.deploy(&aws, &[]);
    assert_ended(&failed, "ROLLBACK_COMPLETE");
    assert_has(
        &failed,
        &[
            "stack Net ended ROLLBACK_COMPLETE",
            "cause: Child.P (AWS::SSM::Parameter) CREATE_FAILED: ",
            "P refused",
        ],
    );
    // The next deploy re-creates the stack.
    let again = stage.deploy(&aws, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(parameter(&aws, "/recovery/p").await.as_deref(), Some("1"));
}

/// Alarm `errors` of account B put (through the emulator's own boto3, as account B's admin) and
/// set to `state`; its ARN.
fn alarm(aws: &Aws, state: &str) -> String {
    let venv = std::env::var("PIPELINE_RUN_EMULATOR_VENV")
        .unwrap_or_else(|_| repo().join("tests/emulator/.venv").display().to_string());
    let script = format!(
        "import boto3\ncw = boto3.client('cloudwatch', endpoint_url='{}', region_name='{REGION}', aws_access_key_id='AKIAPIPELINEADMIN222', aws_secret_access_key='pipelineRunAdminSecretAccessKey000000002')\ncw.put_metric_alarm(AlarmName='errors', MetricName='Errors', Namespace='App', Statistic='Sum', Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator='GreaterThanOrEqualToThreshold')\ncw.set_alarm_state(AlarmName='errors', StateValue='{state}', StateReason='test')\n",
        aws.endpoint
    );
    let out = std::process::Command::new(format!("{venv}/bin/python"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT_B}:alarm:errors")
}

#[tokio::test]
async fn an_alarm_in_alarm_during_the_deploy_rolls_the_stage_back_and_is_reported_as_such() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let arn = alarm(&aws, "OK");
    let stage = Stage::new(&template("1", "1"));
    stage.scratch.write(
        "pipeline.yml",
        &format!(
            "version: 1\naccounts:\n  B: {{id: \"222222222222\", region: ap-northeast-1}}\nstages:\n  - name: Net\n    account: B\n    template: t.yml\n    rollback_alarms: [\"{arn}\"]\n    monitoring_minutes: 1\n"
        ),
    );
    // A quiet window (one emulator minute lasts a second): deployed, the triggers kept on the stack.
    let first = stage.deploy(&aws, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let stacks = cfn(&aws)
        .await
        .describe_stacks()
        .stack_name("Net")
        .send()
        .await
        .unwrap();
    let config = stacks.stacks()[0].rollback_configuration().unwrap();
    assert_eq!(config.monitoring_time_in_minutes(), Some(1));
    assert_eq!(config.rollback_triggers()[0].arn(), Some(arn.as_str()));
    // Unchanged, triggers included: skipped.
    let same = stage.deploy(&aws, &[]);
    assert_eq!(stage_json(&same)["status"], "no_changes", "{}", same.stderr);

    alarm(&aws, "ALARM");
    stage.template(&template("2", "2"));
    let rolled = stage.deploy(&aws, &[]);
    assert_ended(&rolled, "UPDATE_ROLLBACK_COMPLETE");
    assert_has(
        &rolled,
        &[
            "stack Net was rolled back by a rollback trigger: an alarm of rollback_alarms",
            arn.as_str(),
            "stack Net ended UPDATE_ROLLBACK_COMPLETE",
        ],
    );
    assert_eq!(values(&aws).await, some("1", "1"));

    alarm(&aws, "OK");
    let converged = stage.deploy(&aws, &[]);
    assert_eq!(converged.code, 0, "{}", converged.stderr);
    assert_eq!(values(&aws).await, some("2", "2"));
}
