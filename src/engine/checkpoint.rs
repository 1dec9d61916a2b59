//! Checkpoints: make the segments durable, persist the catalog, trim the
//! WAL. Order matters: the catalog may only claim what the msync made
//! durable, and the WAL may only lose records the saved catalog covers.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::catalog::{self, CatalogData, DatabaseData, PartitionData};
use crate::segment::Segment;

use super::state::segment_number;
use super::{Error, Inner};

/// A segment and its used length when the checkpoint's snapshot was taken.
type SegmentAt = (Arc<Segment>, u64);

/// What the log does once a checkpoint has trimmed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Writes go on: the next file is made ready (from the spare).
    GoOn,
    /// The store is closing: no file is made, and the spare is removed,
    /// so a closed store's log holds no file at all (every record it held
    /// is in the segments the catalog lists).
    Close,
}

pub fn run(inner: &Inner, then: Then) -> Result<(), Error> {
    inner.check_failed()?;
    // A snapshot under the read lock: no group is half applied in it.
    let (mut cat, segments) = {
        let st = inner.state.read();
        let mut cat = CatalogData {
            store_id: st.store_id,
            seq: st.applied_seq,
            next_db_id: st.next_db_id,
            databases: Vec::new(),
            tokens: st.tokens.clone(),
        };
        // Each segment with its used length now: the catalog records no
        // more than that as durable, so every block below a recorded length
        // has a sequence the catalog covers (open checks it).
        let mut segments: Vec<Vec<Vec<SegmentAt>>> = Vec::new();
        for db in st.dbs.values() {
            let mut d = DatabaseData {
                id: db.id,
                name: db.name.clone(),
                next_table_id: db.next_table_id,
                tables: db.tables.iter().map(|(n, t)| (t.id, n.clone())).collect(),
                schema: db.schema.export(),
                partitions: Vec::new(),
            };
            d.tables.sort();
            let mut segs = Vec::new();
            let mut tables: Vec<_> = db.tables.values().collect();
            tables.sort_by_key(|t| t.id);
            for t in tables {
                for (day, p) in &t.partitions {
                    d.partitions.push(PartitionData { table_id: t.id, day: *day, segments: Vec::new() });
                    segs.push(p.segments.iter().map(|s| (Arc::clone(s), s.used_len())).collect());
                }
            }
            cat.databases.push(d);
            segments.push(segs);
        }
        (cat, segments)
    };
    // Make the segments durable; record how much is.
    for (d, segs) in cat.databases.iter_mut().zip(&segments) {
        for (p, segs) in d.partitions.iter_mut().zip(segs) {
            for (seg, at_snapshot) in segs {
                let durable = match seg.flush() {
                    // Blocks applied after the snapshot may be durable
                    // too, but their sequences are above `cat.seq`.
                    Ok(n) => n.min(*at_snapshot),
                    // The file could not be opened (the cache closed it;
                    // it flushes what it closes, so this needs a segment
                    // with unflushed bytes and no descriptor): nothing was
                    // synced, the old catalog stands, the store goes on.
                    Err(e) if crate::storage::is_transient(&e) => return Err(e.into()),
                    Err(e) => return Err(inner.fail(format!("segment msync failed: {e}"))),
                };
                let name = seg.path().file_name().and_then(|n| n.to_str()).unwrap_or("");
                let number = segment_number(name).ok_or_else(|| Error::Failed(format!("bad segment name {name:?}")))?;
                p.segments.push((number, durable));
            }
        }
    }
    // A failed catalog write leaves the old catalog, which the WAL still
    // backs: report it, but the store stays usable.
    catalog::save(inner.opts.storage.as_ref(), &inner.dir, &cat)?;
    let mut wal = inner.writer.lock();
    wal.trim(cat.seq)?;
    inner.wal_bytes.store(wal.backlog_bytes(), Ordering::Relaxed);
    match then {
        // A trim that retired the current file leaves the next write to
        // make one; make it now (from the spare the trim kept), off the
        // write path. Best effort, as at open.
        Then::GoOn => {
            let _ = wal.prepare();
        }
        // Best effort: a spare left behind is found, and reused or
        // removed, at the next open.
        Then::Close => wal.shed_spares(0),
    }
    Ok(())
}
