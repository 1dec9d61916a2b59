//! The invariants of opening an arbitrary segment file, shared by the fuzz
//! target (`fuzz_targets/segment_open.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Every violation panics.
//!
//! Input layout (`PREFIX_LEN` bytes, then the segment file):
//! - byte 0: bits 0-1 `trusted_len`: 0, the file's length, bytes 1-4
//!   (u32 LE) clamped to the file's length, or bytes 1-4 as they are (past
//!   the end: must be refused); bits 2-3 the capacity: max(length, 1 MiB),
//!   the length, the length + 64, max(length, 1 MiB); bits 4-5 the body
//!   length of the block appended after opening (`BODY_LENS`); bit 6 append
//!   it at seq `u64::MAX` (else the highest + 1); bit 7 fix the header's and
//!   the blocks' checksums (chained, up to the first thing that is not a
//!   block), so that mutations reach the walk's logic behind them.
//! - bytes 1-4: the raw `trusted_len`.
//!
//! The checks: opening never panics; it answers `Ok`, or `Corrupt` naming
//! the file at an offset within it, or `Version` of a file whose header has
//! that version, or `Io` from a system call; a refusal changes nothing. If
//! it opened: the blocks lie end to end from the header, with increasing
//! seqs, headers on disk equal to their metas, bodies that read back at
//! their meta's length, checksums that verify above `trusted_len`;
//! `trusted_len <= used_len <= ` the file's length; bytes below `used_len`
//! untouched; a repaired tail zeroed, an unrepaired one a clean end. An
//! append is accepted exactly when its seq is above the highest and it
//! fits the capacity; flushing returns `used_len`; reopening (at the first
//! `trusted_len`, then at the flushed length) shows the same blocks.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use linedb::error::OpenError;
use linedb::segment::{AppendError, BlockMeta, Segment, SegmentCache, FORMAT_VERSION};
use linedb::storage::{raw_errno, FsStorage, Storage};

/// The setting byte and the raw `trusted_len`.
pub const PREFIX_LEN: usize = 5;
pub const BODY_LENS: [usize; 4] = [1, 7, 100, 3000];
const MIB: u64 = 1 << 20;

// Mirrors of src/segment/format.rs, for the checksum fix-ups and the checks.
const FILE_MAGIC: &[u8; 8] = b"LDBSEG\0\x01";
const BLOCK_MAGIC: &[u8; 4] = b"LDBB";
const BLOCK_HEADER_LEN: usize = 40;
const MAX_KEY_LEN: usize = 64 * 1024;

/// The time range of the appended block.
const MIN_TIME: i64 = 1_700_000_000_000_000_000;
const MAX_TIME: i64 = MIN_TIME + 999;

/// One run's setting, decoded from the first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    /// 0: zero, 1: the file's length, 2: the raw value clamped, 3: the raw value.
    pub trusted: u8,
    /// 0 or 3: max(length, 1 MiB), 1: the length, 2: the length + 64.
    pub capacity: u8,
    /// Index into `BODY_LENS`.
    pub body: u8,
    pub seq_max: bool,
    pub fix_crcs: bool,
}

impl Setting {
    pub fn decode(b: u8) -> Setting {
        Setting { trusted: b & 3, capacity: (b >> 2) & 3, body: (b >> 4) & 3, seq_max: b & 64 != 0, fix_crcs: b & 128 != 0 }
    }

    pub fn encode(&self) -> u8 {
        (self.trusted & 3)
            | ((self.capacity & 3) << 2)
            | ((self.body & 3) << 4)
            | (u8::from(self.seq_max) << 6)
            | (u8::from(self.fix_crcs) << 7)
    }
}

