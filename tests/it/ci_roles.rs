//! The two GitHub roles of docs/ci.md, with their JSON documents read from docs/ci.md itself (so
//! the documentation cannot drift from what is tested), created in the CI account of the local AWS
//! (IAM enforced) and used through GitHub OIDC (a web identity token file):
//! - the pull-request role (`sub` = `repo:R:pull_request`) can run `diff`, which falls back to a
//!   template-level diff through the lookup roles, and cannot deploy (exit 5, nothing changed);
//! - the deploy role refuses a pull-request token and deploys with a production-environment one.

use std::collections::BTreeMap;

use crate::ci_credentials::github_id_token_with_sub;
use crate::common::*;

const REPOSITORY: &str = "octo-org/infra";
const PR_ROLE: &str = "arn:aws:iam::111111111111:role/github-actions-pipeline-run-pr";
const DEPLOY_ROLE: &str = "arn:aws:iam::111111111111:role/github-actions-pipeline-run-deploy";

/// The JSON block that follows `<!-- ci_roles.rs: NAME -->` in docs/ci.md, for [`REPOSITORY`].
fn documented(name: &str) -> serde_json::Value {
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    let marker = format!("<!-- ci_roles.rs: {name} -->\n```json\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/ci.md has no block `{name}`"))
        + marker.len();
    let end = start + doc[start..].find("```").unwrap();
    serde_json::from_str(&doc[start..end].replace("OWNER/REPO", REPOSITORY))
        .unwrap_or_else(|e| panic!("docs/ci.md block `{name}` is not JSON: {e}"))
}

/// The OIDC provider and both roles, as docs/ci.md describes them, in one stack of account A.
fn roles_template() -> String {
    let role = |name: &str, trust: &str, policy_name: &str, permissions: &str| {
        serde_json::json!({
            "Type": "AWS::IAM::Role",
            "DependsOn": "GitHubOidc",
            "Properties": {
                "RoleName": name,
                "AssumeRolePolicyDocument": documented(trust),
                "Policies": [{"PolicyName": policy_name, "PolicyDocument": documented(permissions)}],
            },
        })
    };
    serde_json::json!({
        "Resources": {
            "GitHubOidc": {
                "Type": "AWS::IAM::OIDCProvider",
                "Properties": {
                    "Url": "https://token.actions.githubusercontent.com",
                    "ClientIdList": ["sts.amazonaws.com"],
                },
            },
            "PullRequestRole": role(
                "github-actions-pipeline-run-pr",
                "pull-request trust",
                "assume-lookup-roles",
                "pull-request permissions",
            ),
            "DeployRole": role(
                "github-actions-pipeline-run-deploy",
                "deploy trust",
                "assume-cdk-bootstrap-roles",
                "deploy permissions",
            ),
        },
        "Outputs": {
            "PullRequestRole": {"Value": {"Fn::GetAtt": ["PullRequestRole", "Arn"]}},
            "DeployRole": {"Value": {"Fn::GetAtt": ["DeployRole", "Arn"]}},
        },
    })
    .to_string()
}

async fn create_roles(aws: &Aws) {
    let outputs = create_stack(&aws.sdk("ci").await, "github-oidc", &roles_template()).await;
    assert_eq!(outputs["PullRequestRole"], PR_ROLE);
    assert_eq!(outputs["DeployRole"], DEPLOY_ROLE);
}

const PR_SUB: &str = "repo:octo-org/infra:pull_request";
const PRODUCTION_SUB: &str = "repo:octo-org/infra:environment:production";

/// A job of [`REPOSITORY`] whose token has `sub`, acting as `role` through a token file.
struct Job {
    token: String,
    role: &'static str,
}

impl Job {
    fn new(scratch: &Scratch, sub: &str, role: &'static str) -> Job {
        let file = format!("token-{}", sub.replace([':', '/'], "-"));
        let token = scratch.write(&file, &github_id_token_with_sub(REPOSITORY, sub));
        Job {
            token: token.display().to_string(),
            role,
        }
    }

