//! The stage file as written by the user (`pipelines/*.yml`), before validation.
//!
//! Unknown fields are refused (`deny_unknown_fields`) so a typo never silently does nothing.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageFile {
    pub(crate) version: u32,
    /// Bootstrap qualifier of the target environments (`cdk bootstrap --qualifier`).
    #[serde(default)]
    pub(crate) qualifier: Option<String>,
    /// Root of the Parameter Store names `publish_outputs` may use: names go under
    /// `<parameter_prefix>/<qualifier>/` (default `/pipeline-run`, the bootstrap's
    /// `ParameterStorePrefix`).
    #[serde(default)]
    pub(crate) parameter_prefix: Option<String>,
    /// The directory stage-file assets must stay inside, relative to the stage file (default:
    /// the stage file's directory).
    #[serde(default)]
    pub(crate) asset_root: Option<String>,
    pub(crate) accounts: BTreeMap<String, AccountEntry>,
    /// VPC address ranges the pipeline creates, referenced as `${networks.NAME.cidr}`.
    #[serde(default)]
    pub(crate) networks: BTreeMap<String, NetworkEntry>,
    #[serde(default)]
    pub(crate) peerings: Vec<PeeringEntry>,
    pub(crate) stages: Vec<StageEntry>,
    #[serde(default)]
    pub(crate) verify: Option<VerifyEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountEntry {
    pub(crate) id: String,
    pub(crate) region: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkEntry {
    pub(crate) cidr: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeeringEntry {
    /// The two networks this peering joins; their ranges must not overlap.
    pub(crate) between: Vec<String>,
    /// `Stage.Output` that holds the peering connection id.
    #[serde(default)]
    pub(crate) connection: Option<String>,
    /// Turn on AllowDnsResolutionFromRemoteVpc on both sides after the stage that creates it.
    #[serde(default)]
    pub(crate) allow_dns_resolution: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageEntry {
    pub(crate) name: String,
    pub(crate) account: String,
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// The template, relative to the stage file (or `source:` instead).
    #[serde(default)]
    pub(crate) template: String,
    /// A stack of a CDK cloud assembly as the stage's template, roles and assets.
    #[serde(default)]
    pub(crate) source: Option<SourceEntry>,
    #[serde(default)]
    pub(crate) stack_name: Option<String>,
    #[serde(default)]
    pub(crate) parameters: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) depends_on: Vec<String>,
    /// Output name → SSM parameter name to publish it under, in the stage's account.
    #[serde(default)]
    pub(crate) publish_outputs: BTreeMap<String, String>,
    /// Outputs whose values are secrets: masked, redacted from reports, published as
    /// `SecureString`.
    #[serde(default)]
    pub(crate) secret_outputs: Vec<String>,
    #[serde(default)]
    pub(crate) termination_protection: bool,
    /// CloudWatch alarm ARNs that roll the stage's deploy back while in ALARM (the change set's
    /// RollbackConfiguration).
    #[serde(default)]
    pub(crate) rollback_alarms: Vec<String>,
    /// How long, after the resources, CloudFormation keeps watching those alarms (0 to 180).
    #[serde(default)]
    pub(crate) monitoring_minutes: Option<i64>,
    /// Files and directories published to the staging bucket before the stack is deployed,
    /// referenced in parameters as `${assets.NAME.bucket|key|s3_url|url}`.
    #[serde(default)]
    pub(crate) assets: BTreeMap<String, AssetEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceEntry {
    /// The cloud assembly directory (`cdk.out`), relative to the stage file.
    pub(crate) app: String,
    /// The stack's artifact id in the assembly's manifest.json.
    pub(crate) stack: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssetEntry {
    /// Relative to the stage file.
    pub(crate) path: String,
    /// `file` (uploaded as is) or `zip` (a directory, zipped deterministically); by default zip
    /// for a directory and file for a file.
    #[serde(default)]
    pub(crate) packaging: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyEntry {
    #[serde(default)]
    pub(crate) count: Option<u32>,
    #[serde(default)]
    pub(crate) timeout_seconds: Option<u32>,
    pub(crate) checks: Vec<CheckEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckEntry {
    #[serde(default)]
    pub(crate) name: Option<String>,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) expect: String,
    #[serde(default)]
    pub(crate) count: Option<u32>,
    #[serde(default)]
    pub(crate) timeout_seconds: Option<u32>,
}
