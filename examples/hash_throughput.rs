//! Throughput of asset packaging: SHA-256 of a large file (streamed, as uploads are hashed) and
//! the deterministic zip of a directory, on generated data.
//!
//!     cargo run --release --example hash_throughput -- [--mib 512] [--dir-mib 128] [--files 2000] [--runs 5]
//!
//! Data is written under target/bench-scratch/ and read back from the page cache, so the numbers
//! are CPU throughput, not disk speed. GB/s and MB/s are decimal (10^9 and 10^6 bytes per second).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pipeline_run::package::{Packaging, ZipCache, package_asset, sha256_file, zip_directory};

struct Args {
    mib: u64,
    dir_mib: u64,
    files: u64,
    runs: usize,
    scratch: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        mib: 512,
        dir_mib: 128,
        files: 2000,
        runs: 5,
        scratch: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("flag needs a value");
        match flag.as_str() {
            "--mib" => a.mib = value().parse().expect("--mib N"),
            "--dir-mib" => a.dir_mib = value().parse().expect("--dir-mib N"),
            "--files" => a.files = value().parse().expect("--files N"),
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--scratch" => a.scratch = PathBuf::from(value()),
            other => panic!(
                "unknown argument {other}; use --mib N --dir-mib N --files N --runs N --scratch DIR"
            ),
        }
    }
    a
}

/// Bytes that neither repeat nor compress (xorshift64), so zip does real work on them.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Source-code-like text: compresses about 4:1, as JavaScript bundles do.
fn text(seed: u64, len: usize) -> Vec<u8> {
    let words = [
        "function", "return", "const", "handler", "event", "await", "export", "module", "require",
        "=>", "{", "}", "(", ")", ";", "\n", "  ", "if", "else", "null", "true", "value",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}

fn ensure_file(path: &Path, mib: u64) {
    let len = mib << 20;
    if fs::metadata(path).is_ok_and(|m| m.len() == len) {
        return;
    }
    let mut f = fs::File::create(path).unwrap();
    for chunk in 0..mib {
        f.write_all(&noise(chunk + 1, 1 << 20)).unwrap();
    }
}

/// `files` files totalling `mib` MiB in nested directories, half text and half noise.
fn ensure_tree(root: &Path, mib: u64, files: u64) -> u64 {
    let marker = root.join(".complete");
    let per_file = ((mib << 20) / files.max(1)) as usize;
    if !marker.exists() {
        let _ = fs::remove_dir_all(root);
        for i in 0..files {
            let dir = root.join(format!("pkg{:02}/sub{:02}", i % 17, i % 5));
            fs::create_dir_all(&dir).unwrap();
            let body = if i % 2 == 0 {
                text(i + 7, per_file)
            } else {
                noise(i + 7, per_file)
            };
            fs::write(dir.join(format!("file{i:05}.js")), body).unwrap();
        }
        fs::write(&marker, b"").unwrap();
    }
    per_file as u64 * files
}

fn measure(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f(); // warm-up: page cache, allocator
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[times.len() / 2])
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn rate(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64()
}

fn main() {
    let a = args();
    fs::create_dir_all(&a.scratch).unwrap();
    let big = a.scratch.join(format!("noise-{}mib.bin", a.mib));
    ensure_file(&big, a.mib);
    let tree = a.scratch.join(format!("tree-{}mib-{}", a.dir_mib, a.files));
    let tree_bytes = ensure_tree(&tree, a.dir_mib, a.files);
    let out = a.scratch.join("out");
    fs::create_dir_all(&out).unwrap();

    println!(
        "pipeline-run asset throughput ({} runs each, best and median; {} CPUs)",
        a.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let bytes = a.mib << 20;
    let (best, median) = measure(a.runs, || {
        sha256_file(&big).unwrap();
    });
    println!(
        "sha256_file      {:>5} MiB file                  best {:>7.3} s  {:>6.2} GB/s   (median {:.2} GB/s)",
        a.mib,
        best.as_secs_f64(),
        rate(bytes, best) / 1e9,
        rate(bytes, median) / 1e9
    );

    let archive = out.join("tree.zip");
    let (best, median) = measure(a.runs, || {
        zip_directory(&tree, &archive).unwrap();
    });
    let zipped = fs::metadata(&archive).unwrap().len();
    println!(
        "zip_directory    {:>5.0} MiB in {:>5} files → {:>4.0} MiB  best {:>7.3} s  {:>6.1} MB/s   (median {:.1} MB/s)",
        mib(tree_bytes),
        a.files,
        mib(zipped),
        best.as_secs_f64(),
        rate(tree_bytes, best) / 1e6,
        rate(tree_bytes, median) / 1e6
    );

    // What a deploy does for a changed directory: fingerprint, zip, hash the zip (fresh cache).
    let root = fs::canonicalize(&tree).unwrap();
    let mut n = 0u32;
    let (best, median) = measure(a.runs, || {
        n += 1;
        let cache = out.join(format!("cache-{n}"));
        let zips = ZipCache::open(&cache).unwrap().0;
        package_asset(&tree, &root, Packaging::Zip, &zips).unwrap();
        let _ = fs::remove_dir_all(&cache);
    });
    println!(
        "package_asset    {:>5.0} MiB directory, cold cache  best {:>7.3} s  {:>6.1} MB/s   (median {:.1} MB/s)",
        mib(tree_bytes),
        best.as_secs_f64(),
        rate(tree_bytes, best) / 1e6,
        rate(tree_bytes, median) / 1e6
    );

    // An unchanged directory on a re-run: fingerprint only, the cached zip is reused.
    let cache = ZipCache::open(&out.join("cache-warm")).unwrap().0;
    package_asset(&tree, &root, Packaging::Zip, &cache).unwrap();
    let (best, median) = measure(a.runs, || {
        package_asset(&tree, &root, Packaging::Zip, &cache).unwrap();
    });
    println!(
        "package_asset    {:>5.0} MiB directory, warm cache  best {:>7.3} s  {:>6.1} MB/s   (median {:.1} MB/s)",
        mib(tree_bytes),
        best.as_secs_f64(),
        rate(tree_bytes, best) / 1e6,
        rate(tree_bytes, median) / 1e6
    );
    let _ = fs::remove_dir_all(out.join("cache-warm"));
}
