//! One function per command: load what it needs, call the modules, print the result, and return
//! the exit code.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::aws::{Aws, AwsOptions};
use crate::cli::{Cli, Command, Global, OutputFormat, PlanFormat, RequireApproval, Selection};
use crate::error::{ExitKind, exit_code_of, fail};
use crate::model::plan::Plan;
use crate::model::roles::{BootstrapRole, DEFAULT_QUALIFIER};
use crate::progress::{Mode as ProgressMode, Reporter};
use crate::report::{RunReport, stage_table};
use crate::run::bootstrap::{self, BootstrapOptions};
use crate::run::context::{Context, RunOptions};
use crate::run::schedule::Scheduled;
use crate::run::stack::{Approval, Mode};
use crate::run::{destroy, stage};
use crate::source::validate::{self as plan, ProcessEnv};

pub fn run(cli: Cli) -> i32 {
    let reporter = Reporter::new(ProgressMode::detect(), cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let command = cli.command.name();
    let output = cli.global.output;
    let export_env = cli.global.export_env.clone();
    let started = Instant::now();
    let result = runtime.block_on(dispatch(cli, reporter.clone()));
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = exit_code_of(&e);
            let message = format!("{e:#}");
            reporter.fatal(&message);
            // `list` and `plan` only print; the commands that act leave a result for CI.
            if !matches!(command, "list" | "plan") {
                let json = crate::report::ci::publish_failure(
                    command,
                    &message,
                    code,
                    started.elapsed().as_secs_f64(),
                    export_env.as_deref(),
                );
                if output == OutputFormat::Json {
                    println!("{json}");
                }
            }
            code
        }
    }
}

