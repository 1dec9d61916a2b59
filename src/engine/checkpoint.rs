//! Checkpoints: make the segments durable, persist the catalog, trim the
//! WAL. Order matters: the catalog may only claim what the msync made
//! durable, and the WAL may only lose records the saved catalog covers.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::catalog::{self, CatalogData, DatabaseData, PartitionData};
use crate::segment::Segment;

use super::state::segment_number;
use super::{Error, Inner, Retired};

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

/// Runs one checkpoint (two never run at once), then gives memory back.
pub fn run_one(inner: &Inner, then: Then) -> Result<(), Error> {
    let _one = inner.checkpoint_lock.lock();
    let r = run(inner, then);
    super::memory::give_back();
    r
}

pub fn run(inner: &Inner, then: Then) -> Result<(), Error> {
    inner.check_failed()?;
    // A snapshot under the read lock: no group is half applied in it.
    // The segments sealed away before it are not in it: their files go
    // once its catalog is durable.
    let (mut cat, segments, retiring) = {
        let st = inner.state.read();
        let retiring: Vec<Retired> = std::mem::take(&mut *inner.retired.lock());
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
                    d.partitions.push(PartitionData {
                        table_id: t.id,
                        day: *day,
                        segments: Vec::new(),
                        retired_upto: p.retired_upto,
                        sealed: p.sealed.iter().map(|s| s.number).collect(),
                    });
                    segs.push(p.segments.iter().map(|s| (Arc::clone(s), s.used_len())).collect());
                }
            }
            cat.databases.push(d);
            segments.push(segs);
        }
        (cat, segments, retiring)
    };
    let saved = (|| -> Result<(), Error> {
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
        Ok(())
    })();
    if let Err(e) = saved {
        inner.retired.lock().extend(retiring);
        return Err(e);
    }
    remove_retired(inner, retiring);
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

/// Removes the files sealing replaced, now that a durable catalog no longer
/// lists them; one a query still holds waits for a later checkpoint (or for
/// open, which removes what its catalog says is sealed away, and sealed
/// files it does not list).
fn remove_retired(inner: &Inner, retiring: Vec<Retired>) {
    let storage = inner.opts.storage.as_ref();
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    let mut kept = Vec::new();
    for r in retiring {
        if r.in_use() {
            kept.push(r);
            continue;
        }
        let path = r.path().to_path_buf();
        drop(r);
        // Best effort: a file left is removed at the next open.
        if storage.remove_file(&path).is_ok() {
            if let Some(d) = path.parent().filter(|d| !dirs.iter().any(|x| x == d)) {
                dirs.push(d.to_path_buf());
            }
        }
    }
    for d in dirs {
        let _ = storage.sync_dir(&d);
    }
    inner.retired.lock().extend(kept);
}
