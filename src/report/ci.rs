//! What a run leaves behind for CI, besides its logs and exit code:
//! - the result JSON at `PIPELINE_RUN_RESULT_FILE` (any CI);
//! - under GitHub Actions: step outputs in `$GITHUB_OUTPUT` (`ok`, `changes`, `outputs`,
//!   `result-json`, one `<stage>-<output>` per stack output), a Markdown step summary appended to
//!   `$GITHUB_STEP_SUMMARY` (secret outputs redacted), and `::add-mask::` for secret values;
//! - with `--export-env FILE`: a shell file of `export <Stage>_<Output>='value'` lines, for
//!   CodeBuild's `exported-variables` and any later shell step.
//!
//! Values travel through files, never through the log. Credentials are never part of a report.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::progress::{Reporter, one_line, safe_lines};
use crate::report::listing::Matrix;
use crate::report::{FailureReport, RunReport};
use crate::run::outcome::DiffMethod;
use crate::run::secrets::looks_sensitive;
use crate::verify::VerifyReport;

/// Environment variable naming where the result JSON is written (the action sets it).
pub(crate) const RESULT_FILE_VAR: &str = "PIPELINE_RUN_RESULT_FILE";

fn under_github() -> bool {
    std::env::var("GITHUB_ACTIONS").ok().as_deref() == Some("true")
}

