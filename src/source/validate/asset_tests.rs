//! Stage-file `assets:` and `${assets.NAME.ATTR}` references.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::problems::Problem;
use super::*;
use crate::model::assets::{AssetLocation, AssetTarget, Packaging};
use crate::model::plan::{Piece, ValueExpr};
use crate::testutil::TempDir;

/// A directory with a template taking parameters A and B, an asset directory and an asset file.
struct Dir(TempDir);

impl Dir {
    fn new(label: &str) -> Dir {
        let dir = TempDir::new(&format!("plan-assets-{label}"));
        dir.write("site/index.html", "hi\n");
        dir.write("config.json", "{}\n");
        dir.write(
            "t.yml",
            "Parameters:\n  A:\n    Type: String\n    Default: y\n  B:\n    Type: String\n    Default: x\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n",
        );
        Dir(dir)
    }

    fn parse(&self, stage_body: &str) -> Result<Plan, Problems> {
        let text = format!(
            "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Web\n    account: A\n    template: t.yml\n{stage_body}"
        );
        parse(
            &self.0.join("pipeline.yml"),
            &text,
            &HashMap::<String, String>::new(),
        )
    }
}

fn only_problem(result: Result<Plan, Problems>) -> Problem {
    let problems = result.expect_err("expected a problem").0;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap()
}

#[test]
fn packaging_defaults_to_zip_for_a_directory_and_file_for_a_file() {
    let d = Dir::new("defaults");
    let plan = d
        .parse("    assets:\n      site: {path: site}\n      config:\n        path: config.json\n    parameters:\n      A: ${assets.site.key}\n      B: \"s3=${assets.config.s3_url};\"\n")
        .unwrap();
    let stage = &plan.stages[0];
    let by_name = |n: &str| stage.assets.iter().find(|a| a.name == n).unwrap();
    assert_eq!(by_name("site").packaging, Packaging::Zip);
    assert_eq!(by_name("site").source, d.0.join("site"));
    assert_eq!(by_name("config").packaging, Packaging::File);
    assert_eq!(by_name("config").target, AssetTarget::Staging);
    assert_eq!(
        stage.parameters["B"],
        ValueExpr(vec![
            Piece::Text("s3=".into()),
            Piece::Asset {
                name: "config".into(),
                attr: "s3_url".into()
            },
            Piece::Text(";".into()),
        ])
    );
}

#[test]
fn asset_references_resolve_to_the_published_location() {
    let d = Dir::new("resolve");
    let plan = d
        .parse("    assets:\n      site: {path: site}\n    parameters:\n      A: ${assets.site.bucket}/${assets.site.key}\n")
        .unwrap();
    let mut published = BTreeMap::new();
    published.insert(
        "site".to_string(),
        AssetLocation {
            bucket: "bkt".into(),
            key: "abc.zip".into(),
            region: "ap-northeast-1".into(),
            url: "https://bkt.s3.ap-northeast-1.amazonaws.com/abc.zip".into(),
        },
    );
    let a = &plan.stages[0].parameters["A"];
    assert_eq!(
        a.resolve_with_assets(&HashMap::new(), &published).unwrap(),
        "bkt/abc.zip"
    );
    assert!(a.resolve(&HashMap::new()).unwrap_err().contains("site"));
}

#[test]
fn a_missing_asset_path_names_the_stage_field_and_fix() {
    let d = Dir::new("missing");
    let p = only_problem(d.parse("    assets:\n      site: {path: dist}\n"));
    assert_eq!(p.stage.as_deref(), Some("Web"));
    assert_eq!(p.field, "assets.site.path");
    assert!(p.message.contains("dist: not found"), "{}", p.message);
    assert!(p.fix.contains("relative to the stage file"), "{}", p.fix);
    assert_eq!(p.line, Some(11), "the line of the asset");
    assert_eq!(p.file, d.0.join("pipeline.yml"));
}

