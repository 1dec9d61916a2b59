//! Tests of the C boundary that C cannot provoke: a caught panic (answer
//! and poisoning), a write while closing (503), a failed store (500 / IO).
//! They call the exported functions as C would, through raw pointers.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use core::ffi::{c_char, c_int, c_void, CStr};
use core::ptr;
use std::path::PathBuf;

use super::error::Failure;
use super::handle::tests::{call_for_test, status_call_for_test};
use super::*;
use crate::engine;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("linedb-ffi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn store(&self) -> std::ffi::CString {
        std::ffi::CString::new(self.0.join("store").to_str().unwrap()).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_error() -> linedb_error {
    linedb_error { code: 99, message: [0; LINEDB_MESSAGE_MAX] }
}

fn new_result() -> linedb_result {
    linedb_result { status: 0, retry_after_secs: 0, count: 0, error_line: 0, message: [0; LINEDB_MESSAGE_MAX] }
}

fn text(buf: &[c_char]) -> String {
    // SAFETY: the library always NUL-terminates the message.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap().to_owned()
}

fn open_no_auth(dir: &TempDir) -> *mut linedb {
    let mut opts = std::mem::MaybeUninit::<linedb_options>::uninit();
    let mut db = ptr::null_mut();
    let mut err = new_error();
    // SAFETY: valid pointers to our locals.
    unsafe {
        linedb_options_init(opts.as_mut_ptr());
        let mut opts = opts.assume_init();
        opts.flags = LINEDB_OPEN_NO_AUTH;
        let code = linedb_open(dir.store().as_ptr(), &opts, &mut db, &mut err);
        assert_eq!(code, linedb_code::LINEDB_OK, "{}", text(&err.message));
        assert_eq!(linedb_create_database(db, c"db".as_ptr(), &mut err), linedb_code::LINEDB_OK);
    }
    db
}

fn write(db: *mut linedb, lines: &str, result: &mut linedb_result) -> u16 {
    // SAFETY: a live handle, valid strings and a valid result.
    unsafe {
        linedb_write(db, c"db".as_ptr(), ptr::null(), lines.as_ptr().cast(), lines.len(), 0, result)
    }
}

extern "C" fn count(ctx: *mut c_void, _line: *const c_char, _len: usize) -> c_int {
    // SAFETY: the tests pass a `*mut u64` as ctx.
    unsafe { *ctx.cast::<u64>() += 1 };
    0
}

#[test]
fn a_panic_answers_internal_and_poisons_the_handle() {
    let dir = TempDir::new("panic");
    let db = open_no_auth(&dir);
    let mut err = new_error();
    let mut result = new_result();

    assert_eq!(write(db, "m f=1 1", &mut result), 204);
    let code = call_for_test(db, &mut err, |_| -> Result<(), Failure> { panic!("injected") });
    assert_eq!(code, linedb_code::LINEDB_ERR_INTERNAL);
    assert_eq!(err.code, linedb_code::LINEDB_ERR_INTERNAL as u32);
    assert!(text(&err.message).contains("injected"), "{}", text(&err.message));

    // Every later call on the handle answers INTERNAL / 500.
    assert_eq!(write(db, "m f=1 2", &mut result), 500);
    assert_eq!(result.status, 500);
    assert!(text(&result.message).contains("internal error"));
    let mut lines = 0_u64;
    // SAFETY: a live handle, valid strings, a callback of the right type.
    let status = unsafe {
        linedb_query(db, c"db".as_ptr(), ptr::null(), ptr::null(), 0, 10, Some(count), (&raw mut lines).cast(), &mut result)
    };
    assert_eq!(status, 500);
    // SAFETY: a live handle and a valid error.
    unsafe {
        assert_eq!(linedb_checkpoint(db, &mut err), linedb_code::LINEDB_ERR_INTERNAL);
        assert_eq!(linedb_create_database(db, c"other".as_ptr(), &mut err), linedb_code::LINEDB_ERR_INTERNAL);
        // Close still frees the handle and releases the lock, and says so.
        assert_eq!(linedb_close(db, &mut err), linedb_code::LINEDB_ERR_INTERNAL);
    }

    // The acknowledged write survived (it is in the WAL).
    let db = {
        let mut db = ptr::null_mut();
        // SAFETY: valid pointers.
        let code = unsafe { linedb_open(dir.store().as_ptr(), ptr::null(), &mut db, &mut err) };
        assert_eq!(code, linedb_code::LINEDB_OK, "{}", text(&err.message));
        db
    };
    let mut lines = 0_u64;
    // SAFETY: as above; the store needs tokens now, so NO_AUTH is off: use
    // a `*` token.
    unsafe {
        let mut token = [0 as c_char; LINEDB_TOKEN_BUF];
        assert_eq!(
            linedb_create_token(db, c"*".as_ptr(), LINEDB_PERM_READ, token.as_mut_ptr(), token.len(), &mut err),
            linedb_code::LINEDB_OK
        );
        let status = linedb_query(
            db, c"db".as_ptr(), token.as_ptr(), ptr::null(), i64::MIN, i64::MAX, Some(count),
            (&raw mut lines).cast(), &mut result,
        );
        assert_eq!(status, 200);
        assert_eq!(lines, 1);
        assert_eq!(linedb_close(db, &mut err), linedb_code::LINEDB_OK);
    }
}

#[test]
fn a_panic_in_a_write_answers_500_and_poisons() {
    let dir = TempDir::new("panic-status");
    let db = open_no_auth(&dir);
    let mut result = new_result();
    let status = status_call_for_test(db, &mut result, |_| -> Result<engine::Outcome, Failure> { panic!("boom") });
    assert_eq!(status, 500);
    assert_eq!(result.status, 500);
    assert!(text(&result.message).contains("boom"));
    assert_eq!(write(db, "m f=1 1", &mut result), 500);
    let mut err = new_error();
    // SAFETY: a live handle.
    assert_eq!(unsafe { linedb_close(db, &mut err) }, linedb_code::LINEDB_ERR_INTERNAL);
}

#[test]
fn writes_while_closing_answer_503() {
    let dir = TempDir::new("closing");
    let db = open_no_auth(&dir);
    let mut result = new_result();
    // What linedb_close does first, then a write that raced with it.
    // SAFETY: a live handle.
    unsafe { &*db }.engine().shut_down().unwrap();
    assert_eq!(write(db, "m f=1 1", &mut result), 503);
    assert!(result.retry_after_secs >= 1);
    assert!(text(&result.message).contains("closing"));
    let mut err = new_error();
    // SAFETY: a live handle.
    assert_eq!(unsafe { linedb_close(db, &mut err) }, linedb_code::LINEDB_OK);
}

#[test]
fn engine_errors_map_to_the_codes_of_the_header() {
    use linedb_code::*;
    let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
    for (error, code) in [
        (engine::Error::InvalidArgument("x".into()), LINEDB_ERR_INVALID_ARGUMENT),
        (engine::Error::NotFound("x".into()), LINEDB_ERR_NOT_FOUND),
        (engine::Error::AlreadyExists("x".into()), LINEDB_ERR_ALREADY_EXISTS),
        (engine::Error::Io(io), LINEDB_ERR_IO),
        (engine::Error::Failed("fsync".into()), LINEDB_ERR_IO),
    ] {
        assert_eq!(Failure::from(error).code, code);
    }
}

#[test]
fn result_and_error_keep_their_size() {
    assert_eq!(size_of::<linedb_error>(), 4 + LINEDB_MESSAGE_MAX);
    assert_eq!(size_of::<linedb_result>(), 24 + LINEDB_MESSAGE_MAX);
    assert_eq!(size_of::<linedb_stats>(), 72);
    // 0.2 added max_batch_bytes at the end.
    assert_eq!(size_of::<linedb_options>(), 32);
}

#[test]
fn close_frees_the_handle_only_after_a_running_call_returns() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Barrier;
    struct Handle(*mut linedb);
    // SAFETY: the handle is thread-safe (the C API's promise); the raw
    // pointer is only passed to calls that take it from any thread.
    unsafe impl Send for Handle {}
    // SAFETY: as for Send.
    unsafe impl Sync for Handle {}
    let dir = TempDir::new("close-waits");
    let db = Handle(open_no_auth(&dir));
    let inside = Barrier::new(2);
    let released = AtomicBool::new(false);
    let call_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (db, inside, released, call_done) = (&db, &inside, &released, &call_done);
        let call = s.spawn(move || {
            let mut result = new_result();
            status_call_for_test(db.0, &mut result, |h| {
                inside.wait();
                while !released.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                // Still a live handle: close is waiting for this call.
                let out = h.engine().write("x", b"m f=1 1", crate::line_protocol::Precision::Nanosecond);
                call_done.store(true, Ordering::Release);
                Ok(out)
            })
        });
        inside.wait();
        let closer = s.spawn(move || {
            let mut err = new_error();
            // SAFETY: a live handle, closed once; the running call is the
            // one the header allows.
            let code = unsafe { linedb_close(db.0, &mut err) };
            (code, call_done.load(Ordering::Acquire))
        });
        // Close has begun (writes answer 503 from now on) but cannot finish.
        // SAFETY: the handle is live: the call above is still running, and
        // close frees it only after.
        while !unsafe { &*db.0 }.engine().is_closing() {
            std::thread::yield_now();
        }
        released.store(true, Ordering::Release);
        assert_eq!(call.join().unwrap(), 503, "the running write sees the store closing");
        let (code, done_first) = closer.join().unwrap();
        assert_eq!(code, linedb_code::LINEDB_OK);
        assert!(done_first, "close returned before the running call did");
    });
}

