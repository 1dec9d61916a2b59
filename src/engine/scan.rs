//! Scans: the stored points of a time range, merged, one at a time.
//!
//! A scan takes a snapshot under the state's read lock (the segments of
//! the partitions in range and their published blocks, and their sealed
//! files) and then reads without any lock: blocks are immutable once
//! published, and the snapshot holds the segments (and so their mappings)
//! and sealed files alive. It works one partition at a time: partitions
//! are per measurement and day, and points come out by measurement, then
//! time, then series key, so memory is bounded by the largest partition's
//! rows in range, never by the store. A snapshot may be scanned more than
//! once, and every scan sees the same points (the Parquet export reads
//! its columns first, then writes).
//!
//! Points with the same series and time are merged here, with the rule
//! every reader shares: the later write wins, field by field.

use std::sync::Arc;

use crate::columnar::{ReadError, Reader};
use crate::partition::Day;
use crate::rows::{self, merge_fields, StoredField};
use crate::seal::index::{TagIndex, TagValues};
use crate::seal::read::{Decoded, RowAt};
use crate::seal::SealedFile;
use crate::segment::{BlockMeta, Blocks, Segment};

use super::apply::PartKey;
use super::{Inner, Outcome};

/// One merged point of a scan, valid during the callback only.
pub struct Point<'p> {
    /// The measurement escaped as canonical line protocol.
    pub escaped: &'p [u8],
    /// The series key: `,k=v` per tag, keys sorted, names escaped.
    pub series: &'p [u8],
    pub time: i64,
    /// The fields in key order (keys escaped, string values raw).
    pub fields: &'p [StoredField<'p>],
}

/// What a scan may leave out, decided by its caller: the fields it needs
/// (escaped keys; `None`: all), and which series. `series` gives a series
/// key a slot (handed to the callback with each of its points), or `None`
/// to skip the series before any of its fields is decoded or its rows
/// sorted; it is asked once per series per block or sealed file.
pub struct Filter<'f> {
    pub fields: Option<&'f [Vec<u8>]>,
    pub series: &'f mut dyn FnMut(&[u8]) -> Option<u32>,
    /// Points of a partition in (slot, time) order, not (time, slot):
    /// each series' in time order, series after series. Sealed rows are
    /// stored by series, so this sorts little.
    pub by_series: bool,
    /// Tag values every series `series` keeps holds: the series of a
    /// sealed file that hold none of a term's values are skipped without
    /// asking (by the file's tag index, when the key cache has room for
    /// it; else every series is asked).
    pub tags: &'f TagValues,
}

impl std::fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({:?} fields, {} tag terms)", self.fields.map(<[Vec<u8>]>::len), self.tags.len())
    }
}

/// What a scan reads: the tables of one database in range, taken under the
/// state's read lock once.
pub struct Snapshot {
    start: i64,
    end: i64,
    tables: Vec<TableSnap>,
}

/// A table's partitions in range, in day order. Flat (one list for the
/// table, not one per partition): a query of a whole store of 100,000
/// partitions holds all of it at once.
struct TableSnap {
    escaped: String,
    /// Each segment with the number of blocks published when the snapshot
    /// was taken (blocks are only appended, so the first that many are
    /// the snapshot's; all of them: pruning by time waits until they are
    /// verified). A count, not a copy of the list.
    segs: Vec<(Arc<Segment>, usize)>,
    /// The sealed files of the partitions, in order.
    sealed: Vec<Arc<SealedFile>>,
    parts: Vec<PartSnap>,
}

/// One partition of a [`TableSnap`].
struct PartSnap {
    key: PartKey,
    /// Where its segments and sealed files end in the table's lists.
    segs_end: usize,
    sealed_end: usize,
    /// Segment blocks at or below it are in the sealed files.
    sealed_seq: u64,
}

/// A partition's files, as [`TableSnap::parts`] gives them.
struct PartFiles<'t> {
    key: PartKey,
    segs: &'t [(Arc<Segment>, usize)],
    sealed: &'t [Arc<SealedFile>],
    sealed_seq: u64,
}

impl TableSnap {
    fn parts(&self) -> impl Iterator<Item = PartFiles<'_>> {
        let mut at = (0, 0);
        self.parts.iter().map(move |p| {
            let files = PartFiles {
                key: p.key,
                segs: &self.segs[at.0..p.segs_end],
                sealed: &self.sealed[at.1..p.sealed_end],
                sealed_seq: p.sealed_seq,
            };
            at = (p.segs_end, p.sealed_end);
            files
        })
    }
}

