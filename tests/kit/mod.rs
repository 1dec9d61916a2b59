//! The simulated disk (`sim`) and fault injection (`fault`), compiled into
//! each test (and fuzz) crate that uses them, and into the library only for
//! its own unit tests: a release library never carries them. Their sources
//! are `src/storage/sim.rs` and `src/storage/fault.rs`, written against the
//! public storage seam, which this module re-exports as their `super`.
#![allow(dead_code, unused_imports)]

pub use linedb::storage::{with_path, File, FsStorage, LockGuard, Map, OpenMode, Storage};

#[path = "../../src/storage/fault.rs"]
pub mod fault;
#[path = "../../src/storage/sim.rs"]
pub mod sim;
