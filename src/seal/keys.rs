//! Sealed files' series keys, kept for the next query: a file's keys are
//! rebuilt from its tag columns (a dictionary and an index per tag key),
//! which for a query of a few series costs more than their points (Q1 of
//! `benches/query.rs`: 14% of its time). Bounded by bytes, whatever the
//! number of files; the least recently used go first.
//!
//! Beside a file's keys, their tag index ([`TagIndex`]) once a query
//! names tag values.
//!
//! A file is known by its path and its WAL sequences: a sealed file is
//! never rewritten in place, and a file made later at the same path holds
//! later sequences, so an entry never answers for other bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::columnar::{ReadError, Reader};

use super::index::TagIndex;
use super::SealedFile;

/// A file's series keys, by id (escaped, `,k=v` per tag).
pub type Keys = Arc<Vec<Vec<u8>>>;

/// What the engine keeps at most: 8 MiB of keys (about 50,000 series of
/// TSBS's ten tags).
pub const DEFAULT_BUDGET: usize = 8 << 20;

type FileId = (PathBuf, u64, u64);

#[derive(Default)]
struct State {
    map: HashMap<FileId, Entry>,
    bytes: usize,
    clock: u64,
}

/// A file's keys, their index, the bytes of both, and when last used.
struct Entry {
    keys: Keys,
    index: Index,
    bytes: usize,
    used: u64,
}

/// A kept file's tag index.
enum Index {
    NotBuilt,
    Kept(Arc<TagIndex>),
    /// Too large for the budget beside its keys (the budget and the keys
    /// never change: it stays so).
    NoRoom,
}

pub struct KeyCache {
    budget: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        write!(f, "KeyCache({} files, {} of {} bytes)", s.map.len(), s.bytes, self.budget)
    }
}

impl KeyCache {
    pub fn new(budget: usize) -> KeyCache {
        KeyCache { budget, state: Mutex::new(State::default()) }
    }

    /// The keys of `file`, open as `r`: kept ones, or read now (and kept
    /// if they fit the budget).
    pub fn get(&self, file: &SealedFile, r: &Reader) -> Result<Keys, ReadError> {
        let id: FileId = (file.path.clone(), file.min_seq, file.max_seq);
        {
            let mut s = self.state.lock();
            s.clock += 1;
            let now = s.clock;
            if let Some(e) = s.map.get_mut(&id) {
                e.used = now;
                return Ok(Arc::clone(&e.keys));
            }
        }
        // Read outside the lock: other queries go on meanwhile.
        let keys: Keys = Arc::new(r.series_keys()?);
        let bytes = 64 + keys.iter().map(|k| k.len() + 24).sum::<usize>();
        if bytes <= self.budget {
            let mut s = self.state.lock();
            let now = s.clock;
            let entry = Entry { keys: Arc::clone(&keys), index: Index::NotBuilt, bytes, used: now };
            if let Some(old) = s.map.insert(id, entry) {
                s.bytes -= old.bytes;
            }
            s.bytes += bytes;
            self.evict(&mut s);
        }
        Ok(keys)
    }

    /// The tag index of `file`'s `keys` (as [`KeyCache::get`] gave them):
    /// kept beside them, or built now and kept. `None` when the keys are
    /// not kept or there is no room for their index (an index is about
    /// as large as its keys): the caller then asks about each series, as
    /// building an index to drop it costs more than that.
    pub fn index(&self, file: &SealedFile, keys: &Keys) -> Option<Arc<TagIndex>> {
        let id: FileId = (file.path.clone(), file.min_seq, file.max_seq);
        {
            let mut s = self.state.lock();
            s.clock += 1;
            let now = s.clock;
            let e = s.map.get_mut(&id).filter(|e| Arc::ptr_eq(&e.keys, keys))?;
            e.used = now;
            match &e.index {
                Index::Kept(index) => return Some(Arc::clone(index)),
                Index::NoRoom => return None,
                Index::NotBuilt if e.bytes.saturating_mul(2) > self.budget => {
                    e.index = Index::NoRoom;
                    return None;
                }
                Index::NotBuilt => {}
            }
        }
        // Built outside the lock, as keys are read.
        let index = Arc::new(TagIndex::build(keys));
        let mut s = self.state.lock();
        let now = s.clock;
        let budget = self.budget;
        if let Some(e) = s.map.get_mut(&id).filter(|e| Arc::ptr_eq(&e.keys, keys)) {
            if matches!(e.index, Index::NotBuilt) {
                if e.bytes + index.bytes() <= budget {
                    e.index = Index::Kept(Arc::clone(&index));
                    e.bytes += index.bytes();
                    e.used = now;
                    s.bytes += index.bytes();
                    self.evict(&mut s);
                } else {
                    e.index = Index::NoRoom;
                }
            }
        }
        // (Evicted meanwhile: this query still uses what it built.)
        Some(index)
    }

