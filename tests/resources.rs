//! Shortages that pass are 503, never a failed store (API.md, "Additions
//! in 0.2"): running out of file descriptors for real, under a low
//! `RLIMIT_NOFILE` in a child process, and an injected EMFILE where a
//! commit group's fdatasync needs a description.

mod common;
mod kit;

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use common::*;
use kit::fault::{Effect, FaultStorage, Op};
use linedb::engine::{Engine, Options};
use linedb::storage::FsStorage;

const DAY: i64 = 86_400_000_000_000;

/// No maintenance thread: it opens files of its own now and then (a spare
/// log file made ahead, a partition sealed), and these tests count every
/// descriptor of the process.
fn options() -> Options {
    Options { segment_bytes: 64 << 10, wal_file_bytes: 64 << 10, background_sealing: false, ..Options::default() }
}

/// Descriptors open in this process now.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The child: with a descriptor limit a little above what the open store
/// uses, writes each batch to a new partition. The store keeps fewer
/// segments open than its cache would (it closes idle ones when the
/// process runs out), so every write goes in, even with every free
/// descriptor taken by the application (the store reuses its own). With
/// none it can have (the limit lowered below every descriptor it holds), a
/// write that needs one is refused with 503; once descriptors are back,
/// the store goes on.
#[test]
fn emfile_child() {
    let Ok(dir) = std::env::var("LINEDB_EMFILE_CHILD") else { return };
    let base = open_fds();
    let e = Engine::open(&dir, options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=0i 0").status, 204);
    let limit = open_fds() + 8;
    let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: setrlimit with a valid, initialised struct; it only lowers
    // this (child) process's own limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
    let mut out = std::io::stdout().lock();
    // 100 partitions under a limit of 8 spare descriptors, with a cache of
    // 256: all taken.
    for day in 1..=100i64 {
        let r = write(&e, "db", &format!("m f={day}i {}", day * DAY));
        assert_eq!(r.status, 204, "day {day}: {}", r.message);
        writeln!(out, "ack {day}").unwrap();
    }
    assert!(open_fds() <= limit);
    // Take every descriptor left: the store still goes on, closing its
    // idle segments to open new ones.
    let mut hog = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hog.push(f);
    }
    for day in 101..=150i64 {
        let r = write(&e, "db", &format!("m f={day}i {}", day * DAY));
        assert_eq!(r.status, 204, "day {day}: {}", r.message);
        writeln!(out, "ack {day}").unwrap();
    }
    // Below every descriptor the store holds: closing its own frees none
    // it may use.
    let low = libc::rlimit { rlim_cur: base, rlim_max: limit };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let mut refused = None;
    for day in 151..400i64 {
        let r = write(&e, "db", &format!("m f={day}i {}", day * DAY));
        match r.status {
            204 => writeln!(out, "ack {day}").unwrap(),
            _ => {
                refused = Some(r);
                break;
            }
        }
    }
    let r = refused.expect("a write to a new partition with no descriptor left");
    assert_eq!(r.status, 503, "{}", r.message);
    assert!(r.retry_after_secs >= 1);
    assert!(r.message.contains("Too many open files"), "{}", r.message);
    // Not a failed store: with descriptors back, it takes writes and answers.
    drop(hog);
    // SAFETY: as above (the soft limit back up to the hard one).
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
    assert_eq!(write(&e, "db", "m f=7i 1").status, 204, "a write to an open partition");
    writeln!(out, "ack 0b").unwrap();
    let mut n = 0;
    let q = e.query("db", None, i64::MIN, i64::MAX, &mut |_| {
        n += 1;
        true
    });
    assert_eq!(q.status, 200, "{}", q.message);
    writeln!(out, "child done: {n} points").unwrap();
}

