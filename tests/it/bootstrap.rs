//! pipeline-run's bootstrap and the real AWS CDK CLI (tests/cdk, aws-cdk pinned in its
//! package-lock.json) on the emulator, both ways: pipeline-run upgrades a CDK bootstrap keeping
//! its parameters and refuses a newer one unless `--force`; `cdk bootstrap` accepts pipeline-run's;
//! `cdk deploy` deploys on a pipeline-run bootstrap and `pipeline-run deploy --app` on a CDK one.
//! The CDK CLI must be installed (`tests/cdk/setup`, run by scripts/test): without it these
//! tests fail, they never skip.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::{
    ACCOUNT_A, ACCOUNT_B, ADMIN_POLICY, Aws, Run, Scratch, aws, bootstrap_run, env_url, repo,
    run_offline,
};

const APP: &str = "tests/fixtures/assembly-two-accounts";
const TOOLKIT: &str = "CDKToolkit";

/// The pinned CDK CLI; a clear failure when it is not installed.
fn cdk_cli() -> PathBuf {
    let cli = repo().join("tests/cdk/node_modules/.bin/cdk");
    assert!(
        cli.exists(),
        "the AWS CDK CLI is not installed at {} — run tests/cdk/setup (needs node and npm)",
        cli.display()
    );
    cli
}

