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
    in_namespace("a_real_full_disk_answers_503_and_loses_nothing", CHILD_ENV, "full-disk: ");
}

/// Runs the test `name` again inside `unshare -rm` (a user and mount
/// namespace: no root needed), with `env` naming a fresh mount point, and
/// checks that the child passed and printed its `done` line.
fn in_namespace(name: &str, env: &str, done: &str) {
    let t = common::TempDir::new("unshare");
    let mount = t.0.join("mnt");
    std::fs::create_dir_all(&mount).unwrap();
    let out = Command::new("unshare")
        .arg("-rm")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, &mount)
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
    let line = stdout.lines().find(|l| l.contains(done));
    assert!(line.is_some(), "the child did not run the test:\n{stdout}\n{stderr}");
    println!("{}", line.unwrap_or_default());
}

fn unavailable(why: &str) {
    eprintln!("\n*** FULL-DISK TEST NOT RUN: unshare -rm is not permitted here: {why} ***\n");
    assert!(std::env::var_os("CI").is_none(), "CI must be able to run the full-disk test: {why}");
}

const INODES_ENV: &str = "LINEDB_NO_INODES_CHILD";

/// The child of the inode test: a tmpfs with room for bytes but few inodes,
/// all taken by the application's files once the store is open.
fn inodes_child(mount: &std::path::Path) {
    let out =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=256m,nr_inodes=64", "tmpfs"]).arg(mount).output().unwrap();
    assert!(out.status.success(), "mount tmpfs: {}", String::from_utf8_lossy(&out.stderr));
    let store = mount.join("store");
    let day = 86_400_000_000_000i64;
    let e = Engine::open(&store, Options::default()).expect("open");
    e.create_database("db").unwrap();
    assert_eq!(e.write("db", b"m v=0i 0", Precision::Nanosecond).status, 204);
    // Take every inode left.
    let mut fillers = Vec::new();
    loop {
        let p = mount.join(format!("filler{}", fillers.len()));
        match std::fs::File::create(&p) {
            Ok(_) => fillers.push(p),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    let before = common::snapshot_files(&store);
    // A new partition needs a directory and a file: no inode, 503.
    let r = e.write("db", format!("m v=1i {day}").as_bytes(), Precision::Nanosecond);
    assert_eq!(r.status, 503, "{}", r.message);
    assert!(r.retry_after_secs >= 1);
    assert!(r.message.contains("No space left on device"), "{}", r.message);
    assert_eq!(common::snapshot_files(&store), before, "a refused write leaves nothing");
    // The store goes on: a partition it has takes writes.
    assert_eq!(e.write("db", b"m v=2i 2", Precision::Nanosecond).status, 204);
    // Inodes come back: the new partition goes in without a reopen.
    for p in &fillers {
        std::fs::remove_file(p).unwrap();
    }
    let r = e.write("db", format!("m v=1i {day}").as_bytes(), Precision::Nanosecond);
    assert_eq!(r.status, 204, "{}", r.message);
    assert_eq!(count(&e), 3);
    drop(e);
    let e = Engine::open(&store, Options::default()).unwrap();
    assert_eq!(count(&e), 3);
    println!("no-inodes: 503 with no inode left, the store went on, all kept");
}

#[test]
fn running_out_of_inodes_answers_503_and_the_store_goes_on() {
    if let Ok(mount) = std::env::var(INODES_ENV) {
        inodes_child(std::path::Path::new(&mount));
        return;
    }
    in_namespace("running_out_of_inodes_answers_503_and_the_store_goes_on", INODES_ENV, "no-inodes: ");
}

#[cfg(feature = "parquet")]
const EXPORT_ENV: &str = "LINEDB_FULL_DISK_EXPORT_CHILD";

/// The child of the export test: the store on the ordinary disk, the
/// export's directory a 256 KiB tmpfs. The export runs out of space: 503
/// with a retry time, and nothing is left in the directory (no partial
/// file, no temporary file); with room, the same export succeeds.
#[cfg(feature = "parquet")]
fn export_child(mount: &std::path::Path) {
    let out = Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(mount).output().unwrap();
    assert!(out.status.success(), "mount tmpfs: {}", String::from_utf8_lossy(&out.stderr));
    let t = common::TempDir::new("export-full");
    let e = Engine::open(t.store(), Options { background_sealing: false, ..Options::default() }).unwrap();
    e.create_database("db").unwrap();
    // Strings that do not compress: well over 256 KiB in any encoding.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for b in 0..40 {
        let lines: String = (0..100)
            .map(|i| {
                let s: String = (0..200)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        char::from(b'a' + (x % 26) as u8)
                    })
                    .collect();
                format!("m,h=h{} s=\"{s}\" {}\n", i % 10, b * 1000 + i)
            })
            .collect();
        assert_eq!(e.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
    }
    let path = mount.join("m.parquet");
    let r = e.export_parquet("db", "m", i64::MIN, i64::MAX, &path);
    assert_eq!(r.status, 503, "{}", r.message);
    assert!(r.retry_after_secs >= 1);
    assert!(r.message.contains("space"), "{}", r.message);
    let left: Vec<_> = std::fs::read_dir(mount).unwrap().map(|d| d.unwrap().file_name()).collect();
    assert!(left.is_empty(), "a full disk left {left:?}");
    // Room again (a directory of the ordinary disk): the same export.
    let path = t.0.join("m.parquet");
    let r = e.export_parquet("db", "m", i64::MIN, i64::MAX, &path);
    assert_eq!((r.status, r.count), (200, 4000), "{}", r.message);
    assert!(std::fs::metadata(&path).unwrap().len() > 256 << 10);
    println!("full-disk export: 503 when full, nothing left; 200 with room");
}

#[test]
#[cfg(feature = "parquet")]
fn an_export_to_a_full_disk_answers_503_and_leaves_nothing() {
    if let Ok(mount) = std::env::var(EXPORT_ENV) {
        export_child(std::path::Path::new(&mount));
        return;
    }
    in_namespace("an_export_to_a_full_disk_answers_503_and_leaves_nothing", EXPORT_ENV, "full-disk export: ");
}
