//! What every stage task of one run shares: the plan, AWS access, the reporter, the outputs
//! known so far, and the bootstrap versions already read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::sync::OnceCell;

use crate::aws::Aws;
use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, fail_fix};
use crate::model::env::Environment;
use crate::model::plan::{Plan, Stage};
use crate::model::roles::{
    BootstrapRole, MIN_BOOTSTRAP_VERSION, StageRoles, bootstrap_version_parameter, trust_fix,
};
use crate::progress::Reporter;
use crate::run::stack::{self, Approval};

#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// Stages to run; the others are only read (their outputs come from CloudFormation).
    pub(crate) selected: Vec<usize>,
    pub(crate) concurrency: usize,
    /// Deadline of each stage (`--stage-timeout`).
    pub(crate) stage_timeout: std::time::Duration,
    pub(crate) approval: Approval,
    /// Execute change sets without rollback (`deploy --no-rollback`).
    pub(crate) no_rollback: bool,
}

/// (environment, SSM parameter holding its bootstrap version).
type VersionKey = (Environment, String);

/// Shared by every stage task of one run.
pub(crate) struct Context {
    pub(crate) plan: Arc<Plan>,
    pub(crate) aws: Arc<Aws>,
    pub(crate) reporter: Arc<Reporter>,
    outputs: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// Bootstrap version per (environment, SSM parameter), read once per run.
    versions: Mutex<HashMap<VersionKey, Arc<OnceCell<u32>>>>,
}

impl Context {
    pub(crate) fn new(plan: Arc<Plan>, aws: Arc<Aws>, reporter: Arc<Reporter>) -> Arc<Context> {
        Arc::new(Context {
            plan,
            aws,
            reporter,
            outputs: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
        })
    }

    /// Outputs of `stage`: from this run when it ran, else read from CloudFormation through the
    /// lookup role of its account (read-only, as the credential plugin's read mode).
    pub(crate) async fn outputs_of(&self, stage: &Stage) -> Result<BTreeMap<String, String>> {
        if let Some(o) = self.outputs.lock().unwrap().get(&stage.name) {
            return Ok(o.clone());
        }
        let cfg = self
            .stage_role(
                stage,
                BootstrapRole::Lookup,
                &format!("read the outputs of stage {}", stage.name),
            )
            .await?;
        let cfn = self.aws.cloudformation(&cfg);
        let found = stack::describe(&cfn, &stage.stack_name).await?;
        let outputs = match found {
            Some(s)
                if !stack::status_of(&s).starts_with("ROLLBACK")
                    && !stack::status_of(&s).ends_with("_FAILED") =>
            {
                let outputs = stack::outputs_of(&s);
                crate::run::secrets::mask_secret_outputs(&self.reporter, stage, &outputs);
                outputs
            }
            Some(s) => {
                return Err(fail_fix(
                    ExitKind::Deploy,
                    format!(
                        "stage {} (stack {} in {}) is {}: its outputs cannot be used",
                        stage.name,
                        stage.stack_name,
                        stage.env,
                        stack::status_of(&s),
                    ),
                    deploy_first(stage),
                ));
            }
            None => {
                return Err(fail_fix(
                    ExitKind::Deploy,
                    format!(
                        "stage {} is not deployed (no stack {} in {}), and a later stage needs its outputs",
                        stage.name, stage.stack_name, stage.env
                    ),
                    deploy_first(stage),
                ));
            }
        };
        self.outputs
            .lock()
            .unwrap()
            .insert(stage.name.clone(), outputs.clone());
        Ok(outputs)
    }

