//! A template-level diff, for `diff` under credentials that can read stacks but not create change
//! sets (the lookup role): the deployed template, parameters and tags against the stage's, as
//! documents. `cdk diff` works the same way by default. A pure function; what it cannot know
//! (replacements, resolved values) is listed in `LIMITS`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use super::ResourceChange;

/// What a template diff cannot tell, said in the report next to its result.
pub(crate) const LIMITS: &[&str] = &[
    "whether a modified resource is replaced (only CloudFormation decides that, in a change set)",
    "values resolved at deploy time: SSM parameter values, dynamic references, intrinsic functions",
    "assets: they were not published (that needs the file-publishing role), so asset parameters are not compared",
];

/// The side of the comparison CloudFormation holds, as GetTemplate and DescribeStacks read it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deployed<'a> {
    /// `None` when there is no stack (or one deploy would re-create): everything is added.
    pub(crate) template: Option<&'a str>,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
}

/// The stage's side: its template, its parameters (`None` when the value cannot be known
/// without a deploy, e.g. an asset location) and its tags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proposed<'a> {
    pub(crate) template: &'a str,
    pub(crate) parameters: BTreeMap<String, Option<String>>,
    pub(crate) tags: BTreeMap<String, String>,
}

/// The differences, by logical id and name. Values are never listed, only names: parameter values
/// may be sensitive.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct TemplateDiff {
    /// Resources added, removed or modified (action `Add`/`Remove`/`Modify`, no replacement).
    #[serde(skip)]
    pub(crate) resources: Vec<ResourceChange>,
    /// For each modified resource, what differs: `Type`, `Properties.X`, or another attribute.
    pub(crate) modified: BTreeMap<String, Vec<String>>,
    /// Parameters whose value differs from the deployed one (or that the stack does not have).
    pub(crate) parameters_changed: Vec<String>,
    /// Parameters that cannot be compared: NoEcho on the stack, or not known without a deploy.
    pub(crate) parameters_not_compared: Vec<String>,
    /// Stack tags added, removed or changed.
    pub(crate) tags_changed: Vec<String>,
    /// Other template sections that differ (Outputs, Conditions, Mappings, …).
    pub(crate) sections_changed: Vec<String>,
}

impl TemplateDiff {
    /// Nothing differs that the comparison can see.
    pub(crate) fn is_empty(&self) -> bool {
        self.resources.is_empty()
            && self.parameters_changed.is_empty()
            && self.tags_changed.is_empty()
            && self.sections_changed.is_empty()
    }
}

/// Compares the deployed stack with the stage. Errors name which template is not YAML/JSON.
pub(crate) fn compare(deployed: &Deployed, proposed: &Proposed) -> Result<TemplateDiff, String> {
    let old = match deployed.template {
        Some(body) => parse(body).map_err(|e| format!("the deployed template: {e}"))?,
        None => Mapping::new(),
    };
    let new = parse(proposed.template).map_err(|e| format!("the stage's template: {e}"))?;
    let mut diff = TemplateDiff::default();
    resources(&old, &new, &mut diff);
    diff.sections_changed = changed_keys(&old, &new)
        .into_iter()
        .filter(|k| k != "Resources")
        .collect();
    if deployed.template.is_none() {
        // Nothing deployed: only the resources say what a deploy creates.
        diff.sections_changed.clear();
    }
    for (name, value) in &proposed.parameters {
        match (value, deployed.parameters.get(name)) {
            (None, _) => diff.parameters_not_compared.push(name.clone()),
            // DescribeStacks masks NoEcho values.
            (Some(_), Some(d)) if d == "****" => diff.parameters_not_compared.push(name.clone()),
            (Some(v), Some(d)) if v == d => {}
            (Some(_), _) => diff.parameters_changed.push(name.clone()),
        }
    }
    if deployed.template.is_some() {
        diff.tags_changed = changed_keys(&mapping(&deployed.tags), &mapping(&proposed.tags));
    } else {
        // A new stack has no parameters or tags to differ from.
        diff.parameters_changed.clear();
    }
    Ok(diff)
}

/// A template as a mapping, short-form intrinsics (`!Ref x`) in their long form (`{Ref: x}`) so a
/// YAML template equals the JSON CloudFormation may hand back for it.
fn parse(body: &str) -> Result<Mapping, String> {
    let doc: Value = serde_yaml::from_str(body).map_err(|e| e.to_string())?;
    match long_form(doc) {
        Value::Mapping(m) => Ok(m),
        Value::Null => Ok(Mapping::new()),
        _ => Err("not a mapping".into()),
    }
}

