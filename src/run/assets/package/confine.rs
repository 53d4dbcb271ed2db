//! Keeping an asset inside its root while it is read: every symlink is resolved and checked as
//! the entry is opened, so a link out of the project (`/proc/self/environ`, `~/.aws`) is refused
//! however it got there, and nothing but regular files and directories is read.
//!
//! The check is made on the opened file, not on the name before opening (Linux: the path the
//! kernel reports for the descriptor; elsewhere: the device and inode of the descriptor against
//! the resolved path's), so swapping a link in between checking and reading does not help.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{ExitKind, fail_fix};

const FIX: &str = "keep the asset's files inside its root: copy the target into the asset directory, or remove the symlink (a stage file's `asset_root:` sets the root)";

/// `link` resolves to `target`, outside `root`: bad input (exit code 2).
pub(super) fn escape(link: &Path, target: &Path, root: &Path) -> anyhow::Error {
    fail_fix(
        ExitKind::Validation,
        format!(
            "{} is a symlink to {}, outside the asset root {}",
            link.display(),
            target.display(),
            root.display()
        ),
        FIX,
    )
}

/// `path` is a socket, FIFO or device: bad input (exit code 2).
pub(super) fn special(path: &Path) -> anyhow::Error {
    fail_fix(
        ExitKind::Validation,
        format!(
            "{} is neither a regular file nor a directory (socket, FIFO or device)",
            path.display()
        ),
        "remove it from the asset directory: only regular files and directories are published",
    )
}

/// `path` with symlinks resolved, refused unless inside `root`.
pub(super) fn resolve_inside(path: &Path, root: &Path) -> anyhow::Result<PathBuf> {
    let real = fs::canonicalize(path)
        .map_err(|e| super::describe_io_error(e, path, "resolve asset entry"))?;
    if !real.starts_with(root) {
        return Err(escape(path, &real, root));
    }
    Ok(real)
}

/// Opens the regular file `path` for reading, refusing it unless the file actually opened is
/// inside `root` and regular. Never blocks on a FIFO.
pub(super) fn open_inside(path: &Path, root: &Path) -> anyhow::Result<File> {
    let file = open_nonblocking(path).map_err(|e| super::describe_io_error(e, path, "read"))?;
    let metadata = file
        .metadata()
        .map_err(|e| super::describe_io_error(e, path, "read"))?;
    if !metadata.is_file() {
        return Err(special(path));
    }
    let real = opened_path(&file, path, &metadata)?;
    if !real.starts_with(root) {
        return Err(escape(path, &real, root));
    }
    Ok(file)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Where the opened `file` really is.
#[cfg(target_os = "linux")]
fn opened_path(file: &File, path: &Path, metadata: &fs::Metadata) -> anyhow::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    match fs::read_link(&fd) {
        Ok(real) => Ok(real),
        // No /proc (a minimal container): the resolved name, checked against the descriptor.
        Err(_) => resolved_and_same(path, metadata),
    }
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_file: &File, path: &Path, metadata: &fs::Metadata) -> anyhow::Result<PathBuf> {
    resolved_and_same(path, metadata)
}

/// The resolved `path`, if it is still the file `opened` describes.
fn resolved_and_same(path: &Path, opened: &fs::Metadata) -> anyhow::Result<PathBuf> {
    let real = fs::canonicalize(path).map_err(|e| super::describe_io_error(e, path, "resolve"))?;
    let now = fs::metadata(&real).map_err(|e| super::describe_io_error(e, &real, "read"))?;
    if !same_file(opened, &now) {
        anyhow::bail!(
            "{} changed while it was being read (replaced by another file or link); run again once the asset directory is stable",
            path.display()
        );
    }
    Ok(real)
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}
