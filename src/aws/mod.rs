//! AWS access: the base configuration from the standard credential chain, and the credential
//! plugin — one assumed-role session per (account, region, bootstrap role), cached and refreshed
//! before it expires. Every service client is built here, so endpoint and addressing rules live in
//! one place.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sts::config::{Credentials, ProvideCredentials, Region, SharedCredentialsProvider};
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::service_config::ServiceConfigKey;
use tokio::sync::{Mutex, OnceCell};

pub(crate) mod errors;

use crate::error::{Detail, ExitKind, Failure, fail_fix, kind_of, with_fix};
use crate::model::env::Environment;
use crate::model::roles::{RoleRef, trust_fix};
use errors::{
    NoRetryBeforeConnecting, Unreachable, credentials_error_text, credentials_unreachable,
    describe_sdk_error, is_assume_role_access_denied, is_assume_role_failure, unreachable,
};

/// Time to open a TCP (and TLS) connection: AWS endpoints answer in milliseconds, and the kernel
/// retransmits a lost SYN once within this time.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for a response to start once a request is sent, for the API calls (all quick
/// request/response calls; no long polling).
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// One attempt of an API call, all included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// S3 uploads send the whole asset before the response starts: their read time grows with size.
const S3_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The identity probe (GetCallerIdentity) runs first and is tiny: when it gets no answer within
/// this time, the endpoint is reported unreachable at once (throttling is still retried). Real
/// AWS answers it in milliseconds; the margin is for a loaded local emulator.
const PROBE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(7);

/// The services pipeline-run calls, by SDK service id: the suffix of `AWS_ENDPOINT_URL_<ID>` and
/// the key of a profile's `services` section (upper-cased and lower-cased as the SDK does).
const SERVICES: [&str; 5] = ["STS", "CloudFormation", "S3", "SSM", "EC2"];

#[derive(Debug, Clone, Default)]
pub(crate) struct AwsOptions {
    pub(crate) endpoint_url: Option<String>,
    pub(crate) profile: Option<String>,
    /// `--region`: the base configuration's region, before `AWS_REGION` and the profile.
    pub(crate) region: Option<String>,
    /// Used when neither the environment nor the profile names a region.
    pub(crate) fallback_region: Option<String>,
    /// Lifetime of assumed-role sessions (AWS default 1 h; short values exercise refreshing).
    pub(crate) session_duration: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) account: String,
    pub(crate) arn: String,
}

/// (role ARN, region) of one assumed-role session.
type SessionKey = (String, String);

pub(crate) struct Aws {
    base: SdkConfig,
    /// The region `--region`, the environment or the profile named (before the fallback).
    configured_region: Option<String>,
    /// The custom endpoints configured, by service id (`SERVICES`).
    endpoints: HashMap<&'static str, String>,
    /// The role the selected profile assumes for the base credentials, if it does.
    role_profile: Option<RoleProfile>,
    session_duration: Option<Duration>,
    caller: OnceCell<Caller>,
    sessions: Mutex<HashMap<SessionKey, Arc<OnceCell<SdkConfig>>>>,
    session_tag: String,
}

