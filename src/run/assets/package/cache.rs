//! The zip cache: a private directory (0700, owned by the user running pipeline-run) under
//! `$RUNNER_TEMP` on GitHub Actions (emptied by the runner around every job), else
//! `$XDG_CACHE_HOME/pipeline-run`, else `~/.cache/pipeline-run`; `PIPELINE_RUN_CACHE_DIR`
//! overrides. Never a shared `/tmp` path, where another user or an earlier job could plant the
//! zip that becomes production code.
//!
//! An entry is `<fingerprint>.zip` (the fingerprint of the sources) plus `<fingerprint>.zip.sha256`,
//! the SHA-256 of the zip's bytes recorded when it was built. An entry is used only when its
//! bytes still have the recorded digest; anything else is rebuilt, with a line saying so.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{ExitKind, fail_fix};

/// A cache directory checked to be private; made by `ZipCache::open`.
#[derive(Debug, Clone)]
pub struct ZipCache {
    dir: PathBuf,
}

impl ZipCache {
    /// Where the cache lives for this process's environment.
    pub fn default_dir() -> PathBuf {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("PIPELINE_RUN_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = var("RUNNER_TEMP") {
            return PathBuf::from(dir).join("pipeline-run-cache");
        }
        if let Some(dir) = var("XDG_CACHE_HOME") {
            return PathBuf::from(dir).join("pipeline-run");
        }
        match var("HOME") {
            Some(home) => PathBuf::from(home).join(".cache").join("pipeline-run"),
            // No home at all: a private directory of our own in the working directory's cache.
            None => PathBuf::from(".pipeline-run-cache"),
        }
    }

    /// Opens `dir` as the cache: created 0700 if missing; emptied and made 0700 if it is ours
    /// but open to others and holds only cache entries (the second value says so); refused if it
    /// is a symlink, not a directory, another user's, or open to others with other files in it
    /// (never deleted: `PIPELINE_RUN_CACHE_DIR` may name any directory).
    pub fn open(dir: &Path) -> anyhow::Result<(ZipCache, Option<String>)> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| {
                super::describe_io_error(e, parent, "create the asset cache's parent directory")
            })?;
        }
        let cache = ZipCache {
            dir: dir.to_path_buf(),
        };
        match create_private(dir) {
            Ok(()) => return Ok((cache, None)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(super::describe_io_error(
                    e,
                    dir,
                    "create asset cache directory",
                ));
            }
        }
        let metadata = fs::symlink_metadata(dir)
            .map_err(|e| super::describe_io_error(e, dir, "read asset cache directory"))?;
        if metadata.file_type().is_symlink() || !metadata.is_dir() {
            return Err(refused(dir, "is a symlink or not a directory"));
        }
        let (owner, mode) = owner_and_mode(&metadata);
        if owner != current_user() {
            return Err(refused(
                dir,
                &format!(
                    "belongs to another user (uid {owner}), who could plant the zips it holds"
                ),
            ));
        }
        if mode & 0o077 == 0 {
            return Ok((cache, None));
        }
        empty_and_close(dir, mode)?;
        let note = format!(
            "asset cache {} was open to other users (mode {mode:03o}): emptied and made private (0700)",
            dir.display()
        );
        Ok((cache, Some(note)))
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn archive(&self, fingerprint: &str) -> PathBuf {
        self.dir.join(format!("{fingerprint}.zip"))
    }

    /// The digest file of `archive`.
    pub(super) fn record(archive: &Path) -> PathBuf {
        let mut name = archive.as_os_str().to_owned();
        name.push(".sha256");
        PathBuf::from(name)
    }
}

/// Removes the cache entries of a directory others could write to, then closes it (0700).
fn empty_and_close(dir: &Path, mode: u32) -> anyhow::Result<()> {
    let listing = fs::read_dir(dir)
        .map_err(|e| super::describe_io_error(e, dir, "list asset cache directory"))?;
    let mut entries = Vec::new();
    for item in listing {
        let item =
            item.map_err(|e| super::describe_io_error(e, dir, "list asset cache directory"))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let is_entry = [".zip", ".zip.sha256", ".tmp"]
            .iter()
            .any(|s| name.ends_with(s));
        if !is_entry
            || !item
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink())
        {
            return Err(refused(
                dir,
                &format!(
                    "is open to other users (mode {mode:03o}) and holds more than zip cache entries ({name})"
                ),
            ));
        }
        entries.push(item.path());
    }
    for entry in entries {
        fs::remove_file(&entry).map_err(|e| super::describe_io_error(e, &entry, "remove"))?;
    }
    set_private(dir).map_err(|e| super::describe_io_error(e, dir, "make the asset cache private"))
}

fn refused(dir: &Path, why: &str) -> anyhow::Error {
    fail_fix(
        ExitKind::Validation,
        format!(
            "asset cache directory {} {why}: zips from it could not be trusted",
            dir.display()
        ),
        "remove it, or set PIPELINE_RUN_CACHE_DIR to a directory of your own (it is created private, 0700)",
    )
}

#[cfg(unix)]
fn create_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(dir)?;
    // The umask can only remove bits; set exactly 0700 anyway.
    set_private(dir)
}

#[cfg(unix)]
fn set_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> std::io::Result<()> {
    fs::create_dir(dir)
}

#[cfg(not(unix))]
fn set_private(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn owner_and_mode(metadata: &fs::Metadata) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    (metadata.uid(), metadata.mode() & 0o777)
}

#[cfg(not(unix))]
fn owner_and_mode(_metadata: &fs::Metadata) -> (u32, u32) {
    (0, 0o700)
}

#[cfg(unix)]
fn current_user() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn current_user() -> u32 {
    0
}
