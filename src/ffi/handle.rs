//! The opaque handle `linedb`: options, opening and closing, and the one
//! way every other call enters a handle ([`call`], [`call_status`]): panic
//! boundary, NULL check, poisoning, and the count of calls in progress that
//! `linedb_close` waits for.

use core::ffi::c_char;
use core::mem::{offset_of, size_of};
use core::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::boundary::guard_with;
use super::error::{finish, open_failure, report, Failure};
use super::result::{fill_result, linedb_result};
use super::strings::str_arg;
use super::{linedb_code, linedb_error};
use crate::engine::{Engine, Options, Outcome, DEFAULT_MAX_BATCH_BYTES};
use crate::schema::Limits;

/// `linedb_options.flags`: writes and queries need no token.
pub const LINEDB_OPEN_NO_AUTH: u32 = 1;

/// The flags this build knows; others are an invalid argument.
const KNOWN_FLAGS: u32 = LINEDB_OPEN_NO_AUTH;

/// Default `max_wal_bytes`: 1 GiB.
const DEFAULT_MAX_WAL_BYTES: u64 = 1 << 30;

/// The smallest `max_wal_bytes` taken; a smaller non-zero value is raised
/// to it.
const MIN_MAX_WAL_BYTES: u64 = 1 << 20;

/// How a store is opened. Set `struct_size` to `sizeof(linedb_options)`
/// (`linedb_options_init` does): the library reads only that many bytes, so
/// a program built against an older, smaller struct keeps working (the
/// fields it lacks take their defaults). Fields may be added at the end,
/// never removed or reordered.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_options {
    /// `sizeof(linedb_options)`; set by `linedb_options_init`. At least 8
    /// (`struct_size` and `flags`), else `LINEDB_ERR_INVALID_ARGUMENT`.
    pub struct_size: u32,
    /// `LINEDB_OPEN_NO_AUTH`: writes and queries need no token. Other bits
    /// are an invalid argument.
    pub flags: u32,
    /// Un-checkpointed WAL, the new batch included, above this: writes get
    /// 503; a batch whose WAL record alone is larger gets 413. Default (and
    /// 0) 1 GiB; values below 1 MiB are taken as 1 MiB. A checkpoint runs
    /// when the backlog reaches half of it (or 64 MiB, whichever is less);
    /// the limit bounds disk use when checkpoints cannot keep up.
    pub max_wal_bytes: u64,
    /// Columns of a table (time, tags and fields); default 250, as InfluxDB
    /// Clustered. 0 means the default.
    pub max_columns_per_table: u32,
    /// Tables (measurements) of a database; default 500, as InfluxDB
    /// Clustered. 0 means the default.
    pub max_tables_per_database: u32,
    /// Batches longer than this many bytes answer 413, nothing stored.
    /// Default (and 0) 10 MiB, InfluxDB 3's request limit. Added in 0.2.
    pub max_batch_bytes: u64,
}

/// `sizeof(linedb_options)` of this build.
const OPTIONS_SIZE: u32 = {
    assert!(size_of::<linedb_options>() <= u32::MAX as usize);
    #[allow(clippy::cast_possible_truncation)]
    let size = size_of::<linedb_options>() as u32;
    size
};

/// The smallest `struct_size` accepted: `struct_size` and `flags`.
const MIN_OPTIONS_SIZE: usize = offset_of!(linedb_options, flags) + size_of::<u32>();

impl linedb_options {
    fn defaults() -> Self {
        let limits = Limits::default();
        linedb_options {
            struct_size: OPTIONS_SIZE,
            flags: 0,
            max_wal_bytes: DEFAULT_MAX_WAL_BYTES,
            max_columns_per_table: limits.max_columns_per_table,
            max_tables_per_database: limits.max_tables_per_database,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
        }
    }

