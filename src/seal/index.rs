//! Which series of a sealed file have a tag value: for each tag key, its
//! values with the ids of the series that hold them. Built from the
//! file's series keys the first time a query names tag values, and kept
//! with them when there is room ([`super::keys::KeyCache`]): a query of
//! `WHERE host = 'h'` then asks about the one series that can match, not
//! every series of the file.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::columnar::tags;

/// Tag values a kept series must have: for each tag key (unescaped), the
/// values (unescaped) of which a series must hold one.
pub type TagValues = [(Vec<u8>, Vec<Vec<u8>>)];

/// A file's series by tag key and value (both unescaped).
#[derive(Debug, Default)]
pub struct TagIndex {
    tags: HashMap<Vec<u8>, HashMap<Vec<u8>, Vec<u32>>>,
    /// Whether every key split into tags (else the index answers
    /// nothing: every series is asked).
    whole: bool,
    bytes: usize,
}

impl TagIndex {
    /// The index of `keys` (series keys by id, escaped).
    pub fn build(keys: &[Vec<u8>]) -> TagIndex {
        let mut index = TagIndex { whole: true, ..TagIndex::default() };
        for (id, key) in keys.iter().enumerate() {
            let (Some(pairs), Ok(id)) = (tags::split(key), u32::try_from(id)) else {
                return TagIndex::default();
            };
            for (k, v) in pairs {
                let (k, v) = (unescaped(k), unescaped(v));
                // Each key and value is held once (with its map's
                // overhead, about 48 bytes), each id as 4 bytes.
                if !index.tags.contains_key(&*k) {
                    index.bytes += k.len() + 48;
                    index.tags.insert(k.to_vec(), HashMap::new());
                }
                let Some(by_value) = index.tags.get_mut(&*k) else { continue };
                if !by_value.contains_key(&*v) {
                    index.bytes += v.len() + 48;
                    by_value.insert(v.to_vec(), Vec::new());
                }
                if let Some(ids) = by_value.get_mut(&*v) {
                    ids.push(id);
                    index.bytes += 4;
                }
            }
        }
        index
    }

    /// Whether the index can narrow `must` down (else every series is
    /// asked about, and no index is needed): there are terms, and none
    /// names `''` (held by every series without the tag).
    pub fn narrows(must: &TagValues) -> bool {
        !must.is_empty() && !must.iter().any(|(_, values)| values.iter().any(Vec::is_empty))
    }

    /// Memory held, roughly.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Of `count` series, which may hold the tag values `must` asks for
    /// (a series without a tag holds `""` for it): `None` when the index
    /// cannot tell (every series may).
    pub fn allowed(&self, count: usize, must: &TagValues) -> Option<Vec<bool>> {
        if !self.whole || !TagIndex::narrows(must) {
            return None;
        }
        // A series is allowed when it holds a value of every term: count
        // the terms it meets (it holds one value per tag key, so it meets
        // a term at most once).
        let mut met = vec![0usize; count];
        for (key, values) in must {
            let Some(by_value) = self.tags.get(key) else { return Some(vec![false; count]) };
            let mut values: Vec<&Vec<u8>> = values.iter().collect();
            values.sort();
            values.dedup();
            for v in values {
                for &id in by_value.get(v).map_or(&[][..], Vec::as_slice) {
                    if let Some(m) = met.get_mut(id as usize) {
                        *m += 1;
                    }
                }
            }
        }
        Some(met.into_iter().map(|m| m == must.len()).collect())
    }
}

/// A stored name without its escapes, borrowed when it has none.
fn unescaped(name: &[u8]) -> Cow<'_, [u8]> {
    if name.contains(&b'\\') {
        Cow::Owned(tags::unescape(name))
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::TagIndex;

    fn keys() -> Vec<Vec<u8>> {
        [",host=a,rack=1", ",host=b,rack=1", ",host=c,rack=2", ",host=d", ",host=e\\ f,rack=2\\,3"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect()
    }

    fn must(terms: &[(&str, &[&str])]) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        terms
            .iter()
            .map(|(k, vs)| (k.as_bytes().to_vec(), vs.iter().map(|v| v.as_bytes().to_vec()).collect()))
            .collect()
    }

    fn ids(index: &TagIndex, terms: &[(&str, &[&str])]) -> Option<Vec<usize>> {
        let allowed = index.allowed(5, &must(terms))?;
        Some(allowed.iter().enumerate().filter(|(_, a)| **a).map(|(i, _)| i).collect())
    }

    #[test]
    fn the_series_holding_every_term_are_allowed() {
        let index = TagIndex::build(&keys());
        assert_eq!(ids(&index, &[("host", &["b"])]), Some(vec![1]));
        assert_eq!(ids(&index, &[("host", &["a", "c", "a", "zz"])]), Some(vec![0, 2]));
        assert_eq!(ids(&index, &[("rack", &["1"]), ("host", &["b", "c"])]), Some(vec![1]));
        assert_eq!(ids(&index, &[("rack", &["1"]), ("rack", &["2"])]), Some(vec![]));
        // Values and keys are compared unescaped.
        assert_eq!(ids(&index, &[("host", &["e f"]), ("rack", &["2,3"])]), Some(vec![4]));
        // A tag no series has: none.
        assert_eq!(ids(&index, &[("dc", &["x"])]), Some(vec![]));
        // `''` is held by every series without the tag: the index does
        // not tell, nor does an empty request.
        assert_eq!(ids(&index, &[("rack", &[""])]), None);
        assert_eq!(ids(&index, &[]), None);
        assert!(index.bytes() > 0);
    }

    #[test]
    fn keys_that_do_not_split_leave_every_series_allowed() {
        let mut k = keys();
        k.push(b"host=no-comma".to_vec());
        let index = TagIndex::build(&k);
        assert_eq!(index.allowed(6, &must(&[("host", &["a"])])), None);
    }
}
