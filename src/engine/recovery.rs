//! Opening a store: take the lock, read the catalog, open the segments it
//! lists (verifying what lies past their checkpointed length and cutting a
//! torn tail), then replay the WAL records after the catalog's sequence.
//! Replay is idempotent: a block is appended only to a partition whose
//! segments do not hold that sequence yet.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::catalog;
use crate::partition::Day;
use crate::error::OpenError;
use crate::segment::{Expect, Segment, SegmentCache};
use super::files::SegmentFiles;
use crate::storage::{is_transient, Storage};
use crate::wal::{Wal, WalOptions};

use super::record::{self, Record};
use super::state::{partition_dir, segment_number, Database, Partition, State, Table};
use super::apply::{apply_batch, ApplyError, BatchApply, PartKey, Placer};
use super::placement::create_segment;
use super::{Inner, Options};

pub const LOCK_FILE: &str = "LOCK";
pub const WAL_DIR: &str = "wal";

/// The longest path a store creates below its directory, with the `/`
/// before it: `/data/<db id>/<table id>/<day>/<segment>.seg.tmp` with the
/// widest ids and days, rounded up.
const LONGEST_INNER_PATH: usize = 64;

/// The longest path the operating system takes (Linux's `PATH_MAX`, the
/// terminating NUL included).
const PATH_MAX: usize = 4096;

/// Refuses, before anything is created, a `dir` that no store can live in:
/// empty (it would mean the working directory), or so long that the files
/// the store makes under it would pass `PATH_MAX`.
fn check_dir(dir: &Path) -> Result<(), OpenError> {
    let len = dir.as_os_str().len();
    if len == 0 {
        return Err(OpenError::InvalidArgument("dir is empty: give the store's directory".into()));
    }
    if len + LONGEST_INNER_PATH >= PATH_MAX {
        return Err(OpenError::InvalidArgument(format!(
            "dir is {len} bytes long; the files of a store under it need at most {} bytes",
            PATH_MAX - 1 - LONGEST_INNER_PATH
        )));
    }
    Ok(())
}

