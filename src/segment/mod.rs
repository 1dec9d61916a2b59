//! One per-partition segment: an mmap'd, append-only file of blocks, each
//! block one batch's rows for the partition (see `format` for the bytes).
//!
//! # Concurrency
//!
//! One writer at a time ([`Segment::append`], serialized by the tail lock
//! in `map`) and any number of readers ([`Segment::blocks`],
//! [`Segment::block_body`]) at once, without blocking each other:
//!
//! - The file is mapped ONCE at its capacity; the mapping's address never
//!   changes (no remap), and only bytes within the file's allocated length
//!   are touched (`File::allocate` runs before the mapping is written, so a
//!   full disk is [`AppendError::NoSpace`], never SIGBUS).
//! - The writer copies a whole block into the mapping beyond the published
//!   end, THEN publishes it: first the byte end (an atomic, Release), then
//!   its [`BlockMeta`] (pushed under a lock). Readers only read the ranges of
//!   published blocks, which are never written again. So the writer and
//!   readers touch disjoint bytes, and a reader never sees part of a block.
//!
//! `map.rs` holds the only `unsafe` and states this invariant in full.
//!
//! # Durability
//!
//! Appends are not durable by themselves (the WAL is). [`Segment::flush`]
//! (checkpoint) msyncs what was published since the last flush and syncs
//! the file, and returns the length now durable; the engine records it and
//! passes it back to [`Segment::open`] as `trusted_len`. A failed flush
//! poisons the segment's flushes: every later one fails too, since the page
//! cache can no longer be trusted (never retry an fsync and acknowledge).

mod cache;
mod format;
mod map;
mod recovery;
#[cfg(test)]
mod tests;
mod verify;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::OpenError;
use crate::storage::{is_no_space, with_path, OpenMode, Storage};
use format::{BlockHeader, BLOCK_HEADER_LEN_U64};
use map::{Mapped, TailGuard, View};

pub use cache::{SegmentCache, DEFAULT_MAX_OPEN_SEGMENTS};
pub use format::{FORMAT_VERSION, MAX_KEY_LEN};
pub use map::Pin;
pub use recovery::Expect;
pub use verify::{BlockDamage, ScrubReport};

/// The smallest size the file grows to: a partition holding one point
/// takes one filesystem block or so, not a preallocated megabyte (stores
/// with many small partitions, e.g. one a day per measurement over years).
/// Each later growth at least doubles the file, so a full 64 MiB segment
/// took 14 growths.
const GROW_MIN: u64 = 4096;

/// A published block: where it is and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// Where the block (its header) starts in the file.
    pub offset: u64,
    /// Body length in bytes (> 0).
    pub len: u32,
    /// The WAL sequence of the batch; strictly increasing within a segment.
    pub seq: u64,
    /// Rows in the block (> 0).
    pub rows: u32,
    pub min_time: i64,
    pub max_time: i64,
    /// The block's stored CRC32 (chained: see [`Segment::verify_block`]).
    pub crc: u32,
}

impl BlockMeta {
    fn from_header(offset: u64, h: &BlockHeader) -> BlockMeta {
        BlockMeta {
            offset,
            len: h.body_len,
            seq: h.seq,
            rows: h.rows,
            min_time: h.min_time,
            max_time: h.max_time,
            crc: h.crc,
        }
    }

    /// Where the next block starts.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(format::block_len(self.len))
    }
}

/// A snapshot of a segment's published blocks, in file order.
pub type Blocks = Arc<[BlockMeta]>;

/// Why [`Segment::append`] did not append. In every case nothing was
/// published and the segment is still usable.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppendError {
    /// The disk (or quota) is full: reserving space for the block failed.
    NoSpace(io::Error),
    /// Any other I/O failure.
    Io(io::Error),
    /// The block would pass the segment's capacity: rotate to a new segment.
    Full,
    /// The block breaks a rule: empty body or zero rows, `min_time >
    /// max_time`, or a seq not above the segment's highest.
    Invalid(&'static str),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::NoSpace(e) => write!(f, "no space for the block: {e}"),
            AppendError::Io(e) => write!(f, "{e}"),
            AppendError::Full => f.write_str("segment is full"),
            AppendError::Invalid(why) => write!(f, "invalid block: {why}"),
        }
    }
}

