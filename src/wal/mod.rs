//! The write-ahead log: every batch becomes one record, framed with its
//! length, sequence and CRC32, appended to preallocated files in `wal/`, and
//! made durable by [`Wal::sync`] before the batch is acknowledged.
//!
//! - `format`: the bytes (file header, record framing, names).
//! - `writer`: appending, preallocation, rotation, syncing, trimming.
//! - `reader`: reading the records of one file with bounded memory.
//! - `recovery`: opening: replay, torn tail (cut) versus corruption (refuse).
//!
//! The engine drives the log from one thread at a time (the group-commit
//! leader), so [`Wal`] has no locking of its own: its methods take
//! `&mut self`.
//!
//! # Files
//!
//! `NNNNNNNN.wal` (increasing file numbers), each preallocated to
//! [`WalOptions::file_size`] when created, so appends within it cannot meet
//! a full disk. A file starts with a header naming its number and the
//! sequence of its first record; records follow with consecutive sequences,
//! and the sequences continue from file to file. `NNNNNNNN.wal.tmp` is a
//! file being created (removed at open); `spare.wal` and `spare-K.wal` are
//! trimmed files kept to be recycled as the next files (up to
//! [`WalOptions::spares`] of them), so steady writing does not allocate;
//! `spare.wal.tmp` is a spare being made ahead of need (`ahead.rs`;
//! removed at open).

mod ahead;
mod format;
mod reader;
mod recovery;
pub mod scrub;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::error::OpenError;
use crate::storage::Storage;

pub use format::{record_size, store_tag, FORMAT_VERSION, MAX_PAYLOAD_LEN};
pub use recovery::MustReach;

/// The most bytes a record takes beyond its payload (header and padding):
/// a record of `n` payload bytes adds at most `n + RECORD_OVERHEAD` to
/// [`Wal::backlog_bytes`] (exactly [`record_size`]`(n)`).
pub const RECORD_OVERHEAD: u64 = format::RECORD_HEADER_LEN + format::ALIGN - 1;

pub use ahead::SpareJob;
pub use writer::SyncTicket;
use writer::Writer;

/// The smallest [`WalOptions::file_size`] accepted.
pub const MIN_FILE_SIZE: u64 = 256;

/// How the log lays out its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Preallocated size of each WAL file, in bytes (rounded up to a
    /// multiple of 8; at least [`MIN_FILE_SIZE`]). A record that does not
    /// fit in a file of this size gets a file of its own, sized to fit.
    pub file_size: u64,
    /// Trimmed files kept for reuse, at most (at least 1). A rotation that
    /// finds a spare renames it into place instead of making and zeroing a
    /// file inside the write; the engine keeps as many as the files written
    /// between two checkpoints, so that none is made in between.
    pub spares: usize,
    /// Which store the log belongs to (`format::store_tag` of its id; 0
    /// for a store without one): new files carry it, and open refuses a
    /// file that carries another.
    pub store_tag: u32,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { file_size: 64 << 20, spares: 1, store_tag: 0 }
    }
}

/// Why an append failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum WalError {
    /// No space to create (or grow) a WAL file, or another shortage that
    /// passes (no file descriptor, no memory for a mapping). Nothing was
    /// written; the log is unchanged and usable (the next append gets the
    /// same sequence).
    NoSpace(io::Error),
    /// Anything else (including an empty or over-large payload, rejected
    /// before anything is written). After an I/O failure the log refuses
    /// further appends and syncs: treat it as failed.
    Io(io::Error),
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::NoSpace(e) => write!(f, "cannot make a write-ahead log file now: {e}"),
            WalError::Io(e) => write!(f, "write-ahead log: {e}"),
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::NoSpace(e) | WalError::Io(e) => Some(e),
        }
    }
}

impl From<WalError> for io::Error {
    fn from(e: WalError) -> io::Error {
        match e {
            WalError::NoSpace(e) | WalError::Io(e) => e,
        }
    }
}

/// What [`Wal::open`] calls for each record to replay: `(seq, payload)`.
pub type Replay<'a> = &'a mut dyn FnMut(u64, &[u8]) -> Result<(), OpenError>;

/// The size of each file of the log: `opts.file_size` rounded up to the
/// record alignment, at least [`MIN_FILE_SIZE`].
fn file_size(opts: &WalOptions) -> Result<u64, OpenError> {
    if opts.file_size < MIN_FILE_SIZE {
        return Err(OpenError::InvalidArgument(format!(
            "WAL file size {} is below the minimum of {MIN_FILE_SIZE} bytes",
            opts.file_size
        )));
    }
    opts.file_size
        .checked_next_multiple_of(format::ALIGN)
        .ok_or_else(|| OpenError::InvalidArgument(format!("WAL file size {} is too large", opts.file_size)))
}

/// The write-ahead log of one store.
#[derive(Debug)]
pub struct Wal {
    writer: Writer,
}

