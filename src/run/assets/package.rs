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
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

use crate::model::assets::Packaging;

/// Large enough to keep syscalls off the profile, small enough to allocate per call.
const IO_BUFFER_BYTES: usize = 256 * 1024;

/// Bumped whenever the zip layout changes, so cached archives from an older
/// layout are not mistaken for current ones.
const ZIP_LAYOUT_VERSION: &str = "pipeline-run-zip-v1";

/// zlib's default; pinned so a library default change cannot silently change hashes.
const DEFLATE_LEVEL: i64 = 6;

/// Permission bits written when the platform has none to offer.
#[cfg(not(unix))]
const DEFAULT_FILE_MODE: u32 = 0o644;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedAsset {
    /// The file whose bytes are uploaded: the source file itself, or the cached zip.
    pub path_to_upload: PathBuf,
    /// Lower-case hex SHA-256 of `path_to_upload`.
    pub sha256: String,
    pub size: u64,
    /// `".zip"`, `".json"`, `".yaml"`, ... or `""` when the file has no extension.
    pub extension: String,
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

/// Writes a deterministic zip of `dir` to `out_path` (see the module docs for
/// the layout). The archive is written to a temporary file next to `out_path`
/// and renamed into place, so readers never see a partial archive.
///
/// Symlinks are followed (a link to a directory is zipped as a directory); a
/// broken link or a link cycle is an error. Empty directories are not stored.
/// An existing `out_path` inside `dir` would itself be zipped: keep outputs
/// outside the source.
pub fn zip_directory(dir: &Path, out_path: &Path) -> anyhow::Result<()> {
    let entries = collect_zip_entries(dir)?;
    write_zip_atomically(&entries, out_path)
}

/// Prepares `source` for upload. A file is used in place; a directory is zipped
/// into `cache_dir` under a name derived from its contents, and an archive
/// already there under that name is reused instead of being rebuilt.
pub fn package_asset(
    source: &Path,
    packaging: Packaging,
    cache_dir: &Path,
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
            let (sha256, size) =
                sha256_file(source).map_err(|e| describe_io_error(e, source, "hash asset"))?;
            Ok(PackagedAsset {
                path_to_upload: source.to_path_buf(),
                sha256,
                size,
                extension: file_extension(source),
            })
        }
        Packaging::Zip => {
            if !metadata.is_dir() {
                bail!(
                    "asset {} is not a directory but its packaging is 'zip': point it at a directory, or use packaging 'file' to upload the file as is",
                    source.display()
                );
            }
            let archive = zip_into_cache(source, cache_dir)?;
            let (sha256, size) = sha256_file(&archive)
                .map_err(|e| describe_io_error(e, &archive, "hash packaged asset"))?;
            Ok(PackagedAsset {
                path_to_upload: archive,
                sha256,
                size,
                extension: ".zip".to_string(),
            })
        }
    }
}

