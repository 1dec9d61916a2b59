//! Fault injection at every I/O call site.
//!
//! Every call of the storage seam is `#[track_caller]`, so `FaultStorage`
//! knows the line of linedb that made it. The census:
//!
//! 1. `source_sites` finds every call of the seam in `src/` by its text
//!    (79 sites when this was written).
//! 2. Seeded workloads of `fuzz/fuzz_targets/ops_check.rs` (writes good and
//!    bad, checkpoints, tokens, clean and crashed reopens, power cuts,
//!    debris) run on the simulated disk, recording which (site, operation)
//!    each reaches; a WAL-level workload adds what a single-threaded
//!    driver cannot (appends of several records at once).
//! 3. Each reached site is failed on its own: on its first call, on a call
//!    midway through the run, and from its first call on (EIO; ENOSPC too
//!    for writes and allocations). Sites only reached once another fault
//!    fired (clean-up paths) are failed in turn with that fault armed.
//! 4. Every run must keep the model (every acknowledged batch whole after
//!    reopens and power cuts of each fate, nothing partial, nothing
//!    refused), end with a store that opens once the faults are gone, and
//!    answer as API.md's table says: 503 for no space from a write or an
//!    allocation, 500 for any other fault, and never 204 after a failed
//!    WAL fdatasync.
//! 5. Every source site must have been reached, and every reached site must
//!    be one the source scan knows.

mod kit;

#[path = "../fuzz/fuzz_targets/ops_check.rs"]
mod ops;

/// A workload from a seed, in ops_check.rs's input format, without the
/// fault opcodes (14, 15): the plan is the fault.
fn workload(seed: u64) -> Vec<u8> {
    let mut r = seed ^ 0x1234_5678_9ABC_DEF0;
    let mut next = move || kit::sim::splitmix64(&mut r);
    let len = 20 + (next() % 120) as usize;
    let mut v = vec![next() as u8];
    while v.len() < len {
        // Opcodes 0..=13, and 16 and 17 (debris); no 14, 15 (faults).
        let b = (next() % 16) as u8;
        v.push(if b >= 14 { b + 2 } else { b });
    }
    v
}

#[test]
fn workloads_without_faults_pass() {
    let mut checks = 0;
    let n: u64 = std::env::var("LINEDB_OPS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    for seed in 0..n {
        let w = workload(seed);
        match ops::run(&w, &[]) {
            Ok(r) => checks += r.checks,
            Err(why) => panic!("seed {seed}: {why}\ninput {w:?}"),
        }
    }
    eprintln!("{checks} opens compared with the model");
}

/// `LINEDB_OPS_INPUT="1,2,3" cargo test --test fault_sites -- --ignored shrink`
/// shrinks a failing workload (removing bytes while it still fails).
#[test]
#[ignore]
fn shrink() {
    let Ok(text) = std::env::var("LINEDB_OPS_INPUT") else { return };
    let mut input: Vec<u8> = text.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let fails = |v: &[u8]| std::panic::catch_unwind(|| ops::run(v, &[])).map_or(true, |r| r.is_err());
    assert!(fails(&input), "the input passes");
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 1;
        while i < input.len() {
            let mut shorter = input.clone();
            shorter.remove(i);
            if fails(&shorter) {
                input = shorter;
                changed = true;
            } else {
                i += 1;
            }
        }
    }
    eprintln!("{input:?}\n{:?}", ops::run(&input, &[]).err());
}

/// `LINEDB_OPS_SEED=N LINEDB_OPS_TRACE=1 cargo test --test fault_sites -- --ignored replay --nocapture`
#[test]
#[ignore]
fn replay() {
    // A seed's workload, or the bytes of an input file (a fuzz finding).
    let w = match (std::env::var("LINEDB_OPS_SEED").ok().and_then(|s| s.parse().ok()), std::env::var("LINEDB_OPS_FILE")) {
        (Some(seed), _) => workload(seed),
        (None, Ok(path)) => std::fs::read(path).unwrap(),
        _ => return,
    };
    eprintln!("{w:?}\n{:?}", ops::run(&w, &[]).map(|r| r.checks));
}

use std::collections::{BTreeMap, BTreeSet};