    /// Reads the caller's struct: the fields that lie wholly within its
    /// `struct_size`, the defaults for the rest.
    ///
    /// # Safety
    ///
    /// `opts` points to at least `struct_size` readable bytes (its first
    /// field), aligned for `linedb_options`.
    unsafe fn read(opts: *const linedb_options) -> Result<Self, Failure> {
        // SAFETY: `struct_size` is the first field, which every caller's
        // struct has (the caller's contract).
        let size = unsafe { ptr::addr_of!((*opts).struct_size).read() } as usize;
        if size < MIN_OPTIONS_SIZE {
            return Err(Failure::invalid(format!(
                "linedb_options.struct_size is {size}; set it to sizeof(linedb_options) (at least \
                 {MIN_OPTIONS_SIZE}), e.g. with linedb_options_init"
            )));
        }
        let has = |offset: usize, len: usize| offset + len <= size;
        let mut out = linedb_options::defaults();
        if has(offset_of!(linedb_options, flags), 4) {
            // SAFETY: the field lies within the caller's `struct_size`
            // bytes (checked by `has`), which are readable and aligned (the
            // caller's contract). Likewise for each read below.
            out.flags = unsafe { ptr::addr_of!((*opts).flags).read() };
        }
        if has(offset_of!(linedb_options, max_wal_bytes), 8) {
            // SAFETY: as above.
            out.max_wal_bytes = unsafe { ptr::addr_of!((*opts).max_wal_bytes).read() };
        }
        if has(offset_of!(linedb_options, max_columns_per_table), 4) {
            // SAFETY: as above.
            out.max_columns_per_table = unsafe { ptr::addr_of!((*opts).max_columns_per_table).read() };
        }
        if has(offset_of!(linedb_options, max_tables_per_database), 4) {
            // SAFETY: as above.
            out.max_tables_per_database = unsafe { ptr::addr_of!((*opts).max_tables_per_database).read() };
        }
        if has(offset_of!(linedb_options, max_batch_bytes), 8) {
            // SAFETY: as above.
            out.max_batch_bytes = unsafe { ptr::addr_of!((*opts).max_batch_bytes).read() };
        }
        Ok(out)
    }

    fn to_engine(self) -> Result<Options, Failure> {
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(Failure::invalid(format!(
                "linedb_options.flags {:#x} has unknown bits (known: LINEDB_OPEN_NO_AUTH = 1)",
                self.flags
            )));
        }
        let defaults = Limits::default();
        let or_default = |value: u32, default: u32| if value == 0 { default } else { value };
        // Below 1 MiB a log could not hold an ordinary batch: the
        // contract takes max_wal_bytes as given from 1 MiB up.
        let max_wal_bytes = if self.max_wal_bytes == 0 { DEFAULT_MAX_WAL_BYTES } else { self.max_wal_bytes.max(MIN_MAX_WAL_BYTES) };
        let engine_defaults = Options::default();
        Ok(Options {
            no_auth: self.flags & LINEDB_OPEN_NO_AUTH != 0,
            max_wal_bytes,
            max_batch_bytes: if self.max_batch_bytes == 0 { DEFAULT_MAX_BATCH_BYTES } else { self.max_batch_bytes },
            // A checkpoint runs once the backlog reaches half the limit, so
            // that a small max_wal_bytes is a bound on disk use and not a
            // 503 that only an explicit checkpoint would cure.
            checkpoint_wal_bytes: engine_defaults.checkpoint_wal_bytes.min(max_wal_bytes / 2),
            limits: Limits {
                max_columns_per_table: or_default(self.max_columns_per_table, defaults.max_columns_per_table),
                max_tables_per_database: or_default(self.max_tables_per_database, defaults.max_tables_per_database),
            },
            ..Options::default()
        })
    }
}

/// An open store, from `linedb_open` to `linedb_close`. Opaque: C sees
/// only pointers to it.
///
/// Thread-safe: any number of threads may call into one handle at once.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct linedb {
    engine: Engine,
    /// Set when a panic was caught in a call on this handle: its state may
    /// be half-updated, so every later call answers LINEDB_ERR_INTERNAL / 500.
    poisoned: AtomicBool,
    /// Calls in progress; linedb_close frees the handle only once none is.
    active: AtomicUsize,
}

// The C API promises a thread-safe handle.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<linedb>();
};

impl linedb {
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
}

/// Frees a handle when dropped (also while unwinding), after waiting until
/// no call is in progress on it: the `Box` that owns it is rebuilt only when
/// nothing else refers to it, never while a concurrent call holds `&linedb`.
struct FreeWhenIdle(*mut linedb);

