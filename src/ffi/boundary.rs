//! The panic boundary: the one place where a panic is stopped before it
//! reaches C.
//!
//! Every exported function's body runs inside [`guard`] (or [`guard_with`],
//! which `guard` is built on, so there is exactly one `catch_unwind` in the
//! crate's C boundary). A caught panic becomes the function's "internal
//! error" answer ([`OnPanic`]): `LINEDB_ERR_INTERNAL`, status 500, a static
//! empty string. Nothing unwinds into C.
//!
//! Limits, on purpose:
//! - With `panic = "abort"` there is nothing to catch: the process aborts. The
//!   crate's profiles keep the default `unwind`.
//! - A panic payload whose own `Drop` panics, or a panic while panicking,
//!   aborts: since Rust 1.81 an unwind that reaches an `extern "C"` frame
//!   aborts instead of being undefined behaviour.
//! - The body is wrapped in [`AssertUnwindSafe`]: after a caught panic, state
//!   the body shared with other calls (a handle's engine) may be half-updated.
//!   Code behind the boundary must therefore keep shared state consistent at
//!   every point where it can panic, or mark it failed (as a failed fsync
//!   does) so that later calls answer an error instead of trusting it.

use core::ffi::c_char;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::linedb_code;

/// The answer an exported function gives when its body panicked.
///
/// Implement it for every return type of an exported function. The answer
/// must itself be infallible (no allocation, no I/O), since it is what is left
/// when everything else failed.
pub(crate) trait OnPanic {
    /// The value returned to C after a caught panic.
    fn on_panic() -> Self;
}

impl OnPanic for linedb_code {
    fn on_panic() -> Self {
        linedb_code::LINEDB_ERR_INTERNAL
    }
}

/// Functions returning a `const char *` return static strings and are never
/// NULL, so a C caller may print the result directly: after a panic they
/// return the static empty string.
impl OnPanic for *const c_char {
    fn on_panic() -> Self {
        c"".as_ptr()
    }
}

/// Functions answering an HTTP-like status (`linedb_write`,
/// `linedb_query`) answer 500.
impl OnPanic for u16 {
    fn on_panic() -> Self {
        500
    }
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

/// Runs `body`; if it panics, answers `T::on_panic()` instead of unwinding.
///
/// Use it as the whole body of every `extern "C"` function:
///
/// ```ignore
/// #[unsafe(no_mangle)]
/// pub extern "C" fn linedb_something() -> linedb_code {
///     guard(|| { /* ... */ linedb_code::LINEDB_OK })
/// }
/// ```
pub(crate) fn guard<T: OnPanic>(body: impl FnOnce() -> T) -> T {
    guard_with(|_message| T::on_panic(), body)
}

/// Runs `body`; if it panics, calls `on_panic` with the panic's message and
/// answers what it returns (for a function that must also report the failure
/// into a struct the caller passed, e.g. `linedb_error` or `linedb_result`).
///
/// If `on_panic` panics in turn, the answer is `T::on_panic()`.
pub(crate) fn guard_with<T: OnPanic>(
    on_panic: impl FnOnce(&str) -> T,
    body: impl FnOnce() -> T,
) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            catch_unwind(AssertUnwindSafe(|| on_panic(message))).unwrap_or_else(|_| T::on_panic())
        }
    }
}

/// The text a panic was raised with (`panic!("...")` gives a `&str` or a
/// `String`), or a fixed text for any other payload.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_str()
    } else {
        "panic with a non-text payload"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;
    use core::ffi::CStr;

    #[test]
    fn passes_the_value_through_without_a_panic() {
        assert_eq!(
            guard(|| linedb_code::LINEDB_ERR_LOCKED),
            linedb_code::LINEDB_ERR_LOCKED
        );
    }

    #[test]
    fn a_panic_becomes_the_internal_error() {
        let code: linedb_code = guard(|| panic!("boom"));
        assert_eq!(code, linedb_code::LINEDB_ERR_INTERNAL);

        let text: *const c_char = guard(|| panic!("boom"));
        assert!(!text.is_null());
        // SAFETY: `OnPanic for *const c_char` returns a static NUL-terminated string.
        assert_eq!(unsafe { CStr::from_ptr(text) }, c"");

        guard::<()>(|| panic!("boom"));
    }

    #[test]
    fn the_handler_sees_the_message() {
        let mut seen = String::new();
        let code = guard_with(
            |message| {
                seen = message.to_owned();
                linedb_code::LINEDB_ERR_IO
            },
            || -> linedb_code { panic!("disk {} on fire", 3) },
        );
        assert_eq!(code, linedb_code::LINEDB_ERR_IO);
        assert_eq!(seen, "disk 3 on fire");

        let code = guard_with(
            |message| {
                seen = message.to_owned();
                linedb_code::LINEDB_ERR_IO
            },
            || -> linedb_code { std::panic::panic_any(42_u8) },
        );
        assert_eq!(code, linedb_code::LINEDB_ERR_IO);
        assert_eq!(seen, "panic with a non-text payload");
    }

    #[test]
    fn a_panicking_handler_falls_back_to_the_default() {
        let code = guard_with(
            |_| -> linedb_code { panic!("handler") },
            || -> linedb_code { panic!("body") },
        );
        assert_eq!(code, linedb_code::LINEDB_ERR_INTERNAL);
    }
}
