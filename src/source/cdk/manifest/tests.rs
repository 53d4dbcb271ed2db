//! Reading assemblies pipeline-run deploys.

use std::path::Path;

use serde_json::json;

use super::fixtures::*;
use super::raw::OrderedMap;
use super::*;

#[test]
fn loads_a_two_account_assembly_in_dependency_order() {
    let dir = two_account_assembly();
    let assembly = dir.load().unwrap();

    let ids: Vec<&str> = assembly.stacks.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["StackA", "StackB"]);

    let a = &assembly.stacks[0];
    assert_eq!(a.env.account.as_deref(), Some("111111111111"));
    assert_eq!(a.env.region.as_deref(), Some("ap-northeast-1"));
    assert_eq!(a.stack_name, "StackA");
    assert_eq!(a.template_path, dir.0.join("StackA.template.json"));
    assert!(a.template_path.is_absolute());
    assert_eq!(a.parameters.get("Env").map(String::as_str), Some("test"));
    assert_eq!(a.tags.get("team").map(String::as_str), Some("platform"));
    assert!(!a.termination_protection);
    assert_eq!(a.dependencies, Vec::<String>::new());
    assert_eq!(a.asset_manifests, ["StackA.assets"]);
    assert_eq!(a.requires_bootstrap_version, Some(6));
    assert_eq!(
        a.bootstrap_version_parameter.as_deref(),
        Some("/cdk-bootstrap/hnb659fds/version")
    );

    let b = &assembly.stacks[1];
    assert_eq!(b.env.account.as_deref(), Some("222222222222"));
    assert_eq!(b.dependencies, ["StackA"]);
    assert_eq!(b.asset_manifests, ["StackB.assets"]);
    assert!(b.termination_protection);
    assert_eq!(
        b.assume_role_arn.as_deref(),
        Some(
            "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
        )
    );
    assert_eq!(
        b.template_asset_url.as_deref(),
        Some("s3://cdk-hnb659fds-assets-222222222222-ap-northeast-1/StackBhash.json")
    );

    let manifests: Vec<(&str, &str)> = assembly
        .asset_manifests
        .iter()
        .map(|m| (m.id.as_str(), m.stack_id.as_str()))
        .collect();
    assert_eq!(
        manifests,
        [("StackA.assets", "StackA"), ("StackB.assets", "StackB")]
    );
    assert_eq!(
        assembly.asset_manifests[0].requires_bootstrap_version,
        Some(6)
    );

    assert_eq!(assembly.file_assets.len(), 6);
    assert!(assembly.docker_assets.is_empty());
    let zip = assembly
        .file_assets
        .iter()
        .find(|a| a.id == "StackAdir")
        .unwrap();
    assert_eq!(zip.packaging, AssetPackaging::Zip);
    assert_eq!(zip.manifest_id, "StackA.assets");
    assert_eq!(zip.stack_id, "StackA");
    assert_eq!(zip.source_path, dir.0.join("asset.StackAdir"));
    assert_eq!(
        zip.destinations,
        [AssetDestination {
            id: "111111111111-ap-northeast-1".into(),
            bucket: "cdk-hnb659fds-assets-111111111111-ap-northeast-1".into(),
            object_key: "StackAdir.zip".into(),
            account: "111111111111".into(),
            region: "ap-northeast-1".into(),
            assume_role_arn: Some(
                "arn:aws:iam::111111111111:role/cdk-hnb659fds-file-publishing-role-111111111111-ap-northeast-1".into()
            ),
            assume_role_external_id: None,
        }]
    );
    let template = assembly
        .file_assets
        .iter()
        .find(|a| a.id == "StackBhash")
        .unwrap();
    assert_eq!(template.packaging, AssetPackaging::File);
    assert_eq!(template.source_path, b.template_path);
    assert_eq!(template.display_name.as_deref(), Some("StackB Template"));
    assert_eq!(template.destinations[0].account, "222222222222");
}

