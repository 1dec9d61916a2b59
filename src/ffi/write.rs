//! `linedb_write`: a batch of line protocol in, an HTTP-like status out.

use core::ffi::c_char;

use super::error::Failure;
use super::handle::{call_status, failed_outcome, linedb};
use super::result::linedb_result;
use super::strings::{bytes_arg, optional_str_arg, str_arg};
use super::{linedb_precision, linedb_precision_raw};
use crate::line_protocol::Precision;

impl linedb_precision {
    pub(crate) fn to_engine(self) -> Precision {
        match self {
            linedb_precision::LINEDB_PRECISION_NANOSECOND => Precision::Nanosecond,
            linedb_precision::LINEDB_PRECISION_MICROSECOND => Precision::Microsecond,
            linedb_precision::LINEDB_PRECISION_MILLISECOND => Precision::Millisecond,
            linedb_precision::LINEDB_PRECISION_SECOND => Precision::Second,
        }
    }
}

/// Writes a batch of line protocol to a database: validates the whole
/// batch, then makes it durable (WAL fsync) and queryable, then answers 204.
/// The first rejected line rejects the batch: 400, nothing of it is stored.
/// Lines without a timestamp get the current time.
///
/// - db: an open handle.
/// - database: NUL-terminated UTF-8 name.
/// - token: NUL-terminated token with write permission on database; NULL
///   or "" is a missing token (401) unless the store was opened with
///   LINEDB_OPEN_NO_AUTH, which skips the check.
/// - lines, len: the batch, len bytes, not NUL-terminated; NULL only with
///   len 0. An empty batch, or one of only blank and comment lines, is 204
///   with count 0.
/// - precision: the unit of the timestamps; any other value is 400.
/// - result: NULL, or filled completely (message "" on success).
///   Every pointer is read during the call only; nothing is kept.
///
/// Returns the status, also in result->status:
/// 204 written (count = points in the batch);
/// 400 a NULL or non-UTF-8 argument, an unknown precision, or the first
///     malformed or rejected line (error_line is its 1-based number, message
///     quotes it and says why: syntax, a field type other than the
///     partition's, a limit);
/// 401 token missing, malformed, unknown, revoked, or without write
///     permission on database;
/// 404 the database does not exist (and the token may write it);
/// 413 the batch is longer than max_batch_bytes, or its WAL record alone
///     is larger than max_wal_bytes, or its lines fall in more partitions
///     (measurement and day) than the process can hold files open at once
///     (RLIMIT_NOFILE): it can never be taken as it is (split it); message
///     names the limit and the size. Nothing stored;
/// 500 an internal failure: an I/O error, a failed fsync (the store then
///     answers 500 until reopened), a caught panic (the handle then answers
///     500 / LINEDB_ERR_INTERNAL to every call but linedb_close);
/// 503 the store cannot take writes now: no space, the WAL backlog over
///     max_wal_bytes, no memory (or address space) for the batch now, no
///     free file descriptor, or closing; retry_after_secs >= 1. Nothing
///     stored.
///
/// Threading: any number of threads may write through one handle at once;
/// batches are applied in the order they are acknowledged. On a machine with
/// two or more CPUs, a batch of 128 KiB to 4 MiB is parsed by the calling
/// thread and one short-lived helper thread, which share its lines between
/// them; the call returns only after the helper has ended.
///
/// Memory: a batch of up to 4 MiB is parsed whole (up to about 6 times its
/// size while it is written); a longer one is parsed, checked and encoded
/// 1 MiB at a time (about 0.4 times its size, plus a few MiB). Where an
/// allocation can fail (an address-space limit, overcommit off), a batch
/// that does not fit answers 503; it never aborts the process.
///
/// # Safety
///
/// db is NULL or an open handle; database and token NULL or NUL-terminated;
/// lines NULL or len readable bytes; result NULL or a writable
/// linedb_result.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_write(
    db: *mut linedb,
    database: *const c_char,
    token: *const c_char,
    lines: *const c_char,
    len: usize,
    precision: linedb_precision_raw,
    result: *mut linedb_result,
) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call_status(db, result, |handle| {
            let database = str_arg(database, "database")?;
            let token = optional_str_arg(token, "token")?;
            let lines = bytes_arg(lines, len, "lines")?;
            let Some(precision) = linedb_precision::from_raw(precision) else {
                return Ok(failed_outcome(
                    400,
                    format!("unknown precision {precision}: give a LINEDB_PRECISION_* value (0 to 3)"),
                ));
            };
            Ok::<_, Failure>(handle.engine().write_as(database, token, lines, precision.to_engine()))
        })
    }
}
