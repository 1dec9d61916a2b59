//! Trust at rest through the Rust API: stored bytes verified before use,
//! the scrub (`Engine::verify`), and sequences that only grow (API.md,
//! "Additions in 0.2"). The bit-flip sweep is `tests/bitflip.rs`.

mod common;
mod kit;

use std::path::{Path, PathBuf};

use common::*;
use linedb::engine::{Engine, Options};
use linedb::error::OpenError;

const DAY: i64 = 86_400_000_000_000;

fn options() -> Options {
    Options { segment_bytes: 64 << 10, wal_file_bytes: 16 << 10, ..Options::default() }
}

/// The segment files under `dir`, sorted.
fn segments(dir: &Path) -> Vec<PathBuf> {
    snapshot_files(dir).into_iter().map(|(p, _)| p).filter(|p| p.extension().is_some_and(|e| e == "seg")).collect()
}

/// A closed store with `cpu` on day 0 (one segment) and `mem` on day 1.
fn closed_store(dir: &Path) -> Vec<String> {
    let e = Engine::open(dir, options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "cpu,host=a f=0.1234567 10\ncpu,host=b f=2.5 20").status, 204);
    assert_eq!(write(&e, "db", &format!("mem,host=a used=7i {}", DAY + 5)).status, 204);
    let want = all(&e, "db");
    e.close().unwrap();
    want
}

/// Flips a bit of the first occurrence of `needle` in `path`.
fn flip_in(path: &Path, needle: &[u8]) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.windows(needle.len()).position(|w| w == needle).expect("needle in file");
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_stored_value_answers_500_naming_the_block_and_other_partitions_go_on() {
    let t = TempDir::new("value-flip");
    let want = closed_store(&t.store());
    let cpu = segments(&t.store()).into_iter().find(|p| p.to_string_lossy().contains("1970-01-01")).unwrap();
    // The bits of 0.1234567 as a stored double (the row encoding stores
    // f64 bits for a float that is no decimal of 3 or 6 places).
    flip_in(&cpu, &0.1234567f64.to_bits().to_le_bytes());
    let e = Engine::open(t.store(), options()).unwrap();
    let mut got = Vec::new();
    let r = e.query("db", Some("cpu"), i64::MIN, i64::MAX, &mut |l| {
        got.push(l.to_vec());
        true
    });
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.message.contains("checksum mismatch") && r.message.contains(&cpu.display().to_string()), "{}", r.message);
    assert!(r.message.contains("at offset "), "{}", r.message);
    assert!(got.is_empty(), "nothing is answered from a partition with damage");
    // Asked again: the same answer, without reading the block again.
    let again = e.query("db", Some("cpu"), i64::MIN, i64::MAX, &mut |_| true);
    assert_eq!((again.status, &again.message), (500, &r.message));
    // Another partition keeps answering; writes go on, to the damaged
    // partition's measurement on another day too.
    assert_eq!(query(&e, "db", Some("mem"), i64::MIN, i64::MAX), [want[2].clone()]);
    assert_eq!(write(&e, "db", &format!("cpu,host=c f=3 {}", 2 * DAY)).status, 204);
    assert_eq!(query(&e, "db", Some("cpu"), 2 * DAY, i64::MAX).len(), 1);
    // The scrub finds the same block.
    let v = e.verify().unwrap();
    assert_eq!(v.damaged_blocks, 1, "{v:?}");
    assert!(v.first_damage.contains(&cpu.display().to_string()), "{v:?}");
}

#[test]
fn a_time_range_cannot_skip_a_damaged_header() {
    // A flip in a block's max time would make pruning skip the block: the
    // header is verified before the query decides what to read.
    let t = TempDir::new("time-flip");
    closed_store(&t.store());
    let cpu = segments(&t.store()).into_iter().find(|p| p.to_string_lossy().contains("1970-01-01")).unwrap();
    // Block header: min_time 10, max_time 20, as stored (i64 LE, adjacent).
    let mut header_times = 10i64.to_le_bytes().to_vec();
    header_times.extend_from_slice(&20i64.to_le_bytes());
    let mut b = std::fs::read(&cpu).unwrap();
    let at = b.windows(16).position(|w| w == header_times.as_slice()).expect("block times") + 8;
    b[at] = 15; // max_time 15: a query [16, 30) would skip the block
    std::fs::write(&cpu, b).unwrap();
    let e = Engine::open(t.store(), options()).unwrap();
    let r = e.query("db", Some("cpu"), 16, 30, &mut |_| true);
    assert_eq!(r.status, 500, "{r:?}");
}

