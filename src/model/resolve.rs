//! Environment-agnostic stages placed once, before a run: the plan a source produces places each
//! stage in a `StackEnv` (a cloud assembly stack may leave its account to the credentials and
//! its region to the configuration, as `cdk deploy` allows); the command layer resolves it once,
//! with the account of the identity check and the configured region, into the plan every stage
//! task uses. What the assembly left as `${AWS::AccountId}` / `${AWS::Region}` /
//! `${AWS::Partition}` (role ARNs, asset buckets, the template URL, the bootstrap parameter) is
//! filled here, and the bootstrap convention's roles are those of the resolved environment.

use std::convert::Infallible;

use super::assets::AssetTarget;
use super::env::{Environment, RunDefaults, StackEnv, fill_placeholders};
use super::plan::{Plan, Stage};
use super::roles::{BootstrapRole, RoleRef, StageRoles};

/// Why a plan cannot be placed: stages leave a part of their environment to the run that it
/// does not know (no region configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unplaced {
    pub(crate) stages: Vec<String>,
}

/// The bootstrap convention's roles for `qualifier` in `env`, the parts left to the run kept as
/// the CDK's placeholders (what its synthesizer writes for such a stack).
pub(crate) fn placeholder_roles(qualifier: &str, env: &StackEnv) -> StageRoles {
    match env.pinned() {
        Some(env) => StageRoles::conventional(qualifier, &env),
        None => {
            let role = |kind: BootstrapRole| {
                RoleRef {
                arn: env.fill(&format!(
                    "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-{qualifier}-{}-role-${{AWS::AccountId}}-${{AWS::Region}}",
                    kind.short_name()
                )),
                kind,
                conventional: true,
            }
            };
            StageRoles {
                deploy: role(BootstrapRole::Deploy),
                lookup: role(BootstrapRole::Lookup),
                file_publishing: role(BootstrapRole::FilePublishing),
                cfn_exec: role(BootstrapRole::CfnExec),
            }
        }
    }
}

impl Plan<StackEnv> {
    /// Whether any stage leaves a part of its environment to the run.
    pub(crate) fn has_agnostic_stages(&self) -> bool {
        self.stages.iter().any(|s| s.env.is_agnostic())
    }

    /// The plan of a source whose stages all have fixed environments (a stage file's).
    pub(crate) fn from_pinned(plan: Plan) -> Plan<StackEnv> {
        let placed: Result<_, Infallible> = plan.try_map_stages(|s| Ok(s.map_env(StackEnv::from)));
        match placed {
            Ok(plan) => plan,
        }
    }

    /// The plan ready to run: every stage in a fixed environment, the open parts taken from
    /// `defaults`. Fails, naming the stages, when a part they need is not known.
    pub(crate) fn resolve(self, defaults: &RunDefaults) -> Result<Plan, Unplaced> {
        let missing: Vec<String> = self
            .stages
            .iter()
            .filter(|s| s.env.resolve(defaults).is_none())
            .map(|s| s.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(Unplaced { stages: missing });
        }
        let qualifier = self.qualifier.clone();
        self.try_map_stages(|s| match s.env.resolve(defaults) {
            Some(env) => Ok(place(s, env, &qualifier)),
            None => Err(Unplaced {
                stages: vec![s.name.clone()],
            }),
        })
    }
}

