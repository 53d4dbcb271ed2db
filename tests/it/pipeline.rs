//! The pipeline end to end against the local AWS: bootstrap, deploy across two accounts, outputs
//! flowing across accounts, re-runs, trust failures, rollback and recovery, diff and destroy.

use crate::common::*;

const MISSING_PEERING_TEMPLATE: &str = "Resources:\n  Net:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.9.0.0/16\n  Rt:\n    Type: AWS::EC2::RouteTable\n    Properties:\n      VpcId: !Ref Net\n  Broken:\n    Type: AWS::EC2::Route\n    DependsOn: Rt\n    Properties:\n      RouteTableId: !Ref Rt\n      DestinationCidrBlock: 10.8.0.0/16\n      VpcPeeringConnectionId: pcx-0000000000000dead\nOutputs:\n  NetId:\n    Value: !Ref Net\n";
const FIXED_TEMPLATE: &str = "Resources:\n  Net:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.9.0.0/16\nOutputs:\n  NetId:\n    Value: !Ref Net\n";

fn single_stage_file(scratch: &Scratch, template: &str) -> String {
    scratch.write("t.yml", template);
    scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Net\n    account: A\n    template: t.yml\n",
    );
    scratch.path("pipeline.yml")
}

#[tokio::test]
async fn reference_pipeline_deploys_into_both_accounts_and_passes_outputs_across() {
    let aws = aws();
    aws.bootstrap_both();
    let file = reference_file();
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    let json = r.json();
    for (name, account) in [
        ("VpcA", ACCOUNT_A),
        ("VpcC", ACCOUNT_B),
        ("CrossAccountPeering", ACCOUNT_A),
        ("VpcCRoutes", ACCOUNT_B),
    ] {
        let s = stage(&json, name);
        assert_eq!(s["status"], "deployed", "{name}: {s}");
        assert_eq!(s["account"], account, "{name}");
        assert_eq!(s["stack_status"], "CREATE_COMPLETE", "{name}");
        assert!(s["change_set_executed"].as_bool().unwrap());
    }

    // VpcC's id (account B) reached the peering stack in account A, which peered with it.
    let vpc_c = stage(&json, "VpcC")["outputs"]["VpcCId"]
        .as_str()
        .unwrap()
        .to_string();
    let pcx = stage(&json, "CrossAccountPeering")["outputs"]["PeeringConnectionId"]
        .as_str()
        .unwrap()
        .to_string();
    let ec2_b = aws_sdk_ec2::Client::new(&aws.sdk("admin-b").await);
    let peering = ec2_b
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(&pcx)
        .send()
        .await
        .unwrap();
    let conn = &peering.vpc_peering_connections()[0];
    assert_eq!(conn.status().unwrap().code().unwrap().as_str(), "active");
    assert_eq!(
        conn.accepter_vpc_info().unwrap().vpc_id(),
        Some(vpc_c.as_str())
    );
    assert_eq!(
        conn.accepter_vpc_info().unwrap().owner_id(),
        Some(ACCOUNT_B)
    );
    assert_eq!(
        conn.requester_vpc_info().unwrap().owner_id(),
        Some(ACCOUNT_A)
    );
    // The stage asked for DNS resolution: both sides have it.
    assert_eq!(
        conn.accepter_vpc_info()
            .unwrap()
            .peering_options()
            .unwrap()
            .allow_dns_resolution_from_remote_vpc(),
        Some(true)
    );
    assert_eq!(
        conn.requester_vpc_info()
            .unwrap()
            .peering_options()
            .unwrap()
            .allow_dns_resolution_from_remote_vpc(),
        Some(true)
    );

    // VPC C's route table sends 10.1.0.0/16 over that peering.
    let rtb = stage(&json, "VpcC")["outputs"]["VpcCRouteTableId"]
        .as_str()
        .unwrap()
        .to_string();
    let tables = ec2_b
        .describe_route_tables()
        .route_table_ids(&rtb)
        .send()
        .await
        .unwrap();
    let routes = tables.route_tables()[0].routes();
    assert!(
        routes
            .iter()
            .any(|r| r.destination_cidr_block() == Some("10.1.0.0/16")
                && r.vpc_peering_connection_id() == Some(pcx.as_str())),
        "no route to 10.1.0.0/16 via {pcx}: {routes:?}"
    );

    // Seed 000's Parameter Store pattern: VpcC's id is published in account B.
    let ssm_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let p = ssm_b
        .get_parameter()
        .name("/pipeline-run/hnb659fds/vpc-peering/vpc-c/id")
        .send()
        .await
        .unwrap();
    assert_eq!(p.parameter().unwrap().value(), Some(vpc_c.as_str()));

    // A second run changes nothing, executes no change set, and says so.
    let again = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    for s in again.json()["stages"].as_array().unwrap() {
        assert_eq!(s["status"], "no_changes", "{s}");
        assert_eq!(s["change_set_executed"], false);
        assert_eq!(s["changes"], 0);
    }
    assert!(again.stderr.contains("no changes"), "{}", again.stderr);
}