fn long_form(v: Value) -> Value {
    match v {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(t.value);
            let (key, value) = match (name, inner) {
                ("Ref" | "Condition", inner) => (name.to_string(), inner),
                ("GetAtt", Value::String(s)) => {
                    let parts = match s.split_once('.') {
                        Some((a, b)) => vec![Value::from(a), Value::from(b)],
                        None => vec![Value::from(s.as_str())],
                    };
                    ("Fn::GetAtt".into(), Value::Sequence(parts))
                }
                (_, inner) => (format!("Fn::{name}"), inner),
            };
            let mut m = Mapping::new();
            m.insert(Value::String(key), value);
            Value::Mapping(m)
        }
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (k, long_form(v))).collect())
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(long_form).collect()),
        other => other,
    }
}

fn resources(old: &Mapping, new: &Mapping, diff: &mut TemplateDiff) {
    let empty = Mapping::new();
    let section = |m: &'_ Mapping| -> Mapping {
        m.get("Resources")
            .and_then(Value::as_mapping)
            .unwrap_or(&empty)
            .clone()
    };
    let (old, new) = (section(old), section(new));
    for id in changed_keys(&old, &new) {
        let (before, after) = (old.get(id.as_str()), new.get(id.as_str()));
        let change = |action: &str, r: &Value| ResourceChange {
            action: action.into(),
            logical_id: id.clone(),
            resource_type: type_of(r),
            replacement: None,
        };
        match (before, after) {
            (None, Some(r)) => diff.resources.push(change("Add", r)),
            (Some(r), None) => diff.resources.push(change("Remove", r)),
            (Some(a), Some(b)) => {
                diff.resources.push(change("Modify", b));
                diff.modified.insert(id.clone(), what_differs(a, b));
            }
            (None, None) => {}
        }
    }
}