impl Drop for FreeWhenIdle {
    fn drop(&mut self) {
        // SAFETY: the handle is live until the `Box::from_raw` below; only
        // shared references to it exist (running calls, counted in
        // `active`).
        let active = unsafe { &(*self.0).active };
        while active.load(Ordering::Acquire) != 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: from `Box::into_raw` in linedb_open, freed only here,
        // once; no call holds a reference any more (the count is zero, and
        // the contract forbids calls that start after close began).
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// Counts one call in progress on a handle, until dropped (also when the
/// call unwinds).
struct Active<'h>(&'h linedb);

impl<'h> Active<'h> {
    fn enter(handle: &'h linedb) -> Self {
        handle.active.fetch_add(1, Ordering::AcqRel);
        Active(handle)
    }
}

impl Drop for Active<'_> {
    /// A call that unwinds poisons its handle here, while it is still
    /// counted: once the count drops, linedb_close may free the handle.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison();
        }
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

const POISONED: &str = "an earlier call on this handle hit an internal error (a caught panic); close the handle";

/// Runs the body of a call that answers a `linedb_code`: inside the panic
/// boundary, with the handle checked (NULL: invalid argument; poisoned:
/// internal error) and counted as in use. A failure is copied into `err`;
/// a caught panic poisons the handle.
///
/// # Safety
///
/// `db` is NULL or a handle from `linedb_open` not yet closed; `err` is NULL
/// or a writable `linedb_error`.
pub(crate) unsafe fn call(
    db: *const linedb,
    err: *mut linedb_error,
    body: impl FnOnce(&linedb) -> Result<(), Failure>,
) -> linedb_code {
    guard_with(
        // The handle was poisoned while unwinding (`Active`'s drop): it may
        // be freed by now, so it is not touched here.
        // SAFETY: the caller's contract for `err`.
        |message| unsafe { report(err, &Failure::internal(format!("internal error (caught panic): {message}"))) },
        || {
            // SAFETY: the caller's contract for `db`.
            let Some(handle) = (unsafe { db.as_ref() }) else {
                // SAFETY: the caller's contract for `err`.
                return unsafe { report(err, &Failure::invalid("db is NULL")) };
            };
            if handle.is_poisoned() {
                // SAFETY: the caller's contract for `err`.
                return unsafe { report(err, &Failure::internal(POISONED)) };
            }
            let _active = Active::enter(handle);
            // SAFETY: the caller's contract for `err`.
            unsafe { finish(err, body(handle)) }
        },
    )
}

/// [`call`] for a write or a query: answers an HTTP-like status and copies
/// the whole answer into `result` (if not NULL). A NULL handle or bad
/// argument is 400; a poisoned handle or a caught panic, 500.
///
/// # Safety
///
/// `db` as for [`call`]; `result` is NULL or a writable `linedb_result`.
pub(crate) unsafe fn call_status(
    db: *const linedb,
    result: *mut linedb_result,
    body: impl FnOnce(&linedb) -> Result<Outcome, Failure>,
) -> u16 {
    guard_with(
        |message| {
            // Poisoned while unwinding, as in `call`.
            let out = failed_outcome(500, format!("internal error (caught panic): {message}"));
            // SAFETY: the caller's contract for `result`.
            unsafe { fill_result(result, &out) }
        },
        || {
            // SAFETY: the caller's contract for `db`.
            let out = match unsafe { db.as_ref() } {
                None => failed_outcome(400, "db is NULL"),
                Some(handle) if handle.is_poisoned() => failed_outcome(500, POISONED),
                Some(handle) => {
                    let _active = Active::enter(handle);
                    match body(handle) {
                        Ok(out) => out,
                        Err(failure) => failed_outcome(status_of(&failure), failure.message),
                    }
                }
            };
            // SAFETY: the caller's contract for `result`.
            unsafe { fill_result(result, &out) }
        },
    )
}

/// The status a failure before the engine was reached answers.
fn status_of(failure: &Failure) -> u16 {
    match failure.code {
        linedb_code::LINEDB_ERR_INVALID_ARGUMENT => 400,
        linedb_code::LINEDB_ERR_NOT_FOUND => 404,
        _ => 500,
    }
}

