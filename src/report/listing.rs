//! What `list` and `plan` show of a plan (no AWS call): typed views for their JSON, and the
//! text for people. View fields are in alphabetical order, the order of the keys in the JSON.
//!
//! A cloud assembly stack that leaves its account or region to the run shows it as such:
//! `"account": null, "account_from": "credentials"` and `"region": null, "region_from":
//! "configuration"` in JSON (the `_from` keys only then), "account of the credentials" and
//! "region of the configuration" in text, and its roles with the CDK's `${AWS::AccountId}` /
//! `${AWS::Region}` placeholders.

use serde::Serialize;

use crate::model::env::{AccountId, Region, StackEnv};
use crate::model::plan::{Plan, Stage};
use crate::model::roles::BootstrapRole;
use crate::progress::one_line;
use crate::table::table;

/// `list --output json`.
#[derive(Debug, Serialize)]
pub(crate) struct Listing<'p> {
    file: String,
    qualifier: &'p str,
    stages: Vec<StageListing<'p>>,
    waves: Vec<Vec<&'p str>>,
}

#[derive(Debug, Serialize)]
struct StageListing<'p> {
    account: Option<&'p AccountId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_from: Option<&'static str>,
    assets: Vec<&'p str>,
    depends_on: Vec<&'p str>,
    /// None: the credentials in use (a cloud assembly stack that names no role).
    deploy_role: Option<&'p str>,
    execution_role: Option<&'p str>,
    /// `Beta/Api` for a stack of a nested cloud assembly (as `cdk ls` prints it).
    #[serde(skip_serializing_if = "Option::is_none")]
    hierarchical_id: Option<&'p str>,
    lookup_role: Option<&'p str>,
    region: Option<&'p Region>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_from: Option<&'static str>,
    stack: &'p str,
    /// `Fn::GetStackOutput` uses of the template, each with the stage and role it reads through.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stack_refs: Vec<String>,
    stage: &'p str,
    template: String,
}

/// One stage of a wave, as `plan --format json|github-matrix` shows it (a matrix entry).
#[derive(Debug, Serialize)]
pub(crate) struct WaveStage<'p> {
    account: Option<&'p AccountId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_from: Option<&'static str>,
    region: Option<&'p Region>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_from: Option<&'static str>,
    stack: &'p str,
    stage: &'p str,
}

/// `plan --format json`.
#[derive(Debug, Serialize)]
pub(crate) struct Waves<'p> {
    waves: Vec<Vec<WaveStage<'p>>>,
}

/// `plan --format github-matrix`: one matrix per wave, for a job per stage of each wave; a
/// workflow runs wave N's jobs after wave N-1's (`needs:`).
#[derive(Debug, Serialize)]
pub(crate) struct Matrix<'p> {
    pub(crate) wave_count: usize,
    pub(crate) waves: Vec<WaveMatrix<'p>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WaveMatrix<'p> {
    include: Vec<WaveStage<'p>>,
}

/// The role of `kind` the stage acts through; None when it uses the credentials in use (or, for
/// the execution role, when CloudFormation gets none).
fn assumed(s: &Stage<StackEnv>, kind: BootstrapRole) -> Option<&str> {
    let overrides = &s.overrides;
    let none = match kind {
        BootstrapRole::CfnExec => overrides.no_execution_role,
        _ => overrides.caller_credentials,
    };
    (!none).then(|| s.roles.get(kind).arn.as_str())
}

/// Where a part left to the run comes from (None when the stack fixes it).
fn account_from(env: &StackEnv) -> Option<&'static str> {
    env.account.is_none().then_some("credentials")
}

fn region_from(env: &StackEnv) -> Option<&'static str> {
    env.region.is_none().then_some("configuration")
}

fn names<'p>(plan: &'p Plan<StackEnv>, stages: &[usize]) -> Vec<&'p str> {
    stages
        .iter()
        .map(|&i| plan.stages[i].name.as_str())
        .collect()
}

impl<'p> Listing<'p> {
    pub(crate) fn of(plan: &'p Plan<StackEnv>) -> Self {
        let stage = |s: &'p Stage<StackEnv>| StageListing {
            account: s.env.account.as_ref(),
            account_from: account_from(&s.env),
            assets: s
                .assets
                .iter()
                .map(|a| a.name.as_str())
                .chain(s.legacy_assets.iter().map(|a| a.name.as_str()))
                .collect(),
            depends_on: names(plan, &s.depends_on),
            deploy_role: assumed(s, BootstrapRole::Deploy),
            execution_role: assumed(s, BootstrapRole::CfnExec),
            hierarchical_id: s.hierarchical_id.as_deref(),
            lookup_role: assumed(s, BootstrapRole::Lookup),
            region: s.env.region.as_ref(),
            region_from: region_from(&s.env),
            stack: &s.stack_name,
            stack_refs: s
                .stack_refs
                .iter()
                .map(|r| {
                    one_line(&format!(
                        "{}: {}",
                        r.location,
                        crate::model::stack_links::describe(r, &plan.stages)
                    ))
                    .into_owned()
                })
                .collect(),
            stage: &s.name,
            template: s.template.path.display().to_string(),
        };
        Listing {
            file: plan.file.display().to_string(),
            qualifier: &plan.qualifier,
            stages: plan.stages.iter().map(stage).collect(),
            waves: plan.waves.iter().map(|w| names(plan, w)).collect(),
        }
    }
}