use kit::fault::{Effect, Op, Site};

/// The methods of the storage seam that can fail, as engine code calls them.
const METHODS: [&str; 14] = [
    "open_file", "lock_file", "create_dir_all", "rename", "remove_file", "sync_dir", "list_dir", "length", "read_at",
    "write_at", "allocate", "sync_data", "mmap", "msync",
];

/// Every call of the seam in `src/` outside the storage module and tests,
/// as (file, line, column of the method name): what `#[track_caller]`
/// reports for it.
fn source_sites() -> BTreeMap<(String, u32, u32), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut sites = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let name = path.file_name().unwrap().to_string_lossy();
        if rel.starts_with("src/storage/") || name.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Inline unit tests sit at the end of a file.
        let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
        for (i, line) in code.lines().enumerate() {
            for m in METHODS {
                let pat = format!(".{m}(");
                for (at, _) in line.match_indices(&pat) {
                    // Engine::write_at is the engine's own method.
                    if m == "write_at" && line[..at].ends_with("self") && rel == "src/engine/mod.rs" {
                        continue;
                    }
                    let col = line[..at + 1].chars().count() as u32 + 1;
                    sites.insert((rel.clone(), i as u32 + 1, col), format!("{m}: {}", line.trim()));
                }
            }
        }
    }
    sites
}

fn key(s: &Site) -> (String, u32, u32) {
    (s.file.to_owned(), s.line, s.column)
}

