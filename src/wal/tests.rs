//! Tests of the WAL against the real disk (and, for a full disk, a wrapper
//! around it that fails `allocate` on demand).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::format::{
    encode_record, file_name, parse_file_name, record_size, FileHeader, FILE_HEADER_LEN, RECORD_HEADER_LEN, SPARE_NAME,
};
use super::reader::{Entry, FileReader};
use super::{Wal, WalError, WalOptions};
use crate::error::OpenError;
use crate::storage::fault::{Effect, FaultStorage, Op};
use crate::storage::{FsStorage, OpenMode, Storage};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("linedb-wal-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn wal(&self) -> PathBuf {
        self.0.join("wal")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Replayed = Vec<(u64, Vec<u8>)>;

fn open_on(storage: Arc<dyn Storage>, dir: &Path, file_size: u64, after: u64) -> Result<(Wal, Replayed), OpenError> {
    let mut got = Vec::new();
    let mut replay = |seq: u64, p: &[u8]| {
        got.push((seq, p.to_vec()));
        Ok(())
    };
    let wal = Wal::open(storage, dir, WalOptions { file_size, spares: 1, store_tag: 0 }, after, &mut replay)?;
    Ok((wal, got))
}

fn try_open(dir: &Path, file_size: u64, after: u64) -> Result<(Wal, Replayed), OpenError> {
    open_on(Arc::new(FsStorage), dir, file_size, after)
}

fn open(dir: &Path, file_size: u64, after: u64) -> (Wal, Replayed) {
    try_open(dir, file_size, after).unwrap()
}

/// A payload that names its tag and sequence, of varying length.
fn pl(tag: &str, seq: u64) -> Vec<u8> {
    let mut p = format!("{tag}:{seq}:").into_bytes();
    p.resize(p.len() + usize::try_from(seq * 7 % 90).unwrap(), b'x');
    p
}

/// Appends `n` records in groups of 1, 2, 3, 4, 1, ..., syncing each;
/// returns them.
fn write(wal: &mut Wal, tag: &str, n: u64) -> Replayed {
    let mut out = Vec::new();
    let mut group = 1;
    while (out.len() as u64) < n {
        let seq = wal.next_seq();
        let k = group.min(n - out.len() as u64);
        let ps: Vec<Vec<u8>> = (seq..seq + k).map(|s| pl(tag, s)).collect();
        let refs: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
        assert_eq!(wal.append(&refs).unwrap(), seq);
        // Each append synced, as the engine acknowledges them.
        wal.sync().unwrap();
        out.extend((seq..).zip(ps));
        group = group % 4 + 1;
    }
    out
}

fn from(all: &Replayed, after: u64) -> Replayed {
    all.iter().filter(|(s, _)| *s > after).cloned().collect()
}

/// The WAL files, in number order.
fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            parse_file_name(&e.file_name()).map(|n| (n, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

fn names(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    v.sort();
    v
}

/// The records of a file as the log reads them: (offset, seq, size).
fn records(path: &Path) -> Vec<(u64, u64, u64)> {
    let file = FsStorage.open_file(path, OpenMode::Read).unwrap();
    let len = file.length().unwrap();
    let mut r = FileReader::new(&*file, len);
    let h = r.header().unwrap().unwrap();
    let (mut off, mut exp, mut out) = (FILE_HEADER_LEN, h.first_seq, Vec::new());
    while let Entry::Record { seq, size, .. } = r.entry_at(off).unwrap() {
        if seq != exp {
            break;
        }
        out.push((off, seq, size));
        off += size;
        exp += 1;
    }
    out
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let f = FsStorage.open_file(path, OpenMode::Read).unwrap();
    let mut b = vec![0u8; len];
    f.read_at(&mut b, offset).unwrap();
    b
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    FsStorage.open_file(path, OpenMode::ReadWrite).unwrap().write_at(bytes, offset).unwrap();
}

fn flip(path: &Path, offset: u64) {
    let mut b = read_at(path, offset, 1);
    b[0] ^= 0x20;
    write_at(path, offset, &b);
}

fn corrupt_at(r: Result<(Wal, Replayed), OpenError>) -> (PathBuf, u64, String) {
    match r {
        Err(OpenError::Corrupt { path, offset, reason }) => (path, offset, reason),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, the log opened"),
    }
}

#[test]
fn round_trip_across_rotations() {
    let t = TempDir::new("round-trip");
    let (mut wal, got) = open(&t.wal(), 512, 0);
    assert!(got.is_empty());
    assert_eq!(wal.next_seq(), 1);
    assert_eq!(wal.backlog_bytes(), 0);
    let all = write(&mut wal, "a", 300);
    let bytes: u64 = all.iter().map(|(_, p)| record_size(p.len() as u64)).sum();
    assert_eq!(wal.backlog_bytes(), bytes);
    assert_eq!(wal.next_seq(), 301);
    drop(wal);
    assert!(wal_files(&t.wal()).len() > 10, "expected many rotations");

    let (mut wal, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, all);
    assert_eq!(wal.next_seq(), 301);
    assert_eq!(wal.backlog_bytes(), bytes);
    let more = write(&mut wal, "b", 50);
    drop(wal);
    let (wal, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, [all, more].concat());
    assert_eq!(wal.next_seq(), 351);
}

#[test]
fn replays_only_after_seq() {
    let t = TempDir::new("after-seq");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 100);
    drop(wal);
    for after in [0, 1, 57, 99, 100] {
        let (wal, got) = open(&t.wal(), 512, after);
        assert_eq!(got, from(&all, after), "after {after}");
        assert_eq!(wal.next_seq(), 101);
    }
    // A checkpoint ahead of the log: appends continue above it, in a new
    // file, and the gap (covered by the checkpoint) is no corruption.
    let (mut wal, got) = open(&t.wal(), 512, 150);
    assert!(got.is_empty());
    assert_eq!(wal.next_seq(), 151);
    let more = write(&mut wal, "b", 5);
    assert_eq!(more[0].0, 151);
    drop(wal);
    let (_, got) = open(&t.wal(), 512, 150);
    assert_eq!(got, more);
    // But not below it: records 101..=150 would be missing.
    let (path, offset, _) = corrupt_at(try_open(&t.wal(), 512, 100));
    let starts_at_151 = wal_files(&t.wal()).into_iter().find(|p| records(p)[0].1 == 151).unwrap();
    assert_eq!((path, offset), (starts_at_151, FILE_HEADER_LEN));
}

#[test]
fn empty_log_after_seq() {
    let t = TempDir::new("empty");
    let (mut wal, _) = open(&t.wal(), 512, 41);
    assert_eq!(wal.next_seq(), 42);
    assert_eq!(wal.append(&[]).unwrap(), 42);
    assert!(wal_files(&t.wal()).is_empty());
    let all = write(&mut wal, "a", 3);
    drop(wal);
    assert_eq!(open(&t.wal(), 512, 41).1, all);
}

#[test]
fn torn_tail_mid_payload_is_cut() {
    let t = TempDir::new("torn-truncate");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let all = write(&mut wal, "a", 10);
    drop(wal);
    let files = wal_files(&t.wal());
    assert_eq!(files.len(), 1);
    let recs = records(&files[0]);
    let (off, seq, _) = *recs.last().unwrap();
    assert_eq!(seq, 10);
    let f = std::fs::OpenOptions::new().write(true).open(&files[0]).unwrap();
    f.set_len(off + RECORD_HEADER_LEN + 3).unwrap();
    drop(f);

    let (mut wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, all[..9]);
    assert_eq!(wal.next_seq(), 10);
    let more = write(&mut wal, "new", 3);
    assert_eq!(more[0].0, 10);
    drop(wal);
    let (wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, [&all[..9], &more[..]].concat());
    assert_eq!(wal.next_seq(), 13);
}

#[test]
fn torn_tail_flipped_byte_is_cut_and_zeroed() {
    let t = TempDir::new("torn-flip");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let mut all = write(&mut wal, "a", 9);
    // A long last record, so that what replaces it is shorter.
    let long = vec![b'L'; 600];
    assert_eq!(wal.append(&[&long]).unwrap(), 10);
    wal.sync().unwrap();
    all.push((10, long));
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let (off, seq, size) = *records(&file).last().unwrap();
    assert_eq!(seq, 10);
    flip(&file, off + RECORD_HEADER_LEN + 300);

    let (mut wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, all[..9]);
    assert_eq!(wal.next_seq(), 10);
    // The torn bytes are zeroed.
    let usize_size = usize::try_from(size).unwrap();
    assert!(read_at(&file, off, usize_size).iter().all(|&b| b == 0));
    let more = write(&mut wal, "new", 2);
    assert_eq!(more[0].0, 10);
    drop(wal);
    let (mut wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, [&all[..9], &more[..]].concat());
    let later = write(&mut wal, "later", 20);
    drop(wal);
    let (_, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, [&all[..9], &more[..], &later[..]].concat());
}

#[test]
fn torn_header_of_last_record_is_cut() {
    let t = TempDir::new("torn-header");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let all = write(&mut wal, "a", 10);
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let (off, _, _) = *records(&file).last().unwrap();
    flip(&file, off + 9); // in the sequence: the checksum fails
    let (wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, all[..9]);
    assert_eq!(wal.next_seq(), 10);
}

#[test]
fn bad_record_followed_by_valid_is_corrupt() {
    let t = TempDir::new("corrupt-mid");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    write(&mut wal, "a", 10);
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let recs = records(&file);
    let (off, seq, _) = recs[4];
    assert_eq!(seq, 5);
    flip(&file, off + RECORD_HEADER_LEN + 2);
    let (path, offset, reason) = corrupt_at(try_open(&t.wal(), 4096, 0));
    assert_eq!((path, offset), (file.clone(), off));
    // `write` appends groups of 1, 2, 3, 4 records: 5 is in [4, 6], and 7
    // is the first record of a later append.
    assert!(reason.contains("sequence 7"), "{reason}");
    // Still corrupt when the bad record is below the checkpoint but the
    // records it hides are not.
    let (path, offset, _) = corrupt_at(try_open(&t.wal(), 4096, 5));
    assert_eq!((path, offset), (file.clone(), off));
    // A damaged header (here its magic) too.
    flip(&file, off + RECORD_HEADER_LEN + 2);
    flip(&file, off);
    let (path, offset, _) = corrupt_at(try_open(&t.wal(), 4096, 0));
    assert_eq!((path, offset), (file, off));
    // Below the checkpoint with nothing after it above: no loss, opens.
    let (wal, got) = open(&t.wal(), 4096, 10);
    assert!(got.is_empty());
    assert_eq!(wal.next_seq(), 11);
}

#[test]
fn torn_record_of_the_last_append_is_cut_even_with_later_records_of_it() {
    // Power loss during an unsynced append may keep a later record of it
    // and lose an earlier one: nothing of it was acknowledged, so it is a
    // torn tail, not corruption.
    let t = TempDir::new("torn-group");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let first = write(&mut wal, "a", 3); // appends [1] [2, 3]
    let payloads: Vec<Vec<u8>> = (4..9).map(|s| pl("g", s)).collect();
    let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    assert_eq!(wal.append(&refs).unwrap(), 4);
    wal.sync().unwrap();
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let recs = records(&file);
    let (off, seq, _) = recs[4];
    assert_eq!(seq, 5);
    flip(&file, off + RECORD_HEADER_LEN + 1);
    let (mut wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, [first, vec![(4, pl("g", 4))]].concat());
    assert_eq!(wal.next_seq(), 5);
    // The cut records are gone for good: appending goes on from 5, and a
    // reopen sees exactly the log as it now is.
    let more = write(&mut wal, "b", 2);
    drop(wal);
    let (_, got) = open(&t.wal(), 4096, 4);
    assert_eq!(got, more);
}

/// Appends one group of `n` records without syncing; returns them.
fn append_group(wal: &mut Wal, tag: &str, n: u64) -> Replayed {
    let seq = wal.next_seq();
    let ps: Vec<Vec<u8>> = (seq..seq + n).map(|s| pl(tag, s)).collect();
    let refs: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
    assert_eq!(wal.append(&refs).unwrap(), seq);
    (seq..).zip(ps).collect()
}

#[test]
fn torn_record_of_a_group_written_while_another_synced_is_cut() {
    // The engine writes group C while group B's sync is still under way:
    // a power cut may keep C's pages and lose B's. Neither was
    // acknowledged (C's sync returning would have made B durable too), so
    // it is a torn tail.
    let t = TempDir::new("torn-pipelined");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let a = write(&mut wal, "a", 3);
    append_group(&mut wal, "b", 2); // 4, 5: its sync not begun
    let b_sync = wal.sync_ticket();
    append_group(&mut wal, "c", 2); // 6, 7: written while B syncs
    let c_sync = wal.sync_ticket();
    b_sync.run().unwrap();
    c_sync.run().unwrap();
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let (off, seq, _) = records(&file)[3];
    assert_eq!(seq, 4);
    flip(&file, off + RECORD_HEADER_LEN + 1);
    let (wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, a);
    assert_eq!(wal.next_seq(), 4);
}

#[test]
fn record_written_after_a_sync_returned_proves_corruption() {
    // Group D is written after B's sync returned: a bad B followed by a
    // valid D is damage to durable data, not a torn tail. A bad C is a
    // torn tail: D was written before C was known durable, so it proves
    // nothing about C.
    let t = TempDir::new("corrupt-pipelined");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let a = write(&mut wal, "a", 3);
    let b = append_group(&mut wal, "b", 2); // 4, 5
    let b_sync = wal.sync_ticket();
    append_group(&mut wal, "c", 2); // 6, 7, floor 4
    b_sync.run().unwrap();
    append_group(&mut wal, "d", 1); // 8, floor 6
    wal.sync().unwrap();
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let recs = records(&file);
    // B damaged: D's floor (6) is above it.
    let (off4, seq, _) = recs[3];
    assert_eq!(seq, 4);
    flip(&file, off4 + RECORD_HEADER_LEN + 1);
    let (path, offset, reason) = corrupt_at(try_open(&t.wal(), 4096, 0));
    assert_eq!((path, offset), (file.clone(), off4));
    assert!(reason.contains("sequence 8"), "{reason}");
    flip(&file, off4 + RECORD_HEADER_LEN + 1);
    // C damaged: nothing after it was written once C was known durable.
    let (off6, seq, _) = recs[5];
    assert_eq!(seq, 6);
    flip(&file, off6 + RECORD_HEADER_LEN + 1);
    let (wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, [a, b].concat());
    assert_eq!(wal.next_seq(), 6);
}

#[test]
fn a_failed_sync_ticket_fails_the_log() {
    let t = TempDir::new("ticket-fails");
    let (storage, faults) = faulty();
    let (mut wal, _) = open_on(storage, &t.wal(), 4096, 0).unwrap();
    append_group(&mut wal, "a", 2);
    let ticket = wal.sync_ticket();
    faults.arm(Op::Sync, "", libc::EIO, 1);
    assert_eq!(ticket.run().unwrap_err().raw_os_error(), Some(libc::EIO));
    // A later ticket, and the log itself, refuse: the page cache can no
    // longer be trusted.
    assert!(wal.sync_ticket().run().is_err());
    assert!(wal.append(&[b"x".as_slice()]).is_err());
    assert!(wal.sync().is_err());
}

#[test]
fn bad_last_record_of_older_file_is_corrupt() {
    let t = TempDir::new("corrupt-older");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    write(&mut wal, "a", 40);
    drop(wal);
    let files = wal_files(&t.wal());
    assert!(files.len() >= 3);
    // The last record of the first file: the next file proves it existed.
    let (off, _, _) = *records(&files[0]).last().unwrap();
    flip(&files[0], off + RECORD_HEADER_LEN);
    let (path, offset, reason) = corrupt_at(try_open(&t.wal(), 512, 0));
    assert_eq!((path, offset), (files[0].clone(), off));
    assert!(reason.contains("valid records follow"), "{reason}");
}

#[test]
fn garbage_after_the_last_record_of_a_rotated_file_is_its_end() {
    // What a recycled file looks like after rotation when no end marker
    // fit: old bytes after its last record. The next file continuing the
    // sequence exactly shows nothing was lost.
    let t = TempDir::new("garbage-end");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 40);
    drop(wal);
    let files = wal_files(&t.wal());
    let (off, _, size) = *records(&files[0]).last().unwrap();
    let end = off + size;
    let len = std::fs::metadata(&files[0]).unwrap().len();
    assert!(end + RECORD_HEADER_LEN <= len, "no room for garbage in this layout");
    write_at(&files[0], end, &[0xAB; 24]);
    let (_, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, all);
}

#[test]
fn zero_header_is_a_clean_end() {
    let t = TempDir::new("zero-end");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    let all = write(&mut wal, "a", 10);
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    let (off, _, size) = *records(&file).last().unwrap();
    write_at(&file, off, &vec![0u8; usize::try_from(size).unwrap()]);
    let (mut wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, all[..9]);
    assert_eq!(wal.next_seq(), 10);
    let more = write(&mut wal, "b", 1);
    drop(wal);
    assert_eq!(open(&t.wal(), 4096, 0).1, [&all[..9], &more[..]].concat());
}

#[test]
fn unknown_version_is_refused() {
    let t = TempDir::new("version");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    write(&mut wal, "a", 3);
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    write_at(&file, 8, &7u32.to_le_bytes());
    match try_open(&t.wal(), 512, 0) {
        Err(OpenError::Version { path, found, supported }) => {
            assert_eq!((path, found, supported), (file, 7, 1));
        }
        Err(e) => panic!("expected Version, got {e}"),
        Ok(_) => panic!("expected Version, the log opened"),
    }
}

#[test]
fn trim_removes_and_recycles() {
    let t = TempDir::new("trim");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 100);
    let before_files = wal_files(&t.wal()).len();
    let before = wal.backlog_bytes();
    wal.trim(40).unwrap();
    let after = wal.backlog_bytes();
    assert!(after < before && after > 0, "{before} -> {after}");
    let left = wal_files(&t.wal());
    assert!(left.len() < before_files);
    assert!(t.wal().join(SPARE_NAME).exists(), "one trimmed file is kept to recycle");
    // Every file left holds a record above 40; every one removed did not.
    let first_left = records(&left[0]);
    assert!(first_left.last().unwrap().1 > 40);
    assert!(first_left[0].1 <= 41);
    let expect_bytes: u64 = left.iter().flat_map(|p| records(p)).map(|(_, _, s)| s).sum();
    assert_eq!(after, expect_bytes);
    drop(wal);

    let (mut wal, got) = open(&t.wal(), 512, 40);
    assert_eq!(got, from(&all, 40));
    assert_eq!(wal.backlog_bytes(), after);
    // Rotation takes the spare: its old records (all <= 40) stay in it as
    // stale bytes and are never replayed.
    let more = write(&mut wal, "b", 30);
    assert!(!t.wal().join(SPARE_NAME).exists(), "the spare was recycled");
    drop(wal);
    let (mut wal, got) = open(&t.wal(), 512, 40);
    assert_eq!(got, [from(&all, 40), more.clone()].concat());

    // Never the file being appended to while it holds a record above
    // `upto`; once every record is covered, that file is retired too.
    let next = wal.next_seq();
    wal.trim(next - 2).unwrap();
    assert!(!wal_files(&t.wal()).is_empty());
    assert!(wal.backlog_bytes() > 0);
    wal.trim(next - 1).unwrap();
    assert_eq!(wal_files(&t.wal()), Vec::<std::path::PathBuf>::new());
    assert_eq!(wal.backlog_bytes(), 0);
    drop(wal);
    let (mut wal, got) = open(&t.wal(), 512, next - 1);
    assert!(got.is_empty());
    assert_eq!(wal.next_seq(), next);
    // Appending goes on in a new file, at the next sequence.
    let again = write(&mut wal, "c", 3);
    drop(wal);
    let (_, got) = open(&t.wal(), 512, next - 1);
    assert_eq!(got, again);
}