#[test]
fn verify_reads_every_stored_byte_and_finds_nothing_in_a_sound_store() {
    let t = TempDir::new("verify");
    closed_store(&t.store());
    let e = Engine::open(t.store(), options()).unwrap();
    // Records in the log too.
    assert_eq!(write(&e, "db", "cpu,host=z f=1 30").status, 204);
    let v = e.verify().unwrap();
    assert_eq!((v.damaged_blocks, v.first_damage.as_str()), (0, ""), "{v:?}");
    // The catalog, two segments, the current log file.
    assert_eq!(v.files, 4, "{v:?}");
    // Catalog 1, blocks 3 (two in cpu's segment: the second write came
    // after the reopen), records 1.
    assert_eq!(v.blocks, 1 + 3 + 1, "{v:?}");
    let seg_bytes: u64 = e.partitions("db").unwrap().iter().map(|p| p.bytes).sum();
    assert!(v.bytes > seg_bytes, "{v:?}");
}

#[test]
fn verify_finds_a_damaged_log_record_and_a_damaged_block() {
    let t = TempDir::new("verify-damage");
    closed_store(&t.store());
    let e = Engine::open(t.store(), options()).unwrap();
    assert_eq!(write(&e, "db", "cpu,host=z f=1 30").status, 204);
    // Damage the record in the log under the open store.
    let wal = snapshot_files(&t.store().join("wal"))
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| !p.to_string_lossy().contains("spare"))
        .unwrap();
    flip_in(&wal, b"host=z");
    let v = e.verify().unwrap();
    assert_eq!(v.damaged_blocks, 1, "{v:?}");
    assert!(v.first_damage.contains("record checksum mismatch") && v.first_damage.contains(&wal.display().to_string()), "{v:?}");
}

