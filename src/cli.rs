//! Command-line interface: parses arguments and hands them to `commands`.

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
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The stage file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        env = "PIPELINE_RUN_FILE",
        default_value = "pipeline-run.yml"
    )]
    pub file: PathBuf,
    /// Take the stages from a CDK cloud assembly (the `cdk.out` directory) instead of a stage
    /// file: one stage per stack, named by its artifact id.
    #[arg(long, global = true, env = "PIPELINE_RUN_APP", value_name = "CDK_OUT")]
    pub app: Option<PathBuf>,
    /// Send every AWS request to this endpoint (an emulator, a VPC endpoint). Also AWS_ENDPOINT_URL.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Named profile for the base credentials (else the standard chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// `json` prints a machine-readable result on stdout; logs always go to stderr.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More detail in the logs.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Also write every stack output as `export <Stage>_<Output>='value'` lines to this file
    /// (plus PIPELINE_RUN_OK and PIPELINE_RUN_CHANGES), for `. FILE` in a later shell step.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "PIPELINE_RUN_EXPORT_ENV"
    )]
    pub export_env: Option<PathBuf>,
    /// Lifetime of assumed-role sessions in seconds (AWS allows 900..43200).
    #[arg(long, global = true, hide = true, env = "PIPELINE_RUN_SESSION_SECONDS")]
    pub session_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RequireApproval {
    Never,
    AnyChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    GithubMatrix,
}

#[derive(Debug, Args)]
pub struct Selection {
    /// Every stage of the file.
    #[arg(long, conflicts_with = "stages")]
    pub all: bool,
    /// Stage names. Stages they depend on are not deployed, only read.
    pub stages: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare environments: staging bucket and bootstrap roles trusting the CI account (CDK-compatible).
    Bootstrap {
        /// Accounts trusted to deploy into these environments (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        trust: Vec<String>,
        /// Accounts trusted only to read (lookup role).
        #[arg(long, value_delimiter = ',')]
        trust_for_lookup: Vec<String>,
        /// Managed policy ARNs for the CloudFormation execution role (required with --trust).
        #[arg(long, value_delimiter = ',')]
        cloudformation_execution_policies: Vec<String>,
        /// Bootstrap qualifier (defaults to the stage file's, else hnb659fds).
        #[arg(long)]
        qualifier: Option<String>,
        #[arg(long, default_value = crate::model::roles::DEFAULT_TOOLKIT_STACK)]
        toolkit_stack_name: String,
        /// Role assumed in an account the credentials do not belong to.
        #[arg(long, default_value = crate::model::roles::DEFAULT_ACCESS_ROLE)]
        bootstrap_role_name: String,
        /// aws://ACCOUNT/REGION ... (default: every environment of the stage file).
        environments: Vec<String>,
    },
    /// Deploy stages by change set, in dependency order, then verify the network.
    Deploy {
        #[command(flatten)]
        selection: Selection,
        #[arg(long, value_enum, default_value_t = RequireApproval::Never)]
        require_approval: RequireApproval,
        /// Stages deployed at the same time, at most.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Skip the network verification after the last stage.
        #[arg(long)]
        no_verify: bool,
    },
    /// Create and show change sets, then delete them; nothing is executed.
    Diff {
        #[command(flatten)]
        selection: Selection,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Delete the stacks of the stages, dependents first.
    Destroy {
        #[command(flatten)]
        selection: Selection,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Show stages, accounts, roles and dependency waves (no AWS call).
    List,
    /// Print the dependency waves, e.g. as a GitHub Actions job matrix (no AWS call).
    Plan {
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Check the network paths declared under `verify:` (static analysis and SSM ping).
    Verify {
        /// Only the static analysis from EC2 state; no command is run on the instances.
        #[arg(long)]
        static_only: bool,
    },
}

impl Command {
    /// The subcommand's name, as reports and CI outputs call it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Bootstrap { .. } => "bootstrap",
            Command::Deploy { .. } => "deploy",
            Command::Diff { .. } => "diff",
            Command::Destroy { .. } => "destroy",
            Command::List => "list",
            Command::Plan { .. } => "plan",
            Command::Verify { .. } => "verify",
        }
    }
}
