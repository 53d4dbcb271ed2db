//! Reading a CDK cloud assembly (`cdk.out`) produced by `cdk synth` with the
//! default (modern) stack synthesizer.
//!
//! Everything is resolved up front: environments are checked, the
//! `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}` placeholders are
//! substituted, relative paths are made absolute, and stacks come out in
//! dependency order. Features pipeline-run cannot honour (nested assemblies,
//! environment-agnostic stacks, custom asset build commands, extra AssumeRole
//! options) are rejected here with an error that names the file, the artifact
//! and the fix, rather than failing obscurely halfway through a deployment.
//! Docker image assets are listed, not rejected, so the caller decides.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

use crate::model::env::partition;
use crate::model::graph;

/// Oldest cloud assembly schema major read by pipeline-run. Nothing older has
/// been tried, so older assemblies are refused rather than guessed at.
const OLDEST_SCHEMA_MAJOR: u64 = 17;

/// Newest cloud assembly schema major pipeline-run has been checked against.
/// The schema major is bumped on every schema change, even additive ones, so
/// a newer one may carry fields that change how a stack must be deployed.
const NEWEST_SCHEMA_MAJOR: u64 = 54;

const MANIFEST_FILE: &str = "manifest.json";

const STACK_ARTIFACT: &str = "aws:cloudformation:stack";
const ASSET_MANIFEST_ARTIFACT: &str = "cdk:asset-manifest";
const NESTED_ASSEMBLY_ARTIFACT: &str = "cdk:cloud-assembly";
/// Artifacts that carry nothing to deploy.
const IGNORED_ARTIFACTS: &[&str] = &["cdk:tree", "cdk:feature-flag-report", "none"];

const UNKNOWN_ACCOUNT: &str = "unknown-account";
const UNKNOWN_REGION: &str = "unknown-region";

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
    pub(crate) account: String,
    pub(crate) region: String,
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
        check_schema_version(&manifest_path, &manifest_text)?;
        let manifest: RawAssemblyManifest = parse_json(&manifest_path, &manifest_text)?;
        reject_missing_context(&manifest_path, &manifest.missing)?;

        let artifacts = classify_artifacts(&directory, &manifest_path, manifest.artifacts)?;
        let stacks = artifacts
            .stacks
            .into_iter()
            .map(|raw| resolve_stack(&directory, &manifest_path, raw, &artifacts.kinds))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let stacks = order_by_dependencies(&manifest_path, stacks)?;

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
                check_single_environment(&manifest_path, manifest_id, &stacks)?;
                let manifest = load_asset_manifest(&directory, unloaded.remove(position), owner)?;
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

// ---------------------------------------------------------------------------
// manifest.json

