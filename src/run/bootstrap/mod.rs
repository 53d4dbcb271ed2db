//! `pipeline-run bootstrap`: deploys `bootstrap/bootstrap-template.yaml` as the CDKToolkit stack
//! of each environment — the staging bucket, the deploy, file-publishing, lookup and
//! CloudFormation execution roles trusting the CI account, and the version parameter — over an
//! existing bootstrap (the CDK's or pipeline-run's) without downgrading or dropping anything of it
//! (`existing`).

mod existing;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::aws::Aws;
use crate::error::{ExitKind, fail, with_fix};
use crate::model::env::{EnvError, Environment, is_account_id};
use crate::model::roles::is_qualifier;
#[cfg(test)]
use crate::model::roles::{DEFAULT_ACCESS_ROLE, DEFAULT_TOOLKIT_STACK};
use crate::progress::{Reporter, StageProgress};
use crate::run::outcome::{StageReport, StageState};
use crate::run::stack::{self, Approval, Mode, StackSpec, TemplateSource};
use existing::{Existing, check_upgrade, declared_parameters, toolkit_parameters};

/// The template deployed (and printed by `bootstrap --show-template`).
pub(crate) const TEMPLATE: &str = include_str!("../../../bootstrap/bootstrap-template.yaml");

#[derive(Debug, Clone)]
pub(crate) struct BootstrapOptions {
    pub(crate) trust: Vec<String>,
    pub(crate) trust_for_lookup: Vec<String>,
    /// Accounts whose stacks may read this account's outputs (`Fn::GetStackOutput`).
    pub(crate) trust_for_stack_refs: Vec<String>,
    pub(crate) execution_policies: Vec<String>,
    pub(crate) qualifier: String,
    pub(crate) toolkit_stack_name: String,
    pub(crate) access_role_name: String,
    pub(crate) environments: Vec<Environment>,
    /// `aws://` arguments whose account or region is invalid, reported with the other problems.
    pub(crate) bad_environments: Vec<String>,
    /// Replace a bootstrap of a higher version or another variant (`--force`).
    pub(crate) force: bool,
}

/// Checks the options before any AWS call, with the CDK's rules.
pub(crate) fn validate(opts: &BootstrapOptions) -> Result<()> {
    let mut problems = Vec::new();
    for a in opts
        .trust
        .iter()
        .chain(&opts.trust_for_lookup)
        .chain(&opts.trust_for_stack_refs)
    {
        if !is_account_id(a) {
            problems.push(format!("'{a}' is not an AWS account id (12 digits) — fix the --trust/--trust-for-lookup/--trust-for-stack-refs list"));
        }
    }
    for p in &opts.execution_policies {
        if !p.starts_with("arn:") || !p.contains(":policy/") {
            problems.push(format!("'{p}' is not a managed policy ARN — use e.g. arn:aws:iam::aws:policy/AdministratorAccess"));
        }
    }
    if !is_qualifier(&opts.qualifier) {
        problems.push(format!(
            "qualifier '{}' is invalid — use 1 to 10 characters from A-Z a-z 0-9 _ -",
            opts.qualifier
        ));
    }
    for env in &opts.bad_environments {
        problems.push(format!(
            "{env} is not a valid environment — write aws://<12-digit account>/<region>"
        ));
    }
    if opts.environments.is_empty() && opts.bad_environments.is_empty() {
        problems.push("no environment to bootstrap — name one (aws://ACCOUNT/REGION) or pass a stage file with -f".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(
            ExitKind::Validation,
            format!("bootstrap: {}", problems.join("\n  ")),
        ))
    }
}

/// Parses `aws://ACCOUNT/REGION` arguments. A malformed one stops at once; one whose account or
/// region is invalid is returned in the second list, to be reported with the other problems.
pub(crate) fn parse_environments(args: &[String]) -> Result<(Vec<Environment>, Vec<String>)> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for s in args {
        match Environment::parse_url(s) {
            Ok(env) => good.push(env),
            Err(EnvError::NotAnEnvironment) => {
                return Err(fail(
                    ExitKind::Validation,
                    format!(
                        "'{s}' is not an environment — write aws://ACCOUNT/REGION, e.g. aws://222222222222/ap-northeast-1"
                    ),
                ));
            }
            Err(EnvError::NoRegion) => {
                return Err(fail(
                    ExitKind::Validation,
                    format!("'{s}' has no region — write aws://ACCOUNT/REGION"),
                ));
            }
            Err(_) => bad.push(s.clone()),
        }
    }
    Ok((good, bad))
}

