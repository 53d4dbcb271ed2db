//! Environment-agnostic cloud assemblies (stacks without `env`: `aws://unknown-account/…`) deploy
//! as `cdk deploy` deploys them, to the account of the credentials and the configured region,
//! their cross-stack references included; `list` and `plan` show them as such without one
//! connection; stacks are selected as `cdk deploy` selects them (ids and patterns, dependencies
//! included unless `--exclusively`, dependents for destroy).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;

/// Producer (exports a value) ← Consumer (imports it; stack name `agnostic-consumer`), both
/// `aws://unknown-account/unknown-region`, and Edge (`aws://unknown-account/us-east-1`).
const FIXTURE: &str = "tests/fixtures/assembly-agnostic";

/// pipeline-run against a loopback port that only counts connections, with credentials and
/// exactly the environment `extra` gives (no region unless it names one).
fn offline(args: &[&str], extra: &[(&str, &str)]) -> (Run, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let nowhere = repo()
        .join("target/no-such-aws-config")
        .display()
        .to_string();
    let base: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIAPIPELINECI111111"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "pipelineRunCiSecretAccessKey000000000001",
        ),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", nowhere.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let run = run_binary(args, &base, extra);
    // A connection attempt made just before exiting may still be in the backlog.
    std::thread::sleep(Duration::from_millis(50));
    (run, count.load(Ordering::SeqCst))
}

/// Whether account A has stack `name` (not deleted); any error but "does not exist" fails.
async fn stack_exists(aws: &Aws, name: &str) -> bool {
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk("ci").await);
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out.stacks().iter().any(|s| {
            s.stack_status()
                .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
        }),
        Err(e) if e.code() == Some("ValidationError") => false,
        Err(e) => panic!("DescribeStacks {name}: {e:?}"),
    }
}

#[tokio::test]
async fn an_agnostic_app_deploys_to_the_callers_account_and_region_with_its_cross_stack_reference()
{
    let aws = aws();
    // `bootstrap --app` bootstraps where the stacks go: the caller's account in the configured
    // region (Producer, Consumer) and in us-east-1 (Edge).
    let b = aws.run(&[
        "bootstrap",
        "--app",
        FIXTURE,
        "--trust",
        ACCOUNT_A,
        "--cloudformation-execution-policies",
        ADMIN_POLICY,
        "--output",
        "json",
    ]);
    assert_eq!(b.code, 0, "bootstrap failed:\n{}", b.stderr);
    for env in [
        format!("aws://{ACCOUNT_A}/{REGION}"),
        format!("aws://{ACCOUNT_A}/us-east-1"),
    ] {
        assert!(
            b.stdout.contains(&env),
            "{env} not bootstrapped: {}",
            b.stdout
        );
    }
    // Consumer by its id: Producer, its dependency, comes along; Edge (us-east-1) does not.
    let r = aws.run(&["deploy", "--app", FIXTURE, "Consumer", "--output", "json"]);
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    let json = r.json();
    for name in ["Producer", "Consumer"] {
        let s = stage(&json, name);
        assert_eq!(s["status"], "deployed", "{s}");
        assert_eq!(s["account"], ACCOUNT_A, "{s}");
        assert_eq!(s["region"], REGION, "{s}");
        assert!(
            r.stderr.contains(&format!(
                "stack {name} is environment-agnostic: deploying to aws://{ACCOUNT_A}/{REGION}"
            )),
            "{}",
            r.stderr
        );
    }
    assert_eq!(json["stages"].as_array().unwrap().len(), 2, "{json}");
    assert!(
        r.stderr.contains("Including dependency stacks: Producer"),
        "{}",
        r.stderr
    );
    // The template's pseudo parameters and the import resolved in the caller's environment.
    assert_eq!(
        stack_output(&aws, "ci", "Producer", "MadeIn").await,
        format!("made-in-{ACCOUNT_A}-{REGION}")
    );
    assert_eq!(
        stack_output(&aws, "ci", "agnostic-consumer", "ImportedName").await,
        "/pipeline-run-fixture/agnostic/producer",
        "Consumer imports Producer's export"
    );
    // The placeholders of the asset manifests were filled: the file asset is in A's bucket.
    let s3 = aws.s3("ci").await;
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(staging_bucket(ACCOUNT_A))
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert!(
        keys.iter()
            .any(|k| k == "95ff45275f89d1b5c1a7f338ef92c6fdeab4f7ddd6d66ed23aa34b0e8a61a36c.json"),
        "{keys:?}"
    );
    assert!(stack_exists(&aws, "agnostic-consumer").await);

    // Edge fixes its region: the caller's account in us-east-1, whatever the profile says.
    let e = aws.run(&["deploy", "--app", FIXTURE, "-e", "Edge", "--output", "json"]);
    assert_eq!(e.code, 0, "deploy failed:\n{}", e.stderr);
    let edge = stage(&e.json(), "Edge").clone();
    assert_eq!(
        (
            edge["status"].as_str(),
            edge["account"].as_str(),
            edge["region"].as_str()
        ),
        (Some("deployed"), Some(ACCOUNT_A), Some("us-east-1")),
        "{edge}"
    );

    // destroy Producer takes what depends on it (Consumer) first, as `cdk destroy` does; with no
    // region in the profile, `--region` is the configured region.
    let nowhere = repo()
        .join("target/no-such-aws-config")
        .display()
        .to_string();
    let d = aws.run_as(
        "ci",
        &[
            "destroy", "--app", FIXTURE, "Producer", "--force", "--region", REGION,
        ],
        &[("AWS_CONFIG_FILE", nowhere.as_str())],
    );
    assert_eq!(d.code, 0, "destroy failed:\n{}", d.stderr);
    assert!(
        d.stderr.contains("Including depending stacks: Consumer"),
        "{}",
        d.stderr
    );
    assert!(!stack_exists(&aws, "agnostic-consumer").await);
    assert!(!stack_exists(&aws, "Producer").await);
}

