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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use linedb::line_protocol::{Batch, Precision};
use linedb::schema::{Limits, Schema};
use linedb::validate::check_batch;

const BATCH_LINES: usize = 5_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Generates (once) the workload file with the shared generator.
fn workload(variant: &str, lines: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gen = root.join("../shared/data/gen_cpu.py");
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    let path = dir.join(format!("cpu_{lines}_{}.lp", if variant.is_empty() { "int" } else { &variant[2..] }));
    if !path.exists() {
        let mut cmd = Command::new("python3");
        cmd.arg(&gen).args(["--hosts", "100", "--lines", &lines.to_string(), "--seed", "1"]);
        if !variant.is_empty() {
            cmd.arg(variant);
        }
        let status = cmd.arg(&path).status().expect("run python3 gen_cpu.py");
        assert!(status.success(), "gen_cpu.py failed");
    }
    path
}

/// Splits the input into batches of whole lines.
fn batches(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = 0;
        for _ in 0..BATCH_LINES {
            match rest[end..].find('\n') {
                Some(p) => end += p + 1,
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
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
    for variant in ["", "--float", "--mixed"] {
        let path = workload(variant, lines);
        let text = std::fs::read_to_string(&path).expect("read workload");
        let batches = batches(&text);
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
        let name = if variant.is_empty() { "int" } else { &variant[2..] };
        println!("{name:<8} {ol:>14.0} {tl:>14.0} {:>7.2}x", ol / tl);
    }
}
