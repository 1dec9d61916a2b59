//! Appending: placing records in files, creating (or recycling) and
//! preallocating files before anything is written into them, syncing, and
//! trimming.
//!
//! The rules that make a full disk harmless:
//! - Every file is allocated to its full capacity when it is created, and
//!   records are written only within it, so writing a record never needs
//!   new space.
//! - An append first creates every file it needs (header written, file and
//!   directory synced), then writes records. If a file cannot be created
//!   the ones created by this call are removed, nothing has been written,
//!   and the append fails with [`WalError::NoSpace`].

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::storage::{is_no_space, File, OpenMode, Storage};

use super::ahead::SpareJob;
use super::format::{
    encode_record, file_name, record_size, temp_name, FileHeader, FILE_HEADER_LEN, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN,
    RECORD_HEADER_USIZE, spare_name,
};
use super::WalError;

/// The most buffer capacity kept between appends.
const KEEP_BUF: usize = 1 << 20;

/// A live WAL file (not yet trimmed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveFile {
    pub number: u64,
    /// The header's first sequence.
    pub first_seq: u64,
    /// One past the sequence of its last record (if it has none, at most
    /// `first_seq`: where the log stood at it, as recovery found it).
    pub end_seq: u64,
    /// Offset just past its last record: where the next one goes.
    pub end: u64,
    /// Its length: records are written only below it.
    pub capacity: u64,
}

impl LiveFile {
    /// Bytes of records in the file.
    pub fn record_bytes(&self) -> u64 {
        self.end.saturating_sub(FILE_HEADER_LEN)
    }
}

/// The state recovery hands to the writer.
#[derive(Debug)]
pub struct WriterState {
    /// Live files in number (and sequence) order.
    pub files: VecDeque<LiveFile>,
    /// The last of `files`, open, when appends may continue in it: its
    /// `end_seq` is `next_seq`. `None`: the next append starts a new file.
    pub current: Option<Arc<dyn File>>,
    pub next_seq: u64,
    pub next_number: u64,
    /// The spare files: (slot, capacity).
    pub spares: Vec<(usize, u64)>,
}

/// The lowest spare slot not in use, if fewer than `max` spares are kept.
pub fn free_spare_slot(spares: &[(usize, u64)], max: usize) -> Option<usize> {
    if spares.len() >= max {
        return None;
    }
    (0..max).find(|slot| spares.iter().all(|(s, _)| s != slot))
}

/// The appending side of the log.
#[derive(Debug)]
pub struct Writer {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    file_size: u64,
    /// What the header of every file it makes says wrote it.
    store_tag: u32,
    files: VecDeque<LiveFile>,
    current: Option<Arc<dyn File>>,
    next_seq: u64,
    next_number: u64,
    /// The spare files, (slot, capacity); the last is used first.
    spares: Vec<(usize, u64)>,
    max_spares: usize,
    backlog: u64,
    synced: Arc<Synced>,
    buf: Vec<u8>,
    /// The current file's sync descriptions, made by the first ticket for it.
    sync_files: Option<Arc<SyncFiles>>,
}

/// What the writer and its outstanding [`SyncTicket`]s share.
#[derive(Debug)]
struct Synced {
    /// Every record with a lower sequence is durable: a sync that began
    /// after it was written has returned. Only the current file can hold
    /// records at or above it (an append that moves on to a new file syncs
    /// the one before first).
    below: AtomicU64,
    /// Set by a failed write or sync: the log refuses further work, since
    /// what is on disk is no longer known.
    failed: AtomicBool,
    /// fdatasyncs of records run so far (tickets and rotations): with the
    /// acknowledged writes, how well commits are grouped.
    syncs: AtomicU64,
}