impl Aws {
    pub(crate) async fn load(opts: AwsOptions) -> Result<Aws> {
        // Throttling comes in bursts when many stages poll at once: retry longer than the SDK's
        // default three attempts, with its exponential backoff and jitter. An explicit
        // AWS_MAX_ATTEMPTS still wins, as it does for every SDK and the AWS CLI.
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
            loader = loader
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &opts.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &opts.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let mut base = loader.load().await;
        let configured_region = base.region().map(|r| r.to_string());
        if base.region().is_none()
            && let Some(region) = &opts.fallback_region
        {
            base = base
                .to_builder()
                .region(Region::new(region.clone()))
                .build();
        }
        // The base credentials are got once before the identity probe (`base_credentials`):
        // cached here, so that the probe does not get them a second time.
        if let Some(provider) = base.credentials_provider() {
            base = base
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(RefreshingSession::new(
                    provider,
                )))
                .build();
        }
        let endpoints = SERVICES
            .iter()
            .filter_map(|&id| configured_endpoint(&base, id).map(|url| (id, url)))
            .collect();
        Ok(Aws {
            base,
            configured_region,
            endpoints,
            role_profile: RoleProfile::selected(opts.profile.as_deref()).await,
            session_duration: opts.session_duration,
            caller: OnceCell::new(),
            sessions: Mutex::new(HashMap::new()),
            session_tag: session_tag(),
        })
    }

    /// The region of the configuration (`--region`, `AWS_REGION`, the profile), where an
    /// environment-agnostic stack deploys; None when none is configured.
    pub(crate) fn configured_region(&self) -> Option<&str> {
        self.configured_region.as_deref()
    }

    /// The custom endpoint of S3 (emulator, VPC endpoint), when one is set: object URLs name it.
    pub(crate) fn endpoint(&self) -> Option<&str> {
        self.endpoints.get("S3").map(String::as_str)
    }

    /// Who the base credentials belong to. Fails with a credentials error naming the fix, or,
    /// when the endpoint gives no answer, an unreachable error naming it.
    pub(crate) async fn caller(&self) -> Result<&Caller> {
        self.caller
            .get_or_try_init(|| async {
                self.base_credentials().await?;
                let probe = aws_sdk_sts::config::Builder::default()
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .connect_timeout(CONNECT_TIMEOUT)
                            .operation_attempt_timeout(PROBE_ATTEMPT_TIMEOUT)
                            .build(),
                    )
                    .retry_classifier(NoRetryBeforeConnecting {
                        nor_unanswered: true,
                    });
                let out = self
                    .sts(&self.base)
                    .get_caller_identity()
                    .customize()
                    .config_override(probe)
                    .send()
                    .await
                    .map_err(|e| match unreachable(&e) {
                        Some(why) => self.unreachable_failure("STS", why),
                        None => fail_fix(
                            ExitKind::Credentials,
                            format!("cannot identify the AWS credentials in use ({})", describe_sdk_error(&e)),
                            "provide credentials the standard way: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity (GitHub OIDC via aws-actions/configure-aws-credentials) or container credentials (CodeBuild)",
                        ),
                    })?;
                Ok::<_, anyhow::Error>(Caller {
                    account: out.account().unwrap_or_default().to_string(),
                    arn: out.arn().unwrap_or_default().to_string(),
                })
            })
            .await
    }

    /// The base credentials, got before the identity probe: when the selected profile assumes a
    /// role (`role_arn`) and that AssumeRole fails, the failure names the role and what to fix
    /// (the probe alone would only see a timeout or a generic credentials error). Other failures
    /// of the credential chain are left to the probe, which reports them as before.
    async fn base_credentials(&self) -> Result<()> {
        let Some(provider) = self.base.credentials_provider() else {
            return Ok(());
        };
        let got = tokio::time::timeout(PROBE_ATTEMPT_TIMEOUT, provider.provide_credentials()).await;
        let doing = self.role_profile.as_ref().map(RoleProfile::doing);
        let e = match got {
            Ok(Ok(_)) => return Ok(()),
            // The chain's own STS client retries; no answer in time is all that is known.
            Err(_) => {
                return Err(self.unreachable(
                    "STS",
                    None,
                    Unreachable::NoResponse,
                    doing.as_deref(),
                ));
            }
            Ok(Err(e)) => e,
        };
        if !is_assume_role_failure(&e) {
            return Ok(());
        }
        if let Some(why) = credentials_unreachable(&e) {
            return Err(self.unreachable("STS", None, why, doing.as_deref()));
        }
        let role = self.role_profile.as_ref();
        let what = role.map_or_else(
            || "the role of the selected profile".to_string(),
            RoleProfile::describe,
        );
        let fix = match role {
            Some(r) if is_assume_role_access_denied(&e) => r.trust_fix(),
            Some(r) => format!(
                "check role_arn and the credentials of the source of profile {} (AWS_CONFIG_FILE, default ~/.aws/config)",
                r.profile
            ),
            None => "check role_arn and source_profile of the selected profile (AWS_PROFILE)"
                .to_string(),
        };
        Err(fail_fix(
            ExitKind::Credentials,
            format!(
                "cannot get the AWS credentials: assuming {what} failed: {}",
                credentials_error_text(&e)
            ),
            fix,
        ))
    }

    /// The endpoint `service` (an SDK service id) is sent to: the custom one, else AWS's
    /// regional one.
    fn endpoint_of(&self, service: &str, region: Option<&str>) -> String {
        let service_host = service.to_ascii_lowercase();
        match (
            self.endpoints.get(service),
            region.or(self.base.region().map(|r| r.as_ref())),
        ) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) => format!("https://{service_host}.{region}.amazonaws.com"),
            (None, None) => format!("the AWS {service_host} endpoint"),
        }
    }

    /// "cannot reach ENDPOINT: WHY", with what to check.
    fn unreachable_failure(&self, service: &str, why: Unreachable) -> anyhow::Error {
        self.unreachable(service, None, why, None)
    }

    /// "cannot reach ENDPOINT: WHY[, while DOING]", with what to check.
    fn unreachable(
        &self,
        service: &str,
        region: Option<&str>,
        why: Unreachable,
        doing: Option<&str>,
    ) -> anyhow::Error {
        let endpoint = self.endpoint_of(service, region);
        let check = if self.endpoints.contains_key(service) {
            "check AWS_ENDPOINT_URL (or --endpoint-url, AWS_ENDPOINT_URL_<SERVICE>, the profile's endpoint_url or services section), the network and any proxy (HTTPS_PROXY)"
        } else {
            "check the network, any proxy (HTTPS_PROXY) and that the region is right"
        };
        let doing = doing.map(|d| format!(", while {d}")).unwrap_or_default();
        fail_fix(
            ExitKind::Unreachable,
            format!("cannot reach {endpoint}: {}{doing}", why.reason()),
            check,
        )
    }

    /// A configuration acting as `role` in `env`, for `purpose` (named in errors). When the
    /// role cannot be assumed, the fix says how to make `env` trust the caller.
    pub(crate) async fn role(
        &self,
        role: &RoleRef,
        env: &Environment,
        qualifier: &str,
        purpose: &str,
    ) -> Result<SdkConfig> {
        self.assume(&role.arn, &env.region, role.kind.short_name(), purpose)
            .await
            .map_err(|e| {
                if kind_of(&e) != Some(ExitKind::Credentials) {
                    return e;
                }
                let caller = self.caller.get().map(|c| c.account.as_str());
                with_fix(
                    e,
                    ExitKind::Credentials,
                    trust_fix(role, env, caller, qualifier),
                )
            })
    }

    /// Assumes `role_arn` once per (role, region) for the life of the process; the session is
    /// refreshed shortly before it expires.
    pub(crate) async fn assume(
        &self,
        role_arn: &str,
        region: &str,
        label: &str,
        purpose: &str,
    ) -> Result<SdkConfig> {
        let cell = {
            let mut sessions = self.sessions.lock().await;
            sessions
                .entry((role_arn.to_string(), region.to_string()))
                .or_default()
                .clone()
        };
        let cfg = cell
            .get_or_try_init(|| async {
                let caller = self.caller().await?.clone();
                let session_name = format!("pipeline-run-{label}-{}", self.session_tag);
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                    .session_name(truncate_session_name(&session_name))
                    .region(Region::new(region.to_string()))
                    .configure(&self.base);
                if let Some(d) = self.session_duration {
                    builder = builder.session_length(d);
                }
                let provider =
                    RefreshingSession::new(SharedCredentialsProvider::new(builder.build().await));
                provider.provide_credentials().await.map_err(|e| {
                    if let Some(why) = credentials_unreachable(&e) {
                        return self.unreachable("STS", Some(region), why, None);
                    }
                    let reason = credentials_error_text(&e);
                    let failure = Failure::new(
                        ExitKind::Credentials,
                        format!(
                            "cannot assume role {role_arn} as {} (needed to {purpose}): {reason}",
                            caller.arn
                        ),
                    );
                    anyhow::Error::from(if is_assume_role_access_denied(&e) {
                        failure.with_detail(Detail::AssumeRoleDenied)
                    } else {
                        failure
                    })
                })?;
                Ok::<_, anyhow::Error>(
                    self.base
                        .to_builder()
                        .region(Region::new(region.to_string()))
                        .credentials_provider(SharedCredentialsProvider::new(provider))
                        .build(),
                )
            })
            .await?;
        Ok(cfg.clone())
    }

    /// The base configuration, in another region.
    pub(crate) fn base_in(&self, region: &str) -> SdkConfig {
        self.base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    // Every client gets `NoRetryBeforeConnecting`: a refused or unanswered connection fails at
    // once instead of being retried like throttling.

    pub(crate) fn cloudformation(&self, cfg: &SdkConfig) -> aws_sdk_cloudformation::Client {
        let conf = aws_sdk_cloudformation::config::Builder::from(cfg)
            .retry_classifier(NoRetryBeforeConnecting::default())
            .build();
        aws_sdk_cloudformation::Client::from_conf(conf)
    }

    pub(crate) fn s3(&self, cfg: &SdkConfig) -> aws_sdk_s3::Client {
        // Emulators and private endpoints have no per-bucket DNS names: address buckets by path.
        // Uploads take the time their size needs: no attempt timeout, a long read timeout.
        let conf = aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(self.endpoints.contains_key("S3"))
            .retry_classifier(NoRetryBeforeConnecting::default())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(S3_READ_TIMEOUT)
                    .build(),
            )
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub(crate) fn ssm(&self, cfg: &SdkConfig) -> aws_sdk_ssm::Client {
        let conf = aws_sdk_ssm::config::Builder::from(cfg)
            .retry_classifier(NoRetryBeforeConnecting::default())
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    pub(crate) fn ec2(&self, cfg: &SdkConfig) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::config::Builder::from(cfg)
            .retry_classifier(NoRetryBeforeConnecting::default())
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    pub(crate) fn sts(&self, cfg: &SdkConfig) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::config::Builder::from(cfg)
            .retry_classifier(NoRetryBeforeConnecting::default())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }
}

