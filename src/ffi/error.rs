//! `linedb_error` and the mapping of the engine's errors to `linedb_code`.

use core::ffi::c_char;

use super::strings::write_message;
use super::{linedb_code, linedb_code_raw, LINEDB_MESSAGE_MAX};
use crate::engine;
use crate::error::OpenError;

/// What a failing call reports, in a struct the caller owns: the code it
/// returned and a message saying what failed and why (the file and errno,
/// the name, the argument).
///
/// A successful call leaves it untouched. Its size never changes; new
/// information comes through new functions.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_error {
    /// The code the call returned.
    pub code: linedb_code_raw,
    /// NUL-terminated UTF-8, cut to fit at a character boundary.
    pub message: [c_char; LINEDB_MESSAGE_MAX],
}

/// A failed call's code and message, before it is copied out.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: linedb_code,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: linedb_code, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(linedb_code::LINEDB_ERR_INVALID_ARGUMENT, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Failure::new(linedb_code::LINEDB_ERR_INTERNAL, message)
    }
}

impl From<engine::Error> for Failure {
    /// `Failed` (the store failed earlier, e.g. a failed fsync, and must be
    /// reopened) is reported as `LINEDB_ERR_IO`: the operating system refused
    /// something the store needed.
    fn from(e: engine::Error) -> Self {
        let code = match e {
            engine::Error::InvalidArgument(_) => linedb_code::LINEDB_ERR_INVALID_ARGUMENT,
            engine::Error::NotFound(_) => linedb_code::LINEDB_ERR_NOT_FOUND,
            engine::Error::AlreadyExists(_) => linedb_code::LINEDB_ERR_ALREADY_EXISTS,
            engine::Error::Io(_) | engine::Error::Failed(_) => linedb_code::LINEDB_ERR_IO,
            engine::Error::Corrupt(_) => linedb_code::LINEDB_ERR_CORRUPT,
            // `engine::Error` is non-exhaustive: a kind added later is
            // reported as an I/O failure until it gets its own code.
            #[allow(unreachable_patterns)]
            _ => linedb_code::LINEDB_ERR_IO,
        };
        Failure::new(code, e.to_string())
    }
}

/// The failure of opening the store in `dir`.
pub(crate) fn open_failure(dir: &str, e: &OpenError) -> Failure {
    let code = match e {
        OpenError::Locked { .. } => linedb_code::LINEDB_ERR_LOCKED,
        OpenError::Io(_) => linedb_code::LINEDB_ERR_IO,
        OpenError::Corrupt { .. } => linedb_code::LINEDB_ERR_CORRUPT,
        OpenError::Version { .. } => linedb_code::LINEDB_ERR_VERSION,
        OpenError::InvalidArgument(_) => linedb_code::LINEDB_ERR_INVALID_ARGUMENT,
        #[allow(unreachable_patterns)]
        _ => linedb_code::LINEDB_ERR_IO,
    };
    // The cause first (API.md: a message cut to LINEDB_MESSAGE_MAX keeps it).
    Failure::new(code, format!("cannot open the store: {e} (store directory {dir:?})"))
}

/// Copies a failure into the caller's `linedb_error` (if not NULL) and
/// answers its code.
///
/// # Safety
///
/// `err` is NULL or points to a writable `linedb_error` no other thread
/// touches during the call.
pub(crate) unsafe fn report(err: *mut linedb_error, failure: &Failure) -> linedb_code {
    // SAFETY: NULL or a valid, exclusively ours `linedb_error` (the caller's
    // contract); every bit pattern of its fields is valid, so a reference to
    // whatever the caller left in it is sound.
    if let Some(err) = unsafe { err.as_mut() } {
        err.code = failure.code as linedb_code_raw;
        write_message(&mut err.message, &failure.message);
    }
    failure.code
}

/// [`report`] for a result: `LINEDB_OK` leaves `err` untouched.
///
/// # Safety
///
/// As [`report`].
pub(crate) unsafe fn finish(err: *mut linedb_error, result: Result<(), Failure>) -> linedb_code {
    match result {
        Ok(()) => linedb_code::LINEDB_OK,
        // SAFETY: the caller's contract, as `report`'s.
        Err(failure) => unsafe { report(err, &failure) },
    }
}