/// A library built without the `parquet` feature still exports
/// `linedb_export_parquet` (the header is the same for every build); it
/// answers 500 saying why, and makes no file.
#[test]
#[cfg(not(feature = "parquet"))]
fn export_parquet_without_the_feature_answers_500_and_makes_nothing() {
    let dir = TempDir::new("no-parquet");
    let db = open_no_auth(&dir);
    let mut result = new_result();
    assert_eq!(write(db, "m v=1i 1", &mut result), 204);
    let path = std::ffi::CString::new(dir.0.join("m.parquet").to_str().unwrap()).unwrap();
    // SAFETY: a live handle, valid strings and a valid result.
    let status = unsafe {
        linedb_export_parquet(db, c"db".as_ptr(), ptr::null(), c"m".as_ptr(), i64::MIN, i64::MAX, path.as_ptr(), &mut result)
    };
    assert_eq!(status, 500);
    assert!(text(&result.message).contains("without Parquet export"), "{}", text(&result.message));
    assert!(!dir.0.join("m.parquet").exists());
    let mut err = new_error();
    // SAFETY: the handle is live and closed once.
    assert_eq!(unsafe { linedb_close(db, &mut err) }, linedb_code::LINEDB_OK);
}

/// A library built without the `arrow` feature still exports
/// `linedb_influxql_arrow`; it answers 500 saying why, and leaves the
/// stream released.
#[test]
#[cfg(not(feature = "arrow"))]
fn influxql_arrow_without_the_feature_answers_500_and_a_released_stream() {
    let dir = TempDir::new("no-arrow");
    let db = open_no_auth(&dir);
    let mut result = new_result();
    assert_eq!(write(db, "m v=1i 1", &mut result), 204);
    let mut stream = [0xABu8; 40];
    // SAFETY: a live handle, valid strings, 40 writable bytes (a struct
    // ArrowArrayStream) and a valid result.
    let status = unsafe {
        super::linedb_influxql_arrow(
            db,
            c"db".as_ptr(),
            ptr::null(),
            c"SELECT v FROM m".as_ptr(),
            ptr::null(),
            stream.as_mut_ptr().cast(),
            &mut result,
        )
    };
    assert_eq!(status, 500);
    assert!(text(&result.message).contains("without Arrow answers"), "{}", text(&result.message));
    assert_eq!(stream, [0u8; 40], "a released stream");
    let mut err = new_error();
    // SAFETY: the handle is live and closed once.
    assert_eq!(unsafe { linedb_close(db, &mut err) }, linedb_code::LINEDB_OK);
}
