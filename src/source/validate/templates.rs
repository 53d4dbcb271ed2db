//! Each stage's template: a file (`template:`, read once however many stages share it), or a
//! stack of a CDK cloud assembly (`source:`), whose converted stage is kept to build on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::accounts::Account;
use super::problems::Cx;
use crate::model::env::StackEnv;
use crate::model::plan::Stage;
use crate::model::template::{Template, TemplateError};
use crate::source::cdk::stages::load_for_stage_file;
use crate::source::stagefile::{SourceEntry, StageEntry};
use crate::source::template;

/// Stage name → the stage its `source:` stack converts to (roles, assets, parameters, …); an
/// environment-agnostic stack is placed in the stage's account and region.
pub(super) type Sourced = HashMap<String, Stage<StackEnv>>;

/// A stage takes `template:` or `source:`; a sourced stage's template is then named after its
/// stack in messages about parameters and outputs.
pub(super) fn mark_sourced(cx: &mut Cx, stages: &mut [StageEntry]) {
    for s in stages {
        let Some(src) = &s.source else {
            continue;
        };
        if !s.template.is_empty() {
            let stage_line = cx.stage_line(&s.name).unwrap_or(1);
            cx.at(cx.line_of("source", None, stage_line))
                .stage(&s.name)
                .field("source")
                .report(
                    "a stage takes its template from `template:` or from `source:`, not both",
                    "remove one of them",
                );
        }
        s.template = format!("{} (stack {})", src.app, src.stack);
    }
}

/// The template of every stage (by index), and the stages their `source:` converts to.
pub(super) fn load_all(
    cx: &mut Cx,
    dir: &Path,
    stages: &[StageEntry],
) -> (Vec<Option<Template>>, Sourced) {
    let mut cache = HashMap::new();
    let mut sourced = Sourced::new();
    let templates = stages
        .iter()
        .map(|s| match &s.source {
            Some(src) => source(cx, &mut sourced, dir, s, src),
            None => file(cx, &mut cache, dir, s),
        })
        .collect();
    (templates, sourced)
}

fn file(
    cx: &mut Cx,
    cache: &mut HashMap<PathBuf, Result<Template, TemplateError>>,
    dir: &Path,
    s: &StageEntry,
) -> Option<Template> {
    if s.template.is_empty() {
        cx.at(cx.stage_line(&s.name))
            .stage(&s.name)
            .field("template")
            .report(
                "the stage has no template",
                "add `template: path/to/template.yml`, or `source: {app: cdk.out, stack: StackId}`",
            );
        return None;
    }
    let path = dir.join(&s.template);
    let loaded = cache
        .entry(path.clone())
        .or_insert_with(|| template::load(&path))
        .clone();
    loaded
        .map_err(|reason| {
            let fix = reason.fix(&path);
            cx.in_stage(&s.name, "template")
                .field("template")
                .report(format!("{}: {reason}", s.template), fix);
        })
        .ok()
}

/// The template of a cloud assembly stack; the stage it converts to goes to `sourced`.
fn source(
    cx: &mut Cx,
    sourced: &mut Sourced,
    dir: &Path,
    s: &StageEntry,
    src: &SourceEntry,
) -> Option<Template> {
    let plan = match load_for_stage_file(&dir.join(&src.app)) {
        Ok(plan) => plan,
        Err(e) => {
            cx.in_stage(&s.name, "source").field("source.app").report(
                format!("{e:#}"),
                format!(
                    "point `app` at the directory `cdk synth` wrote (relative to the stage file), e.g. {}",
                    Path::new(&src.app).join("..").join("cdk.out").display()
                ),
            );
            return None;
        }
    };
    let names: Vec<String> = plan.stages.iter().map(|st| st.name.clone()).collect();
    let Some(stack) = plan.stages.into_iter().find(|st| st.name == src.stack) else {
        cx.in_stage(&s.name, "source").field("source.stack").report(
            format!(
                "the cloud assembly {} has no stack '{}'",
                src.app, src.stack
            ),
            format!("use one of: {}", names.join(", ")),
        );
        return None;
    };
    let template = stack.template.clone();
    sourced.insert(s.name.clone(), stack);
    Some(template)
}

/// A sourced stage deploys where its stack was synthesized for (the parts its stack fixes).
pub(super) fn check_source_env(
    cx: &mut Cx,
    s: &StageEntry,
    source: &Stage<StackEnv>,
    target: &Account,
) {
    let fits = source.env.account.as_ref().is_none_or(|a| *a == *target.id)
        && source
            .env
            .region
            .as_ref()
            .is_none_or(|r| *r == *target.region);
    if fits {
        return;
    }
    cx.in_stage(&s.name, "account").field("account").report(
        format!(
            "the stage deploys to {target}, but stack {} of its cloud assembly was synthesized for {}",
            source.name, source.env
        ),
        format!(
            "use an account alias for {} (and `region: {}`), or set env on the stack and synthesize again",
            source.env.account.as_deref().unwrap_or("its account"),
            source.env.region.as_deref().unwrap_or("its region")
        ),
    );
}