/// Where a point of a partition comes from.
#[derive(Clone, Copy)]
enum Src<'a> {
    /// A row of a decoded block (its fields and the block's index).
    Block(rows::Fields<'a>, usize),
    /// A row of a decoded sealed file (the file's index).
    Sealed(RowAt, usize),
}

impl Snapshot {
    /// The tables of `database` (or its one `measurement`) in
    /// `[start, end)`, in name order. An unknown database is a 404; an
    /// unknown measurement too when `missing_table_is_404`, else nothing.
    pub fn take(
        inner: &Inner,
        database: &str,
        measurement: Option<&str>,
        start: i64,
        end: i64,
        missing_table_is_404: bool,
    ) -> Result<Snapshot, Outcome> {
        if inner.is_failed() {
            return Err(Outcome::error(500, inner.failed_error().to_string()));
        }
        let st = inner.state.read();
        let Some(db) = st.dbs.get(database) else {
            return Err(Outcome::error(404, format!("database not found: {database:?}")));
        };
        let mut names: Vec<&String> = match measurement {
            Some(m) => match db.tables.get_key_value(m) {
                Some((k, _)) => vec![k],
                None if missing_table_is_404 => return Err(Outcome::error(404, format!("measurement not found: {m:?}"))),
                None => Vec::new(),
            },
            None => db.tables.keys().collect(),
        };
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut tables = Vec::new();
        if start < end {
            let (first, last) = (Day::of(start), Day::of(end - 1));
            for name in names {
                let t = &db.tables[name];
                let mut snap = TableSnap {
                    escaped: rows::escaped_measurement(name),
                    segs: Vec::new(),
                    sealed: Vec::new(),
                    parts: Vec::new(),
                };
                for (day, p) in t.partitions.range(first..=last) {
                    snap.segs.extend(p.segments.iter().map(|s| (Arc::clone(s), s.block_count())));
                    snap.sealed.extend(p.sealed.iter().filter(|s| s.max_time >= start && s.min_time < end).cloned());
                    snap.parts.push(PartSnap {
                        key: (db.id, t.id, *day),
                        segs_end: snap.segs.len(),
                        sealed_end: snap.sealed.len(),
                        sealed_seq: p.sealed_seq(),
                    });
                }
                tables.push(snap);
            }
        }
        Ok(Snapshot { start, end, tables })
    }

