//! What an open store holds in memory: databases, their schemas, tables
//! and partitions with their open segments. One `RwLock<State>` guards it:
//! the commit leader changes it under the write lock (a whole group of
//! batches at once, so no reader sees part of a batch); writers validate
//! and queries take their snapshots under the read lock.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::partition::Day;
use crate::schema::Schema;
use crate::seal::SealedFile;
use crate::segment::Segment;

#[derive(Debug, Default)]
pub struct State {
    /// The store's identity (all zeros: a store of linedb 0.1, without one).
    pub store_id: [u8; 16],
    /// By name.
    pub dbs: BTreeMap<String, Database>,
    pub next_db_id: u32,
    /// Bumped whenever any schema changes; a batch validated against an
    /// older version that brings changes of its own is validated again.
    pub schema_version: u64,
    /// The last WAL sequence applied.
    pub applied_seq: u64,
    /// The engine's clock (milliseconds since open) for the batches being
    /// applied: partitions note it as their last write.
    pub now_ms: u64,
    /// Tokens, as hashes (revoked ones are removed).
    pub tokens: Vec<crate::auth::StoredToken>,
}

#[derive(Debug)]
pub struct Database {
    pub id: u32,
    pub name: String,
    pub schema: Schema,
    /// By name.
    pub tables: HashMap<String, Table>,
    pub next_table_id: u32,
}

#[derive(Debug)]
pub struct Table {
    pub id: u32,
    pub partitions: BTreeMap<Day, Partition>,
}

#[derive(Debug, Default)]
pub struct Partition {
    /// In order; only the last one is appended to. Their blocks at or
    /// below [`Partition::sealed_seq`] are in the sealed files, and are
    /// never read from here.
    pub segments: Vec<Arc<Segment>>,
    /// Sealed files, oldest first: rows of a later one, and of any segment
    /// block above its `max_seq`, were written after its rows.
    pub sealed: Vec<Arc<SealedFile>>,
    /// Segment files numbered up to this one were sealed away (0: none).
    pub retired_upto: u32,
    /// The engine's clock (milliseconds since open) when a batch was last
    /// applied to it; open counts as a write.
    pub last_write_ms: u64,
    /// Sealing it failed when its highest sequence was this: the
    /// background leaves it alone until a write moves that.
    pub unsealable_at: Option<u64>,
}

impl Partition {
    pub fn max_seq(&self) -> u64 {
        let hot = self.segments.iter().map(|s| s.max_seq()).max().unwrap_or(0);
        hot.max(self.sealed_seq())
    }

    /// The highest sequence in the sealed files: segment blocks at or
    /// below it are sealed.
    pub fn sealed_seq(&self) -> u64 {
        self.sealed.iter().map(|s| s.max_seq).max().unwrap_or(0)
    }

    /// Whether a segment holds blocks that are not sealed yet.
    pub fn has_hot_blocks(&self) -> bool {
        let sealed = self.sealed_seq();
        self.segments.iter().any(|s| s.max_seq() > sealed)
    }

    /// The number the partition's next segment file gets: one above its
    /// last's, and above every segment sealed away (file numbers may have
    /// gaps; the count of segments is not a free number). 1 for a new
    /// partition.
    pub fn next_number(&self) -> u32 {
        self.segments
            .last()
            .and_then(|s| s.path().file_name()?.to_str().and_then(segment_number))
            .unwrap_or(0)
            .max(self.retired_upto)
            .saturating_add(1)
    }

    /// The number the partition's next sealed file gets.
    pub fn next_sealed_number(&self) -> u32 {
        self.sealed.last().map_or(0, |s| s.number).saturating_add(1)
    }
}

impl State {
    pub fn db_by_id(&self, id: u32) -> Option<&Database> {
        self.dbs.values().find(|d| d.id == id)
    }

    pub fn db_by_id_mut(&mut self, id: u32) -> Option<&mut Database> {
        self.dbs.values_mut().find(|d| d.id == id)
    }
}

impl Database {
    pub fn new(id: u32, name: String) -> Self {
        Database { id, name, schema: Schema::new(), tables: HashMap::new(), next_table_id: 1 }
    }

    pub fn table_by_id(&self, id: u32) -> Option<(&String, &Table)> {
        self.tables.iter().find(|(_, t)| t.id == id)
    }
}

/// `data/<db id>/<table id>/<YYYY-MM-DD>`: names never come from user input.
pub fn partition_dir(root: &Path, db_id: u32, table_id: u32, day: Day) -> PathBuf {
    root.join("data").join(db_id.to_string()).join(table_id.to_string()).join(day.to_string())
}

/// `NNNNNN.seg`, numbered from 1 within a partition.
pub fn segment_file(n: u32) -> String {
    format!("{n:06}.seg")
}

/// The number of a segment file name, if it is one.
pub fn segment_number(name: &str) -> Option<u32> {
    let n = name.strip_suffix(".seg")?;
    if n.len() < 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SegmentCache;
    use crate::storage::{FsStorage, Storage};

    #[test]
    fn a_new_segment_is_numbered_above_the_last_not_by_the_count() {
        let dir = std::env::temp_dir().join(format!("linedb-next-number-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let make = |n| Arc::new(Segment::create(&storage, &SegmentCache::unbounded(), &dir.join(segment_file(n)), b"key", 4096).unwrap());
        let mut p = Partition::default();
        assert_eq!(p.next_number(), 1);
        p.segments.push(make(1));
        assert_eq!(p.next_number(), 2);
        // A gap (a segment removed at open): 4, never the 3 that exists.
        p.segments.push(make(3));
        assert_eq!(p.next_number(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