#[test]
fn stale_records_in_a_recycled_file_are_not_replayed() {
    let t = TempDir::new("stale");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 60);
    wal.trim(30).unwrap();
    assert!(t.wal().join(SPARE_NAME).exists());
    let spare_before = records_any(&t.wal().join(SPARE_NAME));
    assert!(!spare_before.is_empty() && spare_before.iter().all(|&s| s <= 30));
    let newest = parse_file_name(wal_files(&t.wal()).last().unwrap().file_name().unwrap()).unwrap();
    let recycled = t.wal().join(file_name(newest + 1));
    // Small records until the spare becomes the next file, and a few in it.
    let mut more = Vec::new();
    let mut in_recycled = 0;
    while in_recycled < 3 {
        let seq = wal.next_seq();
        let p = format!("b{seq}").into_bytes();
        wal.append(&[&p]).unwrap();
        more.push((seq, p));
        in_recycled += u32::from(recycled.exists());
    }
    wal.sync().unwrap();
    drop(wal);
    // The first file made after the trim is the recycled one: its old
    // records (all <= 30) are still there after the new ones.
    let (off, _, size) = *records(&recycled).last().unwrap();
    let end = off + size;
    {
        let file = FsStorage.open_file(&recycled, OpenMode::Read).unwrap();
        let mut r = FileReader::new(&*file, file.length().unwrap());
        let (_, old) = r.find_valid(end, 0, 0).unwrap().expect("old records remain in the recycled file");
        assert!(old <= 30);
    }
    // Replace the end marker by a stale record: still the end of the file.
    let mut stale = Vec::new();
    encode_record(&mut stale, 3, 0, 5, b"stale");
    write_at(&recycled, end, &stale);
    let (mut wal, got) = open(&t.wal(), 512, 30);
    assert_eq!(got, [from(&all, 30), more.clone()].concat());
    let n = write(&mut wal, "c", 1);
    assert_eq!(n[0].0, more.last().unwrap().0 + 1);
    drop(wal);
    let (_, got) = open(&t.wal(), 512, 30);
    assert_eq!(got, [from(&all, 30), more, n].concat());
}

