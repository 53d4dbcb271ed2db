//! Stage file → validated plan. Everything that can be checked without AWS is checked here, and
//! every problem found is reported at once, each naming the file, line, stage, field and fix.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

mod problems;

pub(crate) use problems::{Problem, Problems};

use crate::model::assets::{ASSET_ATTRIBUTES, AssetSpec, AssetTarget, Packaging};
use crate::model::cidr::Cidr;
use crate::model::env::{Environment, Region, is_account_id, is_region};
use crate::model::plan::{
    CheckPlan, Expectation, PeeringPlan, Piece, Plan, Stage, StageOverrides, Target, ValueExpr,
};
use crate::model::roles::{DEFAULT_QUALIFIER, StageRoles, is_qualifier};
use crate::model::template::{Template, TemplateError};
use crate::source::stagefile::{StageEntry, StageFile};
use crate::source::template;

/// Where environment overrides come from (the process environment in production).
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Reads and validates a stage file. Returns every problem found, or the plan.
pub(crate) fn load(path: &Path, env: &dyn Env) -> Result<Plan, Problems> {
    let problem = |field: &str, message: String, fix: &str| {
        Problems(vec![Problem {
            file: path.to_path_buf(),
            line: None,
            stage: None,
            field: field.to_string(),
            message,
            fix: fix.to_string(),
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| {
        problem(
            "(file)",
            format!("cannot read the stage file: {e}"),
            "pass an existing file with -f/--file",
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        let mut p = problem(
            "(file)",
            format!(
                "not valid UTF-8: byte 0x{:02X} at line {line}, column {column} (offset {at})",
                bytes[at]
            ),
            "save the stage file as UTF-8 (it looks like another encoding, e.g. Latin-1 or Shift_JIS)",
        );
        p.0[0].line = Some(line);
        p
    })?;
    parse(path, &text, env)
}

pub(crate) fn parse(path: &Path, text: &str, env: &dyn Env) -> Result<Plan, Problems> {
    let blank = |l: &str| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    };
    if text.lines().all(blank) {
        return Err(Problems(vec![Problem {
            file: path.to_path_buf(),
            line: None,
            stage: None,
            field: "(file)".into(),
            message: "the stage file is empty".into(),
            fix: "declare at least `version: 1`, `accounts:` and `stages:` (see README, \"Stage file\")".into(),
        }]));
    }
    let raw: StageFile = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let msg = e.to_string();
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
        Problems(vec![Problem {
            file: path.to_path_buf(),
            line,
            stage: None,
            field,
            message: msg,
            fix,
        }])
    })?;
    Validator::new(path, text, env).run(raw)
}

/// The name in `…prefix NAME\`…` of a serde message.
fn backticked<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    msg.split(prefix).nth(1)?.split('`').next()
}

/// The line of the `nth` `key:` at or after line `from`.
fn key_line(text: &str, key: &str, from: usize, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .filter(|(_, l)| {
            l.trim_start()
                .trim_start_matches("- ")
                .trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
        })
        .nth(nth - 1)
        .map(|(i, _)| i + 1)
}

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
            _ => {
                "give the value the type shown above (quote numbers meant as text, e.g. account ids)"
            }
        };
        return (field, fix.into());
    }
    (
        "(syntax)".into(),
        "fix the YAML syntax at the line shown".into(),
    )
}

struct Validator<'a> {
    path: &'a Path,
    env: &'a dyn Env,
    problems: Vec<Problem>,
    lines: LineIndex,
    /// Templates read so far: stages often share one.
    templates: HashMap<PathBuf, Result<Template, TemplateError>>,
    /// Stages whose `source:` is a cloud assembly stack, as that stack's converted stage.
    sourced: HashMap<String, Stage>,
}

/// Every `key:` of the file with its line, so finding where something is written costs a binary
/// search: scanning the file for each stage made a 5 MB stage file take many minutes.
#[derive(Default)]
struct LineIndex {
    by_key: HashMap<String, Vec<usize>>,
    by_key_value: HashMap<(String, String), Vec<usize>>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut index = LineIndex::default();
        for (i, l) in text.lines().enumerate() {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            // Each colon may end the key (keys themselves may contain colons).
            for (p, _) in l.match_indices(':') {
                let key = &l[..p];
                let value = l[p + 1..].trim().trim_matches(|c| c == '"' || c == '\'');
                index.by_key.entry(key.to_string()).or_default().push(i + 1);
                index
                    .by_key_value
                    .entry((key.to_string(), value.to_string()))
                    .or_default()
                    .push(i + 1);
            }
        }
        index
    }
}

