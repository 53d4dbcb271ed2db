//! Termination protection that holds: set on the next deploy whichever way it goes (also when
//! nothing else changed), turned off the same way, and `destroy` refusing a protected stack before
//! it deletes anything. Stacks whose parameters CloudFormation reads from Parameter Store are never
//! skipped as unchanged. All stages deploy to account B, whose admin checks the result.

use crate::common::*;

const TEMPLATE: &str = "Resources:\n  Marker:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /protection-test/marker\n      Type: String\n      Value: kept\n";

/// A stage file with stage `Net` (account B) deploying `t.yml`, protected or not.
fn stage_file(scratch: &Scratch, protected: bool) -> String {
    scratch.write(
        "pipeline.yml",
        &format!(
            "version: 1\naccounts:\n  B: {{id: \"222222222222\", region: ap-northeast-1}}\nstages:\n  - name: Net\n    account: B\n    template: t.yml\n    termination_protection: {protected}\n"
        ),
    );
    scratch.path("pipeline.yml")
}

/// The stack's termination protection, None when there is no such stack (account B's admin).
async fn live_protection(aws: &Aws, stack: &str) -> Option<bool> {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let out = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    let found = out.stacks().first()?;
    Some(found.enable_termination_protection().unwrap_or(false))
}

/// A parameter's value in account B (None when there is none).
async fn parameter(aws: &Aws, name: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let out = ssm.get_parameter().name(name).send().await.ok()?;
    out.parameter()?.value().map(str::to_string)
}

