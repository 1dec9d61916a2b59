//! Opening the log: reading every file in number order, replaying the valid
//! records, and telling a torn tail (cut it) from corruption (refuse).
//!
//! The log is the records read file by file, each file from its header's
//! first sequence, each record the next sequence. A file's records end at
//! an all-zero record header (preallocated space, or the marker each append
//! leaves), at the end of the file, at a stale record (sequence below the
//! expected one: a leftover of a recycled file), or at a bad record.
//!
//! A bad record is a torn write only if nothing valid comes after it: no
//! record written once the bad one was known durable (its floor is above
//! the bad sequence) with a later sequence (above what the checkpoint
//! holds) in the rest of its file, and no later file continuing the log
//! other than exactly where it stopped. Records written while the bad one
//! was not yet durable (of its own append, or of one written while its
//! sync was under way) may have reached the disk before it, and none of
//! them was acknowledged. Otherwise opening fails with
//! [`OpenError::Corrupt`] naming the file and offset of the bad record: the
//! records after it prove it was written and acknowledged, and cutting
//! there would drop them.
//!
//! Sequences the checkpoint already holds (`<= after_seq`) are verified but
//! not replayed, and a gap among them is no loss: it is tolerated.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::error::OpenError;
use crate::storage::{File, OpenMode, Storage};

use super::format::{
    file_name, parse_file_name, parse_spare_name, parse_temp_name, spare_name, SPARE_TEMP_NAME, HeaderError, ALIGN, FILE_HEADER_LEN,
    FORMAT_VERSION,
};
use super::reader::{Entry, FileReader};
use super::writer::{free_spare_slot, zero_range, LiveFile, WriterState};
use super::Replay;

/// Where the log may have ended at a bad record.
#[derive(Debug)]
struct BadEnd {
    path: PathBuf,
    offset: u64,
    /// Bytes the bad record claims: zeroed if it is cut.
    span: u64,
    reason: &'static str,
    /// The file number it is in.
    number: u64,
}

/// A file after the end of the log (no valid records): recycled or removed.
#[derive(Debug)]
struct Orphan {
    path: PathBuf,
    /// Its length, if its header is good (it could become the spare).
    reusable_len: Option<u64>,
}

/// The last file with valid records, kept open: it may become current.
#[derive(Debug)]
struct Last {
    file: Box<dyn File>,
    index: usize,
}

/// The highest sequence the data holds (0: none), and the file that holds
/// it: the log must reach it (see `Wal::open_reaching`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MustReach<'a> {
    pub seq: u64,
    pub held_in: Option<&'a Path>,
}

/// Recovers the log in `dir` (created if missing).
#[allow(clippy::too_many_arguments)]
pub fn recover(
    storage: &dyn Storage,
    dir: &Path,
    file_size: u64,
    max_spares: usize,
    store_tag: u32,
    after_seq: u64,
    reach: MustReach<'_>,
    replay: Replay<'_>,
) -> Result<WriterState, OpenError> {
    storage.create_dir_all(dir)?;
    let scanned = scan(storage, dir, file_size, max_spares, store_tag, after_seq, reach, replay)?;
    settle(storage, dir, file_size, max_spares, scanned)
}

/// What [`scan`] found: the log, and what [`settle`] must tidy.
pub(super) struct Scanned {
    next_seq: u64,
    max_number: u64,
    spares: Vec<(usize, u64)>,
    leftovers: Vec<PathBuf>,
    live: Vec<LiveFile>,
    last: Option<Last>,
    pending_bad: Option<BadEnd>,
    orphans: Vec<Orphan>,
}

