//! Bad input is refused before any AWS call: the endpoint is a plain TCP listener that counts
//! connections, so a single request would show.

mod common;

use common::*;

#[test]
fn a_broken_stage_file_is_refused_with_file_line_field_and_fix_and_no_aws_call() {
    let s = Scratch::new("broken");
    s.write("vpc.yml", "Parameters:\n  Cidr:\n    Type: String\nResources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !Ref Cidr\nOutputs:\n  VpcId:\n    Value: !Ref V\n");
    let file = s.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"1111\"\n    region: ap-northeast-1\nstages:\n  - name: One\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: ${Two.SubnetId}\n  - name: Two\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n",
    );
    let file = file.display().to_string();
    for command in [
        vec!["deploy", "--all"],
        vec!["diff", "--all"],
        vec!["destroy", "--all", "--force"],
        vec!["verify"],
        vec!["bootstrap"],
    ] {
        let mut args: Vec<&str> = command.clone();
        args.extend(["-f", &file]);
        let (r, calls) = run_offline(&args);
        assert_eq!(r.code, 2, "{command:?}: {}", r.stderr);
        assert_eq!(calls, 0, "{command:?} contacted the endpoint");
        assert!(
            r.stderr.contains("pipeline.yml:4"),
            "{command:?} names file and line: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("accounts.A.id") && r.stderr.contains("12-digit"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("stage 'One', field 'parameters.Cidr'")
                && r.stderr.contains("no output 'SubnetId'"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("fix: use one of: VpcId"), "{}", r.stderr);
    }
}

#[test]
fn an_unknown_stage_name_on_the_command_line_is_refused_without_aws_call() {
    let (r, calls) = run_offline(&["deploy", "NoSuchStage", "-f", "pipelines/vpc-peering.yml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(
        r.stderr.contains("no stage named 'NoSuchStage'")
            && r.stderr
                .contains("VpcA, VpcC, CrossAccountPeering, VpcCRoutes"),
        "{}",
        r.stderr
    );
}

#[test]
fn list_and_plan_make_no_aws_call() {
    let (r, calls) = run_offline(&[
        "list",
        "-f",
        "pipelines/vpc-peering.yml",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["waves"][0], serde_json::json!(["VpcA", "VpcC"]));
    assert_eq!(
        json["stages"][1]["deploy_role"],
        "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
    );
}
