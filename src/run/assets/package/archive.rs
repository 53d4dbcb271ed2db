//! The deterministic zip of a directory (layout in the parent module's docs), built once per
//! content fingerprint into the asset cache.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

use super::cache::ZipCache;
use super::confine;
use super::{IO_BUFFER_BYTES, describe_io_error, sha256_reader, to_hex};

/// Bumped whenever the zip layout changes, so cached archives from an older
/// layout are not mistaken for current ones.
const ZIP_LAYOUT_VERSION: &str = "pipeline-run-zip-v1";

/// zlib's default; pinned so a library default change cannot silently change hashes.
const DEFLATE_LEVEL: i64 = 6;

/// Permission bits written when the platform has none to offer.
#[cfg(not(unix))]
const DEFAULT_FILE_MODE: u32 = 0o644;

/// Writes a deterministic zip of `dir` to `out_path` (see the module docs for
/// the layout). The archive is written to a temporary file next to `out_path`
/// and renamed into place, so readers never see a partial archive.
///
/// Symlinks inside `dir` are followed (a link to a directory is zipped as a
/// directory); a link out of `dir`, a broken link, a link cycle or a special file
/// is an error. Empty directories are not stored. An existing `out_path` inside
/// `dir` would itself be zipped: keep outputs outside the source.
pub fn zip_directory(dir: &Path, out_path: &Path) -> anyhow::Result<()> {
    let root = fs::canonicalize(dir).map_err(|e| describe_io_error(e, dir, "zip directory"))?;
    let entries = collect_zip_entries(dir, &root)?;
    write_zip_atomically(&entries, &root, out_path).map(|_| ())
}

/// A zip in the cache: its path, the SHA-256 and size of its bytes, and a line to print when
/// a cached entry was not trusted.
pub(super) struct Cached {
    pub(super) path: PathBuf,
    pub(super) sha256: String,
    pub(super) size: u64,
    pub(super) note: Option<String>,
}

/// The zip of `source` (confined to `root`) from `cache`, built unless an entry for the same
/// content is there with the digest recorded when it was built.
pub(super) fn zip_into_cache(
    source: &Path,
    root: &Path,
    cache: &ZipCache,
) -> anyhow::Result<Cached> {
    reject_cache_inside_source(source, cache.dir())?;

    let entries = collect_zip_entries(source, root)?;
    let fingerprint = fingerprint_entries(&entries, root)?;
    let archive = cache.archive(&fingerprint);
    let record = ZipCache::record(&archive);
    let note = match verify_entry(&archive, &record) {
        Entry::Verified(sha256, size) => {
            return Ok(Cached {
                path: archive,
                sha256,
                size,
                note: None,
            });
        }
        Entry::Missing => None,
        Entry::Untrusted(why) => Some(format!(
            "cached zip {} {why}: rebuilt from the source",
            archive.display()
        )),
    };
    let _ = fs::remove_file(&record);
    let (sha256, size) = write_zip_atomically(&entries, root, &archive)?;
    write_record(&record, &sha256)?;
    Ok(Cached {
        path: archive,
        sha256,
        size,
        note,
    })
}

enum Entry {
    /// The digest and size of an archive whose bytes match its record.
    Verified(String, u64),
    Missing,
    /// Why the archive there cannot be used.
    Untrusted(String),
}

fn verify_entry(archive: &Path, record: &Path) -> Entry {
    let regular = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file());
    if fs::symlink_metadata(archive).is_err() {
        return Entry::Missing;
    }
    if !regular(archive) {
        return Entry::Untrusted("is not a regular file".to_string());
    }
    let Some(recorded) = fs::read_to_string(record)
        .ok()
        .filter(|_| regular(record))
        .map(|r| r.trim().to_string())
    else {
        return Entry::Untrusted("has no recorded digest".to_string());
    };
    match super::sha256_file(archive) {
        Ok((sha256, size)) if sha256 == recorded => Entry::Verified(sha256, size),
        Ok((sha256, _)) => Entry::Untrusted(format!(
            "does not match the digest recorded when it was built ({sha256} instead of {recorded})"
        )),
        Err(e) => Entry::Untrusted(format!("cannot be read ({e})")),
    }
}

