//! `stages:`: names, then each stage checked and built (`stage`), then stacks two stages would
//! both deploy.

use std::collections::{BTreeSet, HashMap};

use super::accounts::{self, Account};
use super::problems::Cx;
use super::templates::{self, Sourced};
use super::{Known, assets, parameters, refs};
use crate::model::env::StackEnv;
use crate::model::plan::Stage;
use crate::model::resolve::place;
use crate::model::roles::{StageRoles, reserved_parameter_root};
use crate::source::stagefile::StageEntry;

/// Stage name → index, for references in any order of the file.
pub(super) struct StageNames(HashMap<String, usize>);

impl StageNames {
    pub(super) fn get(&self, name: &str) -> Option<usize> {
        self.0.get(name).copied()
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The names in file order, for "use one of: …".
    pub(super) fn listed(&self) -> String {
        let mut v: Vec<(usize, &str)> = self.0.iter().map(|(k, &i)| (i, k.as_str())).collect();
        v.sort();
        v.into_iter().map(|(_, k)| k).collect::<Vec<_>>().join(", ")
    }
}

/// Stage names: at least one stage, each name valid and unique.
pub(super) fn names(cx: &mut Cx, stages: &[StageEntry]) -> StageNames {
    if stages.is_empty() {
        cx.at(cx.line_of("stages", None, 1))
            .field("stages")
            .report("no stages are declared", "add at least one stage");
    }
    let mut names = HashMap::new();
    for (i, s) in stages.iter().enumerate() {
        let line = cx.stage_line(&s.name);
        if !valid_stage_name(&s.name) {
            cx.at(line).stage(&s.name).field("name").report(
                format!("'{}' is not a valid stage name", s.name),
                "use letters, digits and '-' only, starting with a letter (it becomes part of the stack name)",
            );
        }
        if names.insert(s.name.clone(), i).is_some() {
            cx.at(line).stage(&s.name).field("name").report(
                format!("stage '{}' is declared twice", s.name),
                "give every stage a unique name",
            );
        }
    }
    StageNames(names)
}

/// Where a stage with a declared account and a template deploys its stack, valid or not.
pub(super) struct Placement {
    target: Account,
    stack_name: String,
    stage: String,
    line: Option<usize>,
}

/// Checks stage `i` and builds it: None if its account or template is unusable. The placement
/// is there whenever its account is declared and its template read.
pub(super) fn stage(
    cx: &mut Cx,
    known: &Known,
    sourced: &mut Sourced,
    i: usize,
    s: &StageEntry,
) -> (Option<Stage>, Option<Placement>) {
    let target = accounts::target(cx, known, s);
    let mut depends_on = depends_on(cx, known, i, s);
    let parameters = parameters::values(cx, known, i, s, &mut depends_on);
    parameters::required(cx, known, sourced, i, s);
    publish_outputs(cx, known, i, s);
    secret_outputs(cx, known, i, s);
    let (rollback_alarms, monitoring_minutes) = rollback_triggers(cx, s);
    let from_source = sourced.remove(&s.name);
    let stack_name = stack_name(cx, s, from_source.as_ref());
    let assets = assets::assets(cx, &known.dir, known.asset_root.as_ref(), s);
    if let (Some(source), Some(target)) = (&from_source, &target) {
        templates::check_source_env(cx, s, source, target);
    }
    let (Some(target), Some(template)) = (target, known.templates[i].clone()) else {
        return (None, None);
    };
    let line = cx.stage_line(&s.name);
    let placement = Placement {
        target: target.clone(),
        stack_name: stack_name.clone(),
        stage: s.name.clone(),
        line,
    };
    let stage = target.env.map(|env| {
        // A cloud assembly stack gives its roles, overrides, parameters, tags and assets; the
        // stage file's own values go on top.
        let base = from_source.map_or_else(
            || {
                let roles = StageRoles::conventional(&known.qualifier, &env);
                Stage::new(&s.name, env.clone(), template.clone(), roles)
            },
            |source| place(source, env.clone(), &known.qualifier),
        );
        let mut stage = Stage {
            name: s.name.clone(),
            env,
            account_alias: s.account.clone(),
            stack_name,
            template,
            depends_on: depends_on.into_iter().collect(),
            publish_outputs: s.publish_outputs.clone(),
            secret_outputs: s.secret_outputs.iter().cloned().collect(),
            termination_protection: base.termination_protection || s.termination_protection,
            rollback_alarms,
            monitoring_minutes,
            line,
            ..base
        };
        stage.parameters.extend(parameters);
        stage.tags.extend(s.tags.clone());
        stage.assets.extend(assets);
        stage
    });
    (stage, Some(placement))
}

/// The rollback triggers: alarm ARNs well-formed (`arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME`),
/// monitoring minutes from 0 to 180 (CloudFormation's range); the valid ones.
fn rollback_triggers(cx: &mut Cx, s: &StageEntry) -> (Vec<String>, Option<u32>) {
    let mut alarms = Vec::new();
    for arn in &s.rollback_alarms {
        if is_alarm_arn(arn) {
            alarms.push(arn.clone());
        } else {
            cx.in_stage(&s.name, "rollback_alarms")
                .field("rollback_alarms")
                .report(
                    format!("'{arn}' is not a CloudWatch alarm ARN"),
                    "use arn:aws:cloudwatch:REGION:ACCOUNT_ID:alarm:NAME",
                );
        }
    }
    let minutes = match s.monitoring_minutes {
        Some(m) if (0..=180).contains(&m) => u32::try_from(m).ok(),
        Some(m) => {
            cx.in_stage(&s.name, "monitoring_minutes")
                .field("monitoring_minutes")
                .report(
                    format!("monitoring_minutes {m} is out of range"),
                    "use 0 to 180 minutes",
                );
            None
        }
        None => None,
    };
    (alarms, minutes)
}

fn is_alarm_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let lower = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    matches!(parts.as_slice(), ["arn", partition, "cloudwatch", region, account, "alarm", name]
        if lower(partition) && lower(region) && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit()) && !name.is_empty())
}

