//! The CDK bootstrap conventions: role and bucket names per qualifier and environment, and the
//! roles each stage acts through, resolved once when the plan is built.

use super::env::Environment;

/// The qualifier `cdk bootstrap` uses unless told otherwise.
pub(crate) const DEFAULT_QUALIFIER: &str = "hnb659fds";

/// The stack `cdk bootstrap` deploys.
pub(crate) const DEFAULT_TOOLKIT_STACK: &str = "CDKToolkit";
/// The role AWS Organizations creates in member accounts; used to reach an account that the
/// credentials in use do not belong to.
pub(crate) const DEFAULT_ACCESS_ROLE: &str = "OrganizationAccountAccessRole";

/// The oldest bootstrap version whose roles and bucket pipeline-run uses (deploy, file-publishing
/// and lookup roles all exist from version 8 on).
pub(crate) const MIN_BOOTSTRAP_VERSION: u32 = 8;

/// The CDK bootstrap roles pipeline-run assumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum BootstrapRole {
    Deploy,
    FilePublishing,
    Lookup,
    CfnExec,
}

impl BootstrapRole {
    pub(crate) fn short_name(self) -> &'static str {
        match self {
            BootstrapRole::Deploy => "deploy",
            BootstrapRole::FilePublishing => "file-publishing",
            BootstrapRole::Lookup => "lookup",
            BootstrapRole::CfnExec => "cfn-exec",
        }
    }

    pub(crate) fn role_name(self, qualifier: &str, env: &Environment) -> String {
        format!(
            "cdk-{qualifier}-{}-role-{}-{}",
            self.short_name(),
            env.account,
            env.region
        )
    }

    pub(crate) fn arn(self, qualifier: &str, env: &Environment) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            env.partition(),
            env.account,
            self.role_name(qualifier, env)
        )
    }

    /// The `bootstrap` flag that makes an account trust the CI account for this role.
    pub(crate) fn trust_flag(self) -> &'static str {
        match self {
            BootstrapRole::Lookup => "--trust-for-lookup",
            _ => "--trust",
        }
    }
}

/// A role to assume: its ARN, which bootstrap role it plays, and whether it follows the
/// bootstrap naming of the plan's qualifier (a cloud assembly may name other roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleRef {
    pub(crate) arn: String,
    pub(crate) kind: BootstrapRole,
    /// True when the ARN is `kind.arn(qualifier, env)`, so `bootstrap --trust` is the fix.
    pub(crate) conventional: bool,
}

/// The roles one stage acts through, in its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageRoles {
    /// Creates and executes change sets, reads the bootstrap version.
    pub(crate) deploy: RoleRef,
    /// Reads outputs of stages not deployed in this run, and the network for verification.
    pub(crate) lookup: RoleRef,
    /// Uploads stage-file assets and oversized templates to the staging bucket.
    pub(crate) file_publishing: RoleRef,
    /// Passed to CloudFormation as the change set's RoleARN.
    pub(crate) cfn_exec: RoleRef,
}

impl StageRoles {
    /// The bootstrap convention for `qualifier` in `env`.
    pub(crate) fn conventional(qualifier: &str, env: &Environment) -> StageRoles {
        StageRoles::conventional_with(|kind| kind.arn(qualifier, env))
    }

    /// The bootstrap convention's four roles, each with the ARN `arn` gives its kind.
    pub(crate) fn conventional_with(arn: impl Fn(BootstrapRole) -> String) -> StageRoles {
        let role = |kind: BootstrapRole| RoleRef {
            arn: arn(kind),
            kind,
            conventional: true,
        };
        StageRoles {
            deploy: role(BootstrapRole::Deploy),
            lookup: role(BootstrapRole::Lookup),
            file_publishing: role(BootstrapRole::FilePublishing),
            cfn_exec: role(BootstrapRole::CfnExec),
        }
    }

