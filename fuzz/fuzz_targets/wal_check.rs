//! The invariants of WAL recovery on an arbitrary directory, shared by the
//! fuzz target (`fuzz_targets/wal_recovery.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Every violation panics.
//!
//! Input layout (`PREFIX_LEN` bytes, then the files' bytes):
//! - byte 0: bits 0-2 `after_seq` (`AFTER_SEQS`), bits 3-5 the file size
//!   (`FILE_SIZES`, the last two invalid), bits 6-7 how many files the
//!   bytes are split into (1, 2, 3, 3).
//! - byte 1: bits 0-1 the first file number (`FIRST_NUMBERS`), bit 2 number
//!   the files 2 apart (n, n+2, ...), bit 3 the last file is `spare.wal`
//!   instead, bit 4 a leftover `NNNNNNNN.wal.tmp` after the last number,
//!   bits 5-6 how many records the append after recovery writes (1, 2, 3,
//!   1), bit 7 make their payloads larger than a file.
//! - byte 2: bit 0 fix file headers (number to the file's name, checksum),
//!   bit 1 fix record checksums (of every plausible record header at a
//!   multiple of 8), so that mutations reach the logic behind the
//!   checksums: sequence gaps, stale records, append groups. Bits 2-7 unused.
//! - bytes 3-4, 5-6: lengths (u16 LE) of the first and second file; the
//!   last file takes the rest.
//!
//! The checks: opening never panics; it answers `Ok`, or `Corrupt` naming a
//! file of the directory and an offset within it, or `Version` of a file
//! whose header has that version, or `Io` from a system call, or
//! `InvalidArgument` exactly for an invalid file size (touching nothing); a
//! refusal changes no WAL file. Replay gives `after_seq + 1`, `+ 2`, ... in
//! order. If the log opened, an append (of `k` records) and a reopen
//! replay the same records plus the new ones, with the sequences and
//! backlog the first open promised; then a trim up to the last record
//! leaves no backlog, a reopen after that checkpoint replays nothing, and
//! one more append (into the recycled spare, if any) is all a last reopen
//! replays.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use linedb::error::OpenError;
use linedb::storage::{raw_errno, FsStorage, Storage};
use linedb::wal::{record_size, Wal, WalOptions, FORMAT_VERSION, MIN_FILE_SIZE};

/// Setting bytes and the two file lengths.
pub const PREFIX_LEN: usize = 7;

pub const AFTER_SEQS: [u64; 8] = [0, 1, 2, 3, 5, 8, 1000, u64::MAX];
/// The last two are refused with `InvalidArgument`.
pub const FILE_SIZES: [u64; 8] = [256, 257, 512, 1024, 4096, 65536, 255, u64::MAX];
pub const FIRST_NUMBERS: [u64; 4] = [1, 2, 3, 99_999_999];
const APPEND_COUNTS: [usize; 4] = [1, 2, 3, 1];

// Mirrors of src/wal/format.rs, for the checksum fix-ups and the checks.
const FILE_MAGIC: &[u8; 8] = b"LDBWAL\0\x01";
const RECORD_MAGIC: [u8; 4] = [0xFF, b'W', b'L', 0xFE];
const FILE_HEADER_LEN: usize = 40;
const RECORD_HEADER_LEN: usize = 24;

/// One run's setting, decoded from the first three bytes (indices into the
/// tables above).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    pub after_seq: u8,
    pub file_size: u8,
    /// 1 to 3.
    pub files: u8,
    pub first_number: u8,
    pub gap: bool,
    pub spare: bool,
    pub leftover_tmp: bool,
    pub appends: u8,
    pub big_append: bool,
    pub fix_headers: bool,
    pub fix_records: bool,
}

impl Setting {
    pub fn decode(b: [u8; 3]) -> Setting {
        Setting {
            after_seq: b[0] & 7,
            file_size: (b[0] >> 3) & 7,
            files: [1, 2, 3, 3][usize::from(b[0] >> 6)],
            first_number: b[1] & 3,
            gap: b[1] & 4 != 0,
            spare: b[1] & 8 != 0,
            leftover_tmp: b[1] & 16 != 0,
            appends: (b[1] >> 5) & 3,
            big_append: b[1] & 128 != 0,
            fix_headers: b[2] & 1 != 0,
            fix_records: b[2] & 2 != 0,
        }
    }