/// A file GitHub gave us through `var`, opened for appending.
fn github_file(var: &str) -> Option<std::fs::File> {
    if !under_github() {
        return None;
    }
    let path = std::env::var(var).ok().filter(|p| !p.is_empty())?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Step output names GitHub accepts: letters, digits, '-' and '_', not starting with a digit.
pub(crate) fn output_name(stage: &str, output: &str) -> String {
    let name: String = format!("{stage}-{output}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name
    }
}

/// Shell variable names for `--export-env`: `<Stage>_<Output>`, letters, digits and '_'.
pub(crate) fn env_name(stage: &str, output: &str) -> String {
    output_name(stage, output).replace('-', "_")
}

/// Set to `true`, `$GITHUB_OUTPUT` carries the values of secret outputs (`secret_outputs:`) in
/// clear, for a later step that needs them; they stay masked in the log.
pub(crate) const SECRETS_TO_OUTPUT_VAR: &str = "PIPELINE_RUN_GITHUB_OUTPUT_SECRETS";

/// One `$GITHUB_OUTPUT` entry; multi-line values use a delimiter that does not occur in them.
fn write_output(file: &mut impl Write, name: &str, value: &str) {
    if value.contains('\n') || value.contains('\r') {
        let mut delimiter = String::from("PIPELINE_RUN_EOF");
        while value.contains(&delimiter) {
            delimiter.push('_');
        }
        let _ = writeln!(file, "{name}<<{delimiter}\n{value}\n{delimiter}");
    } else {
        let _ = writeln!(file, "{name}={value}");
    }
}

/// stage → output → value, as the action's `outputs` output and the buildspec read them.
fn outputs_json(report: &RunReport) -> String {
    let map: BTreeMap<&str, &BTreeMap<String, String>> = report
        .stages
        .iter()
        .filter(|s| !s.outputs.is_empty())
        .map(|s| (s.stage.as_str(), &s.outputs))
        .collect();
    compact_json(&map)
}

/// Everything a finished run (successful or not) leaves for CI. An `Err` names a file that was
/// asked for and could not be written.
pub(crate) fn publish(
    reporter: &Reporter,
    report: &RunReport,
    export_env: Option<&Path>,
) -> Result<(), String> {
    // Masks first (again: a stage masks its secrets as soon as it reads them): nothing below
    // may print a value before the runner knows to hide it.
    for s in &report.stages {
        for (k, v) in &s.outputs {
            if looks_sensitive(k) || s.secret_outputs.contains(k) {
                reporter.mask(v);
            }
        }
    }
    // Secret outputs are redacted from every file, `$GITHUB_OUTPUT` unless asked.
    let shown = report.redacted();
    let to_output = if std::env::var(SECRETS_TO_OUTPUT_VAR).ok().as_deref() == Some("true") {
        report
    } else {
        &shown
    };
    let report = &shown;
    let mut problems = Vec::new();
    let result_file = write_result_file(&report.to_json()).unwrap_or_else(|e| {
        problems.push(e);
        None
    });
    if let Some(mut out) = github_file("GITHUB_OUTPUT") {
        write_output(&mut out, "ok", if report.ok { "true" } else { "false" });
        write_output(&mut out, "changes", &report.changes().to_string());
        write_output(&mut out, "outputs", &outputs_json(to_output));
        for s in &to_output.stages {
            for (k, v) in &s.outputs {
                write_output(&mut out, &output_name(&s.stage, k), v);
            }
        }
        if let Some(path) = &result_file {
            write_output(&mut out, "result-json", path);
        }
    }
    if let Some(mut summary) = github_file("GITHUB_STEP_SUMMARY") {
        let _ = summary.write_all(safe_lines(&step_summary(report)).as_bytes());
    }
    if let Some(path) = export_env
        && let Err(e) = std::fs::write(path, export_env_file(report))
    {
        problems.push(format!(
            "cannot write --export-env file {}: {e}",
            path.display()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A run that ended before it had stages to report (invalid stage file, no credentials): CI
/// still gets `ok=false`, a result file and a summary saying why.
pub(crate) fn publish_failure(
    command: &str,
    message: &str,
    exit_code: i32,
    duration_seconds: f64,
    export_env: Option<&Path>,
) -> String {
    let doc = FailureReport {
        command,
        duration_seconds,
        error: message,
        exit_code,
        ok: false,
        stages: [],
    };
    let json = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    let result_file = write_result_file(&json).ok().flatten();
    if let Some(mut out) = github_file("GITHUB_OUTPUT") {
        write_output(&mut out, "ok", "false");
        write_output(&mut out, "changes", "0");
        write_output(&mut out, "outputs", "{}");
        if let Some(path) = &result_file {
            write_output(&mut out, "result-json", path);
        }
    }
    if let Some(mut summary) = github_file("GITHUB_STEP_SUMMARY") {
        let md = format!(
            "## pipeline-run {command} — ❌ failed (exit code {exit_code})\n\n```text\n{}\n```\n",
            message.replace("```", "'''")
        );
        let _ = summary.write_all(safe_lines(&md).as_bytes());
    }
    if let Some(path) = export_env {
        let _ = std::fs::write(
            path,
            "export PIPELINE_RUN_OK='false'\nexport PIPELINE_RUN_CHANGES='0'\n",
        );
    }
    json
}

fn write_result_file(json: &str) -> Result<Option<String>, String> {
    let Some(path) = std::env::var(RESULT_FILE_VAR)
        .ok()
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    if let Some(dir) = Path::new(&path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, json)
        .map_err(|e| format!("cannot write {RESULT_FILE_VAR}={path}: {e}"))?;
    Ok(Some(path))
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `export` lines for every stack output plus `PIPELINE_RUN_OK` / `PIPELINE_RUN_CHANGES`;
/// sourced by a later shell command (`. ./outputs.env`).
pub(crate) fn export_env_file(report: &RunReport) -> String {
    let mut out = String::from("# Written by pipeline-run --export-env; source it: . ./FILE\n");
    out.push_str(&format!(
        "export PIPELINE_RUN_OK={}\nexport PIPELINE_RUN_CHANGES={}\n",
        shell_quote(if report.ok { "true" } else { "false" }),
        shell_quote(&report.changes().to_string())
    ));
    for s in &report.stages {
        for (k, v) in &s.outputs {
            out.push_str(&format!(
                "export {}={}\n",
                env_name(&s.stage, k),
                shell_quote(v)
            ));
        }
    }
    out
}

/// One-line JSON, as step outputs carry it.
pub(crate) fn compact_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// `plan --format github-matrix` under GitHub Actions: the whole matrix, the number of waves,
/// and one matrix per wave (`wave-1`, ...).
pub(crate) fn github_plan_outputs(matrix: &Matrix<'_>) {
    if let Some(mut out) = github_file("GITHUB_OUTPUT") {
        write_output(&mut out, "matrix", &compact_json(matrix));
        write_output(&mut out, "wave-count", &matrix.wave_count.to_string());
        for (i, w) in matrix.waves.iter().enumerate() {
            write_output(&mut out, &format!("wave-{}", i + 1), &compact_json(w));
        }
    }
}

/// A table cell: pipes, line breaks and HTML cannot break the table. `\n` is read as a space,
/// the other breaks and control characters are made visible.
fn cell(s: &str) -> String {
    let s = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ");
    one_line(&s).into_owned()
}

fn code_cell(s: &str) -> String {
    if s.contains('`') {
        cell(s)
    } else {
        format!("`{}`", cell(s))
    }
}

/// The Markdown step summary: the result, the stages, the network verification and the stack
/// outputs (masked where their names suggest a secret).
pub(crate) fn step_summary(report: &RunReport) -> String {
    let mut md = format!(
        "## pipeline-run {} — {}\n\n",
        report.command,
        if report.ok {
            "✅ succeeded"
        } else {
            "❌ failed"
        }
    );
    if !report.stages.is_empty() {
        md.push_str(&stages_section(report));
    }
    if let Some(v) = &report.verification {
        md.push_str(&verification_section(v));
    }
    md.push_str(&outputs_section(report));
    md.push('\n');
    md
}

fn stages_section(report: &RunReport) -> String {
    let accounts: BTreeSet<&str> = report.stages.iter().map(|s| s.account.as_str()).collect();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut md = format!(
        "{} stage{} in {} account{} · {} change{} · {:.1} s\n\n",
        report.stages.len(),
        plural(report.stages.len()),
        accounts.len(),
        plural(accounts.len()),
        report.changes(),
        plural(report.changes()),
        report.duration_seconds
    );
    md.push_str("| Stage | Account | Region | Stack | Result | Changes | Duration |\n|---|---|---|---|---|---|---|\n");
    for s in &report.stages {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} s |\n",
            cell(&s.stage),
            cell(&s.account),
            cell(&s.region),
            cell(&s.stack),
            match &s.diff {
                Some(d) if d.diff_method == DiffMethod::Template => {
                    format!("{} (template-level diff)", s.status.label())
                }
                _ => s.status.label().to_string(),
            },
            s.changes,
            s.duration_seconds
        ));
    }
    let protection: Vec<_> = report
        .stages
        .iter()
        .filter_map(|s| s.protection_change().map(|p| (s, p)))
        .collect();
    if !protection.is_empty() {
        md.push_str("\n### Termination protection\n\n");
        for (s, p) in protection {
            md.push_str(&format!("- **{}**: {p}\n", cell(&s.stage)));
        }
    }
    md.push_str(&template_diffs_section(report));
    let failures: Vec<_> = report
        .stages
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| (s, e)))
        .collect();
    if !failures.is_empty() {
        md.push_str("\n### Problems\n\n");
        for (s, e) in failures {
            md.push_str(&format!("- **{}**: {}\n", cell(&s.stage), cell(e)));
        }
    }
    md
}

/// The stages `diff` compared as templates (no change set): why, and what that cannot show.
fn template_diffs_section(report: &RunReport) -> String {
    let diffs: Vec<_> = report
        .stages
        .iter()
        .filter_map(|s| s.diff.as_ref().map(|d| (s, d)))
        .filter(|(_, d)| d.diff_method == DiffMethod::Template)
        .collect();
    let Some((_, first)) = diffs.first() else {
        return String::new();
    };
    let mut md = String::from(
        "\n### Template-level diffs\n\nNo change set could be created for these stages (the deploy role was refused), so the deployed template was compared with the stage's through the lookup role.\n\n",
    );
    for (s, d) in &diffs {
        md.push_str(&format!(
            "- **{}**: {}\n",
            cell(&s.stage),
            cell(d.diff_reason.as_deref().unwrap_or("deploy role refused"))
        ));
    }
    md.push_str("\nA template-level diff cannot show:\n");
    for limit in &first.diff_limits {
        md.push_str(&format!("- {limit}\n"));
    }
    md
}

fn verification_section(v: &VerifyReport) -> String {
    let mut md = String::from(
        "\n### Network verification\n\n| Check | Expected | Static | Live | Ping | Result |\n|---|---|---|---|---|---|\n",
    );
    for c in &v.checks {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&c.name),
            cell(c.expected()),
            cell(&c.static_verdict),
            cell(&c.live_verdict),
            cell(&c.ping_summary),
            if c.ok { "✅" } else { "❌" }
        ));
    }
    md
}

