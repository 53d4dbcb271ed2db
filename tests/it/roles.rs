//! Role ARNs named by a CDK assembly are used for every call made for that stack: deploy
//! (change sets, the bootstrap version), the CloudFormation execution role, asset publishing,
//! reading its outputs when it is not deployed in the run (lookup), and network verification.
//!
//! The fixture tests/fixtures/assembly-custom-roles names `cdk-custom-deploy-role-222222222222`, `custom-exec`,
//! `cdk-custom-lookup-role-222222222222`, `cdk-custom-file-publishing-role-222222222222` (its asset destinations) and its own bucket and
//! bootstrap-version parameter, all in account B, which is never bootstrapped: the default
//! `cdk-hnb659fds-*` roles do not exist there, and the emulator refuses to assume a role that does
//! not exist (tests/emulator/patches/net_trust.py). Account B's admin creates only what the
//! assembly names, with CloudFormation stacks (one per role, so a role can be taken away). So a
//! run that succeeds made each of its calls in account B through one of the custom roles, and
//! which role each kind of call needs shows when that role is missing: the run fails, naming it.

use crate::common::*;

const FIXTURE: &str = "tests/fixtures/assembly-custom-roles";
const STACK: &str = "CustomRolesStack";
const BUCKET: &str = "custom-assets-222222222222";
/// The stage files' name for the stack (`source: {app: …, stack: CustomRolesStack}`).
const APP: &str = "App";

/// Keys of the fixture's assets under its destinations: the template and a file.
const TEMPLATE_KEY: &str = "025f0c3c76ca67cd9f473fc2771c9d771c1d0111ac2a1544d1744be786ab97f0.json";
const CONFIG_KEY: &str = "1d0160cf0426c71945a82121ff7a0ea79082a6fc33f25c0d151f540a2082b1b2.json";

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_B}:role/{name}")
}

/// The custom roles: (name, trusted principal, what it may do). The execution role trusts
/// CloudFormation, as the bootstrap's does; the others trust account A. Their names differ from
/// the bootstrap convention of the plan's qualifier (`cdk-hnb659fds-<kind>-role-<account>-<region>`)
/// but keep the `cdk-*-<kind>-role-*` shape the CI principal may assume (the emulator enforces
/// IAM: the seeded `ci` identity may assume only such roles). Each grants what its calls need,
/// as the bootstrap's roles do.
const ROLES: [(&str, &str, &str); 4] = [
    (
        "cdk-custom-deploy-role-222222222222",
        "{AWS: arn:aws:iam::111111111111:root}",
        DEPLOY_POLICY,
    ),
    (
        "custom-exec",
        "{Service: cloudformation.amazonaws.com}",
        "      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]\n",
    ),
    (
        "cdk-custom-lookup-role-222222222222",
        "{AWS: arn:aws:iam::111111111111:root}",
        "      ManagedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n",
    ),
    (
        "cdk-custom-file-publishing-role-222222222222",
        "{AWS: arn:aws:iam::111111111111:root}",
        PUBLISH_POLICY,
    ),
];

