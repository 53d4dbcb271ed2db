//! `Fn::GetStackOutput` between stages: stage Consumer (account B) reads stage Producer's output
//! (account A) through A's stack-ref role (`bootstrap --trust-for-stack-refs`). The reference alone
//! orders Consumer after Producer (no `depends_on`, Consumer listed first); a new output value
//! redeploys Consumer although its template did not change, and its resource gets the new value; a
//! role that does not trust B fails the stage with IAM's reason.

use crate::common::*;

const ROLE: &str =
    "arn:aws:iam::111111111111:role/cdk-hnb659fds-stack-ref-role-111111111111-ap-northeast-1";

fn producer(value: &str) -> String {
    format!(
        "Resources:\n  Marker:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /refs/producer\n      Type: String\n      Value: {value}\nOutputs:\n  Url:\n    Value: {value}\n"
    )
}

fn consumer() -> String {
    format!(
        "Resources:\n  Reader:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /refs/consumer\n      Type: String\n      Value:\n        Fn::GetStackOutput:\n          StackName: Producer\n          OutputName: Url\n          Region: ap-northeast-1\n          RoleArn: {ROLE}\n"
    )
}

const STAGE_FILE: &str = "version: 1\naccounts:\n  A: {id: \"111111111111\", region: ap-northeast-1}\n  B: {id: \"222222222222\", region: ap-northeast-1}\nstages:\n  - name: Consumer\n    account: B\n    template: consumer.yml\n  - name: Producer\n    account: A\n    template: producer.yml\n";

fn scratch(value: &str) -> (Scratch, String) {
    let s = Scratch::new("stack-refs");
    s.write("producer.yml", &producer(value));
    s.write("consumer.yml", &consumer());
    s.write("pipeline.yml", STAGE_FILE);
    let file = s.path("pipeline.yml");
    (s, file)
}

/// The value of `/refs/consumer` in account B (its admin reads it).
async fn consumer_value(aws: &Aws) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let out = ssm
        .get_parameter()
        .name("/refs/consumer")
        .send()
        .await
        .ok()?;
    out.parameter()?.value().map(str::to_string)
}

fn status(run: &Run, name: &str) -> String {
    stage(&run.json(), name)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_stage_reading_another_stages_output_is_ordered_after_it_and_redeployed_when_it_changes()
{
    let aws = aws();
    aws.bootstrap_both();
    let trust = bootstrap_run(
        &aws.endpoint,
        &[ACCOUNT_A],
        &["--trust-for-stack-refs", ACCOUNT_B],
        &[],
    );
    assert_eq!(trust.code, 0, "{}", trust.stderr);
    let (s, file) = scratch("v1");

    let list = aws.run(&["list", "-f", &file, "--output", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let json = list.json();
    assert_eq!(
        json["waves"],
        serde_json::json!([["Producer"], ["Consumer"]])
    );
    let refs = &stage(&json, "Consumer")["stack_refs"];
    assert_eq!(
        refs,
        &serde_json::json!([format!(
            "Resources.Reader: Producer.Url (stage Producer; through stack-ref role {ROLE})"
        )])
    );

    let first = deploy_all_json(&aws, &file);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(consumer_value(&aws).await.as_deref(), Some("v1"));

    // Only the producer's template changes: the consumer's template, parameters and tags do not.
    s.write("producer.yml", &producer("v2"));
    let second = deploy_all_json(&aws, &file);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(status(&second, "Producer"), "deployed");
    assert_eq!(status(&second, "Consumer"), "deployed", "{}", second.stdout);
    assert_eq!(consumer_value(&aws).await.as_deref(), Some("v2"));

    // Nothing changed since: both are unchanged.
    let third = deploy_all_json(&aws, &file);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(status(&third, "Producer"), "no_changes");
    assert_eq!(
        status(&third, "Consumer"),
        "no_changes",
        "{}\n{}",
        third.stdout,
        third.stderr
    );
}

#[tokio::test]
async fn a_stack_ref_role_that_does_not_trust_the_consumers_account_fails_the_stage_with_the_reason()
 {
    let aws = aws();
    aws.bootstrap_both();
    let trust = bootstrap_run(
        &aws.endpoint,
        &[ACCOUNT_A],
        &["--trust-for-stack-refs", "333333333333"],
        &[],
    );
    assert_eq!(trust.code, 0, "{}", trust.stderr);
    let (_s, file) = scratch("v1");
    let run = deploy_all_json(&aws, &file);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_eq!(status(&run, "Producer"), "deployed");
    assert_eq!(status(&run, "Consumer"), "failed");
    assert!(
        run.stderr.contains(&format!(
            "is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(consumer_value(&aws).await, None);
}

/// A session of the stack-ref role, assumed as `profile`; the refusal when it cannot be.
async fn stack_ref_session(aws: &Aws, profile: &str) -> Result<aws_config::SdkConfig, String> {
    assumed_session(aws, profile, ROLE, "stack-refs").await
}

#[tokio::test]
async fn the_stack_ref_role_is_trusted_by_the_given_accounts_only_and_may_only_describe_stacks() {
    let aws = aws();
    aws.bootstrap_both();
    let plain = bootstrap_run(&aws.endpoint, &[ACCOUNT_A], &[], &[]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    // Without --trust-for-stack-refs there is no such role.
    let missing = stack_ref_session(&aws, "admin-b").await.unwrap_err();
    assert!(missing.contains("AccessDenied"), "{missing}");
    let trust = bootstrap_run(
        &aws.endpoint,
        &[ACCOUNT_A],
        &["--trust-for-stack-refs", ACCOUNT_B],
        &[],
    );
    assert_eq!(trust.code, 0, "{}", trust.stderr);
    // Account A itself (the CI identity) is not among the trusted accounts.
    let refused = stack_ref_session(&aws, "ci").await.unwrap_err();
    assert!(
        refused.contains("not authorized to perform: sts:AssumeRole"),
        "{refused}"
    );
    let session = stack_ref_session(&aws, "admin-b")
        .await
        .expect("account B is trusted");
    let cfn = aws_sdk_cloudformation::Client::new(&session);
    let toolkit = cfn.describe_stacks().stack_name("CDKToolkit").send().await;
    assert!(
        toolkit.is_ok(),
        "{:?}",
        toolkit.err().map(|e| e.into_service_error())
    );
    let template = cfn.get_template().stack_name("CDKToolkit").send().await;
    let denied = format!(
        "{:?}",
        template.expect_err("GetTemplate is not DescribeStacks")
    );
    assert!(
        denied.contains("AccessDenied") && denied.contains("cloudformation:GetTemplate"),
        "{denied}"
    );
    let ssm = aws_sdk_ssm::Client::new(&session);
    let read = ssm
        .get_parameter()
        .name("/cdk-bootstrap/hnb659fds/version")
        .send()
        .await;
    assert!(read.is_err(), "the role reads no parameter");
}