#[test]
fn a_store_whose_log_lost_acknowledged_records_is_refused() {
    // Segments hold blocks of batches past the checkpoint; the log that
    // accounts for them is deleted. Reusing their sequences would mix two
    // batches under one: open refuses, naming the segment, changing nothing.
    let t = TempDir::new("wal-deleted");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    e.checkpoint().unwrap();
    for i in 0..20 {
        assert_eq!(write(&e, "db", &format!("cpu f={i} {i}")).status, 204);
    }
    drop(e); // a crash: no checkpoint
    for p in all_files(&store.join("wal")) {
        std::fs::remove_file(p).unwrap();
    }
    let before = snapshot_files(&store);
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert!(path.extension().is_some_and(|e| e == "seg"), "{path:?}");
            assert!(reason.contains("holds sequence 21"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_files(&store), before);
    // The log's directory gone as well: refused the same way, and not
    // made again.
    std::fs::remove_dir(store.join("wal")).unwrap();
    let entries = tree(&store);
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert!(path.extension().is_some_and(|e| e == "seg"), "{path:?}");
            assert!(reason.contains("holds sequence 21"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(tree(&store) == entries, "a refused open made files or directories: {:?}", tree(&store));
    assert_eq!(snapshot_files(&store), before);
}

#[test]
fn a_damaged_last_record_whose_blocks_are_stored_is_damage_not_a_torn_tail() {
    let t = TempDir::new("last-record");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    e.checkpoint().unwrap();
    assert_eq!(write(&e, "db", "cpu f=1 1").status, 204);
    // Two partitions in one batch: cutting its record and reusing its
    // sequence made the next such batch fail and half of it show.
    assert_eq!(write(&e, "db", &format!("cpu f=2 2\nmem g=2 {DAY}")).status, 204);
    drop(e);
    let wal = snapshot_files(&store.join("wal")).into_iter().map(|(p, _)| p).find(|p| !p.to_string_lossy().contains("spare")).unwrap();
    flip_in(&wal, b"mem");
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, wal);
            assert!(reason.contains("past the log's end"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_damaged_segment_header_with_later_segments_is_refused_not_removed() {
    // Segments made after the checkpoint: a damaged header of the last one
    // may be a creation cut short (an older build), but one with a later
    // segment after it held durable blocks: removing it would let replay
    // skip its records as already held.
    let t = TempDir::new("segment-gap");
    let store = t.store();
    let opts = || Options { segment_bytes: 4096, ..options() };
    let e = Engine::open(&store, opts()).unwrap();
    e.create_database("db").unwrap();
    let pad = "x".repeat(1500);
    let line = |i: usize| format!("m f={i}i,s=\"{pad}\" {i}");
    assert_eq!(write(&e, "db", &line(0)).status, 204);
    e.checkpoint().unwrap();
    let mut i = 1;
    while !store.join("data/1/1/1970-01-01/000003.seg").exists() {
        assert_eq!(write(&e, "db", &line(i)).status, 204);
        i += 1;
        assert!(i < 100);
    }
    let want = all(&e, "db");
    drop(e);
    let second = store.join("data/1/1/1970-01-01/000002.seg");
    let mut b = std::fs::read(&second).unwrap();
    b[12] ^= 0x01; // the key length, under the header's checksum
    std::fs::write(&second, b).unwrap();
    let before = snapshot_files(&store);
    match Engine::open(&store, opts()) {
        Err(OpenError::Corrupt { path, .. }) => assert_eq!(path, second),
        Ok(e) => panic!("opened, answering {} of {} points", all(&e, "db").len(), want.len()),
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(snapshot_files(&store), before);
}

#[test]
fn a_new_store_writes_its_catalog_first_and_a_missing_catalog_is_refused() {
    let t = TempDir::new("catalog-missing");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    // Before any write, the catalog is there: later, its absence is damage.
    assert!(store.join("catalog").exists());
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1 1").status, 204);
    e.close().unwrap();
    std::fs::remove_file(store.join("catalog")).unwrap();
    let before = snapshot_files(&store);
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, store.join("catalog"));
            assert!(reason.contains("the catalog is missing"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_files(&store), before, "a refused open changed files");
    // A directory holding only a lock file (or nothing) is a new store.
    let fresh = t.0.join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    std::fs::write(fresh.join("LOCK"), b"").unwrap();
    Engine::open(&fresh, options()).unwrap().close().unwrap();
}

#[test]
fn a_bad_block_in_a_segment_with_a_later_one_is_damage_not_a_torn_tail() {
    // Blocks past the checkpoint in a segment that is not its partition's
    // last: a later segment got blocks only once this one was durable, so
    // a bad block is damage. Cutting it as a torn tail had let replay skip
    // its records (the later segment holds higher sequences).
    let t = TempDir::new("segment-not-last");
    let store = t.store();
    let opts = || Options { segment_bytes: 4096, ..options() };
    let e = Engine::open(&store, opts()).unwrap();
    e.create_database("db").unwrap();
    e.checkpoint().unwrap();
    let pad = "y".repeat(1500);
    let line = |i: usize| format!("m f={i}i,s=\"{pad}\" {i}");
    let mut i = 0;
    while !store.join("data/1/1/1970-01-01/000002.seg").exists() {
        assert_eq!(write(&e, "db", &line(i)).status, 204);
        i += 1;
        assert!(i < 100);
    }
    drop(e);
    let first = store.join("data/1/1/1970-01-01/000001.seg");
    flip_in(&first, pad.as_bytes());
    let before = snapshot_files(&store);
    match Engine::open(&store, opts()) {
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, first);
            assert!(reason.contains("later one"), "{reason}");
        }
        Ok(e) => panic!("opened, answering {} of {i} points", all(&e, "db").len()),
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(snapshot_files(&store), before, "a refused open changed files");
}

#[test]
fn a_log_whose_first_record_is_damaged_is_refused_before_any_file_changes() {
    // After a checkpoint, the next writes start a new log file; its first
    // record damaged makes the file read as holding no record at all. It
    // was recycled as a spare (its intact records with it) before the open
    // was refused; now nothing of the log is touched until every check.
    let t = TempDir::new("wal-first-record");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=0 0").status, 204);
    e.checkpoint().unwrap();
    for i in 1..6 {
        assert_eq!(write(&e, "db", &format!("m f={i} {i}\nn g={i} {i}")).status, 204);
    }
    drop(e);
    let wal = snapshot_files(&store.join("wal"))
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !p.to_string_lossy().contains("spare"))
        .max()
        .unwrap();
    // The first record's payload: after the 40-byte file header and the
    // 24-byte record header.
    let mut b = std::fs::read(&wal).unwrap();
    b[40 + 24 + 2] ^= 0x5A;
    std::fs::write(&wal, b).unwrap();
    let before = snapshot_files(&store);
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { .. }) => {}
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_files(&store), before, "a refused open changed files");
}

/// The 16-byte store id a new store's catalog holds (after the header).
fn store_id(dir: &Path) -> Vec<u8> {
    let b = std::fs::read(dir.join("catalog")).unwrap();
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 3, "catalog format version");
    b[24..40].to_vec()
}

#[test]
fn a_store_has_an_identity_and_its_segments_carry_it() {
    let (a, b) = (TempDir::new("id-a"), TempDir::new("id-b"));
    closed_store(&a.store());
    closed_store(&b.store());
    let (ia, ib) = (store_id(&a.store()), store_id(&b.store()));
    assert_ne!(ia, vec![0u8; 16], "a new store gets an id");
    assert_ne!(ia, ib, "each store its own");
    for seg in segments(&a.store()) {
        let bytes = std::fs::read(&seg).unwrap();
        assert!(bytes[..64].windows(16).any(|w| w == ia.as_slice()), "{} does not carry the store id", seg.display());
    }
}

#[test]
fn a_segment_of_another_store_is_refused_naming_it() {
    let (a, b) = (TempDir::new("foreign-a"), TempDir::new("foreign-b"));
    let want = closed_store(&a.store());
    closed_store(&b.store());
    // The same partition (database 1, table 1, day 0) in both stores: B's
    // file under A's name, as a copy or a restore gone wrong would leave.
    let (sa, sb) = (segments(&a.store()), segments(&b.store()));
    assert_eq!(sa.len(), 2);
    let own = std::fs::read(&sa[0]).unwrap();
    std::fs::copy(&sb[0], &sa[0]).unwrap();
    let before = snapshot_files(&a.store());
    match Engine::open(a.store(), options()) {
        Ok(_) => panic!("a segment of another store was opened as this store's"),
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, sa[0]);
            assert!(reason.contains("another store"), "{reason}");
        }
        Err(e) => panic!("{e}"),
    }
    assert_eq!(snapshot_files(&a.store()), before, "a refused open changes nothing");
    // The same with a torn block at its end, which open would cut in a
    // segment of its own: refused before anything is cut.
    let end = {
        let storage: std::sync::Arc<dyn linedb::storage::Storage> = std::sync::Arc::new(linedb::storage::FsStorage);
        let cache = linedb::segment::SegmentCache::unbounded();
        linedb::segment::Segment::open(&storage, &cache, &sb[0], 0, 1 << 20).unwrap().used_len()
    };
    let mut foreign = std::fs::read(&sb[0]).unwrap();
    let end = usize::try_from(end).unwrap();
    assert!(foreign.len() > end + 40 && foreign[end..].iter().all(|&x| x == 0), "no room after the last block");
    foreign[end..end + 20].copy_from_slice(b"LDBB torn block head");
    std::fs::write(&sa[0], &foreign).unwrap();
    let before = snapshot_files(&a.store());
    match Engine::open(a.store(), options()) {
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, sa[0]);
            assert!(reason.contains("another store"), "{reason}");
        }
        Ok(_) => panic!("a segment of another store was opened as this store's"),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(snapshot_files(&a.store()), before, "a refused open cut the foreign segment's tail");
    // Its own file back: everything as it was.
    std::fs::write(&sa[0], own).unwrap();
    let e = Engine::open(a.store(), options()).unwrap();
    assert_eq!(all(&e, "db"), want);
}

