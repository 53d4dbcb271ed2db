//! The deploy role of account B, assumed from account A (profile `ci`), can do its job
//! (Parameter Store under pipeline-run's namespace, the execution role passed to CloudFormation)
//! and is refused everything dangerous next to it (the bootstrap version, other parameters and
//! their SecureStrings, passing another role).

use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ssm::types::ParameterType;

use super::deploy_role_session;
use crate::common::*;

/// The deploy role of account B, named as `bootstrap` creates it.
fn bootstrap_role_b(kind: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_B}:role/cdk-hnb659fds-{kind}-role-{ACCOUNT_B}-{REGION}")
}

/// Where the deploy role may write: `/pipeline-run/<qualifier>/` (the default prefix).
const NAMESPACE: &str = "/pipeline-run/hnb659fds/";

/// A session of the deploy role of account B, assumed by the CI identity of account A.
async fn deploy_role_b(aws: &Aws) -> aws_config::SdkConfig {
    deploy_role_session(aws, ACCOUNT_B, "hnb659fds").await
}

/// The message of a call that must be refused with the error code `code`.
#[track_caller]
fn refused<T>(result: Result<T, impl ProvideErrorMetadata>, code: &str) -> String {
    let Err(e) = result else {
        panic!("the call was allowed; it must be refused with {code}")
    };
    let message = e.message().unwrap_or_default().to_string();
    assert_eq!(e.code(), Some(code), "{message}");
    message
}

#[tokio::test]
async fn parameter_store_writes_of_the_deploy_role_stay_under_the_pipeline_run_prefix() {
    let aws = aws();
    aws.bootstrap_both();
    let ssm = aws_sdk_ssm::Client::new(&deploy_role_b(&aws).await);

    // The bootstrap version: readable (the bootstrap check), never writable, explicitly denied.
    let version = "/cdk-bootstrap/hnb659fds/version";
    let before = ssm.get_parameter().name(version).send().await.unwrap();
    let before = before.parameter().unwrap().value().unwrap().to_string();
    let message = refused(
        ssm.put_parameter()
            .name(version)
            .value("999")
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(
        message.contains("ssm:PutParameter")
            && message.ends_with("with an explicit deny in an identity-based policy"),
        "{message}"
    );
    refused(
        ssm.delete_parameter().name(version).send().await,
        "AccessDeniedException",
    );
    let admin_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let after = admin_b.get_parameter().name(version).send().await.unwrap();
    assert_eq!(after.parameter().unwrap().value(), Some(before.as_str()));

    // Under the namespace: write, read (to compare, as publish_outputs does), overwrite, delete.
    let name = format!("{NAMESPACE}probe/vpc-id");
    for value in ["vpc-1", "vpc-2"] {
        ssm.put_parameter()
            .name(&name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {name}: {}", DisplayErrorContext(&e)));
        let read = ssm.get_parameter().name(&name).send().await.unwrap();
        assert_eq!(read.parameter().unwrap().value(), Some(value));
    }
    ssm.delete_parameter().name(&name).send().await.unwrap();

    // Anywhere else: neither write nor delete, even next to the namespace.
    for outside in [
        "/vpc-peering/vpc-c/id",
        "/pipeline-run/other-qualifier/x",
        "/pipeline-run/hnb659fdsx",
    ] {
        refused(
            ssm.put_parameter()
                .name(outside)
                .value("x")
                .r#type(ParameterType::String)
                .send()
                .await,
            "AccessDeniedException",
        );
    }
}

#[tokio::test]
async fn parameter_reads_of_the_deploy_role_reach_no_other_parameter_nor_secure_string() {
    let aws = aws();
    aws.bootstrap_both();
    let admin_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let secret = "/app/db/password";
    admin_b
        .put_parameter()
        .name(secret)
        .value("not-for-the-pipeline")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    admin_b
        .put_parameter()
        .name("/app/config/endpoint")
        .value("db.internal")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    // The administrator can read it: the refusal below is the deploy role's policy, not a missing parameter.
    let own = admin_b
        .get_parameter()
        .name(secret)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        own.parameter().unwrap().value(),
        Some("not-for-the-pipeline")
    );

    let ssm = aws_sdk_ssm::Client::new(&deploy_role_b(&aws).await);
    for decrypt in [true, false] {
        let message = refused(
            ssm.get_parameter()
                .name(secret)
                .with_decryption(decrypt)
                .send()
                .await,
            "AccessDeniedException",
        );
        assert!(
            message.contains(&format!(
                "ssm:GetParameter on resource: arn:aws:ssm:{REGION}:{ACCOUNT_B}:parameter{secret}"
            )),
            "{message}"
        );
    }
    refused(
        ssm.get_parameters()
            .names("/app/config/endpoint")
            .send()
            .await,
        "AccessDeniedException",
    );
}

#[tokio::test]
async fn deploy_role_passes_only_the_execution_role_to_cloudformation() {
    let aws = aws();
    aws.bootstrap_both();
    // Another role of account B that CloudFormation could assume (an administrator's): only the
    // deploy role's missing iam:PassRole can refuse it.
    let admin_cfg = aws.sdk("admin-b").await;
    let outputs = create_stack(
        &admin_cfg,
        "other-role",
        "Resources:\n  Other:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: other-cfn-role\n      AssumeRolePolicyDocument:\n        Version: '2012-10-17'\n        Statement:\n          - Effect: Allow\n            Action: sts:AssumeRole\n            Principal: {Service: cloudformation.amazonaws.com}\n      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]\nOutputs:\n  Arn:\n    Value: !GetAtt Other.Arn\n",
    )
    .await;
    let other = &outputs["Arn"];
    let cfn = aws_sdk_cloudformation::Client::new(&deploy_role_b(&aws).await);
    let template = "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: v\n";
    for role in [other.as_str(), &bootstrap_role_b("lookup")] {
        let message = refused(
            cfn.create_change_set()
                .stack_name("escalate")
                .change_set_name("c")
                .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
                .template_body(template)
                .role_arn(role)
                .send()
                .await,
            "AccessDenied",
        );
        assert!(
            message.contains(&format!("iam:PassRole on resource: {role}")),
            "{message}"
        );
    }
    // The execution role is what it may pass, and CloudFormation takes it.
    cfn.create_change_set()
        .stack_name("allowed")
        .change_set_name("c")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(template)
        .role_arn(bootstrap_role_b("cfn-exec"))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "change set with the execution role: {}",
                DisplayErrorContext(&e)
            )
        });
}

