//! C strings and caller-owned buffers: reading NUL-terminated UTF-8 that
//! comes in, and writing NUL-terminated text, cut to fit at a UTF-8
//! boundary, into memory the caller owns. Nothing here allocates memory the
//! caller would have to free.

use core::ffi::{c_char, CStr};

use super::error::Failure;

/// Borrows the NUL-terminated UTF-8 string at `ptr`, named `what` in the
/// error: NULL and non-UTF-8 are invalid arguments.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL (checked), NUL-terminated and valid for 'a (the
    // caller's contract, passed on from the C API's).
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map_err(|e| Failure::invalid(format!("{what} is not UTF-8 (invalid byte at offset {})", e.valid_up_to())))
}

/// [`str_arg`] for an argument where NULL means "none".
///
/// # Safety
///
/// As [`str_arg`].
pub(crate) unsafe fn optional_str_arg<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: the caller's contract, as `str_arg`'s.
        unsafe { str_arg(ptr, what) }.map(Some)
    }
}

/// Borrows `len` bytes at `ptr`; NULL is allowed only with `len` 0.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Failure::invalid(format!("{what} is NULL with length {len}"))) };
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!("{what} length {len} is too large")));
    }
    // SAFETY: non-NULL, `len` readable bytes valid for 'a (the caller's
    // contract); `len` fits in isize (checked).
    Ok(unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The longest prefix of `text` that fits in `capacity - 1` bytes, ends at
/// a UTF-8 boundary and holds no NUL byte (a C reader would stop there).
pub(crate) fn fitting_prefix(text: &str, capacity: usize) -> &str {
    let text = text.split('\0').next().unwrap_or("");
    let mut end = text.len().min(capacity.saturating_sub(1));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Writes `text` into `dst`, NUL-terminated, cut to fit at a UTF-8 boundary.
/// An empty `dst` is left as it is.
pub(crate) fn write_message(dst: &mut [c_char], text: &str) {
    if dst.is_empty() {
        return;
    }
    let part = fitting_prefix(text, dst.len());
    for (d, &b) in dst.iter_mut().zip(part.as_bytes()) {
        *d = b as c_char;
    }
    dst[part.len()] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(buf: &[c_char]) -> String {
        let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8(bytes).unwrap_or_else(|_| "<not UTF-8>".into())
    }

    #[test]
    fn messages_are_cut_at_a_utf8_boundary_and_terminated() {
        let mut buf = [b'x' as c_char; 6];
        write_message(&mut buf, "abc");
        assert_eq!(read(&buf), "abc");
        write_message(&mut buf, "abcdefgh");
        assert_eq!(read(&buf), "abcde");
        // "é" is 2 bytes: "abcdé" is 6 bytes, 5 fit, so cut before "é".
        write_message(&mut buf, "abcdé");
        assert_eq!(read(&buf), "abcd");
        write_message(&mut buf, "ab\0cd");
        assert_eq!(read(&buf), "ab");
        let mut one = [b'x' as c_char; 1];
        write_message(&mut one, "abc");
        assert_eq!(one[0], 0);
        write_message(&mut [], "abc");
    }

    #[test]
    fn string_arguments_reject_null_and_non_utf8() {
        // SAFETY: NULL and NUL-terminated literals.
        unsafe {
            assert!(str_arg(core::ptr::null(), "name").is_err());
            assert!(str_arg(c"\xff\xfe".as_ptr(), "name").is_err());
            assert_eq!(str_arg(c"db".as_ptr(), "name").ok(), Some("db"));
            assert_eq!(optional_str_arg(core::ptr::null(), "m").ok(), Some(None));
            assert!(bytes_arg(core::ptr::null(), 1, "lines").is_err());
            assert_eq!(bytes_arg(core::ptr::null(), 0, "lines").ok(), Some(&[][..]));
        }
    }
}
