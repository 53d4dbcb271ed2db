//! Bad input is refused before any AWS call: the bad-input corpus (tests/corpus/<case>/pipeline.yml,
//! templates beside it) and other broken stage files, command lines and assemblies are refused with
//! exit 2, a message naming the file with its line, the field and the fix, and not one request to
//! AWS. The endpoint is a TCP listener that counts connections, so a single request would show.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// What `tests/corpus/<case>/expect.json` says the refusal of `<case>/pipeline.yml` looks like.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    exit_code: i32,
    /// The line the problem is reported at; null only where the file has no line to point at
    /// (empty, or not text).
    line: Option<usize>,
    /// The field named in the problem (`field '<field>'`).
    field: String,
    /// Text of the message.
    message: String,
    /// Text of the `fix:` line.
    fix: String,
}

fn corpus() -> std::path::PathBuf {
    repo().join("tests/corpus")
}

/// The cases of the corpus: its directories not starting with `_` (those hold shared templates
/// and accepted files), sorted.
fn corpus_cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    cases.sort();
    cases
}

/// Every `expect.json` below `dir`, however deep.
fn expectation_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            expectation_files(&path, found);
        } else if path.file_name().is_some_and(|n| n == "expect.json") {
            found.push(path);
        }
    }
}

fn expectation(case: &str) -> Result<Expectation, String> {
    let path = corpus().join(case).join("expect.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no expectation ({}: {e})", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `deploy --all` of `file` against the counting endpoint: the run and the connections it made.
fn deploy_offline(file: &str) -> (Run, usize) {
    run_offline(&["deploy", "--all", "-f", file, "--no-verify"])
}

fn corpus_file(case: &str) -> String {
    format!("tests/corpus/{case}/pipeline.yml")
}

#[test]
fn every_case_of_the_corpus_has_an_expectation_and_every_expectation_a_case() {
    let cases = corpus_cases();
    let mut wrong = Vec::new();
    for case in &cases {
        if !corpus().join(case).join("pipeline.yml").is_file() {
            wrong.push(format!("{case}: no pipeline.yml"));
        }
        if let Err(e) = expectation(case) {
            wrong.push(format!("{case}: {e}"));
        }
    }
    let mut files = Vec::new();
    expectation_files(&corpus(), &mut files);
    for file in &files {
        let dir = file.parent().unwrap();
        let is_case = dir.parent() == Some(corpus().as_path())
            && cases
                .iter()
                .any(|c| dir.file_name().is_some_and(|n| n == c.as_str()));
        if !is_case {
            wrong.push(format!("{}: an expectation without a case", file.display()));
        }
    }
    assert!(wrong.is_empty(), "tests/corpus:\n{}", wrong.join("\n"));
    assert_eq!(files.len(), cases.len());
    assert!(cases.len() >= 40, "{} cases", cases.len());
}

#[test]
fn every_broken_file_is_refused_with_file_line_field_and_fix_and_no_aws_call() {
    let cases = corpus_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let expect = match expectation(case) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{case}: {e}"));
                continue;
            }
        };
        let file = corpus_file(case);
        let (r, calls) = deploy_offline(&file);
        let location = match expect.line {
            Some(l) => format!("- {file}:{l}: "),
            None => format!("- {file}: "),
        };
        let (field, message, fix) = (&expect.field, &expect.message, &expect.fix);
        let checks = [
            (
                r.code == expect.exit_code,
                format!("exit code {} (expected {})", r.code, expect.exit_code),
            ),
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
                r.stderr.contains(message.as_str()),
                format!("message lacks `{message}`"),
            ),
            (
                r.stderr
                    .lines()
                    .any(|l| l.trim_start().starts_with("fix: ") && l.contains(fix.as_str())),
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
        cases.len(),
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
    let file = oversized_stage_file(&s);
    let (r, calls) = run_offline(&["list", "-f", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(Path::new(&s.path("big.yml")).metadata().unwrap().len() > TEMPLATE_BODY_LIMIT as u64);
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

/// A region pipeline-run does not know (a typo, or one newer than its list) is accepted with a
/// warning naming the nearest known regions; with a custom endpoint it is expected, and the
/// warning says so.
#[test]
fn an_unknown_region_is_a_warning_with_the_closest_names_or_allowed_with_an_endpoint() {
    let file = "tests/corpus/_accepted/region-unknown/pipeline.yml";
    let r = run_binary(&["list", "-f", file], &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: region 'ap-nowhere-9' (stage Net) is not a known AWS region; did you mean ap-northeast-1, ap-northeast-2, ap-northeast-3?"),
        "{}",
        r.stderr
    );
    let (r, calls) = run_offline(&["list", "-f", file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls, 0);
    assert!(
        r.stderr.contains("warning: region 'ap-nowhere-9' (stage Net) is not a known AWS region; allowed because a custom endpoint is used"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("did you mean"), "{}", r.stderr);
    // A known region is not warned about.
    let r = run_binary(&["list", "-f", "pipelines/vpc-peering.yml"], &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("warning: region"), "{}", r.stderr);
}

/// A stage file over 16 MiB and a template over CloudFormation's 1 MB template limit are refused
/// by size, naming the file and the limit, before they are parsed and before any AWS call.
#[test]
fn a_stage_file_or_template_over_its_size_limit_is_refused_naming_file_and_limit() {
    const MIB: usize = 1024 * 1024;
    let s = Scratch::new("size-limits");
    let head = "version: 1\naccounts:\n  A:\n    id: \"111111111111\"\n    region: ap-northeast-1\nstages:\n  - name: Big\n    account: A\n    template: big.yml\n";
    s.write("big.yml", &format!("Resources:\n{}", "#".repeat(MIB)));
    let file = s.path("pipeline.yml");
    s.write("pipeline.yml", head);
    let (r, calls) = deploy_offline(&file);
    assert_eq!((r.code, calls), (2, 0), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{file}:9: stage 'Big', field 'template': big.yml: the template is {} bytes, over the limit of {MIB} bytes",
            MIB + 11
        )) && r.stderr.contains("CloudFormation accepts at most 1 MB"),
        "{}",
        r.stderr
    );

    s.write("pipeline.yml", &format!("{head}{}\n", "#".repeat(16 * MIB)));
    let (r, calls) = deploy_offline(&file);
    assert_eq!((r.code, calls), (2, 0), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "- {file}: field '(file)': the stage file is too large: the file is {} bytes, over the limit of {} bytes",
            head.len() + 16 * MIB + 1,
            16 * MIB
        )) && r.stderr.contains("fix: a stage file describes stages"),
        "{}",
        r.stderr
    );
}

/// The alias bomb (1,500 keys under one anchor referenced 1,500 times: 2.25 million
/// entries once expanded, 10 s and 500 MB before the limit) is refused by `list` as by `deploy`,
/// naming the template and the line of the first alias. benches/yaml-bomb.sh times it.
#[test]
fn an_alias_bomb_template_is_refused_by_list_naming_the_alias() {
    let file = corpus_file("template-alias-bomb");
    let (r, calls) = run_offline(&["list", "-f", &file]);
    assert_eq!((r.code, calls), (2, 0), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "- {file}:9: stage 'Net', field 'template': bomb.yml: line 1509: YAML aliases expand the template to more than"
        )),
        "{}",
        r.stderr
    );
}
