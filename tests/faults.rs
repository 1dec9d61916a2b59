//! What a write answers, and leaves behind, when the disk says no: ENOSPC
//! before anything is acknowledged is 503 with nothing stored; a failed
//! fdatasync or msync fails the store (500) until it is reopened, and a
//! reopen shows each batch whole or not at all.

mod common;
mod kit;

use std::sync::Arc;

use common::*;
use linedb::engine::{Engine, Error, Options};
use kit::fault::{FaultStorage, Op};
use std::time::Duration;
use linedb::storage::FsStorage;

/// A store on fault-injecting storage. No maintenance thread: it makes WAL
/// spares and seals in the background, so a fault armed for a path could
/// fire in its calls instead of the write's (a race `cargo test --release`
/// met: the spare's sync took the EIO meant for the WAL's fdatasync).
fn faulty() -> (Arc<FaultStorage>, Options) {
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let opts = Options {
        storage: fs.clone(),
        wal_file_bytes: 8192,
        segment_bytes: 1 << 20,
        background_sealing: false,
        ..Options::default()
    };
    (fs, opts)
}

#[test]
fn no_space_for_a_new_segment_is_503_and_stores_nothing() {
    let t = TempDir::new("enospc-seg");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    let files = snapshot_files(&t.store());
    let stats = e.stats();
    fs.arm(Op::Allocate, "/data/", libc::ENOSPC, u32::MAX);
    // A new day: a new partition, a new segment file that cannot grow.
    let r = write(&e, "db", "m f=2i 1\nm g=1.5 200000000000000");
    assert_eq!(r.status, 503, "{}", r.message);
    assert!(r.retry_after_secs >= 1);
    assert!(r.message.contains("space"), "{}", r.message);
    assert_eq!(snapshot_files(&t.store()), files);
    assert_eq!(e.field_type("db", "m", 200000000000000, "g").unwrap(), None);
    let after = e.stats();
    assert_eq!((after.points, after.partitions, after.wal_bytes, after.last_sequence), (stats.points, stats.partitions, stats.wal_bytes, stats.last_sequence));
    assert_eq!(all(&e, "db"), ["m f=1i 1"]);
    // Space comes back: the same batch goes in, and the store was never failed.
    fs.disarm();
    assert_eq!(write(&e, "db", "m f=2i 1\nm g=1.5 200000000000000").status, 204);
    assert_eq!(all(&e, "db"), ["m f=2i 1", "m g=1.5 200000000000000"]);
    drop(e);
    let e = Engine::open(t.store(), Options { storage: Arc::new(FsStorage), ..small_options() }).unwrap();
    assert_eq!(all(&e, "db"), ["m f=2i 1", "m g=1.5 200000000000000"]);
}

#[test]
fn no_space_for_a_new_wal_file_is_503_and_stores_nothing() {
    let t = TempDir::new("enospc-wal");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    fs.arm(Op::Allocate, "/wal/", libc::ENOSPC, u32::MAX);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let files = snapshot_files(&t.store());
        let line = format!("m,i={i} v={i}i,pad=\"{}\" {i}", "x".repeat(300));
        let r = write(&e, "db", &line);
        match r.status {
            204 => acked.push(i),
            503 => {
                assert!(r.retry_after_secs >= 1);
                assert_eq!(snapshot_files(&t.store()), files, "a refused write changed files");
                refused = Some(i);
                break;
            }
            s => panic!("unexpected {s}: {}", r.message),
        }
    }
    let refused = refused.expect("the WAL never needed a new file");
    assert!(!acked.is_empty());
    assert_eq!(all(&e, "db").len(), acked.len());
    fs.disarm();
    assert_eq!(write(&e, "db", &format!("m,i={refused} v=1i {refused}")).status, 204);
    drop(e);
    let e = Engine::open(t.store(), Options { storage: Arc::new(FsStorage), ..small_options() }).unwrap();
    assert_eq!(all(&e, "db").len(), acked.len() + 1);
}

