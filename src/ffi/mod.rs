//! The C boundary: pointers, strings, panics and codes; nothing else.
//!
//! `build.rs` runs cbindgen over this module (and only this module, with its
//! submodules) to write `include/linedb.h`, so every public item here is part
//! of the C API described in `API.md`, and its doc comment is copied into the
//! header. Keep to these rules when adding an export:
//!
//! - Every name starts with `linedb_` (types, functions) or `LINEDB_`
//!   (constants, enum values); Rust items carry the C name verbatim.
//! - An exported function is `#[unsafe(no_mangle)] pub extern "C"` (`pub
//!   unsafe extern "C"` when it takes pointers) and its whole body runs
//!   inside [`boundary::guard`] (or `guard_with`; a call on a handle through
//!   `handle::call` / `handle::call_status`, which also poison the handle
//!   after a caught panic): no panic reaches C, a caught one answers
//!   `LINEDB_ERR_INTERNAL` / status 500.
//! - One concept per file: `handle` (the opaque `linedb`, options, open,
//!   close), `tokens` (databases and tokens), `write`, `query`, `status`
//!   (stats, field types, checkpoint), `error` (`linedb_error`, engine
//!   errors to codes), `result` (`linedb_result`), `strings` (C strings and
//!   caller-owned buffers).
//! - A C enum never arrives in Rust as a Rust enum: C may pass any integer,
//!   and a Rust enum holding a value that is not one of its variants is
//!   undefined behaviour. Parameters take the `*_raw` integer alias (shown as
//!   the enum type in the header, see [`linedb_code_raw`]) and convert with
//!   `from_raw`. Rust enums only travel out (return values, out-pointers).
//! - Its doc comment says what it does, who owns what goes in and out, and
//!   from which threads it may be called.

use core::ffi::{c_char, CStr};

mod boundary;
mod error;
mod result;
mod strings;
#[cfg(test)]
mod api_tests;

// The exported functions, in the order of API.md (cbindgen writes them to
// the header in the order it meets these modules; keep the blank lines, so
// that rustfmt does not sort them).
mod handle;

mod tokens;

mod write;

mod query;

mod influxql;

mod rows;

mod arrow;

mod export;

mod status;

mod verify;

use boundary::guard;

pub use error::linedb_error;
pub use handle::{
    linedb, linedb_close, linedb_open, linedb_options, linedb_options_init, LINEDB_OPEN_NO_AUTH,
};
pub use export::linedb_export_parquet;
pub use influxql::{linedb_influxql, linedb_query_options, linedb_query_options_init};
pub use arrow::linedb_influxql_arrow;
pub use rows::{
    linedb_influxql_rows, linedb_row_fn, linedb_rows_fn, linedb_series_fn, linedb_statement_error_fn, linedb_value,
    linedb_value_type,
};
pub use query::{linedb_line_fn, linedb_query};
pub use result::linedb_result;
pub use status::{
    linedb_checkpoint, linedb_compact, linedb_field_type_get, linedb_set_wal_file_bytes, linedb_stats, linedb_stats_get,
};
pub use tokens::{
    linedb_create_database, linedb_create_token, linedb_revoke_token, LINEDB_PERM_READ,
    LINEDB_PERM_WRITE, LINEDB_TOKEN_BUF,
};
pub use verify::{linedb_verify, linedb_verify_report};
pub use write::linedb_write;

/// Size in bytes, the terminating NUL included, of every `message` buffer
/// the library fills (`linedb_error.message`, `linedb_result.message`).
/// Longer messages are cut to fit and stay NUL-terminated.
pub const LINEDB_MESSAGE_MAX: usize = 1024;

