//! A CDK cloud assembly (`cdk.out`) as a source of stages: one stage per stack, so the scheduler,
//! change sets and reports of stage files serve `--app` unchanged. What the manifest fixes (roles,
//! template location, bootstrap requirement, asset destinations) travels as per-stage overrides.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::manifest::{AssemblyProblems, AssemblyStack, AssetPackaging, CloudAssembly, Found};
use crate::error::{ExitKind, fail};
use crate::model::assets::{AssetSpec, AssetTarget, Destination, Packaging};
use crate::model::env::StackEnv;
use crate::model::env::{AccountId, Region, RunDefaults};
use crate::model::graph;
use crate::model::plan::{Plan, Stage, StageOverrides, ValueExpr};
use crate::model::resolve::{place, placeholder_roles};
use crate::model::roles::{
    BootstrapRole, DEFAULT_QUALIFIER, StageRoles, bootstrap_version_parameter,
};
use crate::model::stack_links;
use crate::source::template;

/// Reads `dir` and turns it into a plan. Everything pipeline-run cannot deploy is refused here,
/// before any AWS call, every problem at once. A stack may leave its account or region to the
/// run (`model::resolve` places it once the run knows them).
pub(crate) fn load_plan(dir: &Path) -> Result<Plan<StackEnv>> {
    load(dir, Parameters::FromManifest)
}

/// As `load_plan`, for the stacks a stage file deploys (`source:`): their parameter values may
/// come from the stage file, which checks them itself.
pub(crate) fn load_for_stage_file(dir: &Path) -> Result<Plan<StackEnv>> {
    load(dir, Parameters::FromStageFile)
}

/// Where the values of a template's parameters come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parameters {
    /// The manifest only (`--app`): a parameter without Default needs a value there.
    FromManifest,
    /// A stage file may add some.
    FromStageFile,
}

fn load(dir: &Path, parameters: Parameters) -> Result<Plan<StackEnv>> {
    let mut found = Found::default();
    let plan = CloudAssembly::load(dir, &mut found)
        .map(|assembly| plan_from_assembly(&assembly, parameters, &mut found));
    let invalid = |problems: AssemblyProblems| fail(ExitKind::Validation, problems.to_string());
    match plan {
        Some(plan) => {
            let (mut plan, warnings) = found.finish(dir, plan).map_err(invalid)?;
            plan.warnings = warnings;
            Ok(plan)
        }
        None => Err(invalid(found.into_problems(dir))),
    }
}

