//! What a query reads from the store, as a trait: the engine implements
//! it over one database's catalog and scans (`engine/influxql.rs`), and the
//! query module knows nothing else of storage.

use std::collections::HashMap;

use crate::rows::StoredField;
use crate::schema::{ColumnKind, FieldType};

/// A measurement's names, for planning.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// Tag keys, sorted.
    pub tags: Vec<String>,
    /// Field keys with their type in the range's partitions, sorted (a
    /// field of several types there: the type of its earliest day).
    pub fields: Vec<(String, FieldType)>,
    pub kinds: HashMap<String, ColumnKind>,
}

impl Meta {
    pub fn kind(&self, name: &str) -> Option<ColumnKind> {
        self.kinds.get(name).copied()
    }

    pub fn field_type(&self, name: &str) -> Option<FieldType> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
    }
}

/// Why a read of stored data failed: the call answers this status (500
/// damage or a failed store, 503 out of descriptors) with the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub message: String,
}

/// What a scan calls with each point: series key, time, fields; false
/// stops the scan.
pub type PointFn<'f> = dyn FnMut(&[u8], i64, &[StoredField<'_>]) -> bool + 'f;

/// One database, as a query sees it.
pub trait Store {
    /// Every database of the store, in creation order.
    fn databases(&self) -> Vec<String>;
    /// The database's measurements, sorted.
    fn measurements(&self) -> Vec<String>;
    /// A measurement's names over the days of `[min, max]` (inclusive);
    /// `None` when it has no partition there.
    fn meta(&self, measurement: &str, min: i64, max: i64) -> Option<Meta>;
    /// Every point of `measurement` with `min <= time <= max`, merged, in
    /// time order: `f(series key, time, fields)` (series keys and field
    /// keys escaped as line protocol); `f` returns false to stop.
    fn scan(
        &self,
        measurement: &str,
        min: i64,
        max: i64,
        f: &mut PointFn<'_>,
    ) -> Result<(), Failure>;
}
