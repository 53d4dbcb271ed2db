//! The validated plan both sources (stage file, cloud assembly) produce: stages with their
//! environments, resolved roles, templates, parameters and assets, the dependency waves, the
//! peerings and the network checks. No I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::assets::{AssetLocation, AssetSpec, LegacyAsset};
use super::env::{Environment, StackEnv};
use super::roles::StageRoles;
use super::stack_refs::StackRefUse;
use super::template::Template;

/// A piece of a parameter value: literal text, or another stage's output read at deploy time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Output {
        stage: String,
        output: String,
    },
    /// `${assets.NAME.ATTR}`: where an asset of the same stage was published.
    Asset {
        name: String,
        attr: String,
    },
}

/// A value that may contain `${Stage.Output}` references.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueExpr(pub Vec<Piece>);

impl ValueExpr {
    pub(crate) fn literal(s: impl Into<String>) -> Self {
        ValueExpr(vec![Piece::Text(s.into())])
    }

    pub(crate) fn references(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|p| match p {
            Piece::Output { stage, output } => Some((stage.as_str(), output.as_str())),
            Piece::Text(_) | Piece::Asset { .. } => None,
        })
    }

    /// `(name, attribute)` of every `${assets.NAME.ATTR}` in the value.
    pub(crate) fn asset_references(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|p| match p {
            Piece::Asset { name, attr } => Some((name.as_str(), attr.as_str())),
            _ => None,
        })
    }

    /// Resolves against the outputs of earlier stages. Every reference was validated, so a miss
    /// here means the deployed stack lacks an output its template declares.
    #[cfg(test)]
    pub(crate) fn resolve(
        &self,
        outputs: &HashMap<String, BTreeMap<String, String>>,
    ) -> Result<String, String> {
        self.resolve_with_assets(outputs, &BTreeMap::new())
    }

    /// As `resolve`, with the locations of the stage's published assets.
    pub(crate) fn resolve_with_assets(
        &self,
        outputs: &HashMap<String, BTreeMap<String, String>>,
        assets: &BTreeMap<String, AssetLocation>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Asset { name, attr } => {
                    let value = assets
                        .get(name)
                        .and_then(|l| l.attribute(attr))
                        .ok_or_else(|| format!("asset '{name}' was not published"))?;
                    out.push_str(&value);
                }
                Piece::Output { stage, output } => {
                    let value =
                        outputs
                            .get(stage)
                            .and_then(|o| o.get(output))
                            .ok_or_else(|| {
                                format!(
                                    "stage '{stage}' has no output '{output}' in CloudFormation"
                                )
                            })?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }
}

/// A stage; `E` is where it deploys: an `Environment` in a plan ready to run, a `StackEnv`
/// (parts possibly left to the run) in the plan a source produces (see `model::resolve`).
#[derive(Debug, Clone)]
pub(crate) struct Stage<E = Environment> {
    pub(crate) name: String,
    pub(crate) env: E,
    pub(crate) account_alias: String,
    pub(crate) stack_name: String,
    pub(crate) template: Template,
    pub(crate) parameters: BTreeMap<String, ValueExpr>,
    pub(crate) tags: BTreeMap<String, String>,
    /// Indices of the stages this one waits for (explicit `depends_on` plus references).
    pub(crate) depends_on: Vec<usize>,
    pub(crate) publish_outputs: BTreeMap<String, String>,
    /// Outputs whose values are secrets (stage-file `secret_outputs:`): masked as soon as they
    /// are read, redacted from every report, published as `SecureString`.
    pub(crate) secret_outputs: BTreeSet<String>,
    pub(crate) termination_protection: bool,
    /// Rollback triggers (stage-file `rollback_alarms:`, `monitoring_minutes:`).
    pub(crate) rollback_alarms: Vec<String>,
    pub(crate) monitoring_minutes: Option<u32>,
    pub(crate) line: Option<usize>,
    /// Published before the stack deploys (stage-file `assets:`, or a cloud assembly's files).
    pub(crate) assets: Vec<AssetSpec>,
    /// The roles every call for this stage is made through: the bootstrap convention, or what
    /// its cloud assembly names.
    pub(crate) roles: StageRoles,
    /// What a cloud assembly fixes instead of the qualifier's conventions.
    pub(crate) overrides: StageOverrides,
    /// A cloud assembly stack's hierarchical id (`Beta/Api`, as `cdk ls` prints it: its path
    /// through nested assemblies); None for stage files.
    pub(crate) hierarchical_id: Option<String>,
    /// The template has no resources (a cloud assembly's `{}` or outputs-only stack): never
    /// deployed, and deleted when the stack exists, as `cdk deploy` does.
    pub(crate) no_resources: bool,
    /// Legacy-synthesizer assets: published to the toolkit stack's bucket, their location passed
    /// in the template parameters they name.
    pub(crate) legacy_assets: Vec<LegacyAsset>,
    /// The template's `Fn::GetStackOutput` uses, linked to the plan (`stack_refs::link`).
    pub(crate) stack_refs: Vec<StackRefUse>,
}

/// What a stage's account is called where no alias names it: its id, or (left to the run) the
/// account of the credentials.
pub(crate) trait AccountLabel {
    fn account_label(&self) -> String;
}

impl AccountLabel for Environment {
    fn account_label(&self) -> String {
        self.account.to_string()
    }
}

impl AccountLabel for StackEnv {
    fn account_label(&self) -> String {
        match &self.account {
            Some(id) => id.to_string(),
            None => "credentials".to_string(),
        }
    }
}

