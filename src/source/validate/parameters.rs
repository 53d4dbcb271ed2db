//! A stage's `parameters:`: values with their `${…}` references, against what the template
//! declares and requires.

use std::collections::{BTreeMap, BTreeSet};

use super::problems::Cx;
use super::templates::Sourced;
use super::{Known, refs};
use crate::model::plan::ValueExpr;
use crate::source::stagefile::StageEntry;

/// The parameter values of stage `i`; the stages they reference are added to `depends_on`.
pub(super) fn values(
    cx: &mut Cx,
    known: &Known,
    i: usize,
    s: &StageEntry,
    depends_on: &mut BTreeSet<usize>,
) -> BTreeMap<String, ValueExpr> {
    let mut parameters = BTreeMap::new();
    for (key, value) in &s.parameters {
        let field = format!("parameters.{key}");
        let line = cx.stage_key_line(&s.name, key);
        let Some(text) = scalar_text(value) else {
            cx.at(line).stage(&s.name).field(&field).report(
                "a parameter value must be a string, number, boolean or list of those",
                "write the value as text (lists become comma-separated)",
            );
            continue;
        };
        match refs::interpolate(&text, &known.accounts, &known.networks) {
            Ok(expr) => {
                asset_references(cx, s, line, &field, &expr);
                for (stage, output) in expr.references() {
                    let at = cx.at(line).stage(&s.name).field(&field);
                    refs::check_output(at, known, Some(i), stage, output);
                    if let Some(j) = known.names.get(stage)
                        && j != i
                    {
                        depends_on.insert(j);
                    }
                }
                parameters.insert(key.clone(), expr);
            }
            Err((message, fix)) => cx
                .at(line)
                .stage(&s.name)
                .field(&field)
                .report(message, fix),
        }
        declared(cx, known, i, s, key, line);
    }
    parameters
}

/// `${assets.NAME.…}` must name an asset of the same stage.
fn asset_references(
    cx: &mut Cx,
    s: &StageEntry,
    line: Option<usize>,
    field: &str,
    expr: &ValueExpr,
) {
    for (name, _) in expr.asset_references() {
        if s.assets.contains_key(name) {
            continue;
        }
        let declared: Vec<&str> = s.assets.keys().map(String::as_str).collect();
        cx.at(line).stage(&s.name).field(field).report(
            format!(
                "references asset '{name}', which stage '{}' does not declare",
                s.name
            ),
            if declared.is_empty() {
                format!("declare it under the stage's `assets:` (e.g. `{name}: {{path: ./dist}}`)")
            } else {
                format!("use one of: {}", declared.join(", "))
            },
        );
    }
}

/// Parameter `key` must be one the template declares.
fn declared(cx: &mut Cx, known: &Known, i: usize, s: &StageEntry, key: &str, line: Option<usize>) {
    let Some(Some(t)) = known.templates.get(i) else {
        return;
    };
    if t.parameters.contains_key(key) {
        return;
    }
    let declared: Vec<&str> = t.parameters.keys().map(String::as_str).collect();
    cx.at(line)
        .stage(&s.name)
        .field(format!("parameters.{key}"))
        .report(
            format!("template {} declares no parameter '{key}'", s.template),
            if declared.is_empty() {
                "remove it (the template takes no parameters)".into()
            } else {
                format!("use one of: {}", declared.join(", "))
            },
        );
}

/// Every template parameter without a Default needs a value, from the stage file or its cloud
/// assembly stack.
pub(super) fn required(cx: &mut Cx, known: &Known, sourced: &Sourced, i: usize, s: &StageEntry) {
    let Some(Some(t)) = known.templates.get(i) else {
        return;
    };
    for (name, has_default) in &t.parameters {
        let from_source = sourced.get(&s.name).is_some_and(|st| {
            st.parameters.contains_key(name)
                || crate::source::cdk::stages::fills_parameter(st, name)
        });
        if !has_default && !s.parameters.contains_key(name) && !from_source {
            cx.in_stage(&s.name, "parameters")
                .field("parameters")
                .report(
                    format!(
                        "template {} requires parameter '{name}' (it has no Default)",
                        s.template
                    ),
                    format!("add `{name}: <value>` under parameters"),
                );
        }
    }
}

/// A parameter value as CloudFormation takes it: scalars as text, lists comma-separated.
fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    use serde_yaml::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Sequence(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::Sequence(_) | Value::Mapping(_) => None,
                    other => scalar_text(other),
                })
                .collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}
