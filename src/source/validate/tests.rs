use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::problems::Problem;
use super::*;
use crate::model::env::Environment;
use crate::model::plan::Piece;
use crate::testutil::TempDir;

const VPC_TEMPLATE: &str = "Parameters:\n  Cidr:\n    Type: String\n  Name:\n    Type: String\n    Default: x\nResources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !Ref Cidr\nOutputs:\n  VpcId:\n    Value: !Ref V\n";

/// A directory with `vpc.yml` (parameter Cidr required, Name with a default; output VpcId).
struct Dir(TempDir);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = TempDir::new(&format!("plan-{name}"));
        d.write("vpc.yml", VPC_TEMPLATE);
        Dir(d)
    }

    fn parse(&self, text: &str) -> Result<Plan, Problems> {
        self.parse_with(text, &HashMap::new())
    }

    fn parse_with(&self, text: &str, env: &HashMap<String, String>) -> Result<Plan, Problems> {
        parse(&self.0.path().join("pipeline.yml"), text, env)
    }
}

const HEAD: &str = "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\n  B:\n    id: \"222222222222\"\n    region: ap-northeast-1\n";

fn problems(r: Result<Plan, Problems>) -> Vec<Problem> {
    match r {
        Ok(_) => panic!("expected problems"),
        Err(p) => p.0,
    }
}

#[test]
fn references_create_dependencies_and_waves() {
    let d = Dir::new("waves");
    let text = format!(
        "{HEAD}stages:\n  - name: One\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n  - name: Two\n    account: B\n    template: vpc.yml\n    parameters:\n      Cidr: 10.1.0.0/16\n  - name: Three\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.2.0.0/16\n      Name: peer-${{Two.VpcId}}-in-${{accounts.B.id}}\n"
    );
    let plan = d.parse(&text).unwrap();
    let names = |w: &Vec<usize>| {
        w.iter()
            .map(|&i| plan.stages[i].name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        plan.waves.iter().map(names).collect::<Vec<_>>(),
        vec![vec!["One", "Two"], vec!["Three"]]
    );
    let name = &plan.stages[2].parameters["Name"];
    assert_eq!(
        name.0,
        vec![
            Piece::Text("peer-".into()),
            Piece::Output {
                stage: "Two".into(),
                output: "VpcId".into()
            },
            Piece::Text("-in-222222222222".into())
        ]
    );
    let mut outputs = HashMap::new();
    outputs.insert(
        "Two".to_string(),
        BTreeMap::from([("VpcId".to_string(), "vpc-1".to_string())]),
    );
    assert_eq!(
        name.resolve(&outputs).unwrap(),
        "peer-vpc-1-in-222222222222"
    );
}

#[test]
fn account_ids_and_regions_can_be_overridden_from_the_environment() {
    let d = Dir::new("env");
    let text = format!(
        "{HEAD}stages:\n  - name: One\n    account: B\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n"
    );
    let env = HashMap::from([
        (
            "PIPELINE_RUN_ACCOUNT_B".to_string(),
            "333333333333".to_string(),
        ),
        ("PIPELINE_RUN_REGION_B".to_string(), "eu-west-1".to_string()),
    ]);
    let plan = d.parse_with(&text, &env).unwrap();
    assert_eq!(
        plan.stages[0].env,
        Environment::new("333333333333", "eu-west-1").unwrap()
    );
    let bad = HashMap::from([("PIPELINE_RUN_ACCOUNT_B".to_string(), "12".to_string())]);
    let p = problems(d.parse_with(&text, &bad));
    assert!(
        p[0].message.contains("(from PIPELINE_RUN_ACCOUNT_B)"),
        "{}",
        p[0]
    );
}

#[test]
fn every_problem_is_reported_at_once_with_file_line_field_and_fix() {
    let d = Dir::new("many");
    let text = format!(
        "{HEAD}stages:\n  - name: One\n    account: C\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n      Nope: x\n  - name: Two\n    account: A\n    template: missing.yml\n  - name: Three\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: ${{Ghost.VpcId}}\n"
    );
    let p = problems(d.parse(&text));
    let find = |field: &str| {
        p.iter()
            .find(|x| x.field == field)
            .unwrap_or_else(|| panic!("no problem on {field}: {p:?}"))
    };
    let account = find("account");
    assert_eq!(account.stage.as_deref(), Some("One"));
    assert_eq!(account.line, Some(11));
    assert!(account.fix.contains("A, B"), "{account}");
    assert!(find("parameters.Nope").fix.contains("Cidr, Name"));
    assert!(
        find("template")
            .message
            .contains("missing.yml: file not found")
    );
    let ghost = find("parameters.Cidr");
    assert!(ghost.message.contains("'Ghost'"), "{ghost}");
    assert!(ghost.fix.contains("One, Two, Three"), "{ghost}");
    assert!(p.iter().all(|x| x.file.ends_with("pipeline.yml")));
}

#[test]
fn cycles_are_refused_with_their_members() {
    let d = Dir::new("cycle");
    let text = format!(
        "{HEAD}stages:\n  - name: One\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: ${{Two.VpcId}}\n  - name: Two\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: ${{One.VpcId}}\n"
    );
    let p = problems(d.parse(&text));
    assert!(
        p[0].message.contains("cycle")
            && p[0].message.contains("One")
            && p[0].message.contains("Two"),
        "{}",
        p[0]
    );
}

#[test]
fn overlapping_peered_networks_are_refused() {
    let d = Dir::new("overlap");
    let text = format!(
        "{HEAD}networks:\n  X:\n    cidr: 10.0.0.0/16\n  Y:\n    cidr: 10.0.128.0/17\npeerings:\n  - between: [X, Y]\nstages:\n  - name: One\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: ${{networks.X.cidr}}\n"
    );
    let p = problems(d.parse(&text));
    assert!(p[0].message.contains("overlap"), "{}", p[0]);
    assert_eq!(p[0].field, "peerings[0].between");
}

#[test]
fn unknown_fields_and_wrong_types_name_the_field() {
    let d = Dir::new("serde");
    let p = problems(d.parse(&format!("{HEAD}stages:\n  - name: One\n    acount: A\n")));
    assert_eq!(p[0].field, "acount");
    assert!(p[0].fix.contains("account"), "{}", p[0]);
    assert_eq!(p[0].line, Some(11));
    let p = problems(d.parse("version: one\naccounts: {}\nstages: []\n"));
    assert!(p[0].message.contains("invalid type"), "{}", p[0]);
}

#[test]
fn the_reference_pipeline_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/vpc-peering.yml");
    let plan = load(&path, &HashMap::new()).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(plan.stages.len(), 4);
    assert_eq!(plan.checks.len(), 6);
    assert_eq!(plan.waves.len(), 3);
}

