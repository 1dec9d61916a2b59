//! Simulated power loss: random small workloads run on an [`Engine`] over
//! [`SimStorage`], and at every sync of a run (and at random other points,
//! and after every operation returns) a crash image is taken with each
//! [`Fate`]: unsynced writes dropped, kept, or torn sector by sector. Each
//! image is reopened and compared with a model of what was answered:
//!
//! - every batch answered 204 is there whole;
//! - no batch is there in part, or twice (`stats().points` counts stored
//!   rows before de-duplication);
//! - every batch answered anything else is absent;
//! - a batch whose write was in flight at the crash is there whole or absent.
//!
//! Sometimes the run goes on from a crash image (recovery, more writes,
//! another crash). `LINEDB_POWER_IMAGES` sets how many images a run checks
//! (default 20 000); a failure prints its workload seed and crash point, and
//! `LINEDB_POWER_SEED=<seed>` replays just that workload
//! (`LINEDB_POWER_TRACE=1` prints what it does).

mod kit;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;
use linedb::partition::NANOS_PER_DAY;
use kit::sim::{Fate, SimEvent, SimStorage};
use kit::fault::{Effect, FaultStorage, Op};
use linedb::storage::Storage;

const STORE: &str = "/store";
const DB: &str = "db";
/// The fates of the main run are these and `Prep::torn`: `Fate::TornFresh`.
/// `Fate::Torn` (garbage even in a sector that held synced bytes) is KNOWN
/// LIMITATION 2, see `known_limitation_2_*`.
const FATES: [Fate; 2] = [Fate::Dropped, Fate::Kept];

// ---------------------------------------------------------------- rng

