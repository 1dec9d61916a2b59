//! Parquet export: one measurement's points of a time range, merged as
//! queries merge them, to a new file.
//!
//! Two scans of one snapshot: the first finds the columns (tag keys,
//! field keys and types), the second writes the rows. The snapshot is
//! verified before either, so damage is answered before a byte is written;
//! both scans see the same points (a snapshot's blocks and files never
//! change), whatever writes, seals and checkpoints run meanwhile.

use std::io;
use std::path::Path;

use crate::export::columns::{Layout, Seen};
use crate::export::output::{Output, OutputError};
use crate::export::parquet::{WriteError, Writer};

use super::scan::Snapshot;
use super::{Inner, Outcome};

pub fn export_parquet(
    inner: &Inner,
    database: &str,
    measurement: &str,
    start: i64,
    end: i64,
    path: &Path,
) -> Outcome {
    let snap = match Snapshot::take(inner, database, Some(measurement), start, end, true) {
        Ok(s) => s,
        Err(out) => return out,
    };
    // The caller's path before the checksums: a name already taken is
    // refused at once.
    let mut output = match Output::create(path) {
        Ok(o) => o,
        Err(e) => return output_error(&e),
    };
    if let Err(out) = snap.verify(inner) {
        return out;
    }

    let mut seen = Seen::default();
    let mut bad = false;
    let scanned = snap.scan(inner, &mut |p| {
        bad = seen.add(p.series, p.fields).is_err();
        !bad
    });
    if bad {
        return Outcome::error(500, "a stored series key does not split into tags");
    }
    if scanned.status != 200 {
        return scanned;
    }

    #[cfg(test)]
    if let Some(hook) = tests::BETWEEN_SCANS.lock().as_mut() {
        hook();
    }

    let Some(file) = output.take_file() else {
        return Outcome::error(500, "the export's file was taken twice");
    };
    let mut writer = match Writer::new(file, measurement, Layout::new(&seen)) {
        Ok(w) => w,
        Err(e) => return write_error(&e, path),
    };
    let mut failed = None;
    let scanned = snap.scan(inner, &mut |p| match writer.push(p.series, p.time, p.fields) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    });
    if let Some(e) = failed {
        return write_error(&e, path);
    }
    if scanned.status != 200 {
        return scanned;
    }
    let (file, rows) = match writer.finish() {
        Ok(done) => done,
        Err(e) => return write_error(&e, path),
    };
    match output.commit(file) {
        Ok(()) => Outcome::ok(200, rows),
        Err(e) => output_error(&e),
    }
}

/// The caller's path is wrong (it exists, its directory does not, it may
/// not be written, its name is too long): 400. Out of space or
/// descriptors: 503, a later export may succeed. Anything else the OS
/// refused: 500.
fn output_error(e: &OutputError) -> Outcome {
    match e {
        OutputError::Exists(_) => Outcome::error(400, e.to_string()),
        OutputError::Io { error, .. } => io_outcome(error, e.to_string()),
    }
}

fn io_outcome(error: &io::Error, message: String) -> Outcome {
    use io::ErrorKind as K;
    match error.kind() {
        K::NotFound
        | K::PermissionDenied
        | K::AlreadyExists
        | K::IsADirectory
        | K::NotADirectory
        | K::InvalidInput
        | K::InvalidFilename
        | K::ReadOnlyFilesystem => Outcome::error(400, message),
        _ if crate::storage::is_transient(error) => Outcome::unavailable(message),
        _ => Outcome::error(500, message),
    }
}

fn write_error(e: &WriteError, path: &Path) -> Outcome {
    let message = format!("{e}: writing {}", path.display());
    match e {
        WriteError::Io(error) => io_outcome(error, message),
        _ => Outcome::error(500, message),
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use crate::engine::{Engine, Options};
    use crate::line_protocol::Precision;

    /// Runs between the two scans of an export (the only export of the
    /// unit tests sets it).
    pub(super) static BETWEEN_SCANS: Mutex<Option<Box<dyn FnMut() + Send>>> = Mutex::new(None);

    #[test]
    fn a_write_between_the_two_scans_is_not_in_the_file() {
        let dir = std::env::temp_dir().join(format!("linedb-export-snap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = Options { no_auth: true, background_sealing: false, ..Options::default() };
        let e = std::sync::Arc::new(Engine::open(&dir, opts).unwrap());
        e.create_database("db").unwrap();
        assert_eq!(e.write("db", b"cpu,host=a v=1i 1\ncpu,host=b v=2i 2\n", Precision::Nanosecond).status, 204);
        // Between the scans: a new tag key, a new field, a new point, and
        // a later write of a point the file holds. The first scan saw
        // none of them; the second must not either (it would find a column
        // the file has not got, or another value than the first saw).
        let writer = std::sync::Arc::clone(&e);
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ran2 = std::sync::Arc::clone(&ran);
        *BETWEEN_SCANS.lock() = Some(Box::new(move || {
            let lines = b"cpu,host=a,zone=z w=1.5 3\ncpu,host=a v=9i 1\n";
            assert_eq!(writer.write("db", lines, Precision::Nanosecond).status, 204);
            ran2.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        let path = dir.join("out.parquet");
        let out = e.export_parquet("db", "cpu", 0, 100, &path);
        *BETWEEN_SCANS.lock() = None;
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!((out.status, out.count), (200, 2), "{}", out.message);
        // The file is the snapshot's: no `zone`, no `w`, and `v` of host
        // a is still 1 (read back by the parquet crate's own reader).
        use parquet::file::reader::FileReader;
        use parquet::record::RowAccessor;
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let names: Vec<String> =
            reader.metadata().file_metadata().schema().get_fields().iter().map(|f| f.name().to_owned()).collect();
        assert_eq!(names, ["time", "host", "v"]);
        let rows: Vec<(String, i64)> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.get_string(1).unwrap().clone(), r.get_long(2).unwrap())
            })
            .collect();
        assert_eq!(rows, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
        // And the store has the later writes.
        let mut lines = Vec::new();
        e.query("db", Some("cpu"), 0, 100, &mut |l| {
            lines.push(String::from_utf8_lossy(l).into_owned());
            true
        });
        assert_eq!(lines, ["cpu,host=a v=9i 1", "cpu,host=b v=2i 2", "cpu,host=a,zone=z w=1.5 3"]);
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
