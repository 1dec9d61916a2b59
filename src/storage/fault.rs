//! A storage that fails on demand: wraps another [`Storage`] and makes the
//! calls a test arms fail with the errno it chose, so tests can check what
//! the engine answers and leaves behind when the disk is full or broken.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{File, LockGuard, Map, OpenMode, Storage};

/// The calls a fault can be armed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Open,
    Write,
    Allocate,
    Sync,
    SyncDir,
    Rename,
    Remove,
    Map,
    /// msync of a mapping.
    Flush,
}

#[derive(Clone, Debug)]
struct Fault {
    op: Op,
    /// Only paths containing this text (all paths if empty).
    path_contains: String,
    errno: i32,
    /// Calls that still fail; `u32::MAX` is "until disarmed".
    remaining: u32,
}

/// What the wrapper shares with the files it opened.
#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Vec<Fault>>,
    /// (op, path text, delay) applied to every matching call.
    delays: Mutex<Vec<(Op, String, std::time::Duration)>>,
    /// (op, path text, calls seen) for every counter a test asked for.
    counts: Mutex<Vec<(Op, String, u64)>>,
}

/// A [`Storage`] whose calls fail (or are slowed, or counted) when armed.
#[derive(Debug)]
pub struct FaultStorage {
    inner: Arc<dyn Storage>,
    shared: Arc<Shared>,
}

impl FaultStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        FaultStorage { inner, shared: Arc::default() }
    }

    /// Makes the next `times` calls of `op` on paths containing
    /// `path_contains` fail with `errno` (`u32::MAX`: until disarmed).
    pub fn arm(&self, op: Op, path_contains: &str, errno: i32, times: u32) {
        self.shared.faults.lock().push(Fault { op, path_contains: path_contains.to_owned(), errno, remaining: times });
    }

    /// Removes every armed fault and delay.
    pub fn disarm(&self) {
        self.shared.faults.lock().clear();
        self.shared.delays.lock().clear();
    }

    /// Makes every call of `op` on matching paths take `delay` longer (a
    /// slow disk, so that concurrent writers pile up behind a sync).
    pub fn delay(&self, op: Op, path_contains: &str, delay: std::time::Duration) {
        self.shared.delays.lock().push((op, path_contains.to_owned(), delay));
    }

    /// Starts counting calls of `op` on matching paths; see [`FaultStorage::count`].
    pub fn start_counting(&self, op: Op, path_contains: &str) {
        self.shared.counts.lock().push((op, path_contains.to_owned(), 0));
    }

    /// Calls of `op` on paths containing `path_contains` since
    /// [`FaultStorage::start_counting`] with the same arguments.
    pub fn count(&self, op: Op, path_contains: &str) -> u64 {
        self.shared.counts.lock().iter().find(|c| c.0 == op && c.1 == path_contains).map_or(0, |c| c.2)
    }

    fn check(shared: &Shared, op: Op, path: &Path) -> io::Result<()> {
        let p = path.to_string_lossy();
        for c in shared.counts.lock().iter_mut().filter(|c| c.0 == op && p.contains(&c.1)) {
            c.2 += 1;
        }
        let delay: std::time::Duration =
            shared.delays.lock().iter().filter(|d| d.0 == op && p.contains(&d.1)).map(|d| d.2).sum();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut f = shared.faults.lock();
        if let Some(i) = f.iter().position(|f| f.op == op && f.remaining > 0 && p.contains(&f.path_contains)) {
            let errno = f[i].errno;
            if f[i].remaining != u32::MAX {
                f[i].remaining -= 1;
            }
            f.retain(|f| f.remaining > 0);
            return Err(io::Error::from_raw_os_error(errno));
        }
        Ok(())
    }
}

impl Storage for FaultStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>> {
        Self::check(&self.shared, Op::Open, path)?;
        let file = self.inner.open(path, mode)?;
        Ok(Box::new(FaultFile { file, path: path.to_owned(), shared: Arc::clone(&self.shared) }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        Self::check(&self.shared, Op::Rename, from)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        Self::check(&self.shared, Op::Remove, path)?;
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        Self::check(&self.shared, Op::SyncDir, path)?;
        self.inner.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        self.inner.list_dir(path)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(path)
    }
}

#[derive(Debug)]
struct FaultFile {
    file: Box<dyn File>,
    path: std::path::PathBuf,
    shared: Arc<Shared>,
}

impl File for FaultFile {
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FaultStorage::check(&self.shared, Op::Write, &self.path)?;
        self.file.write_at(buf, offset)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        if len > self.file.len()? {
            FaultStorage::check(&self.shared, Op::Allocate, &self.path)?;
        }
        self.file.allocate(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        FaultStorage::check(&self.shared, Op::Sync, &self.path)?;
        self.file.sync_data()
    }
    fn map(&self, len: usize) -> io::Result<Box<dyn Map>> {
        FaultStorage::check(&self.shared, Op::Map, &self.path)?;
        let map = self.file.map(len)?;
        Ok(Box::new(FaultMap { map, path: self.path.clone(), shared: Arc::clone(&self.shared) }))
    }
}

#[derive(Debug)]
struct FaultMap {
    map: Box<dyn Map>,
    path: std::path::PathBuf,
    shared: Arc<Shared>,
}

impl Map for FaultMap {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn flush(&self, offset: usize, len: usize) -> io::Result<()> {
        FaultStorage::check(&self.shared, Op::Flush, &self.path)?;
        self.map.flush(offset, len)
    }
}
