//! The one way a batch changes the state: new tables, schema changes, and
//! its blocks appended to their partitions' segments, in the order of its
//! WAL record. The commit path applies each batch of a durable group with
//! it (under the state's write lock, segments placed ahead of the WAL
//! append), and WAL replay applies each record after the checkpoint with it
//! (segments chosen as it goes, skipping blocks a partition already holds).
//! What differs between the two is only where a block goes: a [`Placer`].

use std::collections::btree_map::Entry;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::partition::Day;
use crate::schema::SchemaChanges;
use crate::segment::{AppendError, Segment};

use super::record::BlockRef;
use super::state::{Partition, State, Table};

/// A partition's key: database id, table id, day.
pub type PartKey = (u32, u32, Day);

/// One batch, as its WAL record holds it.
#[derive(Debug)]
pub struct BatchApply<'a> {
    pub seq: u64,
    pub db_id: u32,
    pub new_tables: &'a [(u32, String)],
    pub changes: &'a SchemaChanges,
    pub blocks: &'a [BlockRef],
    /// The record's payload, which the blocks' bodies are ranges of.
    pub payload: &'a [u8],
}

/// Where the blocks of a batch go.
pub trait Placer {
    /// A partition the state does not have yet.
    fn new_partition(&mut self, key: PartKey) -> io::Result<Partition>;
    /// The segment the batch's next block goes to (one call per block, in
    /// order), with room for `len` bytes: the partition's last segment, or
    /// a new one that [`apply_batch`] then adds to it.
    fn segment(&mut self, key: PartKey, part: &Partition, len: u64) -> io::Result<Arc<Segment>>;
    /// Whether a block of a sequence its partition holds already is
    /// skipped (replay: idempotent), rather than an error.
    fn skips_held(&self) -> bool;
}

/// Why a batch could not be applied.
#[derive(Debug)]
pub enum ApplyError {
    Io(io::Error),
    /// The record does not fit the state (an unknown database or table, a
    /// block outside the record): damage, or a bug.
    Bad(String),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Io(e) => write!(f, "{e}"),
            ApplyError::Bad(why) => f.write_str(why),
        }
    }
}

impl From<io::Error> for ApplyError {
    fn from(e: io::Error) -> Self {
        ApplyError::Io(e)
    }
}

impl From<ApplyError> for io::Error {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Io(e) => e,
            ApplyError::Bad(why) => io::Error::other(why),
        }
    }
}

/// Applies one batch to the state: its new tables, its schema changes (the
/// schema version moves when either does), each block appended to the
/// segment the placer gives, and `applied_seq`.
///
/// Invariant kept here for both callers: a partition's next segment gets
/// its first block only once every block of the segment before it is
/// durable. A power cut then leaves each partition a prefix of its blocks
/// (whole earlier segments, and a checksummed prefix of the last), which
/// is what lets replay skip a record whose sequence the partition already
/// holds. Without it a block kept in the new segment could hide a lost one
/// in the old.
pub fn apply_batch(st: &mut State, b: &BatchApply<'_>, placer: &mut dyn Placer) -> Result<(), ApplyError> {
    let changed = !b.changes.is_empty() || !b.new_tables.is_empty();
    let st_now = st.now_ms;
    let db = st.db_by_id_mut(b.db_id).ok_or_else(|| ApplyError::Bad(format!("unknown database id {}", b.db_id)))?;
    for (id, name) in b.new_tables {
        db.tables.entry(name.clone()).or_insert_with(|| Table { id: *id, partitions: Default::default() });
        db.next_table_id = db.next_table_id.max(id.saturating_add(1));
    }
    if !b.changes.is_empty() {
        db.schema.apply(b.changes);
    }
    for block in b.blocks {
        let table = db
            .tables
            .values_mut()
            .find(|t| t.id == block.table_id)
            .ok_or_else(|| ApplyError::Bad(format!("unknown table id {}", block.table_id)))?;
        let key = (b.db_id, block.table_id, block.day);
        let part = match table.partitions.entry(block.day) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(placer.new_partition(key)?),
        };
        part.last_write_ms = st_now;
        if placer.skips_held() && part.max_seq() >= b.seq {
            continue; // already in the segments or the sealed files
        }
        let body = b.payload.get(block.body.clone()).ok_or_else(|| ApplyError::Bad("block outside its record".into()))?;
        let seg = placer.segment(key, part, Segment::block_len(body.len()))?;
        if !part.segments.iter().any(|s| Arc::ptr_eq(s, &seg)) {
            if let Some(prev) = part.segments.last() {
                // Nothing but zeros past its blocks, and its blocks
                // durable: see `Segment::clear_past_end` (done when the
                // group was placed; here for replay, which places none).
                prev.clear_past_end()?;
                prev.flush()?;
            }
            part.segments.reserve_exact(1);
            part.segments.push(Arc::clone(&seg));
        }
        seg.append(b.seq, block.rows, block.min_time, block.max_time, body).map_err(|e| match e {
            AppendError::NoSpace(e) | AppendError::Io(e) => ApplyError::Io(e),
            other => ApplyError::Bad(other.to_string()),
        })?;
    }
    if changed {
        st.schema_version += 1;
    }
    st.applied_seq = b.seq;
    Ok(())
}