fn wave_stages<'p>(plan: &'p Plan<StackEnv>, wave: &[usize]) -> Vec<WaveStage<'p>> {
    wave.iter()
        .map(|&i| {
            let s = &plan.stages[i];
            WaveStage {
                account: s.env.account.as_ref(),
                account_from: account_from(&s.env),
                region: s.env.region.as_ref(),
                region_from: region_from(&s.env),
                stack: &s.stack_name,
                stage: &s.name,
            }
        })
        .collect()
}

impl<'p> Waves<'p> {
    pub(crate) fn of(plan: &'p Plan<StackEnv>) -> Self {
        Waves {
            waves: plan.waves.iter().map(|w| wave_stages(plan, w)).collect(),
        }
    }
}

impl<'p> Matrix<'p> {
    pub(crate) fn of(plan: &'p Plan<StackEnv>) -> Self {
        let waves: Vec<WaveMatrix<'p>> = plan
            .waves
            .iter()
            .map(|w| WaveMatrix {
                include: wave_stages(plan, w),
            })
            .collect();
        Matrix {
            wave_count: waves.len(),
            waves,
        }
    }
}

/// `plan` as text: "wave 1: VpcA, VpcC", one line per wave.
pub(crate) fn waves_text(plan: &Plan<StackEnv>) -> String {
    plan.waves
        .iter()
        .enumerate()
        .map(|(n, w)| format!("wave {}: {}\n", n + 1, names(plan, w).join(", ")))
        .collect()
}

/// The stages that assume no role (cloud assembly stacks whose manifest names none: the legacy
/// synthesizer), which the role list above leaves out.
fn credentials_in_use(plan: &Plan<StackEnv>) -> String {
    let stages: Vec<&str> = plan
        .stages
        .iter()
        .filter(|s| s.overrides.caller_credentials)
        .map(|s| s.name.as_str())
        .collect();
    if stages.is_empty() {
        return String::new();
    }
    format!(
        "  credentials in use, no role assumed (the manifest names none): {}\n",
        stages.join(", ")
    )
}

