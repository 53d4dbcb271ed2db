//! Least privilege, proven on the emulator (which enforces IAM): after `pipeline-run bootstrap`,
//! what the bootstrap's roles may do and what they are refused.

mod parameters;
mod ping;

use crate::common::*;

/// An SDK configuration for the deploy role of `account` (qualifier `qualifier`), assumed by the
/// CI identity of account A.
pub(super) async fn deploy_role_session(
    aws: &Aws,
    account: &str,
    qualifier: &str,
) -> aws_config::SdkConfig {
    let arn = format!("arn:aws:iam::{account}:role/cdk-{qualifier}-deploy-role-{account}-{REGION}");
    let sts = aws_sdk_sts::Client::new(&aws.sdk("ci").await);
    let out = sts
        .assume_role()
        .role_arn(&arn)
        .role_session_name("least-privilege")
        .send()
        .await
        .unwrap_or_else(|e| panic!("assume {arn}: {:?}", e.into_service_error()));
    let c = out.credentials().expect("credentials");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&aws.endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "deploy-role",
        ))
        .load()
        .await
}
