//! `*.assets.json`: the file assets a stack needs published (and its Docker images, listed),
//! with the placeholders of the stack that owns the manifest substituted.

use std::path::{Component, Path};

use anyhow::bail;
use serde::Deserialize;

use super::artifacts::UnresolvedAssetManifest;
use super::environment::substitute;
use super::problems::Found;
use super::raw::OrderedMap;
use super::{
    AssemblyStack, AssetDestination, AssetManifest, AssetPackaging, DockerAsset, FileAsset,
    MANIFEST_FILE, fields, parse_json, read_text, schema,
};

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

pub(super) struct LoadedAssetManifest {
    pub(super) info: AssetManifest,
    pub(super) file_assets: Vec<FileAsset>,
    pub(super) docker_assets: Vec<DockerAsset>,
}

/// The asset manifest file being read, and the stack whose environment fills its placeholders.
struct ManifestFile<'a> {
    path: &'a Path,
    id: &'a str,
    /// Asset sources are relative to the asset manifest, as in cdk-assets.
    source_root: &'a Path,
    /// The assembly directory, symlinks resolved: no asset source may leave it.
    assembly_root: &'a Path,
    owner: &'a AssemblyStack,
}

/// Reads the asset manifest `raw`, which `owner` (the first stack using it) resolves; None when
/// it has problems (each recorded).
pub(super) fn load(
    directory: &Path,
    raw: UnresolvedAssetManifest,
    owner: &AssemblyStack,
    found: &mut Found,
) -> Option<LoadedAssetManifest> {
    let (contents, warning, unknown) = found.keep(read(directory, &raw))?;
    if let Some(warning) = warning {
        found.warn(warning);
    }
    let problems_before = found.problems.len();
    for problem in unknown {
        found.problem(problem);
    }
    let UnresolvedAssetManifest {
        id: manifest_id,
        file: path,
        properties,
    } = raw;
    let assembly_root = found.keep(std::fs::canonicalize(directory).map_err(|e| {
        anyhow::anyhow!(
            "cannot resolve the cloud assembly directory {}: {e}",
            directory.display()
        )
    }))?;
    let manifest = ManifestFile {
        path: &path,
        id: &manifest_id,
        source_root: path.parent().unwrap_or(directory),
        assembly_root: &assembly_root,
        owner,
    };
    let file_assets: Vec<FileAsset> = contents
        .files
        .0
        .into_iter()
        .filter_map(|(asset_id, asset)| found.keep(file_asset(&manifest, asset_id, asset)))
        .collect();
    if found.problems.len() > problems_before {
        return None;
    }
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

    let env = &owner.env;
    Some(LoadedAssetManifest {
        info: AssetManifest {
            stack_id: owner.id.clone(),
            requires_bootstrap_version: properties.requires_bootstrap_stack_version,
            bootstrap_version_parameter: properties
                .bootstrap_stack_version_ssm_parameter
                .map(|name| env.fill(&name)),
            id: manifest_id,
            file: path,
        },
        file_assets,
        docker_assets,
    })
}

/// The asset manifest file, parsed, the warning its schema version calls for, and a problem for
/// each field pipeline-run does not know when the schema is newer than it knows.
fn read(
    directory: &Path,
    raw: &UnresolvedAssetManifest,
) -> anyhow::Result<(RawAssetManifestFile, Option<String>, Vec<String>)> {
    let (id, path) = (&raw.id, &raw.file);
    let text = read_text(path, || {
        format!(
            "{}: asset manifest '{id}' points at {}, which cannot be read: the assembly is incomplete; run `cdk synth` again",
            directory.join(MANIFEST_FILE).display(),
            path.display()
        )
    })?;
    let version = schema::check_version(path, &text)?;
    let mut unknown = Vec::new();
    if version.is_newer() {
        let value: serde_json::Value = parse_json(path, &text)?;
        unknown = fields::unknown_in_asset_manifest(&value)
            .iter()
            .map(|u| u.problem(path, &version))
            .collect();
    }
    Ok((parse_json(path, &text)?, version.warning(path), unknown))
}

fn file_asset(
    manifest: &ManifestFile,
    asset_id: String,
    asset: RawFileAsset,
) -> anyhow::Result<FileAsset> {
    let file = manifest.path.display();
    let stack = &manifest.owner.id;
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
    let source_path = manifest.source_root.join(&relative_source);
    if let Some(escape) = escape(manifest, &relative_source, &source_path) {
        bail!(
            "{file}: file asset '{asset_id}' (from stack '{stack}'): source.path '{relative_source}' {escape}, outside the cloud assembly directory {}: an assembly only publishes what is inside it; copy the files into the assembly (cdk synth does) or remove the symlink",
            manifest.assembly_root.display()
        );
    }
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
        .map(|(id, destination)| self::destination(manifest, &asset_id, id, destination))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(FileAsset {
        manifest_id: manifest.id.to_string(),
        stack_id: stack.clone(),
        display_name: asset.display_name,
        source_path,
        root: manifest.assembly_root.to_path_buf(),
        packaging,
        destinations,
        id: asset_id,
    })
}

/// How an asset's `source.path` leaves the assembly directory: absolute, by `..`, or through a
/// symlink; None when it stays inside.
fn escape(manifest: &ManifestFile, relative: &str, joined: &Path) -> Option<String> {
    if Path::new(relative).is_absolute() {
        return Some("is an absolute path".to_string());
    }
    let real_root = manifest.assembly_root;
    let mut lexical = std::fs::canonicalize(manifest.source_root).unwrap_or_default();
    for component in Path::new(relative).components() {
        match component {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::Normal(part) => lexical.push(part),
            _ => {}
        }
    }
    if !lexical.starts_with(real_root) {
        return Some("leaves it through '..'".to_string());
    }
    match std::fs::canonicalize(joined) {
        Ok(real) if !real.starts_with(real_root) => {
            Some(format!("resolves through a symlink to {}", real.display()))
        }
        // Missing: reported as such by the caller.
        _ => None,
    }
}

/// A destination in the owner's account, in its own region if it names one.
fn destination(
    manifest: &ManifestFile,
    asset_id: &str,
    id: String,
    destination: RawFileDestination,
) -> anyhow::Result<AssetDestination> {
    if destination
        .assume_role_additional_options
        .as_ref()
        .is_some_and(|options| !options.is_empty())
    {
        bail!(
            "{}: file asset '{asset_id}' destination '{id}': \"assumeRoleAdditionalOptions\" (session tags or other AssumeRole options) is not supported yet; remove fileAssetPublishingRoleAdditionalOptions from the stack synthesizer",
            manifest.path.display()
        );
    }
    // An environment-agnostic owner leaves `${AWS::AccountId}` / `${AWS::Region}` for the run.
    let owner = &manifest.owner.env;
    let account = owner
        .account
        .as_ref()
        .map_or_else(|| "${AWS::AccountId}".to_string(), |a| a.to_string());
    let region = destination
        .region
        .map(|region| owner.fill(&region))
        .or_else(|| owner.region.as_ref().map(|r| r.to_string()))
        .unwrap_or_else(|| "${AWS::Region}".to_string());
    let resolve = |value: &str| {
        let known_region = (!region.contains("${")).then_some(region.as_str());
        substitute(value, owner.account.as_deref(), known_region)
    };
    Ok(AssetDestination {
        bucket: resolve(&destination.bucket_name),
        object_key: resolve(&destination.object_key),
        assume_role_arn: destination.assume_role_arn.as_deref().map(resolve),
        assume_role_external_id: destination.assume_role_external_id,
        account,
        region,
        id,
    })
}
