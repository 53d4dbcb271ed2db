//! `${…}` references: reading them out of a value, and checking that a `Stage.Output` exists.

use std::collections::BTreeMap;

use super::Known;
use super::accounts::Account;
use super::problems::ProblemAt;
use crate::model::assets::ASSET_ATTRIBUTES;
use crate::model::cidr::Cidr;
use crate::model::plan::{Piece, ValueExpr};
use crate::model::template::Template;

/// A problem with a value: (message, fix).
type Refusal = (String, String);

/// Reads the references of `text`: accounts and networks are substituted now, stage outputs and
/// assets stay pieces resolved at deploy time. `${!x}` is a literal `${x}`, as in
/// CloudFormation.
pub(super) fn interpolate(
    text: &str,
    accounts: &BTreeMap<String, Account>,
    networks: &BTreeMap<String, Cidr>,
) -> Result<ValueExpr, Refusal> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
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
        match reference(&after[..end], accounts, networks)? {
            Piece::Text(t) => literal.push_str(&t),
            piece => {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
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

/// One reference (the text between `${` and `}`): its value now, or a piece for later.
fn reference(
    reference: &str,
    accounts: &BTreeMap<String, Account>,
    networks: &BTreeMap<String, Cidr>,
) -> Result<Piece, Refusal> {
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        ["accounts", alias, attr] => {
            let account = accounts.get(*alias).ok_or_else(|| {
                (
                    format!("'${{{reference}}}' names no declared account"),
                    "use an alias declared under `accounts:`".to_string(),
                )
            })?;
            match *attr {
                "id" => Ok(Piece::Text(account.id.clone())),
                "region" => Ok(Piece::Text(account.region.clone())),
                _ => Err((
                    format!("'${{{reference}}}': accounts have 'id' and 'region'"),
                    "use ${accounts.ALIAS.id} or ${accounts.ALIAS.region}".into(),
                )),
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
            Ok(Piece::Asset {
                name: name.to_string(),
                attr: attr.to_string(),
            })
        }
        ["networks", name, "cidr"] => {
            let cidr = networks.get(*name).ok_or_else(|| {
                (
                    format!("'${{{reference}}}' names no declared network"),
                    "declare it under `networks:`".to_string(),
                )
            })?;
            Ok(Piece::Text(cidr.to_string()))
        }
        [stage, output] if !stage.is_empty() && !output.is_empty() => Ok(Piece::Output {
            stage: stage.to_string(),
            output: output.to_string(),
        }),
        _ => Err((
            format!("'${{{reference}}}' is not a reference pipeline-run understands"),
            "use ${Stage.Output}, ${accounts.ALIAS.id|region}, ${networks.NAME.cidr} or ${assets.NAME.key|bucket|s3_url|url}"
                .into(),
        )),
    }
}

/// `stage`'s template must declare `output`, and `stage` must exist and be another than `from`
/// (the referring stage, None outside stages); otherwise `at` is reported.
pub(super) fn check_output(
    at: ProblemAt,
    known: &Known,
    from: Option<usize>,
    stage: &str,
    output: &str,
) {
    match known.names.get(stage) {
        None => at.report(
            format!("references stage '{stage}', which does not exist"),
            format!("use one of: {}", known.names.listed()),
        ),
        Some(j) if Some(j) == from => at.report(
            format!("references its own output '{output}'"),
            "a stage can only use outputs of other stages",
        ),
        Some(j) => {
            if let Some(Some(t)) = known.templates.get(j)
                && !t.outputs.contains(output)
            {
                at.report(
                    format!(
                        "stage '{stage}' has no output '{output}' (template {})",
                        t.path.display()
                    ),
                    format!("use one of: {}", outputs_listed(t)),
                );
            }
        }
    }
}

/// The outputs of a template, for "use one of: …".
pub(super) fn outputs_listed(t: &Template) -> String {
    if t.outputs.is_empty() {
        "(the template declares no outputs)".into()
    } else {
        t.outputs.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
