//! `linedb_influxql`: InfluxQL statements answered with `influxd`'s JSON.

use core::ffi::{c_char, c_void};
use core::mem::{offset_of, size_of};
use core::ptr;

use super::error::Failure;
use super::handle::{call_status, linedb};
use super::query::linedb_line_fn;
use super::result::linedb_result;
use super::strings::{optional_str_arg, str_arg};
use crate::query::{Epoch, Options};

/// How linedb_influxql runs. Set struct_size to sizeof(linedb_query_options)
/// (linedb_query_options_init does): the library reads only that many
/// bytes, so a program built against an older, smaller struct keeps
/// working (the fields it lacks take their defaults). Fields may be added
/// at the end, never removed or reordered.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_query_options {
    /// sizeof(linedb_query_options); set by linedb_query_options_init. At
    /// least 4, else the call answers 400.
    pub struct_size: u32,
    /// The instant now() means, in nanoseconds since the Unix epoch; 0 (the
    /// default): the system clock when the call starts. Set it to run the
    /// same statements against the same instant twice.
    pub now_ns: i64,
    /// How times are written: -1 (the default) as RFC 3339 strings in UTC
    /// with nanoseconds, trailing zeros dropped ("2016-01-01T00:00:00.5Z"),
    /// as influxd writes them by default; or a linedb_precision (0 ns, 1 us,
    /// 2 ms, 3 s): integers in that unit, cut toward zero, as influxd's
    /// epoch=ns|u|ms|s. Any other value: the call answers 400.
    pub epoch: i32,
}

const QUERY_OPTIONS_SIZE: u32 = {
    assert!(size_of::<linedb_query_options>() <= u32::MAX as usize);
    #[allow(clippy::cast_possible_truncation)]
    let size = size_of::<linedb_query_options>() as u32;
    size
};

impl linedb_query_options {
    fn defaults() -> Self {
        linedb_query_options { struct_size: QUERY_OPTIONS_SIZE, now_ns: 0, epoch: -1 }
    }

    /// Reads the caller's struct: the fields wholly within its
    /// `struct_size`, the defaults for the rest.
    ///
    /// # Safety
    ///
    /// `opts` points to at least `struct_size` readable bytes, aligned for
    /// `linedb_query_options`.
    unsafe fn read(opts: *const linedb_query_options) -> Result<Self, Failure> {
        // SAFETY: `struct_size` is the first field, which every caller's
        // struct has (the caller's contract).
        let size = unsafe { ptr::addr_of!((*opts).struct_size).read() } as usize;
        if size < size_of::<u32>() {
            return Err(Failure::invalid(format!(
                "linedb_query_options.struct_size is {size}; set it to sizeof(linedb_query_options), e.g. with \
                 linedb_query_options_init"
            )));
        }
        let has = |offset: usize, len: usize| offset + len <= size;
        let mut out = linedb_query_options::defaults();
        if has(offset_of!(linedb_query_options, now_ns), 8) {
            // SAFETY: the field lies within the caller's `struct_size`
            // bytes (checked by `has`), which are readable and aligned (the
            // caller's contract). Likewise below.
            out.now_ns = unsafe { ptr::addr_of!((*opts).now_ns).read() };
        }
        if has(offset_of!(linedb_query_options, epoch), 4) {
            // SAFETY: as above.
            out.epoch = unsafe { ptr::addr_of!((*opts).epoch).read() };
        }
        Ok(out)
    }

    fn to_engine(self) -> Result<Options, Failure> {
        let epoch = match self.epoch {
            -1 => Epoch::Rfc3339,
            0 => Epoch::Divisor(1),
            1 => Epoch::Divisor(1_000),
            2 => Epoch::Divisor(1_000_000),
            3 => Epoch::Divisor(1_000_000_000),
            other => {
                return Err(Failure::invalid(format!(
                    "linedb_query_options.epoch is {other}; use -1 (RFC 3339) or a linedb_precision"
                )))
            }
        };
        let now_ns = if self.now_ns == 0 { crate::engine::now_ns() } else { self.now_ns };
        Ok(Options { now_ns, epoch })
    }
}

/// The options a call was given (NULL: the defaults), checked.
///
/// # Safety
///
/// `opts` is NULL or points to `struct_size` readable bytes, aligned.
pub(crate) unsafe fn options_arg(opts: *const linedb_query_options) -> Result<Options, Failure> {
    let options = if opts.is_null() {
        linedb_query_options::defaults()
    } else {
        // SAFETY: non-NULL, with struct_size readable bytes (the caller's
        // contract).
        unsafe { linedb_query_options::read(opts)? }
    };
    options.to_engine()
}

