//! A storage that fails on demand: wraps another [`Storage`] and makes the
//! calls a test arms fail with the errno it chose (or succeed without doing
//! anything, as a lying disk does), so tests can check what the engine
//! answers and leaves behind when the disk is full or broken.
//!
//! A fault is matched by operation and path, or by call site: the line of
//! linedb that made the call ([`Site`], from `#[track_caller]`). With
//! [`FaultStorage::record_sites`] on, every call is counted by its site, so a
//! test can list the sites a workload reaches and then fail each in turn.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{File, LockGuard, Map, OpenMode, Storage};

/// The calls a fault can be armed on: every fallible method of the seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    CreateDir,
    Open,
    Rename,
    Remove,
    SyncDir,
    List,
    Lock,
    /// A file's length (fstat).
    Length,
    Read,
    Write,
    Allocate,
    Sync,
    Map,
    /// msync of a mapping.
    Flush,
}

/// A line of linedb that calls the storage seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
}

impl Site {
    fn of(loc: &'static Location<'static>) -> Site {
        Site { file: loc.file(), line: loc.line(), column: loc.column() }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What an armed fault does to the call it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The call fails with this errno and does nothing.
    Fail(i32),
    /// A write stores the first half of its buffer, then fails with this
    /// errno (other calls: as `Fail`).
    Partial(i32),
    /// The call answers success without doing anything: a disk that
    /// acknowledges syncs it never did.
    Skip,
}

#[derive(Clone, Debug)]
struct Fault {
    op: Op,
    /// Only paths containing this text (all paths if empty).
    path_contains: String,
    /// Only calls from this line of linedb.
    site: Option<Site>,
    /// Matching calls let through before the fault starts.
    pass: u64,
    /// Calls that still get the effect; `u32::MAX` is "until disarmed".
    remaining: u32,
    effect: Effect,
}

/// What the wrapper shares with the files it opened.
#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Vec<Fault>>,
    /// (op, path text, delay) applied to every matching call.
    delays: Mutex<Vec<(Op, String, Duration)>>,
    /// (op, path text, calls seen) for every counter a test asked for.
    counts: Mutex<Vec<(Op, String, u64)>>,
    /// Calls per (site, op), while recording.
    sites: Mutex<Option<BTreeMap<(Site, Op), u64>>>,
    /// Every call a fault hit, in order.
    fired: Mutex<Vec<(Site, Op, Effect)>>,
    /// Every call, in order, while recording.
    calls: Mutex<Option<Vec<(Op, std::path::PathBuf)>>>,
    /// Per op: calls in their delay now, and the most ever at once.
    overlap: Mutex<BTreeMap<Op, (u32, u32)>>,
    /// Syncs that began while another sync ran on the same open file.
    shared_syncs: AtomicU64,
    /// Open files (not yet dropped), by path.
    live: Mutex<BTreeMap<std::path::PathBuf, u64>>,
    /// Calls held until enough of them run at once (see
    /// [`FaultStorage::rendezvous`]), and its signal.
    rendezvous: Mutex<Option<Rendezvous>>,
    rendezvous_moved: parking_lot::Condvar,
}

/// The first `n` matching calls wait for one another.
#[derive(Debug)]
struct Rendezvous {
    op: Op,
    path_contains: String,
    n: u32,
    timeout: Duration,
    /// Calls that have come (at most `n`).
    arrived: u32,
    /// All `n` came, or the wait timed out: no call waits any more.
    released: bool,
    timed_out: bool,
}

/// A [`Storage`] whose calls fail (or are slowed, or counted) when armed.
#[derive(Debug)]
pub struct FaultStorage {
    inner: Arc<dyn Storage>,
    shared: Arc<Shared>,
}

