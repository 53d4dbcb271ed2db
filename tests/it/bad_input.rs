//! Bad input is refused before any AWS call: the bad-input corpus (tests/corpus/<case>/pipeline.yml,
//! templates beside it) and other broken stage files, command lines and assemblies are refused with
//! exit 2, a message naming the file with its line, the field and the fix, and not one request to
//! AWS. The endpoint is a TCP listener that counts connections, so a single request would show.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// (case, line, field, text of the message, text of the fix). `line` is None only where the file
/// has no line to point at (empty, or not text).
const CASES: &[(&str, Option<usize>, &str, &str, &str)] = &[
    // YAML syntax
    (
        "yaml-tab-indent",
        Some(8),
        "(syntax)",
        "tab character",
        "fix the YAML syntax at the line shown",
    ),
    (
        "yaml-unclosed-flow",
        Some(8),
        "(syntax)",
        "did not find expected ',' or '}'",
        "fix the YAML syntax",
    ),
    (
        "yaml-bad-indent",
        Some(9),
        "(syntax)",
        "did not find expected '-' indicator",
        "fix the YAML syntax",
    ),
    (
        "yaml-unterminated-quote",
        Some(7),
        "(syntax)",
        "unexpected end of stream",
        "fix the YAML syntax",
    ),
    (
        "yaml-duplicate-key",
        Some(12),
        "stages[0].account",
        "duplicate field `account`",
        "keep one `account:` in this mapping",
    ),
    (
        "field-misindented",
        Some(7),
        "account",
        "missing field `account`",
        "line 11 has `account:`, but its indentation puts it in another mapping",
    ),
    // wrong types
    (
        "type-version-text",
        Some(1),
        "version",
        "invalid type: string \"one\"",
        "use a whole number",
    ),
    (
        "type-stages-mapping",
        Some(7),
        "stages",
        "invalid type: map, expected a sequence",
        "write a list",
    ),
    (
        "type-parameters-list",
        Some(10),
        "stages[0].parameters",
        "expected a map",
        "write `key: value` lines",
    ),
    (
        "type-depends-on-text",
        Some(17),
        "stages[1].depends_on",
        "invalid type: string \"Net\", expected a sequence",
        "write a list: `[a, b]`",
    ),
    (
        "type-termination-protection",
        Some(12),
        "stages[0].termination_protection",
        "expected a boolean",
        "use true or false",
    ),
    (
        "type-parameter-mapping",
        Some(11),
        "parameters.Cidr",
        "must be a string, number, boolean or list",
        "write the value as text",
    ),
    (
        "type-verify-count-negative",
        Some(13),
        "verify.count",
        "integer `-1`",
        "use a whole number",
    ),
    // unknown fields
    (
        "unknown-top-level",
        Some(6),
        "stage",
        "unknown field `stage`",
        "remove or rename 'stage'; allowed here: `version`",
    ),
    (
        "unknown-stage-field",
        Some(9),
        "templte",
        "unknown field `templte`",
        "allowed here: `name`, `account`, `region`, `template`",
    ),
    (
        "unknown-account-field",
        Some(5),
        "regoin",
        "accounts.A: unknown field `regoin`",
        "allowed here: `id` or `region`",
    ),
    (
        "unknown-verify-field",
        Some(13),
        "cheks",
        "verify: unknown field `cheks`",
        "`checks`",
    ),
    (
        "unknown-check-field",
        Some(14),
        "expected",
        "unknown field `expected`",
        "`expect`",
    ),
    // missing and duplicate stages and accounts
    (
        "missing-stages",
        Some(1),
        "stages",
        "missing field `stages`",
        "add the required field 'stages'",
    ),
    (
        "empty-stages",
        Some(6),
        "stages",
        "no stages are declared",
        "add at least one stage",
    ),
    (
        "missing-accounts",
        Some(1),
        "accounts",
        "missing field `accounts`",
        "add the required field 'accounts'",
    ),
    (
        "duplicate-stage",
        Some(7),
        "name",
        "stage 'Net' is declared twice",
        "give every stage a unique name",
    ),
    // dependencies and references
    (
        "self-depends-on",
        Some(12),
        "depends_on",
        "a stage cannot depend on itself",
        "remove 'Net' from depends_on",
    ),
    (
        "self-output-reference",
        Some(12),
        "parameters.Name",
        "references its own output 'VpcId'",
        "only use outputs of other stages",
    ),
    (
        "mutual-cycle",
        Some(7),
        "depends_on",
        "dependency cycle among stages: Left → Right → Left",
        "remove a depends_on entry or an output reference",
    ),
    (
        "three-cycle",
        Some(7),
        "depends_on",
        "dependency cycle among stages: One → Three → Two → One",
        "remove a depends_on entry or an output reference",
    ),
    (
        "depends-on-missing-stage",
        Some(12),
        "depends_on",
        "stage 'Nett' does not exist",
        "use one of: Net",
    ),
    (
        "reference-missing-stage",
        Some(12),
        "parameters.Name",
        "references stage 'Base', which does not exist",
        "use one of: Net",
    ),
    (
        "reference-missing-output",
        Some(17),
        "parameters.Name",
        "stage 'Net' has no output 'SubnetId'",
        "use one of: VpcId",
    ),
    (
        "reference-unclosed",
        Some(17),
        "parameters.Name",
        "unclosed reference in '${Net.VpcId'",
        "close it with '}'",
    ),
    (
        "reference-unknown-kind",
        Some(12),
        "parameters.Name",
        "accounts have 'id' and 'region'",
        "use ${accounts.ALIAS.id} or ${accounts.ALIAS.region}",
    ),
    // accounts and regions
    (
        "account-id-short",
        Some(4),
        "accounts.A.id",
        "'1111' is not an AWS account id",
        "use the 12-digit account id",
    ),
    (
        "account-id-letters",
        Some(4),
        "accounts.A.id",
        "'11111111111a' is not an AWS account id",
        "use the 12-digit account id",
    ),
    (
        "account-id-11-digits",
        Some(4),
        "accounts.A.id",
        "'11111111111' is not an AWS account id",
        "use the 12-digit account id",
    ),
    (
        "account-id-unquoted-hex",
        Some(4),
        "accounts.A.id",
        "'0x1A2B3C4D5E6F' is not an AWS account id",
        "use the 12-digit account id",
    ),
    (
        "account-undeclared",
        Some(8),
        "account",
        "account 'C' is not declared under `accounts:`",
        "use one of: A",
    ),
    (
        "region-name",
        Some(5),
        "accounts.A.region",
        "'tokyo' is not an AWS region name",
        "use a region such as ap-northeast-1",
    ),
    (
        "region-uppercase",
        Some(5),
        "accounts.A.region",
        "'AP-NORTHEAST-1' is not an AWS region name",
        "use a region such as ap-northeast-1",
    ),
    (
        "stage-region-bad",
        Some(12),
        "region",
        "'ap-northeast' is not an AWS region name",
        "use a region such as ap-northeast-1",
    ),
    // networks
    (
        "cidr-overlap-peered",
        Some(12),
        "peerings[0].between",
        "Left (10.0.0.0/16) and Right (10.0.128.0/17) overlap",
        "give the two networks disjoint ranges",
    ),
    (
        "cidr-invalid-prefix",
        Some(7),
        "networks.Left.cidr",
        "'10.0.0.0/33' is not an IPv4 CIDR",
        "write it as a.b.c.d/n",
    ),
    (
        "cidr-host-bits",
        Some(7),
        "networks.Left.cidr",
        "did you mean 10.0.0.0/16?",
        "write it as a.b.c.d/n",
    ),
    (
        "peering-undeclared-network",
        Some(10),
        "peerings[0].between",
        "network 'Rigth' is not declared",
        "declare it under `networks:`",
    ),
    // templates
    (
        "template-missing",
        Some(9),
        "template",
        "templates/nope.yml: file not found",
        "template-missing/templates/nope.yml or correct the path",
    ),
    (
        "template-yaml-error",
        Some(9),
        "template",
        "broken.yml: line 8: did not find expected ',' or '}'",
        "fix the YAML of tests/corpus/template-yaml-error/broken.yml at the line shown",
    ),
    (
        "template-no-resources",
        Some(9),
        "template",
        "empty.yml: no Resources section",
        "top-level `Resources:` mapping with at least one resource",
    ),
    (
        "template-not-a-mapping",
        Some(9),
        "template",
        "list.yml: a template must be a mapping",
        "top-level `Resources:` mapping",
    ),
    (
        "template-non-utf8",
        Some(9),
        "template",
        "latin1.yml: not valid UTF-8",
        "save tests/corpus/template-non-utf8/latin1.yml as UTF-8",
    ),
    (
        "parameter-not-declared",
        Some(12),
        "parameters.VpcName",
        "declares no parameter 'VpcName'",
        "use one of: Cidr, Name",
    ),
    (
        "parameter-required-missing",
        Some(7),
        "parameters",
        "requires parameter 'Cidr' (it has no Default)",
        "add `Cidr: <value>` under parameters",
    ),
    (
        "publish-output-unknown",
        Some(12),
        "publish_outputs.SubnetId",
        "declares no output 'SubnetId'",
        "publish one of: VpcId",
    ),
    // names, qualifier, version
    (
        "qualifier-invalid",
        Some(2),
        "qualifier",
        "'my_team.prod' is not a valid bootstrap qualifier",
        "use 1 to 10 characters",
    ),
    (
        "qualifier-too-long",
        Some(2),
        "qualifier",
        "'abcdefghijk' is not a valid bootstrap qualifier",
        "use 1 to 10 characters",
    ),
    (
        "version-unsupported",
        Some(1),
        "version",
        "version 2 is not supported",
        "use `version: 1`",
    ),
    (
        "stage-name-invalid",
        Some(7),
        "name",
        "'net_main' is not a valid stage name",
        "use letters, digits and '-' only",
    ),
    (
        "stack-name-invalid",
        Some(12),
        "stack_name",
        "'1-net' is not a valid CloudFormation stack name",
        "starting with a letter",
    ),
    // the file itself
    (
        "empty-file",
        None,
        "(file)",
        "the stage file is empty",
        "declare at least `version: 1`",
    ),
    (
        "comments-only",
        None,
        "(file)",
        "the stage file is empty",
        "declare at least `version: 1`",
    ),
    (
        "non-utf8",
        Some(7),
        "(file)",
        "not valid UTF-8: byte 0xE9 at line 7, column 12",
        "save the stage file as UTF-8",
    ),
    // verify
    (
        "verify-bad-expect",
        Some(12),
        "verify.checks[0].expect",
        "'maybe' is not an expectation",
        "use `reachable` or `unreachable`",
    ),
    (
        "verify-bad-ip",
        Some(12),
        "verify.checks[0].to",
        "'10.0.0.300' is neither an IPv4 address nor Stage.Output",
        "use e.g. 10.2.0.10",
    ),
    (
        "verify-unknown-output",
        Some(12),
        "verify.checks[0].from",
        "stage 'Net' has no output 'InstanceAId'",
        "use one of: InstanceId, InstancePrivateIp",
    ),
    (
        "verify-from-not-output",
        Some(12),
        "verify.checks[0].from",
        "'i-0123456789abcdef0' is not Stage.Output",
        "name the output holding the instance id",
    ),
];