/// The endpoint URL configured for `service_id` in `cfg`, resolved as the SDK's clients resolve it
/// (`From<&SdkConfig>` of each service's config): the service's own setting
/// (`AWS_ENDPOINT_URL_<ID>`, the profile's `services` section), else the global one
/// (`--endpoint-url`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`), unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` says otherwise (aws-config applies it).
fn configured_endpoint(cfg: &SdkConfig, service_id: &str) -> Option<String> {
    let global = cfg.endpoint_url().map(str::to_string);
    if cfg.get_origin("endpoint_url").is_client_config() {
        return global;
    }
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    cfg.service_config()
        .and_then(|c| c.load_config(key))
        .filter(|url| !url.is_empty())
        .or(global)
}

/// A custom endpoint configured for any service pipeline-run calls (`endpoint_url`, the
/// `--endpoint-url` flag; `profile`, `--profile`), read from the environment and the shared
/// config files by aws-config, without any AWS call: for the unknown-region warning.
pub(crate) async fn custom_endpoint(
    endpoint_url: Option<&str>,
    profile: Option<&str>,
) -> Option<String> {
    // A region is given so that none is looked up (instance metadata); it is not used.
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::from_static("us-east-1"));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let cfg = loader.load().await;
    SERVICES.iter().find_map(|id| configured_endpoint(&cfg, id))
}

