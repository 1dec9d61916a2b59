//! `linedb_query`: stored points streamed to a C callback as canonical
//! line protocol.

use core::ffi::{c_char, c_int, c_void};

use super::error::Failure;
use super::handle::{call_status, linedb};
use super::result::linedb_result;
use super::strings::{optional_str_arg, str_arg};

/// Called by linedb_query with each line: ctx as given to linedb_query, the
/// line (len bytes, NOT NUL-terminated, no trailing newline; valid only
/// during the call: copy what you keep). Return 0 to go on, non-zero to
/// stop. It must not unwind or longjmp out of the library. It may call the
/// library, this handle included (no lock is held while it runs), but not
/// linedb_close on this handle.
#[allow(non_camel_case_types)]
pub type linedb_line_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, line: *const c_char, len: usize) -> c_int>;

/// Streams the points stored in database with start_ns <= time < end_ns as
/// canonical line protocol, one line per call of fn: tags sorted by key,
/// fields sorted by key (bytewise); integers with i, unsigned with u;
/// floats as the shortest decimal that reads back to the same double,
/// without exponent; booleans true/false; strings with \ and " escaped;
/// names escaped; timestamp in nanoseconds. Points with the same
/// measurement, tag set and timestamp are one point (the later write wins
/// field by field). Order: by measurement, then time, then series key.
///
/// - db: an open handle.
/// - database: NUL-terminated UTF-8 name.
/// - token: token with read permission on database; NULL or "" is a missing
///   token (401) unless the store was opened with LINEDB_OPEN_NO_AUTH.
/// - measurement: NUL-terminated UTF-8, or NULL for every measurement.
/// - fn, ctx: the callback (not NULL) and what it gets as ctx; ctx is the
///   caller's, passed through untouched.
/// - result: NULL, or filled completely; count = lines delivered, the one
///   that stopped it included.
///   Every pointer is used during the call only; nothing is kept.
///
/// Returns the status, also in result->status: 200 done (or stopped by fn);
/// 400 a NULL or non-UTF-8 argument (fn NULL included); 401 token missing,
/// malformed, unknown, revoked or without read permission; 404 no such
/// database; 500 the store failed, or an internal error.
///
/// Threading: any number of threads may query and write one handle at once;
/// a query sees whole batches only. fn runs on the calling thread.
///
/// # Safety
///
/// db is NULL or an open handle; database, token and measurement NULL or
/// NUL-terminated; fn NULL or a function of this type; result NULL or a
/// writable linedb_result.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn linedb_query(
    db: *mut linedb,
    database: *const c_char,
    token: *const c_char,
    measurement: *const c_char,
    start_ns: i64,
    end_ns: i64,
    r#fn: linedb_line_fn,
    ctx: *mut c_void,
    result: *mut linedb_result,
) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call_status(db, result, |handle| {
            let database = str_arg(database, "database")?;
            let token = optional_str_arg(token, "token")?;
            let measurement = optional_str_arg(measurement, "measurement")?;
            let Some(callback) = r#fn else {
                return Err(Failure::invalid("fn is NULL"));
            };
            let mut deliver = |line: &[u8]| {
                // SAFETY: `callback` is a C function of the declared type
                // (the caller's contract); `line` is valid for `len` bytes
                // during the call, which is all the callback may rely on.
                let stop = callback(ctx, line.as_ptr().cast::<c_char>(), line.len());
                stop == 0
            };
            Ok(handle.engine().query_as(database, token, measurement, start_ns, end_ns, &mut deliver))
        })
    }
}
