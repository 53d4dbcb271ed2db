//! Turning an asset source (a file, or a directory to zip) into the exact bytes
//! that get uploaded, plus their SHA-256 and size.
//!
//! The zip format follows cdk-assets (`@aws-cdk/private-tools/lib/zip`): entries
//! sorted by path, dot-files included, symlinks followed, empty directories left
//! out (cdk-assets globs with `nodir: true`), a fixed 1980-01-01 timestamp and the
//! original permission bits. The archive therefore depends only on file names,
//! contents and permission bits, so re-packaging unchanged sources yields the
//! same hash and the same S3 object key, and the upload can be skipped.
//!
//! Permission bits are kept verbatim, so the same tree checked out under a
//! different umask (0644 vs 0664) gives a different archive; cdk-assets has the
//! same property.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::bail;
use sha2::{Digest, Sha256};

use crate::model::assets::Packaging;

mod archive;
mod cache;
mod confine;

pub use archive::zip_directory;
pub use cache::ZipCache;

/// Large enough to keep syscalls off the profile, small enough to allocate per call.
const IO_BUFFER_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedAsset {
    /// The file whose bytes are uploaded: the source file itself, or the cached zip.
    pub path_to_upload: PathBuf,
    /// Lower-case hex SHA-256 of `path_to_upload`.
    pub sha256: String,
    pub size: u64,
    /// `".zip"`, `".json"`, `".yaml"`, ... or `""` when the file has no extension.
    pub extension: String,
    /// A line to print: a cached zip was not trusted and was rebuilt.
    pub note: Option<String>,
}

impl PackagedAsset {
    /// Content-addressed S3 key: identical bytes always map to the same key.
    pub fn object_key(&self) -> String {
        format!("{}{}", self.sha256, self.extension)
    }
}

/// Streams `path` through SHA-256; returns the lower-case hex digest and the byte count.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut buffer = vec![0u8; IO_BUFFER_BYTES];
    let mut file = File::open(path)?;
    let (digest, size) = sha256_reader(&mut file, &mut buffer)?;
    Ok((to_hex(&digest), size))
}

/// Prepares `source` for upload; nothing it reads may resolve outside `root` (symlinks
/// resolved), and only regular files and directories are read. A file is used in place (its
/// resolved path); a directory is zipped into `cache` under a name derived from its contents,
/// and an archive already there under that name is reused only if its bytes still have the
/// digest recorded when it was built.
pub fn package_asset(
    source: &Path,
    root: &Path,
    packaging: Packaging,
    cache: &ZipCache,
) -> anyhow::Result<PackagedAsset> {
    let metadata = fs::metadata(source).map_err(|e| describe_io_error(e, source, "read asset"))?;
    match packaging {
        Packaging::File => {
            if metadata.is_dir() {
                bail!(
                    "asset {} is a directory but its packaging is 'file': use packaging 'zip' to upload a directory",
                    source.display()
                );
            }
            let real = confine::resolve_inside(source, root)?;
            let mut file = confine::open_inside(&real, root)?;
            let mut buffer = vec![0u8; IO_BUFFER_BYTES];
            let (digest, size) = sha256_reader(&mut file, &mut buffer)
                .map_err(|e| describe_io_error(e, source, "hash asset"))?;
            Ok(PackagedAsset {
                path_to_upload: real,
                sha256: to_hex(&digest),
                size,
                extension: file_extension(source),
                note: None,
            })
        }
        Packaging::Zip => {
            if !metadata.is_dir() {
                bail!(
                    "asset {} is not a directory but its packaging is 'zip': point it at a directory, or use packaging 'file' to upload the file as is",
                    source.display()
                );
            }
            let cached = archive::zip_into_cache(source, root, cache)?;
            Ok(PackagedAsset {
                path_to_upload: cached.path,
                sha256: cached.sha256,
                size: cached.size,
                extension: ".zip".to_string(),
                note: cached.note,
            })
        }
    }
}

fn sha256_reader(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let read = match reader.read(buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((hasher.finalize().into(), total))
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

fn file_extension(path: &Path) -> String {
    path.extension()
        .map(|ext| format!(".{}", ext.to_string_lossy()))
        .unwrap_or_default()
}

/// Turns an I/O error into a message that names the path and suggests a fix.
fn describe_io_error(error: io::Error, path: &Path, action: &str) -> anyhow::Error {
    let hint = match error.kind() {
        io::ErrorKind::NotFound => {
            "it does not exist; check the path, or create it before packaging"
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied; make it readable (and directories listable) by the user running pipeline-run"
        }
        _ => "",
    };
    if hint.is_empty() {
        anyhow::Error::new(error).context(format!("cannot {action} {}", path.display()))
    } else {
        anyhow::anyhow!("cannot {action} {}: {hint} ({error})", path.display())
    }
}

#[cfg(test)]
mod tests;

#[cfg(all(test, unix))]
mod confine_tests;