/// The result of every call but `linedb_write` and `linedb_query`.
///
/// The values are fixed numbers: new codes may be added, none is ever
/// renumbered, and a retired value stays reserved.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum linedb_code {
    /// Success.
    LINEDB_OK = 0,
    /// A NULL pointer, a bad name, non-UTF-8 text, or a buffer too small.
    LINEDB_ERR_INVALID_ARGUMENT = 1,
    /// The named database, token or item does not exist.
    LINEDB_ERR_NOT_FOUND = 2,
    /// The named database or item exists already.
    LINEDB_ERR_ALREADY_EXISTS = 3,
    /// Another process holds the store's directory.
    LINEDB_ERR_LOCKED = 4,
    /// The operating system refused; the message names the file and errno.
    LINEDB_ERR_IO = 5,
    /// Damage that recovery cannot repair without losing acknowledged data.
    LINEDB_ERR_CORRUPT = 6,
    /// Files of an unknown format version.
    LINEDB_ERR_VERSION = 7,
    /// A bug: a panic was caught at the boundary.
    LINEDB_ERR_INTERNAL = 8,
}

/// A `linedb_code` as it arrives from C, as the raw integer it is.
///
/// cbindgen shows it as `linedb_code` in the header (`[export.rename]` in
/// `cbindgen.toml`; `no-export` keeps the alias itself out), so C callers see
/// the enum type, while Rust receives a plain integer for which every bit
/// pattern is valid: a C caller may pass any value of the enum's underlying
/// type (`(linedb_code)42`, `(linedb_code)-1`), and a Rust `linedb_code`
/// holding such a value would be undefined behaviour. The conversion is
/// [`linedb_code::from_raw`]. This matches the C ABI because a C enum whose
/// values fit in `int` is passed as a 32-bit integer on every target Rust
/// gives `#[repr(C)]` enums that size; the `const` assertion below stops the
/// build on a target where the sizes differ (e.g. `-fshort-enums` ABIs).
///
/// cbindgen:no-export
#[allow(non_camel_case_types)]
pub type linedb_code_raw = u32;

const _: () = assert!(size_of::<linedb_code>() == size_of::<linedb_code_raw>());
const _: () = assert!(align_of::<linedb_code>() == align_of::<linedb_code_raw>());

impl linedb_code {
    /// The code with this value, or `None` for a value that is no code.
    pub const fn from_raw(raw: linedb_code_raw) -> Option<Self> {
        Some(match raw {
            0 => linedb_code::LINEDB_OK,
            1 => linedb_code::LINEDB_ERR_INVALID_ARGUMENT,
            2 => linedb_code::LINEDB_ERR_NOT_FOUND,
            3 => linedb_code::LINEDB_ERR_ALREADY_EXISTS,
            4 => linedb_code::LINEDB_ERR_LOCKED,
            5 => linedb_code::LINEDB_ERR_IO,
            6 => linedb_code::LINEDB_ERR_CORRUPT,
            7 => linedb_code::LINEDB_ERR_VERSION,
            8 => linedb_code::LINEDB_ERR_INTERNAL,
            _ => return None,
        })
    }

    /// The code's C name, e.g. `"LINEDB_ERR_LOCKED"`.
    pub const fn name(self) -> &'static CStr {
        match self {
            linedb_code::LINEDB_OK => c"LINEDB_OK",
            linedb_code::LINEDB_ERR_INVALID_ARGUMENT => c"LINEDB_ERR_INVALID_ARGUMENT",
            linedb_code::LINEDB_ERR_NOT_FOUND => c"LINEDB_ERR_NOT_FOUND",
            linedb_code::LINEDB_ERR_ALREADY_EXISTS => c"LINEDB_ERR_ALREADY_EXISTS",
            linedb_code::LINEDB_ERR_LOCKED => c"LINEDB_ERR_LOCKED",
            linedb_code::LINEDB_ERR_IO => c"LINEDB_ERR_IO",
            linedb_code::LINEDB_ERR_CORRUPT => c"LINEDB_ERR_CORRUPT",
            linedb_code::LINEDB_ERR_VERSION => c"LINEDB_ERR_VERSION",
            linedb_code::LINEDB_ERR_INTERNAL => c"LINEDB_ERR_INTERNAL",
        }
    }
}