pub fn open(dir: &Path, opts: Options) -> Result<Inner, OpenError> {
    if opts.segment_bytes < 4096 || opts.wal_file_bytes < 4096 {
        return Err(OpenError::InvalidArgument("segment and WAL file sizes must be at least 4096 bytes".into()));
    }
    check_dir(dir)?;
    let storage = Arc::clone(&opts.storage);
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = storage.list_dir(parent) {
            return Err(OpenError::Io(e));
        }
    }
    // The parent lists (above), so ENOTDIR here means dir itself is a file,
    // not a path under one.
    if let Err(e) = storage.list_dir(dir) {
        if crate::storage::raw_errno(&e) == Some(libc::ENOTDIR) {
            return Err(OpenError::InvalidArgument(format!("dir exists and is not a directory: {}", dir.display())));
        }
    }
    // The store directory and `wal/` must be durable entries before the
    // first record is acknowledged: a record in a file whose directory
    // entry a power cut takes away is lost with it.
    // The parent is synced at every open, not only when the directory is
    // new: an earlier open may have created it and failed before its sync.
    storage.create_dir_all(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        storage.sync_dir(parent)?;
    }
    let lock = storage.lock_file(&dir.join(LOCK_FILE))?.ok_or_else(|| OpenError::Locked { dir: dir.to_owned() })?;

    let cat = match catalog::load(storage.as_ref(), dir)? {
        Some(cat) => cat,
        None => create_catalog(storage.as_ref(), dir)?,
    };
    let files = SegmentFiles {
        storage: Arc::clone(&storage),
        cache: SegmentCache::new(opts.max_open_segments),
        root: dir.to_owned(),
        segment_bytes: opts.segment_bytes,
        store_id: cat.store_id,
    };
    let mut st = State {
        store_id: cat.store_id,
        next_db_id: cat.next_db_id.max(1),
        applied_seq: cat.seq,
        tokens: cat.tokens.clone(),
        ..State::default()
    };
    // Segments whose torn tail open found: cut once nothing refuses.
    let mut torn: Vec<Arc<Segment>> = Vec::new();
    // Files of the store's own that it no longer needs (segments sealed
    // away, sealed files never switched in, temporaries): removed once
    // nothing refuses.
    let mut leftovers: Vec<std::path::PathBuf> = Vec::new();
    for d in &cat.databases {
        let mut db = Database::new(d.id, d.name.clone());
        db.next_table_id = d.next_table_id.max(1);
        db.schema.apply(&d.schema);
        for (id, name) in &d.tables {
            db.tables.insert(name.clone(), Table { id: *id, partitions: BTreeMap::new() });
        }
        // Each table's partitions are collected first and its map built
        // from them at once: a map built that way has full nodes, a third
        // of the memory of one grown a day at a time.
        let mut parts: HashMap<u32, Vec<(Day, Partition)>> = HashMap::new();
        for p in &d.partitions {
            if !db.tables.values().any(|t| t.id == p.table_id) {
                return Err(OpenError::corrupt(
                    dir.join(catalog::CATALOG_FILE),
                    0,
                    format!("partition of unknown table id {}", p.table_id),
                ));
            }
            let part = open_partition(&files, (d.id, p.table_id, p.day), p, cat.seq, &mut leftovers)?;
            torn.extend(torn_tails(&part));
            parts.entry(p.table_id).or_default().push((p.day, part));
        }
        for t in db.tables.values_mut() {
            if let Some(list) = parts.remove(&t.id) {
                t.partitions = list.into_iter().collect();
            }
        }
        st.dbs.insert(d.name.clone(), db);
    }

    // Partitions on disk that the catalog does not list: made by batches
    // after the checkpoint (the log must account for them) or not this
    // store's. Opened now, so that the sequences they hold count below;
    // replay takes them as it meets their batches.
    let mut unlisted = find_unlisted(&files, &st, &mut leftovers)?;
    torn.extend(unlisted.values().flat_map(torn_tails));
    // The highest sequence the data holds: the log must reach it.
    let (held_seq, held_in) = highest_held(&st, &unlisted);
    let wal_dir = dir.join(WAL_DIR);
    if storage.list_dir(&wal_dir).is_err() {
        // No log at all: fine while the catalog covers all the data holds
        // (a store whose creation stopped before its log's directory was
        // made); else refused before the directory is made again.
        if held_seq > cat.seq {
            return Err(log_lost(dir, held_seq, held_in, cat.seq));
        }
        storage.create_dir_all(&wal_dir)?;
        storage.sync_dir(dir)?;
    }
    let wal_opts = WalOptions {
        file_size: opts.wal_file_bytes,
        // One trimmed file kept to recycle (issue 14: a WAL shrinks after a
        // checkpoint to what is not yet in segments, and one spare).
        spares: 1,
        store_tag: crate::wal::store_tag(&cat.store_id),
    };
    let reach = || crate::wal::MustReach { seq: held_seq, held_in: held_in.as_deref() };
    // Two phases: the log is read once to decide every refusal it can
    // cause (records that do not decode, a log that ends before the data,
    // data files no record accounts for) while nothing has changed, then
    // opened and replayed. A refusal found only in the second phase
    // (applying a record fails) may leave replayed blocks, which are the
    // log's own records.
    let mut touched: HashSet<PartKey> = HashSet::new();
    Wal::check_reaching(storage.as_ref(), &wal_dir, wal_opts, cat.seq, reach(), &mut |seq, payload| {
        match record::decode(payload) {
            Some(Record::Batch { db_id, blocks, .. }) => {
                touched.extend(blocks.iter().map(|b| (db_id, b.table_id, b.day)));
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(OpenError::corrupt(&wal_dir, 0, format!("record {seq}: does not decode"))),
        }
    })?;
    let orphan = |unlisted: &BTreeMap<PartKey, Partition>, touched: &HashSet<PartKey>| {
        // (A segment without blocks is a batch's reservation that never
        // became durable: segment files are made before the log is written.)
        let mut data = unlisted.iter().filter(|(k, _)| !touched.contains(*k)).flat_map(|(_, p)| p.segments.iter());
        data.find(|s| s.max_seq() > 0).map(|seg| {
            OpenError::corrupt(seg.path(), 0, "a data file of no partition the catalog or the write-ahead log knows")
        })
    };
    if let Some(e) = orphan(&unlisted, &touched) {
        return Err(e);
    }
    // Every refusal but a record that cannot be applied is decided: the
    // torn tails found above are cut now, before replay appends (a block
    // appended behind a torn tail left in place, in a segment that then
    // gets a later one, would make that tail damage at the next open).
    for seg in &torn {
        seg.cut_torn_tail()?;
    }
    remove_leftovers(storage.as_ref(), &leftovers)?;
    let mut wal = Wal::open_reaching(
        Arc::clone(&storage),
        &wal_dir,
        wal_opts,
        cat.seq,
        reach(),
        &mut |seq, payload| replay(&files, &mut st, &mut unlisted, seq, payload).map_err(|e| match e {
            ReplayError::Open(e) => e,
            ReplayError::Bad(why) => OpenError::corrupt(&wal_dir, 0, format!("record {seq}: {why}")),
        }),
    )?;
    if held_seq >= wal.next_seq() {
        return Err(log_lost(dir, held_seq, held_in, cat.seq));
    }
    // What replay did not take (checked above, before anything changed).
    if let Some(e) = orphan(&unlisted, &HashSet::new()) {
        return Err(e);
    }

    st.applied_seq = st.applied_seq.max(wal.next_seq().saturating_sub(1));
    // The file the first write goes to, made now. Best effort: on a full
    // disk the store still opens, and the write that needs the file makes
    // it (smaller if it must) or answers 503.
    let _ = wal.prepare();
    let wal_bytes = wal.backlog_bytes();
    let next_seq = wal.next_seq();
    Ok(Inner {
        dir: dir.to_owned(),
        opts,
        files,
        state: RwLock::new(st),
        writer: Mutex::new(wal),
        queue: Mutex::new(Default::default()),
        turn: Mutex::new(next_seq),
        turn_changed: parking_lot::Condvar::new(),
        checkpoint_lock: Mutex::new(()),
        sealing: Mutex::new(()),
        ahead: Mutex::new(()),
        retired: Mutex::new(Vec::new()),
        sealed_total: AtomicU64::new(0),
        series_keys: crate::seal::keys::KeyCache::new(crate::seal::keys::DEFAULT_BUDGET),
        started: std::time::Instant::now(),
        stop: Arc::new(Default::default()),
        creating: Mutex::new(()),
        closing: AtomicBool::new(false),
        failed: AtomicBool::new(false),
        failure: Mutex::new(String::new()),
        wal_bytes: AtomicU64::new(wal_bytes),
        writes_accepted: AtomicU64::new(0),
        writes_rejected: AtomicU64::new(0),
        _lock: lock,
    })
}


