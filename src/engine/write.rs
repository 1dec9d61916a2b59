//! The write path: validate in the caller's thread, then group commit.
//!
//! A writer parses its batch (no lock), validates it under the state's read
//! lock, encodes its WAL record with the rows of each partition, and queues
//! it. Then it takes the commit lock: if a leader before it already
//! answered its batch it returns; otherwise it leads, taking every queued
//! batch in queue order:
//!
//! 1. a batch that brings schema changes and was validated against an older
//!    schema (or after another batch of the group that brings changes) goes
//!    back to its writer to be validated again: changes only ever add, so a
//!    batch without changes stays valid;
//! 2. WAL backlog over `max_wal_bytes` answers 503;
//! 3. segment space for every block is reserved (new segment files made):
//!    no space answers 503 with nothing written;
//! 4. one WAL append and one fdatasync for the group; a failure fails the
//!    store (500) and nothing is applied;
//! 5. under the state's write lock: schema changes and new tables applied,
//!    blocks appended to their segments and published: a query sees a whole
//!    batch or none of it;
//! 6. each batch is answered 204, in sequence order.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::line_protocol::{self, Batch, Precision};
use crate::partition::Day;
use crate::rows;
use crate::schema::SchemaChanges;
use crate::segment::{AppendError, Segment};
use crate::storage::{is_no_space, Storage};
use crate::validate::{self, BatchError};
use crate::wal::{Wal, WalError};

use super::record::{BatchRecord, BlockRef};
use super::state::{partition_dir, segment_file, Partition, Table};
use super::{Inner, Outcome};

/// A validated batch waiting for the commit leader.
#[derive(Debug)]
pub struct Pending {
    db_id: u32,
    payload: Vec<u8>,
    blocks: Vec<BlockRef>,
    new_tables: Vec<(u32, String)>,
    changes: SchemaChanges,
    schema_version: u64,
    points: u64,
    answer: Mutex<Option<Answer>>,
}

#[derive(Debug)]
enum Answer {
    Done(Outcome),
    /// Validate again: the schema changed under the batch.
    Revalidate,
}

pub fn write(inner: &Inner, database: &str, lines: &[u8], precision: Precision, now_ns: i64) -> Outcome {
    if inner.failed.load(Ordering::Acquire) {
        return Outcome::error(500, inner.failed_error().to_string());
    }
    if inner.closing.load(Ordering::Acquire) {
        return Outcome::unavailable("the store is closing");
    }
    // A writer thread reuses its parse arrays and record buffer from one
    // write to the next: fresh multi-megabyte allocations per batch cost
    // more in page faults than parsing does.
    let (kept, mut buf) = SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        (s.batch.take(), std::mem::take(&mut s.payload))
    });
    let mut batch: Batch<'_> = kept.map(Batch::recycle).unwrap_or_default();
    let parsed = line_protocol::parse(lines, precision, now_ns, &mut batch);
    let out = loop {
        let pending = match prepare(inner, database, &mut batch, &parsed, std::mem::take(&mut buf)) {
            Ok(Some(p)) => Arc::new(p),
            Ok(None) => break Outcome::ok(204, 0),
            Err(out) => break out,
        };
        let answer = commit(inner, &pending);
        // Every other holder (the queue, the leader's group) is gone once
        // the answer is out; if not, the buffer is simply not reused.
        if let Ok(p) = Arc::try_unwrap(pending) {
            buf = p.payload;
        }
        match answer {
            Answer::Done(out) => break out,
            Answer::Revalidate => continue,
        }
    };
    batch.clear();
    let batch: Batch<'static> = batch.recycle();
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.batch = Some(batch);
        // Keep at most 64 MiB per thread between writes.
        if buf.capacity() <= 64 << 20 {
            s.payload = buf;
        }
    });
    out
}

