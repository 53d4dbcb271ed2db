//! The stacks of the assembly: each resolved, then put in deployment order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::bail;

use super::AssemblyStack;
use super::artifacts::{ArtifactKind, UnresolvedStack};
use super::environment;
use crate::model::graph;

/// A stack with its environment checked, placeholders substituted and paths made absolute.
pub(super) fn resolve(
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
    let env = environment::parse(manifest_path, &id, artifact.environment.as_deref())?;

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

    let resolve = |value: Option<String>| value.map(|v| env.fill(&v));
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
        env,
        id,
    })
}

/// Deployment order that keeps the manifest order wherever dependencies allow.
pub(super) fn order_by_dependencies(
    manifest_path: &Path,
    pending: Vec<AssemblyStack>,
) -> anyhow::Result<Vec<AssemblyStack>> {
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
pub(super) fn check_single_environment(
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
    if let Some(other) = users.find(|s| s.env != owner.env) {
        bail!(
            "{}: asset manifest '{manifest_id}' is used by stack '{}' ({}) and stack '{}' ({}), so its ${{AWS::AccountId}} and ${{AWS::Region}} placeholders are ambiguous; give each environment its own stack synthesizer",
            manifest_path.display(),
            owner.id,
            owner.env,
            other.id,
            other.env
        );
    }
    Ok(())
}