/// The valid records of a file regardless of its header's first sequence.
fn records_any(path: &Path) -> Vec<u64> {
    let file = FsStorage.open_file(path, OpenMode::Read).unwrap();
    let len = file.length().unwrap();
    let mut r = FileReader::new(&*file, len);
    let mut off = FILE_HEADER_LEN;
    let mut out = Vec::new();
    while let Entry::Record { seq, size, .. } = r.entry_at(off).unwrap() {
        out.push(seq);
        off += size;
    }
    out
}

#[test]
fn payload_larger_than_file_size() {
    let t = TempDir::new("big");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let mut all = write(&mut wal, "a", 3);
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(wal.append(&[&big, b"after"]).unwrap(), 4);
    wal.sync().unwrap();
    all.push((4, big));
    all.push((5, b"after".to_vec()));
    all.extend(write(&mut wal, "b", 10));
    drop(wal);
    let files = wal_files(&t.wal());
    let sizes: Vec<u64> = files.iter().map(|p| std::fs::metadata(p).unwrap().len()).collect();
    assert!(sizes.iter().any(|&s| s >= 5000 + RECORD_HEADER_LEN + FILE_HEADER_LEN), "{sizes:?}");
    let (wal, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, all);
    assert_eq!(wal.next_seq(), 16);
}