/// Per-thread buffers reused across writes.
#[derive(Default)]
struct Scratch {
    batch: Option<Batch<'static>>,
    payload: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Validates and encodes; `Ok(None)` for a batch with no lines.
fn prepare(
    inner: &Inner,
    database: &str,
    batch: &mut Batch<'_>,
    parsed: &Result<(), line_protocol::ParseError>,
    buf: Vec<u8>,
) -> Result<Option<Pending>, Outcome> {
    let st = inner.state.read();
    let Some(db) = st.dbs.get(database) else {
        return Err(Outcome::error(404, format!("database not found: {database:?}")));
    };
    let limits = &inner.opts.limits;
    // As validate::check_batch: on a parse error the lines before it are
    // still validated, and a rule they break comes first in the input.
    let checked = match parsed {
        Err(pe) => match validate::validate(batch, &db.schema, limits) {
            Err(ve) => Err(BatchError::Invalid(ve)),
            Ok(_) => Err(BatchError::Parse(pe.clone())),
        },
        Ok(()) => validate::validate(batch, &db.schema, limits).map_err(BatchError::Invalid),
    };
    let v = match checked {
        Ok(v) => v,
        Err(e) => {
            return Err(Outcome { error_line: e.line(), ..Outcome::error(400, e.to_string()) });
        }
    };
    if v.points == 0 {
        return Ok(None);
    }
    let mut next_table = db.next_table_id.max(1);
    let new_tables: Vec<(u32, String)> = v
        .changes
        .tables
        .iter()
        .map(|name| {
            let id = next_table;
            next_table += 1;
            (id, name.clone())
        })
        .collect();
    let table_ids: Vec<u32> = v
        .partitions
        .iter()
        .map(|group| match db.tables.get(&group.measurement) {
            Some(t) => t.id,
            None => new_tables.iter().find(|(_, n)| *n == group.measurement).map_or(0, |(id, _)| *id),
        })
        .collect();
    let (db_id, schema_version) = (db.id, st.schema_version);
    // Encoding needs nothing more from the state: let the leader in.
    drop(st);
    let mut rec = BatchRecord::with_buffer(buf, db_id, &new_tables, &v.changes);
    let mut enc = rows::BlockEncoder::new();
    for (group, &table_id) in v.partitions.iter().zip(&table_ids) {
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        let body = rec.begin_block(table_id, group.day);
        for &i in &group.lines {
            let line = batch.line(i);
            min = min.min(line.timestamp());
            max = max.max(line.timestamp());
            enc.row(line);
        }
        enc.finish(body);
        rec.end_block(u32::try_from(group.lines.len()).unwrap_or(u32::MAX), min, max);
    }
    let (payload, blocks) = rec.finish();
    Ok(Some(Pending {
        db_id,
        payload,
        blocks,
        new_tables,
        changes: v.changes,
        schema_version,
        points: v.points as u64,
        answer: Mutex::new(None),
    }))
}

/// Batches waiting for a leader, and whether one is at work.
#[derive(Debug, Default)]
pub struct CommitQueue {
    pending: Vec<Arc<Pending>>,
    leading: bool,
    /// Size of the group the last leader took.
    last_group: usize,
}

/// The longest a leader waits for more writers to join its group.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(100);

/// Queues the batch and waits for its answer, leading a group when no one
/// else is. Followers sleep on a condition variable and all wake when their
/// group is answered (rather than taking a lock one by one), so the next
/// group forms while the current one syncs.
fn commit(inner: &Inner, me: &Arc<Pending>) -> Answer {
    let mut q = inner.queue.lock();
    q.pending.push(Arc::clone(me));
    loop {
        if let Some(a) = me.answer.lock().take() {
            return a;
        }
        if !q.leading {
            q.leading = true;
            // Commit delay: when the last group had company, give the
            // writers it just answered a moment to queue their next write,
            // so groups do not split into two alternating halves. It ends
            // as soon as all of them are back (the last group's size: this
            // leader was one of them), so a steady set of writers waits
            // only as long as its slowest takes to prepare a batch. A lone
            // writer never waits.
            let last = q.last_group;
            if last > 1 {
                let deadline = std::time::Instant::now() + COMMIT_DELAY;
                while q.pending.len() < last && std::time::Instant::now() < deadline {
                    drop(q);
                    std::thread::yield_now();
                    q = inner.queue.lock();
                }
            }
            let group = std::mem::take(&mut q.pending);
            q.last_group = group.len();
            drop(q);
            {
                let mut wal = inner.writer.lock();
                lead(inner, &mut wal, &group);
            }
            q = inner.queue.lock();
            q.leading = false;
            inner.answered.notify_all();
            continue;
        }
        inner.answered.wait(&mut q);
    }
}

fn answer(p: &Pending, a: Answer) {
    *p.answer.lock() = Some(a);
}

/// Where each block of the group goes.
struct Placement {
    segment: Arc<Segment>,
    /// A segment made for this group, not yet in the state.
    new: Option<(u32, u32, Day)>,
}

fn lead(inner: &Inner, wal: &mut Wal, group: &[Arc<Pending>]) {
    if inner.failed.load(Ordering::Acquire) {
        let msg = inner.failed_error().to_string();
        for p in group {
            answer(p, Answer::Done(Outcome::error(500, msg.clone())));
        }
        return;
    }
    // 1. schema races, 2. backlog.
    let version = inner.state.read().schema_version;
    let mut changed = false;
    let mut backlog = wal.backlog_bytes();
    let mut accepted: Vec<&Arc<Pending>> = Vec::new();
    for p in group {
        let has_changes = !p.changes.is_empty() || !p.new_tables.is_empty();
        if has_changes && (p.schema_version != version || changed) {
            answer(p, Answer::Revalidate);
            continue;
        }
        let need = p.payload.len() as u64 + crate::wal::RECORD_OVERHEAD;
        if backlog + need > inner.opts.max_wal_bytes {
            answer(
                p,
                Answer::Done(Outcome::unavailable(format!(
                    "WAL backlog {backlog} bytes plus this batch passes max_wal_bytes {}; a checkpoint is needed",
                    inner.opts.max_wal_bytes
                ))),
            );
            continue;
        }
        backlog += need;
        changed |= has_changes;
        accepted.push(p);
    }
    if accepted.is_empty() {
        return;
    }
    // 3. segment space.
    let placements = match place(inner, &accepted) {
        Ok(p) => p,
        Err(e) => {
            let (status, msg) = if is_no_space(&e) { (503, format!("no space for the batch: {e}")) } else { (500, format!("I/O error: {e}")) };
            for p in &accepted {
                let out = if status == 503 { Outcome::unavailable(msg.clone()) } else { Outcome::error(500, msg.clone()) };
                answer(p, Answer::Done(out));
            }
            return;
        }
    };
    // 4. WAL.
    let payloads: Vec<&[u8]> = accepted.iter().map(|p| p.payload.as_slice()).collect();
    let first_seq = match wal.append(&payloads) {
        Ok(seq) => seq,
        Err(WalError::NoSpace(e)) => {
            discard(inner, &placements);
            for p in &accepted {
                answer(p, Answer::Done(Outcome::unavailable(format!("no space for the WAL: {e}"))));
            }
            return;
        }
        Err(e) => return fail_group(inner, &accepted, format!("WAL write failed: {e}")),
    };
    if let Err(e) = wal.sync() {
        return fail_group(inner, &accepted, format!("WAL fdatasync failed: {e}"));
    }
    inner.wal_bytes.store(wal.backlog_bytes(), Ordering::Relaxed);
    // 5. apply and publish.
    if let Err(e) = apply(inner, &accepted, &placements, first_seq) {
        return fail_group(inner, &accepted, format!("applying a durable batch failed: {e}"));
    }
    // 6. answer.
    for p in &accepted {
        answer(p, Answer::Done(Outcome::ok(204, p.points)));
    }
}

fn fail_group(inner: &Inner, group: &[&Arc<Pending>], why: String) {
    let msg = inner.fail(why).to_string();
    for p in group {
        answer(p, Answer::Done(Outcome::error(500, msg.clone())));
    }
}

/// Chooses a segment for every block of the group (in order: batch, then
/// block) and reserves its space, creating segment files where a partition
/// has none or its last one is full.
fn place(inner: &Inner, group: &[&Arc<Pending>]) -> io::Result<Vec<Placement>> {
    /// The segment a partition's blocks go to in this group.
    struct Filling {
        segment: Arc<Segment>,
        /// Bytes this group puts in it.
        bytes: u64,
        /// Whether this group made it.
        new: bool,
        /// Its number in the partition.
        number: u32,
    }
    let st = inner.state.read();
    let mut filling: HashMap<(u32, u32, Day), Filling> = HashMap::new();
    let mut out = Vec::new();
    let mut made: Vec<Placement> = Vec::new();
    let result = (|| {
        for p in group {
            let db = st.db_by_id(p.db_id);
            for b in &p.blocks {
                let key = (p.db_id, b.table_id, b.day);
                let size = Segment::block_len(b.body.len());
                let entry = match filling.entry(key) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        let existing = db
                            .and_then(|db| db.table_by_id(b.table_id))
                            .and_then(|(_, t)| t.partitions.get(&b.day))
                            .and_then(|part| part.segments.last().map(|s| (Arc::clone(s), part.segments.len())));
                        v.insert(match existing {
                            Some((segment, n)) => {
                                Filling { segment, bytes: 0, new: false, number: u32::try_from(n).unwrap_or(u32::MAX) }
                            }
                            None => {
                                let segment = new_segment(inner, key, 1, size)?;
                                made.push(Placement { segment: Arc::clone(&segment), new: Some(key) });
                                Filling { segment, bytes: 0, new: true, number: 1 }
                            }
                        })
                    }
                };
                if entry.segment.used_len() + entry.bytes + size > entry.segment.capacity() {
                    // Reserve what the full one takes before moving on.
                    entry.segment.reserve(entry.bytes).map_err(append_to_io)?;
                    // Most of what `apply` must make durable before the
                    // next segment gets a block (see there), done here,
                    // outside the state's write lock.
                    if !entry.new {
                        entry.segment.flush()?;
                    }
                    let number = entry.number + 1;
                    let segment = new_segment(inner, key, number, size)?;
                    made.push(Placement { segment: Arc::clone(&segment), new: Some(key) });
                    *entry = Filling { segment, bytes: 0, new: true, number };
                }
                entry.bytes += size;
                out.push(Placement { segment: Arc::clone(&entry.segment), new: entry.new.then_some(key) });
            }
        }
        for f in filling.values() {
            f.segment.reserve(f.bytes).map_err(append_to_io)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(out),
        Err(e) => {
            drop(st);
            discard(inner, &made);
            Err(e)
        }
    }
}

fn append_to_io(e: AppendError) -> io::Error {
    match e {
        AppendError::NoSpace(e) | AppendError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Makes segment `n` of a partition, with room for at least `first_block`.
pub(super) fn new_segment(inner: &Inner, key: (u32, u32, Day), n: u32, first_block: u64) -> io::Result<Arc<Segment>> {
    create_segment(&inner.opts.storage, &inner.dir, inner.opts.segment_bytes, key, n, first_block)
}

/// Makes segment `n` of a partition of the store in `root`.
pub(super) fn create_segment(
    storage: &Arc<dyn Storage>,
    root: &std::path::Path,
    segment_bytes: u64,
    (db, table, day): (u32, u32, Day),
    n: u32,
    first_block: u64,
) -> io::Result<Arc<Segment>> {
    let dir = partition_dir(root, db, table, day);
    if n == 1 {
        storage.create_dir_all(&dir)?;
        // Make the new directories' entries durable, innermost first.
        let mut d = dir.as_path();
        while let Some(parent) = d.parent() {
            storage.sync_dir(parent)?;
            if parent == root {
                break;
            }
            d = parent;
        }
    }
    let path = dir.join(segment_file(n));
    // A file left by a group that failed before its WAL record was written
    // holds nothing acknowledged.
    match storage.remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let capacity = segment_bytes.max(Segment::header_len_for(&segment_key(db, table, day)) + first_block);
    Segment::create(storage, &path, &segment_key(db, table, day), capacity).map(Arc::new)
}

/// What a segment's header says it belongs to.
pub fn segment_key(db: u32, table: u32, day: Day) -> Vec<u8> {
    let mut k = Vec::with_capacity(12);
    k.extend_from_slice(&db.to_le_bytes());
    k.extend_from_slice(&table.to_le_bytes());
    k.extend_from_slice(&day.0.to_le_bytes());
    k
}

/// Removes segment files made for a group that did not commit.
fn discard(inner: &Inner, placements: &[Placement]) {
    for p in placements.iter().filter(|p| p.new.is_some()) {
        // Best effort: an empty leftover is harmless and replaced later.
        let _ = inner.opts.storage.remove_file(p.segment.path());
    }
}

fn apply(inner: &Inner, group: &[&Arc<Pending>], placements: &[Placement], first_seq: u64) -> io::Result<()> {
    let mut st = inner.state.write();
    let mut k = 0;
    for (seq, p) in (first_seq..).zip(group) {
        let changed = !p.changes.is_empty() || !p.new_tables.is_empty();
        let Some(db) = st.db_by_id_mut(p.db_id) else {
            return Err(io::Error::other("batch for a database that vanished"));
        };
        for (id, name) in &p.new_tables {
            db.tables.entry(name.clone()).or_insert_with(|| Table { id: *id, partitions: Default::default() });
            db.next_table_id = db.next_table_id.max(id + 1);
        }
        db.schema.apply(&p.changes);
        for b in &p.blocks {
            let Some(pl) = placements.get(k) else {
                return Err(io::Error::other("block without a placement"));
            };
            k += 1;
            let table = db
                .tables
                .values_mut()
                .find(|t| t.id == b.table_id)
                .ok_or_else(|| io::Error::other("block for an unknown table"))?;
            let part = table.partitions.entry(b.day).or_insert_with(|| Partition { segments: Vec::new() });
            if pl.new.is_some() && !part.segments.iter().any(|s| Arc::ptr_eq(s, &pl.segment)) {
                // Invariant: a partition's segment gets its first block only
                // once every block of the segment before it is durable. A
                // power cut then leaves each partition a prefix of its blocks
                // (whole earlier segments, and a checksummed prefix of the
                // last), which is what lets replay skip a record whose seq
                // the partition already holds. Without it a block kept in
                // the new segment could hide a lost one in the old.
                if let Some(prev) = part.segments.last() {
                    prev.flush()?;
                }
                part.segments.push(Arc::clone(&pl.segment));
            }
            let body = p.payload.get(b.body.clone()).ok_or_else(|| io::Error::other("block outside its record"))?;
            pl.segment.append(seq, b.rows, b.min_time, b.max_time, body).map_err(append_to_io)?;
        }
        if changed {
            st.schema_version += 1;
        }
        st.applied_seq = seq;
    }
    Ok(())
}