impl<'a> Validator<'a> {
    fn new(path: &'a Path, text: &'a str, env: &'a dyn Env) -> Self {
        Validator {
            path,
            env,
            problems: Vec::new(),
            lines: LineIndex::new(text),
            templates: HashMap::new(),
            sourced: HashMap::new(),
        }
    }

    fn report(
        &mut self,
        line: Option<usize>,
        stage: Option<&str>,
        field: &str,
        message: String,
        fix: String,
    ) {
        self.problems.push(Problem {
            file: self.path.to_path_buf(),
            line,
            stage: stage.map(str::to_string),
            field: field.to_string(),
            message,
            fix,
        });
    }

    /// Line of the first `key: value` (or `- key: value`) at or after `from` whose value is `value`.
    fn line_of(&self, key: &str, value: Option<&str>, from: usize) -> Option<usize> {
        let lines = match value {
            None => self.lines.by_key.get(key)?,
            Some(v) => self
                .lines
                .by_key_value
                .get(&(key.to_string(), v.to_string()))?,
        };
        lines.get(lines.partition_point(|&l| l < from)).copied()
    }

    fn run(mut self, mut raw: StageFile) -> Result<Plan, Problems> {
        for s in &mut raw.stages {
            if let Some(src) = &s.source {
                if !s.template.is_empty() {
                    let line = self.line_of(
                        "source",
                        None,
                        self.line_of("name", Some(&s.name), 1).unwrap_or(1),
                    );
                    self.report(
                        line,
                        Some(&s.name),
                        "source",
                        "a stage takes its template from `template:` or from `source:`, not both"
                            .into(),
                        "remove one of them".into(),
                    );
                }
                // Names the template in messages about parameters and outputs.
                s.template = format!("{} (stack {})", src.app, src.stack);
            }
        }
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if raw.version != 1 {
            let line = self.line_of("version", None, 1);
            self.report(
                line,
                None,
                "version",
                format!("version {} is not supported", raw.version),
                "use `version: 1`".into(),
            );
        }
        let qualifier = raw
            .qualifier
            .clone()
            .unwrap_or_else(|| DEFAULT_QUALIFIER.to_string());
        if !is_qualifier(&qualifier) {
            let line = self.line_of("qualifier", None, 1);
            self.report(
                line,
                None,
                "qualifier",
                format!("'{qualifier}' is not a valid bootstrap qualifier"),
                "use 1 to 10 characters from A-Z a-z 0-9 _ - (the CDK default is hnb659fds)".into(),
            );
        }

        let accounts = self.accounts(&raw);
        let networks = self.networks(&raw);
        if raw.stages.is_empty() {
            let line = self.line_of("stages", None, 1);
            self.report(
                line,
                None,
                "stages",
                "no stages are declared".into(),
                "add at least one stage".into(),
            );
        }

        // Names first, so references can be checked whatever the order of the file.
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, s) in raw.stages.iter().enumerate() {
            let line = self.line_of("name", Some(&s.name), 1);
            if !valid_stage_name(&s.name) {
                self.report(
                    line,
                    Some(&s.name),
                    "name",
                    format!("'{}' is not a valid stage name", s.name),
                    "use letters, digits and '-' only, starting with a letter (it becomes part of the stack name)".into(),
                );
            }
            if names.insert(s.name.clone(), i).is_some() {
                self.report(
                    line,
                    Some(&s.name),
                    "name",
                    format!("stage '{}' is declared twice", s.name),
                    "give every stage a unique name".into(),
                );
            }
        }

