//! A CDK cloud assembly (`cdk.out`) as a source of stages: one stage per stack, so the scheduler,
//! change sets and reports of stage files serve `--app` unchanged. What the manifest fixes (roles,
//! template location, bootstrap requirement, asset destinations) travels as per-stage overrides.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::manifest::{AssemblyStack, AssetPackaging, CloudAssembly};
use crate::error::{ExitKind, fail};
use crate::model::assets::{AssetSpec, AssetTarget, Destination, Packaging};
use crate::model::env::Environment;
use crate::model::graph;
use crate::model::plan::{Plan, Stage, StageOverrides, ValueExpr};
use crate::model::roles::{
    BootstrapRole, DEFAULT_QUALIFIER, StageRoles, bootstrap_version_parameter,
};
use crate::model::stack_links;
use crate::source::template;

/// Reads `dir` and turns it into a plan. Everything pipeline-run cannot deploy is refused here,
/// before any AWS call.
pub(crate) fn load_plan(dir: &Path) -> Result<Plan> {
    let assembly =
        CloudAssembly::load(dir).map_err(|e| fail(ExitKind::Validation, format!("{e:#}")))?;
    plan_from_assembly(&assembly)
}

fn plan_from_assembly(assembly: &CloudAssembly) -> Result<Plan> {
    let invalid = |msg: String| fail(ExitKind::Validation, msg);
    if let Some(d) = assembly.docker_assets.first() {
        return Err(invalid(format!(
            "docker image asset {} (from {}) is not supported yet; nothing was deployed\n  fix: deploy stacks with container images with `cdk deploy`, or build the image in CI and reference it by URI",
            d.id, d.stack_id
        )));
    }
    let index: HashMap<&str, usize> = assembly
        .stacks
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let qualifier = assembly
        .stacks
        .iter()
        .find_map(|s| qualifier_of(s.bootstrap_version_parameter.as_deref()?))
        .unwrap_or_else(|| DEFAULT_QUALIFIER.to_string());
    let mut stages = Vec::new();
    for stack in &assembly.stacks {
        if stack.assume_role_external_id.is_some() {
            return Err(invalid(format!(
                "stack {}: assumeRoleExternalId is not supported yet\n  fix: remove deployRoleExternalId from the stack synthesizer",
                stack.id
            )));
        }
        let env = stack.env.clone();
        let template = template::load(&stack.template_path).map_err(|reason| {
            invalid(format!(
                "stack {}: template {}: {reason}\n  fix: run `cdk synth` again",
                stack.id,
                stack.template_path.display()
            ))
        })?;
        let depends_on = stack
            .dependencies
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect();
        let assets = stack_assets(assembly, stack)?;
        let roles = stack_roles(&qualifier, &env, stack, &assets);
        stages.push(Stage {
            stack_name: stack.stack_name.clone(),
            parameters: stack
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), ValueExpr::literal(v.clone())))
                .collect(),
            tags: stack.tags.clone(),
            depends_on,
            termination_protection: stack.termination_protection,
            assets,
            overrides: StageOverrides {
                template_url: stack.template_asset_url.clone(),
                bootstrap_version: bootstrap_requirement(assembly, stack),
            },
            ..Stage::new(&stack.id, env, template, roles)
        });
    }
    link_stack_refs(&mut stages, &qualifier)?;
    let depends_on: Vec<Vec<usize>> = stages.iter().map(|s| s.depends_on.clone()).collect();
    let order = graph::waves(&depends_on);
    if let Some(cycle) = order.cycle {
        let names: Vec<&str> = cycle
            .nodes
            .iter()
            .map(|&i| stages[i].name.as_str())
            .collect();
        return Err(invalid(format!(
            "stacks {} wait for each other (dependencies and Fn::GetStackOutput references); nothing was deployed\n  fix: remove one of the references",
            names.join(" → ")
        )));
    }
    let waves = order.waves;
    Ok(Plan {
        file: assembly.directory.join("manifest.json"),
        qualifier,
        stages,
        waves,
        peerings: Vec::new(),
        checks: Vec::new(),
    })
}

/// Links the stacks' `Fn::GetStackOutput` references (dependencies, checks); every problem at once.
pub(crate) fn link_stack_refs(stages: &mut [Stage], qualifier: &str) -> Result<()> {
    let problems = stack_links::link(stages, qualifier);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "- stack {}: {}\n  fix: {}",
                stages[p.stage].name, p.message, p.fix
            )
        })
        .collect();
    Err(fail(
        ExitKind::Validation,
        format!(
            "the cloud assembly has {} Fn::GetStackOutput problem(s); nothing was deployed:\n{}",
            problems.len(),
            lines.join("\n")
        ),
    ))
}

