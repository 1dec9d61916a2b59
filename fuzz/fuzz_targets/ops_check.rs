// The checks of the `ops_crash` target, also compiled by tests/fuzz_corpus.rs
// (corpus replay) and tests/fault_sites.rs (fault injection at every I/O
// call site), so all three drive the engine the same way.
//
// An input is a workload on an `Engine` over a simulated disk
// (`SimStorage`, wrapped in a `FaultStorage`): byte 0 picks the settings (WAL file and segment sizes, checkpoint and WAL limits, a cache of 2 open segments),
// then each operation is an opcode byte and its argument bytes (missing
// bytes read as 0):
//
// | opcode % 18 | operation | arguments |
// |---|---|---|
// | 0..=5 | a good batch (1-5 points, 3 measurements, 3 days) | shape |
// | 6 | a bad batch (type conflict, bad line, unknown database) | kind |
// | 7 | checkpoint, then verify (the scrub); every second one a compact (sealing every partition) instead of the checkpoint, and every fourth a maintenance pass (`Engine::maintain`: the log's next spare file made ahead) before the checkpoint | |
// | 8 | create a token | |
// | 9 | revoke the oldest live token | |
// | 10 | close and reopen | |
// | 11 | drop and reopen (a process crash: the page cache survives) | |
// | 12 | power cut after `k` more disk operations, with a fate | k, fate, seed |
// | 13 | a big batch (300-byte strings: WAL and segment rotation) | shape |
// | 14 | arm an I/O fault (any operation, after n calls, once or forever) | op, n, kind |
// | 15 | disarm the faults | |
// | 16 | process crash, plant a damaged later segment and a `.wal.tmp`; open must refuse the segment, naming it; remove it, reopen | which partition |
// | 17 | process crash, plant a `spare.wal` too small to reuse, reopen | |
//
// A damaged segment that no checkpoint lists is what linedb 0.1 left when
// it stopped while making one; in a store with an id (every store this
// build makes) it is damage or not the store's, and open refuses it with
// nothing changed. The other debris (temporaries of the store's own names)
// recovery must clear without losing or inventing data.
//
// A model follows what the engine answered (every batch acknowledged,
// refused, or in doubt), and every open of the store (after a reopen, after
// a power cut, and at the end on images with each fate) is compared with
// it: every acknowledged batch whole, nothing partial or twice, nothing
// refused, the database and tokens as answered. A batch in doubt (500, or
// in flight at a power cut) is settled by the first open that shows it
// whole or absent, and must stay so. Answers are checked too: a good batch
// gets 204 or 503 (backlog) unless an injected fault fired, and then 500 or
// 503; a bad batch its 400 or 404.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use linedb::engine::{Engine, Options};
use linedb::error::OpenError;
use linedb::line_protocol::Precision;
use linedb::partition::NANOS_PER_DAY;
use crate::kit::fault::{Effect, FaultStorage, Op, Site};
use crate::kit::sim::{Fate, SimEvent, SimStorage};
use linedb::storage::Storage;

pub const STORE: &str = "/store";
const DB: &str = "db";

/// What the engine answered about something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Acknowledged: it must be there.
    Yes,
    /// In doubt: there whole, or not at all.
    Maybe,
    /// Refused: it must not be there.
    No,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub db: Known,
    /// Batch id -> (points, state).
    pub batches: BTreeMap<u64, (usize, Known)>,
    /// Token -> live (`Yes`), revoked (`No`), or either.
    pub tokens: Vec<(String, Known)>,
}

/// One operation of a run, for the fault-site census.
#[derive(Clone, Debug)]
pub struct Step {
    pub what: String,
    /// Faults that fired during it.
    pub fired: Vec<(Site, Op, Effect)>,
    pub answer: Answer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    Ok,
    Err(String),
}

/// A fault armed before the run starts.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub site: Site,
    pub op: Op,
    /// Calls from the site let through first.
    pub pass: u64,
    /// Calls failed (`u32::MAX`: from then on).
    pub times: u32,
    pub effect: Effect,
}

#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
    /// (site, op) -> calls, over the whole run.
    pub sites: BTreeMap<(Site, Op), u64>,
    /// The same before the final power cuts (the workload alone).
    pub workload_sites: BTreeMap<(Site, Op), u64>,
    /// Images opened and compared with the model.
    pub checks: u64,
    /// Opcode 7s run so far (every second one compacts, every fourth runs
    /// a maintenance pass first).
    pub checkpoints: u64,
    /// Partitions sealed by compactions.
    pub sealed: u64,
}

