//! The one seam for file I/O. The WAL, segments and catalog touch files only
//! through [`Storage`], [`File`] and [`Map`], so that tests can put a
//! simulated disk behind them (one that loses unsynced bytes or fails any
//! call) without the rest of the engine knowing.
//!
//! [`FsStorage`] is the real disk. Every method maps onto one system call (or
//! a short fixed sequence of them), and none retries: after a failed sync the
//! caller must assume the bytes it wrote are gone.

pub mod fault;
mod fs;
pub mod sim;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;

pub use fault::FaultStorage;
pub use fs::FsStorage;
pub use sim::SimStorage;

/// How [`Storage::open`] opens a file. Every mode but `Read` opens for
/// reading and writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, read only.
    Read,
    /// An existing file.
    ReadWrite,
    /// A new file; fails with `AlreadyExists` if there is one.
    CreateNew,
}

/// A held lock on a store's directory; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// A filesystem: the operations on names.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates a directory and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>>;
    /// Renames a file, replacing `to` if it exists (atomic on POSIX).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The names in a directory, in no order; `NotFound` if it does not exist.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// Takes an exclusive lock on `path` (created if missing), held until the
    /// guard is dropped. `Ok(None)` when someone else, in this process or
    /// another, holds it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>>;
}

/// An open file. Methods take `&self` so that one thread can append while
/// others read; callers keep their byte ranges apart.
#[allow(clippy::len_without_is_empty)] // a length, not a collection
pub trait File: Send + Sync + fmt::Debug {
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; `UnexpectedEof` if the file is too short.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file at least `len` bytes long with its blocks reserved on
    /// disk, so that later writes (and stores through a mapping) within
    /// `len` cannot fail for lack of space. New bytes read as zeros.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Makes the file's written bytes (and its length) durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Maps the first `len` bytes of the file for reading and writing. `len`
    /// may exceed the file's length: only the part within the file (as
    /// [`File::allocate`] made it) may be touched.
    fn map(&self, len: usize) -> io::Result<Box<dyn Map>>;
}

/// A shared, writable mapping of the start of a file.
///
/// The mapping stays valid (its address and length fixed) until dropped.
/// It gives out a raw pointer because readers and the one writer use it at
/// once, on disjoint ranges; the segment code that uses it states how it
/// keeps them apart.
#[allow(clippy::len_without_is_empty)] // a length, not a collection
pub trait Map: Send + Sync + fmt::Debug {
    /// The first byte of the mapping; valid for [`Map::len`] bytes.
    fn as_ptr(&self) -> *mut u8;
    fn len(&self) -> usize;
    /// Writes the range back to the file and waits for it (msync).
    fn flush(&self, offset: usize, len: usize) -> io::Result<()>;
}

/// Adds the path to an I/O error's message, keeping its kind and errno, so
/// that every error the engine reports names the file.
pub fn with_path(err: io::Error, what: &str, path: &Path) -> io::Error {
    let kind = err.kind();
    let errno = err.raw_os_error();
    let msg = format!("{what} {}: {err}", path.display());
    match errno {
        // Keep the OS code so callers can still tell ENOSPC from EIO.
        Some(code) => io::Error::new(io::Error::from_raw_os_error(code).kind(), OsError { code, msg }),
        None => io::Error::new(kind, msg),
    }
}

/// An OS error with a message naming the file; [`raw_errno`] finds the code.
#[derive(Debug)]
struct OsError {
    code: i32,
    msg: String,
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for OsError {}

/// The errno of an I/O error, also through [`with_path`].
pub fn raw_errno(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| err.get_ref()?.downcast_ref::<OsError>().map(|e| e.code))
}

/// Whether an I/O error means the disk (or quota) is full.
pub fn is_no_space(err: &io::Error) -> bool {
    matches!(raw_errno(err), Some(libc::ENOSPC) | Some(libc::EDQUOT)) || err.kind() == io::ErrorKind::StorageFull
}