/// The roles the manifest names for the stack, the bootstrap convention for the others. The
/// file-publishing role is the one its asset destinations name (the first, as all of a stack's
/// destinations are in its environment).
fn stack_roles(
    qualifier: &str,
    env: &Environment,
    stack: &AssemblyStack,
    assets: &[AssetSpec],
) -> StageRoles {
    let publishing = assets.iter().find_map(|a| match &a.target {
        AssetTarget::Destinations(d) => d.iter().find_map(|d| d.role_arn.as_deref()),
        AssetTarget::Staging => None,
    });
    StageRoles::conventional(qualifier, env)
        .with(BootstrapRole::Deploy, stack.assume_role_arn.as_deref())
        .with(BootstrapRole::CfnExec, stack.cfn_exec_role_arn.as_deref())
        .with(BootstrapRole::Lookup, stack.lookup_role_arn.as_deref())
        .with(BootstrapRole::FilePublishing, publishing)
}

/// The file assets of the stack's asset manifests (its template among them).
fn stack_assets(assembly: &CloudAssembly, stack: &AssemblyStack) -> Result<Vec<AssetSpec>> {
    let mut out = Vec::new();
    for asset in assembly
        .file_assets
        .iter()
        .filter(|a| stack.asset_manifests.contains(&a.manifest_id))
    {
        let mut destinations = Vec::new();
        for d in &asset.destinations {
            if d.assume_role_external_id.is_some() {
                return Err(fail(
                    ExitKind::Validation,
                    format!(
                        "file asset {} (from {}): assumeRoleExternalId is not supported yet\n  fix: remove fileAssetPublishingExternalId from the stack synthesizer",
                        asset.id, asset.stack_id
                    ),
                ));
            }
            destinations.push(Destination {
                bucket: d.bucket.clone(),
                key: d.object_key.clone(),
                region: d.region.clone(),
                role_arn: d.assume_role_arn.clone(),
            });
        }
        out.push(AssetSpec {
            name: asset
                .display_name
                .clone()
                .unwrap_or_else(|| asset.id.clone()),
            source: asset.source_path.clone(),
            root: asset.root.clone(),
            packaging: match asset.packaging {
                AssetPackaging::File => Packaging::File,
                AssetPackaging::Zip => Packaging::Zip,
            },
            target: AssetTarget::Destinations(destinations),
        });
    }
    Ok(out)
}

/// The highest version the stack and its asset manifests require, read from the stack's SSM
/// parameter (as the CDK CLI checks before publishing and deploying).
fn bootstrap_requirement(assembly: &CloudAssembly, stack: &AssemblyStack) -> Option<(String, u32)> {
    let manifests = assembly
        .asset_manifests
        .iter()
        .filter(|m| stack.asset_manifests.contains(&m.id));
    let required = manifests
        .clone()
        .filter_map(|m| m.requires_bootstrap_version)
        .chain(stack.requires_bootstrap_version)
        .max()?;
    let parameter = stack
        .bootstrap_version_parameter
        .clone()
        .or_else(|| {
            manifests
                .filter_map(|m| m.bootstrap_version_parameter.clone())
                .next()
        })
        .unwrap_or_else(|| bootstrap_version_parameter(DEFAULT_QUALIFIER));
    Some((parameter, required))
}

