//! Bounded at any number of partitions (API.md, "Additions in 0.2"; issue
//! 13, item 3): many one-point partitions written, closed, reopened and
//! queried in a child process under a low `RLIMIT_NOFILE`, with the
//! descriptors, mappings, resident memory and disk it took.
//!
//! In CI at a few thousand partitions; the full 100,000 under
//! `ulimit -n 1024` is ignored (minutes of work) and run by hand:
//!
//! ```text
//! cargo test --release --test many_partitions -- --ignored --nocapture
//! ```

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use common::*;
use linedb::engine::{Engine, Options};

const DAY: i64 = 86_400_000_000_000;
/// Measurements: partitions are spread over this many, each over days.
const MEASUREMENTS: u64 = 100;

/// How a run is set up, passed to the child in its environment.
struct Run {
    partitions: u64,
    /// RLIMIT_NOFILE of the child.
    nofile: u64,
    /// `max_open_segments`; 0 for the default.
    cache: usize,
    /// Partitions per batch (each batch one point in each).
    per_batch: u64,
}

/// Descriptors open in this process now.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// Mappings of files under `dir` in this process now.
fn maps_under(dir: &str) -> u64 {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().filter(|l| l.contains(dir)).count() as u64)
}

/// All mappings of this process (what `vm.max_map_count` bounds).
fn all_maps() -> u64 {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count() as u64)
}

/// A `kB` line of /proc/self/status, in bytes.
fn status_bytes(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes of heap in use now (glibc's count of allocated chunks).
fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and only reads the allocator's
    // counters.
    unsafe { libc::mallinfo2() }.uordblks as u64
}

/// Bytes allocated on disk under `dir` (files and directories), and the
/// number of files and directories.
fn disk_usage(dir: &Path) -> (u64, u64) {
    let (mut bytes, mut entries) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            bytes += m.blocks() * 512;
            entries += 1;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    (bytes, entries)
}

fn line(i: u64) -> String {
    let (m, day) = (i % MEASUREMENTS, i / MEASUREMENTS);
    format!("m{m},host=h f={i}i {}\n", day as i64 * DAY + 1)
}

/// The child: does the run in `LINEDB_MANY_CHILD` and prints `figure <key>
/// <value>` lines.
#[test]
fn many_partitions_child() {
    let Ok(dir) = std::env::var("LINEDB_MANY_CHILD") else { return };
    let env = |k: &str| std::env::var(k).unwrap().parse::<u64>().unwrap();
    let run = Run {
        partitions: env("LINEDB_MANY_PARTITIONS"),
        nofile: env("LINEDB_MANY_NOFILE"),
        cache: env("LINEDB_MANY_CACHE") as usize,
        per_batch: env("LINEDB_MANY_PER_BATCH"),
    };
    let rl = libc::rlimit { rlim_cur: run.nofile, rlim_max: run.nofile };
    // SAFETY: setrlimit with a valid, initialised struct; it only lowers
    // this (child) process's own limit.
    // (0: leave it, e.g. under valgrind, which keeps descriptors of its own.)
    assert!(run.nofile == 0 || unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } == 0);
    let opts = || {
        let mut o = Options { ..Options::default() };
        if run.cache > 0 {
            o.max_open_segments = run.cache;
        }
        o.limits.max_tables_per_database = 500;
        o
    };
    let mut out = std::io::stdout().lock();
    let mut fig = |k: &str, v: u64| writeln!(out, "figure {k} {v}").unwrap();
    let base_fds = open_fds();
    let base_maps = all_maps();

    let started = Instant::now();
    let e = Engine::open(&dir, opts()).unwrap();
    e.create_database("db").unwrap();
    let (mut max_fds, mut max_maps, mut max_open) = (0, 0, 0);
    let mut i = 0;
    while i < run.partitions {
        let n = run.per_batch.min(run.partitions - i);
        let batch: String = (i..i + n).map(line).collect();
        let r = write(&e, "db", &batch);
        assert_eq!(r.status, 204, "batch at {i}: {}", r.message);
        i += n;
        max_fds = max_fds.max(open_fds());
        max_maps = max_maps.max(maps_under(&dir));
        max_open = max_open.max(e.stats().open_segments);
    }
    fig("write_ms", started.elapsed().as_millis() as u64);
    fig("write_max_fds", max_fds - base_fds);
    fig("write_max_store_maps", max_maps);
    fig("write_max_open_segments", max_open);
    fig("write_rss_anon", status_bytes("RssAnon:"));
    fig("write_heap", heap_in_use());
    let s = e.stats();
    assert_eq!((s.partitions, s.points), (run.partitions, run.partitions));
    e.close().unwrap();

    let (bytes, entries) = disk_usage(&Path::new(&dir).join("data"));
    fig("data_bytes", bytes);
    fig("data_entries", entries);
    let (all_bytes, _) = disk_usage(Path::new(&dir));
    fig("store_bytes", all_bytes);

    let started = Instant::now();
    let e = Engine::open(&dir, opts()).unwrap();
    fig("open_us", started.elapsed().as_micros() as u64);
    fig("open_fds", open_fds() - base_fds);
    fig("open_store_maps", maps_under(&dir));
    fig("open_rss_anon", status_bytes("RssAnon:"));
    fig("open_heap", heap_in_use());

    // Every point back, one measurement at a time and all at once.
    let started = Instant::now();
    // Counts by value, in a flat array: the test's own bookkeeping must
    // not weigh in the resident memory measured below (a map of 100,000
    // entries took about 2.5 MiB).
    let mut got = vec![0u8; run.partitions as usize + 1];
    let mut stray = 0u64;
    // A few points whose whole line is compared with what was written.
    let sample = [0, 1, 2, run.partitions - 1];
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut max_fds = 0;
    let q = e.query("db", None, i64::MIN, i64::MAX, &mut |l| {
        let s = std::str::from_utf8(l).unwrap();
        let v: u64 = s.split(" f=").nth(1).unwrap().split('i').next().unwrap().parse().unwrap();
        match got.get_mut(v as usize) {
            Some(n) => *n = n.saturating_add(1),
            None => stray += 1,
        }
        if sample.contains(&v) {
            seen.push((v, s.to_owned()));
        }
        if v.is_multiple_of(997) {
            max_fds = max_fds.max(open_fds());
        }
        true
    });
    assert_eq!(q.status, 200, "{}", q.message);
    fig("query_ms", started.elapsed().as_millis() as u64);
    // Every value written (0 .. partitions) came back once, none other.
    assert!(got[..run.partitions as usize].iter().all(|&n| n == 1), "a point missing or repeated");
    assert_eq!((got[run.partitions as usize], stray), (0, 0));
    seen.sort();
    let want: Vec<(u64, String)> = sample.iter().map(|&k| (k, line(k).trim_end().to_owned())).collect();
    assert_eq!(seen, want);
    fig("query_max_fds", max_fds.saturating_sub(base_fds));
    fig("query_store_maps", maps_under(&dir));
    fig("query_rss_anon", status_bytes("RssAnon:"));
    fig("query_heap", heap_in_use());
    fig("max_map_count_used", all_maps() - base_maps);
    // And the store still takes writes to old and new partitions.
    assert_eq!(write(&e, "db", &(line(0) + &line(run.partitions))).status, 204);
    let s = e.stats();
    fig("cache_opens", s.segment_opens);
    fig("cache_closes", s.segment_closes);
    e.close().unwrap();
    writeln!(std::io::stdout(), "child done").unwrap();
}

