//! Byte strings to dense indexes, kept in one arena.
//!
//! The block encoder looks up every series and field key of every row. A
//! map of owned keys costs one allocation per new name, which for a
//! one-line write is most of the encoder's work; here a new name is copied
//! into a shared byte arena instead, so an interner that is cleared and
//! reused from batch to batch allocates nothing once it has grown.

use std::collections::HashMap;
use std::hash::Hasher;

use super::{Fx, FxBuild};

/// A name's place in the arena and the value it maps to.
#[derive(Clone, Copy, Debug)]
struct Entry {
    start: usize,
    len: usize,
    value: u32,
    /// The entry added before this one with the same hash, or `NONE`.
    next: u32,
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct Interner {
    /// Hash of a name -> the newest entry with that hash (older ones are
    /// chained through `Entry::next`).
    heads: HashMap<u64, u32, FxBuild>,
    entries: Vec<Entry>,
    bytes: Vec<u8>,
}

fn hash(name: &[u8]) -> u64 {
    let mut h = Fx::default();
    h.write(name);
    h.finish()
}

impl Interner {
    pub(super) fn get(&self, name: &[u8]) -> Option<u32> {
        let mut at = *self.heads.get(&hash(name))?;
        while at != NONE {
            let e = self.entries.get(at as usize)?;
            if self.bytes.get(e.start..e.start + e.len) == Some(name) {
                return Some(e.value);
            }
            at = e.next;
        }
        None
    }

    /// Maps `name` to `value`. The caller has checked that `name` is not
    /// there yet (a second insert would shadow the first).
    #[cfg(test)]
    pub(super) fn insert(&mut self, name: &[u8], value: u32) {
        self.try_insert(name, value).expect("memory for a name");
    }

    /// [`insert`](Self::insert), or `Err` with nothing changed when the
    /// memory for it cannot be had: a batch of many distinct series grows
    /// these by its size, and failing must not abort the host.
    pub(super) fn try_insert(&mut self, name: &[u8], value: u32) -> Result<(), std::collections::TryReserveError> {
        self.heads.try_reserve(1)?;
        self.entries.try_reserve(1)?;
        self.bytes.try_reserve(name.len())?;
        // More than 4 Gi names cannot come from one batch (each takes a
        // byte of input at least); saturate rather than wrap if they did.
        let id = u32::try_from(self.entries.len()).unwrap_or(NONE - 1);
        let head = self.heads.entry(hash(name)).or_insert(NONE);
        self.entries.push(Entry { start: self.bytes.len(), len: name.len(), value, next: *head });
        *head = id;
        self.bytes.extend_from_slice(name);
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets every name, keeping the memory.
    pub(super) fn clear(&mut self) {
        self.heads.clear();
        self.entries.clear();
        self.bytes.clear();
    }

    /// Bytes of memory held (about: the map's entries counted at their size).
    pub(super) fn retained(&self) -> usize {
        self.heads.capacity() * 16 + self.entries.capacity() * std::mem::size_of::<Entry>() + self.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_names_and_forgets_them_on_clear() {
        let mut i = Interner::default();
        assert_eq!(i.get(b"a"), None);
        i.insert(b"a", 7);
        i.insert(b"", 8);
        i.insert(b"ab", 9);
        assert_eq!((i.get(b"a"), i.get(b""), i.get(b"ab"), i.get(b"b")), (Some(7), Some(8), Some(9), None));
        assert_eq!(i.len(), 3);
        i.clear();
        assert_eq!((i.len(), i.get(b"a")), (0, None));
        i.insert(b"b", 1);
        assert_eq!((i.get(b"b"), i.get(b"a")), (Some(1), None));
    }

    /// Names whose hashes collide are told apart by their bytes. Fx over
    /// two 8-byte words is `((rotl(w1 * K, 5) ^ w2) * K)`, so for any
    /// first word a second word can be chosen that lands on one hash.
    #[test]
    fn colliding_hashes_chain() {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let target = (1u64.wrapping_mul(K)).rotate_left(5);
        let names: Vec<Vec<u8>> = (1..=50u64)
            .map(|w1| {
                let w2 = target ^ w1.wrapping_mul(K).rotate_left(5);
                [w1.to_le_bytes(), w2.to_le_bytes()].concat()
            })
            .collect();
        assert!(names.iter().all(|n| hash(n) == hash(&names[0])), "the names must collide");
        let mut i = Interner::default();
        for (n, name) in (0u32..).zip(&names) {
            assert_eq!(i.get(name), None);
            i.insert(name, n);
        }
        assert_eq!(i.heads.len(), 1, "one chain");
        for (n, name) in (0u32..).zip(&names) {
            assert_eq!(i.get(name), Some(n));
        }
        let other = [51u64.to_le_bytes(), (target ^ 51u64.wrapping_mul(K).rotate_left(5)).to_le_bytes()].concat();
        assert_eq!(hash(&other), hash(&names[0]));
        assert_eq!(i.get(&other), None);
    }

    /// Many names, against a map of owned keys.
    #[test]
    fn agrees_with_a_map() {
        let mut i = Interner::default();
        let mut m = std::collections::HashMap::new();
        let mut x: u64 = 1;
        for n in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = format!("{}", x % 3000).into_bytes();
            match (i.get(&name), m.get(&name)) {
                (Some(a), Some(&b)) => assert_eq!(a, b),
                (None, None) => {
                    i.insert(&name, n);
                    m.insert(name, n);
                }
                other => panic!("disagree on {name:?}: {other:?}"),
            }
        }
        assert_eq!(i.len(), m.len());
    }
}
