//! InfluxQL results (issue 15): planning and execution over the stored
//! data will live here; so far, the pieces of `influxd`'s JSON answer.
//!
//! - `json`: values, strings and times written exactly as `influxd` 1.6
//!   writes them (Go's `encoding/json` and `time.RFC3339Nano`).

pub mod json;
