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

#[derive(Debug)]
pub struct Partition {
    /// In order; only the last one is appended to.
    pub segments: Vec<Arc<Segment>>,
}

impl Partition {
    pub fn max_seq(&self) -> u64 {
        self.segments.iter().map(|s| s.max_seq()).max().unwrap_or(0)
    }

    /// The number the partition's next segment file gets: one above its
    /// last's (file numbers may have gaps; the count of segments is not a
    /// free number). 1 for a partition without segments.
    pub fn next_number(&self) -> u32 {
        self.segments
            .last()
            .and_then(|s| s.path().file_name()?.to_str().and_then(segment_number))
            .map_or(1, |n| n.saturating_add(1))
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
        let mut p = Partition { segments: Vec::new() };
        assert_eq!(p.next_number(), 1);
        p.segments.push(make(1));
        assert_eq!(p.next_number(), 2);
        // A gap (a segment removed at open): 4, never the 3 that exists.
        p.segments.push(make(3));
        assert_eq!(p.next_number(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

