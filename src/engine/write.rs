//! The write path: validate in the caller's thread, then pipelined group
//! commit.
//!
//! A writer parses its batch (no lock), validates it under the state's read
//! lock, encodes its WAL record with the rows of each partition, and queues
//! it. Then, unless a group already took its batch, it may lead: when no
//! other leader is at stage 1 to 4 and fewer than [`PIPELINE_DEPTH`] groups
//! are on their way, it takes every queued batch in queue order and, holding
//! the WAL:
//!
//! 1. a batch that brings schema changes waits for the groups before it to
//!    be applied; if it was validated against an older schema (or after
//!    another batch of the group that brings changes) it goes back to its
//!    writer to be validated again: changes only ever add, so a batch
//!    without changes stays valid;
//! 2. a record larger than `max_wal_bytes` answers 413; WAL backlog over
//!    `max_wal_bytes` answers 503;
//! 3. segment space for every block is reserved (new segment files made,
//!    once the groups before it are applied): no space answers 503 with
//!    nothing written;
//! 4. one WAL append for the group.
//!
//! It then lets the next leader in and, without the WAL:
//!
//! 5. one fdatasync for the group (on a file description no other sync
//!    is using, so that a writeback error reaches every sync under way), while the next
//!    group is appended and may sync too: the device serves both, which is
//!    where the pipeline's throughput comes from; a failure fails the store
//!    (500);
//! 6. waits for its turn: groups apply in sequence order, and none applies
//!    after a failure before it;
//! 7. under the state's write lock: schema changes and new tables applied,
//!    blocks appended to their segments and published: a query sees a whole
//!    batch or none of it;
//! 8. each batch is answered 204, in sequence order.
//!
//! The WAL records carry how far back their writes may be torn (see
//! `wal::format`), so a power cut that keeps a later group's record and
//! loses an earlier one is a torn tail, not corruption.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::line_protocol::{self, Batch, Precision};
use crate::partition::Day;
use crate::rows;
use crate::schema::SchemaChanges;
use crate::segment::{AppendError, Segment};
use crate::storage::{is_no_space, is_transient, Storage};
use crate::validate::{self, BatchError};
use crate::wal::{SyncTicket, Wal, WalError};

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
    /// The writer's thread, unparked when its answer is set or it may lead.
    waiter: std::thread::Thread,
}

impl Pending {
    fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.new_tables.is_empty()
    }
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
    let limit = inner.opts.max_batch_bytes;
    if lines.len() as u64 > limit {
        return Outcome::too_large(format!(
            "batch of {} bytes is over max_batch_bytes ({limit} bytes): split it",
            lines.len()
        ));
    }
    // A writer thread reuses its parse arrays and record buffer from one
    // write to the next: fresh multi-megabyte allocations per batch cost
    // more in page faults than parsing does.
    let (kept, kept_spare, mut buf, mut encs) = SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        (s.batch.take(), s.spare.take(), std::mem::take(&mut s.payload), std::mem::take(&mut s.encoders))
    });
    let mut batch: Batch<'_> = kept.map(Batch::recycle).unwrap_or_default();
    let mut spare: Batch<'_> = kept_spare.map(Batch::recycle).unwrap_or_default();
    let parsed = line_protocol::parse_split(lines, precision, now_ns, &mut batch, &mut spare);
    let spare: Batch<'static> = spare.recycle();
    let out = loop {
        let pending = match prepare(inner, database, &mut batch, &parsed, std::mem::take(&mut buf), &mut encs) {
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
        s.spare = Some(spare);
        // Keep at most 64 MiB per thread between writes.
        if buf.capacity() <= 64 << 20 {
            s.payload = buf;
        }
        // The encoders' dictionaries grow with the distinct series of a
        // batch; a few MiB covers the usual ones. One encoder per partition
        // a batch touches at once; a few cover the usual batches.
        encs.truncate(4);
        encs.retain(|e| e.retained() <= 4 << 20);
        s.encoders = encs;
    });
    out
}

