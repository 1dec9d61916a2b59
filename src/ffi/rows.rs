//! `linedb_influxql_rows`: InfluxQL answers as typed values to C callbacks,
//! without text.

use core::ffi::{c_char, c_int, c_void};
use core::ptr;
use std::ffi::CString;

use super::error::Failure;
use super::handle::{call_status, linedb};
use super::influxql::linedb_query_options;
use super::result::linedb_result;
use super::strings::{optional_str_arg, str_arg};
use crate::query::{Answer, Output, Series, Value};

/// The type of a linedb_value. Fixed numbers: never renumbered.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum linedb_value_type {
    /// No value (a point without that field, an empty window).
    LINEDB_VALUE_NULL = 0,
    /// f holds it.
    LINEDB_VALUE_FLOAT = 1,
    /// i holds it.
    LINEDB_VALUE_INTEGER = 2,
    /// u holds it.
    LINEDB_VALUE_UNSIGNED = 3,
    /// s and s_len hold it: UTF-8, NOT NUL-terminated.
    LINEDB_VALUE_STRING = 4,
    /// b holds it: 0 or 1.
    LINEDB_VALUE_BOOLEAN = 5,
    /// A row's time: i holds nanoseconds since the Unix epoch (UTC).
    LINEDB_VALUE_TIME = 6,
}

/// One value of a row. Read the member its type names; the others are 0
/// (s NULL). Valid only during the callback that receives it: copy what
/// you keep.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_value {
    /// A linedb_value_type.
    pub r#type: u32,
    /// LINEDB_VALUE_BOOLEAN: 0 or 1.
    pub b: i32,
    /// LINEDB_VALUE_INTEGER, LINEDB_VALUE_TIME.
    pub i: i64,
    /// LINEDB_VALUE_UNSIGNED.
    pub u: u64,
    /// LINEDB_VALUE_FLOAT.
    pub f: f64,
    /// LINEDB_VALUE_STRING: the bytes (not NUL-terminated) and their number.
    pub s: *const c_char,
    pub s_len: usize,
}

/// Called at the start of each series of a statement's answer.
///
/// - statement: the statement's index in the text, from 0.
/// - name: the series' name (the measurement; "databases",
///   "measurements" for those SHOW statements), NUL-terminated; NULL for
///   SHOW SERIES, whose answer has no name.
/// - tag_keys, tag_values: tag_count NUL-terminated strings each, the
///   series' tags (only with GROUP BY tags), keys sorted.
/// - columns: column_count NUL-terminated names; "time" first when the
///   series' rows have a time.
///
/// Every pointer is valid during the call only. Return 0 to go on,
/// non-zero to stop the call (nothing more is read or sent).
#[allow(non_camel_case_types)]
pub type linedb_series_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        statement: u32,
        name: *const c_char,
        tag_keys: *const *const c_char,
        tag_values: *const *const c_char,
        tag_count: usize,
        columns: *const *const c_char,
        column_count: usize,
    ) -> c_int,
>;

/// Called with each row of the last series begun: values[0..n], one per
/// column, in column order (the time first, as LINEDB_VALUE_TIME, when the
/// series has one). Valid during the call only. Return 0 to go on,
/// non-zero to stop the call.
#[allow(non_camel_case_types)]
pub type linedb_row_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, values: *const linedb_value, n: usize) -> c_int>;

/// Called when a statement answers an error instead of series (its own
/// error, "not executed" for those after a failed one, or why the text
/// does not parse: then statement is UINT32_MAX and nothing runs).
/// message is NUL-terminated, valid during the call only. Return 0 to go
/// on, non-zero to stop.
#[allow(non_camel_case_types)]
pub type linedb_statement_error_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, statement: u32, message: *const c_char) -> c_int>;

/// The callbacks of linedb_influxql_rows. series and row must be set;
/// error may be NULL (errors are then only in the result).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_rows_fn {
    pub series: linedb_series_fn,
    pub row: linedb_row_fn,
    pub error: linedb_statement_error_fn,
}

/// NUL-terminated copies (an interior NUL, which stored names cannot hold,
/// would cut the name there).
fn c_string(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let cut = e.nul_position();
        CString::new(&s.as_bytes()[..cut]).unwrap_or_default()
    })
}