/// An fdatasync of the records appended so far, taken under the caller's
/// lock and run outside it ([`SyncTicket::run`]), so that the next append
/// can be written while this sync is under way.
///
/// Several may run at once; each covers every record appended before it
/// was taken (an fdatasync covers every write that returned before it
/// began). No two run on one file description at once: the kernel reports
/// a writeback error once per open file description, so two syncs through
/// one description could see one error between them, and the one that saw
/// none would claim pages durable that the error was about. The
/// descriptions are kept between syncs ([`SyncFiles`]): opening one per
/// sync cost about a fifth of a one-line write's CPU time.
/// A failure marks the log failed; the caller must also treat it as a
/// failure of every later ticket (the engine acknowledges in sequence
/// order, and nothing after a failure).
#[derive(Debug)]
#[must_use = "a ticket does nothing until run"]
pub struct SyncTicket {
    storage: Arc<dyn Storage>,
    /// The file its records are in (earlier files were synced when the log
    /// moved on from them); `None` if there is none.
    files: Option<Arc<SyncFiles>>,
    /// One past the last record it covers.
    upto: u64,
    synced: Arc<Synced>,
}

/// File descriptions of one WAL file, open for syncing it and idle.
///
/// Invariant: a description is in `idle` or held by exactly one running
/// sync, never both, so no two syncs share one. A sync takes an idle one
/// or opens a new one, and gives it back only when its sync succeeded (a
/// failed sync fails the log, and the description is closed). Each
/// description reports a writeback error once, to the first sync on it
/// after the error, whether it was opened before the error or after.
///
/// The pool starts with the writer's own description of the file, so a
/// sync never needs a descriptor the process may not have: when opening
/// one fails for want of descriptors (EMFILE, ENFILE), the sync waits for
/// a running one to give its description back. The writer's rotation sync
/// of the file goes through the pool too.
#[derive(Debug)]
struct SyncFiles {
    /// The file's number in the log, and its path.
    number: u64,
    path: PathBuf,
    idle: parking_lot::Mutex<Vec<Arc<dyn File>>>,
    /// Signalled when a description is given back.
    returned: parking_lot::Condvar,
}

/// The most idle sync descriptions kept per file: one per sync that can
/// run at once in the engine's pipeline, with room to spare.
const KEEP_SYNC_FILES: usize = 4;

impl SyncFiles {
    fn new(number: u64, path: PathBuf, own: Arc<dyn File>) -> SyncFiles {
        SyncFiles { number, path, idle: parking_lot::Mutex::new(vec![own]), returned: parking_lot::Condvar::new() }
    }

    fn sync(&self, storage: &dyn Storage, failed: &AtomicBool) -> io::Result<()> {
        let file = self.take(storage, failed)?;
        file.sync_data()?;
        let mut idle = self.idle.lock();
        if idle.len() < KEEP_SYNC_FILES {
            idle.push(file);
        }
        self.returned.notify_one();
        Ok(())
    }