#[test]
fn empty_payload_is_rejected() {
    let t = TempDir::new("empty-payload");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    match wal.append(&[b"ok", b""]) {
        Err(WalError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert_eq!(wal.next_seq(), 1);
    assert_eq!(wal.append(&[b"ok"]).unwrap(), 1);
}

#[test]
fn bad_option_is_invalid_argument() {
    let t = TempDir::new("bad-option");
    assert!(matches!(try_open(&t.wal(), 10, 0), Err(OpenError::InvalidArgument(_))));
}

#[test]
fn torn_creation_of_newest_file_is_removed() {
    let t = TempDir::new("torn-create");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 20);
    drop(wal);
    let n = wal_files(&t.wal()).len() as u64;
    // A newest file whose header never made it.
    std::fs::write(t.wal().join(file_name(n + 1)), [0u8; 512]).unwrap();
    let (mut wal, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, all);
    assert_eq!(wal_files(&t.wal()).len() as u64, n);
    let more = write(&mut wal, "b", 20);
    drop(wal);
    assert_eq!(open(&t.wal(), 512, 0).1, [all, more].concat());

    // A bad header anywhere else is corruption.
    let files = wal_files(&t.wal());
    write_at(&files[1], 0, &[0u8; 8]);
    let (path, offset, _) = corrupt_at(try_open(&t.wal(), 512, 0));
    assert_eq!((path, offset), (files[1].clone(), 0));
}

#[test]
fn precreated_file_without_records_is_not_the_log() {
    // A crash after an append created its next file but before records
    // reached it: the file (header only) is dropped or kept as the spare.
    let t = TempDir::new("orphan");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 20);
    let next = wal.next_seq();
    drop(wal);
    let n = wal_files(&t.wal()).len() as u64;
    let path = t.wal().join(file_name(n + 1));
    let mut bytes = vec![0u8; 512];
    bytes[..40].copy_from_slice(&FileHeader { number: n + 1, first_seq: next + 2, store_tag: 0 }.encode());
    std::fs::write(&path, &bytes).unwrap();
    let (mut wal, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, all);
    assert_eq!(wal.next_seq(), next);
    assert!(!path.exists());
    assert!(t.wal().join(SPARE_NAME).exists());
    let more = write(&mut wal, "b", 20);
    drop(wal);
    assert_eq!(open(&t.wal(), 512, 0).1, [all, more].concat());
}

