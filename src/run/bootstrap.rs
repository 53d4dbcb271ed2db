//! `pipeline-run bootstrap`: deploys `bootstrap/bootstrap-template.yaml` as the CDKToolkit stack
//! of each environment — the staging bucket, the deploy, file-publishing, lookup and
//! CloudFormation execution roles trusting the CI account, and the version parameter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use aws_sdk_cloudformation::types::Stack;

use crate::aws::Aws;
use crate::error::{ExitKind, fail, fail_fix, with_fix};
use crate::model::env::{EnvError, Environment, is_account_id};
use crate::model::roles::is_qualifier;
#[cfg(test)]
use crate::model::roles::{DEFAULT_ACCESS_ROLE, DEFAULT_TOOLKIT_STACK};
use crate::progress::{Reporter, StageProgress};
use crate::run::outcome::{StageReport, StageState};
use crate::run::stack::{self, Approval, Mode, StackSpec, TemplateSource};

const TEMPLATE: &str = include_str!("../../bootstrap/bootstrap-template.yaml");
#[derive(Debug, Clone)]
pub(crate) struct BootstrapOptions {
    pub(crate) trust: Vec<String>,
    pub(crate) trust_for_lookup: Vec<String>,
    pub(crate) execution_policies: Vec<String>,
    pub(crate) qualifier: String,
    pub(crate) toolkit_stack_name: String,
    pub(crate) access_role_name: String,
    pub(crate) environments: Vec<Environment>,
    /// `aws://` arguments whose account or region is invalid, reported with the other problems.
    pub(crate) bad_environments: Vec<String>,
}

/// Checks the options before any AWS call, with the CDK's rules.
pub(crate) fn validate(opts: &BootstrapOptions) -> Result<()> {
    let mut problems = Vec::new();
    for a in opts.trust.iter().chain(&opts.trust_for_lookup) {
        if !is_account_id(a) {
            problems.push(format!("'{a}' is not an AWS account id (12 digits) — fix the --trust/--trust-for-lookup list"));
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
    for (i, env) in opts.environments.iter().cloned().enumerate() {
        let (aws, reporter, opts) = (aws.clone(), reporter.clone(), opts.clone());
        tasks.spawn(async move { (i, bootstrap_one(&aws, &reporter, &opts, &env).await) });
    }
    let mut reports: Vec<(usize, StageReport)> = Vec::new();
    while let Some(Ok(r)) = tasks.join_next().await {
        reports.push(r);
    }
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
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
    let mut report = StageReport {
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
        duration_seconds: started.elapsed().as_secs_f64(),
        error: None,
        assets: None,
        exit_code: 0,
        diff: None,
    };
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

/// Deploys the toolkit stack of `env`, keeping what an earlier bootstrap trusted.
async fn deploy_toolkit(
    aws: &Aws,
    opts: &BootstrapOptions,
    env: &Environment,
    progress: &StageProgress,
) -> Result<stack::Outcome> {
    let cfg = credentials_for(aws, env, &opts.access_role_name).await?;
    let cfn = aws.cloudformation(&cfg);
    let previous = stack::describe(&cfn, &opts.toolkit_stack_name).await?;
    let spec = StackSpec {
        stack_name: opts.toolkit_stack_name.clone(),
        template: TemplateSource::Body(TEMPLATE.to_string()),
        parameters: toolkit_parameters(opts, env, previous.as_ref())?,
        tags: BTreeMap::new(),
        execution_role_arn: None,
        termination_protection: false,
    };
    stack::deploy(&cfn, &spec, Mode::Deploy, Approval::Never, progress).await
}

/// The toolkit stack's parameters. Like `cdk bootstrap`, a re-run adds trust and never silently
/// drops accounts trusted before (read from the `previous` stack).
fn toolkit_parameters(
    opts: &BootstrapOptions,
    env: &Environment,
    previous: Option<&Stack>,
) -> Result<BTreeMap<String, String>> {
    let previous_param = |key: &str| -> Vec<String> {
        previous
            .and_then(|s| {
                s.parameters()
                    .iter()
                    .find(|p| p.parameter_key() == Some(key))
            })
            .and_then(|p| p.parameter_value())
            .map(split_list)
            .unwrap_or_default()
    };
    let trust = union(previous_param("TrustedAccounts"), &opts.trust);
    let trust_for_lookup = union(
        previous_param("TrustedAccountsForLookup"),
        &opts.trust_for_lookup,
    );
    let mut policies = opts.execution_policies.clone();
    if policies.is_empty() {
        policies = previous_param("CloudFormationExecutionPolicies");
    }
    if !trust.is_empty() && policies.is_empty() {
        return Err(fail_fix(
            ExitKind::Validation,
            format!(
                "--cloudformation-execution-policies is required with --trust: say what CloudFormation may do in {env} on behalf of the trusted accounts"
            ),
            format!(
                "add --cloudformation-execution-policies arn:{}:iam::aws:policy/AdministratorAccess (or a narrower policy)",
                env.partition()
            ),
        ));
    }
    Ok(BTreeMap::from([
        ("TrustedAccounts".to_string(), trust.join(",")),
        (
            "TrustedAccountsForLookup".to_string(),
            trust_for_lookup.join(","),
        ),
        (
            "CloudFormationExecutionPolicies".to_string(),
            policies.join(","),
        ),
        ("Qualifier".to_string(), opts.qualifier.clone()),
        (
            "FileAssetsBucketKmsKeyId".to_string(),
            "AWS_MANAGED_KEY".to_string(),
        ),
    ]))
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

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn union(mut a: Vec<String>, b: &[String]) -> Vec<String> {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BootstrapOptions {
        BootstrapOptions {
            trust: vec!["111111111111".into()],
            trust_for_lookup: vec![],
            execution_policies: vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()],
            qualifier: "hnb659fds".into(),
            toolkit_stack_name: DEFAULT_TOOLKIT_STACK.into(),
            access_role_name: DEFAULT_ACCESS_ROLE.into(),
            environments: vec![
                Environment::parse_url("aws://222222222222/ap-northeast-1").unwrap(),
            ],
            bad_environments: vec![],
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
    fn rerunning_keeps_previously_trusted_accounts() {
        assert_eq!(
            union(
                split_list("111111111111, 333333333333"),
                &["111111111111".into()]
            ),
            vec!["111111111111", "333333333333"]
        );
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