pub(crate) async fn bootstrap(
    aws: Arc<Aws>,
    reporter: Arc<Reporter>,
    opts: BootstrapOptions,
) -> Vec<StageReport> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut index_of = std::collections::HashMap::new();
    for (i, env) in opts.environments.iter().cloned().enumerate() {
        let (aws, reporter, opts) = (aws.clone(), reporter.clone(), opts.clone());
        let task = tasks.spawn(async move { bootstrap_one(&aws, &reporter, &opts, &env).await });
        index_of.insert(task.id(), i);
    }
    let mut reports: Vec<(usize, StageReport)> = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((id, report)) => reports.push((index_of[&id], report)),
            // A task that panicked still has its environment reported, as failed.
            Err(e) => {
                let i = index_of[&e.id()];
                let env = &opts.environments[i];
                let mut report = failed_report(&opts, env, 0.0);
                report.error = Some(format!("the bootstrap of {env} stopped unexpectedly: {e}"));
                report.exit_code = ExitKind::Deploy.code();
                reporter.error(report.error.as_deref().unwrap_or_default(), None, None);
                reports.push((i, report));
            }
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// The report of `env` before its outcome is known: failed, nothing changed.
fn failed_report(opts: &BootstrapOptions, env: &Environment, seconds: f64) -> StageReport {
    StageReport {
        stage: env.to_string(),
        account: env.account.to_string(),
        region: env.region.to_string(),
        stack: opts.toolkit_stack_name.clone(),
        status: StageState::Failed,
        stack_status: None,
        changes: 0,
        change_set_executed: false,
        change_list: Vec::new(),
        outputs: BTreeMap::new(),
        secret_outputs: Default::default(),
        duration_seconds: seconds,
        error: None,
        assets: None,
        exit_code: 0,
        diff: None,
    }
}

async fn bootstrap_one(
    aws: &Aws,
    reporter: &Arc<Reporter>,
    opts: &BootstrapOptions,
    env: &Environment,
) -> StageReport {
    let started = Instant::now();
    let progress = reporter.stage(
        &env.to_string(),
        &format!("stack {}", opts.toolkit_stack_name),
    );
    let result = deploy_toolkit(aws, opts, env, &progress).await;
    let mut report = failed_report(opts, env, started.elapsed().as_secs_f64());
    match result {
        Ok(outcome) => {
            report.status = if outcome.no_changes {
                StageState::NoChanges
            } else {
                StageState::Deployed
            };
            report.stack_status = Some(outcome.status.clone());
            report.changes = outcome.changes.len();
            report.change_set_executed = outcome.executed;
            report.outputs = outcome.outputs;
            progress.finish(
                if outcome.no_changes {
                    "no changes"
                } else {
                    "bootstrapped"
                },
                true,
            );
        }
        Err(e) => {
            report.exit_code = crate::error::exit_code_of(&e);
            report.error = Some(format!("{e:#}"));
            progress.finish("FAILED", false);
            reporter.error(&format!("bootstrap of {env} failed: {e:#}"), None, None);
        }
    }
    report
}

/// Deploys the toolkit stack of `env` over what is there: refused when that is newer or another
/// variant (unless `--force`), keeping its parameters, trust and termination protection.
async fn deploy_toolkit(
    aws: &Aws,
    opts: &BootstrapOptions,
    env: &Environment,
    progress: &StageProgress,
) -> Result<stack::Outcome> {
    let cfg = credentials_for(aws, env, &opts.access_role_name).await?;
    let cfn = aws.cloudformation(&cfg);
    progress.phase("reading the bootstrap stack");
    let existing = stack::describe(&cfn, &opts.toolkit_stack_name)
        .await?
        .map(|s| Existing::of(&s));
    if let Some(e) = &existing {
        let version = match e.version {
            Some(v) => v,
            None => ssm_version(aws, &cfg, e, &opts.qualifier).await?,
        };
        check_upgrade(e, version, env, &opts.toolkit_stack_name, opts.force)?;
    }
    let parameters =
        toolkit_parameters(opts, env, existing.as_ref(), &declared_parameters(TEMPLATE))?;
    let spec = StackSpec {
        stack_name: opts.toolkit_stack_name.clone(),
        template: TemplateSource::Body(TEMPLATE.to_string()),
        parameters: parameters.values,
        keep_parameters: parameters.keep,
        tags: BTreeMap::new(),
        execution_role_arn: None,
        termination_protection: existing.as_ref().is_some_and(|e| e.termination_protection),
        stage: None,
        disable_rollback: false,
        triggers: Default::default(),
        notification_arns: Vec::new(),
    };
    stack::deploy(&cfn, &spec, Mode::Deploy, Approval::Never, progress).await
}

