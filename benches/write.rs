//! The storage engine against peers measured in the same run: durable
//! writes, 1-line write latency, group commit, full-scan queries, WAL replay
//! on open, and resident memory under a long write.
//!
//! | row | ours | peer |
//! |---|---|---|
//! | 1a | durable writes of the int workload in 5,000-line batches, one thread | `influxdb-line-protocol` parse-only over the same batches |
//! | 1b | the same | a real `influxd` (InfluxDB 1.6) on 127.0.0.1 taking the same batches over HTTP |
//! | 2 | p50 of a 1-line `Engine::write` | p50 of a 4 KiB `pwrite` append + `fdatasync` on a preallocated file in the same directory |
//! | 3 | writes per WAL fdatasync while 8 threads write 1-line batches (target >= 7) | 8, the most a group of 8 writers can make (1 thread's writes/s is printed too) |
//! | 4 | full-scan query of the stored workload to canonical line protocol | `influxdb-line-protocol` parse-only |
//! | 5 | `Engine::open` replaying an un-checkpointed WAL, GB/s of WAL | (absolute target) |
//! | 6 | max RssAnon while writing 10 GB of line protocol, checkpoints on | (absolute target) |
//! | 7 | the slowest 5,000-line write that moved the WAL to its next file, after the first checkpoint | p50 of every write of the run that ran no checkpoint |
//!
//! Stores live under `target/bench-write/` (the disk the project is on, not
//! a tmpfs `/tmp`) and are deleted afterwards. `influxd` is started by the
//! bench when it is on PATH, with every directory in a temporary directory
//! and every listener on 127.0.0.1; it is killed at the end (a Drop guard,
//! and PR_SET_PDEATHSIG should the bench itself die).
//!
//! Run: `cargo bench --bench write`. Environment: LINEDB_BENCH_LINES (the
//! workload, default 1,000,000), LINEDB_BENCH_RUNS (runs of rows 1 and 4,
//! default 3), LINEDB_BENCH_REPLAY_BYTES (row 5, default 1 GB),
//! LINEDB_BENCH_RSS_BYTES (row 6, default 10 GB, scaled down when the disk
//! is short), LINEDB_BENCH_ROWS (say `3,5`: only those rows; 1 and 4 run
//! together). `cargo test --bench write` (and `cargo test --all-targets`)
//! runs a quick smoke version: 10,000 lines, no influxd, tiny sizes.

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;

mod support;

use support::influxd::{find_on_path, start_influxd, Http};
use support::{bench_root, BenchDir};

const BATCH_LINES: usize = 5_000;
const DB: &str = "bench";
const GB: f64 = 1e9;
const MIB: f64 = 1024.0 * 1024.0;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok())
}

/// Sizes of one run.
#[derive(Debug)]
struct Config {
    quick: bool,
    lines: usize,
    runs: usize,
    lat_warmup: usize,
    lat_samples: usize,
    lat_chunk: usize,
    threads: usize,
    thread_secs: f64,
    thread_rounds: usize,
    replay_bytes: u64,
    rss_bytes: u64,
}

impl Config {
    fn new(quick: bool) -> Config {
        if quick {
            return Config {
                quick,
                lines: 10_000,
                runs: 1,
                lat_warmup: 5,
                lat_samples: 40,
                lat_chunk: 10,
                threads: 8,
                thread_secs: 0.2,
                thread_rounds: 1,
                replay_bytes: 2 << 20,
                rss_bytes: 4 << 20,
            };
        }
        Config {
            quick,
            lines: env_u64("LINEDB_BENCH_LINES").map_or(1_000_000, |n| n as usize),
            runs: env_u64("LINEDB_BENCH_RUNS").map_or(3, |n| n.max(1) as usize),
            lat_warmup: 200,
            lat_samples: 3_000,
            lat_chunk: 100,
            threads: 8,
            thread_secs: 2.0,
            thread_rounds: 3,
            replay_bytes: env_u64("LINEDB_BENCH_REPLAY_BYTES").unwrap_or(1_000_000_000),
            rss_bytes: env_u64("LINEDB_BENCH_RSS_BYTES").unwrap_or(10_000_000_000),
        }
    }
}

// ---------------------------------------------------------------- helpers