#[test]
fn every_io_call_site_fails_cleanly() {
    let src = source_sites();
    // 1. Census: which (site, operation) each workload reaches, and how often.
    let mut reach: BTreeMap<(Site, Op), (u64, u64)> = BTreeMap::new();
    for seed in 0..200 {
        let r = ops::run(&workload(seed), &[]).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for k in r.sites.keys() {
            reach.entry(*k).or_insert((seed, r.workload_sites.get(k).copied().unwrap_or(0)));
        }
    }
    let mut reached: BTreeSet<(String, u32, u32)> = reach.keys().map(|(s, _)| key(s)).collect();
    let mut failures = Vec::new();
    let mut answers: BTreeMap<(Site, Op, i32), BTreeSet<String>> = BTreeMap::new();
    let mut injected = 0u64;
    let mut runs = 0u64;
    // Sites first reached while another fault was armed: (its plan, seed, hits).
    let mut second: BTreeMap<(Site, Op), (ops::Plan, u64, u64)> = BTreeMap::new();
    let mut queue: Vec<(Vec<ops::Plan>, Site, Op, u64, u64)> = Vec::new();
    for (&(site, op), &(seed, hits)) in &reach {
        queue.push((Vec::new(), site, op, seed, hits));
    }
    let mut level = 0;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (before, site, op, seed, hits) in queue.drain(..) {
            let w = workload(seed);
            let errnos: &[i32] = if matches!(op, Op::Write | Op::Allocate) { &[libc::EIO, libc::ENOSPC] } else { &[libc::EIO] };
            for &errno in errnos {
                for (label, pass, times) in [("once", 0, 1), ("once, midway", hits / 2, 1), ("from then on", 0, u32::MAX)] {
                    if label == "once, midway" && hits < 2 {
                        continue;
                    }
                    let plan = ops::Plan { site, op, pass, times, effect: Effect::Fail(errno) };
                    let mut plans = before.clone();
                    plans.push(plan);
                    runs += 1;
                    let what = format!("{site} {op:?} errno {errno} {label} (seed {seed}, after {before:?})");
                    let r = match ops::run(&w, &plans) {
                        Ok(r) => r,
                        Err(why) => {
                            failures.push(format!("{what}: {why}"));
                            continue;
                        }
                    };
                    let mut fired = 0;
                    for st in &r.steps {
                        let n = st.fired.iter().filter(|f| f.0 == site && f.1 == op).count();
                        if n > 0 {
                            fired += n;
                            let a = match &st.answer {
                                ops::Answer::Status(s) => format!("{}: {s}", st.what.split(' ').next().unwrap_or("")),
                                ops::Answer::Ok => format!("{}: ok", st.what.split(' ').next().unwrap_or("")),
                                ops::Answer::Err(_) => format!("{}: error", st.what.split(' ').next().unwrap_or("")),
                            };
                            answers.entry((site, op, errno)).or_default().insert(a);
                            // API.md's table: a write the fault made fail
                            // answers 503 for no space from a write or an
                            // allocation, 500 for everything else; and a
                            // failed WAL fdatasync is never acknowledged.
                            if let ops::Answer::Status(status) = st.answer {
                                let no_space = errno == libc::ENOSPC && matches!(op, Op::Write | Op::Allocate);
                                let wal_sync = op == Op::Sync && site.file == "src/wal/writer.rs";
                                // A query meets faults too: opening a
                                // segment it reads (500), or flushing one
                                // the cache closes for it (200; the store
                                // fails after).
                                let query = st.what.starts_with("query");
                                let ok = match status {
                                    200 => query,
                                    204 => !wal_sync,
                                    503 => no_space,
                                    500 => !no_space,
                                    _ => false,
                                };
                                if !ok {
                                    failures.push(format!("{what}: {} answered {status}", st.what));
                                }
                            }
                        }
                    }
                    if fired == 0 {
                        failures.push(format!("{what}: the fault never fired"));
                    }
                    injected += fired as u64;
                    for (s, o) in r.sites.keys() {
                        if reached.insert(key(s)) && level == 0 {
                            let n = r.workload_sites.get(&(*s, *o)).copied().unwrap_or(0);
                            second.entry((*s, *o)).or_insert((plan, seed, n));
                        }
                    }
                }
            }
        }
        if level == 0 {
            for (&(s, o), &(plan, seed, hits)) in &second {
                next.push((vec![plan], s, o, seed, hits));
            }
        }
        queue = next;
        level += 1;
    }
    for ((site, op, errno), a) in &answers {
        eprintln!("{site} {op:?} {errno}: {a:?}");
    }
    eprintln!("{runs} runs, {injected} faults injected, {} sites reached", reached.len());
    // Appends of several records at once (concurrent writers' commit
    // groups) and an orphan WAL file sized for one record are beyond the
    // single-threaded driver: the WAL-level workload reaches them (and
    // `wal_multi_record_appends_fail_cleanly` fails each).
    let wal = wal_level::run(|_| {}).unwrap_or_else(|e| panic!("WAL-level workload: {e}"));
    for (s, _) in wal.fs.sites().keys() {
        reached.insert(key(s));
    }
    let missing: Vec<String> =
        src.iter().filter(|(k, _)| !reached.contains(*k)).map(|((f, l, c), m)| format!("{f}:{l}:{c} {m}")).collect();
    let unknown: Vec<String> = reached.iter().filter(|k| !src.contains_key(*k)).map(|(f, l, c)| format!("{f}:{l}:{c}")).collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(unknown.is_empty(), "call sites the source scan missed:\n{}", unknown.join("\n"));
    assert!(missing.is_empty(), "{} of {} call sites never reached:\n{}", missing.len(), src.len(), missing.join("\n"));
    eprintln!("all {} call sites of the storage seam in src/ reached", src.len());
}

/// Writes seeds for the ops_crash fuzz target: workloads of this file's
/// generator, some with the fault opcodes mixed in.
/// `cargo test --test fault_sites -- --ignored write_ops_seeds`
#[test]
#[ignore]
fn write_ops_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ops_crash");
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 0..40u64 {
        let mut w = workload(seed);
        if seed % 2 == 1 {
            // An I/O fault (opcode 14, op, pass, kind) early on.
            let at = 1 + (seed as usize * 7) % (w.len() - 1);
            w.splice(at..at, [14u8, (seed % 14) as u8, (seed % 5) as u8, (seed % 8) as u8]);
        }
        std::fs::write(dir.join(format!("seed_{seed:02}")), &w).unwrap();
    }
}

// ---------------------------------------------------------------- WAL level

/// A deterministic workload on the WAL alone, for what the engine's
/// single-threaded driver cannot make: appends of several records at once
/// (as concurrent writers' commit groups are), spanning new files; a
/// rotation while the current file has unsynced records; a failed
/// multi-file creation that must give back the recycled spare; and an
/// orphan file sized for one big record.
mod wal_level {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use crate::kit::fault::{Effect, FaultStorage, Op, Site};
    use crate::kit::sim::{Fate, SimStorage};
    use linedb::storage::Storage;
    use linedb::wal::{Wal, WalOptions};

