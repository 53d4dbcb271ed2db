//! Assets of legacy-synthesizer stacks, as the CDK CLI publishes them: to the bucket the
//! environment's toolkit stack outputs as `BucketName`, under `assets/`, with the credentials in
//! use; their bucket, `<prefix>||<file>` key and source hash go into the template parameters the
//! stack's asset metadata names.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_config::SdkConfig;

use super::package;
use super::publish::{publish_bytes, template_url};
use crate::aws::Aws;
use crate::error::{ExitKind, fail_fix};
use crate::model::assets::{AssetSpec, AssetTarget, Destination};
use crate::model::plan::Stage;
use crate::model::roles::DEFAULT_TOOLKIT_STACK;
use crate::run::stack;

/// The output of the toolkit stack naming its bucket.
const BUCKET_OUTPUT: &str = "BucketName";

/// The stage's legacy assets as specs to publish (to the toolkit bucket, with `cfg`: the
/// credentials in use), and the template parameters that say where they went. Nothing to do, and
/// no AWS call, for a stage without legacy assets.
pub(crate) async fn prepare(
    aws: &Aws,
    cfg: &SdkConfig,
    stage: &Stage,
) -> Result<(Vec<AssetSpec>, BTreeMap<String, String>)> {
    if stage.legacy_assets.is_empty() {
        return Ok((Vec::new(), BTreeMap::new()));
    }
    let bucket = toolkit_bucket(aws, cfg, stage).await?;
    let mut specs = Vec::new();
    let mut parameters = BTreeMap::new();
    for asset in &stage.legacy_assets {
        specs.push(AssetSpec {
            name: asset.name.clone(),
            source: asset.source.clone(),
            root: asset.root.clone(),
            packaging: asset.packaging,
            target: AssetTarget::Destinations(vec![Destination {
                bucket: bucket.clone(),
                key: asset.object_key(),
                region: stage.env.region.to_string(),
                role_arn: None,
            }]),
        });
        parameters.extend(asset.parameters(&bucket));
    }
    Ok((specs, parameters))
}

/// Puts a template too large for TemplateBody of a stack deployed with the credentials in use
/// into the toolkit bucket, under `cdk/<stack id>/<hash>.yml` as the CDK CLI does, and returns the
/// URL CloudFormation reads it from.
pub(crate) async fn publish_template(
    aws: &Aws,
    cfg: &SdkConfig,
    stage: &Stage,
    body: &str,
) -> Result<String> {
    let bucket = toolkit_bucket(aws, cfg, stage).await?;
    let key = format!(
        "cdk/{}/{}.yml",
        stage.name,
        package::sha256_hex(body.as_bytes())
    );
    publish_bytes(&aws.s3(cfg), &bucket, &key, body.as_bytes().to_vec()).await?;
    Ok(template_url(&bucket, &key, &stage.env.region))
}

/// The bucket of the toolkit stack of the stage's environment, as the CDK CLI finds it.
async fn toolkit_bucket(aws: &Aws, cfg: &SdkConfig, stage: &Stage) -> Result<String> {
    let cfn = aws.cloudformation(cfg);
    let toolkit = stack::describe(&cfn, DEFAULT_TOOLKIT_STACK).await?;
    let bucket = toolkit
        .as_ref()
        .and_then(|t| stack::outputs_of(t).remove(BUCKET_OUTPUT))
        .filter(|b| !b.is_empty());
    bucket.ok_or_else(|| {
        fail_fix(
            ExitKind::Credentials,
            format!(
                "stack {} has assets or a template over 51,200 bytes (legacy stack synthesizer), so the toolkit stack {DEFAULT_TOOLKIT_STACK} with an output {BUCKET_OUTPUT} must be deployed to {}; there is {}",
                stage.stack_name,
                stage.env,
                if toolkit.is_some() {
                    "no such output"
                } else {
                    "no such stack"
                }
            ),
            format!("bootstrap the environment: pipeline-run bootstrap {}", stage.env),
        )
    })
}
