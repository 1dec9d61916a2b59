//! Opening an existing segment: check the file header, walk the blocks,
//! and cut a torn tail by zero-filling it.
//!
//! Blocks that end at or below `trusted_len` (made durable by a checkpoint)
//! get the cheap header checks only; later blocks are fully verified (crc of
//! header and body, chained to the previous block). The walk stops at:
//!
//! - a clean end: a zero block header, or fewer than a header's bytes left,
//!   all zero;
//! - a bad block: failed checks, a seq not above the previous block's
//!   (stale), or a block running past the end of the file.
//!
//! A stop below `trusted_len` means durable data is damaged or missing:
//! `OpenError::Corrupt`. A bad block at or above it is a torn tail (a write
//! that a crash cut short): it and every byte after it are zeroed through
//! the file, and the file synced, so nothing stale can be read later. The
//! file is never shrunk.

use std::path::Path;

use super::format::{self, BlockHeader, FileHeaderError, BLOCK_HEADER_LEN, BLOCK_HEADER_LEN_U64};
use super::map::TailGuard;
use super::BlockMeta;
use crate::error::OpenError;

/// Zero-filling works through the tail in pieces this big, writing only
/// those that hold a non-zero byte.
const ZERO_CHUNK: usize = 64 * 1024;

/// What the walk found.
#[derive(Debug)]
pub(super) struct Recovered {
    pub key: Vec<u8>,
    pub header_crc: u32,
    pub blocks: Vec<BlockMeta>,
    /// The end of the last good block: bytes in use.
    pub end: u64,
    /// Whether a torn tail was found (and zero-filled, with `cut_now`).
    pub repaired: bool,
    /// Blocks starting below this offset were not verified (their body and
    /// checksum unread): a query must verify them before use.
    pub verified_from: u64,
}

/// What [`recover`] (and so [`Segment::open_checked`]) is to hold a
/// segment to.
///
/// [`Segment::open_checked`]: super::Segment::open_checked
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// A length an earlier flush returned: damage below it is corruption,
    /// never a torn tail. 0 to trust nothing.
    pub trusted_len: u64,
    /// The WAL sequence the checkpoint that made `trusted_len` durable
    /// covered (`u64::MAX` for none).
    pub trusted_seq: u64,
    /// A later segment of the partition holds blocks: a bad block is never
    /// a torn tail.
    pub whole: bool,
    /// The partition key its header must hold, checked before anything is
    /// cut; `None` takes any.
    pub key: Option<&'a [u8]>,
    /// Zero-fill a torn tail now. Without it the tail is only left out of
    /// the published blocks, and [`Segment::cut_torn_tail`] zero-fills it
    /// later: an open that may still refuse (for something found in
    /// another file) must change nothing first.
    ///
    /// [`Segment::cut_torn_tail`]: super::Segment::cut_torn_tail
    pub cut_now: bool,
}

