//! The write path, the writer's side: parse the batch (no lock), validate
//! it under the state's read lock and encode its WAL record with the rows
//! of each partition, then hand it to the group commit (`commit.rs`), which
//! makes it durable and applies it (`apply.rs`, the one function that
//! applies a batch to the state, also used by WAL replay), placing its
//! blocks in segments first (`placement.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::line_protocol::{self, Batch, ParseError, Precision, Slices};
use crate::rows;
use crate::schema::SchemaChanges;
use crate::validate::{BatchError, SliceValidator, ValidateError};

use super::commit::commit;
use super::record::{BatchRecord, BlockRef};
use super::{Inner, Outcome};

/// A validated batch waiting for the commit leader.
#[derive(Debug)]
pub struct Pending {
    pub(super) db_id: u32,
    pub(super) payload: Vec<u8>,
    pub(super) blocks: Vec<BlockRef>,
    pub(super) new_tables: Vec<(u32, String)>,
    pub(super) changes: SchemaChanges,
    pub(super) schema_version: u64,
    pub(super) points: u64,
    pub(super) answer: Mutex<Option<Answer>>,
    /// The writer's thread, unparked when its answer is set or it may lead.
    pub(super) waiter: std::thread::Thread,
}

impl Pending {
    pub(super) fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.new_tables.is_empty()
    }
}

#[derive(Debug)]
pub(super) enum Answer {
    Done(Outcome),
    /// Validate again: the schema changed under the batch.
    Revalidate,
}

/// Batches longer than this are parsed, validated and encoded a slice at a
/// time (see `line_protocol::Slices`), so that their parsed lines, about
/// four times the text for usual lines, never exist all at once. Shorter
/// ones are parsed whole first, on two threads, outside the state's lock:
/// a 5,000-line batch of TSBS lines is about 1.7 MB.
const SLICED_ABOVE: usize = 4 << 20;

/// The text of one slice of a sliced batch.
const SLICE_BYTES: usize = 1 << 20;