fn c_value(v: &Value, is_time: bool) -> linedb_value {
    let mut out = linedb_value { r#type: 0, b: 0, i: 0, u: 0, f: 0.0, s: ptr::null(), s_len: 0 };
    match v {
        Value::Null => {}
        Value::Integer(t) if is_time => {
            out.r#type = linedb_value_type::LINEDB_VALUE_TIME as u32;
            out.i = *t;
        }
        Value::Float(x) => {
            out.r#type = linedb_value_type::LINEDB_VALUE_FLOAT as u32;
            out.f = *x;
        }
        Value::Integer(x) => {
            out.r#type = linedb_value_type::LINEDB_VALUE_INTEGER as u32;
            out.i = *x;
        }
        Value::Unsigned(x) => {
            out.r#type = linedb_value_type::LINEDB_VALUE_UNSIGNED as u32;
            out.u = *x;
        }
        Value::String(s) => {
            out.r#type = linedb_value_type::LINEDB_VALUE_STRING as u32;
            out.s = s.as_ptr().cast::<c_char>();
            out.s_len = s.len();
        }
        Value::Boolean(b) => {
            out.r#type = linedb_value_type::LINEDB_VALUE_BOOLEAN as u32;
            out.b = i32::from(*b);
        }
    }
    out
}

/// The callbacks as an [`Output`].
struct Rows {
    fns: linedb_rows_fn,
    ctx: *mut c_void,
}

impl Rows {
    fn error(&mut self, statement: u32, message: &str) -> bool {
        let Some(f) = self.fns.error else { return true };
        let m = c_string(message);
        // SAFETY: a C function of the declared type (the caller's
        // contract); `m` outlives the call.
        unsafe { f(self.ctx, statement, m.as_ptr()) == 0 }
    }

    fn series(&mut self, statement: u32, s: &Series) -> bool {
        let (Some(series_fn), Some(row_fn)) = (self.fns.series, self.fns.row) else { return false };
        let name = s.name.as_deref().map(c_string);
        let keys: Vec<CString> = s.tags.iter().map(|(k, _)| c_string(k)).collect();
        let values: Vec<CString> = s.tags.iter().map(|(_, v)| c_string(v)).collect();
        let columns: Vec<CString> = s.columns.iter().map(|c| c_string(c)).collect();
        let ptrs = |v: &[CString]| v.iter().map(|c| c.as_ptr()).collect::<Vec<_>>();
        let (kp, vp, cp) = (ptrs(&keys), ptrs(&values), ptrs(&columns));
        // SAFETY: a C function of the declared type; every pointer points
        // into the vectors above, which outlive the call.
        let go = unsafe {
            series_fn(
                self.ctx,
                statement,
                name.as_ref().map_or(ptr::null(), |n| n.as_ptr()),
                kp.as_ptr(),
                vp.as_ptr(),
                kp.len(),
                cp.as_ptr(),
                cp.len(),
            )
        };
        if go != 0 {
            return false;
        }
        let mut row_values: Vec<linedb_value> = Vec::with_capacity(s.columns.len());
        for row in &s.rows {
            row_values.clear();
            row_values.extend(row.iter().enumerate().map(|(n, v)| c_value(v, n == 0 && s.has_time)));
            // SAFETY: as above; the values' strings point into `row`,
            // which outlives the call.
            if unsafe { row_fn(self.ctx, row_values.as_ptr(), row_values.len()) } != 0 {
                return false;
            }
        }
        true
    }
}

impl Output for Rows {
    fn parse_error(&mut self, message: &str) {
        self.error(u32::MAX, message);
    }

    fn statement(&mut self, id: usize, answer: &Answer) -> bool {
        let id = u32::try_from(id).unwrap_or(u32::MAX - 1);
        match answer {
            Answer::Error(e) => self.error(id, e),
            Answer::Series(list) => list.iter().all(|s| self.series(id, s)),
        }
    }

    fn end(&mut self) {}
}

/// Runs InfluxQL statements as linedb_influxql does, and hands the answers
/// to callbacks as typed values instead of JSON text: for each series
/// fns->series (its name, tags and column names), then fns->row with each
/// row (a time as LINEDB_VALUE_TIME in nanoseconds, whatever opts->epoch
/// says; floats, integers, unsigned, strings and booleans as their types;
/// nulls as LINEDB_VALUE_NULL), and fns->error for a statement that
/// answers an error. The answers, their order and the statuses are
/// linedb_influxql's.
///
/// - db, database, token, query, opts, result: as linedb_influxql
///   (result->count = statements run).
/// - fns: the callbacks (series and row not NULL), read during the call.
/// - ctx: passed to every callback untouched.
///
/// Returns the status, also in result->status: 200, 400 (the text does not
/// parse: fns->error gets the message with statement UINT32_MAX; or a NULL
/// or non-UTF-8 argument, bad options, a NULL callback), 401, 404 (fns->error
/// gets "database not found: NAME" for statement 0), 500, 503: as
/// linedb_influxql.
///
/// Threading: as linedb_query; the callbacks run on the calling thread and
/// may call the library, but not linedb_close on this handle.
///
/// # Safety
///
/// db is NULL or an open handle; database, token and query NULL or
/// NUL-terminated; opts NULL or pointing to struct_size readable bytes;
/// fns NULL or a readable linedb_rows_fn whose callbacks are NULL or
/// functions of their types; result NULL or a writable linedb_result.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn linedb_influxql_rows(
    db: *mut linedb,
    database: *const c_char,
    token: *const c_char,
    query: *const c_char,
    opts: *const linedb_query_options,
    fns: *const linedb_rows_fn,
    ctx: *mut c_void,
    result: *mut linedb_result,
) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call_status(db, result, |handle| {
            let database = str_arg(database, "database")?;
            let token = optional_str_arg(token, "token")?;
            let query = str_arg(query, "query")?;
            let options = super::influxql::options_arg(opts)?;
            // SAFETY: NULL or a readable linedb_rows_fn (the contract).
            let Some(fns) = fns.as_ref().copied() else {
                return Err(Failure::invalid("fns is NULL"));
            };
            if fns.series.is_none() || fns.row.is_none() {
                return Err(Failure::invalid("fns->series and fns->row must be set"));
            }
            let mut out = Rows { fns, ctx };
            Ok(handle.engine().influxql_to_as(database, token, query, options.now_ns, &mut out))
        })
    }
}
