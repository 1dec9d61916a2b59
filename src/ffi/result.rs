//! `linedb_result`: the HTTP-like answer of a write or a query, copied into
//! a struct the caller owns.

use core::ffi::c_char;

use super::strings::write_message;
use super::LINEDB_MESSAGE_MAX;
use crate::engine::Outcome;

/// The answer to linedb_write or linedb_query, as InfluxDB Clustered gives
/// it over HTTP. Filled completely by every call that is given one. Its
/// size never changes; new information comes through new functions.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_result {
    /// 204 written | 200 query done | 400 | 401 | 404 | 413 | 500 | 503 (the value
    /// the call returned).
    pub status: u16,
    /// With 503: seconds after which to try again (at least 1); else 0.
    pub retry_after_secs: u32,
    /// Write: points in the batch, before de-duplication (0 unless 204).
    /// Query: lines delivered, the one that stopped it included.
    pub count: u64,
    /// With 400: the 1-based number of the first rejected line, else 0.
    pub error_line: u64,
    /// "" on success; else what failed and why (with 400, the rejected line
    /// quoted). NUL-terminated UTF-8, cut to fit at a character boundary.
    pub message: [c_char; LINEDB_MESSAGE_MAX],
}

/// Copies `out` into the caller's `linedb_result` (if not NULL) and answers
/// its status.
///
/// # Safety
///
/// `result` is NULL or points to a writable `linedb_result` no other thread
/// touches during the call.
pub(crate) unsafe fn fill_result(result: *mut linedb_result, out: &Outcome) -> u16 {
    // SAFETY: NULL or a valid, exclusively ours `linedb_result` (the
    // caller's contract); all its fields are integers, valid whatever the
    // caller left in them.
    if let Some(result) = unsafe { result.as_mut() } {
        result.status = out.status;
        result.retry_after_secs = if out.status == 503 { out.retry_after_secs.max(1) } else { out.retry_after_secs };
        result.count = out.count;
        result.error_line = out.error_line;
        let success = matches!(out.status, 200 | 204);
        write_message(&mut result.message, if success { "" } else { &out.message });
    }
    out.status
}