/// What `linedb_code_name` answers for a value that is no `linedb_code`.
const UNKNOWN_CODE_NAME: &CStr = c"LINEDB_UNKNOWN_CODE";

/// The unit of the timestamps in a batch given to `linedb_write`.
///
/// The values are fixed numbers (see `linedb_code`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum linedb_precision {
    /// Timestamps in nanoseconds since the Unix epoch.
    LINEDB_PRECISION_NANOSECOND = 0,
    /// Timestamps in microseconds since the Unix epoch.
    LINEDB_PRECISION_MICROSECOND = 1,
    /// Timestamps in milliseconds since the Unix epoch.
    LINEDB_PRECISION_MILLISECOND = 2,
    /// Timestamps in seconds since the Unix epoch.
    LINEDB_PRECISION_SECOND = 3,
}

/// A `linedb_precision` as it arrives from C; shown as `linedb_precision` in
/// the header. Same reasoning as [`linedb_code_raw`]; convert with
/// [`linedb_precision::from_raw`].
///
/// cbindgen:no-export
#[allow(non_camel_case_types)]
pub type linedb_precision_raw = u32;

const _: () = assert!(size_of::<linedb_precision>() == size_of::<linedb_precision_raw>());
const _: () = assert!(align_of::<linedb_precision>() == align_of::<linedb_precision_raw>());

impl linedb_precision {
    /// The precision with this value, or `None` for a value that is none.
    pub const fn from_raw(raw: linedb_precision_raw) -> Option<Self> {
        Some(match raw {
            0 => linedb_precision::LINEDB_PRECISION_NANOSECOND,
            1 => linedb_precision::LINEDB_PRECISION_MICROSECOND,
            2 => linedb_precision::LINEDB_PRECISION_MILLISECOND,
            3 => linedb_precision::LINEDB_PRECISION_SECOND,
            _ => return None,
        })
    }
}

/// The type of a field in one partition, as `linedb_field_type_get` reports
/// it.
///
/// The values are fixed numbers (see `linedb_code`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum linedb_field_type {
    /// The field has no type in that partition yet.
    LINEDB_FIELD_NONE = 0,
    /// A 64-bit float (`1.5`, `1`).
    LINEDB_FIELD_FLOAT = 1,
    /// A signed 64-bit integer (`1i`).
    LINEDB_FIELD_INTEGER = 2,
    /// An unsigned 64-bit integer (`1u`).
    LINEDB_FIELD_UINTEGER = 3,
    /// A string (`"text"`).
    LINEDB_FIELD_STRING = 4,
    /// A boolean (`true`, `f`, ...).
    LINEDB_FIELD_BOOLEAN = 5,
}

/// The crate version, NUL-terminated, checked at compile time.
const VERSION: &CStr = {
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        // Unreachable: a Cargo version holds no NUL. If it did, this would be
        // a compile error (the panic is evaluated at compile time).
        #[allow(clippy::panic)]
        Err(_) => panic!("CARGO_PKG_VERSION holds a NUL byte"),
    }
};

/// Returns the library's version as "MAJOR.MINOR.PATCH", e.g. "0.1.0": the
/// numbers of the LINEDB_VERSION_MAJOR, _MINOR and _PATCH macros of the
/// header the library was built with. Compare them to detect a program
/// compiled against one header and linked to another library.
///
/// Ownership: the string is static, never NULL; do not free or modify it.
/// Threading: callable from any thread at any time, with or without an open
/// store.
// SAFETY: `no_mangle` is sound as `linedb_version` is defined once, here,
// and no other symbol of the crate or its dependencies has this name.
#[unsafe(no_mangle)]
pub extern "C" fn linedb_version() -> *const c_char {
    guard(|| VERSION.as_ptr())
}