fn median<T: Copy + PartialOrd>(v: &[T]) -> T {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn mlines(l: f64) -> String {
    format!("{:.3} M lines/s", l / 1e6)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn open_fresh(dir: &Path, opts: Options) -> Engine {
    let engine = Engine::open(dir.join("store"), opts).expect("open store");
    engine.create_database(DB).expect("create database");
    engine
}

fn write_ok(engine: &Engine, batch: &[u8]) -> u64 {
    let out = engine.write(DB, batch, Precision::Nanosecond);
    assert_eq!(out.status, 204, "write answered {}: {}", out.status, out.message);
    out.count
}

fn write_all(engine: &Engine, batches: &[&str]) -> u64 {
    batches.iter().map(|b| write_ok(engine, b.as_bytes())).sum()
}

fn parse_iox(batches: &[&str]) -> usize {
    let mut lines = 0;
    for b in batches {
        for line in influxdb_line_protocol::parse_lines(b) {
            black_box(line.expect("workload is valid"));
            lines += 1;
        }
    }
    lines
}

/// Lines and bytes of a full scan.
fn scan(engine: &Engine) -> (u64, u64) {
    let (mut lines, mut bytes) = (0u64, 0u64);
    let out = engine.query(DB, None, i64::MIN, i64::MAX, &mut |l| {
        lines += 1;
        bytes += l.len() as u64;
        true
    });
    assert_eq!(out.status, 200, "query answered {}: {}", out.status, out.message);
    assert_eq!(out.count, lines);
    (lines, bytes)
}

/// The workload again and again, each pass shifted past the last one in
/// time, as batches of `BATCH_LINES` lines; streamed from the file so that
/// the bench itself holds about one batch.
struct Shifted {
    reader: BufReader<File>,
    pass: i64,
    span: Option<i64>,
    min_ts: i64,
    max_ts: i64,
    line: String,
}

impl Shifted {
    fn new(path: &Path) -> Shifted {
        let file = File::open(path).expect("open workload");
        Shifted {
            reader: BufReader::with_capacity(1 << 20, file),
            pass: 0,
            span: None,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            line: String::new(),
        }
    }

    /// Replaces `out` with the next batch; returns its lines.
    fn next_batch(&mut self, out: &mut String) -> usize {
        out.clear();
        let mut n = 0;
        while n < BATCH_LINES {
            self.line.clear();
            if self.reader.read_line(&mut self.line).expect("read workload") == 0 {
                if self.span.is_none() {
                    assert!(self.max_ts >= self.min_ts, "empty workload");
                    self.span = Some(self.max_ts - self.min_ts + 10_000_000_000);
                }
                self.pass += 1;
                self.reader.rewind().expect("rewind workload");
                if n > 0 {
                    break;
                }
                continue;
            }
            let l = self.line.trim_end_matches('\n');
            if l.is_empty() {
                continue;
            }
            let (head, ts) = l.rsplit_once(' ').expect("line has a timestamp");
            let ts: i64 = ts.parse().expect("timestamp");
            if self.span.is_none() {
                self.min_ts = self.min_ts.min(ts);
                self.max_ts = self.max_ts.max(ts);
            }
            let shifted = ts + self.pass * self.span.unwrap_or(0);
            out.push_str(head);
            out.push(' ');
            out.push_str(&shifted.to_string());
            out.push('\n');
            n += 1;
        }
        n
    }
}

// ---------------------------------------------------------------- machine

struct Mount {
    point: String,
    fstype: String,
    source: String,
}

/// The mount `path` is on, from /proc/self/mountinfo.
fn mount_of(path: &Path) -> Option<Mount> {
    let path = fs::canonicalize(path).ok()?;
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<Mount> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else { continue };
        if f.len() < dash + 3 || f.len() < 5 {
            continue;
        }
        let point = f[4].replace("\\040", " ");
        if path.starts_with(&point) && best.as_ref().is_none_or(|b| point.len() >= b.point.len()) {
            best = Some(Mount { point, fstype: f[dash + 1].to_owned(), source: f[dash + 2].to_owned() });
        }
    }
    best
}

/// Bytes free for an unprivileged writer on the filesystem of `path`.
fn free_bytes(path: &Path) -> u64 {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: all-zero bytes are a valid `statvfs` (plain integers).
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    assert_eq!(rc, 0, "statvfs {}: {}", path.display(), io::Error::last_os_error());
    s.f_bavail * s.f_frsize
}

fn first_line_with(path: &str, key: &str) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with(key)).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown".into())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn machine(root: &Path) -> Vec<String> {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let mem = first_line_with("/proc/meminfo", "MemTotal");
    let same_fs = match (fs::metadata(root), fs::metadata("/work")) {
        (Ok(a), Ok(b)) => if a.dev() == b.dev() { "yes" } else { "NO" },
        _ => "unknown (/work missing)",
    };
    let m = mount_of(root);
    let fsdesc = m.map_or_else(
        || "unknown".to_owned(),
        |m| format!("{} on {} ({}), same filesystem as /work: {same_fs}", m.fstype, m.point, m.source),
    );
    vec![
        format!("cpu: {nproc} x {} (nproc {nproc})", first_line_with("/proc/cpuinfo", "model name")),
        format!("memory: {mem}"),
        format!("kernel: Linux {kernel}"),
        format!("bench dir: {} — {fsdesc}", root.display()),
        format!("free there: {:.1} GB", free_bytes(root) as f64 / GB),
    ]
}

// ---------------------------------------------------------------- results

struct Row {
    what: String,
    ours: String,
    peer: String,
    ratio: String,
    target: String,
    met: String,
}

fn met(ok: bool) -> String {
    if ok { "met" } else { "NOT met" }.into()
}

fn print_table(rows: &[Row]) {
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| [r.what.as_str(), &r.ours, &r.peer, &r.ratio, &r.target, &r.met])
        .collect();
    let head = ["what", "ours", "peer", "ratio", "target", "met"];
    let mut w = head.map(|h| h.chars().count());
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let line = |c: &[&str; 6]| {
        let mut s = String::from("|");
        for (i, x) in c.iter().enumerate() {
            s.push(' ');
            s.push_str(x);
            s.push_str(&" ".repeat(w[i] - x.chars().count() + 1));
            s.push('|');
        }
        println!("{s}");
    };
    line(&head);
    println!("|{}", w.iter().map(|n| format!("{}|", "-".repeat(n + 2))).collect::<String>());
    for c in &cells {
        line(c);
    }
}

