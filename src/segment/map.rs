//! The file and mapping of one segment, and the only `unsafe` of the
//! segment: copying a block into the mapping and lending out bytes of it.
//!
//! # Open and closed
//!
//! A segment is not always open: the store keeps only so many files and
//! mappings at once (see `cache`). What must outlive a closing lives here
//! in [`Mapped`] (the published end, the tail's state, what is durable);
//! one opening of the file is an [`Opened`]: a descriptor and its mapping,
//! shared by `Arc` with whoever uses them. A segment has at most one
//! `Opened` at a time: it is made under the `open` lock, handed out only as
//! clones taken under that lock, and dropped from the slot (closed) only
//! under that lock when no clone exists (`Arc::strong_count == 1`).
//!
//! # The invariant that makes the unsafe sound
//!
//! An [`Opened`] maps the file ONCE, at the segment's capacity, and keeps
//! the mapping until it is dropped: its address never changes, so a slice
//! borrowed from it (through a [`View`] or a [`TailGuard`], which hold the
//! `Arc`) never sees a remap or an unmap. Only bytes within the file's
//! allocated length (`Tail::allocated`, which only grows, and only after
//! `File::allocate` succeeded) are ever touched, so no access faults
//! (SIGBUS) even though the mapping is longer than the file.
//!
//! The file is split at `published` (an atomic that only grows):
//!
//! - bytes below `published` are immutable: nothing writes them again, not
//!   through a mapping and not through the file. Any thread may read them
//!   at any time ([`View::published_bytes`]).
//! - bytes at or above `published` belong to the one holder of the tail
//!   lock ([`TailGuard`]): only it writes them, only it reads them, and it
//!   lends them out only while it cannot write (the borrow of `&self`).
//!
//! A writer fills a block entirely above `published`, then raises
//! `published` past it (a `Release` store; readers `Acquire`), so readers
//! and the writer always touch disjoint bytes, and a reader sees a block's
//! bytes complete. No `&mut` reference to mapped memory is ever made: the
//! writer copies through raw pointers. A closed and reopened segment sees
//! the same bytes: stores through a shared mapping are in the page cache
//! the next mapping maps.
//!
//! What this code cannot rule out, and the engine must: two [`Mapped`]s of
//! the same file in one process, or another process writing it (the store's
//! LOCK file keeps other processes out), or the file being truncated.

use std::io;
use std::path::Path;
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};

use super::cache::{Evict, SegmentCache};
use crate::storage::{is_transient, File, Map, OpenMode, Storage};

/// One opening of the file: its descriptor and its mapping.
#[derive(Debug)]
pub(super) struct Opened {
    // Field order: the mapping is dropped before the file is closed.
    map: Box<dyn Map>,
    file: Box<dyn File>,
}

impl Opened {
    /// Maps `file` at `map_len` bytes (at least `file_len`).
    fn new(file: Box<dyn File>, map_len: u64, file_len: u64) -> io::Result<Opened> {
        let map_len = map_len.max(file_len);
        let len = usize::try_from(map_len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment capacity exceeds the address space"))?;
        let map = file.mmap(len)?;
        if (map.len() as u64) < file_len {
            return Err(io::Error::other("mapping is shorter than requested"));
        }
        Ok(Opened { map, file })
    }

    /// msync of `[from, to)` of the mapping, then `File::sync_data` (which
    /// also makes allocations durable).
    fn sync(&self, from: u64, to: u64) -> io::Result<()> {
        let to = usize::try_from(to).unwrap_or(usize::MAX).min(self.map.len());
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(to);
        if to > from {
            self.map.msync(from, to - from)?;
        }
        self.file.sync_data()
    }
}

/// What is durable, under its own lock.
#[derive(Debug)]
struct FlushState {
    /// Bytes below this are known durable.
    durable: u64,
    /// A flush failed: no later flush may claim durability.
    failed: bool,
}

/// A segment file, open or closed, with the published/tail split described
/// above. `W` is the writer's own bookkeeping, kept under the tail lock.
pub(super) struct Mapped<W> {
    storage: Arc<dyn Storage>,
    path: Box<Path>,
    /// The length every mapping of the file has: the segment's capacity.
    map_len: u64,
    cache: Arc<SegmentCache>,
    /// The cache's clock at the last use.
    last_use: AtomicU64,
    /// Bytes below this are immutable and readable by anyone.
    published: AtomicU64,
    tail: Mutex<Tail<W>>,
    flush: Mutex<FlushState>,
    /// The file and its mapping while open. Lock order: `tail`, then
    /// `flush`, then `open`, then the cache's map (the cache takes the
    /// first three only with `try_lock`).
    open: Mutex<Option<Arc<Opened>>>,
}

impl<W> std::fmt::Debug for Mapped<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapped").field("path", &self.path).field("published", &self.published()).finish()
    }
}

