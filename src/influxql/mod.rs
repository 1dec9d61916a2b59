//! InfluxQL: the query language of InfluxDB 1.x, as far as linedb answers
//! it (the subset of `docs/influxql.md`: the SELECTs Grafana and the 1.x
//! clients send, and the SHOW statements a dashboard needs).
//!
//! - `lexer`: text to tokens, as `influxd`'s scanner cuts them.
//! - `parser`: tokens to [`Statement`]s; statements outside the subset are
//!   refused with a clear error at their first word.
//! - `ast`: the statements.
//! - `display`: statements back to text that parses to the same statement.
//! - `error`: [`ParseError`], worded and placed as `influxd` does.
//!
//! Nothing here knows storage: planning and execution are the query
//! module's.

pub mod ast;
mod display;
mod error;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use ast::Statement;
pub use error::ParseError;
pub use parser::{parse, MAX_DEPTH};
