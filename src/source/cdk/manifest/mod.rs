//! Reading a CDK cloud assembly (`cdk.out`) produced by `cdk synth` with the
//! default (modern) stack synthesizer.
//!
//! Everything is resolved up front: environments are checked, the
//! `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}` placeholders are
//! substituted, relative paths are made absolute, and stacks come out in
//! dependency order (placeholders of parts left to the run are kept for it). Features pipeline-run
//! cannot honour (nested assemblies, custom asset build commands, extra AssumeRole
//! options) are rejected here with an error that names the file, the artifact
//! and the fix, rather than failing obscurely halfway through a deployment.
//! Docker image assets are listed, not rejected, so the caller decides.
//!
//! `schema` checks the version of every file, `raw` is manifest.json as written, `artifacts`
//! sorts its artifacts, `stacks` resolves the stacks and their order, `environment` their
//! `aws://ACCOUNT/REGION` and placeholders, `assets` the `*.assets.json` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;

use crate::model::env::StackEnv;
use crate::source::limits::{ASSEMBLY_JSON_LIMIT, read_limited};

mod artifacts;
mod assets;
mod environment;
mod raw;
mod schema;
mod stacks;

const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloudAssembly {
    /// Absolute path of the assembly directory.
    pub(crate) directory: PathBuf,
    /// Every stack, dependencies before dependents (ties keep manifest order).
    pub(crate) stacks: Vec<AssemblyStack>,
    /// Asset manifests that at least one stack depends on, in stack order;
    /// others are never published by `cdk deploy` either, so they are skipped.
    pub(crate) asset_manifests: Vec<AssetManifest>,
    pub(crate) file_assets: Vec<FileAsset>,
    pub(crate) docker_assets: Vec<DockerAsset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssemblyStack {
    /// Artifact id in `manifest.json`; what `dependencies` refer to.
    pub(crate) id: String,
    /// `displayName` from the manifest (construct path), else the id.
    pub(crate) display_name: String,
    /// CloudFormation stack name.
    pub(crate) stack_name: String,
    /// The stack's `environment`, validated; a part may be left to the run
    /// (`unknown-account` / `unknown-region`), its placeholders then kept.
    pub(crate) env: StackEnv,
    /// Absolute path of the synthesized template.
    pub(crate) template_path: PathBuf,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) notification_arns: Vec<String>,
    /// Role to assume for deploying (the bootstrap deploy role).
    pub(crate) assume_role_arn: Option<String>,
    pub(crate) assume_role_external_id: Option<String>,
    /// Role CloudFormation itself uses (`RoleARN` of the change set).
    pub(crate) cfn_exec_role_arn: Option<String>,
    pub(crate) lookup_role_arn: Option<String>,
    /// Where the template is published, as written by the synthesizer
    /// (normally `s3://bucket/key`); CloudFormation needs it as an https URL.
    pub(crate) template_asset_url: Option<String>,
    pub(crate) requires_bootstrap_version: Option<u32>,
    /// SSM parameter holding the bootstrap version of the stack's environment.
    pub(crate) bootstrap_version_parameter: Option<String>,
    pub(crate) termination_protection: bool,
    /// Ids of stacks that must be deployed first.
    pub(crate) dependencies: Vec<String>,
    /// Ids of asset manifests whose assets must be published first.
    pub(crate) asset_manifests: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetManifest {
    /// Artifact id in `manifest.json`, e.g. `MyStack.assets`.
    pub(crate) id: String,
    /// Absolute path of the `*.assets.json` file.
    pub(crate) file: PathBuf,
    /// Stack whose environment resolved the manifest's placeholders.
    pub(crate) stack_id: String,
    pub(crate) requires_bootstrap_version: Option<u32>,
    pub(crate) bootstrap_version_parameter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssetPackaging {
    /// Upload the file as it is.
    File,
    /// Zip the directory and upload the archive.
    Zip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileAsset {
    /// Asset id (the source hash); unique only within its manifest.
    pub(crate) id: String,
    pub(crate) manifest_id: String,
    pub(crate) stack_id: String,
    pub(crate) display_name: Option<String>,
    /// Absolute path of the file or directory to publish.
    pub(crate) source_path: PathBuf,
    /// The assembly directory, symlinks resolved: the asset must stay inside it.
    pub(crate) root: PathBuf,
    pub(crate) packaging: AssetPackaging,
    pub(crate) destinations: Vec<AssetDestination>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetDestination {
    /// Destination id, e.g. `111111111111-ap-northeast-1`.
    pub(crate) id: String,
    pub(crate) bucket: String,
    pub(crate) object_key: String,
    pub(crate) account: String,
    pub(crate) region: String,
    /// Role to assume for uploading (the bootstrap file-publishing role).
    pub(crate) assume_role_arn: Option<String>,
    pub(crate) assume_role_external_id: Option<String>,
}

/// A Docker image asset, listed so the caller can refuse it by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DockerAsset {
    pub(crate) id: String,
    pub(crate) manifest_id: String,
    pub(crate) stack_id: String,
}

impl CloudAssembly {
    pub(crate) fn load(dir: &Path) -> anyhow::Result<CloudAssembly> {
        let directory = std::path::absolute(dir)
            .with_context(|| format!("cannot resolve cloud assembly path {}", dir.display()))?;
        if !directory.is_dir() {
            bail!(
                "cloud assembly directory {} does not exist or is not a directory: run `cdk synth` first, or pass the directory it wrote (cdk.out by default)",
                directory.display()
            );
        }
        let manifest_path = directory.join(MANIFEST_FILE);
        let manifest_text = read_text(&manifest_path, || {
            format!(
                "{} has no {MANIFEST_FILE}, so it is not a CDK cloud assembly: pass the directory `cdk synth` wrote (cdk.out by default)",
                directory.display()
            )
        })?;
        schema::check_version(&manifest_path, &manifest_text)?;
        let manifest: raw::AssemblyManifest = parse_json(&manifest_path, &manifest_text)?;
        artifacts::reject_missing_context(&manifest_path, &manifest.missing)?;

        let artifacts = artifacts::classify(&directory, &manifest_path, manifest.artifacts)?;
        let stacks = artifacts
            .stacks
            .into_iter()
            .map(|raw| stacks::resolve(&directory, &manifest_path, raw, &artifacts.kinds))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let stacks = stacks::order_by_dependencies(&manifest_path, stacks)?;

        // Deployment order, so that publishing can follow the same order.
        let mut unloaded = artifacts.asset_manifests;
        let mut asset_manifests = Vec::new();
        let mut file_assets = Vec::new();
        let mut docker_assets = Vec::new();
        for owner in &stacks {
            for manifest_id in &owner.asset_manifests {
                let Some(position) = unloaded.iter().position(|m| &m.id == manifest_id) else {
                    continue;
                };
                stacks::check_single_environment(&manifest_path, manifest_id, &stacks)?;
                let manifest = assets::load(&directory, unloaded.remove(position), owner)?;
                asset_manifests.push(manifest.info);
                file_assets.extend(manifest.file_assets);
                docker_assets.extend(manifest.docker_assets);
            }
        }
        Ok(CloudAssembly {
            directory,
            stacks,
            asset_manifests,
            file_assets,
            docker_assets,
        })
    }
}

fn read_text(path: &Path, when_missing: impl FnOnce() -> String) -> anyhow::Result<String> {
    match read_limited(path, ASSEMBLY_JSON_LIMIT) {
        Ok(Ok(bytes)) => String::from_utf8(bytes).map_err(|e| {
            anyhow!(
                "{}: not valid UTF-8 ({e}); run `cdk synth` again",
                path.display()
            )
        }),
        Ok(Err(too_large)) => Err(anyhow!(
            "{}: {too_large} for a cloud assembly file; this is not what `cdk synth` writes: run it again",
            path.display()
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(anyhow!("{}", when_missing()))
        }
        Err(error) => Err(anyhow!("cannot read {}: {error}", path.display())),
    }
}

fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> anyhow::Result<T> {
    serde_json::from_str(text).map_err(|error| {
        anyhow!(
            "{}: {error}; the file does not match the cloud assembly schema, synthesize again with `cdk synth`",
            path.display()
        )
    })
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod refusal_tests;
#[cfg(test)]
mod tests;
