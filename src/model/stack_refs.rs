//! CloudFormation's `Fn::GetStackOutput` (a weak reference to another stack's output, read by
//! CloudFormation at create/update, across accounts and regions through a `RoleArn`): found in a
//! template (`find`), then linked to the stages of a plan (`link`): a reference to a stack the
//! plan deploys makes the consumer wait for it, and is checked (output declared, role known).
//! Syntax: `{"Fn::GetStackOutput": {"StackName", "OutputName", "Region"?, "RoleArn"?}}`, YAML
//! short form `!GetStackOutput` (README, "Fn::GetStackOutput", has the sources). No I/O.

use serde_yaml::Value;

use super::env::Environment;
use super::plan::Stage;
use super::roles::{BootstrapRole, RoleRef};

const FUNCTION: &str = "Fn::GetStackOutput";
const SHORT_TAG: &str = "GetStackOutput";
const KEYS: [&str; 4] = ["StackName", "OutputName", "Region", "RoleArn"];

/// One argument: literal text, or an intrinsic function (`!Ref`, `!Sub`, …) evaluated where the
/// pseudo parameters allow it (`literal`) and otherwise only by CloudFormation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Literal(String),
    Expr(Value),
}

/// One `Fn::GetStackOutput` of a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StackRef {
    pub(crate) stack_name: Option<Arg>,
    pub(crate) output_name: Option<Arg>,
    /// None: the consumer's region.
    pub(crate) region: Option<Arg>,
    /// None: CloudFormation reads with the consumer's execution role (same account only).
    pub(crate) role_arn: Option<Arg>,
    /// Where it is used: `Resources.Topic`, `Outputs.Url`, …
    pub(crate) location: String,
    /// Its line in the template (1-based), when the text shows it.
    pub(crate) line: Option<usize>,
    /// What is wrong with its form (not a mapping, a key missing or unknown).
    pub(crate) malformed: Option<String>,
}

/// Every `Fn::GetStackOutput` of the template `doc` (parsed from `body`), in document order.
pub(crate) fn find(doc: &Value, body: &str) -> Vec<StackRef> {
    let mut found = Vec::new();
    for section in ["Resources", "Outputs", "Conditions"] {
        if let Some(Value::Mapping(m)) = doc.get(section) {
            for (k, v) in m {
                let location = format!("{section}.{}", k.as_str().unwrap_or("?"));
                walk(v, &location, &mut found);
            }
        }
    }
    // serde_yaml keeps no positions: the n-th use is on the line of the n-th mention in the text.
    let lines: Vec<usize> = body
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(SHORT_TAG) && !l.trim_start().starts_with('#'))
        .flat_map(|(i, l)| std::iter::repeat_n(i + 1, l.matches(SHORT_TAG).count()))
        .collect();
    if lines.len() == found.len() {
        for (r, line) in found.iter_mut().zip(lines) {
            r.line = Some(line);
        }
    }
    found
}

fn walk(v: &Value, location: &str, found: &mut Vec<StackRef>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                if k.as_str() == Some(FUNCTION) {
                    found.push(parse_args(child, location));
                }
                walk(child, location, found);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|c| walk(c, location, found)),
        Value::Tagged(t) => {
            if t.tag == SHORT_TAG {
                found.push(parse_args(&t.value, location));
            }
            walk(&t.value, location, found);
        }
        _ => {}
    }
}

fn parse_args(args: &Value, location: &str) -> StackRef {
    let mut r = StackRef {
        stack_name: None,
        output_name: None,
        region: None,
        role_arn: None,
        location: location.to_string(),
        line: None,
        malformed: None,
    };
    let Value::Mapping(m) = args else {
        r.malformed = Some(
            "its argument must be a mapping of StackName, OutputName and optionally Region and RoleArn"
                .to_string(),
        );
        return r;
    };
    let arg = |key: &str| {
        m.get(key).map(|v| match v {
            Value::String(s) => Arg::Literal(s.clone()),
            other => Arg::Expr(other.clone()),
        })
    };
    r.stack_name = arg("StackName");
    r.output_name = arg("OutputName");
    r.region = arg("Region");
    r.role_arn = arg("RoleArn");
    let unknown: Vec<String> = m
        .keys()
        .map(|k| k.as_str().unwrap_or("?").to_string())
        .filter(|k| !KEYS.contains(&k.as_str()))
        .collect();
    let missing: Vec<&str> = [("StackName", &r.stack_name), ("OutputName", &r.output_name)]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        r.malformed = Some(format!("{} is required", missing.join(" and ")));
    } else if !unknown.is_empty() {
        r.malformed = Some(format!(
            "unknown key {} (it takes StackName, OutputName, Region, RoleArn)",
            unknown.join(", ")
        ));
    }
    r
}