impl FaultStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        FaultStorage { inner, shared: Arc::default() }
    }

    /// A wrapper of `inner` that shares this one's faults, delays, counters
    /// and recorded sites (a test that moves to a crash image keeps them).
    pub fn rewrap(&self, inner: Arc<dyn Storage>) -> FaultStorage {
        FaultStorage { inner, shared: Arc::clone(&self.shared) }
    }

    /// Makes the next `times` calls of `op` on paths containing
    /// `path_contains` fail with `errno` (`u32::MAX`: until disarmed).
    pub fn arm(&self, op: Op, path_contains: &str, errno: i32, times: u32) {
        self.arm_effect(op, path_contains, Effect::Fail(errno), times);
    }

    /// Like [`FaultStorage::arm`], with any [`Effect`].
    pub fn arm_effect(&self, op: Op, path_contains: &str, effect: Effect, times: u32) {
        let fault = Fault { op, path_contains: path_contains.to_owned(), site: None, pass: 0, remaining: times, effect };
        self.shared.faults.lock().push(fault);
    }

    /// Lets `pass` calls of `op` from `site` through, then gives the next
    /// `times` of them `effect` (`u32::MAX`: until disarmed).
    pub fn arm_site(&self, site: Site, op: Op, pass: u64, times: u32, effect: Effect) {
        let fault = Fault { op, path_contains: String::new(), site: Some(site), pass, remaining: times, effect };
        self.shared.faults.lock().push(fault);
    }

    /// Lets `pass` calls of `op` (from anywhere) on paths containing
    /// `path_contains` through, then gives the next `times` of them
    /// `effect`. A file's path is the one it was opened by.
    pub fn arm_after(&self, op: Op, path_contains: &str, pass: u64, times: u32, effect: Effect) {
        let fault = Fault { op, path_contains: path_contains.to_owned(), site: None, pass, remaining: times, effect };
        self.shared.faults.lock().push(fault);
    }

    /// Removes every armed fault and delay.
    pub fn disarm(&self) {
        self.shared.faults.lock().clear();
        self.shared.delays.lock().clear();
        *self.shared.rendezvous.lock() = None;
        self.shared.rendezvous_moved.notify_all();
    }

    /// Makes every call of `op` on matching paths take `delay` longer (a
    /// slow disk, so that concurrent writers pile up behind a sync).
    pub fn delay(&self, op: Op, path_contains: &str, delay: Duration) {
        self.shared.delays.lock().push((op, path_contains.to_owned(), delay));
    }

    /// Holds the first `n` calls of `op` on matching paths until all `n`
    /// are inside it at once, then lets them all go on: a test that needs
    /// two syncs to overlap makes them overlap, rather than hoping a delay
    /// lines them up. If the `n`th does not come within `timeout` (the code
    /// under test never runs `n` at once), they go on and
    /// [`FaultStorage::rendezvous_met`] says false.
    pub fn rendezvous(&self, op: Op, path_contains: &str, n: u32, timeout: Duration) {
        *self.shared.rendezvous.lock() = Some(Rendezvous {
            op,
            path_contains: path_contains.to_owned(),
            n,
            timeout,
            arrived: 0,
            released: false,
            timed_out: false,
        });
    }

    /// Whether the rendezvous's `n` calls were all inside it at once.
    pub fn rendezvous_met(&self) -> bool {
        self.shared.rendezvous.lock().as_ref().is_some_and(|r| r.arrived == r.n && !r.timed_out)
    }

    /// Waits until `k` calls have come to the rendezvous (they are inside
    /// the held call now); false if that takes longer than `timeout`.
    pub fn wait_arrived(&self, k: u32, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut r = self.shared.rendezvous.lock();
        loop {
            if r.as_ref().is_some_and(|r| r.arrived >= k) {
                return true;
            }
            if self.shared.rendezvous_moved.wait_until(&mut r, deadline).timed_out() {
                return r.as_ref().is_some_and(|r| r.arrived >= k);
            }
        }
    }

    /// Holds a call that the rendezvous is waiting for (see
    /// [`FaultStorage::rendezvous`]).
    fn meet(shared: &Shared, op: Op, p: &str) {
        let mut guard = shared.rendezvous.lock();
        let Some(r) = guard.as_mut() else { return };
        if r.released || r.op != op || !p.contains(&r.path_contains) {
            return;
        }
        r.arrived += 1;
        let deadline = std::time::Instant::now() + r.timeout;
        if r.arrived == r.n {
            r.released = true;
        }
        shared.rendezvous_moved.notify_all();
        loop {
            let Some(r) = guard.as_mut() else { return };
            if r.released {
                return;
            }
            if shared.rendezvous_moved.wait_until(&mut guard, deadline).timed_out() {
                if let Some(r) = guard.as_mut() {
                    r.released = true;
                    r.timed_out = true;
                }
                shared.rendezvous_moved.notify_all();
                return;
            }
        }
    }

    /// The most delayed calls of `op` that were in their delay at once (see
    /// [`FaultStorage::delay`]): how many a slow disk was serving together.
    pub fn max_overlap(&self, op: Op) -> u32 {
        self.shared.overlap.lock().get(&op).map_or(0, |e| e.1)
    }

    /// Starts counting calls of `op` on matching paths; see [`FaultStorage::count`].
    pub fn start_counting(&self, op: Op, path_contains: &str) {
        self.shared.counts.lock().push((op, path_contains.to_owned(), 0));
    }

    /// Calls of `op` on paths containing `path_contains` since
    /// [`FaultStorage::start_counting`] with the same arguments.
    pub fn count(&self, op: Op, path_contains: &str) -> u64 {
        self.shared.counts.lock().iter().find(|c| c.0 == op && c.1 == path_contains).map_or(0, |c| c.2)
    }

    /// Starts (or stops) counting calls by call site; starting clears the
    /// counts.
    pub fn record_sites(&self, on: bool) {
        *self.shared.sites.lock() = on.then(BTreeMap::new);
    }

    /// Calls per (site, operation) since [`FaultStorage::record_sites`].
    pub fn sites(&self) -> BTreeMap<(Site, Op), u64> {
        self.shared.sites.lock().clone().unwrap_or_default()
    }

    /// Starts (or stops) logging every call with its path; starting clears
    /// the log.
    pub fn record_calls(&self, on: bool) {
        *self.shared.calls.lock() = on.then(Vec::new);
    }

    /// The calls since [`FaultStorage::record_calls`], in order.
    pub fn calls(&self) -> Vec<(Op, std::path::PathBuf)> {
        self.shared.calls.lock().clone().unwrap_or_default()
    }

    /// Syncs that began while another sync was running on the same open
    /// file (file description): each should have one of its own.
    pub fn shared_syncs(&self) -> u64 {
        self.shared.shared_syncs.load(Ordering::Relaxed)
    }

    /// Files opened through this wrapper and not yet closed, on paths
    /// containing `path_contains`.
    pub fn live_files(&self, path_contains: &str) -> u64 {
        let live = self.shared.live.lock();
        live.iter().filter(|(p, _)| p.to_string_lossy().contains(path_contains)).map(|(_, n)| n).sum()
    }

    /// Every call an armed fault hit, in order.
    pub fn fired(&self) -> Vec<(Site, Op, Effect)> {
        self.shared.fired.lock().clone()
    }

    /// Counts the call, sleeps its delay, and answers the effect of the
    /// first armed fault that matches it (`None`: do the call).
    fn check(shared: &Shared, op: Op, path: &Path, loc: &'static Location<'static>) -> Option<Effect> {
        let site = Site::of(loc);
        if let Some(sites) = shared.sites.lock().as_mut() {
            *sites.entry((site, op)).or_insert(0) += 1;
        }
        if let Some(calls) = shared.calls.lock().as_mut() {
            calls.push((op, path.to_owned()));
        }
        let p = path.to_string_lossy();
        for c in shared.counts.lock().iter_mut().filter(|c| c.0 == op && p.contains(&c.1)) {
            c.2 += 1;
        }
        let delay: Duration = shared.delays.lock().iter().filter(|d| d.0 == op && p.contains(&d.1)).map(|d| d.2).sum();
        if !delay.is_zero() {
            {
                let mut o = shared.overlap.lock();
                let e = o.entry(op).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.max(e.0);
            }
            std::thread::sleep(delay);
            if let Some(e) = shared.overlap.lock().get_mut(&op) {
                e.0 -= 1;
            }
        }
        // The effect is decided in the order calls arrive, before a
        // rendezvous holds them: the first of two held syncs gets a fault
        // armed for one call.
        let effect = Self::decide(shared, op, &p, site);
        Self::meet(shared, op, &p);
        effect
    }

    /// The effect of the first armed fault that matches the call, used up.
    fn decide(shared: &Shared, op: Op, p: &str, site: Site) -> Option<Effect> {
        let mut faults = shared.faults.lock();
        let matching = |f: &Fault| f.op == op && f.site.is_none_or(|s| s == site) && p.contains(&f.path_contains);
        let i = faults.iter().position(|f| matching(f) && f.remaining > 0)?;
        let f = &mut faults[i];
        if f.pass > 0 {
            f.pass -= 1;
            return None;
        }
        let effect = f.effect;
        if f.remaining != u32::MAX {
            f.remaining -= 1;
        }
        faults.retain(|f| f.remaining > 0);
        shared.fired.lock().push((site, op, effect));
        Some(effect)
    }

    /// [`FaultStorage::check`] for calls whose only effects are failing or
    /// doing nothing: `Err` to return, `Ok(true)` to skip the call.
    fn gate(shared: &Shared, op: Op, path: &Path, loc: &'static Location<'static>) -> io::Result<bool> {
        match Self::check(shared, op, path, loc) {
            None => Ok(false),
            Some(Effect::Skip) => Ok(true),
            Some(Effect::Fail(errno) | Effect::Partial(errno)) => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// An effect that cannot be skipped (the call returns something): a skip
/// becomes EIO.
fn no_skip(r: io::Result<bool>) -> io::Result<()> {
    match r {
        Ok(false) => Ok(()),
        Ok(true) => Err(io::Error::from_raw_os_error(libc::EIO)),
        Err(e) => Err(e),
    }
}

impl Storage for FaultStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        if Self::gate(&self.shared, Op::CreateDir, path, Location::caller())? {
            return Ok(());
        }
        self.inner.create_dir_all(path)
    }
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>> {
        no_skip(Self::gate(&self.shared, Op::Open, path, Location::caller()))?;
        let file = self.inner.open_file(path, mode)?;
        *self.shared.live.lock().entry(path.to_owned()).or_default() += 1;
        Ok(Box::new(FaultFile { file, path: path.to_owned(), shared: Arc::clone(&self.shared), syncing: AtomicU32::new(0) }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if Self::gate(&self.shared, Op::Rename, from, Location::caller())? {
            return Ok(());
        }
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        if Self::gate(&self.shared, Op::Remove, path, Location::caller())? {
            return Ok(());
        }
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if Self::gate(&self.shared, Op::SyncDir, path, Location::caller())? {
            return Ok(());
        }
        self.inner.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        no_skip(Self::gate(&self.shared, Op::List, path, Location::caller()))?;
        self.inner.list_dir(path)
    }
    fn lock_file(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        no_skip(Self::gate(&self.shared, Op::Lock, path, Location::caller()))?;
        self.inner.lock_file(path)
    }
    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        self.inner.free_space(path)
    }
}

#[derive(Debug)]
struct FaultFile {
    file: Box<dyn File>,
    path: std::path::PathBuf,
    shared: Arc<Shared>,
    /// Syncs running on this open file now.
    syncing: AtomicU32,
}

impl Drop for FaultFile {
    fn drop(&mut self) {
        let mut live = self.shared.live.lock();
        if let Some(n) = live.get_mut(&self.path) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.path);
            }
        }
    }
}

