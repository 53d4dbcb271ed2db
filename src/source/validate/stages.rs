//! `stages:`: names, then each stage checked and built (`stage`), then stacks two stages would
//! both deploy.

use std::collections::{BTreeSet, HashMap};

use super::accounts::{self, Account};
use super::problems::Cx;
use super::templates::{self, Sourced};
use super::{Known, assets, parameters, refs};
use crate::model::plan::Stage;
use crate::model::roles::StageRoles;
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
    let from_source = sourced.remove(&s.name);
    let stack_name = stack_name(cx, s, from_source.as_ref());
    let assets = assets::assets(cx, &known.dir, s);
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
        let base = from_source.unwrap_or_else(|| {
            let roles = StageRoles::conventional(&known.qualifier, &env);
            Stage::new(&s.name, env.clone(), template.clone(), roles)
        });
        let mut stage = Stage {
            name: s.name.clone(),
            env,
            account_alias: s.account.clone(),
            stack_name,
            template,
            depends_on: depends_on.into_iter().collect(),
            publish_outputs: s.publish_outputs.clone(),
            termination_protection: base.termination_protection || s.termination_protection,
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
    for (output, param) in &s.publish_outputs {
        if !param.starts_with('/') || param.contains(char::is_whitespace) {
            cx.in_stage(&s.name, "publish_outputs")
                .field(format!("publish_outputs.{output}"))
                .report(
                    format!("'{param}' is not a Parameter Store name"),
                    "use a path such as /project/env/vpc-c/id",
                );
        }
    }
}

/// `stack_name`, else the cloud assembly stack's, else the stage name.
fn stack_name(cx: &mut Cx, s: &StageEntry, from_source: Option<&Stage>) -> String {
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
