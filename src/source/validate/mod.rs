//! Stage file → validated plan. Everything that can be checked without AWS is checked here, and
//! every problem found is reported at once, each naming the file, line, stage, field and fix.
//!
//! One pass per concern, in the order their problems are listed: `templates` (which stages take
//! a cloud assembly stack), the version, qualifier and parameter prefix (here), `accounts`,
//! `network` (ranges), `stages` (names), `templates` (loaded once each), then per stage
//! `stages::stage` (account, dependencies, `parameters`, outputs and their Parameter Store names,
//! stack name, `assets`, cloud assembly), then duplicate
//! stacks, `network` (peerings, checks), `stack_refs` (`Fn::GetStackOutput` of the templates: dependencies
//! and checks) and `graph` (waves). `problems` collects what they find,
//! `lines` says where it is written, `yaml` explains a file that does not parse, `refs` reads
//! `${…}` references.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod accounts;
mod assets;
mod graph;
mod lines;
mod network;
mod parameters;
mod problems;
mod refs;
mod stack_refs;
mod stages;
mod templates;
mod yaml;

pub(crate) use accounts::{Env, ProcessEnv};
pub(crate) use problems::Problems;

use crate::model::cidr::Cidr;
use crate::model::plan::Plan;
use crate::model::roles::{
    DEFAULT_PARAMETER_PREFIX, DEFAULT_QUALIFIER, is_parameter_prefix, is_qualifier,
    parameter_namespace,
};
use crate::model::template::Template;
use crate::source::limits::{AliasBlowup, STAGE_FILE_LIMIT, check_yaml_expansion, read_limited};
use crate::source::stagefile::StageFile;
use accounts::Account;
use problems::Cx;
use stages::StageNames;

/// Reads and validates a stage file. Returns every problem found, or the plan.
pub(crate) fn load(path: &Path, env: &dyn Env) -> Result<Plan, Problems> {
    let bytes = read_limited(path, STAGE_FILE_LIMIT)
        .map_err(|e| {
            Problems::one(path, None, |p| {
                p.field("(file)").report(
                    format!("cannot read the stage file: {e}"),
                    "pass an existing file with -f/--file",
                )
            })
        })?
        .map_err(|too_large| {
            Problems::one(path, None, |p| {
                p.field("(file)").report(
                    format!("the stage file is too large: {too_large}"),
                    "a stage file describes stages, not data: move large values into templates or parameters files (split the pipeline into several stage files if it is really this big)",
                )
            })
        })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        Problems::one(path, Some(line), |p| {
            p.field("(file)").report(
                format!(
                    "not valid UTF-8: byte 0x{:02X} at line {line}, column {column} (offset {at})",
                    bytes[at]
                ),
                "save the stage file as UTF-8 (it looks like another encoding, e.g. Latin-1 or Shift_JIS)",
            )
        })
    })?;
    parse(path, &text, env)
}

fn parse(path: &Path, text: &str, env: &dyn Env) -> Result<Plan, Problems> {
    let blank = |l: &str| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    };
    if text.lines().all(blank) {
        return Err(Problems::one(path, None, |p| {
            p.field("(file)").report(
                "the stage file is empty",
                "declare at least `version: 1`, `accounts:` and `stages:` (see README, \"Stage file\")",
            )
        }));
    }
    if let Err(blowup) = check_yaml_expansion(text) {
        return Err(Problems::one(path, blowup.alias_line, |p| {
            p.field("(file)")
                .report(format!("{blowup}"), AliasBlowup::FIX)
        }));
    }
    let raw: StageFile = serde_yaml::from_str(text).map_err(|e| yaml::problem(path, text, &e))?;
    validate(Cx::new(path, text), env, raw)
}

