//! A simulated disk that can lose power: an in-memory filesystem that keeps,
//! for every file, what is DURABLE apart from what was only WRITTEN, and for
//! every directory its durable entries apart from its current ones, so that
//! [`SimStorage::crash`] can build the image a machine would find after a
//! power cut at any instant.
//!
//! # What becomes durable, and when
//!
//! | operation | durable at |
//! |---|---|
//! | `File::write_at`, the length a write or `File::allocate` gave | `File::sync_data` of that file |
//! | a store through a [`Map`] | `Map::flush` of a range covering it (that range only) |
//! | the length a mapping was written within | `File::sync_data` (msync writes pages, not the size) |
//! | a create, rename or remove (a `create_dir_all` too) | `Storage::sync_dir` of the parent directory |
//!
//! Choices where POSIX leaves room, all on the strict side:
//!
//! - `sync_data` does NOT make stores through a mapping durable (Linux's
//!   fdatasync would write the dirty pages back too; POSIX asks for msync).
//!   It makes the bytes written with `write_at` durable, sector by sector (a
//!   512-byte sector written both ways is taken whole), and the length.
//! - `Map::flush` makes exactly the range durable (not whole pages), but
//!   not a length the file does not durably have: bytes beyond the durable
//!   length survive only once a `sync_data` made the length durable.
//! - A rename is one directory operation: after a crash it happened whole or
//!   not at all. A rename across directories is two (one per directory).
//! - Directories are entries like files: a new directory, and everything in
//!   it, is gone after a crash unless its parent was synced.
//! - Directories are never removed (the trait has no call for it).
//!
//! # The crash image
//!
//! [`SimStorage::crash`] returns a NEW storage holding the durable state,
//! with what was not durable treated by a [`Fate`]: all lost, all kept (a
//! process crash: the page cache survives), or torn (every unsynced 512-byte
//! sector independently kept, lost or replaced by garbage; every unsynced
//! directory operation independently kept or lost; an unsynced length kept
//! or not), seeded so a failure replays; [`Fate::TornFresh`] tears the same
//! way but puts garbage only in sectors that held nothing durable (sector
//! writes atomic). The old storage is left as it was.
//!
//! # Mappings
//!
//! A file's current bytes live in one heap buffer that is never moved while
//! the file is mapped: [`File::map`] makes the buffer at least the mapping's
//! length (zero-filled past the file's end) and hands out its address, so
//! reads and writes through the file and through the mapping see the same
//! bytes. While a mapping lives, growing the file past the buffer fails
//! (the segment code never does: it maps once at its capacity). A store
//! through a mapping past the file's end (SIGBUS on a real disk) is found
//! when the file next grows over it and recorded in
//! [`SimStorage::violations`].
//!
//! [`SimStorage::set_hook`] calls a function after every operation that
//! changes the disk, with its kind and a running count, so a test can take
//! crash images at every sync (or anywhere else) from inside a run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{with_path, File, LockGuard, Map, OpenMode, Storage};

/// The unit a crash tears writes at.
pub const SECTOR: usize = 512;

/// What a power cut does to what was written but not made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Every unsynced write, length change and directory operation is lost.
    Dropped,
    /// Every one survived (as in a process crash: the page cache is kept).
    Kept,
    /// Each unsynced sector is kept, lost, or garbage; each unsynced
    /// directory operation and length change is kept or lost; seeded.
    Torn,
    /// As [`Fate::Torn`], but a sector that already held durable written
    /// bytes (made durable by a sync or flush, or in the image this storage
    /// came from) is never garbage: it is the old or the new content, as on
    /// a disk whose sector writes are atomic. Garbage only lands in fresh
    /// sectors (never durably written: allocated space, or beyond the
    /// durable length), which checksums must catch.
    TornFresh,
}

/// An operation that changed the simulated disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimOp {
    CreateDir,
    /// A new file (`OpenMode::CreateNew`, or the lock file).
    Create,
    Write,
    Allocate,
    SyncData,
    SyncDir,
    Rename,
    Remove,
    /// `Map::flush` (msync).
    Flush,
}

impl SimOp {
    /// Whether the operation makes something durable.
    pub fn is_sync(self) -> bool {
        matches!(self, SimOp::SyncData | SimOp::SyncDir | SimOp::Flush)
    }
}

/// What [`SimStorage::set_hook`]'s function is told.
#[derive(Clone, Debug)]
pub struct SimEvent {
    pub op: SimOp,
    pub path: PathBuf,
    /// 1-based count of operations so far, this one included.
    pub index: u64,
    /// Syncs ([`SimOp::is_sync`]) so far, this one included if it is one.
    pub sync_index: u64,
}

/// Called after each operation that changed the disk, with no lock of the
/// storage held (it may call [`SimStorage::crash`]).
pub type Hook = Arc<dyn Fn(&SimStorage, &SimEvent) + Send + Sync>;

/// The in-memory disk. Cloning shares it (like `Arc`).
#[derive(Clone)]
pub struct SimStorage {
    fs: Arc<Fs>,
}