/// Change sets with the execution role, the template and version parameter the assembly names,
/// and the verification ping: the ping document, on instances tagged for it (as the bootstrap's
/// deploy role).
const DEPLOY_POLICY: &str = "      Policies:
        - PolicyName: deploy
          PolicyDocument:
            Version: \"2012-10-17\"
            Statement:
              - Effect: Allow
                Action: [cloudformation:CreateChangeSet, cloudformation:DeleteChangeSet, cloudformation:DescribeChangeSet, cloudformation:DescribeStacks, cloudformation:ExecuteChangeSet, cloudformation:DeleteStack, cloudformation:DescribeStackEvents, cloudformation:GetTemplate]
                Resource: '*'
              - Effect: Allow
                Action: iam:PassRole
                Resource: arn:aws:iam::222222222222:role/custom-exec
              - Effect: Allow
                Action: [s3:GetObject, s3:GetBucketLocation, s3:ListBucket]
                Resource: [arn:aws:s3:::custom-assets-222222222222, arn:aws:s3:::custom-assets-222222222222/*]
              - Effect: Allow
                Action: ssm:GetParameter
                Resource: arn:aws:ssm:ap-northeast-1:222222222222:parameter/custom-bootstrap/version
              - Effect: Allow
                Action: [ec2:DescribeInstances, ssm:GetCommandInvocation]
                Resource: '*'
              - Effect: Allow
                Action: ssm:SendCommand
                Resource: arn:aws:ssm:ap-northeast-1:222222222222:document/cdk-hnb659fds-pipeline-run-ping
              - Effect: Allow
                Action: ssm:SendCommand
                Resource: arn:aws:ec2:ap-northeast-1:222222222222:instance/*
                Condition:
                  StringEquals: {'ssm:resourceTag/pipeline-run:verify': 'true'}
";

/// Uploads to the assembly's bucket.
const PUBLISH_POLICY: &str = "      Policies:
        - PolicyName: publish
          PolicyDocument:
            Version: \"2012-10-17\"
            Statement:
              - Effect: Allow
                Action: [s3:GetObject, s3:PutObject, s3:AbortMultipartUpload, s3:GetBucketLocation, s3:ListBucket]
                Resource: [arn:aws:s3:::custom-assets-222222222222, arn:aws:s3:::custom-assets-222222222222/*]
";

fn role_stack(name: &str) -> String {
    format!("role-{name}")
}

/// Account B's admin creates role `name` of [`ROLES`] (a stack of its own).
async fn create_role(aws: &Aws, name: &str) {
    let (_, principal, policy) = ROLES.iter().find(|(n, _, _)| *n == name).unwrap();
    let template = format!(
        "Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: {name}
      AssumeRolePolicyDocument:
        Version: \"2012-10-17\"
        Statement:
          - Effect: Allow
            Principal: {principal}
            Action: sts:AssumeRole
{policy}"
    );
    create_stack(&aws.sdk("admin-b").await, &role_stack(name), &template).await;
}

/// Account B's admin creates what the assembly names, all of it but the role `without`: the
/// roles, the bucket of its asset destinations and its bootstrap-version parameter, plus the ping
/// document of the plan's qualifier that verification sends (as the bootstrap creates it).
async fn set_up_account_b(aws: &Aws, without: Option<&str>) {
    for (name, _, _) in ROLES {
        if without != Some(name) {
            create_role(aws, name).await;
        }
    }
    let staging = format!(
        "Resources:
  Staging:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: {BUCKET}
  BootstrapVersion:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /custom-bootstrap/version
      Type: String
      Value: \"21\"
  PingDocument:
    Type: AWS::SSM::Document
    Properties:
      Name: cdk-hnb659fds-pipeline-run-ping
      DocumentType: Command
      DocumentFormat: JSON
      Content:
        schemaVersion: '2.2'
        parameters:
          TargetIp: {{type: String, allowedPattern: '^[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}$'}}
          Count: {{type: String, default: '3', allowedPattern: '^[0-9]{{1,3}}$'}}
          TimeoutSeconds: {{type: String, default: '2', allowedPattern: '^[0-9]{{1,2}}$'}}
        mainSteps:
          - action: aws:runShellScript
            name: ping
            inputs:
              runCommand: ['ping -c {{{{ Count }}}} -W {{{{ TimeoutSeconds }}}} {{{{ TargetIp }}}}']
"
    );
    create_stack(&aws.sdk("admin-b").await, "custom-staging", &staging).await;
}

/// Account B's admin deletes role `name` (its stack), and waits until it is gone.
async fn delete_role(aws: &Aws, name: &str) {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let stack = role_stack(name);
    cfn.delete_stack().stack_name(&stack).send().await.unwrap();
    for _ in 0..100 {
        match cfn.describe_stacks().stack_name(&stack).send().await {
            Err(_) => return,
            Ok(out)
                if out.stacks()[0].stack_status().map(|s| s.as_str())
                    == Some("DELETE_COMPLETE") =>
            {
                return;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    panic!("stack {stack} was not deleted");
}

/// A stage file with the assembly's stack as stage `App` (account B) and a stage `Consumer` in
/// account A that takes App's output, and a check from App's probe instance to its target.
fn stage_file(scratch: &Scratch) -> String {
    scratch.write(
        "consumer.yml",
        "Parameters:\n  TargetIp:\n    Type: String\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /custom-roles/target-ip\n      Type: String\n      Value: !Ref TargetIp\nOutputs:\n  TargetIp:\n    Value: !Ref TargetIp\n",
    );
    let app = repo().join(FIXTURE).display().to_string();
    scratch
        .write(
            "pipeline.yml",
            &format!(
                "version: 1
accounts:
  A:
    id: \"{ACCOUNT_A}\"
    region: {REGION}
  B:
    id: \"{ACCOUNT_B}\"
    region: {REGION}
stages:
  - name: {APP}
    account: B
    source: {{app: \"{app}\", stack: {STACK}}}
  - name: Consumer
    account: A
    template: consumer.yml
    parameters:
      TargetIp: ${{{APP}.TargetPrivateIp}}
verify:
  checks:
    - name: probe to target
      from: {APP}.ProbeInstanceId
      to: {APP}.TargetPrivateIp
      expect: reachable
"
            ),
        )
        .display()
        .to_string()
}

/// The refusal of a run that needs role `name`, which does not exist: the role and the caller,
/// AWS's error, and the fix for a role the assembly names.
fn names_the_missing_role(text: &str, name: &str) -> bool {
    let arn = role(name);
    text.contains(&format!(
        "cannot assume role {arn} as arn:aws:iam::{ACCOUNT_A}:user/pipeline-ci"
    )) && text.contains("AccessDenied")
        && text.contains(&format!(
            "make role {arn} trust account {ACCOUNT_A} (the cloud assembly names this role)"
        ))
}

#[tokio::test]
async fn the_roles_a_cloud_assembly_names_are_used_for_deploy_publishing_lookup_and_verification() {
    let aws = aws();
    // Account A (stage Consumer) follows the bootstrap convention; account B is not bootstrapped.
    aws.bootstrap(&[ACCOUNT_A]);
    set_up_account_b(&aws, None).await;

    // The roles of the bootstrap convention cannot be assumed in account B: a call made through
    // one of them would fail.
    let sts = aws_sdk_sts::Client::new(&aws.sdk("ci").await);
    for kind in ["deploy", "file-publishing", "lookup"] {
        let conventional = role(&format!("cdk-hnb659fds-{kind}-role-{ACCOUNT_B}-{REGION}"));
        let refused = sts
            .assume_role()
            .role_arn(&conventional)
            .role_session_name("probe")
            .send()
            .await;
        assert!(refused.is_err(), "{conventional} can be assumed");
    }

    // deploy --app: the deploy role (bootstrap version, change set), the execution role handed
    // to CloudFormation, and the publishing role of the asset destinations, into their bucket.
    let r = aws.run(&["deploy", "--app", FIXTURE, "--all", "--output", "json"]);
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    let json = r.json();
    let s = stage(&json, STACK);
    assert_eq!(s["status"], "deployed", "{s}");
    assert_eq!(s["account"], ACCOUNT_B);
    assert_eq!(s["stack_status"], "CREATE_COMPLETE");
    assert_eq!(
        s["assets"],
        serde_json::json!({"uploaded": 2, "skipped": 0}),
        "its template and one file"
    );
    let cfn_b = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let described = cfn_b
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    let stack = &described.stacks()[0];
    assert_eq!(stack.role_arn(), Some(role("custom-exec").as_str()));
    let target_ip = stack_output(&aws, "admin-b", STACK, "TargetPrivateIp").await;
    assert_eq!(target_ip, "10.40.1.20");
    let s3_b = aws.s3("admin-b").await;
    let listed = s3_b.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort_unstable();
    let mut expected = [CONFIG_KEY, TEMPLATE_KEY];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    let buckets = s3_b.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, [BUCKET], "no staging bucket of the convention");

    // A stage file with the stack as a `source:` stage: deploying only the stage after it reads
    // its outputs (lookup role).
    let scratch = Scratch::new("custom-roles");
    let file = stage_file(&scratch);
    let consumer = [
        "deploy",
        "Consumer",
        "-f",
        file.as_str(),
        "--no-verify",
        "--output",
        "json",
    ];
    let r = aws.run(&consumer);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    let deployed = stage(&json, "Consumer");
    assert_eq!(deployed["status"], "deployed", "{deployed}");
    assert_eq!(deployed["outputs"]["TargetIp"], target_ip.as_str());

    // Verification: the stack's outputs and account B's network (lookup role), the ping through
    // SSM (deploy role).
    let verify = ["verify", "-f", file.as_str(), "--output", "json"];
    let static_only = [
        "verify",
        "--static-only",
        "-f",
        file.as_str(),
        "--output",
        "json",
    ];
    let r = aws.run(&verify);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    let check = &json["verification"]["checks"][0];
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["account"], ACCOUNT_B, "{check}");
    assert_eq!(check["static_verdict"], "reachable", "{check}");
    assert_eq!(check["live_verdict"], "reachable", "{check}");
    assert!(
        !r.stderr.contains("static analysis unavailable"),
        "{}",
        r.stderr
    );
    let r = aws.run(&static_only);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    let check = &json["verification"]["checks"][0];
    assert_eq!(check["static_verdict"], "reachable", "{check}");
    assert_eq!(check["live_verdict"], "skipped", "{check}");

    // Without the lookup role, the outputs of the stack and account B's network cannot be read.
    delete_role(&aws, "cdk-custom-lookup-role-222222222222").await;
    let r = aws.run(&consumer);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        names_the_missing_role(&r.stderr, "cdk-custom-lookup-role-222222222222"),
        "{}",
        r.stderr
    );
    let r = aws.run(&static_only);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        names_the_missing_role(&r.stdout, "cdk-custom-lookup-role-222222222222"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "static analysis unavailable: cannot read the EC2 network of aws://{ACCOUNT_B}/{REGION}: cannot assume role {}",
            role("cdk-custom-lookup-role-222222222222")
        )),
        "{}",
        r.stderr
    );

    // Without the deploy role (the lookup role back), the ping cannot be sent; the static
    // analysis still passes.
    create_role(&aws, "cdk-custom-lookup-role-222222222222").await;
    delete_role(&aws, "cdk-custom-deploy-role-222222222222").await;
    let r = aws.run(&verify);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let json = r.json();
    let check = &json["verification"]["checks"][0];
    assert_eq!(check["static_verdict"], "reachable", "{check}");
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        names_the_missing_role(&check.to_string(), "cdk-custom-deploy-role-222222222222"),
        "{check}"
    );
}

/// Before anything is deployed: a deploy without the deploy role or the publishing role, and a
/// stage reading the stack's outputs without the lookup role, each fail with the credentials
/// exit code, naming the role.
#[tokio::test]
async fn a_missing_custom_role_fails_with_exit_code_5_naming_it() {
    let aws = aws();
    let scratch = Scratch::new("custom-roles-missing");
    let file = stage_file(&scratch);
    let deploy_app = ["deploy", "--app", FIXTURE, "--all"];
    let deploy_consumer = ["deploy", "Consumer", "-f", file.as_str(), "--no-verify"];
    for (missing, args) in [
        ("cdk-custom-deploy-role-222222222222", &deploy_app[..]),
        (
            "cdk-custom-file-publishing-role-222222222222",
            &deploy_app[..],
        ),
        ("cdk-custom-lookup-role-222222222222", &deploy_consumer[..]),
    ] {
        aws.reset();
        aws.bootstrap(&[ACCOUNT_A]);
        set_up_account_b(&aws, Some(missing)).await;
        let r = aws.run(args);
        assert_eq!(r.code, 5, "{missing}: {}", r.stderr);
        assert!(
            names_the_missing_role(&r.stderr, missing),
            "{missing}: {}",
            r.stderr
        );
        // Nothing was deployed.
        let cfn_b = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
        assert!(
            cfn_b
                .describe_stacks()
                .stack_name(STACK)
                .send()
                .await
                .is_err(),
            "{missing}: stack {STACK} exists"
        );
    }
}