/// The fuzz input for `s`, a raw `trusted_len` and a segment file.
pub fn input(s: &Setting, raw_trusted: u32, file: &[u8]) -> Vec<u8> {
    let mut out = vec![s.encode()];
    out.extend_from_slice(&raw_trusted.to_le_bytes());
    out.extend_from_slice(file);
    out
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    if data.len() < PREFIX_LEN {
        return;
    }
    let s = Setting::decode(data[0]);
    let raw = u64::from(u32::from_le_bytes([data[1], data[2], data[3], data[4]]));
    let mut file = data[PREFIX_LEN..].to_vec();
    if s.fix_crcs {
        fix_crcs(&mut file);
    }
    let len = file.len() as u64;
    let trusted = match s.trusted {
        0 => 0,
        1 => len,
        2 => raw.min(len),
        _ => raw,
    };
    let capacity = match s.capacity {
        1 => len,
        2 => len + 64,
        _ => len.max(MIB),
    };

    let dir = crate::scratch::fresh("segment");
    let path = dir.join("000001.seg");
    fs::write(&path, &file).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let storage: Arc<dyn Storage> = Arc::new(FsStorage);
    let seg = match Segment::open(&storage, &SegmentCache::unbounded(), &path, trusted, capacity) {
        Ok(seg) => seg,
        Err(e) => return check_refusal(&e, &path, &file),
    };

    // What the open found, against the bytes on disk.
    let disk = read(&path);
    assert_eq!(disk.len(), file.len(), "opening changed the file's length");
    let old = check_segment(&seg, &disk, trusted);
    let used = seg.used_len();
    let used_usize = usize::try_from(used).unwrap();
    assert!(disk[..used_usize] == file[..used_usize], "opening changed bytes below used_len {used}");
    if seg.tail_repaired() {
        assert!(disk[used_usize..].iter().all(|&b| b == 0), "a repaired tail (from {used}) is not all zeros");
        assert!(file[used_usize..].iter().any(|&b| b != 0), "a tail of zeros reported as repaired");
    } else {
        assert!(disk == file, "the file changed, yet no tail was repaired");
        let end = disk.len().min(used_usize + BLOCK_HEADER_LEN);
        assert!(
            disk[used_usize..end].iter().all(|&b| b == 0),
            "the blocks end at {used} without a clean end (zeros) or a repair"
        );
    }
    assert_eq!(seg.capacity(), capacity.max(len), "capacity");

    // Append one block.
    let body: Vec<u8> = (0..BODY_LENS[usize::from(s.body)]).map(|i| (i * 13 + 7) as u8).collect();
    let max_seq = seg.max_seq();
    let seq = if s.seq_max { u64::MAX } else { max_seq.wrapping_add(1) };
    let end = used.checked_add(Segment::block_len(body.len()));
    let expect = if seq <= max_seq {
        "Invalid"
    } else if end.is_none_or(|e| e > seg.capacity()) {
        "Full"
    } else {
        "Ok"
    };
    let mut want = old.clone();
    match (seg.append(seq, 3, MIN_TIME, MAX_TIME, &body), expect) {
        (Ok(()), "Ok") => {
            let blocks = seg.blocks();
            let new = *blocks.last().unwrap();
            let meta = BlockMeta { offset: used, len: body.len() as u32, seq, rows: 3, min_time: MIN_TIME, max_time: MAX_TIME, crc: new.crc };
            assert_eq!(new, meta, "the appended block's meta");
            assert_eq!(seg.block_body(&new), &body[..], "the appended block's body");
            seg.verify_block(old.last(), &new).unwrap_or_else(|e| panic!("the appended block does not verify: {e}"));
            assert_eq!(seg.used_len(), end.unwrap(), "used_len after the append");
            want.push(new);
        }
        (Err(AppendError::Full), "Full") | (Err(AppendError::Invalid(_)), "Invalid") => {}
        (res, expect) => panic!(
            "appending seq {seq} ({} bytes) at {used} of {} (highest seq {max_seq}): {res:?}, expected {expect}",
            body.len(),
            seg.capacity()
        ),
    }
    assert_eq!(&seg.blocks()[..], &want[..], "the blocks after the append");
    let flushed = seg.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    assert_eq!(flushed, seg.used_len(), "flush returns another length than used_len");
    drop(seg);

    // Reopen as after a crash (the first trusted_len), then as after a
    // checkpoint (the flushed length).
    for t in [trusted, flushed] {
        let seg = Segment::open(&storage, &SegmentCache::unbounded(), &path, t, capacity)
            .unwrap_or_else(|e| panic!("reopening at trusted_len {t} after the append: {e}"));
        let disk = read(&path);
        let blocks = check_segment(&seg, &disk, t);
        assert!(blocks == want, "reopened at trusted_len {t}: blocks {blocks:?}, not {want:?}");
        assert_eq!(seg.used_len(), flushed, "used_len after reopening at {t}");
    }
}