#[test]
fn a_failed_wal_fdatasync_fails_the_store_until_reopened() {
    let t = TempDir::new("eio-sync");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    fs.arm(Op::Sync, "/wal/", libc::EIO, 1);
    let r = write(&e, "db", "m f=2i 2\nn g=1i 3");
    assert_eq!(r.status, 500, "{}", r.message);
    // Never retried and then acknowledged: the store stays failed.
    let r = write(&e, "db", "m f=3i 3");
    assert_eq!(r.status, 500, "{}", r.message);
    assert_eq!(e.query("db", None, i64::MIN, i64::MAX, &mut |_| true).status, 500);
    assert!(matches!(e.checkpoint(), Err(Error::Failed(_))));
    assert!(matches!(e.create_database("x"), Err(Error::Failed(_))));
    drop(e);
    // After reopen: the failed batch whole or not at all, never part of it.
    let e = Engine::open(t.store(), small_options()).unwrap();
    let lines = all(&e, "db");
    assert!(
        lines == ["m f=1i 1"] || lines == ["m f=1i 1", "m f=2i 2", "n g=1i 3"],
        "{lines:?}"
    );
    assert_eq!(write(&e, "db", "m f=4i 4").status, 204);
}

#[test]
fn a_failed_segment_msync_at_checkpoint_fails_the_store_and_loses_nothing() {
    let t = TempDir::new("eio-msync");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    for i in 0..20 {
        assert_eq!(write(&e, "db", &format!("m v={i}i {i}")).status, 204);
    }
    fs.arm(Op::Flush, "/data/", libc::EIO, 1);
    assert!(matches!(e.checkpoint(), Err(Error::Failed(_))));
    assert_eq!(write(&e, "db", "m v=99i 99").status, 500);
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db").len(), 20);
}

#[test]
fn an_io_error_before_the_wal_is_500_and_the_store_goes_on() {
    let t = TempDir::new("eio-alloc");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    fs.arm(Op::Allocate, "/data/", libc::EIO, 1);
    let files = snapshot_files(&t.store());
    let r = write(&e, "db", "m f=1i 1");
    assert_eq!(r.status, 500, "{}", r.message);
    assert_eq!(snapshot_files(&t.store()), files);
    // Nothing was written, so nothing is in doubt: the next write works.
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    assert_eq!(all(&e, "db"), ["m f=1i 1"]);
}

#[test]
fn a_failed_catalog_write_keeps_the_store_usable() {
    let t = TempDir::new("catalog");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    fs.arm(Op::Sync, "catalog.tmp", libc::ENOSPC, 1);
    assert!(matches!(e.checkpoint(), Err(Error::Io(_))));
    assert_eq!(write(&e, "db", "m f=2i 2").status, 204);
    e.checkpoint().unwrap();
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db"), ["m f=1i 1", "m f=2i 2"]);
}

#[test]
fn concurrent_writers_share_one_fdatasync() {
    let t = TempDir::new("group");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), Options { wal_file_bytes: 1 << 20, ..opts }).unwrap();
    e.create_database("db").unwrap();
    // A slow disk: while one writer's group syncs, the others queue up.
    fs.delay(Op::Sync, "/wal/", std::time::Duration::from_millis(5));
    fs.start_counting(Op::Sync, "/wal/");
    const THREADS: usize = 8;
    const WRITES: usize = 25;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let e = &e;
            s.spawn(move || {
                for i in 0..WRITES {
                    // Each thread's writes go to one point: the last one must win.
                    let r = write(e, "db", &format!("m,t={t} v={i}i 1"));
                    assert_eq!(r.status, 204, "{}", r.message);
                }
            });
        }
    });
    let syncs = fs.count(Op::Sync, "/wal/");
    let writes = (THREADS * WRITES) as u64;
    eprintln!("{syncs} WAL syncs for {writes} writes");
    assert!(syncs * 2 <= writes, "{syncs} WAL syncs for {writes} writes: no grouping");
    // Writes of one thread were applied in the order it made them.
    let expected: Vec<String> = (0..THREADS).map(|t| format!("m,t={t} v={}i 1", WRITES - 1)).collect();
    assert_eq!(all(&e, "db"), expected);
    assert_eq!(e.stats().points, writes);
}