    const DIR: &str = "/w";
    const FILE: u64 = 4096;

    pub struct Run {
        pub sim: SimStorage,
        pub fs: Arc<FaultStorage>,
        wal: Option<Wal>,
        /// Checkpointed: records up to here are not replayed.
        after: u64,
        /// Synced records, and records whose append or sync failed.
        acked: BTreeMap<u64, Vec<u8>>,
        maybe: BTreeMap<u64, Vec<u8>>,
        next_id: u64,
        last_error: String,
        /// Calls per site before the faults were disarmed at the end.
        pub workload_sites: BTreeMap<(Site, Op), u64>,
    }

    fn payload(id: u64, len: usize) -> Vec<u8> {
        let mut p = format!("record {id} ").into_bytes();
        p.resize(len, b'a' + (id % 26) as u8);
        p
    }

    impl Run {
        pub fn new(fs_plans: impl Fn(&FaultStorage)) -> Run {
            let sim = SimStorage::new();
            // The log's directory is its owner's to make durable (the
            // engine does it for `wal/`).
            let made = sim.create_dir_all(Path::new(DIR)).and_then(|()| sim.sync_dir(Path::new("/")));
            assert!(made.is_ok(), "{made:?}");
            let fs = Arc::new(FaultStorage::new(Arc::new(sim.clone())));
            fs.record_sites(true);
            fs_plans(&fs);
            Run { sim, fs, wal: None, after: 0, acked: BTreeMap::new(), maybe: BTreeMap::new(), next_id: 1, last_error: String::new(), workload_sites: BTreeMap::new() }
        }

        /// Opens the log and compares what it replays with the model.
        pub fn open(&mut self) -> Result<bool, String> {
            drop(self.wal.take());
            let mut seen = BTreeMap::new();
            let r = Wal::open(self.fs.clone(), Path::new(DIR), WalOptions { file_size: FILE, spares: 1, store_tag: 0 }, self.after, &mut |s, p| {
                seen.insert(s, p.to_vec());
                Ok(())
            });
            if std::env::var_os("LINEDB_OPS_TRACE").is_some() {
                eprintln!("open after {}: {:?} -> {:?} files {:?}", self.after, seen.keys().collect::<Vec<_>>(), r.as_ref().map(|w| w.next_seq()).map_err(|e| e.to_string()), self.sim.list_dir(Path::new(DIR)));
            }
            let wal = match r {
                Ok(w) => w,
                Err(e) => {
                    self.last_error = e.to_string();
                    return Ok(false);
                }
            };
            for (s, p) in &self.acked {
                if *s > self.after && seen.get(s) != Some(p) {
                    return Err(format!("synced record {s} is lost or changed"));
                }
            }
            for (s, p) in &seen {
                if self.acked.get(s) == Some(p) {
                    continue;
                }
                if self.maybe.get(s) != Some(p) {
                    return Err(format!("record {s} was never appended"));
                }
                self.acked.insert(*s, p.clone());
            }
            // What a failed append may have left and this open did not
            // find is gone: its sequence numbers are given out again.
            self.maybe.clear();
            self.wal = Some(wal);
            Ok(true)
        }

        /// Appends records of these sizes in one call; `sync` after it.
        pub fn append(&mut self, sizes: &[usize], sync: bool) -> Result<(), String> {
            if self.wal.is_none() && !self.open()? {
                return Ok(());
            }
            let Some(wal) = self.wal.as_mut() else { return Ok(()) };
            let bodies: Vec<Vec<u8>> = sizes
                .iter()
                .map(|&n| {
                    self.next_id += 1;
                    payload(self.next_id, n)
                })
                .collect();
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let first = wal.next_seq();
            let ok = wal.append(&refs).is_ok() && (!sync || wal.sync().is_ok());
            if std::env::var_os("LINEDB_OPS_TRACE").is_some() {
                eprintln!("append {sizes:?} at {first}: {ok}");
            }
            for (i, b) in bodies.into_iter().enumerate() {
                let s = first + i as u64;
                if ok && sync {
                    self.acked.insert(s, b);
                } else {
                    self.maybe.insert(s, b);
                }
            }
            if !ok {
                // A failed log refuses everything until reopened.
                self.open()?;
            } else if sync {
                // Earlier unsynced appends are synced now too.
                let pending: Vec<u64> = self.maybe.keys().copied().filter(|s| *s < first).collect();
                for s in pending {
                    if let Some(b) = self.maybe.remove(&s) {
                        self.acked.insert(s, b);
                    }
                }
            }
            Ok(())
        }

