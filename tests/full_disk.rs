//! A real full disk: the test runs itself again inside `unshare -rm` (a user
//! and mount namespace: no root needed), mounts a 16 MiB tmpfs, fills part
//! of it with a file, opens a store there with the default options (64 MiB
//! WAL files, which must shrink to what the disk has), and writes until the
//! disk is full. Then: 503 with a retry time, no SIGBUS, nothing
//! acknowledged lost; after space is freed, writes go in again without a
//! reopen, and a reopen keeps everything acknowledged.
//!
//! Where `unshare` is not permitted the test says so; under CI (`CI` set)
//! it then fails, elsewhere it passes with the warning.

mod common;

use std::process::Command;

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;

const CHILD_ENV: &str = "LINEDB_FULL_DISK_CHILD";

fn batch(i: usize) -> String {
    (0..50).map(|j| format!("m,b={i},j={j} v={j}i,s=\"{}\" {}\n", "x".repeat(200), i * 100 + j)).collect()
}

fn count(e: &Engine) -> usize {
    let mut n = 0;
    let r = e.query("db", None, i64::MIN, i64::MAX, &mut |_| {
        n += 1;
        true
    });
    assert_eq!(r.status, 200, "{}", r.message);
    n
}

fn child(mount: &std::path::Path) {
    let out = Command::new("mount").args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"]).arg(mount).output().unwrap();
    assert!(out.status.success(), "mount tmpfs: {}", String::from_utf8_lossy(&out.stderr));
    let filler = mount.join("filler");
    std::fs::write(&filler, vec![1u8; 4 << 20]).unwrap();
    let store = mount.join("store");
    let e = Engine::open(&store, Options::default()).expect("a store opens on a disk with a few MiB free");
    e.create_database("db").unwrap();
    let mut acked = 0;
    let refused = loop {
        let r = e.write("db", batch(acked).as_bytes(), Precision::Nanosecond);
        match r.status {
            204 => acked += 1,
            503 => break r,
            s => panic!("write {acked}: unexpected {s}: {}", r.message),
        }
        assert!(acked < 10_000, "the disk never filled");
    };
    assert!(acked >= 5, "only {acked} batches fit: preallocation did not shrink");
    assert!(refused.retry_after_secs >= 1);
    assert!(refused.message.contains("space"), "{}", refused.message);
    assert_eq!(count(&e), acked * 50);
    // Still full: still 503, still nothing lost.
    assert_eq!(e.write("db", batch(acked).as_bytes(), Precision::Nanosecond).status, 503);
    // Space comes back: writes go in without a reopen.
    std::fs::remove_file(&filler).unwrap();
    let r = e.write("db", batch(acked).as_bytes(), Precision::Nanosecond);
    assert_eq!(r.status, 204, "{}", r.message);
    acked += 1;
    assert_eq!(count(&e), acked * 50);
    drop(e);
    let e = Engine::open(&store, Options::default()).unwrap();
    assert_eq!(count(&e), acked * 50);
    println!("full-disk: {acked} batches acknowledged, 503 when full, all kept");
}

#[test]
fn a_real_full_disk_answers_503_and_loses_nothing() {
    if let Ok(mount) = std::env::var(CHILD_ENV) {
        child(std::path::Path::new(&mount));
        return;
    }
    let t = common::TempDir::new("fulldisk");
    let mount = t.0.join("mnt");
    std::fs::create_dir_all(&mount).unwrap();
    let out = Command::new("unshare")
        .arg("-rm")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "a_real_full_disk_answers_503_and_loses_nothing", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &mount)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => return unavailable(&format!("cannot run unshare: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("unshare failed") {
        return unavailable(&stderr);
    }
    assert!(out.status.success(), "child failed ({:?}):\n{stdout}\n{stderr}", out.status);
    let line = stdout.lines().find(|l| l.contains("full-disk: "));
    assert!(line.is_some(), "the child did not run the test:\n{stdout}\n{stderr}");
    println!("{}", line.unwrap_or_default());
}

fn unavailable(why: &str) {
    eprintln!("\n*** FULL-DISK TEST NOT RUN: unshare -rm is not permitted here: {why} ***\n");
    assert!(std::env::var_os("CI").is_none(), "CI must be able to run the full-disk test: {why}");
}