/// Runs the CDK CLI as `profile` against the emulator, offline otherwise (no notices, version
/// check or telemetry), in a scratch directory.
fn cdk(aws: &Aws, profile: &str, args: &[&str]) -> Run {
    let home = Scratch::new("cdk-home");
    let mut cmd = Command::new(cdk_cli());
    cmd.args(args)
        .arg("--no-notices")
        .current_dir(&home.0)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("CDK_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(aws.env(profile))
        .env("CDK_HOME", &home.0)
        .env("CDK_DISABLE_VERSION_CHECK", "1")
        .env("CDK_DISABLE_CLI_TELEMETRY", "true");
    let out = cmd.output().expect("cannot run the CDK CLI");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(what: &str, r: &Run) {
    assert_eq!(
        r.code, 0,
        "{what} failed ({}):\n{}\n{}",
        r.code, r.stdout, r.stderr
    );
}

/// The toolkit stack of account B: parameters, outputs, termination protection.
struct Toolkit {
    parameters: BTreeMap<String, String>,
    outputs: BTreeMap<String, String>,
    protected: bool,
}

impl Toolkit {
    fn version(&self) -> u32 {
        self.outputs["BootstrapVersion"].parse().unwrap()
    }
}

async fn toolkit_b(aws: &Aws) -> Toolkit {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let out = cfn.describe_stacks().stack_name(TOOLKIT).send().await;
    let stack = out.unwrap().stacks()[0].clone();
    Toolkit {
        parameters: stack
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_key().unwrap().to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        outputs: stack
            .outputs()
            .iter()
            .map(|o| {
                (
                    o.output_key().unwrap().to_string(),
                    o.output_value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        protected: stack.enable_termination_protection().unwrap_or(false),
    }
}

fn cdk_bootstrap_b(aws: &Aws, extra: &[&str]) -> Run {
    let env = env_url(ACCOUNT_B);
    let mut args = vec!["bootstrap", env.as_str()];
    args.extend_from_slice(extra);
    cdk(aws, "admin-b", &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cdk_bootstrap_is_upgraded_keeping_its_parameters_protection_and_trust() {
    let aws = aws();
    let r = cdk_bootstrap_b(
        &aws,
        &[
            "--trust",
            "333333333333",
            "--cloudformation-execution-policies",
            ADMIN_POLICY,
            "--bootstrap-bucket-name",
            "custom-cdk-assets-b",
            "--no-deny-external-id",
            "--termination-protection",
        ],
    );
    ok("cdk bootstrap", &r);
    let before = toolkit_b(&aws).await;
    assert_eq!(before.version(), 33);
    assert!(!before.outputs.contains_key("PipelineRunBootstrapRevision"));

    let r = bootstrap_run(&aws.endpoint, &[ACCOUNT_B], &[], &[]);
    ok("pipeline-run bootstrap", &r);
    let after = toolkit_b(&aws).await;
    assert!(after.version() >= 33, "{:?}", after.outputs);
    assert_eq!(after.outputs["PipelineRunBootstrapRevision"], "2");
    assert_eq!(
        after.parameters["TrustedAccounts"],
        format!("333333333333,{ACCOUNT_A}"),
        "trust is added, never dropped"
    );
    for kept in [
        "FileAssetsBucketName",
        "FileAssetsBucketKmsKeyId",
        "DenyExternalId",
        "InputPermissionsBoundary",
        "BootstrapVariant",
        "ContainerAssetsRepositoryName",
    ] {
        assert_eq!(after.parameters[kept], before.parameters[kept], "{kept}");
    }
    assert_eq!(after.parameters["DenyExternalId"], "false");
    assert_eq!(after.outputs["BucketName"], "custom-cdk-assets-b");
    assert!(
        after.protected,
        "termination protection of CDKToolkit is kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_bootstrap_is_refused_with_exit_code_5_and_replaced_only_with_force() {
    let aws = aws();
    let scratch = Scratch::new("cdk-v99");
    let cdk_template = std::fs::read_to_string(
        repo().join("tests/cdk/node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml"),
    )
    .unwrap_or_else(|e| panic!("the CDK's bootstrap template ({e}) — run tests/cdk/setup"));
    let newer = cdk_template.replace("Value: '33'", "Value: '99'");
    assert_eq!(
        newer.matches("Value: '99'").count(),
        2,
        "parameter and output"
    );
    let template = scratch.write("v99.yaml", &newer);
    let path = template.display().to_string();
    let r = cdk_bootstrap_b(
        &aws,
        &[
            "--template",
            &path,
            "--trust",
            ACCOUNT_A,
            "--cloudformation-execution-policies",
            ADMIN_POLICY,
        ],
    );
    ok("cdk bootstrap --template (version 99)", &r);
    assert_eq!(toolkit_b(&aws).await.version(), 99);

    let r = bootstrap_run(&aws.endpoint, &[ACCOUNT_B], &[], &[]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    for needle in [env_url(ACCOUNT_B).as_str(), "version 99", "--force"] {
        assert!(r.stderr.contains(needle), "{needle} in:\n{}", r.stderr);
    }
    assert_eq!(toolkit_b(&aws).await.version(), 99, "left as it was");

    let r = bootstrap_run(&aws.endpoint, &[ACCOUNT_B], &["--force"], &[]);
    ok("pipeline-run bootstrap --force", &r);
    assert_eq!(toolkit_b(&aws).await.version(), 33);
}

#[tokio::test(flavor = "multi_thread")]
async fn cdk_bootstrap_accepts_and_updates_a_pipeline_run_bootstrap() {
    let aws = aws();
    ok(
        "pipeline-run bootstrap",
        &bootstrap_run(&aws.endpoint, &[ACCOUNT_B], &[], &[]),
    );
    assert!(
        toolkit_b(&aws)
            .await
            .outputs
            .contains_key("PipelineRunBootstrapRevision")
    );
    let r = cdk_bootstrap_b(&aws, &[]);
    ok("cdk bootstrap", &r);
    let text = format!("{}{}", r.stdout, r.stderr);
    // The CDK CLI exits 0 when it declines, so the template it deployed is the proof.
    assert!(
        !text.contains("Not overwriting") && !text.contains("Not downgrading"),
        "{text}"
    );
    let after = toolkit_b(&aws).await;
    assert!(
        !after.outputs.contains_key("PipelineRunBootstrapRevision"),
        "the CDK's own template replaced pipeline-run's: {:?}",
        after.outputs
    );
    assert_eq!(after.version(), 33);
    assert_eq!(
        after.parameters["TrustedAccounts"], ACCOUNT_A,
        "kept by the CDK"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cdk_deploy_works_on_a_pipeline_run_bootstrap() {
    let aws = aws();
    aws.bootstrap_both();
    let app = repo().join(APP).display().to_string();
    let r = cdk(
        &aws,
        "ci",
        &[
            "deploy",
            "--app",
            &app,
            "--require-approval",
            "never",
            "--all",
        ],
    );
    ok("cdk deploy", &r);
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let stack = cfn.describe_stacks().stack_name("AppStack").send().await;
    let status = stack.unwrap().stacks()[0].stack_status().unwrap().clone();
    assert_eq!(status.as_str(), "CREATE_COMPLETE");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_run_deploys_a_cloud_assembly_on_a_cdk_bootstrap() {
    let aws = aws();
    let trust = [
        "--trust",
        ACCOUNT_A,
        "--cloudformation-execution-policies",
        ADMIN_POLICY,
    ];
    ok("cdk bootstrap of B", &cdk_bootstrap_b(&aws, &trust));
    let env_a = env_url(ACCOUNT_A);
    ok(
        "cdk bootstrap of A",
        &cdk(&aws, "ci", &["bootstrap", &env_a, trust[2], trust[3]]),
    );
    let r = aws.run(&["--app", APP, "--output", "json", "deploy", "--all"]);
    ok("pipeline-run deploy --app", &r);
    let json = r.json();
    for s in json["stages"].as_array().unwrap() {
        assert_eq!(s["status"], "deployed", "{s}");
    }
}

#[test]
fn show_template_prints_the_template_without_any_aws_call() {
    let (r, connections) = run_offline(&["bootstrap", "--show-template"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let template =
        std::fs::read_to_string(repo().join("bootstrap/bootstrap-template.yaml")).unwrap();
    assert_eq!(r.stdout, template);
    assert_eq!(connections, 0);
}