        /// Two records, each with its own sync ticket, the two syncs run at
        /// once (a rendezvous holds the first until the second syncs): the
        /// second cannot take the description the first is using, and
        /// opens one.
        pub fn two_syncs_at_once(&mut self) -> Result<(), String> {
            if self.wal.is_none() && !self.open()? {
                return Ok(());
            }
            let Some(wal) = self.wal.as_mut() else { return Ok(()) };
            let mut tickets = Vec::new();
            let mut appended = Vec::new();
            for _ in 0..2 {
                self.next_id += 1;
                let b = payload(self.next_id, 200);
                let first = wal.next_seq();
                if wal.append(&[b.as_slice()]).is_err() {
                    self.maybe.insert(first, b);
                    return self.open().map(|_| ());
                }
                appended.push((first, b));
                tickets.push(wal.sync_ticket());
            }
            self.fs.rendezvous(Op::Sync, "", 2, std::time::Duration::from_secs(5));
            let mut it = tickets.into_iter();
            let (Some(t1), Some(t2)) = (it.next(), it.next()) else { return Ok(()) };
            let fs = Arc::clone(&self.fs);
            let (r1, r2) = std::thread::scope(|s| {
                let first = s.spawn(move || t1.run());
                fs.wait_arrived(1, std::time::Duration::from_secs(5));
                let second = t2.run();
                (first.join().unwrap_or_else(|_| Err(std::io::Error::other("panicked"))), second)
            });
            let ok = r1.is_ok() && r2.is_ok();
            for (s, b) in appended {
                if ok {
                    self.acked.insert(s, b);
                } else {
                    self.maybe.insert(s, b);
                }
            }
            if ok {
                let pending: Vec<u64> = self.maybe.keys().copied().filter(|s| !self.acked.contains_key(s)).collect();
                let upto = self.wal.as_ref().map_or(0, |w| w.next_seq());
                for s in pending.into_iter().filter(|s| *s < upto) {
                    if let Some(b) = self.maybe.remove(&s) {
                        self.acked.insert(s, b);
                    }
                }
            } else {
                self.open()?;
            }
            Ok(())
        }

        pub fn trim(&mut self) -> Result<(), String> {
            let Some(wal) = self.wal.as_mut() else { return Ok(()) };
            let upto = wal.next_seq() - 1;
            if self.maybe.keys().any(|s| *s <= upto) {
                return Ok(()); // only synced records are checkpointed
            }
            // The engine saves its catalog (the checkpoint) before it trims:
            // from then on recovery starts after `upto`, whatever the trim
            // does.
            self.after = upto;
            if wal.trim(upto).is_err() {
                self.open()?;
            }
            Ok(())
        }

        /// A spare made ahead (`wal/ahead.rs`), as the maintenance thread
        /// makes it: built, then adopted, or, when `stale`, adopted after
        /// the log's file size changed (the file is removed). With
        /// `cut_between`, a power cut after the build: open removes the
        /// temporary file.
        pub fn spare_ahead(&mut self, stale: bool, cut_between: bool) -> Result<(), String> {
            let Some(wal) = self.wal.as_mut() else { return Ok(()) };
            let Some(job) = wal.spare_job() else { return Ok(()) };
            if !job.build().unwrap_or(false) {
                return Ok(());
            }
            if cut_between {
                return self.power_cut(Fate::Dropped);
            }
            if stale {
                let _ = wal.set_file_size(2 * FILE);
            }
            let _ = wal.adopt_spare(&job);
            if stale {
                let _ = wal.set_file_size(FILE);
            }
            Ok(())
        }