/// Writes the digest next to the archive, atomically.
fn write_record(record: &Path, sha256: &str) -> anyhow::Result<()> {
    let temp = TempFile::new_next_to(record);
    fs::write(&temp.path, format!("{sha256}\n"))
        .map_err(|e| describe_io_error(e, &temp.path, "write"))?;
    temp.persist(record)
}

/// The cached archive would be swept into the next fingerprint, changing the
/// hash on every run.
fn reject_cache_inside_source(source: &Path, cache_dir: &Path) -> anyhow::Result<()> {
    let source_real =
        fs::canonicalize(source).map_err(|e| describe_io_error(e, source, "resolve asset"))?;
    let cache_real = fs::canonicalize(cache_dir)
        .map_err(|e| describe_io_error(e, cache_dir, "resolve asset cache directory"))?;
    if cache_real.starts_with(&source_real) {
        bail!(
            "asset cache directory {} is inside the asset directory {}: choose a cache directory outside the asset",
            cache_dir.display(),
            source.display()
        );
    }
    Ok(())
}

/// One regular file to store in the archive.
#[derive(Debug)]
struct ZipEntry {
    /// '/'-separated path inside the archive.
    name: String,
    source: PathBuf,
    mode: u32,
    size: u64,
}

fn collect_zip_entries(dir: &Path, root: &Path) -> anyhow::Result<Vec<ZipEntry>> {
    let metadata = fs::metadata(dir).map_err(|e| describe_io_error(e, dir, "zip directory"))?;
    if !metadata.is_dir() {
        bail!(
            "cannot zip {}: it is not a directory; point the asset at a directory or use packaging 'file'",
            dir.display()
        );
    }
    let mut entries = Vec::new();
    let mut ancestors = Vec::new();
    walk_directory(dir, root, "", &mut ancestors, &mut entries)?;
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(entries)
}

