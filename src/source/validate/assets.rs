//! A stage's `assets:`: every path must exist and suit its packaging, so nothing fails halfway.

use std::path::Path;

use super::problems::Cx;
use crate::model::assets::{AssetSpec, AssetTarget, Packaging};
use crate::source::stagefile::{AssetEntry, StageEntry};

/// The stage's assets that can be published; the others are problems.
pub(super) fn assets(cx: &mut Cx, dir: &Path, s: &StageEntry) -> Vec<AssetSpec> {
    s.assets
        .iter()
        .filter_map(|(name, entry)| asset(cx, dir, s, name, entry))
        .collect()
}

fn asset(
    cx: &mut Cx,
    dir: &Path,
    s: &StageEntry,
    name: &str,
    entry: &AssetEntry,
) -> Option<AssetSpec> {
    let field = format!("assets.{name}");
    let line = cx.stage_key_line(&s.name, name);
    if !valid_asset_name(name) {
        cx.at(line).stage(&s.name).field(&field).report(
            format!("'{name}' is not a valid asset name"),
            "use letters, digits, '-' and '_' only, starting with a letter (it is referenced as ${assets.NAME.key})",
        );
        return None;
    }
    let source = dir.join(&entry.path);
    let meta = match std::fs::metadata(&source) {
        Ok(m) => m,
        Err(e) => {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                e.to_string()
            };
            cx.at(line)
                .stage(&s.name)
                .field(format!("{field}.path"))
                .report(
                    format!("{}: {reason}", entry.path),
                    format!(
                        "create {} or correct the path (relative to the stage file)",
                        source.display()
                    ),
                );
            return None;
        }
    };
    let packaging =
        match entry.packaging.as_deref() {
            None if meta.is_dir() => Packaging::Zip,
            None => Packaging::File,
            Some("zip") => Packaging::Zip,
            Some("file") => Packaging::File,
            Some(other) => {
                cx.at(line).stage(&s.name).field(format!("{field}.packaging")).report(
                format!("'{other}' is not a packaging"),
                "use `zip` (a directory, zipped) or `file` (uploaded as is), or leave it out",
            );
                return None;
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
        cx.at(line).stage(&s.name).field(format!("{field}.packaging")).report(
            message,
            "leave `packaging` out (zip for a directory, file for a file), or point `path` at the right kind",
        );
        return None;
    }
    Some(AssetSpec {
        name: name.to_string(),
        source,
        packaging,
        target: AssetTarget::Staging,
    })
}

/// Referenced as `${assets.NAME.ATTR}`: letters, digits, '-' and '_', starting with a letter.
fn valid_asset_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