#[test]
fn unknown_or_mismatched_packaging_is_a_problem() {
    let d = Dir::new("packaging");
    let p = only_problem(d.parse("    assets:\n      site: {path: site, packaging: tar}\n"));
    assert_eq!(p.field, "assets.site.packaging");
    assert!(p.message.contains("'tar'"), "{}", p.message);
    assert!(
        p.fix.contains("`zip`") && p.fix.contains("`file`"),
        "{}",
        p.fix
    );

    let p = only_problem(d.parse("    assets:\n      site: {path: site, packaging: file}\n"));
    assert_eq!(p.field, "assets.site.packaging");
    assert!(p.message.contains("is a directory"), "{}", p.message);

    let p = only_problem(d.parse("    assets:\n      cfg: {path: config.json, packaging: zip}\n"));
    assert!(p.message.contains("is a file"), "{}", p.message);
}

#[test]
fn references_to_undeclared_assets_or_unknown_attributes_are_problems() {
    let d = Dir::new("refs");
    let p = only_problem(d.parse(
        "    assets:\n      site: {path: site}\n    parameters:\n      A: ${assets.code.key}\n",
    ));
    assert_eq!(p.field, "parameters.A");
    assert!(p.message.contains("asset 'code'"), "{}", p.message);
    assert_eq!(p.fix, "use one of: site");

    let p = only_problem(d.parse(
        "    assets:\n      site: {path: site}\n    parameters:\n      A: ${assets.site.arn}\n",
    ));
    assert_eq!(p.field, "parameters.A");
    assert!(
        p.message.contains("bucket, key, s3_url, url"),
        "{}",
        p.message
    );
}

#[test]
fn asset_names_must_be_referencable() {
    let d = Dir::new("names");
    let p = only_problem(d.parse("    assets:\n      \"my.site\": {path: site}\n"));
    assert_eq!(p.field, "assets.my.site");
    assert!(
        p.message.contains("not a valid asset name"),
        "{}",
        p.message
    );
}

#[test]
fn unknown_asset_fields_are_refused() {
    let d = Dir::new("unknown");
    let p = only_problem(d.parse("    assets:\n      site: {path: site, zip: true}\n"));
    assert!(p.message.contains("unknown field `zip`"), "{}", p.message);
}

fn fixture() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/assembly-two-accounts")
        .display()
        .to_string()
}

fn parse_source_stage(d: &Dir, account_id: &str, stage: &str) -> Result<Plan, Problems> {
    let text = format!(
        "version: 1\naccounts:\n  B:\n    id: \"{account_id}\"\n    region: ap-northeast-1\nstages:\n  - name: App\n    account: B\n{stage}"
    );
    parse(
        &d.0.join("pipeline.yml"),
        &text,
        &HashMap::<String, String>::new(),
    )
}

#[test]
fn a_stage_can_take_its_template_roles_and_assets_from_an_assembly_stack() {
    let d = Dir::new("source");
    let stage = format!(
        "    source: {{app: \"{}\", stack: AppStack}}\n    parameters:\n      Stage: prod\n    tags:\n      team: web\n",
        fixture()
    );
    let plan = parse_source_stage(&d, "222222222222", &stage).unwrap();
    let s = &plan.stages[0];
    assert_eq!(s.stack_name, "AppStack");
    assert!(s.template.path.ends_with("AppStack.template.json"));
    assert_eq!(s.parameters["Stage"], ValueExpr::literal("prod"));
    assert_eq!(s.tags["team"], "web");
    assert_eq!(
        s.tags["project"], "pipeline-run-fixture",
        "the assembly's tags stay"
    );
    assert_eq!(s.assets.len(), 2);
    assert!(s.roles.deploy.arn.contains("deploy-role-222222222222"));
    assert!(s.overrides.template_url.is_some());
}

