//! Databases and tokens: `linedb_create_database`, `linedb_create_token`,
//! `linedb_revoke_token`.

use core::ffi::c_char;

use super::error::Failure;
use super::handle::{call, linedb};
use super::strings::str_arg;
use super::{linedb_code, linedb_error};
use crate::auth;

/// Permission to query a database (linedb_create_token's perms).
pub const LINEDB_PERM_READ: u32 = 1;
/// Permission to write a database (linedb_create_token's perms).
pub const LINEDB_PERM_WRITE: u32 = 2;
/// A buffer this large always holds a token and its NUL. A token today is
/// "ldb_" and 40 characters of [0-9A-Za-z] (45 bytes with the NUL); anything
/// else is malformed. Tokens compare exactly (case matters), in constant
/// time.
pub const LINEDB_TOKEN_BUF: usize = 128;

const _: () = assert!(LINEDB_PERM_READ == auth::PERM_READ && LINEDB_PERM_WRITE == auth::PERM_WRITE);
const _: () = assert!(auth::TOKEN_LEN < LINEDB_TOKEN_BUF);

/// Creates a database, durably.
///
/// - db: an open handle.
/// - name: NUL-terminated UTF-8, 1 to 64 bytes, no '/'; read during the
///   call only.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (db or name NULL, name
/// not UTF-8 or breaking the rules); LINEDB_ERR_ALREADY_EXISTS;
/// LINEDB_ERR_IO (the OS refused, or the store failed earlier and must be
/// reopened); LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close.
///
/// # Safety
///
/// db NULL or an open handle; name NULL or NUL-terminated; err NULL or a
/// writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_create_database(
    db: *mut linedb,
    name: *const c_char,
    err: *mut linedb_error,
) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call(db, err, |handle| {
            let name = str_arg(name, "name")?;
            Ok(handle.engine().create_database(name)?)
        })
    }
}

/// Creates a token, durably (only its SHA-256 hash is stored), and writes
/// it, NUL-terminated, into token_out.
///
/// - db: an open handle.
/// - database: the database name the token is for, or "*" for every
///   database (also ones created later); it need not exist yet.
/// - perms: LINEDB_PERM_READ, LINEDB_PERM_WRITE or both (OR-ed); anything
///   else is an invalid argument.
/// - token_out, token_out_len: the caller's buffer; at least 45 bytes
///   (LINEDB_TOKEN_BUF always suffices), else LINEDB_ERR_INVALID_ARGUMENT
///   and no token is created. Untouched on failure.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (NULL pointer, bad name,
/// bad perms, buffer too small); LINEDB_ERR_IO (the OS refused, or the
/// store failed earlier); LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close.
///
/// # Safety
///
/// db NULL or an open handle; database NULL or NUL-terminated; token_out
/// NULL or token_out_len writable bytes; err NULL or a writable
/// linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_create_token(
    db: *mut linedb,
    database: *const c_char,
    perms: u32,
    token_out: *mut c_char,
    token_out_len: usize,
    err: *mut linedb_error,
) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call(db, err, |handle| {
            let database = str_arg(database, "database")?;
            if token_out.is_null() {
                return Err(Failure::invalid("token_out is NULL"));
            }
            let need = auth::TOKEN_LEN + 1;
            if token_out_len < need {
                return Err(Failure::invalid(format!(
                    "token_out_len is {token_out_len}; a token needs {need} bytes (use LINEDB_TOKEN_BUF)"
                )));
            }
            let token = handle.engine().create_token(database, perms)?;
            if token.len() >= token_out_len {
                return Err(Failure::internal("a token longer than promised"));
            }
            // SAFETY: `token_out` has `token_out_len` writable bytes (the
            // caller's contract) and the token and its NUL fit (checked).
            let out = core::slice::from_raw_parts_mut(token_out.cast::<u8>(), token.len() + 1);
            out[..token.len()].copy_from_slice(token.as_bytes());
            out[token.len()] = 0;
            Ok(())
        })
    }
}

/// Revokes a token, durably: it is refused (401) from the next call on.
///
/// - db: an open handle.
/// - token: NUL-terminated, as linedb_create_token wrote it; read during
///   the call only.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (NULL, not UTF-8, or a
/// malformed token); LINEDB_ERR_NOT_FOUND (unknown or already revoked);
/// LINEDB_ERR_IO (the OS refused, or the store failed earlier);
/// LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close.
///
/// # Safety
///
/// db NULL or an open handle; token NULL or NUL-terminated; err NULL or a
/// writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_revoke_token(
    db: *mut linedb,
    token: *const c_char,
    err: *mut linedb_error,
) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call(db, err, |handle| {
            let token = str_arg(token, "token")?;
            Ok(handle.engine().revoke_token(token)?)
        })
    }
}
