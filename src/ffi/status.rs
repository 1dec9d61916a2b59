//! The store's status: `linedb_stats_get`, `linedb_field_type_get`, and
//! `linedb_checkpoint`.

use core::ffi::c_char;
use core::mem::{offset_of, size_of};
use core::ptr;

use super::error::Failure;
use super::handle::{call, linedb};
use super::strings::str_arg;
use super::{linedb_code, linedb_error, linedb_field_type};
use crate::line_protocol::FieldType;

/// The store's status, filled by linedb_stats_get. Set struct_size to
/// sizeof(linedb_stats): the library writes only that many bytes, so a
/// program built against an older, smaller struct keeps working. Fields may
/// be added at the end, never removed or reordered.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct linedb_stats {
    /// The caller sets sizeof(linedb_stats); at least 16 (struct_size and
    /// databases). The library never writes it.
    pub struct_size: u32,
    /// Databases.
    pub databases: u64,
    /// Partitions (measurement and UTC day), over every database.
    pub partitions: u64,
    /// Points as stored, before de-duplication.
    pub points: u64,
    /// Un-checkpointed WAL bytes.
    pub wal_bytes: u64,
    /// Bytes used in segment files.
    pub segment_bytes: u64,
    /// Writes answered 204 since open.
    pub writes_accepted: u64,
    /// Writes answered anything else since open.
    pub writes_rejected: u64,
    /// The sequence of the last durable batch.
    pub last_sequence: u64,
}

/// The smallest `struct_size` accepted: up to and including `databases`.
const MIN_STATS_SIZE: usize = offset_of!(linedb_stats, databases) + size_of::<u64>();

impl From<FieldType> for linedb_field_type {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::Float => linedb_field_type::LINEDB_FIELD_FLOAT,
            FieldType::Integer => linedb_field_type::LINEDB_FIELD_INTEGER,
            FieldType::UInteger => linedb_field_type::LINEDB_FIELD_UINTEGER,
            FieldType::String => linedb_field_type::LINEDB_FIELD_STRING,
            FieldType::Boolean => linedb_field_type::LINEDB_FIELD_BOOLEAN,
        }
    }
}

/// Fills *out with the store's status, writing only the fields that lie
/// wholly within out->struct_size bytes (struct_size itself is not written).
///
/// - db: an open handle.
/// - out: the caller's struct, struct_size set; written during the call
///   only.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (db or out NULL,
/// struct_size below 16); LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close; the figures are a snapshot.
///
/// # Safety
///
/// db NULL or an open handle; out NULL or struct_size writable bytes,
/// aligned for linedb_stats; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_stats_get(
    db: *mut linedb,
    out: *mut linedb_stats,
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
            if size < MIN_STATS_SIZE {
                return Err(Failure::invalid(format!(
                    "linedb_stats.struct_size is {size}; set it to sizeof(linedb_stats) (at least {MIN_STATS_SIZE})"
                )));
            }
            let s = handle.engine().stats();
            let fields = [
                (offset_of!(linedb_stats, databases), s.databases),
                (offset_of!(linedb_stats, partitions), s.partitions),
                (offset_of!(linedb_stats, points), s.points),
                (offset_of!(linedb_stats, wal_bytes), s.wal_bytes),
                (offset_of!(linedb_stats, segment_bytes), s.segment_bytes),
                (offset_of!(linedb_stats, writes_accepted), s.writes_accepted),
                (offset_of!(linedb_stats, writes_rejected), s.writes_rejected),
                (offset_of!(linedb_stats, last_sequence), s.last_sequence),
            ];
            for (offset, value) in fields {
                if offset + size_of::<u64>() <= size {
                    // SAFETY: the field lies within the caller's
                    // `struct_size` writable bytes (checked), at an offset
                    // aligned for u64 in a struct aligned for linedb_stats.
                    out.cast::<u8>().add(offset).cast::<u64>().write(value);
                }
            }
            Ok(())
        })
    }
}

/// Writes to *out the type field has in the partition of measurement that
/// time_ns falls in (partitions are per measurement and UTC day), or
/// LINEDB_FIELD_NONE when it has none there yet.
///
/// - db: an open handle.
/// - database, measurement, field: NUL-terminated UTF-8, read during the
///   call only.
/// - out: the caller's; written on success only.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (a NULL or non-UTF-8
/// argument); LINEDB_ERR_NOT_FOUND (no such database); LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close.
///
/// # Safety
///
/// db NULL or an open handle; the strings NULL or NUL-terminated; out NULL
/// or a writable linedb_field_type; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_field_type_get(
    db: *mut linedb,
    database: *const c_char,
    measurement: *const c_char,
    time_ns: i64,
    field: *const c_char,
    out: *mut linedb_field_type,
    err: *mut linedb_error,
) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call(db, err, |handle| {
            let database = str_arg(database, "database")?;
            let measurement = str_arg(measurement, "measurement")?;
            let field = str_arg(field, "field")?;
            if out.is_null() {
                return Err(Failure::invalid("out is NULL"));
            }
            let found = handle.engine().field_type(database, measurement, time_ns, field)?;
            let value = found.map_or(linedb_field_type::LINEDB_FIELD_NONE, linedb_field_type::from);
            // SAFETY: non-NULL and writable (the caller's contract); a
            // raw write, so whatever the caller left there is never read.
            out.write(value);
            Ok(())
        })
    }
}

