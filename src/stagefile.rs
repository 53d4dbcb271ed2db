//! The stage file as written by the user (`pipelines/*.yml`), before validation.
//!
//! Unknown fields are refused (`deny_unknown_fields`) so a typo never silently does nothing.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    pub version: u32,
    /// Bootstrap qualifier of the target environments (`cdk bootstrap --qualifier`).
    #[serde(default)]
    pub qualifier: Option<String>,
    pub accounts: BTreeMap<String, AccountEntry>,
    /// VPC address ranges the pipeline creates, referenced as `${networks.NAME.cidr}`.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkEntry>,
    #[serde(default)]
    pub peerings: Vec<PeeringEntry>,
    pub stages: Vec<StageEntry>,
    #[serde(default)]
    pub verify: Option<VerifyEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub id: String,
    pub region: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkEntry {
    pub cidr: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeeringEntry {
    /// The two networks this peering joins; their ranges must not overlap.
    pub between: Vec<String>,
    /// `Stage.Output` that holds the peering connection id.
    #[serde(default)]
    pub connection: Option<String>,
    /// Turn on AllowDnsResolutionFromRemoteVpc on both sides after the stage that creates it.
    #[serde(default)]
    pub allow_dns_resolution: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageEntry {
    pub name: String,
    pub account: String,
    #[serde(default)]
    pub region: Option<String>,
    /// The template, relative to the stage file (or `source:` instead).
    #[serde(default)]
    pub template: String,
    /// A stack of a CDK cloud assembly as the stage's template, roles and assets.
    #[serde(default)]
    pub source: Option<SourceEntry>,
    #[serde(default)]
    pub stack_name: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Output name → SSM parameter name to publish it under, in the stage's account.
    #[serde(default)]
    pub publish_outputs: BTreeMap<String, String>,
    #[serde(default)]
    pub termination_protection: bool,
    /// Files and directories published to the staging bucket before the stack is deployed,
    /// referenced in parameters as `${assets.NAME.bucket|key|s3_url|url}`.
    #[serde(default)]
    pub assets: BTreeMap<String, AssetEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// The cloud assembly directory (`cdk.out`), relative to the stage file.
    pub app: String,
    /// The stack's artifact id in the assembly's manifest.json.
    pub stack: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetEntry {
    /// Relative to the stage file.
    pub path: String,
    /// `file` (uploaded as is) or `zip` (a directory, zipped deterministically); by default zip
    /// for a directory and file for a file.
    #[serde(default)]
    pub packaging: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEntry {
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    pub checks: Vec<CheckEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckEntry {
    #[serde(default)]
    pub name: Option<String>,
    pub from: String,
    pub to: String,
    pub expect: String,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
}