impl std::error::Error for AppendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppendError::NoSpace(e) | AppendError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The writer's bookkeeping, kept under the tail lock.
#[derive(Debug)]
struct Writer {
    /// The crc the next block chains to: the last block's, or the file header's.
    chain: u32,
    /// The last block's seq, 0 if none.
    max_seq: u64,
    /// Bytes reserved by [`Segment::reserve`] for blocks not yet appended
    /// (commit groups on their way), beyond the published end.
    promised: u64,
    /// Set by [`Segment::seal`]: no more reservations.
    sealed: bool,
}

/// The published blocks.
#[derive(Debug, Default)]
struct Published {
    blocks: Vec<BlockMeta>,
}

/// One segment file, open for appending and reading. `Send + Sync`.
pub struct Segment {
    /// The length of the partition key in the file header. The key itself
    /// is not kept (a store may hold 100,000 segments): [`Segment::key`]
    /// reads it from the file, and a header read again (by a scrub, or
    /// `key`) is matched to the one open checked by its checksum, which
    /// covers the key.
    key_len: u32,
    header_crc: u32,
    capacity: u64,
    /// The file, open or closed (see `map` and `cache`).
    map: Arc<Mapped<Writer>>,
    published: RwLock<Published>,
    /// Whether `open` cut a torn tail.
    repaired: bool,
    /// Nothing but zeros lies past the published blocks, known without
    /// reading: a file this process made (appends write whole blocks), or
    /// one [`Segment::clear_past_end`] cleared. False for a file opened
    /// from disk until cleared.
    clear: AtomicBool,
    /// Blocks starting below this offset were opened with header checks
    /// only; [`Segment::ensure_verified`] verifies them before use.
    verified_from: u64,
    /// Every block below `verified_from` matched its checksum (fast path).
    verified: AtomicBool,
    verify: Mutex<verify::VerifyState>,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Segment>();
};

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path())
            .field("key_len", &self.key_len)
            .field("capacity", &self.capacity)
            .field("used_len", &self.used_len())
            .field("blocks", &self.published.read().blocks.len())
            .finish()
    }
}

