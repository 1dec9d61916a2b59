//! Peak memory while writing one batch, by batch size (issue: at most 2x
//! the batch plus a constant).
//!
//! Run: `cargo bench --bench batch_memory`. For each size, a fresh child
//! process opens a store, resets and reads its peak resident set (VmHWM), writes one
//! batch of the TSBS int workload (`../shared/data/gen_cpu.py`, 100 hosts)
//! of that many bytes, reads VmHWM again, and prints the growth. The batch
//! itself (its bytes, read before the first reading) is not counted; the
//! parse, validation, encoding, WAL record and segment pages are.

mod support;

use std::process::Command;

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn child(size: usize) {
    let path = support::workload("int", 200_000, false);
    let text = std::fs::read_to_string(path).expect("read workload");
    let cut = text[..size.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let batch = text.as_bytes()[..cut].to_vec();
    drop(text);
    let dir = std::env::temp_dir().join(format!("linedb-batch-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options { max_batch_bytes: 1 << 30, ..Options::default() };
    let e = Engine::open(&dir, opts).expect("open");
    e.create_database("db").expect("create");
    // Reset the peak to what is resident now (Linux: "5" to clear_refs),
    // so that reading the workload does not hide the write's own peak.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = vm_hwm_kib();
    let r = e.write("db", &batch, Precision::Nanosecond);
    let after = vm_hwm_kib();
    assert_eq!(r.status, 204, "{}", r.message);
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
    let grew = (after - before) as f64 * 1024.0;
    println!(
        "batch {:>6.2} MB ({} lines): peak resident set grew {:>7.2} MB = {:.2}x the batch",
        batch.len() as f64 / 1e6,
        r.count,
        grew / 1e6,
        grew / batch.len() as f64
    );
}

fn main() {
    if let Ok(size) = std::env::var("LINEDB_BATCH_MEMORY_CHILD") {
        child(size.parse().expect("size"));
        return;
    }
    let quick = std::env::args().any(|a| a == "--test");
    let sizes: &[usize] = if quick { &[1 << 20] } else { &[1 << 20, 4 << 20, 10 << 20, 40 << 20] };
    for &size in sizes {
        let out = Command::new(std::env::current_exe().expect("exe"))
            .env("LINEDB_BATCH_MEMORY_CHILD", size.to_string())
            .output()
            .expect("run child");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
