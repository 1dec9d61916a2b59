//! The columns of an export, found by a first scan of the points: `time`,
//! then one column per tag key, then one per field key (all names
//! unescaped, each group in name order).
//!
//! Field types are per partition, so one field may hold integers on one
//! day and floats on another. Such a field gets one column per type, named
//! `key::type` with InfluxQL's type names (`usage::integer`,
//! `usage::float`); nothing is converted and nothing is dropped. Writes
//! keep tag and field keys apart per measurement, so a field named like a
//! tag key cannot be stored today; should one be (a store written by a
//! later version with other rules), it becomes `key::field`. Any name
//! still taken gets `_1`, `_2`, ... as `influxd` does with clashing column
//! names.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::columnar::tags;
use crate::line_protocol::FieldType;
use crate::rows::StoredField;

/// Every type, in the order of their `as u8` values (1 to 5).
const TYPES: [FieldType; 5] =
    [FieldType::Float, FieldType::Integer, FieldType::UInteger, FieldType::String, FieldType::Boolean];

/// What the first scan saw: tag keys and field keys with their types,
/// escaped as stored.
#[derive(Debug, Default)]
pub struct Seen {
    tags: BTreeSet<Vec<u8>>,
    /// Field key → a bit per type (`1 << type as u8`).
    fields: BTreeMap<Vec<u8>, u8>,
}

/// A series key that does not split into tags: stored bytes that passed
/// their checksum and are still wrong (a bug, never damage).
#[derive(Debug)]
pub struct BadSeries;

impl Seen {
    pub fn add(&mut self, series: &[u8], fields: &[StoredField<'_>]) -> Result<(), BadSeries> {
        for (k, _) in tags::split(series).ok_or(BadSeries)? {
            if !self.tags.contains(k) {
                self.tags.insert(k.to_vec());
            }
        }
        for f in fields {
            let bit = 1u8 << (f.value.field_type() as u8);
            match self.fields.get_mut(f.key) {
                Some(mask) => *mask |= bit,
                None => {
                    self.fields.insert(f.key.to_vec(), bit);
                }
            }
        }
        Ok(())
    }
}

/// A field column: one key and one type.
#[derive(Debug, Clone)]
pub struct FieldColumn {
    pub name: String,
    pub ty: FieldType,
}

/// The columns of an export, and where each stored key goes.
#[derive(Debug, Default)]
pub struct Layout {
    /// Tag column names, in output order.
    pub tags: Vec<String>,
    pub fields: Vec<FieldColumn>,
    /// Escaped tag key → its index in `tags`.
    tag_at: HashMap<Vec<u8>, usize>,
    /// Escaped field key → its index in `fields` per type (`as u8`).
    field_at: HashMap<Vec<u8>, [Option<usize>; 6]>,
}

/// An escaped name as a column name.
fn name_of(escaped: &[u8]) -> String {
    String::from_utf8_lossy(&tags::unescape(escaped)).into_owned()
}

impl Layout {
    pub fn new(seen: &Seen) -> Layout {
        let mut taken: HashSet<String> = HashSet::from(["time".to_owned()]);
        let mut tag_names: Vec<(String, &[u8])> = seen.tags.iter().map(|k| (name_of(k), k.as_slice())).collect();
        tag_names.sort();
        let mut layout = Layout::default();
        for (name, key) in tag_names {
            let name = unique(&mut taken, name);
            layout.tag_at.insert(key.to_vec(), layout.tags.len());
            layout.tags.push(name);
        }
        let tag_set: HashSet<&str> = layout.tags.iter().map(String::as_str).collect();
        let mut fields: Vec<(String, FieldType, &[u8])> = Vec::new();
        for (key, &mask) in &seen.fields {
            let base = name_of(key);
            let types: Vec<FieldType> = TYPES.into_iter().filter(|t| mask & (1 << (*t as u8)) != 0).collect();
            for &ty in &types {
                let mut name = if types.len() > 1 { format!("{base}::{}", ty.name()) } else { base.clone() };
                if tag_set.contains(name.as_str()) {
                    name.push_str("::field");
                }
                fields.push((name, ty, key));
            }
        }
        fields.sort_by(|a, b| (&a.0, a.1 as u8).cmp(&(&b.0, b.1 as u8)));
        for (name, ty, key) in fields {
            let name = unique(&mut taken, name);
            let at = layout.field_at.entry(key.to_vec()).or_insert([None; 6]);
            at[ty as usize] = Some(layout.fields.len());
            layout.fields.push(FieldColumn { name, ty });
        }
        layout
    }