fn type_of(resource: &Value) -> String {
    resource
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

/// `Type`, `Properties.<name>` for each differing property, and any other differing attribute
/// (`DependsOn`, `DeletionPolicy`, `Metadata`, …).
fn what_differs(a: &Value, b: &Value) -> Vec<String> {
    let empty = Mapping::new();
    let map = |v: &Value| v.as_mapping().cloned().unwrap_or_default();
    let (a, b) = (map(a), map(b));
    let mut out = Vec::new();
    for key in changed_keys(&a, &b) {
        if key == "Properties" {
            let props = |m: &Mapping| {
                m.get("Properties")
                    .and_then(Value::as_mapping)
                    .unwrap_or(&empty)
                    .clone()
            };
            out.extend(
                changed_keys(&props(&a), &props(&b))
                    .into_iter()
                    .map(|p| format!("Properties.{p}")),
            );
        } else {
            out.push(key);
        }
    }
    out
}

/// Names and values (stack tags) as a mapping, for `changed_keys`.
fn mapping(values: &BTreeMap<String, String>) -> Mapping {
    values
        .iter()
        .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
        .collect()
}

/// The keys whose values differ between two mappings (present on one side only included), in
/// order: the one comparison of sections, resources, properties and tags.
fn changed_keys(a: &Mapping, b: &Mapping) -> Vec<String> {
    let keys: BTreeSet<String> = a
        .keys()
        .chain(b.keys())
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    keys.into_iter()
        .filter(|k| a.get(k.as_str()) != b.get(k.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYED: &str = r#"
Parameters:
  Cidr: {Type: String}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: !Ref Cidr
      EnableDnsSupport: true
  Gone:
    Type: AWS::SNS::Topic
  Same:
    Type: AWS::EC2::InternetGateway
Outputs:
  VpcId: {Value: !Ref Vpc}
"#;

    fn side(template: &str) -> Deployed<'_> {
        Deployed {
            template: Some(template),
            parameters: [("Cidr".to_string(), "10.0.0.0/16".to_string())].into(),
            tags: [("team".to_string(), "net".to_string())].into(),
        }
    }

    fn proposed(template: &str) -> Proposed<'_> {
        Proposed {
            template,
            parameters: [("Cidr".to_string(), Some("10.0.0.0/16".to_string()))].into(),
            tags: [("team".to_string(), "net".to_string())].into(),
        }
    }

    fn actions(d: &TemplateDiff) -> Vec<(String, String, String)> {
        d.resources
            .iter()
            .map(|c| {
                (
                    c.action.clone(),
                    c.logical_id.clone(),
                    c.resource_type.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn the_same_template_as_json_with_long_form_intrinsics_is_no_change() {
        let json = r#"{"Parameters": {"Cidr": {"Type": "String"}},
          "Resources": {
            "Same": {"Type": "AWS::EC2::InternetGateway"},
            "Gone": {"Type": "AWS::SNS::Topic"},
            "Vpc": {"Type": "AWS::EC2::VPC",
                    "Properties": {"EnableDnsSupport": true, "CidrBlock": {"Ref": "Cidr"}}}},
          "Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}}}}"#;
        let d = compare(&side(DEPLOYED), &proposed(json)).unwrap();
        assert!(d.is_empty(), "{d:?}");
        assert!(d.modified.is_empty() && d.parameters_not_compared.is_empty());
    }

    #[test]
    fn resources_added_removed_and_modified_are_found_by_logical_id() {
        let new = r#"
Parameters:
  Cidr: {Type: String}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    DeletionPolicy: Retain
    Properties:
      CidrBlock: !Ref Cidr
      EnableDnsSupport: false
  Same:
    Type: AWS::EC2::InternetGateway
  Added:
    Type: AWS::SQS::Queue
Outputs:
  VpcId: {Value: !GetAtt Vpc.VpcId}
"#;
        let d = compare(&side(DEPLOYED), &proposed(new)).unwrap();
        assert_eq!(
            actions(&d),
            [
                ("Add".into(), "Added".into(), "AWS::SQS::Queue".into()),
                ("Remove".into(), "Gone".into(), "AWS::SNS::Topic".into()),
                ("Modify".into(), "Vpc".into(), "AWS::EC2::VPC".into()),
            ]
        );
        assert_eq!(
            d.modified["Vpc"],
            ["DeletionPolicy", "Properties.EnableDnsSupport"]
        );
        assert_eq!(d.sections_changed, ["Outputs"]);
        assert!(d.resources.iter().all(|c| c.replacement.is_none()));
        assert!(d.parameters_changed.is_empty() && d.tags_changed.is_empty());
    }

    #[test]
    fn a_changed_type_is_a_modification_naming_the_type() {
        let new = DEPLOYED.replace("AWS::SNS::Topic", "AWS::SQS::Queue");
        let d = compare(&side(DEPLOYED), &proposed(&new)).unwrap();
        assert_eq!(
            actions(&d),
            [("Modify".into(), "Gone".into(), "AWS::SQS::Queue".into())]
        );
        assert_eq!(d.modified["Gone"], ["Type"]);
    }

    #[test]
    fn parameters_and_tags_are_compared_by_name_and_unknown_values_are_not() {
        let mut p = proposed(DEPLOYED);
        p.parameters
            .insert("Cidr".into(), Some("10.9.0.0/16".into()));
        p.parameters.insert("Secret".into(), Some("x".into()));
        p.parameters.insert("CodeKey".into(), None);
        p.tags.insert("team".into(), "apps".into());
        p.tags.insert("cost".into(), "1".into());
        let mut d = side(DEPLOYED);
        d.parameters.insert("Secret".into(), "****".into());
        d.tags.insert("old".into(), "x".into());
        let diff = compare(&d, &p).unwrap();
        assert_eq!(diff.parameters_changed, ["Cidr"]);
        assert_eq!(diff.parameters_not_compared, ["CodeKey", "Secret"]);
        assert_eq!(diff.tags_changed, ["cost", "old", "team"]);
        assert!(diff.resources.is_empty());
        assert!(!diff.is_empty());
    }

    #[test]
    fn with_nothing_deployed_every_resource_is_added_and_nothing_else_differs() {
        let d = compare(&Deployed::default(), &proposed(DEPLOYED)).unwrap();
        assert_eq!(
            actions(&d).iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            ["Add", "Add", "Add"]
        );
        assert!(d.parameters_changed.is_empty() && d.sections_changed.is_empty());
        assert!(d.tags_changed.is_empty());
    }

    #[test]
    fn a_template_that_is_not_yaml_is_named_in_the_error() {
        let e = compare(&side("Resources: [unclosed"), &proposed(DEPLOYED)).unwrap_err();
        assert!(e.starts_with("the deployed template: "), "{e}");
        let e = compare(&side(DEPLOYED), &proposed("- a list")).unwrap_err();
        assert_eq!(e, "the stage's template: not a mapping");
    }
}
