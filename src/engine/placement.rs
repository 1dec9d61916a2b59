//! Placement: the segment each block of a commit group goes to, with its
//! space reserved before the group's WAL record is written (so a full disk
//! answers 503 with nothing stored), and the making of segment files.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::partition::Day;
use crate::segment::{AppendError, Pin, Segment};
use crate::storage::is_transient;

use super::apply::PartKey;
use super::files::SegmentFiles;
use super::state::{partition_dir, segment_file};
use super::write::Pending;
use super::Inner;

/// Where each block of the group goes.
pub(super) struct Placement {
    pub(super) segment: Arc<Segment>,
    /// A segment made for this group, not yet in the state.
    pub(super) new: Option<(u32, u32, Day)>,
    /// The block's length in the segment, reserved there.
    pub(super) bytes: u64,
    /// Keeps the segment's file open until the block is appended: after
    /// the WAL record is written, an append must not need a descriptor
    /// it might not get (that would fail the store, where running out of
    /// descriptors before the record answers 503).
    pub(super) _pin: Pin,
}

/// Where a group's blocks go.
pub(super) struct Placed {
    pub(super) placements: Vec<Placement>,
    /// Segments the group's partitions move on from: sealed once its WAL
    /// record is written (still holding the WAL, so that no later group
    /// places a block behind the group's blocks in the next segment). Not
    /// before: a group that fails leaves them its partitions' last.
    pub(super) to_seal: Vec<Arc<Segment>>,
}

/// Why a group could not be placed.
pub(super) enum Placing {
    /// A segment must be made, and `may_create` was false.
    NeedsDrain,
    Io(io::Error),
    /// A segment's msync or fdatasync failed: the store must fail.
    SyncFailed(io::Error),
    /// Out of descriptors (EMFILE, ENFILE) for the next partition's segment
    /// while the group itself held `pinned` segment files open (and the
    /// cache had closed every idle one): a batch whose blocks go to more
    /// partitions than that cannot be placed as it is.
    TooManyFiles { pinned: usize, error: io::Error },
}

/// A group holding at least this many segment files open when it runs out
/// of descriptors is told apart from a process that is out of them for
/// other reasons: see [`Placing::TooManyFiles`].
const MANY_PINS: usize = 32;

/// The error of opening or making the segment of the group's next
/// partition, with `pinned` segment files held by the group.
fn out_of_files(error: io::Error, pinned: usize) -> Placing {
    let emfile = matches!(crate::storage::raw_errno(&error), Some(libc::EMFILE) | Some(libc::ENFILE));
    if emfile && pinned >= MANY_PINS {
        Placing::TooManyFiles { pinned, error }
    } else {
        Placing::Io(error)
    }
}

impl From<io::Error> for Placing {
    fn from(e: io::Error) -> Placing {
        Placing::Io(e)
    }
}

/// Chooses a segment for every block of the group (in order: batch, then
/// block), pins it open and reserves its space, creating segment files where a partition
/// has none or its last one is full.
///
/// Groups on their way (appended, not applied) have their space reserved
/// in their segments, so this one's goes after it; but a segment one of
/// them made is not in the state yet. So a segment is made only with
/// `may_create`, which the caller gives once no group is on its way;
/// without it, a group that needs one gets [`Placing::NeedsDrain`] with
/// nothing reserved. A segment its partition moves on from is to be sealed
/// (by the caller, once the group's WAL record is written), so that no
/// later group places a block there behind blocks in the next.
pub(super) fn place(inner: &Inner, group: &[Arc<Pending>], may_create: bool) -> Result<Placed, Placing> {
    /// The segment a partition's blocks go to in this group.
    struct Filling {
        segment: Arc<Segment>,
        /// Bytes this group puts in it.
        bytes: u64,
        /// Whether this group made it.
        new: bool,
        /// The number the partition's next segment gets.
        next: u32,
        pin: Pin,
    }
    let st = inner.state.read();
    // Ordered, so that the segments are reserved in the same order on
    // every run (they are pinned, and so opened, in the order of the
    // group's blocks, which is fixed too).
    let mut filling: BTreeMap<(u32, u32, Day), Filling> = BTreeMap::new();
    let mut out = Vec::new();
    let mut made: Vec<Placement> = Vec::new();
    // Reservations made, to take back on failure.
    let mut reserved: Vec<(Arc<Segment>, u64)> = Vec::new();
    let mut to_seal: Vec<Arc<Segment>> = Vec::new();
    let result = (|| {
        for p in group {
            let db = st.db_by_id(p.db_id);
            for b in &p.blocks {
                let key = (p.db_id, b.table_id, b.day);
                let size = Segment::block_len(b.body.len());
                let pinned = filling.len();
                let entry = match filling.entry(key) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        let part = db.and_then(|db| db.table_by_id(b.table_id)).and_then(|(_, t)| t.partitions.get(&b.day));
                        let next = part.map_or(1, |p| p.next_number());
                        let held = |e| out_of_files(e, pinned);
                        v.insert(match part.and_then(|p| p.segments.last()) {
                            Some(segment) => {
                                let pin = segment.pin().map_err(held)?;
                                Filling { segment: Arc::clone(segment), bytes: 0, new: false, next, pin }
                            }
                            None => {
                                if !may_create {
                                    return Err(Placing::NeedsDrain);
                                }
                                let segment = new_segment(inner, key, next, size).map_err(held)?;
                                let pin = segment.pin().map_err(held)?;
                                made.push(Placement { segment: Arc::clone(&segment), new: Some(key), bytes: 0, _pin: pin.clone() });
                                Filling { segment, bytes: 0, new: true, next: next.saturating_add(1), pin }
                            }
                        })
                    }
                };
                if entry.segment.promised_len() + entry.bytes + size > entry.segment.capacity() {
                    if !may_create {
                        return Err(Placing::NeedsDrain);
                    }
                    // Reserve what the full one takes before moving on.
                    entry.segment.reserve(entry.bytes).map_err(append_to_io)?;
                    reserved.push((Arc::clone(&entry.segment), entry.bytes));
                    to_seal.push(Arc::clone(&entry.segment));
                    // Most of what `apply` must make durable before the
                    // next segment gets a block (see there), done here,
                    // outside the state's write lock.
                    if !entry.new {
                        // Zeros past its blocks (see
                        // `Segment::clear_past_end`), then its blocks
                        // durable.
                        match entry.segment.clear_past_end() {
                            Ok(_) => {}
                            // Past its blocks only: an answer (503), not a failure.
                            Err(e) if is_transient(&e) || crate::storage::is_no_space(&e) => return Err(Placing::Io(e)),
                            Err(e) => return Err(Placing::SyncFailed(e)),
                        }
                        match entry.segment.flush() {
                            Ok(_) => {}
                            // Could not open the file: nothing synced.
                            Err(e) if is_transient(&e) => return Err(Placing::Io(e)),
                            Err(e) => return Err(Placing::SyncFailed(e)),
                        }
                    }
                    let number = entry.next;
                    let segment = new_segment(inner, key, number, size)?;
                    let pin = segment.pin()?;
                    made.push(Placement { segment: Arc::clone(&segment), new: Some(key), bytes: 0, _pin: pin.clone() });
                    *entry = Filling { segment, bytes: 0, new: true, next: number.saturating_add(1), pin };
                }
                entry.bytes += size;
                out.push(Placement {
                    segment: Arc::clone(&entry.segment),
                    new: entry.new.then_some(key),
                    bytes: size,
                    _pin: entry.pin.clone(),
                });
            }
        }
        for f in filling.values() {
            f.segment.reserve(f.bytes).map_err(append_to_io)?;
            reserved.push((Arc::clone(&f.segment), f.bytes));
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Placed { placements: out, to_seal }),
        Err(e) => {
            drop(st);
            for (segment, bytes) in reserved {
                segment.release(bytes);
            }
            discard_made(inner, &made);
            Err(e)
        }
    }
}

