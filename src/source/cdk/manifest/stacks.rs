//! The stacks of the assembly: each resolved, then put in deployment order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::AssemblyStack;
use super::artifacts::{ArtifactKind, NestedAssembly, UnresolvedStack};
use super::environment;
use super::legacy;
use super::problems::Found;
use crate::model::graph;

/// A dependency resolved once the whole tree of assemblies is read: on a nested assembly (all
/// its stacks), or on an artifact of another assembly of the tree.
pub(super) struct PendingDependency {
    pub(super) stack_id: String,
    pub(super) dependency: String,
    /// The nested assembly's directory, when the dependency is one.
    pub(super) nested: Option<PathBuf>,
    pub(super) manifest_path: PathBuf,
}

/// The assembly a stack is read from: its directory and manifest, the prefix that makes its
/// asset manifest ids unique in the tree (`assembly-Beta/`; empty at the top), and the kind of
/// each of its artifacts.
pub(super) struct Assembly<'a> {
    pub(super) directory: &'a Path,
    pub(super) manifest_path: &'a Path,
    pub(super) prefix: &'a str,
    pub(super) kinds: &'a BTreeMap<String, ArtifactKind>,
    pub(super) nested: &'a [NestedAssembly],
}

/// A stack with its environment checked, placeholders substituted and paths made absolute; None
/// when it has problems (every one of them recorded).
pub(super) fn resolve(
    assembly: &Assembly,
    raw: UnresolvedStack,
    pending: &mut Vec<PendingDependency>,
    found: &mut Found,
) -> Option<AssemblyStack> {
    let UnresolvedStack {
        id,
        artifact,
        properties,
    } = raw;
    let manifest_path = assembly.manifest_path;
    let file = manifest_path.display();
    let problems_before = found.problems.len();
    let env = found.keep(environment::parse(
        manifest_path,
        &id,
        artifact.environment.as_deref(),
    ));

    if let Some(role) = &properties.lookup_role
        && (role.assume_role_external_id.is_some()
            || role
                .assume_role_additional_options
                .as_ref()
                .is_some_and(|options| !options.is_empty()))
    {
        found.problem(format!(
            "{file}: stack '{id}': lookupRole's \"assumeRoleExternalId\"/\"assumeRoleAdditionalOptions\" (an external id or session options for the lookup role) are not supported yet; remove lookupRoleExternalId/lookupRoleAdditionalOptions from the stack synthesizer"
        ));
    }
    if properties
        .assume_role_additional_options
        .as_ref()
        .is_some_and(|options| !options.is_empty())
    {
        found.problem(format!(
            "{file}: stack '{id}': \"assumeRoleAdditionalOptions\" (session tags or other AssumeRole options) is not supported yet; remove deployRoleAdditionalOptions from the stack synthesizer"
        ));
    }

    let template_path = assembly.directory.join(&properties.template_file);
    if !template_path.is_file() {
        found.problem(format!(
            "{file}: stack '{id}': templateFile '{}' not found at {}: the assembly is incomplete; run `cdk synth` again",
            properties.template_file,
            template_path.display()
        ));
    }

    let mut dependencies = Vec::new();
    let mut asset_manifests = Vec::new();
    for dependency in &artifact.dependencies {
        let later = |nested: Option<PathBuf>| PendingDependency {
            stack_id: id.clone(),
            dependency: dependency.clone(),
            nested,
            manifest_path: manifest_path.to_path_buf(),
        };
        match assembly.kinds.get(dependency) {
            Some(ArtifactKind::Stack) => dependencies.push(dependency.clone()),
            Some(ArtifactKind::AssetManifest) => {
                asset_manifests.push(format!("{}{dependency}", assembly.prefix))
            }
            Some(ArtifactKind::Nested) => {
                let directory = assembly
                    .nested
                    .iter()
                    .find(|n| &n.id == dependency)
                    .map(|n| n.directory.clone());
                if let Some(directory) = directory {
                    pending.push(later(Some(directory)));
                }
            }
            Some(ArtifactKind::Ignored) => {}
            None => pending.push(later(None)),
        }
    }
    let legacy = legacy::assets(assembly, &id, &artifact, found);
    let env = env?;
    if found.problems.len() > problems_before {
        return None;
    }

    let resolve = |value: Option<String>| value.map(|v| env.fill(&v));
    let display_name = artifact.display_name.unwrap_or_else(|| id.clone());
    Some(AssemblyStack {
        // The CDK CLI's `hierarchicalId`: the manifest's displayName (the construct path through
        // the nested assemblies, `Beta/Api`), else the artifact id.
        hierarchical_id: display_name.clone(),
        display_name,
        stack_name: properties.stack_name.unwrap_or_else(|| id.clone()),
        template_path,
        assembly_directory: assembly.directory.to_path_buf(),
        parameters: properties.parameters,
        tags: properties.tags,
        notification_arns: properties
            .notification_arns
            .iter()
            .map(|a| env.fill(a))
            .collect(),
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
        legacy_assets: legacy.files,
        legacy_docker_assets: legacy.docker,
        env,
        id,
    })
}

