//! Replays the fuzz corpus (`fuzz/corpus/parse_validate/`) and the saved
//! crash inputs (`fuzz/regressions/`) through the fuzz target's own checks
//! (`fuzz/fuzz_targets/check.rs`), so that every input the fuzzer once found
//! interesting keeps passing under an ordinary `cargo test`.

#[path = "../fuzz/fuzz_targets/check.rs"]
mod check;

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

/// Runs every file of `dir` through the checks; returns how many ran and
/// fails naming every file that broke an invariant.
fn replay(dir: &str) -> usize {
    let files = inputs(dir);
    let mut failed = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if let Err(cause) = panic::catch_unwind(|| check::check(&data)) {
            let cause = cause
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{}: {cause}", path.display()));
        }
    }
    assert!(failed.is_empty(), "{} of {} inputs failed:\n{}", failed.len(), files.len(), failed.join("\n"));
    files.len()
}

#[test]
fn corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/parse_validate");
    assert!(n > 0, "fuzz/corpus/parse_validate is empty or missing");
}

#[test]
fn regressions_pass_the_fuzz_checks() {
    replay("fuzz/regressions");
}

#[test]
fn prepopulation_batch_is_valid() {
    // Every setting, empty batch: builds the pre-populated schema.
    for b in 0..64u8 {
        check::check(&[b]);
    }
}
