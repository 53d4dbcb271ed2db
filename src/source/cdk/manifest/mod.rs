//! Reading a CDK cloud assembly (`cdk.out`) produced by `cdk synth`, with its nested assemblies
//! (CDK Pipelines stages, `Stage` constructs: `assembly-*` directories) read recursively.
//!
//! Everything is resolved up front: environments are checked, the
//! `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}` placeholders are
//! substituted, relative paths are made absolute, and stacks come out in
//! dependency order (placeholders of parts left to the run are kept for it). Features
//! pipeline-run cannot honour (custom asset build commands, extra AssumeRole options, fields of a
//! newer schema it does not know) are refused here, every problem at once (`problems::Found`),
//! each naming the file, the artifact and the fix, rather than failing obscurely halfway through
//! a deployment.
//! Docker image assets are listed, not rejected, so the caller decides.
//!
//! `schema` checks the version of every file, `fields` the fields of a newer schema, `raw` is
//! manifest.json as written, `artifacts` sorts its artifacts, `stacks` resolves the stacks and
//! their order, `environment` their `aws://ACCOUNT/REGION` and placeholders, `assets` the
//! `*.assets.json` files, `legacy` the asset metadata of legacy-synthesizer stacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::de::DeserializeOwned;

use crate::model::assets::LegacyAsset;
use crate::model::env::StackEnv;
use crate::source::limits::{ASSEMBLY_JSON_LIMIT, read_limited};

mod artifacts;
mod assets;
mod environment;
mod fields;
mod legacy;
mod problems;
mod raw;
mod schema;
mod stacks;

pub(crate) use problems::{AssemblyProblems, Found};

/// Nested assemblies deeper than this are refused (a `Stage` in a `Stage` is two).
const MAX_NESTING: usize = 8;

const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssemblyStack {
    /// Artifact id in `manifest.json`; what `dependencies` refer to.
    pub(crate) id: String,
    /// `displayName` from the manifest (construct path), else the id.
    pub(crate) display_name: String,
    /// The CDK CLI's `hierarchicalId`, as `cdk ls` prints it: `Beta/Api` for stack `Api` of
    /// stage `Beta` (the displayName the CDK writes), else the artifact id.
    pub(crate) hierarchical_id: String,
    /// The directory of the (nested) assembly whose manifest lists the stack.
    pub(crate) assembly_directory: PathBuf,
    /// CloudFormation stack name.
    pub(crate) stack_name: String,
    /// The stack's `environment`, validated; a part may be left to the run
    /// (`unknown-account` / `unknown-region`), its placeholders then kept.
    pub(crate) env: StackEnv,
    /// Absolute path of the synthesized template.
    pub(crate) template_path: PathBuf,
    pub(crate) parameters: BTreeMap<String, String>,
    /// `notificationArns`: SNS topics CloudFormation sends the stack's events to.
    pub(crate) notification_arns: Vec<String>,
    pub(crate) tags: BTreeMap<String, String>,
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
    /// Ids of asset manifests whose assets must be published first (prefixed with the nested
    /// assembly's directory name for stacks of nested assemblies: `assembly-Beta/X.assets`).
    pub(crate) asset_manifests: Vec<String>,
    /// Legacy-synthesizer file assets (`aws:cdk:asset` metadata).
    pub(crate) legacy_assets: Vec<LegacyAsset>,
    /// Ids of legacy-synthesizer container image assets.
    pub(crate) legacy_docker_assets: Vec<String>,
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
    /// `load` on its own: the assembly and its warnings, or every problem as one error.
    #[cfg(test)]
    pub(crate) fn read(dir: &Path) -> Result<(CloudAssembly, Vec<String>), AssemblyProblems> {
        let mut found = Found::default();
        let assembly = Self::load(dir, &mut found);
        match assembly {
            Some(assembly) => found.finish(dir, assembly),
            None => Err(found.into_problems(dir)),
        }
    }

    /// Reads the assembly in `dir` and its nested assemblies; every problem goes to `found`, and
    /// None comes back when the assembly could not be read at all.
    pub(crate) fn load(dir: &Path, found: &mut Found) -> Option<CloudAssembly> {
        let directory = found
            .keep(std::path::absolute(dir).map_err(|e| {
                anyhow!("cannot resolve cloud assembly path {}: {e}", dir.display())
            }))?;
        if !directory.is_dir() {
            found.problem(format!(
                "cloud assembly directory {} does not exist or is not a directory: run `cdk synth` first, or pass the directory it wrote (cdk.out by default)",
                directory.display()
            ));
            return None;
        }
        let mut tree = Tree::default();
        read_assembly(&directory, "", 0, &mut tree, found);
        if !tree.read_any {
            return None;
        }
        check_unique_ids(&tree.stacks, &directory, found);
        stacks::resolve_pending(&mut tree.stacks, tree.pending, found);
        let manifest_path = directory.join(MANIFEST_FILE);
        let stacks = stacks::order_by_dependencies(&manifest_path, tree.stacks, found);

        // Deployment order, so that publishing can follow the same order.
        let mut unloaded = tree.asset_manifests;
        let mut asset_manifests = Vec::new();
        let mut file_assets = Vec::new();
        let mut docker_assets = Vec::new();
        for owner in &stacks {
            for id in &owner.legacy_docker_assets {
                docker_assets.push(DockerAsset {
                    id: id.clone(),
                    manifest_id: format!("{} metadata", owner.id),
                    stack_id: owner.id.clone(),
                });
            }
            for manifest_id in &owner.asset_manifests {
                let Some(position) = unloaded.iter().position(|(m, _)| &m.id == manifest_id) else {
                    continue;
                };
                if let Err(problem) =
                    stacks::check_single_environment(&manifest_path, manifest_id, &stacks)
                {
                    found.problem(problem);
                }
                let (manifest, assembly_dir) = unloaded.remove(position);
                if let Some(loaded) = assets::load(&assembly_dir, manifest, owner, found) {
                    asset_manifests.push(loaded.info);
                    file_assets.extend(loaded.file_assets);
                    docker_assets.extend(loaded.docker_assets);
                }
            }
        }
        Some(CloudAssembly {
            directory,
            stacks,
            asset_manifests,
            file_assets,
            docker_assets,
        })
    }
}