/// Reads and repairs the segment behind `tail`, then publishes its good
/// blocks (`published` becomes [`Recovered::end`]).
///
/// `trusted_seq` bounds the sequences of the blocks below `trusted_len`:
/// the checkpoint that made them durable covered the WAL up to it, so a
/// higher one there is a damaged header (it would make replay skip
/// acknowledged records as already held). `whole`: the segment is not its
/// partition's last, so a bad block is never a torn tail.
pub(super) fn recover<W>(tail: &mut TailGuard<'_, W>, path: &Path, expect: &Expect<'_>) -> Result<Recovered, OpenError> {
    let Expect { trusted_len, trusted_seq, whole, key: expected_key, cut_now } = *expect;
    let file_len = tail.allocated();
    let corrupt = |offset: u64, reason: &str| OpenError::corrupt(path, offset, reason);
    let header_err = |e: FileHeaderError| match e {
        FileHeaderError::Corrupt(offset, reason) => corrupt(offset, reason),
        FileHeaderError::Version(found) => {
            OpenError::Version { path: path.to_path_buf(), found, supported: format::FORMAT_VERSION }
        }
    };

    // The file header: written and synced before the file got its name, so
    // any damage to it is corruption.
    let prefix = tail
        .read(0, format::FILE_PREFIX_LEN)
        .ok_or_else(|| corrupt(0, "file is shorter than a segment header"))?;
    let key_len = format::decode_file_prefix(prefix).map_err(header_err)?;
    let header_len = format::file_header_len(key_len);
    let header = usize::try_from(header_len)
        .ok()
        .and_then(|n| tail.read(0, n))
        .ok_or_else(|| corrupt(0, "file is shorter than its header"))?;
    let header_crc = format::check_file_header(header, key_len).map_err(header_err)?;
    let key = header[format::FILE_PREFIX_LEN..format::FILE_PREFIX_LEN + key_len].to_vec();
    // Before anything is cut: a segment of another store or partition is
    // never changed.
    if expected_key.is_some_and(|k| k != key.as_slice()) {
        return Err(corrupt(0, "a segment of another store or another partition (its header names another)"));
    }

    if trusted_len > file_len {
        return Err(corrupt(file_len, &format!("file ends before its checkpointed length {trusted_len}")));
    }

    let mut at = header_len;
    let mut chain = header_crc;
    let mut prev_seq = 0u64;
    let mut blocks = Vec::new();
    let bad: Option<&'static str> = loop {
        let left = file_len - at;
        if left < BLOCK_HEADER_LEN_U64 {
            let rest = usize::try_from(left).ok().and_then(|n| tail.read(at, n)).unwrap_or(&[]);
            break if format::all_zero(rest) { None } else { Some("partial block header at the end of the file") };
        }
        let Some(raw) = tail.read(at, BLOCK_HEADER_LEN) else {
            break Some("unreadable block header");
        };
        if format::all_zero(raw) {
            break None;
        }
        let Some(h) = BlockHeader::decode(raw) else {
            break Some("unreadable block header");
        };
        if let Err(reason) = h.check() {
            break Some(reason);
        }
        if h.seq <= prev_seq {
            break Some("stale block: seq not above the previous block's");
        }
        let end = at + h.block_len(); // at <= file_len and block_len < 2^33: no overflow
        if end > file_len {
            break Some("block runs past the end of the file");
        }
        if end <= trusted_len && h.seq > trusted_seq {
            break Some("checkpointed block with a sequence above the checkpoint's");
        }
        if end > trusted_len {
            let body = usize::try_from(h.body_len)
                .ok()
                .and_then(|n| tail.read(at + BLOCK_HEADER_LEN_U64, n))
                .unwrap_or(&[]);
            if h.compute_crc(chain, body) != h.crc {
                break Some("block checksum mismatch");
            }
        }
        blocks.push(BlockMeta::from_header(at, &h));
        chain = h.crc;
        prev_seq = h.seq;
        at = end;
    };

    let mut repaired = false;
    match bad {
        None if at < trusted_len => {
            return Err(corrupt(at, &format!("blocks end here, before the checkpointed length {trusted_len}")));
        }
        Some(reason) if at < trusted_len => return Err(corrupt(at, reason)),
        // Not its partition's last segment: a later one got blocks only
        // once this one was durable, so a bad block here is damage, and
        // cutting it would let replay skip its records as held.
        Some(reason) if whole => return Err(corrupt(at, &format!("{reason}, in a segment with a later one after it"))),
        Some(_) if cut_now => {
            zero_tail(tail, at, file_len)?;
            repaired = true;
        }
        Some(_) => repaired = true,
        None => {}
    }
    tail.publish(at)?;
    // Blocks that end at or below trusted_len had their headers checked
    // only; the first that ends above it was verified whole, and all after.
    let verified_from = blocks.iter().find(|b| b.end() > trusted_len).map_or(at, |b| b.offset);
    Ok(Recovered { key, header_crc, blocks, end: at, repaired, verified_from })
}

/// Zeroes `[from, to)` through the file, writing only the chunks that are
/// not zero already, and syncs if it wrote. Returns whether it wrote.
pub(super) fn zero_tail<W>(tail: &mut TailGuard<'_, W>, from: u64, to: u64) -> std::io::Result<bool> {
    let mut wrote = false;
    let mut at = from;
    while at < to {
        let n = usize::try_from(to - at).unwrap_or(usize::MAX).min(ZERO_CHUNK);
        let dirty = tail.read(at, n).is_none_or(|b| !format::all_zero(b));
        if dirty {
            tail.zero_through_file(at, n)?;
            wrote = true;
        }
        at += n as u64;
    }
    if wrote {
        tail.sync_file()?;
    }
    Ok(wrote)
}
