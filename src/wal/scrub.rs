//! Scrubbing the log: reading back every record of the live files and
//! checking it, for `linedb_verify`. Records are never rewritten once
//! appended, and files are trimmed only by checkpoints, which the caller
//! holds off; so the records below the end captured under the log's lock
//! stay what they were while they are read, with writes going on after them.

use std::io;
use std::path::PathBuf;

use crate::storage::{OpenMode, Storage};

use super::format::FILE_HEADER_LEN;
use super::reader::{Entry, FileReader};
use super::Wal;

/// A live file and the end of its records when the list was taken.
#[derive(Clone, Debug)]
pub struct LiveExtent {
    pub path: PathBuf,
    pub end: u64,
}

/// What [`scrub_file`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileScrub {
    pub records: u64,
    pub bytes: u64,
    /// Offset and reason of the first bad record (or header); reading
    /// stops there, since the records' framing cannot be trusted past it.
    pub damage: Option<(u64, &'static str)>,
}

impl Wal {
    /// The live files and where their records end now.
    pub fn live_extents(&self) -> Vec<LiveExtent> {
        self.writer.live_files().map(|(path, end)| LiveExtent { path, end }).collect()
    }
}

/// Reads the header and every record of `e.path` below `e.end`.
pub fn scrub_file(storage: &dyn Storage, e: &LiveExtent) -> io::Result<FileScrub> {
    let file = storage.open_file(&e.path, OpenMode::Read)?;
    let len = file.length()?;
    let mut r = FileReader::new(&*file, len);
    let mut out = FileScrub { bytes: FILE_HEADER_LEN.min(len), ..FileScrub::default() };
    if let Err(err) = r.header()? {
        out.damage = Some((0, match err {
            super::format::HeaderError::Version(_) => "file header of an unknown format version",
            super::format::HeaderError::Bad(reason) => reason,
        }));
        return Ok(out);
    }
    let mut at = FILE_HEADER_LEN;
    while at < e.end {
        match r.entry_at(at)? {
            Entry::Record { size, .. } => {
                out.records += 1;
                out.bytes += size;
                at += size;
            }
            Entry::Bad { reason, .. } => {
                out.damage = Some((at, reason));
                break;
            }
            Entry::Zero | Entry::Eof => {
                out.damage = Some((at, "records end before the log's end"));
                break;
            }
        }
    }
    Ok(out)
}
