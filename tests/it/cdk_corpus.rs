//! The CDK conformance corpus: cloud assemblies synthesized by a current aws-cdk-lib from the
//! apps in tests/cdk-corpus/apps (`tests/cdk-corpus/synth`, a developer tool; the fixtures under
//! tests/fixtures/cdk-corpus are committed), with what `cdk deploy --app DIR` does with each
//! written down in tests/fixtures/cdk-corpus/corpus.json. A `deploy` fixture is accepted by
//! `list` (no AWS call) and `plan`, and deployed on the emulator with its selection: exactly the
//! selected stacks reach CREATE_COMPLETE in their accounts with their outputs, stacks without
//! resources are skipped, unselected ones are left alone; `plan` orders dependent stacks after
//! the stacks they depend on. A `refuse` fixture is refused by `list`
//! and `plan` before any connection, with its documented reason.

use std::collections::BTreeSet;

use crate::common::*;
use serde_json::Value;

const CORPUS: &str = "tests/fixtures/cdk-corpus";

/// Every fixture of corpus.json, each with its tests below.
const FIXTURES: [&str; 15] = [
    "env-agnostic-crossref",
    "region-only",
    "two-accounts-assets",
    "pipeline-stages",
    "empty-and-outputs",
    "legacy-synthesizer",
    "nested-stack",
    "custom-qualifier",
    "typical-app",
    "sample-app",
    "lambda-cron",
    "api-crud-dynamodb",
    "docker-image-asset",
    "unfinished-lookup",
    "dummy-account",
];

