//! Cloud assemblies written for the tests, as the default synthesizer writes them.

use serde_json::json;

use super::CloudAssembly;
use crate::testutil::TempDir;

pub(super) const QUALIFIER_BUCKET: &str = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}";
pub(super) const VERSION: &str = "48.0.0";
/// An assembly directory being written, removed when dropped.
pub(super) struct AssemblyDir(pub(super) TempDir);

impl AssemblyDir {
    pub(super) fn new(label: &str) -> Self {
        AssemblyDir(TempDir::new(&format!("assembly-{label}")))
    }

    pub(super) fn write(&self, relative: &str, content: &str) {
        self.0.write(relative, content);
    }

    pub(super) fn write_json(&self, relative: &str, value: &serde_json::Value) {
        self.write(relative, &serde_json::to_string_pretty(value).unwrap());
    }

    pub(super) fn load(&self) -> anyhow::Result<CloudAssembly> {
        CloudAssembly::read(self.0.path())
            .map(|(assembly, _)| assembly)
            .map_err(anyhow::Error::from)
    }

    /// The assembly and its warnings.
    pub(super) fn read(&self) -> Result<(CloudAssembly, Vec<String>), super::AssemblyProblems> {
        CloudAssembly::read(self.0.path())
    }

    pub(super) fn load_error(&self) -> String {
        format!("{:#}", self.load().unwrap_err())
    }
}

/// Stack artifact as the default synthesizer writes it for an env-specific
/// stack: account and region baked in, the partition left as a placeholder.
pub(super) fn stack_artifact(id: &str, account: &str, dependencies: &[&str]) -> serde_json::Value {
    let region = "ap-northeast-1";
    let role = |name: &str| {
        format!(
            "arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-{name}-{account}-{region}"
        )
    };
    json!({
        "type": "aws:cloudformation:stack",
        "environment": format!("aws://{account}/{region}"),
        "properties": {
            "templateFile": format!("{id}.template.json"),
            "parameters": { "Env": "test" },
            "tags": { "team": "platform" },
            "terminationProtection": id == "StackB",
            "validateOnSynth": false,
            "assumeRoleArn": role("deploy-role"),
            "cloudFormationExecutionRoleArn": role("cfn-exec-role"),
            "stackTemplateAssetObjectUrl": format!("s3://cdk-hnb659fds-assets-{account}-{region}/{id}hash.json"),
            "requiresBootstrapStackVersion": 6,
            "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version",
            "additionalDependencies": [format!("{id}.assets")],
            "lookupRole": {
                "arn": role("lookup-role"),
                "requiresBootstrapStackVersion": 8,
                "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version"
            }
        },
        "dependencies": dependencies,
        "metadata": { format!("/{id}/Param"): [{ "type": "aws:cdk:logicalId", "data": "Param" }] },
        "displayName": format!("{id}")
    })
}

pub(super) fn asset_manifest_artifact(stack_id: &str) -> serde_json::Value {
    json!({
        "type": "cdk:asset-manifest",
        "properties": {
            "file": format!("{stack_id}.assets.json"),
            "requiresBootstrapStackVersion": 6,
            "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/hnb659fds/version"
        }
    })
}

pub(super) fn file_destination(account: &str) -> serde_json::Value {
    json!({
        format!("{account}-ap-northeast-1"): {
            "bucketName": format!("cdk-hnb659fds-assets-{account}-ap-northeast-1"),
            "objectKey": "OBJECT_KEY",
            "region": "ap-northeast-1",
            "assumeRoleArn": format!("arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-file-publishing-role-{account}-ap-northeast-1")
        }
    })
}

pub(super) fn asset_manifest_file(stack_id: &str, account: &str) -> serde_json::Value {
    let destination = |key: &str| {
        let mut d = file_destination(account);
        let (_, inner) = d.as_object_mut().unwrap().iter_mut().next().unwrap();
        inner["objectKey"] = json!(key);
        d
    };
    json!({
        "version": VERSION,
        "files": {
            format!("{stack_id}hash"): {
                "displayName": format!("{stack_id} Template"),
                "source": { "path": format!("{stack_id}.template.json"), "packaging": "file" },
                "destinations": destination(&format!("{stack_id}hash.json"))
            },
            format!("{stack_id}config"): {
                "source": { "path": format!("asset.{stack_id}config.json"), "packaging": "file" },
                "destinations": destination(&format!("{stack_id}config.json"))
            },
            format!("{stack_id}dir"): {
                "source": { "path": format!("asset.{stack_id}dir"), "packaging": "zip" },
                "destinations": destination(&format!("{stack_id}dir.zip"))
            }
        },
        "dockerImages": {}
    })
}