#[test]
fn enospc_from_fdatasync_is_500_and_fails_the_store() {
    // ENOSPC reported by fsync (as NFS or thin provisioning do) means
    // written bytes may be gone: not a 503, a failed store.
    let t = TempDir::new("enospc-sync");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    fs.arm(Op::Sync, "/wal/", libc::ENOSPC, 1);
    let r = write(&e, "db", "m f=2i 2");
    assert_eq!(r.status, 500, "{}", r.message);
    assert_eq!(write(&e, "db", "m f=3i 3").status, 500);
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    let lines = all(&e, "db");
    assert!(lines == ["m f=1i 1"] || lines == ["m f=1i 1", "m f=2i 2"], "{lines:?}");
}

#[test]
fn the_next_group_is_written_and_synced_while_one_syncs() {
    // Pipelined group commit: while one group's fdatasync runs, the next
    // group is appended and starts its own; never more than two at once.
    let t = TempDir::new("pipeline");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), Options { wal_file_bytes: 1 << 20, ..opts }).unwrap();
    e.create_database("db").unwrap();
    // The table, its partition and field first: a batch that brings schema
    // changes (or a new segment) waits for the groups before it.
    assert_eq!(write(&e, "db", "m v=0i 0").status, 204);
    let long = Duration::from_secs(20);
    // A's sync is held until a second sync runs beside it: B's group, which
    // can only get there if it is appended and synced while A's syncs.
    fs.rendezvous(Op::Sync, "/wal/", 2, long);
    std::thread::scope(|s| {
        let e = &e;
        let a = s.spawn(move || write(e, "db", "m v=1i 1"));
        assert!(fs.wait_arrived(1, long), "A's sync never started");
        let b = s.spawn(move || write(e, "db", "m v=2i 2"));
        assert_eq!(a.join().unwrap().status, 204);
        assert_eq!(b.join().unwrap().status, 204);
    });
    assert!(fs.rendezvous_met(), "B's sync did not run while A's did");
    // Never three: with two syncs held, a third write's group waits for
    // one of them (the rendezvous of three times out, letting them go).
    fs.rendezvous(Op::Sync, "/wal/", 3, Duration::from_millis(300));
    std::thread::scope(|s| {
        let e = &e;
        let a = s.spawn(move || write(e, "db", "m v=3i 3"));
        assert!(fs.wait_arrived(1, long));
        let b = s.spawn(move || write(e, "db", "m v=4i 4"));
        assert!(fs.wait_arrived(2, long));
        let c = s.spawn(move || write(e, "db", "m v=5i 5"));
        for w in [a, b, c] {
            assert_eq!(w.join().unwrap().status, 204);
        }
    });
    assert!(!fs.rendezvous_met(), "three WAL syncs ran at once");
    // And under load, a slow disk: every batch stored, at most two at once.
    fs.disarm();
    fs.delay(Op::Sync, "/wal/", Duration::from_millis(5));
    const THREADS: usize = 8;
    const WRITES: usize = 6;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let e = &e;
            s.spawn(move || {
                for i in 0..WRITES {
                    let r = write(e, "db", &format!("m,t={t} v={i}i {}", i + 1));
                    assert_eq!(r.status, 204, "{}", r.message);
                }
            });
        }
    });
    assert!(fs.max_overlap(Op::Sync) <= 2, "WAL syncs at once: {}", fs.max_overlap(Op::Sync));
    let expected = THREADS * WRITES + 6;
    assert_eq!(all(&e, "db").len(), expected);
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db").len(), expected);
}