/// Returns the name of a code as a string, e.g. "LINEDB_ERR_LOCKED" for
/// LINEDB_ERR_LOCKED; for a value that is no linedb_code (any other number)
/// it returns "LINEDB_UNKNOWN_CODE". Any value is safe to pass.
///
/// Ownership: the string is static, never NULL; do not free or modify it.
/// Threading: callable from any thread at any time.
// SAFETY: `no_mangle` is sound as `linedb_code_name` is defined once, here,
// and no other symbol of the crate or its dependencies has this name.
#[unsafe(no_mangle)]
pub extern "C" fn linedb_code_name(code: linedb_code_raw) -> *const c_char {
    guard(|| match linedb_code::from_raw(code) {
        Some(code) => code.name().as_ptr(),
        None => UNKNOWN_CODE_NAME.as_ptr(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a string the library returned.
    fn text(ptr: *const c_char) -> &'static str {
        assert!(!ptr.is_null());
        // SAFETY: every string these functions return is a static,
        // NUL-terminated `CStr` (checked non-NULL above).
        let text = unsafe { CStr::from_ptr(ptr) };
        text.to_str().unwrap_or("<not UTF-8>")
    }

    #[test]
    fn version_is_the_package_version() {
        assert_eq!(text(linedb_version()), env!("CARGO_PKG_VERSION"));
        assert_eq!(text(linedb_version()), "0.1.0");
    }

    #[test]
    fn codes_have_the_numbers_of_api_md() {
        let expected = [
            (0, "LINEDB_OK"),
            (1, "LINEDB_ERR_INVALID_ARGUMENT"),
            (2, "LINEDB_ERR_NOT_FOUND"),
            (3, "LINEDB_ERR_ALREADY_EXISTS"),
            (4, "LINEDB_ERR_LOCKED"),
            (5, "LINEDB_ERR_IO"),
            (6, "LINEDB_ERR_CORRUPT"),
            (7, "LINEDB_ERR_VERSION"),
            (8, "LINEDB_ERR_INTERNAL"),
        ];
        for (value, name) in expected {
            let code = linedb_code::from_raw(value);
            assert_eq!(code.map(|code| code as u32), Some(value));
            let Some(code) = code else { continue };
            assert_eq!(code.name().to_str(), Ok(name));
            assert_eq!(text(linedb_code_name(value)), name);
        }
    }

    #[test]
    fn out_of_range_codes_are_unknown() {
        for value in [9, 10, 255, 256, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            assert_eq!(linedb_code::from_raw(value), None);
            assert_eq!(text(linedb_code_name(value)), "LINEDB_UNKNOWN_CODE");
        }
    }

    #[test]
    fn precisions_and_field_types_have_the_numbers_of_api_md() {
        use linedb_field_type::*;
        use linedb_precision::*;

        assert_eq!(LINEDB_PRECISION_NANOSECOND as u32, 0);
        assert_eq!(LINEDB_PRECISION_MICROSECOND as u32, 1);
        assert_eq!(LINEDB_PRECISION_MILLISECOND as u32, 2);
        assert_eq!(LINEDB_PRECISION_SECOND as u32, 3);
        for value in 0..4 {
            assert_eq!(
                linedb_precision::from_raw(value).map(|p| p as u32),
                Some(value)
            );
        }
        assert_eq!(linedb_precision::from_raw(4), None);
        assert_eq!(linedb_precision::from_raw(u32::MAX), None);

        assert_eq!(LINEDB_FIELD_NONE as u32, 0);
        assert_eq!(LINEDB_FIELD_FLOAT as u32, 1);
        assert_eq!(LINEDB_FIELD_INTEGER as u32, 2);
        assert_eq!(LINEDB_FIELD_UINTEGER as u32, 3);
        assert_eq!(LINEDB_FIELD_STRING as u32, 4);
        assert_eq!(LINEDB_FIELD_BOOLEAN as u32, 5);
    }

    #[test]
    fn message_max_is_api_md() {
        assert_eq!(LINEDB_MESSAGE_MAX, 1024);
    }
}
