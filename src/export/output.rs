//! An export's output file. It is written under a temporary name in the
//! same directory (`.linedb-export-PID-N.tmp`, short whatever the caller's
//! name), synced, then given its name by a hard link, which fails if
//! anything already has that name: an export never overwrites a file, and
//! a file at the caller's path is always complete and durable (if the
//! directory cannot be synced after the link, the link is undone and the
//! export fails). The temporary name is removed on every outcome; a crash
//! in the middle can leave one behind, never a partial file under the
//! caller's name. (Should removing the temporary name fail after the link,
//! the file keeps both names and the export still succeeds.)
//!
//! Where the file system has no hard links (FAT on an SD card), the file
//! is renamed instead, after checking that the name is free (a file made
//! under that name by someone else between the check and the rename would
//! be replaced).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the output could not be made.
#[derive(Debug)]
pub enum OutputError {
    /// Something already has the caller's name.
    Exists(PathBuf),
    /// The OS refused (the path and the step are in the message).
    Io { error: io::Error, what: String },
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Exists(p) => write!(f, "{} exists: an export never overwrites a file", p.display()),
            OutputError::Io { error, what } => write!(f, "{error}: {what}"),
        }
    }
}

fn io_error(error: io::Error, what: impl Into<String>) -> OutputError {
    OutputError::Io { error, what: what.into() }
}

/// A temporary file that becomes the caller's file at [`Output::commit`],
/// or is removed when dropped.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

/// Distinguishes the temporary names of exports running at once in one
/// process.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Output {
    /// Makes the temporary file beside `path`. Fails with
    /// [`OutputError::Exists`] at once if something has that name.
    pub fn create(path: &Path) -> Result<Output, OutputError> {
        if path.file_name().is_none() {
            let e = io::Error::from(io::ErrorKind::InvalidInput);
            return Err(io_error(e, format!("{}: not a file name", path.display())));
        }
        if fs::symlink_metadata(path).is_ok() {
            return Err(OutputError::Exists(path.to_path_buf()));
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = path.with_file_name(format!(".linedb-export-{}-{n}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| io_error(e, format!("creating {}", temp.display())))?;
        Ok(Output { path: path.to_path_buf(), temp, file: Some(file) })
    }

    /// The file to write to (taken once).
    pub fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    /// Syncs `file` (the one [`Output::take_file`] gave) and gives it the
    /// caller's name, durably.
    pub fn commit(mut self, file: File) -> Result<(), OutputError> {
        file.sync_all().map_err(|e| io_error(e, format!("syncing {}", self.temp.display())))?;
        drop(file);
        match fs::hard_link(&self.temp, &self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(OutputError::Exists(self.path.clone())),
            Err(e) if no_links(&e) => {
                if fs::symlink_metadata(&self.path).is_ok() {
                    return Err(OutputError::Exists(self.path.clone()));
                }
                fs::rename(&self.temp, &self.path)
                    .map_err(|e| io_error(e, format!("renaming {} to {}", self.temp.display(), self.path.display())))?;
            }
            Err(e) => return Err(io_error(e, format!("linking {} to {}", self.temp.display(), self.path.display()))),
        }
        // The caller's name holds the file now; the temporary name goes
        // (already gone after a rename), then the directory is synced so
        // that both changes survive a power cut.
        let _ = fs::remove_file(&self.temp);
        self.temp = PathBuf::new();
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let synced = File::open(&dir).and_then(|d| d.sync_all());
        if let Err(e) = synced {
            // Not known durable: not the caller's file. Ours to remove
            // (the name was free and the link made it).
            let _ = fs::remove_file(&self.path);
            return Err(io_error(e, format!("syncing directory {}", dir.display())));
        }
        Ok(())
    }
}

/// The file system cannot make hard links (`EPERM` on FAT, `ENOTSUP`,
/// `ENOSYS`).
fn no_links(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS))
}

impl Drop for Output {
    fn drop(&mut self) {
        self.file = None;
        if !self.temp.as_os_str().is_empty() {
            // Ours (made with create_new); nothing else to do if it fails.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("linedb-output-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_long_name_is_no_longer_for_the_temporary_file() {
        // 255 bytes: the longest name most file systems take. The
        // temporary name must not be longer.
        let d = dir();
        let path = d.join("x".repeat(247) + ".parquet");
        let mut out = Output::create(&path).unwrap();
        let f = out.take_file().unwrap();
        out.commit(f).unwrap();
        assert!(path.exists());
        assert_eq!(names(&d).len(), 1);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_committed_output_has_the_name_and_no_temporary_is_left() {
        let d = dir();
        let path = d.join("out.parquet");
        let mut out = Output::create(&path).unwrap();
        let mut f = out.take_file().unwrap();
        f.write_all(b"data").unwrap();
        out.commit(f).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"data");
        assert_eq!(names(&d), ["out.parquet"]);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let d = dir();
        let path = d.join("out.parquet");
        fs::write(&path, b"mine").unwrap();
        assert!(matches!(Output::create(&path), Err(OutputError::Exists(_))));
        // Made after the check: the link still refuses it.
        fs::remove_file(&path).unwrap();
        let mut out = Output::create(&path).unwrap();
        let f = out.take_file().unwrap();
        fs::write(&path, b"mine").unwrap();
        assert!(matches!(out.commit(f), Err(OutputError::Exists(_))));
        assert_eq!(fs::read(&path).unwrap(), b"mine");
        assert_eq!(names(&d), ["out.parquet"]);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_dropped_output_leaves_nothing() {
        let d = dir();
        let mut out = Output::create(&d.join("x.parquet")).unwrap();
        out.take_file().unwrap().write_all(b"half").unwrap();
        drop(out);
        assert!(names(&d).is_empty());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_it() {
        let d = dir();
        let err = Output::create(&d.join("no/such/x.parquet")).unwrap_err();
        assert!(matches!(&err, OutputError::Io { error, .. } if error.kind() == io::ErrorKind::NotFound));
        assert!(err.to_string().contains("no/such"), "{err}");
        fs::remove_dir_all(d).unwrap();
    }
}
