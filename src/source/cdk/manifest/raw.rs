//! `manifest.json` as `cdk synth` writes it (only what pipeline-run reads), and JSON objects in
//! document order.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

#[derive(Deserialize)]
pub(super) struct AssemblyManifest {
    #[serde(default)]
    pub(super) artifacts: OrderedMap<Artifact>,
    #[serde(default)]
    pub(super) missing: Vec<MissingContext>,
}

#[derive(Deserialize)]
pub(super) struct MissingContext {
    pub(super) key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Artifact {
    #[serde(rename = "type")]
    pub(super) artifact_type: String,
    pub(super) environment: Option<String>,
    #[serde(default)]
    pub(super) dependencies: Vec<String>,
    #[serde(default)]
    pub(super) properties: Option<serde_json::Value>,
    pub(super) display_name: Option<String>,
    /// Construct path → metadata entries (legacy assets among them).
    #[serde(default)]
    pub(super) metadata: Option<serde_json::Value>,
    /// More metadata, in a file of the same shape.
    pub(super) additional_metadata_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StackProperties {
    pub(super) template_file: String,
    #[serde(default)]
    pub(super) parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) notification_arns: Vec<String>,
    pub(super) stack_name: Option<String>,
    #[serde(default)]
    pub(super) termination_protection: bool,
    pub(super) assume_role_arn: Option<String>,
    pub(super) assume_role_external_id: Option<String>,
    pub(super) assume_role_additional_options: Option<serde_json::Map<String, serde_json::Value>>,
    pub(super) cloud_formation_execution_role_arn: Option<String>,
    pub(super) lookup_role: Option<BootstrapRole>,
    pub(super) stack_template_asset_object_url: Option<String>,
    pub(super) requires_bootstrap_stack_version: Option<u32>,
    pub(super) bootstrap_stack_version_ssm_parameter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BootstrapRole {
    pub(super) arn: String,
    pub(super) assume_role_external_id: Option<String>,
    pub(super) assume_role_additional_options: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssetManifestProperties {
    pub(super) file: String,
    pub(super) requires_bootstrap_stack_version: Option<u32>,
    pub(super) bootstrap_stack_version_ssm_parameter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NestedAssemblyProperties {
    pub(super) directory_name: String,
}

/// An `aws:cdk:asset` metadata entry of a legacy-synthesizer stack.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LegacyAssetEntry {
    pub(super) id: String,
    pub(super) packaging: String,
    pub(super) path: String,
    pub(super) source_hash: String,
    pub(super) s3_bucket_parameter: Option<String>,
    pub(super) s3_key_parameter: Option<String>,
    pub(super) artifact_hash_parameter: Option<String>,
}

/// A JSON object read in document order, because manifest order decides the
/// order of stacks and assets whenever dependencies leave it open.
pub(super) struct OrderedMap<T>(pub(super) Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedMapVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<T> {
            type Value = OrderedMap<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if entries.iter().any(|(existing, _)| *existing == key) {
                        return Err(de::Error::custom(format!("duplicate key '{key}'")));
                    }
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(OrderedMapVisitor(PhantomData))
    }
}