#[test]
fn a_damaged_segment_no_checkpoint_lists_is_refused_not_removed() {
    // A partition made after the last checkpoint, its only segment's header
    // damaged. Its blocks are in the log, but the file is not removed: this
    // build never leaves a segment with a torn header under its name, so
    // it is damage, or not the store's.
    let t = TempDir::new("unlisted-damaged");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    e.checkpoint().unwrap();
    assert_eq!(write(&e, "db", "m f=1 1").status, 204);
    drop(e); // a crash: the partition is in no checkpoint
    let seg = segments(&store).pop().unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    b[12] ^= 0x01; // the key length, under the header's checksum
    std::fs::write(&seg, &b).unwrap();
    let before = snapshot_files(&store);
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { path, .. }) => assert_eq!(path, seg),
        Ok(_) => panic!("opened with a damaged segment"),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(snapshot_files(&store), before, "a refused open changed files");
    // Removed by its owner, the log makes the partition again.
    std::fs::remove_file(&seg).unwrap();
    let e = Engine::open(&store, options()).unwrap();
    assert_eq!(all(&e, "db"), ["m f=1 1"]);
}

#[test]
fn an_older_catalog_copied_over_the_current_one_is_refused() {
    // A catalog saved after the first checkpoint and put back after later
    // checkpoints (a restore gone wrong): opening it would serve an older
    // store, and the next write would reuse sequences the data holds.
    for new_partition in [false, true] {
        let t = TempDir::new("older-catalog");
        let store = t.store();
        let e = Engine::open(&store, options()).unwrap();
        e.create_database("db").unwrap();
        assert_eq!(write(&e, "db", "m f=1 1").status, 204);
        e.checkpoint().unwrap();
        let old = std::fs::read(store.join("catalog")).unwrap();
        for i in 2..40 {
            let line = if new_partition { format!("n{i} f={i} {i}") } else { format!("m f={i} {i}") };
            assert_eq!(write(&e, "db", &line).status, 204);
            if i % 10 == 0 {
                e.checkpoint().unwrap();
            }
        }
        e.close().unwrap();
        std::fs::write(store.join("catalog"), &old).unwrap();
        let (entries, before) = (tree(&store), snapshot_files(&store));
        match Engine::open(&store, options()) {
            Err(OpenError::Corrupt { path, reason, .. }) => {
                assert!(path.starts_with(&store), "{path:?}");
                assert!(!reason.is_empty());
            }
            Ok(e) => panic!("an older catalog opened, new_partition {new_partition}: {:?}", all(&e, "db")),
            Err(e) => panic!("{e}"),
        }
        assert!(tree(&store) == entries, "a refused open made or removed files");
        assert_eq!(snapshot_files(&store), before, "a refused open changed files");
    }
}