#[test]
fn a_group_synced_after_a_failed_sync_is_not_acknowledged() {
    // Group A's fdatasync fails while group B, appended behind it, syncs
    // fine: B must answer 500 too. The kernel may report a writeback error
    // to only one of two concurrent syncs, and B's record follows A's.
    let t = TempDir::new("pipeline-eio");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), Options { wal_file_bytes: 1 << 20, ..opts }).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m v=0i 1").status, 204);
    // A's sync gets the fault (faults go to calls in the order they come)
    // and is held until B's sync runs beside it.
    fs.arm(Op::Sync, "/wal/", libc::EIO, 1);
    let long = Duration::from_secs(20);
    fs.rendezvous(Op::Sync, "/wal/", 2, long);
    let (a, b) = std::thread::scope(|s| {
        let e = &e;
        let a = s.spawn(move || write(e, "db", "m v=1i 2"));
        assert!(fs.wait_arrived(1, long), "A's sync never started");
        let b = s.spawn(move || write(e, "db", "m v=2i 3"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(fs.rendezvous_met(), "B's sync did not run beside A's");
    assert_eq!(fs.fired().len(), 1);
    assert_eq!(a.status, 500, "{}", a.message);
    assert_eq!(b.status, 500, "{}", b.message);
    assert!(b.message.contains("fdatasync"), "{}", b.message);
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    let lines = all(&e, "db");
    assert_eq!(lines[0], "m v=0i 1");
    // In doubt, each whole or not at all; B only with A before it.
    assert!(
        lines == ["m v=0i 1"] || lines == ["m v=0i 1", "m v=1i 2"] || lines == ["m v=0i 1", "m v=1i 2", "m v=2i 3"],
        "{lines:?}"
    );
}

#[test]
fn pipelined_groups_keep_order_through_new_partitions_rotation_and_schema_races() {
    // Groups on their way while others make partitions and segments,
    // rotate full segments, and race to set field types: every answer is
    // 204 or a type conflict (400), and exactly the 204 batches are stored,
    // before and after a reopen.
    let t = TempDir::new("pipeline-mix");
    let (fs, opts) = faulty();
    let opts = Options { wal_file_bytes: 1 << 16, segment_bytes: 4096, ..opts };
    let e = Engine::open(t.store(), opts.clone()).unwrap();
    e.create_database("db").unwrap();
    fs.delay(Op::Sync, "/wal/", std::time::Duration::from_millis(5));
    const THREADS: usize = 8;
    const WRITES: usize = 30;
    const DAY: i64 = 86_400_000_000_000;
    let acked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (e, acked) = (&e, &acked);
            s.spawn(move || {
                for i in 0..WRITES {
                    // A new day every few writes; threads of one parity
                    // write `x` as an integer, the others as a float.
                    let day = (i / 8) as i64;
                    let x = if t % 2 == 0 { format!("{i}i") } else { format!("{i}.5") };
                    let pad = "p".repeat(600);
                    let lines = format!(
                        "m{},pad={pad},t={t} f{}=1i,x={x} {}\nn,t={t} v={i}i {}",
                        t % 3,
                        i % 4,
                        day * DAY + i as i64,
                        day * DAY + i as i64
                    );
                    let r = write(e, "db", &lines);
                    match r.status {
                        204 => acked.lock().unwrap().extend(lines.lines().map(str::to_owned)),
                        400 => assert!(r.message.contains("field \"x\" is "), "{}", r.message),
                        s => panic!("{s}: {}", r.message),
                    }
                }
            });
        }
    });
    // Most groups here bring schema changes and wait for the ones before
    // them, but not all.
    assert!(fs.max_overlap(Op::Sync) >= 1);
    assert!(fs.max_overlap(Op::Sync) <= 2);
    let mut want = acked.into_inner().unwrap();
    want.sort();
    let mut got = all(&e, "db");
    got.sort();
    assert_eq!(got, want);
    assert!(e.partitions("db").unwrap().iter().any(|p| p.bytes > 4096), "no partition rotated");
    drop(e);
    let e = Engine::open(t.store(), Options { storage: Arc::new(FsStorage), ..opts }).unwrap();
    let mut got = all(&e, "db");
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn no_space_for_a_rotated_segment_leaves_the_partition_writable() {
    // A group that rotates a partition to a new segment and then fails (no
    // space for the new file) must leave the old segment usable: once there
    // is space again, writes to the partition succeed. (Found in review:
    // the old segment was sealed before the group was committed.)
    let t = TempDir::new("rotate-nospace");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), Options { wal_file_bytes: 1 << 16, segment_bytes: 4096, ..opts }).unwrap();
    e.create_database("db").unwrap();
    fs.arm(Op::Open, "000002.seg", libc::ENOSPC, u32::MAX);
    let line = |i: usize| format!("m,i={i} pad=\"{}\",v={i}i {i}", "x".repeat(200));
    let mut acked = Vec::new();
    let refused = loop {
        let r = write(&e, "db", &line(acked.len()));
        if r.status != 204 {
            break r;
        }
        acked.push(line(acked.len()));
        assert!(acked.len() < 1000, "the segment never filled");
    };
    assert_eq!(refused.status, 503, "{}", refused.message);
    fs.disarm();
    let r = write(&e, "db", &line(acked.len()));
    assert_eq!(r.status, 204, "{}", r.message);
    acked.push(line(acked.len()));
    assert_eq!(write(&e, "db", "other v=1i 5").status, 204);
    assert_eq!(all(&e, "db").len(), acked.len() + 1);
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db").len(), acked.len() + 1);
}