pub(super) fn two_account_assembly() -> AssemblyDir {
    let dir = AssemblyDir::new("two-accounts");
    for (stack, account) in [("StackA", "111111111111"), ("StackB", "222222222222")] {
        dir.write(&format!("{stack}.template.json"), r#"{"Resources":{}}"#);
        dir.write(&format!("asset.{stack}config.json"), r#"{"k":"v"}"#);
        dir.write(&format!("asset.{stack}dir/index.js"), "exports.x = 1;\n");
        dir.write_json(
            &format!("{stack}.assets.json"),
            &asset_manifest_file(stack, account),
        );
    }
    // Written by hand because serde_json sorts object keys: B comes first
    // so that ordering by dependencies is visible.
    let artifacts = [
        ("StackB.assets", asset_manifest_artifact("StackB")),
        (
            "StackB",
            stack_artifact("StackB", "222222222222", &["StackA", "StackB.assets"]),
        ),
        ("StackA.assets", asset_manifest_artifact("StackA")),
        (
            "StackA",
            stack_artifact("StackA", "111111111111", &["StackA.assets"]),
        ),
        (
            "Tree",
            json!({ "type": "cdk:tree", "properties": { "file": "tree.json" } }),
        ),
    ]
    .iter()
    .map(|(id, artifact)| format!("{}: {artifact}", json!(id)))
    .collect::<Vec<_>>()
    .join(",\n");
    dir.write(
        "manifest.json",
        &format!(
            "{{\"version\": \"{VERSION}\", \"minimumCliVersion\": \"2.1000.0\", \"artifacts\": {{\n{artifacts}\n}}}}"
        ),
    );
    dir
}

pub(super) fn rewrite_manifest(dir: &AssemblyDir, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.0.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    dir.write_json("manifest.json", &manifest);
}

/// One GovCloud stack whose manifest leaves every placeholder to the loader, with an asset that
/// has a destination in its own region and one in China.
pub(super) fn gov_assembly() -> AssemblyDir {
    let dir = AssemblyDir::new("placeholders");
    dir.write("Gov.template.json", "{}");
    dir.write("asset.code/main.py", "print(1)\n");
    let role = |name: &str| {
        format!(
            "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-hnb659fds-{name}-${{AWS::AccountId}}-${{AWS::Region}}"
        )
    };
    dir.write_json(
        "manifest.json",
        &json!({
            "version": VERSION,
            "artifacts": {
                "Gov.assets": asset_manifest_artifact("Gov"),
                "Gov": {
                    "type": "aws:cloudformation:stack",
                    "environment": "aws://333333333333/us-gov-west-1",
                    "properties": {
                        "templateFile": "Gov.template.json",
                        "stackName": "gov-stack",
                        "assumeRoleArn": role("deploy-role"),
                        "assumeRoleExternalId": "ext-1",
                        "cloudFormationExecutionRoleArn": role("cfn-exec-role"),
                        "lookupRole": { "arn": role("lookup-role") },
                        "stackTemplateAssetObjectUrl": format!("s3://{QUALIFIER_BUCKET}/t.json"),
                        "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/${AWS::Region}/version"
                    },
                    "dependencies": ["Gov.assets"]
                }
            }
        }),
    );
    dir.write_json(
        "Gov.assets.json",
        &json!({
            "version": VERSION,
            "files": {
                "code": {
                    "source": { "path": "asset.code", "packaging": "zip" },
                    "destinations": {
                        "home": {
                            "bucketName": QUALIFIER_BUCKET,
                            "objectKey": "${AWS::Region}/code.zip",
                            "assumeRoleArn": role("file-publishing-role"),
                            "assumeRoleExternalId": "ext-2"
                        },
                        "china": {
                            "bucketName": QUALIFIER_BUCKET,
                            "objectKey": "code.zip",
                            "region": "cn-north-1",
                            "assumeRoleArn": role("file-publishing-role")
                        }
                    }
                }
            }
        }),
    );
    dir
}
