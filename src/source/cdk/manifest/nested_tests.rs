//! Nested cloud assemblies (CDK Pipelines stages, `Stage` constructs) and legacy-synthesizer
//! stacks, as `cdk synth` writes them.

use serde_json::json;

use super::fixtures::*;

/// A stack artifact of the default synthesizer in account 111111111111, with `display` as its
/// displayName (the construct path the CDK writes).
fn stack(id: &str, display: &str, dependencies: &[&str]) -> serde_json::Value {
    let mut artifact = stack_artifact(id, "111111111111", dependencies);
    artifact["displayName"] = json!(display);
    artifact
}

/// Top-level `Pipeline`; stage `Beta` (assembly-Beta) with `Db` and `Api` (Api after Db), and
/// stage `Inner` nested in Beta with `Svc`; top-level `Final` depends on the whole Beta stage.
pub(super) fn staged_assembly() -> AssemblyDir {
    let dir = AssemblyDir::new("stages");
    let manifest =
        |artifacts: serde_json::Value| json!({ "version": "55.0.0", "artifacts": artifacts });
    for (path, id) in [
        ("", "Pipeline"),
        ("", "Final"),
        ("assembly-Beta/", "BetaDb1234"),
        ("assembly-Beta/", "BetaApi5678"),
        ("assembly-Beta/assembly-BetaInner/", "BetaInnerSvc9"),
    ] {
        dir.write(
            &format!("{path}{id}.template.json"),
            r#"{"Resources":{"P":{"Type":"AWS::SSM::Parameter"}}}"#,
        );
    }
    dir.write("assembly-Beta/asset.apicode/index.js", "exports.x = 1;\n");
    dir.write_json(
        "assembly-Beta/BetaApi5678.assets.json",
        &json!({"version": "55.0.0", "files": {"apicode": {
            "source": {"path": "asset.apicode", "packaging": "zip"},
            "destinations": file_destination("111111111111")}}}),
    );
    dir.write_json(
        "manifest.json",
        &manifest(json!({
            "assembly-Beta": {"type": "cdk:cloud-assembly",
                "properties": {"directoryName": "assembly-Beta", "displayName": "Beta"}},
            "Pipeline": stack("Pipeline", "Pipeline", &[]),
            "Final": stack("Final", "Final", &["assembly-Beta"]),
        })),
    );
    dir.write_json(
        "assembly-Beta/manifest.json",
        &manifest(json!({
            "BetaApi5678.assets": asset_manifest_artifact("BetaApi5678"),
            "BetaApi5678": stack("BetaApi5678", "Beta/Api", &["BetaDb1234", "BetaApi5678.assets"]),
            "BetaDb1234": stack("BetaDb1234", "Beta/Db", &[]),
            "assembly-BetaInner": {"type": "cdk:cloud-assembly",
                "properties": {"directoryName": "assembly-BetaInner", "displayName": "Beta/Inner"}},
        })),
    );
    dir.write_json(
        "assembly-Beta/assembly-BetaInner/manifest.json",
        &manifest(json!({
            "BetaInnerSvc9": stack("BetaInnerSvc9", "Beta/Inner/Svc", &["BetaApi5678"]),
        })),
    );
    dir
}

#[test]
fn nested_assemblies_are_read_recursively_with_hierarchical_ids_and_dependencies() {
    let dir = staged_assembly();
    let (assembly, warnings) = dir.read().unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let ids: Vec<(&str, &str)> = assembly
        .stacks
        .iter()
        .map(|s| (s.id.as_str(), s.hierarchical_id.as_str()))
        .collect();
    // Dependencies first; ties keep the order the manifests are read in.
    assert_eq!(
        ids,
        [
            ("Pipeline", "Pipeline"),
            ("BetaDb1234", "Beta/Db"),
            ("BetaApi5678", "Beta/Api"),
            ("BetaInnerSvc9", "Beta/Inner/Svc"),
            ("Final", "Final"),
        ]
    );
    let by_id = |id: &str| assembly.stacks.iter().find(|s| s.id == id).unwrap();
    // A dependency on a nested assembly is one on every stack in it, however deep.
    let mut final_deps = by_id("Final").dependencies.clone();
    final_deps.sort();
    assert_eq!(final_deps, ["BetaApi5678", "BetaDb1234", "BetaInnerSvc9"]);
    assert_eq!(by_id("BetaInnerSvc9").dependencies, ["BetaApi5678"]);
    // Paths of a nested assembly are relative to its own directory.
    let api = by_id("BetaApi5678");
    assert!(
        api.template_path
            .ends_with("assembly-Beta/BetaApi5678.template.json")
    );
    assert_eq!(api.asset_manifests, ["assembly-Beta/BetaApi5678.assets"]);
    let code = assembly
        .file_assets
        .iter()
        .find(|a| a.id == "apicode")
        .unwrap();
    assert!(
        code.source_path.ends_with("assembly-Beta/asset.apicode"),
        "{code:?}"
    );
    assert_eq!(code.stack_id, "BetaApi5678");
}

#[test]
fn problems_of_nested_assemblies_name_their_own_manifest() {
    let dir = staged_assembly();
    std::fs::remove_file(dir.0.join("assembly-Beta/assembly-BetaInner/manifest.json")).unwrap();
    std::fs::remove_file(dir.0.join("assembly-Beta/BetaDb1234.template.json")).unwrap();
    let error = dir.load_error();
    assert!(error.contains("has 2 problems"), "{error}");
    assert!(
        error.contains(
            "assembly-Beta/assembly-BetaInner has no manifest.json: the assembly is incomplete"
        ),
        "{error}"
    );
    assert!(
        error.contains("assembly-Beta/manifest.json: stack 'BetaDb1234': templateFile"),
        "{error}"
    );
}

