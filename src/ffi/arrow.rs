//! `linedb_influxql_arrow`: one InfluxQL statement's answer through the
//! Arrow C Stream Interface.

use core::ffi::{c_char, c_void};

use super::handle::{call_status, linedb};
use super::influxql::linedb_query_options;
use super::result::linedb_result;
#[cfg(feature = "arrow")]
use super::strings::{optional_str_arg, str_arg};

/// Runs one InfluxQL statement (the subset of linedb_influxql) and hands
/// its answer over as an Arrow C stream (the Arrow C Stream Interface,
/// struct ArrowArrayStream, declared in this header when the Arrow
/// headers are not included first): record batches that pyarrow
/// (RecordBatchReader._import_from_c), Polars, DuckDB and nanoarrow take
/// without a copy through text.
///
/// The stream's schema: "time" (timestamp, nanoseconds, UTC, never null)
/// when the statement's rows have a time; then one UTF-8 column per GROUP
/// BY tag key (the series' value on each row; named "key::tag" when the
/// statement has a column of that name); then the statement's columns,
/// each typed by its values (float64, int64, uint64, utf8, bool; integers
/// mixed with floats are float64; other mixes are utf8 text; a column
/// without a value is float64 of nulls), nulls where a row has no value.
/// One record batch per series, in the order linedb_influxql answers them.
///
/// - db, database, token, query, opts, result: as linedb_influxql
///   (result->count = statements run).
/// - out_stream: a struct ArrowArrayStream * to fill. On 200 it is the
///   caller's: read it with get_schema and get_next, then call its release
///   once. On any other status it is left released (release is NULL):
///   nothing to free.
///
/// Returns the status, also in result->status: 200; 400 the text does not
/// parse, holds more than one statement, or the statement answers an error
/// (result->message says which), or a NULL or non-UTF-8 argument, bad
/// options; 401; 404 no such database; 500 (also: a library built without
/// the cargo feature "arrow", on by default); 503.
///
/// Memory: the answer is built whole before the stream is handed over
/// (as linedb_influxql builds a statement's answer).
///
/// Threading: as linedb_query. The stream may be read on any thread, after
/// the call and after linedb_close.
///
/// # Safety
///
/// db is NULL or an open handle; database, token and query NULL or
/// NUL-terminated; opts NULL or pointing to struct_size readable bytes;
/// out_stream NULL or a writable struct ArrowArrayStream; result NULL or a
/// writable linedb_result.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn linedb_influxql_arrow(
    db: *mut linedb,
    database: *const c_char,
    token: *const c_char,
    query: *const c_char,
    opts: *const linedb_query_options,
    out_stream: *mut c_void,
    result: *mut linedb_result,
) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call_status(db, result, |handle| {
            if out_stream.is_null() {
                return Err(super::error::Failure::invalid("out_stream is NULL"));
            }
            export(handle, database, token, query, opts, out_stream)
        })
    }
}

#[cfg(feature = "arrow")]
unsafe fn export(
    handle: &linedb,
    database: *const c_char,
    token: *const c_char,
    query: *const c_char,
    opts: *const linedb_query_options,
    out_stream: *mut c_void,
) -> Result<crate::engine::Outcome, super::error::Failure> {
    use arrow_array::ffi_stream::FFI_ArrowArrayStream;
    use arrow_array::RecordBatchIterator;

    let out = out_stream.cast::<FFI_ArrowArrayStream>();
    // SAFETY: a writable struct ArrowArrayStream (the caller's contract),
    // whose layout FFI_ArrowArrayStream is (the C Stream Interface's ABI);
    // released first, so that every early return leaves it released.
    unsafe { out.write(FFI_ArrowArrayStream::empty()) };
    // SAFETY: the caller's contract for each pointer.
    let (database, token, query, options) = unsafe {
        (
            str_arg(database, "database")?,
            optional_str_arg(token, "token")?,
            str_arg(query, "query")?,
            super::influxql::options_arg(opts)?,
        )
    };
    let (schema, batches) = match handle.engine().influxql_arrow_as(database, token, query, options.now_ns) {
        Ok(answer) => answer,
        Err(outcome) => return Ok(outcome),
    };
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    // SAFETY: as above; the stream now owns the batches until released.
    unsafe { out.write(FFI_ArrowArrayStream::new(Box::new(reader))) };
    Ok(crate::engine::Outcome::ok(200, 1))
}

#[cfg(not(feature = "arrow"))]
unsafe fn export(
    _: &linedb,
    _: *const c_char,
    _: *const c_char,
    _: *const c_char,
    _: *const linedb_query_options,
    out_stream: *mut c_void,
) -> Result<crate::engine::Outcome, super::error::Failure> {
    // SAFETY: a writable struct ArrowArrayStream (the caller's contract):
    // 40 bytes, all zero, is a released stream.
    unsafe { core::ptr::write_bytes(out_stream.cast::<u8>(), 0, 5 * core::mem::size_of::<usize>()) };
    Ok(crate::engine::Outcome::error(500, "this linedb was built without Arrow answers (cargo feature \"arrow\")"))
}