/// The text of `arg` in `env`, when it is literal or a `Fn::Sub`/`Fn::Join`/`Ref` of literals and
/// the pseudo parameters `AWS::Partition`, `AWS::Region`, `AWS::AccountId`, `AWS::URLSuffix`
/// (as the CDK writes ARNs); None when only CloudFormation can resolve it.
pub(crate) fn literal(arg: &Arg, env: &Environment) -> Option<String> {
    match arg {
        Arg::Literal(s) => Some(s.clone()),
        Arg::Expr(v) => eval(v, env),
    }
}

fn pseudo(name: &str, env: &Environment) -> Option<String> {
    match name {
        "AWS::Partition" => Some(env.partition().to_string()),
        "AWS::Region" => Some(env.region.to_string()),
        "AWS::AccountId" => Some(env.account.to_string()),
        "AWS::URLSuffix" => Some(if env.partition() == "aws-cn" {
            "amazonaws.com.cn".to_string()
        } else {
            "amazonaws.com".to_string()
        }),
        _ => None,
    }
}

fn eval(v: &Value, env: &Environment) -> Option<String> {
    let (function, args) = match v {
        Value::String(s) => return Some(s.clone()),
        Value::Tagged(t) => (
            format!("Fn::{}", t.tag.to_string().trim_start_matches('!')),
            &t.value,
        ),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, a) = m.iter().next()?;
            (k.as_str()?.to_string(), a)
        }
        _ => return None,
    };
    match function.as_str() {
        "Ref" | "Fn::Ref" => pseudo(args.as_str()?, env),
        "Fn::Sub" => {
            let text = args.as_str()?;
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}')? + start;
                out.push_str(&pseudo(&rest[start + 2..end], env)?);
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            Some(out)
        }
        "Fn::Join" => {
            let parts = args.as_sequence()?;
            let (sep, items) = (parts.first()?.as_str()?, parts.get(1)?.as_sequence()?);
            let items: Option<Vec<String>> = items.iter().map(|i| eval(i, env)).collect();
            Some(items?.join(sep))
        }
        _ => None,
    }
}

/// The account of a role ARN `arn:PARTITION:iam::ACCOUNT:role/NAME`.
pub(crate) fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, _, service, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn_ == "arn" && service == "iam" && resource.starts_with("role/") && account.len() == 12)
        .then_some(account)
}

/// The role a reference reads through, as `list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RefRole {
    /// No RoleArn: the consumer's CloudFormation execution role (same account).
    ExecutionRole,
    /// The producer environment's stack-reference role (`bootstrap --trust-for-stack-refs`).
    StackRef(String),
    /// A role of the plan (the producer's lookup role, or another the plan names).
    Plan(BootstrapRole, String),
    /// A role pipeline-run cannot name statically.
    Unresolved,
}

impl RefRole {
    pub(crate) fn describe(&self) -> String {
        match self {
            RefRole::ExecutionRole => "the stage's execution role (no RoleArn)".to_string(),
            RefRole::StackRef(arn) => format!("stack-ref role {arn}"),
            RefRole::Plan(kind, arn) => format!("{} role {arn}", kind.short_name()),
            RefRole::Unresolved => "a RoleArn only CloudFormation resolves".to_string(),
        }
    }
}

/// A reference of a stage's template, as linked to the plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StackRefUse {
    pub(crate) location: String,
    /// The stack, output and environment it reads, as far as known statically.
    pub(crate) stack_name: Option<String>,
    pub(crate) output: Option<String>,
    /// The stage of the plan that deploys that stack (index into the plan's stages).
    pub(crate) stage: Option<usize>,
    pub(crate) role: RefRole,
}

impl StackRefUse {
    /// "Net.VpcId (stack-ref role …)", or why it is not linked.
    pub(crate) fn describe(&self, stages: &[Stage]) -> String {
        let what = match (&self.stack_name, &self.output) {
            (Some(s), Some(o)) => format!("{s}.{o}"),
            (Some(s), None) => format!("{s}.<expression>"),
            _ => "<expression>".to_string(),
        };
        let target = match self.stage {
            Some(j) => format!("stage {}", stages[j].name),
            None => "outside the plan, not checked".to_string(),
        };
        format!("{what} ({target}; through {})", self.role.describe())
    }
}