/// `list` as text: the stages by wave, the roles of every environment, and the checks.
pub(crate) fn listing_text(plan: &Plan<StackEnv>) -> String {
    let rows: Vec<[String; 6]> = plan
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let wave = plan
                .waves
                .iter()
                .position(|w| w.contains(&i))
                .map(|w| w + 1)
                .unwrap_or(0);
            [
                wave.to_string(),
                s.name.clone(),
                match &s.env.account {
                    Some(id) => format!("{id} ({})", s.account_alias),
                    None => "account of the credentials".to_string(),
                },
                s.env.region.as_ref().map_or_else(
                    || "region of the configuration".to_string(),
                    |r| r.to_string(),
                ),
                s.stack_name.clone(),
                names(plan, &s.depends_on).join(", "),
            ]
        })
        .collect();
    let header = ["WAVE", "STAGE", "ACCOUNT", "REGION", "STACK", "DEPENDS ON"];
    let mut out = format!("{}\n", table(&header, &rows).trim_end());
    out.push_str(&format!("\nRoles (qualifier {}):\n", plan.qualifier));
    // The roles of each environment: those of its first stage that assumes roles.
    let mut by_env = std::collections::BTreeMap::new();
    for stage in &plan.stages {
        if !stage.overrides.caller_credentials {
            by_env.entry(&stage.env).or_insert(&stage.roles);
        }
    }
    for roles in by_env.into_values() {
        for role in [
            BootstrapRole::Deploy,
            BootstrapRole::FilePublishing,
            BootstrapRole::Lookup,
            BootstrapRole::CfnExec,
        ] {
            out.push_str(&format!("  {}\n", roles.get(role).arn));
        }
    }
    let refs: Vec<String> = plan
        .stages
        .iter()
        .flat_map(|s| {
            s.stack_refs.iter().map(|r| {
                let what = format!(
                    "{}: {}",
                    r.location,
                    crate::model::stack_links::describe(r, &plan.stages)
                );
                format!("  {} {}\n", s.name, one_line(&what))
            })
        })
        .collect();
    if !refs.is_empty() {
        out.push_str("\nFn::GetStackOutput references:\n");
        out.extend(refs);
    }
    out.push_str(&credentials_in_use(plan));
    if !plan.checks.is_empty() {
        out.push_str("\nVerification:\n");
        for c in &plan.checks {
            out.push_str(&format!(
                "  {} (expect {:?})\n",
                one_line(&c.name),
                c.expect
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::validate::{self, ProcessEnv};

    fn reference() -> Plan<StackEnv> {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/vpc-peering.yml");
        Plan::from_pinned(validate::load(&file, &ProcessEnv).unwrap())
    }

    #[test]
    fn the_matrix_has_one_include_list_per_wave() {
        let plan = reference();
        assert_eq!(
            serde_json::to_string(&Matrix::of(&plan)).unwrap(),
            r#"{"wave_count":3,"waves":[{"include":[{"account":"111111111111","region":"ap-northeast-1","stack":"VpcA","stage":"VpcA"},{"account":"222222222222","region":"ap-northeast-1","stack":"VpcC","stage":"VpcC"}]},{"include":[{"account":"111111111111","region":"ap-northeast-1","stack":"CrossAccountPeering","stage":"CrossAccountPeering"}]},{"include":[{"account":"222222222222","region":"ap-northeast-1","stack":"VpcCRoutes","stage":"VpcCRoutes"}]}]}"#
        );
        let waves = serde_json::to_string(&Waves::of(&plan)).unwrap();
        assert!(
            waves.starts_with(r#"{"waves":[[{"account":"111111111111","region":"ap-northeast-1","stack":"VpcA","stage":"VpcA"},"#),
            "{waves}"
        );
        assert_eq!(
            waves_text(&plan),
            "wave 1: VpcA, VpcC\nwave 2: CrossAccountPeering\nwave 3: VpcCRoutes\n"
        );
    }

    #[test]
    fn agnostic_stacks_are_shown_as_taken_from_the_credentials_and_the_configuration() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/assembly-agnostic");
        let plan = crate::source::cdk::stages::load_plan(&dir).unwrap();
        let matrix = serde_json::to_string(&Matrix::of(&plan)).unwrap();
        assert!(
            matrix.starts_with(r#"{"wave_count":2,"waves":[{"include":[{"account":null,"account_from":"credentials","region":null,"region_from":"configuration","stack":"Producer","stage":"Producer"},{"account":null,"account_from":"credentials","region":"us-east-1","stack":"Edge","stage":"Edge"}]}"#),
            "{matrix}"
        );
        let json = serde_json::to_value(Listing::of(&plan)).unwrap();
        assert_eq!(json["stages"][1]["stack"], "agnostic-consumer");
        assert_eq!(json["stages"][1]["account"], serde_json::Value::Null);
        assert!(json["stages"][2].get("region_from").is_none());
        let text = listing_text(&plan);
        assert!(
            text.contains(
                "Producer  account of the credentials  region of the configuration  Producer"
            ),
            "{text}"
        );
        assert!(
            text.contains("  arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-deploy-role-${AWS::AccountId}-${AWS::Region}\n"),
            "{text}"
        );
        assert!(
            text.contains("account of the credentials  us-east-1"),
            "{text}"
        );
    }

    #[test]
    fn the_listing_names_stages_dependencies_and_roles_in_key_order() {
        let plan = reference();
        let json = serde_json::to_string(&Listing::of(&plan)).unwrap();
        let peering = json
            .split(r#"{"account""#)
            .find(|s| s.contains(r#""stage":"CrossAccountPeering""#))
            .unwrap();
        assert!(
            peering.starts_with(r#":"111111111111","assets":[],"depends_on":["VpcA","VpcC"],"deploy_role":"arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-ap-northeast-1","execution_role":"#),
            "{peering}"
        );
        assert!(
            json.ends_with(r#""waves":[["VpcA","VpcC"],["CrossAccountPeering"],["VpcCRoutes"]]}"#),
            "{json}"
        );
        let text = listing_text(&plan);
        assert!(
            text.contains("\n2     CrossAccountPeering  111111111111 (A)  ap-northeast-1  CrossAccountPeering  VpcA, VpcC\n"),
            "{text}"
        );
        assert!(
            text.contains("\nVerification:\n  A → B (expect Reachable)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_stack_that_names_no_role_is_listed_with_the_credentials_in_use() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let legacy = crate::source::cdk::stages::load_plan(&dir.join("assembly-legacy")).unwrap();
        let json = serde_json::to_value(Listing::of(&legacy)).unwrap();
        let stage = &json["stages"][0];
        assert_eq!(stage["deploy_role"], serde_json::Value::Null);
        assert_eq!(stage["execution_role"], serde_json::Value::Null);
        assert_eq!(stage["lookup_role"], serde_json::Value::Null);
        assert_eq!(stage["assets"], serde_json::json!(["LegacyStack"]));
        let text = listing_text(&legacy);
        assert!(!text.contains("arn:"), "{text}");

        let staged = crate::source::cdk::stages::load_plan(&dir.join("assembly-staged")).unwrap();
        let json = serde_json::to_value(Listing::of(&staged)).unwrap();
        let api = json["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "BetaApiE5F6A7B8")
            .unwrap();
        assert_eq!(api["hierarchical_id"], "Beta/Api");
        assert!(
            api["deploy_role"]
                .as_str()
                .unwrap()
                .contains("deploy-role-222222222222")
        );
        // Stage files have no hierarchical ids: the key is left out.
        let file = serde_json::to_string(&Listing::of(&reference())).unwrap();
        assert!(!file.contains("hierarchical_id"), "{file}");
    }
}