#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    fn next(&mut self) -> u64 {
        kit::sim::splitmix64(&mut self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------- model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DbState {
    Absent,
    InFlight,
    Acked,
}

/// What the engine has answered so far.
#[derive(Clone, Debug)]
struct Model {
    db: DbState,
    /// Batch id → points, answered 204.
    acked: BTreeMap<u64, usize>,
    /// Batches answered anything but 204 (or about to be: bad on purpose).
    rejected: BTreeSet<u64>,
    /// A good batch being written: it may be there whole, or not at all.
    in_flight: Option<(u64, usize)>,
    /// What the driver is doing, for messages.
    doing: String,
}

impl Model {
    fn new() -> Model {
        Model { db: DbState::Absent, acked: BTreeMap::new(), rejected: BTreeSet::new(), in_flight: None, doing: String::new() }
    }
}

/// What an image held.
#[derive(Debug)]
struct Found {
    db: bool,
    /// Whether the batch in flight at the crash was there.
    in_flight_present: Option<bool>,
}

// ---------------------------------------------------------------- workloads

/// One workload's settings, from its seed.
#[derive(Clone, Debug)]
struct Setup {
    wal_file_bytes: u64,
    segment_bytes: u64,
    checkpoint_wal_bytes: u64,
    max_wal_bytes: u64,
    steps: usize,
    /// Chance (percent) of an image at an operation that is not a sync.
    random_point_percent: u64,
}

impl Setup {
    fn from(rng: &mut Rng) -> Setup {
        Setup {
            wal_file_bytes: [4096, 4096, 8192][rng.below(3) as usize],
            segment_bytes: [4096, 8192, 1 << 16][rng.below(3) as usize],
            checkpoint_wal_bytes: if rng.chance(40) { 2000 + rng.below(10_000) } else { 1 << 40 },
            max_wal_bytes: if rng.chance(15) { 6000 + rng.below(6000) } else { 1 << 30 },
            steps: 8 + rng.below(14) as usize,
            random_point_percent: 20,
        }
    }

    fn options(&self, storage: Arc<dyn Storage>) -> Options {
        Options {
            no_auth: true,
            wal_file_bytes: self.wal_file_bytes,
            segment_bytes: self.segment_bytes,
            checkpoint_wal_bytes: self.checkpoint_wal_bytes,
            max_wal_bytes: self.max_wal_bytes,
            // Sealing runs at the workload's compact steps only, so that a
            // seed replays the same crash points.
            background_sealing: false,
            storage,
            ..Options::default()
        }
    }
}

/// Extra fields a batch may carry: the type of each is fixed by its name,
/// so good batches never conflict.
fn extra_field(k: u64, id: u64) -> String {
    match k {
        0 => format!("x0={id}i"),
        1 => format!("x1={}.5", id),
        2 => format!("x2={}", id.is_multiple_of(2)),
        _ => format!("x3=\"{}\"", "s".repeat((id % 7) as usize * 40)),
    }
}

/// A good batch: `points` lines, tags `batch` and `j`, `v` an integer.
fn good_batch(rng: &mut Rng, id: u64) -> (String, usize) {
    let points = 1 + rng.below(5) as usize;
    let mut s = String::new();
    for j in 0..points {
        let m = rng.below(3);
        let day = rng.below(3) as i64;
        let t = day * NANOS_PER_DAY + id as i64 * 1000 + j as i64;
        let mut fields = format!("v={}i", id * 100 + j as u64);
        if rng.chance(40) {
            fields.push(',');
            fields.push_str(&extra_field(rng.below(4), id));
        }
        let _ = writeln!(s, "m{m},batch={id},j={j} {fields} {t}");
    }
    (s, points)
}

/// A batch that must be refused whole: a type conflict within it, a bad
/// line, or an unknown database.
fn bad_batch(rng: &mut Rng, id: u64) -> (String, &'static str, &'static str) {
    let (mut s, _) = good_batch(rng, id);
    let first = s.lines().next().unwrap_or_default().to_owned();
    let (series, rest) = first.split_once(' ').unwrap_or_default();
    let t = rest.rsplit(' ').next().unwrap_or("0");
    match rng.below(3) {
        0 => {
            // Same partition as the first line, `v` a string: a conflict.
            let _ = writeln!(s, "{series}9 v=\"conflict\" {t}");
            (s, DB, "type conflict")
        }
        1 => {
            let _ = writeln!(s, "m0,batch={id},j=9 v= 1");
            (s, DB, "bad line")
        }
        _ => (s, "nodb", "unknown database"),
    }
}

// ---------------------------------------------------------------- checking

/// Opens an image and compares it with the model.
fn check_image(img: &SimStorage, setup: &Setup, m: &Model) -> Result<(Engine, Found), String> {
    let e = Engine::open(STORE, setup.options(Arc::new(img.clone()))).map_err(|e| format!("reopen failed: {e}"))?;
    let found = check_engine(&e, m)?;
    Ok((e, found))
}

/// The model once an image was found as `found`: the in-flight batch (and
/// database) settled either way.
fn settled(m: &Model, found: &Found) -> Model {
    let mut m = m.clone();
    if m.db == DbState::InFlight {
        m.db = if found.db { DbState::Acked } else { DbState::Absent };
    }
    if let Some((id, n)) = m.in_flight.take() {
        if found.in_flight_present == Some(true) {
            m.acked.insert(id, n);
        } else {
            m.rejected.insert(id);
        }
    }
    m
}

/// After a recovery: one more batch, acknowledged, must survive a second
/// power cut (and what the first recovery settled must stay settled).
fn check_after_recovery(e: Engine, img: &SimStorage, setup: &Setup, m: &Model, found: &Found, seed: u64) -> Result<(), String> {
    let mut m = settled(m, found);
    if m.db != DbState::Acked {
        return Ok(());
    }
    let mut rng = Rng::new(seed);
    let id = 1_000_000 + rng.below(1000);
    let (lines, points) = good_batch(&mut rng, id);
    let r = e.write_at(DB, lines.as_bytes(), Precision::Nanosecond, 0);
    drop(e);
    match r.status {
        204 => {
            m.acked.insert(id, points);
        }
        // 413: its record alone is over a small max_wal_bytes.
        503 | 413 => {
            m.rejected.insert(id);
        }
        s => return Err(format!("after recovery, a good batch answered {s}: {}", r.message)),
    }
    for fate in [Fate::Dropped, Fate::TornFresh] {
        let again = img.crash(fate, seed);
        check_image(&again, setup, &m).map_err(|why| format!("after recovery, batch {id} and a second power cut ({fate:?}): {why}"))?;
    }
    Ok(())
}

fn check_engine(e: &Engine, m: &Model) -> Result<Found, String> {
    let db = e.databases().iter().any(|d| d == DB);
    match (m.db, db) {
        (DbState::Acked, false) => return Err("the acknowledged database is gone".into()),
        (DbState::Absent, true) => return Err("a database that was never created is there".into()),
        _ => {}
    }
    let mut batches: BTreeMap<u64, usize> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut bad: Option<String> = None;
    if db {
        let r = e.query(DB, None, i64::MIN, i64::MAX, &mut |l| {
            let l = String::from_utf8_lossy(l).into_owned();
            let num = |key: &str| -> Option<u64> {
                let at = l.find(key)? + key.len();
                l[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            };
            match (num(",batch="), num(",j="), num(" v=")) {
                (Some(id), Some(j), Some(v)) if v == id * 100 + j => {
                    if !seen.insert((id, j)) {
                        bad.get_or_insert(format!("point stored twice: {l}"));
                    }
                    *batches.entry(id).or_insert(0) += 1;
                }
                _ => {
                    bad.get_or_insert(format!("a point no batch wrote: {l}"));
                }
            }
            true
        });
        if r.status != 200 {
            return Err(format!("query answered {}: {}", r.status, r.message));
        }
        if let Some(b) = bad {
            return Err(b);
        }
        let stored: usize = batches.values().sum();
        let points = e.stats().points;
        if points != stored as u64 {
            return Err(format!("stats counts {points} stored points, queries see {stored}: rows stored twice"));
        }
    }
    for (id, n) in &m.acked {
        match batches.get(id) {
            Some(k) if k == n => {}
            Some(k) => return Err(format!("acknowledged batch {id} has {k} of its {n} points")),
            None => return Err(format!("acknowledged batch {id} ({n} points) is lost")),
        }
    }
    for (id, k) in &batches {
        if m.acked.contains_key(id) {
            continue;
        }
        match m.in_flight {
            Some((f, n)) if f == *id => {
                if *k != n {
                    return Err(format!("batch {id}, in flight at the crash, has {k} of its {n} points"));
                }
            }
            _ if m.rejected.contains(id) => return Err(format!("rejected batch {id} is there ({k} points)")),
            _ => return Err(format!("batch {id} was never written but is there ({k} points)")),
        }
    }
    let in_flight_present = m.in_flight.map(|(id, _)| batches.contains_key(&id));
    Ok(Found { db, in_flight_present })
}

// ---------------------------------------------------------------- driver

/// A crash image waiting to be checked, with the model when it was taken.
struct Image {
    storage: SimStorage,
    model: Model,
    point: String,
}

/// What the hook shares with the driver.
struct Capture {
    model: Model,
    images: Vec<Image>,
    rng: Rng,
    random_point_percent: u64,
    torn: Fate,
}

fn capture(c: &mut Capture, s: &SimStorage, fates: &[Fate], point: &str) {
    for &fate in fates {
        let torn_seed = c.rng.next();
        c.images.push(Image {
            storage: s.crash(fate, torn_seed),
            model: c.model.clone(),
            point: format!("{point}, fate {fate:?} (torn seed {torn_seed}), while {}", c.model.doing),
        });
    }
}

fn install_hook(s: &SimStorage, cap: &Arc<Mutex<Capture>>) {
    let cap = Arc::clone(cap);
    s.set_hook(Some(Arc::new(move |st: &SimStorage, ev: &SimEvent| {
        let mut c = cap.lock();
        let point = format!("after op #{} ({:?} {}), sync #{}", ev.index, ev.op, ev.path.display(), ev.sync_index);
        let torn = c.torn;
        if ev.op.is_sync() {
            capture(&mut c, st, &[FATES[0], FATES[1], torn], &point);
        } else {
            let pct = c.random_point_percent;
            if c.rng.chance(pct) {
                // Dropped here is the image of the last sync: skip it.
                capture(&mut c, st, &[Fate::Kept, torn], &point);
            }
        }
    })));
}

/// How the running engine sees the disk (a test may make it forgetful).
type Wrap = fn(SimStorage) -> Arc<dyn Storage>;

/// What the test makes durable before the engine first opens the store.
#[derive(Clone, Copy, Debug)]
struct Prep {
    /// `/store` (the application's job: the engine never syncs its parent).
    store_dir: bool,
    /// `/store/wal` made before the engine runs. Off: the engine makes it
    /// (and syncs it) after the catalog, and a directory holding `wal/` but
    /// no catalog is a store that lost its catalog. (On, it worked around
    /// KNOWN BUG 1, fixed: see the regression test below.)
    wal_dir: bool,
    /// The tearing fate: `Fate::TornFresh`, or `Fate::Torn` for known
    /// limitation 2.
    torn: Fate,
}

const PREP: Prep = Prep { store_dir: true, wal_dir: false, torn: Fate::TornFresh };

fn plain(s: SimStorage) -> Arc<dyn Storage> {
    Arc::new(s)
}

/// The result of one workload.
#[derive(Debug, Default)]
struct Outcome {
    images: usize,
    /// Images taken while a batch was in flight that held it, or not.
    in_flight_present: usize,
    in_flight_absent: usize,
    /// Partitions sealed by the workload's compact steps.
    sealed: usize,
    failures: Vec<String>,
}

/// Partitions sealed by every workload run so far.
static SEALED: AtomicUsize = AtomicUsize::new(0);

fn trace_on() -> bool {
    std::env::var("LINEDB_POWER_TRACE").is_ok_and(|v| v != "0")
}

/// Runs workload `seed`, checking every image it takes.
fn run_workload(seed: u64, wrap: Wrap, prep: Prep) -> Outcome {
    let trace = trace_on();
    let mut rng = Rng::new(seed);
    let setup = Setup::from(&mut rng);
    if trace {
        eprintln!("seed {seed}: {setup:?}");
    }
    let mut out = Outcome::default();
    let fail = |out: &mut Outcome, point: &str, why: &str| {
        out.failures.push(format!("seed {seed}: {why}\n    crash point: {point}\n    replay: LINEDB_POWER_SEED={seed}"));
    };

    let mut storage = SimStorage::new();
    let mut prepared = Ok(());
    if prep.store_dir {
        prepared = prepared.and_then(|()| storage.create_dir_all(Path::new(STORE)));
        prepared = prepared.and_then(|()| storage.sync_dir(Path::new("/")));
    }
    if prep.wal_dir {
        prepared = prepared.and_then(|()| storage.create_dir_all(&Path::new(STORE).join("wal")));
        prepared = prepared.and_then(|()| storage.sync_dir(Path::new("/")));
        prepared = prepared.and_then(|()| storage.sync_dir(Path::new(STORE)));
    }
    if let Err(e) = prepared {
        fail(&mut out, "setup", &e.to_string());
        return out;
    }
    let cap = Arc::new(Mutex::new(Capture {
        model: Model::new(),
        images: Vec::new(),
        rng: Rng::new(seed ^ 0xC0FF_EE00),
        random_point_percent: setup.random_point_percent,
        torn: prep.torn,
    }));
    install_hook(&storage, &cap);
    let mut engine = match Engine::open(STORE, setup.options(wrap(storage.clone()))) {
        Ok(e) => Some(e),
        Err(e) => {
            fail(&mut out, "first open", &e.to_string());
            return out;
        }
    };
    let mut next_id = 1u64;

    for step in 0..setup.steps + 1 {
        let Some(e) = engine.as_ref() else { break };
        // Step 0 creates the database; the rest is random.
        let roll = if step == 0 { 0 } else { 1 + rng.below(100) };
        let doing;
        match roll {
            0 => {
                doing = "create database".to_owned();
                {
                    let mut c = cap.lock();
                    c.model.db = DbState::InFlight;
                    c.model.doing = doing.clone();
                }
                let r = e.create_database(DB);
                let mut c = cap.lock();
                match r {
                    Ok(()) => c.model.db = DbState::Acked,
                    Err(err) => {
                        drop(c);
                        fail(&mut out, &doing, &format!("create_database failed: {err}"));
                        return out;
                    }
                }
            }
            1..=62 => {
                let id = next_id;
                next_id += 1;
                let (lines, points) = good_batch(&mut rng, id);
                doing = format!("step {step}: write batch {id} ({points} points)");
                {
                    let mut c = cap.lock();
                    c.model.in_flight = Some((id, points));
                    c.model.doing = doing.clone();
                }
                let r = e.write_at(DB, lines.as_bytes(), Precision::Nanosecond, 0);
                let mut c = cap.lock();
                c.model.in_flight = None;
                match r.status {
                    204 => {
                        c.model.acked.insert(id, points);
                    }
                    // 413: its record alone is over a small max_wal_bytes.
                    503 | 413 => {
                        c.model.rejected.insert(id);
                    }
                    s => {
                        c.model.rejected.insert(id);
                        drop(c);
                        fail(&mut out, &doing, &format!("a good batch answered {s}: {}", r.message));
                    }
                }
                if trace {
                    eprintln!("  {doing}: {}", r.status);
                }
            }
            63..=74 => {
                let id = next_id;
                next_id += 1;
                let (lines, db, kind) = bad_batch(&mut rng, id);
                doing = format!("step {step}: write bad batch {id} ({kind})");
                {
                    let mut c = cap.lock();
                    c.model.rejected.insert(id);
                    c.model.doing = doing.clone();
                }
                let r = e.write_at(db, lines.as_bytes(), Precision::Nanosecond, 0);
                if r.status == 204 {
                    fail(&mut out, &doing, "a bad batch was acknowledged");
                }
                if trace {
                    eprintln!("  {doing}: {} {}", r.status, r.message);
                }
            }
            75..=81 => {
                doing = format!("step {step}: checkpoint");
                cap.lock().model.doing = doing.clone();
                if let Err(err) = e.checkpoint() {
                    fail(&mut out, &doing, &format!("checkpoint failed: {err}"));
                }
                if trace {
                    eprintln!("  {doing}");
                }
            }
            82..=88 => {
                // Sealing: every sync of it is a crash point.
                doing = format!("step {step}: compact");
                cap.lock().model.doing = doing.clone();
                match e.compact() {
                    Ok(n) => out.sealed += n,
                    Err(err) => fail(&mut out, &doing, &format!("compact failed: {err}")),
                }
                if trace {
                    eprintln!("  {doing}");
                }
            }
            89..=94 => {
                doing = format!("step {step}: clean close and reopen");
                cap.lock().model.doing = doing.clone();
                if let Some(e) = engine.take() {
                    if let Err(err) = e.close() {
                        fail(&mut out, &doing, &format!("close failed: {err}"));
                    }
                }
                match Engine::open(STORE, setup.options(wrap(storage.clone()))) {
                    Ok(e) => {
                        if let Err(why) = check_engine(&e, &cap.lock().model) {
                            fail(&mut out, &doing, &why);
                        }
                        engine = Some(e);
                    }
                    Err(err) => fail(&mut out, &doing, &format!("clean reopen failed: {err}")),
                }
                if trace {
                    eprintln!("  {doing}");
                }
            }
            _ => {
                // Power cut now; the run goes on from the image.
                let fate = [FATES[0], FATES[1], prep.torn][rng.below(3) as usize];
                let torn_seed = rng.next();
                doing = format!("step {step}: crash ({fate:?}, torn seed {torn_seed}) and go on");
                cap.lock().model.doing = doing.clone();
                drop(engine.take());
                let img = storage.crash(fate, torn_seed);
                let model = cap.lock().model.clone();
                match check_image(&img, &setup, &model) {
                    Ok((e, found)) => {
                        drop(e);
                        out.images += 1;
                        let mut c = cap.lock();
                        c.model = settled(&c.model, &found);
                        storage = img;
                        install_hook(&storage, &cap);
                        drop(c);
                        match Engine::open(STORE, setup.options(wrap(storage.clone()))) {
                            Ok(e) => engine = Some(e),
                            Err(err) => fail(&mut out, &doing, &format!("reopen failed: {err}")),
                        }
                        if cap.lock().model.db == DbState::Absent {
                            // Nothing more to do without a database.
                            break;
                        }
                    }
                    Err(why) => {
                        fail(&mut out, &doing, &why);
                        return out;
                    }
                }
                if trace {
                    eprintln!("  {doing}");
                }
            }
        }
        // An image now, with what was answered: the strictest check.
        {
            let mut c = cap.lock();
            c.model.doing = format!("after {doing} returned");
            let point = format!("after {doing} returned");
            capture(&mut c, &storage, &[Fate::Dropped, prep.torn], &point);
        }
        let images = std::mem::take(&mut cap.lock().images);
        for img in images {
            out.images += 1;
            match check_image(&img.storage, &setup, &img.model) {
                Ok((e, found)) => {
                    match found.in_flight_present {
                        Some(true) => out.in_flight_present += 1,
                        Some(false) => out.in_flight_absent += 1,
                        None => {}
                    }
                    // One image in four: write again and cut the power again.
                    if rng.chance(25) {
                        out.images += 2;
                        let s = rng.next();
                        if let Err(why) = check_after_recovery(e, &img.storage, &setup, &img.model, &found, s) {
                            fail(&mut out, &format!("{} (second cut seed {s})", img.point), &why);
                        }
                    }
                }
                Err(why) => fail(&mut out, &img.point, &why),
            }
        }
        let v = storage.violations();
        if !v.is_empty() {
            fail(&mut out, &doing, &format!("the engine did what a real disk forbids: {v:?}"));
        }
        if out.failures.len() >= 3 {
            break;
        }
    }
    storage.set_hook(None);
    drop(engine);
    SEALED.fetch_add(out.sealed, Ordering::Relaxed);
    out
}

/// Runs workloads from `base` until `target` images were checked, on all
/// cores. Returns (workloads, images, failures).
fn run_many(base: u64, target: usize, wrap: Wrap, prep: Prep, max_workloads: u64) -> (u64, usize, Vec<String>) {
    let images = AtomicUsize::new(0);
    let present = AtomicUsize::new(0);
    let absent = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let next = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                if images.load(Ordering::Relaxed) >= target || failures.lock().len() >= 5 {
                    return;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= max_workloads {
                    return;
                }
                let o = run_workload(base.wrapping_add(k), wrap, prep);
                images.fetch_add(o.images, Ordering::Relaxed);
                present.fetch_add(o.in_flight_present, Ordering::Relaxed);
                absent.fetch_add(o.in_flight_absent, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
                failures.lock().extend(o.failures);
            });
        }
    });
    eprintln!(
        "  (batches in flight at a crash: {} there whole, {} absent)",
        present.into_inner(),
        absent.into_inner()
    );
    (done.into_inner(), images.into_inner(), failures.into_inner())
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn power_loss_at_every_sync_never_loses_or_tears_a_batch() {
    let started = Instant::now();
    if let Some(seed) = env_u64("LINEDB_POWER_SEED") {
        let o = run_workload(seed, plain, PREP);
        eprintln!("seed {seed}: {} images", o.images);
        assert!(o.failures.is_empty(), "{}", o.failures.join("\n"));
        return;
    }
    let target = env_u64("LINEDB_POWER_IMAGES").unwrap_or(20_000) as usize;
    let base = env_u64("LINEDB_POWER_BASE").unwrap_or(1);
    let (workloads, images, failures) = run_many(base, target, plain, PREP, u64::MAX);
    let sealed = SEALED.load(Ordering::Relaxed);
    eprintln!(
        "power loss: {images} crash images from {workloads} workloads (seeds {base}..) in {:.1?}; {sealed} partitions sealed",
        started.elapsed()
    );
    assert!(failures.is_empty(), "{} failing crash images, first ones:\n{}", failures.len(), failures.join("\n"));
    assert!(images >= target, "only {images} images");
    assert!(sealed > 0, "no workload sealed a partition");
}