#[derive(Deserialize)]
struct RawVersionOnly {
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawAssemblyManifest {
    #[serde(default)]
    artifacts: OrderedMap<RawArtifact>,
    #[serde(default)]
    missing: Vec<RawMissingContext>,
}

#[derive(Deserialize)]
struct RawMissingContext {
    key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifact {
    #[serde(rename = "type")]
    artifact_type: String,
    environment: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default)]
    properties: Option<serde_json::Value>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStackProperties {
    template_file: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    notification_arns: Vec<String>,
    stack_name: Option<String>,
    #[serde(default)]
    termination_protection: bool,
    assume_role_arn: Option<String>,
    assume_role_external_id: Option<String>,
    assume_role_additional_options: Option<serde_json::Map<String, serde_json::Value>>,
    cloud_formation_execution_role_arn: Option<String>,
    lookup_role: Option<RawBootstrapRole>,
    stack_template_asset_object_url: Option<String>,
    requires_bootstrap_stack_version: Option<u32>,
    bootstrap_stack_version_ssm_parameter: Option<String>,
}

#[derive(Deserialize)]
struct RawBootstrapRole {
    arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAssetManifestProperties {
    file: String,
    requires_bootstrap_stack_version: Option<u32>,
    bootstrap_stack_version_ssm_parameter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNestedAssemblyProperties {
    directory_name: String,
}

struct UnresolvedStack {
    id: String,
    artifact: RawArtifact,
    properties: RawStackProperties,
}

struct UnresolvedAssetManifest {
    id: String,
    file: PathBuf,
    properties: RawAssetManifestProperties,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArtifactKind {
    Stack,
    AssetManifest,
    Ignored,
}

struct ClassifiedArtifacts {
    stacks: Vec<UnresolvedStack>,
    asset_manifests: Vec<UnresolvedAssetManifest>,
    kinds: BTreeMap<String, ArtifactKind>,
}

fn check_schema_version(file: &Path, text: &str) -> anyhow::Result<()> {
    let version = parse_json::<RawVersionOnly>(file, text)?
        .version
        .ok_or_else(|| {
            anyhow!(
                "{}: no \"version\" field, so this is not a cloud assembly file written by `cdk synth`",
                file.display()
            )
        })?;
    let major = version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u64>().ok())
        .ok_or_else(|| {
            anyhow!(
                "{}: cloud assembly schema version \"{version}\" is not of the form MAJOR.MINOR.PATCH; synthesize again with `cdk synth`",
                file.display()
            )
        })?;
    let supported = format!("{OLDEST_SCHEMA_MAJOR}.x to {NEWEST_SCHEMA_MAJOR}.x");
    if major > NEWEST_SCHEMA_MAJOR {
        bail!(
            "{}: cloud assembly schema version {version} is newer than this pipeline-run supports ({supported}); upgrade pipeline-run or synthesize with an older CDK",
            file.display()
        );
    }
    if major < OLDEST_SCHEMA_MAJOR {
        bail!(
            "{}: cloud assembly schema version {version} is older than this pipeline-run supports ({supported}); synthesize with a newer aws-cdk-lib",
            file.display()
        );
    }
    Ok(())
}

fn reject_missing_context(file: &Path, missing: &[RawMissingContext]) -> anyhow::Result<()> {
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

fn classify_artifacts(
    directory: &Path,
    manifest_path: &Path,
    artifacts: OrderedMap<RawArtifact>,
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
                let properties: RawAssetManifestProperties =
                    artifact_properties(manifest_path, &id, &artifact)?;
                classified.asset_manifests.push(UnresolvedAssetManifest {
                    id: id.clone(),
                    file: directory.join(&properties.file),
                    properties,
                });
                ArtifactKind::AssetManifest
            }
            NESTED_ASSEMBLY_ARTIFACT => {
                let nested: RawNestedAssemblyProperties =
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
    artifact: &RawArtifact,
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

fn resolve_stack(
    directory: &Path,
    manifest_path: &Path,
    raw: UnresolvedStack,
    kinds: &BTreeMap<String, ArtifactKind>,
) -> anyhow::Result<AssemblyStack> {
    let UnresolvedStack {
        id,
        artifact,
        properties,
    } = raw;
    let file = manifest_path.display();
    let env = parse_environment(manifest_path, &id, artifact.environment.as_deref())?;

    if properties
        .assume_role_additional_options
        .as_ref()
        .is_some_and(|options| !options.is_empty())
    {
        bail!(
            "{file}: stack '{id}': \"assumeRoleAdditionalOptions\" (session tags or other AssumeRole options) is not supported yet; remove deployRoleAdditionalOptions from the stack synthesizer"
        );
    }

    let template_path = directory.join(&properties.template_file);
    if !template_path.is_file() {
        bail!(
            "{file}: stack '{id}': templateFile '{}' not found at {}: the assembly is incomplete; run `cdk synth` again",
            properties.template_file,
            template_path.display()
        );
    }

    let mut dependencies = Vec::new();
    let mut asset_manifests = Vec::new();
    for dependency in artifact.dependencies {
        match kinds.get(&dependency) {
            Some(ArtifactKind::Stack) => dependencies.push(dependency),
            Some(ArtifactKind::AssetManifest) => asset_manifests.push(dependency),
            Some(ArtifactKind::Ignored) => {}
            None => bail!(
                "{file}: stack '{id}' depends on '{dependency}', which is not an artifact in this assembly; synthesize again with `cdk synth`"
            ),
        }
    }

    let resolve = |value: Option<String>| value.map(|v| env.substitute(&v));
    Ok(AssemblyStack {
        display_name: artifact.display_name.unwrap_or_else(|| id.clone()),
        stack_name: properties.stack_name.unwrap_or_else(|| id.clone()),
        template_path,
        parameters: properties.parameters,
        tags: properties.tags,
        notification_arns: properties.notification_arns,
        assume_role_arn: resolve(properties.assume_role_arn),
        assume_role_external_id: properties.assume_role_external_id,
        cfn_exec_role_arn: resolve(properties.cloud_formation_execution_role_arn),
        lookup_role_arn: resolve(properties.lookup_role.map(|role| role.arn)),
        template_asset_url: resolve(properties.stack_template_asset_object_url),
        requires_bootstrap_version: properties.requires_bootstrap_stack_version,
        bootstrap_version_parameter: resolve(properties.bootstrap_stack_version_ssm_parameter),
        termination_protection: properties.termination_protection,
        dependencies,
        asset_manifests,
        account: env.account,
        region: env.region,
        id,
    })
}

/// Deployment order that keeps the manifest order wherever dependencies allow.
fn order_by_dependencies(
    manifest_path: &Path,
    pending: Vec<AssemblyStack>,
) -> anyhow::Result<Vec<AssemblyStack>> {
    let index: std::collections::HashMap<&str, usize> = pending
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let depends_on: Vec<Vec<usize>> = pending
        .iter()
        .map(|s| {
            s.dependencies
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    match graph::stable_order(&depends_on) {
        Ok(order) => {
            let mut slots: Vec<Option<AssemblyStack>> = pending.into_iter().map(Some).collect();
            Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
        }
        Err(stuck) => {
            let stuck: Vec<&str> = stuck.iter().map(|&i| pending[i].id.as_str()).collect();
            bail!(
                "{}: the dependencies of stacks {} form a cycle; break the cycle in the CDK app and synthesize again",
                manifest_path.display(),
                stuck.join(", ")
            );
        }
    }
}

/// The first stack using an asset manifest gives its placeholders their
/// values, which is only sound if every stack using it shares that environment.
fn check_single_environment(
    manifest_path: &Path,
    manifest_id: &str,
    stacks: &[AssemblyStack],
) -> anyhow::Result<()> {
    let mut users = stacks
        .iter()
        .filter(|stack| stack.asset_manifests.iter().any(|m| m == manifest_id));
    let Some(owner) = users.next() else {
        return Ok(());
    };
    if let Some(other) = users.find(|s| s.account != owner.account || s.region != owner.region) {
        bail!(
            "{}: asset manifest '{manifest_id}' is used by stack '{}' (aws://{}/{}) and stack '{}' (aws://{}/{}), so its ${{AWS::AccountId}} and ${{AWS::Region}} placeholders are ambiguous; give each environment its own stack synthesizer",
            manifest_path.display(),
            owner.id,
            owner.account,
            owner.region,
            other.id,
            other.account,
            other.region
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Environments and placeholders

struct ResolvedEnvironment {
    account: String,
    region: String,
}

impl ResolvedEnvironment {
    /// The substitution the CDK CLI and cdk-assets perform, with the partition
    /// derived from the region instead of from the caller's credentials.
    fn substitute(&self, value: &str) -> String {
        value
            .replace("${AWS::AccountId}", &self.account)
            .replace("${AWS::Region}", &self.region)
            .replace("${AWS::Partition}", partition(&self.region))
    }
}

fn parse_environment(
    manifest_path: &Path,
    stack_id: &str,
    environment: Option<&str>,
) -> anyhow::Result<ResolvedEnvironment> {
    let file = manifest_path.display();
    let Some(environment) = environment else {
        bail!(
            "{file}: stack '{stack_id}' has no \"environment\"; synthesize again with `cdk synth`"
        );
    };
    let Some((account, region)) = environment
        .strip_prefix("aws://")
        .and_then(|rest| rest.split_once('/'))
    else {
        bail!(
            "{file}: stack '{stack_id}' has environment \"{environment}\", expected aws://ACCOUNT/REGION; synthesize again with `cdk synth`"
        );
    };
    if account == UNKNOWN_ACCOUNT || region == UNKNOWN_REGION {
        bail!(
            "{file}: stack '{stack_id}' is environment-agnostic ({environment}), but pipeline-run deploys each stack into a fixed account and region: set env on the stack, e.g. `new Stack(app, '{stack_id}', {{ env: {{ account: '111111111111', region: 'ap-northeast-1' }} }})`, and synthesize again"
        );
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "{file}: stack '{stack_id}' has account \"{account}\" in environment \"{environment}\", which is not a 12-digit AWS account id; set env.account on the stack to the account id"
        );
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!(
            "{file}: stack '{stack_id}' has region \"{region}\" in environment \"{environment}\", which is not an AWS region name; set env.region on the stack"
        );
    }
    Ok(ResolvedEnvironment {
        account: account.to_string(),
        region: region.to_string(),
    })
}

// ---------------------------------------------------------------------------
// *.assets.json

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAssetManifestFile {
    #[serde(default)]
    files: OrderedMap<RawFileAsset>,
    #[serde(default)]
    docker_images: OrderedMap<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFileAsset {
    display_name: Option<String>,
    source: RawFileSource,
    #[serde(default)]
    destinations: OrderedMap<RawFileDestination>,
}

#[derive(Deserialize)]
struct RawFileSource {
    path: Option<String>,
    packaging: Option<String>,
    executable: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFileDestination {
    bucket_name: String,
    object_key: String,
    region: Option<String>,
    assume_role_arn: Option<String>,
    assume_role_external_id: Option<String>,
    assume_role_additional_options: Option<serde_json::Map<String, serde_json::Value>>,
}

struct LoadedAssetManifest {
    info: AssetManifest,
    file_assets: Vec<FileAsset>,
    docker_assets: Vec<DockerAsset>,
}

fn load_asset_manifest(
    directory: &Path,
    raw: UnresolvedAssetManifest,
    owner: &AssemblyStack,
) -> anyhow::Result<LoadedAssetManifest> {
    let UnresolvedAssetManifest {
        id: manifest_id,
        file: path,
        properties,
    } = raw;
    let text = read_text(&path, || {
        format!(
            "{}: asset manifest '{manifest_id}' points at {}, which cannot be read: the assembly is incomplete; run `cdk synth` again",
            directory.join(MANIFEST_FILE).display(),
            path.display()
        )
    })?;
    check_schema_version(&path, &text)?;
    let contents: RawAssetManifestFile = parse_json(&path, &text)?;

    let owner_env = ResolvedEnvironment {
        account: owner.account.clone(),
        region: owner.region.clone(),
    };
    // Asset sources are relative to the asset manifest, as in cdk-assets.
    let source_root = path.parent().unwrap_or(directory);
    let file_assets = contents
        .files
        .0
        .into_iter()
        .map(|(asset_id, asset)| {
            resolve_file_asset(
                &path,
                &manifest_id,
                source_root,
                owner,
                &owner_env,
                asset_id,
                asset,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let docker_assets = contents
        .docker_images
        .0
        .into_iter()
        .map(|(asset_id, _)| DockerAsset {
            id: asset_id,
            manifest_id: manifest_id.clone(),
            stack_id: owner.id.clone(),
        })
        .collect();

    Ok(LoadedAssetManifest {
        info: AssetManifest {
            id: manifest_id,
            file: path,
            stack_id: owner.id.clone(),
            requires_bootstrap_version: properties.requires_bootstrap_stack_version,
            bootstrap_version_parameter: properties
                .bootstrap_stack_version_ssm_parameter
                .map(|name| owner_env.substitute(&name)),
        },
        file_assets,
        docker_assets,
    })
}

fn resolve_file_asset(
    manifest_file: &Path,
    manifest_id: &str,
    source_root: &Path,
    owner: &AssemblyStack,
    owner_env: &ResolvedEnvironment,
    asset_id: String,
    asset: RawFileAsset,
) -> anyhow::Result<FileAsset> {
    let file = manifest_file.display();
    let stack = &owner.id;
    if asset.source.executable.is_some() {
        bail!(
            "{file}: file asset '{asset_id}' (from stack '{stack}') is built by a custom command (source.executable), which is not supported yet; use a plain file or directory asset"
        );
    }
    let Some(relative_source) = asset.source.path else {
        bail!(
            "{file}: file asset '{asset_id}' (from stack '{stack}') has no source.path; synthesize again with `cdk synth`"
        );
    };
    let packaging = match asset.source.packaging.as_deref() {
        None | Some("file") => AssetPackaging::File,
        Some("zip") => AssetPackaging::Zip,
        Some(other) => bail!(
            "{file}: file asset '{asset_id}' (from stack '{stack}') has source.packaging \"{other}\"; only \"file\" and \"zip\" are supported"
        ),
    };
    let source_path = source_root.join(&relative_source);
    if !source_path.exists() {
        bail!(
            "{file}: file asset '{asset_id}' (from stack '{stack}'): source.path '{relative_source}' not found at {}: the assembly is incomplete; run `cdk synth` again",
            source_path.display()
        );
    }

    let destinations = asset
        .destinations
        .0
        .into_iter()
        .map(|(destination_id, destination)| {
            if destination
                .assume_role_additional_options
                .as_ref()
                .is_some_and(|options| !options.is_empty())
            {
                bail!(
                    "{file}: file asset '{asset_id}' destination '{destination_id}': \"assumeRoleAdditionalOptions\" (session tags or other AssumeRole options) is not supported yet; remove fileAssetPublishingRoleAdditionalOptions from the stack synthesizer"
                );
            }
            let region = destination
                .region
                .map(|region| owner_env.substitute(&region))
                .unwrap_or_else(|| owner_env.region.clone());
            let env = ResolvedEnvironment {
                account: owner_env.account.clone(),
                region,
            };
            Ok(AssetDestination {
                bucket: env.substitute(&destination.bucket_name),
                object_key: env.substitute(&destination.object_key),
                assume_role_arn: destination.assume_role_arn.map(|arn| env.substitute(&arn)),
                assume_role_external_id: destination.assume_role_external_id,
                account: env.account,
                region: env.region,
                id: destination_id,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    Ok(FileAsset {
        manifest_id: manifest_id.to_string(),
        stack_id: owner.id.clone(),
        display_name: asset.display_name,
        source_path,
        packaging,
        destinations,
        id: asset_id,
    })
}

// ---------------------------------------------------------------------------
// Helpers

fn read_text(path: &Path, when_missing: impl FnOnce() -> String) -> anyhow::Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
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

/// A JSON object read in document order, because manifest order decides the
/// order of stacks and assets whenever dependencies leave it open.
struct OrderedMap<T>(Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedMapVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<T> {
            type Value = OrderedMap<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if entries.iter().any(|(existing, _)| *existing == key) {
                        return Err(de::Error::custom(format!("duplicate key '{key}'")));
                    }
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(OrderedMapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::SystemTime;

    const QUALIFIER_BUCKET: &str = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}";
    const VERSION: &str = "48.0.0";

    struct ScratchDir(PathBuf);

    impl ScratchDir {
        fn new(label: &str) -> Self {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let path = std::env::temp_dir().join(format!(
                "pipeline-run-assembly-{label}-{}-{nanos}-{unique}",
                std::process::id()
            ));
            fs::create_dir_all(&path).unwrap();
            ScratchDir(path)
        }

        fn write(&self, relative: &str, content: &str) {
            let path = self.0.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }

        fn write_json(&self, relative: &str, value: &serde_json::Value) {
            self.write(relative, &serde_json::to_string_pretty(value).unwrap());
        }

        fn load(&self) -> anyhow::Result<CloudAssembly> {
            CloudAssembly::load(&self.0)
        }

        fn load_error(&self) -> String {
            format!("{:#}", self.load().unwrap_err())
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Stack artifact as the default synthesizer writes it for an env-specific
    /// stack: account and region baked in, the partition left as a placeholder.
    fn stack_artifact(id: &str, account: &str, dependencies: &[&str]) -> serde_json::Value {
        let region = "ap-northeast-1";
        let role = |name: &str| {
            format!(
                "arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-{name}-{account}-{region}"
            )
        };
        json!({
            "type": "aws:cloudformation:stack",
            "environment": format!("aws://{account}/{region}"),
            "properties": {
                "templateFile": format!("{id}.template.json"),
                "parameters": { "Env": "test" },
                "tags": { "team": "platform" },
                "terminationProtection": id == "StackB",
                "validateOnSynth": false,
                "assumeRoleArn": role("deploy-role"),
                "cloudFormationExecutionRoleArn": role("cfn-exec-role"),
                "stackTemplateAssetObjectUrl": format!("s3://cdk-hnb659fds-assets-{account}-{region}/{id}hash.json"),
                "requiresBootstrapStackVersion": 6,
                "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version",
                "additionalDependencies": [format!("{id}.assets")],
                "lookupRole": {
                    "arn": role("lookup-role"),
                    "requiresBootstrapStackVersion": 8,
                    "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version"
                }
            },
            "dependencies": dependencies,
            "metadata": { format!("/{id}/Param"): [{ "type": "aws:cdk:logicalId", "data": "Param" }] },
            "displayName": format!("{id}")
        })
    }

    fn asset_manifest_artifact(stack_id: &str) -> serde_json::Value {
        json!({
            "type": "cdk:asset-manifest",
            "properties": {
                "file": format!("{stack_id}.assets.json"),
                "requiresBootstrapStackVersion": 6,
                "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version"
            }
        })
    }

    fn file_destination(account: &str) -> serde_json::Value {
        json!({
            format!("{account}-ap-northeast-1"): {
                "bucketName": format!("cdk-hnb659fds-assets-{account}-ap-northeast-1"),
                "objectKey": "OBJECT_KEY",
                "region": "ap-northeast-1",
                "assumeRoleArn": format!("arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-file-publishing-role-{account}-ap-northeast-1")
            }
        })
    }

    fn asset_manifest_file(stack_id: &str, account: &str) -> serde_json::Value {
        let destination = |key: &str| {
            let mut d = file_destination(account);
            let (_, inner) = d.as_object_mut().unwrap().iter_mut().next().unwrap();
            inner["objectKey"] = json!(key);
            d
        };
        json!({
            "version": VERSION,
            "files": {
                format!("{stack_id}hash"): {
                    "displayName": format!("{stack_id} Template"),
                    "source": { "path": format!("{stack_id}.template.json"), "packaging": "file" },
                    "destinations": destination(&format!("{stack_id}hash.json"))
                },
                format!("{stack_id}config"): {
                    "source": { "path": format!("asset.{stack_id}config.json"), "packaging": "file" },
                    "destinations": destination(&format!("{stack_id}config.json"))
                },
                format!("{stack_id}dir"): {
                    "source": { "path": format!("asset.{stack_id}dir"), "packaging": "zip" },
                    "destinations": destination(&format!("{stack_id}dir.zip"))
                }
            },
            "dockerImages": {}
        })
    }

    fn two_account_assembly() -> ScratchDir {
        let dir = ScratchDir::new("two-accounts");
        for (stack, account) in [("StackA", "111111111111"), ("StackB", "222222222222")] {
            dir.write(&format!("{stack}.template.json"), r#"{"Resources":{}}"#);
            dir.write(&format!("asset.{stack}config.json"), r#"{"k":"v"}"#);
            dir.write(&format!("asset.{stack}dir/index.js"), "exports.x = 1;\n");
            dir.write_json(
                &format!("{stack}.assets.json"),
                &asset_manifest_file(stack, account),
            );
        }
        // Written by hand because serde_json sorts object keys: B comes first
        // so that ordering by dependencies is visible.
        let artifacts = [
            ("StackB.assets", asset_manifest_artifact("StackB")),
            (
                "StackB",
                stack_artifact("StackB", "222222222222", &["StackA", "StackB.assets"]),
            ),
            ("StackA.assets", asset_manifest_artifact("StackA")),
            (
                "StackA",
                stack_artifact("StackA", "111111111111", &["StackA.assets"]),
            ),
            (
                "Tree",
                json!({ "type": "cdk:tree", "properties": { "file": "tree.json" } }),
            ),
        ]
        .iter()
        .map(|(id, artifact)| format!("{}: {artifact}", json!(id)))
        .collect::<Vec<_>>()
        .join(",\n");
        dir.write(
            "manifest.json",
            &format!(
                "{{\"version\": \"{VERSION}\", \"minimumCliVersion\": \"2.1000.0\", \"artifacts\": {{\n{artifacts}\n}}}}"
            ),
        );
        dir
    }

    fn rewrite_manifest(dir: &ScratchDir, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = dir.0.join("manifest.json");
        let mut manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut manifest);
        dir.write_json("manifest.json", &manifest);
    }

    #[test]
    fn loads_a_two_account_assembly_in_dependency_order() {
        let dir = two_account_assembly();
        let assembly = dir.load().unwrap();

        let ids: Vec<&str> = assembly.stacks.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["StackA", "StackB"]);

        let a = &assembly.stacks[0];
        assert_eq!(a.account, "111111111111");
        assert_eq!(a.region, "ap-northeast-1");
        assert_eq!(a.stack_name, "StackA");
        assert_eq!(a.template_path, dir.0.join("StackA.template.json"));
        assert!(a.template_path.is_absolute());
        assert_eq!(a.parameters.get("Env").map(String::as_str), Some("test"));
        assert_eq!(a.tags.get("team").map(String::as_str), Some("platform"));
        assert!(!a.termination_protection);
        assert_eq!(a.dependencies, Vec::<String>::new());
        assert_eq!(a.asset_manifests, ["StackA.assets"]);
        assert_eq!(a.requires_bootstrap_version, Some(6));
        assert_eq!(
            a.bootstrap_version_parameter.as_deref(),
            Some("/cdk-bootstrap/hnb659fds/version")
        );

        let b = &assembly.stacks[1];
        assert_eq!(b.account, "222222222222");
        assert_eq!(b.dependencies, ["StackA"]);
        assert_eq!(b.asset_manifests, ["StackB.assets"]);
        assert!(b.termination_protection);
        assert_eq!(
            b.assume_role_arn.as_deref(),
            Some(
                "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
            )
        );
        assert_eq!(
            b.template_asset_url.as_deref(),
            Some("s3://cdk-hnb659fds-assets-222222222222-ap-northeast-1/StackBhash.json")
        );

        let manifests: Vec<(&str, &str)> = assembly
            .asset_manifests
            .iter()
            .map(|m| (m.id.as_str(), m.stack_id.as_str()))
            .collect();
        assert_eq!(
            manifests,
            [("StackA.assets", "StackA"), ("StackB.assets", "StackB")]
        );
        assert_eq!(
            assembly.asset_manifests[0].requires_bootstrap_version,
            Some(6)
        );

        assert_eq!(assembly.file_assets.len(), 6);
        assert!(assembly.docker_assets.is_empty());
        let zip = assembly
            .file_assets
            .iter()
            .find(|a| a.id == "StackAdir")
            .unwrap();
        assert_eq!(zip.packaging, AssetPackaging::Zip);
        assert_eq!(zip.manifest_id, "StackA.assets");
        assert_eq!(zip.stack_id, "StackA");
        assert_eq!(zip.source_path, dir.0.join("asset.StackAdir"));
        assert_eq!(
            zip.destinations,
            [AssetDestination {
                id: "111111111111-ap-northeast-1".into(),
                bucket: "cdk-hnb659fds-assets-111111111111-ap-northeast-1".into(),
                object_key: "StackAdir.zip".into(),
                account: "111111111111".into(),
                region: "ap-northeast-1".into(),
                assume_role_arn: Some(
                    "arn:aws:iam::111111111111:role/cdk-hnb659fds-file-publishing-role-111111111111-ap-northeast-1".into()
                ),
                assume_role_external_id: None,
            }]
        );
        let template = assembly
            .file_assets
            .iter()
            .find(|a| a.id == "StackBhash")
            .unwrap();
        assert_eq!(template.packaging, AssetPackaging::File);
        assert_eq!(template.source_path, b.template_path);
        assert_eq!(template.display_name.as_deref(), Some("StackB Template"));
        assert_eq!(template.destinations[0].account, "222222222222");
    }

    #[test]
    fn placeholders_take_the_owning_stack_environment() {
        let dir = ScratchDir::new("placeholders");
        dir.write("Gov.template.json", "{}");
        dir.write("asset.code/main.py", "print(1)\n");
        let role = |name: &str| {
            format!(
                "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-hnb659fds-{name}-${{AWS::AccountId}}-${{AWS::Region}}"
            )
        };
        dir.write_json(
            "manifest.json",
            &json!({
                "version": VERSION,
                "artifacts": {
                    "Gov.assets": asset_manifest_artifact("Gov"),
                    "Gov": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://333333333333/us-gov-west-1",
                        "properties": {
                            "templateFile": "Gov.template.json",
                            "stackName": "gov-stack",
                            "assumeRoleArn": role("deploy-role"),
                            "assumeRoleExternalId": "ext-1",
                            "cloudFormationExecutionRoleArn": role("cfn-exec-role"),
                            "lookupRole": { "arn": role("lookup-role") },
                            "stackTemplateAssetObjectUrl": format!("s3://{QUALIFIER_BUCKET}/t.json"),
                            "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/${AWS::Region}/version"
                        },
                        "dependencies": ["Gov.assets"]
                    }
                }
            }),
        );
        dir.write_json(
            "Gov.assets.json",
            &json!({
                "version": VERSION,
                "files": {
                    "code": {
                        "source": { "path": "asset.code", "packaging": "zip" },
                        "destinations": {
                            "home": {
                                "bucketName": QUALIFIER_BUCKET,
                                "objectKey": "${AWS::Region}/code.zip",
                                "assumeRoleArn": role("file-publishing-role"),
                                "assumeRoleExternalId": "ext-2"
                            },
                            "china": {
                                "bucketName": QUALIFIER_BUCKET,
                                "objectKey": "code.zip",
                                "region": "cn-north-1",
                                "assumeRoleArn": role("file-publishing-role")
                            }
                        }
                    }
                }
            }),
        );

        let assembly = dir.load().unwrap();
        let stack = &assembly.stacks[0];
        assert_eq!(stack.stack_name, "gov-stack");
        assert_eq!(stack.display_name, "Gov");
        assert_eq!(
            stack.assume_role_arn.as_deref(),
            Some(
                "arn:aws-us-gov:iam::333333333333:role/cdk-hnb659fds-deploy-role-333333333333-us-gov-west-1"
            )
        );
        assert_eq!(stack.assume_role_external_id.as_deref(), Some("ext-1"));
        assert_eq!(
            stack.cfn_exec_role_arn.as_deref(),
            Some(
                "arn:aws-us-gov:iam::333333333333:role/cdk-hnb659fds-cfn-exec-role-333333333333-us-gov-west-1"
            )
        );
        assert_eq!(
            stack.lookup_role_arn.as_deref(),
            Some(
                "arn:aws-us-gov:iam::333333333333:role/cdk-hnb659fds-lookup-role-333333333333-us-gov-west-1"
            )
        );
        assert_eq!(
            stack.template_asset_url.as_deref(),
            Some("s3://cdk-hnb659fds-assets-333333333333-us-gov-west-1/t.json")
        );
        assert_eq!(
            stack.bootstrap_version_parameter.as_deref(),
            Some("/cdk-bootstrap/us-gov-west-1/version")
        );

        let destination = |id: &str| {
            assembly.file_assets[0]
                .destinations
                .iter()
                .find(|d| d.id == id)
                .unwrap()
        };
        let home = destination("home");
        assert_eq!(home.region, "us-gov-west-1");
        assert_eq!(home.object_key, "us-gov-west-1/code.zip");
        assert_eq!(home.assume_role_external_id.as_deref(), Some("ext-2"));
        let china = destination("china");
        assert_eq!(china.region, "cn-north-1");
        assert_eq!(china.account, "333333333333");
        assert_eq!(china.bucket, "cdk-hnb659fds-assets-333333333333-cn-north-1");
        assert_eq!(
            china.assume_role_arn.as_deref(),
            Some(
                "arn:aws-cn:iam::333333333333:role/cdk-hnb659fds-file-publishing-role-333333333333-cn-north-1"
            )
        );
    }

    #[test]
    fn newer_schema_major_is_rejected_with_upgrade_advice() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| m["version"] = json!("99.0.0"));
        let error = dir.load_error();
        assert!(error.contains("manifest.json"), "{error}");
        assert!(
            error.contains(
                "cloud assembly schema version 99.0.0 is newer than this pipeline-run supports"
            ),
            "{error}"
        );
        assert!(
            error.contains("upgrade pipeline-run or synthesize with an older CDK"),
            "{error}"
        );
    }

    #[test]
    fn known_schema_majors_are_accepted_and_garbage_is_not() {
        for version in ["17.0.0", "36.0.0", "38.0.1", "53.0.0", "54.2.1"] {
            let dir = two_account_assembly();
            rewrite_manifest(&dir, |m| m["version"] = json!(version));
            dir.load().unwrap_or_else(|e| panic!("{version}: {e:#}"));
        }
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| m["version"] = json!("0.36.0"));
        assert!(
            dir.load_error()
                .contains("older than this pipeline-run supports")
        );
        rewrite_manifest(&dir, |m| m["version"] = json!("latest"));
        assert!(
            dir.load_error()
                .contains("not of the form MAJOR.MINOR.PATCH")
        );
    }

    #[test]
    fn newer_asset_manifest_version_names_the_assets_file() {
        let dir = two_account_assembly();
        let mut manifest = asset_manifest_file("StackA", "111111111111");
        manifest["version"] = json!("99.0.0");
        dir.write_json("StackA.assets.json", &manifest);
        let error = dir.load_error();
        assert!(error.contains("StackA.assets.json"), "{error}");
        assert!(
            error.contains("newer than this pipeline-run supports"),
            "{error}"
        );
    }

    #[test]
    fn unknown_artifact_type_names_id_and_type() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["artifacts"]["Mystery"] = json!({ "type": "cdk:hologram", "properties": {} });
        });
        let error = dir.load_error();
        assert!(error.contains("artifact 'Mystery'"), "{error}");
        assert!(error.contains("'cdk:hologram'"), "{error}");
    }

    #[test]
    fn nested_assembly_points_at_its_directory() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["artifacts"]["assembly-Prod"] = json!({
                "type": "cdk:cloud-assembly",
                "properties": { "directoryName": "assembly-Prod", "displayName": "Prod" }
            });
        });
        let error = dir.load_error();
        assert!(
            error.contains("nested cloud assemblies (CDK Pipelines stages) are not supported yet"),
            "{error}"
        );
        assert!(
            error.contains(&format!(
                "deploy {} directly",
                dir.0.join("assembly-Prod").display()
            )),
            "{error}"
        );
    }

    #[test]
    fn docker_image_assets_are_listed_per_stack() {
        let dir = two_account_assembly();
        let mut manifest = asset_manifest_file("StackB", "222222222222");
        manifest["dockerImages"] = json!({
            "imagehash": {
                "source": { "directory": "asset.imagehash" },
                "destinations": {
                    "222222222222-ap-northeast-1": {
                        "repositoryName": "cdk-hnb659fds-container-assets-222222222222-ap-northeast-1",
                        "imageTag": "imagehash"
                    }
                }
            }
        });
        dir.write_json("StackB.assets.json", &manifest);
        let assembly = dir.load().unwrap();
        assert_eq!(
            assembly.docker_assets,
            [DockerAsset {
                id: "imagehash".into(),
                manifest_id: "StackB.assets".into(),
                stack_id: "StackB".into(),
            }]
        );
        assert_eq!(assembly.file_assets.len(), 6);
    }

    #[test]
    fn executable_file_asset_is_unsupported() {
        let dir = two_account_assembly();
        let mut manifest = asset_manifest_file("StackA", "111111111111");
        manifest["files"]["built"] = json!({
            "source": { "executable": ["./build.sh"], "packaging": "file" },
            "destinations": file_destination("111111111111")
        });
        dir.write_json("StackA.assets.json", &manifest);
        let error = dir.load_error();
        assert!(error.contains("StackA.assets.json"), "{error}");
        assert!(error.contains("file asset 'built'"), "{error}");
        assert!(error.contains("source.executable"), "{error}");
    }

    #[test]
    fn environment_agnostic_stack_asks_for_env() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["artifacts"]["StackA"]["environment"] = json!("aws://unknown-account/unknown-region");
        });
        let error = dir.load_error();
        assert!(error.contains("manifest.json"), "{error}");
        assert!(error.contains("stack 'StackA'"), "{error}");
        assert!(error.contains("set env on the stack"), "{error}");
    }

    #[test]
    fn missing_template_file_is_reported() {
        let dir = two_account_assembly();
        fs::remove_file(dir.0.join("StackB.template.json")).unwrap();
        let error = dir.load_error();
        assert!(error.contains("stack 'StackB'"), "{error}");
        assert!(
            error.contains("templateFile 'StackB.template.json' not found"),
            "{error}"
        );
        assert!(error.contains("cdk synth"), "{error}");
    }

    #[test]
    fn missing_asset_source_is_reported() {
        let dir = two_account_assembly();
        fs::remove_dir_all(dir.0.join("asset.StackAdir")).unwrap();
        let error = dir.load_error();
        assert!(error.contains("StackA.assets.json"), "{error}");
        assert!(error.contains("file asset 'StackAdir'"), "{error}");
        assert!(
            error.contains("source.path 'asset.StackAdir' not found"),
            "{error}"
        );
    }

    #[test]
    fn dependency_problems_are_reported() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["artifacts"]["StackA"]["dependencies"] = json!(["StackA.assets", "StackB"]);
        });
        let error = dir.load_error();
        assert!(error.contains("form a cycle"), "{error}");

        rewrite_manifest(&dir, |m| {
            m["artifacts"]["StackA"]["dependencies"] = json!(["Ghost"]);
        });
        let error = dir.load_error();
        assert!(
            error.contains("stack 'StackA' depends on 'Ghost'"),
            "{error}"
        );
    }

    #[test]
    fn missing_context_and_session_tags_are_rejected() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["missing"] = json!([{ "key": "vpc-provider:account=1", "provider": "vpc-provider", "props": {} }]);
        });
        assert!(dir.load_error().contains("vpc-provider:account=1"));

        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["artifacts"]["StackA"]["properties"]["assumeRoleAdditionalOptions"] =
                json!({ "Tags": [{ "Key": "k", "Value": "v" }] });
        });
        assert!(dir.load_error().contains("assumeRoleAdditionalOptions"));
    }

