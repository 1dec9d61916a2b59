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

/// What a scan asks of each series key (escaped, `,k=v` per tag): a slot
/// for its points, or `None` to skip them unread. Asked at least once per
/// series; the same key always answers the same.
pub type SeriesFn<'f> = dyn FnMut(&[u8]) -> Option<u32> + 'f;

/// What a scan calls with each point of a kept series: its slot, time and
/// fields (keys escaped); false stops the scan.
pub type PointFn<'f> = dyn FnMut(u32, i64, &[StoredField<'_>]) -> bool + 'f;

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
    /// time order, of the series `series` keeps, to `f`, with only the
    /// `fields` named (unescaped; `None`: all).
    fn scan(
        &self,
        measurement: &str,
        min: i64,
        max: i64,
        fields: Option<&[String]>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
    ) -> Result<(), Failure>;
    /// [`Store::scan`] with a weaker order, which may cost less: each
    /// series' points in time order, and of two points of different
    /// series with the same time, the one whose series got the lower slot
    /// first; points of different series are otherwise in any order. (Time
    /// order is one such order: the default.)
    fn scan_by_series(
        &self,
        measurement: &str,
        min: i64,
        max: i64,
        fields: Option<&[String]>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
    ) -> Result<(), Failure> {
        self.scan(measurement, min, max, fields, series, f)
    }
    /// The earliest and latest time `measurement` may hold in
    /// `[min, max]`, from what the store knows without reading points (a
    /// hint: a query's answer never depends on it); `None` when unknown.
    fn span(&self, _measurement: &str, _min: i64, _max: i64) -> Option<(i64, i64)> {
        None
    }
}
