//! A stage file that does not deserialize: serde_yaml's error turned into one problem with the
//! field, line and fix.
//!
//! Known debt: serde_yaml (deprecated) reports errors as text only, so the field and the fix
//! are read from the wording of its messages ("unknown field `x`", "missing field `x`",
//! "duplicate field", "invalid type"). Everything that depends on that wording is in this file,
//! to be replaced together with the YAML parser.

use std::path::Path;

use super::lines::key_line;
use super::problems::Problems;

/// The problem for a serde error on `text`.
pub(super) fn problem(path: &Path, text: &str, error: &serde_yaml::Error) -> Problems {
    let line = error.location().map(|l| l.line());
    let msg = error.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    let (field, mut fix) = explain_serde_error(&msg);
    let mut line = line;
    if let Some(name) = backticked(&msg, "missing field `") {
        // Often the field is there, only indented so that it belongs to something else.
        if let Some(found) = key_line(text, name, line.unwrap_or(1), 1) {
            fix = format!(
                "add the required field '{name}' (line {found} has `{name}:`, but its indentation puts it in another mapping: align it with this mapping's other fields)"
            );
        }
    }
    if let Some(name) = backticked(&msg, "duplicate field `") {
        // The parser points at the mapping; the second occurrence is the line to fix.
        line = key_line(text, name, line.unwrap_or(1), 2).or(line);
    }
    Problems::one(path, line, |p| p.field(field).report(msg, fix))
}

/// The name in `…prefix NAME\`…` of a serde message.
fn backticked<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    msg.split(prefix).nth(1)?.split('`').next()
}

/// The field a serde message is about, and the fix.
fn explain_serde_error(msg: &str) -> (String, String) {
    if let Some(rest) = msg
        .strip_prefix("unknown field `")
        .or_else(|| msg.split(": unknown field `").nth(1))
    {
        let name = rest.split('`').next().unwrap_or("");
        let expected = msg
            .split("expected one of ")
            .nth(1)
            .or_else(|| msg.split("expected ").nth(1))
            .unwrap_or("");
        return (
            name.to_string(),
            format!("remove or rename '{name}'; allowed here: {expected}"),
        );
    }
    if let Some(rest) = msg.split("missing field `").nth(1) {
        let name = rest.split('`').next().unwrap_or("");
        return (name.to_string(), format!("add the required field '{name}'"));
    }
    if let Some(name) = backticked(msg, "duplicate field `") {
        let field = match msg.split_once(": duplicate field") {
            Some((path, _)) => format!("{path}.{name}"),
            None => name.to_string(),
        };
        return (
            field,
            format!("keep one `{name}:` in this mapping; YAML does not allow a key twice"),
        );
    }
    if msg.contains("duplicate entry with key") {
        let field = msg.split(": duplicate entry").next().unwrap_or("(mapping)");
        return (
            field.to_string(),
            "give every key of this mapping a different name; YAML does not allow a key twice"
                .into(),
        );
    }
    if msg.contains("invalid type") || msg.contains("invalid value") {
        return explain_type_error(msg);
    }
    (
        "(syntax)".into(),
        "fix the YAML syntax at the line shown".into(),
    )
}

/// `FIELD: invalid type: …, expected TYPE`.
fn explain_type_error(msg: &str) -> (String, String) {
    let field = msg
        .split(':')
        .next()
        .unwrap_or("(value)")
        .trim()
        .to_string();
    let expected = msg.rsplit("expected ").next().unwrap_or("");
    let fix = match expected {
        "a sequence" => "write a list: `[a, b]`, or one `- item` per line below the field",
        "a map" => "write `key: value` lines, indented below the field",
        "a boolean" => "use true or false",
        "a string" => "write the value as text (quote it)",
        e if e.starts_with('u') || e.starts_with('i') => "use a whole number, e.g. 1",
        _ => "give the value the type shown above (quote numbers meant as text, e.g. account ids)",
    };
    (field, fix.into())
}