/// Per-thread buffers reused across writes.
#[derive(Default)]
struct Scratch {
    batch: Option<Batch<'static>>,
    /// The helper thread's lines of a batch parsed on two threads.
    spare: Option<Batch<'static>>,
    payload: Vec<u8>,
    /// One per partition of a batch, cleared after every block; kept for
    /// their memory, so that encoding a small batch allocates nothing.
    encoders: Vec<rows::BlockEncoder>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Validates and encodes; `Ok(None)` for a batch with no lines.
///
/// Each line is encoded (into its partition's block) as soon as it has
/// passed validation, while it is still in the cache: a large batch's
/// parsed lines are several times the size of the CPU's own cache, and a
/// second pass over them cost more in memory reads than the encoding did.
fn prepare(
    inner: &Inner,
    database: &str,
    batch: &mut Batch<'_>,
    parsed: &Result<(), line_protocol::ParseError>,
    buf: Vec<u8>,
    encs: &mut Vec<rows::BlockEncoder>,
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
        // The lines are encoded as they pass; the encoding needs nothing
        // from the state, but holds the read lock while the batch is
        // validated anyway.
        Ok(()) => {
            let mut bounds: Vec<(i64, i64)> = Vec::new();
            let checked = validate::validate_each(batch, &db.schema, limits, |batch, g, i, shape| {
                // Groups are numbered as the batch first touches them: a
                // new one is always the next.
                if g == bounds.len() {
                    bounds.push((i64::MAX, i64::MIN));
                    if g == encs.len() {
                        encs.push(rows::BlockEncoder::new());
                    }
                }
                let line = batch.line(i);
                let (min, max) = &mut bounds[g];
                *min = (*min).min(line.timestamp());
                *max = (*max).max(line.timestamp());
                encs[g].row_of_shape(line, shape);
            });
            if checked.is_err() {
                for e in &mut encs[..bounds.len()] {
                    e.discard();
                }
            }
            checked.map(|v| (v, bounds)).map_err(BatchError::Invalid)
        }
    };
    let (v, bounds) = match checked {
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
    // The blocks are encoded; nothing more is needed from the state. (The
    // read lock was held while the lines were encoded, so a large batch
    // keeps a leader's apply waiting a little longer than validation alone
    // would: what encoding each line while it is in the cache costs.)
    drop(st);
    let mut rec = BatchRecord::with_buffer(buf, db_id, &new_tables, &v.changes);
    for (((group, &table_id), enc), &(min, max)) in v.partitions.iter().zip(&table_ids).zip(encs.iter_mut()).zip(&bounds) {
        let body = rec.begin_block(table_id, group.day);
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
        waiter: std::thread::current(),
    }))
}

/// Batches waiting for a leader, and the groups at work.
#[derive(Debug, Default)]
pub struct CommitQueue {
    pending: Vec<Arc<Pending>>,
    /// A leader holds the WAL (stages 1 to 4).
    leading: bool,
    /// Groups taken by a leader and not yet answered.
    in_flight: usize,
    /// Size of the group the last leader took.
    last_group: usize,
    /// A leader waiting for its group to fill (woken by the writer that
    /// fills it), and the size it waits for.
    gathering: Option<(std::thread::Thread, usize)>,
}

/// The longest a leader waits for more writers to join its group.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(100);

/// The most commit groups on their way at once. Two: one syncing while the
/// next is appended and starts its own sync. Measured on a virtio disk, two
/// concurrent fdatasyncs of one file finish 1.5 times as many syncs a
/// second as one at a time; more add little, and keeping a group waiting
/// lets it grow.
const PIPELINE_DEPTH: usize = 2;

/// Queues the batch and waits for its answer, leading a group when it may.
/// Each writer sleeps in `park` and is woken by name: by the leader that
/// answers it, or to lead when the pipeline has room and its batch is the
/// first queued.
fn commit(inner: &Inner, me: &Arc<Pending>) -> Answer {
    {
        let mut q = inner.queue.lock();
        q.pending.push(Arc::clone(me));
        if q.gathering.as_ref().is_some_and(|(_, want)| q.pending.len() >= *want) {
            if let Some((leader, _)) = q.gathering.take() {
                leader.unpark();
            }
        }
    }
    loop {
        if let Some(a) = me.answer.lock().take() {
            return a;
        }
        let group = {
            let mut q = inner.queue.lock();
            let mine_queued = q.pending.iter().any(|p| Arc::ptr_eq(p, me));
            if q.leading || q.in_flight >= PIPELINE_DEPTH || !mine_queued {
                None
            } else {
                q.leading = true;
                q.in_flight += 1;
                let (mut q, group) = gather(inner, q);
                q.last_group = group.len();
                Some(group)
            }
        };
        match group {
            Some(group) => lead(inner, &group),
            // An unpark that came before this park makes it return at once.
            None => std::thread::park(),
        }
    }
}

