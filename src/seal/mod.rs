//! Sealing: a partition's rows rewritten once into a compressed, columnar,
//! read-only file (`columnar`). This module holds what does not need the
//! engine's locks: the handle of a sealed file ([`SealedFile`]) and the
//! turning of a partition's rows, block by block, into the file's row
//! groups ([`rows`]). Choosing what to seal and swapping the file in are
//! the engine's (`engine::seal`).

mod file;
pub mod index;
pub mod keys;
pub mod read;
pub mod rows;

pub use file::{sealed_file, sealed_number, temp_path, SealedFile};