/// `deploy --all` of `file` against the counting endpoint: the run and the connections it made.
fn deploy_offline(file: &str) -> (Run, usize) {
    run_offline(&["deploy", "--all", "-f", file, "--no-verify"])
}

fn corpus_file(case: &str) -> String {
    format!("tests/corpus/{case}/pipeline.yml")
}

#[test]
fn every_case_of_the_corpus_is_listed_once() {
    let mut dirs: Vec<String> = std::fs::read_dir(repo().join("tests/corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_string()).collect();
    listed.sort();
    let before = listed.len();
    listed.dedup();
    assert_eq!(listed.len(), before, "a case is listed twice");
    assert_eq!(dirs, listed, "tests/corpus and CASES differ");
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
}

#[test]
fn every_broken_file_is_refused_with_file_line_field_and_fix_and_no_aws_call() {
    let mut failures = Vec::new();
    for &(case, line, field, message, fix) in CASES {
        let file = corpus_file(case);
        let (r, calls) = deploy_offline(&file);
        let location = match line {
            Some(l) => format!("- {file}:{l}: "),
            None => format!("- {file}: "),
        };
        let checks = [
            (r.code == 2, format!("exit code {} (expected 2)", r.code)),
            (
                calls == 0,
                format!("{calls} connection(s) to the AWS endpoint"),
            ),
            (
                r.stderr.contains(&location),
                format!("no problem at `{location}`"),
            ),
            (
                r.stderr.contains(&format!("field '{field}'")),
                format!("field '{field}' not named"),
            ),
            (
                r.stderr.contains(message),
                format!("message lacks `{message}`"),
            ),
            (
                r.stderr
                    .lines()
                    .any(|l| l.trim_start().starts_with("fix: ") && l.contains(fix)),
                format!("no `fix:` line with `{fix}`"),
            ),
            (
                r.stderr.contains("nothing was deployed"),
                "does not say nothing was deployed".to_string(),
            ),
        ];
        let wrong: Vec<&String> = checks
            .iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, w)| w)
            .collect();
        if !wrong.is_empty() {
            failures.push(format!("{case}: {wrong:?}\n{}", r.stderr));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_missing_stage_file_or_a_directory_is_refused_without_aws_call() {
    for (file, says) in [
        (
            "tests/corpus/no-such-case/pipeline.yml",
            "cannot read the stage file",
        ),
        ("tests/corpus/_templates", "cannot read the stage file"),
    ] {
        let (r, calls) = deploy_offline(file);
        assert_eq!((r.code, calls), (2, 0), "{file}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("- {file}: field '(file)': {says}"))
                && r.stderr
                    .contains("fix: pass an existing file with -f/--file"),
            "{}",
            r.stderr
        );
    }
}

/// YAML reads an unquoted 12-digit id as a number; pipeline-run keeps the digits as written, so a
/// leading zero survives and no quoting is needed.
#[test]
fn unquoted_account_ids_are_taken_as_written() {
    for (case, id) in [
        ("account-id-unquoted", "111111111111"),
        ("account-id-unquoted-leading-zero", "012345678901"),
    ] {
        let (r, calls) = run_offline(&[
            "list",
            "-f",
            &format!("tests/corpus/_accepted/{case}/pipeline.yml"),
            "--output",
            "json",
        ]);
        assert_eq!(r.code, 0, "{case}: {}", r.stderr);
        assert_eq!(calls, 0);
        assert_eq!(r.json()["stages"][0]["account"], id, "{case}");
    }
}

/// A 5 MB stage file (about 40,000 stages sharing one template, each waiting for the one before) is
/// planned, and with one broken reference in a last stage it is refused at the right line, quickly. Before the line index and the template cache
/// in plan.rs, locating lines rescanned the file per stage and 4,000 stages took 108 s.
#[test]
fn a_five_megabyte_stage_file_is_refused_quickly_at_the_right_line() {
    let s = Scratch::new("huge");
    std::fs::copy(
        repo().join("tests/corpus/_templates/vpc.yml"),
        s.0.join("vpc.yml"),
    )
    .unwrap();
    let mut text = String::from(
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n",
    );
    let mut i = 0;
    while text.len() < 5 * 1024 * 1024 {
        // Each stage waits for the one before: the longest dependency chain the file can hold.
        let name = if i == 0 {
            String::new()
        } else {
            format!("      Name: ${{Stage{}.VpcId}}\n", i - 1)
        };
        text.push_str(&format!(
            "  - name: Stage{i}\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.{}.0.0/16\n{name}",
            i % 256
        ));
        i += 1;
    }
    let file = s.write("pipeline.yml", &text);
    let file = file.display().to_string();

    // Valid, it is planned as one wave per stage.
    let started = Instant::now();
    let (r, calls) = run_offline(&["list", "-f", &file, "--output", "json"]);
    let listed_in = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert_eq!(r.json()["waves"].as_array().unwrap().len(), i);

    text.push_str("  - name: Last\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n      Name: ${Stage0.SubnetId}\n");
    let broken_line = text.lines().count();
    s.write("pipeline.yml", &text);

    let started = Instant::now();
    let (r, calls) = deploy_offline(&file);
    let took = started.elapsed();
    assert_eq!((r.code, calls), (2, 0), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "- {file}:{broken_line}: stage 'Last', field 'parameters.Name': stage 'Stage0' has no output 'SubnetId'"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fix: use one of: VpcId"), "{}", r.stderr);
    // Measured 8 s (list) and 4.5 s (refused) for a debug build on the 2-core test machine; the
    // bound leaves room for a loaded machine, not for the minutes the quadratic version took.
    assert!(
        listed_in < Duration::from_secs(60),
        "list took {listed_in:?}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    eprintln!("5 MB stage file ({i} stages): listed in {listed_in:?}, refused in {took:?}");
}

/// No bucket can be detected without AWS, so a template over CloudFormation's 51,200-byte
/// TemplateBody limit is valid input: deploy uploads it to the bootstrap bucket. What happens when
/// that bucket is gone is a deploy-time failure (tests/faults.rs).
#[test]
fn a_template_over_the_body_limit_is_accepted_at_validation() {
    let s = Scratch::new("oversized");
    let mut template = String::from("Resources:\n");
    let mut n = 0;
    while template.len() <= 51_200 {
        template.push_str(&format!(
            "  Param{n}:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: value-{n}\n"
        ));
        n += 1;
    }
    s.write("big.yml", &template);
    let file = s.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Big\n    account: A\n    template: big.yml\n",
    );
    let (r, calls) = run_offline(&["list", "-f", &file.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(Path::new(&s.path("big.yml")).metadata().unwrap().len() > 51_200);
}

#[test]
fn a_broken_stage_file_is_refused_with_file_line_field_and_fix_and_no_aws_call() {
    let s = Scratch::new("broken");
    s.write("vpc.yml", "Parameters:\n  Cidr:\n    Type: String\nResources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !Ref Cidr\nOutputs:\n  VpcId:\n    Value: !Ref V\n");
    let file = s.write(
        "pipeline.yml",
        "version: 1\naccounts:\n  A:\n    id: \"1111\"\n    region: ap-northeast-1\nstages:\n  - name: One\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: ${Two.SubnetId}\n  - name: Two\n    account: A\n    template: vpc.yml\n    parameters:\n      Cidr: 10.0.0.0/16\n",
    );
    let file = file.display().to_string();
    for command in [
        vec!["deploy", "--all"],
        vec!["diff", "--all"],
        vec!["destroy", "--all", "--force"],
        vec!["verify"],
        vec!["bootstrap"],
    ] {
        let mut args: Vec<&str> = command.clone();
        args.extend(["-f", &file]);
        let (r, calls) = run_offline(&args);
        assert_eq!(r.code, 2, "{command:?}: {}", r.stderr);
        assert_eq!(calls, 0, "{command:?} contacted the endpoint");
        assert!(
            r.stderr.contains("pipeline.yml:4"),
            "{command:?} names file and line: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("accounts.A.id") && r.stderr.contains("12-digit"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("stage 'One', field 'parameters.Cidr'")
                && r.stderr.contains("no output 'SubnetId'"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("fix: use one of: VpcId"), "{}", r.stderr);
    }
}

#[test]
fn an_unknown_stage_name_on_the_command_line_is_refused_without_aws_call() {
    let (r, calls) = run_offline(&["deploy", "NoSuchStage", "-f", "pipelines/vpc-peering.yml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(
        r.stderr.contains("no stage named 'NoSuchStage'")
            && r.stderr
                .contains("VpcA, VpcC, CrossAccountPeering, VpcCRoutes"),
        "{}",
        r.stderr
    );
}

#[test]
fn list_and_plan_make_no_aws_call() {
    let (r, calls) = run_offline(&[
        "list",
        "-f",
        "pipelines/vpc-peering.yml",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["waves"][0], serde_json::json!(["VpcA", "VpcC"]));
    assert_eq!(
        json["stages"][1]["deploy_role"],
        "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-ap-northeast-1"
    );
}