    fn run(&self, aws: &Aws, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut env = vec![
            ("AWS_WEB_IDENTITY_TOKEN_FILE", self.token.as_str()),
            ("AWS_ROLE_ARN", self.role),
            ("AWS_ROLE_SESSION_NAME", "gh-run-7"),
        ];
        env.extend_from_slice(extra);
        run_binary(args, &bare_env(&aws.endpoint), &env)
    }
}

/// The reference pipeline with a change a pull request would make: VPC A tagged, and a security
/// group added to it.
fn changed_pipeline(scratch: &Scratch) -> String {
    let src = repo().join("pipelines");
    let templates = scratch.0.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for entry in std::fs::read_dir(src.join("templates")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, templates.join(path.file_name().unwrap())).unwrap();
    }
    let vpc_a = std::fs::read_to_string(src.join("templates/vpc-a.yml")).unwrap();
    let vpc_a = vpc_a
        .replacen(
            "      Tags: [{Key: Name, Value: VpcA}]\n",
            "      Tags: [{Key: Name, Value: VpcA}, {Key: reviewed, Value: 'yes'}]\n",
            1,
        )
        .replacen(
            "\nOutputs:\n",
            "\n  ReviewSecurityGroup:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: added by a pull request\n      VpcId: !Ref VpcA\nOutputs:\n",
            1,
        );
    assert!(vpc_a.contains("reviewed") && vpc_a.contains("ReviewSecurityGroup"));
    std::fs::write(templates.join("vpc-a.yml"), vpc_a).unwrap();
    let file = scratch.0.join("vpc-peering.yml");
    std::fs::copy(src.join("vpc-peering.yml"), &file).unwrap();
    file.display().to_string()
}

/// Status and last update of every reference stack, in both accounts.
async fn stack_states(aws: &Aws) -> BTreeMap<String, String> {
    let mut states = BTreeMap::new();
    for (profile, stacks) in [
        ("ci", &["VpcA", "CrossAccountPeering"][..]),
        ("admin-b", &["VpcC", "VpcCRoutes"][..]),
    ] {
        let cfn = aws_sdk_cloudformation::Client::new(&aws.sdk(profile).await);
        for name in stacks {
            let out = cfn
                .describe_stacks()
                .stack_name(*name)
                .send()
                .await
                .unwrap();
            let s = &out.stacks()[0];
            states.insert(
                name.to_string(),
                format!("{:?} {:?}", s.stack_status(), s.last_updated_time()),
            );
        }
    }
    states
}