/// A partition's segments in which open found a torn tail: the last, or
/// one followed only by segments without blocks (made for a group that
/// never became durable).
fn torn_tails(part: &Partition) -> Vec<Arc<Segment>> {
    part.segments.iter().filter(|s| s.tail_repaired()).cloned().collect()
}

/// Blocks of batches that neither the catalog nor the log accounts for:
/// the log lost records (deleted, or an older copy). Handing their
/// sequences out again would mix two batches under one.
fn log_lost(dir: &Path, held_seq: u64, held_in: Option<std::path::PathBuf>, catalog_seq: u64) -> OpenError {
    let path = held_in.unwrap_or_else(|| dir.join(catalog::CATALOG_FILE));
    OpenError::corrupt(
        path,
        0,
        format!("holds sequence {held_seq}, but the catalog covers up to {catalog_seq} and the write-ahead log ends before it"),
    )
}

/// A store without a catalog: a new one if its directory holds nothing of
/// a store (only `LOCK`, or a `catalog.tmp` of a creation cut short), whose
/// empty catalog is then written durably before any other
/// file, so that later a missing catalog is always damage. Anything else
/// is a store that lost its catalog: refused, nothing changed (opening it
/// as an empty store would lose its data at the next write).
fn create_catalog(storage: &dyn Storage, dir: &Path) -> Result<catalog::CatalogData, OpenError> {
    let path = dir.join(catalog::CATALOG_FILE);
    let names = storage.list_dir(dir)?;
    if let Some(name) = names.iter().find(|n| *n == WAL_DIR || *n == "data") {
        return Err(OpenError::corrupt(
            path,
            0,
            format!("the catalog is missing, and the directory holds a store's files ({})", name.to_string_lossy()),
        ));
    }
    // Anything else but a lock, a catalog cut short, or a file system's
    // lost+found (a mount point) is not ours to share a directory with.
    if let Some(name) = names.iter().find(|n| *n != LOCK_FILE && *n != catalog::TEMP_FILE && *n != "lost+found") {
        return Err(OpenError::InvalidArgument(format!(
            "dir holds {:?} and no store: a new store is made only in an empty directory: {}",
            name.to_string_lossy(),
            dir.display()
        )));
    }
    let mut cat = catalog::CatalogData::default();
    // The store's identity, in every segment it writes: a data file of
    // another store is then refused, not served.
    getrandom::fill(&mut cat.store_id)
        .map_err(|e| OpenError::Io(io::Error::other(format!("no random bytes for the store's id: {e}"))))?;
    catalog::save(storage, dir, &cat)?;
    Ok(cat)
}

