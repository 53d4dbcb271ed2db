//! Publishing to the staging bucket of an environment, as cdk-assets does: existence check with
//! ListObjectsV2 first (not HeadObject, which S3 caches negatively), upload only when missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_smithy_types::byte_stream::Length;
use serde::Serialize;

use super::package::{self, PackagedAsset, ZipCache};
use crate::aws::Aws;
use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, Failure, fail, fail_fix};
#[cfg(test)]
use crate::model::assets::ASSET_ATTRIBUTES;
use crate::model::assets::{AssetLocation, AssetSpec, AssetTarget};
use crate::model::env::{Environment, Region};
use crate::model::roles::{BootstrapRole, RoleRef, StageRoles, staging_bucket};
use crate::progress::StageProgress;

/// Files above this size go up in parts: a failed part is retried alone, and no single request
/// carries the whole file.
const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
/// S3 needs at least 5 MiB per part (except the last) and allows 10,000 parts; 8 MiB parts cover
/// files up to 78 GiB.
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Assets packaged and uploaded at the same time, per stage.
const ASSET_CONCURRENCY: usize = 4;

/// Objects uploaded and objects found already present, per stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct AssetCounts {
    pub(crate) uploaded: usize,
    pub(crate) skipped: usize,
}

/// The zip cache of this process (`package::ZipCache`: private, under `$RUNNER_TEMP` or the
/// user's cache directory), opened once: Ok with the line to print the first time it had to be
/// recreated, or the refusal's summary and fix.
fn zip_cache() -> Result<(ZipCache, Option<String>)> {
    static CACHE: OnceLock<Result<ZipCache, (String, Option<String>)>> = OnceLock::new();
    let mut note = None;
    let cache = CACHE.get_or_init(|| match ZipCache::open(&ZipCache::default_dir()) {
        Ok((cache, recreated)) => {
            note = recreated;
            Ok(cache)
        }
        Err(e) => Err(match Failure::of(&e) {
            Some(f) => (f.summary.clone(), f.fix.clone()),
            None => (format!("{e:#}"), None),
        }),
    });
    match cache {
        Ok(cache) => Ok((cache.clone(), note)),
        Err((summary, fix)) => {
            let failure = Failure::new(ExitKind::Validation, summary.clone());
            Err(match fix {
                Some(fix) => failure.with_fix(fix.clone()),
                None => failure,
            }
            .into())
        }
    }
}

/// Packages and publishes a stage's assets, several at a time. Returns where each asset of the
/// staging kind went (by name) and how many objects were uploaded or already present.
pub(crate) async fn publish_assets(
    aws: &Arc<Aws>,
    env: &Environment,
    roles: &StageRoles,
    qualifier: &str,
    stage: &str,
    assets: &[AssetSpec],
    progress: &StageProgress,
) -> Result<(BTreeMap<String, AssetLocation>, AssetCounts)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(ASSET_CONCURRENCY));
    let (cache, recreated) = zip_cache()?;
    if let Some(line) = recreated {
        progress.line(&line);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for asset in assets.iter().cloned() {
        let aws = aws.clone();
        let env = env.clone();
        let roles = roles.clone();
        let qualifier = qualifier.to_string();
        let purpose = format!("publish asset {} of stage {stage}", asset.name);
        let limit = limit.clone();
        let cache = cache.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result =
                publish_one(&aws, &env, &roles, &qualifier, &asset, &cache, &purpose).await;
            (asset, result)
        });
    }
    let mut locations = BTreeMap::new();
    let mut counts = AssetCounts::default();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let (asset, result) =
            joined.map_err(|e| fail(ExitKind::Deploy, format!("asset task failed: {e}")))?;
        match result {
            Ok((published, note)) => {
                if let Some(line) = note {
                    progress.line(&format!("asset {}: {line}", asset.name));
                }
                for (location, uploaded, size) in &published {
                    if *uploaded {
                        counts.uploaded += 1;
                        progress.line(&format!(
                            "asset {}: uploaded {} as {}",
                            asset.name,
                            human_size(*size),
                            location.key
                        ));
                    } else {
                        counts.skipped += 1;
                        progress.line(&format!("asset {}: already published", asset.name));
                    }
                }
                if asset.target == AssetTarget::Staging
                    && let Some((location, _, _)) = published.into_iter().next()
                {
                    locations.insert(asset.name.clone(), location);
                }
            }
            Err(e) => {
                progress.line(&format!("asset {}: FAILED", asset.name));
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((locations, counts)),
    }
}