    pub fn encode(&self) -> [u8; 3] {
        assert!((1..=3).contains(&self.files), "1 to 3 files");
        [
            (self.after_seq & 7) | ((self.file_size & 7) << 3) | ((self.files - 1) << 6),
            (self.first_number & 3)
                | (u8::from(self.gap) << 2)
                | (u8::from(self.spare) << 3)
                | (u8::from(self.leftover_tmp) << 4)
                | ((self.appends & 3) << 5)
                | (u8::from(self.big_append) << 7),
            u8::from(self.fix_headers) | (u8::from(self.fix_records) << 1),
        ]
    }

    pub fn after(&self) -> u64 {
        AFTER_SEQS[usize::from(self.after_seq)]
    }

    pub fn size(&self) -> u64 {
        FILE_SIZES[usize::from(self.file_size)]
    }
}

/// The fuzz input for `s` and these files (as many as `s.files`).
pub fn input(s: &Setting, files: &[&[u8]]) -> Vec<u8> {
    assert_eq!(files.len(), usize::from(s.files), "one byte string per file");
    let len = |i: usize| -> [u8; 2] {
        let n = files.get(i).filter(|_| i + 1 < files.len()).map_or(0, |f| f.len());
        u16::try_from(n).expect("a file of at most 64 KiB").to_le_bytes()
    };
    let mut out = s.encode().to_vec();
    out.extend_from_slice(&len(0));
    out.extend_from_slice(&len(1));
    for f in files {
        out.extend_from_slice(f);
    }
    out
}

/// A file the run puts in the directory.
#[derive(Debug)]
struct Placed {
    name: String,
    /// For `NNNNNNNN.wal` files.
    number: Option<u64>,
    bytes: Vec<u8>,
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    if data.len() < PREFIX_LEN {
        return;
    }
    let s = Setting::decode([data[0], data[1], data[2]]);
    let l1 = usize::from(u16::from_le_bytes([data[3], data[4]]));
    let l2 = usize::from(u16::from_le_bytes([data[5], data[6]]));
    let rest = &data[PREFIX_LEN..];
    let a = l1.min(rest.len());
    let b = a.saturating_add(l2).min(rest.len());
    let chunks: Vec<&[u8]> = match s.files {
        1 => vec![rest],
        2 => vec![&rest[..a], &rest[a..]],
        _ => vec![&rest[..a], &rest[a..b], &rest[b..]],
    };
    let placed = place(&s, &chunks);
    let dir = crate::scratch::fresh("wal");
    for p in &placed {
        fs::write(dir.join(&p.name), &p.bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.name));
    }
    run(&dir, &s, &placed);
}

/// Names the chunks (and applies the fix-ups).
fn place(s: &Setting, chunks: &[&[u8]]) -> Vec<Placed> {
    let first = FIRST_NUMBERS[usize::from(s.first_number)];
    let step = if s.gap { 2 } else { 1 };
    let numbered = if s.spare { chunks.len() - 1 } else { chunks.len() };
    let mut placed = Vec::new();
    let mut number = first;
    for (i, chunk) in chunks.iter().enumerate() {
        let mut bytes = chunk.to_vec();
        if s.fix_records {
            fix_records(&mut bytes);
        }
        if i < numbered {
            if s.fix_headers {
                fix_header(&mut bytes, number);
            }
            placed.push(Placed { name: format!("{number:08}.wal"), number: Some(number), bytes });
            number += step;
        } else {
            placed.push(Placed { name: "spare.wal".to_owned(), number: None, bytes });
        }
    }
    if s.leftover_tmp {
        placed.push(Placed { name: format!("{number:08}.wal.tmp"), number: None, bytes: Vec::new() });
    }
    placed
}