/// A reference that cannot work, for the source to report where the stage is written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RefProblem {
    pub(crate) stage: usize,
    pub(crate) message: String,
    pub(crate) fix: String,
}

/// The stack-reference role bootstrap creates in `env` (`--trust-for-stack-refs`).
pub(crate) fn stack_ref_role_arn(qualifier: &str, env: &Environment) -> String {
    format!(
        "arn:{}:iam::{}:role/cdk-{qualifier}-stack-ref-role-{}-{}",
        env.partition(),
        env.account,
        env.account,
        env.region
    )
}

/// Links every stage's `Fn::GetStackOutput` uses to the plan: each stage's `stack_refs` set, a
/// stage reading a stack of the plan made to wait for it (`depends_on`), and every problem found.
pub(crate) fn link(stages: &mut [Stage], qualifier: &str) -> Vec<RefProblem> {
    let mut problems = Vec::new();
    for i in 0..stages.len() {
        let mut uses = Vec::new();
        for r in stages[i].template.stack_refs.clone() {
            let (one, problem) = link_one(stages, i, &r, qualifier);
            problems.extend(problem.map(|(message, fix)| RefProblem {
                stage: i,
                message: format!("{}: {message}", at(&stages[i], &r)),
                fix,
            }));
            if let Some(j) = one.as_ref().and_then(|u| u.stage)
                && !stages[i].depends_on.contains(&j)
            {
                stages[i].depends_on.push(j);
            }
            uses.extend(one);
        }
        stages[i].stack_refs = uses;
    }
    problems
}

fn at(stage: &Stage, r: &StackRef) -> String {
    let line = r.line.map(|l| format!(":{l}")).unwrap_or_default();
    format!(
        "{}{line}: Fn::GetStackOutput in {}",
        stage.template.path.display(),
        r.location
    )
}

type Found = (Option<StackRefUse>, Option<(String, String)>);

fn link_one(stages: &[Stage], i: usize, r: &StackRef, qualifier: &str) -> Found {
    let consumer = &stages[i];
    if let Some(m) = &r.malformed {
        return (
            None,
            Some((
                m.clone(),
                "write it as Fn::GetStackOutput: {StackName: STACK, OutputName: OUTPUT, Region: REGION, RoleArn: ROLE} (Region and RoleArn optional)".to_string(),
            )),
        );
    }
    let text = |a: &Option<Arg>| a.as_ref().and_then(|a| literal(a, &consumer.env));
    let stack_name = text(&r.stack_name);
    let output = text(&r.output_name);
    let role_arn = r.role_arn.as_ref().map(|a| literal(a, &consumer.env));
    let region = match &r.region {
        None => Some(consumer.env.region.to_string()),
        Some(a) => literal(a, &consumer.env),
    };
    let account = match &role_arn {
        None => Some(consumer.env.account.to_string()),
        Some(Some(arn)) => role_account(arn).map(str::to_string),
        Some(None) => None,
    };
    let mut u = StackRefUse {
        location: r.location.clone(),
        stack_name: stack_name.clone(),
        output: output.clone(),
        stage: None,
        role: match &role_arn {
            None => RefRole::ExecutionRole,
            Some(_) => RefRole::Unresolved,
        },
    };
    if let Some(Some(arn)) = &role_arn
        && role_account(arn).is_none()
    {
        let fix = "use the ARN of an IAM role, arn:aws:iam::ACCOUNT:role/NAME".to_string();
        return (
            Some(u),
            Some((format!("RoleArn '{arn}' is not a role ARN"), fix)),
        );
    }
    let Some(name) = stack_name else {
        return (Some(u), None);
    };
    let same_name: Vec<usize> = (0..stages.len())
        .filter(|&j| stages[j].stack_name == name)
        .collect();
    let target = same_name.iter().copied().find(|&j| {
        Some(stages[j].env.region.to_string()) == region
            && Some(stages[j].env.account.to_string()) == account
    });
    let Some(j) = target else {
        return (
            Some(u),
            wrong_place(
                stages, &same_name, &name, &region, &account, &role_arn, qualifier, consumer,
            ),
        );
    };
    if j == i {
        let fix =
            "reference the resource directly (Ref, Fn::GetAtt) instead of the stack's own output"
                .to_string();
        return (
            Some(u),
            Some((format!("stack {name} reads its own output"), fix)),
        );
    }
    u.stage = Some(j);
    let producer = &stages[j];
    if let Some(o) = &output
        && !producer.template.outputs.contains(o)
    {
        let declared: Vec<&str> = producer
            .template
            .outputs
            .iter()
            .map(String::as_str)
            .collect();
        let fix = if declared.is_empty() {
            format!(
                "declare output {o} in the template of stage {}",
                producer.name
            )
        } else {
            format!("use one of: {}", declared.join(", "))
        };
        return (
            Some(u),
            Some((
                format!(
                    "stage '{}' (stack {name}) has no output '{o}'",
                    producer.name
                ),
                fix,
            )),
        );
    }
    let Some(Some(arn)) = role_arn else {
        return (Some(u), None);
    };
    match known_role(stages, producer, &arn, qualifier) {
        Some(role) => {
            u.role = role;
            (Some(u), None)
        }
        None => {
            let fix = format!(
                "use the stack-ref role {} (pipeline-run bootstrap --trust-for-stack-refs {} {}) or the lookup role {}",
                stack_ref_role_arn(qualifier, &producer.env),
                consumer.env.account,
                producer.env,
                producer.roles.lookup.arn
            );
            (
                Some(u),
                Some((
                    format!(
                        "RoleArn {arn} is not a role of the plan in account {}",
                        producer.env.account
                    ),
                    fix,
                )),
            )
        }
    }
}