#[test]
fn a_stage_in_an_account_that_does_not_trust_the_ci_account_fails_with_the_fix() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_A]);
    // Account B bootstrapped by its own admin, without --trust.
    let b = aws.run_as("admin-b", &["bootstrap", &env_url(ACCOUNT_B)], &[]);
    assert_eq!(b.code, 0, "{}", b.stderr);

    let r = aws.run(&["deploy", "VpcC", "-f", &reference_file(), "--no-verify"]);
    assert_eq!(
        r.code, 5,
        "expected the credentials exit code:\n{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("arn:aws:iam::111111111111:user/pipeline-ci"),
        "names the caller: {}",
        r.stderr
    );
    assert!(r.stderr.contains("AccessDenied"), "{}", r.stderr);
    assert!(
        r.stderr.contains("pipeline-run bootstrap --trust 111111111111 --cloudformation-execution-policies arn:aws:iam::aws:policy/AdministratorAccess aws://222222222222/ap-northeast-1"),
        "gives the exact fix: {}",
        r.stderr
    );
}

#[test]
fn trust_without_execution_policies_is_refused_like_the_cdk() {
    let aws = aws();
    let r = aws.run(&["bootstrap", "--trust", ACCOUNT_A, &env_url(ACCOUNT_A)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--cloudformation-execution-policies is required with --trust"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_failing_resource_is_rolled_back_reported_and_the_stack_recreated_on_the_next_run() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("rollback");
    let file = single_stage_file(&scratch, MISSING_PEERING_TEMPLATE);

    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(
        r.code, 3,
        "expected the deploy-failure exit code:\n{}",
        r.stderr
    );
    let stage = &r.json()["stages"][0];
    assert_eq!(stage["status"], "failed");
    assert_eq!(stage["stack_status"], "ROLLBACK_COMPLETE", "{stage}");
    let error = stage["error"].as_str().unwrap();
    assert!(
        error.contains("Broken (AWS::EC2::Route) CREATE_FAILED"),
        "root cause names the resource: {error}"
    );
    assert!(
        error.contains("pcx-0000000000000dead"),
        "and the reason: {error}"
    );

    // Fixed template: the ROLLBACK_COMPLETE stack is deleted and created again.
    scratch.write("t.yml", FIXED_TEMPLATE);
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["stages"][0]["stack_status"], "CREATE_COMPLETE");
    assert!(
        r.stderr.contains("re-created after ROLLBACK_COMPLETE"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_later_stage_does_not_start_after_a_failure_and_is_reported_skipped() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("skip");
    scratch.write("bad.yml", MISSING_PEERING_TEMPLATE);
    scratch.write("ok.yml", "Parameters:\n  NetId:\n    Type: String\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /later/net\n      Type: String\n      Value: !Ref NetId\n");
    scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A: {id: \"111111111111\", region: ap-northeast-1}\nstages:\n  - name: First\n    account: A\n    template: bad.yml\n  - name: Later\n    account: A\n    template: ok.yml\n    parameters:\n      NetId: ${First.NetId}\n",
    );
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &scratch.path("pipeline.yml"),
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["stages"][1]["status"], "skipped");
    assert!(
        json["stages"][1]["error"]
            .as_str()
            .unwrap()
            .contains("First"),
        "{}",
        json["stages"][1]
    );
}

#[test]
fn diff_shows_changes_and_executes_nothing_then_destroy_removes_every_stack() {
    let aws = aws();
    aws.bootstrap_both();
    let file = reference_file();
    // VpcA alone: diff needs no outputs of other stages.
    let d = aws.run(&["diff", "VpcA", "-f", &file, "--output", "json"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    let s = &d.json()["stages"][0];
    assert_eq!(s["status"], "changes");
    assert_eq!(s["change_set_executed"], false);
    assert!(s["changes"].as_u64().unwrap() >= 10, "{s}");
    assert!(
        d.stderr
            .contains("+ PeeringAB AWS::EC2::VPCPeeringConnection"),
        "{}",
        d.stderr
    );
    let l = aws.run(&[
        "deploy",
        "VpcA",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(
        l.json()["stages"][0]["status"],
        "deployed",
        "diff must have left nothing behind: {}",
        l.stderr
    );

    let all = aws.run(&["deploy", "--all", "-f", &file, "--no-verify"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let gone = aws.run(&[
        "destroy", "--all", "--force", "-f", &file, "--output", "json",
    ]);
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    for s in gone.json()["stages"].as_array().unwrap() {
        assert_eq!(s["status"], "destroyed", "{s}");
    }
    // Dependents go first: VpcCRoutes before CrossAccountPeering before VpcA/VpcC.
    let pos = |needle: &str| {
        gone.stderr
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in:\n{}", gone.stderr))
    };
    assert!(pos("VpcCRoutes: deleted") < pos("CrossAccountPeering: deleted"));
    assert!(pos("CrossAccountPeering: deleted") < pos("VpcC: deleted"));
}

#[test]
fn a_single_stage_reads_the_outputs_of_earlier_stages_from_cloudformation() {
    let aws = aws();
    aws.bootstrap_both();
    let file = reference_file();
    let first = aws.run(&["deploy", "VpcA", "VpcC", "-f", &file, "--no-verify"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // A fresh process (as a fan-out job would be) deploys the next wave alone.
    let next = aws.run(&[
        "deploy",
        "CrossAccountPeering",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_eq!(next.json()["stages"][0]["status"], "deployed");
    // Without its dependencies deployed, a stage fails with the fix.
    let scratch_aws = aws.run(&["destroy", "VpcC", "--force", "-f", &file]);
    assert_eq!(scratch_aws.code, 0, "{}", scratch_aws.stderr);
    let orphan = aws.run(&["deploy", "VpcCRoutes", "-f", &file, "--no-verify"]);
    assert_eq!(orphan.code, 3, "{}", orphan.stderr);
    assert!(
        orphan.stderr.contains("pipeline-run deploy VpcC"),
        "{}",
        orphan.stderr
    );
}

#[test]
fn required_approval_without_a_terminal_executes_nothing_and_leaves_nothing() {
    let aws = aws();
    aws.bootstrap_both();
    let file = reference_file();
    let r = aws.run(&[
        "deploy",
        "VpcA",
        "-f",
        &file,
        "--no-verify",
        "--require-approval",
        "any-change",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("was not approved") && r.stderr.contains("--require-approval never"),
        "{}",
        r.stderr
    );
    assert_eq!(r.json()["stages"][0]["change_set_executed"], false);
    // No stack was left behind: the next plain deploy creates it from scratch.
    let d = aws.run(&[
        "deploy",
        "VpcA",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert_eq!(d.json()["stages"][0]["status"], "deployed");
    assert!(!d.stderr.contains("re-created"), "{}", d.stderr);
}
