//! Parse + validate throughput against `influxdb-line-protocol` (InfluxDB 3's
//! parser) parse-only, on the TSBS cpu-only workload of
//! `../shared/data/gen_cpu.py` (1,000,000 lines, 100 hosts, seed 1), in the
//! int, float and mixed variants.
//!
//! Both parsers see the same 5,000-line batches (the write size of the
//! storage bench). Runs alternate between the two, and each figure is the
//! median of the runs, so that both are measured under the same conditions
//! in the same process; the ratio is printed per file.
//!
//! Run: `cargo bench --bench parse` (LINEDB_BENCH_LINES and LINEDB_BENCH_RUNS
//! change the size and the number of runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use linedb::line_protocol::{Batch, Precision};
use linedb::schema::{Limits, Schema};
use linedb::validate::check_batch;

mod support;

const BATCH_LINES: usize = 5_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn run_linedb(batches: &[&str], schema: &Schema, limits: &Limits) -> usize {
    let mut batch = Batch::new();
    let mut lines = 0;
    for b in batches {
        let v = check_batch(b.as_bytes(), Precision::Nanosecond, 0, schema, limits, &mut batch)
            .expect("workload is valid");
        lines += v.points;
        black_box(&batch);
    }
    lines
}

fn run_iox(batches: &[&str]) -> usize {
    let mut lines = 0;
    for b in batches {
        for line in influxdb_line_protocol::parse_lines(b) {
            black_box(line.expect("workload is valid"));
            lines += 1;
        }
    }
    lines
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with
    // no such flag: then just check it works on a small input.
    let quick = !std::env::args().any(|a| a == "--bench");
    let lines = if quick { 10_000 } else { env_usize("LINEDB_BENCH_LINES", 1_000_000) };
    let runs = if quick { 1 } else { env_usize("LINEDB_BENCH_RUNS", 7) };
    println!("parse+validate (linedb) vs parse-only (influxdb-line-protocol 2.0.0)");
    println!("{lines} lines per file, {BATCH_LINES}-line batches, median of {runs} alternating runs");
    println!("{:<8} {:>14} {:>14} {:>8}", "file", "linedb l/s", "iox l/s", "ratio");
    for variant in ["int", "float", "mixed"] {
        let path = support::workload(variant, lines, !quick);
        let text = std::fs::read_to_string(&path).expect("read workload");
        let batches = support::batches(&text, BATCH_LINES);
        // The steady state: the schema already holds what the workload writes.
        let limits = Limits::default();
        let mut schema = Schema::new();
        let mut batch = Batch::new();
        let first = check_batch(batches[0].as_bytes(), Precision::Nanosecond, 0, &schema, &limits, &mut batch)
            .expect("workload is valid");
        schema.apply(&first.changes);
        drop(batch);

        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            assert_eq!(run_linedb(&batches, &schema, &limits), lines);
            ours.push(t.elapsed());
            let t = Instant::now();
            assert_eq!(run_iox(&batches), lines);
            theirs.push(t.elapsed());
        }
        let (o, t) = (median(ours), median(theirs));
        let ol = lines as f64 / o.as_secs_f64();
        let tl = lines as f64 / t.as_secs_f64();
        println!("{variant:<8} {ol:>14.0} {tl:>14.0} {:>7.2}x", ol / tl);
    }
}