impl Wal {
    /// Opens (creating if missing) the WAL directory `dir`, recovers, and
    /// calls `replay(seq, payload)` for every valid record with
    /// `seq > after_seq`, in sequence order. Returns the log positioned to
    /// append after the last valid record.
    ///
    /// A torn record at the end of the log is cut. A bad record followed by
    /// a valid later one, or a gap in sequences above `after_seq`, is
    /// [`OpenError::Corrupt`] naming the file and offset; a file of an
    /// unknown format version is [`OpenError::Version`]. If replay fails its
    /// error is returned (records before it were already replayed).
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        opts: WalOptions,
        after_seq: u64,
        replay: Replay<'_>,
    ) -> Result<Wal, OpenError> {
        Wal::open_reaching(storage, dir, opts, after_seq, MustReach::default(), replay)
    }

    /// [`Wal::open`] for a log whose records up to `reach.seq` were
    /// durable (the data holds blocks of them, written only after their
    /// records were synced; `reach.held_in` names the file that holds the
    /// highest): a log that ends before it, at a bad record or at all, is
    /// [`OpenError::Corrupt`], refused before any file of the log is cut,
    /// recycled or removed, so no sequence the data holds is ever handed
    /// out again.
    pub fn open_reaching(
        storage: Arc<dyn Storage>,
        dir: &Path,
        opts: WalOptions,
        after_seq: u64,
        reach: MustReach<'_>,
        replay: Replay<'_>,
    ) -> Result<Wal, OpenError> {
        let file_size = file_size(&opts)?;
        let spares = opts.spares.max(1);
        let state = recovery::recover(&*storage, dir, file_size, spares, opts.store_tag, after_seq, reach, replay)?;
        Ok(Wal { writer: Writer::new(storage, dir, file_size, spares, opts.store_tag, state) })
    }

    /// Reads the log as [`Wal::open_reaching`] does, calling `replay` for
    /// each record past `after_seq`, and refuses what it would refuse, but
    /// changes no file (it syncs the files it replays from, as open does):
    /// so that a store's open can decide every refusal before it changes
    /// anything. Returns the sequence the next record would get.
    pub fn check_reaching(
        storage: &dyn Storage,
        dir: &Path,
        opts: WalOptions,
        after_seq: u64,
        reach: MustReach<'_>,
        replay: Replay<'_>,
    ) -> Result<u64, OpenError> {
        let file_size = file_size(&opts)?;
        recovery::scan(storage, dir, file_size, opts.spares.max(1), opts.store_tag, after_seq, reach, replay)
            .map(|s| s.next_seq())
    }

    /// Creates (or recycles) the file the next append will write to, if
    /// there is none: the engine calls it after opening and after each
    /// checkpoint, so that a write does not pay for a file creation (two
    /// fdatasyncs and zeroing the file). Failing changes nothing.
    pub fn prepare(&mut self) -> io::Result<()> {
        self.writer.prepare()
    }

    /// Removes spare files until at most `keep` are left, best effort. The
    /// engine keeps one spare while open and sheds it at close, so that a
    /// closed store's log holds no file.
    pub fn shed_spares(&mut self, keep: usize) {
        self.writer.shed_spares(keep);
    }

    /// A spare to make ahead of need, if the log keeps fewer spares than it
    /// may: [`SpareJob::build`] it without the log held, then
    /// [`Wal::adopt_spare`]. One job at a time.
    pub fn spare_job(&self) -> Option<SpareJob> {
        self.writer.spare_job()
    }

    /// Whether the log keeps fewer spares than it may ([`Wal::spare_job`]
    /// would give a job).
    pub fn wants_spare(&self) -> bool {
        self.writer.wants_spare()
    }

    /// Takes the file a [`SpareJob`] built as a spare (true), or removes it
    /// if none is wanted any more (false).
    pub fn adopt_spare(&mut self, job: &SpareJob) -> io::Result<bool> {
        self.writer.adopt_spare(job)
    }

    /// Sets the size of the files made from now on ([`WalOptions::file_size`]'s
    /// rules); the files made before keep theirs. A spare smaller than it
    /// is no longer reused (it is removed at the next open).
    pub fn set_file_size(&mut self, size: u64) -> Result<(), OpenError> {
        let size = file_size(&WalOptions { file_size: size, ..WalOptions::default() })?;
        self.writer.set_file_size(size);
        Ok(())
    }

    /// Sequence the next appended record gets (last valid seq + 1;
    /// `after_seq + 1` if the log is empty).
    pub fn next_seq(&self) -> u64 {
        self.writer.next_seq()
    }

    /// Appends records with consecutive sequences starting at
    /// [`Wal::next_seq`], in one write per file. Not durable until
    /// [`Wal::sync`]. Returns the sequence of the first record.
    ///
    /// [`WalError::NoSpace`]: no space to create a new WAL file; nothing was
    /// written and the log is unchanged and usable. [`WalError::Io`]:
    /// anything else; the caller treats the log as failed.
    pub fn append(&mut self, payloads: &[&[u8]]) -> Result<u64, WalError> {
        self.writer.append(payloads)
    }

    /// fdatasync of the current file and of every file written since the
    /// last sync. An error is final: the log refuses further work.
    pub fn sync(&mut self) -> io::Result<()> {
        self.writer.sync()
    }

    /// [`Wal::sync`] to run later, outside whatever lock guards the log, so
    /// that the next append can be written while it runs. See
    /// [`SyncTicket`] for what it covers and how to treat its failure.
    pub fn sync_ticket(&mut self) -> SyncTicket {
        self.writer.sync_ticket()
    }

    /// fdatasyncs of records since open (each commit group's, and a
    /// rotation's of the file it leaves); not file creations.
    pub fn record_syncs(&self) -> u64 {
        self.writer.record_syncs()
    }

    /// Bytes of records in live WAL files (not yet trimmed): the backlog
    /// that `max_wal_bytes` bounds.
    pub fn backlog_bytes(&self) -> u64 {
        self.writer.backlog_bytes()
    }

    /// Removes (or keeps one, to recycle) every WAL file all of whose
    /// records have `seq <= upto`, never the file being appended to, and
    /// syncs the directory.
    pub fn trim(&mut self, upto: u64) -> io::Result<()> {
        self.writer.trim(upto)
    }
}
