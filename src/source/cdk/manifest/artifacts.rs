//! The artifacts of `manifest.json`: stacks and asset manifests are deployed, nested assemblies
//! read in turn, a few kinds carry nothing to deploy, anything else is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::de::DeserializeOwned;

use super::problems::Found;
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
    /// A nested cloud assembly (a `Stage`): depending on it is depending on all its stacks.
    Nested,
    Ignored,
}

/// A nested cloud assembly artifact: its id and directory.
pub(super) struct NestedAssembly {
    pub(super) id: String,
    pub(super) directory: PathBuf,
}

/// The artifacts pipeline-run deploys, and the kind of every artifact id.
pub(super) struct ClassifiedArtifacts {
    pub(super) stacks: Vec<UnresolvedStack>,
    pub(super) asset_manifests: Vec<UnresolvedAssetManifest>,
    pub(super) nested: Vec<NestedAssembly>,
    pub(super) kinds: BTreeMap<String, ArtifactKind>,
}

/// Context lookups the app still needs mean its templates hold dummy values.
pub(super) fn reject_missing_context(
    file: &Path,
    missing: &[raw::MissingContext],
    found: &mut Found,
) {
    if missing.is_empty() {
        return;
    }
    let keys: Vec<&str> = missing.iter().map(|m| m.key.as_str()).collect();
    found.problem(format!(
        "{}: the app needs context lookups that were not done ({}), so the templates hold dummy values; run `cdk synth` once with credentials that can assume the lookup role, commit the updated cdk.context.json, then synthesize again",
        file.display(),
        keys.join(", ")
    ));
}

/// Sorts the artifacts; unknown types are refused (each one a problem).
pub(super) fn classify(
    directory: &Path,
    manifest_path: &Path,
    artifacts: raw::OrderedMap<raw::Artifact>,
    found: &mut Found,
) -> ClassifiedArtifacts {
    let mut classified = ClassifiedArtifacts {
        stacks: Vec::new(),
        asset_manifests: Vec::new(),
        nested: Vec::new(),
        kinds: BTreeMap::new(),
    };
    for (id, artifact) in artifacts.0 {
        let kind = match artifact.artifact_type.as_str() {
            STACK_ARTIFACT => {
                if let Some(properties) =
                    found.keep(artifact_properties(manifest_path, &id, &artifact))
                {
                    classified.stacks.push(UnresolvedStack {
                        id: id.clone(),
                        artifact,
                        properties,
                    });
                }
                ArtifactKind::Stack
            }
            ASSET_MANIFEST_ARTIFACT => {
                let properties: Option<raw::AssetManifestProperties> =
                    found.keep(artifact_properties(manifest_path, &id, &artifact));
                if let Some(properties) = properties {
                    classified.asset_manifests.push(UnresolvedAssetManifest {
                        id: id.clone(),
                        file: directory.join(&properties.file),
                        properties,
                    });
                }
                ArtifactKind::AssetManifest
            }
            NESTED_ASSEMBLY_ARTIFACT => {
                let nested: Option<raw::NestedAssemblyProperties> =
                    found.keep(artifact_properties(manifest_path, &id, &artifact));
                if let Some(nested) = nested {
                    classified.nested.push(NestedAssembly {
                        id: id.clone(),
                        directory: directory.join(&nested.directory_name),
                    });
                }
                ArtifactKind::Nested
            }
            other if IGNORED_ARTIFACTS.contains(&other) => ArtifactKind::Ignored,
            other => {
                found.problem(format!(
                    "{}: artifact '{id}' has type '{other}', which this pipeline-run does not know; upgrade pipeline-run, or synthesize with a CDK version whose assembly it supports",
                    manifest_path.display()
                ));
                ArtifactKind::Ignored
            }
        };
        classified.kinds.insert(id, kind);
    }
    classified
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
