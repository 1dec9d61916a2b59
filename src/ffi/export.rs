//! `linedb_export_parquet`: one measurement's points to a Parquet file.

use core::ffi::c_char;

use super::handle::{call_status, linedb};
use super::result::linedb_result;
use super::strings::{optional_str_arg, str_arg};

/// Writes the points of one measurement with start_ns <= time < end_ns to
/// a new Parquet file, for the engines that read Parquet (Spark, Trino,
/// DataFusion, DuckDB, pandas, InfluxDB 3). Points are merged as
/// linedb_query merges them (same measurement, tag set and time: one
/// point, the later write winning field by field), in time order.
///
/// Columns: "time", a timestamp in nanoseconds, UTC, never null; each tag
/// key, a UTF-8 string column, dictionary encoded (as Parquet writers do, a
/// column chunk whose distinct values pass 1 MiB goes on in plain
/// encoding), null where a series has no such tag; each field key, a column of its type (float: DOUBLE;
/// integer: INT64; unsigned: INT64 annotated as unsigned 64-bit; string:
/// UTF-8; boolean: BOOLEAN), null where a point has no such field. Names
/// are unescaped. Tags come first, then fields, each in name order. A
/// field that holds different types on different days (field types are
/// per partition, that is per measurement and UTC day) gets one column per
/// type, named "key::float", "key::integer", "key::unsigned", "key::string"
/// or "key::boolean"; a field named like a tag key gets "key::field"; a
/// name still taken gets "_1", "_2"... Pages are zstd compressed, in row
/// groups of at most 131,072 rows. The file's key-value metadata holds
/// "linedb:measurement" (the name) and "linedb:tags" and "linedb:fields"
/// (JSON arrays of column names). A whole partition is the range of its
/// UTC day: start_ns = day * 86400000000000, end_ns = start_ns +
/// 86400000000000.
///
/// The file is written under a temporary name in the same directory
/// (".linedb-export-PID-N.tmp"), synced, then given its name only if
/// nothing has that name yet (a hard link; on file systems without them, a
/// rename after a check), and the directory synced: an export never
/// overwrites a file, and a file at path is always complete and durable.
/// On any failure nothing is left at path. Memory: one row group of
/// buffered values (at most 131,072 rows or about 64 MiB), whatever the
/// range.
///
/// - db: an open handle.
/// - database, measurement: NUL-terminated UTF-8 names.
/// - token: token with read permission on database; NULL or "" is a missing
///   token (401) unless the store was opened with LINEDB_OPEN_NO_AUTH.
/// - path: NUL-terminated UTF-8, the file to make (relative to the current
///   directory unless absolute).
/// - result: NULL, or filled completely; count = rows written.
///   Every pointer is used during the call only; nothing is kept.
///
/// Returns the status, also in result->status: 200 written (an empty range
/// gives a valid file of no rows); 400 a NULL or non-UTF-8 argument, or
/// path exists, or it cannot be made (its directory missing or not
/// writable, its name too long: the message names it and the OS's
/// reason); 401 token missing,
/// malformed, unknown, revoked or without read permission; 404 no such
/// database, or no such measurement in it; 500 a stored block or chunk
/// failed its checksum (named in the message; nothing is written), the
/// store failed, the OS refused while writing, an internal error, or a
/// library built without Parquet export (cargo feature "parquet", on by
/// default); 503 out of space or file descriptors (retry_after_secs set).
///
/// Threading: any number of threads may export, query and write one handle
/// at once; an export sees whole batches only, and the same ones from its
/// first row to its last.
///
/// # Safety
///
/// db is NULL or an open handle; database, token, measurement and path
/// NULL or NUL-terminated; result NULL or a writable linedb_result.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn linedb_export_parquet(
    db: *mut linedb,
    database: *const c_char,
    token: *const c_char,
    measurement: *const c_char,
    start_ns: i64,
    end_ns: i64,
    path: *const c_char,
    result: *mut linedb_result,
) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call_status(db, result, |handle| {
            let database = str_arg(database, "database")?;
            let token = optional_str_arg(token, "token")?;
            let measurement = str_arg(measurement, "measurement")?;
            let path = std::path::Path::new(str_arg(path, "path")?);
            Ok(export(handle, database, token, measurement, start_ns, end_ns, path))
        })
    }
}

#[cfg(feature = "parquet")]
fn export(
    handle: &linedb,
    database: &str,
    token: Option<&str>,
    measurement: &str,
    start_ns: i64,
    end_ns: i64,
    path: &std::path::Path,
) -> crate::engine::Outcome {
    handle.engine().export_parquet_as(database, token, measurement, start_ns, end_ns, path)
}

#[cfg(not(feature = "parquet"))]
fn export(
    _: &linedb,
    _: &str,
    _: Option<&str>,
    _: &str,
    _: i64,
    _: i64,
    _: &std::path::Path,
) -> crate::engine::Outcome {
    crate::engine::Outcome::error(500, "this linedb was built without Parquet export (cargo feature \"parquet\")")
}
