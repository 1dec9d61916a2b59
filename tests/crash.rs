//! kill -9 loop: a child process writes batches and prints the id of each
//! acknowledged one; the parent kills it at a random moment (mid-write,
//! mid-checkpoint, mid-recovery), reopens the store, and checks that every
//! acknowledged batch is there whole, no batch is there in part, and
//! nothing is there twice. The child seals every partition every 7 batches
//! (`compact`), so kills land in sealing too: while a sealed file is
//! written, renamed, swapped in, made durable by a checkpoint, or while
//! the segments it replaced are removed. LINEDB_CRASH_CYCLES sets the
//! number of cycles (default 200).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use linedb::engine::{Engine, Error, Options};

/// Points per batch: half in measurement `a`, half in `b`, over two days,
/// so a batch spans four partitions.
const POINTS: usize = 8;
const DAY: i64 = linedb::partition::NANOS_PER_DAY;

fn options() -> Options {
    Options { wal_file_bytes: 16 << 10, segment_bytes: 32 << 10, checkpoint_wal_bytes: 48 << 10, ..Options::default() }
}

fn batch(id: u64) -> String {
    (0..POINTS)
        .map(|j| {
            let m = if j % 2 == 0 { "a" } else { "b" };
            let t = (j as i64 % 4 / 2) * DAY + id as i64 * 100 + j as i64;
            format!("{m},batch={id} v={j}i,s=\"{}\" {t}\n", "x".repeat(j * 10))
        })
        .collect()
}

/// The child: runs only when the parent sets LINEDB_CRASH_CHILD.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("LINEDB_CRASH_CHILD") else { return };
    let first: u64 = std::env::var("LINEDB_CRASH_FIRST").unwrap().parse().unwrap();
    let e = Engine::open(&dir, options()).unwrap();
    match e.create_database("db") {
        Ok(()) | Err(Error::AlreadyExists(_)) => {}
        Err(err) => panic!("{err}"),
    }
    let mut out = std::io::stdout().lock();
    for id in first.. {
        let r = e.write("db", batch(id).as_bytes(), linedb::line_protocol::Precision::Nanosecond);
        assert_eq!(r.status, 204, "{}", r.message);
        writeln!(out, "ack {id}").unwrap();
        out.flush().unwrap();
        if id % 37 == 0 {
            e.checkpoint().unwrap();
        }
        if id % 7 == 0 {
            let n = e.compact().unwrap();
            writeln!(out, "sealed {n}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// The batch id of an `ack N` line. The test harness may print its own
/// `test crash_child ... ` in front of the first one.
fn ack_id(line: &str) -> Option<u64> {
    line.split_once("ack ")?.1.trim().parse().ok()
}

/// Batch id → points of it in the store, checking each point is whole.
fn stored(e: &Engine) -> BTreeMap<u64, usize> {
    let mut seen = BTreeSet::new();
    let mut per = BTreeMap::new();
    let r = e.query("db", None, i64::MIN, i64::MAX, &mut |l| {
        let l = std::str::from_utf8(l).unwrap().to_owned();
        let id: u64 = l.split([',', ' ']).nth(1).unwrap().strip_prefix("batch=").unwrap().parse().unwrap();
        assert!(seen.insert(l.clone()), "duplicate point {l}");
        *per.entry(id).or_insert(0) += 1;
        true
    });
    assert_eq!(r.status, 200);
    per
}

#[test]
fn kill_9_never_loses_an_acknowledged_batch_or_shows_part_of_one() {
    let cycles: u64 = std::env::var("LINEDB_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let t = TempDir::new("crash");
    let dir = t.store();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next_id = 1u64;
    let mut acked_total = 0usize;
    let mut sealed_total = 0usize;
    for cycle in 0..cycles {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_micros(rng % 80_000);
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("LINEDB_CRASH_CHILD", &dir)
            .env("LINEDB_CRASH_FIRST", next_id.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let mut acked = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = ack_id(&line) {
                acked.push(id);
            }
            if let Some(n) = line.split_once("sealed ").and_then(|(_, n)| n.trim().parse::<usize>().ok()) {
                sealed_total += n;
            }
        }
        acked_total += acked.len();
        let e = match Engine::open(&dir, options()) {
            Ok(e) => e,
            Err(err) => panic!("cycle {cycle}: reopen failed: {err}"),
        };
        let per = if e.databases().is_empty() { BTreeMap::new() } else { stored(&e) };
        for id in &acked {
            assert_eq!(per.get(id), Some(&POINTS), "cycle {cycle}: acknowledged batch {id} not whole");
        }
        for (id, n) in &per {
            assert_eq!(*n, POINTS, "cycle {cycle}: batch {id} is partial");
        }
        next_id = per.keys().next_back().map_or(next_id, |m| m + 1).max(next_id);
        if let Some(m) = acked.iter().max() {
            next_id = next_id.max(m + 1);
        }
        drop(e);
    }
    // The loop must have exercised real writes, not only early kills, and
    // sealing.
    assert!(acked_total as u64 > cycles, "only {acked_total} batches acknowledged in {cycles} cycles");
    assert!(sealed_total as u64 > cycles / 4, "only {sealed_total} partitions sealed in {cycles} cycles");
    eprintln!("{cycles} cycles: {acked_total} batches acknowledged, {sealed_total} partitions sealed");
}

#[test]
fn a_store_open_in_another_process_is_locked() {
    let t = TempDir::new("locked");
    let dir = t.store();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("LINEDB_CRASH_CHILD", &dir)
        .env("LINEDB_CRASH_FIRST", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once it has acknowledged a batch, it holds the store.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.by_ref().find_map(|l| ack_id(&l.unwrap()));
    assert_eq!(first, Some(1));
    let r = Engine::open(&dir, options());
    child.kill().unwrap();
    let _ = child.wait();
    match r {
        Err(linedb::error::OpenError::Locked { dir: d }) => assert_eq!(d, dir),
        other => panic!("expected Locked, got {other:?}"),
    }
    // The lock dies with the process.
    let e = Engine::open(&dir, options()).unwrap();
    assert_eq!(stored(&e).get(&1), Some(&POINTS));
}