// ---------------------------------------------------------------- the checker can fail

/// A disk that acknowledges syncs of one kind without doing them.
fn forgetful(s: SimStorage, op: Op, path_contains: &str) -> Arc<dyn Storage> {
    let f = FaultStorage::new(Arc::new(s));
    f.arm_effect(op, path_contains, Effect::Skip, u32::MAX);
    Arc::new(f)
}
fn forget_wal_sync(s: SimStorage) -> Arc<dyn Storage> {
    forgetful(s, Op::Sync, "/wal/")
}
fn forget_dir_sync(s: SimStorage) -> Arc<dyn Storage> {
    forgetful(s, Op::SyncDir, "")
}
fn forget_msync(s: SimStorage) -> Arc<dyn Storage> {
    forgetful(s, Op::Flush, "")
}

#[test]
fn the_checker_catches_a_disk_that_forgets_syncs() {
    for (name, wrap, needle) in [
        ("WAL fdatasync", forget_wal_sync as Wrap, "acknowledged"),
        ("directory fsync", forget_dir_sync as Wrap, ""),
        ("segment msync", forget_msync as Wrap, ""),
    ] {
        let (workloads, images, failures) = run_many(1000, usize::MAX, wrap, PREP, 10);
        eprintln!("forgetting {name}: {} failures in {images} images of {workloads} workloads", failures.len());
        assert!(!failures.is_empty(), "forgetting {name} went unnoticed in {images} images");
        assert!(
            failures.iter().any(|f| f.contains(needle)),
            "forgetting {name}: no failure mentions {needle:?}: {failures:?}"
        );
    }
}

