//! CloudFormation's `Fn::GetStackOutput` (a weak reference to another stack's output, read by
//! CloudFormation at create/update, across accounts and regions through a `RoleArn`): found in a
//! template (`find`); `stack_links` links them to the stages of a plan.
//! Syntax: `{"Fn::GetStackOutput": {"StackName", "OutputName", "Region"?, "RoleArn"?}}`, YAML
//! short form `!GetStackOutput` (README, "Fn::GetStackOutput", has the sources). No I/O.

use serde_yaml::Value;

use super::env::Environment;
use super::roles::BootstrapRole;

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
    /// A role a template of the plan declares (`RoleName`), as the CDK's `GetStackOutputRole`.
    Declared(String, String),
    /// A role pipeline-run cannot name statically.
    Unresolved,
}

impl RefRole {
    pub(crate) fn describe(&self) -> String {
        match self {
            RefRole::ExecutionRole => "the stage's execution role (no RoleArn)".to_string(),
            RefRole::StackRef(arn) => format!("stack-ref role {arn}"),
            RefRole::Plan(kind, arn) => format!("{} role {arn}", kind.short_name()),
            RefRole::Declared(stage, arn) => format!("role {arn} of stage {stage}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::template::parse;
    use std::path::Path;

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
}
