//! Reading a template file; what it says is the model's `template::parse`. The file's size and
//! the nodes its YAML aliases expand to are limited (`source::limits`) before it is parsed.

use std::path::Path;

use super::limits::{TEMPLATE_FILE_LIMIT, check_yaml_expansion, read_limited};
use crate::model::template::{Template, TemplateError, parse, parse_synthesized};

/// Reads and inspects a template.
pub(crate) fn load(path: &Path) -> Result<Template, TemplateError> {
    parse(path, read(path)?)
}

/// Reads and inspects a template a CDK app synthesized, which may have no resources (the flag
/// says it has some).
pub(crate) fn load_synthesized(path: &Path) -> Result<(Template, bool), TemplateError> {
    parse_synthesized(path, read(path)?)
}

fn read(path: &Path) -> Result<String, TemplateError> {
    let bytes = read_limited(path, TEMPLATE_FILE_LIMIT)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TemplateError::NotFound,
            _ => TemplateError::Unreadable(e.to_string()),
        })?
        .map_err(|t| TemplateError::TooLarge {
            size: t.size,
            limit: t.limit,
        })?;
    let body = String::from_utf8(bytes)
        .map_err(|e| TemplateError::NotUtf8(e.utf8_error().valid_up_to()))?;
    check_yaml_expansion(&body).map_err(|b| TemplateError::AliasBlowup {
        budget: b.budget,
        alias_line: b.alias_line,
    })?;
    Ok(body)
}