        /// A power cut with the fate; then the log opens from the image.
        pub fn power_cut(&mut self, fate: Fate) -> Result<(), String> {
            drop(self.wal.take());
            self.sim = self.sim.crash(fate, 7);
            self.fs = Arc::new(self.fs.rewrap(Arc::new(self.sim.clone())));
            self.open()?;
            Ok(())
        }
    }

    /// The workload; `Err` names what broke.
    pub fn run(plans: impl Fn(&FaultStorage)) -> Result<Run, String> {
        let mut r = Run::new(plans);
        r.open()?;
        r.append(&[100], true)?;
        r.two_syncs_at_once()?;
        // Three records that each need a new file, in one append: the file
        // before each is synced before the next is written.
        r.append(&[3000, 3000, 3000], true)?;
        r.trim()?;
        // An unsynced append, then one that rotates past it.
        r.append(&[100], false)?;
        r.append(&[4000, 3000], true)?;
        r.trim()?;
        // The third new file of an append fails to be made: the second is
        // removed, the first (the recycled spare) goes back to being the
        // spare.
        r.fs.arm_after(Op::Allocate, "", 1, 1, Effect::Fail(libc::EIO));
        r.append(&[3000, 3000, 3000], true)?;
        r.open()?;
        r.append(&[200], true)?;
        r.trim()?;
        // No space for a record in the file just made for it (the recycled
        // spare, after its header): the file is removed again, durably, and
        // the log goes on.
        r.fs.arm_after(Op::Write, "spare.wal", 1, 1, Effect::Fail(libc::ENOSPC));
        r.append(&[300], true)?;
        r.append(&[200], true)?;
        // Spares made ahead of need: taken by the next rotation; one
        // adopted when no longer wanted; one cut off by a power cut.
        r.spare_ahead(false, false)?;
        r.append(&[3000, 3000], true)?;
        r.spare_ahead(true, false)?;
        r.append(&[3000], true)?;
        r.spare_ahead(false, true)?;
        // A record bigger than a file gets a file sized to fit; a power cut
        // before its sync leaves that file empty: an orphan, removed.
        r.append(&[6000], false)?;
        r.power_cut(Fate::Dropped)?;
        r.append(&[300, 300], true)?;
        r.power_cut(Fate::TornFresh)?;
        // At the end, with the faults gone, the log must open and hold
        // every synced record.
        r.workload_sites = r.fs.sites();
        r.fs.disarm();
        if !r.open()? {
            return Err(format!("the log does not open once the faults are gone: {}", r.last_error));
        }
        r.power_cut(Fate::Dropped)?;
        if r.wal.is_none() {
            return Err("the log does not open after the last power cut".into());
        }
        Ok(r)
    }
}

#[test]
fn wal_multi_record_appends_fail_cleanly() {
    let census = wal_level::run(|_| {}).unwrap_or_else(|e| panic!("without faults: {e}"));
    let sites = census.fs.sites();
    let mut runs = 0;
    let mut injected = 0;
    let mut failures = Vec::new();
    for (&(site, op), &all) in &sites {
        if !site.file.starts_with("src/wal/") {
            continue;
        }
        let hits = census.workload_sites.get(&(site, op)).copied().unwrap_or(0);
        for (label, pass, times) in [("once", 0, 1), ("once, midway", hits / 2, 1), ("from then on", 0, u32::MAX)] {
            if hits < 2 && label == "once, midway" {
                continue;
            }
            runs += 1;
            let r = wal_level::run(|fs| fs.arm_site(site, op, pass, times, Effect::Fail(libc::EIO)));
            match r {
                Err(why) => failures.push(format!("{site} {op:?} {label}: {why}")),
                Ok(r) if !r.fs.fired().iter().any(|f| f.0 == site) => failures.push(format!(
                    "{site} {op:?} {label}: never fired ({all} calls without faults, {:?} with)",
                    r.fs.sites().get(&(site, op))
                )),
                Ok(r) => injected += r.fs.fired().iter().filter(|f| f.0 == site).count(),
            }
        }
    }
    eprintln!("{} WAL call sites, {runs} runs, {injected} faults injected", sites.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // That these runs reach every WAL call site the engine's driver
    // cannot is checked by `every_io_call_site_fails_cleanly`.
    assert!(injected > 0);
}