#[derive(Debug)]
pub(super) struct Tail<W> {
    /// The file's length as far as we made it (or found it): the most bytes
    /// of a mapping that may be touched. `<= map_len`.
    allocated: u64,
    state: W,
}

/// A reader's hold on the open file: the published bytes as of when it
/// was taken, valid (and unchanged) for as long as the view lives.
#[derive(Debug)]
pub(super) struct View {
    opened: Arc<Opened>,
    published: u64,
}

impl View {
    /// The immutable prefix of the file, borrowed from the mapping.
    pub(super) fn published_bytes(&self) -> &[u8] {
        let len = usize::try_from(self.published).unwrap_or(0).min(self.opened.map.len());
        // SAFETY: `published <= allocated <= map.len()` (checked by
        // `TailGuard::publish`), so the range lies within the mapping and
        // within the file, and the mapping lives as long as the `Arc` this
        // view holds, so as long as `&self`. Bytes below `published` are
        // never written again (writes need the tail lock and start at or
        // above `published`, which only grows), and the Acquire load it was
        // taken with pairs with the Release store in `publish`, so the
        // writes that filled them happened before this read. Hence no data
        // race and the slice is immutable for its whole lifetime.
        unsafe { slice::from_raw_parts(self.opened.map.as_ptr(), len) }
    }
}

impl<W: Send + 'static> Mapped<W> {
    /// A segment whose file is open as `file`, `file_len` bytes long, to be
    /// mapped at `map_len` bytes (at least its length).
    pub(super) fn new(
        storage: &Arc<dyn Storage>,
        cache: &Arc<SegmentCache>,
        path: &Path,
        file: Box<dyn File>,
        map_len: u64,
        state: W,
    ) -> io::Result<Arc<Mapped<W>>> {
        let file_len = file.length()?;
        let opened = Arc::new(Opened::new(file, map_len, file_len)?);
        let m = Arc::new(Mapped {
            storage: Arc::clone(storage),
            path: path.into(),
            map_len: map_len.max(file_len),
            cache: Arc::clone(cache),
            last_use: AtomicU64::new(cache.tick()),
            published: AtomicU64::new(0),
            tail: Mutex::new(Tail { allocated: file_len, state }),
            flush: Mutex::new(FlushState { durable: 0, failed: false }),
            open: Mutex::new(Some(opened)),
        });
        m.register();
        Ok(m)
    }

    /// Tells the cache the file is open (which may close others).
    fn register(self: &Arc<Self>) {
        let weak: Weak<dyn Evict> = Arc::downgrade(self) as Weak<dyn Evict>;
        self.cache.opened(self.key(), weak);
    }
}

impl<W> Mapped<W> {
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn key(&self) -> usize {
        ptr::from_ref(self).cast::<()>() as usize
    }

    /// The end of the immutable prefix.
    pub(super) fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// The bookkeeping of the tail, without opening the file.
    pub(super) fn lock_state(&self) -> MutexGuard<'_, Tail<W>> {
        self.tail.lock()
    }
}

impl<W> Tail<W> {
    pub(super) fn state(&self) -> &W {
        &self.state
    }

    pub(super) fn state_mut(&mut self) -> &mut W {
        &mut self.state
    }
}