#[test]
fn artifact_ids_must_be_unique_across_nested_assemblies() {
    let dir = staged_assembly();
    let mut inner: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.0.join("assembly-Beta/assembly-BetaInner/manifest.json"))
            .unwrap(),
    )
    .unwrap();
    inner["artifacts"]["Pipeline"] = stack("Pipeline", "Beta/Inner/Pipeline", &[]);
    dir.write(
        "assembly-Beta/assembly-BetaInner/Pipeline.template.json",
        "{}",
    );
    dir.write_json("assembly-Beta/assembly-BetaInner/manifest.json", &inner);
    let error = dir.load_error();
    assert!(
        error.contains("two stacks have artifact id 'Pipeline' (Pipeline and Beta/Inner/Pipeline)"),
        "{error}"
    );
}

/// A stack of the legacy synthesizer: no roles, no asset manifest, its assets in the metadata
/// (here in the additional metadata file, as aws-cdk-lib writes it).
pub(super) fn legacy_assembly(entries: serde_json::Value) -> AssemblyDir {
    let dir = AssemblyDir::new("legacy");
    dir.write("Legacy.template.json", r#"{"Parameters":{"AssetParametersabcS3BucketX":{"Type":"String"},"AssetParametersabcS3VersionKeyY":{"Type":"String"},"AssetParametersabcArtifactHashZ":{"Type":"String"}},"Resources":{"P":{"Type":"AWS::SSM::Parameter"}}}"#);
    dir.write("asset.abc/index.js", "exports.x = 1;\n");
    dir.write("asset.def.txt", "x");
    dir.write_json("Legacy.metadata.json", &json!({ "/Legacy/Code": entries }));
    dir.write_json(
        "manifest.json",
        &json!({"version": "21.0.0", "artifacts": {"Legacy": {
            "type": "aws:cloudformation:stack",
            "environment": "aws://111111111111/ap-northeast-1",
            "properties": {"templateFile": "Legacy.template.json"},
            "additionalMetadataFile": "Legacy.metadata.json",
            "displayName": "Legacy"}}}),
    );
    dir
}

fn asset_entry(id: &str, packaging: &str, path: &str) -> serde_json::Value {
    json!({"type": "aws:cdk:asset", "data": {
        "id": id, "sourceHash": "abc", "packaging": packaging, "path": path,
        "s3BucketParameter": "AssetParametersabcS3BucketX",
        "s3KeyParameter": "AssetParametersabcS3VersionKeyY",
        "artifactHashParameter": "AssetParametersabcArtifactHashZ"}})
}

#[test]
fn legacy_assets_are_read_from_the_metadata_with_the_keys_the_cdk_cli_uses() {
    let dir = legacy_assembly(json!([
        {"type": "aws:cdk:logicalId", "data": "Code"},
        asset_entry("abc", "zip", "asset.abc"),
        asset_entry("other", "file", "asset.def.txt"),
    ]));
    let (assembly, _) = dir.read().unwrap_or_else(|e| panic!("{e}"));
    let stack = &assembly.stacks[0];
    assert_eq!(stack.assume_role_arn, None);
    let [zip, file] = &stack.legacy_assets[..] else {
        panic!("{:?}", stack.legacy_assets)
    };
    assert_eq!(zip.name, "Legacy/Code");
    assert_eq!(zip.object_key(), "assets/abc.zip");
    assert_eq!(
        zip.parameters("toolkit-bucket"),
        [
            (
                "AssetParametersabcS3BucketX".to_string(),
                "toolkit-bucket".to_string()
            ),
            (
                "AssetParametersabcS3VersionKeyY".into(),
                "assets/||abc.zip".into()
            ),
            ("AssetParametersabcArtifactHashZ".into(), "abc".into()),
        ]
    );
    // An asset id other than its source hash gets its own prefix; a file keeps its extension.
    assert_eq!(file.object_key(), "assets/other/abc.txt");
    assert_eq!(file.parameters("b")[1].1, "assets/other/||abc.txt");
}

#[test]
fn legacy_assets_that_cannot_be_published_are_refused_by_stack_and_asset() {
    let mut outside = asset_entry("abc", "zip", "..");
    outside["data"]["id"] = json!("out");
    let mut unnamed = asset_entry("abc", "file", "asset.def.txt");
    unnamed["data"]["id"] = json!("unnamed");
    unnamed["data"]
        .as_object_mut()
        .unwrap()
        .remove("s3KeyParameter");
    let dir = legacy_assembly(json!([
        asset_entry("abc", "tarball", "asset.abc"),
        outside,
        unnamed,
        {"type": "aws:cdk:asset", "data": {"id": "img", "sourceHash": "h", "packaging": "container-image", "path": "asset.img"}},
    ]));
    let error = dir.load_error();
    for expected in [
        "stack 'Legacy': legacy asset 'abc' has packaging \"tarball\"",
        "legacy asset 'unnamed' names no s3BucketParameter, s3KeyParameter or artifactHashParameter",
        "legacy asset 'out': path '..' resolves to",
        "outside the cloud assembly directory",
    ] {
        assert!(error.contains(expected), "{expected}:\n{error}");
    }
    // Container images are listed, for the caller to refuse by name.
    dir.write_json("Legacy.metadata.json", &json!({ "/Legacy/Image": [
        {"type": "aws:cdk:asset", "data": {"id": "img", "sourceHash": "h", "packaging": "container-image", "path": "asset.img"}}
    ]}));
    let (assembly, _) = dir.read().unwrap();
    assert_eq!(assembly.docker_assets[0].id, "img");
}
