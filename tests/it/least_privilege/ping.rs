//! `ping_*`: verification's ping. The deploy role of account B, assumed from account A (profile
//! `ci`), may send only the bootstrap's ping document (`cdk-<q>-pipeline-run-ping`), and only to
//! instances tagged `pipeline-run:verify=true`; `AWS-RunShellScript` (a root shell) is refused.
//! A run names the tag to add, or the bootstrap to re-run when the document is missing.

use std::time::Duration;

use aws_sdk_ssm::error::ProvideErrorMetadata;

use super::deploy_role_session;
use crate::common::*;

const TAG: &str = "pipeline-run:verify";

/// Account B's admin starts an instance, with the verification tag when `tagged`.
async fn instance_in_b(aws: &Aws, tagged: bool) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&aws.sdk("admin-b").await);
    let mut run = ec2
        .run_instances()
        .image_id("ami-0a1b2c3d4e5f67890")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1);
    if tagged {
        run = run.tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(TAG)
                        .value("true")
                        .build(),
                )
                .build(),
        );
    }
    let out = run.send().await.unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

fn ping_document(qualifier: &str) -> String {
    format!("cdk-{qualifier}-pipeline-run-ping")
}

#[tokio::test]
async fn ping_the_deploy_role_may_send_only_the_ping_document_and_only_to_tagged_instances() {
    let aws = aws();
    aws.bootstrap_both();
    let tagged = instance_in_b(&aws, true).await;
    let untagged = instance_in_b(&aws, false).await;
    let ssm = aws_sdk_ssm::Client::new(&deploy_role_session(&aws, ACCOUNT_B, "hnb659fds").await);

    // A root shell on an instance, even a tagged one: refused.
    let shell = ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&tagged)
        .parameters("commands", vec!["id".to_string()])
        .send()
        .await
        .expect_err("the deploy role ran AWS-RunShellScript");
    let shell = shell.into_service_error();
    assert_eq!(shell.code(), Some("AccessDeniedException"), "{shell:?}");
    assert!(
        shell
            .message()
            .unwrap_or_default()
            .contains("document/AWS-RunShellScript"),
        "{shell:?}"
    );

    let ping = |instance: &str| {
        ssm.send_command()
            .document_name(ping_document("hnb659fds"))
            .instance_ids(instance)
            .parameters("TargetIp", vec!["127.0.0.1".to_string()])
            .parameters("Count", vec!["2".to_string()])
            .send()
    };
    // The ping document on an instance without the tag: refused, naming the instance.
    let refused = ping(&untagged)
        .await
        .expect_err("the deploy role pinged from an untagged instance")
        .into_service_error();
    assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused:?}");
    assert!(
        refused
            .message()
            .unwrap_or_default()
            .contains(&format!("instance/{untagged}")),
        "{refused:?}"
    );

    // On a tagged instance: sent, and it runs the ping.
    let sent = ping(&tagged)
        .await
        .expect("ping document on a tagged instance");
    let command_id = sent.command().unwrap().command_id().unwrap().to_string();
    let mut backoff = Duration::from_millis(10);
    for _ in 0..20 {
        match ssm
            .get_command_invocation()
            .command_id(&command_id)
            .instance_id(&tagged)
            .send()
            .await
        {
            Ok(out) if out.status().map(|s| s.as_str()) == Some("Success") => {
                let stdout = out.standard_output_content().unwrap_or_default();
                assert!(
                    stdout.contains("2 packets transmitted, 2 received"),
                    "{stdout}"
                );
                return;
            }
            Ok(out) => assert!(
                matches!(
                    out.status().map(|s| s.as_str()),
                    Some("Pending" | "InProgress")
                ),
                "{out:?}"
            ),
            Err(e) => {
                let e = e.into_service_error();
                assert_eq!(e.code(), Some("InvocationDoesNotExist"), "{e:?}");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    panic!("the ping command did not finish");
}

const QUALIFIER: &str = "pingq";

/// One stage in account B: three instances in one VPC, `Tagged` carrying the verification tag,
/// `Untagged` a tag with another value, and the target. The value comes from a parameter, so
/// the stage-file validation (which refuses a literal tag that is not `true`) cannot know it and
/// SSM decides.
const PROBE_TEMPLATE: &str = "Parameters:
  UntaggedValue:
    Type: String
    Default: 'no'
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.50.0.0/16
  Subnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: 10.50.1.0/24
  PingGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: ICMP within the VPC
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - {IpProtocol: icmp, FromPort: -1, ToPort: -1, CidrIp: 10.50.0.0/16}
  Tagged:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: ami-0a1b2c3d4e5f67890
      InstanceType: t3.micro
      SubnetId: !Ref Subnet
      PrivateIpAddress: 10.50.1.10
      SecurityGroupIds: [!Ref PingGroup]
      Tags: [{Key: 'pipeline-run:verify', Value: 'true'}]
  Untagged:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: ami-0a1b2c3d4e5f67890
      InstanceType: t3.micro
      SubnetId: !Ref Subnet
      PrivateIpAddress: 10.50.1.11
      SecurityGroupIds: [!Ref PingGroup]
      Tags: [{Key: 'pipeline-run:verify', Value: !Ref UntaggedValue}]
  Target:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: ami-0a1b2c3d4e5f67890
      InstanceType: t3.micro
      SubnetId: !Ref Subnet
      PrivateIpAddress: 10.50.1.20
      SecurityGroupIds: [!Ref PingGroup]
Outputs:
  TaggedId:
    Value: !Ref Tagged
  UntaggedId:
    Value: !Ref Untagged
  TargetIp:
    Value: !GetAtt Target.PrivateIp
";

fn probe_stage_file(scratch: &Scratch) -> String {
    scratch.write("probe.yml", PROBE_TEMPLATE);
    scratch
        .write(
            "pipeline.yml",
            &format!(
                "version: 1
qualifier: {QUALIFIER}
accounts:
  B:
    id: \"{ACCOUNT_B}\"
    region: {REGION}
stages:
  - name: Probe
    account: B
    template: probe.yml
verify:
  checks:
    - name: from tagged
      from: Probe.TaggedId
      to: Probe.TargetIp
      expect: reachable
    - name: from untagged
      from: Probe.UntaggedId
      to: Probe.TargetIp
      expect: reachable
"
            ),
        )
        .display()
        .to_string()
}

fn check(r: &Run, name: &str) -> serde_json::Value {
    let json = r.json();
    let checks = json["verification"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{json}");
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {json}"))
        .clone()
}

#[tokio::test]
async fn ping_verify_names_the_missing_tag_and_the_missing_document_of_a_custom_qualifier() {
    let aws = aws();
    let r = bootstrap_run(
        &aws.endpoint,
        &[ACCOUNT_B],
        &["--qualifier", QUALIFIER],
        &[],
    );
    assert_eq!(r.code, 0, "bootstrap failed:\n{}", r.stderr);
    let scratch = Scratch::new("least-privilege-ping");
    let file = probe_stage_file(&scratch);
    let r = aws.run(&["deploy", "--all", "-f", &file, "--output", "json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);

    // Tagged: the ping runs through the document of the plan's qualifier.
    let tagged = check(&r, "from tagged");
    assert_eq!(tagged["ok"], true, "{tagged}");
    assert_eq!(tagged["live_verdict"], "reachable", "{tagged}");
    assert_eq!(tagged["ping_summary"], "3/3 received, 0% loss", "{tagged}");

    // The tag's value is not `true`: SSM refuses, the check names the tag to add.
    let untagged = check(&r, "from untagged");
    assert_eq!(untagged["static_verdict"], "reachable", "{untagged}");
    assert_eq!(untagged["live_outcome"], "refused", "{untagged}");
    let problem = untagged["problem"].as_str().unwrap();
    assert!(
        problem.contains(&format!(
            "SSM refused to send {} to instance {}",
            ping_document(QUALIFIER),
            untagged["from_instance"].as_str().unwrap()
        )) && problem.contains(
            "fix: add `{Key: pipeline-run:verify, Value: 'true'}` to the Tags of the instance behind Probe.UntaggedId in the template of stage Probe"
        ),
        "{problem}"
    );

    // Without the ping document (an environment bootstrapped by `cdk bootstrap` or an older
    // pipeline-run has none): a typed failure with the bootstrap to re-run, not an SDK error.
    let ssm_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    ssm_b
        .delete_document()
        .name(ping_document(QUALIFIER))
        .send()
        .await
        .unwrap();
    let r = aws.run(&["verify", "-f", &file, "--output", "json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let tagged = check(&r, "from tagged");
    assert_eq!(tagged["live_outcome"], "not_bootstrapped", "{tagged}");
    let problem = tagged["problem"].as_str().unwrap();
    assert!(
        problem.contains(&format!(
            "aws://{ACCOUNT_B}/{REGION} has no ping document {}",
            ping_document(QUALIFIER)
        )) && problem.contains(&format!(
            "fix: re-run `pipeline-run bootstrap aws://{ACCOUNT_B}/{REGION} --qualifier {QUALIFIER}`"
        )),
        "{problem}"
    );
}