/// A reference naming a stack the plan deploys, but elsewhere than where it reads (another
/// account or region, or cross-account without a role); None when no stage deploys that name.
#[allow(clippy::too_many_arguments)]
fn wrong_place(
    stages: &[Stage],
    same_name: &[usize],
    name: &str,
    region: &Option<String>,
    account: &Option<String>,
    role_arn: &Option<Option<String>>,
    qualifier: &str,
    consumer: &Stage,
) -> Option<(String, String)> {
    let (Some(region), Some(account)) = (region, account) else {
        return None;
    };
    let &j = same_name.first()?;
    let producer = &stages[j];
    let places: Vec<String> = same_name
        .iter()
        .map(|&k| stages[k].env.to_string())
        .collect();
    let reads = format!("aws://{account}/{region}");
    let message = format!(
        "it reads stack {name} in {reads}, but the plan deploys {name} in {} (stage {})",
        places.join(", "),
        producer.name
    );
    let fix = if role_arn.is_none() && producer.env.account != consumer.env.account {
        format!(
            "add Region: {} and RoleArn: {} (a stack of another account is read through a role of that account; bootstrap it with --trust-for-stack-refs {})",
            producer.env.region,
            stack_ref_role_arn(qualifier, &producer.env),
            consumer.env.account
        )
    } else {
        format!(
            "set Region: {} and a RoleArn of account {}, or correct StackName",
            producer.env.region, producer.env.account
        )
    };
    Some((message, fix))
}