struct Capture {
    model: Model,
    /// Take an image once the disk's operation count reaches this.
    crash_at: Option<(u64, Fate, u64)>,
    image: Option<(SimStorage, Model, String)>,
}

struct Settings {
    wal_file_bytes: u64,
    segment_bytes: u64,
    checkpoint_wal_bytes: u64,
    max_wal_bytes: u64,
    /// Small, so that segments are closed and reopened as they are used.
    max_open_segments: usize,
}

struct Driver {
    settings: Settings,
    sim: SimStorage,
    fs: Arc<FaultStorage>,
    cap: Arc<Mutex<Capture>>,
    engine: Option<Engine>,
    /// Faults fired when the current engine opened; more means a 500 is
    /// allowed.
    fired_at_open: usize,
    /// A fault fired in this engine's life (or the open failed).
    faulted: bool,
    next_id: u64,
    report: Report,
}

fn lock(m: &Mutex<Capture>) -> MutexGuard<'_, Capture> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn mix(z: u64) -> u64 {
    // splitmix64's first number from z: batch shapes from (id, argument).
    let mut state = z;
    crate::kit::sim::splitmix64(&mut state)
}

/// A good batch: its lines and point count. Field types are fixed by
/// name, so good batches never conflict.
fn good_batch(id: u64, shape: u8, big: bool) -> (String, usize) {
    let mut r = mix(id ^ (u64::from(shape) << 32));
    let points = 1 + (shape % 5) as usize;
    let mut s = String::new();
    for j in 0..points {
        let m = r % 3;
        let day = (r >> 8) % 3;
        let t = day as i64 * NANOS_PER_DAY + id as i64 * 1000 + j as i64;
        let mut fields = format!("v={}i", id * 100 + j as u64);
        match (r >> 16) % 6 {
            0 => {
                let _ = write!(fields, ",x0={id}i");
            }
            1 => {
                let _ = write!(fields, ",x1={id}.5");
            }
            2 => {
                let _ = write!(fields, ",x2={}", id.is_multiple_of(2));
            }
            _ => {}
        }
        if big {
            // Five of these pass a 4096-byte WAL file or segment: a record
            // or block that gets a file of its own.
            let _ = write!(fields, ",x3=\"{}\"", "s".repeat(900));
        }
        let _ = writeln!(s, "m{m},batch={id},j={j} {fields} {t}");
        r = mix(r);
    }
    (s, points)
}

/// A batch that must be refused whole, and the status it gets.
fn bad_batch(id: u64, kind: u8) -> (String, &'static str, u16) {
    let (mut s, _) = good_batch(id, kind / 3, false);
    let t = id as i64 * 1000;
    match kind % 3 {
        0 => {
            // Measurement m0 on day 0 with `v` a string: a type conflict
            // within the batch (its first line makes `v` an integer).
            let _ = writeln!(s, "m0,batch={id},j=8 v=1i {t}\nm0,batch={id},j=9 v=\"conflict\" {t}");
            (s, DB, 400)
        }
        1 => {
            let _ = writeln!(s, "m0,batch={id},j=9 v= 1");
            (s, DB, 400)
        }
        _ => (s, "nodb", 404),
    }
}

const FATES: [Fate; 3] = [Fate::Dropped, Fate::Kept, Fate::TornFresh];
const OPS: [Op; 14] = [
    Op::CreateDir,
    Op::Open,
    Op::Rename,
    Op::Remove,
    Op::SyncDir,
    Op::List,
    Op::Lock,
    Op::Length,
    Op::Read,
    Op::Write,
    Op::Allocate,
    Op::Sync,
    Op::Map,
    Op::Flush,
];

impl Driver {
    fn options(&self) -> Options {
        let s = &self.settings;
        Options {
            wal_file_bytes: s.wal_file_bytes,
            segment_bytes: s.segment_bytes,
            checkpoint_wal_bytes: s.checkpoint_wal_bytes,
            max_wal_bytes: s.max_wal_bytes,
            max_open_segments: s.max_open_segments,
            // Sealing and spares at opcode 7 only: a workload replays the
            // same I/O. Nothing is ever due by time.
            background_sealing: false,
            seal_after: std::time::Duration::from_secs(1 << 30),
            seal_past_after: std::time::Duration::from_secs(1 << 30),
            storage: self.fs.clone(),
            ..Options::default()
        }
    }

