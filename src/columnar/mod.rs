//! The sealed file format: a partition's rows as compressed columns,
//! read-only once written. It knows nothing of the engine's locks: the
//! `seal` module decides what to seal and swaps files in.
//!
//! ```text
//! header   magic "LDBCOL\0\x01", version u32, key length u32, key
//!          (store id, database, table, day: the partition's), CRC32 of
//!          all of it, zeros to 8 bytes
//! chunks   each at an offset that is a multiple of 8
//! footer   `footer::Footer`: the columns, the row groups, and for each
//!          chunk its offset, length, CRC32, encoding, nulls and min/max
//! trailer  footer length u32, CRC32 of the footer u32, magic "LDBCOLND"
//! ```
//!
//! Rows are in row groups, each holding whole runs of series: within a
//! group, rows are in (series, time) order, so each series' times and
//! values lie side by side, which is what the encodings feed on. Groups are
//! in the order their rows were written (a point written twice is merged
//! within a group; across groups the later group's fields win, as the
//! later block's do). Series are numbered in the file; their keys are
//! stored once, as tag columns (`tags`).
//!
//! Every byte is checked before use: the header's and the footer's own
//! CRCs when the file is opened, each chunk's CRC (kept in the footer)
//! when it is read.

pub mod chunk;
pub mod footer;
mod header;
pub mod reader;
pub mod tags;
#[cfg(test)]
mod tests;
mod trailer;
pub mod writer;

pub use footer::Footer;
pub use reader::{Column, ReadError, Reader, Values};
pub use writer::{GroupRow, Summary, WriteError, Writer};

/// Chunks start at multiples of this.
const ALIGN: u64 = 8;

/// The format version this build writes. 2 (since 2026-12-07): a
/// group's times and numeric fields are `pco` pages of whole series runs
/// (`chunk::Encoding::PcoPages`), so that a query of some series decodes
/// only theirs; version 1 had one whole `pco` chunk per column.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format version this build reads.
pub const FIRST_READ_VERSION: u32 = 1;

/// The most rows a row group may hold (sealing writes 65,536): a reader
/// refuses a footer that claims more, so that no chunk makes it allocate
/// more than a few MiB.
pub const MAX_GROUP_ROWS: u64 = 1 << 17;

/// The most bytes of series keys one sealed file may hold (the keys are
/// rebuilt from the tag columns when read); the writer refuses more.
pub const MAX_SERIES_KEY_BYTES: u64 = 1 << 30;

/// The most series one sealed file may hold: a partition with more is not
/// sealed (it stays in its segments). 4,194,304.
pub const MAX_SERIES: u32 = 1 << 22;
