//! Reading and atomically replacing the catalog file through the storage
//! seam: write a temporary file, sync it, rename it over the old one, sync
//! the directory. A crash at any point leaves the old or the new catalog,
//! never a mix.

use std::io;
use std::path::Path;

use crate::error::OpenError;
use crate::storage::{OpenMode, Storage};

use super::format::{self, DecodeError};
use super::CatalogData;

pub const CATALOG_FILE: &str = "catalog";
pub const TEMP_FILE: &str = "catalog.tmp";

/// The catalog of the store in `dir`; `None` when it has none yet.
pub fn load(storage: &dyn Storage, dir: &Path) -> Result<Option<CatalogData>, OpenError> {
    let path = dir.join(CATALOG_FILE);
    let file = match storage.open_file(&path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = usize::try_from(file.length()?)
        .map_err(|_| OpenError::corrupt(&path, 0, "catalog file too large"))?;
    let mut bytes = vec![0u8; len];
    file.read_at(&mut bytes, 0)?;
    match format::decode(&bytes) {
        Ok(c) => Ok(Some(c)),
        Err(DecodeError::Corrupt(why, at)) => Err(OpenError::corrupt(path, at, why)),
        Err(DecodeError::Version(found)) => {
            Err(OpenError::Version { path, found, supported: format::FORMAT_VERSION })
        }
    }
}

/// Replaces the catalog of the store in `dir` with `c`, durably.
pub fn save(storage: &dyn Storage, dir: &Path, c: &CatalogData) -> io::Result<()> {
    let bytes = format::encode(c);
    let tmp = dir.join(TEMP_FILE);
    match storage.remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let file = storage.open_file(&tmp, OpenMode::CreateNew)?;
    file.write_at(&bytes, 0)?;
    file.sync_data()?;
    drop(file);
    storage.rename(&tmp, &dir.join(CATALOG_FILE))?;
    storage.sync_dir(dir)
}
