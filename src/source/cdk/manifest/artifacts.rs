//! The artifacts of `manifest.json`: stacks and asset manifests are deployed, a few kinds carry
//! nothing to deploy, anything else is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use serde::de::DeserializeOwned;

use super::raw;

const STACK_ARTIFACT: &str = "aws:cloudformation:stack";
const ASSET_MANIFEST_ARTIFACT: &str = "cdk:asset-manifest";
const NESTED_ASSEMBLY_ARTIFACT: &str = "cdk:cloud-assembly";
/// Artifacts that carry nothing to deploy.
const IGNORED_ARTIFACTS: &[&str] = &["cdk:tree", "cdk:feature-flag-report", "none"];

/// A stack artifact with its properties, before its environment and paths are resolved.
pub(super) struct UnresolvedStack {
    pub(super) id: String,
    pub(super) artifact: raw::Artifact,
    pub(super) properties: raw::StackProperties,
}

/// An asset manifest artifact, before its file is read.
pub(super) struct UnresolvedAssetManifest {
    pub(super) id: String,
    pub(super) file: PathBuf,
    pub(super) properties: raw::AssetManifestProperties,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ArtifactKind {
    Stack,
    AssetManifest,
    Ignored,
}

/// The artifacts pipeline-run deploys, and the kind of every artifact id.
pub(super) struct ClassifiedArtifacts {
    pub(super) stacks: Vec<UnresolvedStack>,
    pub(super) asset_manifests: Vec<UnresolvedAssetManifest>,
    pub(super) kinds: BTreeMap<String, ArtifactKind>,
}

/// Context lookups the app still needs mean its templates hold dummy values.
pub(super) fn reject_missing_context(
    file: &Path,
    missing: &[raw::MissingContext],
) -> anyhow::Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = missing.iter().map(|m| m.key.as_str()).collect();
    bail!(
        "{}: the app needs context lookups that were not done ({}), so the templates hold dummy values; run `cdk synth` once with credentials that can assume the lookup role, commit the updated cdk.context.json, then synthesize again",
        file.display(),
        keys.join(", ")
    )
}

/// Sorts the artifacts; nested assemblies and unknown types are refused.
pub(super) fn classify(
    directory: &Path,
    manifest_path: &Path,
    artifacts: raw::OrderedMap<raw::Artifact>,
) -> anyhow::Result<ClassifiedArtifacts> {
    let mut classified = ClassifiedArtifacts {
        stacks: Vec::new(),
        asset_manifests: Vec::new(),
        kinds: BTreeMap::new(),
    };
    for (id, artifact) in artifacts.0 {
        let kind = match artifact.artifact_type.as_str() {
            STACK_ARTIFACT => {
                let properties = artifact_properties(manifest_path, &id, &artifact)?;
                classified.stacks.push(UnresolvedStack {
                    id: id.clone(),
                    artifact,
                    properties,
                });
                ArtifactKind::Stack
            }
            ASSET_MANIFEST_ARTIFACT => {
                let properties: raw::AssetManifestProperties =
                    artifact_properties(manifest_path, &id, &artifact)?;
                classified.asset_manifests.push(UnresolvedAssetManifest {
                    id: id.clone(),
                    file: directory.join(&properties.file),
                    properties,
                });
                ArtifactKind::AssetManifest
            }
            NESTED_ASSEMBLY_ARTIFACT => {
                let nested: raw::NestedAssemblyProperties =
                    artifact_properties(manifest_path, &id, &artifact)?;
                bail!(
                    "{}: artifact '{id}' is a nested cloud assembly: nested cloud assemblies (CDK Pipelines stages) are not supported yet: deploy {} directly",
                    manifest_path.display(),
                    directory.join(&nested.directory_name).display()
                );
            }
            other if IGNORED_ARTIFACTS.contains(&other) => ArtifactKind::Ignored,
            other => bail!(
                "{}: artifact '{id}' has type '{other}', which this pipeline-run does not know; upgrade pipeline-run, or synthesize with a CDK version whose assembly it supports",
                manifest_path.display()
            ),
        };
        classified.kinds.insert(id, kind);
    }
    Ok(classified)
}

fn artifact_properties<T: DeserializeOwned>(
    manifest_path: &Path,
    id: &str,
    artifact: &raw::Artifact,
) -> anyhow::Result<T> {
    let properties = artifact
        .properties
        .clone()
        .unwrap_or(serde_json::Value::Object(serde_json::Map::new()));
    serde_json::from_value(properties).map_err(|error| {
        anyhow!(
            "{}: artifact '{id}' ({}) has invalid \"properties\": {error}; synthesize again with `cdk synth`",
            manifest_path.display(),
            artifact.artifact_type
        )
    })
}
