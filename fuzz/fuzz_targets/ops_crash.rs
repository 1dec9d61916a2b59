//! Run an operation sequence with power cuts, process crashes and I/O
//! faults on the simulated disk; every invariant is in `ops_check.rs`,
//! which `tests/fuzz_corpus.rs` replays the corpus through as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The simulated disk and fault injection (never in the library).
#[path = "../../tests/kit/mod.rs"]
mod kit;
mod ops_check;

fuzz_target!(|data: &[u8]| {
    ops_check::check(data);
});