#[test]
fn file_without_records_does_not_hold_back_trimming() {
    // Found by the wal_recovery fuzz target: a file with no records whose
    // (checksummed) header claims a first sequence far ahead of the log,
    // before files that continue it, kept every later file from being
    // trimmed: its empty range was taken to end at that sequence.
    let t = TempDir::new("empty-file-trim");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 30);
    drop(wal);
    let files = wal_files(&t.wal());
    assert!(files.len() >= 3);
    let covered = records(&files[1])[0].1 - 1;
    let mut bytes = vec![0u8; 512];
    bytes[..40].copy_from_slice(&FileHeader { number: 1, first_seq: 1 << 40, store_tag: 0 }.encode());
    write_at(&files[0], 0, &bytes);
    let (mut wal, got) = open(&t.wal(), 512, covered);
    assert_eq!(got, from(&all, covered));
    wal.trim(30).unwrap();
    assert_eq!(wal.backlog_bytes(), 0);
    assert!(wal_files(&t.wal()).is_empty(), "{:?}", wal_files(&t.wal()));
    drop(wal);
    let (_, got) = open(&t.wal(), 512, 30);
    assert!(got.is_empty());
}

#[test]
fn gap_between_files_is_corrupt_unless_checkpointed() {
    let t = TempDir::new("gap");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 60);
    drop(wal);
    let files = wal_files(&t.wal());
    assert!(files.len() >= 4);
    let missing = records(&files[1]);
    std::fs::remove_file(&files[1]).unwrap();
    let (path, offset, reason) = corrupt_at(try_open(&t.wal(), 512, 0));
    assert_eq!((path, offset), (files[2].clone(), FILE_HEADER_LEN));
    assert!(reason.contains("gap"), "{reason}");
    // The checkpoint holds the missing records: nothing is lost.
    let upto = missing.last().unwrap().1;
    let (_, got) = open(&t.wal(), 512, upto);
    assert_eq!(got, from(&all, upto));
}