/// Counts a sync on a file for as long as it runs.
struct Syncing<'a>(&'a AtomicU32);

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl File for FaultFile {
    fn length(&self) -> io::Result<u64> {
        no_skip(FaultStorage::gate(&self.shared, Op::Length, &self.path, Location::caller()))?;
        self.file.length()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        no_skip(FaultStorage::gate(&self.shared, Op::Read, &self.path, Location::caller()))?;
        self.file.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match FaultStorage::check(&self.shared, Op::Write, &self.path, Location::caller()) {
            None => self.file.write_at(buf, offset),
            Some(Effect::Skip) => Ok(()),
            Some(Effect::Fail(errno)) => Err(io::Error::from_raw_os_error(errno)),
            Some(Effect::Partial(errno)) => {
                self.file.write_at(&buf[..buf.len() / 2], offset)?;
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        // Only growth can fail for lack of space; a no-op is not a call.
        if len > self.file.length()? && FaultStorage::gate(&self.shared, Op::Allocate, &self.path, Location::caller())? {
            return Ok(());
        }
        self.file.allocate(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.syncing.fetch_add(1, Ordering::AcqRel) > 0 {
            self.shared.shared_syncs.fetch_add(1, Ordering::Relaxed);
        }
        let _running = Syncing(&self.syncing);
        if FaultStorage::gate(&self.shared, Op::Sync, &self.path, Location::caller())? {
            return Ok(());
        }
        self.file.sync_data()
    }
    fn mmap(&self, len: usize) -> io::Result<Box<dyn Map>> {
        no_skip(FaultStorage::gate(&self.shared, Op::Map, &self.path, Location::caller()))?;
        let map = self.file.mmap(len)?;
        Ok(Box::new(FaultMap { map, path: self.path.clone(), shared: Arc::clone(&self.shared) }))
    }
}

#[derive(Debug)]
struct FaultMap {
    map: Box<dyn Map>,
    path: std::path::PathBuf,
    shared: Arc<Shared>,
}

impl Map for FaultMap {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn msync(&self, offset: usize, len: usize) -> io::Result<()> {
        if FaultStorage::gate(&self.shared, Op::Flush, &self.path, Location::caller())? {
            return Ok(());
        }
        self.map.msync(offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendezvous_holds_calls_until_enough_are_inside() {
        let dir = std::env::temp_dir().join(format!("linedb-rendezvous-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fs = FaultStorage::new(Arc::new(super::super::FsStorage));
        let path = dir.join("f");
        let f = fs.open_file(&path, OpenMode::CreateNew).unwrap();
        fs.rendezvous(Op::Sync, "", 2, Duration::from_secs(20));
        std::thread::scope(|s| {
            let a = s.spawn(|| f.sync_data());
            // The first is held inside until the second comes.
            assert!(fs.wait_arrived(1, Duration::from_secs(20)));
            assert!(!a.is_finished());
            assert!(!fs.rendezvous_met());
            f.sync_data().unwrap();
            a.join().unwrap().unwrap();
        });
        assert!(fs.rendezvous_met());
        // One that never gets its second call times out and lets it go.
        fs.rendezvous(Op::Sync, "", 2, Duration::from_millis(50));
        f.sync_data().unwrap();
        assert!(!fs.rendezvous_met());
        let _ = std::fs::remove_dir_all(&dir);
    }
    use super::super::FsStorage;

    #[test]
    fn syncs_sharing_one_open_file_are_counted() {
        let dir = std::env::temp_dir().join(format!("linedb-fault-shared-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("f");
        let fs = FaultStorage::new(Arc::new(FsStorage));
        fs.delay(Op::Sync, "", Duration::from_millis(50));
        let one = fs.open_file(&path, OpenMode::CreateNew).expect("create");
        let other = fs.open_file(&path, OpenMode::Read).expect("open");
        assert_eq!(fs.live_files("linedb-fault-shared"), 2);
        // Two syncs on two descriptions at once: not shared.
        std::thread::scope(|s| {
            s.spawn(|| one.sync_data().expect("sync"));
            other.sync_data().expect("sync");
        });
        assert_eq!(fs.shared_syncs(), 0);
        // Two on one description at once: shared.
        std::thread::scope(|s| {
            s.spawn(|| one.sync_data().expect("sync"));
            one.sync_data().expect("sync");
        });
        assert_eq!(fs.shared_syncs(), 1);
        drop((one, other));
        assert_eq!(fs.live_files("linedb-fault-shared"), 0);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
