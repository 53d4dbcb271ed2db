//! Confinement and the cache: links out of the root and special files refused as bad input,
//! the cache directory private, and a planted or tampered cache entry rebuilt.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::*;
use crate::error::{ExitKind, Failure};

struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "pipeline-run-confine-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Scratch(fs::canonicalize(&path).unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn cache(dir: &Path) -> ZipCache {
    ZipCache::open(dir).unwrap().0
}

/// The failure's kind and text (summary and fix).
fn refusal(result: anyhow::Result<PackagedAsset>) -> (ExitKind, String) {
    let error = result.unwrap_err();
    let failure = Failure::of(&error).unwrap_or_else(|| panic!("untyped: {error:#}"));
    (failure.kind, failure.to_string())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_symlink_out_of_the_root_is_refused_naming_the_link_and_its_target() {
    let s = Scratch::new("escape");
    let source = s.0.join("site");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("index.html"), b"hi").unwrap();
    fs::write(s.0.join("credentials"), b"aws_secret_access_key=x").unwrap();
    symlink(s.0.join("credentials"), source.join("creds")).unwrap();
    let zips = cache(&s.0.join("cache"));

    let (kind, text) = refusal(package_asset(&source, &source, Packaging::Zip, &zips));
    assert_eq!(kind, ExitKind::Validation, "{text}");
    assert!(
        text.contains(&source.join("creds").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&s.0.join("credentials").display().to_string()),
        "{text}"
    );
    assert!(text.contains("outside the asset root"), "{text}");
    assert_eq!(
        fs::read_dir(s.0.join("cache")).unwrap().count(),
        0,
        "nothing zipped"
    );

    // A link to a directory outside, and a `file` asset that is such a link, likewise.
    fs::remove_file(source.join("creds")).unwrap();
    symlink("/proc/self", source.join("proc")).unwrap();
    let (kind, text) = refusal(package_asset(&source, &source, Packaging::Zip, &zips));
    assert_eq!(kind, ExitKind::Validation, "{text}");
    assert!(text.contains("/proc/"), "{text}");
    let link = s.0.join("inside").join("env");
    fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(s.0.join("credentials"), &link).unwrap();
    let root = s.0.join("inside");
    let (kind, text) = refusal(package_asset(&link, &root, Packaging::File, &zips));
    assert_eq!(kind, ExitKind::Validation, "{text}");
    assert!(text.contains(&link.display().to_string()), "{text}");
}

#[test]
fn special_files_are_refused_and_a_fifo_never_blocks_the_open() {
    let s = Scratch::new("special");
    let source = s.0.join("site");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.txt"), b"a").unwrap();
    let socket = source.join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let zips = cache(&s.0.join("cache"));
    let (kind, text) = refusal(package_asset(&source, &source, Packaging::Zip, &zips));
    assert_eq!(kind, ExitKind::Validation, "{text}");
    assert!(text.contains("app.sock"), "{text}");
    assert!(
        text.contains("neither a regular file nor a directory"),
        "{text}"
    );

    // Opened as it is read (as if swapped in after the walk): refused, not waited on.
    let fifo = s.0.join("pipe");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let error = confine::open_inside(&fifo, &s.0).unwrap_err();
    assert_eq!(
        Failure::of(&error).map(|f| f.kind),
        Some(ExitKind::Validation)
    );
}

#[test]
fn the_cache_directory_is_private_and_a_foreign_or_open_one_is_not_trusted() {
    let s = Scratch::new("cache-dir");
    let fresh = s.0.join("deep").join("cache");
    let (_, note) = ZipCache::open(&fresh).unwrap();
    assert_eq!(note, None);
    assert_eq!(mode(&fresh), 0o700);

    // Ours but open to others, holding a planted zip: emptied and closed, with a line.
    let open = s.0.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(open.join("abc.zip"), b"planted").unwrap();
    let (_, note) = ZipCache::open(&open).unwrap();
    assert!(note.unwrap().contains("mode 777"));
    assert_eq!(mode(&open), 0o700);
    assert_eq!(fs::read_dir(&open).unwrap().count(), 0);

    // Open to others and holding other files (PIPELINE_RUN_CACHE_DIR=$HOME): refused, untouched.
    let home = s.0.join("home");
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(home.join("notes.txt"), b"mine").unwrap();
    let error = ZipCache::open(&home).unwrap_err();
    assert_eq!(
        Failure::of(&error).map(|f| f.kind),
        Some(ExitKind::Validation)
    );
    assert!(home.join("notes.txt").exists());

    // A symlink in its place: refused.
    symlink(&fresh, s.0.join("link")).unwrap();
    assert!(ZipCache::open(&s.0.join("link")).is_err());

    // Another user's directory: refused (as root, one handed to nobody; else /tmp, root's).
    // SAFETY: geteuid has no preconditions.
    let foreign = if unsafe { libc::geteuid() } == 0 {
        let d = s.0.join("foreign");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
        d
    } else {
        PathBuf::from("/tmp")
    };
    let error = format!("{:#}", ZipCache::open(&foreign).unwrap_err());
    assert!(error.contains("belongs to another user"), "{error}");
}

#[test]
fn a_tampered_or_planted_cache_entry_is_rebuilt_with_a_line() {
    let s = Scratch::new("tamper");
    let source = s.0.join("site");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("index.js"), b"exports.handler = () => 1;").unwrap();
    let zips = cache(&s.0.join("cache"));
    let fresh = package_asset(&source, &source, Packaging::Zip, &zips).unwrap();
    assert_eq!(fresh.note, None);
    let bytes = fs::read(&fresh.path_to_upload).unwrap();
    let record = fs::read_to_string(ZipCache::record(&fresh.path_to_upload)).unwrap();
    assert_eq!(record.trim(), fresh.sha256);

    let again = package_asset(&source, &source, Packaging::Zip, &zips).unwrap();
    assert_eq!(
        (again.note, &again.sha256),
        (None, &fresh.sha256),
        "verified entry reused"
    );

    // Tampered: the zip under the fingerprint's name no longer has the recorded digest.
    fs::write(&fresh.path_to_upload, b"PK evil").unwrap();
    let rebuilt = package_asset(&source, &source, Packaging::Zip, &zips).unwrap();
    assert!(
        rebuilt
            .note
            .unwrap()
            .contains("does not match the digest recorded")
    );
    assert_eq!(rebuilt.sha256, fresh.sha256);
    assert_eq!(fs::read(&rebuilt.path_to_upload).unwrap(), bytes);

    // Planted without a record (as an earlier job could in a shared directory): rebuilt.
    fs::remove_file(ZipCache::record(&fresh.path_to_upload)).unwrap();
    fs::write(&fresh.path_to_upload, b"PK planted").unwrap();
    let rebuilt = package_asset(&source, &source, Packaging::Zip, &zips).unwrap();
    assert!(rebuilt.note.unwrap().contains("has no recorded digest"));
    assert_eq!(fs::read(&rebuilt.path_to_upload).unwrap(), bytes);
}
