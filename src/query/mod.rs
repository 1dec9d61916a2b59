//! InfluxQL over the stored data (issue 15): statements run against one
//! database, answered as `influxd` 1.6 answers them (`docs/influxql.md`).
//!
//! - `run`: the statements of one text, in order, to one JSON document;
//! - `plan`: a SELECT's bounds, groups and columns, compiled (`expr`);
//! - `select`: a SELECT's groups and windows (`collect` scans the points
//!   into them, `fill` fills empty windows), with
//!   `accumulate` computing each window's functions as points stream by
//!   (and `aggregate` those that need every value) over `value`s;
//! - `show`: the SHOW statements;
//! - `time`: time bounds out of a `WHERE` clause, and RFC 3339 times;
//! - `result` and `json`: the answer as `influxd` writes it;
//! - `store`: what a query reads, as a trait the engine implements;
//! - `arrow`: a statement's answer as Arrow record batches (feature
//!   `arrow`, on by default).

pub mod accumulate;
pub mod aggregate;
mod collect;
#[cfg(test)]
mod collect_tests;
mod fill;
#[cfg(feature = "arrow")]
pub mod arrow;
pub mod expr;
pub mod json;
pub mod plan;
pub mod result;
mod run;
pub mod select;
pub mod show;
pub mod store;
pub mod time;
pub mod value;

pub use result::{Answer, Epoch, Series};
pub use run::{run, run_to, Options, Output, Ran};
pub use store::{Failure, Meta, Store};
pub use value::Value;
