//! The engine's own thread: started at open, stopped and joined at close
//! (and when the engine is dropped). Once a second it runs a [`pass`]: it
//! makes the log's next spare file ahead of need (`wal/ahead.rs`), then
//! seals the partitions that are due (`seal::Due::Now`). When a write takes
//! the log's spare file, it makes the next one at once. It holds the engine only
//! weakly between passes, so that dropping the last handle is never held up
//! by a sleeping thread; a pass in progress sees the stop and gives up
//! between blocks.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::seal::{self, Due};
use super::Inner;

/// How often the thread looks for work.
const TICK: Duration = Duration::from_secs(1);

/// The thread's stack: sealing keeps its rows on the heap.
const STACK: usize = 512 << 10;

/// The thread's signals: stop, and work to do now.
#[derive(Debug, Default)]
pub(super) struct Stop {
    flags: Mutex<Flags>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Flags {
    stopped: bool,
    /// Work is waiting: the next sleep ends at once.
    poked: bool,
}

impl Stop {
    pub(super) fn is_set(&self) -> bool {
        self.flags.lock().stopped
    }

    fn set(&self) {
        self.flags.lock().stopped = true;
        self.wake.notify_all();
    }

    /// Wakes the thread for a pass now (once, however often it is called
    /// before the pass starts).
    pub(super) fn poke(&self) {
        let mut f = self.flags.lock();
        if !f.poked {
            f.poked = true;
            self.wake.notify_all();
        }
    }

    /// Sleeps up to `d`, or until poked or stopped.
    fn sleep(&self, d: Duration) -> Wake {
        let mut f = self.flags.lock();
        if !f.stopped && !f.poked {
            self.wake.wait_for(&mut f, d);
        }
        let poked = std::mem::take(&mut f.poked);
        match (f.stopped, poked) {
            (true, _) => Wake::Stop,
            (false, true) => Wake::Poke,
            (false, false) => Wake::Tick,
        }
    }
}

/// Why the thread woke.
enum Wake {
    Stop,
    /// A write took the log's spare: make the next one, now.
    Poke,
    /// A second passed: the whole pass.
    Tick,
}

/// The running thread.
#[derive(Debug, Default)]
pub(super) struct Maintenance {
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Maintenance {
    /// Starts the thread for `inner`. When the process cannot have one
    /// more thread (no memory for its stack, a thread limit), the store
    /// still opens: it seals only when asked (`compact`) until a later
    /// checkpoint starts the thread. `false` then.
    pub(super) fn start(&self, inner: &Arc<Inner>) -> bool {
        // Checked and started under one lock: two callers never start two.
        let mut handle = self.handle.lock();
        if handle.is_some() {
            return true;
        }
        let weak: Weak<Inner> = Arc::downgrade(inner);
        let spawned = std::thread::Builder::new()
            .name("linedb-maintenance".into())
            .stack_size(STACK)
            .spawn(move || run(&weak));
        match spawned {
            Ok(h) => {
                *handle = Some(h);
                true
            }
            Err(_) => false,
        }
    }


    /// Stops the thread and waits for it (a pass under way stops between
    /// two blocks).
    pub(super) fn stop(&self, inner: &Inner) {
        inner.stop.set();
        let handle = self.handle.lock().take();
        if let Some(h) = handle {
            // A panic in the thread was caught by nothing else: the store
            // goes on without background sealing, as it would without it.
            let _ = h.join();
        }
    }
}

fn run(weak: &Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let stop = Arc::clone(&inner.stop);
        drop(inner);
        let wake = stop.sleep(TICK);
        if matches!(wake, Wake::Stop) {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        if inner.is_failed() || inner.stopping() {
            continue;
        }
        // Errors are the store's to report to the calls that meet them
        // (a failed store answers every call); here they only end the pass.
        // A poke makes the spare only: sealing keeps its pace of once a
        // second, however fast the writes come.
        match wake {
            Wake::Stop => {}
            Wake::Poke => {
                let _ = ahead(&inner);
            }
            Wake::Tick => {
                let _ = pass(&inner);
            }
        }
    }
}

/// One pass of the thread's work (also `Engine::maintain`): the log's next
/// spare file, then the seals that are due. Returns the partitions sealed.
pub(super) fn pass(inner: &Inner) -> Result<usize, super::Error> {
    // Best effort: without a spare, the write that needs a file makes it.
    let _ = ahead(inner);
    seal::seal(inner, Due::Now)
}

/// Makes the log's next spare file if it wants one (`wal/ahead.rs`): built
/// without the log held, so writes go on meanwhile; adopted under it. True
/// if a spare was made.
fn ahead(inner: &Inner) -> std::io::Result<bool> {
    let _one = inner.ahead.lock();
    let job = {
        let wal = inner.writer.lock();
        if inner.is_failed() || inner.stopping() {
            return Ok(false);
        }
        match wal.spare_job() {
            Some(job) => job,
            None => return Ok(false),
        }
    };
    if !job.build()? {
        return Ok(false);
    }
    inner.writer.lock().adopt_spare(&job)
}
