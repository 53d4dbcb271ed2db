//! Command-line interface: parses arguments and hands them to `commands`. One `XArgs` struct
//! per subcommand; what several share is flattened in (`SelectionArgs`, `ConcurrencyArgs`).
//!
//! The argument structs carry `//` comments, not doc comments: clap would take a struct's doc
//! comment as the help of the subcommand it is part of.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pipeline-run",
    version,
    about = "Deploy an ordered, multi-account CloudFormation stage file from CI",
    long_about = "Deploy an ordered, multi-account CloudFormation stage file from CI: bootstrap accounts like `cdk bootstrap --trust`, assume the bootstrap roles per stage, deploy by change set, pass outputs across accounts, and verify the network.\n\nExit codes: 0 success, 2 invalid input (nothing sent to AWS), 3 deploy failure, 4 verification failure, 5 credentials or trust failure, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// How many times `-v` was given (for `trace::init`).
    pub fn verbosity(&self) -> u8 {
        self.global.verbose
    }
}

// Options of every subcommand.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The stage file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        env = "PIPELINE_RUN_FILE",
        default_value = "pipeline-run.yml"
    )]
    pub(crate) file: PathBuf,
    /// Take the stages from a CDK cloud assembly (the `cdk.out` directory) instead of a stage
    /// file: one stage per stack, named by its artifact id.
    #[arg(long, global = true, env = "PIPELINE_RUN_APP", value_name = "CDK_OUT")]
    pub(crate) app: Option<PathBuf>,
    /// Send every AWS request to this endpoint (an emulator, a VPC endpoint). Also AWS_ENDPOINT_URL.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub(crate) endpoint_url: Option<String>,
    /// Named profile for the base credentials (else the standard chain).
    #[arg(long, global = true)]
    pub(crate) profile: Option<String>,
    /// Region of the base configuration, before AWS_REGION and the profile's; with `--app`,
    /// where environment-agnostic stacks deploy (as `cdk deploy` takes the configured region).
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// `json` prints a machine-readable result on stdout; logs always go to stderr.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// More detail in the logs; `-vv` adds the AWS SDK's own tracing on stderr (requests,
    /// responses, signing identity; credentials redacted), refined by RUST_LOG when set.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Also write every stack output as `export <Stage>_<Output>='value'` lines to this file
    /// (plus PIPELINE_RUN_OK and PIPELINE_RUN_CHANGES), for `. FILE` in a later shell step.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "PIPELINE_RUN_EXPORT_ENV"
    )]
    pub(crate) export_env: Option<PathBuf>,
    /// Lifetime of assumed-role sessions in seconds (AWS allows 900..43200).
    #[arg(long, global = true, hide = true, env = "PIPELINE_RUN_SESSION_SECONDS")]
    pub(crate) session_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RequireApproval {
    Never,
    AnyChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanFormat {
    Text,
    Json,
    GithubMatrix,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Prepare environments: staging bucket and bootstrap roles trusting the CI account (CDK-compatible).
    Bootstrap(BootstrapArgs),
    /// Deploy stages by change set, in dependency order, then verify the network.
    Deploy(DeployArgs),
    /// Create and show change sets, then delete them; nothing is executed. With credentials that
    /// may only assume the lookup roles, a template-level diff instead.
    Diff(DiffArgs),
    /// Delete the stacks of the stages, dependents first.
    Destroy(DestroyArgs),
    /// Show stages, accounts, roles and dependency waves (no AWS call).
    List,
    /// Print the dependency waves, e.g. as a GitHub Actions job matrix (no AWS call).
    Plan(PlanArgs),
    /// Bring a stage's stack back from a failed state: continue a failed rollback
    /// (UPDATE_ROLLBACK_FAILED), or roll back a stack a `deploy --no-rollback` left failed.
    Rollback(RollbackArgs),
    /// Check the network paths declared under `verify:` (static analysis and SSM ping).
    Verify(VerifyArgs),
}

impl Command {
    /// The subcommand's name, as reports and CI outputs call it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Bootstrap(_) => "bootstrap",
            Command::Deploy(_) => "deploy",
            Command::Diff(_) => "diff",
            Command::Destroy(_) => "destroy",
            Command::List => "list",
            Command::Plan(_) => "plan",
            Command::Rollback(_) => "rollback",
            Command::Verify(_) => "verify",
        }
    }
}