    fn model(&self) -> MutexGuard<'_, Capture> {
        lock(&self.cap)
    }

    fn fired(&self) -> usize {
        self.fs.fired().len()
    }

    fn faults_fired_since_open(&self) -> bool {
        self.faulted || self.fired() > self.fired_at_open
    }

    fn log(&mut self, what: String, before: usize, answer: Answer) {
        let fired = self.fs.fired().get(before..).map(<[_]>::to_vec).unwrap_or_default();
        if !fired.is_empty() {
            self.faulted = true;
        }
        if std::env::var_os("LINEDB_OPS_TRACE").is_some() {
            eprintln!("  {what}: {answer:?} (disk ops {}) {fired:?}", self.sim.op_count());
        }
        self.report.steps.push(Step { what, fired, answer });
    }

    fn install_hook(&self) {
        let cap = Arc::clone(&self.cap);
        self.sim.set_hook(Some(Arc::new(move |st: &SimStorage, ev: &SimEvent| {
            let mut c = lock(&cap);
            if let Some((at, fate, seed)) = c.crash_at {
                if ev.index >= at && c.image.is_none() {
                    let point = format!("power cut after disk op #{} ({:?} {}), fate {fate:?}", ev.index, ev.op, ev.path.display());
                    let model = c.model.clone();
                    if std::env::var_os("LINEDB_OPS_TRACE").is_some() {
                        eprintln!("  -- image: {point}");
                    }
                    c.image = Some((st.crash(fate, seed), model, point));
                    c.crash_at = None;
                }
            }
        })));
    }

    /// Opens the store and compares it with the model. `Ok(false)`: the
    /// open failed, as an armed fault allows.
    fn open(&mut self, why: &str) -> Result<bool, String> {
        let before = self.fired();
        let opened = Engine::open(STORE, self.options());
        let answer = match &opened {
            Ok(_) => Answer::Ok,
            Err(e) => Answer::Err(e.to_string()),
        };
        self.log(format!("open ({why})"), before, answer);
        match opened {
            Ok(e) => {
                self.fired_at_open = self.fired();
                self.faulted = self.fired_at_open > before;
                self.check(&e).map_err(|m| format!("after open ({why}): {m}"))?;
                self.engine = Some(e);
                Ok(true)
            }
            Err(e) => {
                if self.fired() > before {
                    Ok(false)
                } else {
                    Err(format!("open ({why}) failed with no fault injected: {e}"))
                }
            }
        }
    }

    /// Compares what `e` holds with the model, settling what was in doubt.
    fn check(&mut self, e: &Engine) -> Result<(), String> {
        self.report.checks += 1;
        // The engine is asked first, the model locked after: a query may do
        // disk operations (closing idle segments flushes them), and the
        // disk's hook locks the model.
        let db = e.databases().iter().any(|d| d == DB);
        let mut found: BTreeMap<u64, usize> = BTreeMap::new();
        let mut bad = None;
        let mut seen = std::collections::BTreeSet::new();
        let mut lines: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        if db {
            let before = self.fired();
            let r = e.query(DB, None, i64::MIN, i64::MAX, &mut |l| {
                let l = String::from_utf8_lossy(l);
                let num = |key: &str| -> Option<u64> {
                    let at = l.find(key)? + key.len();
                    l[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
                };
                match (num(",batch="), num(",j="), num(" v=")) {
                    (Some(id), Some(j), Some(v)) if v == id * 100 + j && seen.insert((id, j)) => {
                        *found.entry(id).or_insert(0) += 1;
                        lines.entry(id).or_default().push(l.to_string());
                    }
                    _ => {
                        bad.get_or_insert(format!("a point no batch wrote, or twice: {l}"));
                    }
                }
                true
            });
            // A query opens (and closes) segment files: a step of its own,
            // so that a fault it meets is seen with the answer it gave.
            self.log("query (check)".into(), before, Answer::Status(r.status));
            if r.status == 500 && self.faults_fired_since_open() {
                // A store failed by a fault answers 500 until reopened.
                return Ok(());
            }
            if r.status == 503 && self.fired() > before {
                // A segment file could not be opened for want of a
                // resource (an injected ENOSPC stands for one): try later.
                return Ok(());
            }
            if r.status != 200 {
                return Err(format!("query answered {}: {}", r.status, r.message));
            }
            if let Some(b) = bad {
                return Err(b);
            }
            let stored: usize = found.values().sum();
            if e.stats().points != stored as u64 {
                return Err(format!("stats counts {} points, queries see {stored}: rows stored twice", e.stats().points));
            }
        }
        let mut c = self.model();
        let m = &mut c.model;
        match (m.db, db) {
            (Known::Yes, false) => return Err("the acknowledged database is gone".into()),
            (Known::No, true) => return Err("a database never created is there".into()),
            _ => m.db = if db { Known::Yes } else { Known::No },
        }
        for (id, k) in &found {
            match m.batches.get_mut(id) {
                None => return Err(format!("batch {id} was never written but {k} points of it are there")),
                Some((n, known)) => {
                    if k != n {
                        return Err(format!("batch {id} has {k} of its {n} points: {:?}", lines.get(id)));
                    }
                    if *known == Known::No {
                        return Err(format!("refused batch {id} is there"));
                    }
                    *known = Known::Yes;
                }
            }
        }
        for (id, (n, known)) in m.batches.iter_mut() {
            if found.contains_key(id) {
                continue;
            }
            match known {
                Known::Yes => return Err(format!("acknowledged batch {id} ({n} points) is lost")),
                Known::Maybe => *known = Known::No,
                Known::No => {}
            }
        }
        for (token, known) in m.tokens.iter_mut() {
            let live = e.authorize(Some(token.as_str()), DB, linedb::auth::PERM_WRITE).is_ok();
            match (*known, live) {
                (Known::Yes, false) => return Err("an acknowledged token is gone".into()),
                (Known::No, true) => return Err("a revoked token works again".into()),
                _ => *known = if live { Known::Yes } else { Known::No },
            }
        }
        Ok(())
    }

    /// The engine, reopening first if an earlier step left none.
    fn engine(&mut self) -> Result<bool, String> {
        if self.engine.is_some() {
            return Ok(true);
        }
        self.open("after a failed open")
    }

    fn ensure_db(&mut self) -> Result<(), String> {
        if self.model().model.db == Known::Yes {
            return Ok(());
        }
        let Some(e) = &self.engine else { return Ok(()) };
        self.model().model.db = Known::Maybe;
        let before = self.fired();
        let r = e.create_database(DB);
        let answer = match &r {
            Ok(()) => Answer::Ok,
            Err(e) => Answer::Err(e.to_string()),
        };
        let ok = matches!(r, Ok(()) | Err(linedb::engine::Error::AlreadyExists(_)));
        self.log("create database".into(), before, answer);
        if ok {
            self.model().model.db = Known::Yes;
        } else if !self.faults_fired_since_open() {
            return Err(format!("create_database failed with no fault injected: {r:?}"));
        }
        Ok(())
    }

    fn write_good(&mut self, shape: u8, big: bool) -> Result<(), String> {
        if !self.engine()? {
            return Ok(());
        }
        self.ensure_db()?;
        let id = self.next_id;
        self.next_id += 1;
        let (lines, points) = good_batch(id, shape, big);
        if std::env::var_os("LINEDB_OPS_TRACE").is_some() {
            eprint!("{lines}");
        }
        self.model().model.batches.insert(id, (points, Known::Maybe));
        let before = self.fired();
        let Some(e) = &self.engine else { return Ok(()) };
        let r = e.write_at(DB, lines.as_bytes(), Precision::Nanosecond, 0);
        self.log(format!("write batch {id} ({points} points)"), before, Answer::Status(r.status));
        let db_known = self.model().model.db;
        let state = match r.status {
            204 => Known::Yes,
            503 if r.retry_after_secs >= 1 => Known::No,
            // A record larger than max_wal_bytes alone: never stored.
            413 if r.retry_after_secs == 0 => Known::No,
            404 if db_known != Known::Yes => Known::No,
            500 if self.faults_fired_since_open() => Known::Maybe,
            s => return Err(format!("good batch {id} answered {s}: {}", r.message)),
        };
        if let Some(b) = self.model().model.batches.get_mut(&id) {
            b.1 = state;
        }
        Ok(())
    }

    fn write_bad(&mut self, kind: u8) -> Result<(), String> {
        if !self.engine()? {
            return Ok(());
        }
        let id = self.next_id;
        self.next_id += 1;
        let (lines, db, want) = bad_batch(id, kind);
        let points = lines.lines().count();
        self.model().model.batches.insert(id, (points, Known::No));
        let before = self.fired();
        let Some(e) = &self.engine else { return Ok(()) };
        let r = e.write_at(db, lines.as_bytes(), Precision::Nanosecond, 0);
        self.log(format!("write bad batch {id}"), before, Answer::Status(r.status));
        let db_absent = db == DB && self.model().model.db != Known::Yes;
        match r.status {
            s if s == want => Ok(()),
            404 if db_absent => Ok(()),
            500 if self.faults_fired_since_open() => Ok(()),
            s => Err(format!("bad batch {id} answered {s} (want {want}): {}", r.message)),
        }
    }

    fn checkpoint(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else { return Ok(()) };
        let before = self.fired();
        self.report.checkpoints += 1;
        let compact = self.report.checkpoints.is_multiple_of(2);
        let maintain = self.report.checkpoints % 4 == 3;
        let r = if compact {
            e.compact().map(|n| self.report.sealed += n as u64)
        } else if maintain {
            // Seals nothing (nothing is due by time): the spare.
            e.maintain().and_then(|_| e.checkpoint())
        } else {
            e.checkpoint()
        };
        let answer = match &r {
            Ok(()) => Answer::Ok,
            Err(e) => Answer::Err(e.to_string()),
        };
        let what = if compact {
            "compact"
        } else if maintain {
            "maintain, checkpoint"
        } else {
            "checkpoint"
        };
        self.log(what.into(), before, answer);
        if r.is_err() && !self.faults_fired_since_open() {
            return Err(format!("{what} failed with no fault injected: {r:?}"));
        }
        self.verify()
    }

    /// The scrub: every stored byte matches its checksum unless a fault
    /// was injected (power cuts and process crashes leave none: recovery
    /// cuts what they tore).
    fn verify(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else { return Ok(()) };
        let before = self.fired();
        let r = e.verify();
        let answer = match &r {
            Ok(v) if v.damaged_blocks == 0 => Answer::Ok,
            Ok(v) => Answer::Err(format!("damage: {}", v.first_damage)),
            Err(e) => Answer::Err(e.to_string()),
        };
        self.log("verify".into(), before, answer);
        match r {
            Ok(v) if v.damaged_blocks > 0 && !self.faults_fired_since_open() => {
                Err(format!("verify found damage with no fault injected: {v:?}"))
            }
            Err(e) if !self.faults_fired_since_open() => Err(format!("verify failed with no fault injected: {e}")),
            _ => Ok(()),
        }
    }

    fn create_token(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else { return Ok(()) };
        let before = self.fired();
        let r = e.create_token(DB, linedb::auth::PERM_WRITE);
        let answer = if r.is_ok() { Answer::Ok } else { Answer::Err(format!("{r:?}")) };
        self.log("create token".into(), before, answer);
        match r {
            Ok(t) => self.model().model.tokens.push((t, Known::Yes)),
            Err(err) if !self.faults_fired_since_open() => return Err(format!("create_token failed: {err}")),
            Err(_) => {}
        }
        Ok(())
    }

    fn revoke_token(&mut self) -> Result<(), String> {
        let Some(e) = &self.engine else { return Ok(()) };
        let Some(i) = self.model().model.tokens.iter().position(|t| t.1 == Known::Yes) else { return Ok(()) };
        let token = self.model().model.tokens[i].0.clone();
        self.model().model.tokens[i].1 = Known::Maybe;
        let before = self.fired();
        let r = e.revoke_token(&token);
        let answer = if r.is_ok() { Answer::Ok } else { Answer::Err(format!("{r:?}")) };
        self.log("revoke token".into(), before, answer);
        match r {
            Ok(()) => self.model().model.tokens[i].1 = Known::No,
            Err(err) if !self.faults_fired_since_open() => return Err(format!("revoke_token failed: {err}")),
            // The revocation may or may not be durable.
            Err(_) => {}
        }
        Ok(())
    }

    fn reopen(&mut self, clean: bool) -> Result<(), String> {
        if let Some(e) = self.engine.take() {
            if clean {
                let before = self.fired();
                let r = e.close();
                let answer = if r.is_ok() { Answer::Ok } else { Answer::Err(format!("{r:?}")) };
                self.log("close".into(), before, answer);
                if r.is_err() && !self.faults_fired_since_open() {
                    return Err(format!("close failed with no fault injected: {r:?}"));
                }
            } else {
                drop(e);
            }
        }
        self.open(if clean { "after close" } else { "after a process crash" })?;
        Ok(())
    }

    /// Moves to the image a power cut left, if one was taken.
    fn take_image(&mut self) -> Result<(), String> {
        let Some((img, snapshot, point)) = self.model().image.take() else { return Ok(()) };
        drop(self.engine.take());
        self.sim = img;
        self.install_hook();
        self.fs = Arc::new(self.fs.rewrap(Arc::new(self.sim.clone())));
        self.model().model = snapshot;
        self.open("after a power cut").map(|_| ()).map_err(|m| format!("{m}\n    at {point}"))
    }

    /// Drops the engine (a process crash), changes the disk, reopens.
    fn plant(&mut self, change: impl Fn(&SimStorage) -> std::io::Result<()>) -> Result<(), String> {
        drop(self.engine.take());
        change(&self.sim).map_err(|e| format!("planting debris: {e}"))?;
        self.open("after planting debris")?;
        Ok(())
    }

    /// Drops the engine (a process crash), plants a damaged segment after
    /// the last of a partition (and a WAL temporary); open must refuse it,
    /// naming it; then it is removed (what its owner would do) and the
    /// store reopened.
    fn plant_refused(&mut self, which: u8) -> Result<(), String> {
        drop(self.engine.take());
        // No power cut while the planted segment is there: an image with it
        // would (rightly) not open. A cut due meanwhile is dropped.
        let crash_at = self.model().crash_at.take();
        let refused = match plant_segment_and_temp(&self.sim, which) {
            Ok(Some(path)) => self.refuse_planted(&path),
            Ok(None) => Ok(()),
            Err(e) => Err(format!("planting debris: {e}")),
        };
        self.model().crash_at = crash_at;
        refused?;
        self.open("after planting debris")?;
        Ok(())
    }

    /// Open refuses the segment planted at `path`, naming it; it is then
    /// removed.
    fn refuse_planted(&mut self, path: &std::path::Path) -> Result<(), String> {
        let before = self.fired();
        let opened = Engine::open(STORE, self.options());
        let answer = match &opened {
            Ok(_) => Answer::Ok,
            Err(e) => Answer::Err(e.to_string()),
        };
        self.log(format!("open with {} planted", path.display()), before, answer);
        match opened {
            Err(OpenError::Corrupt { path: named, .. }) if named == path => {}
            // An injected fault may stop the open first.
            Err(_) if self.fired() > before => {}
            Err(e) => return Err(format!("open with a damaged segment planted at {}: {e}", path.display())),
            Ok(_) => return Err(format!("open took a damaged segment planted at {}", path.display())),
        }
        let parent = path.parent().unwrap_or(std::path::Path::new("/"));
        self.sim
            .remove_file(path)
            .and_then(|()| self.sim.sync_dir(parent))
            .map_err(|e| format!("removing the planted segment: {e}"))
    }

    fn arm_fault(&mut self, op: u8, n: u8, kind: u8) {
        let op = OPS[usize::from(op) % OPS.len()];
        let errno = if kind & 1 == 0 { libc::EIO } else { libc::ENOSPC };
        let effect = if kind & 2 == 0 { Effect::Fail(errno) } else { Effect::Partial(errno) };
        let times = if kind & 4 == 0 { 1 } else { u32::MAX };
        self.fs.arm_after(op, "", u64::from(n), times, effect);
    }

    fn final_checks(&mut self, seed: u64, armed: &[Plan]) -> Result<(), String> {
        if let Some(e) = self.engine.take() {
            self.check(&e).map_err(|m| format!("at the end: {m}"))?;
            drop(e);
        }
        // Images of the last disk state with each fate, each compared with
        // the model as it stands (each settles what is in doubt its own way).
        let model = self.model().model.clone();
        let last = self.sim.clone();
        for (i, fate) in FATES.into_iter().enumerate() {
            self.sim = last.crash(fate, seed.wrapping_add(i as u64));
            self.install_hook();
            self.fs = Arc::new(self.fs.rewrap(Arc::new(self.sim.clone())));
            self.model().model = model.clone();
            if std::env::var_os("LINEDB_OPS_TRACE").is_some() {
                dump(&self.sim);
            }
            // Recovery with the faults still armed (it may fail, and must
            // leave a store that recovers once they are gone), then without.
            self.fs.disarm();
            for p in armed {
                self.fs.arm_site(p.site, p.op, p.pass, p.times, p.effect);
            }
            self.faulted = false;
            if self.open(&format!("final power cut, {fate:?}, faults armed"))? {
                drop(self.engine.take());
            }
            self.fs.disarm();
            self.model().model = model.clone();
            self.faulted = false;
            if !self.open(&format!("final power cut, {fate:?}"))? {
                return Err("the final open failed with the faults disarmed".into());
            }
            drop(self.engine.take());
        }
        Ok(())
    }
}