/// A file header with the magic gets the file's number and a right checksum.
fn fix_header(b: &mut [u8], number: u64) {
    if b.len() >= FILE_HEADER_LEN && b[..8] == FILE_MAGIC[..] {
        b[16..24].copy_from_slice(&number.to_le_bytes());
        let crc = crc32fast::hash(&b[..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Every record header (magic, non-zero length, payload within the file)
/// at a multiple of 8 gets the checksum of its length, sequence, group
/// offset and payload; the scan continues after its payload.
fn fix_records(b: &mut [u8]) {
    let mut off = FILE_HEADER_LEN;
    while off + RECORD_HEADER_LEN <= b.len() {
        if b[off..off + 4] == RECORD_MAGIC {
            let len = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap());
            let end = usize::try_from(len).ok().and_then(|n| (off + RECORD_HEADER_LEN).checked_add(n));
            if let Some(end) = end.filter(|&e| len > 0 && e <= b.len()) {
                let mut h = crc32fast::Hasher::new();
                h.update(&b[off + 4..off + 16]); // length, sequence
                h.update(&b[off + 20..off + 24]); // group offset
                h.update(&b[off + RECORD_HEADER_LEN..end]);
                let crc = h.finalize();
                b[off + 16..off + 20].copy_from_slice(&crc.to_le_bytes());
                off = end.next_multiple_of(8);
                continue;
            }
        }
        off += 8;
    }
}

type Records = Vec<(u64, Vec<u8>)>;

/// Opens the log, checking each replayed sequence against `after` and the
/// ones before it.
fn open(storage: &Arc<dyn Storage>, dir: &Path, file_size: u64, after: u64) -> (Result<Wal, OpenError>, Records) {
    let mut got: Records = Vec::new();
    let mut replay = |seq: u64, payload: &[u8]| {
        let want = match got.last() {
            Some((last, _)) => last.checked_add(1),
            None => after.checked_add(1),
        };
        assert_eq!(
            Some(seq),
            want,
            "replayed sequence {seq} after {:?} (after_seq {after}): not the next one",
            got.last().map(|r| r.0)
        );
        assert!(!payload.is_empty(), "replayed an empty record {seq}");
        got.push((seq, payload.to_vec()));
        Ok(())
    };
    let res = Wal::open(Arc::clone(storage), dir, WalOptions { file_size, spares: 1, store_tag: 0 }, after, &mut replay);
    (res, got)
}

fn valid_size(file_size: u64) -> bool {
    file_size >= MIN_FILE_SIZE && file_size.checked_next_multiple_of(8).is_some()
}

fn run(dir: &Path, s: &Setting, placed: &[Placed]) {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage);
    let (after, file_size) = (s.after(), s.size());
    let (res, replayed) = open(&storage, dir, file_size, after);
    let mut wal = match res {
        Ok(wal) => wal,
        Err(e) => return check_refusal(&e, dir, file_size, placed),
    };
    assert!(valid_size(file_size), "file size {file_size} is invalid, yet the log opened");

    let next = wal.next_seq();
    assert_eq!(
        Some(next),
        after.saturating_add(1).checked_add(replayed.len() as u64),
        "next_seq after replaying {} records above {after}",
        replayed.len()
    );
    let backlog = wal.backlog_bytes();
    let replayed_bytes: u64 = replayed.iter().map(|(_, p)| record_size(p.len() as u64)).sum();
    assert!(backlog >= replayed_bytes, "backlog {backlog} is below the {replayed_bytes} bytes of replayed records");

    // Append after recovery (it may have cut a torn tail, left stale bytes,
    // kept or dropped files), then reopen.
    let k = APPEND_COUNTS[usize::from(s.appends)];
    let payloads: Vec<Vec<u8>> = (0..k).map(|i| payload(i, s.big_append, file_size)).collect();
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let fits = next.checked_add(k as u64).is_some();
    let appended: Records = match wal.append(&refs) {
        Ok(first) => {
            assert!(fits, "appended {k} records at sequence {next}: past u64::MAX");
            assert_eq!(first, next, "the append's first sequence is not next_seq");
            (next..).zip(payloads).collect()
        }
        Err(e) => {
            assert!(!fits, "appending {k} records after recovery failed: {e}");
            Vec::new()
        }
    };
    wal.sync().unwrap_or_else(|e| panic!("sync after recovery and an append: {e}"));
    let added: u64 = appended.iter().map(|(_, p)| record_size(p.len() as u64)).sum();
    let next_after = next + appended.len() as u64;
    assert_eq!(wal.next_seq(), next_after, "next_seq after the append");
    assert_eq!(wal.backlog_bytes(), backlog + added, "backlog after the append");
    drop(wal);

    let (res, again) = open(&storage, dir, file_size, after);
    let wal = res.unwrap_or_else(|e| panic!("reopening after recovery and an append fails: {e}"));
    let want: Records = replayed.iter().chain(&appended).cloned().collect();
    assert!(again == want, "the reopened log replays {}, not {}", summary(&again), summary(&want));
    assert_eq!(wal.next_seq(), next_after, "next_seq after reopening");
    assert_eq!(wal.backlog_bytes(), backlog + added, "backlog after reopening");

    // A checkpoint of everything, as the engine takes one: trim, reopen
    // after it (nothing to replay), append (perhaps into a recycled spare
    // of the recovered directory), reopen.
    let mut wal = wal;
    let checkpoint = (next_after - 1).max(after);
    wal.trim(checkpoint).unwrap_or_else(|e| panic!("trim up to {checkpoint}: {e}"));
    assert_eq!(wal.backlog_bytes(), 0, "backlog after a trim up to the last record");
    drop(wal);
    let (res, again) = open(&storage, dir, file_size, checkpoint);
    let mut wal = res.unwrap_or_else(|e| panic!("reopening after a trim up to {checkpoint}: {e}"));
    assert!(again.is_empty(), "replays {} after a checkpoint at {checkpoint}", summary(&again));
    assert_eq!(wal.next_seq(), next_after, "next_seq after a trim and reopen");
    assert_eq!(wal.backlog_bytes(), 0, "backlog after a trim and reopen");
    let last: Records = match wal.append(&[&payload_after_trim(file_size)]) {
        Ok(seq) => {
            assert_eq!(seq, next_after, "the append after the trim's sequence");
            vec![(seq, payload_after_trim(file_size))]
        }
        Err(e) => {
            assert!(next_after.checked_add(1).is_none(), "appending after a trim failed: {e}");
            Vec::new()
        }
    };
    wal.sync().unwrap_or_else(|e| panic!("sync after a trim and an append: {e}"));
    drop(wal);
    let (res, again) = open(&storage, dir, file_size, checkpoint);
    res.unwrap_or_else(|e| panic!("reopening after a trim and an append: {e}"));
    assert!(again == last, "after a trim and an append, the log replays {}, not {}", summary(&again), summary(&last));
}

/// The payload appended after the trim: half a file, so that it needs a
/// new file (a recycled spare when there is one).
fn payload_after_trim(file_size: u64) -> Vec<u8> {
    let len = usize::try_from(file_size.min(1 << 16) / 2).unwrap();
    let mut p = b"after the trim ".to_vec();
    p.resize(len, b'.');
    p
}

/// Checks an error of the first open.
fn check_refusal(e: &OpenError, dir: &Path, file_size: u64, placed: &[Placed]) {
    match e {
        OpenError::InvalidArgument(_) => {
            assert!(!valid_size(file_size), "file size {file_size} is valid, yet: {e}");
            // Refused before touching anything.
            for p in placed {
                let now = fs::read(dir.join(&p.name)).unwrap_or_else(|err| panic!("{} is gone after {e}: {err}", p.name));
                assert!(now == p.bytes, "{} changed although the options were refused: {e}", p.name);
            }
            return;
        }
        _ if !valid_size(file_size) => panic!("file size {file_size} is invalid, yet open answered: {e}"),
        OpenError::Corrupt { path, offset, reason } => {
            assert_eq!(path.parent(), Some(dir), "Corrupt names a file outside the WAL directory: {e}");
            let len = fs::metadata(path).map(|m| m.len()).unwrap_or_else(|err| panic!("{e}: names no file: {err}"));
            assert!(*offset <= len, "Corrupt at offset {offset} of a file of {len} bytes: {e}");
            assert!(!reason.is_empty(), "Corrupt without a reason");
        }
        OpenError::Version { path, found, supported } => {
            assert_eq!(*supported, FORMAT_VERSION);
            assert_ne!(found, supported, "Version error for the supported version: {e}");
            let b = fs::read(path).unwrap_or_else(|err| panic!("{e}: names no file: {err}"));
            assert!(
                b.len() >= 12 && b[..8] == FILE_MAGIC[..] && b[8..12] == found.to_le_bytes(),
                "Version error for a file without that version in its header: {e}"
            );
        }
        // The directory is a healthy one of the machine's: an I/O error
        // that no system call returned is recovery tripping over its own
        // reads (past the end of a file, say).
        OpenError::Io(io) => {
            assert!(raw_errno(io).is_some(), "I/O error from no system call: {io}");
            return;
        }
        other => panic!("unexpected error: {other:?}"),
    }
    // Refusing changes no WAL file: nothing is cut or zeroed before the
    // whole log was read.
    for p in placed.iter().filter(|p| p.number.is_some()) {
        let now = fs::read(dir.join(&p.name)).unwrap_or_else(|err| panic!("{} is gone after {e}: {err}", p.name));
        assert!(now == p.bytes, "{} changed, yet open refused: {e}", p.name);
    }
}

/// The payload of the `i`-th appended record.
fn payload(i: usize, big: bool, file_size: u64) -> Vec<u8> {
    let len = if big { usize::try_from(file_size.min(1 << 16)).unwrap() + 100 } else { 13 + 8 * i };
    let mut p = format!("appended {i} ").into_bytes();
    p.resize(len, b'a' + (i % 26) as u8);
    p
}

fn summary(records: &Records) -> String {
    let mut s = String::from("[");
    for (seq, p) in records {
        let _ = write!(s, " {seq}:{}B", p.len());
    }
    s.push_str(" ]");
    s
}
