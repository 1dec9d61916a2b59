//! Sealing, the engine's part: which partitions are due, writing a sealed
//! file from a partition's hot blocks, and swapping it in.
//!
//! ```text
//! 1. snapshot       under the state's read lock: the partition's segments
//!                   and their published blocks, what is sealed already
//! 2. check          every block to be read against its checksum
//! 3. write          NNNNNN.col.tmp: row groups, tag columns, footer,
//!                   trailer; fdatasync
//! 4. rename         to NNNNNN.col; fsync of the partition's directory
//! 5. swap           holding the WAL, once no commit group is on its way,
//!                   under the state's write lock: the sealed file joins
//!                   the partition, the segments all of whose blocks it
//!                   holds leave it, and the older sealed files merged into
//!                   it (to `Inner::retired`)
//! 6. checkpoint     the catalog lists the sealed file and no longer the
//!                   segments (one checkpoint for every partition sealed)
//! 7. remove         the retired files, once that catalog is durable and
//!                   no query still holds them
//! ```
//!
//! A crash before 6 leaves the old catalog: the segments hold every row,
//! and open removes the sealed file it does not list (its header names the
//! partition). A crash between 6 and 7 leaves segment files the catalog
//! says are sealed away (numbered up to the partition's `retired_upto`):
//! open removes them. Queries see the partition whole at every step: the
//! swap is one change under the write lock, and a block stays readable in
//! its segment until the sealed file has replaced it.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::columnar::{self, Writer};
use crate::partition::Day;
use crate::seal::read::Decoded;
use crate::seal::rows::{Grouper, GROUP_ROWS};
use crate::seal::{sealed_file, temp_path, SealedFile};
use crate::segment::{Blocks, Segment};
use crate::storage::OpenMode;

use super::apply::PartKey;
use super::checkpoint::{self, Then};
use super::commit::drain;
use super::state::{partition_dir, segment_number, Partition};
use super::{Error, Inner, Retired};

/// Which partitions a pass seals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// Every partition with hot blocks (`linedb_compact`).
    All,
    /// Those the background rules name at this moment.
    Now,
}

/// Whether a partition is due now: it has hot blocks, and it has been
/// quiet long enough (its day is over and no write came for
/// `seal_past_after`, or none came for `seal_after`), or a segment of it
/// filled and the partition moved on to the next.
fn due(p: &Partition, day: Day, today: Day, now_ms: u64, inner: &Inner) -> bool {
    // One that could not be sealed waits for a new write.
    if !p.has_hot_blocks() || p.unsealable_at == Some(p.max_seq()) {
        return false;
    }
    let quiet = Duration::from_millis(now_ms.saturating_sub(p.last_write_ms));
    let past = day < today;
    let full = p.segments.len() > 1;
    full || quiet >= inner.opts.seal_after || (past && quiet >= inner.opts.seal_past_after)
}

/// Seals the partitions `which` names, then checkpoints once (so that the
/// catalog lists them) and removes the segments they replaced. Returns how
/// many it sealed, or the first error met: a partition that cannot be
/// sealed stays as it was and the others are sealed all the same (the pass
/// stops at once without memory, and, `Due::Now` only, when the store
/// starts closing).
pub(super) fn seal(inner: &Inner, which: Due) -> Result<usize, Error> {
    let _one = inner.sealing.lock();
    inner.check_failed()?;
    let keys: Vec<PartKey> = {
        let st = inner.state.read();
        let now = inner.now_ms();
        let today = Day::of(wall_clock_ns());
        let mut keys = Vec::new();
        for db in st.dbs.values() {
            for t in db.tables.values() {
                for (day, p) in &t.partitions {
                    if (which == Due::All && p.has_hot_blocks()) || (which == Due::Now && due(p, *day, today, now, inner)) {
                        keys.push((db.id, t.id, *day));
                    }
                }
            }
        }
        keys
    };
    let mut sealed = 0;
    let mut first_error = None;
    for key in keys {
        if which == Due::Now && inner.stopping() {
            break;
        }
        match seal_partition(inner, key) {
            Ok(true) => sealed += 1,
            Ok(false) => {}
            // Without memory, the rest would fail too: stop the pass.
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::OutOfMemory => {
                first_error.get_or_insert(Error::Io(e));
                break;
            }
            // A partition that cannot be sealed (damage, no space for its
            // file) stays as it was; the others are sealed all the same.
            // The background leaves it alone until it is written to again.
            Err(e) => {
                note_unsealable(inner, key);
                first_error.get_or_insert(e);
            }
        }
    }
    if sealed > 0 {
        // A close under way made its last checkpoint, or is about to: this
        // one makes no new log file either.
        let then = if inner.closing.load(std::sync::atomic::Ordering::Acquire) { Then::Close } else { Then::GoOn };
        checkpoint::run_one(inner, then)?;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(sealed),
    }
}

