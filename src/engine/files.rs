//! Where a store's segment files are and what they must say: what making,
//! opening and checking a segment needs besides its partition.

use std::path::PathBuf;
use std::sync::Arc;

use crate::partition::Day;
use crate::segment::SegmentCache;
use crate::storage::Storage;

use super::apply::PartKey;

pub(super) struct SegmentFiles {
    pub(super) storage: Arc<dyn Storage>,
    /// The bound on open segment files and mappings.
    pub(super) cache: Arc<SegmentCache>,
    /// The store's directory.
    pub(super) root: PathBuf,
    /// Size at which a partition starts a new segment file.
    pub(super) segment_bytes: u64,
    /// The store's identity (all zeros for a store of linedb 0.1).
    pub(super) store_id: [u8; 16],
}

impl SegmentFiles {
    /// What the header of a partition's segments says: the store's id
    /// (none for a store of 0.1, whose segments have none), then database
    /// id, table id and day. Open refuses a segment that says anything
    /// else: a file of another store, or of another partition.
    pub(super) fn key(&self, (db, table, day): PartKey) -> Vec<u8> {
        segment_key(&self.store_id, db, table, day)
    }
}

impl std::fmt::Debug for SegmentFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFiles").field("root", &self.root).field("cache", &self.cache).finish()
    }
}

/// [`SegmentFiles::key`] for the store `store_id`.
pub fn segment_key(store_id: &[u8; 16], db: u32, table: u32, day: Day) -> Vec<u8> {
    let mut k = Vec::with_capacity(28);
    if *store_id != [0; 16] {
        k.extend_from_slice(store_id);
    }
    k.extend_from_slice(&db.to_le_bytes());
    k.extend_from_slice(&table.to_le_bytes());
    k.extend_from_slice(&day.0.to_le_bytes());
    k
}