#[test]
fn concurrent_wal_syncs_never_share_a_file_description() {
    // The kernel reports a writeback error once per open file description:
    // two concurrent syncs through one could see one error between them.
    // The descriptions are kept from one sync to the next (opening one per
    // sync cost a fifth of a one-line write), but never lent to two at once.
    let t = TempDir::new("sync-fd");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), Options { wal_file_bytes: 1 << 20, ..opts }).unwrap();
    e.create_database("db").unwrap();
    fs.start_counting(Op::Open, "/wal/");
    fs.start_counting(Op::Sync, "/wal/");
    // Two syncs made to run at once, after the log has kept a description
    // (and the table, partition and columns exist: a batch that brings
    // schema changes waits for the groups before it).
    assert_eq!(write(&e, "db", "m,t=x v=0i 0").status, 204);
    let long = Duration::from_secs(20);
    fs.rendezvous(Op::Sync, "/wal/", 2, long);
    std::thread::scope(|s| {
        let e = &e;
        let a = s.spawn(move || write(e, "db", "m,t=a v=1i 1"));
        assert!(fs.wait_arrived(1, long), "A's sync never started");
        let b = s.spawn(move || write(e, "db", "m,t=b v=1i 1"));
        assert_eq!(a.join().unwrap().status, 204);
        assert_eq!(b.join().unwrap().status, 204);
    });
    assert!(fs.rendezvous_met(), "no two syncs ran at once: the test proves nothing");
    assert_eq!(fs.shared_syncs(), 0, "two syncs at once ran on one description");
    // Many writers on a slow disk: descriptions are kept, never shared.
    fs.delay(Op::Sync, "/wal/", Duration::from_millis(3));
    std::thread::scope(|s| {
        for t in 0..8 {
            let e = &e;
            s.spawn(move || {
                for i in 0..40 {
                    let r = write(e, "db", &format!("m,t={t} v={i}i {i}"));
                    assert_eq!(r.status, 204, "{}", r.message);
                }
            });
        }
    });
    let (opens, syncs) = (fs.count(Op::Open, "/wal/"), fs.count(Op::Sync, "/wal/"));
    eprintln!("{opens} opens for {syncs} WAL syncs, at most {} at once", fs.max_overlap(Op::Sync));
    assert_eq!(fs.shared_syncs(), 0, "a sync ran on a description another sync was using");
    assert!(opens * 4 <= syncs, "{opens} opens for {syncs} syncs: descriptions are not kept");
    assert_eq!(all(&e, "db").len(), 1 + 2 + 8 * 40);
}

#[test]
fn wal_sync_descriptions_are_closed_when_the_log_moves_on() {
    // Kept descriptions belong to the file being appended to; those of the
    // files before it are closed, so a long run does not pile them up.
    let t = TempDir::new("sync-fd-rotate");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), Options { wal_file_bytes: 16 << 10, ..opts }).unwrap();
    e.create_database("db").unwrap();
    let line = |i: usize| format!("m,i={i} v={i}i,pad=\"{}\" {i}", "x".repeat(400));
    let mut most = 0;
    for i in 0..400 {
        assert_eq!(write(&e, "db", &line(i)).status, 204);
        most = most.max(fs.live_files("/wal/"));
    }
    let files = std::fs::read_dir(t.store().join("wal")).unwrap().count();
    assert!(e.stats().wal_bytes > 64 << 10, "the log did not move through several files");
    // The file appended to (its writer's own description and the kept
    // sync one), a file being made, and the spare.
    assert!(most <= 4, "{most} WAL files open at once ({files} in the directory)");
}