/// The highest block sequence any open segment holds, and that segment.
fn highest_held(st: &State, unlisted: &BTreeMap<PartKey, Partition>) -> (u64, Option<std::path::PathBuf>) {
    let listed = st.dbs.values().flat_map(|db| db.tables.values()).flat_map(|t| t.partitions.values());
    let mut best = (0, None);
    for p in listed.chain(unlisted.values()) {
        for s in &p.sealed {
            if s.max_seq > best.0 {
                best = (s.max_seq, Some(s.path.clone()));
            }
        }
        for seg in &p.segments {
            if seg.max_seq() > best.0 {
                best = (seg.max_seq(), Some(seg.path().to_path_buf()));
            }
        }
    }
    best
}

/// Opens the partitions under `data/` that the state (the catalog) does not
/// hold and that have segment files. Names that are not a store's
/// (`data/<db id>/<table id>/<YYYY-MM-DD>/`) are left alone.
fn find_unlisted(
    files: &SegmentFiles,
    st: &State,
    leftovers: &mut Vec<std::path::PathBuf>,
) -> Result<BTreeMap<PartKey, Partition>, OpenError> {
    let (storage, root) = (&files.storage, files.root.as_path());
    let mut found = BTreeMap::new();
    let list = |p: &Path| -> Result<Vec<std::ffi::OsString>, OpenError> {
        match storage.list_dir(p) {
            Ok(names) => Ok(names),
            Err(e) if e.kind() == io::ErrorKind::NotFound || crate::storage::raw_errno(&e) == Some(libc::ENOTDIR) => {
                Ok(Vec::new())
            }
            Err(e) => Err(e.into()),
        }
    };
    let number = |n: &std::ffi::OsString| n.to_str().and_then(|s| s.parse::<u32>().ok());
    let data = root.join("data");
    for db_name in list(&data)? {
        let Some(db_id) = number(&db_name) else { continue };
        let listed_db = st.dbs.values().find(|d| d.id == db_id);
        for table_name in list(&data.join(&db_name))? {
            let Some(table_id) = number(&table_name) else { continue };
            let listed_table = listed_db.and_then(|d| d.tables.values().find(|t| t.id == table_id));
            for day_name in list(&data.join(&db_name).join(&table_name))? {
                let Some(day) = day_name.to_str().and_then(crate::partition::Day::parse) else { continue };
                if listed_table.is_some_and(|t| t.partitions.contains_key(&day)) {
                    continue;
                }
                let part = open_partition(files, (db_id, table_id, day), &catalog::PartitionData::default(), 0, leftovers)?;
                if !part.segments.is_empty() {
                    found.insert((db_id, table_id, day), part);
                }
            }
        }
    }
    Ok(found)
}

