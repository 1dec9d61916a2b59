//! Queries: stored points in a time range as canonical line protocol.
//!
//! A query takes a snapshot under the state's read lock (the segments of
//! the partitions in range and their published blocks) and then reads
//! without any lock: blocks are immutable once published, and the snapshot
//! holds the segments (and so their mappings) alive. It works one partition
//! at a time: partitions are per measurement and day, and the output is
//! ordered by measurement, then time, so memory is bounded by the largest
//! partition's rows in range, never by the store.

use std::sync::Arc;

use crate::partition::Day;
use crate::rows::{self, merge_fields, StoredField};
use crate::segment::{BlockMeta, Blocks, Segment};

use super::{Inner, Outcome};

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
    /// Where each partition's segments end in `segs`.
    part_ends: Vec<usize>,
}

impl TableSnap {
    /// Each partition's segments.
    fn parts(&self) -> impl Iterator<Item = &[(Arc<Segment>, usize)]> {
        let starts = std::iter::once(0).chain(self.part_ends.iter().copied());
        starts.zip(&self.part_ends).map(|(from, &to)| &self.segs[from..to])
    }
}

pub fn query(
    inner: &Inner,
    database: &str,
    measurement: Option<&str>,
    start: i64,
    end: i64,
    f: &mut dyn FnMut(&[u8]) -> bool,
) -> Outcome {
    if inner.is_failed() {
        return Outcome::error(500, inner.failed_error().to_string());
    }
    let tables = {
        let st = inner.state.read();
        let Some(db) = st.dbs.get(database) else {
            return Outcome::error(404, format!("database not found: {database:?}"));
        };
        let mut names: Vec<&String> = match measurement {
            Some(m) => db.tables.get_key_value(m).map(|(k, _)| k).into_iter().collect(),
            None => db.tables.keys().collect(),
        };
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut tables = Vec::new();
        if start < end {
            let (first, last) = (Day::of(start), Day::of(end - 1));
            for name in names {
                let t = &db.tables[name];
                let mut snap = TableSnap { escaped: rows::escaped_measurement(name), segs: Vec::new(), part_ends: Vec::new() };
                for (_, p) in t.partitions.range(first..=last) {
                    snap.segs.extend(p.segments.iter().map(|s| (Arc::clone(s), s.block_count())));
                    snap.part_ends.push(snap.segs.len());
                }
                tables.push(snap);
            }
        }
        tables
    };

    // Checksums before use, for every segment the query will read, before
    // the first line goes out: a damaged block answers 500 naming it, with
    // nothing delivered. Headers are verified too, so pruning by their
    // times below cannot drop rows on the word of a damaged header.
    for t in &tables {
        for (seg, _) in &t.segs {
            // Opened first: a file that cannot be opened now (out of
            // descriptors) is a 503, not damage.
            let view = match seg.view() {
                Ok(v) => v,
                Err(e) => return unreadable(seg, &e),
            };
            let verified = seg.ensure_verified();
            drop(view);
            if let Err(d) = verified {
                return Outcome::error(500, d.to_string());
            }
        }
    }

    let mut count = 0u64;
    let mut line = Vec::new();
    for t in &tables {
        for part in t.parts() {
            // The partition's files stay open while its rows are read.
            let mut views = Vec::with_capacity(part.len());
            for (seg, _) in part {
                match seg.view() {
                    Ok(v) => views.push(v),
                    Err(e) => return unreadable(seg, &e),
                }
            }
            let mut decoded = Vec::new();
            for ((seg, count), view) in part.iter().zip(&views) {
                let blocks: Blocks = seg.blocks_upto(*count);
                for b in blocks.iter().filter(|b| b.max_time >= start && b.min_time < end) {
                    match rows::Block::decode(view.block_body(b)) {
                        Ok(block) => decoded.push(block),
                        Err(_) => return damaged(seg, b),
                    }
                }
            }
            // (time, series, write order, fields, block) of every row in range.
            let mut pts: Vec<(i64, &[u8], usize, rows::Fields<'_>, usize)> = Vec::new();
            for (bi, block) in decoded.iter().enumerate() {
                for row in block.rows() {
                    let Ok(row) = row else {
                        return Outcome::error(500, "damaged row in a stored block");
                    };
                    if row.time >= start && row.time < end {
                        let n = pts.len();
                        pts.push((row.time, row.series, n, row.fields, bi));
                    }
                }
            }
            // Stable order for equal (time, series): write order, so the
            // later write wins when merged.
            pts.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
            let mut i = 0;
            let mut scratch = Vec::new();
            let mut acc: Vec<StoredField<'_>> = Vec::new();
            let mut next: Vec<StoredField<'_>> = Vec::new();
            while i < pts.len() {
                let (time, series) = (pts[i].0, pts[i].1);
                acc.clear();
                if pts[i].3.decode(&decoded[pts[i].4].keys, &mut acc).is_err() {
                    return Outcome::error(500, "damaged row fields");
                }
                let mut j = i + 1;
                while j < pts.len() && pts[j].0 == time && pts[j].1 == series {
                    next.clear();
                    if pts[j].3.decode(&decoded[pts[j].4].keys, &mut next).is_err() {
                        return Outcome::error(500, "damaged row fields");
                    }
                    merge_fields(&mut acc, &next, &mut scratch);
                    j += 1;
                }
                i = j;
                line.clear();
                rows::write_line(&mut line, t.escaped.as_bytes(), series, &acc, time);
                count += 1;
                if !f(&line) {
                    return Outcome::ok(200, count);
                }
            }
        }
    }
    Outcome::ok(200, count)
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