/// After a checkpoint the WAL keeps one spare per file of the next
/// checkpoint interval, so that from the second interval on no rotation
/// makes (allocates and zeroes) a file inside a write: each takes a spare.
/// Close sheds all but one spare.
#[test]
fn a_spare_wal_file_made_ahead_is_what_the_next_rotation_takes() {
    // Row 7 of the write bench: a write that fills the log's file moves on
    // to a spare (a header and a rename) instead of making a file (a
    // create, an allocation, two syncs). `maintain` (the background
    // thread's pass) makes the spare as soon as one is wanted.
    let t = TempDir::new("wal-ahead");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    const FILE: u64 = 16 << 10;
    let opts = Options {
        storage: fs.clone(),
        wal_file_bytes: FILE,
        checkpoint_wal_bytes: 1 << 30,
        segment_bytes: 1 << 20,
        background_sealing: false,
        ..Options::default()
    };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let wal = t.store().join("wal");
    let names = || -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(&wal).unwrap().map(|d| d.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    let batch = |i: usize| -> String { (0..20).map(|k| format!("m,h=h{k} f={i}i,g=\"{}\" {}\n", "x".repeat(40), i * 100 + k)).collect() };
    fs.start_counting(Op::Allocate, "/wal/");
    let mut rotations_with_spare = 0;
    for i in 0..150 {
        // Ahead of the write: a spare of the log's size, and nothing left
        // at the temporary name.
        e.maintain().unwrap();
        let before = names();
        assert!(before.contains(&"spare.wal".to_owned()), "{before:?}");
        assert!(!before.iter().any(|n| n.ends_with(".tmp")), "{before:?}");
        assert_eq!(std::fs::metadata(wal.join("spare.wal")).unwrap().len(), FILE);
        let allocated = fs.count(Op::Allocate, "/wal/");
        assert_eq!(write(&e, "db", &batch(i)).status, 204);
        let after = names();
        let live = |v: &[String]| v.iter().filter(|n| !n.starts_with("spare")).count();
        if live(&after) > live(&before) {
            // The write rotated: it took the spare and allocated nothing.
            rotations_with_spare += 1;
            assert!(!after.contains(&"spare.wal".to_owned()), "{after:?}");
            assert_eq!(fs.count(Op::Allocate, "/wal/"), allocated, "a rotation allocated a file");
        }
    }
    assert!(rotations_with_spare >= 5, "{rotations_with_spare}");
    // A spare made ahead is no more than one file: after close, none.
    e.close().unwrap();
    assert_eq!(names(), Vec::<String>::new());
}

#[test]
fn a_spare_wal_file_made_ahead_that_fails_leaves_nothing_and_writes_go_on() {
    let t = TempDir::new("wal-ahead-fails");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    const FILE: u64 = 16 << 10;
    let opts = Options {
        storage: fs.clone(),
        wal_file_bytes: FILE,
        checkpoint_wal_bytes: 1 << 30,
        background_sealing: false,
        ..Options::default()
    };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let big = format!("m f=\"{}\" 1", "y".repeat(FILE as usize / 2));
    // Two writes of half a file: the second rotates and takes the spare.
    assert_eq!(write(&e, "db", &big).status, 204);
    assert_eq!(write(&e, "db", &big).status, 204);
    // Out of space for the spare's allocation, then EIO from its sync:
    // no spare, no temporary file left, the store not failed.
    for (op, errno) in [(Op::Allocate, libc::ENOSPC), (Op::Sync, libc::EIO)] {
        fs.arm(op, "spare.wal.tmp", errno, 1);
        assert_eq!(e.maintain().unwrap(), 0);
        let names: Vec<String> = std::fs::read_dir(t.store().join("wal"))
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with("spare")), "{op:?}: {names:?}");
        fs.disarm();
    }
    // Writes go on (making their files themselves), and all is there.
    for i in 0..4 {
        assert_eq!(write(&e, "db", &format!("m g={i}i {}", 10 + i)).status, 204);
    }
    e.maintain().unwrap();
    assert!(t.store().join("wal/spare.wal").exists());
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db").len(), 5);
}