// ---------------------------------------------------------------- influxd

/// Row 1b: influxd's lines/s over `batches`, or why there is none.
fn influxd_peer(cfg: &Config, batches: &[&str], lines: usize) -> Result<f64, String> {
    if cfg.quick {
        return Err("influxd: skipped (quick mode)".into());
    }
    let Some(bin) = find_on_path("influxd") else {
        return Err("influxd: not installed (apt-get install influxdb)".into());
    };
    let d = start_influxd(&bin)?;
    let mut c = Http::new(d.port);
    c.create_database("bench")?;
    settle();
    let t = Instant::now();
    for b in batches {
        c.write_batch("bench", b)?;
    }
    let secs = t.elapsed().as_secs_f64();
    drop(d);
    Ok(lines as f64 / secs)
}

// ---------------------------------------------------------------- rows

/// Waits until the page cache holds no dirty data (`sync(2)`), then a
/// moment more: so that a timed section does not share the 2 CPUs with the
/// kernel writing back what the section before it wrote (a store kept open
/// holds ~100 MB of dirty mapped segment pages). The parse-only peer still
/// moves between about 0.22 and 0.42 M lines/s from run to run here.
fn settle() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(200));
}

/// Rows 1a, 1b and 4.
fn durable_and_query(cfg: &Config, rows: &mut Vec<Row>) {
    let path = support::workload("int", cfg.lines, !cfg.quick);
    let text = fs::read_to_string(&path).expect("read workload");
    let batches = support::batches(&text, BATCH_LINES);
    let lines = batches.iter().map(|b| b.lines().filter(|l| !l.is_empty()).count()).sum::<usize>();
    println!("workload: {} ({lines} lines, {:.1} MB, {} batches)", path.display(), text.len() as f64 / 1e6, batches.len());

    // Runs alternate between the engine (a fresh store each) and the parser.
    let (mut ours, mut parse, mut closes) = (Vec::new(), Vec::new(), Vec::new());
    let mut seals = Vec::new();
    let mut kept: Option<(BenchDir, Engine)> = None;
    for r in 0..cfg.runs {
        let dir = BenchDir::new(&format!("durable{r}"));
        // Background sealing on, and every partition of a past day due at
        // each of its passes (once a second): the workload's days are all
        // past, so it seals while the batches go in.
        let opts = Options { seal_past_after: Duration::ZERO, ..Options::default() };
        let engine = open_fresh(dir.path(), opts);
        settle();
        let t = Instant::now();
        let points = write_all(&engine, &batches);
        let sealed = engine.stats().seals;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(points as usize, lines, "every line written");
        ours.push(lines as f64 / secs);
        seals.push(sealed);
        let wal = engine.stats().wal_bytes;
        if r + 1 == cfg.runs {
            kept = Some((dir, engine));
        } else {
            let t = Instant::now();
            engine.close().expect("close");
            closes.push(t.elapsed().as_secs_f64());
        }
        settle();
        let t = Instant::now();
        assert_eq!(parse_iox(&batches), lines);
        parse.push(lines as f64 / t.elapsed().as_secs_f64());
        println!(
            "  run {r}: engine {} (WAL backlog {:.0} MB; {} partitions sealed in the background while writing), parse-only {}",
            mlines(*ours.last().expect("run")),
            wal as f64 / 1e6,
            seals.last().expect("run"),
            mlines(*parse.last().expect("run"))
        );
    }
    let (o, p) = (median(&ours), median(&parse));

    // Stress, not a row: one more run with a thread compacting without a
    // pause while the batches go in (every partition with new points
    // sealed again and again, merges included): the most sealing can
    // take from the writer on this machine.
    if !cfg.quick {
        let dir = BenchDir::new("durable-stress");
        let engine = open_fresh(dir.path(), Options::default());
        settle();
        let done = AtomicBool::new(false);
        let t = Instant::now();
        let sealed = std::thread::scope(|s| {
            let sealer = s.spawn(|| {
                let mut n = 0;
                while !done.load(Ordering::Acquire) {
                    n += engine.compact().expect("compact");
                }
                n
            });
            assert_eq!(write_all(&engine, &batches) as usize, lines);
            done.store(true, Ordering::Release);
            sealer.join().expect("sealer")
        });
        let rate = lines as f64 / t.elapsed().as_secs_f64();
        println!(
            "  stress: engine {} with a thread compacting without pause ({sealed} partitions sealed while writing): {:.2}x parse-only",
            mlines(rate),
            rate / p
        );
        engine.close().expect("close");
    }

    // Row 4 on the store of the last run, alternating with the parser again.
    let (dir, engine) = kept.expect("a kept store");
    let (mut q, mut qp) = (Vec::new(), Vec::new());
    let mut qbytes = 0;
    for _ in 0..cfg.runs {
        settle();
        let t = Instant::now();
        let (n, bytes) = scan(&engine);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(n as usize, lines, "the query returned every line");
        qbytes = bytes;
        q.push(n as f64 / secs);
        settle();
        let t = Instant::now();
        assert_eq!(parse_iox(&batches), lines);
        qp.push(lines as f64 / t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    engine.close().expect("close");
    closes.push(t.elapsed().as_secs_f64());
    drop(dir);
    let (qo, qpo) = (median(&q), median(&qp));
    println!(
        "  close (checkpoint: segments msync'd, catalog, WAL trimmed) after a run: median {:.2} s; not in the write figure",
        median(&closes)
    );
    println!("  query: {qbytes} bytes of canonical line protocol per scan, {:.0} MB/s", qbytes as f64 / (lines as f64 / qo) / 1e6);

    rows.push(Row {
        what: format!(
            "1a durable write, {lines} lines int, {BATCH_LINES}-line batches, 1 thread, background sealing on (median of {})",
            cfg.runs
        ),
        ours: mlines(o),
        peer: format!("{} (influxdb-line-protocol parse-only)", mlines(p)),
        ratio: format!("{:.2}x", o / p),
        target: ">= 2x".into(),
        met: met(o / p >= 2.0),
    });
    let peer = influxd_peer(cfg, &batches, lines);
    rows.push(match peer {
        Ok(i) => Row {
            what: "1b durable write vs influxd 1.6 over HTTP on 127.0.0.1 (1 run)".into(),
            ours: mlines(o),
            peer: format!("{} (influxd, POST /write)", mlines(i)),
            ratio: format!("{:.1}x", o / i),
            target: ">= 10x".into(),
            met: met(o / i >= 10.0),
        },
        Err(why) => Row {
            what: "1b durable write vs influxd 1.6 over HTTP on 127.0.0.1".into(),
            ours: mlines(o),
            peer: why,
            ratio: "-".into(),
            target: ">= 10x".into(),
            met: "-".into(),
        },
    });
    rows.push(Row {
        what: format!("4 full-scan query to canonical line protocol, {lines} lines (median of {})", cfg.runs),
        ours: mlines(qo),
        peer: format!("{} (influxdb-line-protocol parse-only)", mlines(qpo)),
        ratio: format!("{:.2}x", qo / qpo),
        target: ">= 3x".into(),
        met: met(qo / qpo >= 3.0),
    });
}

fn single_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').filter(|l| l.len() > 1).collect()
}

/// Row 2.
fn latency(cfg: &Config, rows: &mut Vec<Row>) {
    let path = support::workload("int", cfg.lines, !cfg.quick);
    let text = fs::read_to_string(&path).expect("read workload");
    let lines = single_lines(&text);
    let dir = BenchDir::new("latency");
    let engine = open_fresh(dir.path(), Options::default());

    const PAGE: usize = 4096;
    let total = cfg.lat_warmup + cfg.lat_samples;
    let peer = OpenOptions::new().read(true).write(true).create_new(true).open(dir.path().join("peer.dat")).expect("peer file");
    let len = (total * PAGE) as libc::off_t;
    // SAFETY: posix_fallocate takes an open descriptor and a range.
    let rc = unsafe { libc::posix_fallocate(peer.as_raw_fd(), 0, len) };
    assert_eq!(rc, 0, "posix_fallocate: {}", io::Error::from_raw_os_error(rc));
    peer.sync_all().expect("sync peer file");
    let page = [0x5Au8; PAGE];
    let mut peer_off = 0u64;
    let mut peer_write = || {
        let t = Instant::now();
        peer.write_all_at(&page, peer_off).expect("pwrite");
        peer.sync_data().expect("fdatasync");
        peer_off += PAGE as u64;
        t.elapsed()
    };
    let mut next = 0usize;
    let mut ours_write = || {
        let l = lines[next % lines.len()];
        next += 1;
        let t = Instant::now();
        write_ok(&engine, l.as_bytes());
        t.elapsed()
    };
    for _ in 0..cfg.lat_warmup {
        ours_write();
        peer_write();
    }
    let (mut ours, mut theirs) = (Vec::with_capacity(cfg.lat_samples), Vec::with_capacity(cfg.lat_samples));
    while ours.len() < cfg.lat_samples {
        let n = cfg.lat_chunk.min(cfg.lat_samples - ours.len());
        for _ in 0..n {
            ours.push(ours_write());
        }
        for _ in 0..n {
            theirs.push(peer_write());
        }
    }
    ours.sort();
    theirs.sort();
    let (o50, o99, p50, p99) = (percentile(&ours, 50), percentile(&ours, 99), percentile(&theirs, 50), percentile(&theirs, 99));
    let (n, _) = scan(&engine);
    assert!(n > 0 && n as usize <= total);
    engine.close().expect("close");
    let r = o50.as_secs_f64() / p50.as_secs_f64();
    println!(
        "  1-line write: p50 {} p99 {} (mean {}); 4 KiB pwrite+fdatasync: p50 {} p99 {}",
        us(o50),
        us(o99),
        us(ours.iter().sum::<Duration>() / ours.len() as u32),
        us(p50),
        us(p99)
    );
    rows.push(Row {
        what: format!(
            "2 1-line write latency, p50 (p99); {} each after {} warm-up, interleaved in chunks of {}",
            cfg.lat_samples, cfg.lat_warmup, cfg.lat_chunk
        ),
        ours: format!("{} ({})", us(o50), us(o99)),
        peer: format!("{} ({}) (4 KiB pwrite + fdatasync, preallocated)", us(p50), us(p99)),
        ratio: format!("{r:.2}x"),
        target: "<= 1.25x".into(),
        met: met(r <= 1.25),
    });
}

/// The process's CPU time so far (user, system, in seconds) and its
/// voluntary and involuntary context switches.
fn cpu_usage() -> (f64, f64, i64, i64) {
    // SAFETY: rusage is plain data, for which all zeros is a valid value,
    // and getrusage only writes into the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the call's duration.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_nvcsw, ru.ru_nivcsw)
}

/// Writes/s of `threads` threads of 1-line writes for `secs`. Also prints
/// the CPU the writes took: whether the run was bound by CPU or by waiting.
fn hammer(engine: &Engine, lines: &[&str], threads: usize, secs: f64) -> f64 {
    let before = cpu_usage();
    let total = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let dur = Duration::from_secs_f64(secs);
    let start = std::thread::scope(|s| {
        for t in 0..threads {
            let (total, barrier) = (&total, &barrier);
            s.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let mut n = 0usize;
                while start.elapsed() < dur {
                    write_ok(engine, lines[(t + n * threads) % lines.len()].as_bytes());
                    n += 1;
                }
                total.fetch_add(n as u64, Ordering::Relaxed);
            });
        }
        barrier.wait();
        // The scope joins every thread before it returns.
        Instant::now()
    });
    let secs = start.elapsed().as_secs_f64();
    let after = cpu_usage();
    let writes = total.load(Ordering::Relaxed) as f64;
    let (user, sys) = (after.0 - before.0, after.1 - before.1);
    println!(
        "    {threads} thread(s): CPU {:.0}% of one core; per write {:.1} µs CPU (user {:.1}, system {:.1}), {:.2} voluntary and {:.2} involuntary context switches",
        100.0 * (user + sys) / secs,
        (user + sys) / writes * 1e6,
        user / writes * 1e6,
        sys / writes * 1e6,
        (after.2 - before.2) as f64 / writes,
        (after.3 - before.3) as f64 / writes,
    );
    writes / secs
}

