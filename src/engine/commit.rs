//! The pipelined group commit.
//!
//! A writer (`write.rs`) parses its batch, validates it and encodes its
//! WAL record with the rows of each partition, and queues it. Then, unless a group already took its batch, it may lead: when no
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

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::MutexGuard;

use crate::storage::{is_no_space, is_transient};
use crate::wal::{SyncTicket, Wal, WalError};

use super::apply::{apply_batch, BatchApply, Placer};
use super::placement::{discard, place, Placed, Placement, Placing};
use super::write::{Answer, Pending};
use super::{Inner, Outcome};

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
pub(super) fn commit(inner: &Inner, me: &Arc<Pending>) -> Answer {
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

pub(super) fn answer(p: &Pending, a: Answer) {
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


/// Stages 1 to 4, holding the WAL. `None` when nothing was appended (every
/// batch answered already).
fn stage(inner: &Inner, wal: &mut Wal, group: &[Arc<Pending>]) -> Option<Staged> {
    if inner.is_failed() {
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
        if need > inner.opts.max_wal_bytes || p.payload.len() as u64 > crate::wal::MAX_PAYLOAD_LEN {
            // It would not fit even in an empty log: 503 would be a promise
            // that retrying helps.
            answer(
                p,
                Answer::Done(Outcome::too_large(format!(
                    "the batch's WAL record of {need} bytes is over max_wal_bytes ({} bytes, and at most 4 GiB): split the batch",
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
    // Out of descriptors with many files held: the groups on their way
    // hold theirs too. Once they are done, once more, before any batch is
    // told it can never go in.
    let placed = match placed {
        Err(Placing::TooManyFiles { .. }) => {
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
                Placing::TooManyFiles { pinned, error } => {
                    // A batch whose blocks alone go to more partitions than
                    // the group could hold open can never be placed as it
                    // is: 413. The others may go in on their own: 503.
                    for p in &accepted {
                        let parts = p.blocks.len();
                        let out = if parts > pinned {
                            Outcome::too_large(format!(
                                "{error}: the batch writes to {parts} partitions, and this process could hold only \
                                 {pinned} segment files open at once (RLIMIT_NOFILE): split the batch"
                            ))
                        } else {
                            Outcome::unavailable(format!("cannot take the batch now: {error}"))
                        };
                        answer(p, Answer::Done(out));
                    }
                    return None;
                }
                Placing::NeedsDrain => io::Error::other("segment placement needed a drain twice"),
                Placing::SyncFailed(e) => {
                    // The page cache can no longer be trusted.
                    let msg = inner.fail(format!("segment msync failed: {e}")).to_string();
                    for p in &accepted {
                        answer(p, Answer::Done(Outcome::error(500, msg.clone())));
                    }
                    return None;
                }
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
    // The append took the log's spare file: the maintenance thread makes
    // the next one now, before another write needs it.
    if wal.wants_spare() {
        inner.stop.poke();
    }
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
    let outcome = if inner.is_failed() {
        Err(inner.failed_error().to_string())
    } else if let Err(e) = synced {
        Err(inner.fail(format!("WAL fdatasync failed: {e}")).to_string())
    } else if let Err(e) = apply_group(inner, &s.accepted, &s.placements, s.first_seq) {
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

/// Stage 7: applies a durable group, batch by batch, under the state's
/// write lock, each block to the segment placed for it.
fn apply_group(inner: &Inner, group: &[Arc<Pending>], placements: &[Placement], first_seq: u64) -> io::Result<()> {
    let mut st = inner.state.write();
    st.now_ms = inner.now_ms();
    let mut placer = GroupPlacer { placements: placements.iter() };
    for (seq, p) in (first_seq..).zip(group) {
        let batch = BatchApply {
            seq,
            db_id: p.db_id,
            new_tables: &p.new_tables,
            changes: &p.changes,
            blocks: &p.blocks,
            payload: &p.payload,
        };
        apply_batch(&mut st, &batch, &mut placer).map_err(io::Error::from)?;
    }
    Ok(())
}

/// The placements made in stage 3, one per block in the group's order.
struct GroupPlacer<'a> {
    placements: std::slice::Iter<'a, Placement>,
}

impl Placer for GroupPlacer<'_> {
    fn new_partition(&mut self, _key: super::apply::PartKey) -> io::Result<super::state::Partition> {
        Ok(super::state::Partition::default())
    }

    fn segment(
        &mut self,
        _key: super::apply::PartKey,
        _part: &super::state::Partition,
        _len: u64,
    ) -> io::Result<Arc<crate::segment::Segment>> {
        let p = self.placements.next().ok_or_else(|| io::Error::other("block without a placement"))?;
        Ok(Arc::clone(&p.segment))
    }

    fn skips_held(&self) -> bool {
        false
    }
}