/// The stages named under `depends_on` (output references add more, in `parameters`).
fn depends_on(cx: &mut Cx, known: &Known, i: usize, s: &StageEntry) -> BTreeSet<usize> {
    let mut deps = BTreeSet::new();
    for d in &s.depends_on {
        match known.names.get(d) {
            Some(j) if j == i => cx
                .in_stage(&s.name, "depends_on")
                .field("depends_on")
                .report(
                    "a stage cannot depend on itself",
                    format!("remove '{d}' from depends_on"),
                ),
            Some(j) => {
                deps.insert(j);
            }
            None => cx
                .in_stage(&s.name, "depends_on")
                .field("depends_on")
                .report(
                    format!("stage '{d}' does not exist"),
                    format!("use one of: {}", known.names.listed()),
                ),
        }
    }
    deps
}

/// `secret_outputs`: outputs the template declares.
fn secret_outputs(cx: &mut Cx, known: &Known, i: usize, s: &StageEntry) {
    let Some(Some(t)) = known.templates.get(i) else {
        return;
    };
    for output in s.secret_outputs.iter().filter(|o| !t.outputs.contains(*o)) {
        cx.in_stage(&s.name, "secret_outputs")
            .field("secret_outputs")
            .report(
                format!("template {} declares no output '{output}'", s.template),
                format!(
                    "list outputs the template declares: {}",
                    refs::outputs_listed(t)
                ),
            );
    }
}

/// `publish_outputs`: outputs the template declares, under Parameter Store names.
fn publish_outputs(cx: &mut Cx, known: &Known, i: usize, s: &StageEntry) {
    if let Some(Some(t)) = known.templates.get(i) {
        for output in s.publish_outputs.keys() {
            if !t.outputs.contains(output) {
                cx.in_stage(&s.name, "publish_outputs")
                    .field(format!("publish_outputs.{output}"))
                    .report(
                        format!("template {} declares no output '{output}'", s.template),
                        format!("publish one of: {}", refs::outputs_listed(t)),
                    );
            }
        }
    }
    let entries_from = cx.stage_key_line(&s.name, "publish_outputs").unwrap_or(1);
    for (output, param) in &s.publish_outputs {
        let Some(problem) = parameter_name_problem(param, &known.parameter_namespace) else {
            continue;
        };
        let line = cx
            .line_of(output, None, entries_from)
            .or(Some(entries_from));
        cx.at(line)
            .stage(&s.name)
            .field(format!("publish_outputs.{output}"))
            .report(
                format!("'{param}' {problem}"),
                format!(
                    "publish it as {} (the deploy role may write only under {}; set parameter_prefix to the bootstrap's ParameterStorePrefix if it is not the default)",
                    suggested_name(param, output, &known.parameter_namespace),
                    known.parameter_namespace
                ),
            );
    }
}