/// Makes every segment durable and trims the WAL (what linedb_close does
/// before it releases the store). Writes run on meanwhile.
///
/// - db: an open handle.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (db NULL); LINEDB_ERR_IO
/// (the OS refused, e.g. a failed msync or fsync, which fails the store
/// until it is reopened; or it failed earlier); LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close; two checkpoints run one after the other.
///
/// # Safety
///
/// db NULL or an open handle; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_checkpoint(db: *mut linedb, err: *mut linedb_error) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe { call(db, err, |handle| Ok(handle.engine().checkpoint()?)) }
}

/// Sets the most segment files the store keeps open while idle: each open
/// one holds a file descriptor and a memory mapping (of up to the segment
/// size, 64 MiB, of address space). Past the bound the least recently used
/// idle ones are closed (after making their bytes durable) and opened again
/// when next used. The default, 256, leaves most of a process limited to
/// 1024 descriptors to the application. A process with fewer descriptors
/// to spare, or many stores open, sets it lower; a large server may set it
/// higher. Files a write or a query is using stay open beyond the bound
/// while they are used.
///
/// - db: an open handle.
/// - max_open: the bound; 0 restores the default.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (db NULL);
/// LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close; it takes effect for every later open of a segment file.
///
/// # Safety
///
/// db NULL or an open handle; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_set_max_open_segments(db: *mut linedb, max_open: u32, err: *mut linedb_error) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        call(db, err, |handle| {
            handle.engine().set_max_open_segments(usize::try_from(max_open).unwrap_or(usize::MAX));
            Ok(())
        })
    }
}

/// Sets the size of each write-ahead log file made from now on (files
/// already made keep theirs). A file is preallocated when it is made, so
/// appends within it cannot meet a full disk; a batch larger than a file
/// gets a file of its own. While the store is open its log holds the file
/// being appended to and the files not yet checkpointed (a checkpoint runs
/// once they hold 64 MiB of records, or half of max_wal_bytes if less, and
/// brings the log back to one file); a closed store's log holds no file.
/// The default, 8 MiB, suits a small board; fewer, larger files mean fewer
/// file creations on a busy server.
///
/// A function, not a linedb_options field: linedb_options_init writes the
/// whole struct of the library's header, so a new field would overrun the
/// struct of a program built against an older header.
///
/// - db: an open handle.
/// - bytes: the size; 0 restores the default. At least 256.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (db NULL, or bytes from
/// 1 to 255: nothing changes); LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close.
///
/// # Safety
///
/// db NULL or an open handle; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_set_wal_file_bytes(db: *mut linedb, bytes: u64, err: *mut linedb_error) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe { call(db, err, |handle| Ok(handle.engine().set_wal_file_bytes(bytes)?)) }
}

/// Seals now every partition that holds points not sealed yet: rewrites
/// them once into a compressed, columnar, read-only file per partition
/// (times, each tag and each field a column, each chunk checksummed), makes
/// that durable, and removes the segment files the sealed files replaced.
/// Returns when all of it is on disk. Sealing also happens in the
/// background: a partition of a past UTC day once no write came to it for
/// 10 seconds, one of the current day after 15 minutes without a write, and
/// one whose segment file filled at once. Writes and queries go on while a
/// partition is sealed; a later write to a sealed partition goes to a new
/// segment, and queries merge both (the later write of a point wins, field
/// by field).
///
/// - db: an open handle.
/// - err: NULL, or filled on failure (untouched on success).
///
/// Returns LINEDB_OK; LINEDB_ERR_INVALID_ARGUMENT (db NULL);
/// LINEDB_ERR_CORRUPT (a stored block to be sealed failed its checksum: the
/// message names the file and offset; that partition stays as it was, and
/// partitions sealed before it stay sealed); LINEDB_ERR_IO (the OS refused,
/// e.g. no space for the sealed file: nothing of that partition changed; or
/// a failed msync or fsync, which fails the store until it is reopened);
/// LINEDB_ERR_INTERNAL.
///
/// Threading: callable from any thread, concurrently with any call but
/// linedb_close; two compactions (and the background sealing) run one
/// after the other.
///
/// # Safety
///
/// db NULL or an open handle; err NULL or a writable linedb_error.
// SAFETY: `no_mangle` is sound as this name is defined once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linedb_compact(db: *mut linedb, err: *mut linedb_error) -> linedb_code {
    // SAFETY: the caller's contract, passed on.
    unsafe { call(db, err, |handle| handle.engine().compact().map(|_| ()).map_err(Into::into)) }
}