/// What the first passes found, for the later ones to check against.
struct Known {
    /// The stage file's directory: templates and assets are relative to it.
    dir: PathBuf,
    /// Where assets must stay, resolved (`asset_root`, else `dir`); None if it is unusable.
    asset_root: Option<assets::AssetRoot>,
    qualifier: String,
    /// Where `publish_outputs` names must be: `<parameter_prefix>/<qualifier>/`.
    parameter_namespace: String,
    accounts: BTreeMap<String, Account>,
    networks: BTreeMap<String, Cidr>,
    names: StageNames,
    /// Each stage's template, by index; None if it has none or it could not be read.
    templates: Vec<Option<Template>>,
}

fn validate(mut cx: Cx, env: &dyn Env, mut raw: StageFile) -> Result<Plan, Problems> {
    templates::mark_sourced(&mut cx, &mut raw.stages);
    let dir = cx
        .file()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let qualifier = header(&mut cx, &raw);
    let parameter_namespace = parameter_prefix(&mut cx, &raw, &qualifier);
    let accounts = accounts::accounts(&mut cx, env, &raw.accounts);
    let networks = network::networks(&mut cx, &raw.networks);
    let names = stages::names(&mut cx, &raw.stages);
    let (templates, mut sourced) = templates::load_all(&mut cx, &dir, &raw.stages);
    let asset_root = assets::root(&mut cx, &dir, raw.asset_root.as_deref());
    let known = Known {
        dir,
        asset_root,
        qualifier,
        parameter_namespace,
        accounts,
        networks,
        names,
        templates,
    };

    let mut stages = Vec::new();
    let mut placed = Vec::new();
    for (i, s) in raw.stages.iter().enumerate() {
        let (stage, placement) = stages::stage(&mut cx, &known, &mut sourced, i, s);
        stages.extend(stage);
        placed.extend(placement);
    }
    stages::duplicate_stacks(&mut cx, &placed);
    let peerings = network::peerings(&mut cx, &known, &raw.peerings);
    let checks = network::checks(&mut cx, &known, raw.verify.as_ref());
    stack_refs::link(&mut cx, &raw.stages, &mut stages, &known.qualifier);
    let waves = if cx.is_clean() {
        graph::waves(&mut cx, &stages)
    } else {
        Vec::new()
    };
    let file = cx.file().to_path_buf();
    cx.finish(Plan {
        file,
        qualifier: known.qualifier,
        stages,
        waves,
        peerings,
        checks,
        warnings: Vec::new(),
    })
}

/// `version:` and `qualifier:`; the qualifier of the plan.
fn header(cx: &mut Cx, raw: &StageFile) -> String {
    if raw.version != 1 {
        cx.at(cx.line_of("version", None, 1))
            .field("version")
            .report(
                format!("version {} is not supported", raw.version),
                "use `version: 1`",
            );
    }
    let qualifier = raw
        .qualifier
        .clone()
        .unwrap_or_else(|| DEFAULT_QUALIFIER.to_string());
    if !is_qualifier(&qualifier) {
        cx.at(cx.line_of("qualifier", None, 1))
            .field("qualifier")
            .report(
                format!("'{qualifier}' is not a valid bootstrap qualifier"),
                "use 1 to 10 characters from A-Z a-z 0-9 _ - (the CDK default is hnb659fds)",
            );
    }
    qualifier
}

/// `parameter_prefix:`; the namespace `publish_outputs` names must be in.
fn parameter_prefix(cx: &mut Cx, raw: &StageFile, qualifier: &str) -> String {
    let prefix = raw
        .parameter_prefix
        .as_deref()
        .unwrap_or(DEFAULT_PARAMETER_PREFIX);
    if !is_parameter_prefix(prefix) {
        cx.at(cx.line_of("parameter_prefix", None, 1))
            .field("parameter_prefix")
            .report(
                format!("'{prefix}' is not a usable Parameter Store prefix"),
                format!(
                    "use a path such as {DEFAULT_PARAMETER_PREFIX} (the default): '/'-separated segments of A-Z a-z 0-9 _ . -, no trailing '/', not under /aws, /ssm or /cdk-bootstrap, equal to the bootstrap's ParameterStorePrefix"
                ),
            );
    }
    parameter_namespace(prefix, qualifier)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod asset_tests;
