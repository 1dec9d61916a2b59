//! The one seam for file I/O. The WAL, segments and catalog touch files only
//! through [`Storage`], [`File`] and [`Map`], so that tests can put a
//! simulated disk behind them (one that loses unsynced bytes or fails any
//! call) without the rest of the engine knowing. That disk (`sim.rs`) and
//! the fault wrapper (`fault.rs`) are test tools: see `tests/kit/mod.rs`.
//!
//! Every fallible method is `#[track_caller]`: a wrapper such as
//! [`FaultStorage`] sees which line of the engine made the call, so tests can
//! fail each call site on its own and show that every site was reached (see
//! `tests/fault_sites.rs`). Callers name the methods distinctly (`open_file`,
//! `mmap`, `msync`...) so that the call sites can also be found in the
//! source text.
//!
//! [`FsStorage`] is the real disk. Every method maps onto one system call (or
//! a short fixed sequence of them), and none retries: after a failed sync the
//! caller must assume the bytes it wrote are gone.

// The simulated disk and fault injection: compiled here for the unit
// tests only; test and fuzz crates compile their own copy
// (`tests/kit/mod.rs`), so a release library never carries them.
#[cfg(test)]
pub mod fault;
mod fs;
#[cfg(test)]
pub mod sim;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;

#[cfg(test)]
pub use fault::FaultStorage;
pub use fs::FsStorage;
#[cfg(test)]
pub use sim::SimStorage;

/// How [`Storage::open_file`] opens a file. Every mode but `Read` opens for
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
    #[track_caller]
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Opens a file.
    #[track_caller]
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>>;
    /// Renames a file, replacing `to` if it exists (atomic on POSIX).
    #[track_caller]
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    #[track_caller]
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    #[track_caller]
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The names in a directory, in no order; `NotFound` if it does not exist.
    #[track_caller]
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// Takes an exclusive lock on `path` (created if missing), held until the
    /// guard is dropped. `Ok(None)` when someone else, in this process or
    /// another, holds it.
    #[track_caller]
    fn lock_file(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>>;
    /// Bytes an unprivileged writer may still allocate on the file system
    /// holding `path` (statvfs), or `None` where it cannot be known. Only
    /// for choices that can wait (making a spare file ahead of need), never
    /// for a promise: space can go between the check and the use.
    fn free_space(&self, _path: &Path) -> io::Result<Option<u64>> {
        Ok(None)
    }
}

/// An open file. Methods take `&self` so that one thread can append while
/// others read; callers keep their byte ranges apart.
#[allow(clippy::len_without_is_empty)] // a length, not a collection
pub trait File: Send + Sync + fmt::Debug {
    /// The file's length in bytes.
    #[track_caller]
    fn length(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; `UnexpectedEof` if the file is too short.
    #[track_caller]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    #[track_caller]
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file at least `len` bytes long with its blocks reserved on
    /// disk, so that later writes (and stores through a mapping) within
    /// `len` cannot fail for lack of space. New bytes read as zeros.
    #[track_caller]
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Makes the file's written bytes (and its length) durable.
    #[track_caller]
    fn sync_data(&self) -> io::Result<()>;
    /// Maps the first `len` bytes of the file for reading and writing. `len`
    /// may exceed the file's length: only the part within the file (as
    /// [`File::allocate`] made it) may be touched.
    #[track_caller]
    fn mmap(&self, len: usize) -> io::Result<Box<dyn Map>>;
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
    #[track_caller]
    fn msync(&self, offset: usize, len: usize) -> io::Result<()>;
}

/// Adds the path to an I/O error's message, keeping its kind and errno, so
/// that every error the engine reports names the file.
pub fn with_path(err: io::Error, what: &str, path: &Path) -> io::Error {
    let kind = err.kind();
    let errno = err.raw_os_error();
    // The cause first: a message cut to fit a C buffer keeps it even when
    // the path is long.
    let msg = format!("{err}: {what} {}", path.display());
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

/// Whether an I/O error is a shortage that passes: no space (blocks or
/// inodes), no file descriptor left (EMFILE, ENFILE), no address space or
/// map count (ENOMEM from mmap). A write refused for one of these answers
/// 503 and the store goes on; nothing about the page cache is in doubt.
pub fn is_transient(err: &io::Error) -> bool {
    is_no_space(err) || matches!(raw_errno(err), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM))
}