/// `hnb659fds` from `/cdk-bootstrap/hnb659fds/version`.
fn qualifier_of(parameter: &str) -> Option<String> {
    parameter
        .strip_prefix("/cdk-bootstrap/")?
        .strip_suffix("/version")
        .filter(|q| !q.is_empty() && !q.contains('/'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assembly-two-accounts")
    }

    #[test]
    fn the_fixture_becomes_one_stage_per_stack_with_the_manifest_roles() {
        let plan = load_plan(&fixture()).unwrap();
        let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["NetworkStack", "AppStack"]);
        assert_eq!(plan.waves, vec![vec![0], vec![1]]);
        assert_eq!(plan.qualifier, "hnb659fds");
        let app = &plan.stages[1];
        assert_eq!(app.env.account, "222222222222");
        assert_eq!(app.depends_on, vec![0]);
        assert_eq!(
            app.roles.deploy.arn,
            "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
        );
        assert_eq!(
            app.roles.cfn_exec.arn,
            "arn:aws:iam::222222222222:role/cdk-hnb659fds-cfn-exec-role-222222222222-ap-northeast-1"
        );
        assert_eq!(
            app.overrides.bootstrap_version,
            Some(("/cdk-bootstrap/hnb659fds/version".to_string(), 6))
        );
        assert!(
            app.overrides
                .template_url
                .as_deref()
                .unwrap()
                .starts_with("s3://cdk-hnb659fds-assets-222222222222-ap-northeast-1/e4383785")
        );
        assert_eq!(
            app.tags.get("project").map(String::as_str),
            Some("pipeline-run-fixture")
        );
    }

    #[test]
    fn each_stage_carries_its_own_file_assets_with_their_destinations() {
        let plan = load_plan(&fixture()).unwrap();
        let app = &plan.stages[1];
        assert_eq!(app.assets.len(), 2, "code and template");
        let code = app
            .assets
            .iter()
            .find(|a| a.name == "AppStack/Code")
            .unwrap();
        assert_eq!(code.packaging, Packaging::Zip);
        let AssetTarget::Destinations(d) = &code.target else {
            panic!("assembly assets have fixed destinations")
        };
        assert_eq!(
            d[0].bucket,
            "cdk-hnb659fds-assets-222222222222-ap-northeast-1"
        );
        assert_eq!(
            d[0].key,
            "f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842.zip"
        );
        assert!(
            d[0].role_arn
                .as_deref()
                .unwrap()
                .contains("file-publishing-role-222222222222")
        );
        let network = &plan.stages[0];
        assert!(network.assets.iter().all(|a| match &a.target {
            AssetTarget::Destinations(d) => d.iter().all(|d| d.bucket.contains("111111111111")),
            AssetTarget::Staging => false,
        }));
    }

    #[test]
    fn docker_image_assets_are_refused_by_name() {
        let mut assembly = CloudAssembly::load(&fixture()).unwrap();
        assembly
            .docker_assets
            .push(crate::source::cdk::manifest::DockerAsset {
                id: "abc123".into(),
                manifest_id: "AppStack.assets".into(),
                stack_id: "AppStack".into(),
            });
        let err = plan_from_assembly(&assembly).unwrap_err();
        assert!(
            err.to_string()
                .contains("docker image asset abc123 (from AppStack) is not supported yet"),
            "{err}"
        );
        assert_eq!(
            crate::error::exit_code_of(&err),
            ExitKind::Validation as i32
        );
    }

    #[test]
    fn fn_get_stack_output_between_stacks_is_a_dependency_and_its_problems_are_listed_together() {
        let mut plan = load_plan(&fixture()).unwrap();
        let lookup = plan.stages[0].roles.lookup.arn.clone();
        let net = plan.stages[0].stack_name.clone();
        let output = plan.stages[0]
            .template
            .outputs
            .iter()
            .next()
            .unwrap()
            .clone();
        let region = plan.stages[0].env.region.to_string();
        let body = |o: &str| {
            format!(
                "Resources:\n  A:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: {net}, OutputName: {o}, Region: {region}, RoleArn: '{lookup}'}}\n"
            )
        };
        let path = std::path::Path::new("app.template.json");
        plan.stages[0].depends_on.clear();
        plan.stages[1].depends_on.clear();
        plan.stages[1].template = crate::model::template::parse(path, body(&output)).unwrap();
        link_stack_refs(&mut plan.stages, &plan.qualifier).unwrap();
        assert_eq!(plan.stages[1].depends_on, vec![0]);
        let mut bad = load_plan(&fixture()).unwrap();
        bad.stages[1].template = crate::model::template::parse(
            path,
            format!(
                "{}{}",
                body("Nope"),
                body("Gone")
                    .replace("  A:", "  B:")
                    .split_once("Resources:\n")
                    .unwrap()
                    .1
            ),
        )
        .unwrap();
        let err = link_stack_refs(&mut bad.stages, &bad.qualifier).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("2 Fn::GetStackOutput problem(s)"), "{text}");
        assert!(
            text.contains("has no output 'Nope'") && text.contains("has no output 'Gone'"),
            "{text}"
        );
        assert_eq!(
            crate::error::exit_code_of(&err),
            ExitKind::Validation as i32
        );
    }

    #[test]
    fn qualifiers_come_from_the_bootstrap_parameter_name() {
        assert_eq!(
            qualifier_of("/cdk-bootstrap/abc/version").as_deref(),
            Some("abc")
        );
        assert_eq!(qualifier_of("/other/abc/version"), None);
    }
}