fn plan_from_assembly(
    assembly: &CloudAssembly,
    parameters: Parameters,
    found: &mut Found,
) -> Plan<StackEnv> {
    for d in &assembly.docker_assets {
        found.problem(format!(
            "docker image asset {} (from {}) is not supported yet\n  fix: deploy stacks with container images with `cdk deploy`, or build the image in CI and reference it by URI",
            d.id, d.stack_id
        ));
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
            found.problem(format!(
                "stack {}: assumeRoleExternalId is not supported yet\n  fix: remove deployRoleExternalId from the stack synthesizer",
                stack.id
            ));
        }
        let (template, has_resources) = match template::load_synthesized(&stack.template_path) {
            Ok(loaded) => loaded,
            Err(reason) => {
                found.problem(format!(
                    "stack {}: template {}: {reason}\n  fix: run `cdk synth` again",
                    stack.id,
                    stack.template_path.display()
                ));
                continue;
            }
        };
        let depends_on = stack
            .dependencies
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect();
        let assets = stack_assets(assembly, stack, found);
        let roles = stack_roles(&qualifier, &stack.env, stack, &assets);
        let stage = Stage {
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
                notification_arns: stack.notification_arns.clone(),
                caller_credentials: stack.assume_role_arn.is_none(),
                no_execution_role: stack.cfn_exec_role_arn.is_none(),
            },
            hierarchical_id: Some(stack.hierarchical_id.clone()),
            no_resources: !has_resources,
            legacy_assets: stack.legacy_assets.clone(),
            ..Stage::new(&stack.id, stack.env.clone(), template, roles)
        };
        if parameters == Parameters::FromManifest {
            required_parameters(&stage, found);
        }
        stages.push(stage);
    }
    for problem in link_assembly_refs(&mut stages, &qualifier) {
        found.problem(problem);
    }
    let depends_on: Vec<Vec<usize>> = stages.iter().map(|s| s.depends_on.clone()).collect();
    let order = graph::waves(&depends_on);
    if let Some(cycle) = order.cycle {
        let names: Vec<&str> = cycle
            .nodes
            .iter()
            .map(|&i| stages[i].name.as_str())
            .collect();
        found.problem(format!(
            "stacks {} wait for each other (dependencies and Fn::GetStackOutput references)\n  fix: remove one of the references",
            names.join(" → ")
        ));
    }
    let waves = order.waves;
    Plan {
        file: assembly.directory.join("manifest.json"),
        qualifier,
        stages,
        waves,
        peerings: Vec::new(),
        checks: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Every template parameter without a Default needs a value: from the manifest, or from a legacy
/// asset (as stage files are checked).
fn required_parameters(stage: &Stage<StackEnv>, found: &mut Found) {
    if stage.no_resources {
        return;
    }
    let from_assets: Vec<&str> = stage
        .legacy_assets
        .iter()
        .flat_map(|a| {
            [
                a.bucket_parameter.as_str(),
                a.key_parameter.as_str(),
                a.hash_parameter.as_str(),
            ]
        })
        .collect();
    for (name, has_default) in &stage.template.parameters {
        if *has_default
            || stage.parameters.contains_key(name)
            || from_assets.contains(&name.as_str())
        {
            continue;
        }
        found.problem(format!(
            "stack {}: template {} requires parameter '{name}' (it has no Default), and the manifest gives it no value\n  fix: give it a value in the CDK app (a CfnParameter's `default`, or the stack synthesizer's parameters), synthesize again, or deploy it from a stage file with `parameters: {{{name}: <value>}}` (stage `source:`)",
            stage.name,
            stage.template.path.display()
        ));
    }
}

/// Whether one of the stage's legacy assets gives parameter `name` its value.
pub(crate) fn fills_parameter<E>(stage: &Stage<E>, name: &str) -> bool {
    stage.legacy_assets.iter().any(|a| {
        [&a.bucket_parameter, &a.key_parameter, &a.hash_parameter]
            .iter()
            .any(|p| p.as_str() == name)
    })
}

/// Links the stacks' `Fn::GetStackOutput` references (dependencies, checks); every problem found,
/// each with its fix.
pub(crate) fn link_stack_refs(stages: &mut [Stage], qualifier: &str) -> Vec<String> {
    stack_links::link(stages, qualifier)
        .into_iter()
        .map(|p| {
            format!(
                "stack {}: {}\n  fix: {}",
                stages[p.stage].name, p.message, p.fix
            )
        })
        .collect()
}

/// Stands in for the account of the credentials and the configured region while the references
/// of environment-agnostic stacks are linked (they all go to that one account and region).
const STAND_IN_ACCOUNT: &str = "000000000000";
const STAND_IN_REGION: &str = "configured-region-0";

/// `link_stack_refs` over the assembly's stacks. Those leaving their account or region to the
/// run all deploy to the same one, so they are linked as placed in a stand-in environment (the
/// run links them again once placed, `commands::place`), whose names problems show as the CDK's
/// placeholders.
fn link_assembly_refs(stages: &mut [Stage<StackEnv>], qualifier: &str) -> Vec<String> {
    let stand_in = RunDefaults {
        account: AccountId::new(STAND_IN_ACCOUNT).ok(),
        region: Region::new(STAND_IN_REGION).ok(),
    };
    let mut placed: Vec<Stage> = stages
        .iter()
        .filter_map(|s| {
            let env = s.env.resolve(&stand_in)?;
            Some(place(s.clone(), env, qualifier))
        })
        .collect();
    let problems = link_stack_refs(&mut placed, qualifier);
    for (stage, linked) in stages.iter_mut().zip(placed) {
        stage.depends_on = linked.depends_on;
        stage.stack_refs = linked.stack_refs;
    }
    problems
        .into_iter()
        .map(|p| {
            p.replace(STAND_IN_ACCOUNT, "${AWS::AccountId}")
                .replace(STAND_IN_REGION, "${AWS::Region}")
        })
        .collect()
}

/// The roles the manifest names for the stack, the bootstrap convention for the others (with
/// placeholders for the parts of the environment left to the run). The file-publishing role is
/// the one its asset destinations name (the first, as all of a stack's destinations are in its
/// environment).
fn stack_roles(
    qualifier: &str,
    env: &StackEnv,
    stack: &AssemblyStack,
    assets: &[AssetSpec],
) -> StageRoles {
    let publishing = assets.iter().find_map(|a| match &a.target {
        AssetTarget::Destinations(d) => d.iter().find_map(|d| d.role_arn.as_deref()),
        AssetTarget::Staging => None,
    });
    placeholder_roles(qualifier, env)
        .with(BootstrapRole::Deploy, stack.assume_role_arn.as_deref())
        .with(BootstrapRole::CfnExec, stack.cfn_exec_role_arn.as_deref())
        .with(BootstrapRole::Lookup, stack.lookup_role_arn.as_deref())
        .with(BootstrapRole::FilePublishing, publishing)
}

/// The file assets of the stack's asset manifests (its template among them).
fn stack_assets(
    assembly: &CloudAssembly,
    stack: &AssemblyStack,
    found: &mut Found,
) -> Vec<AssetSpec> {
    let mut out = Vec::new();
    for asset in assembly
        .file_assets
        .iter()
        .filter(|a| stack.asset_manifests.contains(&a.manifest_id))
    {
        let mut destinations = Vec::new();
        for d in &asset.destinations {
            if d.assume_role_external_id.is_some() {
                found.problem(format!(
                    "file asset {} (from {}): assumeRoleExternalId is not supported yet\n  fix: remove fileAssetPublishingExternalId from the stack synthesizer",
                    asset.id, asset.stack_id
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
    out
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
        assert_eq!(app.env.account.as_deref(), Some("222222222222"));
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
        let (mut assembly, _) = CloudAssembly::read(&fixture()).unwrap();
        assembly
            .docker_assets
            .push(crate::source::cdk::manifest::DockerAsset {
                id: "abc123".into(),
                manifest_id: "AppStack.assets".into(),
                stack_id: "AppStack".into(),
            });
        let mut found = Found::default();
        plan_from_assembly(&assembly, Parameters::FromManifest, &mut found);
        assert_eq!(
            found.problems,
            [
                "docker image asset abc123 (from AppStack) is not supported yet\n  fix: deploy stacks with container images with `cdk deploy`, or build the image in CI and reference it by URI"
            ]
        );
    }

    fn repo_fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn nested_stacks_carry_their_hierarchical_id_and_empty_stacks_their_flag() {
        let plan = load_plan(&repo_fixture("assembly-staged")).unwrap();
        let by_name = |n: &str| plan.stages.iter().find(|s| s.name == n).unwrap();
        let api = by_name("BetaApiE5F6A7B8");
        assert_eq!(api.hierarchical_id.as_deref(), Some("Beta/Api"));
        assert_eq!(api.stack_name, "Beta-Api");
        assert_eq!(
            api.depends_on,
            [plan.stage_index("BetaDbA1B2C3D4").unwrap()]
        );
        assert!(!api.no_resources && !api.overrides.caller_credentials);
        for empty in ["Empty", "OutputsOnly"] {
            assert!(by_name(empty).no_resources, "{empty}");
        }
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn a_legacy_stack_uses_the_credentials_in_use_and_fills_its_asset_parameters() {
        let plan = load_plan(&repo_fixture("assembly-legacy")).unwrap();
        let legacy = &plan.stages[0];
        assert!(legacy.overrides.caller_credentials);
        assert!(legacy.overrides.no_execution_role);
        assert_eq!(legacy.overrides.bootstrap_version, None);
        assert_eq!(legacy.legacy_assets.len(), 1);
        let asset = &legacy.legacy_assets[0];
        assert_eq!(asset.object_key(), "assets/5f1c0e2d.zip");
        for parameter in legacy.template.parameters.keys() {
            assert!(fills_parameter(legacy, parameter), "{parameter}");
        }
    }

    #[test]
    fn a_parameter_without_default_or_value_is_refused_for_app_but_left_to_stage_files() {
        let dir = crate::testutil::TempDir::new("required-parameter");
        let fixture = repo_fixture("assembly-legacy");
        for file in ["manifest.json", "LegacyStack.metadata.json"] {
            dir.write(file, std::fs::read_to_string(fixture.join(file)).unwrap());
        }
        dir.write("asset.5f1c0e2d/index.html", "x");
        let template = std::fs::read_to_string(fixture.join("LegacyStack.template.json")).unwrap();
        let mut template: serde_json::Value = serde_json::from_str(&template).unwrap();
        template["Parameters"]["Size"] = serde_json::json!({"Type": "Number"});
        template["Parameters"]["Named"] = serde_json::json!({"Type": "String", "Default": "x"});
        dir.write("LegacyStack.template.json", template.to_string());
        let err = load_plan(dir.path()).unwrap_err().to_string();
        assert!(err.contains("has 1 problem; nothing was deployed"), "{err}");
        assert!(
            err.contains("stack LegacyStack: template ")
                && err.contains("requires parameter 'Size' (it has no Default), and the manifest gives it no value"),
            "{err}"
        );
        assert!(load_for_stage_file(dir.path()).is_ok());
    }

    #[test]
    fn agnostic_stacks_keep_the_placeholders_of_what_the_run_gives() {
        use crate::model::env::{AccountId, Region, RunDefaults};
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assembly-agnostic");
        let plan = load_plan(&dir).unwrap();
        let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Producer", "Consumer", "Edge"]);
        let producer = &plan.stages[0];
        assert_eq!(
            producer.env.to_string(),
            "aws://unknown-account/unknown-region"
        );
        assert_eq!(
            producer.roles.deploy.arn,
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-deploy-role-${AWS::AccountId}-${AWS::Region}"
        );
        let edge = &plan.stages[2];
        assert_eq!(edge.env.to_string(), "aws://unknown-account/us-east-1");
        assert_eq!(
            edge.roles.deploy.arn,
            "arn:aws:iam::${AWS::AccountId}:role/cdk-hnb659fds-deploy-role-${AWS::AccountId}-us-east-1"
        );
        assert_eq!(plan.stages[1].stack_name, "agnostic-consumer");
        assert_eq!(plan.stages[1].depends_on, [0]);
        let placed = plan
            .resolve(&RunDefaults {
                account: Some(AccountId::new("111111111111").unwrap()),
                region: Some(Region::new("ap-northeast-1").unwrap()),
            })
            .unwrap();
        let producer = &placed.stages[0];
        assert_eq!(
            producer.env.to_string(),
            "aws://111111111111/ap-northeast-1"
        );
        assert!(producer.roles.deploy.conventional && producer.roles.lookup.conventional);
        assert_eq!(
            producer.roles.deploy.arn,
            "arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-ap-northeast-1"
        );
        let AssetTarget::Destinations(d) = &producer.assets[0].target else {
            panic!("assembly assets have fixed destinations")
        };
        assert_eq!(
            d[0].bucket,
            "cdk-hnb659fds-assets-111111111111-ap-northeast-1"
        );
        assert_eq!(d[0].region, "ap-northeast-1");
        assert!(
            producer
                .overrides
                .template_url
                .as_deref()
                .unwrap()
                .starts_with("s3://cdk-hnb659fds-assets-111111111111-ap-northeast-1/")
        );
        let edge = &placed.stages[2];
        assert_eq!(edge.env.to_string(), "aws://111111111111/us-east-1");
        let AssetTarget::Destinations(d) = &edge.assets[0].target else {
            panic!("assembly assets have fixed destinations")
        };
        assert_eq!(d[0].bucket, "cdk-hnb659fds-assets-111111111111-us-east-1");
        assert_eq!(d[0].region, "us-east-1");
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
        let region = plan.stages[0].env.region.as_ref().unwrap().to_string();
        let body = |o: &str| {
            format!(
                "Resources:\n  A:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: {net}, OutputName: {o}, Region: {region}, RoleArn: '{lookup}'}}\n"
            )
        };
        let path = std::path::Path::new("app.template.json");
        plan.stages[0].depends_on.clear();
        plan.stages[1].depends_on.clear();
        plan.stages[1].template = crate::model::template::parse(path, body(&output)).unwrap();
        assert_eq!(
            link_assembly_refs(&mut plan.stages, &plan.qualifier),
            Vec::<String>::new()
        );
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
        let problems = link_assembly_refs(&mut bad.stages, &bad.qualifier);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].contains("has no output 'Nope'"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("has no output 'Gone'"),
            "{}",
            problems[1]
        );
        assert!(
            problems[1].contains("\n  fix: use one of: "),
            "{}",
            problems[1]
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
