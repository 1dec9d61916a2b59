//! Bit flips at rest: every used byte of every file kind (segment, sealed
//! file, catalog, write-ahead log) of a small store is flipped in turn, one bit per trial,
//! in a copy of the store; then the copy is opened and queried.
//!
//! Each flip must be either harmless (the store opens and answers exactly
//! what it answered before) or detected (open refuses with
//! `OpenError::Corrupt` or `Version` naming a file, or the query answers 500
//! naming the damaged file). Anything else (a different answer, lost
//! points, a panic) fails the test. So no flip loses an acknowledged batch
//! silently: a store that opens and answers 200 answers everything.
//!
//! Three states are swept: a store closed cleanly (everything checkpointed,
//! the log empty), a store left without close after a checkpoint and more
//! writes (blocks past the checkpointed length, records in the log), and a
//! store sealed (`compact`) then written to again and closed (sealed files
//! and segments of late writes in the same partitions).
//! `LINEDB_BITFLIP_STRIDE=N` flips every Nth byte only (default 1: all).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use linedb::engine::{Engine, Options};
use linedb::error::OpenError;

fn options() -> Options {
    Options { segment_bytes: 64 << 10, wal_file_bytes: 16 << 10, background_sealing: false, ..Options::default() }
}

const DAY: i64 = 86_400_000_000_000;

/// Batches over two measurements and two days, every field type, an
/// overwrite of one point.
fn batches() -> Vec<String> {
    let mut v = Vec::new();
    for b in 0..4i64 {
        let mut s = String::new();
        for i in 0..3i64 {
            let t = b * 10 + i + if b % 2 == 1 { DAY } else { 0 };
            s.push_str(&format!("cpu,host=h{i} f={}.5,n={}i,u={}u,ok=true,s=\"v{b}\" {t}\n", b + i, b * i, i));
            s.push_str(&format!("mem,host=h{i} free={}i {t}\n", 100 + b));
        }
        v.push(s);
    }
    v.push("cpu,host=h0 f=9.25 0\n".to_owned());
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Segment,
    Sealed,
    Catalog,
    Wal,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    if name == "catalog" {
        Some(Kind::Catalog)
    } else if name.ends_with(".seg") {
        Some(Kind::Segment)
    } else if name.ends_with(".col") {
        Some(Kind::Sealed)
    } else if name.ends_with(".wal") && !name.starts_with("spare") {
        Some(Kind::Wal)
    } else {
        None
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    all_files(dir).into_iter().filter(|p| p.file_name().is_some_and(|n| n != "LOCK")).collect()
}

fn copy_store(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for p in files(from) {
        let rel = p.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&p, &dst).unwrap();
    }
    std::fs::create_dir_all(to.join("wal")).unwrap();
}

#[derive(Debug, Default)]
struct Counts {
    flips: u64,
    harmless: u64,
    refused_open: u64,
    query_500: u64,
}

/// Opens and queries a damaged copy; `Err` for a silent difference.
fn judge(dir: &Path, want: &[String], c: &mut Counts) -> Result<(), String> {
    let e = match Engine::open(dir, options()) {
        Ok(e) => e,
        Err(OpenError::Corrupt { path, .. }) | Err(OpenError::Version { path, .. }) => {
            if !path.starts_with(dir) {
                return Err(format!("refused naming a file outside the store: {}", path.display()));
            }
            c.refused_open += 1;
            return Ok(());
        }
        Err(other) => return Err(format!("open failed with something other than damage: {other}")),
    };
    let mut got = Vec::new();
    let r = e.query("db", None, i64::MIN, i64::MAX, &mut |l| {
        got.push(String::from_utf8_lossy(l).into_owned());
        true
    });
    match r.status {
        200 if got == want => c.harmless += 1,
        200 => return Err(format!("a different answer: {} lines, {:?}", got.len(), diff(want, &got))),
        500 if r.message.contains(&dir.display().to_string()) => {
            if !got.is_empty() {
                return Err(format!("500 after {} lines were delivered", got.len()));
            }
            c.query_500 += 1;
        }
        s => return Err(format!("query answered {s}: {}", r.message)),
    }
    Ok(())
}

fn diff(want: &[String], got: &[String]) -> (Vec<String>, Vec<String>) {
    let missing = want.iter().filter(|l| !got.contains(l)).cloned().collect();
    let extra = got.iter().filter(|l| !want.contains(l)).cloned().collect();
    (missing, extra)
}