/// A profile whose base credentials come from assuming a role (`role_arn`, with
/// `source_profile` or `credential_source`), read with aws-config's profile parser.
#[derive(Debug, Clone)]
struct RoleProfile {
    profile: String,
    role_arn: String,
    /// `source_profile NAME` or `credential_source NAME`.
    source: Option<String>,
}

impl RoleProfile {
    /// The selected profile (`--profile`, else `AWS_PROFILE`, else `default`), when it assumes a
    /// role.
    async fn selected(profile: Option<&str>) -> Option<RoleProfile> {
        let profiles = aws_config::profile::load(
            &Fs::real(),
            &Env::real(),
            &Default::default(),
            profile.map(|p| Cow::Owned(p.to_string())),
        )
        .await
        .ok()?;
        let name = profiles.selected_profile();
        let p = profiles.get_profile(name)?;
        let source = p
            .get("source_profile")
            .map(|s| format!("source_profile {s}"))
            .or_else(|| {
                p.get("credential_source")
                    .map(|s| format!("credential_source {s}"))
            });
        Some(RoleProfile {
            profile: name.to_string(),
            role_arn: p.get("role_arn")?.to_string(),
            source,
        })
    }

    /// "role ARN of profile NAME (with its source_profile SOURCE)".
    fn describe(&self) -> String {
        let source = self
            .source
            .as_ref()
            .map(|s| format!(", with the credentials of its {s}"))
            .unwrap_or_default();
        format!(
            "role {} (role_arn of profile {}{source})",
            self.role_arn, self.profile
        )
    }