    #[test]
    fn malformed_properties_name_the_artifact() {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| {
            m["artifacts"]["StackA"]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("templateFile");
        });
        let error = dir.load_error();
        assert!(error.contains("artifact 'StackA'"), "{error}");
        assert!(error.contains("templateFile"), "{error}");
    }

    #[test]
    fn directory_without_manifest_is_not_an_assembly() {
        let dir = ScratchDir::new("empty");
        let error = dir.load_error();
        assert!(error.contains("not a CDK cloud assembly"), "{error}");
    }

    #[test]
    fn ordered_map_keeps_document_order_and_rejects_duplicates() {
        let map: OrderedMap<u32> = serde_json::from_str(r#"{"b": 1, "a": 2, "c": 3}"#).unwrap();
        let keys: Vec<&str> = map.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let error = serde_json::from_str::<OrderedMap<u32>>(r#"{"a": 1, "a": 2}"#)
            .err()
            .unwrap();
        assert!(error.to_string().contains("duplicate key 'a'"), "{error}");
    }

    /// The on-disk fixture used by the integration tests must stay loadable.
    #[test]
    fn checked_in_fixture_loads() {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assembly-two-accounts");
        let assembly = CloudAssembly::load(&fixture).unwrap();
        let accounts: Vec<&str> = assembly.stacks.iter().map(|s| s.account.as_str()).collect();
        assert_eq!(accounts, ["111111111111", "222222222222"]);
        assert!(assembly.docker_assets.is_empty());
        assert!(
            assembly
                .file_assets
                .iter()
                .any(|a| a.packaging == AssetPackaging::Zip)
        );
    }
}
