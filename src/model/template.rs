//! What pipeline-run needs to know about a CloudFormation template before any AWS call: its
//! parameters, its outputs and its size. Parsing only; reading the file is the source's job.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::roles::VERIFY_TAG;
use super::stack_refs::{self, StackRef};

/// CloudFormation's limit for an inline `TemplateBody`; larger templates go through S3.
pub(crate) const TEMPLATE_BODY_LIMIT: usize = 51_200;

#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) path: PathBuf,
    pub(crate) body: String,
    /// Parameter name → whether it has a default.
    pub(crate) parameters: BTreeMap<String, bool>,
    /// Parameters declared `NoEcho: true`: their values are secrets.
    pub(crate) no_echo_parameters: BTreeSet<String>,
    pub(crate) outputs: BTreeSet<String>,
    /// Outputs whose value is `!Ref` of an `AWS::EC2::Instance` without the verification tag
    /// (`pipeline-run:verify` = `true`) → the instance's logical id. A tag value or a `Tags` list
    /// that is not literal counts as tagged: only CloudFormation knows it.
    pub(crate) untagged_instance_outputs: BTreeMap<String, String>,
    /// Every `Fn::GetStackOutput` of the template (weak references to other stacks' outputs).
    pub(crate) stack_refs: Vec<StackRef>,
    /// The literal `RoleName`s of the template's `AWS::IAM::Role` resources (a producer's role
    /// for `Fn::GetStackOutput`, as the CDK declares it).
    pub(crate) role_names: BTreeSet<String>,
}

impl Template {
    /// Too large for an inline `TemplateBody`: it must be deployed from S3.
    pub(crate) fn is_over_body_limit(&self) -> bool {
        self.body.len() > TEMPLATE_BODY_LIMIT
    }
}

/// Why a template cannot be used; each kind has its own fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    NotFound,
    Unreadable(String),
    /// Not UTF-8; the byte offset of the first invalid byte.
    NotUtf8(usize),
    Syntax {
        line: Option<usize>,
        message: String,
    },
    NotAMapping,
    NoResources,
    /// Larger than the source's limit (bytes).
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// Its aliases expand it past the node budget; the line of the first alias.
    AliasBlowup {
        budget: usize,
        alias_line: Option<usize>,
    },
}

impl TemplateError {
    /// What to do about it, for the template at `path`.
    pub(crate) fn fix(&self, path: &Path) -> String {
        let path = path.display();
        match self {
            TemplateError::NotFound => {
                format!("create {path} or correct the path (relative to the stage file)")
            }
            TemplateError::NotUtf8(_) => format!("save {path} as UTF-8"),
            TemplateError::NoResources | TemplateError::NotAMapping => {
                format!("give {path} a top-level `Resources:` mapping with at least one resource")
            }
            TemplateError::TooLarge { .. } => format!(
                "make {path} smaller: CloudFormation accepts at most 1 MB from S3, so split it into nested stacks or several stages"
            ),
            TemplateError::AliasBlowup { .. } => format!(
                "write the repeated part of {path} out where it is needed, or reference smaller anchors fewer times (each `*alias` repeats its anchor's whole content)"
            ),
            TemplateError::Syntax { line: Some(_), .. } => {
                format!("fix the YAML of {path} at the line shown")
            }
            TemplateError::Syntax { line: None, .. } | TemplateError::Unreadable(_) => {
                format!("fix the template {path}")
            }
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::NotFound => f.write_str("file not found"),
            TemplateError::Unreadable(e) => f.write_str(e),
            TemplateError::NotUtf8(byte) => write!(
                f,
                "not valid UTF-8 (byte {byte}); CloudFormation templates must be UTF-8"
            ),
            TemplateError::Syntax {
                line: Some(line),
                message,
            } => write!(f, "line {line}: {message}"),
            TemplateError::Syntax {
                line: None,
                message,
            } => f.write_str(message),
            TemplateError::NotAMapping => {
                f.write_str("a template must be a mapping with a Resources section")
            }
            TemplateError::NoResources => {
                f.write_str("no Resources section (every CloudFormation template needs one)")
            }
            TemplateError::TooLarge { size, limit } => write!(
                f,
                "the template is {size} bytes, over the limit of {limit} bytes (CloudFormation's maximum template size)"
            ),
            TemplateError::AliasBlowup { budget, alias_line } => {
                if let Some(line) = alias_line {
                    write!(f, "line {line}: ")?;
                }
                write!(
                    f,
                    "YAML aliases expand the template to more than {budget} nodes (a budget of 100,000 plus one node per byte, which a file without aliases never reaches)"
                )
            }
        }
    }
}