struct Fs {
    tree: Mutex<Tree>,
    locks: Mutex<HashSet<PathBuf>>,
    hook: Mutex<Option<Hook>>,
    ops: AtomicU64,
    syncs: AtomicU64,
    next_inode: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl fmt::Debug for SimStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStorage")
            .field("ops", &self.fs.ops.load(Ordering::Relaxed))
            .field("syncs", &self.fs.syncs.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Tree {
    /// Every directory that exists now (by normalized path), `/` always.
    dirs: HashMap<PathBuf, Dir>,
}

#[derive(Default)]
struct Dir {
    cur: BTreeMap<OsString, Node>,
    durable: BTreeMap<OsString, Node>,
    /// Operations since the last sync, in order.
    pending: Vec<DirOp>,
}

#[derive(Clone)]
enum Node {
    Dir,
    File(Arc<Inode>),
}

/// One directory operation: the entries it sets (`None`: removes).
struct DirOp {
    changes: Vec<(OsString, Option<Node>)>,
}

impl Dir {
    fn apply(&mut self, op: DirOp) {
        for (name, node) in &op.changes {
            match node {
                Some(n) => self.cur.insert(name.clone(), n.clone()),
                None => self.cur.remove(name),
            };
        }
        self.pending.push(op);
    }
}

fn apply_changes(map: &mut BTreeMap<OsString, Node>, op: &DirOp) {
    for (name, node) in &op.changes {
        match node {
            Some(n) => map.insert(name.clone(), n.clone()),
            None => map.remove(name),
        };
    }
}

struct Inode {
    id: u64,
    data: Mutex<Data>,
}

struct Data {
    /// The current bytes: `[0, len)` is the file, the rest zeros.
    buf: RawBuf,
    len: usize,
    /// Durable bytes by offset (may reach past `durable_len`, after a
    /// flush of a range the file does not durably have yet).
    durable: Vec<u8>,
    durable_len: usize,
    /// Sectors written through the file since its last sync.
    dirty: BTreeSet<usize>,
    /// Sectors that ever held durable written bytes (not fresh).
    written: BTreeSet<usize>,
    /// Live mappings: while any, `buf` never moves.
    maps: usize,
}

/// A zero-initialized heap buffer addressed only through its raw pointer,
/// so that a [`Map`]'s pointer into it stays valid while the file's other
/// calls read and write it (no `Box` or `&mut` to it is ever alive).
struct RawBuf {
    ptr: NonNull<u8>,
    cap: usize,
}

// SAFETY: RawBuf owns its allocation (like a Box<[u8]>); moving it to or
// sharing it with another thread is as safe as for Box<[u8]>. Its bytes are
// only accessed through `read`/`write` (under the file's lock) and through
// mappings, whose users keep their ranges apart as the Map contract states.
unsafe impl Send for RawBuf {}
// SAFETY: see Send: `&RawBuf` only offers bounds-checked copies.
unsafe impl Sync for RawBuf {}

impl RawBuf {
    fn zeroed(cap: usize) -> RawBuf {
        let b: Box<[u8]> = vec![0u8; cap].into_boxed_slice();
        let raw: *mut [u8] = Box::into_raw(b);
        // A Box's pointer is never null (a dangling, aligned one for cap 0).
        let ptr = NonNull::new(raw.cast::<u8>()).unwrap_or(NonNull::dangling());
        RawBuf { ptr, cap }
    }

    /// Copies `dst.len()` bytes from `at`; panics if out of bounds.
    fn read(&self, at: usize, dst: &mut [u8]) {
        assert!(at.checked_add(dst.len()).is_some_and(|e| e <= self.cap), "sim buffer read out of bounds");
        // SAFETY: `[at, at + len)` lies within the allocation of `cap`
        // bytes (checked above), which lives as long as `self`; `dst` is a
        // Rust slice, so it cannot overlap it (no reference into the buffer
        // is ever made).
        unsafe { ptr::copy_nonoverlapping(self.ptr.as_ptr().add(at), dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `src` in at `at`; panics if out of bounds.
    fn write(&self, at: usize, src: &[u8]) {
        assert!(at.checked_add(src.len()).is_some_and(|e| e <= self.cap), "sim buffer write out of bounds");
        // SAFETY: as in `read`: in bounds, alive, and `src` cannot overlap.
        // Writing through `&self` is sound because the buffer is only ever
        // reached through this raw pointer (never a reference), like memory
        // shared through a mapping.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(at), src.len()) }
    }

    fn to_vec(&self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.read(0, &mut v);
        v
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        let raw = ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.cap);
        // SAFETY: `raw` is exactly what `Box::into_raw` returned in
        // `zeroed`, and it is freed once, here. No mapping outlives the
        // buffer: a SimMap holds the inode (and so this buffer) alive.
        drop(unsafe { Box::from_raw(raw) });
    }
}

impl Data {
    fn new(bytes: &[u8]) -> Data {
        let buf = RawBuf::zeroed(bytes.len());
        buf.write(0, bytes);
        Data {
            buf,
            len: bytes.len(),
            durable: bytes.to_vec(),
            durable_len: bytes.len(),
            dirty: BTreeSet::new(),
            written: bytes.chunks(SECTOR).enumerate().filter(|(_, c)| c.iter().any(|&b| b != 0)).map(|(i, _)| i).collect(),
            maps: 0,
        }
    }

    /// Makes room for `need` bytes in the buffer (moving it: not while mapped).
    fn reserve(&mut self, need: usize) -> io::Result<()> {
        if need <= self.buf.cap {
            return Ok(());
        }
        if self.maps > 0 {
            return Err(io::Error::other("sim: cannot grow a mapped file past its mapping"));
        }
        let cap = need.max(self.buf.cap.saturating_mul(2)).max(4096);
        let buf = RawBuf::zeroed(cap);
        let mut old = vec![0u8; self.buf.cap];
        self.buf.read(0, &mut old);
        buf.write(0, &old);
        self.buf = buf;
        Ok(())
    }

    /// Grows the file to `new_len` (zeros), noting stores beyond the end.
    fn extend(&mut self, new_len: usize, violations: &Mutex<Vec<String>>, path: &Path) -> io::Result<()> {
        if new_len <= self.len {
            return Ok(());
        }
        self.reserve(new_len)?;
        let mut gap = vec![0u8; new_len - self.len];
        self.buf.read(self.len, &mut gap);
        if let Some(i) = gap.iter().position(|&b| b != 0) {
            violations.lock().push(format!(
                "{}: byte {} was stored through a mapping beyond the end of the file ({} bytes): SIGBUS on a real disk",
                path.display(),
                self.len + i,
                self.len
            ));
        }
        self.len = new_len;
        Ok(())
    }

    fn durable_byte_range(&self, from: usize, to: usize) -> Vec<u8> {
        let mut v = vec![0u8; to - from];
        if from < self.durable.len() {
            let end = to.min(self.durable.len());
            v[..end - from].copy_from_slice(&self.durable[from..end]);
        }
        v
    }

    fn set_durable(&mut self, at: usize, bytes: &[u8]) {
        let end = at + bytes.len();
        if self.durable.len() < end {
            self.durable.resize(end, 0);
        }
        self.durable[at..end].copy_from_slice(bytes);
    }

    /// The file as a crash leaves it.
    fn crash(&self, fate: Fate, rng: &mut Rng) -> Vec<u8> {
        let len = match fate {
            Fate::Dropped => self.durable_len,
            Fate::Kept => self.len,
            Fate::Torn | Fate::TornFresh if self.len != self.durable_len && rng.below(2) == 0 => self.len,
            Fate::Torn | Fate::TornFresh => self.durable_len,
        };
        let mut out = vec![0u8; len];
        let mut at = 0;
        while at < len {
            let end = (at + SECTOR).min(len);
            let old = self.durable_byte_range(at, end);
            let mut new = vec![0u8; end - at];
            if at < self.len {
                let e = end.min(self.len);
                self.buf.read(at, &mut new[..e - at]);
            }
            let unsynced = self.dirty.contains(&(at / SECTOR)) || old != new;
            let pick = if !unsynced {
                new
            } else {
                match fate {
                    Fate::Dropped => old,
                    Fate::Kept => new,
                    Fate::Torn | Fate::TornFresh => {
                        let garbage_ok = fate == Fate::Torn || !self.written.contains(&(at / SECTOR));
                        match rng.below(8) {
                            0..=2 => old,
                            7 if garbage_ok => (0..end - at).map(|_| rng.next().to_le_bytes()[0]).collect(),
                            _ => new,
                        }
                    }
                }
            };
            out[at..end].copy_from_slice(&pick);
            at = end;
        }
        out
    }
}

/// splitmix64: advances `state` and returns the next number of its
/// sequence. Seeds the simulated disk's fates, and the test harnesses
/// derive their workloads from seeds with it, so that a seed names the same
/// run everywhere.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64*: small, seeded, good enough to pick fates.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, never zero.
        let mut s = seed;
        Rng(splitmix64(&mut s) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `path` as an absolute path without `.` or `..` (relative paths are
/// taken from `/`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The parent directory and the name of a normalized path; `None` for `/`.
fn split(path: &Path) -> Option<(PathBuf, OsString)> {
    Some((path.parent()?.to_path_buf(), path.file_name()?.to_os_string()))
}

fn errno(code: i32, what: &str, path: &Path) -> io::Error {
    with_path(io::Error::from_raw_os_error(code), what, path)
}

impl Default for SimStorage {
    fn default() -> Self {
        SimStorage::new()
    }
}

impl SimStorage {
    /// An empty disk: just `/`, durable.
    pub fn new() -> SimStorage {
        let mut tree = Tree::default();
        tree.dirs.insert(PathBuf::from("/"), Dir::default());
        SimStorage::from_tree(tree)
    }

    fn from_tree(tree: Tree) -> SimStorage {
        SimStorage {
            fs: Arc::new(Fs {
                tree: Mutex::new(tree),
                locks: Mutex::new(HashSet::new()),
                hook: Mutex::new(None),
                ops: AtomicU64::new(0),
                syncs: AtomicU64::new(0),
                next_inode: AtomicU64::new(1),
                violations: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Calls `hook` after every operation that changes the disk (`None`
    /// removes it).
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.fs.hook.lock() = hook;
    }

    /// Operations that changed the disk so far.
    pub fn op_count(&self) -> u64 {
        self.fs.ops.load(Ordering::SeqCst)
    }

    /// Syncs (`sync_data`, `sync_dir`, `Map::flush`) so far.
    pub fn sync_count(&self) -> u64 {
        self.fs.syncs.load(Ordering::SeqCst)
    }

    /// Things a real disk would not have allowed (stores through a mapping
    /// beyond the end of the file).
    pub fn violations(&self) -> Vec<String> {
        self.fs.violations.lock().clone()
    }

    /// The current (written, not necessarily durable) bytes of a file.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let inode = self.lookup_file(&normalize(path)).ok()?;
        let d = inode.data.lock();
        Some(d.buf.to_vec(d.len))
    }

    /// The bytes of a file a crash with [`Fate::Dropped`] would leave (and
    /// `None` if it would leave no file there).
    pub fn durable_contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.crash(Fate::Dropped, 0).contents(path)
    }

    /// The disk as a power cut now would leave it: a new storage, with no
    /// lock held and no hook, whose every byte and entry is durable. Stores
    /// through a mapping must not run while this copies the files.
    pub fn crash(&self, fate: Fate, seed: u64) -> SimStorage {
        let tree = self.fs.tree.lock();
        let mut rng = Rng::new(seed);
        let mut out = Tree::default();
        let mut inodes: HashMap<u64, Arc<Inode>> = HashMap::new();
        let next = AtomicU64::new(1);
        let mut stack = vec![PathBuf::from("/")];
        while let Some(path) = stack.pop() {
            let Some(dir) = tree.dirs.get(&path) else { continue };
            let mut entries = dir.durable.clone();
            for op in &dir.pending {
                let keep = match fate {
                    Fate::Dropped => false,
                    Fate::Kept => true,
                    Fate::Torn | Fate::TornFresh => rng.below(2) == 0,
                };
                if keep {
                    apply_changes(&mut entries, op);
                }
            }
            let mut new_entries = BTreeMap::new();
            for (name, node) in entries {
                let node = match node {
                    Node::Dir => {
                        stack.push(path.join(&name));
                        Node::Dir
                    }
                    Node::File(inode) => {
                        let copy = inodes.entry(inode.id).or_insert_with(|| {
                            let old = inode.data.lock();
                            let bytes = old.crash(fate, &mut rng);
                            let mut data = Data::new(&bytes);
                            let sectors = bytes.len().div_ceil(SECTOR);
                            data.written.extend(old.written.range(..sectors));
                            drop(old);
                            Arc::new(Inode { id: next.fetch_add(1, Ordering::Relaxed), data: Mutex::new(data) })
                        });
                        Node::File(Arc::clone(copy))
                    }
                };
                new_entries.insert(name, node);
            }
            out.dirs.insert(path, Dir { cur: new_entries.clone(), durable: new_entries, pending: Vec::new() });
        }
        drop(tree);
        let s = SimStorage::from_tree(out);
        s.fs.next_inode.store(next.load(Ordering::Relaxed), Ordering::Relaxed);
        s
    }

    /// Counts an operation and calls the hook.
    fn event(&self, op: SimOp, path: &Path) {
        event(&self.fs, self, op, path);
    }

    fn lookup_file(&self, path: &Path) -> io::Result<Arc<Inode>> {
        let tree = self.fs.tree.lock();
        let (parent, name) = split(path).ok_or_else(|| errno(libc::EISDIR, "open", path))?;
        let dir = tree.dirs.get(&parent).ok_or_else(|| errno(libc::ENOENT, "open", path))?;
        match dir.cur.get(&name) {
            Some(Node::File(i)) => Ok(Arc::clone(i)),
            Some(Node::Dir) => Err(errno(libc::EISDIR, "open", path)),
            None => Err(errno(libc::ENOENT, "open", path)),
        }
    }

    fn new_inode(&self) -> Arc<Inode> {
        Arc::new(Inode { id: self.fs.next_inode.fetch_add(1, Ordering::Relaxed), data: Mutex::new(Data::new(&[])) })
    }
}

fn event(fs: &Arc<Fs>, storage: &SimStorage, op: SimOp, path: &Path) {
    let index = fs.ops.fetch_add(1, Ordering::SeqCst) + 1;
    let sync_index = if op.is_sync() {
        fs.syncs.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        fs.syncs.load(Ordering::SeqCst)
    };
    let hook = fs.hook.lock().clone();
    if let Some(h) = hook {
        h(storage, &SimEvent { op, path: path.to_path_buf(), index, sync_index });
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut made = Vec::new();
        {
            let mut tree = self.fs.tree.lock();
            let mut missing = Vec::new();
            let mut p = path.as_path();
            loop {
                if tree.dirs.contains_key(p) {
                    break;
                }
                let Some((parent, name)) = split(p) else { break };
                if let Some(d) = tree.dirs.get(&parent) {
                    if let Some(Node::File(_)) = d.cur.get(&name) {
                        return Err(errno(libc::ENOTDIR, "create directory", &path));
                    }
                }
                missing.push(p.to_path_buf());
                p = match p.parent() {
                    Some(pp) => pp,
                    None => break,
                };
            }
            for dir in missing.into_iter().rev() {
                let Some((parent, name)) = split(&dir) else { continue };
                let Some(pd) = tree.dirs.get_mut(&parent) else {
                    return Err(errno(libc::ENOENT, "create directory", &path));
                };
                pd.apply(DirOp { changes: vec![(name, Some(Node::Dir))] });
                tree.dirs.insert(dir.clone(), Dir::default());
                made.push(dir);
            }
        }
        for d in made {
            self.event(SimOp::CreateDir, &d);
        }
        Ok(())
    }

    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>> {
        let path = normalize(path);
        let inode = match mode {
            OpenMode::Read | OpenMode::ReadWrite => self.lookup_file(&path)?,
            OpenMode::CreateNew => {
                let inode = {
                    let mut tree = self.fs.tree.lock();
                    let (parent, name) = split(&path).ok_or_else(|| errno(libc::EISDIR, "open", &path))?;
                    let dir = tree.dirs.get_mut(&parent).ok_or_else(|| errno(libc::ENOENT, "open", &path))?;
                    if dir.cur.contains_key(&name) {
                        return Err(errno(libc::EEXIST, "open", &path));
                    }
                    let inode = self.new_inode();
                    dir.apply(DirOp { changes: vec![(name, Some(Node::File(Arc::clone(&inode))))] });
                    inode
                };
                self.event(SimOp::Create, &path);
                inode
            }
        };
        Ok(Box::new(SimFile { inode, path, writable: mode != OpenMode::Read, storage: self.clone() }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (normalize(from), normalize(to));
        {
            let mut tree = self.fs.tree.lock();
            let (fp, fname) = split(&from).ok_or_else(|| errno(libc::EBUSY, "rename", &from))?;
            let (tp, tname) = split(&to).ok_or_else(|| errno(libc::EBUSY, "rename", &from))?;
            if !tree.dirs.contains_key(&tp) {
                return Err(errno(libc::ENOENT, "rename", &from));
            }
            let node = match tree.dirs.get(&fp).and_then(|d| d.cur.get(&fname)) {
                Some(Node::File(i)) => Node::File(Arc::clone(i)),
                Some(Node::Dir) => return Err(errno(libc::EISDIR, "rename (directories are not simulated)", &from)),
                None => return Err(errno(libc::ENOENT, "rename", &from)),
            };
            if let Some(Node::Dir) = tree.dirs.get(&tp).and_then(|d| d.cur.get(&tname)) {
                return Err(errno(libc::EISDIR, "rename", &from));
            }
            if from == to {
                return Ok(());
            }
            if fp == tp {
                if let Some(d) = tree.dirs.get_mut(&fp) {
                    d.apply(DirOp { changes: vec![(fname, None), (tname, Some(node))] });
                }
            } else {
                if let Some(d) = tree.dirs.get_mut(&tp) {
                    d.apply(DirOp { changes: vec![(tname, Some(node))] });
                }
                if let Some(d) = tree.dirs.get_mut(&fp) {
                    d.apply(DirOp { changes: vec![(fname, None)] });
                }
            }
        }
        self.event(SimOp::Rename, &from);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        {
            let mut tree = self.fs.tree.lock();
            let (parent, name) = split(&path).ok_or_else(|| errno(libc::EISDIR, "remove", &path))?;
            let dir = tree.dirs.get_mut(&parent).ok_or_else(|| errno(libc::ENOENT, "remove", &path))?;
            match dir.cur.get(&name) {
                Some(Node::File(_)) => dir.apply(DirOp { changes: vec![(name, None)] }),
                Some(Node::Dir) => return Err(errno(libc::EISDIR, "remove", &path)),
                None => return Err(errno(libc::ENOENT, "remove", &path)),
            }
        }
        self.event(SimOp::Remove, &path);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        {
            let mut tree = self.fs.tree.lock();
            let dir = tree.dirs.get_mut(&path).ok_or_else(|| errno(libc::ENOENT, "sync directory", &path))?;
            dir.durable = dir.cur.clone();
            dir.pending.clear();
        }
        self.event(SimOp::SyncDir, &path);
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let path = normalize(path);
        let tree = self.fs.tree.lock();
        match tree.dirs.get(&path) {
            Some(d) => Ok(d.cur.keys().cloned().collect()),
            None => {
                let is_file = split(&path)
                    .and_then(|(p, n)| tree.dirs.get(&p).map(|d| matches!(d.cur.get(&n), Some(Node::File(_)))))
                    .unwrap_or(false);
                Err(errno(if is_file { libc::ENOTDIR } else { libc::ENOENT }, "list", &path))
            }
        }
    }

    fn lock_file(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        let path = normalize(path);
        match self.lookup_file(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.open_file(&path, OpenMode::CreateNew) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
        if !self.fs.locks.lock().insert(path.clone()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SimLock { fs: Arc::clone(&self.fs), path })))
    }
}

struct SimLock {
    fs: Arc<Fs>,
    path: PathBuf,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLock").field("path", &self.path).finish()
    }
}

impl LockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.locks.lock().remove(&self.path);
    }
}

struct SimFile {
    inode: Arc<Inode>,
    path: PathBuf,
    writable: bool,
    storage: SimStorage,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile").field("path", &self.path).field("inode", &self.inode.id).finish()
    }
}

impl SimFile {
    fn check_writable(&self, what: &str) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(errno(libc::EBADF, what, &self.path))
        }
    }
}

fn to_usize(n: u64, what: &str, path: &Path) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| errno(libc::EFBIG, what, path))
}

impl File for SimFile {
    fn length(&self) -> io::Result<u64> {
        Ok(self.inode.data.lock().len as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let d = self.inode.data.lock();
        let at = to_usize(offset, "read", &self.path)?;
        match at.checked_add(buf.len()) {
            Some(end) if end <= d.len => {
                d.buf.read(at, buf);
                Ok(())
            }
            _ => Err(with_path(io::ErrorKind::UnexpectedEof.into(), "read", &self.path)),
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable("write")?;
        {
            let mut d = self.inode.data.lock();
            let at = to_usize(offset, "write", &self.path)?;
            let end = at.checked_add(buf.len()).ok_or_else(|| errno(libc::EFBIG, "write", &self.path))?;
            d.extend(end, &self.storage.fs.violations, &self.path)?;
            d.buf.write(at, buf);
            if !buf.is_empty() {
                for s in at / SECTOR..=(end - 1) / SECTOR {
                    d.dirty.insert(s);
                }
            }
        }
        self.storage.event(SimOp::Write, &self.path);
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.check_writable("allocate")?;
        {
            let mut d = self.inode.data.lock();
            let len = to_usize(len, "allocate", &self.path)?;
            if len <= d.len {
                return Ok(());
            }
            d.extend(len, &self.storage.fs.violations, &self.path)?;
        }
        self.storage.event(SimOp::Allocate, &self.path);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        {
            let mut d = self.inode.data.lock();
            let dirty = std::mem::take(&mut d.dirty);
            for s in dirty {
                let from = s * SECTOR;
                if from >= d.len {
                    continue;
                }
                let to = (from + SECTOR).min(d.len);
                let mut bytes = vec![0u8; to - from];
                d.buf.read(from, &mut bytes);
                d.set_durable(from, &bytes);
                d.written.insert(s);
            }
            d.durable_len = d.len;
        }
        self.storage.event(SimOp::SyncData, &self.path);
        Ok(())
    }

    fn mmap(&self, len: usize) -> io::Result<Box<dyn Map>> {
        self.check_writable("map")?;
        let mut d = self.inode.data.lock();
        if len > d.buf.cap {
            let cap = len.max(d.len);
            d.reserve(cap).map_err(|e| with_path(e, "map", &self.path))?;
        }
        d.maps += 1;
        let ptr = d.buf.ptr;
        drop(d);
        Ok(Box::new(SimMap { inode: Arc::clone(&self.inode), ptr, len, path: self.path.clone(), storage: self.storage.clone() }))
    }
}

struct SimMap {
    inode: Arc<Inode>,
    /// The inode's buffer: it does not move while `maps > 0`.
    ptr: NonNull<u8>,
    len: usize,
    path: PathBuf,
    storage: SimStorage,
}

// SAFETY: the pointer is into the inode's heap buffer, which this map keeps
// alive (it holds the inode) and which does not move while the map exists
// (`Data::reserve` refuses while `maps > 0`). What is done through the
// pointer is the user's, under the Map contract, as for a real mapping.
unsafe impl Send for SimMap {}
// SAFETY: see Send; the map's own methods take the inode's lock.
unsafe impl Sync for SimMap {}

impl fmt::Debug for SimMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimMap").field("path", &self.path).field("len", &self.len).finish()
    }
}

impl Map for SimMap {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn msync(&self, offset: usize, len: usize) -> io::Result<()> {
        let end = offset.checked_add(len).filter(|&e| e <= self.len).ok_or_else(|| errno(libc::EINVAL, "msync", &self.path))?;
        {
            let mut d = self.inode.data.lock();
            // Bytes beyond the file are not the file's.
            let end = end.min(d.len);
            if offset < end {
                let mut bytes = vec![0u8; end - offset];
                d.buf.read(offset, &mut bytes);
                d.set_durable(offset, &bytes);
                for s in offset / SECTOR..=(end - 1) / SECTOR {
                    d.written.insert(s);
                }
                let first = offset.div_ceil(SECTOR);
                let last = end / SECTOR; // sectors [first, last) are wholly inside
                let whole: Vec<usize> = d.dirty.range(first..last.max(first)).copied().collect();
                for s in whole {
                    d.dirty.remove(&s);
                }
            }
        }
        self.storage.event(SimOp::Flush, &self.path);
        Ok(())
    }
}

impl Drop for SimMap {
    fn drop(&mut self) {
        let mut d = self.inode.data.lock();
        d.maps = d.maps.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn disk() -> SimStorage {
        let s = SimStorage::new();
        s.create_dir_all(&p("/d")).unwrap();
        s.sync_dir(&p("/")).unwrap();
        s
    }

    #[test]
    fn written_bytes_survive_only_once_synced() {
        let s = disk();
        let f = s.open_file(&p("/d/f"), OpenMode::CreateNew).unwrap();
        f.write_at(b"hello", 0).unwrap();
        s.sync_dir(&p("/d")).unwrap();
        assert_eq!(s.crash(Fate::Dropped, 0).contents(&p("/d/f")).unwrap(), b"");
        assert_eq!(s.crash(Fate::Kept, 0).contents(&p("/d/f")).unwrap(), b"hello");
        f.sync_data().unwrap();
        f.write_at(b"J", 0).unwrap();
        f.write_at(b"!", 5).unwrap();
        assert_eq!(s.crash(Fate::Dropped, 0).contents(&p("/d/f")).unwrap(), b"hello");
        assert_eq!(s.crash(Fate::Kept, 0).contents(&p("/d/f")).unwrap(), b"Jello!");
        assert_eq!(s.contents(&p("/d/f")).unwrap(), b"Jello!");
    }

    #[test]
    fn entries_survive_only_once_the_directory_is_synced() {
        let s = disk();
        let f = s.open_file(&p("/d/a.tmp"), OpenMode::CreateNew).unwrap();
        f.write_at(b"x", 0).unwrap();
        f.sync_data().unwrap();
        s.rename(&p("/d/a.tmp"), &p("/d/a")).unwrap();
        let lost = s.crash(Fate::Dropped, 0);
        assert!(lost.list_dir(&p("/d")).unwrap().is_empty());
        let kept = s.crash(Fate::Kept, 0);
        assert_eq!(kept.list_dir(&p("/d")).unwrap(), vec![OsString::from("a")]);
        assert_eq!(kept.contents(&p("/d/a")).unwrap(), b"x");
        s.sync_dir(&p("/d")).unwrap();
        s.remove_file(&p("/d/a")).unwrap();
        assert_eq!(s.crash(Fate::Dropped, 0).contents(&p("/d/a")).unwrap(), b"x");
        assert!(s.crash(Fate::Kept, 0).contents(&p("/d/a")).is_none());
        // An unsynced new directory takes its contents with it.
        s.create_dir_all(&p("/e/f")).unwrap();
        let g = s.open_file(&p("/e/f/g"), OpenMode::CreateNew).unwrap();
        g.sync_data().unwrap();
        s.sync_dir(&p("/e/f")).unwrap();
        assert_eq!(s.crash(Fate::Dropped, 0).list_dir(&p("/e")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(s.crash(Fate::Kept, 0).contents(&p("/e/f/g")).is_some());
    }

    #[test]
    fn a_torn_rename_is_whole_or_absent() {
        for seed in 0..64 {
            let s = disk();
            for (name, body) in [("/d/x", b"old"), ("/d/y", b"new")] {
                let f = s.open_file(&p(name), OpenMode::CreateNew).unwrap();
                f.write_at(body, 0).unwrap();
                f.sync_data().unwrap();
            }
            s.sync_dir(&p("/d")).unwrap();
            s.rename(&p("/d/y"), &p("/d/x")).unwrap();
            let c = s.crash(Fate::Torn, seed);
            let names = c.list_dir(&p("/d")).unwrap();
            let x = c.contents(&p("/d/x")).unwrap();
            if names.len() == 2 {
                assert_eq!(x, b"old");
            } else {
                assert_eq!((names.len(), x.as_slice()), (1, &b"new"[..]));
            }
        }
    }

    #[test]
    fn torn_sectors_are_independent_and_seeded() {
        let s = disk();
        let f = s.open_file(&p("/d/f"), OpenMode::CreateNew).unwrap();
        f.write_at(&vec![1u8; 8 * SECTOR], 0).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(&p("/d")).unwrap();
        f.write_at(&vec![2u8; 8 * SECTOR], 0).unwrap();
        let mut kinds = BTreeSet::new();
        for seed in 0..16 {
            let a = s.crash(Fate::Torn, seed).contents(&p("/d/f")).unwrap();
            assert_eq!(a, s.crash(Fate::Torn, seed).contents(&p("/d/f")).unwrap(), "same seed, same image");
            assert_eq!(a.len(), 8 * SECTOR);
            for sector in a.chunks(SECTOR) {
                kinds.insert(match sector {
                    x if x.iter().all(|&b| b == 1) => "old",
                    x if x.iter().all(|&b| b == 2) => "new",
                    _ => "garbage",
                });
            }
        }
        assert_eq!(kinds.len(), 3, "{kinds:?}");
    }

    #[test]
    fn torn_fresh_never_garbles_a_sector_that_held_durable_bytes() {
        let s = disk();
        let f = s.open_file(&p("/d/f"), OpenMode::CreateNew).unwrap();
        f.write_at(&[1u8; 100], 0).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(&p("/d")).unwrap();
        f.write_at(&vec![2u8; 4 * SECTOR], 100).unwrap();
        let mut fresh_garbage = false;
        for seed in 0..64 {
            let a = s.crash(Fate::TornFresh, seed).contents(&p("/d/f")).unwrap();
            let first = &a[..SECTOR.min(a.len())];
            assert!(first[..100].iter().all(|&b| b == 1), "seed {seed}: durable bytes garbled");
            assert!(first[100..].iter().all(|&b| b == 0) || first[100..].iter().all(|&b| b == 2));
            fresh_garbage |= a.chunks(SECTOR).skip(1).any(|c| c.iter().any(|&b| b != 0 && b != 2));
        }
        assert!(fresh_garbage, "garbage still lands in fresh sectors");
    }

    #[test]
    fn torn_fresh_keeps_a_synced_sector_atomic_even_where_its_bytes_are_zero() {
        let s = disk();
        let f = s.open_file(&p("/d/f"), OpenMode::CreateNew).unwrap();
        f.allocate(4 * SECTOR as u64).unwrap();
        f.write_at(&[0u8; 8], 100).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(&p("/d")).unwrap();
        f.write_at(&[5u8; 8], 108).unwrap();
        for seed in 0..64 {
            let a = s.crash(Fate::TornFresh, seed).contents(&p("/d/f")).unwrap();
            assert!(a[..SECTOR].iter().all(|&b| b == 0 || b == 5), "seed {seed}: a synced sector garbled");
        }
    }

    #[test]
    fn a_mapping_shares_the_file_bytes_and_is_durable_only_when_flushed() {
        let s = disk();
        let f = s.open_file(&p("/d/seg"), OpenMode::CreateNew).unwrap();
        f.write_at(b"head", 0).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(&p("/d")).unwrap();
        let m = f.mmap(1 << 16).unwrap();
        let ptr = m.as_ptr();
        f.allocate(2048).unwrap();
        // SAFETY: [0, 2048) is within the mapping and the file; nothing
        // else touches those bytes in this test.
        let seen = unsafe { std::slice::from_raw_parts(ptr, 4) }.to_vec();
        assert_eq!(seen, b"head");
        // SAFETY: as above.
        unsafe { ptr::copy_nonoverlapping(b"BODY".as_ptr(), ptr.add(600), 4) };
        let mut r = [0u8; 4];
        f.read_at(&mut r, 600).unwrap();
        assert_eq!(&r, b"BODY");
        f.write_at(b"zz", 602).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { std::slice::from_raw_parts(ptr.add(600), 4) }, b"BOzz");
        // SAFETY: as above.
        unsafe { ptr::copy_nonoverlapping(b"MAPD".as_ptr(), ptr.add(1500), 4) };
        assert_eq!(m.as_ptr(), ptr, "the address never changes");
        // sync_data makes the length and the written sector durable (whole:
        // the mapped store in it too), not the store alone in its sector.
        f.sync_data().unwrap();
        let img = s.crash(Fate::Dropped, 0).contents(&p("/d/seg")).unwrap();
        assert_eq!((img.len(), &img[600..604], &img[1500..1504]), (2048, &b"BOzz"[..], &b"\0\0\0\0"[..]));
        m.msync(1500, 4).unwrap();
        let img = s.crash(Fate::Dropped, 0).contents(&p("/d/seg")).unwrap();
        assert_eq!(&img[1500..1504], b"MAPD");
        // Growing past the mapping would move the buffer: refused.
        assert!(f.allocate(1 << 17).is_err());
        drop(m);
        f.allocate(1 << 17).unwrap();
    }

    #[test]
    fn a_flush_without_a_durable_length_keeps_nothing_past_it() {
        let s = disk();
        let f = s.open_file(&p("/d/seg"), OpenMode::CreateNew).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(&p("/d")).unwrap();
        let m = f.mmap(4096).unwrap();
        f.allocate(100).unwrap();
        // SAFETY: within the mapping and the file.
        unsafe { *m.as_ptr() = 7 };
        m.msync(0, 100).unwrap();
        assert_eq!(s.crash(Fate::Dropped, 0).contents(&p("/d/seg")).unwrap(), b"");
        f.sync_data().unwrap();
        assert_eq!(s.crash(Fate::Dropped, 0).contents(&p("/d/seg")).unwrap()[0], 7);
    }

    #[test]
    fn a_store_past_the_end_is_a_violation() {
        let s = disk();
        let f = s.open_file(&p("/d/seg"), OpenMode::CreateNew).unwrap();
        let m = f.mmap(4096).unwrap();
        // SAFETY: within the mapping's buffer (past the file's end, which
        // is what this test is about: the sim notices instead of SIGBUS).
        unsafe { *m.as_ptr().add(10) = 1 };
        f.allocate(100).unwrap();
        assert_eq!(s.violations().len(), 1, "{:?}", s.violations());
    }

    #[test]
    fn locks_names_and_errors() {
        let s = disk();
        let g = s.lock_file(&p("/d/LOCK")).unwrap().unwrap();
        assert!(s.lock_file(&p("/d/LOCK")).unwrap().is_none());
        drop(g);
        assert!(s.lock_file(&p("/d/LOCK")).unwrap().is_some());
        assert_eq!(s.open_file(&p("/d/LOCK"), OpenMode::CreateNew).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(s.open_file(&p("/d/no"), OpenMode::Read).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(s.remove_file(&p("/d/no")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(s.list_dir(&p("/nope")).unwrap_err().kind(), io::ErrorKind::NotFound);
        let r = s.open_file(&p("/d/LOCK"), OpenMode::Read).unwrap();
        assert!(r.write_at(b"x", 0).is_err());
        let mut b = [0u8; 1];
        assert_eq!(r.read_at(&mut b, 0).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        // A crash image holds no locks.
        let _g = s.lock_file(&p("/d/LOCK")).unwrap().unwrap();
        assert!(s.crash(Fate::Kept, 0).lock_file(&p("/d/LOCK")).unwrap().is_some());
    }

    #[test]
    fn the_hook_sees_every_change_and_counts_syncs() {
        let s = disk();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        s.set_hook(Some(Arc::new(move |st: &SimStorage, e: &SimEvent| {
            // The hook may take an image.
            let _ = st.crash(Fate::Torn, e.index);
            seen2.lock().push((e.op, e.sync_index));
        })));
        let f = s.open_file(&p("/d/f"), OpenMode::CreateNew).unwrap();
        f.write_at(b"x", 0).unwrap();
        f.sync_data().unwrap();
        s.sync_dir(&p("/d")).unwrap();
        assert_eq!(
            *seen.lock(),
            [(SimOp::Create, 1), (SimOp::Write, 1), (SimOp::SyncData, 2), (SimOp::SyncDir, 3)]
        );
    }
}