fn zip_into_cache(source: &Path, cache_dir: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(cache_dir)
        .map_err(|e| describe_io_error(e, cache_dir, "create asset cache directory"))?;
    reject_cache_inside_source(source, cache_dir)?;

    let entries = collect_zip_entries(source)?;
    let fingerprint = fingerprint_entries(&entries)?;
    let archive = cache_dir.join(format!("{fingerprint}.zip"));
    // Archives only ever appear under their final name through an atomic rename,
    // so an existing one is complete and was built from identical content.
    if !archive.is_file() {
        write_zip_atomically(&entries, &archive)?;
    }
    Ok(archive)
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

fn collect_zip_entries(dir: &Path) -> anyhow::Result<Vec<ZipEntry>> {
    let metadata = fs::metadata(dir).map_err(|e| describe_io_error(e, dir, "zip directory"))?;
    if !metadata.is_dir() {
        bail!(
            "cannot zip {}: it is not a directory; point the asset at a directory or use packaging 'file'",
            dir.display()
        );
    }
    let mut entries = Vec::new();
    let mut ancestors = Vec::new();
    walk_directory(dir, "", &mut ancestors, &mut entries)?;
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(entries)
}

fn walk_directory(
    dir: &Path,
    prefix: &str,
    ancestors: &mut Vec<PathBuf>,
    entries: &mut Vec<ZipEntry>,
) -> anyhow::Result<()> {
    // Following symlinks means a link to an ancestor would recurse forever.
    let real_dir = fs::canonicalize(dir).map_err(|e| describe_io_error(e, dir, "resolve"))?;
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
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_symlink(&path) => bail!(
                "cannot zip {}: it is a broken symlink; fix or remove it",
                path.display()
            ),
            Err(e) => return Err(describe_io_error(e, &path, "read")),
        };
        if metadata.is_dir() {
            walk_directory(&path, &format!("{name}/"), ancestors, entries)?;
        } else if metadata.is_file() {
            entries.push(ZipEntry {
                name,
                source: path,
                mode: permission_bits(&metadata),
                size: metadata.len(),
            });
        } else {
            bail!(
                "cannot zip {}: it is neither a regular file nor a directory (socket, FIFO or device); remove it from the asset directory",
                path.display()
            );
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
fn fingerprint_entries(entries: &[ZipEntry]) -> anyhow::Result<String> {
    let mut buffer = vec![0u8; IO_BUFFER_BYTES];
    let mut fingerprint = Sha256::new();
    fingerprint.update(ZIP_LAYOUT_VERSION.as_bytes());
    for entry in entries {
        let mut file =
            File::open(&entry.source).map_err(|e| describe_io_error(e, &entry.source, "read"))?;
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

fn write_zip_atomically(entries: &[ZipEntry], out_path: &Path) -> anyhow::Result<()> {
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
        let mut source =
            File::open(&entry.source).map_err(|e| describe_io_error(e, &entry.source, "read"))?;
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
    temp.persist(out_path)
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
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    /// A directory under the system temp dir, removed on drop.
    struct ScratchDir(PathBuf);

    impl ScratchDir {
        fn new(label: &str) -> Self {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let path = std::env::temp_dir().join(format!(
                "pipeline-run-package-{label}-{}-{nanos}-{unique}",
                std::process::id()
            ));
            fs::create_dir_all(&path).unwrap();
            ScratchDir(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write_file(root: &Path, relative: &str, content: &[u8], mtime: SystemTime) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = File::create(&path).unwrap();
        (&file).write_all(content).unwrap();
        file.set_modified(mtime).unwrap();
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    const TREE: &[(&str, &[u8])] = &[
        ("index.js", b"exports.handler = async () => 'ok';\n"),
        (".hidden/config", b"dot directories are included\n"),
        (".env", b"A=1\n"),
        ("lib/util.js", b"module.exports = {};\n"),
        ("lib/nested/deep.txt", b"deep\n"),
        ("bin/run.sh", b"#!/bin/sh\necho run\n"),
        ("empty.txt", b""),
    ];

    fn build_tree(root: &Path, reversed: bool, mtime: SystemTime) {
        let files: Vec<_> = if reversed {
            TREE.iter().rev().collect()
        } else {
            TREE.iter().collect()
        };
        for (relative, content) in files {
            write_file(root, relative, content, mtime);
        }
        #[cfg(unix)]
        {
            set_mode(&root.join("bin/run.sh"), 0o755);
            set_mode(&root.join("empty.txt"), 0o644);
        }
    }

    #[test]
    fn zip_is_byte_identical_regardless_of_mtime_and_creation_order() {
        let scratch = ScratchDir::new("determinism");
        let first = scratch.path().join("first");
        let second = scratch.path().join("second");
        build_tree(
            &first,
            false,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        );
        build_tree(&second, true, SystemTime::now());
        fs::create_dir_all(second.join("empty-dir")).unwrap();

        let first_zip = scratch.path().join("out/first.zip");
        let second_zip = scratch.path().join("out/second.zip");
        zip_directory(&first, &first_zip).unwrap();
        zip_directory(&second, &second_zip).unwrap();

        assert_eq!(
            fs::read(&first_zip).unwrap(),
            fs::read(&second_zip).unwrap()
        );
    }

    #[test]
    fn zip_entries_are_sorted_dated_1980_and_hold_the_content() {
        let scratch = ScratchDir::new("entries");
        let source = scratch.path().join("src");
        build_tree(&source, true, SystemTime::now());
        let out = scratch.path().join("asset.zip");
        zip_directory(&source, &out).unwrap();

        let mut archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        let mut expected: Vec<String> = TREE.iter().map(|(n, _)| n.to_string()).collect();
        expected.sort();
        let mut in_archive_order = Vec::new();
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).unwrap();
            assert_eq!(entry.last_modified(), Some(DateTime::DEFAULT));
            assert_eq!(entry.compression(), CompressionMethod::Deflated);
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            let name = entry.name().unwrap().into_owned();
            let wanted = TREE.iter().find(|(n, _)| *n == name).unwrap().1;
            assert_eq!(content, wanted);
            in_archive_order.push(name);
        }
        assert_eq!(in_archive_order, expected);
        assert_eq!(names.len(), expected.len());
    }

    #[cfg(unix)]
    #[test]
    fn zip_keeps_unix_permission_bits() {
        let scratch = ScratchDir::new("modes");
        let source = scratch.path().join("src");
        build_tree(&source, false, SystemTime::now());
        set_mode(&source.join("lib/util.js"), 0o600);
        let out = scratch.path().join("asset.zip");
        zip_directory(&source, &out).unwrap();

        let mut archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
        let mode_of = |archive: &mut zip::ZipArchive<File>, name: &str| {
            archive.by_name(name).unwrap().unix_mode().unwrap() & 0o777
        };
        assert_eq!(mode_of(&mut archive, "bin/run.sh"), 0o755);
        assert_eq!(mode_of(&mut archive, "empty.txt"), 0o644);
        assert_eq!(mode_of(&mut archive, "lib/util.js"), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn zip_follows_symlinks_and_rejects_cycles() {
        let scratch = ScratchDir::new("symlinks");
        let source = scratch.path().join("src");
        let outside = scratch.path().join("outside");
        write_file(&source, "real.txt", b"real", SystemTime::now());
        write_file(&outside, "shared.txt", b"shared", SystemTime::now());
        std::os::unix::fs::symlink(&outside, source.join("linked-dir")).unwrap();
        std::os::unix::fs::symlink(source.join("real.txt"), source.join("alias.txt")).unwrap();
        let out = scratch.path().join("asset.zip");
        zip_directory(&source, &out).unwrap();
        let archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
        let mut names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["alias.txt", "linked-dir/shared.txt", "real.txt"]);

        std::os::unix::fs::symlink(&source, source.join("loop")).unwrap();
        let error = zip_directory(&source, &out).unwrap_err().to_string();
        assert!(error.contains("symlink back into"), "{error}");

        fs::remove_file(source.join("loop")).unwrap();
        std::os::unix::fs::symlink(scratch.path().join("missing"), source.join("dangling"))
            .unwrap();
        let error = zip_directory(&source, &out).unwrap_err().to_string();
        assert!(error.contains("broken symlink"), "{error}");
    }

    #[test]
    fn sha256_of_known_content() {
        let scratch = ScratchDir::new("sha");
        let path = scratch.path().join("abc.txt");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string(),
                3
            )
        );
        let empty = scratch.path().join("empty");
        fs::write(&empty, b"").unwrap();
        assert_eq!(
            sha256_file(&empty).unwrap().0,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sha256_streams_a_multi_megabyte_file() {
        let scratch = ScratchDir::new("streaming");
        let path = scratch.path().join("big.bin");
        // 5 MiB + 7 bytes so the last read is a partial buffer.
        let size = 5 * 1024 * 1024 + 7;
        let mut writer = BufWriter::new(File::create(&path).unwrap());
        let mut expected = Sha256::new();
        let block: Vec<u8> = (0..=255u8).collect();
        let mut written = 0;
        while written < size {
            let take = block.len().min(size - written);
            writer.write_all(&block[..take]).unwrap();
            expected.update(&block[..take]);
            written += take;
        }
        writer.flush().unwrap();
        drop(writer);

        let (hex, bytes) = sha256_file(&path).unwrap();
        assert_eq!(bytes, size as u64);
        assert_eq!(hex, to_hex(&expected.finalize()));
    }

    #[test]
    fn package_file_is_used_in_place() {
        let scratch = ScratchDir::new("package-file");
        let path = scratch.path().join("template.json");
        fs::write(&path, b"{}").unwrap();
        let packaged =
            package_asset(&path, Packaging::File, &scratch.path().join("cache")).unwrap();
        assert_eq!(packaged.path_to_upload, path);
        assert_eq!(packaged.size, 2);
        assert_eq!(packaged.extension, ".json");
        assert_eq!(
            packaged.object_key(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a.json"
        );

        let bare = scratch.path().join("Makefile");
        fs::write(&bare, b"all:\n").unwrap();
        let packaged = package_asset(&bare, Packaging::File, scratch.path()).unwrap();
        assert_eq!(packaged.extension, "");
        assert_eq!(packaged.object_key(), packaged.sha256);
    }

    #[test]
    fn package_directory_zips_into_cache_and_reuses_it() {
        let scratch = ScratchDir::new("package-zip");
        let source = scratch.path().join("src");
        let cache = scratch.path().join("cache");
        build_tree(&source, false, SystemTime::now());

        let first = package_asset(&source, Packaging::Zip, &cache).unwrap();
        assert_eq!(first.extension, ".zip");
        assert!(first.path_to_upload.starts_with(&cache));
        assert_eq!(
            first.size,
            fs::metadata(&first.path_to_upload).unwrap().len()
        );
        assert!(first.object_key().ends_with(".zip"));

        // Touching mtimes must not invalidate the cache entry.
        let cached_mtime = fs::metadata(&first.path_to_upload)
            .unwrap()
            .modified()
            .unwrap();
        File::options()
            .write(true)
            .open(source.join("index.js"))
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(60))
            .unwrap();
        let again = package_asset(&source, Packaging::Zip, &cache).unwrap();
        assert_eq!(again, first);
        assert_eq!(
            fs::metadata(&again.path_to_upload)
                .unwrap()
                .modified()
                .unwrap(),
            cached_mtime
        );

        fs::write(source.join("index.js"), b"changed").unwrap();
        let changed = package_asset(&source, Packaging::Zip, &cache).unwrap();
        assert_ne!(changed.sha256, first.sha256);
        assert_ne!(changed.path_to_upload, first.path_to_upload);
        let leftovers: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn package_errors_name_the_path_and_the_fix() {
        let scratch = ScratchDir::new("package-errors");
        let missing = scratch.path().join("nope");
        let error = format!(
            "{:#}",
            package_asset(&missing, Packaging::File, scratch.path()).unwrap_err()
        );
        assert!(error.contains(&missing.display().to_string()), "{error}");
        assert!(error.contains("does not exist"), "{error}");

        let file = scratch.path().join("file.txt");
        fs::write(&file, b"x").unwrap();
        let error = package_asset(&file, Packaging::Zip, scratch.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a directory"), "{error}");
        assert!(error.contains("packaging 'file'"), "{error}");

        let error = package_asset(scratch.path(), Packaging::File, &scratch.path().join("c"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("use packaging 'zip'"), "{error}");

        let error = package_asset(
            scratch.path(),
            Packaging::Zip,
            &scratch.path().join("cache"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("inside the asset directory"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_file_reports_permission_hint() {
        let scratch = ScratchDir::new("permissions");
        let source = scratch.path().join("src");
        write_file(&source, "secret.txt", b"s", SystemTime::now());
        set_mode(&source.join("secret.txt"), 0o000);
        // root can read anything, in which case there is nothing to assert.
        if File::open(source.join("secret.txt")).is_ok() {
            return;
        }
        let error = format!(
            "{:#}",
            package_asset(&source, Packaging::Zip, &scratch.path().join("cache")).unwrap_err()
        );
        assert!(error.contains("secret.txt"), "{error}");
        assert!(error.contains("permission denied"), "{error}");
    }
}