/// The commit delay: when the last group had company, a new leader waits
/// (at most [`COMMIT_DELAY`]) until as many batches are queued as that
/// group had, sleeping until the writer that brings the last one wakes it.
/// So a steady set of writers keeps whole groups, rather than splitting
/// into a train of small ones that each pay for a sync; a lone writer
/// waits only once, after a group of several.
fn gather<'a>(
    inner: &'a Inner,
    mut q: MutexGuard<'a, CommitQueue>,
) -> (MutexGuard<'a, CommitQueue>, Vec<Arc<Pending>>) {
    let want = q.last_group;
    if want > 1 {
        let deadline = std::time::Instant::now() + COMMIT_DELAY;
        loop {
            let now = std::time::Instant::now();
            if q.pending.len() >= want || now >= deadline {
                break;
            }
            q.gathering = Some((std::thread::current(), want));
            drop(q);
            std::thread::park_timeout(deadline - now);
            q = inner.queue.lock();
        }
        q.gathering = None;
    }
    let group = std::mem::take(&mut q.pending);
    (q, group)
}

/// Wakes the first queued writer if it may lead now.
fn wake_next_leader(q: &CommitQueue) {
    if !q.leading && q.in_flight < PIPELINE_DEPTH {
        if let Some(p) = q.pending.first() {
            p.waiter.unpark();
        }
    }
}

fn answer(p: &Pending, a: Answer) {
    *p.answer.lock() = Some(a);
    p.waiter.unpark();
}

/// Waits until every WAL record appended so far is applied (or its group
/// failed): no commit group is on its way. Called holding the WAL, so that
/// none starts.
pub(super) fn drain(inner: &Inner, wal: &Wal) {
    let end = wal.next_seq();
    let mut turn = inner.turn.lock();
    while *turn < end {
        inner.turn_changed.wait(&mut turn);
    }
}

/// Gives the turn to the record with sequence `next`: everything below it
/// is applied, or failed.
pub(super) fn pass_turn(inner: &Inner, next: u64) {
    let mut turn = inner.turn.lock();
    *turn = (*turn).max(next);
    inner.turn_changed.notify_all();
}

/// A group appended to the WAL, on its way.
struct Staged {
    accepted: Vec<Arc<Pending>>,
    placements: Vec<Placement>,
    first_seq: u64,
    /// One past its last record.
    end_seq: u64,
    sync: SyncTicket,
}

/// Leads a group through all stages. Answers every batch of it.
fn lead(inner: &Inner, group: &[Arc<Pending>]) {
    let staged = {
        let mut wal = inner.writer.lock();
        stage(inner, &mut wal, group)
    };
    {
        let mut q = inner.queue.lock();
        q.leading = false;
        if staged.is_none() {
            q.in_flight -= 1;
        }
        wake_next_leader(&q);
    }
    if let Some(s) = staged {
        finish(inner, s);
        let mut q = inner.queue.lock();
        q.in_flight -= 1;
        wake_next_leader(&q);
    }
}

/// Where each block of the group goes.
struct Placement {
    segment: Arc<Segment>,
    /// A segment made for this group, not yet in the state.
    new: Option<(u32, u32, Day)>,
    /// The block's length in the segment, reserved there.
    bytes: u64,
}