#[tokio::test]
async fn protection_set_on_an_unchanged_stack_holds_against_destroy_until_a_deploy_turns_it_off() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let scratch = Scratch::new("protection");
    scratch.write("t.yml", TEMPLATE);
    let file = stage_file(&scratch, false);
    let first = deploy_all_json(&aws, &file);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(live_protection(&aws, "Net").await, Some(false));

    // Only the protection changes: no change set, but the stack is protected and the stage says so.
    let file = stage_file(&scratch, true);
    let on = deploy_all_json(&aws, &file);
    assert_eq!(on.code, 0, "{}", on.stderr);
    let s = &on.json()["stages"][0];
    assert_eq!(s["status"], "deployed", "{s}");
    assert_eq!(s["changes"], 1, "{s}");
    assert_eq!(s["change_set_executed"], false, "{s}");
    assert_eq!(
        s["change_list"],
        serde_json::json!([{"kind": "termination_protection", "action": "Enable"}])
    );
    assert!(
        on.stderr.contains("termination protection enabled"),
        "{}",
        on.stderr
    );
    assert!(!on.stderr.contains("no changes"), "{}", on.stderr);
    assert_eq!(live_protection(&aws, "Net").await, Some(true));
    // Settled: the next deploy has nothing to do.
    let again = deploy_all_json(&aws, &file);
    assert_eq!(
        again.json()["stages"][0]["status"],
        "no_changes",
        "{}",
        again.stderr
    );

    // Protected by the file and the stack: destroy --force refuses, naming file, stage and fix.
    let refused = aws.run(&["destroy", "--all", "--force", "-f", &file]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    for needle in [
        file.as_str(),
        "stage Net",
        "set termination_protection: false on stage Net",
        "deploy, then destroy",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    assert_eq!(
        live_protection(&aws, "Net").await,
        Some(true),
        "the stack is still there"
    );
    assert_eq!(
        parameter(&aws, "/protection-test/marker").await.as_deref(),
        Some("kept")
    );

    // The file no longer protects it, but nothing has deployed that: still refused, and diff
    // shows the pending change without making it.
    let file = stage_file(&scratch, false);
    let stale = aws.run(&["destroy", "--all", "--force", "-f", &file]);
    assert_eq!(stale.code, 3, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("deploy stage Net"),
        "{}",
        stale.stderr
    );
    let diff = aws.run(&["diff", "--all", "-f", &file, "--output", "json"]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert_eq!(
        diff.json()["stages"][0]["status"],
        "changes",
        "{}",
        diff.stderr
    );
    assert!(
        diff.stderr
            .contains("termination protection to be disabled"),
        "{}",
        diff.stderr
    );
    assert_eq!(live_protection(&aws, "Net").await, Some(true));

    // Deployed without protection: it goes, and then destroy deletes the stack.
    let off = deploy_all_json(&aws, &file);
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert_eq!(
        off.json()["stages"][0]["change_list"],
        serde_json::json!([{"kind": "termination_protection", "action": "Disable"}])
    );
    assert!(
        off.stderr.contains("termination protection disabled"),
        "{}",
        off.stderr
    );
    assert_eq!(live_protection(&aws, "Net").await, Some(false));
    let gone = aws.run(&[
        "destroy", "--all", "--force", "-f", &file, "--output", "json",
    ]);
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    assert_eq!(gone.json()["stages"][0]["status"], "destroyed");
    assert_eq!(live_protection(&aws, "Net").await, None);
    assert_eq!(parameter(&aws, "/protection-test/marker").await, None);
}

#[tokio::test]
async fn destroy_deletes_nothing_of_the_selection_while_one_stage_is_protected() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let scratch = Scratch::new("protection-selection");
    scratch.write("base.yml", TEMPLATE);
    scratch.write("app.yml", &TEMPLATE.replace("marker", "app-marker"));
    let write = |base_protected: bool| {
        scratch.write(
            "pipeline.yml",
            &format!(
                "version: 1\naccounts:\n  B: {{id: \"222222222222\", region: ap-northeast-1}}\nstages:\n  - name: Base\n    account: B\n    template: base.yml\n    termination_protection: {base_protected}\n  - name: App\n    account: B\n    template: app.yml\n    depends_on: [Base]\n"
            ),
        );
        scratch.path("pipeline.yml")
    };
    let file = write(false);
    let r = aws.run(&["deploy", "--all", "-f", &file, "--no-verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Base is protected by the file only (not deployed since). Dependents go first, so App would
    // be deleted before Base is reached: the refusal must come before any deletion.
    let file = write(true);
    let refused = aws.run(&[
        "destroy", "--all", "--force", "-f", &file, "--output", "json",
    ]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    let json = refused.json();
    let base = stage(&json, "Base");
    assert_eq!(base["status"], "failed", "{base}");
    let error = base["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("stage Base of {file} sets termination protection")),
        "{error}"
    );
    assert!(
        error.contains("set termination_protection: false on stage Base"),
        "{error}"
    );
    let app = stage(&json, "App");
    assert_eq!(app["status"], "skipped", "{app}");
    assert!(
        app["error"]
            .as_str()
            .unwrap()
            .contains("nothing is deleted while Base cannot be destroyed"),
        "{app}"
    );
    for stack in ["Base", "App"] {
        assert_eq!(
            live_protection(&aws, stack).await,
            Some(false),
            "{stack} still exists"
        );
    }
}

#[tokio::test]
async fn a_stack_whose_ssm_typed_parameter_has_a_new_value_is_deployed_again() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let version_name = "/cdk-bootstrap/hnb659fds/version";
    let version = parameter(&aws, version_name)
        .await
        .expect("bootstrap version");
    // The stage reads the bootstrap version through an SSM-typed parameter (as a CDK stack's
    // BootstrapVersion does, here without the CDK's [cdk:skip] mark) into a resource.
    let template = |description: &str| {
        format!(
            "Parameters:\n  BootstrapVersion:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: {version_name}\n    Description: {description}\nResources:\n  Seen:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /protection-test/seen-version\n      Type: String\n      Value: !Ref BootstrapVersion\n"
        )
    };
    let scratch = Scratch::new("protection-ssm");
    scratch.write("t.yml", &template("the bootstrap version"));
    let file = stage_file(&scratch, false);
    let first = deploy_all_json(&aws, &file);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        parameter(&aws, "/protection-test/seen-version").await,
        Some(version.clone())
    );

    // Nothing changed, but the value behind the name may have: a change set, found empty.
    let same = deploy_all_json(&aws, &file);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert!(
        same.stderr
            .contains("parameters resolved from SSM (BootstrapVersion): creating a change set"),
        "{}",
        same.stderr
    );
    assert_eq!(same.json()["stages"][0]["status"], "no_changes");

    // A new value behind the same name reaches the resource.
    let newer = (version.parse::<u32>().unwrap() + 1).to_string();
    let ssm = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    ssm.put_parameter()
        .name(version_name)
        .value(&newer)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let changed = deploy_all_json(&aws, &file);
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    let s = &changed.json()["stages"][0];
    assert_eq!(s["status"], "deployed", "{s}");
    assert_eq!(s["change_set_executed"], true, "{s}");
    assert_eq!(
        s["change_list"],
        serde_json::json!([{"kind": "resource", "action": "Modify", "logical_id": "Seen", "replacement": "False", "resource_type": "AWS::SSM::Parameter"}])
    );
    assert_eq!(
        parameter(&aws, "/protection-test/seen-version").await,
        Some(newer)
    );

    // The CDK's [cdk:skip] mark (on every CDK stack's BootstrapVersion) lets the stack be skipped
    // as the CDK skips it: no change set, so a new value is not picked up.
    scratch.write("t.yml", &template("the bootstrap version [cdk:skip]"));
    assert_eq!(deploy_all_json(&aws, &file).code, 0);
    ssm.put_parameter()
        .name(version_name)
        .value(&version)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let skipped = deploy_all_json(&aws, &file);
    assert_eq!(skipped.json()["stages"][0]["status"], "no_changes");
    assert!(
        !skipped.stderr.contains("parameters resolved from SSM"),
        "{}",
        skipped.stderr
    );
}

/// Fails on creation (a route to a peering that does not exist), leaving ROLLBACK_COMPLETE.
const FAILING_TEMPLATE: &str = "Resources:\n  Net:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.9.0.0/16\n  Rt:\n    Type: AWS::EC2::RouteTable\n    Properties:\n      VpcId: !Ref Net\n  Broken:\n    Type: AWS::EC2::Route\n    Properties:\n      RouteTableId: !Ref Rt\n      DestinationCidrBlock: 10.8.0.0/16\n      VpcPeeringConnectionId: pcx-0000000000000dead\n";

#[tokio::test]
async fn a_failed_first_creation_under_protection_is_recreated_only_when_the_stage_does_not_protect_it()
 {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_B]);
    let scratch = Scratch::new("protection-recreate");
    scratch.write("t.yml", FAILING_TEMPLATE);
    let file = stage_file(&scratch, true);
    let failed = deploy_all_json(&aws, &file);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert_eq!(
        failed.json()["stages"][0]["stack_status"],
        "ROLLBACK_COMPLETE"
    );
    // Protected from outside (the failed creation never got as far as pipeline-run setting it).
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    cfn.update_termination_protection()
        .stack_name("Net")
        .enable_termination_protection(true)
        .send()
        .await
        .unwrap();

    // The stage protects it: deleting it to create it again is refused, with the way out.
    scratch.write("t.yml", TEMPLATE);
    let refused = deploy_all_json(&aws, &file);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("is ROLLBACK_COMPLETE and has termination protection")
            && refused.stderr.contains(
                "update-termination-protection --no-enable-termination-protection --stack-name Net"
            ),
        "{}",
        refused.stderr
    );
    assert_eq!(live_protection(&aws, "Net").await, Some(true));

    // The stage does not protect it: protection goes, the stack is created again.
    let file = stage_file(&scratch, false);
    let recreated = deploy_all_json(&aws, &file);
    assert_eq!(recreated.code, 0, "{}", recreated.stderr);
    let s = &recreated.json()["stages"][0];
    assert_eq!(s["stack_status"], "CREATE_COMPLETE", "{s}");
    assert_eq!(
        s["change_list"].as_array().unwrap().last().unwrap(),
        &serde_json::json!({"kind": "termination_protection", "action": "Disable"})
    );
    assert!(
        recreated
            .stderr
            .contains("re-created after ROLLBACK_COMPLETE"),
        "{}",
        recreated.stderr
    );
    assert_eq!(live_protection(&aws, "Net").await, Some(false));
    assert_eq!(
        parameter(&aws, "/protection-test/marker").await.as_deref(),
        Some("kept")
    );
}