#[test]
fn the_wal_shrinks_to_one_file_after_a_checkpoint_and_to_none_after_close() {
    // Issue 14: the log holds what is not yet in segments, and one
    // preallocated file to go on with; a closed store holds none.
    let t = TempDir::new("wal-shrinks");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    const FILE: u64 = 16 << 10;
    // Four files between checkpoints. No background thread: it would
    // make a spare file ahead at any moment (the next test).
    let opts = Options {
        storage: fs.clone(),
        wal_file_bytes: FILE,
        checkpoint_wal_bytes: 4 * FILE,
        segment_bytes: 1 << 20,
        background_sealing: false,
        ..Options::default()
    };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let batch = |i: usize| -> String { (0..20).map(|k| format!("m,h=h{k} f={i}i,g=\"{}\" {}\n", "x".repeat(40), i * 100 + k)).collect() };
    let wal_files = || -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(t.store().join("wal"))
            .unwrap()
            .map(|d| {
                let d = d.unwrap();
                (d.file_name().into_string().unwrap(), d.metadata().unwrap().len())
            })
            .collect();
        v.sort();
        v
    };
    let (mut i, mut checkpoints, mut last_wal, mut most_files) = (0, 0, 0, 0);
    while checkpoints < 3 {
        assert_eq!(write(&e, "db", &batch(i)).status, 204);
        i += 1;
        let files = wal_files();
        most_files = most_files.max(files.len());
        let wal = e.stats().wal_bytes;
        if wal < last_wal {
            checkpoints += 1;
            // The write that ran the checkpoint left one empty file,
            // made ready for the next write, and nothing else.
            assert_eq!(wal, 0);
            assert_eq!(files.len(), 1, "after a checkpoint: {files:?}");
            assert!(files[0].0.ends_with(".wal") && !files[0].0.starts_with("spare"), "{files:?}");
            assert_eq!(files[0].1, FILE, "{files:?}");
        }
        last_wal = wal;
    }
    // Between checkpoints it grew past one file (the test means something).
    assert!(most_files >= 4, "{most_files}");
    // A plain checkpoint does the same.
    assert_eq!(write(&e, "db", &batch(i)).status, 204);
    i += 1;
    e.checkpoint().unwrap();
    assert_eq!(wal_files().len(), 1, "{:?}", wal_files());
    e.close().unwrap();
    assert_eq!(wal_files(), Vec::<(String, u64)>::new(), "a closed store keeps no WAL file");
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db").len(), i * 20);
    // Writes go on after a reopen of a log without files, and survive.
    assert_eq!(write(&e, "db", "m,h=last f=1i 1").status, 204);
    drop(e);
    let e = Engine::open(t.store(), small_options()).unwrap();
    assert_eq!(all(&e, "db").len(), i * 20 + 1);
}

#[test]
fn a_path_in_the_way_of_a_new_segment_that_cannot_be_read_is_500_and_stores_nothing() {
    // Before making a segment, the write looks at what is at its path (an
    // empty segment of its own it would clear away); a path it cannot read
    // fails the write, untouched, and the store goes on.
    let t = TempDir::new("inspect-eacces");
    let (fs, opts) = faulty();
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    let files = snapshot_files(&t.store());
    fs.arm(Op::Open, "1970-01-03/000001.seg", libc::EACCES, 1);
    let r = write(&e, "db", "m f=2i 172800000000000");
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.message.contains("Permission denied"), "{}", r.message);
    assert_eq!(snapshot_files(&t.store()), files);
    assert_eq!(all(&e, "db"), ["m f=1i 1"]);
    // Not a failed store: the same write goes in once the path reads.
    fs.disarm();
    assert_eq!(write(&e, "db", "m f=2i 172800000000000").status, 204);
    assert_eq!(all(&e, "db"), ["m f=1i 1", "m f=2i 172800000000000"]);
}