/// Fills *opts with the defaults: struct_size = sizeof(linedb_query_options),
/// now_ns 0 (the clock at the call), epoch -1 (RFC 3339 strings). NULL is
/// ignored.
///
/// # Safety
///
/// opts is NULL or points to a writable linedb_query_options of this header.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_query_options_init(opts: *mut linedb_query_options) {
    super::boundary::guard(|| {
        if !opts.is_null() {
            // SAFETY: non-NULL, and a writable linedb_query_options (the
            // caller's contract).
            unsafe { opts.write(linedb_query_options::defaults()) };
        }
    })
}

/// Runs one or more InfluxQL statements (separated by ';') against
/// database and streams the answer influxd 1.6 gives on its /query
/// endpoint: a JSON document, handed to fn in one or more pieces (of about
/// 64 KiB) whose concatenation is the document, without a trailing newline.
/// The statements are the subset of docs/influxql.md: SELECT (fields, tags,
/// arithmetic, the aggregates count, sum, mean, median, mode, spread,
/// stddev, min, max, first, last, percentile, distinct and
/// count(distinct()); WHERE on time, tags and fields; GROUP BY time(d[, o])
/// and tags; fill; ORDER BY time DESC; LIMIT, OFFSET, SLIMIT, SOFFSET) and
/// SHOW DATABASES, MEASUREMENTS, TAG KEYS, TAG VALUES, FIELD KEYS, SERIES.
/// For the document's shape, see docs/influxql.md; where linedb answers
/// otherwise than influxd 1.6, the page says so.
///
/// A statement's own error (an aggregate mixed with plain fields, an
/// unknown function) is in the document, as influxd puts it:
/// {"statement_id":N,"error":"..."}; the statements after it answer
/// {"statement_id":M,"error":"not executed"}. A statement whose
/// measurement does not exist answers {"statement_id":N}, no series.
///
/// - db: an open handle.
/// - database: NUL-terminated UTF-8 name of the database the statements
///   read (a FROM may name it, "db"."autogen"."m", but no other).
/// - token: token with read permission on database; NULL or "" is a missing
///   token (401) unless the store was opened with LINEDB_OPEN_NO_AUTH.
/// - query: NUL-terminated UTF-8 InfluxQL text.
/// - opts: NULL for the defaults, or options with struct_size set (see
///   linedb_query_options).
/// - fn, ctx: the callback (not NULL), called with each piece of the
///   document ("line" is a piece here, len bytes, not NUL-terminated, valid
///   during the call only), and what it gets as ctx. Return 0 to go on,
///   non-zero to stop: nothing more is read or sent.
/// - result: NULL, or filled completely; count = statements run.
///   Every pointer is used during the call only; nothing is kept.
///
/// Returns the status, also in result->status:
/// - 200 the statements ran (or fn stopped them);
/// - 400 the text does not parse: the document is then
///   {"error":"error parsing query: ... at line L, char C"} and no
///   statement runs; or a NULL or non-UTF-8 argument, or bad options (no
///   document then);
/// - 401 token missing, malformed, unknown, revoked or without read
///   permission (no document);
/// - 404 no such database: the document is influxd's own answer for it,
///   {"results":[{"statement_id":0,"error":"database not found: NAME"}]};
/// - 500 a stored block failed its checksum, or the store failed; 503
///   out of descriptors for now: the statement reading it answers the
///   error in the document, the later ones "not executed", and
///   result->message says what happened.
///
/// Memory: a statement's answer is built before it is sent (one series of
/// rows per group); a GROUP BY time of more than 1,000,000 windows, its
/// series together, is refused as a statement error.
///
/// Threading: as linedb_query; fn runs on the calling thread.
///
/// # Safety
///
/// db is NULL or an open handle; database, token and query NULL or
/// NUL-terminated; opts NULL or pointing to struct_size readable bytes;
/// fn NULL or a function of this type; result NULL or a writable
/// linedb_result.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn linedb_influxql(
    db: *mut linedb,
    database: *const c_char,
    token: *const c_char,
    query: *const c_char,
    opts: *const linedb_query_options,
    r#fn: linedb_line_fn,
    ctx: *mut c_void,
    result: *mut linedb_result,
) -> u16 {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call_status(db, result, |handle| {
            let database = str_arg(database, "database")?;
            let token = optional_str_arg(token, "token")?;
            let query = str_arg(query, "query")?;
            let options = options_arg(opts)?;
            let Some(callback) = r#fn else {
                return Err(Failure::invalid("fn is NULL"));
            };
            let mut deliver = |piece: &[u8]| {
                // SAFETY: `callback` is a C function of the declared type
                // (the caller's contract); `piece` is valid for its length
                // during the call, which is all the callback may rely on.
                let stop = callback(ctx, piece.as_ptr().cast::<c_char>(), piece.len());
                stop == 0
            };
            Ok(handle.engine().influxql_as(database, token, query, options, &mut deliver))
        })
    }
}
