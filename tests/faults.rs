//! What a write answers, and leaves behind, when the disk says no: ENOSPC
//! before anything is acknowledged is 503 with nothing stored; a failed
//! fdatasync or msync fails the store (500) until it is reopened, and a
//! reopen shows each batch whole or not at all.

mod common;

use std::sync::Arc;

use common::*;
use linedb::engine::{Engine, Error, Options};
use linedb::storage::fault::{FaultStorage, Op};
use linedb::storage::FsStorage;

fn faulty() -> (Arc<FaultStorage>, Options) {
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let opts = Options { storage: fs.clone(), wal_file_bytes: 8192, segment_bytes: 1 << 20, ..Options::default() };
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
