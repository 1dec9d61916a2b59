//! The benches' workload: TSBS cpu-only shaped line protocol.
//!
//! A measured run (`cargo bench`) uses the shared generator,
//! `../shared/data/gen_cpu.py`, so that figures are comparable across the
//! project. A smoke run (`cargo test --benches`, part of CI) must not depend
//! on `../shared`: when the generator is missing it uses `generate`, a
//! small Rust generator of the same shape (10 tags, 10 fields, 100 hosts, 10 s
//! steps from 2016-01-01), which is not byte-identical to the Python one.
#![allow(dead_code)]

pub mod influxd;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `variant` is "int", "float" or "mixed".
pub fn workload(variant: &str, lines: usize, measured: bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gen = root.join("../shared/data/gen_cpu.py");
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    let from_python = gen.exists();
    if !from_python && measured {
        panic!("{} not found: a measured run needs the shared generator", gen.display());
    }
    let tag = if from_python { "py" } else { "rs" };
    let path = dir.join(format!("cpu_{lines}_{variant}_{tag}.lp"));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("tmp");
    if from_python {
        let mut cmd = Command::new("python3");
        cmd.arg(&gen).args(["--hosts", "100", "--lines", &lines.to_string(), "--seed", "1"]);
        if variant != "int" {
            cmd.arg(format!("--{variant}"));
        }
        let status = cmd.arg(&tmp).status().expect("run python3 gen_cpu.py");
        assert!(status.success(), "gen_cpu.py failed");
    } else {
        std::fs::write(&tmp, generate(variant, lines)).expect("write workload");
    }
    std::fs::rename(&tmp, &path).expect("rename workload");
    path
}

/// A deterministic stand-in for gen_cpu.py (same shape, other numbers).
pub fn generate(variant: &str, lines: usize) -> String {
    const HOSTS: usize = 100;
    const FIELDS: [&str; 10] = [
        "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
        "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice",
    ];
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let prefixes: Vec<String> = (0..HOSTS)
        .map(|i| {
            let r = next();
            format!(
                "cpu,hostname=host_{i},region=r{},datacenter=d{},rack={},os=Ubuntu16.{},arch=x{},team=T{},service={},service_version={},service_environment=e{} ",
                r % 9, (r >> 8) % 3, (r >> 16) % 100, (r >> 24) % 3, (r >> 28) % 2, (r >> 32) % 4, (r >> 36) % 20, (r >> 44) % 2, (r >> 48) % 3
            )
        })
        .collect();
    let mut out = String::with_capacity(lines * 220);
    for n in 0..lines {
        let h = n % HOSTS;
        let ts = 1_451_606_400_000_000_000i64 + (n / HOSTS) as i64 * 10_000_000_000;
        out.push_str(&prefixes[h]);
        for (k, f) in FIELDS.iter().enumerate() {
            let v = next() % 100_000;
            if k > 0 {
                out.push(',');
            }
            if variant == "float" {
                let _ = write!(out, "{f}={}.{:03}", v / 1000, v % 1000);
            } else {
                let _ = write!(out, "{f}={}i", v / 1000);
            }
        }
        if variant == "mixed" {
            let r = next();
            let _ = write!(out, ",state=\"s{}\",healthy={}", r % 4, r % 10 != 0);
        }
        let _ = writeln!(out, " {ts}");
    }
    out
}

/// Splits the input into batches of `n` whole lines.
pub fn batches(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = 0;
        for _ in 0..n {
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

/// A directory under `target/bench-write/`, removed on drop.
#[derive(Debug)]
pub struct BenchDir(PathBuf);

pub fn bench_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-write")
}

impl BenchDir {
    pub fn new(name: &str) -> BenchDir {
        let path = bench_root().join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create bench dir");
        BenchDir(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