#[test]
fn leftover_temp_files_are_removed() {
    let t = TempDir::new("temp");
    let (mut wal, _) = open(&t.wal(), 512, 0);
    let all = write(&mut wal, "a", 5);
    drop(wal);
    let tmp = t.wal().join("00000009.wal.tmp");
    std::fs::write(&tmp, b"half").unwrap();
    let (mut wal, got) = open(&t.wal(), 512, 0);
    assert_eq!(got, all);
    assert!(!tmp.exists());
    // File numbers keep increasing past the leftover's.
    write(&mut wal, "b", 40);
    drop(wal);
    assert!(t.wal().join(file_name(10)).exists());
}

// ---- A disk that fills up (and fails syncs) on demand ----

/// The real disk behind a [`FaultStorage`].
fn faulty() -> (Arc<dyn Storage>, Arc<FaultStorage>) {
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    (fs.clone(), fs)
}

fn expect_no_space(r: Result<u64, WalError>) {
    match r {
        Err(WalError::NoSpace(e)) => assert!(crate::storage::is_no_space(&e)),
        other => panic!("expected NoSpace, got {other:?}"),
    }
}

#[test]
fn no_space_writes_nothing_and_the_log_stays_usable() {
    let t = TempDir::new("nospace");
    let (storage, faults) = faulty();
    let (mut wal, _) = open_on(storage.clone(), &t.wal(), 512, 0).unwrap();

    // The very first file cannot be created.
    faults.arm(Op::Allocate, "", libc::ENOSPC, u32::MAX);
    expect_no_space(wal.append(&[b"failed-first"]));
    assert_eq!(wal.next_seq(), 1);
    assert!(names(&t.wal()).is_empty(), "{:?}", names(&t.wal()));
    faults.disarm();
    let mut all = write(&mut wal, "a", 3);
    assert_eq!(all[0].0, 1);

    // Fill the current file; a record that does not fit needs a new one.
    let listing = names(&t.wal());
    let backlog = wal.backlog_bytes();
    faults.arm(Op::Allocate, "", libc::ENOSPC, u32::MAX);
    let failed = vec![b'F'; 450];
    expect_no_space(wal.append(&[&failed]));
    assert_eq!(wal.next_seq(), 4);
    assert_eq!(wal.backlog_bytes(), backlog);
    assert_eq!(names(&t.wal()), listing);
    // What fits in the preallocated file still goes in.
    all.extend(write(&mut wal, "fits", 1));

    // A group spanning two new files, the second of which cannot be made:
    // the first is removed again, and nothing of the group is written.
    faults.disarm();
    faults.arm_after(Op::Allocate, "", 1, u32::MAX, Effect::Fail(libc::ENOSPC));
    let listing = names(&t.wal());
    let a = vec![b'G'; 400];
    let b = vec![b'H'; 400];
    expect_no_space(wal.append(&[b"small-failed", &a, &b]));
    assert_eq!(wal.next_seq(), 5);
    assert_eq!(names(&t.wal()), listing);

    // Space comes back: the same sequence is handed out again.
    faults.disarm();
    let ok = vec![b'K'; 300];
    assert_eq!(wal.append(&[&ok]).unwrap(), 5);
    wal.sync().unwrap();
    all.push((5, ok));
    all.extend(write(&mut wal, "b", 10));
    drop(wal);

    let (_, got) = open_on(storage, &t.wal(), 512, 0).unwrap();
    assert_eq!(got, all);
    for (_, p) in &got {
        assert!(p != &failed && p != b"small-failed" && p != &a && p != b"failed-first");
    }
}