/// Reads the whole log, calling `replay` for each valid record past
/// `after_seq`, and decides every refusal, changing no file (it syncs the
/// files it replays from).
#[allow(clippy::too_many_arguments)]
pub(super) fn scan(
    storage: &dyn Storage,
    dir: &Path,
    file_size: u64,
    max_spares: usize,
    store_tag: u32,
    after_seq: u64,
    reach: MustReach<'_>,
    replay: Replay<'_>,
) -> Result<Scanned, OpenError> {
    let MustReach { seq: must_reach, held_in } = reach;
    let mut numbers = Vec::new();
    let mut max_number = 0u64;
    let mut spares: Vec<(usize, u64)> = Vec::new();
    // Files to remove, once nothing refuses the open.
    let mut leftovers = Vec::new();
    for name in storage.list_dir(dir)? {
        if let Some(n) = parse_file_name(&name) {
            numbers.push(n);
            max_number = max_number.max(n);
        } else if let Some(n) = parse_temp_name(&name) {
            // A file whose creation did not finish: never part of the log.
            leftovers.push(dir.join(&name));
            max_number = max_number.max(n);
        } else if name == SPARE_TEMP_NAME {
            // A spare made ahead whose making did not finish.
            leftovers.push(dir.join(&name));
        } else if let Some(slot) = parse_spare_name(&name) {
            let path = dir.join(&name);
            let len = storage.open_file(&path, OpenMode::Read)?.length()?;
            if len >= file_size && slot < max_spares {
                spares.push((slot, len));
            } else {
                // Too small to be reused at this file size, or more spares
                // than the log now keeps.
                leftovers.push(path);
            }
        }
    }
    numbers.sort_unstable();

    let mut scan =
        Scan { after_seq, store_tag, expected: None, pending_bad: None, live: Vec::new(), last: None, orphans: Vec::new() };
    for (i, &number) in numbers.iter().enumerate() {
        scan.file(storage, dir, number, i + 1 == numbers.len(), replay)?;
    }
    let Scan { expected, pending_bad, mut live, last, orphans, .. } = scan;

    // Files after the last one with records hold nothing: the end of the log.
    let last_index = last.as_ref().map(|l| l.index);
    let mut orphans = orphans;
    let tail = live.split_off(last_index.map_or(0, |i| i + 1));
    orphans.extend(
        tail.into_iter().map(|f| Orphan { path: dir.join(file_name(f.number)), reusable_len: Some(f.capacity) }),
    );

    let next_seq = expected.unwrap_or(0).max(after_seq.saturating_add(1));
    // The data holds sequences up to `must_reach`, each of whose records
    // was durable before any block of it was written: a log that ends
    // before it lost records (damaged, or deleted). Refused before any
    // file of the log is cut, recycled or removed.
    if next_seq <= must_reach {
        return Err(match &pending_bad {
            Some(bad) => OpenError::corrupt(
                &bad.path,
                bad.offset,
                format!("{}; the data holds sequence {must_reach}, past the log's end", bad.reason),
            ),
            None => OpenError::corrupt(
                held_in.unwrap_or(dir),
                0,
                format!(
                    "holds sequence {must_reach}, but the catalog covers up to {after_seq} and the write-ahead log ends before it"
                ),
            ),
        });
    }
    Ok(Scanned { next_seq, max_number, spares, leftovers, live, last, pending_bad, orphans })
}