#[test]
fn an_assembly_stack_for_another_account_or_a_missing_stack_is_a_problem() {
    let d = Dir::new("source-bad");
    let stage = format!("    source: {{app: \"{}\", stack: AppStack}}\n", fixture());
    let p = only_problem(parse_source_stage(&d, "333333333333", &stage));
    assert_eq!(p.field, "account");
    assert!(
        p.message.contains("aws://222222222222/ap-northeast-1"),
        "{}",
        p.message
    );

    let stage = format!("    source: {{app: \"{}\", stack: Nope}}\n", fixture());
    let p = only_problem(parse_source_stage(&d, "222222222222", &stage));
    assert_eq!(p.field, "source.stack");
    assert_eq!(p.fix, "use one of: NetworkStack, AppStack");

    let p = only_problem(parse_source_stage(
        &d,
        "222222222222",
        "    source: {app: no-such-dir, stack: AppStack}\n",
    ));
    assert_eq!(p.field, "source.app");
    assert!(p.message.contains("does not exist"), "{}", p.message);
}

#[test]
fn an_environment_agnostic_assembly_stack_deploys_to_the_stages_account() {
    let d = Dir::new("source-agnostic");
    let agnostic =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assembly-agnostic");
    let stage = format!(
        "    source: {{app: \"{}\", stack: Producer}}\n",
        agnostic.display()
    );
    let plan = parse_source_stage(&d, "222222222222", &stage).unwrap();
    let s = &plan.stages[0];
    assert_eq!(s.env.to_string(), "aws://222222222222/ap-northeast-1");
    assert_eq!(
        s.roles.deploy.arn,
        "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
    );
    assert!(s.roles.deploy.conventional);
    assert!(
        s.overrides
            .template_url
            .as_deref()
            .unwrap()
            .starts_with("s3://cdk-hnb659fds-assets-222222222222-ap-northeast-1/")
    );
    // Edge fixes its region (us-east-1): a stage in ap-northeast-1 cannot take it.
    let stage = format!(
        "    source: {{app: \"{}\", stack: Edge}}\n",
        agnostic.display()
    );
    let p = only_problem(parse_source_stage(&d, "222222222222", &stage));
    assert_eq!(p.field, "account");
    assert!(
        p.message.contains("aws://unknown-account/us-east-1"),
        "{}",
        p.message
    );
}

#[test]
fn a_stage_needs_exactly_one_of_template_and_source() {
    let d = Dir::new("source-both");
    let stage = format!(
        "    template: t.yml\n    source: {{app: \"{}\", stack: AppStack}}\n",
        fixture()
    );
    let p = only_problem(parse_source_stage(&d, "222222222222", &stage));
    assert_eq!(p.field, "source");
    let p = only_problem(parse_source_stage(
        &d,
        "222222222222",
        "    region: ap-northeast-1\n",
    ));
    assert_eq!(p.field, "template");
    assert!(p.fix.contains("source:"), "{}", p.fix);
}

#[test]
fn asset_root_lets_assets_come_from_above_the_stage_file_and_no_further() {
    let d = TempDir::new("plan-asset-root");
    d.write("dist/index.html", "hi\n");
    d.write(
        "pipelines/t.yml",
        "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n",
    );
    let parse_with = |root: &str, path: &str| {
        let text = format!(
            "version: 1\n{root}accounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Web\n    account: A\n    template: t.yml\n    assets:\n      site: {{path: {path}}}\n"
        );
        parse(
            &d.join("pipelines/pipeline.yml"),
            &text,
            &HashMap::<String, String>::new(),
        )
    };
    let plan = parse_with("asset_root: ..\n", "../dist").unwrap();
    let site = &plan.stages[0].assets[0];
    assert_eq!(site.root, std::fs::canonicalize(d.path()).unwrap());
    assert_eq!(site.source, d.join("pipelines/../dist"));

    let p = only_problem(parse_with("", "../dist"));
    assert_eq!(p.field, "assets.site.path");
    assert!(
        p.message.contains("leaves the stage file's directory"),
        "{p:?}"
    );
    let p = only_problem(parse_with("asset_root: ..\n", "../../etc"));
    assert!(p.message.contains("leaves asset_root '..'"), "{p:?}");
    let p = only_problem(parse_with("asset_root: ../dist/index.html\n", "../dist"));
    assert_eq!((p.field.as_str(), p.line), ("asset_root", Some(2)));
    assert!(p.message.contains("is not a directory"), "{p:?}");
    let p = only_problem(parse_with("asset_root: /\n", "../dist"));
    assert!(p.message.contains("is an absolute path"), "{p:?}");
}