/// Row 3.
fn group_commit(cfg: &Config, rows: &mut Vec<Row>) {
    let path = support::workload("int", cfg.lines, !cfg.quick);
    let text = fs::read_to_string(&path).expect("read workload");
    let lines = single_lines(&text);
    let dir = BenchDir::new("group");
    let engine = open_fresh(dir.path(), Options::default());
    write_ok(&engine, lines[0].as_bytes());
    let (mut one, mut many, mut per_sync) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.thread_rounds {
        one.push(hammer(&engine, &lines, 1, cfg.thread_secs));
        // Writes per WAL fdatasync while the threads write: what the
        // grouping achieves (at most the number of threads).
        let before = engine.stats();
        many.push(hammer(&engine, &lines, cfg.threads, cfg.thread_secs));
        let after = engine.stats();
        let writes = (after.writes_accepted - before.writes_accepted) as f64;
        let syncs = (after.wal_syncs - before.wal_syncs).max(1) as f64;
        per_sync.push(writes / syncs);
        println!(
            "  1 thread {:.0} writes/s, {} threads {:.0} writes/s, {:.2} writes per fdatasync ({writes:.0} writes, {syncs:.0} syncs)",
            one.last().expect("round"),
            cfg.threads,
            many.last().expect("round"),
            per_sync.last().expect("round"),
        );
    }
    let seq = engine.stats().last_sequence;
    assert!(seq > 0);
    engine.close().expect("close");
    let (o, m, g) = (median(&one), median(&many), median(&per_sync));
    rows.push(Row {
        what: format!(
            "3 group commit: writes per WAL fdatasync with {} threads of 1-line writes, {:.1} s each, median of {} \
             rounds ({m:.0} writes/s; 1 thread {o:.0} writes/s, {:.2}x)",
            cfg.threads,
            cfg.thread_secs,
            cfg.thread_rounds,
            m / o
        ),
        ours: format!("{g:.2} writes per fdatasync"),
        peer: format!("{} (the most: one write per thread)", cfg.threads),
        ratio: format!("{:.2}", g / cfg.threads as f64),
        target: ">= 7 writes per fdatasync".into(),
        met: met(g >= 7.0),
    });
}

