//! Runs the stages of a plan: dependency order, independent stages at the same time (up to the
//! concurrency limit), outputs of earlier stages handed to later ones across accounts, and a clear
//! account of what finished, what failed and what never started.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use crate::assets;
use crate::aws::{Aws, BootstrapRole};
use crate::error::{ExitKind, describe_sdk_error, exit_code_of, fail};
use crate::peering;
use crate::plan::{Environment, Plan, Stage};
use crate::progress::Reporter;
use crate::report::{StageReport, StageState};
use crate::stack::{self, Approval, Mode, StackSpec, TemplateSource};
use crate::template::TEMPLATE_BODY_LIMIT;

/// The oldest bootstrap version whose roles and bucket pipeline-run uses (deploy, file-publishing
/// and lookup roles all exist from version 8 on).
pub const MIN_BOOTSTRAP_VERSION: u32 = 8;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stages to run; the others are only read (their outputs come from CloudFormation).
    pub selected: Vec<usize>,
    pub concurrency: usize,
    pub approval: Approval,
}

/// (environment, SSM parameter holding its bootstrap version).
type VersionKey = (Environment, String);

/// Shared by every stage task of one run.
pub struct Context {
    pub plan: Arc<Plan>,
    pub aws: Arc<Aws>,
    pub reporter: Arc<Reporter>,
    outputs: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// Bootstrap version per (environment, SSM parameter), read once per run.
    versions: Mutex<HashMap<VersionKey, Arc<OnceCell<u32>>>>,
}

impl Context {
    pub fn new(plan: Arc<Plan>, aws: Arc<Aws>, reporter: Arc<Reporter>) -> Arc<Context> {
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
    pub async fn outputs_of(&self, stage: &Stage) -> Result<BTreeMap<String, String>> {
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
                stack::outputs_of(&s)
            }
            Some(s) => {
                return Err(fail(
                    ExitKind::Deploy,
                    format!(
                        "stage {} (stack {} in {}) is {}: its outputs cannot be used\n  fix: deploy it first: pipeline-run deploy {}",
                        stage.name,
                        stage.stack_name,
                        stage.env,
                        stack::status_of(&s),
                        stage.name
                    ),
                ));
            }
            None => {
                return Err(fail(
                    ExitKind::Deploy,
                    format!(
                        "stage {} is not deployed (no stack {} in {}), and a later stage needs its outputs\n  fix: deploy it first: pipeline-run deploy {}",
                        stage.name, stage.stack_name, stage.env, stage.name
                    ),
                ));
            }
        };
        self.outputs
            .lock()
            .unwrap()
            .insert(stage.name.clone(), outputs.clone());
        Ok(outputs)
    }

    /// `role` for `stage`: the ARN its cloud assembly names, else the bootstrap convention.
    pub async fn stage_role(
        &self,
        stage: &Stage,
        role: BootstrapRole,
        purpose: &str,
    ) -> Result<aws_config::SdkConfig> {
        let given = match role {
            BootstrapRole::Deploy => stage.overrides.deploy_role_arn.as_ref(),
            BootstrapRole::Lookup => stage.overrides.lookup_role_arn.as_ref(),
            _ => None,
        };
        match given {
            None => {
                self.aws
                    .role(&stage.env, role, &self.plan.qualifier, purpose)
                    .await
            }
            Some(arn) => self
                .aws
                .assume(arn, &stage.env.region, role.short_name(), purpose)
                .await
                .map_err(|e| {
                    fail(
                        ExitKind::Credentials,
                        format!(
                            "{e:#}\n  fix: bootstrap {} so that it trusts the CI account: pipeline-run bootstrap --trust <CI account> --cloudformation-execution-policies <ARN> {}",
                            stage.env, stage.env
                        ),
                    )
                }),
        }
    }

    fn record_outputs(&self, stage: &str, outputs: BTreeMap<String, String>) {
        self.outputs
            .lock()
            .unwrap()
            .insert(stage.to_string(), outputs);
    }

    /// Checks the bootstrap version of an environment once per run, as the CDK does before deploying.
    async fn check_bootstrap(&self, stage: &Stage, cfg: &aws_config::SdkConfig) -> Result<u32> {
        let env = &stage.env;
        let (name, minimum) = stage
            .overrides
            .bootstrap_version
            .clone()
            .unwrap_or_else(|| {
                (
                    format!("/cdk-bootstrap/{}/version", self.plan.qualifier),
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
                let out = self.aws.ssm(cfg).get_parameter().name(&name).send().await.map_err(|e| {
                    let text = describe_sdk_error(&e);
                    let msg = if text.contains("ParameterNotFound") {
                        format!("{env} is not bootstrapped: SSM parameter {name} not found")
                    } else {
                        format!("cannot read the bootstrap version of {env} ({name}): {text}")
                    };
                    fail(ExitKind::Credentials, format!("{msg}\n  fix: pipeline-run bootstrap --trust <CI account> --cloudformation-execution-policies <ARN> {env}"))
                })?;
                let value = out.parameter().and_then(|p| p.value()).unwrap_or_default().to_string();
                let version: u32 = value.trim().parse().map_err(|_| {
                    fail(ExitKind::Credentials, format!("the bootstrap version of {env} ({name}) is '{value}', not a number\n  fix: re-run pipeline-run bootstrap for {env}"))
                })?;
                Ok::<u32, anyhow::Error>(version)
            })
            .await?;
        if *v < minimum {
            return Err(fail(
                ExitKind::Credentials,
                format!(
                    "{env} has bootstrap version {v} ({name}); stage {} needs at least {minimum}\n  fix: re-run pipeline-run bootstrap (or cdk bootstrap) for {env}",
                    stage.name
                ),
            ));
        }
        Ok(*v)
    }
}