pub(super) fn append_to_io(e: AppendError) -> io::Error {
    match e {
        AppendError::NoSpace(e) | AppendError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Makes segment `n` of a partition, with room for at least `first_block`.
pub(super) fn new_segment(inner: &Inner, key: (u32, u32, Day), n: u32, first_block: u64) -> io::Result<Arc<Segment>> {
    create_segment(&inner.files, key, n, first_block)
}

/// Makes segment `n` of a partition of the store.
pub(super) fn create_segment(files: &SegmentFiles, key: PartKey, n: u32, first_block: u64) -> io::Result<Arc<Segment>> {
    let make = || make_segment(files, key, n, first_block);
    match make() {
        // Out of descriptors or address space (a directory sync needs a
        // descriptor too): the process may allow fewer than the cache
        // holds. Close idle segments and try once more.
        Err(e) if is_transient(&e) && files.cache.shed() => make(),
        other => other,
    }
    .map(Arc::new)
}

/// [`create_segment`], once.
fn make_segment(files: &SegmentFiles, key: PartKey, n: u32, first_block: u64) -> io::Result<Segment> {
    let (storage, root) = (&files.storage, files.root.as_path());
    let dir = partition_dir(root, key.0, key.1, key.2);
    if n == 1 {
        storage.create_dir_all(&dir)?;
        // Make the new directories' entries durable, innermost first.
        let mut d = dir.as_path();
        while let Some(parent) = d.parent() {
            storage.sync_dir(parent)?;
            if parent == root {
                break;
            }
            d = parent;
        }
    }
    let path = dir.join(segment_file(n));
    let header_key = files.key(key);
    remove_leftover(files, &path, &header_key)?;
    let capacity = files.segment_bytes.max(Segment::header_len_for(&header_key) + first_block);
    Segment::create(storage, &files.cache, &path, &header_key, capacity)
}

/// Clears the way for a new segment at `path`. A file there that is an
/// empty segment of the same partition of this store was left by a group
/// that failed before its WAL record was written (or by an earlier try of
/// this one): it holds nothing acknowledged and is removed. Anything else
/// is not the store's to remove: the write fails, naming it.
fn remove_leftover(files: &SegmentFiles, path: &std::path::Path, key: &[u8]) -> io::Result<()> {
    match Segment::inspect(&files.storage, path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(Some((k, true))) if k == key => files.storage.remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("a file this store did not leave is where a new segment goes; not removed: {}", path.display()),
        )),
    }
}

/// Takes back the reservations of a group that did not commit, and
/// removes the segment files made for it.
pub(super) fn discard(inner: &Inner, placements: &[Placement]) {
    for p in placements {
        p.segment.release(p.bytes);
    }
    discard_made(inner, placements);
}

/// Removes segment files made for a group that did not commit.
fn discard_made(inner: &Inner, placements: &[Placement]) {
    for p in placements.iter().filter(|p| p.new.is_some()) {
        // Best effort: an empty leftover is harmless and replaced later.
        let _ = inner.opts.storage.remove_file(p.segment.path());
    }
}