fn walk_directory(
    dir: &Path,
    root: &Path,
    prefix: &str,
    ancestors: &mut Vec<PathBuf>,
    entries: &mut Vec<ZipEntry>,
) -> anyhow::Result<()> {
    // Following symlinks means a link to an ancestor would recurse forever.
    let real_dir = confine::resolve_inside(dir, root)?;
    if ancestors.contains(&real_dir) {
        bail!(
            "cannot zip {}: it is a symlink back into one of its parent directories ({}); remove the link or point it elsewhere",
            dir.display(),
            real_dir.display()
        );
    }
    ancestors.push(real_dir);

    let listing = fs::read_dir(dir).map_err(|e| describe_io_error(e, dir, "list directory"))?;
    for item in listing {
        let item = item.map_err(|e| describe_io_error(e, dir, "list directory"))?;
        let path = item.path();
        let Some(file_name) = item.file_name().to_str().map(str::to_owned) else {
            bail!(
                "cannot zip {}: the file name is not valid UTF-8; rename it",
                path.display()
            );
        };
        let name = format!("{prefix}{file_name}");
        if item.file_type().is_ok_and(|t| t.is_symlink())
            && let Ok(target) = fs::canonicalize(&path)
            && !target.starts_with(root)
        {
            return Err(confine::escape(&path, &target, root));
        }
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_symlink(&path) => bail!(
                "cannot zip {}: it is a broken symlink; fix or remove it",
                path.display()
            ),
            Err(e) => return Err(describe_io_error(e, &path, "read")),
        };
        if metadata.is_dir() {
            walk_directory(&path, root, &format!("{name}/"), ancestors, entries)?;
        } else if metadata.is_file() {
            entries.push(ZipEntry {
                name,
                source: path,
                mode: permission_bits(&metadata),
                size: metadata.len(),
            });
        } else {
            return Err(confine::special(&path));
        }
    }

    ancestors.pop();
    Ok(())
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(unix)]
fn permission_bits(metadata: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn permission_bits(_metadata: &fs::Metadata) -> u32 {
    DEFAULT_FILE_MODE
}

/// Hash of everything the archive is built from, used as the cache file name.
fn fingerprint_entries(entries: &[ZipEntry], root: &Path) -> anyhow::Result<String> {
    let mut buffer = vec![0u8; IO_BUFFER_BYTES];
    let mut fingerprint = Sha256::new();
    fingerprint.update(ZIP_LAYOUT_VERSION.as_bytes());
    for entry in entries {
        let mut file = confine::open_inside(&entry.source, root)?;
        let (content_digest, size) = sha256_reader(&mut file, &mut buffer)
            .map_err(|e| describe_io_error(e, &entry.source, "read"))?;
        // NUL cannot occur in file names, so the framing is unambiguous.
        fingerprint.update(b"\0");
        fingerprint.update(entry.name.as_bytes());
        fingerprint.update(format!("\0{:o}\0{size}\0", entry.mode).as_bytes());
        fingerprint.update(content_digest);
    }
    Ok(to_hex(&fingerprint.finalize()))
}

/// Returns the SHA-256 and size of the archive written, hashed before it is renamed into place.
fn write_zip_atomically(
    entries: &[ZipEntry],
    root: &Path,
    out_path: &Path,
) -> anyhow::Result<(String, u64)> {
    let parent = match out_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent)
        .map_err(|e| describe_io_error(e, parent, "create output directory"))?;
    let temp = TempFile::new_next_to(out_path);

    let file = File::create(&temp.path).map_err(|e| describe_io_error(e, &temp.path, "create"))?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(IO_BUFFER_BYTES, file));
    let mut buffer = vec![0u8; IO_BUFFER_BYTES];
    for entry in entries {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(DEFLATE_LEVEL))
            .last_modified_time(DateTime::DEFAULT)
            .system(System::Unix)
            .unix_permissions(entry.mode)
            .large_file(entry.size >= u64::from(u32::MAX));
        zip.start_file(entry.name.as_str(), options)
            .with_context(|| format!("cannot add {} to {}", entry.name, temp.path.display()))?;
        let mut source = confine::open_inside(&entry.source, root)?;
        copy_with_buffer(&mut source, &mut zip, &mut buffer).map_err(|e| {
            describe_io_error(e, &entry.source, "zip")
                .context(format!("while writing {}", temp.path.display()))
        })?;
    }
    let file = zip
        .finish()
        .with_context(|| format!("cannot finish zip {}", temp.path.display()))?
        .into_inner()
        .map_err(|e| describe_io_error(e.into_error(), &temp.path, "write"))?;
    // Without this a crash right after the rename could leave an empty file
    // under the final name, which the cache would then trust.
    file.sync_all()
        .map_err(|e| describe_io_error(e, &temp.path, "flush"))?;
    drop(file);
    let hashed = super::sha256_file(&temp.path)
        .map_err(|e| describe_io_error(e, &temp.path, "hash packaged asset"))?;
    temp.persist(out_path)?;
    Ok(hashed)
}

/// A file that is deleted on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    fn new_next_to(target: &Path) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!(".{base}.{}.{unique}.tmp", std::process::id());
        TempFile {
            path: target.with_file_name(name),
            persisted: false,
        }
    }

    fn persist(mut self, target: &Path) -> anyhow::Result<()> {
        fs::rename(&self.path, target).with_context(|| {
            format!(
                "cannot move {} to {}",
                self.path.display(),
                target.display()
            )
        })?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn copy_with_buffer(
    reader: &mut impl Read,
    writer: &mut impl Write,
    buffer: &mut [u8],
) -> io::Result<()> {
    loop {
        let read = match reader.read(buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buffer[..read])?;
    }
}