type StageFuture = Pin<Box<dyn Future<Output = StageReport> + Send>>;

/// Outcome of scheduling: the stage reports in plan order, and whether Ctrl-C stopped the run.
pub struct Scheduled {
    pub stages: Vec<StageReport>,
    pub interrupted: bool,
}

/// Runs `task` for every selected stage once all its `waits_for` stages have succeeded (or are
/// not selected), at most `concurrency` at a time. After a failure nothing new starts; running
/// stages finish. Ctrl-C stops everything at once and reports what is still running.
pub async fn schedule(
    ctx: &Arc<Context>,
    waits_for: &[Vec<usize>],
    selected: &[usize],
    concurrency: usize,
    task: impl Fn(usize) -> StageFuture,
) -> Scheduled {
    let plan = &ctx.plan;
    let n = plan.stages.len();
    let selected: HashSet<usize> = selected.iter().copied().collect();
    let mut reports: Vec<Option<StageReport>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running: JoinSet<(usize, StageReport)> = JoinSet::new();
    let mut running_names: HashMap<usize, Instant> = HashMap::new();
    let mut stopped_by: Option<String> = None;
    let mut interrupted = false;
    let order: Vec<usize> = plan.waves.iter().flatten().copied().collect();

    loop {
        for &i in &order {
            if !selected.contains(&i) || started[i] {
                continue;
            }
            let blocking = waits_for[i].iter().find(|&&d| {
                selected.contains(&d) && reports[d].as_ref().is_some_and(|r| r.status.is_failure())
            });
            if let Some(&d) = blocking {
                started[i] = true;
                reports[i] = Some(skipped(
                    &plan.stages[i],
                    format!("not started: stage {} did not succeed", plan.stages[d].name),
                ));
                continue;
            }
            let ready = waits_for[i]
                .iter()
                .all(|&d| !selected.contains(&d) || reports[d].is_some());
            if !ready || stopped_by.is_some() || running.len() >= concurrency.max(1) {
                continue;
            }
            started[i] = true;
            running_names.insert(i, Instant::now());
            let fut = task(i);
            running.spawn(async move { (i, fut.await) });
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { break };
                match joined {
                    Ok((i, report)) => {
                        running_names.remove(&i);
                        if report.status.is_failure() && stopped_by.is_none() {
                            stopped_by = Some(report.stage.clone());
                        }
                        reports[i] = Some(report);
                    }
                    Err(e) => {
                        ctx.reporter.error(&format!("internal error in a stage task: {e}"), None, None);
                        stopped_by.get_or_insert_with(|| "(internal error)".into());
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                interrupted = true;
                running.abort_all();
                for (&i, since) in &running_names {
                    let s = &plan.stages[i];
                    ctx.reporter.error(
                        &format!(
                            "interrupted while stage {} was running: stack {} in {} may still be changing in CloudFormation; see: aws cloudformation describe-stacks --stack-name {} --region {}",
                            s.name, s.stack_name, s.env, s.stack_name, s.env.region
                        ),
                        None,
                        None,
                    );
                    let mut r = skipped(s, "interrupted (Ctrl-C) while running; CloudFormation may still be working on it".into());
                    r.status = StageState::Interrupted;
                    r.duration_seconds = since.elapsed().as_secs_f64();
                    reports[i] = Some(r);
                }
                break;
            }
        }
    }
    let why = match (&stopped_by, interrupted) {
        (_, true) => "not started: the run was interrupted (Ctrl-C)".to_string(),
        (Some(s), false) => format!("not started: the run stopped after stage {s} failed"),
        (None, false) => "not started".to_string(),
    };
    let stages = (0..n)
        .filter(|i| selected.contains(i))
        .map(|i| {
            reports[i]
                .take()
                .unwrap_or_else(|| skipped(&plan.stages[i], why.clone()))
        })
        .collect();
    Scheduled {
        stages,
        interrupted,
    }
}

pub fn skipped(stage: &Stage, why: String) -> StageReport {
    StageReport {
        stage: stage.name.clone(),
        account: stage.env.account.clone(),
        region: stage.env.region.clone(),
        stack: stage.stack_name.clone(),
        status: StageState::Skipped,
        stack_status: None,
        changes: 0,
        change_set_executed: false,
        change_list: Vec::new(),
        outputs: BTreeMap::new(),
        duration_seconds: 0.0,
        error: Some(why),
        assets: None,
        exit_code: ExitKind::Deploy as i32,
    }
}

/// Deploys (or diffs) the selected stages.
pub async fn deploy(ctx: &Arc<Context>, opts: &RunOptions, mode: Mode) -> Scheduled {
    let waits_for: Vec<Vec<usize>> = ctx
        .plan
        .stages
        .iter()
        .map(|s| s.depends_on.clone())
        .collect();
    let approval = opts.approval;
    schedule(ctx, &waits_for, &opts.selected, opts.concurrency, |i| {
        let ctx = ctx.clone();
        Box::pin(async move { run_stage(&ctx, i, mode, approval).await })
    })
    .await
}

async fn run_stage(
    ctx: &Arc<Context>,
    index: usize,
    mode: Mode,
    approval: Approval,
) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("stack {} in {}", stage.stack_name, stage.env),
    );
    let mut asset_counts = None;
    let result = deploy_stage(ctx, stage, mode, approval, &progress, &mut asset_counts).await;
    let mut report = skipped(stage, String::new());
    report.assets = asset_counts;
    report.duration_seconds = started.elapsed().as_secs_f64();
    report.error = None;
    match result {
        Ok(outcome) => {
            report.status = match (mode, outcome.no_changes, outcome.executed) {
                (_, true, _) => StageState::NoChanges,
                (Mode::Diff, false, _) => StageState::Changes,
                (Mode::Deploy, false, _) => StageState::Deployed,
            };
            report.stack_status = Some(outcome.status.clone());
            report.changes = outcome.changes.len();
            report.change_set_executed = outcome.executed;
            report.change_list = outcome.changes;
            report.outputs = outcome.outputs;
            let summary = match report.status {
                StageState::NoChanges => "no changes".to_string(),
                StageState::Changes => format!("{} change(s) (not executed)", report.changes),
                _ => format!(
                    "{} — {} change(s){}",
                    outcome.status,
                    report.changes,
                    outcome
                        .recreated_from
                        .map(|s| format!(", re-created after {s}"))
                        .unwrap_or_default()
                ),
            };
            progress.finish(&summary, true);
        }
        Err(e) => {
            let msg = format!("{e:#}");
            report.status = StageState::Failed;
            report.exit_code = exit_code_of(&e);
            report.error = Some(msg.clone());
            progress.finish("FAILED", false);
            let kind = exit_code_of(&e);
            ctx.reporter.error(
                &format!("stage {} failed: {msg}", stage.name),
                (kind == ExitKind::Validation as i32)
                    .then(|| ctx.plan.file.display().to_string())
                    .as_deref(),
                (kind == ExitKind::Validation as i32)
                    .then_some(stage.line)
                    .flatten(),
            );
            report.stack_status = error_stack_status(&msg);
        }
    }
    report
}