/// Where `prepare` gets a batch's lines from.
enum Source<'p, 'a> {
    /// Parsed whole already, with the parse's result.
    Parsed(&'p Result<(), ParseError>),
    /// To be parsed slice by slice, into the batch.
    Slices(Slices<'a>),
}

pub fn write(inner: &Inner, database: &str, lines: &[u8], precision: Precision, now_ns: i64) -> Outcome {
    if inner.is_failed() {
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
    let sliced = lines.len() > SLICED_ABOVE && Slices::new(lines, precision, now_ns).is_some();
    if !memory_for(lines.len(), sliced) {
        return Outcome::unavailable(format!(
            "not enough memory for a batch of {} bytes now: try again later, or split it",
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
    // (Input that is not UTF-8 is rejected; it is parsed whole, which finds
    // which of its faults comes first.)
    let parsed = if sliced { Ok(()) } else { line_protocol::parse_split(lines, precision, now_ns, &mut batch, &mut spare) };
    let spare: Batch<'static> = spare.recycle();
    let out = loop {
        let slices = if sliced { Slices::new(lines, precision, now_ns) } else { None };
        let source = match slices {
            Some(slices) => Source::Slices(slices),
            None => Source::Parsed(&parsed),
        };
        let pending = match prepare(inner, database, &mut batch, source, std::mem::take(&mut buf), &mut encs) {
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

/// Batches at least this long check first that the memory they will take
/// can be had (see [`memory_for`]).
const PROBE_FROM: usize = 256 << 10;

/// Whether the memory a batch of `len` bytes takes while it is written can
/// be had now (`memory::available`: mapped and unmapped, untouched). Where
/// allocation can fail (an address-space limit, overcommit turned off) a
/// batch that would not fit gets 503 before any work, instead of an
/// allocation failure that aborts the host process. The figures are what
/// `benches/batch_memory.rs` measures, with room: a batch parsed whole
/// takes up to about 5.7 times its text, a sliced one about 0.35 times
/// plus its slice's parse.
fn memory_for(len: usize, sliced: bool) -> bool {
    if len < PROBE_FROM {
        return true;
    }
    let need = if sliced { len / 2 + 8 * SLICE_BYTES } else { len.saturating_mul(6) };
    super::memory::available(need)
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

/// Validates and encodes (parsing first, for a sliced batch); `Ok(None)`
/// for a batch with no lines.
///
/// Each line is encoded (into its partition's block) as soon as it has
/// passed validation, while it is still in the cache: a large batch's
/// parsed lines are several times the size of the CPU's own cache, and a
/// second pass over them cost more in memory reads than the encoding did.
///
/// A sliced batch is parsed under the state's read lock (its slices are
/// validated against one state): a commit leader waits for the parse of a
/// batch over `SLICED_ABOVE` bytes before it applies its group.
fn prepare<'a>(
    inner: &Inner,
    database: &str,
    batch: &mut Batch<'a>,
    source: Source<'_, 'a>,
    buf: Vec<u8>,
    encs: &mut Vec<rows::BlockEncoder>,
) -> Result<Option<Pending>, Outcome> {
    let st = inner.state.read();
    let Some(db) = st.dbs.get(database) else {
        return Err(Outcome::error(404, format!("database not found: {database:?}")));
    };
    let limits = &inner.opts.limits;
    // The lines are encoded as they pass; the encoding needs nothing from
    // the state, but holds the read lock while the batch is validated
    // anyway.
    let mut bounds: Vec<(i64, i64)> = Vec::new();
    let mut each = |batch: &Batch<'a>, g: usize, i: usize, shape: Option<u32>| {
        // Groups are numbered as the batch first touches them: a new one is
        // always the next.
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
    };
    // One file open per partition until the batch is applied: a batch
    // that writes to more than the process may hold open never goes in.
    let max_parts = super::memory::open_files_limit();
    let mut validator = SliceValidator::counting(&db.schema, limits).with_max_partitions(max_parts);
    let checked = match source {
        Source::Parsed(parsed) => check_slice(&mut validator, batch, parsed.clone(), &mut each),
        Source::Slices(mut slices) => loop {
            if slices.is_done() {
                break Ok(());
            }
            let parsed = slices.next(batch, SLICE_BYTES);
            if let Err(e) = check_slice(&mut validator, batch, parsed, &mut each) {
                break Err(e);
            }
        },
    };
    if checked.is_err() {
        for e in &mut encs[..bounds.len()] {
            e.discard();
        }
    }
    let checked = checked.map(|()| (validator.finish(), bounds));
    let (v, bounds) = match checked {
        Ok(checked) => checked,
        Err(BatchError::Invalid(ValidateError::TooManyPartitions { limit, .. })) => {
            return Err(Outcome::too_large(format!(
                "the batch writes to more than {limit} partitions (measurement and day), the files this process \
                 may hold open at once (RLIMIT_NOFILE): split the batch"
            )));
        }
        Err(e) => {
            return Err(Outcome { error_line: e.line(), ..Outcome::error(400, e.to_string()) });
        }
    };
    let encs = &mut encs[..bounds.len()];
    // The record takes the blocks' bytes once more: both that and the
    // blocks' own growth are had without aborting, or the batch is 503.
    let need = encs.iter().map(|e| e.body_len() + 64).sum::<usize>() + 4096;
    let mut buf = buf;
    buf.clear();
    if encs.iter().any(|e| e.out_of_memory()) || buf.try_reserve(need).is_err() {
        for e in encs.iter_mut() {
            e.discard();
        }
        return Err(Outcome::unavailable(format!("not enough memory for the batch's {} bytes of blocks now: try again later, or split it", need)));
    }
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
        rec.end_block(u32::try_from(group.rows).unwrap_or(u32::MAX), min, max);
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

/// Validates (and so encodes) the lines of one slice, whose parse gave
/// `parsed`. As `validate::check_batch`: on a parse error the lines before
/// it are still validated, and a rule they break comes first in the input.
fn check_slice<'a, V: crate::schema::SchemaView + ?Sized>(
    validator: &mut SliceValidator<'_, V>,
    batch: &mut Batch<'a>,
    parsed: Result<(), ParseError>,
    each: &mut impl FnMut(&Batch<'a>, usize, usize, Option<u32>),
) -> Result<(), BatchError> {
    validator.slice(batch, each).map_err(BatchError::Invalid)?;
    parsed.map_err(BatchError::Parse)
}