fn corpus() -> Value {
    let path = repo().join(CORPUS).join("corpus.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture's directory (relative to the repository) and its corpus.json entry.
fn case(name: &str) -> (String, Value) {
    let entry = corpus()["fixtures"][name].clone();
    assert!(entry.is_object(), "no fixture {name} in corpus.json");
    (format!("{CORPUS}/{name}"), entry)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// (stack name, account) of each entry of `field` ("stacks", "skipped", "not_selected").
fn stacks(entry: &Value, field: &str) -> Vec<(String, String)> {
    entry[field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let name = s["name"].as_str().unwrap().to_string();
                    (name, s["account"].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The outputs the fixture's stack `stack` must have.
fn outputs(entry: &Value, stack: &str) -> Vec<String> {
    let all = entry["stacks"].as_array().unwrap();
    strings(&all.iter().find(|s| s["name"] == stack).unwrap()["outputs"])
}

/// The emulator profile that reads stacks of `account` directly.
fn reader(account: &str) -> &'static str {
    match account {
        ACCOUNT_A => "ci",
        ACCOUNT_B => "admin-b",
        other => panic!("no profile for account {other}"),
    }
}

/// `list` and `plan` of the fixture: accepted, or refused before any connection with the
/// fixture's reason.
fn list_and_plan(name: &str) {
    let (dir, entry) = case(name);
    for cmd in ["list", "plan"] {
        let (r, connections) = run_offline(&["--app", &dir, cmd]);
        let out = format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        match entry["expect"].as_str().unwrap() {
            "deploy" => {
                assert_eq!(
                    r.code, 0,
                    "{name}: `{cmd}` refused an assembly `cdk deploy` deploys:\n{out}"
                );
                if cmd == "plan" {
                    in_order(name, &entry, &dir);
                }
                if cmd == "list" {
                    assert_eq!(connections, 0, "{name}: `list` called AWS:\n{out}");
                    let all = ["stacks", "skipped", "not_selected"];
                    for (stack, _) in all.iter().flat_map(|f| stacks(&entry, f)) {
                        assert!(
                            r.stdout.contains(&stack),
                            "{name}: `list` omits {stack}:\n{out}"
                        );
                    }
                }
            }
            "refuse" => {
                let reason = entry["reason"].as_str().unwrap();
                assert_eq!(
                    r.code, 2,
                    "{name}: `{cmd}` did not refuse it as bad input ({reason}):\n{out}"
                );
                for text in strings(&entry["error_contains"]) {
                    assert!(
                        r.stderr.contains(&text),
                        "{name}: `{cmd}`'s refusal ({reason}) does not say {text:?}:\n{out}"
                    );
                }
                assert_eq!(connections, 0, "{name}: `{cmd}` called AWS before refusing");
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
}

/// `plan --format json` puts each stack of the fixture's `order` pairs in a later wave than the
/// stack it depends on (a cross-stack reference or an explicit dependency).
fn in_order(name: &str, entry: &Value, dir: &str) {
    let (r, _) = run_offline(&["--app", dir, "plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{name}: plan --format json:\n{}", r.stderr);
    let plan = r.json();
    let wave_of = |stack: &str| {
        let waves = plan["waves"].as_array().unwrap();
        waves
            .iter()
            .position(|w| w.as_array().unwrap().iter().any(|s| s["stack"] == stack))
            .unwrap_or_else(|| panic!("{name}: {stack} is in no wave of the plan: {plan}"))
    };
    for pair in entry["order"].as_array().into_iter().flatten() {
        let pair = strings(pair);
        let (first, then) = (&pair[0], &pair[1]);
        assert!(
            wave_of(first) < wave_of(then),
            "{name}: {then} is not planned after {first}, which it depends on: {plan}"
        );
    }
}

/// Whether stack `name` exists in `account`, as that account reads it.
async fn exists(aws: &Aws, account: &str, name: &str) -> bool {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk(reader(account)).await);
    cfn.describe_stacks().stack_name(name).send().await.is_ok()
}

/// Stack `stage` of the result is CREATE_COMPLETE in `account` and the region, with `outputs`,
/// in the result and as the account reads it.
async fn created(aws: &Aws, name: &str, stage: &Value, account: &str, outputs: &[String]) {
    let stack = stage["stack"].as_str().unwrap();
    assert_eq!(stage["account"], account, "{name}: {stack}: {stage}");
    assert_eq!(stage["region"], REGION, "{name}: {stack}: {stage}");
    assert_eq!(
        stage["stack_status"], "CREATE_COMPLETE",
        "{name}: {stack}: {stage}"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk(reader(account)).await);
    let live = cfn.describe_stacks().stack_name(stack).send().await;
    let live = live.unwrap_or_else(|e| panic!("{name}: {stack} not in {account}: {e:?}"));
    let live = &live.stacks()[0];
    assert_eq!(live.stack_status().unwrap().as_str(), "CREATE_COMPLETE");
    for output in outputs {
        let value = live
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(output.as_str()))
            .and_then(|o| o.output_value());
        assert!(
            value.is_some_and(|v| !v.is_empty()),
            "{name}: {stack} has no output {output}: {:?}",
            live.outputs()
        );
        let reported = stage["outputs"][output].as_str();
        assert_eq!(
            reported, value,
            "{name}: {stack}'s output {output} in the result: {stage}"
        );
    }
}

/// The fixture deployed on the emulator as its corpus.json entry says.
async fn deploys(name: &str) {
    let (dir, entry) = case(name);
    assert_eq!(entry["expect"], "deploy", "{name} is not a deploy fixture");
    let aws = aws();
    let accounts = strings(&entry["bootstrap"]);
    let accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let qualifier: Vec<&str> = match entry["qualifier"].as_str() {
        Some(q) => vec!["--qualifier", q],
        None => vec![],
    };
    let b = bootstrap_run(&aws.endpoint, &accounts, &qualifier, &[]);
    assert_eq!(b.code, 0, "{name}: bootstrap failed:\n{}", b.stderr);

    let select = strings(&entry["select"]);
    let mut args = vec!["--app", dir.as_str(), "--output", "json", "deploy"];
    args.extend(select.iter().map(String::as_str));
    let profile = entry["profile"].as_str().unwrap();
    let r = aws.run_as(profile, &args, &[]);
    assert_eq!(r.code, 0, "{name}: deploy {select:?} failed:\n{}", r.stderr);
    let json = r.json();
    let stages = json["stages"].as_array().unwrap();
    let deployed: BTreeSet<&str> = stages
        .iter()
        .filter(|s| s["status"] == "deployed")
        .map(|s| s["stack"].as_str().unwrap())
        .collect();
    let expected = stacks(&entry, "stacks");
    let want: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        deployed, want,
        "{name}: stacks deployed by {select:?}:\n{json}"
    );

    for (stack, account) in &expected {
        let s = stages.iter().find(|s| s["stack"] == stack.as_str());
        created(&aws, name, s.unwrap(), account, &outputs(&entry, stack)).await;
    }
    for (stack, account) in stacks(&entry, "skipped") {
        assert!(
            !exists(&aws, &account, &stack).await,
            "{name}: {stack} (no resources) was created"
        );
        let said = r
            .stderr
            .lines()
            .any(|l| l.contains(&stack) && l.to_lowercase().contains("skip"));
        assert!(
            said,
            "{name}: no line says {stack} was skipped:\n{}",
            r.stderr
        );
    }
    for (stack, account) in stacks(&entry, "not_selected") {
        assert!(
            !exists(&aws, &account, &stack).await,
            "{name}: {stack} was not selected by {select:?} but deployed"
        );
    }
}

macro_rules! offline {
    ($($test:ident => $fixture:literal,)*) => {$(
        #[test]
        fn $test() {
            list_and_plan($fixture);
        }
    )*};
}

macro_rules! on_the_emulator {
    ($($test:ident => $fixture:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            deploys($fixture).await;
        }
    )*};
}

offline! {
    env_agnostic_crossref_is_listed_and_planned => "env-agnostic-crossref",
    region_only_is_listed_and_planned => "region-only",
    two_accounts_assets_is_listed_and_planned => "two-accounts-assets",
    pipeline_stages_is_listed_and_planned => "pipeline-stages",
    empty_and_outputs_is_listed_and_planned => "empty-and-outputs",
    legacy_synthesizer_is_listed_and_planned => "legacy-synthesizer",
    nested_stack_is_listed_and_planned => "nested-stack",
    custom_qualifier_is_listed_and_planned => "custom-qualifier",
    typical_app_is_listed_and_planned => "typical-app",
    sample_app_is_listed_and_planned => "sample-app",
    lambda_cron_is_listed_and_planned => "lambda-cron",
    api_crud_dynamodb_is_listed_and_planned => "api-crud-dynamodb",
    docker_image_asset_is_refused_offline => "docker-image-asset",
    unfinished_lookup_is_refused_offline => "unfinished-lookup",
    dummy_account_is_refused_offline => "dummy-account",
}

on_the_emulator! {
    env_agnostic_crossref_deploys_to_the_callers_account_and_region => "env-agnostic-crossref",
    region_only_deploys_to_the_callers_account => "region-only",
    two_accounts_assets_deploys_file_assets_across_two_accounts => "two-accounts-assets",
    pipeline_stages_deploys_the_beta_stage_by_glob => "pipeline-stages",
    empty_and_outputs_skips_the_stacks_without_resources => "empty-and-outputs",
    legacy_synthesizer_deploys_with_its_asset_parameters_filled => "legacy-synthesizer",
    custom_qualifier_deploys_on_a_qualified_bootstrap => "custom-qualifier",
    typical_app_deploys => "typical-app",
    sample_app_deploys_by_stack_name => "sample-app",
    lambda_cron_deploys_by_star => "lambda-cron",
    nested_stack_deploys_its_nested_template => "nested-stack",
    api_crud_dynamodb_deploys => "api-crud-dynamodb",
}

/// corpus.json, the fixture directories, the apps and the tests above agree; every fixture is
/// schema 55 as synthesized; the README's counts are corpus.json's.
#[test]
fn the_corpus_index_matches_the_fixtures_the_apps_and_the_readme() {
    let corpus = corpus();
    let fixtures = corpus["fixtures"].as_object().unwrap();
    let listed: BTreeSet<&str> = fixtures.keys().map(String::as_str).collect();
    let tested: BTreeSet<&str> = FIXTURES.into_iter().collect();
    assert_eq!(listed, tested, "corpus.json and FIXTURES differ");
    let dirs = |path: &str| -> BTreeSet<String> {
        std::fs::read_dir(repo().join(path))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .collect()
    };
    let listed: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        dirs(CORPUS),
        listed,
        "fixture directories and corpus.json differ"
    );
    assert_eq!(
        dirs("tests/cdk-corpus/apps"),
        listed,
        "apps and corpus.json differ"
    );
    for name in FIXTURES {
        let version =
            std::fs::read_to_string(repo().join(CORPUS).join(name).join("cdk.out")).unwrap();
        assert_eq!(version, r#"{"version":"55.0.0"}"#, "{name}");
        let entry = &fixtures[name];
        match entry["expect"].as_str().unwrap() {
            "deploy" => assert!(!stacks(entry, "stacks").is_empty(), "{name}: no stacks"),
            "refuse" => assert!(
                !strings(&entry["error_contains"]).is_empty(),
                "{name}: no text"
            ),
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
    let deploy = fixtures
        .values()
        .filter(|e| e["expect"] == "deploy")
        .count();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    // As a reader sees it: line breaks of the wrapped paragraph are spaces.
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let counts = format!(
        "{} apps: {deploy} deployed, {} refused",
        fixtures.len(),
        fixtures.len() - deploy
    );
    assert!(
        readme.contains(&counts),
        "README.md does not say {counts:?}"
    );
}
