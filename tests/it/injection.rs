//! Untrusted text never becomes a workflow command. Text from a stage file (check names, an
//! unknown field's name in an error), a template (output values) and AWS (a resource's failure
//! reason, which echoes a parameter value from an earlier stage's output) carries `\r`,
//! U+2028 and `\n` followed by workflow commands; the output of `list`, `plan` and a deploy in
//! GitHub mode is split the way the runner splits it (.NET `StreamReader.ReadLine`: `\n`, `\r`,
//! `\r\n`, see `src/progress.rs`) and the way log viewers also do (VT, FF, NEL, U+2028/9), and no
//! line may start with `::` except pipeline-run's own commands.

use crate::common::*;

/// The attacks: each payload word proves the text reached the output.
const ATTACKS: [(&str, &str); 3] = [
    ("\\r::stop-commands::", "tokcr"),
    ("\\u2028::add-mask::", "masksep"),
    ("\\n::error::", "boomlf"),
];

/// Each attack as a YAML double-quoted scalar's body: `x<break>::command::<word>`.
fn yaml_attack(i: usize) -> String {
    let (seq, word) = ATTACKS[i];
    format!("x{seq}{word}")
}

/// What pipeline-run itself writes as workflow commands; everything else starting with `::` is
/// an injection.
const OWN_COMMANDS: [&str; 5] = [
    "::group::",
    "::endgroup::",
    "::error file=",
    "::error title=",
    "::warning::",
];

fn runner_lines(text: &str) -> Vec<&str> {
    text.split([
        '\n', '\r', '\u{2028}', '\u{2029}', '\u{85}', '\u{b}', '\u{c}',
    ])
    .collect()
}

/// Every line the runner would read as a command that pipeline-run did not write.
fn injected(what: &str, text: &str) -> Vec<String> {
    runner_lines(text)
        .into_iter()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("::") && !OWN_COMMANDS.iter().any(|c| t.starts_with(c))
        })
        .map(|l| format!("{what}: {l:?}"))
        .collect()
}

fn assert_clean(runs: &[(&str, &Run)], words: &[&str]) {
    let mut found = Vec::new();
    let mut all = String::new();
    for (what, r) in runs {
        found.extend(injected(&format!("{what} stdout"), &r.stdout));
        found.extend(injected(&format!("{what} stderr"), &r.stderr));
        all.push_str(&r.stdout);
        all.push_str(&r.stderr);
    }
    assert!(found.is_empty(), "injected commands:\n{}", found.join("\n"));
    // The attacks reached the output (so the scan could fail).
    for word in words {
        assert!(all.contains(word), "{word} never printed:\n{all}");
    }
}

#[test]
fn the_scan_finds_an_injected_command() {
    let text = "ok\nx\r::stop-commands::t\n::group::g\ny\u{2028}  ::add-mask::v\n::error title=pipeline-run::e";
    let found = injected("sample", text);
    assert_eq!(found.len(), 2, "{found:?}");
}

fn github<'a>(dir: &'a Scratch, summary: &'a str, output: &'a str) -> Vec<(&'a str, &'a str)> {
    let _ = dir;
    vec![
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary),
        ("GITHUB_OUTPUT", output),
    ]
}

const TEMPLATE: &str = "Parameters:\n  Value:\n    Type: String\n    Default: none\nResources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.7.0.0/16\nOutputs:\n";

#[test]
fn untrusted_text_never_becomes_a_workflow_command() {
    let aws = aws();
    aws.bootstrap_both();
    let dir = Scratch::new("injection");
    let summary = dir.path("summary.md");
    let output = dir.path("github_output");
    let env = github(&dir, &summary, &output);

    // Stage 1: three outputs whose values carry the attacks.
    let mut outputs = String::new();
    for i in 0..ATTACKS.len() {
        outputs.push_str(&format!("  Out{i}:\n    Value: \"{}\"\n", yaml_attack(i)));
    }
    dir.write("values.yml", &format!("{TEMPLATE}{outputs}"));
    // Stage 2: a route in a route table whose id is made of stage 1's values: the failure reason
    // (AWS's message, which names the id) carries the attacks.
    dir.write("broken.yml", "Parameters:\n  P0:\n    Type: String\n  P1:\n    Type: String\n  P2:\n    Type: String\nResources:\n  Broken:\n    Type: AWS::EC2::Route\n    Properties:\n      RouteTableId: !Join [\"\", [!Ref P0, !Ref P1, !Ref P2]]\n      DestinationCidrBlock: 10.8.0.0/16\n      GatewayId: igw-00000000000000000\n");
    let mut checks = String::new();
    for i in 0..ATTACKS.len() {
        checks.push_str(&format!(
            "    - name: \"check {}\"\n      from: Values.Out0\n      to: Values.Out1\n      expect: reachable\n",
            yaml_attack(i)
        ));
    }
    let stages = format!(
        "version: 1\naccounts:\n  A:\n    id: \"{ACCOUNT_A}\"\n    region: {REGION}\nstages:\n  - name: Values\n    account: A\n    template: values.yml\n  - name: Broken\n    account: A\n    template: broken.yml\n    parameters:\n      P0: ${{Values.Out0}}\n      P1: ${{Values.Out1}}\n      P2: ${{Values.Out2}}\nverify:\n  checks:\n{checks}"
    );
    let file = dir.write("pipeline.yml", &stages).display().to_string();

    let list = aws.run_as("ci", &["list", "-f", &file], &env);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let plan = aws.run_as("ci", &["plan", "-f", &file], &env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let deploy = aws.run_as(
        "ci",
        &["deploy", "--all", "-f", &file, "-v", "--concurrency", "1"],
        &env,
    );
    assert_eq!(deploy.code, 3, "{}", deploy.stderr);
    assert!(
        deploy.stderr.contains("Broken") && deploy.stderr.contains("tokcr"),
        "the failure reason was not printed:\n{}",
        deploy.stderr
    );
    // The output values, printed by verification (they are not IPv4 addresses).
    let verify = aws.run_as("ci", &["verify", "-f", &file, "-v"], &env);
    assert_ne!(verify.code, 0, "{}", verify.stderr);
    let plain = aws.run_as(
        "ci",
        &["deploy", "--all", "-f", &file, "-v", "--concurrency", "1"],
        &[],
    );

    // An error message that quotes the stage file: an unknown field named by the attack.
    let mut bad = String::new();
    for i in 0..ATTACKS.len() {
        bad.push_str(&format!("\"{}\": 1\n", yaml_attack(i)));
    }
    let bad = dir
        .write("bad.yml", &format!("version: 1\n{bad}"))
        .display()
        .to_string();
    let refused = run_offline(&["list", "-f", &bad]).0;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let mut refused_gh = aws.run_as("ci", &["deploy", "--all", "-f", &bad], &env);
    refused_gh
        .stdout
        .push_str(&std::fs::read_to_string(&summary).unwrap_or_default());

    let all: Vec<&str> = ATTACKS.iter().map(|(_, w)| *w).collect();
    assert_clean(&[("list", &list)], &all);
    assert_clean(&[("plan", &plan), ("deploy", &deploy)], &all);
    assert_clean(&[("verify", &verify)], &all);
    assert_clean(&[("plain deploy", &plain)], &all);
    // serde names the first unknown field.
    assert_clean(
        &[
            ("refused", &refused),
            ("refused in GitHub mode", &refused_gh),
        ],
        &[ATTACKS[0].1],
    );
}