fn outputs_section(report: &RunReport) -> String {
    let outputs: Vec<(&str, &str, &str)> = report
        .stages
        .iter()
        .flat_map(|s| {
            s.outputs
                .iter()
                .map(move |(k, v)| (s.stage.as_str(), k.as_str(), v.as_str()))
        })
        .collect();
    if outputs.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n<details><summary>Stack outputs ({})</summary>\n\n| Stage | Output | Value |\n|---|---|---|\n",
        outputs.len()
    );
    for (stage, k, v) in outputs {
        let value = if looks_sensitive(k) {
            "*** (masked)".to_string()
        } else {
            code_cell(v)
        };
        md.push_str(&format!("| {} | {} | {value} |\n", cell(stage), cell(k)));
    }
    md.push_str("\n</details>\n");
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::Expectation;
    use crate::report::tests::{check, stage};

    fn report() -> RunReport {
        RunReport {
            command: "deploy".into(),
            ok: false,
            stages: vec![
                stage("VpcA", "111111111111", &[("VpcAId", "vpc-a")]),
                stage(
                    "Db",
                    "222222222222",
                    &[("DbPassword", "hunter2"), ("Note", "a|b\n<c>")],
                ),
            ],
            verification: Some(VerifyReport {
                checks: vec![
                    check("A → B", Expectation::Reachable, "reachable", true),
                    check("A → C", Expectation::Unreachable, "reachable", false),
                ],
                duration_seconds: 1.0,
                interrupted: false,
                static_only: false,
            }),
            duration_seconds: 3.0,
            interrupted: false,
        }
    }

    #[test]
    fn output_names_are_sanitised() {
        assert_eq!(output_name("VpcC", "Vpc.Id"), "VpcC-Vpc_Id");
        assert_eq!(output_name("1st", "Id"), "_1st-Id");
        assert_eq!(env_name("Vpc-C", "VpcCId"), "Vpc_C_VpcCId");
    }

    #[test]
    fn sensitive_looking_outputs_are_recognised() {
        assert!(looks_sensitive("DbPassword"));
        assert!(looks_sensitive("ApiToken"));
        assert!(looks_sensitive("db_access_key"));
        assert!(!looks_sensitive("VpcId"));
        assert!(!looks_sensitive("PeeringConnectionId"));
    }

    #[test]
    fn multi_line_outputs_use_a_delimiter_absent_from_the_value() {
        let mut buf = Vec::new();
        write_output(&mut buf, "one", "vpc-1");
        write_output(&mut buf, "two", "a\nPIPELINE_RUN_EOF\nb");
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "one=vpc-1\ntwo<<PIPELINE_RUN_EOF_\na\nPIPELINE_RUN_EOF\nb\nPIPELINE_RUN_EOF_\n"
        );
    }

    #[test]
    fn summary_names_a_termination_protection_change() {
        let mut r = report();
        assert!(!step_summary(&r).contains("Termination protection"));
        r.stages[1].change_list = vec![crate::run::stack::StackChange::TerminationProtection {
            action: crate::run::stack::Protection::Disable,
        }];
        let md = step_summary(&r);
        assert!(
            md.contains(
                "### Termination protection\n\n- **Db**: termination protection disabled\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn summary_has_a_row_per_stage_a_verification_table_and_hides_secrets() {
        let md = step_summary(&report());
        assert!(md.starts_with("## pipeline-run deploy — ❌ failed"), "{md}");
        assert!(md.contains("2 stages in 2 accounts · 4 changes"), "{md}");
        assert!(
            md.contains("| VpcA | 111111111111 | ap-northeast-1 | VpcA | deployed | 2 | 1.2 s |"),
            "{md}"
        );
        assert!(md.contains("| Db | 222222222222 |"), "{md}");
        assert!(
            md.contains("| A → C | unreachable | reachable | reachable | 3/3 | ❌ |"),
            "{md}"
        );
        assert!(md.contains("| VpcA | VpcAId | `vpc-a` |"), "{md}");
        assert!(md.contains("| Db | Note | `a\\|b &lt;c&gt;` |"), "{md}");
        assert!(md.contains("| Db | DbPassword | *** (masked) |"), "{md}");
        assert!(!md.contains("hunter2"), "{md}");
    }

    #[test]
    fn the_summary_labels_template_level_diffs_and_says_what_they_cannot_show() {
        use crate::run::outcome::{DiffInfo, StageState};
        let mut r = report();
        r.command = "diff".into();
        r.verification = None;
        for s in &mut r.stages {
            s.status = StageState::Changes;
        }
        r.stages[0].diff = Some(DiffInfo {
            diff_method: DiffMethod::Template,
            diff_reason: Some("cannot assume role X: AccessDenied".into()),
            diff_limits: vec!["replacements"],
            template_diff: None,
        });
        r.stages[1].diff = Some(DiffInfo::change_set());
        let md = step_summary(&r);
        assert!(
            md.contains("| VpcA | 111111111111 | ap-northeast-1 | VpcA | changes (template-level diff) | 2 |"),
            "{md}"
        );
        assert!(
            md.contains("| Db | 222222222222 | ap-northeast-1 | Db | changes | 2 |"),
            "{md}"
        );
        assert!(md.contains("### Template-level diffs"), "{md}");
        assert!(
            md.contains("- **VpcA**: cannot assume role X: AccessDenied\n"),
            "{md}"
        );
        assert!(!md.contains("- **Db**"), "{md}");
        assert!(md.contains("cannot show:\n- replacements\n"), "{md}");
        // Only change-set diffs: no such section.
        r.stages[0].diff = Some(DiffInfo::change_set());
        assert!(!step_summary(&r).contains("Template-level"));
    }

    #[test]
    fn export_env_file_is_shell_quoted() {
        let mut r = report();
        r.stages[0]
            .outputs
            .insert("Quote".into(), "it's $HOME".into());
        let env = export_env_file(&r);
        assert!(env.contains("export PIPELINE_RUN_OK='false'\n"), "{env}");
        assert!(env.contains("export PIPELINE_RUN_CHANGES='4'\n"), "{env}");
        assert!(env.contains("export VpcA_VpcAId='vpc-a'\n"), "{env}");
        assert!(env.contains(r"export VpcA_Quote='it'\''s $HOME'"), "{env}");
    }
}