#[test]
fn a_torn_tail_is_not_cut_when_open_refuses_for_another_file() {
    // Partition A's last segment ends in a torn block (open cuts such a
    // tail); partition B's segment header is damaged (open refuses). The
    // refusal comes after A is opened: A's tail must still be as it was.
    let t = TempDir::new("torn-then-refused");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "a f=1 1\nb f=1 1").status, 204);
    e.close().unwrap();
    let segs = segments(&store);
    assert_eq!(segs.len(), 2);
    let (a, b) = (&segs[0], &segs[1]);
    let end = {
        let storage: std::sync::Arc<dyn linedb::storage::Storage> = std::sync::Arc::new(linedb::storage::FsStorage);
        let cache = linedb::segment::SegmentCache::unbounded();
        linedb::segment::Segment::open(&storage, &cache, a, 0, 1 << 20).unwrap().used_len()
    };
    let mut bytes = std::fs::read(a).unwrap();
    let end = usize::try_from(end).unwrap();
    assert!(bytes.len() > end + 40 && bytes[end..].iter().all(|&x| x == 0));
    bytes[end..end + 20].copy_from_slice(b"LDBB torn block head");
    std::fs::write(a, &bytes).unwrap();
    let mut hb = std::fs::read(b).unwrap();
    hb[12] ^= 0x01; // the key length, under the header's checksum
    std::fs::write(b, &hb).unwrap();
    let before = snapshot_files(&store);
    match Engine::open(&store, options()) {
        Err(OpenError::Corrupt { path, .. }) => assert_eq!(&path, b),
        Ok(_) => panic!("opened with a damaged segment"),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(snapshot_files(&store), before, "a refused open cut another segment's torn tail");
    // B mended: open cuts A's tail and serves both.
    hb[12] ^= 0x01;
    std::fs::write(b, &hb).unwrap();
    let e = Engine::open(&store, options()).unwrap();
    assert_eq!(all(&e, "db"), ["a f=1 1", "b f=1 1"]);
    drop(e);
    assert!(std::fs::read(a).unwrap()[end..].iter().all(|&x| x == 0), "the torn tail was not cut");
}