#[test]
fn an_alias_with_an_invalid_id_or_region_is_reported_once_not_as_undeclared() {
    let d = Dir::new("bad-alias");
    let text = "version: 1\naccounts:\n  A:\n    id: \"1111\"\n    region: ap-northeast-1\n  B:\n    id: \"222222222222\"\n    region: Tokyo\nstages:\n  - name: One\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n      Name: x-${accounts.A.id}\n  - name: Two\n    account: B\n    region: eu-west-1\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n";
    let p = problems(d.parse(text));
    let fields: Vec<&str> = p.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["accounts.A.id", "accounts.B.region"], "{p:#?}");
    assert_eq!(p[0].line, Some(4));
}

#[test]
fn published_names_must_be_valid_and_under_the_prefix_and_qualifier() {
    let d = Dir::new("publish");
    let stage = |head: &str, names: &[(&str, &str)]| {
        let entries: String = names
            .iter()
            .map(|(o, n)| format!("      {o}: \"{n}\"\n"))
            .collect();
        format!(
            "{head}stages:\n  - name: Net\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n    publish_outputs:\n{entries}"
        )
    };
    let fixes = |text: String| -> Vec<(Option<usize>, String, String, String)> {
        problems(d.parse(&text))
            .into_iter()
            .filter(|p| !p.message.contains("declares no output"))
            .map(|p| (p.line, p.field, p.message, p.fix))
            .collect()
    };
    let ok = d.parse(&stage(
        HEAD,
        &[("VpcId", "/pipeline-run/hnb659fds/net/vpc-id")],
    ));
    assert!(ok.is_ok(), "{ok:?}");

    let found = fixes(stage(
        HEAD,
        &[("VpcId", "/net/vpc id"), ("Other", "/pipeline-run/other/x")],
    ));
    // Other sorts first (BTreeMap); each entry is reported on its own line.
    assert_eq!(found.len(), 2, "{found:?}");
    let (line, field, message, fix) = &found[1];
    assert_eq!((*line, field.as_str()), (Some(16), "publish_outputs.VpcId"));
    assert!(message.contains("' ' is not allowed"), "{message}");
    assert!(
        fix.starts_with("publish it as /pipeline-run/hnb659fds/net/vpc-id "),
        "{fix}"
    );
    let (line, _, message, fix) = &found[0];
    assert_eq!(*line, Some(17));
    assert!(
        message
            .contains("outside pipeline-run's Parameter Store namespace /pipeline-run/hnb659fds/"),
        "{message}"
    );
    assert!(
        fix.starts_with("publish it as /pipeline-run/hnb659fds/pipeline-run/other/x "),
        "{fix}"
    );

    // The qualifier and parameter_prefix make the namespace.
    let head = HEAD.replace(
        "version: 1\n",
        "version: 1\nqualifier: team1\nparameter_prefix: /acme/outputs\n",
    );
    assert!(
        d.parse(&stage(&head, &[("VpcId", "/acme/outputs/team1/vpc")]))
            .is_ok()
    );
    let found = fixes(stage(&head, &[("VpcId", "/cdk-bootstrap/team1/version")]));
    assert!(found[0].2.contains("/cdk-bootstrap/ holds"), "{found:?}");
    assert!(
        found[0]
            .3
            .starts_with("publish it as /acme/outputs/team1/cdk-bootstrap/team1/version "),
        "{found:?}"
    );
    let long = format!("/pipeline-run/hnb659fds/{}", "x".repeat(1000));
    assert!(
        fixes(stage(HEAD, &[("VpcId", &long)]))[0]
            .2
            .contains("at most 1011")
    );
    let deep = format!("/pipeline-run/hnb659fds{}", "/d".repeat(14));
    let found = fixes(stage(HEAD, &[("VpcId", &deep)]));
    assert!(found[0].2.contains("deeper than 15 levels"), "{found:?}");
    let suggested = found[0].3.split_whitespace().nth(3).unwrap();
    assert_eq!(suggested.split('/').count() - 1, 15, "{suggested}");

    let bad_prefix = HEAD.replace("version: 1\n", "version: 1\nparameter_prefix: /aws/x/\n");
    let found = fixes(stage(&bad_prefix, &[]));
    assert_eq!(
        (found[0].0, found[0].1.as_str()),
        (Some(2), "parameter_prefix")
    );
}