fn change_ids(stage: &serde_json::Value) -> Vec<(String, String)> {
    stage["change_list"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|c| {
                    (
                        c["action"].as_str().unwrap().to_string(),
                        c["logical_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_documented_roles_each_trust_one_kind_of_job_and_the_pull_request_role_only_looks() {
    let pr_trust = documented("pull-request trust");
    let deploy_trust = documented("deploy trust");
    let sub = |t: &serde_json::Value| {
        t["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
            .clone()
    };
    assert_eq!(sub(&pr_trust), PR_SUB);
    assert_eq!(sub(&deploy_trust), PRODUCTION_SUB);
    for t in [&pr_trust, &deploy_trust] {
        assert_eq!(t["Statement"].as_array().unwrap().len(), 1, "{t}");
        assert_eq!(
            t["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com"
        );
    }
    let pr = documented("pull-request permissions");
    assert_eq!(
        pr["Statement"],
        serde_json::json!([{
            "Sid": "AssumeLookupRolesOnly",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": "arn:aws:iam::*:role/cdk-hnb659fds-lookup-role-*",
        }])
    );
    let deploy = documented("deploy permissions");
    assert_eq!(deploy["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(
        deploy["Statement"][0]["Resource"],
        serde_json::json!([
            "arn:aws:iam::*:role/cdk-hnb659fds-deploy-role-*",
            "arn:aws:iam::*:role/cdk-hnb659fds-file-publishing-role-*",
            "arn:aws:iam::*:role/cdk-hnb659fds-lookup-role-*",
        ])
    );
    // The workflow of docs/ci.md uses them so: diff with the PR role, deploy in production.
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    let workflow = &doc[doc.find("# .github/workflows/deploy.yml").unwrap()..];
    let workflow = &workflow[..workflow.find("```").unwrap()];
    let diff_job =
        &workflow[workflow.find("  diff:").unwrap()..workflow.find("  deploy:").unwrap()];
    let deploy_job = &workflow[workflow.find("  deploy:").unwrap()..];
    assert!(
        diff_job.contains("role/github-actions-pipeline-run-pr\n"),
        "{diff_job}"
    );
    assert!(!diff_job.contains("environment:"), "{diff_job}");
    assert!(
        deploy_job.contains("environment: production"),
        "{deploy_job}"
    );
    assert!(
        deploy_job.contains("role/github-actions-pipeline-run-deploy\n"),
        "{deploy_job}"
    );
}

#[tokio::test]
async fn the_deploy_role_refuses_a_pull_request_token_and_the_pr_role_a_production_one() {
    let aws = aws();
    create_roles(&aws).await;
    let sts = aws_sdk_sts::Client::new(&aws.sdk("ci").await);
    let exchange = |role: &'static str, sub: &str| {
        let sts = sts.clone();
        let token = github_id_token_with_sub(REPOSITORY, sub);
        async move {
            sts.assume_role_with_web_identity()
                .role_arn(role)
                .role_session_name("gh-run-7")
                .web_identity_token(token)
                .send()
                .await
                .map_err(|e| e.into_service_error().to_string())
        }
    };
    let refused = exchange(DEPLOY_ROLE, PR_SUB).await.unwrap_err();
    assert!(
        refused.contains("AccessDenied") || refused.contains("Not authorized"),
        "{refused}"
    );
    let refused = exchange(PR_ROLE, PRODUCTION_SUB).await.unwrap_err();
    assert!(
        refused.contains("AccessDenied") || refused.contains("Not authorized"),
        "{refused}"
    );
    // A push to main without the environment is no production job either.
    let main = format!("repo:{REPOSITORY}:ref:refs/heads/main");
    assert!(exchange(DEPLOY_ROLE, &main).await.is_err());
    // The right token for each role is accepted.
    assert!(exchange(DEPLOY_ROLE, PRODUCTION_SUB).await.is_ok());
    assert!(exchange(PR_ROLE, PR_SUB).await.is_ok());
}

#[tokio::test]
async fn with_the_documented_roles_a_pull_request_diffs_through_lookup_roles_and_only_production_deploys()
 {
    let aws = aws();
    aws.bootstrap_both();
    let deployed = aws.run(&["deploy", "--all", "-f", &reference_file(), "--no-verify"]);
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    create_roles(&aws).await;
    let scratch = Scratch::new("ci-roles");
    let file = changed_pipeline(&scratch);
    let pr = Job::new(&scratch, PR_SUB, PR_ROLE);
    let production = Job::new(&scratch, PRODUCTION_SUB, DEPLOY_ROLE);

    // diff with the pull-request role: template-level, through the lookup roles.
    let summary = scratch.path("summary.md");
    let github = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.as_str()),
    ];
    let r = pr.run(
        &aws,
        &["diff", "--all", "-f", &file, "--output", "json"],
        &github,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    for s in json["stages"].as_array().unwrap() {
        assert_eq!(s["diff_method"], "template", "{s}");
        let reason = s["diff_reason"].as_str().unwrap();
        assert!(
            reason.contains("cdk-hnb659fds-deploy-role-") && reason.contains("AccessDenied"),
            "{reason}"
        );
        assert!(s["diff_limits"].to_string().contains("replaced"), "{s}");
    }
    let vpc_a = stage(&json, "VpcA");
    assert_eq!(vpc_a["status"], "changes", "{vpc_a}");
    assert_eq!(
        change_ids(vpc_a),
        [
            ("Add".to_string(), "ReviewSecurityGroup".to_string()),
            ("Modify".to_string(), "VpcA".to_string()),
        ]
    );
    assert_eq!(
        vpc_a["template_diff"]["modified"]["VpcA"],
        serde_json::json!(["Properties.Tags"])
    );
    // The later stages' parameters came from earlier stages' outputs, read through lookup roles.
    for name in ["VpcC", "CrossAccountPeering", "VpcCRoutes"] {
        let s = stage(&json, name);
        assert_eq!(s["status"], "no_changes", "{s}");
        assert_eq!(
            s["template_diff"]["parameters_changed"],
            serde_json::json!([]),
            "{s}"
        );
    }
    assert!(
        r.stderr
            .contains("template-level diff through the lookup role")
            && r.stderr
                .contains("+ ReviewSecurityGroup AWS::EC2::SecurityGroup")
            && r.stderr.contains("~ VpcA AWS::EC2::VPC (Properties.Tags)"),
        "{}",
        r.stderr
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("### Template-level diffs"), "{md}");
    assert!(
        md.contains(
            "| VpcA | 111111111111 | ap-northeast-1 | VpcA | changes (template-level diff) | 2 |"
        ),
        "{md}"
    );

    // deploy with the pull-request role: refused on the deploy role, nothing changed.
    let before = stack_states(&aws).await;
    let r = pr.run(&aws, &["deploy", "--all", "-f", &file, "--no-verify"], &[]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot assume role arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-ap-northeast-1")
            && r.stderr.contains("AccessDenied"),
        "{}",
        r.stderr
    );
    assert_eq!(stack_states(&aws).await, before);

    // The deploy role is not to be had with the pull-request token.
    let forged = Job::new(&scratch, PR_SUB, DEPLOY_ROLE);
    let r = forged.run(&aws, &["deploy", "VpcA", "-f", &file, "--no-verify"], &[]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("AssumeRoleWithWebIdentity"),
        "{}",
        r.stderr
    );
    assert_eq!(stack_states(&aws).await, before);

    // A production job diffs with change sets and deploys.
    let r = production.run(
        &aws,
        &["diff", "VpcA", "-f", &file, "--output", "json"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(stage(&r.json(), "VpcA")["diff_method"], "change-set");
    assert_eq!(stage(&r.json(), "VpcA")["status"], "changes");
    let r = production.run(
        &aws,
        &[
            "deploy",
            "--all",
            "-f",
            &file,
            "--no-verify",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(stage(&r.json(), "VpcA")["status"], "deployed");
    assert!(stage(&r.json(), "VpcA").get("diff_method").is_none());

    // Afterwards the pull request's diff finds nothing.
    let r = pr.run(
        &aws,
        &["diff", "--all", "-f", &file, "--output", "json"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for s in r.json()["stages"].as_array().unwrap() {
        assert_eq!(s["status"], "no_changes", "{s}");
        assert_eq!(s["diff_method"], "template", "{s}");
    }
}

#[test]
fn a_diff_in_an_account_that_trusts_no_role_of_the_caller_reports_the_deploy_roles_refusal() {
    let aws = aws();
    // Account B bootstrapped by its own admin, without --trust: neither its deploy role nor its
    // lookup role trusts the CI account, so there is no template-level diff to fall back to.
    let b = aws.run_as("admin-b", &["bootstrap", &env_url(ACCOUNT_B)], &[]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let r = aws.run(&["diff", "VpcC", "-f", &reference_file(), "--output", "json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let json = r.json();
    let vpc_c = stage(&json, "VpcC");
    let error = vpc_c["error"].as_str().unwrap();
    assert!(
        error.contains("cannot assume role arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1")
            && error.contains("AccessDenied")
            && error.contains("pipeline-run bootstrap --trust 111111111111"),
        "{error}"
    );
    assert!(vpc_c.get("diff_method").is_none(), "{vpc_c}");
    assert!(
        !r.stderr.contains("template-level diff through"),
        "{}",
        r.stderr
    );
}