/// The child: under a limit of 400 descriptors, with all but 64 taken by
/// the application, one batch writes to 200 new partitions (each needs its
/// segment file open until the batch is applied): it cannot go in as it
/// is, so 413, nothing stored; split in batches of 20 partitions, it all
/// goes in. A batch to more partitions than the limit itself is refused
/// before any of its work (413 too).
#[test]
fn many_partitions_child() {
    let Ok(dir) = std::env::var("LINEDB_PARTS_CHILD") else { return };
    let e = Engine::open(&dir, options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=0i 0").status, 204);
    let limit = 400;
    assert!(open_fds() + 64 < limit);
    let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: setrlimit with a valid, initialised struct; it only lowers
    // this (child) process's own limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
    let mut hog = Vec::new();
    while open_fds() + 64 < limit {
        hog.push(std::fs::File::open("/dev/null").unwrap());
    }
    let lines = |days: std::ops::Range<i64>| -> Vec<String> { days.map(|d| format!("m f={d}i {}\n", d * DAY)).collect() };
    let r = write(&e, "db", &lines(1..201).concat());
    assert_eq!((r.status, r.retry_after_secs), (413, 0), "{r:?}");
    assert!(r.message.starts_with("Too many open files"), "{}", r.message);
    assert!(r.message.contains("200 partitions") && r.message.contains("split the batch"), "{}", r.message);
    assert_eq!(all(&e, "db"), ["m f=0i 0"]);
    for chunk in lines(1..201).chunks(20) {
        let r = write(&e, "db", &chunk.concat());
        assert_eq!(r.status, 204, "{r:?}");
    }
    assert_eq!(all(&e, "db").len(), 201);
    drop(hog);
    // More partitions than the limit itself: 413 at once.
    let r = write(&e, "db", &lines(1000..1401).concat());
    assert_eq!((r.status, r.retry_after_secs), (413, 0), "{r:?}");
    assert!(r.message.contains("more than 400 partitions") && r.message.contains("RLIMIT_NOFILE"), "{}", r.message);
    assert_eq!(all(&e, "db").len(), 201);
    println!("child done");
}

#[test]
fn a_batch_to_more_partitions_than_the_process_can_hold_open_is_413() {
    let t = TempDir::new("parts-413");
    let store = t.store().to_string_lossy().into_owned();
    run_child("many_partitions_child", &[("LINEDB_PARTS_CHILD", &store)], "child done");
}

#[test]
fn running_out_of_descriptors_is_503_and_the_store_goes_on() {
    let t = TempDir::new("emfile");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--nocapture", "--test-threads=1"])
        .env("LINEDB_EMFILE_CHILD", t.store())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("child done"), "{stdout}");
    let acked: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("ack ")).collect();
    assert!(acked.len() >= 2, "{stdout}");
    // Every acknowledged point is there after a reopen without the limit.
    let e = Engine::open(t.store(), options()).unwrap();
    let got = all(&e, "db");
    for a in &acked {
        let want = match *a {
            "0b" => "m f=7i 1".to_owned(),
            day => {
                let d: i64 = day.parse().unwrap();
                format!("m f={d}i {}", d * DAY)
            }
        };
        assert!(got.contains(&want), "{want} acknowledged but lost: {got:?}");
    }
}