/// The plain storage must pass the very workloads the forgetful ones fail.
#[test]
fn the_same_workloads_pass_on_an_honest_disk() {
    let (_, images, failures) = run_many(1000, usize::MAX, plain, PREP, 10);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(images > 0);
}

// ---------------------------------------------------------------- findings

/// Regression (found by this driver): `wal/` (and the store directory made
/// by `Engine::open`) were created without syncing the parent, and the
/// first acknowledged records (the database, the first batches) lived only
/// in `wal/` until the first segment or checkpoint synced the store's
/// directory: a power cut before then lost them. `Engine::open` now syncs
/// both entries before it answers.
#[test]
fn regression_wal_directory_entry_durable_before_first_ack() {
    let (_, images, failures) =
        run_many(1, 2000, plain, Prep { wal_dir: false, ..PREP }, u64::MAX);
    assert!(failures.is_empty(), "{} failures in {images} images:\n{}", failures.len(), failures.join("\n"));
}

/// The minimal scenario of that regression: open, create a database (204),
/// power cut with every unsynced change lost.
#[test]
fn regression_acknowledged_database_survives_a_power_cut_after_open() {
    let s = SimStorage::new();
    s.create_dir_all(Path::new(STORE)).unwrap();
    s.sync_dir(Path::new("/")).unwrap();
    let setup = Setup::from(&mut Rng::new(7));
    let e = Engine::open(STORE, setup.options(Arc::new(s.clone()))).unwrap();
    e.create_database(DB).unwrap();
    let img = s.crash(Fate::Dropped, 0);
    let e2 = Engine::open(STORE, setup.options(Arc::new(img))).unwrap();
    assert_eq!(e2.databases(), vec![DB.to_owned()], "the acknowledged database is lost");
}