#[test]
fn failed_sync_is_final() {
    let t = TempDir::new("sync-fail");
    let (storage, faults) = faulty();
    let (mut wal, _) = open_on(storage, &t.wal(), 512, 0).unwrap();
    write(&mut wal, "a", 3);
    wal.append(&[b"x"]).unwrap();
    faults.arm(Op::Sync, "", libc::EIO, u32::MAX);
    assert!(wal.sync().is_err());
    faults.disarm();
    assert!(wal.sync().is_err(), "a failed sync must not be retried into success");
    assert!(matches!(wal.append(&[b"y"]), Err(WalError::Io(_))));
}

#[test]
fn failed_write_is_final_and_leaves_no_trace() {
    let t = TempDir::new("write-fail");
    let (storage, faults) = faulty();
    let (mut wal, _) = open_on(storage, &t.wal(), 4096, 0).unwrap();
    let all = write(&mut wal, "a", 3);
    // Every write stores half its bytes, then fails.
    faults.arm_effect(Op::Write, "", Effect::Partial(libc::EIO), u32::MAX);
    let failed = vec![b'F'; 200];
    assert!(matches!(wal.append(&[&failed, &failed]), Err(WalError::Io(_))));
    faults.disarm();
    assert!(matches!(wal.append(&[b"y"]), Err(WalError::Io(_))), "the log is failed");
    assert!(wal.sync().is_err());
    drop(wal);
    // Half of the first failed record reached the file; it was zeroed.
    let (wal, got) = open(&t.wal(), 4096, 0);
    assert_eq!(got, all);
    assert_eq!(wal.next_seq(), 4);
}

#[test]
fn rotation_syncs_the_old_file_before_writing_the_new() {
    let t = TempDir::new("rotation-order");
    let (storage, faults) = faulty();
    let (mut wal, _) = open_on(storage, &t.wal(), 512, 0).unwrap();
    write(&mut wal, "a", 2);
    let old = wal_files(&t.wal()).last().unwrap().clone();
    // Unsynced records in the old file, then a group that spills over.
    wal.append(&[b"unsynced"]).unwrap();
    faults.record_calls(true);
    let big = vec![b'B'; 300];
    wal.append(&[&big, &big]).unwrap();
    let new = wal_files(&t.wal()).last().unwrap().clone();
    assert_ne!(old, new);
    let events = faults.calls();
    // Files are opened under their temporary names.
    let is = |f: &PathBuf, p: &PathBuf| p.to_string_lossy().starts_with(&*f.to_string_lossy());
    let first_record_write = events.iter().rposition(|(k, p)| *k == Op::Write && is(&new, p)).unwrap();
    let old_sync = events.iter().position(|(k, p)| *k == Op::Sync && is(&old, p));
    assert!(old_sync.is_some_and(|i| i < first_record_write), "{events:?}");
}

/// The spare files in `dir`, by name.
fn spares_in(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| super::format::parse_spare_name(std::ffi::OsStr::new(n)).is_some())
        .collect()
}

/// A log allowed three spares keeps three trimmed files, and its next
/// three rotations take them instead of making (allocating and zeroing)
/// a file inside the append; the fourth makes one.
#[test]
fn trimmed_files_become_spares_that_rotations_take() {
    let t = TempDir::new("spares");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let open3 = |after: u64| {
        let storage: Arc<dyn Storage> = fs.clone();
        Wal::open(storage, &t.wal(), WalOptions { file_size: 512, spares: 3, store_tag: 0 }, after, &mut |_, _| Ok(())).unwrap()
    };
    let mut wal = open3(0);
    let all = write(&mut wal, "a", 100);
    assert!(wal_files(&t.wal()).len() > 5);
    let upto = wal.next_seq() - 1;
    wal.trim(upto).unwrap();
    assert!(wal_files(&t.wal()).is_empty(), "every file was covered");
    assert_eq!(spares_in(&t.wal()), ["spare-1.wal", "spare-2.wal", "spare.wal"]);
    drop(wal);

    // Reopened: the spares are found again.
    let mut wal = open3(upto);
    fs.start_counting(Op::Allocate, "");
    let mut made = Vec::new();
    let mut seq_tag = 0;
    while wal_files(&t.wal()).len() < 3 {
        seq_tag += 1;
        made.extend(write(&mut wal, &format!("b{seq_tag}"), 1));
    }
    assert_eq!(fs.count(Op::Allocate, ""), 0, "three rotations took the three spares");
    assert!(spares_in(&t.wal()).is_empty());
    while wal_files(&t.wal()).len() < 4 {
        seq_tag += 1;
        made.extend(write(&mut wal, &format!("c{seq_tag}"), 1));
    }
    assert_eq!(fs.count(Op::Allocate, ""), 1, "with no spare left, the fourth file was made");
    drop(wal);
    let (_, got) = open(&t.wal(), 512, upto);
    assert_eq!(got, made, "the recycled files' old records ({} of them) are never replayed", all.len());
}