/// The version in the SSM parameter of a toolkit stack without a BootstrapVersion output (very
/// old templates); 0 when there is none, as the CDK CLI counts it.
async fn ssm_version(
    aws: &Aws,
    cfg: &aws_config::SdkConfig,
    existing: &Existing,
    qualifier: &str,
) -> Result<u32> {
    let q = existing
        .parameters
        .get("Qualifier")
        .map(String::as_str)
        .unwrap_or(qualifier);
    let name = crate::model::roles::bootstrap_version_parameter(q);
    match aws.ssm(cfg).get_parameter().name(&name).send().await {
        Ok(out) => Ok(out
            .parameter()
            .and_then(|p| p.value())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_parameter_not_found()) =>
        {
            Ok(0)
        }
        Err(e) => Err(fail(
            ExitKind::Credentials,
            format!(
                "cannot read the bootstrap version {name}: {}",
                crate::aws::errors::describe_sdk_error(&e)
            ),
        )),
    }
}

/// The caller's own credentials for its own account; for another account, the access role there.
async fn credentials_for(
    aws: &Aws,
    env: &Environment,
    access_role: &str,
) -> Result<aws_config::SdkConfig> {
    let caller = aws.caller().await?.clone();
    if env.account == caller.account.as_str() {
        return Ok(aws.base_in(&env.region));
    }
    let arn = format!(
        "arn:{}:iam::{}:role/{access_role}",
        env.partition(),
        env.account
    );
    aws.assume(&arn, &env.region, "bootstrap", &format!("bootstrap {env}"))
        .await
        .map_err(|e| {
            with_fix(
                e,
                ExitKind::Credentials,
                format!(
                    "run the bootstrap of {env} with credentials of account {} (e.g. AWS_PROFILE=<admin profile of that account>), or name a role there that trusts account {} with --bootstrap-role-name",
                    env.account, caller.account
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn opts() -> BootstrapOptions {
        BootstrapOptions {
            trust: vec!["111111111111".into()],
            trust_for_lookup: vec![],
            trust_for_stack_refs: vec![],
            execution_policies: vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()],
            qualifier: "hnb659fds".into(),
            toolkit_stack_name: DEFAULT_TOOLKIT_STACK.into(),
            access_role_name: DEFAULT_ACCESS_ROLE.into(),
            environments: vec![
                Environment::parse_url("aws://222222222222/ap-northeast-1").unwrap(),
            ],
            bad_environments: vec![],
            force: false,
        }
    }

    #[test]
    fn environment_arguments_are_parsed_and_bad_ones_kept_for_the_report() {
        let args = [
            "aws://222222222222/ap-northeast-1".to_string(),
            "aws://12/ap-northeast-1".to_string(),
        ];
        let (good, bad) = parse_environments(&args).unwrap();
        assert_eq!(good[0].account, "222222222222");
        assert_eq!(bad, vec!["aws://12/ap-northeast-1"]);
        assert!(parse_environments(&["222222222222/ap-northeast-1".to_string()]).is_err());
        let mut o = opts();
        o.bad_environments = bad;
        let msg = validate(&o).unwrap_err().to_string();
        assert!(
            msg.contains("aws://12/ap-northeast-1 is not a valid environment"),
            "{msg}"
        );
    }

    #[test]
    fn bad_trusted_accounts_and_qualifiers_are_refused() {
        let mut o = opts();
        o.trust = vec!["1234".into()];
        o.qualifier = "way-too-long-qualifier".into();
        let msg = validate(&o).unwrap_err().to_string();
        assert!(msg.contains("'1234' is not an AWS account id"), "{msg}");
        assert!(msg.contains("qualifier"), "{msg}");
        assert!(validate(&opts()).is_ok());
    }

    #[test]
    fn the_template_creates_the_cdk_role_names() {
        for role in ["deploy", "file-publishing", "lookup", "cfn-exec"] {
            assert!(
                TEMPLATE.contains(&format!(
                    "cdk-${{Qualifier}}-{role}-role-${{AWS::AccountId}}-${{AWS::Region}}"
                )),
                "{role}"
            );
        }
        assert!(TEMPLATE.contains("/cdk-bootstrap/${Qualifier}/version"));
    }
}