/// Tidies what [`scan`] found, once nothing refuses the open: removes
/// leftovers, cuts a torn tail, recycles or removes the files past the end.
impl Scanned {
    /// The sequence the next record gets.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

fn settle(
    storage: &dyn Storage,
    dir: &Path,
    file_size: u64,
    max_spares: usize,
    scanned: Scanned,
) -> Result<WriterState, OpenError> {
    let Scanned { next_seq, max_number, mut spares, leftovers, live, last, pending_bad, orphans } = scanned;
    let mut dir_changed = false;
    for path in leftovers {
        storage.remove_file(&path)?;
        dir_changed = true;
    }
    let mut current = None;
    if let Some(last) = last {
        let tail_live = live.last().copied();
        if let Some(tail_live) = tail_live {
            // A bad record ending the last file with records is a torn tail:
            // cut it, zeroing its bytes so no later recovery reads them.
            if let Some(bad) = pending_bad.as_ref().filter(|b| b.number == tail_live.number) {
                zero_range(&*last.file, bad.offset, bad.span)?;
                last.file.sync_data()?;
            }
            if tail_live.end_seq == next_seq {
                current = Some(std::sync::Arc::from(last.file));
            }
        }
    }

    for orphan in orphans {
        let slot = free_spare_slot(&spares, max_spares).filter(|_| orphan.reusable_len == Some(file_size));
        match slot {
            Some(slot) => {
                storage.rename(&orphan.path, &dir.join(spare_name(slot)))?;
                spares.push((slot, file_size));
            }
            _ => storage.remove_file(&orphan.path)?,
        }
        dir_changed = true;
    }
    if dir_changed {
        storage.sync_dir(dir)?;
    }

    Ok(WriterState {
        files: live.into_iter().collect::<VecDeque<_>>(),
        current,
        next_seq,
        next_number: max_number + 1,
        spares,
    })
}

/// The state of the scan across files.
struct Scan {
    after_seq: u64,
    /// What every file's header must say wrote it.
    store_tag: u32,
    /// The sequence the log continues with: one past the last valid record.
    expected: Option<u64>,
    /// The first bad record not yet shown to be a file's harmless end.
    pending_bad: Option<BadEnd>,
    /// Files with a good header, in order.
    live: Vec<LiveFile>,
    last: Option<Last>,
    orphans: Vec<Orphan>,
}

impl Scan {
    fn file(
        &mut self,
        storage: &dyn Storage,
        dir: &Path,
        number: u64,
        newest: bool,
        replay: Replay<'_>,
    ) -> Result<(), OpenError> {
        let path = dir.join(file_name(number));
        let file = storage.open_file(&path, OpenMode::ReadWrite)?;
        let len = file.length()?;
        let mut reader = FileReader::new(&*file, len);
        let header = match reader.header()? {
            Ok(h) => h,
            Err(HeaderError::Version(found)) => {
                return Err(OpenError::Version { path, found, supported: FORMAT_VERSION });
            }
            Err(HeaderError::Bad(reason)) => {
                // A torn creation if it is the newest file and holds nothing.
                let min_seq = self.expected.unwrap_or(0).max(self.after_seq.saturating_add(1));
                let found = reader.find_valid(FILE_HEADER_LEN, min_seq, 0)?;
                if newest && found.is_none() {
                    self.orphans.push(Orphan { path, reusable_len: None });
                    return Ok(());
                }
                let reason = match found {
                    Some((o, s)) => format!("{reason}; a valid record (sequence {s}) is at offset {o}"),
                    None => format!("{reason}; later WAL files exist"),
                };
                return Err(OpenError::corrupt(path, 0, reason));
            }
        };
        if header.number != number {
            return Err(OpenError::corrupt(path, 0, format!("header names file number {}", header.number)));
        }
        if header.store_tag != self.store_tag {
            return Err(OpenError::corrupt(
                path,
                0,
                format!("a log file of another store (its header's store tag is {:#x})", header.store_tag),
            ));
        }

        let first_seq = header.first_seq;
        let mut exp = first_seq;
        let mut off = FILE_HEADER_LEN;
        let mut count = 0u64;
        let mut bad: Option<BadEnd> = None;
        let mut replayed = false;
        loop {
            match reader.entry_at(off)? {
                Entry::Record { seq, payload, size, .. } => {
                    if seq < exp {
                        break; // stale: a leftover of the file's previous life
                    }
                    if seq > exp {
                        return Err(OpenError::corrupt(
                            &path,
                            off,
                            format!("expected sequence {exp}, found {seq}: records are missing"),
                        ));
                    }
                    if count == 0 {
                        self.continues(&path, first_seq)?;
                    }
                    if seq > self.after_seq {
                        // What is replayed reaches the segments and becomes
                        // visible, so it must be durable first: records
                        // written before a process crash (or a failed
                        // fdatasync) can still be only in the page cache.
                        // Synced before the first replay from the file, so
                        // that a power cut can never keep the segment
                        // blocks of a record it takes from the log.
                        if !replayed {
                            file.sync_data()?;
                            replayed = true;
                        }
                        replay(seq, payload)?;
                    }
                    count += 1;
                    off += size;
                    let Some(next) = exp.checked_add(1) else {
                        return Err(OpenError::corrupt(&path, off, "sequence overflow"));
                    };
                    exp = next;
                }
                Entry::Zero | Entry::Eof => break,
                Entry::Bad { reason, span } => {
                    let min_seq = exp.max(self.after_seq.saturating_add(1));
                    // Only a record written after the bad one was known
                    // durable proves it was synced.
                    if let Some((o, s)) = reader.find_valid(off + ALIGN, min_seq, exp)? {
                        return Err(OpenError::corrupt(
                            &path,
                            off,
                            format!("{reason}, but a valid record (sequence {s}) follows at offset {o}"),
                        ));
                    }
                    bad = Some(BadEnd { path: path.clone(), offset: off, span, reason, number });
                    break;
                }
            }
        }
        drop(reader);

        // A file without records holds nothing: its empty range is where
        // the log stands, whatever its header claims, so that it never
        // holds back trimming the files after it.
        let at = self.expected.unwrap_or(0).max(self.after_seq.saturating_add(1));
        let end_seq = if count > 0 { exp } else { exp.min(at) };
        self.live.push(LiveFile { number, first_seq, end_seq, end: off, capacity: len });
        if count > 0 {
            self.expected = Some(exp);
            self.last = Some(Last { file, index: self.live.len() - 1 });
        }
        if self.pending_bad.is_none() {
            self.pending_bad = bad;
        }
        Ok(())
    }

    /// Checks that a file whose first record is `first_seq` continues the
    /// log: right where it stopped, or after a gap the checkpoint covers.
    fn continues(&mut self, path: &Path, first_seq: u64) -> Result<(), OpenError> {
        let covered = first_seq <= self.after_seq.saturating_add(1);
        let ok = match self.expected {
            Some(e) => first_seq == e || (first_seq > e && covered),
            None => covered,
        };
        if ok {
            // A bad record before is the harmless end of an earlier file.
            self.pending_bad = None;
            return Ok(());
        }
        if let Some(bad) = self.pending_bad.take() {
            return Err(OpenError::corrupt(
                bad.path,
                bad.offset,
                format!("{}, but valid records follow in {}", bad.reason, path.display()),
            ));
        }
        let reason = match self.expected {
            Some(e) if first_seq > e => {
                format!("sequence gap: the log holds up to {}, this file starts at {first_seq}", e - 1)
            }
            Some(e) => format!("this file starts at sequence {first_seq}, but earlier files hold up to {}", e - 1),
            None => format!(
                "the log starts at sequence {first_seq}, but the checkpoint holds only up to {}",
                self.after_seq
            ),
        };
        Err(OpenError::corrupt(path, FILE_HEADER_LEN, reason))
    }
}