/// Runs the workload `data` (with `plans` armed from the start). `Err`
/// names what broke.
pub fn run(data: &[u8], plans: &[Plan]) -> Result<Report, String> {
    let setting = data.first().copied().unwrap_or(0);
    let settings = Settings {
        wal_file_bytes: if setting & 1 == 0 { 4096 } else { 8192 },
        segment_bytes: [4096, 8192, 1 << 16, 4096][usize::from(setting >> 1) & 3],
        checkpoint_wal_bytes: if setting & 8 == 0 { 1 << 40 } else { 6000 },
        max_wal_bytes: if setting & 16 == 0 { 1 << 30 } else { 9000 },
        max_open_segments: if setting & 32 == 0 { 256 } else { 2 },
    };
    let sim = SimStorage::new();
    // The application makes the store's parent directory; linedb makes
    // the store directory durable in it.
    sim.create_dir_all(std::path::Path::new("/")).map_err(|e| e.to_string())?;
    let fs = Arc::new(FaultStorage::new(Arc::new(sim.clone())));
    fs.record_sites(true);
    for p in plans {
        fs.arm_site(p.site, p.op, p.pass, p.times, p.effect);
    }
    let model = Model { db: Known::No, batches: BTreeMap::new(), tokens: Vec::new() };
    let cap = Arc::new(Mutex::new(Capture { model, crash_at: None, image: None }));
    let mut d = Driver {
        settings,
        sim,
        fs,
        cap,
        engine: None,
        fired_at_open: 0,
        faulted: false,
        next_id: 1,
        report: Report::default(),
    };
    d.install_hook();
    let mut seed = 0u64;
    let res = (|| -> Result<(), String> {
        if d.open("first")? {
            d.ensure_db()?;
        }
        let mut i = 1;
        let arg = |k: usize| data.get(k).copied().unwrap_or(0);
        while i < data.len() {
            let op = data[i] % 18;
            i += 1;
            seed = mix(seed ^ u64::from(data[i - 1]));
            match op {
                0..=5 => {
                    d.write_good(arg(i), false)?;
                    i += 1;
                }
                6 => {
                    d.write_bad(arg(i))?;
                    i += 1;
                }
                7 => d.checkpoint()?,
                8 => d.create_token()?,
                9 => d.revoke_token()?,
                10 => d.reopen(true)?,
                11 => d.reopen(false)?,
                12 => {
                    let (k, fate, s) = (arg(i), arg(i + 1), arg(i + 2));
                    i += 3;
                    let at = d.sim.op_count() + 1 + u64::from(k);
                    d.model().crash_at = Some((at, FATES[usize::from(fate) % 3], mix(u64::from(s))));
                }
                13 => {
                    d.write_good(arg(i), true)?;
                    i += 1;
                }
                14 => {
                    let (o, n, kind) = (arg(i), arg(i + 1), arg(i + 2));
                    i += 3;
                    d.arm_fault(o, n, kind);
                }
                15 => d.fs.disarm(),
                16 => {
                    let which = arg(i);
                    i += 1;
                    d.plant_refused(which)?;
                }
                _ => d.plant(plant_small_spare)?,
            }
            d.take_image()?;
        }
        d.model().crash_at = None;
        d.take_image()?;
        d.report.workload_sites = d.fs.sites();
        d.final_checks(seed, plans)
    })();
    d.report.sites = d.fs.sites();
    res.map(|()| std::mem::take(&mut d.report))
}

