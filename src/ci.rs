//! CI integration: GitHub Actions outputs (`$GITHUB_OUTPUT`) and step summary
//! (`$GITHUB_STEP_SUMMARY`). Values go through files GitHub gives us, never through the log.

use std::io::Write;

use crate::progress::Reporter;
use crate::report::RunReport;

fn github_file(var: &str) -> Option<std::fs::File> {
    if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
        return None;
    }
    let path = std::env::var(var).ok().filter(|p| !p.is_empty())?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Output names GitHub accepts: letters, digits, '-' and '_'.
pub fn output_name(stage: &str, output: &str) -> String {
    format!("{stage}-{output}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Output keys that suggest a secret are masked in the log before anything could print them.
fn looks_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "token",
        "credential",
        "privatekey",
        "private_key",
        "apikey",
        "api_key",
    ]
    .iter()
    .any(|w| k.contains(w))
}

fn write_output(file: &mut std::fs::File, name: &str, value: &str) {
    if value.contains('\n') {
        let mut delimiter = String::from("PIPELINE_RUN_EOF");
        while value.contains(&delimiter) {
            delimiter.push('_');
        }
        let _ = writeln!(file, "{name}<<{delimiter}\n{value}\n{delimiter}");
    } else {
        let _ = writeln!(file, "{name}={value}");
    }
}

pub fn github_outputs(reporter: &Reporter, report: &RunReport) {
    for s in &report.stages {
        for (k, v) in &s.outputs {
            if looks_sensitive(k) {
                reporter.mask(v);
            }
        }
    }
    if let Some(mut out) = github_file("GITHUB_OUTPUT") {
        write_output(&mut out, "ok", if report.ok { "true" } else { "false" });
        write_output(&mut out, "changes", &report.changes().to_string());
        for s in &report.stages {
            for (k, v) in &s.outputs {
                write_output(&mut out, &output_name(&s.stage, k), v);
            }
        }
        if let Ok(path) = std::env::var("PIPELINE_RUN_RESULT_FILE")
            && std::fs::write(&path, report.to_json()).is_ok()
        {
            write_output(&mut out, "result-json", &path);
        }
    }
    if let Some(mut summary) = github_file("GITHUB_STEP_SUMMARY") {
        let _ = summary.write_all(step_summary(report).as_bytes());
    }
}

pub fn github_plan_outputs(doc: &serde_json::Value) {
    if let Some(mut out) = github_file("GITHUB_OUTPUT") {
        write_output(&mut out, "wave-count", &doc["wave_count"].to_string());
        if let Some(waves) = doc["waves"].as_array() {
            for (i, w) in waves.iter().enumerate() {
                write_output(&mut out, &format!("wave-{}", i + 1), &w.to_string());
            }
        }
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn step_summary(report: &RunReport) -> String {
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
        md.push_str("| Stage | Account | Region | Stack | Result | Changes | Duration |\n|---|---|---|---|---|---|---|\n");
        for s in &report.stages {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.1}s |\n",
                md_escape(&s.stage),
                s.account,
                s.region,
                md_escape(&s.stack),
                serde_json::to_value(s.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                s.changes,
                s.duration_seconds
            ));
        }
        let failures: Vec<_> = report
            .stages
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| (s, e)))
            .collect();
        if !failures.is_empty() {
            md.push_str("\n### Problems\n\n");
            for (s, e) in failures {
                md.push_str(&format!(
                    "- **{}**: {}\n",
                    md_escape(&s.stage),
                    md_escape(e)
                ));
            }
        }
    }
    if let Some(v) = &report.verification
        && let Some(checks) = v["checks"].as_array()
    {
        md.push_str("\n### Network verification\n\n| Check | Expected | Static | Live | Ping | Result |\n|---|---|---|---|---|---|\n");
        for c in checks {
            let s = |k: &str| md_escape(c[k].as_str().unwrap_or(""));
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                s("name"),
                s("expect"),
                s("static_verdict"),
                s("live_verdict"),
                s("ping_summary"),
                if c["ok"].as_bool().unwrap_or(false) {
                    "✅"
                } else {
                    "❌"
                }
            ));
        }
    }
    md.push_str(&format!("\nTotal: {:.1}s\n", report.duration_seconds));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_are_sanitised() {
        assert_eq!(output_name("VpcC", "Vpc.Id"), "VpcC-Vpc_Id");
    }

    #[test]
    fn sensitive_looking_outputs_are_recognised() {
        assert!(looks_sensitive("DbPassword"));
        assert!(looks_sensitive("ApiToken"));
        assert!(!looks_sensitive("VpcId"));
    }
}