    /// What was being done: "assuming role … to get the AWS credentials".
    fn doing(&self) -> String {
        format!("assuming {} to get the AWS credentials", self.describe())
    }

    /// How to make the AssumeRole of the profile pass.
    fn trust_fix(&self) -> String {
        let source = self.source.as_deref().unwrap_or("the source identity");
        format!(
            "let the identity of {source} assume {}: the role's trust policy must allow it (its ARN or account as Principal) and that identity's IAM policy must allow sts:AssumeRole on the role; or correct role_arn / the source in profile {} (AWS_CONFIG_FILE, default ~/.aws/config)",
            self.role_arn, self.profile
        )
    }
}

/// Session names say what ran: the CI run when there is one, else the local user.
fn session_tag() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let tag = if let Some(run) = var("GITHUB_RUN_ID") {
        format!("gh-{run}")
    } else if let Some(build) = var("CODEBUILD_BUILD_NUMBER") {
        format!("codebuild-{build}")
    } else {
        var("USER").unwrap_or_else(|| "local".into())
    };
    tag.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
        .collect()
}

fn truncate_session_name(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Caches one session (an assumed role, or the base credentials) and renews it five minutes
/// before expiry, so a long deploy never sends a request with expired credentials, and the early
/// checks (trust, base credentials) cost no extra call.
#[derive(Debug)]
struct RefreshingSession {
    inner: SharedCredentialsProvider,
    cached: std::sync::Mutex<Option<Credentials>>,
}

impl RefreshingSession {
    fn new(inner: SharedCredentialsProvider) -> Self {
        RefreshingSession {
            inner,
            cached: std::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> aws_credential_types::provider::Result {
        if let Some(c) = self.cached.lock().unwrap().as_ref()
            && is_fresh(c.expiry(), SystemTime::now())
        {
            return Ok(c.clone());
        }
        let creds = self.inner.provide_credentials().await?;
        *self.cached.lock().unwrap() = Some(creds.clone());
        Ok(creds)
    }
}

/// Renewal margin of `RefreshingSession`.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Whether cached credentials expiring at `expiry` may still be handed out at `now`.
fn is_fresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_none_or(|exp| exp > now + RENEW_BEFORE_EXPIRY)
}

impl ProvideCredentials for RefreshingSession {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_renewed_from_five_minutes_before_expiry() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let expiry = Some(t0 + Duration::from_secs(900));
        assert!(is_fresh(expiry, t0));
        assert!(is_fresh(expiry, t0 + Duration::from_secs(599)));
        assert!(!is_fresh(expiry, t0 + Duration::from_secs(600)));
        assert!(!is_fresh(expiry, t0 + Duration::from_secs(901)));
        // Credentials without an expiry (static keys) never need renewing.
        assert!(is_fresh(None, t0 + Duration::from_secs(1_000_000)));
    }

    #[test]
    fn session_names_are_limited_to_64_characters() {
        assert_eq!(truncate_session_name(&"x".repeat(100)).len(), 64);
    }
}