/// Flips one bit of each used byte of each file of `store`, in a copy.
fn sweep(store: &Path, scratch: &Path, want: &[String]) -> BTreeMap<Kind, Counts> {
    let stride: usize = std::env::var("LINEDB_BITFLIP_STRIDE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut out: BTreeMap<Kind, Counts> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in files(store) {
        let Some(kind) = kind_of(&path) else { continue };
        let bytes = std::fs::read(&path).unwrap();
        // Used bytes: up to the last non-zero one (files are preallocated
        // with zeros past what they hold).
        let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        let rel = path.strip_prefix(store).unwrap().to_path_buf();
        let c = out.entry(kind).or_default();
        for i in (0..used).step_by(stride) {
            copy_store(store, scratch);
            let mut damaged = bytes.clone();
            damaged[i] ^= 1 << (i % 8);
            std::fs::write(scratch.join(&rel), &damaged).unwrap();
            c.flips += 1;
            if let Err(why) = judge(scratch, want, c) {
                failures.push(format!("{} byte {i} bit {}: {why}", rel.display(), i % 8));
            }
        }
    }
    assert!(failures.is_empty(), "{} flips were neither harmless nor detected:\n{}", failures.len(), failures.join("\n"));
    out
}

fn report(state: &str, counts: &BTreeMap<Kind, Counts>) {
    for (k, c) in counts {
        eprintln!(
            "{state}: {k:?}: {} flips: {} harmless, {} refused at open, {} answered 500 by the query",
            c.flips, c.harmless, c.refused_open, c.query_500
        );
    }
}

#[test]
fn every_flip_in_a_closed_store_is_harmless_or_detected() {
    let t = TempDir::new("bitflip-closed");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    for b in batches() {
        assert_eq!(write(&e, "db", &b).status, 204);
    }
    let want = all(&e, "db");
    e.close().unwrap();
    let counts = sweep(&store, &t.0.join("copy"), &want);
    report("closed", &counts);
    assert!(counts[&Kind::Segment].flips > 500 && counts[&Kind::Catalog].flips > 100, "{counts:?}");
    // Damage in a stored value is found by the query, not open.
    assert!(counts[&Kind::Segment].query_500 > 0, "{counts:?}");
}

#[test]
fn every_flip_in_a_store_left_open_is_harmless_or_detected() {
    let t = TempDir::new("bitflip-open");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    let b = batches();
    for x in &b[..2] {
        assert_eq!(write(&e, "db", x).status, 204);
    }
    e.checkpoint().unwrap();
    for x in &b[2..] {
        assert_eq!(write(&e, "db", x).status, 204);
    }
    let want = all(&e, "db");
    // Not closed: what a crash leaves (the process's writes are all in the
    // page cache, so the files hold them).
    drop(e);
    let counts = sweep(&store, &t.0.join("copy"), &want);
    report("left open", &counts);
    assert!(counts[&Kind::Wal].flips > 500, "{counts:?}");
    // A flip in a block past the checkpoint is a torn tail that replay
    // restores from the log: harmless.
    assert!(counts[&Kind::Segment].harmless > 0, "{counts:?}");
}

#[test]
fn every_flip_in_a_sealed_store_is_harmless_or_detected() {
    let t = TempDir::new("bitflip-sealed");
    let store = t.store();
    let e = Engine::open(&store, options()).unwrap();
    e.create_database("db").unwrap();
    let b = batches();
    for x in &b[..4] {
        assert_eq!(write(&e, "db", x).status, 204);
    }
    assert!(e.compact().unwrap() >= 4);
    // A late write: a hot segment beside the sealed file, merged by queries.
    assert_eq!(write(&e, "db", &b[4]).status, 204);
    let want = all(&e, "db");
    e.close().unwrap();
    let counts = sweep(&store, &t.0.join("copy"), &want);
    report("sealed", &counts);
    let sealed = &counts[&Kind::Sealed];
    assert!(sealed.flips > 1000, "{counts:?}");
    // Header and footer damage is refused at open; chunk damage is found
    // by the query before it answers.
    assert!(sealed.refused_open > 0 && sealed.query_500 > 0, "{counts:?}");
}
