//! A scratch directory for the targets that need files (`wal_check.rs`,
//! `segment_check.rs`): one per process, thread and tag, under
//! `std::env::temp_dir()` (so `TMPDIR=/dev/shm` puts it on a tmpfs, where
//! the fsyncs of the WAL and segments cost nothing), reused and emptied for
//! every input. Per thread because `cargo test` replays corpora on several
//! threads at once. A thread removes its directories when it exits (the
//! main thread's too, at a normal exit; a crash leaves its directory, with
//! the files of the crashing input, behind).
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The directories this thread made, removed when it exits.
struct Made(RefCell<Vec<PathBuf>>);

impl Drop for Made {
    fn drop(&mut self) {
        for dir in self.0.get_mut().iter() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    static MADE: Made = const { Made(RefCell::new(Vec::new())) };
}

/// This thread's directory for `tag`, empty.
pub fn fresh(tag: &str) -> PathBuf {
    let thread = THREAD.with(|t| *t);
    let dir = std::env::temp_dir().join(format!("linedb-fuzz-{tag}-{}-{thread}", std::process::id()));
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot empty the scratch directory {}: {e}", dir.display()),
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create the scratch directory {}: {e}", dir.display()));
    MADE.with(|m| {
        let mut made = m.0.borrow_mut();
        if !made.contains(&dir) {
            made.push(dir.clone());
        }
    });
    dir
}