/// A log reopened with fewer spares allowed removes the extra ones; slot 0
/// (`spare.wal`, the name stores had before there could be several) stays.
#[test]
fn reopening_with_fewer_spares_removes_the_extra_ones() {
    let t = TempDir::new("fewer-spares");
    let storage: Arc<dyn Storage> = Arc::new(FsStorage);
    let opts = |spares| WalOptions { file_size: 512, spares, store_tag: 0 };
    let mut wal = Wal::open(storage.clone(), &t.wal(), opts(4), 0, &mut |_, _| Ok(())).unwrap();
    write(&mut wal, "a", 100);
    let upto = wal.next_seq() - 1;
    wal.trim(upto).unwrap();
    assert_eq!(spares_in(&t.wal()).len(), 4);
    drop(wal);
    let wal = Wal::open(storage.clone(), &t.wal(), opts(1), upto, &mut |_, _| Ok(())).unwrap();
    assert_eq!(spares_in(&t.wal()), [SPARE_NAME]);
    drop(wal);
    // And 0 means 1: a log always keeps a spare.
    let wal = Wal::open(storage, &t.wal(), opts(0), upto, &mut |_, _| Ok(())).unwrap();
    assert_eq!(spares_in(&t.wal()), [SPARE_NAME]);
    drop(wal);
}

#[test]
fn a_log_ending_before_what_the_data_holds_is_refused_before_any_file_changes() {
    // One group of three records (one floor), the only file with records,
    // its first record damaged: the file reads as holding none, and was
    // recycled as a spare (its two intact records with it) before the
    // engine saw that the data holds their sequences. Now the log refuses
    // first, touching nothing.
    let t = TempDir::new("must-reach");
    let (mut wal, _) = open(&t.wal(), 4096, 0);
    append_group(&mut wal, "g", 3);
    wal.sync().unwrap();
    drop(wal);
    let file = wal_files(&t.wal())[0].clone();
    flip(&file, FILE_HEADER_LEN + RECORD_HEADER_LEN + 2);
    // A leftover creation too: removed only when the open goes on.
    std::fs::write(t.wal().join(crate::wal::format::temp_name(9)), b"partial").unwrap();
    let snapshot = |dir: &Path| -> Vec<(OsString, Vec<u8>)> {
        let mut v: Vec<_> = names(dir).into_iter().map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap())).collect();
        v.sort();
        v
    };
    let before = snapshot(&t.wal());
    let mut replay = |_: u64, _: &[u8]| Ok(());
    let r = Wal::open_reaching(
        Arc::new(FsStorage),
        &t.wal(),
        WalOptions { file_size: 4096, spares: 1, store_tag: 0 },
        0,
        crate::wal::MustReach { seq: 3, held_in: None },
        &mut replay,
    );
    let (path, _, why) = corrupt_at(r.map(|w| (w, Vec::new())));
    assert_eq!(path, file);
    assert!(why.contains("the data holds sequence 3"), "{why}");
    assert_eq!(snapshot(&t.wal()), before, "a refused open changed the log");
    // Without data past the log, the same file is a torn tail: cut.
    let (wal, got) = open(&t.wal(), 4096, 0);
    assert!(got.is_empty());
    assert_eq!(wal.next_seq(), 1);
}

/// A trim whose directory sync fails leaves its renames to spare names in
/// doubt: the files it made spares are not reused (a new header written
/// into one whose rename a power cut undoes would name another file).
#[test]
fn spares_of_a_trim_whose_directory_sync_failed_are_not_reused() {
    let t = TempDir::new("spares-unsynced");
    let fs = Arc::new(FaultStorage::new(Arc::new(FsStorage)));
    let storage: Arc<dyn Storage> = fs.clone();
    let mut wal =
        Wal::open(storage, &t.wal(), WalOptions { file_size: 512, spares: 3, store_tag: 0 }, 0, &mut |_, _| Ok(())).unwrap();
    write(&mut wal, "a", 100);
    let upto = wal.next_seq() - 1;
    fs.arm_effect(Op::SyncDir, "", Effect::Fail(libc::EIO), 1);
    assert!(wal.trim(upto).is_err());
    assert_eq!(spares_in(&t.wal()).len(), 3, "the renames happened");
    // The next rotations make new files (allocate) instead of taking them.
    fs.start_counting(Op::Allocate, "");
    write(&mut wal, "b", 3);
    assert!(fs.count(Op::Allocate, "") >= 1, "a spare of the failed trim was reused");
    assert_eq!(spares_in(&t.wal()).len(), 3, "the spares are left alone");
}
