//! Errors of the storage engine, one enum per kind of operation.
//!
//! Write and query outcomes are not errors here: they are HTTP-like statuses
//! (`engine::WriteOutcome`), because a rejected batch is an ordinary answer.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a store could not be opened (or a file of it read back).
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// Another handle, in this process or another, holds the directory.
    Locked { dir: PathBuf },
    /// The operating system refused; the error names the file.
    Io(io::Error),
    /// Damage that recovery cannot repair without losing acknowledged data.
    Corrupt { path: PathBuf, offset: u64, reason: String },
    /// A file of a format version this build does not know.
    Version { path: PathBuf, found: u32, supported: u32 },
    /// A bad argument (an option out of range, a path that is not a directory).
    InvalidArgument(String),
}

impl OpenError {
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> OpenError {
        OpenError::Corrupt { path: path.into(), offset, reason: reason.into() }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The cause before the path, so that a message cut to fit a C
            // buffer keeps it.
            OpenError::Locked { dir } => write!(f, "locked by another handle: {}", dir.display()),
            OpenError::Io(e) => write!(f, "{e}"),
            OpenError::Corrupt { path, offset, reason } => {
                write!(f, "corrupt at offset {offset} ({reason}): {}", path.display())
            }
            OpenError::Version { path, found, supported } => write!(
                f,
                "format version {found}, this build reads version {supported}: {}",
                path.display()
            ),
            OpenError::InvalidArgument(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}