    /// Drops the least recently used entries until the budget holds.
    fn evict(&self, s: &mut State) {
        while s.bytes > self.budget {
            let Some(oldest) = s.map.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(e) = s.map.remove(&oldest) {
                s.bytes -= e.bytes;
            }
        }
    }

    /// Files and bytes kept.
    pub fn usage(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.map.len(), s.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columnar::{GroupRow, Writer};
    use crate::rows::{StoredField, StoredValue};
    use crate::storage::{FsStorage, OpenMode, Storage};

    const KEY: &[u8] = b"partition";

    /// A sealed file at `path` of `series` series, one point each.
    fn file(path: &std::path::Path, series: usize, seqs: (u64, u64)) -> (SealedFile, Reader) {
        let _ = std::fs::remove_file(path);
        let mut w = Writer::new(FsStorage.open_file(path, OpenMode::CreateNew).unwrap(), KEY).unwrap();
        let fields = [StoredField { key: b"v", value: StoredValue::Integer(1) }];
        let rows: Vec<GroupRow> = (0..series)
            .map(|i| GroupRow {
                series: w.series_id(format!(",host=h{i:05}").as_bytes()).unwrap(),
                time: 1,
                fields: 0..1,
            })
            .collect();
        w.write_group(&rows, &fields).unwrap();
        let bytes = w.finish(seqs).unwrap().bytes;
        let r = Reader::open(FsStorage.open_file(path, OpenMode::Read).unwrap(), path, KEY).unwrap();
        (SealedFile::from_reader(&r, 1, bytes), r)
    }

    #[test]
    fn keys_are_kept_within_the_budget_and_the_oldest_go_first() {
        let dir = std::env::temp_dir().join(format!("linedb-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files: Vec<(SealedFile, Reader)> =
            (0..3).map(|i| file(&dir.join(format!("{i}.col")), 100, (1, 9))).collect();
        // 100 keys of 12 bytes: 64 + 100 * 36 bytes each; room for two.
        let one = 64 + 100 * (12 + 24);
        let cache = KeyCache::new(2 * one + 10);
        let a = cache.get(&files[0].0, &files[0].1).unwrap();
        assert_eq!(a.len(), 100);
        assert_eq!(a[7], b",host=h00007");
        assert!(Arc::ptr_eq(&a, &cache.get(&files[0].0, &files[0].1).unwrap()), "kept, not read again");
        cache.get(&files[1].0, &files[1].1).unwrap();
        assert_eq!(cache.usage(), (2, 2 * one));
        // Used last: file 0 stays, file 1 goes for file 2.
        cache.get(&files[0].0, &files[0].1).unwrap();
        cache.get(&files[2].0, &files[2].1).unwrap();
        assert_eq!(cache.usage(), (2, 2 * one));
        assert!(Arc::ptr_eq(&a, &cache.get(&files[0].0, &files[0].1).unwrap()));
        // A file made later at the same path (later sequences) is read anew.
        let (later, r) = file(&dir.join("0.col"), 3, (10, 12));
        assert_eq!(cache.get(&later, &r).unwrap().len(), 3);
        // Keys larger than the whole budget are answered, not kept.
        let small = KeyCache::new(100);
        assert_eq!(small.get(&files[1].0, &files[1].1).unwrap().len(), 100);
        assert_eq!(small.usage(), (0, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_index_is_kept_beside_its_keys_and_counted() {
        let dir = std::env::temp_dir().join(format!("linedb-keys-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (f, r) = file(&dir.join("0.col"), 100, (1, 9));
        let cache = KeyCache::new(DEFAULT_BUDGET);
        let keys = cache.get(&f, &r).unwrap();
        let (_, before) = cache.usage();
        let index = cache.index(&f, &keys).unwrap();
        let must = [(b"host".to_vec(), vec![b"h00042".to_vec()])];
        let allowed = index.allowed(keys.len(), &must).unwrap();
        assert_eq!(allowed.iter().filter(|a| **a).count(), 1);
        assert!(allowed[42]);
        assert_eq!(cache.usage(), (1, before + index.bytes()));
        assert!(Arc::ptr_eq(&index, &cache.index(&f, &keys).unwrap()), "kept, not built again");
        // Keys kept but no room for an index beside them: none (the
        // caller asks about each series).
        let tight = KeyCache::new(before + 10);
        let keys = tight.get(&f, &r).unwrap();
        assert!(tight.index(&f, &keys).is_none());
        assert_eq!(tight.usage(), (1, before));
        // Keys not kept: none either.
        let small = KeyCache::new(100);
        let keys = small.get(&f, &r).unwrap();
        assert!(small.index(&f, &keys).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
