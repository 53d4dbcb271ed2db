//! What pipeline-run needs to know about a CloudFormation template before any AWS call: its
//! parameters, its outputs and its size.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// CloudFormation's limit for an inline `TemplateBody`; larger templates go through S3.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

#[derive(Debug, Clone)]
pub struct Template {
    pub path: PathBuf,
    pub body: String,
    /// Parameter name → whether it has a default.
    pub parameters: BTreeMap<String, bool>,
    pub outputs: BTreeSet<String>,
    pub resource_count: usize,
}

impl Template {
    pub fn is_over_body_limit(&self) -> bool {
        self.body.len() > TEMPLATE_BODY_LIMIT
    }
}

/// Reads and inspects a template. The error is a one-line reason (the caller adds file context).
pub fn load(path: &Path) -> Result<Template, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        _ => e.to_string(),
    })?;
    let body = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 (byte {}); CloudFormation templates must be UTF-8",
            e.utf8_error().valid_up_to()
        )
    })?;
    parse(path, body)
}

pub fn parse(path: &Path, body: String) -> Result<Template, String> {
    // YAML is a superset of JSON, and serde_yaml keeps CloudFormation's short-form tags (!Ref, !Sub)
    // as tagged values, so one parser reads both template formats.
    let doc: serde_yaml::Value = serde_yaml::from_str(&body).map_err(|e| match e.location() {
        Some(loc) => format!("line {}: {}", loc.line(), strip_location(&e.to_string())),
        None => e.to_string(),
    })?;
    let map = doc
        .as_mapping()
        .ok_or_else(|| "a template must be a mapping with a Resources section".to_string())?;
    let section = |name: &str| map.get(serde_yaml::Value::String(name.to_string()));
    let resources = section("Resources")
        .and_then(|r| r.as_mapping())
        .ok_or_else(|| {
            "no Resources section (every CloudFormation template needs one)".to_string()
        })?;
    let mut parameters = BTreeMap::new();
    if let Some(params) = section("Parameters").and_then(|p| p.as_mapping()) {
        for (name, spec) in params {
            if let Some(name) = name.as_str() {
                let has_default = spec.as_mapping().is_some_and(|m| m.contains_key("Default"));
                parameters.insert(name.to_string(), has_default);
            }
        }
    }
    let outputs = section("Outputs")
        .and_then(|o| o.as_mapping())
        .map(|o| {
            o.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Template {
        path: path.to_path_buf(),
        body,
        parameters,
        outputs,
        resource_count: resources.len(),
    })
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
        assert_eq!(t.resource_count, 1);
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
        assert!(err.contains("Resources"), "{err}");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = parse(Path::new("t.yml"), "Resources:\n  A: [\n".to_string()).unwrap_err();
        assert!(err.starts_with("line "), "{err}");
    }
}