pub(crate) fn failed_outcome(status: u16, message: impl Into<String>) -> Outcome {
    Outcome {
        status,
        retry_after_secs: 0,
        count: 0,
        error_line: 0,
        message: message.into(),
    }
}

/// Fills `*opts` with the defaults: `struct_size` = sizeof(linedb_options),
/// flags 0, max_wal_bytes 1 GiB, max_columns_per_table 250,
/// max_tables_per_database 500, max_batch_bytes 10 MiB. Does nothing when
/// opts is NULL.
///
/// Ownership: opts is the caller's, written and not kept.
/// Threading: callable from any thread at any time.
///
/// # Safety
///
/// opts is NULL or points to a writable `linedb_options` of this header.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_options_init(opts: *mut linedb_options) {
    super::boundary::guard(|| {
        if !opts.is_null() {
            // SAFETY: non-NULL, and a writable linedb_options (the caller's
            // contract).
            unsafe { opts.write(linedb_options::defaults()) };
        }
    })
}

/// Opens the store in the directory dir, creating dir if it does not exist
/// (its parent must), takes its lock and recovers it: segments are verified
/// and WAL records after the last checkpoint replayed.
///
/// - dir: NUL-terminated UTF-8 path, read during the call only.
/// - opts: NULL for the defaults, or options with struct_size set (see
///   linedb_options); read during the call only.
/// - out: where the new handle goes; set to NULL on failure. The handle is
///   the caller's and must be freed with linedb_close, once.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (dir or out NULL, dir not
/// UTF-8, bad struct_size or flags, dir not a directory); LINEDB_ERR_LOCKED
/// (another handle, in this process or another, holds dir);
/// LINEDB_ERR_IO (the OS refused, e.g. the parent is missing; the message
/// names the file and errno); LINEDB_ERR_CORRUPT (damage recovery cannot
/// repair without losing acknowledged data; the message names the file and
/// offset); LINEDB_ERR_VERSION (files of an unknown format version);
/// LINEDB_ERR_INTERNAL (a bug).
///
/// Threading: callable from any thread; the handle may be used from any
/// number of threads at once.
///
/// # Safety
///
/// dir is NULL or a NUL-terminated string; opts NULL or at least its
/// struct_size readable bytes; out NULL or a writable pointer; err NULL or a
/// writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_open(
    dir: *const c_char,
    opts: *const linedb_options,
    out: *mut *mut linedb,
    err: *mut linedb_error,
) -> linedb_code {
    guard_with(
        // SAFETY: the caller's contract for `err`.
        |message| unsafe { report(err, &Failure::internal(format!("internal error (caught panic): {message}"))) },
        || {
            if out.is_null() {
                // SAFETY: the caller's contract for `err`.
                return unsafe { report(err, &Failure::invalid("out is NULL")) };
            }
            // SAFETY: non-NULL and writable (the caller's contract).
            unsafe { out.write(ptr::null_mut()) };
            let opened = (|| {
                // SAFETY: the caller's contract for `dir`.
                let dir = unsafe { str_arg(dir, "dir") }?;
                let opts = if opts.is_null() {
                    linedb_options::defaults()
                } else {
                    // SAFETY: the caller's contract for `opts`.
                    unsafe { linedb_options::read(opts) }?
                };
                let engine = Engine::open(dir, opts.to_engine()?).map_err(|e| open_failure(dir, &e))?;
                Ok(Box::new(linedb {
                    engine,
                    poisoned: AtomicBool::new(false),
                    active: AtomicUsize::new(0),
                }))
            })();
            match opened {
                Ok(handle) => {
                    // SAFETY: non-NULL and writable (checked above).
                    unsafe { out.write(Box::into_raw(handle)) };
                    linedb_code::LINEDB_OK
                }
                // SAFETY: the caller's contract for `err`.
                Err(failure) => unsafe { report(err, &failure) },
            }
        },
    )
}

