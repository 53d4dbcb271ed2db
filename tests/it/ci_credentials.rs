//! Credentials the way CI hands them over, with nothing else in the environment:
//! - CodeBuild: a container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, here a
//!   small HTTP server on 127.0.0.1; CodeBuild itself sets the `_RELATIVE_URI` form for
//!   169.254.170.2, which the same provider reads);
//! - GitHub OIDC: a web identity token file (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`),
//!   exchanged with STS for a role whose trust policy names the GitHub OIDC provider and the
//!   repository (`sub` claim). The emulator evaluates that trust policy.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

const CI_KEY: &str = "AKIAPIPELINECI111111";
const CI_SECRET: &str = "pipelineRunCiSecretAccessKey000000000001";

/// A container credentials endpoint as ECS and CodeBuild run it: GET → the JSON document the
/// SDKs read. It serves the seeded CI identity's keys; the token is a placeholder (that
/// identity has long-term keys, and the emulator does not check session tokens).
struct ContainerCredentials {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve_container_credentials() -> ContainerCredentials {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v2/credentials/build-1",
        listener.local_addr().unwrap()
    );
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            seen.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_string());
            let body = serde_json::json!({
                "AccessKeyId": CI_KEY,
                "SecretAccessKey": CI_SECRET,
                "Token": "codebuild-session-token-placeholder",
                // Far ahead: this test is not about refreshing.
                "Expiration": "2099-01-01T00:00:00Z",
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    ContainerCredentials { url, requests }
}

/// pipelines/buildspec.yml's build phase as CodeBuild runs it: its commands in one bash (so
/// `. ./outputs.env` persists), `env.variables` set, the source checkout as working directory;
/// then the `exported-variables` as CodePipeline would read them. The install phase is not run:
/// the test build of pipeline-run is on PATH.
fn run_buildspec_build_phase(
    base: &[(String, String)],
    extra: &[(&str, &str)],
    src: &Scratch,
) -> (
    std::process::Output,
    std::collections::BTreeMap<String, String>,
) {
    let spec: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("pipelines/buildspec.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["version"].as_f64(), Some(0.2));
    assert_eq!(spec["env"]["shell"].as_str(), Some("bash"));
    let mut script = String::from("set -e\n");
    for c in spec["phases"]["build"]["commands"].as_sequence().unwrap() {
        script.push_str(c.as_str().unwrap());
        script.push('\n');
    }
    let exported: Vec<String> = spec["env"]["exported-variables"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for v in &exported {
        script.push_str(&format!(
            "printf 'EXPORTED %s=%s\\n' {v} \"${{{v}-<unset>}}\"\n"
        ));
    }
    // CodeBuild's source directory: the repository, here its pipelines/ folder linked in.
    std::os::unix::fs::symlink(repo().join("pipelines"), src.0.join("pipelines")).unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(&src.0)
        .env_clear()
        .env("PATH", path_with_binary())
        .env("HOME", &src.0)
        .env("CODEBUILD_BUILD_ID", "pipeline-run-demo:0001")
        .stdin(std::process::Stdio::null());
    for (k, v) in spec["env"]["variables"].as_mapping().unwrap() {
        cmd.env(k.as_str().unwrap(), v.as_str().unwrap_or_default());
    }
    for (k, v) in base {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let variables = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("EXPORTED "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (out, variables)
}

#[test]
fn the_buildspec_deploys_with_codebuild_container_credentials_and_exports_outputs() {
    let aws = aws();
    aws.bootstrap_both();
    let server = serve_container_credentials();
    let src = Scratch::new("ci-codebuild");
    let (out, exported) = run_buildspec_build_phase(
        &bare_env(&aws.endpoint),
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &server.url)],
        &src,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "build phase failed:\n{log}");
    assert!(
        log.contains("identity arn:aws:iam::111111111111:user/pipeline-ci"),
        "{log}"
    );
    let requests = server.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|l| l.starts_with("GET /v2/credentials/build-1 ")),
        "the endpoint was not asked: {requests:?}"
    );

    // result.json is the artifact: every stage deployed, VpcA included, verification passed.
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.0.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(stage(&result, "VpcA")["status"], "deployed");
    assert_eq!(stage(&result, "VpcA")["account"], ACCOUNT_A);
    assert_eq!(stage(&result, "VpcC")["account"], ACCOUNT_B);

    // The exported variables CodePipeline's next action reads.
    let pcx = stage(&result, "CrossAccountPeering")["outputs"]["PeeringConnectionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pcx.starts_with("pcx-"));
    assert_eq!(exported["CrossAccountPeering_PeeringConnectionId"], pcx);
    assert_eq!(
        exported["VpcC_VpcCId"],
        stage(&result, "VpcC")["outputs"]["VpcCId"]
            .as_str()
            .unwrap()
    );
    assert_eq!(exported["PIPELINE_RUN_OK"], "true");
    assert_eq!(
        exported["PIPELINE_RUN_CHANGES"],
        result["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["changes"].as_u64().unwrap())
            .sum::<u64>()
            .to_string()
    );
    let all = format!("{log}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains(CI_SECRET), "secret key in the build log");
}

#[test]
fn without_any_credentials_the_exit_code_is_5_and_the_fix_names_the_ci_ways() {
    let aws = aws();
    let scratch = Scratch::new("ci-nocreds");
    let r = run_binary(
        &[
            "deploy",
            "VpcA",
            "-f",
            &reference_file(),
            "--no-verify",
            "--output",
            "json",
        ],
        &bare_env(&aws.endpoint),
        &[("PIPELINE_RUN_RESULT_FILE", &scratch.path("result.json"))],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("container credentials (CodeBuild)") && r.stderr.contains("web identity"),
        "{}",
        r.stderr
    );
    // The failure is still a result document, on stdout and in the result file.
    assert_eq!(r.json()["ok"], false);
    assert_eq!(r.json()["exit_code"], 5);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path("result.json")).unwrap())
            .unwrap();
    assert_eq!(file, r.json());
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A token shaped like GitHub's OIDC ID token of a push to main. Its signature is not checked by
/// the emulator (AWS checks it against the provider's keys); the claims are what the trust
/// policy reads.
fn github_id_token(repository: &str) -> String {
    github_id_token_with_sub(
        repository,
        &format!("repo:{repository}:ref:refs/heads/main"),
    )
}

/// As [`github_id_token`], with the `sub` GitHub gives another kind of job
/// (`repo:R:pull_request`, `repo:R:environment:production`).
pub(crate) fn github_id_token_with_sub(repository: &str, sub: &str) -> String {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "test"});
    let claims = serde_json::json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sts.amazonaws.com",
        "sub": sub,
        "repository": repository,
        "ref": "refs/heads/main",
        "iat": 1_700_000_000u64,
        "exp": 4_100_000_000u64,
    });
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(b"not-a-real-signature")
    )
}

