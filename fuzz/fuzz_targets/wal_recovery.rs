//! Recover a WAL directory made of arbitrary files; every invariant is in
//! `wal_check.rs`, which `tests/fuzz_corpus.rs` replays the corpus through
//! as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod scratch;
mod wal_check;

fuzz_target!(|data: &[u8]| {
    wal_check::check(data);
});
