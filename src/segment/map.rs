//! The mapping of one segment file, and the only `unsafe` of the segment:
//! copying a block into the mapping and lending out bytes of it.
//!
//! # The invariant that makes the unsafe sound
//!
//! The file is mapped ONCE, at its capacity, and the mapping is kept until
//! the [`Mapped`] is dropped: its address never changes, so a borrowed slice
//! never sees a remap. Only bytes within the file's allocated length
//! (`Tail::allocated`, which only grows, and only after `File::allocate`
//! succeeded) are ever touched, so no access faults (SIGBUS) even though the
//! mapping is longer than the file.
//!
//! The file is split at `published` (an atomic that only grows):
//!
//! - bytes below `published` are immutable: nothing writes them again, not
//!   through the mapping and not through the file. Any thread may read them
//!   at any time ([`Mapped::published_bytes`]).
//! - bytes at or above `published` belong to the one holder of the tail
//!   lock ([`TailGuard`]): only it writes them, only it reads them, and it
//!   lends them out only while it cannot write (the borrow of `&self`).
//!
//! A writer fills a block entirely above `published`, then raises
//! `published` past it (a `Release` store; readers `Acquire`), so readers
//! and the writer always touch disjoint bytes, and a reader sees a block's
//! bytes complete. No `&mut` reference to mapped memory is ever made: the
//! writer copies through raw pointers.
//!
//! What this code cannot rule out, and the engine must: two `Mapped`s of
//! the same file in one process, or another process writing it (the store's
//! LOCK file keeps other processes out), or the file being truncated.

use std::io;
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::storage::{File, Map};

/// A file and its mapping, with the published/tail split described above.
/// `W` is the writer's own bookkeeping, kept under the tail lock.
#[derive(Debug)]
pub(super) struct Mapped<W> {
    // Field order: the mapping is dropped before the file is closed.
    map: Box<dyn Map>,
    file: Box<dyn File>,
    /// Bytes below this are immutable and readable by anyone.
    published: AtomicU64,
    tail: Mutex<Tail<W>>,
}

#[derive(Debug)]
struct Tail<W> {
    /// The file's length as far as we made it (or found it): the most bytes
    /// of the mapping that may be touched. `<= map.len()`.
    allocated: u64,
    state: W,
}

impl<W> Mapped<W> {
    /// Maps `file` at `map_len` bytes (at least its current length).
    pub(super) fn new(file: Box<dyn File>, map_len: u64, state: W) -> io::Result<Mapped<W>> {
        let file_len = file.length()?;
        let map_len = map_len.max(file_len);
        let len = usize::try_from(map_len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment capacity exceeds the address space"))?;
        let map = file.mmap(len)?;
        if (map.len() as u64) < file_len {
            return Err(io::Error::other("mapping is shorter than requested"));
        }
        Ok(Mapped { map, file, published: AtomicU64::new(0), tail: Mutex::new(Tail { allocated: file_len, state }) })
    }

    /// The end of the immutable prefix.
    pub(super) fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// The immutable prefix of the file, borrowed from the mapping.
    pub(super) fn published_bytes(&self) -> &[u8] {
        let len = usize::try_from(self.published()).unwrap_or(0).min(self.map.len());
        // SAFETY: `published <= allocated <= map.len()` (checked by
        // `TailGuard::publish`), so the range lies within the mapping and
        // within the file, and the mapping lives as long as `&self`. Bytes
        // below `published` are never written again (writes need the tail
        // lock and start at or above `published`, which only grows), and
        // the Acquire load pairs with the Release store in `publish`, so
        // the writes that filled them happened before this read. Hence no
        // data race and the slice is immutable for its whole lifetime.
        unsafe { slice::from_raw_parts(self.map.as_ptr(), len) }
    }

    /// The tail: the right to write (and read) above `published`.
    pub(super) fn lock_tail(&self) -> TailGuard<'_, W> {
        TailGuard { m: self, tail: self.tail.lock() }
    }

    /// msync of `[from, to)` of the mapping, then `File::sync_data` (which
    /// also makes allocations durable).
    pub(super) fn sync(&self, from: u64, to: u64) -> io::Result<()> {
        let to = usize::try_from(to).unwrap_or(usize::MAX).min(self.map.len());
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(to);
        if to > from {
            self.map.msync(from, to - from)?;
        }
        self.file.sync_data()
    }
}

/// Exclusive access to the bytes at and above `published`.
pub(super) struct TailGuard<'a, W> {
    m: &'a Mapped<W>,
    tail: MutexGuard<'a, Tail<W>>,
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
        if len > self.m.map.len() as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "reserve beyond the mapping"));
        }
        self.m.file.allocate(len)?;
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
        Some(unsafe { slice::from_raw_parts(self.m.map.as_ptr().add(start), len) })
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
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.m.map.as_ptr().add(start), bytes.len()) };
        Ok(())
    }

    /// Writes `len` zeros through the file (not the mapping) at `at`, at or
    /// above `published` and within the allocated length. Not synced.
    pub(super) fn zero_through_file(&mut self, at: u64, len: usize) -> io::Result<()> {
        let end = at.checked_add(len as u64).ok_or_else(out_of_tail)?;
        if at < self.m.published() || end > self.tail.allocated {
            return Err(out_of_tail());
        }
        self.m.file.write_at(&vec![0u8; len], at)
    }

    /// Makes what was written through the file durable.
    pub(super) fn sync_file(&self) -> io::Result<()> {
        self.m.file.sync_data()
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