pub(crate) fn parse(path: &Path, body: String) -> Result<Template, TemplateError> {
    parse_template(path, body, false).map(|(template, _)| template)
}

/// As `parse`, for a template a CDK app synthesized: one without resources (`{}`, outputs only)
/// is read too, as `cdk deploy` skips (or deletes) such a stack; the flag says it has resources.
pub(crate) fn parse_synthesized(
    path: &Path,
    body: String,
) -> Result<(Template, bool), TemplateError> {
    parse_template(path, body, true)
}

fn parse_template(
    path: &Path,
    body: String,
    may_be_empty: bool,
) -> Result<(Template, bool), TemplateError> {
    // YAML is a superset of JSON, and serde_yaml keeps CloudFormation's short-form tags (!Ref, !Sub)
    // as tagged values, so one parser reads both template formats.
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&body).map_err(|e| TemplateError::Syntax {
            line: e.location().map(|l| l.line()),
            message: strip_location(&e.to_string()),
        })?;
    let map = doc.as_mapping().ok_or(TemplateError::NotAMapping)?;
    let section = |name: &str| map.get(serde_yaml::Value::String(name.to_string()));
    let no_resources = serde_yaml::Mapping::new();
    let resources = match section("Resources").and_then(|r| r.as_mapping()) {
        Some(resources) => resources,
        None if may_be_empty && section("Resources").is_none() => &no_resources,
        None => return Err(TemplateError::NoResources),
    };
    let has_resources = !resources.is_empty();
    let mut parameters = BTreeMap::new();
    let mut no_echo_parameters = BTreeSet::new();
    if let Some(params) = section("Parameters").and_then(|p| p.as_mapping()) {
        for (name, spec) in params {
            if let Some(name) = name.as_str() {
                let has_default = spec.as_mapping().is_some_and(|m| m.contains_key("Default"));
                parameters.insert(name.to_string(), has_default);
                if spec.get("NoEcho").is_some_and(is_true) {
                    no_echo_parameters.insert(name.to_string());
                }
            }
        }
    }
    let outputs_section = section("Outputs").and_then(|o| o.as_mapping());
    let outputs = outputs_section
        .map(|o| {
            o.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let untagged_instance_outputs = outputs_section
        .map(|o| untagged_instances(resources, o))
        .unwrap_or_default();
    let stack_refs = stack_refs::find(&doc, &body);
    let role_names = resources
        .values()
        .filter(|r| r.get("Type").and_then(|t| t.as_str()) == Some("AWS::IAM::Role"))
        .filter_map(|r| r.get("Properties")?.get("RoleName")?.as_str())
        .map(str::to_string)
        .collect();
    let template = Template {
        path: path.to_path_buf(),
        stack_refs,
        role_names,
        body,
        parameters,
        no_echo_parameters,
        outputs,
        untagged_instance_outputs,
    };
    Ok((template, has_resources))
}

/// CloudFormation reads `NoEcho` as a boolean or the strings `true`/`false`.
fn is_true(v: &serde_yaml::Value) -> bool {
    v.as_bool() == Some(true) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// Output → logical id, for the outputs that `Ref` an instance lacking the verification tag.
fn untagged_instances(
    resources: &serde_yaml::Mapping,
    outputs: &serde_yaml::Mapping,
) -> BTreeMap<String, String> {
    use serde_yaml::Value;
    let mut out = BTreeMap::new();
    for (name, spec) in outputs {
        let value = spec.get("Value");
        let target = match value {
            Some(Value::Tagged(t)) if t.tag == "Ref" => t.value.as_str(),
            Some(Value::Mapping(m)) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
            _ => None,
        };
        let (Some(name), Some(target)) = (name.as_str(), target) else {
            continue;
        };
        let Some(resource) = resources.get(target) else {
            continue;
        };
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::EC2::Instance") {
            continue;
        }
        let tags = resource.get("Properties").and_then(|p| p.get("Tags"));
        let tagged = match tags {
            None => false,
            Some(Value::Sequence(tags)) => tags.iter().any(|t| {
                t.get("Key").and_then(Value::as_str) == Some(VERIFY_TAG)
                    && t.get("Value").is_some_and(|v| match v {
                        // serde_yaml's as_str() would see through `!Ref V`: match the literal
                        Value::String(v) => v == "true",
                        _ => true,
                    })
            }),
            Some(_) => true,
        };
        if !tagged {
            out.insert(name.to_string(), target.to_string());
        }
    }
    out
}

/// The CDK's mark, in a parameter's `Description`, for an SSM-typed parameter whose value does not
/// invalidate a deployed stack (the CDK's `BootstrapVersion`, checked by a template rule only).
const SSM_NO_INVALIDATE: &str = "[cdk:skip]";

/// The parameters of `body` whose value CloudFormation reads from Parameter Store each time it
/// creates a change set (type `AWS::SSM::Parameter::Value<…>`): comparing what the stack was given
/// cannot tell whether they changed. As the CDK, those whose description carries `[cdk:skip]` are
/// left out. `AWS::SSM::Parameter::Name` values are names, compared as written like any other.
pub(crate) fn resolved_from_ssm(body: &str) -> Vec<String> {
    // Most templates have none: skip parsing them.
    if !body.contains("AWS::SSM::Parameter::Value<") {
        return Vec::new();
    }
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(body) else {
        return Vec::new();
    };
    let Some(params) = doc.get("Parameters").and_then(|p| p.as_mapping()) else {
        return Vec::new();
    };
    let text = |spec: &serde_yaml::Value, key: &str| {
        spec.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    params
        .iter()
        .filter(|(_, spec)| {
            text(spec, "Type").starts_with("AWS::SSM::Parameter::Value<")
                && !text(spec, "Description").contains(SSM_NO_INVALIDATE)
        })
        .filter_map(|(name, _)| name.as_str().map(str::to_string))
        .collect()
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters_outputs_and_resources_from_yaml_with_short_tags() {
        let body = "Parameters:\n  Cidr:\n    Type: String\n  Name:\n    Type: String\n    Default: x\nResources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !Ref Cidr\nOutputs:\n  VpcId:\n    Value: !Ref V\n";
        let t = parse(Path::new("t.yml"), body.to_string()).unwrap();
        assert_eq!(t.parameters.get("Cidr"), Some(&false));
        assert_eq!(t.parameters.get("Name"), Some(&true));
        assert!(t.outputs.contains("VpcId"));
        assert!(t.no_echo_parameters.is_empty());
        let secret = "Parameters:\n  A:\n    Type: String\n    NoEcho: true\n  B:\n    Type: String\n    NoEcho: 'true'\n  C:\n    Type: String\n    NoEcho: false\nResources:\n  V:\n    Type: AWS::EC2::VPC\n";
        let t = parse(Path::new("t.yml"), secret.to_string()).unwrap();
        assert_eq!(
            t.no_echo_parameters
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["A", "B"]
        );
    }

    #[test]
    fn finds_the_outputs_of_instances_without_the_verification_tag() {
        let body = "Parameters:\n  V:\n    Type: String\nResources:\n  Bare:\n    Type: AWS::EC2::Instance\n  No:\n    Type: AWS::EC2::Instance\n    Properties:\n      Tags: [{Key: 'pipeline-run:verify', Value: 'false'}, {Key: Name, Value: x}]\n  Yes:\n    Type: AWS::EC2::Instance\n    Properties:\n      Tags: [{Key: 'pipeline-run:verify', Value: 'true'}]\n  ByParameter:\n    Type: AWS::EC2::Instance\n    Properties:\n      Tags: [{Key: 'pipeline-run:verify', Value: !Ref V}]\n  Sg:\n    Type: AWS::EC2::SecurityGroup\nOutputs:\n  BareId: {Value: !Ref Bare}\n  NoId: {Value: {Ref: No}}\n  YesId: {Value: !Ref Yes}\n  ParamId: {Value: !Ref ByParameter}\n  BareIp: {Value: !GetAtt Bare.PrivateIp}\n  SgId: {Value: !Ref Sg}\n";
        let t = parse(Path::new("t.yml"), body.to_string()).unwrap();
        let found: Vec<(&str, &str)> = t
            .untagged_instance_outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(found, [("BareId", "Bare"), ("NoId", "No")]);
    }

    #[test]
    fn ssm_typed_parameters_are_found_unless_marked_to_skip() {
        let body = "Parameters:\n  Ami:\n    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>\n    Default: /ami\n  BootstrapVersion:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /cdk-bootstrap/hnb659fds/version\n    Description: Version of the CDK Bootstrap resources in this environment, automatically retrieved from SSM Parameter Store. [cdk:skip]\n  Name:\n    Type: AWS::SSM::Parameter::Name\n  Plain:\n    Type: String\nResources:\n  V:\n    Type: AWS::EC2::VPC\n";
        assert_eq!(resolved_from_ssm(body), vec!["Ami".to_string()]);
        let json = r#"{"Parameters": {"V": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/v"}}, "Resources": {}}"#;
        assert_eq!(resolved_from_ssm(json), vec!["V".to_string()]);
        assert!(resolved_from_ssm("Resources:\n  V:\n    Type: AWS::EC2::VPC\n").is_empty());
    }

    #[test]
    fn reads_json_templates() {
        let body = r#"{"Resources": {"P": {"Type": "AWS::SSM::Parameter"}}, "Outputs": {"O": {"Value": "x"}}}"#;
        let t = parse(Path::new("t.json"), body.to_string()).unwrap();
        assert!(t.outputs.contains("O"));
    }

    #[test]
    fn a_template_without_resources_is_refused() {
        let err = parse(Path::new("t.yml"), "Outputs: {}\n".to_string()).unwrap_err();
        assert_eq!(err, TemplateError::NoResources);
        assert!(err.to_string().contains("Resources"), "{err}");
    }

    #[test]
    fn a_synthesized_template_may_have_no_resources() {
        for body in ["{}", "Outputs:\n  O: {Value: x}\n", "Resources: {}\n"] {
            let (t, has_resources) =
                parse_synthesized(Path::new("t.json"), body.to_string()).unwrap();
            assert!(!has_resources, "{body}");
            assert_eq!(t.body, body);
        }
        let (_, has_resources) =
            parse_synthesized(Path::new("t.yml"), "Resources:\n  A: {Type: X}\n".into()).unwrap();
        assert!(has_resources);
        // A Resources section that is not a mapping is still wrong.
        assert_eq!(
            parse_synthesized(Path::new("t.yml"), "Resources: 3\n".into()).unwrap_err(),
            TemplateError::NoResources
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = parse(Path::new("t.yml"), "Resources:\n  A: [\n".to_string()).unwrap_err();
        assert!(
            matches!(err, TemplateError::Syntax { line: Some(_), .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("line "), "{err}");
    }
}