impl<W: Send + 'static> Mapped<W> {
    /// The open file, opened (and mapped) if it is closed. A shortage of
    /// descriptors or address space first makes the cache close idle
    /// segments, then tries once more.
    fn opened(self: &Arc<Self>) -> io::Result<Arc<Opened>> {
        self.last_use.store(self.cache.tick(), Ordering::Relaxed);
        let mut slot = self.open.lock();
        if let Some(o) = &*slot {
            return Ok(Arc::clone(o));
        }
        let opened = match self.reopen() {
            Err(e) if is_transient(&e) => {
                drop(slot);
                if !self.cache.shed() {
                    return Err(e);
                }
                slot = self.open.lock();
                if let Some(o) = &*slot {
                    return Ok(Arc::clone(o));
                }
                self.reopen()?
            }
            other => other?,
        };
        let opened = Arc::new(opened);
        *slot = Some(Arc::clone(&opened));
        drop(slot);
        self.register();
        Ok(opened)
    }

    fn reopen(&self) -> io::Result<Opened> {
        let file = self.storage.open_file(&self.path, OpenMode::ReadWrite)?;
        let file_len = file.length()?;
        Opened::new(file, self.map_len, file_len)
    }

    /// A reader's view of the published bytes (opening the file if it is
    /// closed).
    pub(super) fn view(self: &Arc<Self>) -> io::Result<View> {
        let opened = self.opened()?;
        Ok(View { opened, published: self.published() })
    }

    /// Keeps the file open (and mapped) while the pin lives.
    pub(super) fn pin(self: &Arc<Self>) -> io::Result<Pin> {
        self.opened().map(Pin)
    }

    /// The tail: the right to write (and read) above `published`. Opens the
    /// file if it is closed.
    pub(super) fn lock_tail(self: &Arc<Self>) -> io::Result<TailGuard<'_, W>> {
        let tail = self.tail.lock();
        let opened = self.opened()?;
        Ok(TailGuard { m: self, tail, opened })
    }

    /// Makes the published bytes durable: msync of what was published since
    /// the last flush, then `File::sync_data`. Returns the used length now
    /// durable. Opens the file only when there is something to sync. After
    /// a failure every later flush fails.
    pub(super) fn flush(self: &Arc<Self>) -> io::Result<u64> {
        let mut f = self.flush.lock();
        if f.failed {
            return Err(io::Error::other(format!(
                "an earlier flush of {} failed; its durability is unknown until reopened",
                self.path.display()
            )));
        }
        let used = self.published();
        if used <= f.durable {
            return Ok(f.durable);
        }
        // Opening the file (it may be closed) syncs nothing and puts
        // nothing in doubt: its error is returned as it is, and a shortage
        // of descriptors there is a shortage (503) for the caller.
        let opened = self.opened()?;
        if let Err(e) = opened.sync(f.durable, used) {
            // A failed msync or fdatasync: the page cache may have dropped
            // the bytes (Linux marks them clean), so no later flush may
            // claim them. The error loses its errno on purpose: even ENOSPC
            // here is a failed sync, never a shortage to retry.
            f.failed = true;
            return Err(io::Error::other(format!("{e}: syncing {}", self.path.display())));
        }
        f.durable = used;
        Ok(used)
    }

    /// Records `len` as durable (open found it so).
    pub(super) fn set_durable(&self, len: u64) {
        self.flush.lock().durable = len;
    }
}

/// Keeps a segment's file open: what a commit group holds for each segment
/// it reserved space in, so that appending its blocks after its WAL record
/// is written never needs a descriptor it might not get.
#[derive(Clone, Debug)]
pub struct Pin(#[allow(dead_code)] Arc<Opened>);

impl<W: Send + 'static> Evict for Mapped<W> {
    fn last_use(&self) -> u64 {
        self.last_use.load(Ordering::Relaxed)
    }

    fn close_if_idle(&self) -> bool {
        let Some(mut f) = self.flush.try_lock() else { return false };
        let Some(mut slot) = self.open.try_lock() else { return false };
        let Some(opened) = slot.as_ref() else { return false };
        if Arc::strong_count(opened) > 1 {
            return false; // in use
        }
        // Nobody holds the tail with this opening (it would hold a clone),
        // and nobody can take one while we hold `open`: `published` stays.
        let used = self.published();
        if !f.failed && used > f.durable {
            match opened.sync(f.durable, used) {
                Ok(()) => f.durable = used,
                Err(e) => {
                    // As for any failed flush: the store fails (the cache
                    // tells it), and every later flush of the segment fails.
                    f.failed = true;
                    self.cache.report_failure(format!("{e}: flushing {} to close it", self.path.display()));
                    return false;
                }
            }
        }
        *slot = None;
        // Still under `open`: a reopen (which registers anew) cannot come
        // between the close and the cache forgetting it, or the cache
        // would forget the new opening and never close it.
        self.cache.closed(self.key());
        drop(slot);
        drop(f);
        true
    }
}