/// Marks a partition the background should not try again before its next
/// write.
fn note_unsealable(inner: &Inner, (db_id, table_id, day): PartKey) {
    let mut st = inner.state.write();
    if let Some(p) = st
        .db_by_id_mut(db_id)
        .and_then(|db| db.tables.values_mut().find(|t| t.id == table_id))
        .and_then(|t| t.partitions.get_mut(&day))
    {
        p.unsealable_at = Some(p.max_seq());
    }
}

/// The wall clock in nanoseconds since 1970 (0 if the clock is before it).
fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// What sealing a partition takes at most, about: one row group of wide
/// rows (65,536 rows of ten fields: 26 MB of fields, 6 MB of columns),
/// with room for the encoders.
const SEAL_MEMORY: usize = 64 << 20;

/// A partition holding this many sealed files merges them into the next
/// one it seals: a partition holds at most this many, so a query opens at
/// most this many of its files, whatever the number of late writes.
const MERGE_AT: usize = 3;

/// What a seal reads: the partition's segments with their published block
/// counts, the sequence sealed already, the next sealed file's number, and
/// the sealed files to merge into it (none, or all of them).
struct Snapshot {
    segments: Vec<(Arc<Segment>, usize)>,
    sealed_seq: u64,
    number: u32,
    merge: Vec<Arc<SealedFile>>,
}

fn snapshot(inner: &Inner, (db_id, table_id, day): PartKey) -> Option<Snapshot> {
    let st = inner.state.read();
    let db = st.db_by_id(db_id)?;
    let (_, t) = db.table_by_id(table_id)?;
    let p = t.partitions.get(&day)?;
    if !p.has_hot_blocks() {
        return None;
    }
    Some(Snapshot {
        segments: p.segments.iter().map(|s| (Arc::clone(s), s.block_count())).collect(),
        sealed_seq: p.sealed_seq(),
        number: p.next_sealed_number(),
        merge: if p.sealed.len() >= MERGE_AT { p.sealed.clone() } else { Vec::new() },
    })
}