/// The role a GitHub workflow assumes, as docs/ci.md sets it up: trusted by the GitHub OIDC
/// provider for one repository, allowed to assume the CDK bootstrap roles.
const GITHUB_ROLE_TEMPLATE: &str = r#"
Resources:
  GitHubOidc:
    Type: AWS::IAM::OIDCProvider
    Properties:
      Url: https://token.actions.githubusercontent.com
      ClientIdList: [sts.amazonaws.com]
  DeployRole:
    Type: AWS::IAM::Role
    DependsOn: GitHubOidc
    Properties:
      RoleName: github-actions-pipeline-run
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Federated: !Sub arn:aws:iam::${AWS::AccountId}:oidc-provider/token.actions.githubusercontent.com
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringEquals:
                token.actions.githubusercontent.com:aud: sts.amazonaws.com
              StringLike:
                token.actions.githubusercontent.com:sub: repo:octo-org/infra:*
      Policies:
        - PolicyName: assume-cdk-bootstrap-roles
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: arn:aws:iam::*:role/cdk-hnb659fds-*
Outputs:
  RoleArn:
    Value: !GetAtt DeployRole.Arn
"#;

async fn create_github_role(aws: &Aws) -> String {
    let outputs = create_stack(&aws.sdk("ci").await, "github-oidc", GITHUB_ROLE_TEMPLATE).await;
    outputs["RoleArn"].clone()
}

#[tokio::test]
async fn a_github_oidc_token_file_deploys_as_the_trusted_role_and_another_repository_is_refused() {
    let aws = aws();
    aws.bootstrap(&[ACCOUNT_A]);
    let role_arn = create_github_role(&aws).await;
    assert_eq!(
        role_arn,
        "arn:aws:iam::111111111111:role/github-actions-pipeline-run"
    );
    let scratch = Scratch::new("ci-oidc");
    let deploy = |repository: &str| {
        let token = scratch.write(
            &format!("token-{}", repository.replace('/', "-")),
            &github_id_token(repository),
        );
        run_binary(
            &[
                "deploy",
                "VpcA",
                "-f",
                &reference_file(),
                "--no-verify",
                "--output",
                "json",
            ],
            &bare_env(&aws.endpoint),
            &[
                ("AWS_WEB_IDENTITY_TOKEN_FILE", &token.display().to_string()),
                ("AWS_ROLE_ARN", &role_arn),
                ("AWS_ROLE_SESSION_NAME", "gh-run-42"),
            ],
        )
    };

    let r = deploy("octo-org/infra");
    assert_eq!(r.code, 0, "deploy failed:\n{}", r.stderr);
    assert!(
        r.stderr.contains(
            "identity arn:aws:sts::111111111111:assumed-role/github-actions-pipeline-run/gh-run-42"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.json()["stages"][0]["status"], "deployed");

    // The trust policy's `sub` condition is what keeps other repositories out.
    let other = deploy("someone-else/infra");
    assert_eq!(other.code, 5, "{}", other.stderr);
    assert!(
        other.stderr.contains("AccessDenied") && other.stderr.contains("AssumeRoleWithWebIdentity"),
        "{}",
        other.stderr
    );
}