impl Segment {
    /// Creates a new segment file at `path` (which must not exist) holding
    /// `key` (at most [`MAX_KEY_LEN`] bytes) in its header. `capacity` is the
    /// most bytes the file may grow to.
    ///
    /// The header is written to `<path>.tmp` (a leftover one is replaced),
    /// synced, renamed to `path`, and the parent directory synced: a crash
    /// never leaves a segment without a whole header under its name.
    ///
    /// The segment counts as open in `cache`, which may close it (and open
    /// it again) as it pleases.
    pub fn create(
        storage: &Arc<dyn Storage>,
        cache: &Arc<SegmentCache>,
        path: &Path,
        key: &[u8],
        capacity: u64,
    ) -> io::Result<Segment> {
        let header = format::encode_file_header(key)
            .ok_or_else(|| invalid_input("partition key longer than 64 KiB", path))?;
        let header_crc = format::check_file_header(&header, key.len())
            .map_err(|_| io::Error::other("segment header does not check"))?;
        let header_len = header.len() as u64;
        if header_len > capacity {
            return Err(invalid_input("segment capacity is smaller than its header", path));
        }
        match storage.open_file(path, OpenMode::Read) {
            Ok(_) => return Err(with_path(io::ErrorKind::AlreadyExists.into(), "create", path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let tmp = tmp_path(path)?;
        match storage.remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = storage.open_file(&tmp, OpenMode::CreateNew)?;
        let written = file.write_at(&header, 0).and_then(|()| file.sync_data()).and_then(|()| storage.rename(&tmp, path));
        if let Err(e) = written {
            // Best effort: the name was never published.
            let _ = storage.remove_file(&tmp);
            return Err(e);
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        storage.sync_dir(parent)?;

        let writer = Writer { chain: header_crc, max_seq: 0, promised: 0, sealed: false };
        let map = Mapped::new(storage, cache, path, file, capacity, writer)?;
        map.lock_tail()?.publish(header_len)?;
        map.set_durable(header_len);
        Ok(Segment {
            key_len: u32::try_from(key.len()).unwrap_or(u32::MAX), // at most MAX_KEY_LEN, checked above
            header_crc,
            capacity,
            map,
            published: RwLock::new(Published::default()),
            repaired: false,
            clear: AtomicBool::new(true),
            verified_from: header_len,
            verified: AtomicBool::new(true),
            verify: Mutex::new(verify::VerifyState::default()),
        })
    }

    /// Opens an existing segment: checks the header (an unknown version is
    /// [`OpenError::Version`]), walks the blocks and cuts a torn tail (see
    /// `recovery`). `trusted_len` is a length an earlier [`Segment::flush`]
    /// returned (durable, so damage below it is [`OpenError::Corrupt`]), or 0
    /// to verify every block. `capacity` as in [`Segment::create`]; a file
    /// already longer uses its length.
    pub fn open(
        storage: &Arc<dyn Storage>,
        cache: &Arc<SegmentCache>,
        path: &Path,
        trusted_len: u64,
        capacity: u64,
    ) -> Result<Segment, OpenError> {
        let expect = Expect { trusted_len, trusted_seq: u64::MAX, whole: false, key: None, cut_now: true };
        Segment::open_checked(storage, cache, path, &expect, capacity)
    }

    /// [`Segment::open`] holding the segment to `expect` (see [`Expect`]):
    /// where the checkpoint that made `trusted_len` durable covered the WAL
    /// up to `trusted_seq`, a block below `trusted_len` with a higher
    /// sequence is damage ([`OpenError::Corrupt`]), not a sequence that
    /// replay may skip records for; with `whole`, a bad block past
    /// `trusted_len` is damage, not a torn tail to cut; with `key`, a header
    /// naming another partition is refused before anything is cut.
    pub fn open_checked(
        storage: &Arc<dyn Storage>,
        cache: &Arc<SegmentCache>,
        path: &Path,
        expect: &Expect<'_>,
        capacity: u64,
    ) -> Result<Segment, OpenError> {
        let file = storage.open_file(path, OpenMode::ReadWrite)?;
        let map = Mapped::new(storage, cache, path, file, capacity, Writer { chain: 0, max_seq: 0, promised: 0, sealed: false })?;
        let (rec, file_len) = {
            let mut tail = map.lock_tail()?;
            let file_len = tail.allocated();
            let rec = recovery::recover(&mut tail, path, expect)?;
            let w = tail.state_mut();
            w.chain = rec.blocks.last().map_or(rec.header_crc, |b| b.crc);
            w.max_seq = rec.blocks.last().map_or(0, |b| b.seq);
            (rec, file_len)
        };
        let mut rec = rec;
        rec.blocks.shrink_to_fit();
        let all_verified = rec.verified_from <= format::file_header_len(rec.key.len());
        // Blocks verified above `trusted_len` may still be only in the
        // page cache (the process crashed, not the machine): the next
        // flush syncs them too.
        map.set_durable(expect.trusted_len.min(rec.end));
        Ok(Segment {
            key_len: u32::try_from(rec.key.len()).unwrap_or(u32::MAX), // at most MAX_KEY_LEN
            header_crc: rec.header_crc,
            capacity: capacity.max(file_len),
            map,
            published: RwLock::new(Published { blocks: rec.blocks }),
            repaired: rec.repaired,
            clear: AtomicBool::new(false),
            verified_from: rec.verified_from,
            verified: AtomicBool::new(all_verified),
            verify: Mutex::new(verify::VerifyState::default()),
        })
    }

    /// Reads, without changing anything, what the file at `path` is: `None`
    /// if it is not a whole segment (its header does not check), else the
    /// key in its header and whether it holds no block. For deciding
    /// whether a file in the way is one's own leftover.
    pub fn inspect(storage: &Arc<dyn Storage>, path: &Path) -> io::Result<Option<(Vec<u8>, bool)>> {
        let file = storage.open_file(path, OpenMode::Read)?;
        let len = file.length()?;
        let mut prefix = [0u8; format::FILE_PREFIX_LEN];
        if len < prefix.len() as u64 {
            return Ok(None);
        }
        file.read_at(&mut prefix, 0)?;
        let Ok(key_len) = format::decode_file_prefix(&prefix) else { return Ok(None) };
        let header_len = format::file_header_len(key_len);
        let Some(header_usize) = usize::try_from(header_len).ok().filter(|_| header_len <= len) else { return Ok(None) };
        let mut header = vec![0u8; header_usize];
        file.read_at(&mut header, 0)?;
        if format::check_file_header(&header, key_len).is_err() {
            return Ok(None);
        }
        let key = header[format::FILE_PREFIX_LEN..format::FILE_PREFIX_LEN + key_len].to_vec();
        // No block: nothing after the header, or a zero block header.
        let after = len.saturating_sub(header_len).min(format::BLOCK_HEADER_LEN as u64);
        let mut first = vec![0u8; usize::try_from(after).unwrap_or(0)];
        if !first.is_empty() {
            file.read_at(&mut first, header_len)?;
        }
        Ok(Some((key, format::all_zero(&first))))
    }

    /// Bytes a block with a body of `body_len` bytes takes in a segment
    /// (header, body, padding); `u64::MAX` for a body too long to store.
    pub fn block_len(body_len: usize) -> u64 {
        u32::try_from(body_len).map_or(u64::MAX, format::block_len)
    }

    /// Bytes the file header takes for `key` (at most [`MAX_KEY_LEN`]
    /// bytes): where the first block starts.
    pub fn header_len_for(key: &[u8]) -> u64 {
        format::file_header_len(key.len().min(MAX_KEY_LEN))
    }

    /// The partition key, read from the file header (checked again).
    pub fn key(&self) -> io::Result<Vec<u8>> {
        let view = self.view()?;
        self.check_file_header(&view).map_err(|why| with_path(io::Error::other(why), "reading the header of", self.path()))?;
        let at = format::FILE_PREFIX_LEN;
        Ok(view.view.published_bytes()[at..at + self.key_len as usize].to_vec())
    }

    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// Whether open found a torn tail (zero-filled then, or by
    /// [`Segment::cut_torn_tail`]).
    pub fn tail_repaired(&self) -> bool {
        self.repaired
    }

    /// Zero-fills what lies past the published blocks, for a segment whose
    /// torn tail open left in place (`Expect::cut_now` false), and syncs if
    /// it wrote: so that no later open reads those bytes as blocks. Blocks
    /// appended since open (by replay) are kept. Returns whether it wrote.
    pub fn cut_torn_tail(&self) -> Result<bool, OpenError> {
        if !self.repaired {
            return Ok(false);
        }
        Ok(self.clear_past_end()?)
    }

    /// Zero-fills what lies past the published blocks, and syncs if it
    /// wrote; for a segment its partition moves on from, before the next
    /// segment gets a block. Returns whether it wrote.
    ///
    /// Why: open stops walking a segment at a zero block header, so a
    /// crash can leave bytes of lost blocks further on (a sector kept past
    /// a sector lost) in a segment that opens clean. Blocks appended later
    /// overwrite them only up to the last block's end; what is left is
    /// read as a block header by the next open. In a partition's last
    /// segment that is a torn tail, cut; in a segment with a later one
    /// after it, it would be damage and the store would not open. So no
    /// segment becomes "not the last" with anything but zeros past its
    /// blocks.
    ///
    /// Once cleared (or made by this process) it returns at once, opening
    /// nothing: the commit path clears a segment when it places a group's
    /// first block in the next one (where a shortage of descriptors is a
    /// 503), so that applying the group, after its WAL record, needs no
    /// descriptor it might not get.
    pub fn clear_past_end(&self) -> io::Result<bool> {
        if self.clear.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut tail = self.map.lock_tail()?;
        let (from, to) = (self.map.published(), tail.allocated());
        let wrote = recovery::zero_tail(&mut tail, from, to)?;
        self.clear.store(true, Ordering::Release);
        Ok(wrote)
    }

    /// The most bytes the file may grow to.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Appends one block and publishes it: after return, [`Segment::blocks`]
    /// includes it. `seq` must be above [`Segment::max_seq`]. Space is
    /// reserved on disk before the mapping is written, so a full disk is
    /// [`AppendError::NoSpace`]; a block that would pass the capacity is
    /// [`AppendError::Full`]. On any error nothing is published.
    pub fn append(&self, seq: u64, rows: u32, min_time: i64, max_time: i64, body: &[u8]) -> Result<(), AppendError> {
        let body_len = u32::try_from(body.len()).map_err(|_| AppendError::Invalid("block body of 4 GiB or more"))?;
        let mut h = BlockHeader::new(body_len, rows, seq, min_time, max_time);
        h.check().map_err(AppendError::Invalid)?;

        let mut tail = self.map.lock_tail().map_err(AppendError::Io)?;
        if seq <= tail.state().max_seq {
            return Err(AppendError::Invalid("seq not above the segment's highest"));
        }
        let start = self.map.published();
        let end = start.checked_add(h.block_len()).filter(|&e| e <= self.capacity).ok_or(AppendError::Full)?;
        if end > tail.allocated() {
            self.grow(&mut tail, end)?;
        }
        h.crc = h.compute_crc(tail.state().chain, body);

        // Fill the whole block (padding too: the tail may hold stale bytes)
        // above the published end, then publish it.
        let body_at = start + BLOCK_HEADER_LEN_U64;
        let pad_at = body_at + u64::from(body_len);
        let pad = usize::try_from(end - pad_at).unwrap_or(0);
        tail.write(start, &h.encode()).map_err(AppendError::Io)?;
        tail.write(body_at, body).map_err(AppendError::Io)?;
        tail.write(pad_at, &[0u8; 8][..pad.min(8)]).map_err(AppendError::Io)?;
        tail.publish(end).map_err(AppendError::Io)?;
        let w = tail.state_mut();
        w.chain = h.crc;
        w.max_seq = seq;
        w.promised = w.promised.saturating_sub(h.block_len());
        // Still under the tail lock, so the list stays in file order.
        let mut p = self.published.write();
        // Doubling from one: most partitions of a store with many hold a
        // block or two (Vec's own growth starts at four).
        let n = p.blocks.len();
        if n == p.blocks.capacity() {
            p.blocks.reserve_exact(n.max(1));
        }
        p.blocks.push(BlockMeta::from_header(start, &h));
        Ok(())
    }

    /// Reserves disk space for `bytes` more bytes of blocks beyond
    /// [`Segment::promised_len`], so that appending them cannot fail for
    /// lack of space ([`AppendError::NoSpace`] now instead), and promises
    /// them: later reservations go after them, and each append takes its
    /// block's length back from the promise. [`AppendError::Full`] if they
    /// would pass the capacity, or the segment is sealed. Publishes nothing.
    pub fn reserve(&self, bytes: u64) -> Result<(), AppendError> {
        let mut tail = self.map.lock_tail().map_err(|e| {
            if is_no_space(&e) {
                AppendError::NoSpace(e)
            } else {
                AppendError::Io(e)
            }
        })?;
        if tail.state().sealed {
            return Err(AppendError::Full);
        }
        let end = self
            .map
            .published()
            .checked_add(tail.state().promised)
            .and_then(|e| e.checked_add(bytes))
            .filter(|&e| e <= self.capacity)
            .ok_or(AppendError::Full)?;
        if end > tail.allocated() {
            self.grow(&mut tail, end)?;
        }
        tail.state_mut().promised += bytes;
        Ok(())
    }

    /// Takes back `bytes` of a reservation whose blocks will not be
    /// appended (their group failed before its WAL record was written).
    pub fn release(&self, bytes: u64) {
        let mut tail = self.map.lock_state();
        let w = tail.state_mut();
        w.promised = w.promised.saturating_sub(bytes);
    }

    /// The published end plus what is reserved beyond it; the capacity once
    /// sealed. A block of `n` bytes can be reserved while
    /// `promised_len() + n <= capacity()`.
    pub fn promised_len(&self) -> u64 {
        let tail = self.map.lock_state();
        if tail.state().sealed {
            return self.capacity;
        }
        self.map.published().saturating_add(tail.state().promised)
    }

    /// Takes no more reservations (the partition moved on to a new
    /// segment): blocks of later groups must not land here after blocks in
    /// the next segment. Appending what is already reserved still works.
    /// Not persisted: a reopened segment is unsealed, and is used only if it
    /// is still its partition's last.
    pub fn seal(&self) {
        self.map.lock_state().state_mut().sealed = true;
    }

    /// Grows the file to hold `end` bytes: by the larger of [`GROW_MIN`],
    /// the block and the current size, capped at the capacity; if that much
    /// is not free, by just the block.
    fn grow(&self, tail: &mut TailGuard<'_, Writer>, end: u64) -> Result<(), AppendError> {
        let want = end.max(GROW_MIN).max(tail.allocated().saturating_mul(2)).min(self.capacity);
        let classify = |e: io::Error| if is_no_space(&e) { AppendError::NoSpace(e) } else { AppendError::Io(e) };
        match tail.reserve(want) {
            Ok(()) => Ok(()),
            Err(e) if want > end && is_no_space(&e) => tail.reserve(end).map_err(classify),
            Err(e) => Err(classify(e)),
        }
    }

    /// The published blocks, in order: a copy (a store may hold a great
    /// many segments; none keeps a second list of its blocks).
    pub fn blocks(&self) -> Blocks {
        Arc::from(self.published.read().blocks.as_slice())
    }

    /// The first `n` published blocks (those published when
    /// [`Segment::block_count`] said `n`: blocks are only appended).
    pub fn blocks_upto(&self, n: usize) -> Blocks {
        let p = self.published.read();
        Arc::from(&p.blocks[..n.min(p.blocks.len())])
    }

    /// How many blocks are published.
    pub fn block_count(&self) -> usize {
        self.published.read().blocks.len()
    }

    /// Rows in the published blocks.
    pub fn rows(&self) -> u64 {
        self.rows_above(0)
    }

    /// Rows in the published blocks of sequences above `seq` (those not
    /// sealed when `seq` is the partition's sealed sequence).
    pub fn rows_above(&self, seq: u64) -> u64 {
        self.published.read().blocks.iter().filter(|b| b.seq > seq).map(|b| u64::from(b.rows)).sum()
    }

    /// A view of the published blocks, opening the file if it is closed:
    /// what a query reads bodies through. The file stays open while the
    /// view lives.
    pub fn view(&self) -> io::Result<SegmentView<'_>> {
        Ok(SegmentView { seg: self, view: self.map.view()? })
    }

    /// Keeps the file open while the pin lives (a commit group holds one
    /// for each segment it will append to).
    pub fn pin(&self) -> io::Result<Pin> {
        self.map.pin()
    }

    /// A copy of a published block's body; empty if `b` does not lie
    /// within this segment's published bytes or the file cannot be opened.
    /// For tests and tools: queries borrow through [`Segment::view`].
    pub fn block_body(&self, b: &BlockMeta) -> Vec<u8> {
        self.try_block_body(b).unwrap_or_default()
    }

    /// [`Segment::block_body`], `None` for a block not published here.
    pub fn try_block_body(&self, b: &BlockMeta) -> Option<Vec<u8>> {
        self.view().ok()?.try_block_body(b).map(<[u8]>::to_vec)
    }

    /// [`SegmentView::verify_block`] through a view of its own.
    pub fn verify_block(&self, prev: Option<&BlockMeta>, b: &BlockMeta) -> Result<(), &'static str> {
        self.view().map_err(|_| "segment file cannot be opened")?.verify_block(prev, b)
    }

    /// Bytes the file header takes: where the first block starts.
    fn header_len(&self) -> u64 {
        format::file_header_len(self.key_len as usize)
    }

    /// Re-reads the file header from the mapping and checks it.
    fn check_file_header(&self, view: &SegmentView<'_>) -> Result<(), &'static str> {
        let header = usize::try_from(self.header_len())
            .ok()
            .and_then(|n| view.view.published_bytes().get(..n))
            .ok_or("file header not readable")?;
        // A header that checks and has the checksum the header had at open
        // is that header (the key length is part of the prefix checked).
        match format::check_file_header(header, self.key_len as usize) {
            Ok(crc) if crc == self.header_crc && format::decode_file_prefix(header).ok() == Some(self.key_len as usize) => Ok(()),
            Ok(_) => Err("file header changed since open"),
            Err(_) => Err("file header checksum mismatch"),
        }
    }

    /// Bytes in use (header and published blocks): the end of the last block.
    pub fn used_len(&self) -> u64 {
        self.map.published()
    }

    /// The highest block seq, 0 if none.
    pub fn max_seq(&self) -> u64 {
        self.published.read().blocks.last().map_or(0, |b| b.seq)
    }

    /// msync of everything published since the last flush, then
    /// `File::sync_data` (allocation metadata). Returns the used length now
    /// durable. After a failure every later flush fails (but not after a
    /// shortage of descriptors, which synced nothing).
    pub fn flush(&self) -> io::Result<u64> {
        self.map.flush()
    }
}

/// A segment's published blocks as of when the view was taken, readable
/// for as long as it lives (it keeps the file open and mapped).
#[derive(Debug)]
pub struct SegmentView<'a> {
    seg: &'a Segment,
    view: View,
}

impl SegmentView<'_> {
    /// The body of a published block, borrowed from the mapping. Empty if
    /// `b` does not lie within the view's published bytes.
    pub fn block_body(&self, b: &BlockMeta) -> &[u8] {
        self.try_block_body(b).unwrap_or(&[])
    }

    /// [`SegmentView::block_body`], `None` for a block not published here.
    pub fn try_block_body(&self, b: &BlockMeta) -> Option<&[u8]> {
        let start = usize::try_from(b.offset.checked_add(BLOCK_HEADER_LEN_U64)?).ok()?;
        let end = start.checked_add(usize::try_from(b.len).ok()?)?;
        self.view.published_bytes().get(start..end)
    }

    /// Re-reads a published block's header and body from the mapping and
    /// checks them against `b` and the crc. `prev` is the block before it
    /// (`None` for the first), whose crc the block's crc chains to.
    pub fn verify_block(&self, prev: Option<&BlockMeta>, b: &BlockMeta) -> Result<(), &'static str> {
        let start = usize::try_from(b.offset).map_err(|_| "block not published")?;
        let raw = self
            .view
            .published_bytes()
            .get(start..)
            .and_then(BlockHeader::decode)
            .ok_or("block not published")?;
        raw.check()?;
        if BlockMeta::from_header(b.offset, &raw) != *b {
            return Err("block header does not match its meta");
        }
        let body = self.try_block_body(b).ok_or("block not published")?;
        let chain = prev.map_or(self.seg.header_crc, |p| p.crc);
        if raw.compute_crc(chain, body) != raw.crc {
            return Err("block checksum mismatch");
        }
        Ok(())
    }
}

fn invalid_input(msg: &str, path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{msg}: {}", path.display()))
}

/// `<path>.tmp`, where a new segment's header is written before it gets its name.
fn tmp_path(path: &Path) -> io::Result<PathBuf> {
    let mut name: OsString =
        path.file_name().ok_or_else(|| invalid_input("segment path has no file name", path))?.to_os_string();
    name.push(".tmp");
    Ok(path.with_file_name(name))
}