/// Opens a partition: its sealed files (header and footer checked), the
/// segments the catalog lists, trusted up to their checkpointed length,
/// then any later ones on disk (made after the checkpoint, so everything in
/// them is also in the WAL). Files of the partition's own that it no
/// longer needs go to `leftovers`: segments sealed away (numbered up to
/// `retired_upto`; a crash came between the catalog that says so and their
/// removal), sealed files the catalog does not list (a crash came before
/// the switch: their rows are still in the segments) and temporaries.
fn open_partition(
    files: &SegmentFiles,
    key: (u32, u32, crate::partition::Day),
    listed_part: &catalog::PartitionData,
    covered_seq: u64,
    leftovers: &mut Vec<std::path::PathBuf>,
) -> Result<Partition, OpenError> {
    let listed = &listed_part.segments;
    let storage = &files.storage;
    let dir = partition_dir(&files.root, key.0, key.1, key.2);
    let header_key = files.key(key);
    let retired = listed_part.retired_upto;
    if let Some((n, _)) = listed.iter().find(|(n, _)| *n <= retired) {
        return Err(OpenError::corrupt(
            dir.join(super::state::segment_file(*n)),
            0,
            format!("the catalog lists a segment it also lists as sealed (up to {retired})"),
        ));
    }
    let last = listed.iter().map(|(n, _)| *n).max().unwrap_or(0).max(retired);
    let names: Vec<String> = match storage.list_dir(&dir) {
        Ok(names) => names.into_iter().filter_map(|n| n.into_string().ok()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut sealed = Vec::with_capacity(listed_part.sealed.len());
    for &n in &listed_part.sealed {
        let path = dir.join(crate::seal::sealed_file(n));
        sealed.push(Arc::new(open_sealed(storage.as_ref(), &path, n, &header_key)?));
    }
    for name in &names {
        let path = dir.join(name);
        if segment_number(name).is_some_and(|n| n <= retired && !listed.iter().any(|(l, _)| *l == n)) {
            // Sealed away, by the catalog's word; removed only if its
            // header names this partition (or it has none: a segment's
            // header is whole before the file gets its name, so that is
            // not a segment of any store).
            match Segment::inspect(storage, &path) {
                Ok(Some((k, _))) if k != header_key => {
                    return Err(OpenError::corrupt(&path, 0, "a segment of another partition or store"));
                }
                Ok(_) => leftovers.push(path),
                // Listed but gone (its removal was under way): nothing to do.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        } else if let Some(n) = crate::seal::sealed_number(name).filter(|n| !listed_part.sealed.contains(n)) {
            // Never switched in; removed only if it is this partition's
            // (anything else is not the store's to remove).
            match open_sealed(storage.as_ref(), &path, n, &header_key) {
                Ok(_) => leftovers.push(path),
                // Listed but gone (its removal was under way).
                Err(OpenError::Corrupt { reason, .. }) if reason.contains("is missing") => {}
                Err(e) => return Err(e),
            }
        } else if name.strip_suffix(".tmp").is_some_and(|base| crate::seal::sealed_number(base).is_some()) {
            leftovers.push(path);
        }
    }
    let mut later: Vec<u32> = names.iter().filter_map(|n| segment_number(n)).filter(|n| *n > last).collect();
    if !later.is_empty() {
        // Segments no checkpoint lists, found by their names: the entry of
        // one whose making failed at its directory sync may not be durable,
        // and replay may now put acknowledged blocks in it. Its directory
        // is synced before replay (with the leftovers' removal), so a
        // checkpoint never lists a file a power cut can take back.
        leftovers.push(dir.join(SYNC_ONLY));
    }
    later.sort_unstable();
    // Every segment, listed (with its durable length) or later (none), in
    // number order.
    let all: Vec<(u32, Option<u64>)> =
        listed.iter().map(|(n, d)| (*n, Some(*d))).chain(later.iter().map(|n| (*n, None))).collect();
    // Opened from the last back, so that each knows whether a later segment
    // holds blocks: it got them only once this one was durable (the
    // rotation invariant), so this one must then be whole: a bad block in
    // it is damage, never a torn tail to cut (replay would skip its records
    // as held). A later segment may exist without blocks: made for a group
    // that never became durable.
    let mut later_has_blocks = false;
    let mut opened: Vec<Arc<Segment>> = Vec::new();
    for &(n, durable) in all.iter().rev() {
        let path = dir.join(super::state::segment_file(n));
        let (trusted, seq) = durable.map_or((0, u64::MAX), |d| (d, covered_seq));
        let expect =
            Expect { trusted_len: trusted, trusted_seq: seq, whole: later_has_blocks, key: Some(&header_key), cut_now: false };
        let open = || Segment::open_checked(storage, &files.cache, &path, &expect, files.segment_bytes);
        let result = match open() {
            // Out of descriptors or address space: the process may allow
            // fewer than the cache holds; close idle segments, once more.
            Err(OpenError::Io(e)) if is_transient(&e) && files.cache.shed() => open(),
            other => other,
        };
        match result {
            // (A segment of another store or partition was refused before
            // anything in it was cut: `Expect::key`.)
            Ok(seg) => {
                later_has_blocks |= seg.max_seq() > 0;
                opened.push(Arc::new(seg));
            }
            // Any other refusal, a damaged segment no checkpoint lists
            // included: this build makes a segment's header whole before
            // the file gets its name, so such a file is damage, or not the
            // store's, and is never removed (linedb 0.1 could leave one when
            // it stopped while making a segment: its owner removes it).
            Err(e) => return Err(e),
        }
    }
    opened.reverse();
    opened.shrink_to_fit();
    let segments = opened;
    Ok(Partition { segments, sealed, retired_upto: retired, last_write_ms: 0, unsealable_at: None })
}

/// Opens a sealed file and checks its header (the partition's key) and
/// footer; damage or a file of another partition is `Corrupt`.
fn open_sealed(storage: &dyn Storage, path: &Path, number: u32, key: &[u8]) -> Result<crate::seal::SealedFile, OpenError> {
    use crate::columnar::ReadError;
    let file = storage.open_file(path, crate::storage::OpenMode::Read).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            OpenError::corrupt(path, 0, "a sealed file the catalog lists is missing")
        } else {
            OpenError::Io(e)
        }
    })?;
    let bytes = file.length()?;
    match crate::columnar::Reader::open(file, path, key) {
        Ok(r) => Ok(crate::seal::SealedFile::from_reader(&r, number, bytes)),
        Err(ReadError::Io(e)) => Err(OpenError::Io(e)),
        Err(ReadError::Version(v)) => {
            Err(OpenError::Version { path: path.to_path_buf(), found: v, supported: crate::columnar::FORMAT_VERSION })
        }
        Err(ReadError::Damaged(why)) => Err(OpenError::corrupt(path, 0, why)),
    }
}