fn error_stack_status(msg: &str) -> Option<String> {
    msg.split(" ended ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
}

async fn deploy_stage(
    ctx: &Arc<Context>,
    stage: &Stage,
    mode: Mode,
    approval: Approval,
    progress: &crate::progress::StageProgress,
    asset_counts: &mut Option<assets::AssetCounts>,
) -> Result<stack::Outcome> {
    let plan = &ctx.plan;
    progress.phase("resolving parameters");
    let mut outputs = HashMap::new();
    for dep in stage
        .parameters
        .values()
        .flat_map(|v| v.references())
        .map(|(s, _)| s.to_string())
        .collect::<HashSet<_>>()
    {
        let dep_stage = &plan.stages[plan.stage_index(&dep).expect("validated reference")];
        outputs.insert(dep.clone(), ctx.outputs_of(dep_stage).await?);
    }

    progress.phase("assuming deploy role");
    let cfg = ctx
        .stage_role(
            stage,
            BootstrapRole::Deploy,
            &format!("deploy stage {}", stage.name),
        )
        .await?;
    ctx.check_bootstrap(stage, &cfg).await?;

    // Published before the change set, as cdk-assets runs before `cdk deploy`; also for a
    // diff, whose change set may read the template from S3 (content-addressed, so harmless).
    let mut locations = BTreeMap::new();
    if !stage.assets.is_empty() {
        progress.phase("publishing assets");
        let (published, counts) = assets::publish_assets(
            &ctx.aws,
            &stage.env,
            &plan.qualifier,
            &stage.name,
            &stage.assets,
            progress,
        )
        .await?;
        *asset_counts = Some(counts);
        locations = published;
    }
    let mut parameters = BTreeMap::new();
    for (k, v) in &stage.parameters {
        let value = v
            .resolve_with_assets(&outputs, &locations)
            .map_err(|e| fail(ExitKind::Deploy, format!("parameter {k}: {e}")))?;
        parameters.insert(k.clone(), value);
    }

    let body = stage.template.body.clone();
    let template = if let Some(url) = &stage.overrides.template_url {
        TemplateSource::Url {
            url: assets::template_url_from(url, &stage.env.region),
            body,
        }
    } else if body.len() > TEMPLATE_BODY_LIMIT {
        progress.phase("uploading template");
        let url = assets::publish_template(
            &ctx.aws,
            &stage.env,
            &plan.qualifier,
            &body,
            &format!("upload the template of stage {}", stage.name),
        )
        .await?;
        TemplateSource::Url { url, body }
    } else {
        TemplateSource::Body(body)
    };
    let spec = StackSpec {
        stack_name: stage.stack_name.clone(),
        template,
        parameters,
        tags: stage.tags.clone(),
        execution_role_arn: Some(stage.role_arn(BootstrapRole::CfnExec, &plan.qualifier)),
        termination_protection: stage.termination_protection,
    };
    let cfn = ctx.aws.cloudformation(&cfg);
    let outcome = stack::deploy(&cfn, &spec, mode, approval, progress).await?;
    if mode == Mode::Diff {
        return Ok(outcome);
    }
    ctx.record_outputs(&stage.name, outcome.outputs.clone());

    if !stage.publish_outputs.is_empty() {
        progress.phase("publishing outputs to Parameter Store");
        publish_outputs(ctx, stage, &cfg, &outcome.outputs, progress).await?;
    }
    for p in plan.peerings.iter().filter(|p| p.allow_dns_resolution) {
        if let Some((owner, output)) = &p.connection
            && owner == &stage.name
        {
            let pcx = outcome.outputs.get(output).ok_or_else(|| {
                fail(
                    ExitKind::Deploy,
                    format!(
                        "stage {} has no output {output} holding the peering id",
                        stage.name
                    ),
                )
            })?;
            progress.phase("enabling peering DNS resolution");
            peering::set_dns_resolution(&ctx.aws, &plan.qualifier, &stage.env, pcx, true, progress)
                .await?;
        }
    }
    Ok(outcome)
}

async fn publish_outputs(
    ctx: &Arc<Context>,
    stage: &Stage,
    cfg: &aws_config::SdkConfig,
    outputs: &BTreeMap<String, String>,
    progress: &crate::progress::StageProgress,
) -> Result<()> {
    let ssm = ctx.aws.ssm(cfg);
    for (output, name) in &stage.publish_outputs {
        let value = outputs.get(output).ok_or_else(|| {
            fail(
                ExitKind::Deploy,
                format!(
                    "stage {} has no output {output} to publish as {name}",
                    stage.name
                ),
            )
        })?;
        let current = ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .ok()
            .and_then(|o| o.parameter().and_then(|p| p.value().map(str::to_string)));
        if current.as_deref() == Some(value.as_str()) {
            continue;
        }
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                fail(
                    ExitKind::Deploy,
                    format!(
                        "cannot publish output {output} as SSM parameter {name}: {}",
                        describe_sdk_error(&e)
                    ),
                )
            })?;
        progress.line(&format!("published {output} as SSM parameter {name}"));
    }
    Ok(())
}

