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

/// What a scan reads: the points of `measurement` with
/// `min <= time <= max`, with only the `fields` named (unescaped;
/// `None`: all).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub measurement: &'a str,
    pub min: i64,
    pub max: i64,
    pub fields: Option<&'a [String]>,
    /// Tag values every series the query keeps holds (for each tag key,
    /// values of which it holds one; unescaped): a store may skip other
    /// series without asking about them (by an index). A hint: the
    /// series function decides what is kept either way.
    pub tags: &'a [(String, Vec<String>)],
}

impl<'a> Request<'a> {
    pub fn new(measurement: &'a str, min: i64, max: i64, fields: Option<&'a [String]>) -> Request<'a> {
        Request { measurement, min, max, fields, tags: &[] }
    }
}

/// The order of a scan's points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Time order; points of one time in the order their series got
    /// their slots.
    Time,
    /// Each series' points in time order, and of two series' points in a
    /// partition (a UTC day) those of the series with the lower slot
    /// first: series after series, day after day. Cheaper than time
    /// order when many series are read; a store may give time order
    /// instead (it is one such order).
    Series,
}

/// One database, as a query sees it.
pub trait Store {
    /// Every database of the store, in creation order.
    fn databases(&self) -> Vec<String>;
    /// The database's measurements, sorted.
    fn measurements(&self) -> Vec<String>;
    /// A measurement's names over the days of `[min, max]` (inclusive);
    /// `None` when it has no partition there.
    fn meta(&self, measurement: &str, min: i64, max: i64) -> Option<Meta>;
    /// Every point `r` asks for, merged, in time order, of the series
    /// `series` keeps, to `f`.
    fn scan(&self, r: &Request<'_>, series: &mut SeriesFn<'_>, f: &mut PointFn<'_>) -> Result<(), Failure>;
    /// [`Store::scan`] in two passes over one snapshot: every series in
    /// range is first asked of `series` (no point read), then `order`
    /// says in which order the points follow (a store may give time
    /// order whatever `order` says: it is always right). The default
    /// scans twice, in time order; a store that overrides it to give
    /// series order must list and scan one snapshot, so that no series
    /// comes after `order` was chosen.
    fn scan_listed(
        &self,
        r: &Request<'_>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
        order: &mut dyn FnMut() -> Order,
    ) -> Result<(), Failure> {
        let listing = Request { fields: Some(&[]), ..*r };
        self.scan(&listing, &mut |s| series(s).and(None), &mut |_, _, _| true)?;
        order();
        self.scan(r, series, f)
    }
    /// The points `r` asks for, newest first in stretches
    /// ([`stretches`]), all of one snapshot of the store:
    /// first every series in range is asked of `series` (no point read),
    /// then each stretch's points go to `f`, and after each stretch
    /// `enough` says whether to stop. Within a stretch, each series'
    /// points come in time order, and of two points of different series
    /// with the same time, the one whose series got the lower slot first;
    /// points of different series are otherwise in any order (time order
    /// is one such order). The default scans once per stretch: a store
    /// whose scans are snapshots of their own must override it, so that
    /// no stretch sees a write an earlier one did not (which could answer
    /// a point that was never the newest).
    fn scan_newest_first(
        &self,
        r: &Request<'_>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
        enough: &mut dyn FnMut() -> bool,
    ) -> Result<(), Failure> {
        let listing = Request { fields: Some(&[]), ..*r };
        self.scan(&listing, &mut |s| series(s).and(None), &mut |_, _, _| true)?;
        for (lo, hi) in stretches(self.span(r.measurement, r.min, r.max), r.min, r.max) {
            self.scan(&Request { min: lo, max: hi, ..*r }, series, f)?;
            if enough() {
                break;
            }
        }
        Ok(())
    }
    /// The earliest and latest time `measurement` may hold in
    /// `[min, max]`, from what the store knows without reading points (a
    /// hint: a query's answer never depends on it); `None` when unknown.
    fn span(&self, _measurement: &str, _min: i64, _max: i64) -> Option<(i64, i64)> {
        None
    }
}

/// The first stretch of a newest-first scan is this part of the time the
/// data spans; each next one is 8 times longer, so that a scan that must
/// read everything reads little more than all of it.
const FIRST_PART: i64 = 256;

/// The stretches of a newest-first scan of `[lower, upper]` (inclusive),
/// newest first, together exactly `[lower, upper]`: the first ends at
/// `upper` whatever `span` (the data's earliest and latest time, a hint)
/// says, and the last starts at `lower`. Without a span, one stretch.
pub fn stretches(span: Option<(i64, i64)>, lower: i64, upper: i64) -> impl Iterator<Item = (i64, i64)> {
    let mut length = span.map(|(a, b)| (b.saturating_sub(a) / FIRST_PART).max(1));
    let mut from = span.map_or(lower, |(_, b)| b.min(upper));
    let mut hi = Some(upper).filter(|_| lower <= upper);
    std::iter::from_fn(move || {
        let top = hi?;
        let lo = match length {
            Some(d) if from.saturating_sub(d) > lower => from - d,
            _ => lower,
        };
        let lo = lo.min(top);
        hi = if lo > lower { Some(lo - 1) } else { None };
        from = lo.saturating_sub(1);
        length = length.map(|d| d.saturating_mul(8));
        Some((lo, top))
    })
}

#[cfg(test)]
mod tests {
    use super::stretches;

    #[test]
    fn stretches_cover_the_range_newest_first_without_gaps() {
        for (span, lower, upper) in [
            (Some((0, 25_600)), 0, 25_600),
            (Some((0, 25_600)), -5, i64::MAX),
            (Some((100, 200)), i64::MIN, i64::MAX),
            (Some((500, 400)), 0, 1_000),
            (None, 3, 9),
            (Some((0, 10)), 7, 7),
            (Some((i64::MIN, i64::MAX)), i64::MIN, i64::MAX),
        ] {
            let s: Vec<(i64, i64)> = stretches(span, lower, upper).take(100).collect();
            assert_eq!(s.first().map(|x| x.1), Some(upper), "{span:?}");
            assert_eq!(s.last().map(|x| x.0), Some(lower), "{span:?}");
            for w in s.windows(2) {
                assert_eq!(w[1].1, w[0].0 - 1, "{span:?}: {s:?}");
            }
            assert!(s.iter().all(|(a, b)| a <= b), "{span:?}: {s:?}");
            assert!(s.len() < 30, "{span:?}: {} stretches", s.len());
        }
        // The first stretch of a long span is its 256th part.
        let s: Vec<(i64, i64)> = stretches(Some((0, 25_600)), 0, 25_600).collect();
        assert_eq!(s[0], (25_500, 25_600));
        assert_eq!(s[1], (24_699, 25_499));
        assert!(stretches(Some((0, 9)), 5, 4).next().is_none(), "an empty range has none");
    }
}