impl<E: AccountLabel> Stage<E> {
    /// The one place a stage is made: stage `name` deploys `template` to `env` through `roles`
    /// as stack `name`, its account shown by its id, with nothing else yet. Each source then
    /// sets what it knows (`Stage { tags, ..Stage::new(..) }`), so a new field needs a default
    /// here and a value only in the source that has one.
    pub(crate) fn new(name: &str, env: E, template: Template, roles: StageRoles) -> Stage<E> {
        Stage {
            name: name.to_string(),
            account_alias: env.account_label(),
            stack_name: name.to_string(),
            env,
            template,
            parameters: BTreeMap::new(),
            tags: BTreeMap::new(),
            depends_on: Vec::new(),
            publish_outputs: BTreeMap::new(),
            secret_outputs: BTreeSet::new(),
            termination_protection: false,
            rollback_alarms: Vec::new(),
            monitoring_minutes: None,
            line: None,
            assets: Vec::new(),
            roles,
            overrides: StageOverrides::default(),
            hierarchical_id: None,
            no_resources: false,
            legacy_assets: Vec::new(),
            stack_refs: Vec::new(),
        }
    }
}

impl<E> Stage<E> {
    /// The same stage placed by `f` (every other field kept as it is).
    pub(crate) fn map_env<F>(self, f: impl FnOnce(E) -> F) -> Stage<F> {
        Stage {
            name: self.name,
            env: f(self.env),
            account_alias: self.account_alias,
            stack_name: self.stack_name,
            template: self.template,
            parameters: self.parameters,
            tags: self.tags,
            depends_on: self.depends_on,
            publish_outputs: self.publish_outputs,
            secret_outputs: self.secret_outputs,
            termination_protection: self.termination_protection,
            rollback_alarms: self.rollback_alarms,
            monitoring_minutes: self.monitoring_minutes,
            line: self.line,
            assets: self.assets,
            roles: self.roles,
            overrides: self.overrides,
            hierarchical_id: self.hierarchical_id,
            no_resources: self.no_resources,
            stack_refs: self.stack_refs,
            legacy_assets: self.legacy_assets,
        }
    }
}

/// Per-stage replacements for the bootstrap conventions (other than roles), taken from a cloud
/// assembly manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StageOverrides {
    /// `stackTemplateAssetObjectUrl`: deploy by TemplateURL from here (published as an asset).
    pub(crate) template_url: Option<String>,
    /// `bootstrapStackVersionSsmParameter` and `requiresBootstrapStackVersion`.
    pub(crate) bootstrap_version: Option<(String, u32)>,
    /// The manifest names no deploy role (legacy synthesizer, `CliCredentialsStackSynthesizer`):
    /// every call for the stage uses the credentials in use, which must be of its account, as the
    /// CDK does; no role is assumed.
    pub(crate) caller_credentials: bool,
    /// The manifest names no CloudFormation execution role: the change set gets no RoleARN.
    pub(crate) no_execution_role: bool,
    /// `notificationArns`: the SNS topics the change set gives CloudFormation for stack events.
    pub(crate) notification_arns: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct PeeringPlan {
    /// (stage, output) holding the connection id.
    pub(crate) connection: Option<(String, String)>,
    pub(crate) allow_dns_resolution: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Expectation {
    Reachable,
    Unreachable,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Ip(Ipv4Addr),
    Output { stage: String, output: String },
}

#[derive(Debug, Clone)]
pub(crate) struct CheckPlan {
    pub(crate) name: String,
    /// The stage whose output names the source instance (its account runs the command).
    pub(crate) from_stage: String,
    pub(crate) from_output: String,
    pub(crate) to: Target,
    pub(crate) expect: Expectation,
    pub(crate) count: u32,
    pub(crate) timeout_seconds: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan<E = Environment> {
    pub(crate) file: PathBuf,
    pub(crate) qualifier: String,
    pub(crate) stages: Vec<Stage<E>>,
    /// Dependency waves: every stage of a wave only depends on earlier waves.
    pub(crate) waves: Vec<Vec<usize>>,
    pub(crate) peerings: Vec<PeeringPlan>,
    pub(crate) checks: Vec<CheckPlan>,
    /// What the source noticed but accepted (a cloud assembly schema newer than pipeline-run
    /// knows), printed as warnings before anything runs.
    pub(crate) warnings: Vec<String>,
}

impl<E> Plan<E> {
    pub(crate) fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// The same plan with every stage placed by `f` (stages, order and checks kept).
    pub(crate) fn try_map_stages<F, X>(
        self,
        mut f: impl FnMut(Stage<E>) -> Result<Stage<F>, X>,
    ) -> Result<Plan<F>, X> {
        Ok(Plan {
            file: self.file,
            qualifier: self.qualifier,
            stages: self
                .stages
                .into_iter()
                .map(&mut f)
                .collect::<Result<_, X>>()?,
            waves: self.waves,
            peerings: self.peerings,
            checks: self.checks,
            warnings: self.warnings,
        })
    }
}

impl Plan {
    /// The roles for calls in `env` that belong to no single stage (the other side of a
    /// peering, network verification): those of the first stage deployed there, so the roles a
    /// cloud assembly names are used, else the bootstrap convention.
    pub(crate) fn roles_in(&self, env: &Environment) -> StageRoles {
        self.stages
            .iter()
            .find(|s| &s.env == env)
            .map(|s| s.roles.clone())
            .unwrap_or_else(|| StageRoles::conventional(&self.qualifier, env))
    }

    /// Every environment the stages deploy to, without duplicates.
    pub(crate) fn environments(&self) -> Vec<Environment> {
        let set: BTreeSet<Environment> = self.stages.iter().map(|s| s.env.clone()).collect();
        set.into_iter().collect()
    }
}
