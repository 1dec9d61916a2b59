//! The invariants of parsing arbitrary InfluxQL text, shared by the fuzz
//! target (`fuzz_targets/influxql_parse.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Every violation panics.
//!
//! Input: the bytes, as UTF-8 (lossy). The checks: parsing never panics;
//! an error's place lies within the text (its line exists, its char is
//! at most one past the line's end); a statement prints as text that
//! parses back to the same statement.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use linedb::influxql;

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match influxql::parse(&text) {
        Ok(statements) => {
            let printed: Vec<String> = statements.iter().map(ToString::to_string).collect();
            let again = influxql::parse(&printed.join(";\n"))
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
            assert_eq!(statements, again, "{text:?} printed as {printed:?}");
        }
        Err(e) => {
            let lines: Vec<&str> = text.split('\n').collect();
            let line = lines.get(e.line - 1).unwrap_or_else(|| panic!("{text:?}: {e} names no line"));
            assert!(e.char >= 1 && e.char <= line.chars().count() + 1, "{text:?}: {e} is past its line");
            assert!(!e.message.is_empty());
        }
    }
}