/// The longest Parameter Store name one may give (AWS counts 2048 with 1037 reserved).
const PARAMETER_NAME_MAX: usize = 1011;
/// Parameter Store hierarchies are at most fifteen levels deep.
const PARAMETER_DEPTH_MAX: usize = 15;

fn is_parameter_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/".contains(c)
}

/// Why `name` cannot be published by the deploy role whose namespace is `namespace`, if so: not a
/// valid Parameter Store name, or outside the namespace.
fn parameter_name_problem(name: &str, namespace: &str) -> Option<String> {
    if !name.starts_with('/') {
        return Some("is not a Parameter Store path (it must start with '/')".into());
    }
    if let Some(c) = name.chars().find(|&c| !is_parameter_char(c)) {
        return Some(format!(
            "is not a valid Parameter Store name: {c:?} is not allowed (only A-Z a-z 0-9 _ . - and /)"
        ));
    }
    if name.len() > PARAMETER_NAME_MAX {
        return Some(format!(
            "is not a valid Parameter Store name: {} characters (at most {PARAMETER_NAME_MAX})",
            name.len()
        ));
    }
    if name.ends_with('/') || name.contains("//") {
        return Some("is not a valid Parameter Store name: empty path segment".into());
    }
    if name.split('/').count() - 1 > PARAMETER_DEPTH_MAX {
        return Some(format!(
            "is not a valid Parameter Store name: deeper than {PARAMETER_DEPTH_MAX} levels"
        ));
    }
    if let Some(why) = reserved_parameter_root(name) {
        return Some(format!("is not a name pipeline-run may write: {why}"));
    }
    if !name.starts_with(namespace) {
        return Some(format!(
            "is outside pipeline-run's Parameter Store namespace {namespace}"
        ));
    }
    None
}

/// The name to use instead of `name` for `output`: the same path under `namespace`, with
/// characters Parameter Store refuses replaced by '-' and empty segments dropped.
fn suggested_name(name: &str, output: &str, namespace: &str) -> String {
    let rest = name.strip_prefix(namespace).unwrap_or(name);
    let cleaned: String = rest
        .chars()
        .map(|c| if is_parameter_char(c) { c } else { '-' })
        .collect();
    let mut segments: Vec<&str> = cleaned.split('/').filter(|s| !s.is_empty()).collect();
    let depth = PARAMETER_DEPTH_MAX
        .saturating_sub(namespace.split('/').count().saturating_sub(2))
        .max(1);
    let joined;
    if segments.len() > depth {
        joined = segments[depth - 1..].join("-");
        segments.truncate(depth - 1);
        segments.push(&joined);
    }
    let mut path = segments.join("/");
    if path.is_empty() {
        path = output.to_string();
    }
    let mut suggestion = format!("{namespace}{path}");
    suggestion.truncate(PARAMETER_NAME_MAX);
    suggestion
}

/// `stack_name`, else the cloud assembly stack's, else the stage name.
fn stack_name(cx: &mut Cx, s: &StageEntry, from_source: Option<&Stage<StackEnv>>) -> String {
    let stack_name = s
        .stack_name
        .clone()
        .or_else(|| from_source.map(|st| st.stack_name.clone()))
        .unwrap_or_else(|| s.name.clone());
    if !valid_stage_name(&stack_name) {
        cx.in_stage(&s.name, "stack_name")
            .field("stack_name")
            .report(
                format!("'{stack_name}' is not a valid CloudFormation stack name"),
                "use up to 128 letters, digits and '-', starting with a letter",
            );
    }
    stack_name
}

/// Two stages deploying the same stack would overwrite each other.
pub(super) fn duplicate_stacks(cx: &mut Cx, placed: &[Placement]) {
    let mut stacks: HashMap<(&str, &str, &str), &str> = HashMap::new();
    for p in placed {
        let key = (
            p.target.id.as_str(),
            p.target.region.as_str(),
            p.stack_name.as_str(),
        );
        if let Some(other) = stacks.insert(key, &p.stage) {
            cx.at(p.line).stage(&p.stage).field("stack_name").report(
                format!(
                    "stage '{other}' already deploys stack '{}' to {}",
                    p.stack_name, p.target
                ),
                "give one of them a different stack_name",
            );
        }
    }
}

/// Also the rule for stack names: letters, digits and '-', starting with a letter, up to 128.
fn valid_stage_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.len() <= 128
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}
