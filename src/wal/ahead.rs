//! Spare files made ahead of need, off the write path.
//!
//! A write that fills the current file moves on to a new one. Taking a
//! spare (a file already allocated) costs a header write and a rename;
//! making a file costs a create, an allocation and two syncs, which the
//! write waiting on it pays. The log keeps one spare while open (a
//! checkpoint's trim makes it from a retired file), so the first rotation
//! of a checkpoint interval is cheap and, without this, the others are not.
//!
//! Here the engine's maintenance thread makes the next spare as soon as one
//! is wanted, in three steps, of which only the last holds the log:
//!
//! 1. [`Wal::spare_job`](super::Wal::spare_job) (log held): is a spare
//!    wanted, of what size.
//! 2. [`SpareJob::build`] (log not held): unless the disk is nearly full,
//!    `spare.wal.tmp` is created, allocated to the size and synced (so that its blocks are really
//!    reserved after a power cut: a file renamed into the log later is
//!    written without allocating).
//! 3. [`Wal::adopt_spare`](super::Wal::adopt_spare) (log held): renamed to
//!    a free spare slot, if one is still free and the size still the
//!    log's; else removed.
//!
//! Its contents mean nothing (a spare gets a header when it is used), so
//! the rename need not be durable: a power cut leaves `spare.wal.tmp`
//! (removed at open) or a spare (found at open by its size). Only one job
//! may run at a time: the caller serializes them.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::format::SPARE_TEMP_NAME;
use crate::storage::{OpenMode, Storage};

/// A spare to make: where and how large.
#[derive(Debug)]
pub struct SpareJob {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) dir: PathBuf,
    pub(super) size: u64,
}

impl SpareJob {
    pub(super) fn temp_path(&self) -> PathBuf {
        self.dir.join(SPARE_TEMP_NAME)
    }

    /// Step 2: the file at its temporary name, allocated and synced. On
    /// failure nothing is left (best effort; open removes a leftover).
    /// `Ok(false)`, with nothing made, when the file system has less than
    /// [`ROOM_FACTOR`] times the file's size free: near a full disk the
    /// room is the segments' and the writes' (a write makes its own file,
    /// smaller if it must), not a spare's.
    pub fn build(&self) -> io::Result<bool> {
        if let Some(free) = self.storage.free_space(&self.dir)? {
            if free / ROOM_FACTOR < self.size {
                return Ok(false);
            }
        }
        let tmp = self.temp_path();
        // A leftover of a job that failed after creating it.
        let _ = self.storage.remove_file(&tmp);
        let file = self.storage.open_file(&tmp, OpenMode::CreateNew)?;
        let res = file.allocate(self.size).and_then(|()| file.sync_data());
        drop(file);
        if res.is_err() {
            let _ = self.storage.remove_file(&tmp);
        }
        res.map(|()| true)
    }
}

/// A spare is made ahead only when the file system has this many times its
/// size free.
pub const ROOM_FACTOR: u64 = 8;
