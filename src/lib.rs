//! linedb: an embedded time-series storage engine that takes InfluxDB line
//! protocol and answers every write as InfluxDB Clustered does.
//!
//! Layout (see `DESIGN.md` in the shared contracts):
//! - [`line_protocol`]: bytes to lines; knows nothing of storage.
//! - [`schema`], [`partition`], [`validate`]: the cross-line rules that decide
//!   whether a parsed batch may be stored, against a read-only view of what is
//!   stored.
//! - `ffi`: the C boundary, the only module that knows C.
#![deny(unsafe_op_in_unsafe_fn)]
// Library code never unwraps or panics on what input or the OS can make
// fail; tests may.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(clippy::cast_possible_truncation)]

pub mod auth;
pub mod catalog;
pub mod codec;
pub mod columnar;
pub mod engine;
pub mod error;
#[cfg(feature = "parquet")]
pub mod export;
pub mod influxql;
pub mod query;
pub mod line_protocol;
pub mod partition;
pub mod rows;
pub mod schema;
pub mod seal;
pub mod segment;
pub mod storage;
pub mod validate;
pub mod wal;

pub mod ffi;
