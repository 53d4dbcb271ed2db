//! The shape of the code, checked: modules import only down the data flow (no circles, also
//! between the files of one module), no source file over 700 lines, no function over 120 lines,
//! and no untyped JSON in the report types. See ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What each top-level module may import (besides itself). The order is the data flow:
/// model → source → aws → run → verify → report → commands; `error`, `poll`, `progress` and
/// `table` are leaves everyone may use; `cli` only parses.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("error", &[]),
    ("poll", &[]),
    ("table", &["progress"]),
    ("progress", &[]),
    ("trace", &[]),
    ("source", &["model", "error"]),
    ("aws", &["model", "error"]),
    (
        "run",
        &["model", "error", "poll", "progress", "table", "aws"],
    ),
    (
        "verify",
        &["model", "error", "poll", "progress", "table", "aws", "run"],
    ),
    (
        "report",
        &[
            "model", "error", "progress", "table", "source", "run", "verify",
        ],
    ),
    ("cli", &["model"]),
    (
        "commands",
        &[
            "model", "error", "poll", "progress", "table", "source", "aws", "run", "verify",
            "report", "cli",
        ],
    ),
];

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 120;

struct SourceFile {
    path: PathBuf,
    /// Module path inside the crate, e.g. ["run", "stack", "events"].
    module: Vec<String>,
    text: String,
}

fn sources() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&root).unwrap().with_extension("");
                let mut module: Vec<String> = rel
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                if module.last().is_some_and(|m| m == "mod") {
                    module.pop();
                }
                let text = fs::read_to_string(&path).unwrap();
                out.push(SourceFile { path, module, text });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `crate::a::b…` paths named in `text` (outside comments), as module segments.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let path: Vec<String> = rest
                .split("::")
                .map(|seg| {
                    seg.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|seg| seg.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .collect();
            if !path.is_empty() {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn modules_import_only_down_the_data_flow() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for f in sources() {
        let Some(top) = f.module.first().map(String::as_str) else {
            continue;
        };
        if matches!(top, "lib" | "main" | "architecture_tests" | "testutil") {
            continue;
        }
        let Some(may) = allowed.get(top) else {
            wrong.push(format!(
                "{}: module `{top}` has no place in ALLOWED",
                f.path.display()
            ));
            continue;
        };
        for path in crate_paths(&f.text) {
            let to = path[0].as_str();
            if to != top && to != "testutil" && !may.contains(&to) {
                wrong.push(format!("{}: `{top}` imports `{to}`", f.path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the data flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_circle_between_the_files_of_a_module() {
    // Edges between second-level modules (run::stage → run::context, …), from `crate::` paths
    // and `super::` imports.
    let files = sources();
    let key = |m: &[String]| m.iter().take(2).cloned().collect::<Vec<_>>().join("::");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        if f.module.len() < 2 {
            continue;
        }
        let from = key(&f.module);
        let code = f.text.split("#[cfg(test)]").next().unwrap_or("");
        let mut targets: Vec<Vec<String>> = crate_paths(code);
        for line in code
            .lines()
            .filter(|l| l.trim_start().starts_with("use super::"))
        {
            let seg: String = line.trim_start()["use super::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let mut parent = f.module.clone();
            parent.pop();
            parent.push(seg);
            targets.push(parent);
        }
        for t in targets.into_iter().filter(|t| t.len() >= 2) {
            let to = key(&t);
            if to != from && files.iter().any(|g| key(&g.module) == to) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                assert!(
                    next != start,
                    "import circle: {} → {start}",
                    path.join(" → ")
                );
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
}

#[test]
fn no_source_file_over_700_lines() {
    let long: Vec<String> = sources()
        .iter()
        .map(|f| (f, f.text.lines().count()))
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(f, n)| format!("{}: {n} lines", f.path.display()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// Functions as rustfmt lays them out: from the `fn` line to the closing brace at its indent.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let body = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const ")
            .trim_start_matches("async ");
        if !body.starts_with("fn ") || trimmed.ends_with(';') {
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        let close = format!("{indent}}}");
        if let Some(end) = lines[i..].iter().position(|l| *l == close) {
            let name = body[3..].split(['(', '<']).next().unwrap_or("").to_string();
            out.push((i + 1, name, end + 1));
        }
    }
    out
}

#[test]
fn no_function_over_120_lines() {
    let mut long = Vec::new();
    for f in sources() {
        for (line, name, n) in function_lengths(&f.text) {
            if n > MAX_FN_LINES {
                long.push(format!(
                    "{}:{line}: fn {name} has {n} lines",
                    f.path.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_checks_see_functions_and_files() {
    // The checks above must be able to fail: a 3-line function is measured as 3 lines.
    let text =
        "fn a() {\n    x();\n}\n    pub(crate) async fn b(\n        y: u8,\n    ) {\n    }\n";
    let found = function_lengths(text);
    assert_eq!(
        found,
        vec![(1, "a".to_string(), 3), (4, "b".to_string(), 4)]
    );
    assert_eq!(
        crate_paths("use crate::run::stack::{self, Mode}; // crate::verify"),
        vec![vec!["run".to_string(), "stack".to_string()]]
    );
    assert!(sources().iter().any(|f| f.module == ["model", "env"]));
}

#[test]
fn report_types_hold_no_untyped_json() {
    for f in sources()
        .iter()
        .filter(|f| f.module.first().is_some_and(|m| m == "report"))
    {
        let code = f.text.split("#[cfg(test)]").next().unwrap_or("");
        assert!(
            !code.contains("serde_json::Value"),
            "{} holds serde_json::Value",
            f.path.display()
        );
    }
}