    /// Replaces the role of `kind` with `arn` (as a cloud assembly names it).
    pub(crate) fn with(mut self, kind: BootstrapRole, arn: Option<&str>) -> StageRoles {
        let Some(arn) = arn else { return self };
        let slot = match kind {
            BootstrapRole::Deploy => &mut self.deploy,
            BootstrapRole::Lookup => &mut self.lookup,
            BootstrapRole::FilePublishing => &mut self.file_publishing,
            BootstrapRole::CfnExec => &mut self.cfn_exec,
        };
        if slot.arn != arn {
            *slot = RoleRef {
                arn: arn.to_string(),
                kind,
                conventional: false,
            };
        }
        self
    }

    pub(crate) fn get(&self, kind: BootstrapRole) -> &RoleRef {
        match kind {
            BootstrapRole::Deploy => &self.deploy,
            BootstrapRole::Lookup => &self.lookup,
            BootstrapRole::FilePublishing => &self.file_publishing,
            BootstrapRole::CfnExec => &self.cfn_exec,
        }
    }
}

/// What to do when `role` in `env` cannot be assumed by account `caller`: the exact `bootstrap`
/// command for a role of the bootstrap convention, else where the role is named.
pub(crate) fn trust_fix(
    role: &RoleRef,
    env: &Environment,
    caller: Option<&str>,
    qualifier: &str,
) -> String {
    let caller = caller.unwrap_or("<CI account>");
    if !role.conventional {
        return format!(
            "make role {} trust account {caller} (the cloud assembly names this role), or synthesize with the default stack synthesizer and run: pipeline-run bootstrap {} {caller} {env}",
            role.arn,
            role.kind.trust_flag()
        );
    }
    let qualifier = if qualifier == DEFAULT_QUALIFIER {
        String::new()
    } else {
        format!(" --qualifier {qualifier}")
    };
    format!(
        "bootstrap {env} so that it trusts account {caller} (with credentials of account {}, or ones that may assume its OrganizationAccountAccessRole):\n       pipeline-run bootstrap {} {caller} --cloudformation-execution-policies arn:{}:iam::aws:policy/AdministratorAccess {env}{qualifier}",
        env.account,
        role.kind.trust_flag(),
        env.partition(),
    )
}

/// The staging bucket `cdk bootstrap` creates.
pub(crate) fn staging_bucket(qualifier: &str, env: &Environment) -> String {
    format!("cdk-{qualifier}-assets-{}-{}", env.account, env.region)
}

/// The SSM parameter holding the bootstrap version of `qualifier`.
pub(crate) fn bootstrap_version_parameter(qualifier: &str) -> String {
    format!("/cdk-bootstrap/{qualifier}/version")
}

/// The root of the Parameter Store names pipeline-run publishes outputs under, unless the stage
/// file's `parameter_prefix` (and the bootstrap's `ParameterStorePrefix`) say otherwise.
pub(crate) const DEFAULT_PARAMETER_PREFIX: &str = "/pipeline-run";

/// Where the deploy role of bootstrap `qualifier` may write Parameter Store names:
/// `<prefix>/<qualifier>/` (the template's `parameter${ParameterStorePrefix}/${Qualifier}/*`).
/// Each qualifier gets its own namespace, and no bootstrap role may write outside it.
pub(crate) fn parameter_namespace(prefix: &str, qualifier: &str) -> String {
    format!("{prefix}/{qualifier}/")
}

/// Whether `p` is a usable `parameter_prefix`: the template's `AllowedPattern`
/// (`(/[A-Za-z0-9_.-]+)+`, at most 200 characters), at most 13 levels (Parameter Store allows 15,
/// and the qualifier and a name take two), and not a name AWS or the CDK reserve (`/aws…`,
/// `/ssm…` in any case, `/cdk-bootstrap`).
pub(crate) fn is_parameter_prefix(p: &str) -> bool {
    let segments_ok = p.len() <= 200
        && p.starts_with('/')
        && p.split('/').count() <= 14
        && p[1..].split('/').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        });
    segments_ok && reserved_parameter_root(p).is_none()
}

