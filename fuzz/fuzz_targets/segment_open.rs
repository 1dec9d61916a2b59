//! Open an arbitrary segment file; every invariant is in `segment_check.rs`,
//! which `tests/fuzz_corpus.rs` replays the corpus through as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod scratch;
mod segment_check;

fuzz_target!(|data: &[u8]| {
    segment_check::check(data);
});
