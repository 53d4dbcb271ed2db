//! Cloud assemblies as `cdk synth` writes them beyond the default synthesizer's single level:
//! nested assemblies (CDK Pipelines stages) deployed in dependency order across two accounts,
//! stacks without resources skipped (and deleted when they exist), legacy-synthesizer stacks
//! deployed with the credentials in use and their `AssetParameters…` filled from the published
//! asset; and assemblies refused before any AWS call with every problem named.

use crate::common::*;
use sha2::Digest;

const STAGED: &str = "tests/fixtures/assembly-staged";
const LEGACY: &str = "tests/fixtures/assembly-legacy";
/// The file asset of stage Beta's Api stack (its key is the sha256 of its content).
const BETA_ASSET: &str = "2fc449e185700395c31327b62676534daaaae82dc35fea0783d01968314b4622.txt";

async fn stack_exists(aws: &Aws, profile: &str, name: &str) -> bool {
    let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk(profile).await);
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out
            .stacks()
            .iter()
            .any(|s| s.stack_status().map(|s| s.as_str()) != Some("DELETE_COMPLETE")),
        Err(_) => false,
    }
}

async fn object_keys(aws: &Aws, profile: &str, bucket: &str) -> Vec<String> {
    let s3 = aws.s3(profile).await;
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_staged_assembly_deploys_its_nested_stacks_and_skips_or_deletes_stacks_without_resources()
{
    let aws = aws();
    aws.bootstrap_both();
    // An earlier version of the app had a resource in the stack that is empty now: the CDK
    // deletes the stack.
    let s = Scratch::new("staged-before");
    let before = edited(&s, STAGED, "manifest.json", |_| {});
    std::fs::write(
        std::path::Path::new(&before).join("Empty.template.json"),
        r#"{"Resources":{"P":{"Type":"AWS::SSM::Parameter","Properties":{"Name":"/pipeline-run-fixture/staged/empty","Type":"String","Value":"old"}}}}"#,
    )
    .unwrap();
    let r = aws.run(&["deploy", "--app", &before, "Empty"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(stack_exists(&aws, "ci", "staged-empty").await);
    // `diff` says what a deploy would do, and does nothing.
    let r = aws.run(&["diff", "--app", STAGED, "Empty", "--output", "json"]);
    assert_eq!(
        stage(&r.json(), "Empty")["status"],
        "changes",
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("has no resources: a deploy deletes the existing stack"),
        "{}",
        r.stderr
    );
    assert!(stack_exists(&aws, "ci", "staged-empty").await);

    let r = aws.run(&["deploy", "--app", STAGED, "--all", "--output", "json"]);
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    let json = r.json();
    for (name, account) in [
        ("BetaDbA1B2C3D4", ACCOUNT_A),
        ("BetaApiE5F6A7B8", ACCOUNT_B),
        ("Top", ACCOUNT_A),
    ] {
        let s = stage(&json, name);
        assert_eq!(s["status"], "deployed", "{s}");
        assert_eq!(s["account"], account);
    }
    assert!(stack_exists(&aws, "admin-b", "Beta-Api").await);
    assert!(stack_exists(&aws, "ci", "Beta-Db").await);
    // The asset of the nested assembly, from its own directory, in account B's bucket.
    assert_eq!(
        object_keys(&aws, "admin-b", &staging_bucket(ACCOUNT_B)).await,
        [BETA_ASSET]
    );

    assert_eq!(stage(&json, "OutputsOnly")["status"], "no_changes");
    assert!(
        r.stderr.contains("has no resources, skipping deployment"),
        "{}",
        r.stderr
    );
    assert!(!stack_exists(&aws, "ci", "staged-outputs-only").await);
    assert_eq!(stage(&json, "Empty")["status"], "destroyed");
    assert!(
        r.stderr
            .contains("has no resources, deleted the existing stack"),
        "{}",
        r.stderr
    );
    assert!(!stack_exists(&aws, "ci", "staged-empty").await);

    // Again: nothing to delete any more, both are skipped.
    let again = aws.run(&["deploy", "--app", STAGED, "--all", "--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(stage(&again.json(), "Empty")["status"], "no_changes");
}

#[tokio::test]
async fn a_legacy_stack_deploys_with_the_credentials_in_use_and_its_asset_parameters_filled() {
    let aws = aws();
    let deploy_as_admin_b = |extra: &[&str]| {
        let mut args = vec!["deploy", "--app", LEGACY, "--all"];
        args.extend_from_slice(extra);
        aws.run_as("admin-b", &args, &[])
    };
    // No toolkit stack yet: the asset has nowhere to go, as with `cdk deploy`.
    let r = deploy_as_admin_b(&[]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("stack LegacyStack has assets or a template over 51,200 bytes (legacy stack synthesizer), so the toolkit stack CDKToolkit with an output BucketName must be deployed to aws://222222222222/ap-northeast-1; there is no such stack"),
        "{}",
        r.stderr
    );

    aws.bootstrap(&[ACCOUNT_B]);
    // Credentials of another account cannot deploy it: the manifest names no role to assume.
    let other = aws.run(&["deploy", "--app", LEGACY, "--all"]);
    assert_eq!(other.code, 5, "{}", other.stderr);
    assert!(
        other.stderr.contains("names no role to assume (legacy stack synthesizer), so it is deployed with the credentials in use, as the CDK does; they are of account 111111111111, not 222222222222"),
        "{}",
        other.stderr
    );
    assert!(!stack_exists(&aws, "admin-b", "LegacyStack").await);

    let r = deploy_as_admin_b(&["--output", "json"]);
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    let json = r.json();
    let s = stage(&json, "LegacyStack");
    assert_eq!(s["status"], "deployed", "{s}");
    let bucket = staging_bucket(ACCOUNT_B);
    // Uploaded where the CDK CLI puts it, and the template got bucket, `prefix||file` and hash.
    assert_eq!(
        object_keys(&aws, "admin-b", &bucket).await,
        ["assets/5f1c0e2d.zip"]
    );
    assert_eq!(
        s["outputs"]["SiteUrl"],
        format!("s3://{bucket}/assets/5f1c0e2d.zip").as_str()
    );
    assert_eq!(s["outputs"]["SiteHash"], "5f1c0e2d");

    // A template over the TemplateBody limit goes to the toolkit bucket too, as the CDK CLI puts
    // it there (`cdk/<stack>/<hash>.yml`), with the same credentials.
    let scratch = Scratch::new("legacy-large");
    let large = edited(&scratch, LEGACY, "LegacyStack.template.json", |t| {
        t["Description"] = serde_json::json!("x".repeat(60_000));
    });
    let r = aws.run_as("admin-b", &["deploy", "--app", &large, "--all"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let body =
        std::fs::read(std::path::Path::new(&large).join("LegacyStack.template.json")).unwrap();
    let digest: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        object_keys(&aws, "admin-b", &bucket)
            .await
            .contains(&format!("cdk/LegacyStack/{digest}.yml")),
        "{}",
        r.stderr
    );
}

#[test]
fn list_names_no_bootstrap_role_for_a_stack_whose_manifest_names_none() {
    let (r, calls) = run_offline(&["--app", LEGACY, "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(!r.stdout.contains("arn:aws:iam::"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("credentials in use, no role assumed (the manifest names none): LegacyStack"),
        "{}",
        r.stdout
    );
}

/// A copy of `fixture` in a scratch directory, with `edit` applied to the manifest at `manifest`.
fn edited(
    s: &Scratch,
    fixture: &str,
    manifest: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let to = s.0.join("cdk.out");
    copy_dir(&repo().join(fixture), &to);
    let path = to.join(manifest);
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    to.display().to_string()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn broken_assemblies_are_refused_with_every_problem_and_no_aws_call() {
    let s = Scratch::new("assembly-refusals");
    // A parameter without Default and without value, a field of a newer schema in a nested
    // assembly, and a stack whose template is gone: all three at once.
    let app = edited(&s, STAGED, "assembly-Beta/manifest.json", |m| {
        m["version"] = serde_json::json!("57.0.0");
        m["artifacts"]["BetaDbA1B2C3D4"]["properties"]["stackPolicy"] =
            serde_json::json!({"Statement": []});
    });
    let top = std::path::Path::new(&app);
    std::fs::write(
        top.join("Top.template.json"),
        r#"{"Parameters":{"Size":{"Type":"Number"}},"Resources":{"P":{"Type":"AWS::SSM::Parameter","Properties":{"Type":"String","Value":"x"}}}}"#,
    )
    .unwrap();
    std::fs::remove_file(top.join("OutputsOnly.template.json")).unwrap();
    let (r, calls) = run_offline(&["deploy", "--app", &app, "--all"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(calls, 0, "{calls} connection(s) to the AWS endpoint");
    for expected in [
        "has 3 problems; nothing was deployed",
        "assembly-Beta/manifest.json: artifact 'BetaDbA1B2C3D4' properties has field \"stackPolicy\", which this pipeline-run does not know (schema 57.0.0",
        "stack 'OutputsOnly': templateFile 'OutputsOnly.template.json' not found",
        "stack Top: template",
        "requires parameter 'Size' (it has no Default), and the manifest gives it no value",
        "fix: give it a value in the CDK app",
    ] {
        assert!(r.stderr.contains(expected), "{expected}:\n{}", r.stderr);
    }
    assert!(
        r.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.ends_with("assembly-Beta/manifest.json: cloud assembly schema version 57.0.0 is newer than this pipeline-run knows (55.x); it is read with the fields of 55.x, and a field it does not know is refused")),
        "the newer schema is also warned about by version:\n{}",
        r.stderr
    );
}

#[test]
fn a_newer_schema_without_unknown_fields_is_listed_with_a_warning_naming_its_version() {
    let s = Scratch::new("assembly-newer-schema");
    let app = edited(&s, STAGED, "manifest.json", |m| {
        m["version"] = serde_json::json!("56.0.0");
    });
    let (r, calls) = run_offline(&["--app", &app, "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("warning: ") && l.ends_with("manifest.json: cloud assembly schema version 56.0.0 is newer than this pipeline-run knows (55.x); it is read with the fields of 55.x, and a field it does not know is refused")),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("BetaApiE5F6A7B8"), "{}", r.stdout);
}

#[tokio::test]
async fn a_stacks_notification_arns_are_given_to_cloudformation() {
    let aws = aws();
    aws.bootstrap_both();
    let cfg = aws.sdk("admin-b").await;
    let topic = create_stack(
        &cfg,
        "notification-topic",
        r#"{"Resources":{"T":{"Type":"AWS::SNS::Topic"}},"Outputs":{"Arn":{"Value":{"Ref":"T"}}}}"#,
    )
    .await["Arn"]
        .clone();
    let s = Scratch::new("notification-arns");
    let app = edited(
        &s,
        "tests/fixtures/assembly-two-accounts",
        "manifest.json",
        |m| {
            m["artifacts"]["AppStack"]["properties"]["notificationArns"] =
                serde_json::json!([topic.clone()]);
        },
    );
    let r = aws.run(&["deploy", "--app", &app, "AppStack"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cfn = aws_sdk_cloudformation::Client::new(&cfg);
    let out = cfn
        .describe_stacks()
        .stack_name("AppStack")
        .send()
        .await
        .unwrap();
    assert_eq!(out.stacks()[0].notification_arns(), [topic]);
}