/// (location, uploaded, size) per destination, and a line about the cache to print.
async fn publish_one(
    aws: &Aws,
    env: &Environment,
    roles: &StageRoles,
    qualifier: &str,
    asset: &AssetSpec,
    cache: &ZipCache,
    purpose: &str,
) -> Result<(Vec<(AssetLocation, bool, u64)>, Option<String>)> {
    let (source, root, packaging, cache) = (
        asset.source.clone(),
        asset.root.clone(),
        asset.packaging,
        cache.clone(),
    );
    let packaged = tokio::task::spawn_blocking(move || {
        package::package_asset(&source, &root, packaging, &cache)
    })
    .await
    .map_err(|e| fail(ExitKind::Deploy, format!("packaging task failed: {e}")))?
    .map_err(|e| packaging_error(&asset.name, &e))?;
    let mut out = Vec::new();
    match &asset.target {
        AssetTarget::Staging => {
            let cfg = aws
                .role(&roles.file_publishing, env, qualifier, purpose)
                .await?;
            let bucket = staging_bucket(qualifier, env);
            let key = packaged.object_key();
            let uploaded = publish_file(&aws.s3(&cfg), &bucket, &key, &packaged).await?;
            let url = object_url(aws, &bucket, &key, &env.region);
            let location = AssetLocation {
                bucket,
                key,
                region: env.region.to_string(),
                url,
            };
            out.push((location, uploaded, packaged.size));
        }
        AssetTarget::Destinations(destinations) => {
            for d in destinations {
                let cfg = match &d.role_arn {
                    Some(arn) => {
                        let role = destination_role(arn, env, qualifier);
                        let dest_env = Environment {
                            account: env.account.clone(),
                            region: Region::new(&d.region).unwrap_or_else(|_| env.region.clone()),
                        };
                        aws.role(&role, &dest_env, qualifier, purpose).await?
                    }
                    None => aws.base_in(&d.region),
                };
                let uploaded = publish_file(&aws.s3(&cfg), &d.bucket, &d.key, &packaged).await?;
                let location = AssetLocation {
                    bucket: d.bucket.clone(),
                    key: d.key.clone(),
                    region: d.region.clone(),
                    url: object_url(aws, &d.bucket, &d.key, &d.region),
                };
                out.push((location, uploaded, packaged.size));
            }
        }
    }
    Ok((out, packaged.note))
}

/// A packaging error of asset `name`: bad input (a link out of the root, a special file, an
/// untrusted cache) keeps its kind, anything else is a deploy failure.
fn packaging_error(name: &str, e: &anyhow::Error) -> anyhow::Error {
    match Failure::of(e) {
        Some(f) => Failure {
            kind: f.kind,
            summary: format!("asset {name}: {}", f.summary),
            fix: f.fix.clone(),
            detail: None,
        }
        .into(),
        None => fail(ExitKind::Deploy, format!("asset {name}: {e:#}")),
    }
}

/// Uploads a packaged asset under `key` unless present; large files in parts, streamed from
/// disk. Returns whether it uploaded.
async fn publish_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    packaged: &PackagedAsset,
) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    let path = &packaged.path_to_upload;
    if packaged.size > MULTIPART_THRESHOLD {
        multipart_upload(s3, bucket, key, path, packaged.size).await?;
        return Ok(true);
    }
    let body = ByteStream::from_path(path).await.map_err(|e| {
        fail(
            ExitKind::Deploy,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    put(s3, bucket, key, body).await?;
    Ok(true)
}

/// One PutObject, for files and in-memory bodies alike.
async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: ByteStream) -> Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type(key))
        .body(body)
        .send()
        .await
        .map_err(|e| upload_error(bucket, key, &describe_sdk_error(&e)))?;
    Ok(())
}

fn upload_error(bucket: &str, key: &str, text: &str) -> anyhow::Error {
    fail(
        ExitKind::Deploy,
        format!("cannot upload s3://{bucket}/{key}: {text}"),
    )
}

/// Multipart upload of `path`, one part at a time from disk; aborted on any failure so no
/// orphaned parts keep costing storage.
async fn multipart_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
    size: u64,
) -> Result<()> {
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type(key))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(|e| upload_error(bucket, key, &describe_sdk_error(&e)))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let result = upload_parts(s3, bucket, key, path, size, &upload_id).await;
    if result.is_err() {
        let _ = s3
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
    size: u64,
    upload_id: &str,
) -> Result<()> {
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut number = 1i32;
    while offset < size {
        let length = PART_SIZE.min(size - offset);
        let body = ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(Length::Exact(length))
            .build()
            .await
            .map_err(|e| {
                fail(
                    ExitKind::Deploy,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .content_length(length as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                upload_error(
                    bucket,
                    key,
                    &format!("part {number}: {}", describe_sdk_error(&e)),
                )
            })?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                .build(),
        );
        offset += length;
        number += 1;
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| upload_error(bucket, key, &describe_sdk_error(&e)))?;
    Ok(())
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        Some("yaml" | "yml") => "application/x-yaml",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// Zips this small are empty archives left by interrupted uploads; cdk-assets ignores them too.
/// (cdk-assets applies the rule to every object, so it re-uploads files under 23 bytes on every
/// run; only zips can be such leftovers, so only zips are held to it here.)
const MIN_PRESENT_ZIP_SIZE: i64 = 23;

/// Whether `key` is already in `bucket`: listed under exactly that key.
async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<bool> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(key)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| {
            let summary = format!("cannot list s3://{bucket}/{key}: {}", describe_sdk_error(&e));
            let missing = e.as_service_error().is_some_and(|se| se.is_no_such_bucket());
            match missing {
                true => fail_fix(ExitKind::Deploy, summary, "bootstrap the environment (pipeline-run bootstrap) — its staging bucket is missing"),
                false => fail(ExitKind::Deploy, summary),
            }
        })?;
    Ok(out.contents().iter().any(|o| {
        o.key() == Some(key)
            && (!key.ends_with(".zip") || o.size().unwrap_or(0) >= MIN_PRESENT_ZIP_SIZE)
    }))
}