#[test]
fn a_torn_tail_in_a_segment_followed_by_an_empty_one_is_cut_at_open() {
    // A group that moved its partition to a new segment, killed before its
    // blocks reached either file: segment 1 ends in a torn block, segment 2
    // has none. Open cuts segment 1's tail before replay puts the blocks
    // in segment 2; after that, segment 1 has a later segment with blocks,
    // so a tail left in it would be damage at every later open.
    let t = TempDir::new("torn-not-last");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    let pad = "x".repeat(200);
    let big: String = (0..400).map(|i| format!("m s=\"{pad}{i}\" {}\n", 10 + i)).collect();
    assert_eq!(write(&e, "db", &big).status, 204);
    let want = all(&e, "db");
    drop(e); // a crash: no checkpoint
    let segs = segments(&store);
    assert_eq!(segs.len(), 2, "{segs:?}");
    let (s1, s2) = (&segs[0], &segs[1]);
    let storage: std::sync::Arc<dyn linedb::storage::Storage> = std::sync::Arc::new(linedb::storage::FsStorage);
    let cache = linedb::segment::SegmentCache::unbounded();
    let end1 = usize::try_from(linedb::segment::Segment::open(&storage, &cache, s1, 0, 64 << 10).unwrap().used_len()).unwrap();
    let first2 = usize::try_from(linedb::segment::Segment::open(&storage, &cache, s2, 0, 64 << 10).unwrap().blocks()[0].offset).unwrap();
    let mut b2 = std::fs::read(s2).unwrap();
    b2[first2..].fill(0);
    std::fs::write(s2, &b2).unwrap();
    let mut b1 = std::fs::read(s1).unwrap();
    assert!(b1.len() > end1 + 40);
    b1[end1..end1 + 20].copy_from_slice(b"LDBB torn block head");
    std::fs::write(s1, &b1).unwrap();
    let e = Engine::open(&store, options()).unwrap();
    assert_eq!(all(&e, "db"), want);
    e.close().unwrap();
    assert!(std::fs::read(s1).unwrap()[end1..].iter().all(|&x| x == 0), "segment 1's torn tail was not cut");
    let e = Engine::open(&store, options()).unwrap();
    assert_eq!(all(&e, "db"), want);
}

#[test]
fn a_segment_moved_to_another_partition_is_refused() {
    let t = TempDir::new("moved");
    closed_store(&t.store());
    let s = segments(&t.store());
    // Day 1's segment (mem) put in day 0's place (cpu): same store, the
    // header names another partition.
    std::fs::copy(&s[1], &s[0]).unwrap();
    let before = snapshot_files(&t.store());
    match Engine::open(t.store(), options()) {
        Ok(_) => panic!("a segment of another partition was served"),
        Err(OpenError::Corrupt { path, .. }) => assert_eq!(path, s[0]),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(snapshot_files(&t.store()), before);
}

/// The numbered log files of a store (not spares), sorted.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".wal") && !n.starts_with("spare")))
        .collect();
    v.sort();
    v
}

