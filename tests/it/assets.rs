//! Assets and cloud assemblies against the local AWS: a `cdk.out` deployed across two accounts
//! (assets under their hash keys, once; dependency order; nothing uploaded on a re-deploy),
//! stage-file assets whose keys reach template parameters, multipart uploads of large files, and
//! templates over the TemplateBody limit; a symlink out of the project refused before anything
//! is uploaded, and a tampered zip cache entry rebuilt rather than uploaded.

use std::collections::BTreeMap;

use crate::common::*;
use sha2::{Digest, Sha256};

const FIXTURE: &str = "tests/fixtures/assembly-two-accounts";

/// Key → (size, last modified) of every object in the bucket.
async fn objects(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, (i64, String)> {
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap().to_string(),
                (o.size().unwrap_or(0), format!("{:?}", o.last_modified())),
            )
        })
        .collect()
}

async fn object_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_cloud_assembly_deploys_across_two_accounts_and_a_redeploy_uploads_nothing() {
    let aws = aws();
    aws.bootstrap_both();
    // Resources take time to create, so a stack started before NetworkStack finished would show.
    set_delay(&aws.endpoint, 300);
    let r = aws.run(&["deploy", "--app", FIXTURE, "--all", "--output", "json"]);
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    let json = r.json();
    for (name, account) in [("NetworkStack", ACCOUNT_A), ("AppStack", ACCOUNT_B)] {
        let s = stage(&json, name);
        assert_eq!(s["status"], "deployed", "{s}");
        assert_eq!(s["account"], account);
        assert_eq!(s["stack_status"], "CREATE_COMPLETE");
        assert_eq!(
            s["assets"],
            serde_json::json!({"uploaded": 2, "skipped": 0}),
            "{name}: its template and one file asset"
        );
    }
    assert!(
        r.stderr.contains("asset AppStack/Code: uploaded"),
        "{}",
        r.stderr
    );

    // Each account's staging bucket holds exactly its stacks' assets, under the manifest's keys.
    let s3_a = aws.s3("ci").await;
    let s3_b = aws.s3("admin-b").await;
    let in_a = objects(&s3_a, &staging_bucket(ACCOUNT_A)).await;
    let in_b = objects(&s3_b, &staging_bucket(ACCOUNT_B)).await;
    assert_eq!(
        in_a.keys().collect::<Vec<_>>(),
        [
            "a447bc63c3970bd998f96b87c20e9db4bbb77a6b9f8310b1f61fc5c9c3755549.json",
            "e24ad8a797693d648e75d52d38be704f48b4e6bddfd5e892dd3c4ea6ee7dd496.json"
        ]
    );
    assert_eq!(
        in_b.keys().collect::<Vec<_>>(),
        [
            "e4383785d618d6a1d89632556c9fb1a89cdd098a74d02226ff2b0d0185230d20.json",
            "f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842.zip"
        ]
    );
    // The template object is the template file; its key is its hash, as the CDK writes it.
    let template = object_bytes(
        &s3_b,
        &staging_bucket(ACCOUNT_B),
        "e4383785d618d6a1d89632556c9fb1a89cdd098a74d02226ff2b0d0185230d20.json",
    )
    .await;
    assert_eq!(
        template,
        std::fs::read(repo().join(FIXTURE).join("AppStack.template.json")).unwrap()
    );
    assert_eq!(
        sha256_hex(&template),
        "e4383785d618d6a1d89632556c9fb1a89cdd098a74d02226ff2b0d0185230d20"
    );
    // The directory asset went up as the deterministic zip of the directory.
    let zip = object_bytes(
        &s3_b,
        &staging_bucket(ACCOUNT_B),
        "f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842.zip",
    )
    .await;
    let scratch = Scratch::new("assembly-zip");
    let expected = scratch.0.join("expected.zip");
    pipeline_run::package::zip_directory(
        &repo()
            .join(FIXTURE)
            .join("asset.f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842"),
        &expected,
    )
    .unwrap();
    assert_eq!(zip, std::fs::read(&expected).unwrap());

    // Deployed with the assembly's roles: AppStack's resources exist in account B.
    let ssm_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let code = ssm_b
        .get_parameter()
        .name("/pipeline-run-fixture/app/code-location")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code.parameter().unwrap().value(),
        Some(
            "s3://cdk-hnb659fds-assets-222222222222-ap-northeast-1/f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842.zip"
        )
    );

    // AppStack (depends on NetworkStack) was only created after NetworkStack had completed.
    let cfn_a = aws_sdk_cloudformation::Client::new(&aws.sdk("ci").await);
    let cfn_b = aws_sdk_cloudformation::Client::new(&aws.sdk("admin-b").await);
    let network_done = cfn_a
        .describe_stack_events()
        .stack_name("NetworkStack")
        .send()
        .await
        .unwrap()
        .stack_events()
        .iter()
        .filter(|e| {
            e.resource_type() == Some("AWS::CloudFormation::Stack")
                && e.resource_status().map(|s| s.as_str()) == Some("CREATE_COMPLETE")
        })
        .filter_map(|e| e.timestamp().map(|t| t.as_secs_f64()))
        .fold(f64::NAN, f64::max);
    let app_created = cfn_b
        .describe_stacks()
        .stack_name("AppStack")
        .send()
        .await
        .unwrap()
        .stacks()[0]
        .creation_time()
        .unwrap()
        .as_secs_f64();
    assert!(
        network_done <= app_created,
        "AppStack created at {app_created}, before NetworkStack completed at {network_done}"
    );

    // A re-deploy publishes nothing and changes nothing.
    let again = aws.run(&["deploy", "--app", FIXTURE, "--all", "--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let json = again.json();
    for name in ["NetworkStack", "AppStack"] {
        let s = stage(&json, name);
        assert_eq!(s["status"], "no_changes", "{s}");
        assert_eq!(
            s["assets"],
            serde_json::json!({"uploaded": 0, "skipped": 2})
        );
    }
    assert!(
        again
            .stderr
            .contains("asset AppStack/Code: already published"),
        "{}",
        again.stderr
    );
    assert_eq!(objects(&s3_a, &staging_bucket(ACCOUNT_A)).await, in_a);
    assert_eq!(objects(&s3_b, &staging_bucket(ACCOUNT_B)).await, in_b);

    // destroy removes both stacks with the assembly's deploy roles; the assets stay.
    let d = aws.run(&["destroy", "--app", FIXTURE, "--all", "--force"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    for (cfn, name) in [(&cfn_a, "NetworkStack"), (&cfn_b, "AppStack")] {
        let left = cfn.describe_stacks().stack_name(name).send().await;
        let gone = match left {
            Err(_) => true,
            Ok(out) => out
                .stacks()
                .iter()
                .all(|s| s.stack_status().map(|x| x.as_str()) == Some("DELETE_COMPLETE")),
        };
        assert!(gone, "{name} still exists");
    }
    assert_eq!(objects(&s3_b, &staging_bucket(ACCOUNT_B)).await, in_b);
}

#[test]
fn list_shows_the_stacks_of_an_assembly_with_their_roles() {
    let r = run_binary(&["list", "--app", FIXTURE, "--output", "json"], &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        json["waves"],
        serde_json::json!([["NetworkStack"], ["AppStack"]])
    );
    let app = &json["stages"][1];
    assert_eq!(app["depends_on"], serde_json::json!(["NetworkStack"]));
    assert_eq!(
        app["deploy_role"],
        "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
    );
}

const ASSET_TEMPLATE: &str = "Parameters:
  CodeBucket:
    Type: String
  CodeKey:
    Type: String
  ConfigUrl:
    Type: String
  ConfigHttps:
    Type: String
Resources:
  CodeKeyParam:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /assets-test/code-key
      Type: String
      Value: !Ref CodeKey
Outputs:
  CodeBucket:
    Value: !Ref CodeBucket
  CodeKey:
    Value: !Ref CodeKey
  ConfigUrl:
    Value: !Ref ConfigUrl
  ConfigHttps:
    Value: !Ref ConfigHttps
";

#[tokio::test]
async fn stage_file_assets_are_published_and_their_keys_reach_template_parameters() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("stage-assets");
    scratch.write("site/index.html", "<h1>hello</h1>\n");
    scratch.write("site/js/app.js", "console.log('hi');\n");
    scratch.write("config.json", "{\"feature\": true}\n");
    scratch.write("t.yml", ASSET_TEMPLATE);
    scratch.write(
        "pipeline.yml",
        "version: 1
accounts:
  B:
    id: \"222222222222\"
    region: ap-northeast-1
stages:
  - name: Site
    account: B
    template: t.yml
    assets:
      code: {path: site}
      config: {path: config.json}
    parameters:
      CodeBucket: ${assets.code.bucket}
      CodeKey: ${assets.code.key}
      ConfigUrl: ${assets.config.s3_url}
      ConfigHttps: ${assets.config.url}
",
    );
    let file = scratch.path("pipeline.yml");
    let r = aws.run(&["deploy", "--all", "-f", &file, "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    let s = stage(&json, "Site");
    assert_eq!(
        s["assets"],
        serde_json::json!({"uploaded": 2, "skipped": 0})
    );

    // Keys are content hashes: the zip of the directory, and the file as it is.
    let cache = Scratch::new("stage-assets-cache");
    let (zips, _) = pipeline_run::package::ZipCache::open(&cache.0.join("zips")).unwrap();
    let code = pipeline_run::package::package_asset(
        &scratch.0.join("site"),
        &std::fs::canonicalize(&scratch.0).unwrap(),
        pipeline_run::package::Packaging::Zip,
        &zips,
    )
    .unwrap();
    let config_key = format!(
        "{}.json",
        sha256_hex(&std::fs::read(scratch.0.join("config.json")).unwrap())
    );
    let b = staging_bucket(ACCOUNT_B);
    let outputs = &s["outputs"];
    assert_eq!(outputs["CodeBucket"], b.as_str());
    assert_eq!(outputs["CodeKey"], code.object_key().as_str());
    assert!(code.object_key().ends_with(".zip"));
    assert_eq!(
        outputs["ConfigUrl"],
        format!("s3://{b}/{config_key}").as_str()
    );
    assert_eq!(
        outputs["ConfigHttps"],
        format!("{}/{b}/{config_key}", aws.endpoint).as_str(),
        "path-style under the endpoint"
    );
    assert!(
        r.stderr
            .contains(&format!("asset config: uploaded 18 B as {config_key}")),
        "{}",
        r.stderr
    );

    let s3_b = aws.s3("admin-b").await;
    let listed = objects(&s3_b, &b).await;
    assert!(listed.contains_key(&code.object_key()), "{listed:?}");
    assert!(listed.contains_key(&config_key), "{listed:?}");
    assert_eq!(
        object_bytes(&s3_b, &b, &code.object_key()).await,
        std::fs::read(&code.path_to_upload).unwrap()
    );

    // Unchanged content: nothing uploaded, nothing deployed.
    let again = aws.run(&["deploy", "--all", "-f", &file, "--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let s = stage(&again.json(), "Site").clone();
    assert_eq!(
        s["assets"],
        serde_json::json!({"uploaded": 0, "skipped": 2})
    );
    assert_eq!(s["status"], "no_changes");
    assert!(again.stderr.contains("asset code: already published"));

    // Changed content: a new key, uploaded, and the stack follows it.
    scratch.write("site/index.html", "<h1>hello again</h1>\n");
    let third = aws.run(&["deploy", "--all", "-f", &file, "--output", "json"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    let s = stage(&third.json(), "Site").clone();
    assert_eq!(
        s["assets"],
        serde_json::json!({"uploaded": 1, "skipped": 1})
    );
    assert_ne!(s["outputs"]["CodeKey"], code.object_key().as_str());
    assert_eq!(objects(&s3_b, &b).await.len(), listed.len() + 1);
}

#[tokio::test]
async fn a_stage_file_stage_can_deploy_an_assembly_stack_fed_by_another_accounts_output() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("source-stage");
    scratch.write(
        "net.yml",
        "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /assets-test/env\n      Type: String\n      Value: staging\nOutputs:\n  EnvName:\n    Value: staging-from-a\n",
    );
    let app = repo().join(FIXTURE).display().to_string();
    scratch.write(
        "pipeline.yml",
        &format!(
            "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\n  B:\n    id: \"222222222222\"\n    region: ap-northeast-1\nstages:\n  - name: Env\n    account: A\n    template: net.yml\n  - name: App\n    account: B\n    source: {{app: \"{app}\", stack: AppStack}}\n    parameters:\n      Stage: ${{Env.EnvName}}\n"
        ),
    );
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &scratch.path("pipeline.yml"),
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    let app_stage = stage(&json, "App");
    assert_eq!(app_stage["stack"], "AppStack");
    assert_eq!(app_stage["account"], ACCOUNT_B);
    assert_eq!(
        app_stage["assets"],
        serde_json::json!({"uploaded": 2, "skipped": 0})
    );
    let ssm_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let p = ssm_b
        .get_parameter()
        .name("/pipeline-run-fixture/app/stage")
        .send()
        .await
        .unwrap();
    assert_eq!(p.parameter().unwrap().value(), Some("staging-from-a"));
    let in_b = objects(&aws.s3("admin-b").await, &staging_bucket(ACCOUNT_B)).await;
    assert!(
        in_b.contains_key("f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842.zip"),
        "{in_b:?}"
    );
}

#[tokio::test]
async fn a_large_file_asset_is_uploaded_in_parts() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("multipart");
    // 12 MiB of non-repeating bytes: two parts (8 MiB + 4 MiB).
    let mut data = Vec::with_capacity(12 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < 12 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(scratch.0.join("big.bin"), &data).unwrap();
    scratch.write(
        "t.yml",
        "Parameters:\n  Key:\n    Type: String\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /assets-test/big\n      Type: String\n      Value: !Ref Key\n",
    );
    scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Big\n    account: A\n    template: t.yml\n    assets:\n      blob: {path: big.bin, packaging: file}\n    parameters:\n      Key: ${assets.blob.key}\n",
    );
    let r = aws.run(&[
        "deploy",
        "--all",
        "-f",
        &scratch.path("pipeline.yml"),
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("asset blob: uploaded 12.0 MiB as"),
        "{}",
        r.stderr
    );
    let key = format!("{}.bin", sha256_hex(&data));
    let s3_a = aws.s3("ci").await;
    let head = s3_a
        .head_object()
        .bucket(staging_bucket(ACCOUNT_A))
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(12 << 20));
    assert!(
        head.e_tag().unwrap().trim_matches('"').ends_with("-2"),
        "a two-part upload has an ETag ending in -2: {:?}",
        head.e_tag()
    );
    let stored = object_bytes(&s3_a, &staging_bucket(ACCOUNT_A), &key).await;
    assert!(stored == data, "the object differs from the file");
    // No unfinished upload was left behind.
    let pending = s3_a
        .list_multipart_uploads()
        .bucket(staging_bucket(ACCOUNT_A))
        .send()
        .await
        .unwrap();
    assert!(pending.uploads().is_empty());
}

#[tokio::test]
async fn a_template_over_the_body_limit_is_deployed_from_the_staging_bucket() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("big-template");
    let padding = "x".repeat(60_000);
    let body = format!(
        "Metadata:\n  Padding: {padding}\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /assets-test/big-template\n      Type: String\n      Value: deployed-by-url\n"
    );
    assert!(body.len() > TEMPLATE_BODY_LIMIT);
    let file = {
        scratch.write("t.yml", &body);
        scratch.write(
            "pipeline.yml",
            "version: 1\naccounts:\n  B:\n    id: \"222222222222\"\n    region: ap-northeast-1\nstages:\n  - name: Big\n    account: B\n    template: t.yml\n",
        );
        scratch.path("pipeline.yml")
    };
    let r = aws.run(&["deploy", "--all", "-f", &file, "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(stage(&r.json(), "Big")["stack_status"], "CREATE_COMPLETE");
    let key = format!("{}.yaml", sha256_hex(body.as_bytes()));
    let s3_b = aws.s3("admin-b").await;
    assert!(
        objects(&s3_b, &staging_bucket(ACCOUNT_B))
            .await
            .contains_key(&key)
    );
    let ssm_b = aws_sdk_ssm::Client::new(&aws.sdk("admin-b").await);
    let p = ssm_b
        .get_parameter()
        .name("/assets-test/big-template")
        .send()
        .await
        .unwrap();
    assert_eq!(p.parameter().unwrap().value(), Some("deployed-by-url"));
}

#[test]
fn a_docker_image_asset_is_refused_by_name_before_any_aws_call() {
    let scratch = Scratch::new("docker-assembly");
    let src = repo().join(FIXTURE);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), scratch.0.join(entry.file_name())).unwrap();
        }
    }
    let code_dir = "asset.f424edda711c458f44c6462f329ac337c4491dc9250d719dca2dd922f96f1842";
    scratch.write(&format!("{code_dir}/index.js"), "x\n");
    let manifest = std::fs::read_to_string(src.join("AppStack.assets.json"))
        .unwrap()
        .replace(
            "\"dockerImages\": {}",
            "\"dockerImages\": {\"0123abcd\": {\"source\": {\"directory\": \"asset.0123abcd\"}, \"destinations\": {}}}",
        );
    scratch.write("AppStack.assets.json", &manifest);
    let dir = scratch.path("");
    let (r, connections) = run_offline(&["deploy", "--app", &dir, "--all"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("docker image asset 0123abcd (from AppStack) is not supported yet"),
        "{}",
        r.stderr
    );
    assert_eq!(connections, 0, "nothing may reach AWS");
}

#[test]
fn a_missing_asset_path_is_refused_before_any_aws_call() {
    let scratch = Scratch::new("missing-asset");
    scratch.write("t.yml", "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n");
    scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Web\n    account: A\n    template: t.yml\n    assets:\n      site: {path: dist}\n",
    );
    let (r, connections) = run_offline(&["deploy", "--all", "-f", &scratch.path("pipeline.yml")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("field 'assets.site.path'"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("dist: not found"), "{}", r.stderr);
    assert_eq!(connections, 0);
}

/// A stage file publishing the directory `site` of `scratch` as `code` to account B.
fn one_zip_asset_pipeline(scratch: &Scratch) -> String {
    scratch.write(
        "t.yml",
        "Parameters:\n  CodeKey:\n    Type: String\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /assets-test/confined-code-key\n      Type: String\n      Value: !Ref CodeKey\n",
    );
    scratch.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  B:\n    id: \"222222222222\"\n    region: ap-northeast-1\nstages:\n  - name: Site\n    account: B\n    template: t.yml\n    assets:\n      code: {path: site}\n    parameters:\n      CodeKey: ${assets.code.key}\n",
    );
    scratch.path("pipeline.yml")
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_to_a_file_outside_the_project_is_refused_before_any_upload() {
    let aws = aws();
    aws.bootstrap_both();
    let outside = Scratch::new("outside-project");
    let secret = outside.write("credentials", "aws_secret_access_key = planted\n");
    let scratch = Scratch::new("symlink-out");
    scratch.write("site/index.html", "<h1>hello</h1>\n");
    std::os::unix::fs::symlink(&secret, scratch.0.join("site/creds")).unwrap();
    let file = one_zip_asset_pipeline(&scratch);
    let cache = Scratch::new("symlink-out-cache");
    let zips = cache.0.join("zips");
    let r = aws.run_as(
        "ci",
        &["deploy", "--all", "-f", &file],
        &[("PIPELINE_RUN_CACHE_DIR", zips.to_str().unwrap())],
    );
    assert_eq!(r.code, 2, "bad input, not a deploy failure:\n{}", r.stderr);
    for named in [
        "asset code".to_string(),
        scratch.0.join("site/creds").display().to_string(),
        std::fs::canonicalize(&secret)
            .unwrap()
            .display()
            .to_string(),
        "outside the asset root".to_string(),
    ] {
        assert!(r.stderr.contains(&named), "{named}:\n{}", r.stderr);
    }
    let s3_b = aws.s3("admin-b").await;
    let listed = objects(&s3_b, &staging_bucket(ACCOUNT_B)).await;
    assert!(listed.is_empty(), "nothing uploaded: {listed:?}");
    assert_eq!(
        std::fs::read_dir(&zips).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing zipped"
    );
}

#[tokio::test]
async fn a_tampered_zip_cache_entry_is_rebuilt_and_never_uploaded() {
    let aws = aws();
    aws.bootstrap_both();
    let scratch = Scratch::new("tampered-cache");
    scratch.write("site/index.js", "exports.handler = async () => 'real';\n");
    let file = one_zip_asset_pipeline(&scratch);
    // The entry a run would use, then its bytes replaced (its recorded digest left as it was).
    let cache = Scratch::new("tampered-cache-zips");
    let dir = cache.0.join("zips");
    let (zips, _) = pipeline_run::package::ZipCache::open(&dir).unwrap();
    let site = scratch.0.join("site");
    let real_root = std::fs::canonicalize(&scratch.0).unwrap();
    let cached = pipeline_run::package::package_asset(
        &site,
        &real_root,
        pipeline_run::package::Packaging::Zip,
        &zips,
    )
    .unwrap();
    std::fs::write(&cached.path_to_upload, b"PK planted production code").unwrap();

    let r = aws.run_as(
        "ci",
        &["deploy", "--all", "-f", &file, "--output", "json"],
        &[("PIPELINE_RUN_CACHE_DIR", dir.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("does not match the digest recorded when it was built"),
        "a line says the entry was rebuilt:\n{}",
        r.stderr
    );
    let fresh = scratch.0.join("fresh.zip");
    pipeline_run::package::zip_directory(&site, &fresh).unwrap();
    let fresh = std::fs::read(&fresh).unwrap();
    let key = format!("{}.zip", sha256_hex(&fresh));
    let s3_b = aws.s3("admin-b").await;
    let uploaded = object_bytes(&s3_b, &staging_bucket(ACCOUNT_B), &key).await;
    assert_eq!(uploaded, fresh, "the uploaded object is a fresh build");
    let listed = objects(&s3_b, &staging_bucket(ACCOUNT_B)).await;
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        [&key],
        "the fresh zip only, nothing under the planted bytes' hash"
    );
}
