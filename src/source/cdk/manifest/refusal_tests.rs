//! Assemblies pipeline-run refuses, each with the file, the artifact and the fix.

use std::fs;

use serde_json::json;

use super::fixtures::*;

#[test]
fn a_newer_schema_major_is_read_with_a_warning_naming_it_and_its_unknown_fields_refused() {
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| m["version"] = json!("99.0.0"));
    let (assembly, warnings) = dir.read().unwrap();
    assert_eq!(assembly.stacks.len(), 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("manifest.json: cloud assembly schema version 99.0.0 is newer than this pipeline-run knows (55.x)"),
        "{warnings:?}"
    );

    rewrite_manifest(&dir, |m| {
        m["artifacts"]["StackB"]["properties"]["deployOrder"] = json!(2);
        m["artifacts"]["StackA"]["hooks"] = json!([]);
    });
    let error = dir.load_error();
    assert!(
        error.contains("has 2 problems; nothing was deployed"),
        "{error}"
    );
    assert!(
        error.contains("manifest.json: artifact 'StackB' properties has field \"deployOrder\", which this pipeline-run does not know (schema 99.0.0 is newer than the 55.x it knows"),
        "{error}"
    );
    assert!(
        error.contains("artifact 'StackA' has field \"hooks\""),
        "{error}"
    );
    assert!(
        error.contains(
            "upgrade pipeline-run, or synthesize with an aws-cdk-lib that writes schema 55.x"
        ),
        "{error}"
    );

    // The same field in a schema pipeline-run knows cannot be: it is not looked for there.
    rewrite_manifest(&dir, |m| m["version"] = json!("55.0.0"));
    assert!(dir.read().unwrap().1.is_empty());
}

#[test]
fn a_newer_asset_manifest_is_warned_about_by_file_and_its_unknown_fields_refused() {
    let dir = two_account_assembly();
    let mut manifest = asset_manifest_file("StackA", "111111111111");
    manifest["version"] = json!("56.1.0");
    dir.write_json("StackA.assets.json", &manifest);
    let (_, warnings) = dir.read().unwrap();
    assert!(
        warnings.iter().any(
            |w| w.contains("StackA.assets.json: cloud assembly schema version 56.1.0 is newer")
        ),
        "{warnings:?}"
    );
    manifest["files"]["StackAdir"]["source"]["compression"] = json!("zstd");
    dir.write_json("StackA.assets.json", &manifest);
    let error = dir.load_error();
    assert!(
        error.contains(
            "StackA.assets.json: file asset 'StackAdir' source has field \"compression\""
        ),
        "{error}"
    );
}

#[test]
fn an_older_schema_than_pipeline_run_reads_is_refused() {
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| m["version"] = json!("16.0.0"));
    let error = dir.load_error();
    assert!(
        error.contains(
            "cloud assembly schema version 16.0.0 is older than this pipeline-run supports"
        ),
        "{error}"
    );
}

#[test]
fn every_problem_of_an_assembly_is_reported_at_once() {
    let dir = two_account_assembly();
    fs::remove_file(dir.0.join("asset.StackAconfig.json")).unwrap();
    fs::remove_file(dir.0.join("asset.StackAdir/index.js")).unwrap();
    fs::remove_dir(dir.0.join("asset.StackAdir")).unwrap();
    rewrite_manifest(&dir, |m| {
        m["artifacts"]["Mystery"] = json!({ "type": "cdk:hologram" });
        m["artifacts"]["StackB"]["properties"]["lookupRole"]["assumeRoleExternalId"] = json!("x");
        m["missing"] =
            json!([{ "key": "vpc-provider:account=1", "provider": "vpc-provider", "props": {} }]);
    });
    let error = dir.load_error();
    for expected in [
        "has 5 problems; nothing was deployed:",
        "stack 'StackB': lookupRole's \"assumeRoleExternalId\"",
        "\n- ",
        "context lookups that were not done (vpc-provider:account=1)",
        "artifact 'Mystery' has type 'cdk:hologram'",
        "file asset 'StackAconfig' (from stack 'StackA'): source.path 'asset.StackAconfig.json' not found",
        "file asset 'StackAdir' (from stack 'StackA'): source.path 'asset.StackAdir' not found",
    ] {
        assert!(error.contains(expected), "{expected}:\n{error}");
    }
}

#[test]
fn unknown_artifact_type_names_id_and_type() {
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| {
        m["artifacts"]["Mystery"] = json!({ "type": "cdk:hologram", "properties": {} });
    });
    let error = dir.load_error();
    assert!(error.contains("artifact 'Mystery'"), "{error}");
    assert!(error.contains("'cdk:hologram'"), "{error}");
}

