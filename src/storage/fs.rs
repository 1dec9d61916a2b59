//! The real disk: `std::fs`, `posix_fallocate` and memmap2.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use memmap2::{MmapOptions, MmapRaw};

use super::{with_path, File, LockGuard, Map, OpenMode, Storage};

/// The operating system's filesystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsStorage;

impl Storage for FsStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path).map_err(|e| with_path(e, "create directory", path))
    }

    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>> {
        let mut o = fs::OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
        };
        let file = o.open(path).map_err(|e| with_path(e, "open", path))?;
        Ok(Box::new(FsFile { file, path: path.display().to_string() }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to).map_err(|e| with_path(e, "rename", from))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path).map_err(|e| with_path(e, "remove", path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        fs::File::open(path)
            .and_then(|d| d.sync_all())
            .map_err(|e| with_path(e, "sync directory", path))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path).map_err(|e| with_path(e, "list", path))? {
            names.push(entry.map_err(|e| with_path(e, "list", path))?.file_name());
        }
        Ok(names)
    }

    fn lock_file(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| with_path(e, "open", path))?;
        // flock semantics: a second open file description, in this process
        // or another, cannot take it while this one holds it.
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(FsLock { _file: file }))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(with_path(e, "lock", path)),
        }
    }

    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        let dir = fs::File::open(path).map_err(|e| with_path(e, "open", path))?;
        // SAFETY: an all-zero statvfs is a valid value of the plain C
        // struct (integers only), and fstatvfs gets a descriptor `dir`
        // keeps open for the call and a pointer to that struct, which it
        // fills.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe { libc::fstatvfs(dir.as_raw_fd(), &raw mut st) };
        if rc != 0 {
            return Err(with_path(io::Error::last_os_error(), "statvfs", path));
        }
        // Both are 32 bits wide on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
        Ok(Some(free))
    }
}

#[derive(Debug)]
struct FsLock {
    // Closing the file releases the lock.
    _file: fs::File,
}

impl LockGuard for FsLock {}

#[derive(Debug)]
struct FsFile {
    file: fs::File,
    /// For error messages.
    path: String,
}

impl FsFile {
    fn err(&self, what: &str, e: io::Error) -> io::Error {
        with_path(e, what, Path::new(&self.path))
    }
}

impl File for FsFile {
    fn length(&self) -> io::Result<u64> {
        self.file.metadata().map(|m| m.len()).map_err(|e| self.err("stat", e))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| self.err("read", e))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset).map_err(|e| self.err("write", e))
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let cur = self.length()?;
        if len <= cur {
            return Ok(());
        }
        let (Ok(off), Ok(add)) = (libc::off_t::try_from(cur), libc::off_t::try_from(len - cur)) else {
            return Err(self.err("allocate", io::Error::from_raw_os_error(libc::EFBIG)));
        };
        // SAFETY: posix_fallocate takes a file descriptor, which `self.file`
        // keeps open for the duration of the call, and two integers; it
        // touches no memory of ours.
        let rc = unsafe { libc::posix_fallocate(self.file.as_raw_fd(), off, add) };
        if rc != 0 {
            // posix_fallocate returns the error number instead of setting errno.
            return Err(self.err("allocate", io::Error::from_raw_os_error(rc)));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| self.err("sync", e))
    }

    fn mmap(&self, len: usize) -> io::Result<Box<dyn Map>> {
        let map = MmapOptions::new().len(len).map_raw(&self.file).map_err(|e| self.err("map", e))?;
        Ok(Box::new(FsMap { map, path: self.path.clone() }))
    }
}

#[derive(Debug)]
struct FsMap {
    map: MmapRaw,
    path: String,
}

impl Map for FsMap {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn msync(&self, offset: usize, len: usize) -> io::Result<()> {
        self.map.flush_range(offset, len).map_err(|e| with_path(e, "msync", Path::new(&self.path)))
    }
}
