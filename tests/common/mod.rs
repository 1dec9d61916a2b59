//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use linedb::engine::{Engine, Options, Outcome};
use linedb::line_protocol::Precision;

/// A fresh directory under the system's temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "linedb-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn small_options() -> Options {
    Options { segment_bytes: 1 << 20, wal_file_bytes: 1 << 20, ..Options::default() }
}

pub fn open(dir: &Path) -> Engine {
    Engine::open(dir, small_options()).unwrap()
}

pub fn write(e: &Engine, db: &str, lines: &str) -> Outcome {
    e.write_at(db, lines.as_bytes(), Precision::Nanosecond, 0)
}

/// Every line of a query of `db`, all measurements, all time.
pub fn all(e: &Engine, db: &str) -> Vec<String> {
    query(e, db, None, i64::MIN, i64::MAX)
}

pub fn query(e: &Engine, db: &str, m: Option<&str>, start: i64, end: i64) -> Vec<String> {
    let mut out = Vec::new();
    let r = e.query(db, m, start, end, &mut |l| {
        out.push(String::from_utf8(l.to_vec()).unwrap());
        true
    });
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.count as usize, out.len());
    out
}

/// Bytes of every file under `dir`, by path, for "nothing changed" checks.
/// Spare WAL files (`wal/spare*`) are left out: their contents mean
/// nothing, and the maintenance thread makes them ahead of need at any
/// moment.
pub fn snapshot_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "LOCK") && !is_spare_wal(&p) {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every file under `dir` (spares included), sorted.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = tree(dir).into_iter().filter(|p| p.is_file()).collect();
    out.sort();
    out
}

/// A spare WAL file, or one being made.
pub fn is_spare_wal(p: &Path) -> bool {
    let in_wal = p.parent().and_then(|d| d.file_name()).is_some_and(|d| d == "wal");
    in_wal && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("spare"))
}

/// Runs the test `name` of this test binary in a child process with `env`
/// set (a test that sets process limits runs alone there), asserts that it
/// passed and printed `done`, and returns what it printed.
pub fn run_child(name: &str, env: &[(&str, &str)], done: &str) -> String {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1", "--include-ignored"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(done),
        "child {name} failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every file and directory under `dir`, for "nothing made or removed"
/// checks (with [`snapshot_files`] for the contents).
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}