// The stages a deploy, diff or destroy runs.
#[derive(Debug, Args)]
pub(crate) struct SelectionArgs {
    /// Every stage of the file (with --app: every top-level stack, as `cdk deploy --all`).
    #[arg(long, conflicts_with = "stages")]
    pub(crate) all: bool,
    /// With --app, only the stacks named: not their dependencies (deploy, diff) or dependents
    /// (destroy). Stage files always run only the stages named.
    #[arg(short = 'e', long)]
    pub(crate) exclusively: bool,
    /// Stage names (exact; stages they depend on are not deployed, only read). With --app:
    /// stack ids or patterns as `cdk deploy` takes them ('*', 'Beta/*', '**'), their
    /// dependencies included unless --exclusively.
    pub(crate) stages: Vec<String>,
}

// How many stages a deploy, diff or destroy runs at once. Only `deploy` documents it (see
// `DeployArgs`).
#[derive(Debug, Args)]
pub(crate) struct ConcurrencyArgs {
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// A stage still running after this long is stopped and fails as timed out (its
    /// CloudFormation operation goes on); e.g. 90s, 30m, 2h.
    #[arg(long, default_value = "60m", value_parser = crate::model::duration::parse)]
    pub(crate) stage_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    /// Accounts trusted to deploy into these environments (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) trust: Vec<String>,
    /// Accounts trusted only to read (lookup role).
    #[arg(long, value_delimiter = ',')]
    pub(crate) trust_for_lookup: Vec<String>,
    /// Accounts whose stacks may read this environment's stack outputs with Fn::GetStackOutput:
    /// creates the stack-ref role cdk-<q>-stack-ref-role-<account>-<region> (DescribeStacks only).
    #[arg(long, value_delimiter = ',')]
    pub(crate) trust_for_stack_refs: Vec<String>,
    /// Managed policy ARNs for the CloudFormation execution role (required with --trust).
    #[arg(long, value_delimiter = ',')]
    pub(crate) cloudformation_execution_policies: Vec<String>,
    /// Bootstrap qualifier (defaults to the stage file's, else hnb659fds).
    #[arg(long)]
    pub(crate) qualifier: Option<String>,
    #[arg(long, default_value = crate::model::roles::DEFAULT_TOOLKIT_STACK)]
    pub(crate) toolkit_stack_name: String,
    /// Role assumed in an account the credentials do not belong to.
    #[arg(long, default_value = crate::model::roles::DEFAULT_ACCESS_ROLE)]
    pub(crate) bootstrap_role_name: String,
    /// Replace a bootstrap stack of a higher version, of a newer pipeline-run or of another
    /// variant (refused otherwise, as `cdk bootstrap` refuses).
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the bootstrap template and exit (no AWS call), like `cdk bootstrap --show-template`.
    #[arg(long)]
    pub(crate) show_template: bool,
    /// aws://ACCOUNT/REGION ... (default: every environment of the stage file).
    pub(crate) environments: Vec<String>,
}

