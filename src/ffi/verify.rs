//! `linedb_verify`: the scrub of every stored byte, and its report.

use core::ffi::c_char;
use core::mem::{offset_of, size_of};
use core::ptr;

use super::error::Failure;
use super::handle::{call, linedb};
use super::strings::write_message;
use super::{linedb_code, linedb_error, LINEDB_MESSAGE_MAX};

/// What linedb_verify read and found. Set struct_size to
/// sizeof(linedb_verify_report): the library writes only the fields that lie
/// wholly within that many bytes, so a program built against an older,
/// smaller struct keeps working. Fields may be added at the end, never
/// removed or reordered.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct linedb_verify_report {
    /// The caller sets sizeof(linedb_verify_report); at least 16
    /// (struct_size and files). The library never writes it.
    pub struct_size: u32,
    /// Files read: the catalog, each segment, each live write-ahead log file.
    pub files: u64,
    /// Segment blocks and log records checked (the catalog counts as one).
    pub blocks: u64,
    /// Bytes read and checked.
    pub bytes: u64,
    /// 0: every stored byte matched its checksum.
    pub damaged_blocks: u64,
    /// The cause, offset and file of the first damage, or "".
    /// NUL-terminated, cut to fit.
    pub first_damage: [c_char; LINEDB_MESSAGE_MAX],
}

/// The smallest `struct_size` accepted: up to and including `files`.
const MIN_REPORT_SIZE: usize = offset_of!(linedb_verify_report, files) + size_of::<u64>();

/// Reads every stored byte of the store and checks it against its checksum
/// (a scrub): the catalog, every segment block, every live write-ahead log
/// record. Writes go on meanwhile; a checkpoint waits for the log's part.
/// A damaged segment block found here is never answered from afterwards:
/// queries that need its partition answer 500 naming it.
///
/// - db: an open handle.
/// - out: the caller's report, struct_size set; written during the call
///   only, and only on LINEDB_OK.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK when it could read everything, whatever it found:
/// damage is in the report (damaged_blocks, first_damage);
/// LINEDB_ERR_INVALID_ARGUMENT (db or out NULL, struct_size below 16);
/// LINEDB_ERR_IO (a file could not be read, or the store failed earlier);
/// LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close. It reads the whole store: expect it to take as long as
/// reading that many bytes from the disk.
///
/// # Safety
///
/// db NULL or an open handle; out NULL or struct_size writable bytes,
/// aligned for linedb_verify_report; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_verify(
    db: *mut linedb,
    out: *mut linedb_verify_report,
    err: *mut linedb_error,
) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call(db, err, |handle| {
            if out.is_null() {
                return Err(Failure::invalid("out is NULL"));
            }
            // SAFETY: `struct_size` is the first field of every version.
            let size = ptr::addr_of!((*out).struct_size).read() as usize;
            if size < MIN_REPORT_SIZE {
                return Err(Failure::invalid(format!(
                    "linedb_verify_report.struct_size is {size}; set it to sizeof(linedb_verify_report) (at least {MIN_REPORT_SIZE})"
                )));
            }
            let r = handle.engine().verify()?;
            let fields = [
                (offset_of!(linedb_verify_report, files), r.files),
                (offset_of!(linedb_verify_report, blocks), r.blocks),
                (offset_of!(linedb_verify_report, bytes), r.bytes),
                (offset_of!(linedb_verify_report, damaged_blocks), r.damaged_blocks),
            ];
            for (offset, value) in fields {
                if offset + size_of::<u64>() <= size {
                    // SAFETY: the field lies within the caller's
                    // `struct_size` writable bytes (checked), at an offset
                    // aligned for u64 in a struct aligned for the report.
                    out.cast::<u8>().add(offset).cast::<u64>().write(value);
                }
            }
            let at = offset_of!(linedb_verify_report, first_damage);
            if at + LINEDB_MESSAGE_MAX <= size {
                // SAFETY: the whole array lies within the caller's
                // `struct_size` writable bytes (checked); c_char has no
                // alignment requirement beyond 1.
                let dst = core::slice::from_raw_parts_mut(out.cast::<u8>().add(at).cast::<c_char>(), LINEDB_MESSAGE_MAX);
                write_message(dst, &r.first_damage);
            }
            Ok(())
        })
    }
}