    /// The earliest and latest time the snapshot's sealed files and
    /// blocks say they hold (their headers' and footers' word, not checked
    /// here: a hint for the order of reading, never an answer); `None`
    /// when it holds nothing.
    pub fn span(&self) -> Option<(i64, i64)> {
        let mut span: Option<(i64, i64)> = None;
        let mut add = |lo: i64, hi: i64| {
            span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        for t in &self.tables {
            for part in t.parts() {
                for sealed in part.sealed {
                    add(sealed.min_time, sealed.max_time);
                }
                for (seg, published) in part.segs {
                    for b in seg.blocks_upto(*published).iter().filter(|b| b.seq > part.sealed_seq) {
                        add(b.min_time, b.max_time);
                    }
                }
            }
        }
        span.map(|(a, b)| (a.max(self.start), b.min(self.end - 1)))
    }

    /// Checks every byte the scans will read against its checksum, before
    /// the first point goes out: a damaged block or sealed chunk answers
    /// 500 naming it, with nothing delivered. Headers are verified too, so
    /// pruning by their times cannot drop rows on the word of a damaged
    /// header.
    pub fn verify(&self, inner: &Inner) -> Result<(), Outcome> {
        for t in &self.tables {
            for (seg, _) in &t.segs {
                // Opened first: a file that cannot be opened now (out of
                // descriptors) is a 503, not damage.
                let view = match seg.view() {
                    Ok(v) => v,
                    Err(e) => return Err(unreadable(seg, &e)),
                };
                let verified = seg.ensure_verified();
                drop(view);
                if let Err(d) = verified {
                    return Err(Outcome::error(500, d.to_string()));
                }
            }
            for part in t.parts() {
                for sealed in part.sealed {
                    let checked = open_sealed(inner, part.key, sealed).and_then(|r| sealed.ensure_verified(&r));
                    if let Err(e) = checked {
                        return Err(sealed_error(sealed, e));
                    }
                }
            }
        }
        Ok(())
    }

    /// Calls `f` with every point, merged, in order; stops when `f`
    /// returns false. The outcome is 200 with the count of points `f` was
    /// given (the one that stopped it included), or the error that ended
    /// the scan (no point is given after it).
    pub fn scan(&self, inner: &Inner, f: &mut dyn FnMut(&Point<'_>) -> bool) -> Outcome {
        self.scan_with(inner, None, &mut |p, _| f(p))
    }

    /// [`Snapshot::scan`] of what `filter` keeps: `f` gets each point with
    /// its series' slot (0 without a filter). A point's fields are those
    /// the filter wants that it has. With a filter, points come in time
    /// order, but those of one time in slot order, not series key order
    /// (with `Filter::by_series`, a partition's in slot, then time order).
    pub fn scan_with(
        &self,
        inner: &Inner,
        filter: Option<Filter<'_>>,
        f: &mut dyn FnMut(&Point<'_>, u32) -> bool,
    ) -> Outcome {
        self.scan_range(inner, self.start, self.end, filter, f)
    }

    /// [`Snapshot::scan_with`] of the points in `[start, end)` only (a
    /// part of the snapshot's range): stretches of one snapshot.
    pub fn scan_range(
        &self,
        inner: &Inner,
        start: i64,
        end: i64,
        mut filter: Option<Filter<'_>>,
        f: &mut dyn FnMut(&Point<'_>, u32) -> bool,
    ) -> Outcome {
        let (start, end) = (start.max(self.start), end.min(self.end));
        let mut count = 0u64;
        if start >= end {
            return Outcome::ok(200, count);
        }
        for t in &self.tables {
            for part in t.parts() {
                if !part_overlaps(&part, start, end) {
                    continue;
                }
                if let Some(out) = self.scan_part(inner, t, &part, (start, end), filter.as_mut(), &mut count, f) {
                    return out;
                }
            }
        }
        Outcome::ok(200, count)
    }

    /// The points of one partition, merged, to `f`; `Some` when the scan
    /// ends here (`f` stopped it, or an error).
    #[allow(clippy::too_many_arguments)]
    fn scan_part(
        &self,
        inner: &Inner,
        t: &TableSnap,
        part: &PartFiles<'_>,
        (start, end): (i64, i64),
        mut filter: Option<&mut Filter<'_>>,
        count: &mut u64,
        f: &mut dyn FnMut(&Point<'_>, u32) -> bool,
    ) -> Option<Outcome> {
        // The partition's files stay open while its rows are read.
        let mut views = Vec::with_capacity(part.segs.len());
        for (seg, _) in part.segs {
            match seg.view() {
                Ok(v) => views.push(v),
                Err(e) => return Some(unreadable(seg, &e)),
            }
        }
        let mut decoded = Vec::new();
        for ((seg, published), view) in part.segs.iter().zip(&views) {
            let blocks: Blocks = seg.blocks_upto(*published);
            let in_range = |b: &&BlockMeta| b.max_time >= start && b.min_time < end && b.seq > part.sealed_seq;
            for b in blocks.iter().filter(in_range) {
                match rows::Block::decode(view.block_body(b)) {
                    Ok(block) => decoded.push(block),
                    Err(_) => return Some(damaged(seg, b)),
                }
            }
        }
        // The sealed files' rows in range, each chunk checked as read; of
        // the series the filter keeps only (their slots asked as the file
        // is read, by the series' id in the file).
        let mut sealed_rows = Vec::with_capacity(part.sealed.len());
        let mut sealed_slots = Vec::with_capacity(part.sealed.len());
        let want = filter.as_ref().and_then(|fl| fl.fields);
        for sealed in part.sealed {
            let mut slots = Slots::default();
            let read = |r: Reader| {
                if filter.is_none() {
                    return Decoded::read(&r, start, end);
                }
                let keys = inner.series_keys.get(sealed, &r)?;
                let must = filter.as_ref().map_or(&[][..], |fl| fl.tags);
                let allowed = if TagIndex::narrows(must) {
                    inner.series_keys.index(sealed, &keys).and_then(|ix| ix.allowed(keys.len(), must))
                } else {
                    None
                };
                let mut keep = |id: u32, key: &[u8]| {
                    allowed.as_ref().is_none_or(|a| a.get(id as usize).copied().unwrap_or(false))
                        && slots.get(&mut filter, id, key).is_some()
                };
                Decoded::read_selected(&r, Some(keys), start, end, want, &mut keep)
            };
            match open_sealed(inner, part.key, sealed).and_then(read) {
                Ok(d) => sealed_rows.push(d),
                Err(e) => return Some(sealed_error(sealed, e)),
            }
            sealed_slots.push(slots);
        }
        // A series' slot, asked of the filter once per series of each
        // block (by the series' id in its table).
        let mut slots = Slots::default();
        // Every row in range the filter keeps, in write order (series and
        // where it is): the sealed files' first (they were written before
        // any block above their sequences), oldest first; and its sort
        // key (time, slot, index in `rows`), small so that sorting moves
        // little. (Sized for the sealed rows: growing vectors of a
        // million points costs more than a few of them left unused.)
        let sealed_count = sealed_rows.iter().map(Decoded::row_count).sum();
        let mut rows: Vec<(&[u8], Src<'_>)> = Vec::with_capacity(sealed_count);
        let mut order: Vec<SortKey> = Vec::with_capacity(sealed_count);
        for ((fi, d), slots) in sealed_rows.iter().enumerate().zip(&mut sealed_slots) {
            for (at, time, id, series) in d.rows_with_ids(start, end) {
                if let Some(slot) = slots.get(&mut filter, id, series) {
                    order.push(SortKey { time, slot, n: rows.len() });
                    rows.push((series, Src::Sealed(at, fi)));
                }
            }
        }
        for (bi, block) in decoded.iter().enumerate() {
            slots.start(block.series_count());
            for row in block.rows() {
                let Ok(row) = row else {
                    return Some(Outcome::error(500, "damaged row in a stored block"));
                };
                if row.time >= start && row.time < end {
                    if let Some(slot) = slots.get(&mut filter, row.series_id, row.series) {
                        order.push(SortKey { time: row.time, slot, n: rows.len() });
                        rows.push((row.series, Src::Block(row.fields, bi)));
                    }
                }
            }
        }
        // Stable order for equal (time, series): write order, so the
        // later write wins when merged. With a filter, a series is its
        // slot (one slot per series key): integers compare faster than
        // keys, and a filtered scan promises no order of series' points
        // of one time but that of their slots.
        if filter.as_ref().is_some_and(|f| f.by_series) {
            // Keys were pushed in write order (so equal ones stay in it)
            // and come in long runs of (slot, time) order, one per sealed
            // row group or block: a stable sort merges runs.
            order.sort_by_key(|k| (k.slot, k.time));
        } else if filter.is_some() {
            order.sort_unstable_by_key(|k| (k.time, k.slot, k.n));
        } else {
            // (Series keys looked up only for equal times.)
            order.sort_unstable_by(|a, b| {
                a.time.cmp(&b.time).then_with(|| rows[a.n].0.cmp(rows[b.n].0)).then(a.n.cmp(&b.n))
            });
        }
        let mut i = 0;
        let mut scratch = Vec::new();
        let mut acc: Vec<StoredField<'_>> = Vec::new();
        let mut next: Vec<StoredField<'_>> = Vec::new();
        let fields_of = |src, out: &mut _| fields_of(src, &decoded, &sealed_rows, out);
        // Every key's index is one of `rows`' (they were pushed together).
        let row = |k: &SortKey| rows[k.n];
        while i < order.len() {
            let (time, slot) = (order[i].time, order[i].slot);
            let (series, src) = row(&order[i]);
            acc.clear();
            if !fields_of(src, &mut acc) {
                return Some(Outcome::error(500, "damaged row fields"));
            }
            let mut from_block = matches!(src, Src::Block(..));
            let mut j = i + 1;
            while j < order.len() && order[j].time == time && order[j].slot == slot && row(&order[j]).0 == series {
                let src = row(&order[j]).1;
                from_block |= matches!(src, Src::Block(..));
                next.clear();
                if !fields_of(src, &mut next) {
                    return Some(Outcome::error(500, "damaged row fields"));
                }
                merge_fields(&mut acc, &next, &mut scratch);
                j += 1;
            }
            i = j;
            if let (Some(want), true) = (want, from_block) {
                // Blocks decode whole rows; sealed files read only these.
                acc.retain(|fld| want.iter().any(|w| w.as_slice() == fld.key));
            }
            let point = Point { escaped: t.escaped.as_bytes(), series, time, fields: &acc };
            *count += 1;
            if !f(&point, slot) {
                return Some(Outcome::ok(200, *count));
            }
        }
        None
    }
}

/// Where a row of a partition goes in a scan's order: by time (or slot
/// first, series by series), then slot, then write order (`n`, its index
/// among the partition's rows).
#[derive(Clone, Copy)]
struct SortKey {
    time: i64,
    slot: u32,
    n: usize,
}

/// Whether a partition (a UTC day) can hold points of `[start, end)`.
fn part_overlaps(part: &PartFiles<'_>, start: i64, end: i64) -> bool {
    let day = part.key.2;
    let (first, last) = (Day::of(start), Day::of(end - 1));
    first <= day && day <= last
}

/// The slots of one block's or sealed file's series, by series id, asked
/// of the filter the first time each id is met.
#[derive(Default)]
struct Slots {
    /// `None`: not asked yet; `Some(None)`: skipped.
    by_id: Vec<Option<Option<u32>>>,
}

impl Slots {
    /// Forgets the last table: the next has `n` series.
    fn start(&mut self, n: usize) {
        self.by_id.clear();
        self.by_id.resize(n, None);
    }

    /// The slot of series `id` (key `series`), asked of the filter the
    /// first time; `Some(0)` without a filter.
    fn get(&mut self, filter: &mut Option<&mut Filter<'_>>, id: u32, series: &[u8]) -> Option<u32> {
        let Some(fl) = filter.as_mut() else { return Some(0) };
        // Ids are below their table's series count: a sealed file's at
        // most MAX_SERIES (its reader checks), a block's its dictionary's.
        if self.by_id.len() <= id as usize && id < crate::columnar::MAX_SERIES {
            self.by_id.resize(id as usize + 1, None);
        }
        match self.by_id.get_mut(id as usize) {
            Some(cell) => *cell.get_or_insert_with(|| (fl.series)(series)),
            None => (fl.series)(series),
        }
    }
}

/// The fields of a point, as rows store them; false if a block's row does
/// not decode.
fn fields_of<'a>(src: Src<'a>, blocks: &[rows::Block<'a>], sealed: &'a [Decoded], out: &mut Vec<StoredField<'a>>) -> bool {
    match src {
        Src::Block(fields, bi) => blocks.get(bi).is_some_and(|b| fields.decode(&b.keys, out).is_ok()),
        Src::Sealed(at, fi) => {
            if let Some(d) = sealed.get(fi) {
                d.fields(at, out);
            }
            true
        }
    }
}

/// Opens a sealed file of the partition `key` (header and footer checked).
fn open_sealed(inner: &Inner, key: PartKey, sealed: &SealedFile) -> Result<Reader, ReadError> {
    sealed.reader(inner.opts.storage.as_ref(), &inner.files.key(key))
}

/// A sealed file that could not be read: out of descriptors is 503, damage
/// (remembered: never read again while open) and anything else 500.
fn sealed_error(sealed: &SealedFile, e: ReadError) -> Outcome {
    match e {
        ReadError::Io(e) if crate::storage::is_transient(&e) => {
            Outcome::unavailable(format!("{e}: reading {}", sealed.path.display()))
        }
        ReadError::Io(e) => Outcome::error(500, format!("{e}: reading {}", sealed.path.display())),
        ReadError::Damaged(d) => {
            sealed.set_damaged(d.clone());
            Outcome::error(500, d)
        }
        other => Outcome::error(500, format!("{other}: {}", sealed.path.display())),
    }
}

/// A segment file that cannot be opened now: out of descriptors or address
/// space answers 503 (a later query may succeed), anything else 500.
fn unreadable(seg: &Segment, e: &std::io::Error) -> Outcome {
    let msg = format!("{e}: reading {}", seg.path().display());
    if crate::storage::is_transient(e) {
        Outcome::unavailable(msg)
    } else {
        Outcome::error(500, msg)
    }
}

/// A block that matched its checksum and still does not decode: written
/// wrong (a bug), never read from damaged bytes.
fn damaged(seg: &Segment, b: &BlockMeta) -> Outcome {
    Outcome::error(500, format!("block does not decode at offset {}: {}", b.offset, seg.path().display()))
}