/// The directories under `dir`, depth first, in name order.
fn dirs_under(sim: &SimStorage, dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(mut names) = sim.list_dir(dir) else { return };
    names.sort();
    for n in names {
        let p = dir.join(&n);
        if sim.list_dir(&p).is_ok() {
            out.push(p.clone());
            dirs_under(sim, &p, out);
        }
    }
}

fn put_durable(sim: &SimStorage, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let f = sim.open_file(path, linedb::storage::OpenMode::CreateNew)?;
    f.write_at(bytes, 0)?;
    f.sync_data()?;
    sim.sync_dir(path.parent().unwrap_or(std::path::Path::new("/")))
}

/// A damaged segment after the last of a partition (its path, if the
/// store has a partition), and a WAL temporary.
fn plant_segment_and_temp(sim: &SimStorage, which: u8) -> std::io::Result<Option<std::path::PathBuf>> {
    let mut dirs = Vec::new();
    dirs_under(sim, &std::path::Path::new(STORE).join("data"), &mut dirs);
    // Partition directories are the ones holding segments.
    let parts: Vec<_> = dirs
        .into_iter()
        .filter(|d| sim.list_dir(d).is_ok_and(|v| v.iter().any(|n| n.to_string_lossy().ends_with(".seg"))))
        .collect();
    let mut planted = None;
    if let Some(dir) = parts.get(usize::from(which) % parts.len().max(1)) {
        let last = sim
            .list_dir(dir)?
            .iter()
            .filter_map(|n| n.to_str()?.strip_suffix(".seg")?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        let path = dir.join(format!("{:06}.seg", last + 1));
        put_durable(sim, &path, &[0xA5; 100])?;
        planted = Some(path);
    }
    let wal = std::path::Path::new(STORE).join("wal");
    let Ok(names) = sim.list_dir(&wal) else { return Ok(planted) };
    let next = names
        .iter()
        .filter_map(|n| n.to_str()?.get(..8)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    put_durable(sim, &wal.join(format!("{:08}.wal.tmp", next + 1)), &[0x5A; 300])?;
    Ok(planted)
}

/// A `spare.wal` too small to be reused (replacing any there is).
fn plant_small_spare(sim: &SimStorage) -> std::io::Result<()> {
    let wal = std::path::Path::new(STORE).join("wal");
    if sim.list_dir(&wal).is_err() {
        return Ok(()); // no store yet
    }
    let path = wal.join("spare.wal");
    match sim.remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    put_durable(sim, &path, &[0x33; 1000])
}

/// The fuzz target's check: the workload breaks nothing.
pub fn check(data: &[u8]) {
    // Bounded work per input: long inputs add little but time.
    let data = &data[..data.len().min(400)];
    if let Err(why) = run(data, &[]) {
        panic!("{why}");
    }
}

/// Prints an image's WAL records and files (LINEDB_OPS_TRACE).
fn dump(sim: &SimStorage) {
    let copy = sim.crash(Fate::Kept, 0);
    let dir = std::path::Path::new(STORE).join("wal");
    eprintln!("  image: wal files {:?}", copy.list_dir(&dir).map(|mut v| {
        v.sort();
        v
    }));
    let mut seqs = Vec::new();
    let mut after = 0;
    let mut r = Err(String::new());
    for _ in 0..2 {
        seqs.clear();
        r = linedb::wal::Wal::open(
            Arc::new(copy.clone()),
            &dir,
            linedb::wal::WalOptions { file_size: 4096, spares: 1, store_tag: 0 },
            after,
            &mut |seq, p| {
                seqs.push((seq, p.len()));
                Ok(())
            },
        )
        .map(|w| w.next_seq())
        .map_err(|e| e.to_string());
        if let Err(m) = &r {
            if let Some(n) = m.split("starts at sequence ").nth(1).and_then(|t| t.split(',').next()?.parse::<u64>().ok()) {
                after = n.saturating_sub(1);
            }
        }
    }
    eprintln!("  image: wal {r:?} records {seqs:?}");
}