/// Uploads `body` under `key` unless present. Returns whether it uploaded.
pub(super) async fn publish_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    put(s3, bucket, key, ByteStream::from(body)).await?;
    Ok(true)
}

/// The role an asset manifest names for a destination: the stage's file-publishing role of the
/// bootstrap convention when it is that one (so the fix is `bootstrap --trust`).
fn destination_role(arn: &str, env: &Environment, qualifier: &str) -> RoleRef {
    RoleRef {
        arn: arn.to_string(),
        kind: BootstrapRole::FilePublishing,
        conventional: arn == BootstrapRole::FilePublishing.arn(qualifier, env),
    }
}

/// Puts a template too large for TemplateBody into the staging bucket (file-publishing role) and
/// returns the URL CloudFormation reads it from.
pub(crate) async fn publish_template(
    aws: &Aws,
    env: &Environment,
    roles: &StageRoles,
    qualifier: &str,
    body: &str,
    purpose: &str,
) -> Result<String> {
    let cfg = aws
        .role(&roles.file_publishing, env, qualifier, purpose)
        .await?;
    let s3 = aws.s3(&cfg);
    let bucket = staging_bucket(qualifier, env);
    let key = format!("{}.yaml", package::sha256_hex(body.as_bytes()));
    publish_bytes(&s3, &bucket, &key, body.as_bytes().to_vec()).await?;
    Ok(template_url(&bucket, &key, &env.region))
}

/// The TemplateURL CloudFormation reads a template from: path-style on the regional S3 name, as
/// the CDK builds it. CloudFormation fetches it itself, so a custom endpoint of the caller does
/// not apply (and moto parses the bucket from exactly this form).
pub(super) fn template_url(bucket: &str, key: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://s3.{region}.{suffix}/{bucket}/{key}")
}

/// `s3://bucket/key` (as cloud assemblies write `stackTemplateAssetObjectUrl`) as a TemplateURL;
/// other URLs are returned unchanged.
pub(crate) fn template_url_from(url: &str, region: &str) -> String {
    match url
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((bucket, key)) => template_url(bucket, key, region),
        None => url.to_string(),
    }
}

/// The https URL of an object; path-style against a custom endpoint.
fn object_url(aws: &Aws, bucket: &str, key: &str, region: &str) -> String {
    match aws.endpoint() {
        Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_urls_are_path_style_on_the_regional_s3_name() {
        assert_eq!(
            template_url_from(
                "s3://cdk-q-assets-1-ap-northeast-1/abc.json",
                "ap-northeast-1"
            ),
            "https://s3.ap-northeast-1.amazonaws.com/cdk-q-assets-1-ap-northeast-1/abc.json"
        );
        assert_eq!(
            template_url("b", "k.json", "cn-north-1"),
            "https://s3.cn-north-1.amazonaws.com.cn/b/k.json"
        );
        assert_eq!(
            template_url_from("https://example.com/t.json", "us-east-1"),
            "https://example.com/t.json"
        );
    }

    #[test]
    fn asset_attributes_give_bucket_key_and_both_urls() {
        let l = AssetLocation {
            bucket: "b".into(),
            key: "k.zip".into(),
            region: "ap-northeast-1".into(),
            url: "https://b.s3.ap-northeast-1.amazonaws.com/k.zip".into(),
        };
        assert_eq!(l.attribute("s3_url").as_deref(), Some("s3://b/k.zip"));
        assert_eq!(l.attribute("key").as_deref(), Some("k.zip"));
        assert_eq!(l.attribute("bucket").as_deref(), Some("b"));
        assert!(l.attribute("url").unwrap().starts_with("https://"));
        assert_eq!(l.attribute("arn"), None);
        for a in ASSET_ATTRIBUTES {
            assert!(l.attribute(a).is_some(), "{a}");
        }
    }

    #[test]
    fn sizes_are_shown_in_binary_units() {
        assert_eq!(human_size(1_258_291), "1.2 MiB");
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(12), "12 B");
    }
}
