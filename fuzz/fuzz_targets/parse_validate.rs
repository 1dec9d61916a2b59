//! Parse and validate arbitrary batches; every invariant is in `check.rs`,
//! which `tests/fuzz_corpus.rs` replays the corpus through as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
