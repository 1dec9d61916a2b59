//! Room at rest and bytes written (issue 14), against a real `influxd`.
//!
//! For each TSBS file (int, float, mixed: `../shared/data/gen_cpu.py`,
//! 1,000,000 lines, 100 hosts, seed 1), the same 5,000-line batches go
//! into:
//!
//! - linedb, opened with its defaults (background sealing on), then
//!   `compact` and `close`;
//! - `influxd` 1.6 over HTTP on 127.0.0.1, with
//!   `cache-snapshot-write-cold-duration` 2 s and
//!   `compact-full-write-cold-duration` 5 s, then left until its data and
//!   WAL directories have not changed for 10 s (at most 3 minutes).
//!
//! Then bytes *allocated* are compared (`st_blocks` × 512 of every file
//! and directory, as `du -B1` counts them): linedb's store directory
//! against influxd's data and WAL directories. Targets: int ≤ 0.8×, float
//! ≤ 0.5×. Also: bytes linedb made the kernel write for the whole run
//! (`/proc/self/io` `write_bytes`, sealing included) per byte of line
//! protocol ingested; target ≤ 0.5 (flash wears out).
//!
//! Also reported: the size and time of the Parquet export of the whole
//! measurement, from the closed store.
//!
//! Run: `cargo bench --bench footprint` (LINEDB_BENCH_LINES changes the
//! size). Store directories are under `target/bench-write/`.

use std::path::Path;
use std::time::{Duration, Instant};

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;

mod support;

use support::influxd::{find_on_path, start_influxd_with, Http};
use support::BenchDir;

/// Bytes allocated under `dir` (files and directories), as `du -B1`.
fn allocated(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&d) else { continue };
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// This process's `write_bytes` and `cancelled_write_bytes` from
/// `/proc/self/io`.
fn io_written() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let get = |key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    (get("write_bytes:"), get("cancelled_write_bytes:"))
}

struct Linedb {
    bytes: u64,
    written: u64,
    cancelled: u64,
    sealed: usize,
    secs: f64,
    /// The Parquet export of the whole measurement: bytes and seconds.
    parquet: Option<(u64, f64)>,
}

fn linedb(batches: &[&str], quick: bool) -> Linedb {
    let dir = BenchDir::new("footprint-linedb");
    let store = dir.path().join("store");
    let (w0, c0) = io_written();
    let t = Instant::now();
    let opts = if quick { Options { segment_bytes: 1 << 20, ..Options::default() } } else { Options::default() };
    let e = Engine::open(&store, opts).expect("open");
    e.create_database("bench").expect("create database");
    for b in batches {
        let r = e.write("bench", b.as_bytes(), Precision::Nanosecond);
        assert_eq!(r.status, 204, "{}", r.message);
    }
    let sealed = e.compact().expect("compact");
    e.close().expect("close");
    let secs = t.elapsed().as_secs_f64();
    // What the run dirtied reaches the disk by sync(2); write_bytes counts
    // it when dirtied, so the figure is the same either way.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let (w1, c1) = io_written();
    let bytes = allocated(&store);
    Linedb { bytes, written: w1 - w0, cancelled: c1 - c0, sealed, secs, parquet: parquet(&store, dir.path()) }
}

/// Exports measurement `cpu` of the closed store at `store` to a Parquet
/// file beside it (after the figures above are taken).
#[cfg(feature = "parquet")]
fn parquet(store: &Path, dir: &Path) -> Option<(u64, f64)> {
    let e = Engine::open(store, Options::default()).expect("reopen");
    let path = dir.join("cpu.parquet");
    let t = Instant::now();
    let out = e.export_parquet("bench", "cpu", i64::MIN, i64::MAX, &path);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(out.status, 200, "{}", out.message);
    Some((std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), secs))
}

#[cfg(not(feature = "parquet"))]
fn parquet(_: &Path, _: &Path) -> Option<(u64, f64)> {
    None
}

/// influxd's data and WAL bytes once settled, or why there are none.
fn influxd(batches: &[&str]) -> Result<(u64, f64), String> {
    let bin = find_on_path("influxd").ok_or("influxd: not installed (apt-get install influxdb)")?;
    let d = start_influxd_with(
        &bin,
        &[
            ("data", "cache-snapshot-write-cold-duration", "\"2s\""),
            ("data", "compact-full-write-cold-duration", "\"5s\""),
        ],
    )?;
    let mut c = Http::new(d.port);
    c.create_database("bench")?;
    for b in batches {
        c.write_batch("bench", b)?;
    }
    let measure = || allocated(&d.dir.path().join("data")) + allocated(&d.dir.path().join("wal"));
    let t = Instant::now();
    let (mut last, mut since) = (measure(), Instant::now());
    while since.elapsed() < Duration::from_secs(10) && t.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_secs(1));
        let now = measure();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    Ok((last, t.elapsed().as_secs_f64()))
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let lines = if quick {
        20_000
    } else {
        std::env::var("LINEDB_BENCH_LINES").ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(1_000_000)
    };
    println!("| file | line protocol | linedb allocated | influxd allocated | ratio | target | linedb written per byte ingested |");
    println!("|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for (variant, target) in [("int", Some(0.8)), ("float", Some(0.5)), ("mixed", None)] {
        let path = support::workload(variant, lines, !quick);
        let text = std::fs::read_to_string(&path).expect("workload");
        let batches = support::batches(&text, 5_000);
        let l = linedb(&batches, quick);
        let peer = if quick { Err("influxd: skipped (quick mode)".to_owned()) } else { influxd(&batches) };
        let lp = text.len() as u64;
        let per_byte = l.written as f64 / lp as f64;
        let (peer_cell, ratio, met) = match &peer {
            Ok((b, _)) => {
                let r = l.bytes as f64 / *b as f64;
                let met = target.map_or("–".to_owned(), |t: f64| if r <= t { format!("≤ {t}× met") } else { format!("≤ {t}× NOT met") });
                (format!("{b} B"), format!("{r:.2}×"), met)
            }
            Err(why) => {
                notes.push(why.clone());
                ("–".into(), "–".into(), "–".into())
            }
        };
        println!(
            "| {variant} | {lp} B | {} B | {peer_cell} | {ratio} | {met} | {per_byte:.3} ({} B; {} B cancelled) |",
            l.bytes, l.written, l.cancelled
        );
        notes.push(format!(
            "{variant}: linedb took {:.2} s to write, compact and close ({} partitions sealed){}{}",
            l.secs,
            l.sealed,
            peer.as_ref().map(|(_, s)| format!("; influxd settled {s:.0} s after the last write")).unwrap_or_default(),
            l.parquet
                .map(|(b, s)| format!("; Parquet export of all of it: {b} B ({:.2}× the sealed store) in {s:.2} s", b as f64 / l.bytes as f64))
                .unwrap_or_default()
        ));
    }
    for n in notes {
        println!("{n}");
    }
}