/// Deletes the selected stages' stacks, dependents first.
pub async fn destroy(ctx: &Arc<Context>, selected: &[usize], concurrency: usize) -> Scheduled {
    let n = ctx.plan.stages.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in ctx.plan.stages.iter().enumerate() {
        for &d in &s.depends_on {
            dependents[d].push(i);
        }
    }
    schedule(ctx, &dependents, selected, concurrency, |i| {
        let ctx = ctx.clone();
        Box::pin(async move { destroy_stage(&ctx, i).await })
    })
    .await
}

async fn destroy_stage(ctx: &Arc<Context>, index: usize) -> StageReport {
    let stage = &ctx.plan.stages[index];
    let started = Instant::now();
    let progress = ctx.reporter.stage(
        &stage.name,
        &format!("delete stack {} in {}", stage.stack_name, stage.env),
    );
    let result: Result<StageState> = async {
        let cfg = ctx.stage_role(stage, BootstrapRole::Deploy, &format!("destroy stage {}", stage.name)).await?;
        let cfn = ctx.aws.cloudformation(&cfg);
        let Some(existing) = stack::describe(&cfn, &stage.stack_name).await? else {
            return Ok(StageState::Absent);
        };
        for p in ctx.plan.peerings.iter().filter(|p| p.allow_dns_resolution) {
            if let Some((owner, output)) = &p.connection
                && owner == &stage.name
                    && let Some(pcx) = stack::outputs_of(&existing).get(output) {
                        progress.phase("turning peering DNS resolution off");
                        peering::set_dns_resolution(&ctx.aws, &ctx.plan.qualifier, &stage.env, pcx, false, &progress).await?;
                    }
        }
        if existing.enable_termination_protection().unwrap_or(false) {
            return Err(fail(
                ExitKind::Deploy,
                format!("stack {} has termination protection\n  fix: set termination_protection: false on stage {} and deploy, then destroy", stage.stack_name, stage.name),
            ));
        }
        progress.phase("deleting");
        stack::delete(&cfn, &stage.stack_name, &progress).await?;
        let ssm = ctx.aws.ssm(&cfg);
        for name in stage.publish_outputs.values() {
            let _ = ssm.delete_parameter().name(name).send().await;
        }
        Ok(StageState::Destroyed)
    }
    .await;
    let mut report = skipped(stage, String::new());
    report.error = None;
    report.duration_seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(state) => {
            report.status = state;
            progress.finish(
                if state == StageState::Absent {
                    "already absent"
                } else {
                    "deleted"
                },
                true,
            );
        }
        Err(e) => {
            report.status = StageState::Failed;
            report.exit_code = exit_code_of(&e);
            report.error = Some(format!("{e:#}"));
            progress.finish("FAILED", false);
            ctx.reporter.error(
                &format!("stage {} could not be destroyed: {e:#}", stage.name),
                None,
                None,
            );
        }
    }
    report
}
