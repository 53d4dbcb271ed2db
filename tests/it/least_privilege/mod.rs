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
    assumed_session(aws, "ci", &arn, "least-privilege")
        .await
        .unwrap_or_else(|e| panic!("assume {arn}: {e}"))
}