#[derive(Debug, Args)]
#[command(mut_arg("concurrency", |a| a.help("Stages deployed at the same time, at most")))]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    #[arg(long, value_enum, default_value_t = RequireApproval::Never)]
    pub(crate) require_approval: RequireApproval,
    #[command(flatten)]
    pub(crate) concurrency: ConcurrencyArgs,
    /// Skip the network verification after the last stage.
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// Execute without rollback (DisableRollback): a failure keeps what was made, for debugging;
    /// go on with another `deploy --no-rollback`, or `rollback STAGE`. Refused for a change set
    /// that replaces a resource.
    #[arg(long)]
    pub(crate) no_rollback: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    #[command(flatten)]
    pub(crate) concurrency: ConcurrencyArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DestroyArgs {
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub(crate) force: bool,
    /// Complete the deletion of a stack in DELETE_FAILED keeping this resource (logical id;
    /// repeated or comma-separated); one stage only.
    #[arg(long, value_delimiter = ',', value_name = "LOGICAL_ID")]
    pub(crate) retain: Vec<String>,
    #[command(flatten)]
    pub(crate) concurrency: ConcurrencyArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The stage whose stack to bring back.
    pub(crate) stage: String,
    /// Leave this resource as it is (ContinueUpdateRollback's ResourcesToSkip; `Child.LogicalId`
    /// for a resource of a nested stack); repeated or comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LOGICAL_ID")]
    pub(crate) skip: Vec<String>,
    /// Stop waiting after this long (CloudFormation's operation goes on); e.g. 90s, 30m.
    #[arg(long, default_value = "60m", value_parser = crate::model::duration::parse)]
    pub(crate) stage_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub(crate) format: PlanFormat,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Only the static analysis from EC2 state; no command is run on the instances.
    #[arg(long)]
    pub(crate) static_only: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("pipeline-run").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deploy_diff_and_destroy_share_selection_and_concurrency() {
        let Command::Deploy(d) = parse(&["deploy", "--all", "--concurrency", "2"]) else {
            panic!("not a deploy")
        };
        assert!(d.selection.all && !d.no_verify);
        assert_eq!(d.concurrency.concurrency, 2);
        assert_eq!(d.require_approval, RequireApproval::Never);
        let Command::Diff(d) = parse(&["diff", "VpcA", "VpcC"]) else {
            panic!("not a diff")
        };
        assert_eq!(d.selection.stages, ["VpcA", "VpcC"]);
        assert_eq!(d.concurrency.concurrency, 8);
        let Command::Destroy(d) = parse(&["destroy", "--force", "--concurrency", "3", "VpcA"])
        else {
            panic!("not a destroy")
        };
        assert!(d.force);
        assert_eq!(d.concurrency.concurrency, 3);
        assert!(
            Cli::try_parse_from(["pipeline-run", "deploy", "--all", "VpcA"]).is_err(),
            "--all conflicts with stage names"
        );
        let Command::Deploy(d) = parse(&["deploy", "-e", "Beta/*", "--region", "eu-west-1"]) else {
            panic!("not a deploy")
        };
        assert!(d.selection.exclusively);
        assert_eq!(d.selection.stages, ["Beta/*"]);
        let Command::Destroy(d) = parse(&["destroy", "--exclusively", "--force", "Api"]) else {
            panic!("not a destroy")
        };
        assert!(d.selection.exclusively);
    }

    #[test]
    fn rollback_skip_and_destroy_retain_take_repeated_or_comma_separated_ids() {
        let Command::Rollback(r) =
            parse(&["rollback", "Net", "--skip", "A,Child.P", "--skip", "B"])
        else {
            panic!("not a rollback")
        };
        assert_eq!(
            (r.stage.as_str(), r.skip),
            ("Net", vec!["A".into(), "Child.P".into(), "B".into()])
        );
        let Command::Destroy(d) = parse(&["destroy", "Net", "--retain", "A", "--retain", "B"])
        else {
            panic!("not a destroy")
        };
        assert_eq!(d.retain, ["A", "B"]);
        let Command::Deploy(d) = parse(&["deploy", "Net", "--no-rollback"]) else {
            panic!("not a deploy")
        };
        assert!(d.no_rollback);
        assert!(
            Cli::try_parse_from(["pipeline-run", "rollback"]).is_err(),
            "a stage is required"
        );
    }

    #[test]
    fn only_deploy_documents_its_concurrency() {
        let help = |sub: &str| {
            Cli::command()
                .find_subcommand_mut(sub)
                .unwrap()
                .render_help()
                .to_string()
        };
        assert!(help("deploy").contains("Stages deployed at the same time, at most"));
        assert!(!help("diff").contains("Stages deployed"));
    }
}