/// A name in `leftovers` that asks only for its directory to be synced
/// (no file has it: it has no `.seg`, `.col` or `.tmp` ending).
const SYNC_ONLY: &str = "(sync)";

/// Removes files of the store's own that it no longer needs, and syncs
/// their directories (and those of `SYNC_ONLY` entries).
fn remove_leftovers(storage: &dyn Storage, leftovers: &[std::path::PathBuf]) -> Result<(), OpenError> {
    let mut dirs: Vec<&Path> = Vec::new();
    for path in leftovers {
        let sync_only = path.file_name().is_some_and(|n| n == SYNC_ONLY);
        match if sync_only { Ok(()) } else { storage.remove_file(path) } {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(d) = path.parent().filter(|d| !dirs.contains(d)) {
            dirs.push(d);
        }
    }
    for d in dirs {
        storage.sync_dir(d)?;
    }
    Ok(())
}

enum ReplayError {
    Open(OpenError),
    Bad(String),
}

impl From<OpenError> for ReplayError {
    fn from(e: OpenError) -> Self {
        ReplayError::Open(e)
    }
}

impl From<io::Error> for ReplayError {
    fn from(e: io::Error) -> Self {
        ReplayError::Open(OpenError::Io(e))
    }
}

fn replay(
    files: &SegmentFiles,
    st: &mut State,
    unlisted: &mut BTreeMap<PartKey, Partition>,
    seq: u64,
    payload: &[u8],
) -> Result<(), ReplayError> {
    let rec = record::decode(payload).ok_or_else(|| ReplayError::Bad("does not decode".into()))?;
    st.applied_seq = seq;
    match rec {
        Record::CreateToken(t) => {
            if !st.tokens.iter().any(|x| x.hash == t.hash) {
                st.tokens.push(t);
            }
        }
        Record::RevokeToken { hash } => st.tokens.retain(|t| t.hash != hash),
        Record::CreateDatabase { id, name } => {
            st.next_db_id = st.next_db_id.max(id + 1);
            st.dbs.entry(name.clone()).or_insert_with(|| Database::new(id, name));
        }
        Record::Batch { db_id, new_tables, changes, blocks } => {
            let batch = BatchApply { seq, db_id, new_tables: &new_tables, changes: &changes, blocks: &blocks, payload };
            let mut placer = ReplayPlacer { files, unlisted };
            apply_batch(st, &batch, &mut placer).map_err(|e| match e {
                ApplyError::Io(e) => ReplayError::Open(OpenError::Io(e)),
                ApplyError::Bad(why) => ReplayError::Bad(why),
            })?;
        }
    }
    Ok(())
}

/// Replay's placement: a partition the catalog did not list is the one on
/// disk (opened before replay, or now), and each block goes to the
/// partition's last segment, or to a new one when it does not fit.
struct ReplayPlacer<'a> {
    files: &'a SegmentFiles,
    unlisted: &'a mut BTreeMap<PartKey, Partition>,
}

impl Placer for ReplayPlacer<'_> {
    fn new_partition(&mut self, key: PartKey) -> io::Result<Partition> {
        match self.unlisted.remove(&key) {
            Some(p) => Ok(p),
            // Its directory was looked at before replay (`find_unlisted`)
            // and held no segment: nothing is left over in it.
            None => open_partition(self.files, key, &catalog::PartitionData::default(), 0, &mut Vec::new()).map_err(|e| match e {
                OpenError::Io(e) => e,
                other => io::Error::other(other.to_string()),
            }),
        }
    }

    fn segment(&mut self, key: PartKey, part: &Partition, len: u64) -> io::Result<Arc<Segment>> {
        match part.segments.last() {
            Some(s) if s.used_len().saturating_add(len) <= s.capacity() => Ok(Arc::clone(s)),
            _ => create_segment(self.files, key, part.next_number(), len),
        }
    }

    fn skips_held(&self) -> bool {
        true
    }
}

