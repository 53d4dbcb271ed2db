//! The fields of the cloud assembly schema pipeline-run knows (those of 55.x, the newest it was
//! checked against), and the search for any other in an assembly of a newer schema.
//!
//! Every field of 55.x has a known meaning: most are honoured (`templateFile`, `parameters`,
//! `tags`, `stackName`, `terminationProtection`, the roles, `stackTemplateAssetObjectUrl`, the
//! bootstrap requirement, dependencies, nested assemblies, asset sources and destinations), some
//! change nothing pipeline-run does (`validateOnSynth`: a synth-time check; `displayName`,
//! `metadata` other than legacy assets, `runtime`, `minimumCliVersion`: the CDK CLI's own
//! version floor; tree and feature-flag reports), and a few are refused where used because they
//! change how a stack must be deployed and pipeline-run does not do it yet
//! (`assumeRoleAdditionalOptions`, `assumeRoleExternalId`, `source.executable`).
//! A schema newer than 55 may add fields that change deploy semantics, so any field outside these
//! lists is refused, naming the field and the artifact; the CDK also bumps the major for fields
//! that do not, and those assemblies load with a warning only.

use serde_json::Value;

use super::schema::{NEWEST_SCHEMA_MAJOR, SchemaVersion};

const MANIFEST: &[&str] = &[
    "version",
    "minimumCliVersion",
    "artifacts",
    "missing",
    "runtime",
];
const ARTIFACT: &[&str] = &[
    "type",
    "environment",
    "metadata",
    "additionalMetadataFile",
    "dependencies",
    "properties",
    "displayName",
];
const STACK_PROPERTIES: &[&str] = &[
    "templateFile",
    "parameters",
    "tags",
    "notificationArns",
    "stackName",
    "terminationProtection",
    "assumeRoleArn",
    "assumeRoleExternalId",
    "assumeRoleAdditionalOptions",
    "cloudFormationExecutionRoleArn",
    "lookupRole",
    "stackTemplateAssetObjectUrl",
    "requiresBootstrapStackVersion",
    "bootstrapStackVersionSsmParameter",
    "validateOnSynth",
    // Written by aws-cdk-lib next to `dependencies` (not in the published schema's types).
    "additionalDependencies",
];
const BOOTSTRAP_ROLE: &[&str] = &[
    "arn",
    "assumeRoleExternalId",
    "assumeRoleAdditionalOptions",
    "requiresBootstrapStackVersion",
    "bootstrapStackVersionSsmParameter",
];
const ASSET_MANIFEST_PROPERTIES: &[&str] = &[
    "file",
    "requiresBootstrapStackVersion",
    "bootstrapStackVersionSsmParameter",
];
const NESTED_PROPERTIES: &[&str] = &["directoryName", "displayName"];
const ASSET_FILE: &[&str] = &["version", "files", "dockerImages"];
const FILE_ASSET: &[&str] = &["displayName", "source", "destinations"];
const FILE_SOURCE: &[&str] = &["executable", "path", "packaging"];
const FILE_DESTINATION: &[&str] = &[
    "bucketName",
    "objectKey",
    "region",
    "assumeRoleArn",
    "assumeRoleExternalId",
    "assumeRoleAdditionalOptions",
];

/// A field pipeline-run does not know: where it is and its name.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct UnknownField {
    /// `artifact 'X'`, `file asset 'Y' destination 'Z'`, …
    pub(super) place: String,
    pub(super) field: String,
}

impl UnknownField {
    /// The refusal: the file, the place and the field, the newer schema, the fix.
    pub(super) fn problem(&self, file: &std::path::Path, version: &SchemaVersion) -> String {
        format!(
            "{}: {} has field \"{}\", which this pipeline-run does not know (schema {} is newer than the {}.x it knows, and the field may change how the stack is deployed); upgrade pipeline-run, or synthesize with an aws-cdk-lib that writes schema {}.x",
            file.display(),
            self.place,
            self.field,
            version.text,
            NEWEST_SCHEMA_MAJOR,
            NEWEST_SCHEMA_MAJOR
        )
    }
}