#[test]
fn placeholders_take_the_owning_stack_environment() {
    let dir = gov_assembly();
    let assembly = dir.load().unwrap();
    let stack = &assembly.stacks[0];
    assert_eq!(stack.stack_name, "gov-stack");
    assert_eq!(stack.display_name, "Gov");
    assert_eq!(
        stack.assume_role_arn.as_deref(),
        Some(
            "arn:aws-us-gov:iam::333333333333:role/cdk-hnb659fds-deploy-role-333333333333-us-gov-west-1"
        )
    );
    assert_eq!(stack.assume_role_external_id.as_deref(), Some("ext-1"));
    assert_eq!(
        stack.cfn_exec_role_arn.as_deref(),
        Some(
            "arn:aws-us-gov:iam::333333333333:role/cdk-hnb659fds-cfn-exec-role-333333333333-us-gov-west-1"
        )
    );
    assert_eq!(
        stack.lookup_role_arn.as_deref(),
        Some(
            "arn:aws-us-gov:iam::333333333333:role/cdk-hnb659fds-lookup-role-333333333333-us-gov-west-1"
        )
    );
    assert_eq!(
        stack.template_asset_url.as_deref(),
        Some("s3://cdk-hnb659fds-assets-333333333333-us-gov-west-1/t.json")
    );
    assert_eq!(
        stack.bootstrap_version_parameter.as_deref(),
        Some("/cdk-bootstrap/us-gov-west-1/version")
    );

    let destination = |id: &str| {
        assembly.file_assets[0]
            .destinations
            .iter()
            .find(|d| d.id == id)
            .unwrap()
    };
    let home = destination("home");
    assert_eq!(home.region, "us-gov-west-1");
    assert_eq!(home.object_key, "us-gov-west-1/code.zip");
    assert_eq!(home.assume_role_external_id.as_deref(), Some("ext-2"));
    let china = destination("china");
    assert_eq!(china.region, "cn-north-1");
    assert_eq!(china.account, "333333333333");
    assert_eq!(china.bucket, "cdk-hnb659fds-assets-333333333333-cn-north-1");
    assert_eq!(
        china.assume_role_arn.as_deref(),
        Some(
            "arn:aws-cn:iam::333333333333:role/cdk-hnb659fds-file-publishing-role-333333333333-cn-north-1"
        )
    );
}

#[test]
fn known_schema_majors_are_accepted_and_garbage_is_not() {
    for version in ["17.0.0", "36.0.0", "38.0.1", "53.0.0", "54.2.1"] {
        let dir = two_account_assembly();
        rewrite_manifest(&dir, |m| m["version"] = json!(version));
        dir.load().unwrap_or_else(|e| panic!("{version}: {e:#}"));
    }
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| m["version"] = json!("0.36.0"));
    assert!(
        dir.load_error()
            .contains("older than this pipeline-run supports")
    );
    rewrite_manifest(&dir, |m| m["version"] = json!("latest"));
    assert!(
        dir.load_error()
            .contains("not of the form MAJOR.MINOR.PATCH")
    );
}

#[test]
fn docker_image_assets_are_listed_per_stack() {
    let dir = two_account_assembly();
    let mut manifest = asset_manifest_file("StackB", "222222222222");
    manifest["dockerImages"] = json!({
        "imagehash": {
            "source": { "directory": "asset.imagehash" },
            "destinations": {
                "222222222222-ap-northeast-1": {
                    "repositoryName": "cdk-hnb659fds-container-assets-222222222222-ap-northeast-1",
                    "imageTag": "imagehash"
                }
            }
        }
    });
    dir.write_json("StackB.assets.json", &manifest);
    let assembly = dir.load().unwrap();
    assert_eq!(
        assembly.docker_assets,
        [DockerAsset {
            id: "imagehash".into(),
            manifest_id: "StackB.assets".into(),
            stack_id: "StackB".into(),
        }]
    );
    assert_eq!(assembly.file_assets.len(), 6);
}

#[test]
fn ordered_map_keeps_document_order_and_rejects_duplicates() {
    let map: OrderedMap<u32> = serde_json::from_str(r#"{"b": 1, "a": 2, "c": 3}"#).unwrap();
    let keys: Vec<&str> = map.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b", "a", "c"]);
    let error = serde_json::from_str::<OrderedMap<u32>>(r#"{"a": 1, "a": 2}"#)
        .err()
        .unwrap();
    assert!(error.to_string().contains("duplicate key 'a'"), "{error}");
}

/// The on-disk fixture used by the integration tests must stay loadable.

#[test]
fn checked_in_fixture_loads() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assembly-two-accounts");
    let (assembly, _) = CloudAssembly::read(&fixture).unwrap();
    let accounts: Vec<&str> = assembly
        .stacks
        .iter()
        .filter_map(|s| s.env.account.as_deref())
        .collect();
    assert_eq!(accounts, ["111111111111", "222222222222"]);
    assert!(assembly.docker_assets.is_empty());
    assert!(
        assembly
            .file_assets
            .iter()
            .any(|a| a.packaging == AssetPackaging::Zip)
    );
}