/// Pages of the store's WAL files in the page cache, and their size.
fn wal_residency(store: &Path) -> (u64, u64) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let (mut resident, mut size) = (0u64, 0u64);
    let Ok(rd) = fs::read_dir(store.join("wal")) else { return (0, 0) };
    for e in rd.flatten() {
        let Ok(f) = File::open(e.path()) else { continue };
        let len = f.metadata().map_or(0, |m| m.len());
        if len == 0 {
            continue;
        }
        size += len;
        let n = len.div_ceil(page) as usize;
        // SAFETY: a fresh private read-only mapping of an open file,
        // unmapped below; nothing else refers to it.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len as usize, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0) };
        if p == libc::MAP_FAILED {
            continue;
        }
        let mut vec = vec![0u8; n];
        // SAFETY: `p` maps `len` bytes and `vec` has one byte per page.
        let rc = unsafe { libc::mincore(p, len as usize, vec.as_mut_ptr()) };
        if rc == 0 {
            resident += vec.iter().filter(|b| **b & 1 == 1).count() as u64 * page;
        }
        // SAFETY: `p` is the mapping made above, of `len` bytes.
        unsafe { libc::munmap(p, len as usize) };
    }
    (resident, size)
}

/// Row 5.
fn replay(cfg: &Config, rows: &mut Vec<Row>) {
    let path = support::workload("int", cfg.lines, !cfg.quick);
    let mut n = cfg.replay_bytes;
    let free = free_bytes(&bench_root());
    let reserve = 5_000_000_000u64;
    if free < 3 * n + reserve {
        let m = free.saturating_sub(reserve) / 3;
        println!("  replay: {:.1} GB free: {n} bytes scaled down to {m}", free as f64 / GB);
        n = m;
    }
    let opts = || Options { checkpoint_wal_bytes: u64::MAX, max_wal_bytes: 1 << 50, ..Options::default() };
    let dir = BenchDir::new("replay");
    let engine = open_fresh(dir.path(), opts());
    let mut src = Shifted::new(&path);
    let mut batch = String::new();
    let (mut input, mut lines) = (0u64, 0u64);
    let t = Instant::now();
    while input < n {
        let k = src.next_batch(&mut batch);
        assert_eq!(write_ok(&engine, batch.as_bytes()), k as u64);
        input += batch.len() as u64;
        lines += k as u64;
    }
    let wsecs = t.elapsed().as_secs_f64();
    let before = engine.stats();
    assert_eq!(before.points, lines);
    drop(engine); // no close: no checkpoint
    let store = dir.path().join("store");
    let (resident, wal_files) = wal_residency(&store);
    let t = Instant::now();
    let engine = Engine::open(&store, opts()).expect("reopen");
    let secs = t.elapsed().as_secs_f64();
    let after = engine.stats();
    assert_eq!(after.points, before.points, "replay restored every point");
    assert_eq!(after.last_sequence, before.last_sequence);
    engine.close().expect("close");
    drop(dir);
    let gbs = before.wal_bytes as f64 / GB / secs;
    // Preallocated tails that were never written are not cached either.
    let cached = (100.0 * resident as f64 / before.wal_bytes.max(1) as f64).min(100.0);
    println!(
        "  replay: wrote {:.2} GB of input ({lines} lines) at {:.1} MB/s; WAL backlog {:.2} GB; open took {:.3} s; \
         WAL files {:.2} GB (preallocated), {:.2} GB of them in the page cache before open ({:.0}% of the backlog)",
        input as f64 / GB,
        input as f64 / 1e6 / wsecs,
        before.wal_bytes as f64 / GB,
        secs,
        wal_files as f64 / GB,
        resident as f64 / GB,
        cached
    );
    rows.push(Row {
        what: format!(
            "5 open replaying {:.2} GB of WAL ({:.2} GB of input, no checkpoint, WAL {cached:.0}% in page cache)",
            before.wal_bytes as f64 / GB,
            input as f64 / GB,
        ),
        ours: format!("{gbs:.2} GB/s ({secs:.2} s)"),
        peer: "- (absolute target)".into(),
        ratio: "-".into(),
        target: ">= 1 GB/s".into(),
        met: met(gbs >= 1.0),
    });
}