/// What `arn` is for the producer: its stack-ref role, or a role the plan names in its account.
fn known_role(stages: &[Stage], producer: &Stage, arn: &str, qualifier: &str) -> Option<RefRole> {
    let account = &producer.env.account;
    let stack_ref = stages
        .iter()
        .filter(|s| &s.env.account == account)
        .map(|s| stack_ref_role_arn(qualifier, &s.env))
        .chain([stack_ref_role_arn(qualifier, &producer.env)])
        .find(|a| a == arn);
    if let Some(a) = stack_ref {
        return Some(RefRole::StackRef(a));
    }
    let roles = |s: &Stage| -> Vec<RoleRef> {
        [
            &s.roles.lookup,
            &s.roles.deploy,
            &s.roles.cfn_exec,
            &s.roles.file_publishing,
        ]
        .into_iter()
        .cloned()
        .collect()
    };
    let lookup = BootstrapRole::Lookup.arn(qualifier, &producer.env);
    if arn == lookup {
        return Some(RefRole::Plan(BootstrapRole::Lookup, lookup));
    }
    std::iter::once(producer)
        .chain(stages.iter().filter(|s| &s.env.account == account))
        .flat_map(roles)
        .find(|r| r.arn == arn)
        .map(|r| RefRole::Plan(r.kind, r.arn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::roles::StageRoles;
    use crate::model::template::parse;
    use std::path::Path;

    fn stage(name: &str, account: &str, region: &str, body: &str) -> Stage {
        let env = Environment::new(account, region).unwrap();
        let template = parse(Path::new("t.yml"), body.to_string()).unwrap();
        let roles = StageRoles::conventional("hnb659fds", &env);
        Stage::new(name, env, template, roles)
    }

    const PRODUCER: &str =
        "Resources:\n  P: {Type: AWS::SSM::Parameter}\nOutputs:\n  Url: {Value: x}\n";

    #[test]
    fn finds_long_and_short_forms_with_their_lines_and_arguments() {
        let body = "Resources:\n  T:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value:\n        Fn::GetStackOutput:\n          StackName: A\n          OutputName: Url\n          RoleArn: !Sub arn:${AWS::Partition}:iam::111111111111:role/r\n  U:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {StackName: !Ref S, OutputName: Url, Region: eu-west-1}\n  V:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: {\"Fn::GetStackOutput\": {\"StackName\": \"A\"}}\nParameters:\n  S: {Type: String}\n";
        let t = parse(Path::new("t.yml"), body.to_string()).unwrap();
        let r = &t.stack_refs;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].location, "Resources.T");
        assert_eq!(r[0].line, Some(6));
        assert_eq!(r[0].stack_name, Some(Arg::Literal("A".into())));
        let env = Environment::new("222222222222", "us-east-1").unwrap();
        let role = literal(r[0].role_arn.as_ref().unwrap(), &env);
        assert_eq!(role.as_deref(), Some("arn:aws:iam::111111111111:role/r"));
        assert_eq!(r[1].line, Some(13));
        assert!(matches!(r[1].stack_name, Some(Arg::Expr(_))));
        assert_eq!(literal(r[1].stack_name.as_ref().unwrap(), &env), None);
        assert_eq!(r[1].region, Some(Arg::Literal("eu-west-1".into())));
        assert_eq!(r[2].malformed.as_deref(), Some("OutputName is required"));
    }

    #[test]
    fn a_reference_to_a_stage_of_the_plan_is_a_dependency_through_a_known_role() {
        let role = stack_ref_role_arn(
            "hnb659fds",
            &Environment::new("111111111111", "us-east-1").unwrap(),
        );
        let consumer = format!(
            "Resources:\n  T:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value:\n        Fn::GetStackOutput: {{StackName: A, OutputName: Url, RoleArn: '{role}'}}\n"
        );
        let mut stages = vec![
            stage("B", "222222222222", "us-east-1", &consumer),
            stage("A", "111111111111", "us-east-1", PRODUCER),
        ];
        assert_eq!(link(&mut stages, "hnb659fds"), vec![]);
        assert_eq!(stages[0].depends_on, vec![1]);
        assert_eq!(
            stages[0].stack_refs[0].role,
            RefRole::StackRef(role.clone())
        );
        assert!(
            stages[0].stack_refs[0]
                .describe(&stages)
                .contains("stage A")
        );
    }

    #[test]
    fn every_problem_is_found_at_once() {
        let lookup = BootstrapRole::Lookup.arn(
            "hnb659fds",
            &Environment::new("111111111111", "us-east-1").unwrap(),
        );
        let consumer = format!(
            "Resources:\n  T:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: A, OutputName: Nope, RoleArn: '{lookup}'}}\n  U:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: A, OutputName: Url}}\n  W:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: A, OutputName: Url, RoleArn: 'arn:aws:iam::111111111111:role/other'}}\n  X:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: !GetStackOutput {{StackName: Elsewhere, OutputName: Url}}\n"
        );
        let mut stages = vec![
            stage("B", "222222222222", "us-east-1", &consumer),
            stage("A", "111111111111", "us-east-1", PRODUCER),
        ];
        let problems = link(&mut stages, "hnb659fds");
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 3, "{messages:#?}");
        assert!(messages[0].starts_with("t.yml:5: Fn::GetStackOutput in Resources.T: stage 'A' (stack A) has no output 'Nope'"), "{}", messages[0]);
        assert_eq!(problems[0].fix, "use one of: Url");
        assert!(
            messages[1].contains("reads stack A in aws://222222222222/us-east-1"),
            "{}",
            messages[1]
        );
        assert!(
            problems[1]
                .fix
                .contains("--trust-for-stack-refs 222222222222"),
            "{}",
            problems[1].fix
        );
        assert!(
            messages[2]
                .contains("RoleArn arn:aws:iam::111111111111:role/other is not a role of the plan"),
            "{}",
            messages[2]
        );
        // A stack outside the plan is CloudFormation's to read: no dependency, no problem.
        assert_eq!(stages[0].stack_refs[3].stage, None);
        assert_eq!(stages[0].depends_on, vec![1]);
    }
}