/// Closes a store: from now on writes answer 503; then it checkpoints
/// (segments made durable, WAL trimmed), waits for calls still running on
/// other threads, unmaps the files, releases the lock and frees the handle.
/// The handle is freed whatever the answer: do not use it again.
///
/// - db: a handle from linedb_open, or NULL (then nothing happens and the
///   answer is LINEDB_OK). Ownership passes to the library.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_IO (the checkpoint failed, or the store had
/// failed earlier; what was acknowledged is in the WAL and is replayed on
/// the next open); LINEDB_ERR_INTERNAL (an earlier call on the handle hit an
/// internal error, or this one did; the checkpoint is skipped).
///
/// Threading: calling linedb_close while other calls on the same handle are
/// running, or after it, is the caller's error (the handle is freed), with
/// one allowance: a linedb_write already running when linedb_close starts
/// may answer 503 ("closing"), and linedb_close waits for it to return.
///
/// # Safety
///
/// db is NULL or a handle from linedb_open not yet closed; err NULL or a
/// writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_close(db: *mut linedb, err: *mut linedb_error) -> linedb_code {
    guard_with(
        // SAFETY: the caller's contract for `err`.
        |message| unsafe { report(err, &Failure::internal(format!("internal error (caught panic): {message}"))) },
        || {
            if db.is_null() {
                return linedb_code::LINEDB_OK;
            }
            // Freed when this returns or unwinds, once no other call is
            // running on it.
            let free = FreeWhenIdle(db);
            // SAFETY: a handle from linedb_open, not yet closed (the
            // caller's contract). Shared, not owned, for now: a write that
            // was already running when close began may still hold it.
            let handle = unsafe { &*free.0 };
            let result = if handle.is_poisoned() {
                Err(Failure::internal(POISONED))
            } else {
                handle.engine.shut_down().map_err(Failure::from)
            };
            drop(free);
            // SAFETY: the caller's contract for `err`.
            unsafe { finish(err, result) }
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::panic, clippy::unwrap_used)]

    use super::*;

    /// Runs `body` as the body of a call on `db`, for tests of the panic
    /// boundary.
    pub(crate) fn call_for_test(db: *mut linedb, err: *mut linedb_error, body: impl FnOnce(&linedb) -> Result<(), Failure>) -> linedb_code {
        // SAFETY: the tests pass a live handle and a valid error struct.
        unsafe { call(db, err, body) }
    }

    pub(crate) fn status_call_for_test(db: *mut linedb, result: *mut linedb_result, body: impl FnOnce(&linedb) -> Result<Outcome, Failure>) -> u16 {
        // SAFETY: the tests pass a live handle and a valid result struct.
        unsafe { call_status(db, result, body) }
    }

    #[test]
    fn options_of_an_older_smaller_struct_take_defaults() {
        let mut opts = linedb_options::defaults();
        opts.flags = LINEDB_OPEN_NO_AUTH;
        opts.max_wal_bytes = 77;
        opts.max_columns_per_table = 5;
        opts.struct_size = 16;
        // SAFETY: a whole linedb_options, struct_size or not.
        let read = unsafe { linedb_options::read(&opts) }.unwrap();
        assert_eq!(read.flags, LINEDB_OPEN_NO_AUTH);
        assert_eq!(read.max_wal_bytes, 77);
        assert_eq!(read.max_columns_per_table, 250);
        opts.struct_size = 12;
        // SAFETY: as above.
        let read = unsafe { linedb_options::read(&opts) }.unwrap();
        assert_eq!(read.max_wal_bytes, 1 << 30);
        for size in [0, 4, 7] {
            opts.struct_size = size;
            // SAFETY: as above.
            assert!(unsafe { linedb_options::read(&opts) }.is_err());
        }
        // A 0.1 struct (24 bytes) gets the default batch limit; a 0.2 one
        // is read whole.
        opts.max_batch_bytes = 5000;
        opts.struct_size = 24;
        // SAFETY: as above.
        assert_eq!(unsafe { linedb_options::read(&opts) }.unwrap().max_batch_bytes, 10 << 20);
        opts.struct_size = 32;
        // SAFETY: as above.
        assert_eq!(unsafe { linedb_options::read(&opts) }.unwrap().max_batch_bytes, 5000);
        assert_eq!(size_of::<linedb_options>(), 32);
    }
}