#[test]
fn a_sync_that_finds_no_descriptor_waits_for_one_instead_of_failing() {
    let t = TempDir::new("emfile-sync");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let opts = Options { storage: Arc::clone(&fs) as Arc<dyn linedb::storage::Storage>, ..options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=0i 0").status, 204);
    // Syncs may open no description of the log's files; A's sync, holding
    // the log's own description, is kept running until B's group needs one.
    fs.arm_effect(Op::Open, "/wal/", Effect::Fail(libc::EMFILE), u32::MAX);
    fs.rendezvous(Op::Sync, "/wal/", 2, Duration::from_millis(500));
    std::thread::scope(|s| {
        let e = &e;
        let a = s.spawn(move || write(e, "db", "m f=1i 1"));
        assert!(fs.wait_arrived(1, Duration::from_secs(20)));
        let b = s.spawn(move || write(e, "db", "m f=2i 2"));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!((a.status, b.status), (204, 204), "{} / {}", a.message, b.message);
    });
    assert!(fs.fired().iter().any(|f| f.1 == Op::Open), "B's sync never tried to open a description");
    fs.disarm();
    assert_eq!(write(&e, "db", "m f=3i 3").status, 204);
    assert_eq!(all(&e, "db").len(), 4);
}

#[test]
fn no_descriptor_for_a_new_segment_is_503_and_stores_nothing() {
    let t = TempDir::new("emfile-segment");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let opts = Options { storage: Arc::clone(&fs) as Arc<dyn linedb::storage::Storage>, ..options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=0i 0").status, 204);
    let before = snapshot_files(&t.store());
    // Every open under data/ fails: the cache closes its idle segments and
    // tries once more, which fails too.
    fs.arm_effect(Op::Open, "/data/", Effect::Fail(libc::EMFILE), u32::MAX);
    let r = write(&e, "db", &format!("m f=1i {DAY}"));
    assert_eq!((r.status, r.retry_after_secs >= 1), (503, true), "{}", r.message);
    assert_eq!(snapshot_files(&t.store()), before);
    fs.disarm();
    // Not failed: the same write goes in once descriptors are there.
    assert_eq!(write(&e, "db", &format!("m f=1i {DAY}")).status, 204);
    assert_eq!(all(&e, "db").len(), 2);
}

use std::sync::Arc;

#[test]
fn a_partition_holding_one_point_takes_at_most_16_kib_on_disk() {
    use std::os::unix::fs::MetadataExt;
    let t = TempDir::new("small-partitions");
    let e = Engine::open(t.store(), Options::default()).unwrap();
    e.create_database("db").unwrap();
    for day in 0..50i64 {
        assert_eq!(write(&e, "db", &format!("m,host=a f={day}i {}", day * DAY)).status, 204);
    }
    e.close().unwrap();
    let mut segs = 0;
    for (path, _) in snapshot_files(&t.store()) {
        if path.extension().is_some_and(|x| x == "seg") {
            let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
            assert!(allocated <= 16 << 10, "{}: {allocated} bytes allocated", path.display());
            segs += 1;
        }
    }
    assert_eq!(segs, 50);
}

/// Two partitions (days 0 and 1), closed.
fn two_partitions(t: &TempDir) {
    let e = Engine::open(t.store(), options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", &format!("m f=0i 0\nm f=1i {DAY}")).status, 204);
    e.close().unwrap();
}

#[test]
fn a_query_that_finds_no_descriptor_is_503_not_damage() {
    let t = TempDir::new("emfile-query");
    two_partitions(&t);
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    // One segment open at a time: the query must reopen the other, whose
    // blocks are not verified yet (a reopened store verifies before use).
    let opts = Options { storage: Arc::clone(&fs) as Arc<dyn linedb::storage::Storage>, max_open_segments: 1, ..options() };
    let e = Engine::open(t.store(), opts).unwrap();
    fs.arm_effect(Op::Open, "/data/", Effect::Fail(libc::EMFILE), u32::MAX);
    let mut n = 0;
    let r = e.query("db", None, i64::MIN, i64::MAX, &mut |_| {
        n += 1;
        true
    });
    assert_eq!((r.status, r.retry_after_secs >= 1, n), (503, true, 0), "{}", r.message);
    assert!(r.message.contains("Too many open files"), "{}", r.message);
    fs.disarm();
    assert_eq!(all(&e, "db").len(), 2, "not remembered as damage");
}

#[test]
fn open_closes_idle_segments_when_it_runs_out_of_descriptors() {
    let t = TempDir::new("emfile-open");
    two_partitions(&t);
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let opts = Options { storage: Arc::clone(&fs) as Arc<dyn linedb::storage::Storage>, ..options() };
    // The second segment file open fails once, as the process's limit
    // would with the first one still open.
    fs.arm_after(Op::Open, ".seg", 1, 1, Effect::Fail(libc::EMFILE));
    let e = Engine::open(t.store(), opts).expect("open sheds an idle segment and tries again");
    assert_eq!(fs.fired().len(), 1, "the fault fired");
    assert_eq!(all(&e, "db").len(), 2);
}

#[test]
fn a_failed_segment_sync_while_placing_fails_the_store_even_for_enospc() {
    let t = TempDir::new("sync-placing");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    // Small segments: a few batches fill one, and the next batch's
    // placement syncs it before moving on to a new one.
    let opts = Options { storage: Arc::clone(&fs) as Arc<dyn linedb::storage::Storage>, segment_bytes: 4096, ..options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let line = |i: i64| format!("m,k={i} s=\"{}\" {i}", "x".repeat(300));
    assert_eq!(write(&e, "db", &line(0)).status, 204);
    // An fdatasync of the filled segment answers ENOSPC: the pages may be
    // gone.
    fs.arm_effect(Op::Sync, "000001.seg", Effect::Fail(libc::ENOSPC), u32::MAX);
    let mut i = 1;
    let r = loop {
        let r = write(&e, "db", &line(i));
        if r.status != 204 {
            break r;
        }
        i += 1;
        assert!(i < 100, "no segment was ever synced");
    };
    assert_eq!(r.status, 500, "{}", r.message);
    fs.disarm();
    // Failed until reopened: never 503, never taken again.
    assert_eq!(write(&e, "db", &line(1000)).status, 500);
}

#[test]
fn the_open_segment_bound_can_be_moved_on_an_open_store() {
    let t = TempDir::new("set-cap");
    let e = Engine::open(t.store(), options()).unwrap();
    e.create_database("db").unwrap();
    for day in 0..40i64 {
        assert_eq!(write(&e, "db", &format!("m f={day}i {}", day * DAY)).status, 204);
    }
    assert!(e.stats().open_segments >= 40, "{:?}", e.stats());
    e.set_max_open_segments(8);
    assert_eq!(e.max_open_segments(), 8);
    assert!(e.stats().open_segments <= 8, "{:?}", e.stats());
    for day in 40..60i64 {
        assert_eq!(write(&e, "db", &format!("m f={day}i {}", day * DAY)).status, 204);
        assert!(e.stats().open_segments <= 9, "{:?}", e.stats());
    }
    assert_eq!(all(&e, "db").len(), 60);
    e.set_max_open_segments(0);
    assert_eq!(e.max_open_segments(), linedb::segment::DEFAULT_MAX_OPEN_SEGMENTS);
}