fn unknown_in(value: &Value, known: &[&str], place: &str, out: &mut Vec<UnknownField>) {
    let Some(object) = value.as_object() else {
        return;
    };
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            out.push(UnknownField {
                place: place.to_string(),
                field: key.clone(),
            });
        }
    }
}

/// Unknown fields of `manifest.json`: top level, artifacts, and the properties of the artifact
/// types pipeline-run deploys. (Artifact types it does not know are refused as such.)
pub(super) fn unknown_in_manifest(manifest: &Value) -> Vec<UnknownField> {
    let mut out = Vec::new();
    unknown_in(manifest, MANIFEST, "the manifest", &mut out);
    let Some(artifacts) = manifest.get("artifacts").and_then(Value::as_object) else {
        return out;
    };
    for (id, artifact) in artifacts {
        let place = format!("artifact '{id}'");
        unknown_in(artifact, ARTIFACT, &place, &mut out);
        let properties = artifact.get("properties").unwrap_or(&Value::Null);
        let known = match artifact.get("type").and_then(Value::as_str) {
            Some("aws:cloudformation:stack") => STACK_PROPERTIES,
            Some("cdk:asset-manifest") => ASSET_MANIFEST_PROPERTIES,
            Some("cdk:cloud-assembly") => NESTED_PROPERTIES,
            _ => continue,
        };
        unknown_in(properties, known, &format!("{place} properties"), &mut out);
        if let Some(role) = properties.get("lookupRole") {
            unknown_in(
                role,
                BOOTSTRAP_ROLE,
                &format!("{place} lookupRole"),
                &mut out,
            );
        }
    }
    out
}

/// Unknown fields of an asset manifest (`*.assets.json`); Docker images are refused anyway.
pub(super) fn unknown_in_asset_manifest(file: &Value) -> Vec<UnknownField> {
    let mut out = Vec::new();
    unknown_in(file, ASSET_FILE, "the asset manifest", &mut out);
    let Some(files) = file.get("files").and_then(Value::as_object) else {
        return out;
    };
    for (id, asset) in files {
        let place = format!("file asset '{id}'");
        unknown_in(asset, FILE_ASSET, &place, &mut out);
        if let Some(source) = asset.get("source") {
            unknown_in(source, FILE_SOURCE, &format!("{place} source"), &mut out);
        }
        for (destination_id, destination) in asset
            .get("destinations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let place = format!("{place} destination '{destination_id}'");
            unknown_in(destination, FILE_DESTINATION, &place, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_outside_the_schema_are_found_with_their_place() {
        let manifest = json!({
            "version": "56.0.0",
            "newTopLevel": 1,
            "artifacts": {
                "S": {"type": "aws:cloudformation:stack", "environment": "aws://1/r",
                      "properties": {"templateFile": "S.json", "validateOnSynth": false,
                                     "deployOrder": 3, "lookupRole": {"arn": "a", "sessionTags": []}}},
                "S.assets": {"type": "cdk:asset-manifest", "properties": {"file": "f"}},
                "T": {"type": "cdk:tree", "properties": {"file": "tree.json", "anything": 1}},
                "X": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "d"}, "priority": 1}
            }
        });
        let found: Vec<(String, String)> = unknown_in_manifest(&manifest)
            .into_iter()
            .map(|u| (u.place, u.field))
            .collect();
        assert_eq!(
            found,
            [
                ("the manifest".to_string(), "newTopLevel".to_string()),
                ("artifact 'S' properties".into(), "deployOrder".into()),
                ("artifact 'S' lookupRole".into(), "sessionTags".into()),
                ("artifact 'X'".into(), "priority".into()),
            ]
        );
        let assets = json!({"version": "56.0.0", "files": {"h": {
            "source": {"path": "p", "compression": "zstd"},
            "destinations": {"d": {"bucketName": "b", "objectKey": "k", "storageClass": "X"}}}}});
        let found: Vec<String> = unknown_in_asset_manifest(&assets)
            .into_iter()
            .map(|u| format!("{}: {}", u.place, u.field))
            .collect();
        assert_eq!(
            found,
            [
                "file asset 'h' source: compression",
                "file asset 'h' destination 'd': storageClass"
            ]
        );
    }
}