/// The structure of an open segment against the file's bytes; returns its blocks.
fn check_segment(seg: &Segment, disk: &[u8], trusted: u64) -> Vec<BlockMeta> {
    let key_len = usize::try_from(u32::from_le_bytes(disk[12..16].try_into().unwrap())).unwrap();
    assert_eq!(seg.key().unwrap(), &disk[16..16 + key_len], "key");
    let header_len = (16 + key_len + 4).next_multiple_of(8) as u64;
    let blocks: Vec<BlockMeta> = seg.blocks().to_vec();
    let mut at = header_len;
    let mut prev: Option<&BlockMeta> = None;
    for b in &blocks {
        assert_eq!(b.offset, at, "blocks not end to end: {b:?}");
        assert!(b.len > 0 && b.rows > 0 && b.min_time <= b.max_time, "a block that breaks the rules: {b:?}");
        assert!(prev.is_none_or(|p| p.seq < b.seq), "seq {} after {:?}", b.seq, prev.map(|p| p.seq));
        let o = usize::try_from(b.offset).unwrap();
        let h = &disk[o..o + BLOCK_HEADER_LEN];
        let field = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
        let field64 = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
        assert_eq!(&h[..4], BLOCK_MAGIC, "block at {o}: magic");
        assert_eq!(
            (field(4), field(8), field(12), field64(16), field64(24).cast_signed(), field64(32).cast_signed()),
            (b.len, b.crc, b.rows, b.seq, b.min_time, b.max_time),
            "block at {o}: header on disk against its meta"
        );
        let body = seg.try_block_body(b).unwrap_or_else(|| panic!("the body of block {b:?} is not published"));
        assert_eq!(body.len(), b.len as usize, "body length of block {b:?}");
        assert!(body[..] == disk[o + BLOCK_HEADER_LEN..o + BLOCK_HEADER_LEN + body.len()], "body of block {b:?}");
        match seg.verify_block(prev, b) {
            Ok(()) => {}
            // Blocks below trusted_len get the cheap checks only.
            Err("block checksum mismatch") if b.end() <= trusted => {}
            Err(e) => panic!("block {b:?} does not verify: {e}"),
        }
        at = b.end();
        prev = Some(b);
    }
    assert_eq!(seg.used_len(), at, "used_len is not the end of the last block");
    assert!(at <= disk.len() as u64, "used_len {at} past the end of the file ({} bytes)", disk.len());
    assert!(at >= trusted, "used_len {at} below trusted_len {trusted}");
    assert_eq!(seg.max_seq(), blocks.last().map_or(0, |b| b.seq), "max_seq");
    blocks
}

fn check_refusal(e: &OpenError, path: &Path, file: &[u8]) {
    match e {
        OpenError::Corrupt { path: p, offset, reason } => {
            assert_eq!(p, path, "Corrupt names another file: {e}");
            assert!(*offset <= file.len() as u64, "Corrupt at offset {offset} of a file of {} bytes: {e}", file.len());
            assert!(!reason.is_empty(), "Corrupt without a reason");
        }
        OpenError::Version { path: p, found, supported } => {
            assert_eq!(p, path, "Version names another file: {e}");
            assert_eq!(*supported, FORMAT_VERSION);
            assert_ne!(found, supported, "Version error for the supported version: {e}");
            assert!(
                file.len() >= 12 && file[..8] == FILE_MAGIC[..] && file[8..12] == found.to_le_bytes(),
                "Version error for a file without that version in its header: {e}"
            );
        }
        OpenError::Io(io) => {
            // A healthy disk: an error no system call returned is a bug.
            assert!(raw_errno(io).is_some(), "I/O error from no system call: {io}");
            return;
        }
        other => panic!("unexpected error: {other:?}"),
    }
    assert!(read(path) == file, "the file changed, yet open refused: {e}");
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Gives a header with the magic its checksum, and every block after it
/// (magic, body within the file) its chained checksum, up to the first
/// thing that is not a block.
fn fix_crcs(b: &mut [u8]) {
    if b.len() < 16 || b[..8] != FILE_MAGIC[..] {
        return;
    }
    let key_len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let crc_at = 16 + key_len;
    if key_len > MAX_KEY_LEN || b.len() < crc_at + 4 {
        return;
    }
    let mut chain = crc32fast::hash(&b[..crc_at]);
    b[crc_at..crc_at + 4].copy_from_slice(&chain.to_le_bytes());
    let mut at = (crc_at + 4).next_multiple_of(8);
    while at + BLOCK_HEADER_LEN <= b.len() && b[at..at + 4] == BLOCK_MAGIC[..] {
        let body_len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        let body_end = at + BLOCK_HEADER_LEN + body_len;
        if body_end > b.len() {
            return;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&chain.to_le_bytes());
        h.update(&b[at..at + 8]);
        h.update(&b[at + 12..body_end]);
        chain = h.finalize();
        b[at + 8..at + 12].copy_from_slice(&chain.to_le_bytes());
        at = body_end.next_multiple_of(8);
    }
}
