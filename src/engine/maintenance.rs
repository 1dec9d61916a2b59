//! The engine's own thread: started at open, stopped and joined at close
//! (and when the engine is dropped). Once a second it seals the partitions
//! that are due (`seal::Due::Now`). It holds the engine only weakly between
//! passes, so that dropping the last handle is never held up by a sleeping
//! thread; a pass in progress sees the stop and gives up between blocks.

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

/// The thread's stop signal.
#[derive(Debug, Default)]
pub(super) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub(super) fn is_set(&self) -> bool {
        *self.stopped.lock()
    }

    fn set(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }

    /// Sleeps up to `d`; true if stopped.
    fn sleep(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.wake.wait_for(&mut stopped, d);
        }
        *stopped
    }
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
        if stop.sleep(TICK) {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        if inner.is_failed() || inner.stopping() {
            continue;
        }
        // Errors are the store's to report to the calls that meet them
        // (a failed store answers every call); here they only end the pass.
        let _ = seal::seal(&inner, Due::Now);
    }
}