    /// An idle description, or a new one, or (out of descriptors) the
    /// next one a running sync gives back.
    fn take(&self, storage: &dyn Storage, failed: &AtomicBool) -> io::Result<Arc<dyn File>> {
        loop {
            if let Some(f) = self.idle.lock().pop() {
                return Ok(f);
            }
            match storage.open_file(&self.path, OpenMode::Read) {
                Ok(f) => return Ok(Arc::from(f)),
                Err(e) if crate::storage::is_transient(&e) => {
                    let mut idle = self.idle.lock();
                    if idle.is_empty() {
                        if failed.load(Ordering::Acquire) {
                            return Err(failed_error());
                        }
                        // A running sync gives its description back (or
                        // fails the log); the timeout only rechecks that.
                        self.returned.wait_for(&mut idle, std::time::Duration::from_millis(10));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl SyncTicket {
    /// Runs the fdatasync (nothing if every record it covers is durable
    /// already). An error is final: the log refuses further work.
    pub fn run(self) -> io::Result<()> {
        if self.synced.failed.load(Ordering::Acquire) {
            return Err(failed_error());
        }
        if self.synced.below.load(Ordering::Acquire) >= self.upto {
            return Ok(());
        }
        if let Some(files) = &self.files {
            self.synced.syncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = files.sync(self.storage.as_ref(), &self.synced.failed) {
                self.synced.failed.store(true, Ordering::Release);
                return Err(e);
            }
        }
        self.synced.below.fetch_max(self.upto, Ordering::AcqRel);
        Ok(())
    }
}

/// Where a run of records of one append goes.
#[derive(Debug)]
struct Part {
    /// Index into the new files of the append, or `None` for the current file.
    new_file: Option<usize>,
    /// Offset of the first record.
    start: u64,
    /// Payload indices `[first, last)`.
    first: usize,
    last: usize,
    /// Bytes of records.
    bytes: u64,
}

/// A file created by an append, before any record is written to it.
#[derive(Debug)]
struct Created {
    live: LiveFile,
    file: Arc<dyn File>,
    recycled: bool,
}

fn failed_error() -> io::Error {
    io::Error::other("the write-ahead log failed earlier; reopen the store")
}

fn invalid(msg: &str) -> WalError {
    WalError::Io(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()))
}

impl Writer {
    pub fn new(
        storage: Arc<dyn Storage>,
        dir: &Path,
        file_size: u64,
        max_spares: usize,
        store_tag: u32,
        state: WriterState,
    ) -> Writer {
        let backlog = state.files.iter().map(LiveFile::record_bytes).sum();
        Writer {
            storage,
            dir: dir.to_path_buf(),
            file_size,
            store_tag,
            files: state.files,
            current: state.current,
            next_seq: state.next_seq,
            next_number: state.next_number,
            spares: state.spares,
            max_spares,
            backlog,
            // Recovery synced every file it kept records from.
            synced: Arc::new(Synced {
                below: AtomicU64::new(state.next_seq),
                failed: AtomicBool::new(false),
                syncs: AtomicU64::new(0),
            }),
            buf: Vec::new(),
            sync_files: None,
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Each live file's path and the offset just past its last record.
    pub fn live_files(&self) -> impl Iterator<Item = (std::path::PathBuf, u64)> + '_ {
        self.files.iter().map(|f| (self.dir.join(super::format::file_name(f.number)), f.end))
    }

    pub fn backlog_bytes(&self) -> u64 {
        self.backlog
    }

    /// fdatasyncs of records since open (see `Synced::syncs`).
    pub fn record_syncs(&self) -> u64 {
        self.synced.syncs.load(Ordering::Relaxed)
    }

    fn failed(&self) -> bool {
        self.synced.failed.load(Ordering::Acquire)
    }

    fn set_failed(&self) {
        self.synced.failed.store(true, Ordering::Release);
    }

    /// Whether the current file holds records not known to be durable.
    fn current_dirty(&self) -> bool {
        self.synced.below.load(Ordering::Acquire) < self.next_seq
    }

    pub fn append(&mut self, payloads: &[&[u8]]) -> Result<u64, WalError> {
        if self.failed() {
            return Err(WalError::Io(failed_error()));
        }
        let first_seq = self.next_seq;
        if payloads.is_empty() {
            return Ok(first_seq);
        }
        for p in payloads {
            if p.is_empty() {
                return Err(invalid("a WAL record cannot be empty"));
            }
            if p.len() as u64 > MAX_PAYLOAD_LEN {
                return Err(invalid("a WAL record is larger than 4 GiB"));
            }
        }
        let Some(end_seq) = first_seq.checked_add(payloads.len() as u64) else {
            return Err(invalid("WAL sequence numbers are exhausted"));
        };
        // A record stores the distance down to its floor in 32 bits. Only
        // billions of records appended without a sync could pass it.
        if end_seq - self.synced.below.load(Ordering::Acquire).min(first_seq) > u64::from(u32::MAX) {
            return Err(invalid("more than 4 billion WAL records are waiting for a sync"));
        }

        // New files are preallocated at `file_size`; when the disk has less
        // room, smaller ones are tried, down to what the records need, so a
        // store keeps taking writes on a nearly full disk.
        let mut file_size = self.file_size;
        let (parts, created) = loop {
            let (parts, plans) = self.plan(payloads, first_seq, file_size);
            match self.create_files(&plans) {
                Ok(created) => break (parts, created),
                Err(e) if is_no_space(&e) && file_size > 0 && !plans.is_empty() => {
                    file_size = if file_size > 64 * 1024 { file_size / 4 } else { 0 };
                }
                Err(e) => return Err(self.creation_failed(e)),
            }
        };
        if let Err((e, in_sync)) = self.write_parts(payloads, first_seq, &parts, &created) {
            // A full disk refusing a write (as a thin-provisioned or
            // compressed filesystem can, even within preallocated space)
            // is a 503 like any other lack of space, provided the bytes it
            // may have left are durably gone. A failed sync is not: the
            // log fails.
            let undone = self.undo_durably(&parts, created);
            if !in_sync && is_no_space(&e) && undone.is_ok() {
                return Err(WalError::NoSpace(e));
            }
            self.set_failed();
            return Err(WalError::Io(e));
        }
        self.commit(payloads.len(), &parts, created);
        Ok(first_seq)
    }

    /// Places the records: in the current file while they fit, then in new
    /// files of `file_size` (or bigger, for a record that needs it).
    fn plan(&self, payloads: &[&[u8]], first_seq: u64, file_size: u64) -> (Vec<Part>, Vec<LiveFile>) {
        let mut parts: Vec<Part> = Vec::new();
        let mut plans: Vec<LiveFile> = Vec::new();
        let (mut off, mut cap) = match (&self.current, self.files.back()) {
            (Some(_), Some(f)) => (f.end, f.capacity),
            _ => (0, 0),
        };
        let mut have_part = false;
        if self.current.is_some() {
            parts.push(Part { new_file: None, start: off, first: 0, last: 0, bytes: 0 });
            have_part = true;
        }
        for (i, p) in payloads.iter().enumerate() {
            let size = record_size(p.len() as u64);
            if !have_part || off.saturating_add(size) > cap {
                let capacity = file_size.max(FILE_HEADER_LEN + size);
                let seq = first_seq + i as u64;
                plans.push(LiveFile {
                    number: self.next_number + plans.len() as u64,
                    first_seq: seq,
                    end_seq: seq,
                    end: FILE_HEADER_LEN,
                    capacity,
                });
                parts.push(Part {
                    new_file: Some(plans.len() - 1),
                    start: FILE_HEADER_LEN,
                    first: i,
                    last: i,
                    bytes: 0,
                });
                have_part = true;
                off = FILE_HEADER_LEN;
                cap = capacity;
            }
            if let Some(part) = parts.last_mut() {
                part.last = i + 1;
                part.bytes += size;
            }
            off += size;
        }
        parts.retain(|p| p.last > p.first);
        (parts, plans)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates every planned file, durable and empty. On failure removes
    /// the ones it made (best effort) and changes nothing else.
    fn create_files(&mut self, plans: &[LiveFile]) -> io::Result<Vec<Created>> {
        let mut created: Vec<Created> = Vec::with_capacity(plans.len());
        for plan in plans {
            match self.create_file(plan) {
                Ok(c) => created.push(c),
                Err(e) => {
                    self.remove_created(created);
                    return Err(e);
                }
            }
        }
        Ok(created)
    }

    fn create_file(&mut self, plan: &LiveFile) -> io::Result<Created> {
        let header = FileHeader { number: plan.number, first_seq: plan.first_seq, store_tag: self.store_tag }.encode();
        let final_path = self.path(&file_name(plan.number));
        while let Some(&(slot, spare_cap)) = self.spares.last() {
            if spare_cap < plan.capacity {
                break;
            }
            match self.recycle(slot, &header, &final_path) {
                Ok(file) => {
                    let file: Arc<dyn File> = Arc::from(file);
                    self.spares.pop();
                    let live = LiveFile { capacity: spare_cap, ..*plan };
                    return Ok(Created { live, file, recycled: true });
                }
                // The spare is gone: try the next, or create a file.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.spares.pop();
                }
                Err(e) => return Err(e),
            }
        }
        let tmp = self.path(&temp_name(plan.number));
        // A leftover of an earlier failed attempt.
        let _ = self.storage.remove_file(&tmp);
        let file = self.storage.open_file(&tmp, OpenMode::CreateNew)?;
        let mut renamed = false;
        let res = (|| {
            // Allocated, not written: zeros over the whole file would make
            // the first fdatasync into each block cheaper (allocated blocks
            // are "unwritten" extents on ext4 and XFS, and a write into one
            // commits the journal: a 750 KB append + fdatasync measured
            // 3.4 ms, 2.2 ms into zeroed blocks), but would write every
            // byte of the log twice, and flash wears out. Recycled files
            // are written already. A zero record header after the file
            // header ends the log whatever the file system reads back.
            file.allocate(plan.capacity)?;
            let mut head = Vec::with_capacity(header.len() + RECORD_HEADER_USIZE);
            head.extend_from_slice(&header);
            head.extend_from_slice(&[0u8; RECORD_HEADER_USIZE]);
            file.write_at(&head, 0)?;
            file.sync_data()?;
            self.storage.rename(&tmp, &final_path)?;
            renamed = true;
            self.storage.sync_dir(&self.dir)
        })();
        match res {
            Ok(()) => Ok(Created { live: *plan, file: Arc::from(file), recycled: false }),
            Err(e) => {
                drop(file);
                let _ = self.storage.remove_file(if renamed { &final_path } else { &tmp });
                Err(e)
            }
        }
    }

    /// Turns the spare into the file `final_path`: new header (and a zero
    /// record header after it, so the file reads as empty), synced, then
    /// renamed into place and the directory synced.
    fn recycle(&self, slot: usize, header: &[u8], final_path: &Path) -> io::Result<Box<dyn File>> {
        let spare = self.path(&spare_name(slot));
        let file = self.storage.open_file(&spare, OpenMode::ReadWrite)?;
        let mut head = Vec::with_capacity(header.len() + RECORD_HEADER_USIZE);
        head.extend_from_slice(header);
        head.extend_from_slice(&[0u8; RECORD_HEADER_USIZE]);
        file.write_at(&head, 0)?;
        file.sync_data()?;
        self.storage.rename(&spare, final_path)?;
        if let Err(e) = self.storage.sync_dir(&self.dir) {
            let _ = self.storage.rename(final_path, &spare);
            return Err(e);
        }
        Ok(file)
    }

    fn free_spare_slot(&self) -> Option<usize> {
        free_spare_slot(&self.spares, self.max_spares)
    }

    /// Undoes the creations of a failed append (best effort): a recycled
    /// file goes back to being the spare, a new one is removed.
    fn remove_created(&mut self, created: Vec<Created>) {
        if created.is_empty() {
            return;
        }
        for c in created.into_iter().rev() {
            drop(c.file);
            let path = self.path(&file_name(c.live.number));
            let slot = self.free_spare_slot();
            if c.recycled && slot.is_some_and(|s| self.storage.rename(&path, &self.path(&spare_name(s))).is_ok()) {
                self.spares.extend(slot.map(|s| (s, c.live.capacity)));
            } else {
                let _ = self.storage.remove_file(&path);
            }
        }
        let _ = self.storage.sync_dir(&self.dir);
    }

    fn creation_failed(&mut self, e: io::Error) -> WalError {
        if crate::storage::is_transient(&e) {
            WalError::NoSpace(e)
        } else {
            self.set_failed();
            WalError::Io(e)
        }
    }

    /// Writes each part in one write: its records, then (if there is room)
    /// an all-zero record header, so the log's end reads as a clean end even
    /// in a recycled file full of old bytes.
    ///
    /// Before the first write into a new file, the file before it is synced
    /// (once per rotation): otherwise a crash could keep the new file's
    /// records and tear the old file's, which recovery must then report as
    /// corruption (a bad record followed by valid ones).
    ///
    /// Each record carries its *floor* (as `group_back`, the distance down
    /// to it): the lowest sequence not yet known durable when the record
    /// was written. A crash may keep any subset of the pages written since
    /// the floor (this append's, and those of appends whose syncs are still
    /// under way), so recovery takes a valid record after a bad one as
    /// proof of corruption only when the record's floor is above the bad
    /// one. Records in a new file have this append's first sequence as
    /// their floor: the files before were synced just before.
    fn write_parts(
        &mut self,
        payloads: &[&[u8]],
        first_seq: u64,
        parts: &[Part],
        created: &[Created],
    ) -> Result<(), (io::Error, bool)> {
        let mut buf = std::mem::take(&mut self.buf);
        let current_dirty = self.current_dirty();
        let current_number = self.current.as_ref().and(self.files.back()).map(|f| f.number);
        let floor = self.synced.below.load(Ordering::Acquire).min(first_seq);
        let mut in_sync = false;
        let res = (|| {
            let mut prev: Option<&Arc<dyn File>> = None;
            for part in parts {
                let floor = if part.new_file.is_some() {
                    in_sync = true;
                    match (prev, &self.current) {
                        (Some(p), _) => {
                            self.synced.syncs.fetch_add(1, Ordering::Relaxed);
                            self.sync_file(p, current_number)?;
                        }
                        (None, Some(c)) if current_dirty => {
                            self.synced.syncs.fetch_add(1, Ordering::Relaxed);
                            self.sync_file(c, current_number)?;
                        }
                        _ => {}
                    }
                    in_sync = false;
                    self.synced.below.fetch_max(first_seq, Ordering::AcqRel);
                    first_seq
                } else {
                    floor
                };
                let (file, capacity) = match part.new_file {
                    Some(i) => (&created[i].file, created[i].live.capacity),
                    None => match (&self.current, self.files.back()) {
                        (Some(f), Some(live)) => (f, live.capacity),
                        _ => return Err(io::Error::other("WAL has no current file")),
                    },
                };
                buf.clear();
                for (i, p) in payloads.iter().enumerate().take(part.last).skip(part.first) {
                    let len = u32::try_from(p.len()).map_err(|_| io::Error::other("WAL record too large"))?;
                    let seq = first_seq + i as u64;
                    // `append` checked that every distance fits.
                    let back = u32::try_from(seq - floor).map_err(|_| io::Error::other("WAL record floor too far back"))?;
                    encode_record(&mut buf, seq, back, len, p);
                }
                if part.start + part.bytes + RECORD_HEADER_LEN <= capacity {
                    buf.extend_from_slice(&[0u8; RECORD_HEADER_USIZE]);
                }
                file.write_at(&buf, part.start)?;
                prev = Some(file);
            }
            Ok(())
        })();
        buf.clear();
        buf.shrink_to(KEEP_BUF);
        self.buf = buf;
        res.map_err(|e| (e, in_sync))
    }

    /// fdatasync of `f`, a file this writer holds. The current file (number
    /// `current_number`) is synced through its pool of sync descriptions
    /// when it has one: the pool holds the writer's own description of it,
    /// which a ticket's sync may be using now, and no two syncs may run on
    /// one description at once. Other files (made by the running append)
    /// have no tickets, so their own description is free.
    fn sync_file(&self, f: &Arc<dyn File>, current_number: Option<u64>) -> io::Result<()> {
        let is_current = self.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, f));
        match self.sync_files.as_ref().filter(|p| is_current && Some(p.number) == current_number) {
            Some(pool) => pool.sync(self.storage.as_ref(), &self.synced.failed),
            None => f.sync_data(),
        }
    }

    /// After a failed write, zeroes what this append may have written to
    /// the current file (synced) and removes the files it created (the
    /// directory synced), so that no crash can bring back records the
    /// caller was told failed. The log goes on where it stood.
    fn undo_durably(&mut self, parts: &[Part], created: Vec<Created>) -> io::Result<()> {
        if let Some(f) = &self.current {
            let capacity = self.files.back().map_or(0, |l| l.capacity);
            let mut zeroed = false;
            for part in parts.iter().filter(|p| p.new_file.is_none()) {
                // The record bytes and the zero header written after them
                // (if it fitted).
                let len = (part.bytes + RECORD_HEADER_LEN).min(capacity.saturating_sub(part.start));
                zero_range(&**f, part.start, len)?;
                zeroed = true;
            }
            if zeroed {
                let number = self.files.back().map(|l| l.number);
                self.sync_file(f, number)?;
            }
        }
        if !created.is_empty() {
            for c in created {
                drop(c.file);
                self.storage.remove_file(&self.path(&file_name(c.live.number)))?;
            }
            self.storage.sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn commit(&mut self, count: usize, parts: &[Part], created: Vec<Created>) {
        let mut created: Vec<Option<Created>> = created.into_iter().map(Some).collect();
        for part in parts {
            let records = (part.last - part.first) as u64;
            if let Some(i) = part.new_file {
                let Some(c) = created.get_mut(i).and_then(Option::take) else { continue };
                // The file before was synced by write_parts.
                self.files.push_back(c.live);
                self.current = Some(c.file);
                self.next_number = self.next_number.max(c.live.number + 1);
            }
            if let Some(live) = self.files.back_mut() {
                live.end += part.bytes;
                live.end_seq += records;
            }
            self.backlog += part.bytes;
        }
        self.next_seq += count as u64;
    }

    /// Makes the file the next append goes to, if there is none, so that
    /// the append does not pay for creating it. On error nothing changed
    /// and the next append tries again.
    pub fn prepare(&mut self) -> io::Result<()> {
        if self.failed() || self.current.is_some() {
            return Ok(());
        }
        let plan = LiveFile {
            number: self.next_number,
            first_seq: self.next_seq,
            end_seq: self.next_seq,
            end: FILE_HEADER_LEN,
            capacity: self.file_size,
        };
        let mut created = self.create_files(&[plan])?;
        if let Some(c) = created.pop() {
            self.files.push_back(c.live);
            self.current = Some(c.file);
            self.next_number = self.next_number.max(c.live.number + 1);
        }
        Ok(())
    }

    /// Files made from now on get `size` bytes (already checked and
    /// rounded); the files made before keep theirs.
    pub fn set_file_size(&mut self, size: u64) {
        self.file_size = size;
    }

    /// A spare to make ahead of need, if the log keeps fewer than it may
    /// (and is not failed): see `ahead.rs`.
    pub fn spare_job(&self) -> Option<SpareJob> {
        if !self.wants_spare() {
            return None;
        }
        Some(SpareJob { storage: Arc::clone(&self.storage), dir: self.dir.clone(), size: self.file_size })
    }

    pub fn wants_spare(&self) -> bool {
        !self.failed() && self.spares.len() < self.max_spares
    }

    /// Takes the file `job` built as a spare: true if it became one; false
    /// if none is wanted any more (or the size changed), and it was
    /// removed. A failed rename leaves it to be removed at the next job or
    /// open.
    pub fn adopt_spare(&mut self, job: &SpareJob) -> io::Result<bool> {
        let tmp = job.temp_path();
        let slot = self.free_spare_slot().filter(|_| !self.failed() && job.size == self.file_size);
        let Some(slot) = slot else {
            let _ = self.storage.remove_file(&tmp);
            return Ok(false);
        };
        self.storage.rename(&tmp, &self.path(&spare_name(slot)))?;
        self.spares.push((slot, job.size));
        Ok(true)
    }

    /// Removes spare files until at most `keep` are left (best effort: a
    /// spare that cannot be removed now is found again at the next open).
    pub fn shed_spares(&mut self, keep: usize) {
        while self.spares.len() > keep {
            let Some((slot, _)) = self.spares.pop() else { break };
            let _ = self.storage.remove_file(&self.path(&spare_name(slot)));
        }
    }

    /// A sync of every record appended so far, to run now or outside the
    /// caller's lock.
    pub fn sync_ticket(&mut self) -> SyncTicket {
        self.current_sync_files();
        SyncTicket {
            storage: Arc::clone(&self.storage),
            files: self.sync_files.clone(),
            upto: self.next_seq,
            synced: Arc::clone(&self.synced),
        }
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.sync_ticket().run()
    }

    /// Makes `sync_files` the current file's pool (seeded with the
    /// writer's own description of it), or `None` when there is no current
    /// file. Replacing the pool of the file before closes its descriptions
    /// once the last ticket for it is done.
    fn current_sync_files(&mut self) {
        let current = match (&self.current, self.files.back()) {
            (Some(f), Some(live)) => Some((live.number, Arc::clone(f))),
            _ => None,
        };
        if self.sync_files.as_ref().map(|f| f.number) != current.as_ref().map(|c| c.0) {
            self.sync_files =
                current.map(|(number, own)| Arc::new(SyncFiles::new(number, self.path(&file_name(number)), own)));
        }
    }

    pub fn trim(&mut self, upto: u64) -> io::Result<()> {
        let mut changed = false;
        let spares_before = self.spares.len();
        let res = self.trim_files(upto, &mut changed);
        if changed {
            if let Err(e) = self.storage.sync_dir(&self.dir) {
                // The renames to spare names may not be durable. Reusing
                // one of those files (a new header written into it, then
                // renamed) could leave it, after a power cut, under its
                // old name with a header naming another file: forget them.
                // They stay on disk, and are reused after the next open
                // under whatever name is durable then.
                self.spares.truncate(spares_before);
                return Err(e);
            }
        }
        res
    }

    fn trim_files(&mut self, upto: u64, changed: &mut bool) -> io::Result<()> {
        // When the checkpoint covers every record, retire the file being
        // appended to as well (the next append starts a new one), so that a
        // checkpoint always brings the backlog to zero and `max_wal_bytes`
        // can be smaller than a WAL file. Its records are synced: the
        // engine syncs every append before acknowledging it.
        if self.current.is_some() && !self.current_dirty() && self.next_seq <= upto.saturating_add(1) {
            self.current = None;
        }
        loop {
            // Never the file being appended to.
            let keep = usize::from(self.current.is_some());
            if self.files.len() <= keep {
                return Ok(());
            }
            let Some(&f) = self.files.front() else { return Ok(()) };
            // All of its records (up to end_seq - 1) are at or below upto.
            if f.end_seq > upto.saturating_add(1) {
                return Ok(());
            }
            let path = self.path(&file_name(f.number));
            let slot = self.free_spare_slot().filter(|_| f.capacity == self.file_size);
            if let Some(slot) = slot {
                self.storage.rename(&path, &self.path(&spare_name(slot)))?;
                self.spares.push((slot, f.capacity));
            } else {
                self.storage.remove_file(&path)?;
            }
            *changed = true;
            self.files.pop_front();
            self.backlog = self.backlog.saturating_sub(f.record_bytes());
        }
    }
}

/// Writes zeros over `[offset, offset + len)`.
pub fn zero_range(file: &dyn File, offset: u64, len: u64) -> io::Result<()> {
    const CHUNK: u64 = 64 * 1024;
    let zeros = [0u8; 64 * 1024];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let n_usize = usize::try_from(n).map_err(|_| io::Error::other("chunk too large"))?;
        file.write_at(&zeros[..n_usize], offset + done)?;
        done += n;
    }
    Ok(())
}