/// Why AWS or the CDK keeps a Parameter Store name to itself, if it does: a name may not start
/// with `aws` or `ssm` (any case, with or without the leading `/`), and `/cdk-bootstrap/` holds the
/// bootstrap versions (the deploy role is denied writing there). Names are case-sensitive; only
/// AWS's own rule ignores case.
pub(crate) fn reserved_parameter_root(name: &str) -> Option<&'static str> {
    let bare = name.trim_start_matches('/');
    let lower = bare.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        Some("names starting with 'aws' or 'ssm' are reserved by AWS")
    } else if bare == "cdk-bootstrap" || bare.starts_with("cdk-bootstrap/") {
        Some("/cdk-bootstrap/ holds the CDK bootstrap versions")
    } else {
        None
    }
}

/// The SSM Command document the bootstrap creates for `verify`'s ping: the only thing the deploy
/// role may run on an instance (`bootstrap/bootstrap-template.yaml`, resource `PingDocument`).
pub(crate) fn ping_document(qualifier: &str) -> String {
    format!("cdk-{qualifier}-pipeline-run-ping")
}

/// The instance tag that lets the deploy role send the ping document to an instance; every
/// instance a `verify` check pings from must carry it (its value: `true`).
pub(crate) const VERIFY_TAG: &str = "pipeline-run:verify";

pub(crate) fn is_qualifier(q: &str) -> bool {
    (1..=10).contains(&q.len())
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::new("222222222222", "ap-northeast-1").unwrap()
    }

    #[test]
    fn role_names_follow_the_cdk_bootstrap() {
        assert_eq!(
            BootstrapRole::Deploy.arn("hnb659fds", &env()),
            "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
        );
        let cn = Environment::new("222222222222", "cn-north-1").unwrap();
        assert!(
            BootstrapRole::Lookup
                .arn("q", &cn)
                .starts_with("arn:aws-cn:iam::")
        );
        assert_eq!(
            staging_bucket("hnb659fds", &env()),
            "cdk-hnb659fds-assets-222222222222-ap-northeast-1"
        );
        assert_eq!(ping_document("q1"), "cdk-q1-pipeline-run-ping");
    }

    #[test]
    fn the_bootstrap_template_names_the_ping_document_as_the_model_does() {
        let template = include_str!("../../bootstrap/bootstrap-template.yaml");
        let name = format!("Name: !Sub {}", ping_document("${Qualifier}"));
        assert!(template.contains(&name), "{name}");
        let tag = format!("'ssm:resourceTag/{VERIFY_TAG}': 'true'");
        assert!(template.contains(&tag), "{tag}");
    }

    #[test]
    fn parameter_namespace_is_the_prefix_then_the_qualifier() {
        assert_eq!(
            parameter_namespace(DEFAULT_PARAMETER_PREFIX, "hnb659fds"),
            "/pipeline-run/hnb659fds/"
        );
        assert!(is_parameter_prefix("/pipeline-run"));
        assert!(is_parameter_prefix("/team.a/outputs_1"));
        for bad in [
            "",
            "/",
            "pipeline-run",
            "/pipeline-run/",
            "/a//b",
            "/a b",
            "/aws-things",
            "/SSM",
            "/cdk-bootstrap",
            "/cdk-bootstrap/x",
        ] {
            assert!(!is_parameter_prefix(bad), "{bad:?}");
        }
        assert!(is_parameter_prefix("/cdk-bootstrapper"));
        assert!(!is_parameter_prefix(&format!("/{}", "a".repeat(200))));
    }

    #[test]
    fn named_roles_replace_the_convention_only_where_given() {
        let roles = StageRoles::conventional("hnb659fds", &env())
            .with(
                BootstrapRole::Deploy,
                Some("arn:aws:iam::222222222222:role/custom"),
            )
            .with(BootstrapRole::Lookup, None);
        assert_eq!(roles.deploy.arn, "arn:aws:iam::222222222222:role/custom");
        assert!(!roles.deploy.conventional);
        assert!(roles.lookup.conventional);
        assert_eq!(
            roles.get(BootstrapRole::CfnExec).kind,
            BootstrapRole::CfnExec
        );
    }
}