    /// A configuration acting as `stage`'s role of `kind` (resolved in the plan: the bootstrap
    /// convention, or what its cloud assembly names), for `purpose` (named in errors). A stack
    /// whose manifest names no deploy role (legacy synthesizer) is deployed with the credentials
    /// in use, as the CDK does: they must be of its account.
    pub(crate) async fn stage_role(
        &self,
        stage: &Stage,
        kind: BootstrapRole,
        purpose: &str,
    ) -> Result<aws_config::SdkConfig> {
        if stage.overrides.caller_credentials {
            let caller = self.aws.caller().await?;
            if caller.account != stage.env.account.to_string() {
                return Err(fail_fix(
                    ExitKind::Credentials,
                    format!(
                        "stack {} names no role to assume (legacy stack synthesizer), so it is deployed with the credentials in use, as the CDK does; they are of account {}, not {} (needed to {purpose})",
                        stage.stack_name, caller.account, stage.env.account
                    ),
                    format!(
                        "run with credentials of account {}, or synthesize the stack with the default stack synthesizer (DefaultStackSynthesizer) so that it names the bootstrap roles",
                        stage.env.account
                    ),
                ));
            }
            return Ok(self.aws.base_in(&stage.env.region));
        }
        self.aws
            .role(
                stage.roles.get(kind),
                &stage.env,
                &self.plan.qualifier,
                purpose,
            )
            .await
    }

    pub(crate) fn record_outputs(&self, stage: &str, outputs: BTreeMap<String, String>) {
        self.outputs
            .lock()
            .unwrap()
            .insert(stage.to_string(), outputs);
    }

    /// Checks the bootstrap version of an environment once per run, as the CDK does before deploying.
    pub(crate) async fn check_bootstrap(
        &self,
        stage: &Stage,
        cfg: &aws_config::SdkConfig,
    ) -> Result<u32> {
        let env = &stage.env;
        let (name, minimum) = stage
            .overrides
            .bootstrap_version
            .clone()
            .unwrap_or_else(|| {
                (
                    bootstrap_version_parameter(&self.plan.qualifier),
                    MIN_BOOTSTRAP_VERSION,
                )
            });
        let cell = self
            .versions
            .lock()
            .unwrap()
            .entry((env.clone(), name.clone()))
            .or_default()
            .clone();
        let v = cell
            .get_or_try_init(|| async {
                // Read once per environment and run; the fix is built only then.
                let caller = self.aws.caller().await.ok().map(|c| c.account.clone());
                let fix = trust_fix(
                    &StageRoles::conventional(&self.plan.qualifier, env).deploy,
                    env,
                    caller.as_deref(),
                    &self.plan.qualifier,
                );
                let out = self
                    .aws
                    .ssm(cfg)
                    .get_parameter()
                    .name(&name)
                    .send()
                    .await
                    .map_err(|e| {
                        let not_found = e
                            .as_service_error()
                            .is_some_and(|se| se.is_parameter_not_found());
                        let msg = if not_found {
                            format!("{env} is not bootstrapped: SSM parameter {name} not found")
                        } else {
                            format!(
                                "cannot read the bootstrap version of {env} ({name}): {}",
                                describe_sdk_error(&e)
                            )
                        };
                        fail_fix(ExitKind::Credentials, msg, fix.clone())
                    })?;
                let value = out
                    .parameter()
                    .and_then(|p| p.value())
                    .unwrap_or_default()
                    .to_string();
                let version: u32 = value.trim().parse().map_err(|_| {
                    fail_fix(
                        ExitKind::Credentials,
                        format!(
                            "the bootstrap version of {env} ({name}) is '{value}', not a number"
                        ),
                        format!("re-run pipeline-run bootstrap for {env}"),
                    )
                })?;
                Ok::<u32, anyhow::Error>(version)
            })
            .await?;
        if *v < minimum {
            return Err(fail_fix(
                ExitKind::Credentials,
                format!(
                    "{env} has bootstrap version {v} ({name}); stage {} needs at least {minimum}",
                    stage.name
                ),
                format!("re-run pipeline-run bootstrap (or cdk bootstrap) for {env}"),
            ));
        }
        Ok(*v)
    }
}

/// The fix when a later stage needs the outputs of `stage`, which is not (usably) deployed.
fn deploy_first(stage: &Stage) -> String {
    format!("deploy it first: pipeline-run deploy {}", stage.name)
}
