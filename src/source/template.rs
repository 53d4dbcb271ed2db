//! Reading a template file; what it says is the model's `template::parse`.

use std::path::Path;

use crate::model::template::{Template, TemplateError, parse};

/// Reads and inspects a template.
pub(crate) fn load(path: &Path) -> Result<Template, TemplateError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TemplateError::NotFound,
        _ => TemplateError::Unreadable(e.to_string()),
    })?;
    let body = String::from_utf8(bytes)
        .map_err(|e| TemplateError::NotUtf8(e.utf8_error().valid_up_to()))?;
    parse(path, body)
}