async fn dispatch(cli: Cli, reporter: Arc<Reporter>) -> Result<i32> {
    let g = &cli.global;
    match cli.command {
        Command::List => list(g, &reporter),
        Command::Plan { format } => plan_waves(g, &reporter, format),
        Command::Bootstrap {
            trust,
            trust_for_lookup,
            cloudformation_execution_policies,
            qualifier,
            toolkit_stack_name,
            bootstrap_role_name,
            environments,
        } => {
            let mut plan_qualifier = None;
            let (envs, bad_environments) = if environments.is_empty() {
                let plan = load_plan(g, &reporter)?;
                plan_qualifier = Some(plan.qualifier.clone());
                (plan.environments(), Vec::new())
            } else {
                bootstrap::parse_environments(&environments)?
            };
            let opts = BootstrapOptions {
                trust,
                trust_for_lookup,
                execution_policies: cloudformation_execution_policies,
                qualifier: qualifier
                    .or(plan_qualifier)
                    .unwrap_or_else(|| DEFAULT_QUALIFIER.to_string()),
                toolkit_stack_name,
                access_role_name: bootstrap_role_name,
                environments: envs,
                bad_environments,
            };
            bootstrap::validate(&opts)?;
            let fallback = opts.environments.first().map(|e| e.region.to_string());
            let aws = Arc::new(load_aws(g, fallback).await?);
            let started = Instant::now();
            let stages = bootstrap::bootstrap(aws, reporter.clone(), opts).await;
            finish(
                g,
                &reporter,
                "bootstrap",
                Scheduled {
                    stages,
                    interrupted: false,
                },
                None,
                started,
            )
        }
        Command::Deploy {
            selection,
            require_approval,
            concurrency,
            no_verify,
        } => {
            let plan = Arc::new(load_plan(g, &reporter)?);
            let selected = select(&plan, &selection)?;
            let ctx = context(g, &reporter, plan.clone()).await?;
            let started = Instant::now();
            let approval = match require_approval {
                RequireApproval::Never => Approval::Never,
                RequireApproval::AnyChange => Approval::AnyChange,
            };
            let opts = RunOptions {
                selected,
                concurrency,
                approval,
            };
            let scheduled = stage::deploy(&ctx, &opts, Mode::Deploy).await;
            let all_ok =
                !scheduled.interrupted && scheduled.stages.iter().all(|s| !s.status.is_failure());
            let verification = if all_ok && !no_verify && !plan.checks.is_empty() {
                Some(crate::verify::run(&verify_input(&ctx), false).await)
            } else {
                None
            };
            finish(g, &reporter, "deploy", scheduled, verification, started)
        }
        Command::Diff {
            selection,
            concurrency,
        } => {
            let plan = Arc::new(load_plan(g, &reporter)?);
            let selected = select(&plan, &selection)?;
            let ctx = context(g, &reporter, plan).await?;
            let started = Instant::now();
            let opts = RunOptions {
                selected,
                concurrency,
                approval: Approval::Never,
            };
            let scheduled = stage::deploy(&ctx, &opts, Mode::Diff).await;
            finish(g, &reporter, "diff", scheduled, None, started)
        }
        Command::Destroy {
            selection,
            force,
            concurrency,
        } => {
            let plan = Arc::new(load_plan(g, &reporter)?);
            let selected = select(&plan, &selection)?;
            if !force {
                let names: Vec<&str> = selected
                    .iter()
                    .map(|&i| plan.stages[i].name.as_str())
                    .collect();
                if !std::io::stdin().is_terminal() {
                    return Err(fail(
                        ExitKind::Validation,
                        "destroy needs confirmation: pass --force (no terminal to ask on)",
                    ));
                }
                if !crate::progress::confirm(&format!("Delete the stacks of {}?", names.join(", ")))
                    .await
                {
                    return Err(fail(
                        ExitKind::Validation,
                        "destroy cancelled; nothing was deleted",
                    ));
                }
            }
            let ctx = context(g, &reporter, plan).await?;
            let started = Instant::now();
            let scheduled = destroy::destroy(&ctx, &selected, concurrency).await;
            finish(g, &reporter, "destroy", scheduled, None, started)
        }
        Command::Verify { static_only } => {
            let plan = Arc::new(load_plan(g, &reporter)?);
            if plan.checks.is_empty() {
                return Err(fail(
                    ExitKind::Validation,
                    format!(
                        "{} declares no `verify:` checks\n  fix: add checks (see README, \"Verification\")",
                        plan.file.display()
                    ),
                ));
            }
            let ctx = context(g, &reporter, plan).await?;
            let started = Instant::now();
            let verification = crate::verify::run(&verify_input(&ctx), static_only).await;
            finish(
                g,
                &reporter,
                "verify",
                Scheduled {
                    stages: Vec::new(),
                    interrupted: false,
                },
                Some(verification),
                started,
            )
        }
    }
}

fn load_plan(g: &Global, reporter: &Reporter) -> Result<Plan> {
    if let Some(app) = &g.app {
        return crate::source::cdk::stages::load_plan(app);
    }
    if !g.file.exists() && g.file.as_os_str() == "pipeline-run.yml" {
        return Err(fail(
            ExitKind::Validation,
            "no stage file: pipeline-run.yml does not exist here\n  fix: pass one with -f, e.g. -f pipelines/vpc-peering.yml",
        ));
    }
    plan::load(&g.file, &ProcessEnv).map_err(|problems| {
        for p in &problems.0 {
            reporter.error(
                &format!(
                    "stage {}field {}: {} (fix: {})",
                    p.stage
                        .as_ref()
                        .map(|s| format!("{s}, "))
                        .unwrap_or_default(),
                    p.field,
                    p.message,
                    p.fix
                ),
                Some(&p.file.display().to_string()),
                p.line,
            );
        }
        fail(
            ExitKind::Validation,
            problems.to_string().trim_end().to_string(),
        )
    })
}

