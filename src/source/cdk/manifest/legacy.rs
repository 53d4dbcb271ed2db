//! Assets of stacks synthesized by the legacy synthesizer: `aws:cdk:asset` metadata entries (in
//! the manifest or its `additionalMetadataFile`) naming the template parameters the CDK CLI fills
//! with the asset's location in the toolkit bucket.

use std::path::Path;

use serde_json::Value;

use super::problems::Found;
use super::raw::{Artifact, LegacyAssetEntry};
use super::stacks::Assembly;
use super::{parse_json, read_text};
use crate::model::assets::{LegacyAsset, Packaging};

const ASSET_METADATA: &str = "aws:cdk:asset";

/// The legacy assets of a stack: file and directory assets, and the ids of its container images.
#[derive(Default)]
pub(super) struct LegacyAssets {
    pub(super) files: Vec<LegacyAsset>,
    pub(super) docker: Vec<String>,
}

/// Every `aws:cdk:asset` entry of stack `id`; the problems of each go to `found`.
pub(super) fn assets(
    assembly: &Assembly,
    id: &str,
    artifact: &Artifact,
    found: &mut Found,
) -> LegacyAssets {
    let mut entries: Vec<(String, Value)> = Vec::new();
    collect(artifact.metadata.as_ref(), &mut entries);
    if let Some(extra) = &artifact.additional_metadata_file {
        let path = assembly.directory.join(extra);
        let text = read_text(&path, || {
            format!(
                "{}: stack '{id}': additionalMetadataFile '{extra}' not found at {}: the assembly is incomplete; run `cdk synth` again",
                assembly.manifest_path.display(),
                path.display()
            )
        });
        match text.and_then(|text| parse_json::<Value>(&path, &text)) {
            Ok(value) => collect(Some(&value), &mut entries),
            Err(e) => found.error(&e),
        }
    }
    let mut out = LegacyAssets::default();
    if entries.is_empty() {
        return out;
    }
    let root = match std::fs::canonicalize(assembly.directory) {
        Ok(root) => root,
        Err(e) => {
            found.problem(format!(
                "cannot resolve the cloud assembly directory {}: {e}",
                assembly.directory.display()
            ));
            return out;
        }
    };
    for (path, data) in entries {
        let entry = match serde_json::from_value::<LegacyAssetEntry>(data) {
            Ok(entry) => entry,
            Err(e) => {
                found.problem(format!(
                    "{}: stack '{id}': asset metadata at {path} is invalid ({e}); synthesize again with `cdk synth`",
                    assembly.manifest_path.display()
                ));
                continue;
            }
        };
        if entry.packaging == "container-image" {
            out.docker.push(entry.id);
            continue;
        }
        if let Some(asset) = file_asset(assembly, &root, id, &path, entry, found) {
            out.files.push(asset);
        }
    }
    out
}

/// The `aws:cdk:asset` entries of a metadata object (construct path → entries).
fn collect(metadata: Option<&Value>, out: &mut Vec<(String, Value)>) {
    let Some(metadata) = metadata.and_then(Value::as_object) else {
        return;
    };
    for (path, entries) in metadata {
        for entry in entries.as_array().into_iter().flatten() {
            if entry.get("type").and_then(Value::as_str) == Some(ASSET_METADATA)
                && let Some(data) = entry.get("data")
            {
                out.push((path.clone(), data.clone()));
            }
        }
    }
}

fn file_asset(
    assembly: &Assembly,
    root: &Path,
    stack: &str,
    construct_path: &str,
    entry: LegacyAssetEntry,
    found: &mut Found,
) -> Option<LegacyAsset> {
    let file = assembly.manifest_path.display();
    let what = format!("{file}: stack '{stack}': legacy asset '{}'", entry.id);
    let packaging = match entry.packaging.as_str() {
        "file" => Packaging::File,
        "zip" => Packaging::Zip,
        other => {
            found.problem(format!(
                "{what} has packaging \"{other}\"; only \"file\" and \"zip\" are supported"
            ));
            return None;
        }
    };
    let (Some(bucket), Some(key), Some(hash)) = (
        entry.s3_bucket_parameter,
        entry.s3_key_parameter,
        entry.artifact_hash_parameter,
    ) else {
        found.problem(format!(
            "{what} names no s3BucketParameter, s3KeyParameter or artifactHashParameter, so its location cannot be passed to the template; synthesize again with `cdk synth`"
        ));
        return None;
    };
    let source = assembly.directory.join(&entry.path);
    match std::fs::canonicalize(&source) {
        Ok(real) if real.starts_with(root) && !Path::new(&entry.path).is_absolute() => {}
        Ok(real) => {
            found.problem(format!(
                "{what}: path '{}' resolves to {}, outside the cloud assembly directory {}: an assembly only publishes what is inside it; synthesize again so that cdk synth copies it in",
                entry.path,
                real.display(),
                root.display()
            ));
            return None;
        }
        Err(_) => {
            found.problem(format!(
                "{what}: path '{}' not found at {}: the assembly is incomplete; run `cdk synth` again",
                entry.path,
                source.display()
            ));
            return None;
        }
    }
    let extension = match packaging {
        Packaging::Zip => ".zip".to_string(),
        Packaging::File => Path::new(&entry.path)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default(),
    };
    let prefix = if entry.id == entry.source_hash {
        "assets/".to_string()
    } else {
        format!("assets/{}/", entry.id)
    };
    Some(LegacyAsset {
        name: construct_path.trim_start_matches('/').to_string(),
        source,
        root: root.to_path_buf(),
        packaging,
        prefix,
        file_name: format!("{}{extension}", entry.source_hash),
        source_hash: entry.source_hash,
        bucket_parameter: bucket,
        key_parameter: key,
        hash_parameter: hash,
    })
}