/// What the row 6 child reports.
#[derive(Debug, Default)]
struct RssReport {
    baseline_anon: u64,
    baseline_file: u64,
    max_anon: u64,
    max_file: u64,
    hwm: u64,
    samples: u64,
    input: u64,
    lines: u64,
    secs: f64,
    max_wal: u64,
    /// Opening the cleanly closed store, cold (first) and warm (second),
    /// in microseconds.
    open_us: [u64; 2],
}

/// (RssAnon, RssFile, VmHWM) in bytes.
fn rss() -> (u64, u64, u64) {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l[k.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (get("RssAnon:"), get("RssFile:"), get("VmHWM:"))
}

/// Row 6, in a process of its own (`--rss-child workload dir bytes quick`),
/// so that nothing the other rows allocated counts.
fn rss_child(args: &[String]) {
    let (workload, dir, bytes, quick) =
        (Path::new(&args[0]), Path::new(&args[1]), args[2].parse::<u64>().expect("bytes"), args[3] == "1");
    let (baseline_anon, baseline_file, _) = rss();
    let mut opts = Options::default();
    if quick {
        // So that the smoke run checkpoints too.
        opts.checkpoint_wal_bytes = 1 << 20;
    }
    let engine = Engine::open(dir.join("store"), opts).expect("open store");
    engine.create_database(DB).expect("create database");
    let stop = AtomicBool::new(false);
    let (max_anon, max_file, samples) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let sample = || {
        let (a, f, _) = rss();
        max_anon.fetch_max(a, Ordering::Relaxed);
        max_file.fetch_max(f, Ordering::Relaxed);
        samples.fetch_add(1, Ordering::Relaxed);
    };
    let mut r = RssReport { baseline_anon, baseline_file, ..RssReport::default() };
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                sample();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let mut src = Shifted::new(workload);
        let mut batch = String::new();
        let mut k = 0u64;
        while r.input < bytes {
            let n = src.next_batch(&mut batch);
            assert_eq!(write_ok(&engine, batch.as_bytes()), n as u64);
            r.input += batch.len() as u64;
            r.lines += n as u64;
            k += 1;
            if k.is_multiple_of(16) {
                r.max_wal = r.max_wal.max(engine.stats().wal_bytes);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    sample();
    r.secs = t.elapsed().as_secs_f64();
    r.max_wal = r.max_wal.max(engine.stats().wal_bytes);
    let pts = engine.stats().points;
    assert_eq!(pts, r.lines, "every line stored");
    if quick {
        // Whether the maintenance thread's checkpoints ran during so short
        // a run depends on the machine's load: one is taken here, so that
        // the smoke test checks that a checkpoint trims the WAL, never
        // how soon the thread got to run.
        engine.checkpoint().expect("checkpoint");
        assert!(engine.stats().wal_bytes < r.input, "a checkpoint trimmed the WAL");
    }
    engine.close().expect("close");
    // Opening the store just written and cleanly closed: what a device
    // that restarts pays before its first write (issue 13: <= 50 ms for
    // 10 GB). The page cache still holds the files: a warm open, twice.
    for us in &mut r.open_us {
        let t = Instant::now();
        let e = Engine::open(dir.join("store"), Options::default()).expect("reopen");
        *us = t.elapsed().as_micros() as u64;
        drop(e);
    }
    r.max_anon = max_anon.load(Ordering::Relaxed);
    r.max_file = max_file.load(Ordering::Relaxed);
    r.samples = samples.load(Ordering::Relaxed);
    r.hwm = rss().2;
    println!(
        "RSS_REPORT {} {} {} {} {} {} {} {} {} {} {} {}",
        r.baseline_anon,
        r.baseline_file,
        r.max_anon,
        r.max_file,
        r.hwm,
        r.samples,
        r.input,
        r.lines,
        r.secs,
        r.max_wal,
        r.open_us[0],
        r.open_us[1]
    );
}

/// Row 6.
fn memory(cfg: &Config, rows: &mut Vec<Row>) {
    let path = support::workload("int", cfg.lines, !cfg.quick);
    let mut n = cfg.rss_bytes;
    let free = free_bytes(&bench_root());
    // Segments take about what the input takes; the WAL up to its
    // checkpoint threshold; keep a margin for everyone else on the disk.
    let reserve = 5_000_000_000u64;
    let mut note = String::new();
    if free < n + n / 2 + reserve {
        let m = (free.saturating_sub(reserve)) * 2 / 3;
        note = format!(" (scaled down from {:.1} GB: {:.1} GB free)", n as f64 / GB, free as f64 / GB);
        println!("  memory:{note}");
        n = m;
    }
    let dir = BenchDir::new("rss");
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--rss-child")
        .arg(&path)
        .arg(dir.path())
        .arg(n.to_string())
        .arg(if cfg.quick { "1" } else { "0" })
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the row 6 child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "row 6 child failed: {}\n{stdout}", out.status);
    let rep = stdout.lines().find_map(|l| l.strip_prefix("RSS_REPORT ")).expect("child report");
    let f: Vec<&str> = rep.split(' ').collect();
    let u = |i: usize| f[i].parse::<u64>().expect("number");
    let r = RssReport {
        baseline_anon: u(0),
        baseline_file: u(1),
        max_anon: u(2),
        max_file: u(3),
        hwm: u(4),
        samples: u(5),
        input: u(6),
        lines: u(7),
        secs: f[8].parse().expect("secs"),
        max_wal: u(9),
        open_us: [u(10), u(11)],
    };
    drop(dir);
    println!(
        "  memory: {:.2} GB ({} lines) in {:.1} s ({:.0} MB/s), {} samples; RssAnon before open {:.1} MiB, max {:.1} MiB; \
         RssFile before {:.1} MiB, max {:.1} MiB; VmHWM {:.1} MiB; max WAL backlog {:.0} MiB",
        r.input as f64 / GB,
        r.lines,
        r.secs,
        r.input as f64 / 1e6 / r.secs,
        r.samples,
        r.baseline_anon as f64 / MIB,
        r.max_anon as f64 / MIB,
        r.baseline_file as f64 / MIB,
        r.max_file as f64 / MIB,
        r.hwm as f64 / MIB,
        r.max_wal as f64 / MIB
    );
    let anon = r.max_anon as f64 / MIB;
    rows.push(Row {
        what: format!("6 max RssAnon writing {:.1} GB of line protocol, checkpoints on{note}", r.input as f64 / GB),
        ours: format!("{anon:.1} MiB (RssFile max {:.0} MiB)", r.max_file as f64 / MIB),
        peer: "- (absolute target)".into(),
        ratio: "-".into(),
        target: "RssAnon < 64 MiB (+ mapped pages)".into(),
        met: met(anon < 64.0),
    });
    let ms = r.open_us.map(|us| us as f64 / 1000.0);
    rows.push(Row {
        what: format!("6b open of that store, cleanly closed ({:.1} GB of input), page cache warm", r.input as f64 / GB),
        ours: format!("{:.1} ms (again: {:.1} ms)", ms[0], ms[1]),
        peer: "- (absolute target)".into(),
        ratio: "-".into(),
        target: "<= 50 ms".into(),
        met: met(ms[0] <= 50.0 && ms[1] <= 50.0),
    });
}

/// The numbered files (`NNNNNNNN.wal`) of a store's WAL, sorted.
fn wal_log_files(store: &Path) -> Vec<std::ffi::OsString> {
    let Ok(rd) = fs::read_dir(store.join("wal")) else { return Vec::new() };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| n.to_str().is_some_and(|n| n.ends_with(".wal") && !n.starts_with("spare")))
        .collect();
    v.sort();
    v
}

/// Row 7: a write that moves the WAL to its next file should cost what
/// any other write does. 16 MiB WAL files and a checkpoint every 64 MiB
/// (1/4 of the defaults, so that the run sees several intervals); the
/// writes of the first interval are left out (the spares are made by its
/// checkpoint), and so are the writes that ran a checkpoint (their own
/// cost).
fn rotation(cfg: &Config, rows: &mut Vec<Row>) {
    let path = support::workload("int", cfg.lines, !cfg.quick);
    let text = fs::read_to_string(&path).expect("read workload");
    let batches = support::batches(&text, BATCH_LINES);
    let dir = BenchDir::new("rotation");
    let (file, interval) = if cfg.quick { (1 << 20, 4 << 20) } else { (16 << 20, 64 << 20) };
    let opts = Options { wal_file_bytes: file, checkpoint_wal_bytes: interval, ..Options::default() };
    let engine = open_fresh(dir.path(), opts);
    let store = dir.path().join("store");
    let (mut all, mut rotating, mut checkpointing) = (Vec::new(), Vec::new(), Vec::new());
    let (mut checkpoints, mut last_wal, mut round) = (0, 0, 0);
    while checkpoints < 4 && round < 100 {
        round += 1;
        for b in &batches {
            let before = wal_log_files(&store);
            let t = Instant::now();
            write_ok(&engine, b.as_bytes());
            let took = t.elapsed();
            let wal = engine.stats().wal_bytes;
            let checkpointed = wal < last_wal;
            last_wal = wal;
            if checkpointed {
                checkpoints += 1;
                checkpointing.push(took);
                continue;
            }
            all.push(took);
            if checkpoints >= 1 && wal_log_files(&store) != before {
                rotating.push(took);
            }
        }
    }
    engine.close().expect("close");
    all.sort();
    let p50 = percentile(&all, 50);
    let Some(&worst) = rotating.iter().max() else {
        println!("  no rotation after the first checkpoint ({checkpoints} checkpoints): row 7 not measured");
        return;
    };
    let ms = |v: &[Duration]| v.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1e3)).collect::<Vec<_>>().join(" ");
    println!("  {} writes, {checkpoints} checkpoints; rotating writes (ms): {}", all.len(), ms(&rotating));
    println!("  writes that ran a checkpoint (ms, not in the row): {}", ms(&checkpointing));
    println!("  slowest other writes (ms): {}", ms(&all[all.len().saturating_sub(5)..]));
    let r = worst.as_secs_f64() / p50.as_secs_f64();
    rows.push(Row {
        what: format!(
            "7 slowest of {} writes that rotated the WAL ({} MiB files, checkpoint every {} MiB), after the first checkpoint",
            rotating.len(),
            file >> 20,
            interval >> 20
        ),
        ours: format!("{:.1} ms", worst.as_secs_f64() * 1e3),
        peer: format!("{:.1} ms (p50 of all {} writes)", p50.as_secs_f64() * 1e3, all.len()),
        ratio: format!("{r:.2}x"),
        target: "<= 2x (ours; not an issue target)".into(),
        met: met(r <= 2.0),
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        rss_child(&args[i + 1..]);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this
    // without it: then a quick smoke run.
    let cfg = Config::new(!args.iter().any(|a| a == "--bench"));
    fs::create_dir_all(bench_root()).expect("create target/bench-write");
    println!("linedb write bench ({})", if cfg.quick { "quick smoke run" } else { "measured" });
    for l in machine(&bench_root()) {
        println!("  {l}");
    }
    println!("  load average at start: {}", loadavg());
    let started = Instant::now();
    // LINEDB_BENCH_ROWS=3,5 runs only those rows (1 and 4 run together).
    let only = std::env::var("LINEDB_BENCH_ROWS").ok().filter(|_| !cfg.quick);
    let want = |r: &str| only.as_ref().is_none_or(|o| o.split(',').any(|x| x.trim() == r));
    let mut rows = Vec::new();
    if want("1") || want("4") {
        println!("rows 1 and 4: durable writes, full-scan query");
        durable_and_query(&cfg, &mut rows);
    }
    if want("2") {
        println!("row 2: 1-line write latency");
        latency(&cfg, &mut rows);
    }
    if want("3") {
        println!("row 3: group commit");
        group_commit(&cfg, &mut rows);
    }
    if want("5") {
        println!("row 5: replay on open");
        replay(&cfg, &mut rows);
    }
    if want("6") {
        println!("row 6: memory");
        memory(&cfg, &mut rows);
    }
    if want("7") {
        println!("row 7: WAL rotation latency");
        rotation(&cfg, &mut rows);
    }
    rows.sort_by(|a, b| a.what.cmp(&b.what));
    println!();
    print_table(&rows);
    println!();
    println!("load average at end: {}; {:.0} s in all", loadavg(), started.elapsed().as_secs_f64());
    let _ = fs::remove_dir(bench_root());
}
