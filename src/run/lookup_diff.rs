//! `diff` of one stage through its lookup role, when STS refuses the deploy role (a pull-request
//! role may only assume lookup roles): the deployed template (GetTemplate) and stack
//! (DescribeStacks) against the stage's template, parameters and tags — a template-level diff,
//! as `cdk diff` makes by default. No change set is created and no asset is published (that
//! needs the file-publishing role).

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Stack, TemplateStage};

use crate::aws::errors::describe_sdk_error;
use crate::error::{ExitKind, fail};
use crate::model::plan::Stage;
use crate::progress::StageProgress;
use crate::run::context::Context;
use crate::run::outcome::{DiffInfo, DiffMethod};
use crate::run::stack::template_diff::{self, Deployed, LIMITS, Proposed, TemplateDiff};
use crate::run::stack::{self, Protection, StackChange};

/// What a template diff of one stage found.
#[derive(Debug, Clone)]
pub(crate) struct TemplateOutcome {
    /// The stack's status (NOT_DEPLOYED when there is none).
    pub(crate) status: String,
    pub(crate) changes: Vec<StackChange>,
    pub(crate) no_changes: bool,
    pub(crate) outputs: BTreeMap<String, String>,
    pub(crate) info: DiffInfo,
}

/// Diffs `stage` through its lookup role (`lookup`, assumed); `reason` says why the deploy role
/// was not used.
pub(crate) async fn diff_stage(
    ctx: &Context,
    stage: &Stage,
    lookup: &SdkConfig,
    outputs: &HashMap<String, BTreeMap<String, String>>,
    reason: String,
    progress: &StageProgress,
) -> Result<TemplateOutcome> {
    progress.line(&format!(
        "template-level diff through the lookup role (no change set: {reason}); assets are not published"
    ));
    ctx.check_bootstrap(stage, lookup).await?;
    let cfn = ctx.aws.cloudformation(lookup);
    progress.phase("reading stack");
    let existing = stack::describe(&cfn, &stage.stack_name).await?;
    // A stack that deploy would create or re-create is compared with nothing.
    let compared = existing.as_ref().filter(|s| {
        !matches!(
            stack::status_of(s).as_str(),
            "REVIEW_IN_PROGRESS" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED"
        )
    });
    if let Some(s) = existing.as_ref().filter(|_| compared.is_none()) {
        progress.line(&format!(
            "stack {} is {}; deploy will create it anew",
            stage.stack_name,
            stack::status_of(s)
        ));
    }
    let body = match compared {
        Some(_) => Some(deployed_template(&cfn, &stage.stack_name).await?),
        None => None,
    };
    let deployed = Deployed {
        template: body.as_deref(),
        parameters: compared.map(parameters_of).unwrap_or_default(),
        tags: compared.map(tags_of).unwrap_or_default(),
    };
    let proposed = Proposed {
        template: &stage.template.body,
        parameters: proposed_parameters(stage, outputs)?,
        tags: stage.tags.clone(),
    };
    let diff = template_diff::compare(&deployed, &proposed).map_err(|e| {
        fail(
            ExitKind::Deploy,
            format!("cannot diff stage {}: {e}", stage.name),
        )
    })?;
    show(&diff, progress);
    let mut changes: Vec<StackChange> = diff
        .resources
        .iter()
        .cloned()
        .map(StackChange::Resource)
        .collect();
    let live = existing
        .as_ref()
        .and_then(|s| s.enable_termination_protection())
        .unwrap_or(false);
    if let Some(action) = Protection::between(live, stage.termination_protection) {
        progress.line(&format!("~ {}", action.pending()));
        changes.push(StackChange::TerminationProtection { action });
    }
    Ok(TemplateOutcome {
        status: existing
            .as_ref()
            .map(stack::status_of)
            .unwrap_or_else(|| "NOT_DEPLOYED".into()),
        no_changes: diff.is_empty() && changes.is_empty(),
        changes,
        outputs: existing.as_ref().map(stack::outputs_of).unwrap_or_default(),
        info: DiffInfo {
            diff_method: DiffMethod::Template,
            diff_reason: Some(reason),
            diff_limits: LIMITS.to_vec(),
            template_diff: Some(diff),
        },
    })
}

async fn deployed_template(cfn: &Client, name: &str) -> Result<String> {
    let out = cfn
        .get_template()
        .stack_name(name)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .map_err(|e| {
            fail(
                ExitKind::Deploy,
                format!(
                    "cannot read the deployed template of {name}: {}",
                    describe_sdk_error(&e)
                ),
            )
        })?;
    Ok(out.template_body().unwrap_or_default().to_string())
}

fn parameters_of(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn tags_of(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The stage's parameters as a deploy would pass them; those naming an asset are unknown, since
/// assets are not published here.
fn proposed_parameters(
    stage: &Stage,
    outputs: &HashMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    for (k, v) in &stage.parameters {
        let value = if v.asset_references().next().is_some() {
            None
        } else {
            Some(
                v.resolve_with_assets(outputs, &BTreeMap::new())
                    .map_err(|e| fail(ExitKind::Deploy, format!("parameter {k}: {e}")))?,
            )
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

/// The diff in the stage's log: one line per resource, as a change set is shown, then names.
fn show(diff: &TemplateDiff, progress: &StageProgress) {
    for c in &diff.resources {
        let sign = match c.action.as_str() {
            "Add" => "+",
            "Remove" => "-",
            _ => "~",
        };
        let what = diff
            .modified
            .get(&c.logical_id)
            .map(|w| format!(" ({})", w.join(", ")))
            .unwrap_or_default();
        progress.line(&format!(
            "{sign} {} {}{what}",
            c.logical_id, c.resource_type
        ));
    }
    let names = [
        ("parameters changed", &diff.parameters_changed),
        ("parameters not compared", &diff.parameters_not_compared),
        ("stack tags changed", &diff.tags_changed),
        ("template sections changed", &diff.sections_changed),
    ];
    for (label, list) in names {
        if !list.is_empty() {
            progress.line(&format!("{label}: {}", list.join(", ")));
        }
    }
    progress
        .line("a template-level diff cannot show replacements or values resolved at deploy time");
}