#[test]
fn a_log_file_of_another_store_is_refused_naming_it() {
    let (a, b) = (TempDir::new("wal-a"), TempDir::new("wal-b"));
    let mut want = Vec::new();
    for t in [&a, &b] {
        let e = Engine::open(t.store(), options()).unwrap();
        e.create_database("db").unwrap();
        assert_eq!(write(&e, "db", "cpu f=1i 10").status, 204);
        want = all(&e, "db");
        drop(e); // no checkpoint: the batch is in the log only
    }
    let (la, lb) = (log_files(&a.store()), log_files(&b.store()));
    assert_eq!(la[0].file_name(), lb[0].file_name());
    let own = std::fs::read(&la[0]).unwrap();
    std::fs::copy(&lb[0], &la[0]).unwrap();
    let before = snapshot_files(&a.store());
    match Engine::open(a.store(), options()) {
        Ok(_) => panic!("a log file of another store was replayed as this store's"),
        Err(OpenError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, la[0]);
            assert!(reason.contains("another store"), "{reason}");
        }
        Err(e) => panic!("{e}"),
    }
    assert_eq!(snapshot_files(&a.store()), before, "a refused open changes nothing");
    std::fs::write(&la[0], own).unwrap();
    let e = Engine::open(a.store(), options()).unwrap();
    assert_eq!(all(&e, "db"), want);
}

#[test]
fn a_file_in_the_way_of_a_new_segment_is_never_removed() {
    let t = TempDir::new("in-the-way");
    let e = Engine::open(t.store(), options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "cpu f=1i 10").status, 204);
    // Where day 1's first segment of `cpu` (database 1, table 1) goes, a
    // file the store did not make.
    let dir = t.store().join("data/1/1/1970-01-02");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("000001.seg");
    std::fs::write(&path, b"someone else's bytes").unwrap();
    let r = write(&e, "db", &format!("cpu f=2i {}", DAY + 10));
    assert_eq!(r.status, 500, "{}", r.message);
    assert!(r.message.contains("not removed") && r.message.contains("000001.seg"), "{}", r.message);
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's bytes", "the file is untouched");
    // Nothing stored, and the store goes on.
    assert_eq!(all(&e, "db"), vec!["cpu f=1i 10".to_string()]);
    assert_eq!(write(&e, "db", "cpu f=3i 20").status, 204);
}

#[test]
fn an_empty_segment_left_by_a_failed_group_is_cleared_away() {
    use kit::fault::{Effect, FaultStorage, Op};
    use std::sync::Arc;
    let t = TempDir::new("leftover");
    let fs = Arc::new(FaultStorage::new(Arc::new(linedb::storage::FsStorage)));
    let opts = Options { storage: Arc::clone(&fs) as Arc<dyn linedb::storage::Storage>, ..options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "cpu f=0i 10").status, 204);
    // A group that makes day 1's segment, then finds no space to grow day
    // 0's; removing the segment it made fails too, so the file stays.
    // (Twice: growing falls back to just the block when the doubled size
    // does not fit.)
    fs.arm_effect(Op::Allocate, "1970-01-01", Effect::Fail(libc::ENOSPC), 2);
    // (The first remove there is of a temporary file the new segment's
    // creation clears; the second is the group's own cleanup.)
    fs.arm_after(Op::Remove, "1970-01-02", 1, 1, Effect::Fail(libc::EIO));
    let big = format!("cpu f=1i {}\ncpu,s=x f=2i,t=\"{}\" 11", DAY + 10, "y".repeat(8000));
    let r = write(&e, "db", &big);
    assert_eq!(r.status, 503, "{}", r.message);
    let left = t.store().join("data/1/1/1970-01-02/000001.seg");
    assert!(left.exists(), "the failed group's segment is still there");
    fs.disarm();
    // It is this store's, of that partition, and empty: cleared away.
    assert_eq!(write(&e, "db", &format!("cpu f=3i {}", DAY + 10)).status, 204);
    assert_eq!(all(&e, "db"), vec!["cpu f=0i 10".to_string(), format!("cpu f=3i {}", DAY + 10)]);
}