    /// The tag column of an escaped tag key.
    pub fn tag(&self, key: &[u8]) -> Option<usize> {
        self.tag_at.get(key).copied()
    }

    /// The field column of an escaped field key and a type.
    pub fn field(&self, key: &[u8], ty: FieldType) -> Option<usize> {
        self.field_at.get(key).and_then(|at| at[ty as usize])
    }
}

/// `name`, or `name_1`, `name_2`, ... if it is taken; marked taken.
fn unique(taken: &mut HashSet<String>, name: String) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let mut n = 1u64;
    loop {
        let candidate = format!("{name}_{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::StoredValue;

    fn field(key: &[u8], value: StoredValue<'static>) -> StoredField<'static> {
        // Keys in these tests are 'static literals.
        let key: &'static [u8] = Box::leak(key.to_vec().into_boxed_slice());
        StoredField { key, value }
    }

    #[test]
    fn names_are_unescaped_and_sorted() {
        let mut seen = Seen::default();
        seen.add(b",b\\ x=1,a=2", &[field(b"z\\,f", StoredValue::Integer(1)), field(b"y", StoredValue::Float(1.0))])
            .unwrap();
        seen.add(b",c=3", &[]).unwrap();
        let l = Layout::new(&seen);
        assert_eq!(l.tags, ["a", "b x", "c"]);
        let names: Vec<&str> = l.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["y", "z,f"]);
        assert_eq!(l.tag(b"b\\ x"), Some(1));
        assert_eq!(l.field(b"z\\,f", FieldType::Integer), Some(1));
        assert_eq!(l.field(b"z\\,f", FieldType::Float), None);
    }

    #[test]
    fn a_field_with_two_types_gets_a_column_per_type() {
        let mut seen = Seen::default();
        seen.add(b"", &[field(b"usage", StoredValue::Integer(1))]).unwrap();
        seen.add(b"", &[field(b"usage", StoredValue::Float(1.5))]).unwrap();
        let l = Layout::new(&seen);
        let names: Vec<&str> = l.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["usage::float", "usage::integer"]);
        assert_eq!(l.field(b"usage", FieldType::Float), Some(0));
        assert_eq!(l.field(b"usage", FieldType::Integer), Some(1));
    }

    #[test]
    fn a_field_named_like_a_tag_is_renamed() {
        let mut seen = Seen::default();
        seen.add(b",host=a", &[field(b"v", StoredValue::Integer(1))]).unwrap();
        seen.add(b"", &[field(b"host", StoredValue::String(b"x")), field(b"host::field", StoredValue::Boolean(true))])
            .unwrap();
        let l = Layout::new(&seen);
        let names: Vec<&str> = l.fields.iter().map(|f| f.name.as_str()).collect();
        // The renamed `host` and the stored `host::field` clash; ties go
        // by type (string before boolean), and the second takes `_1`.
        assert_eq!(names, ["host::field", "host::field_1", "v"]);
        assert_eq!(l.field(b"host", FieldType::String), Some(0));
        assert_eq!(l.field(b"host::field", FieldType::Boolean), Some(1));
    }

    #[test]
    fn a_series_key_that_does_not_split_is_refused() {
        let mut seen = Seen::default();
        assert!(seen.add(b"host=a", &[]).is_err());
    }
}