        let templates: Vec<Option<Template>> =
            raw.stages.iter().map(|s| self.template(&dir, s)).collect();
        let mut stages = Vec::new();
        for (i, s) in raw.stages.iter().enumerate() {
            let stage_line = self.line_of("name", Some(&s.name), 1);
            let at = |v: &Validator, key: &str| {
                v.line_of(key, None, stage_line.unwrap_or(1)).or(stage_line)
            };
            let env = match accounts.get(&s.account) {
                Some(env) => {
                    let mut env = env.clone();
                    if let Some(region) = &s.region {
                        if let Ok(region) = Region::new(region) {
                            env = env.in_region(region);
                        } else {
                            let line = at(&self, "region");
                            self.report(
                                line,
                                Some(&s.name),
                                "region",
                                format!("'{region}' is not an AWS region name"),
                                "use a region such as ap-northeast-1 or us-east-1".into(),
                            );
                        }
                    }
                    Some(env)
                }
                None => {
                    let line = at(&self, "account");
                    let known: Vec<&str> = accounts.keys().map(String::as_str).collect();
                    self.report(
                        line,
                        Some(&s.name),
                        "account",
                        format!("account '{}' is not declared under `accounts:`", s.account),
                        format!(
                            "use one of: {} — or declare it under `accounts:`",
                            known.join(", ")
                        ),
                    );
                    None
                }
            };

            let mut deps: BTreeSet<usize> = BTreeSet::new();
            for d in &s.depends_on {
                match names.get(d) {
                    Some(&j) if j == i => {
                        let line = at(&self, "depends_on");
                        self.report(
                            line,
                            Some(&s.name),
                            "depends_on",
                            "a stage cannot depend on itself".into(),
                            format!("remove '{d}' from depends_on"),
                        );
                    }
                    Some(&j) => {
                        deps.insert(j);
                    }
                    None => {
                        let line = at(&self, "depends_on");
                        self.report(
                            line,
                            Some(&s.name),
                            "depends_on",
                            format!("stage '{d}' does not exist"),
                            format!("use one of: {}", sorted_names(&names).join(", ")),
                        );
                    }
                }
            }

            let mut parameters = BTreeMap::new();
            for (key, value) in &s.parameters {
                let field = format!("parameters.{key}");
                let line = at(&self, key);
                let Some(text) = scalar_text(value) else {
                    self.report(
                        line,
                        Some(&s.name),
                        &field,
                        "a parameter value must be a string, number, boolean or list of those"
                            .into(),
                        "write the value as text (lists become comma-separated)".into(),
                    );
                    continue;
                };
                match self.interpolate(&text, &accounts, &networks) {
                    Ok(expr) => {
                        for (name, _) in expr.asset_references() {
                            if !s.assets.contains_key(name) {
                                let declared: Vec<&str> =
                                    s.assets.keys().map(String::as_str).collect();
                                self.report(
                                    line,
                                    Some(&s.name),
                                    &field,
                                    format!("references asset '{name}', which stage '{}' does not declare", s.name),
                                    if declared.is_empty() {
                                        format!("declare it under the stage's `assets:` (e.g. `{name}: {{path: ./dist}}`)")
                                    } else {
                                        format!("use one of: {}", declared.join(", "))
                                    },
                                );
                            }
                        }
                        for (stage, output) in expr.references() {
                            self.check_output_reference(
                                stage, output, i, &names, &templates, line, &s.name, &field,
                            );
                            if let Some(&j) = names.get(stage)
                                && j != i
                            {
                                deps.insert(j);
                            }
                        }
                        parameters.insert(key.clone(), expr);
                    }
                    Err((message, fix)) => self.report(line, Some(&s.name), &field, message, fix),
                }
                if let Some(Some(t)) = templates.get(i)
                    && !t.parameters.contains_key(key)
                {
                    let declared: Vec<&str> = t.parameters.keys().map(String::as_str).collect();
                    self.report(
                        line,
                        Some(&s.name),
                        &field,
                        format!("template {} declares no parameter '{key}'", s.template),
                        if declared.is_empty() {
                            "remove it (the template takes no parameters)".into()
                        } else {
                            format!("use one of: {}", declared.join(", "))
                        },
                    );
                }
            }
            if let Some(Some(t)) = templates.get(i) {
                for (name, has_default) in &t.parameters {
                    let from_source = self
                        .sourced
                        .get(&s.name)
                        .is_some_and(|st| st.parameters.contains_key(name));
                    if !has_default && !s.parameters.contains_key(name) && !from_source {
                        let line = at(&self, "parameters");
                        self.report(
                            line,
                            Some(&s.name),
                            "parameters",
                            format!(
                                "template {} requires parameter '{name}' (it has no Default)",
                                s.template
                            ),
                            format!("add `{name}: <value>` under parameters"),
                        );
                    }
                }
                for output in s.publish_outputs.keys() {
                    if !t.outputs.contains(output) {
                        let line = at(&self, "publish_outputs");
                        self.report(
                            line,
                            Some(&s.name),
                            &format!("publish_outputs.{output}"),
                            format!("template {} declares no output '{output}'", s.template),
                            format!("publish one of: {}", join_set(&t.outputs)),
                        );
                    }
                }
            }
            for (output, param) in &s.publish_outputs {
                if !param.starts_with('/') || param.contains(char::is_whitespace) {
                    let line = at(&self, "publish_outputs");
                    self.report(
                        line,
                        Some(&s.name),
                        &format!("publish_outputs.{output}"),
                        format!("'{param}' is not a Parameter Store name"),
                        "use a path such as /project/env/vpc-c/id".into(),
                    );
                }
            }
            let sourced = self.sourced.remove(&s.name);
            let stack_name = s
                .stack_name
                .clone()
                .or_else(|| sourced.as_ref().map(|st| st.stack_name.clone()))
                .unwrap_or_else(|| s.name.clone());
            if !valid_stack_name(&stack_name) {
                let line = at(&self, "stack_name");
                self.report(
                    line,
                    Some(&s.name),
                    "stack_name",
                    format!("'{stack_name}' is not a valid CloudFormation stack name"),
                    "use up to 128 letters, digits and '-', starting with a letter".into(),
                );
            }
            let mut assets = self.assets(&dir, s, stage_line);
            let mut tags = s.tags.clone();
            let mut overrides = StageOverrides::default();
            let mut roles = None;
            let mut termination_protection = s.termination_protection;
            if let (Some(st), Some(env)) = (sourced, &env) {
                if st.env != *env {
                    let line = at(&self, "account");
                    self.report(
                        line,
                        Some(&s.name),
                        "account",
                        format!(
                            "the stage deploys to {env}, but stack {} of its cloud assembly was synthesized for {}",
                            st.name, st.env
                        ),
                        format!(
                            "use an account alias for {} (and `region: {}`), or set env on the stack and synthesize again",
                            st.env.account, st.env.region
                        ),
                    );
                }
                // The assembly's values, with the stage file's on top.
                for (k, v) in st.parameters {
                    parameters.entry(k).or_insert(v);
                }
                for (k, v) in st.tags {
                    tags.entry(k).or_insert(v);
                }
                assets.splice(0..0, st.assets);
                overrides = st.overrides;
                roles = Some(st.roles);
                termination_protection |= st.termination_protection;
            }
            if let (Some(env), Some(template)) = (env, templates[i].clone()) {
                let roles = roles.unwrap_or_else(|| StageRoles::conventional(&qualifier, &env));
                stages.push(Stage {
                    name: s.name.clone(),
                    env,
                    account_alias: s.account.clone(),
                    stack_name,
                    template,
                    parameters,
                    tags,
                    depends_on: deps.into_iter().collect(),
                    publish_outputs: s.publish_outputs.clone(),
                    termination_protection,
                    line: stage_line,
                    assets,
                    roles,
                    overrides,
                });
            }
        }