/// `stage` (its fixed parts those of `env`) placed in `env`: its placeholders filled, its roles
/// those of `env`. A stage whose environment was fixed is unchanged.
pub(crate) fn place(stage: Stage<StackEnv>, env: Environment, qualifier: &str) -> Stage {
    if !stage.env.is_agnostic() {
        return stage.map_env(|_| env);
    }
    let account_from_credentials = stage.env.account.is_none();
    let fill = |v: &str| fill_placeholders(v, Some(&env.account), Some(&env.region));
    let mut stage = stage.map_env(|_| env.clone());
    if account_from_credentials {
        stage.account_alias = env.account.to_string();
    }
    let conventional = StageRoles::conventional(qualifier, &env);
    for kind in [
        BootstrapRole::Deploy,
        BootstrapRole::Lookup,
        BootstrapRole::FilePublishing,
        BootstrapRole::CfnExec,
    ] {
        let arn = fill(&stage.roles.get(kind).arn);
        let slot = match kind {
            BootstrapRole::Deploy => &mut stage.roles.deploy,
            BootstrapRole::Lookup => &mut stage.roles.lookup,
            BootstrapRole::FilePublishing => &mut stage.roles.file_publishing,
            BootstrapRole::CfnExec => &mut stage.roles.cfn_exec,
        };
        slot.conventional = arn == conventional.get(kind).arn;
        slot.arn = arn;
    }
    stage.overrides.template_url = stage.overrides.template_url.as_deref().map(fill);
    if let Some((parameter, _)) = &mut stage.overrides.bootstrap_version {
        *parameter = fill(parameter);
    }
    for asset in &mut stage.assets {
        if let AssetTarget::Destinations(destinations) = &mut asset.target {
            for d in destinations {
                d.region = fill(&d.region);
                let fill = |v: &str| fill_placeholders(v, Some(&env.account), Some(&d.region));
                d.bucket = fill(&d.bucket);
                d.key = fill(&d.key);
                d.role_arn = d.role_arn.as_deref().map(fill);
            }
        }
    }
    stage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assets::{AssetSpec, Destination, Packaging};
    use crate::model::env::{AccountId, Region};
    use crate::model::template;

    fn agnostic_stage(env: &str) -> Stage<StackEnv> {
        let env = StackEnv::parse_url(env).unwrap();
        let roles = placeholder_roles("hnb659fds", &env);
        let template = template::parse(
            std::path::Path::new("t.json"),
            r#"{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}"#.into(),
        )
        .unwrap();
        let mut stage = Stage::new("Api", env, template, roles);
        stage.overrides.template_url =
            Some("s3://cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}/t.json".into());
        stage.overrides.bootstrap_version = Some(("/cdk-bootstrap/hnb659fds/version".into(), 6));
        stage.assets.push(AssetSpec {
            name: "code".into(),
            source: "a".into(),
            root: "/".into(),
            packaging: Packaging::Zip,
            target: AssetTarget::Destinations(vec![Destination {
                bucket: "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}".into(),
                key: "k.zip".into(),
                region: "${AWS::Region}".into(),
                role_arn: Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/pub".into()),
            }]),
        });
        stage
    }

    fn defaults(region: Option<&str>) -> RunDefaults {
        RunDefaults {
            account: Some(AccountId::new("111111111111").unwrap()),
            region: region.map(|r| Region::new(r).unwrap()),
        }
    }

    fn plan(stages: Vec<Stage<StackEnv>>) -> Plan<StackEnv> {
        Plan {
            file: "cdk.out/manifest.json".into(),
            qualifier: "hnb659fds".into(),
            stages,
            waves: vec![vec![0]],
            peerings: Vec::new(),
            checks: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn an_agnostic_stage_is_placed_with_the_callers_account_and_the_configured_region() {
        let unplaced = plan(vec![agnostic_stage("aws://unknown-account/unknown-region")]);
        assert!(unplaced.has_agnostic_stages());
        assert_eq!(unplaced.stages[0].account_alias, "credentials");
        assert!(
            unplaced.stages[0]
                .roles
                .deploy
                .arn
                .contains("${AWS::AccountId}")
        );
        let placed = unplaced.resolve(&defaults(Some("ap-northeast-1"))).unwrap();
        let s = &placed.stages[0];
        assert_eq!(s.env.to_string(), "aws://111111111111/ap-northeast-1");
        assert_eq!(s.account_alias, "111111111111");
        assert_eq!(
            s.roles.deploy,
            RoleRef {
                arn: "arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-ap-northeast-1".into(),
                kind: BootstrapRole::Deploy,
                conventional: true,
            }
        );
        assert_eq!(
            s.overrides.template_url.as_deref(),
            Some("s3://cdk-hnb659fds-assets-111111111111-ap-northeast-1/t.json")
        );
        let AssetTarget::Destinations(d) = &s.assets[0].target else {
            panic!("destinations")
        };
        assert_eq!(
            d[0].bucket,
            "cdk-hnb659fds-assets-111111111111-ap-northeast-1"
        );
        assert_eq!(d[0].region, "ap-northeast-1");
        assert_eq!(
            d[0].role_arn.as_deref(),
            Some("arn:aws:iam::111111111111:role/pub")
        );
    }

    #[test]
    fn a_fixed_region_stays_and_a_missing_region_names_the_stages() {
        let us = plan(vec![agnostic_stage("aws://unknown-account/us-east-1")]);
        assert!(
            us.stages[0]
                .roles
                .lookup
                .arn
                .starts_with("arn:aws:iam::${AWS::AccountId}:")
        );
        let placed = us.resolve(&defaults(None)).unwrap();
        assert_eq!(
            placed.stages[0].env.to_string(),
            "aws://111111111111/us-east-1"
        );
        assert!(
            placed.stages[0]
                .roles
                .lookup
                .arn
                .ends_with("-111111111111-us-east-1")
        );
        let open = plan(vec![agnostic_stage("aws://unknown-account/unknown-region")]);
        assert_eq!(
            open.resolve(&defaults(None)).unwrap_err(),
            Unplaced {
                stages: vec!["Api".into()]
            }
        );
    }

    #[test]
    fn a_role_the_assembly_names_stays_unconventional_and_pinned_stages_are_untouched() {
        let mut stage = agnostic_stage("aws://unknown-account/unknown-region");
        stage.roles = stage.roles.with(
            BootstrapRole::Deploy,
            Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/custom"),
        );
        let placed = place(
            stage,
            Environment::new("222222222222", "eu-west-1").unwrap(),
            "hnb659fds",
        );
        assert_eq!(
            placed.roles.deploy.arn,
            "arn:aws:iam::222222222222:role/custom"
        );
        assert!(!placed.roles.deploy.conventional);
        assert!(placed.roles.cfn_exec.conventional);
        let pinned = agnostic_stage("aws://333333333333/eu-west-1");
        let roles = pinned.roles.clone();
        let placed = plan(vec![pinned]).resolve(&defaults(None)).unwrap();
        assert_eq!(placed.stages[0].roles, roles);
        assert_eq!(placed.stages[0].env.account, "333333333333");
    }
}