/// Stages 1 to 4, holding the WAL. `None` when nothing was appended (every
/// batch answered already).
fn stage(inner: &Inner, wal: &mut Wal, group: &[Arc<Pending>]) -> Option<Staged> {
    if inner.failed.load(Ordering::Acquire) {
        let msg = inner.failed_error().to_string();
        for p in group {
            answer(p, Answer::Done(Outcome::error(500, msg.clone())));
        }
        return None;
    }
    // 1. schema races, 2. backlog.
    if group.iter().any(|p| p.has_changes()) {
        // The schema version is final only once the groups before are in.
        drain(inner, wal);
    }
    let version = inner.state.read().schema_version;
    let mut changed = false;
    let mut backlog = wal.backlog_bytes();
    let mut accepted: Vec<Arc<Pending>> = Vec::new();
    for p in group {
        let has_changes = p.has_changes();
        if has_changes && (p.schema_version != version || changed) {
            answer(p, Answer::Revalidate);
            continue;
        }
        let need = p.payload.len() as u64 + crate::wal::RECORD_OVERHEAD;
        if need > inner.opts.max_wal_bytes {
            // It would not fit even in an empty log: 503 would be a promise
            // that retrying helps.
            answer(
                p,
                Answer::Done(Outcome::too_large(format!(
                    "the batch's WAL record of {need} bytes is over max_wal_bytes ({} bytes): split the batch",
                    inner.opts.max_wal_bytes
                ))),
            );
            continue;
        }
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
        accepted.push(Arc::clone(p));
    }
    if accepted.is_empty() {
        return None;
    }
    // 3. segment space.
    let placed = match place(inner, &accepted, false) {
        Err(Placing::NeedsDrain) => {
            drain(inner, wal);
            place(inner, &accepted, true)
        }
        other => other,
    };
    let Placed { placements, to_seal } = match placed {
        Ok(p) => p,
        Err(e) => {
            let e = match e {
                Placing::Io(e) => e,
                Placing::NeedsDrain => io::Error::other("segment placement needed a drain twice"),
            };
            // Space, descriptors or address space running short is an
            // answer (503: nothing was written), not a failure.
            let (status, msg) = if is_no_space(&e) {
                (503, format!("no space for the batch: {e}"))
            } else if is_transient(&e) {
                (503, format!("cannot take the batch now: {e}"))
            } else {
                (500, format!("I/O error: {e}"))
            };
            for p in &accepted {
                let out = if status == 503 { Outcome::unavailable(msg.clone()) } else { Outcome::error(500, msg.clone()) };
                answer(p, Answer::Done(out));
            }
            return None;
        }
    };
    // 4. WAL.
    let payloads: Vec<&[u8]> = accepted.iter().map(|p| p.payload.as_slice()).collect();
    let first_seq = match wal.append(&payloads) {
        Ok(seq) => seq,
        Err(e @ WalError::NoSpace(_)) => {
            discard(inner, &placements);
            let msg = e.to_string();
            for p in &accepted {
                answer(p, Answer::Done(Outcome::unavailable(msg.clone())));
            }
            return None;
        }
        Err(e) => {
            fail_group(inner, &accepted, format!("WAL write failed: {e}"));
            return None;
        }
    };
    inner.wal_bytes.store(wal.backlog_bytes(), Ordering::Relaxed);
    for segment in &to_seal {
        segment.seal();
    }
    Some(Staged { end_seq: first_seq + accepted.len() as u64, accepted, placements, first_seq, sync: wal.sync_ticket() })
}

/// Stages 5 to 8, without the WAL.
fn finish(inner: &Inner, s: Staged) {
    // 5. sync.
    let synced = s.sync.run();
    // 6. turn.
    {
        let mut turn = inner.turn.lock();
        while *turn < s.first_seq {
            inner.turn_changed.wait(&mut turn);
        }
    }
    // 7. apply and publish, 8. answer: set before the turn passes, so that
    // answers follow sequence order; the writers woken after it.
    let outcome = if inner.failed.load(Ordering::Acquire) {
        Err(inner.failed_error().to_string())
    } else if let Err(e) = synced {
        Err(inner.fail(format!("WAL fdatasync failed: {e}")).to_string())
    } else if let Err(e) = apply(inner, &s.accepted, &s.placements, s.first_seq) {
        Err(inner.fail(format!("applying a durable batch failed: {e}")).to_string())
    } else {
        Ok(())
    };
    for p in &s.accepted {
        let out = match &outcome {
            Ok(()) => Outcome::ok(204, p.points),
            Err(msg) => Outcome::error(500, msg.clone()),
        };
        *p.answer.lock() = Some(Answer::Done(out));
    }
    pass_turn(inner, s.end_seq);
    for p in &s.accepted {
        p.waiter.unpark();
    }
}