        // Two stages deploying the same stack would overwrite each other.
        let mut stacks: HashMap<(Environment, String), String> = HashMap::new();
        for s in &stages {
            if let Some(other) =
                stacks.insert((s.env.clone(), s.stack_name.clone()), s.name.clone())
            {
                self.report(
                    s.line,
                    Some(&s.name),
                    "stack_name",
                    format!(
                        "stage '{other}' already deploys stack '{}' to {}",
                        s.stack_name, s.env
                    ),
                    "give one of them a different stack_name".into(),
                );
            }
        }

        let peerings = self.peerings(&raw, &networks, &names, &templates);
        let checks = self.checks(&raw, &names, &templates);

        let waves = if self.problems.is_empty() {
            self.waves(&stages)
        } else {
            Vec::new()
        };
        if !self.problems.is_empty() {
            return Err(Problems(self.problems));
        }
        Ok(Plan {
            file: self.path.to_path_buf(),
            qualifier,
            stages,
            waves,
            peerings,
            checks,
        })
    }

    fn accounts(&mut self, raw: &StageFile) -> BTreeMap<String, Environment> {
        let mut out = BTreeMap::new();
        if raw.accounts.is_empty() {
            let line = self.line_of("accounts", None, 1);
            self.report(
                line,
                None,
                "accounts",
                "no accounts are declared".into(),
                "add e.g. `A: {id: \"111111111111\", region: ap-northeast-1}` under accounts"
                    .into(),
            );
        }
        for (alias, entry) in &raw.accounts {
            let upper = env_suffix(alias);
            let id_var = format!("PIPELINE_RUN_ACCOUNT_{upper}");
            let region_var = format!("PIPELINE_RUN_REGION_{upper}");
            let (id, id_from_env) = match self.env.var(&id_var) {
                Some(v) => (v, true),
                None => (entry.id.clone(), false),
            };
            let (region, region_from_env) = match self.env.var(&region_var) {
                Some(v) => (v, true),
                None => (entry.region.clone(), false),
            };
            let alias_line = self.line_of(alias, None, 1);
            if !is_account_id(&id) {
                let (line, source) = if id_from_env {
                    (None, format!(" (from {id_var})"))
                } else {
                    (
                        self.line_of("id", None, alias_line.unwrap_or(1)),
                        String::new(),
                    )
                };
                self.report(
                    line,
                    None,
                    &format!("accounts.{alias}.id"),
                    format!("'{id}'{source} is not an AWS account id"),
                    "use the 12-digit account id, quoted (e.g. \"111111111111\")".into(),
                );
            }
            if !is_region(&region) {
                let (line, source) = if region_from_env {
                    (None, format!(" (from {region_var})"))
                } else {
                    (
                        self.line_of("region", None, alias_line.unwrap_or(1)),
                        String::new(),
                    )
                };
                self.report(
                    line,
                    None,
                    &format!("accounts.{alias}.region"),
                    format!("'{region}'{source} is not an AWS region name"),
                    "use a region such as ap-northeast-1 or us-east-1".into(),
                );
            }
            out.insert(alias.clone(), Environment::unvalidated(&id, &region));
        }
        out
    }

    fn networks(&mut self, raw: &StageFile) -> BTreeMap<String, Cidr> {
        let mut out = BTreeMap::new();
        for (name, entry) in &raw.networks {
            match entry.cidr.parse::<Cidr>() {
                Ok(c) => {
                    out.insert(name.clone(), c);
                }
                Err(e) => {
                    let line = self.line_of(name, None, 1);
                    self.report(
                        line,
                        None,
                        &format!("networks.{name}.cidr"),
                        format!("'{}' is not an IPv4 CIDR: {e}", entry.cidr),
                        "write it as a.b.c.d/n, e.g. 10.0.0.0/16".into(),
                    );
                }
            }
        }
        out
    }

    /// Stage-file assets: every path must exist and suit its packaging, so nothing fails halfway.
    fn assets(&mut self, dir: &Path, s: &StageEntry, stage_line: Option<usize>) -> Vec<AssetSpec> {
        use Packaging;
        let mut out = Vec::new();
        for (name, entry) in &s.assets {
            let field = format!("assets.{name}");
            let line = self
                .line_of(name, None, stage_line.unwrap_or(1))
                .or(stage_line);
            if !valid_asset_name(name) {
                self.report(
                    line,
                    Some(&s.name),
                    &field,
                    format!("'{name}' is not a valid asset name"),
                    "use letters, digits, '-' and '_' only, starting with a letter (it is referenced as ${assets.NAME.key})".into(),
                );
                continue;
            }
            let source = dir.join(&entry.path);
            let meta = match std::fs::metadata(&source) {
                Ok(m) => m,
                Err(e) => {
                    self.report(
                        line,
                        Some(&s.name),
                        &format!("{field}.path"),
                        format!(
                            "{}: {}",
                            entry.path,
                            if e.kind() == std::io::ErrorKind::NotFound {
                                "not found".to_string()
                            } else {
                                e.to_string()
                            }
                        ),
                        format!(
                            "create {} or correct the path (relative to the stage file)",
                            source.display()
                        ),
                    );
                    continue;
                }
            };
            let packaging = match entry.packaging.as_deref() {
                None if meta.is_dir() => Packaging::Zip,
                None => Packaging::File,
                Some("zip") => Packaging::Zip,
                Some("file") => Packaging::File,
                Some(other) => {
                    self.report(
                        line,
                        Some(&s.name),
                        &format!("{field}.packaging"),
                        format!("'{other}' is not a packaging"),
                        "use `zip` (a directory, zipped) or `file` (uploaded as is), or leave it out".into(),
                    );
                    continue;
                }
            };
            let mismatch = match packaging {
                Packaging::Zip if !meta.is_dir() => Some(format!(
                    "{} is a file, but packaging `zip` zips a directory",
                    entry.path
                )),
                Packaging::File if meta.is_dir() => Some(format!(
                    "{} is a directory, but packaging `file` uploads one file",
                    entry.path
                )),
                _ => None,
            };
            if let Some(message) = mismatch {
                self.report(
                    line,
                    Some(&s.name),
                    &format!("{field}.packaging"),
                    message,
                    "leave `packaging` out (zip for a directory, file for a file), or point `path` at the right kind".into(),
                );
                continue;
            }
            out.push(AssetSpec {
                name: name.clone(),
                source,
                packaging,
                target: AssetTarget::Staging,
            });
        }
        out
    }

    fn template(&mut self, dir: &Path, s: &StageEntry) -> Option<Template> {
        if let Some(src) = &s.source {
            return self.source(dir, s, src);
        }
        if s.template.is_empty() {
            let line = self.line_of("name", Some(&s.name), 1);
            self.report(
                line,
                Some(&s.name),
                "template",
                "the stage has no template".into(),
                "add `template: path/to/template.yml`, or `source: {app: cdk.out, stack: StackId}`"
                    .into(),
            );
            return None;
        }
        let path = dir.join(&s.template);
        let stage_line = self.line_of("name", Some(&s.name), 1);
        let line = self
            .line_of("template", None, stage_line.unwrap_or(1))
            .or(stage_line);
        let loaded = self
            .templates
            .entry(path.clone())
            .or_insert_with(|| template::load(&path))
            .clone();
        match loaded {
            Ok(t) => Some(t),
            Err(reason) => {
                let fix = reason.fix(&path);
                self.report(
                    line,
                    Some(&s.name),
                    "template",
                    format!("{}: {reason}", s.template),
                    fix,
                );
                None
            }
        }
    }

    /// The template of a cloud assembly stack; its roles, assets and parameters are kept for the
    /// stage in `sourced`.
    fn source(
        &mut self,
        dir: &Path,
        s: &StageEntry,
        src: &crate::source::stagefile::SourceEntry,
    ) -> Option<Template> {
        let stage_line = self.line_of("name", Some(&s.name), 1);
        let line = self
            .line_of("source", None, stage_line.unwrap_or(1))
            .or(stage_line);
        let plan = match crate::source::cdk::stages::load_plan(&dir.join(&src.app)) {
            Ok(plan) => plan,
            Err(e) => {
                self.report(
                    line,
                    Some(&s.name),
                    "source.app",
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
        match plan.stages.into_iter().find(|st| st.name == src.stack) {
            Some(stack) => {
                let template = stack.template.clone();
                self.sourced.insert(s.name.clone(), stack);
                Some(template)
            }
            None => {
                self.report(
                    line,
                    Some(&s.name),
                    "source.stack",
                    format!(
                        "the cloud assembly {} has no stack '{}'",
                        src.app, src.stack
                    ),
                    format!("use one of: {}", names.join(", ")),
                );
                None
            }
        }
    }

    fn interpolate(
        &self,
        text: &str,
        accounts: &BTreeMap<String, Environment>,
        networks: &BTreeMap<String, Cidr>,
    ) -> Result<ValueExpr, (String, String)> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!x}` is CloudFormation's escape for a literal `${x}`; keep the same rule.
            if let Some(escaped) = after.strip_prefix('!') {
                literal.push_str("${");
                rest = escaped;
                continue;
            }
            let end = after.find('}').ok_or_else(|| {
                (
                    format!("unclosed reference in '{text}'"),
                    "close it with '}', e.g. ${VpcC.VpcId}".to_string(),
                )
            })?;
            let reference = &after[..end];
            let parts: Vec<&str> = reference.split('.').collect();
            match parts.as_slice() {
                ["accounts", alias, attr] => {
                    let env = accounts.get(*alias).ok_or_else(|| {
                        (
                            format!("'${{{reference}}}' names no declared account"),
                            "use an alias declared under `accounts:`".to_string(),
                        )
                    })?;
                    match *attr {
                        "id" => literal.push_str(&env.account),
                        "region" => literal.push_str(&env.region),
                        _ => {
                            return Err((
                                format!("'${{{reference}}}': accounts have 'id' and 'region'"),
                                "use ${accounts.ALIAS.id} or ${accounts.ALIAS.region}".into(),
                            ));
                        }
                    }
                }
                ["assets", name, attr] => {
                    if !ASSET_ATTRIBUTES.contains(attr) {
                        return Err((
                            format!(
                                "'${{{reference}}}': assets have {}",
                                ASSET_ATTRIBUTES.join(", ")
                            ),
                            format!("use e.g. ${{assets.{name}.key}}"),
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Asset {
                        name: name.to_string(),
                        attr: attr.to_string(),
                    });
                }
                ["networks", name, "cidr"] => {
                    let cidr = networks.get(*name).ok_or_else(|| {
                        (
                            format!("'${{{reference}}}' names no declared network"),
                            "declare it under `networks:`".to_string(),
                        )
                    })?;
                    literal.push_str(&cidr.to_string());
                }
                [stage, output] if !stage.is_empty() && !output.is_empty() => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Output {
                        stage: stage.to_string(),
                        output: output.to_string(),
                    });
                }
                _ => {
                    return Err((
                        format!("'${{{reference}}}' is not a reference pipeline-run understands"),
                        "use ${Stage.Output}, ${accounts.ALIAS.id|region}, ${networks.NAME.cidr} or ${assets.NAME.key|bucket|s3_url|url}"
                            .into(),
                    ));
                }
            }
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(ValueExpr(pieces))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_output_reference(
        &mut self,
        stage: &str,
        output: &str,
        from: usize,
        names: &HashMap<String, usize>,
        templates: &[Option<Template>],
        line: Option<usize>,
        from_name: &str,
        field: &str,
    ) {
        match names.get(stage) {
            None => self.report(
                line,
                Some(from_name),
                field,
                format!("references stage '{stage}', which does not exist"),
                format!("use one of: {}", sorted_names(names).join(", ")),
            ),
            Some(&j) if j == from => self.report(
                line,
                Some(from_name),
                field,
                format!("references its own output '{output}'"),
                "a stage can only use outputs of other stages".into(),
            ),
            Some(&j) => {
                if let Some(Some(t)) = templates.get(j)
                    && !t.outputs.contains(output)
                {
                    self.report(
                        line,
                        Some(from_name),
                        field,
                        format!(
                            "stage '{stage}' has no output '{output}' (template {})",
                            t.path.display()
                        ),
                        format!("use one of: {}", join_set(&t.outputs)),
                    );
                }
            }
        }
    }

    fn peerings(
        &mut self,
        raw: &StageFile,
        networks: &BTreeMap<String, Cidr>,
        names: &HashMap<String, usize>,
        templates: &[Option<Template>],
    ) -> Vec<PeeringPlan> {
        let mut out = Vec::new();
        for (k, p) in raw.peerings.iter().enumerate() {
            let field = format!("peerings[{k}]");
            let line = self.line_of(
                "between",
                None,
                self.line_of("peerings", None, 1).unwrap_or(1),
            );
            if p.between.len() != 2 {
                self.report(
                    line,
                    None,
                    &format!("{field}.between"),
                    "a peering joins exactly two networks".into(),
                    "write `between: [NetA, NetB]`".into(),
                );
                continue;
            }
            let mut cidrs = Vec::new();
            for n in &p.between {
                match networks.get(n) {
                    Some(c) => cidrs.push(*c),
                    None => self.report(
                        line,
                        None,
                        &format!("{field}.between"),
                        format!("network '{n}' is not declared"),
                        "declare it under `networks:` with its cidr".into(),
                    ),
                }
            }
            if let [a, b] = cidrs.as_slice()
                && a.overlaps(b)
            {
                self.report(
                    line,
                    None,
                    &format!("{field}.between"),
                    format!(
                        "{} ({a}) and {} ({b}) overlap; AWS refuses to peer overlapping VPCs",
                        p.between[0], p.between[1]
                    ),
                    "give the two networks disjoint ranges under `networks:`".into(),
                );
            }
            let connection = match &p.connection {
                Some(c) => match c.split_once('.') {
                    Some((stage, output)) => {
                        let l = self.line_of("connection", None, line.unwrap_or(1));
                        self.check_output_reference(
                            stage,
                            output,
                            usize::MAX,
                            names,
                            templates,
                            l,
                            "(peerings)",
                            &format!("{field}.connection"),
                        );
                        Some((stage.to_string(), output.to_string()))
                    }
                    None => {
                        self.report(line, None, &format!("{field}.connection"), format!("'{c}' is not Stage.Output"), "name the output holding the peering id, e.g. CrossAccountPeering.PeeringConnectionId".into());
                        None
                    }
                },
                None => None,
            };
            if p.allow_dns_resolution && connection.is_none() {
                self.report(
                    line,
                    None,
                    &format!("{field}.allow_dns_resolution"),
                    "DNS resolution needs to know which peering to change".into(),
                    "add `connection: Stage.Output` naming the peering id".into(),
                );
            }
            out.push(PeeringPlan {
                connection,
                allow_dns_resolution: p.allow_dns_resolution,
            });
        }
        out
    }

    fn checks(
        &mut self,
        raw: &StageFile,
        names: &HashMap<String, usize>,
        templates: &[Option<Template>],
    ) -> Vec<CheckPlan> {
        let Some(verify) = &raw.verify else {
            return Vec::new();
        };
        let default_count = verify.count.unwrap_or(3);
        let default_timeout = verify.timeout_seconds.unwrap_or(2);
        let verify_line = self.line_of("verify", None, 1).unwrap_or(1);
        let mut out = Vec::new();
        for (k, c) in verify.checks.iter().enumerate() {
            let field = format!("verify.checks[{k}]");
            let line = self.line_of("from", Some(&c.from), verify_line);
            let expect = match c.expect.as_str() {
                "reachable" => Expectation::Reachable,
                "unreachable" => Expectation::Unreachable,
                other => {
                    self.report(
                        line,
                        None,
                        &format!("{field}.expect"),
                        format!("'{other}' is not an expectation"),
                        "use `reachable` or `unreachable`".into(),
                    );
                    continue;
                }
            };
            let Some((from_stage, from_output)) = c.from.split_once('.') else {
                self.report(
                    line,
                    None,
                    &format!("{field}.from"),
                    format!("'{}' is not Stage.Output", c.from),
                    "name the output holding the instance id, e.g. VpcA.InstanceAId".into(),
                );
                continue;
            };
            self.check_output_reference(
                from_stage,
                from_output,
                usize::MAX,
                names,
                templates,
                line,
                "(verify)",
                &format!("{field}.from"),
            );
            let to =
                if let Ok(ip) = c.to.parse::<Ipv4Addr>() {
                    Target::Ip(ip)
                } else if let Some((stage, output)) = c.to.split_once('.').filter(|(s, _)| {
                    names.contains_key(*s) || !s.chars().all(|ch| ch.is_ascii_digit())
                }) {
                    self.check_output_reference(
                        stage,
                        output,
                        usize::MAX,
                        names,
                        templates,
                        line,
                        "(verify)",
                        &format!("{field}.to"),
                    );
                    Target::Output {
                        stage: stage.to_string(),
                        output: output.to_string(),
                    }
                } else {
                    self.report(
                        line,
                        None,
                        &format!("{field}.to"),
                        format!("'{}' is neither an IPv4 address nor Stage.Output", c.to),
                        "use e.g. 10.2.0.10 or VpcC.InstanceCPrivateIp".into(),
                    );
                    continue;
                };
            let count = c.count.unwrap_or(default_count);
            let timeout_seconds = c.timeout_seconds.unwrap_or(default_timeout);
            if !(1..=100).contains(&count) || !(1..=60).contains(&timeout_seconds) {
                self.report(
                    line,
                    None,
                    &field,
                    "count must be 1..100 and timeout_seconds 1..60".into(),
                    "use small values, e.g. count: 3, timeout_seconds: 2".into(),
                );
            }
            out.push(CheckPlan {
                name: c
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{} → {}", c.from, c.to)),
                from_stage: from_stage.to_string(),
                from_output: from_output.to_string(),
                to,
                expect,
                count,
                timeout_seconds,
            });
        }
        out
    }

    /// Kahn's algorithm; a leftover set is a cycle, reported with its members.
    fn waves(&mut self, stages: &[Stage]) -> Vec<Vec<usize>> {
        let n = stages.len();
        let mut remaining: Vec<usize> = stages.iter().map(|s| s.depends_on.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, s) in stages.iter().enumerate() {
            for &d in &s.depends_on {
                dependents[d].push(i);
            }
        }
        let mut done = vec![false; n];
        let mut waves = Vec::new();
        let mut wave: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
        while !wave.is_empty() {
            let mut next = Vec::new();
            for &i in &wave {
                done[i] = true;
                for &j in &dependents[i] {
                    remaining[j] -= 1;
                    if remaining[j] == 0 {
                        next.push(j);
                    }
                }
            }
            next.sort_unstable();
            waves.push(std::mem::replace(&mut wave, next));
        }
        if let Some(start) = (0..n).find(|&i| !done[i]) {
            // A blocked stage always waits for another blocked one: follow those waits from the
            // first until a stage repeats, and the loop from there is a cycle, in waiting order.
            let mut path = vec![start];
            let cycle = loop {
                let current = *path.last().unwrap();
                let Some(next) = stages[current]
                    .depends_on
                    .iter()
                    .copied()
                    .find(|&d| !done[d])
                else {
                    break path.clone();
                };
                if let Some(k) = path.iter().position(|&p| p == next) {
                    break path[k..].to_vec();
                }
                path.push(next);
            };
            let mut names: Vec<&str> = cycle.iter().map(|&i| stages[i].name.as_str()).collect();
            names.push(names[0]);
            let blocked: Vec<&str> = (0..n)
                .filter(|&i| !done[i] && !cycle.contains(&i))
                .map(|i| stages[i].name.as_str())
                .collect();
            let first = &stages[cycle[0]];
            self.report(
                first.line,
                Some(&first.name),
                "depends_on",
                format!(
                    "dependency cycle among stages: {} (each waits for the next, through depends_on or an output reference){}",
                    names.join(" → "),
                    if blocked.is_empty() {
                        String::new()
                    } else {
                        format!("; also blocked by it: {}", blocked.join(", "))
                    }
                ),
                "remove a depends_on entry or an output reference so the stages can be ordered"
                    .into(),
            );
        }
        waves
    }
}

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

fn sorted_names(names: &HashMap<String, usize>) -> Vec<String> {
    let mut v: Vec<(usize, String)> = names.iter().map(|(k, &i)| (i, k.clone())).collect();
    v.sort();
    v.into_iter().map(|(_, k)| k).collect()
}

fn join_set(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "(the template declares no outputs)".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn env_suffix(alias: &str) -> String {
    alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn valid_stage_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.len() <= 128
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_asset_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_stack_name(n: &str) -> bool {
    valid_stage_name(n)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod asset_tests;
