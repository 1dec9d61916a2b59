//! Read an arbitrary sealed file; every invariant is in `sealed_check.rs`,
//! which `tests/fuzz_corpus.rs` replays the corpus through as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod sealed_check;

fuzz_target!(|data: &[u8]| {
    sealed_check::check(data);
});