fn select(plan: &Plan, selection: &Selection) -> Result<Vec<usize>> {
    if selection.all {
        return Ok((0..plan.stages.len()).collect());
    }
    if selection.stages.is_empty() {
        return Err(fail(
            ExitKind::Validation,
            "name the stages to run, or pass --all",
        ));
    }
    selection
        .stages
        .iter()
        .map(|name| {
            plan.stage_index(name).ok_or_else(|| {
                let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
                fail(
                    ExitKind::Validation,
                    format!(
                        "no stage named '{name}' in {}\n  fix: use one of: {}",
                        plan.file.display(),
                        names.join(", ")
                    ),
                )
            })
        })
        .collect()
}

async fn load_aws(g: &Global, fallback_region: Option<String>) -> Result<Aws> {
    Aws::load(AwsOptions {
        endpoint_url: g.endpoint_url.clone(),
        profile: g.profile.clone(),
        fallback_region,
        session_duration: g.session_seconds.map(Duration::from_secs),
    })
    .await
}

async fn context(g: &Global, reporter: &Arc<Reporter>, plan: Arc<Plan>) -> Result<Arc<Context>> {
    let fallback = plan.stages.first().map(|s| s.env.region.to_string());
    let aws = Arc::new(load_aws(g, fallback).await?);
    let caller = aws.caller().await?;
    reporter.info(&format!(
        "pipeline-run {}: identity {} (account {})",
        env!("CARGO_PKG_VERSION"),
        caller.arn,
        caller.account
    ));
    Ok(Context::new(plan, aws, reporter.clone()))
}

fn finish(
    g: &Global,
    reporter: &Reporter,
    command: &str,
    scheduled: Scheduled,
    verification: Option<crate::verify::VerifyReport>,
    started: Instant,
) -> Result<i32> {
    let verify_ok = verification.as_ref().is_none_or(|v| v.ok());
    let stages_ok = scheduled.stages.iter().all(|s| !s.status.is_failure());
    let report = RunReport {
        command: command.to_string(),
        ok: stages_ok && verify_ok && !scheduled.interrupted,
        verification: verification
            .as_ref()
            .map(|v| serde_json::to_value(v).unwrap_or_default()),
        stages: scheduled.stages,
        duration_seconds: started.elapsed().as_secs_f64(),
    };
    if !report.stages.is_empty() {
        reporter.info(&format!("\n{}", stage_table(&report.stages).trim_end()));
    }
    if let Some(v) = &verification {
        reporter.info(&format!("\n{}", v.table().trim_end()));
    }
    let no_change_note = report
        .stages
        .iter()
        .all(|s| s.changes == 0 && !s.change_set_executed)
        && command == "deploy"
        && stages_ok;
    reporter.info(&format!(
        "{command} {} in {:.1}s{}",
        if report.ok { "succeeded" } else { "FAILED" },
        report.duration_seconds,
        if no_change_note {
            " — no changes"
        } else {
            ""
        }
    ));
    let published = crate::report::ci::publish(reporter, &report, g.export_env.as_deref());
    if let Err(e) = &published {
        reporter.error(e, None, None);
    }
    if g.output == OutputFormat::Json {
        println!("{}", report.to_json());
    }
    if scheduled.interrupted || verification.as_ref().is_some_and(|v| v.interrupted) {
        return Ok(ExitKind::Interrupted as i32);
    }
    if let Some(failed) = report.stages.iter().find(|s| s.status.is_failure()) {
        return Ok(if failed.exit_code > 0 {
            failed.exit_code
        } else {
            ExitKind::Deploy as i32
        });
    }
    if !verify_ok {
        return Ok(ExitKind::Verification as i32);
    }
    if published.is_err() {
        return Ok(1);
    }
    Ok(0)
}

