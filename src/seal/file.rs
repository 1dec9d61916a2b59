//! A sealed file as an open store knows it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::columnar::{ReadError, Reader};
use crate::storage::{OpenMode, Storage};

/// What the store keeps of a sealed file while open: where it is and what
/// its checked footer said at open (or when it was written). The footer
/// itself is read again, and checked, by each reader: it is kilobytes, and
/// a store of 100,000 partitions could not keep them all in memory.
#[derive(Debug)]
pub struct SealedFile {
    pub path: PathBuf,
    /// Its number in the partition (`NNNNNN.col`).
    pub number: u32,
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
    /// The WAL sequences of the blocks it was made from: every block of
    /// the partition at or below `max_seq` is in it, or in an earlier
    /// sealed file.
    pub min_seq: u64,
    pub max_seq: u64,
    /// Its length in bytes.
    pub bytes: u64,
    /// Damage found in it (a chunk that failed its checksum): it is never
    /// read again while the store is open, and queries of its partition
    /// answer this.
    damage: Mutex<Option<String>>,
    /// Every chunk has been checked against its CRC since open.
    verified: AtomicBool,
}

impl SealedFile {
    /// The handle of a file whose footer `reader` has checked.
    pub fn from_reader(reader: &Reader, number: u32, bytes: u64) -> SealedFile {
        let f = reader.footer();
        SealedFile {
            path: reader.path().to_path_buf(),
            number,
            rows: f.rows,
            min_time: f.min_time,
            max_time: f.max_time,
            min_seq: f.min_seq,
            max_seq: f.max_seq,
            bytes,
            damage: Mutex::new(None),
            verified: AtomicBool::new(false),
        }
    }

    /// Opens it and checks its header (the partition's `key`) and footer.
    pub fn reader(&self, storage: &dyn Storage, key: &[u8]) -> Result<Reader, ReadError> {
        if let Some(d) = self.damage.lock().clone() {
            return Err(ReadError::Damaged(d));
        }
        let file = storage.open_file(&self.path, OpenMode::Read)?;
        let r = Reader::open(file, &self.path, key);
        if let Err(ReadError::Damaged(d)) = &r {
            self.set_damaged(d.clone());
        }
        r
    }

    /// Remembers damage found while reading it.
    pub fn set_damaged(&self, why: String) {
        self.damage.lock().get_or_insert(why);
    }

    /// Checks every chunk against its CRC, once per open (as a query
    /// does a segment's blocks before it answers from any of them), and
    /// remembers damage.
    pub fn ensure_verified(&self, reader: &Reader) -> Result<(), ReadError> {
        if self.verified.load(Ordering::Acquire) {
            return Ok(());
        }
        match reader.verify() {
            Ok(_) => {
                self.verified.store(true, Ordering::Release);
                Ok(())
            }
            Err(ReadError::Damaged(d)) => {
                self.set_damaged(d.clone());
                Err(ReadError::Damaged(d))
            }
            Err(e) => Err(e),
        }
    }

    pub fn damage(&self) -> Option<String> {
        self.damage.lock().clone()
    }
}

/// `NNNNNN.col`, numbered from 1 within a partition.
pub fn sealed_file(n: u32) -> String {
    format!("{n:06}.col")
}

/// The number of a sealed file's name, if it is one.
pub fn sealed_number(name: &str) -> Option<u32> {
    let n = name.strip_suffix(".col")?;
    if n.len() < 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The temporary name a sealed file is written under.
pub fn temp_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}