const PRODUCER: &str = "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /app/producer/made\n      Type: String\n      Value: produced-42\nOutputs:\n  Made:\n    Value: !GetAtt P.Value\n";

/// A stack whose parameter `In` is resolved from Parameter Store at `name`; it copies the value
/// to parameter `copy`.
fn consumer(name: &str, copy: &str) -> String {
    format!(
        "Parameters:\n  In:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: {name}\nResources:\n  Q:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: {copy}\n      Type: String\n      Value: !Ref In\nOutputs:\n  Seen:\n    Value: !GetAtt Q.Value\n"
    )
}

#[tokio::test]
async fn parameter_consumers_resolve_published_outputs_but_no_other_parameter() {
    let aws = aws();
    aws.bootstrap_both();
    let admin_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    admin_b
        .put_parameter()
        .name("/app/config/endpoint")
        .value("db.internal")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    let s = Scratch::new("least-privilege-consumers");
    s.write("producer.yml", PRODUCER);
    let published = format!("{NAMESPACE}producer/made");
    s.write("consumer.yml", &consumer(&published, "/app/consumer/seen"));
    s.write(
        "outsider.yml",
        &consumer("/app/config/endpoint", "/app/outsider/seen"),
    );
    let head = "version: 1\naccounts:\n  B:\n    id: \"222222222222\"\n    region: ap-northeast-1\nstages:\n";
    s.write(
        "pipeline.yml",
        &format!(
            "{head}  - name: Producer\n    account: B\n    template: producer.yml\n    publish_outputs:\n      Made: {published}\n  - name: Consumer\n    account: B\n    template: consumer.yml\n    depends_on: [Producer]\n"
        ),
    );
    s.write(
        "outsider.yml.pipeline",
        &format!("{head}  - name: Outsider\n    account: B\n    template: outsider.yml\n"),
    );

    // The deploy role reads what it published (CreateChangeSet resolves it with its rights).
    let file = s.path("pipeline.yml");
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
    let json = r.json();
    assert_eq!(stage(&json, "Consumer")["status"], "deployed");
    assert_eq!(stage(&json, "Consumer")["outputs"]["Seen"], "produced-42");
    let read = admin_b.get_parameter().name(&published).send().await;
    assert_eq!(
        read.unwrap().parameter().unwrap().value(),
        Some("produced-42")
    );

    // destroy deletes the published parameter, through the deploy role, without a complaint.
    let r = aws.run(&["destroy", "--all", "--force", "-f", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("could not delete"), "{}", r.stderr);
    let gone = admin_b.get_parameter().name(&published).send().await;
    assert!(
        gone.unwrap_err()
            .into_service_error()
            .is_parameter_not_found(),
        "{published} is still there"
    );

    // Any other parameter is not the deploy role's to read: CloudFormation refuses the change set.
    let file = s.path("outsider.yml.pipeline");
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &file,
        "--no-verify",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("AccessDenied. User doesn't have permission to call ssm:GetParameters"),
        "{}",
        r.stderr
    );
}