#[test]
fn list_and_plan_show_agnostic_stacks_without_a_connection() {
    let (r, calls) = offline(&["list", "--app", FIXTURE, "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let producer = stage(&json, "Producer");
    assert_eq!(producer["account"], serde_json::Value::Null);
    assert_eq!(producer["account_from"], "credentials");
    assert_eq!(producer["region"], serde_json::Value::Null);
    assert_eq!(producer["region_from"], "configuration");
    let edge = stage(&json, "Edge");
    assert_eq!(edge["region"], "us-east-1");
    assert!(edge.get("region_from").is_none(), "{edge}");

    let (r, calls) = offline(&["list", "--app", FIXTURE], &[]);
    assert_eq!((r.code, calls), (0, 0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("account of the credentials  region of the configuration"),
        "{}",
        r.stdout
    );

    let (r, calls) = offline(
        &["plan", "--app", FIXTURE, "--format", "github-matrix"],
        &[],
    );
    assert_eq!((r.code, calls), (0, 0), "{}", r.stderr);
    let matrix: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(matrix["wave_count"], 2);
    assert_eq!(
        matrix["waves"][1]["include"][0],
        serde_json::json!({"account": null, "account_from": "credentials", "region": null, "region_from": "configuration", "stack": "agnostic-consumer", "stage": "Consumer"})
    );
}

#[test]
fn without_a_configured_region_agnostic_stacks_are_refused_before_any_aws_call() {
    let (r, calls) = offline(&["deploy", "--app", FIXTURE, "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(
        r.stderr.contains("stacks Producer, Consumer are environment-agnostic (no region of their own) and no region is configured"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("pass --region REGION, set AWS_REGION"),
        "{}",
        r.stderr
    );
}

#[test]
fn stacks_are_selected_by_id_not_stack_name_and_unknown_patterns_list_the_ids() {
    let region = [("AWS_REGION", REGION)];
    for pattern in ["agnostic-consumer", "Nope*"] {
        let (r, calls) = offline(&["deploy", "--app", FIXTURE, pattern], &region);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(calls, 0);
        assert!(
            r.stderr.contains(&format!("matches '{pattern}'"))
                && r.stderr.contains("use one of: Producer, Consumer, Edge"),
            "{}",
            r.stderr
        );
    }
    let (r, calls) = offline(&["deploy", "--app", FIXTURE], &region);
    assert_eq!((r.code, calls), (2, 0), "{}", r.stderr);
    assert!(r.stderr.contains("name the stacks to run"), "{}", r.stderr);
    // A stage file keeps its exact names: a pattern is no stage name.
    let (r, calls) = offline(
        &["deploy", "-f", "pipelines/vpc-peering.yml", "Vpc*"],
        &region,
    );
    assert_eq!((r.code, calls), (2, 0), "{}", r.stderr);
    assert!(r.stderr.contains("no stage named 'Vpc*'"), "{}", r.stderr);
}