/// Seals one partition's hot blocks into a new sealed file and swaps it
/// in (steps 1 to 5). `Ok(false)`: nothing to seal.
fn seal_partition(inner: &Inner, key: PartKey) -> Result<bool, Error> {
    let Some(snap) = snapshot(inner, key) else { return Ok(false) };
    // Memory for a row group and its columns, checked first (a mapping
    // made and dropped, no page touched): without it, sealing waits for a
    // later pass rather than meet an allocation that fails (which aborts).
    if !super::memory::available(SEAL_MEMORY) {
        return Err(Error::Io(io::Error::new(io::ErrorKind::OutOfMemory, "not enough memory to seal now")));
    }
    let storage = inner.opts.storage.as_ref();
    // Every block read is checked first, as a query checks it.
    let mut views = Vec::with_capacity(snap.segments.len());
    for (seg, _) in &snap.segments {
        views.push(seg.view()?);
        seg.ensure_verified().map_err(|d| Error::Corrupt(d.to_string()))?;
    }
    let dir = partition_dir(&inner.dir, key.0, key.1, key.2);
    let path = dir.join(sealed_file(snap.number));
    let tmp = temp_path(&path);
    // A leftover of a seal cut short (open removes them too).
    let _ = storage.remove_file(&tmp);
    let written = (|| -> Result<(u64, u64), Error> {
        let file = storage.open_file(&tmp, OpenMode::CreateNew)?;
        let mut w = Writer::new(file, &inner.files.key(key))?;
        let mut grouper = Grouper::new(GROUP_ROWS);
        let (mut min_seq, mut max_seq) = (u64::MAX, 0);
        // The older sealed files first: their rows were written before any
        // block above their sequences. One of their groups in memory at
        // a time (copied into the grouper).
        for old in &snap.merge {
            let reader = old.reader(storage, &inner.files.key(key)).map_err(read_error)?;
            old.ensure_verified(&reader).map_err(read_error)?;
            let mut keys = None;
            for gi in 0..reader.footer().groups.len() {
                if inner.stopping() {
                    return Err(Error::Io(io::Error::other("the store is closing")));
                }
                let d = Decoded::read_group(&reader, keys.take(), gi).map_err(read_error)?;
                let mut fields = Vec::new();
                for (at, time, series) in d.rows(i64::MIN, i64::MAX) {
                    fields.clear();
                    d.fields(at, &mut fields);
                    grouper.add_row(&mut w, series, time, &fields).map_err(write_error)?;
                }
                drop(fields);
                keys = Some(d.into_keys());
            }
            min_seq = min_seq.min(old.min_seq);
            max_seq = max_seq.max(old.max_seq);
        }
        for ((seg, count), view) in snap.segments.iter().zip(&views) {
            let blocks: Blocks = seg.blocks_upto(*count);
            for b in blocks.iter().filter(|b| b.seq > snap.sealed_seq) {
                if inner.stopping() {
                    return Err(Error::Io(io::Error::other("the store is closing")));
                }
                grouper.add_block(&mut w, view.block_body(b)).map_err(write_error)?;
                min_seq = min_seq.min(b.seq);
                max_seq = max_seq.max(b.seq);
            }
        }
        grouper.finish(&mut w).map_err(write_error)?;
        w.finish((min_seq, max_seq)).map_err(write_error)?;
        Ok((min_seq, max_seq))
    })();
    drop(views);
    let sealed = match written.and_then(|_| {
        storage.rename(&tmp, &path)?;
        storage.sync_dir(&dir)?;
        // Read back through the checks every reader makes.
        let file = storage.open_file(&path, OpenMode::Read)?;
        let bytes = file.length()?;
        let reader = columnar::Reader::open(file, &path, &inner.files.key(key)).map_err(|e| Error::Corrupt(e.to_string()))?;
        // Every chunk decoded once, as queries decode it, before anything
        // depends on the file: the segments go once it is swapped in.
        let mut keys = None;
        for gi in 0..reader.footer().groups.len() {
            keys = Some(Decoded::read_group(&reader, keys.take(), gi).map_err(unsealable)?.into_keys());
        }
        Ok(SealedFile::from_reader(&reader, snap.number, bytes))
    }) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            // Nothing refers to it: the old catalog and the segments stand.
            let _ = storage.remove_file(&tmp);
            let _ = storage.remove_file(&path);
            return Err(e);
        }
    };
    swap(inner, key, sealed, &snap.merge);
    Ok(true)
}

fn read_error(e: columnar::ReadError) -> Error {
    match e {
        columnar::ReadError::Io(e) => Error::Io(e),
        other => Error::Corrupt(other.to_string()),
    }
}

fn write_error(e: columnar::WriteError) -> Error {
    match e {
        columnar::WriteError::Io(e) => Error::Io(e),
        other => unsealable(other),
    }
}

/// Rows that cannot become a sealed file (beyond the format's bounds, or
/// a file that does not read back): the partition stays in its segments.
fn unsealable(why: impl std::fmt::Display) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::InvalidData, format!("cannot seal this partition: {why}")))
}

/// Step 5: the sealed file joins its partition, and the segments all of
/// whose blocks it holds leave it. Holding the WAL once no group is on its
/// way, so that no block is placed in a segment being retired (a group
/// reserves its space before it is applied).
fn swap(inner: &Inner, (db_id, table_id, day): PartKey, sealed: Arc<SealedFile>, merged: &[Arc<SealedFile>]) {
    let wal = inner.writer.lock();
    drain(inner, &wal);
    let mut st = inner.state.write();
    let Some(p) = st
        .db_by_id_mut(db_id)
        .and_then(|db| db.tables.values_mut().find(|t| t.id == table_id))
        .and_then(|t| t.partitions.get_mut(&day))
    else {
        return;
    };
    let covered = p.segments.iter().take_while(|s| s.max_seq() <= sealed.max_seq).count();
    let segments: Vec<Arc<Segment>> = p.segments.drain(..covered).collect();
    for s in &segments {
        let n = s.path().file_name().and_then(|n| n.to_str()).and_then(segment_number).unwrap_or(0);
        p.retired_upto = p.retired_upto.max(n);
    }
    // The merged files leave (only this pass seals, so they are there).
    let (old, kept): (Vec<_>, Vec<_>) =
        std::mem::take(&mut p.sealed).into_iter().partition(|f| merged.iter().any(|m| Arc::ptr_eq(m, f)));
    p.sealed = kept;
    p.sealed.push(sealed);
    let mut retired = inner.retired.lock();
    retired.extend(segments.into_iter().map(Retired::Segment));
    retired.extend(old.into_iter().map(Retired::Sealed));
    inner.sealed_total.fetch_add(1, Ordering::Relaxed);
}