impl<W> Drop for Mapped<W> {
    fn drop(&mut self) {
        if self.open.get_mut().take().is_some() {
            self.cache.closed(self.key());
        }
    }
}

/// Exclusive access to the bytes at and above `published`.
pub(super) struct TailGuard<'a, W> {
    m: &'a Mapped<W>,
    tail: MutexGuard<'a, Tail<W>>,
    /// The opening written through: held, so not closed meanwhile.
    opened: Arc<Opened>,
}

impl<W> TailGuard<'_, W> {
    pub(super) fn state(&self) -> &W {
        &self.tail.state
    }

    pub(super) fn state_mut(&mut self) -> &mut W {
        &mut self.tail.state
    }

    /// Bytes that may be touched: the file's length.
    pub(super) fn allocated(&self) -> u64 {
        self.tail.allocated
    }

    /// Makes the file at least `len` bytes, its blocks reserved on disk,
    /// before any of them is touched through the mapping.
    pub(super) fn reserve(&mut self, len: u64) -> io::Result<()> {
        if len <= self.tail.allocated {
            return Ok(());
        }
        if len > self.opened.map.len() as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "reserve beyond the mapping"));
        }
        self.opened.file.allocate(len)?;
        self.tail.allocated = len;
        Ok(())
    }

    /// Bytes `[at, at + len)` of the file; `None` unless within the allocated length.
    pub(super) fn read(&self, at: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(at).ok()?;
        let end = start.checked_add(len)?;
        if end as u64 > self.tail.allocated {
            return None;
        }
        // SAFETY: `end <= allocated <= map.len()`, so the range is within
        // the mapping and the file. Bytes below `published` are immutable;
        // bytes above it are written only through `&mut TailGuard`, and this
        // slice borrows the guard (so the tail lock is held and no `&mut`
        // use of it can happen) for as long as it lives. Nothing else
        // writes the file (module invariant), so the bytes do not change
        // while borrowed.
        Some(unsafe { slice::from_raw_parts(self.opened.map.as_ptr().add(start), len) })
    }

    /// Copies `bytes` into the mapping at `at`, which must be at or above
    /// `published` and end within the allocated length.
    pub(super) fn write(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        let end = at.checked_add(bytes.len() as u64).ok_or_else(out_of_tail)?;
        if at < self.m.published() || end > self.tail.allocated {
            return Err(out_of_tail());
        }
        let start = usize::try_from(at).map_err(|_| out_of_tail())?;
        // SAFETY: `published <= at` and `at + len <= allocated <= map.len()`:
        // the destination lies within the mapping and within the file's
        // reserved blocks (no SIGBUS), and above `published`, where no
        // reader reads; we hold the tail lock through `&mut self`, so no
        // other writer and no slice from `read` exists. The source is a
        // Rust slice, which cannot overlap the mapping's unpublished bytes
        // (nothing lends them out except `read`, borrowed from this guard).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.opened.map.as_ptr().add(start), bytes.len()) };
        Ok(())
    }

    /// Writes `len` zeros through the file (not the mapping) at `at`, at or
    /// above `published` and within the allocated length. Not synced.
    pub(super) fn zero_through_file(&mut self, at: u64, len: usize) -> io::Result<()> {
        let end = at.checked_add(len as u64).ok_or_else(out_of_tail)?;
        if at < self.m.published() || end > self.tail.allocated {
            return Err(out_of_tail());
        }
        self.opened.file.write_at(&vec![0u8; len], at)
    }

    /// Makes what was written through the file durable.
    pub(super) fn sync_file(&self) -> io::Result<()> {
        self.opened.file.sync_data()
    }

    /// Makes `[published, end)` immutable and readable by all.
    pub(super) fn publish(&mut self, end: u64) -> io::Result<()> {
        if end < self.m.published() || end > self.tail.allocated {
            return Err(out_of_tail());
        }
        self.m.published.store(end, Ordering::Release);
        Ok(())
    }
}

fn out_of_tail() -> io::Error {
    io::Error::other("segment write outside the unpublished, allocated tail")
}
