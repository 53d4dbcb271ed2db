//! Publishing to the staging bucket of an environment, as cdk-assets does: existence check with
//! ListObjectsV2 first (not HeadObject, which S3 caches negatively), upload only when missing.

pub mod package;

use anyhow::Result;

use crate::aws::{Aws, BootstrapRole};
use crate::error::{ExitKind, describe_sdk_error, fail};
use crate::plan::Environment;

/// The staging bucket `cdk bootstrap` creates.
pub fn staging_bucket(qualifier: &str, env: &Environment) -> String {
    format!("cdk-{qualifier}-assets-{}-{}", env.account, env.region)
}

/// Objects this small are empty zips left by interrupted uploads; cdk-assets ignores them too.
const MIN_PRESENT_SIZE: i64 = 23;

/// Whether `key` is already in `bucket`.
pub async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<bool> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(key)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| {
            let text = describe_sdk_error(&e);
            let hint = if text.contains("NoSuchBucket") {
                "\n  fix: bootstrap the environment (pipeline-run bootstrap) — its staging bucket is missing"
            } else {
                ""
            };
            fail(ExitKind::Deploy, format!("cannot list s3://{bucket}/{key}: {text}{hint}"))
        })?;
    Ok(out
        .contents()
        .iter()
        .any(|o| o.key() == Some(key) && o.size().unwrap_or(0) >= MIN_PRESENT_SIZE))
}

/// Uploads `body` under `key` unless present. Returns whether it uploaded.
pub async fn publish_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .map_err(|e| {
            fail(
                ExitKind::Deploy,
                format!(
                    "cannot upload s3://{bucket}/{key}: {}",
                    describe_sdk_error(&e)
                ),
            )
        })?;
    Ok(true)
}

/// Puts a template too large for TemplateBody into the staging bucket (file-publishing role) and
/// returns the URL CloudFormation reads it from.
pub async fn publish_template(
    aws: &Aws,
    env: &Environment,
    qualifier: &str,
    body: &str,
    purpose: &str,
) -> Result<String> {
    let cfg = aws
        .role(env, BootstrapRole::FilePublishing, qualifier, purpose)
        .await?;
    let s3 = aws.s3(&cfg);
    let bucket = staging_bucket(qualifier, env);
    let key = format!("{}.yaml", sha256_hex(body.as_bytes()));
    publish_bytes(&s3, &bucket, &key, body.as_bytes().to_vec()).await?;
    Ok(object_url(aws, &bucket, &key, &env.region))
}

/// The https URL of an object; path-style against a custom endpoint.
pub fn object_url(aws: &Aws, bucket: &str, key: &str, region: &str) -> String {
    match aws.endpoint() {
        Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
