//! The catalog: what a store holds as of a checkpoint (databases, their
//! tables and ids, schemas, partitions and how much of each segment is
//! durable) and the WAL sequence it covers. Persisted atomically by
//! [`file::save`]; read at open by [`file::load`].
//!
//! Between checkpoints the truth is the catalog plus the WAL records after
//! its sequence: each record carries the ids and schema changes it made.

mod file;
mod format;

pub use file::{load, save, CATALOG_FILE, TEMP_FILE};
pub use format::{decode, encode, FORMAT_VERSION};

/// The schema encoding, shared with WAL records.
pub mod format_schema {
    pub use super::format::{decode_schema, decode_token, encode_schema, encode_token};
}

use crate::auth::StoredToken;
use crate::partition::Day;
use crate::schema::SchemaChanges;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CatalogData {
    /// The store's identity: random, made when the store was created, and
    /// in the header of every segment file it writes. All zeros: a store
    /// made by linedb 0.1, which has none.
    pub store_id: [u8; 16],
    /// Every WAL record at or below this sequence is reflected here and in
    /// the segments up to their durable lengths.
    pub seq: u64,
    pub next_db_id: u32,
    pub databases: Vec<DatabaseData>,
    /// Tokens, as hashes.
    pub tokens: Vec<StoredToken>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DatabaseData {
    pub id: u32,
    pub name: String,
    pub next_table_id: u32,
    /// (id, measurement)
    pub tables: Vec<(u32, String)>,
    pub schema: SchemaChanges,
    pub partitions: Vec<PartitionData>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PartitionData {
    pub table_id: u32,
    pub day: Day,
    /// (segment number, bytes of it made durable by the checkpoint)
    pub segments: Vec<(u32, u64)>,
    /// Segment files numbered up to this one were sealed: their rows are
    /// in the sealed files, and a file of one left on disk (a crash before
    /// its removal) is removed at open. 0: none.
    pub retired_upto: u32,
    /// Numbers of the partition's sealed files (`NNNNNN.col`), oldest
    /// first.
    pub sealed: Vec<u32>,
}

impl Default for PartitionData {
    /// A partition with no files: how open reads one the catalog does not
    /// list.
    fn default() -> Self {
        PartitionData { table_id: 0, day: Day(0), segments: Vec::new(), retired_upto: 0, sealed: Vec::new() }
    }
}
