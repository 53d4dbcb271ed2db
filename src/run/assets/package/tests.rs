use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use zip::{CompressionMethod, DateTime};

use super::*;

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

/// `path` with symlinks resolved, as asset roots are given.
fn real(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap()
}

/// A zip cache at `dir` (created private).
fn private_cache(dir: &Path) -> ZipCache {
    ZipCache::open(dir).unwrap().0
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
fn zip_follows_symlinks_inside_the_directory_and_rejects_cycles() {
    let scratch = ScratchDir::new("symlinks");
    let source = scratch.path().join("src");
    let shared = source.join("shared");
    write_file(&source, "real.txt", b"real", SystemTime::now());
    write_file(&shared, "shared.txt", b"shared", SystemTime::now());
    std::os::unix::fs::symlink(&shared, source.join("linked-dir")).unwrap();
    std::os::unix::fs::symlink(source.join("real.txt"), source.join("alias.txt")).unwrap();
    let out = scratch.path().join("asset.zip");
    zip_directory(&source, &out).unwrap();
    let archive = zip::ZipArchive::new(File::open(&out).unwrap()).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "alias.txt",
            "linked-dir/shared.txt",
            "real.txt",
            "shared/shared.txt"
        ]
    );

    std::os::unix::fs::symlink(&source, source.join("loop")).unwrap();
    let error = zip_directory(&source, &out).unwrap_err().to_string();
    assert!(error.contains("symlink back into"), "{error}");

    fs::remove_file(source.join("loop")).unwrap();
    std::os::unix::fs::symlink(scratch.path().join("missing"), source.join("dangling")).unwrap();
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
    // Bodies in memory (templates) hash the same way.
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
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
    let cache = private_cache(&scratch.path().join("cache"));
    let packaged = package_asset(&path, &real(scratch.path()), Packaging::File, &cache).unwrap();
    assert_eq!(packaged.path_to_upload, real(&path));
    assert_eq!(packaged.size, 2);
    assert_eq!(packaged.extension, ".json");
    assert_eq!(
        packaged.object_key(),
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a.json"
    );

    let bare = scratch.path().join("Makefile");
    fs::write(&bare, b"all:\n").unwrap();
    let packaged = package_asset(&bare, &real(scratch.path()), Packaging::File, &cache).unwrap();
    assert_eq!(packaged.extension, "");
    assert_eq!(packaged.object_key(), packaged.sha256);
}

#[test]
fn package_directory_zips_into_cache_and_reuses_it() {
    let scratch = ScratchDir::new("package-zip");
    let source = scratch.path().join("src");
    let cache = scratch.path().join("cache");
    build_tree(&source, false, SystemTime::now());
    let zips = private_cache(&cache);
    let root = real(&source);

    let first = package_asset(&source, &root, Packaging::Zip, &zips).unwrap();
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
    let again = package_asset(&source, &root, Packaging::Zip, &zips).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        fs::metadata(&again.path_to_upload)
            .unwrap()
            .modified()
            .unwrap(),
        cached_mtime
    );

    fs::write(source.join("index.js"), b"changed").unwrap();
    let changed = package_asset(&source, &root, Packaging::Zip, &zips).unwrap();
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
    let root = real(scratch.path());
    let cache = private_cache(&scratch.path().join("cache"));
    let missing = scratch.path().join("nope");
    let error = format!(
        "{:#}",
        package_asset(&missing, &root, Packaging::File, &cache).unwrap_err()
    );
    assert!(error.contains(&missing.display().to_string()), "{error}");
    assert!(error.contains("does not exist"), "{error}");

    let file = scratch.path().join("file.txt");
    fs::write(&file, b"x").unwrap();
    let error = package_asset(&file, &root, Packaging::Zip, &cache)
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not a directory"), "{error}");
    assert!(error.contains("packaging 'file'"), "{error}");

    let error = package_asset(scratch.path(), &root, Packaging::File, &cache)
        .unwrap_err()
        .to_string();
    assert!(error.contains("use packaging 'zip'"), "{error}");

    let error = package_asset(scratch.path(), &root, Packaging::Zip, &cache)
        .unwrap_err()
        .to_string();
    assert!(error.contains("inside the asset directory"), "{error}");
}

/// Root reads a mode-000 file (CAP_DAC_OVERRIDE), so as root (CI) the test runs itself again in a
/// child without the two capabilities that bypass file modes (`setpriv --bounding-set`), where
/// the same file is unreadable; the child must run this test and pass it.
#[cfg(target_os = "linux")]
#[test]
fn unreadable_file_reports_permission_hint() {
    const CHILD: &str = "PIPELINE_RUN_TEST_WITHOUT_DAC";
    const NAME: &str = "run::assets::package::tests::unreadable_file_reports_permission_hint";
    let scratch = ScratchDir::new("permissions");
    let source = scratch.path().join("src");
    write_file(&source, "secret.txt", b"s", SystemTime::now());
    set_mode(&source.join("secret.txt"), 0o000);
    if File::open(source.join("secret.txt")).is_ok() {
        assert!(
            std::env::var_os(CHILD).is_none(),
            "the capabilities were dropped and the file is still readable"
        );
        let out = std::process::Command::new("setpriv")
            .args(["--bounding-set", "-dac_override,-dac_read_search", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .expect("setpriv (util-linux) runs this test without CAP_DAC_OVERRIDE");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the test without CAP_DAC_OVERRIDE:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let error = format!(
        "{:#}",
        package_asset(
            &source,
            &real(&source),
            Packaging::Zip,
            &private_cache(&scratch.path().join("cache"))
        )
        .unwrap_err()
    );
    assert!(error.contains("secret.txt"), "{error}");
    assert!(error.contains("permission denied"), "{error}");
}