/// Runs the child; returns its figures.
fn run_child(run: &Run) -> BTreeMap<String, u64> {
    let t = TempDir::new("many-partitions");
    let store = t.store().to_string_lossy().into_owned();
    let (partitions, nofile, cache, per_batch) =
        (run.partitions.to_string(), run.nofile.to_string(), run.cache.to_string(), run.per_batch.to_string());
    let env = [
        ("LINEDB_MANY_CHILD", store.as_str()),
        ("LINEDB_MANY_PARTITIONS", partitions.as_str()),
        ("LINEDB_MANY_NOFILE", nofile.as_str()),
        ("LINEDB_MANY_CACHE", cache.as_str()),
        ("LINEDB_MANY_PER_BATCH", per_batch.as_str()),
    ];
    let stdout = common::run_child("many_partitions_child", &env, "child done");
    let figs: BTreeMap<String, u64> = stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("figure ")?.split(' ');
            Some((w.next()?.to_owned(), w.next()?.parse().ok()?))
        })
        .collect();
    for (k, v) in &figs {
        eprintln!("{k:>24} {v}");
    }
    figs
}

/// What every run must show; `rss` bounds resident memory beyond mapped
/// pages (RssAnon) at each stage.
fn check(run: &Run, f: &BTreeMap<String, u64>, rss: u64) {
    let cap = if run.cache == 0 { linedb::segment::DEFAULT_MAX_OPEN_SEGMENTS as u64 } else { run.cache as u64 };
    // Open segments: the cache, plus what one commit group pins.
    let bound = cap + run.per_batch + 1;
    assert!(f["write_max_open_segments"] <= bound, "{f:?}");
    assert!(f["write_max_store_maps"] <= bound, "{f:?}");
    assert!(f["open_store_maps"] <= cap, "{f:?}");
    assert!(f["query_store_maps"] <= cap + 1, "{f:?}");
    // Descriptors: the segments above, and the WAL's few.
    assert!(f["write_max_fds"] <= bound + 16, "{f:?}");
    assert!(f["open_fds"] <= cap + 16, "{f:?}");
    // Disk: a one-point partition's segment file and its directory.
    let per_partition = f["data_bytes"] / run.partitions;
    assert!(per_partition <= 16 << 10, "{per_partition} bytes per partition: {f:?}");
    // Memory beyond mapped pages.
    for k in ["write_rss_anon", "open_rss_anon", "query_rss_anon"] {
        assert!(f[k] < rss, "{k}: {f:?}");
    }
}

#[test]
fn thousands_of_partitions_under_a_low_descriptor_limit() {
    let run = Run { partitions: 3000, nofile: 128, cache: 32, per_batch: 40 };
    let f = run_child(&run);
    check(&run, &f, 64 << 20);
    // The cache really closed and reopened files.
    assert!(f["cache_closes"] >= run.partitions - 32, "{f:?}");
}

/// The full count, as the issue asks: 100,000 partitions under `ulimit -n
/// 1024` with the default cache, resident memory beyond mapped pages under
/// 64 MiB at every stage (measured 57-62 MiB: about 560 bytes of heap per
/// partition for its segment, block list, path and map entries, plus what
/// a whole-store query holds). Minutes; run by hand (see the top).
#[test]
#[ignore]
fn a_hundred_thousand_partitions_under_ulimit_1024() {
    let run = Run { partitions: 100_000, nofile: 1024, cache: 0, per_batch: 500 };
    let f = run_child(&run);
    check(&run, &f, 64 << 20);
}