fn fail_group(inner: &Inner, group: &[Arc<Pending>], why: String) {
    let msg = inner.fail(why).to_string();
    for p in group {
        answer(p, Answer::Done(Outcome::error(500, msg.clone())));
    }
}

/// Where a group's blocks go.
struct Placed {
    placements: Vec<Placement>,
    /// Segments the group's partitions move on from: sealed once its WAL
    /// record is written (still holding the WAL, so that no later group
    /// places a block behind the group's blocks in the next segment). Not
    /// before: a group that fails leaves them its partitions' last.
    to_seal: Vec<Arc<Segment>>,
}

/// Why a group could not be placed.
enum Placing {
    /// A segment must be made, and `may_create` was false.
    NeedsDrain,
    Io(io::Error),
}

impl From<io::Error> for Placing {
    fn from(e: io::Error) -> Placing {
        Placing::Io(e)
    }
}

/// Chooses a segment for every block of the group (in order: batch, then
/// block) and reserves its space, creating segment files where a partition
/// has none or its last one is full.
///
/// Groups on their way (appended, not applied) have their space reserved
/// in their segments, so this one's goes after it; but a segment one of
/// them made is not in the state yet. So a segment is made only with
/// `may_create`, which the caller gives once no group is on its way;
/// without it, a group that needs one gets [`Placing::NeedsDrain`] with
/// nothing reserved. A segment its partition moves on from is to be sealed
/// (by the caller, once the group's WAL record is written), so that no
/// later group places a block there behind blocks in the next.
fn place(inner: &Inner, group: &[Arc<Pending>], may_create: bool) -> Result<Placed, Placing> {
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
    // Reservations made, to take back on failure.
    let mut reserved: Vec<(Arc<Segment>, u64)> = Vec::new();
    let mut to_seal: Vec<Arc<Segment>> = Vec::new();
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
                                if !may_create {
                                    return Err(Placing::NeedsDrain);
                                }
                                let segment = new_segment(inner, key, 1, size)?;
                                made.push(Placement { segment: Arc::clone(&segment), new: Some(key), bytes: 0 });
                                Filling { segment, bytes: 0, new: true, number: 1 }
                            }
                        })
                    }
                };
                if entry.segment.promised_len() + entry.bytes + size > entry.segment.capacity() {
                    if !may_create {
                        return Err(Placing::NeedsDrain);
                    }
                    // Reserve what the full one takes before moving on.
                    entry.segment.reserve(entry.bytes).map_err(append_to_io)?;
                    reserved.push((Arc::clone(&entry.segment), entry.bytes));
                    to_seal.push(Arc::clone(&entry.segment));
                    // Most of what `apply` must make durable before the
                    // next segment gets a block (see there), done here,
                    // outside the state's write lock.
                    if !entry.new {
                        entry.segment.flush()?;
                    }
                    let number = entry.number + 1;
                    let segment = new_segment(inner, key, number, size)?;
                    made.push(Placement { segment: Arc::clone(&segment), new: Some(key), bytes: 0 });
                    *entry = Filling { segment, bytes: 0, new: true, number };
                }
                entry.bytes += size;
                out.push(Placement { segment: Arc::clone(&entry.segment), new: entry.new.then_some(key), bytes: size });
            }
        }
        for f in filling.values() {
            f.segment.reserve(f.bytes).map_err(append_to_io)?;
            reserved.push((Arc::clone(&f.segment), f.bytes));
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Placed { placements: out, to_seal }),
        Err(e) => {
            drop(st);
            for (segment, bytes) in reserved {
                segment.release(bytes);
            }
            discard_made(inner, &made);
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

/// Takes back the reservations of a group that did not commit, and
/// removes the segment files made for it.
fn discard(inner: &Inner, placements: &[Placement]) {
    for p in placements {
        p.segment.release(p.bytes);
    }
    discard_made(inner, placements);
}

/// Removes segment files made for a group that did not commit.
fn discard_made(inner: &Inner, placements: &[Placement]) {
    for p in placements.iter().filter(|p| p.new.is_some()) {
        // Best effort: an empty leftover is harmless and replaced later.
        let _ = inner.opts.storage.remove_file(p.segment.path());
    }
}

fn apply(inner: &Inner, group: &[Arc<Pending>], placements: &[Placement], first_seq: u64) -> io::Result<()> {
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