fn list(g: &Global, reporter: &Reporter) -> Result<i32> {
    let plan = load_plan(g, reporter)?;
    if g.output == OutputFormat::Json {
        let stages: Vec<serde_json::Value> = plan
            .stages
            .iter()
            .map(|s| {
                serde_json::json!({
                    "stage": s.name,
                    "account": s.env.account,
                    "region": s.env.region,
                    "stack": s.stack_name,
                    "template": s.template.path.display().to_string(),
                    "depends_on": s.depends_on.iter().map(|&d| plan.stages[d].name.clone()).collect::<Vec<_>>(),
                    "deploy_role": s.roles.deploy.arn,
                    "execution_role": s.roles.cfn_exec.arn,
                    "lookup_role": s.roles.lookup.arn,
                    "assets": s.assets.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let waves: Vec<Vec<&str>> = plan
            .waves
            .iter()
            .map(|w| w.iter().map(|&i| plan.stages[i].name.as_str()).collect())
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"file": plan.file.display().to_string(), "qualifier": plan.qualifier, "stages": stages, "waves": waves})
            )?
        );
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = plan
        .stages
        .iter()
        .map(|s| {
            let wave = plan
                .waves
                .iter()
                .position(|w| w.contains(&plan.stage_index(&s.name).unwrap_or(usize::MAX)))
                .map(|w| w + 1)
                .unwrap_or(0);
            [
                wave.to_string(),
                s.name.clone(),
                format!("{} ({})", s.env.account, s.account_alias),
                s.env.region.to_string(),
                s.stack_name.clone(),
                s.depends_on
                    .iter()
                    .map(|&d| plan.stages[d].name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    println!(
        "{}",
        crate::table::table(
            &["WAVE", "STAGE", "ACCOUNT", "REGION", "STACK", "DEPENDS ON"],
            &rows
        )
        .trim_end()
    );
    println!("\nRoles (qualifier {}):", plan.qualifier);
    for env in plan.environments() {
        for role in [
            BootstrapRole::Deploy,
            BootstrapRole::FilePublishing,
            BootstrapRole::Lookup,
            BootstrapRole::CfnExec,
        ] {
            println!("  {}", plan.roles_in(&env).get(role).arn);
        }
    }
    if !plan.checks.is_empty() {
        println!("\nVerification:");
        for c in &plan.checks {
            println!("  {} (expect {:?})", c.name, c.expect);
        }
    }
    Ok(0)
}

fn plan_waves(g: &Global, reporter: &Reporter, format: PlanFormat) -> Result<i32> {
    let plan = load_plan(g, reporter)?;
    let waves: Vec<Vec<serde_json::Value>> = plan
        .waves
        .iter()
        .map(|w| {
            w.iter()
                .map(|&i| {
                    let s = &plan.stages[i];
                    serde_json::json!({"stage": s.name, "account": s.env.account, "region": s.env.region, "stack": s.stack_name})
                })
                .collect()
        })
        .collect();
    match format {
        PlanFormat::Text => {
            for (n, w) in plan.waves.iter().enumerate() {
                let names: Vec<&str> = w.iter().map(|&i| plan.stages[i].name.as_str()).collect();
                println!("wave {}: {}", n + 1, names.join(", "));
            }
        }
        PlanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "waves": waves }))?
        ),
        PlanFormat::GithubMatrix => {
            // One matrix per wave: a workflow runs wave N's jobs after wave N-1's (`needs:`).
            let matrices: Vec<serde_json::Value> = waves
                .iter()
                .map(|w| serde_json::json!({ "include": w }))
                .collect();
            let doc = serde_json::json!({ "waves": matrices, "wave_count": waves.len() });
            println!("{}", serde_json::to_string(&doc)?);
            crate::report::ci::github_plan_outputs(&doc);
        }
    }
    Ok(0)
}

fn verify_input(ctx: &Arc<Context>) -> crate::verify::VerifyInput {
    crate::verify::VerifyInput {
        plan: ctx.plan.clone(),
        aws: ctx.aws.clone(),
        reporter: ctx.reporter.clone(),
        outputs: ctx.clone(),
    }
}

impl crate::verify::StageOutputs for Context {
    fn outputs_of<'a>(
        &'a self,
        stage: &'a crate::model::plan::Stage,
    ) -> crate::verify::OutputsFuture<'a> {
        Box::pin(Context::outputs_of(self, stage))
    }
}