/// The store directory made by `Engine::open` itself: its entry in the
/// parent is synced, so it cannot vanish with everything in it.
#[test]
fn regression_store_directory_made_by_open_is_durable() {
    let s = SimStorage::new();
    let setup = Setup::from(&mut Rng::new(7));
    let e = Engine::open(STORE, setup.options(Arc::new(s.clone()))).unwrap();
    e.create_database(DB).unwrap();
    e.checkpoint().unwrap();
    let img = s.crash(Fate::Dropped, 0);
    assert!(img.list_dir(Path::new(STORE)).is_ok(), "the store directory is gone after a power cut");
}

/// KNOWN LIMITATION 2: with `Fate::Torn` a torn sector may be garbage even
/// where it held bytes already synced. The WAL and the segments append into
/// the sector that holds the last synced record (or block, or a segment's
/// header), so garbage there destroys acknowledged data (or makes the store
/// refuse to open). Surviving that takes sector-aligned commits or a
/// doublewrite; the design does not promise it. Run with `--ignored`.
#[test]
#[ignore = "known limitation 2: garbage in a torn sector that held synced bytes loses acknowledged data"]
fn known_limitation_2_garbage_in_a_synced_sector() {
    let (_, images, failures) = run_many(1, 3000, plain, Prep { torn: Fate::Torn, ..PREP }, u64::MAX);
    assert!(failures.is_empty(), "{} failures in {images} images:\n{}", failures.len(), failures.join("\n"));
}