/// The stacks and asset manifests of an assembly and all its nested ones.
#[derive(Default)]
struct Tree {
    stacks: Vec<AssemblyStack>,
    /// With the directory of the assembly that lists them (their paths are relative to it).
    asset_manifests: Vec<(artifacts::UnresolvedAssetManifest, PathBuf)>,
    pending: Vec<stacks::PendingDependency>,
    /// Whether any manifest could be read.
    read_any: bool,
}

/// Reads the assembly in `directory` into `tree`, then its nested assemblies. `prefix` makes
/// asset manifest ids unique in the tree (`assembly-Beta/`).
fn read_assembly(directory: &Path, prefix: &str, depth: usize, tree: &mut Tree, found: &mut Found) {
    let manifest_path = directory.join(MANIFEST_FILE);
    let manifest = read_manifest(directory, &manifest_path, depth, found);
    let Some(manifest) = found.keep(manifest) else {
        return;
    };
    tree.read_any = true;
    artifacts::reject_missing_context(&manifest_path, &manifest.missing, found);
    let classified = artifacts::classify(directory, &manifest_path, manifest.artifacts, found);
    let assembly = stacks::Assembly {
        directory,
        manifest_path: &manifest_path,
        prefix,
        kinds: &classified.kinds,
        nested: &classified.nested,
    };
    for raw in classified.stacks {
        if let Some(stack) = stacks::resolve(&assembly, raw, &mut tree.pending, found) {
            tree.stacks.push(stack);
        }
    }
    for mut manifest in classified.asset_manifests {
        manifest.id = format!("{prefix}{}", manifest.id);
        tree.asset_manifests
            .push((manifest, directory.to_path_buf()));
    }
    for nested in &classified.nested {
        if depth + 1 > MAX_NESTING {
            found.problem(format!(
                "{}: artifact '{}': nested cloud assemblies go deeper than {MAX_NESTING} levels; flatten the app's stages",
                manifest_path.display(),
                nested.id
            ));
            continue;
        }
        let name = nested
            .directory
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| nested.id.clone());
        let nested_prefix = format!("{prefix}{name}/");
        read_assembly(&nested.directory, &nested_prefix, depth + 1, tree, found);
    }
}

/// `manifest.json` of one (nested) assembly, its schema checked: a newer schema is warned about,
/// and every field of it pipeline-run does not know is a problem.
fn read_manifest(
    directory: &Path,
    manifest_path: &Path,
    depth: usize,
    found: &mut Found,
) -> anyhow::Result<raw::AssemblyManifest> {
    let text = read_text(manifest_path, || {
        if depth == 0 {
            format!(
                "{} has no {MANIFEST_FILE}, so it is not a CDK cloud assembly: pass the directory `cdk synth` wrote (cdk.out by default)",
                directory.display()
            )
        } else {
            format!(
                "nested cloud assembly {} has no {MANIFEST_FILE}: the assembly is incomplete; run `cdk synth` again",
                directory.display()
            )
        }
    })?;
    let version = schema::check_version(manifest_path, &text)?;
    if let Some(warning) = version.warning(manifest_path) {
        found.warn(warning);
        let value: serde_json::Value = parse_json(manifest_path, &text)?;
        for unknown in fields::unknown_in_manifest(&value) {
            found.problem(unknown.problem(manifest_path, &version));
        }
    }
    parse_json(manifest_path, &text)
}

/// Stage names are artifact ids, so they must be unique across the nested assemblies.
fn check_unique_ids(stacks: &[AssemblyStack], directory: &Path, found: &mut Found) {
    for (i, stack) in stacks.iter().enumerate() {
        if let Some(other) = stacks[..i].iter().find(|s| s.id == stack.id) {
            found.problem(format!(
                "{}: two stacks have artifact id '{}' ({} and {}); pipeline-run names stages by artifact id: give one of them another construct id",
                directory.display(),
                stack.id,
                other.hierarchical_id,
                stack.hierarchical_id
            ));
        }
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
mod nested_tests;
#[cfg(test)]
mod refusal_tests;
#[cfg(test)]
mod tests;
