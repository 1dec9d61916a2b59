//! The bound on open segment files: every segment of every partition is
//! known to the store, but only the most recently used ones hold a file
//! descriptor and a mapping. [`SegmentCache`] counts the segments that are
//! open and, when there are more than its capacity, closes the least
//! recently used ones that nobody is using at that moment.
//!
//! A segment in use (a reader's [`super::View`], a writer holding the tail,
//! a commit group's pin) is never closed under it: closing takes the
//! segment's locks with `try_lock` and gives up when the mapping is shared,
//! so the cache never blocks and never waits. The bound is therefore the
//! capacity plus what is in use right now (a commit group pins the segments
//! it places blocks in, a query the segments of the partition it reads).
//!
//! A segment holding published bytes not yet durable is flushed (msync,
//! fdatasync) before it is closed, so that a checkpoint never has to reopen
//! a file to make it durable and a writeback error is reported by our own
//! sync, on the descriptor that wrote the bytes.
//!
//! When opening a file fails for lack of descriptors or address space
//! (EMFILE, ENFILE, mmap ENOMEM), the opener closes half of what is idle
//! and tries once more ([`SegmentCache::shed`]): the limit the process
//! really has may be lower than the capacity.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

/// What the cache can ask of an open segment.
pub(super) trait Evict: Send + Sync {
    /// The cache's clock when the segment was last used.
    fn last_use(&self) -> u64;
    /// Closes the file and its mapping if nobody is using them (after
    /// flushing what is not durable yet). Never blocks on the segment's
    /// locks. `true` if it is closed now.
    fn close_if_idle(&self) -> bool;
}

/// The default capacity: leaves most of a 1024-descriptor process to the
/// host application and the WAL.
pub const DEFAULT_MAX_OPEN_SEGMENTS: usize = 256;

/// The open segments of one store. Shared by its segments.
pub struct SegmentCache {
    /// At least 1; changed by [`SegmentCache::set_capacity`].
    cap: AtomicUsize,
    /// A clock that ticks on every use of any segment.
    clock: AtomicU64,
    /// The open segments, by address.
    open: Mutex<HashMap<usize, Weak<dyn Evict>>>,
    /// Files opened and closed by the cache since it was made (statistics).
    opens: AtomicU64,
    closes: AtomicU64,
    /// A flush made while closing a segment failed: the page cache can no
    /// longer be trusted, and the store must fail (it asks with
    /// [`SegmentCache::take_failure`]).
    failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCache").field("cap", &self.capacity()).field("open", &self.open_count()).finish()
    }
}

impl SegmentCache {
    /// A cache that keeps at most `cap` (at least 1) idle segments open.
    pub fn new(cap: usize) -> Arc<SegmentCache> {
        Arc::new(SegmentCache {
            cap: AtomicUsize::new(cap.max(1)),
            clock: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            opens: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            failure: Mutex::new(None),
        })
    }

    /// A cache that never closes anything by itself (tests, tools).
    pub fn unbounded() -> Arc<SegmentCache> {
        SegmentCache::new(usize::MAX)
    }

    pub fn capacity(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Sets the capacity (at least 1) and, if more segments are open than
    /// that, closes the least recently used idle ones down to it (busy ones
    /// close as they go idle and others open).
    pub fn set_capacity(&self, cap: usize) {
        let cap = cap.max(1);
        self.cap.store(cap, Ordering::Relaxed);
        let victims = {
            let mut open = self.open.lock();
            let n = open.len().saturating_sub(cap);
            (Self::by_age(&mut open, usize::MAX), n)
        };
        Self::close(victims);
    }

    /// Segments open now.
    pub fn open_count(&self) -> usize {
        self.open.lock().len()
    }

    /// Segment files opened, and closed, by this cache so far.
    pub fn opens_and_closes(&self) -> (u64, u64) {
        (self.opens.load(Ordering::Relaxed), self.closes.load(Ordering::Relaxed))
    }

    /// Why a flush made while closing a segment failed, once: the store
    /// that owns the cache fails with it.
    pub fn take_failure(&self) -> Option<String> {
        self.failure.lock().take()
    }

    pub(super) fn report_failure(&self, why: String) {
        self.failure.lock().get_or_insert(why);
    }

    /// The time of a use, for [`Evict::last_use`].
    pub(super) fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// A segment was opened: counts it and, past the capacity, closes the
    /// least recently used idle ones down to 7/8 of it (so that a run of
    /// opens does not scan the set on every one).
    pub(super) fn opened(&self, key: usize, seg: Weak<dyn Evict>) {
        self.opens.fetch_add(1, Ordering::Relaxed);
        let victims = {
            let mut open = self.open.lock();
            open.insert(key, seg);
            let cap = self.capacity();
            if open.len() <= cap {
                return;
            }
            let keep = cap - cap / 8;
            let n = open.len().saturating_sub(keep);
            (Self::by_age(&mut open, key), n)
        };
        // Outside the lock: a close may flush, and dropping the last
        // reference to a segment calls `closed`.
        Self::close(victims);
    }

    /// A segment was closed, or dropped while open.
    pub(super) fn closed(&self, key: usize) {
        if self.open.lock().remove(&key).is_some() {
            self.closes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Opening a file failed for want of a descriptor or address space:
    /// closes half of the idle open segments (at least one), so that the
    /// caller's one retry may succeed. Returns whether any was closed.
    pub fn shed(&self) -> bool {
        let victims = {
            let mut open = self.open.lock();
            let n = open.len().div_ceil(2);
            (Self::by_age(&mut open, usize::MAX), n)
        };
        Self::close(victims) > 0
    }

    /// The live open segments but `except`, least recently used first;
    /// forgets dead entries on the way. The caller drops the result only
    /// after releasing the lock.
    fn by_age(open: &mut HashMap<usize, Weak<dyn Evict>>, except: usize) -> Vec<Arc<dyn Evict>> {
        open.retain(|_, w| w.strong_count() > 0);
        let mut live: Vec<(u64, Arc<dyn Evict>)> = open
            .iter()
            .filter(|(k, _)| **k != except)
            .filter_map(|(_, w)| w.upgrade())
            .map(|s| (s.last_use(), s))
            .collect();
        live.sort_unstable_by_key(|(t, _)| *t);
        live.into_iter().map(|(_, s)| s).collect()
    }

    /// Closes what is idle among the first `n` of `victims`. Returns how
    /// many closed.
    fn close((victims, n): (Vec<Arc<dyn Evict>>, usize)) -> usize {
        victims.iter().take(n).filter(|v| v.close_if_idle()).count()
    }
}
