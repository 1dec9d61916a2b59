//! Parse and run arbitrary InfluxQL text; every invariant is in
//! `influxql_check.rs`, which `tests/fuzz_corpus.rs` replays the corpus
//! through as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod influxql_check;
mod scratch;

fuzz_target!(|data: &[u8]| {
    influxql_check::check(data);
});