#[test]
fn executable_file_asset_is_unsupported() {
    let dir = two_account_assembly();
    let mut manifest = asset_manifest_file("StackA", "111111111111");
    manifest["files"]["built"] = json!({
        "source": { "executable": ["./build.sh"], "packaging": "file" },
        "destinations": file_destination("111111111111")
    });
    dir.write_json("StackA.assets.json", &manifest);
    let error = dir.load_error();
    assert!(error.contains("StackA.assets.json"), "{error}");
    assert!(error.contains("file asset 'built'"), "{error}");
    assert!(error.contains("source.executable"), "{error}");
}

#[test]
fn missing_template_file_is_reported() {
    let dir = two_account_assembly();
    fs::remove_file(dir.0.join("StackB.template.json")).unwrap();
    let error = dir.load_error();
    assert!(error.contains("stack 'StackB'"), "{error}");
    assert!(
        error.contains("templateFile 'StackB.template.json' not found"),
        "{error}"
    );
    assert!(error.contains("cdk synth"), "{error}");
}

#[test]
fn missing_asset_source_is_reported() {
    let dir = two_account_assembly();
    fs::remove_dir_all(dir.0.join("asset.StackAdir")).unwrap();
    let error = dir.load_error();
    assert!(error.contains("StackA.assets.json"), "{error}");
    assert!(error.contains("file asset 'StackAdir'"), "{error}");
    assert!(
        error.contains("source.path 'asset.StackAdir' not found"),
        "{error}"
    );
}

#[test]
fn dependency_problems_are_reported() {
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| {
        m["artifacts"]["StackA"]["dependencies"] = json!(["StackA.assets", "StackB"]);
    });
    let error = dir.load_error();
    assert!(error.contains("form a cycle"), "{error}");

    rewrite_manifest(&dir, |m| {
        m["artifacts"]["StackA"]["dependencies"] = json!(["Ghost"]);
    });
    let error = dir.load_error();
    assert!(
        error.contains("stack 'StackA' depends on 'Ghost'"),
        "{error}"
    );
}

#[test]
fn missing_context_and_session_tags_are_rejected() {
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| {
        m["missing"] =
            json!([{ "key": "vpc-provider:account=1", "provider": "vpc-provider", "props": {} }]);
    });
    assert!(dir.load_error().contains("vpc-provider:account=1"));

    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| {
        m["artifacts"]["StackA"]["properties"]["assumeRoleAdditionalOptions"] =
            json!({ "Tags": [{ "Key": "k", "Value": "v" }] });
    });
    assert!(dir.load_error().contains("assumeRoleAdditionalOptions"));
}

#[test]
fn malformed_properties_name_the_artifact() {
    let dir = two_account_assembly();
    rewrite_manifest(&dir, |m| {
        m["artifacts"]["StackA"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("templateFile");
    });
    let error = dir.load_error();
    assert!(error.contains("artifact 'StackA'"), "{error}");
    assert!(error.contains("templateFile"), "{error}");
}

#[test]
fn directory_without_manifest_is_not_an_assembly() {
    let dir = AssemblyDir::new("empty");
    let error = dir.load_error();
    assert!(error.contains("not a CDK cloud assembly"), "{error}");
}

#[test]
fn an_asset_source_outside_the_assembly_is_refused() {
    let dir = two_account_assembly();
    let outside = crate::testutil::TempDir::new("assembly-outside");
    outside.write("environ", "AWS_SECRET_ACCESS_KEY=x\n");
    let with_path = |path: &str| {
        let mut manifest = asset_manifest_file("StackA", "111111111111");
        manifest["files"]["StackAconfig"]["source"]["path"] = json!(path);
        dir.write_json("StackA.assets.json", &manifest);
        dir.load_error()
    };
    let absolute = outside.join("environ").display().to_string();
    let error = with_path(&absolute);
    assert!(error.contains("file asset 'StackAconfig'"), "{error}");
    assert!(error.contains("is an absolute path"), "{error}");
    assert!(
        error.contains("outside the cloud assembly directory"),
        "{error}"
    );

    fs::create_dir_all(dir.0.join("sub")).unwrap();
    let error = with_path("sub/../../pipeline-run-no-such-asset");
    assert!(error.contains("leaves it through '..'"), "{error}");

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.join("environ"), dir.0.join("asset.link")).unwrap();
        let error = with_path("asset.link");
        assert!(error.contains("resolves through a symlink to"), "{error}");
        assert!(error.contains("environ"), "{error}");
    }
}

#[test]
fn an_assembly_file_over_its_size_limit_is_refused_naming_it_before_it_is_parsed() {
    use crate::source::limits::ASSEMBLY_JSON_LIMIT;
    let dir = two_account_assembly();
    // Valid JSON up to the limit, then one byte more: only the size can refuse it.
    let padding = " ".repeat(ASSEMBLY_JSON_LIMIT as usize);
    dir.write("StackA.assets.json", &format!("{padding}{{}}"));
    let error = dir.load_error();
    assert!(
        error.contains(&format!(
            "StackA.assets.json: the file is {} bytes, over the limit of {ASSEMBLY_JSON_LIMIT} bytes for a cloud assembly file",
            ASSEMBLY_JSON_LIMIT + 2
        )),
        "{error}"
    );
}