/// Dependencies on nested assemblies and on artifacts of other assemblies of the tree, once every
/// stack is known: a nested assembly stands for all its stacks (however deep); any other id must
/// be a stack of the tree.
pub(super) fn resolve_pending(
    stacks: &mut [AssemblyStack],
    pending: Vec<PendingDependency>,
    found: &mut Found,
) {
    for p in pending {
        let targets: Vec<String> = match &p.nested {
            Some(directory) => stacks
                .iter()
                .filter(|s| s.assembly_directory.starts_with(directory))
                .map(|s| s.id.clone())
                .collect(),
            None => stacks
                .iter()
                .filter(|s| s.id == p.dependency)
                .map(|s| s.id.clone())
                .collect(),
        };
        if p.nested.is_none() && targets.is_empty() {
            found.problem(format!(
                "{}: stack '{}' depends on '{}', which is not an artifact in this assembly; synthesize again with `cdk synth`",
                p.manifest_path.display(),
                p.stack_id,
                p.dependency
            ));
            continue;
        }
        if let Some(stack) = stacks.iter_mut().find(|s| s.id == p.stack_id) {
            for target in targets {
                if target != stack.id && !stack.dependencies.contains(&target) {
                    stack.dependencies.push(target);
                }
            }
        }
    }
}

/// Deployment order that keeps the manifest order wherever dependencies allow.
pub(super) fn order_by_dependencies(
    manifest_path: &Path,
    pending: Vec<AssemblyStack>,
    found: &mut Found,
) -> Vec<AssemblyStack> {
    let index: HashMap<&str, usize> = pending
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
            order.into_iter().filter_map(|i| slots[i].take()).collect()
        }
        Err(stuck) => {
            let names: Vec<&str> = stuck.iter().map(|&i| pending[i].id.as_str()).collect();
            found.problem(format!(
                "{}: the dependencies of stacks {} form a cycle; break the cycle in the CDK app and synthesize again",
                manifest_path.display(),
                names.join(", ")
            ));
            pending
        }
    }
}

/// The first stack using an asset manifest gives its placeholders their
/// values, which is only sound if every stack using it shares that environment.
pub(super) fn check_single_environment(
    manifest_path: &Path,
    manifest_id: &str,
    stacks: &[AssemblyStack],
) -> Result<(), String> {
    let mut users = stacks
        .iter()
        .filter(|stack| stack.asset_manifests.iter().any(|m| m == manifest_id));
    let Some(owner) = users.next() else {
        return Ok(());
    };
    if let Some(other) = users.find(|s| s.env != owner.env) {
        return Err(format!(
            "{}: asset manifest '{manifest_id}' is used by stack '{}' ({}) and stack '{}' ({}), so its ${{AWS::AccountId}} and ${{AWS::Region}} placeholders are ambiguous; give each environment its own stack synthesizer",
            manifest_path.display(),
            owner.id,
            owner.env,
            other.id,
            other.env
        ));
    }
    Ok(())
}
