//! A stage's `assets:`: every path must exist, stay inside the asset root (the stage file's
//! directory, or the top-level `asset_root:`) and suit its packaging, so nothing fails halfway
//! and nothing outside the project is published.

use std::path::{Component, Path, PathBuf};

use super::problems::Cx;
use crate::model::assets::{AssetSpec, AssetTarget, Packaging};
use crate::source::stagefile::{AssetEntry, StageEntry};

/// The directory every stage-file asset must stay inside.
pub(super) struct AssetRoot {
    /// Absolute, `..` removed without resolving symlinks: what the paths as written must stay in.
    lexical: PathBuf,
    /// Symlinks resolved: what the paths must still be in once resolved.
    real: PathBuf,
    /// How the stage file names it, for messages.
    described: String,
}

/// The top-level `asset_root:` (relative to the stage file; it must be a directory), else the
/// stage file's directory. None, with a problem, if it is unusable.
pub(super) fn root(cx: &mut Cx, dir: &Path, declared: Option<&str>) -> Option<AssetRoot> {
    let base = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let relative = declared.unwrap_or(".");
    let candidate = base.join(relative);
    let problem = if Path::new(relative).is_absolute() {
        format!("'{relative}' is an absolute path")
    } else {
        match std::fs::canonicalize(&candidate) {
            Ok(real) if real.is_dir() => {
                return Some(AssetRoot {
                    lexical: lexical(&candidate),
                    described: match declared {
                        Some(d) => format!("asset_root '{d}' ({})", real.display()),
                        None => format!("the stage file's directory ({})", real.display()),
                    },
                    real,
                });
            }
            Ok(_) => format!("'{relative}' is not a directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("'{relative}': not found")
            }
            Err(e) => format!("'{relative}': {e}"),
        }
    };
    cx.at(cx.line_of("asset_root", None, 1))
        .field("asset_root")
        .report(
            problem,
            "name an existing directory relative to the stage file that contains every asset (e.g. `asset_root: ..` for the repository root), or leave asset_root out (the stage file's directory)",
        );
    None
}

/// `path` made absolute with `.` and `..` removed as written (no symlink resolved).
fn lexical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The stage's assets that can be published; the others are problems. With no usable asset root
/// (already a problem) no asset is checked.
pub(super) fn assets(
    cx: &mut Cx,
    dir: &Path,
    root: Option<&AssetRoot>,
    s: &StageEntry,
) -> Vec<AssetSpec> {
    let Some(root) = root else {
        return Vec::new();
    };
    s.assets
        .iter()
        .filter_map(|(name, entry)| asset(cx, dir, root, s, name, entry))
        .collect()
}

/// Why `path` (relative to `dir`) is not inside `root`, as written or once resolved.
fn escape(dir: &Path, root: &AssetRoot, path: &str) -> Option<String> {
    if Path::new(path).is_absolute() {
        return Some(format!(
            "{path} is an absolute path; assets must stay inside {}",
            root.described
        ));
    }
    let joined = dir.join(path);
    if !lexical(&joined).starts_with(&root.lexical) {
        return Some(format!("{path} leaves {} through '..'", root.described));
    }
    match std::fs::canonicalize(&joined) {
        Ok(real) if !real.starts_with(&root.real) => Some(format!(
            "{path} resolves through a symlink to {}, outside {}",
            real.display(),
            root.described
        )),
        _ => None,
    }
}

fn asset(
    cx: &mut Cx,
    dir: &Path,
    root: &AssetRoot,
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
    if let Some(message) = escape(dir, root, &entry.path) {
        cx.at(line).stage(&s.name).field(format!("{field}.path")).report(
            message,
            "write the path relative to the stage file and keep it (and any symlink's target) inside the asset root, or declare a top-level `asset_root:` (relative to the stage file) that contains it",
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
        root: root.real.clone(),
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
