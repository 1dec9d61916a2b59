//! Writing a sealed file: the header, then each row group's chunks as the
//! caller hands the groups over (so memory holds one group, not the
//! partition), then the tag columns, the footer and the trailer, then one
//! fdatasync. The caller writes to a temporary name and renames.

use std::collections::HashMap;
use std::io;
use std::ops::Range;

use crate::line_protocol::FieldType;
use crate::rows::{StoredField, StoredValue};
use crate::storage::File;

use super::chunk::{page_sizes, put_bits, put_dict, put_numbers, put_paged, BadChunk, Encoding};
use super::footer::{ChunkRef, FieldChunk, FieldColumn, Footer, Group, TagColumn};
use super::{header, tags, trailer, ALIGN};

/// One row of a group: its series (an id from [`Writer::series_id`]), its
/// time, and its fields (a range of the slice given with the rows, in key
/// order, each key once).
#[derive(Clone, Debug)]
pub struct GroupRow {
    pub series: u32,
    pub time: i64,
    pub fields: Range<usize>,
}

/// What a finished file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
    pub bytes: u64,
}

/// Why a file could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    Io(io::Error),
    /// The rows cannot be stored as columns (a field with two types, rows
    /// out of order, a series key that does not split into tags): a bug
    /// or damage upstream; nothing is sealed.
    Rows(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Io(e) => write!(f, "{e}"),
            WriteError::Rows(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl From<BadChunk> for WriteError {
    fn from(e: BadChunk) -> Self {
        WriteError::Rows(e.0)
    }
}

/// A field column of one group, being filled.
struct Building<'a> {
    ty: FieldType,
    /// Which rows of the group have the field.
    present: Vec<bool>,
    values: Values<'a>,
}

enum Values<'a> {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    UInteger(Vec<u64>),
    Boolean(Vec<bool>),
    String(Vec<&'a [u8]>),
}

impl<'a> Values<'a> {
    fn new(ty: FieldType) -> Self {
        match ty {
            FieldType::Float => Values::Float(Vec::new()),
            FieldType::Integer => Values::Integer(Vec::new()),
            FieldType::UInteger => Values::UInteger(Vec::new()),
            FieldType::Boolean => Values::Boolean(Vec::new()),
            FieldType::String => Values::String(Vec::new()),
        }
    }

    /// Appends `v`; false if it is of another type.
    fn push(&mut self, v: StoredValue<'a>) -> bool {
        match (self, v) {
            (Values::Float(x), StoredValue::Float(v)) => x.push(v),
            (Values::Integer(x), StoredValue::Integer(v)) => x.push(v),
            (Values::UInteger(x), StoredValue::UInteger(v)) => x.push(v),
            (Values::Boolean(x), StoredValue::Boolean(v)) => x.push(v),
            (Values::String(x), StoredValue::String(v)) => x.push(v),
            _ => return false,
        }
        true
    }
}

pub fn type_of(v: &StoredValue<'_>) -> FieldType {
    match v {
        StoredValue::Float(_) => FieldType::Float,
        StoredValue::Integer(_) => FieldType::Integer,
        StoredValue::UInteger(_) => FieldType::UInteger,
        StoredValue::Boolean(_) => FieldType::Boolean,
        StoredValue::String(_) => FieldType::String,
    }
}

/// A group whose field chunks are written, by field key (resolved to
/// column positions at the end: a field may first appear in a later group).
struct Written {
    group: Group,
    fields: Vec<(usize, FieldChunk)>,
}

/// Writes one sealed file.
#[derive(Debug)]
pub struct Writer {
    file: Box<dyn File>,
    /// Where the next chunk goes.
    end: u64,
    /// Series keys by id, and ids by key.
    series: Vec<Vec<u8>>,
    ids: HashMap<Vec<u8>, u32>,
    /// Bytes of the series keys so far.
    key_bytes: u64,
    /// Field columns by first appearance, and their positions by key.
    fields: Vec<FieldColumn>,
    field_ids: HashMap<Vec<u8>, usize>,
    groups: Vec<WrittenDebug>,
}

/// [`Written`], kept opaque in `Writer`'s Debug output.
struct WrittenDebug(Written);

impl std::fmt::Debug for WrittenDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "group of {} rows", self.0.group.rows)
    }
}

impl Writer {
    /// Starts a file in `file` (new and empty) for the partition `key`.
    pub fn new(file: Box<dyn File>, key: &[u8]) -> io::Result<Writer> {
        let head = header::encode(key);
        file.write_at(&head, 0)?;
        Ok(Writer {
            file,
            end: head.len() as u64,
            series: Vec::new(),
            ids: HashMap::new(),
            key_bytes: 0,
            fields: Vec::new(),
            field_ids: HashMap::new(),
            groups: Vec::new(),
        })
    }

    /// The id of a series key, given out in order of first use.
    pub fn series_id(&mut self, key: &[u8]) -> Result<u32, WriteError> {
        if let Some(&id) = self.ids.get(key) {
            return Ok(id);
        }
        self.key_bytes = self.key_bytes.saturating_add(key.len() as u64);
        if self.key_bytes > super::MAX_SERIES_KEY_BYTES {
            return Err(WriteError::Rows(format!("more than {} bytes of series keys", super::MAX_SERIES_KEY_BYTES)));
        }
        let id = u32::try_from(self.series.len())
            .ok()
            .filter(|&n| n < super::MAX_SERIES)
            .ok_or_else(|| WriteError::Rows(format!("more than {} series in one partition", super::MAX_SERIES)))?;
        self.series.push(key.to_vec());
        self.ids.insert(key.to_vec(), id);
        Ok(id)
    }

    fn put_chunk(&mut self, bytes: &[u8], encoding: Encoding) -> io::Result<ChunkRef> {
        let offset = self.end.next_multiple_of(ALIGN);
        self.file.write_at(bytes, offset)?;
        let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("a chunk over 4 GiB"))?;
        self.end = offset + u64::from(len);
        Ok(ChunkRef { offset, len, crc: crc32fast::hash(bytes), encoding })
    }

    /// Writes one row group: `rows` in (series, time) order, no two with
    /// the same series and time, their fields in `fields`.
    pub fn write_group(&mut self, rows: &[GroupRow], fields: &[StoredField<'_>]) -> Result<(), WriteError> {
        let Some(first) = rows.first() else { return Ok(()) };
        if rows.len() as u64 > super::MAX_GROUP_ROWS {
            return Err(WriteError::Rows(format!("a row group of {} rows (at most {})", rows.len(), super::MAX_GROUP_ROWS)));
        }
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut times = Vec::with_capacity(rows.len());
        let (mut min_time, mut max_time) = (first.time, first.time);
        let mut cols: Vec<(usize, Building<'_>)> = Vec::new();
        // The group's column of each field id, and the ids of the row
        // before's fields, in order.
        let mut col_of: Vec<Option<usize>> = Vec::new();
        let mut last_ids: Vec<usize> = Vec::new();
        let mut prev: Option<(u32, i64)> = None;
        for (n, row) in rows.iter().enumerate() {
            if prev.is_some_and(|p| p >= (row.series, row.time)) || row.series as usize >= self.series.len() {
                return Err(WriteError::Rows(format!("row {n} of a group is out of (series, time) order")));
            }
            prev = Some((row.series, row.time));
            match runs.last_mut() {
                Some((s, c)) if *s == row.series => *c += 1,
                _ => runs.push((row.series, 1)),
            }
            times.push(row.time);
            min_time = min_time.min(row.time);
            max_time = max_time.max(row.time);
            let fs = fields.get(row.fields.clone()).ok_or_else(|| WriteError::Rows("a row's fields are out of range".into()))?;
            for (j, f) in fs.iter().enumerate() {
                let ty = type_of(&f.value);
                // Rows of a group mostly have the fields of the row before,
                // in the same order: a comparison of the key, not a hash.
                let cached = last_ids.get(j).copied().filter(|&id| self.fields[id].key == f.key);
                let id = match cached.or_else(|| self.field_ids.get(f.key).copied()) {
                    Some(id) => id,
                    None => {
                        self.fields.push(FieldColumn { key: f.key.to_vec(), ty });
                        self.field_ids.insert(f.key.to_vec(), self.fields.len() - 1);
                        self.fields.len() - 1
                    }
                };
                if last_ids.len() <= j {
                    last_ids.resize(j + 1, id);
                }
                last_ids[j] = id;
                if self.fields[id].ty != ty {
                    return Err(WriteError::Rows(format!(
                        "field {:?} holds {} and {} values",
                        String::from_utf8_lossy(f.key),
                        self.fields[id].ty.name(),
                        ty.name()
                    )));
                }
                if col_of.len() <= id {
                    col_of.resize(id + 1, None);
                }
                let c = match col_of[id] {
                    Some(c) => c,
                    None => {
                        cols.push((id, Building { ty, present: vec![false; rows.len()], values: Values::new(ty) }));
                        col_of[id] = Some(cols.len() - 1);
                        cols.len() - 1
                    }
                };
                let b = &mut cols[c].1;
                if b.present[n] {
                    return Err(WriteError::Rows(format!("row {n} holds field {:?} twice", String::from_utf8_lossy(f.key))));
                }
                b.present[n] = true;
                b.values.push(f.value);
            }
        }
        let mut bytes = Vec::new();
        let n = u32::try_from(runs.len()).map_err(|_| WriteError::Rows("too many runs".into()))?;
        bytes.extend_from_slice(&n.to_le_bytes());
        put_numbers(&runs.iter().map(|r| r.0).collect::<Vec<u32>>(), &mut bytes)?;
        put_numbers(&runs.iter().map(|r| r.1).collect::<Vec<u32>>(), &mut bytes)?;
        let series = self.put_chunk(&bytes, Encoding::Runs)?;
        bytes.clear();
        put_paged(&times, &page_sizes(runs.iter().map(|r| r.1 as usize)), &mut bytes)?;
        let time = self.put_chunk(&bytes, Encoding::PcoPages)?;
        let mut written = Vec::with_capacity(cols.len());
        for (id, b) in cols {
            bytes.clear();
            let nulls = b.present.iter().filter(|p| !**p).count() as u64;
            if nulls > 0 {
                put_bits(b.present.iter().copied(), &mut bytes);
            }
            // Pages of whole runs, counted in present values.
            let mut at = 0usize;
            let per_run = runs.iter().map(|r| {
                let rows = &b.present[at..at + r.1 as usize];
                at += r.1 as usize;
                rows.iter().filter(|p| **p).count()
            });
            let pages = page_sizes(per_run);
            let (encoding, min_max) = encode_values(&b.values, &pages, &mut bytes)?;
            let chunk = self.put_chunk(&bytes, encoding)?;
            debug_assert_eq!(type_of_values(&b.values), b.ty);
            written.push((id, FieldChunk { chunk, nulls, min_max }));
        }
        let (min_series, max_series) = (runs[0].0, runs[runs.len() - 1].0);
        let group =
            Group { rows: rows.len() as u64, min_time, max_time, min_series, max_series, series, time, fields: Vec::new() };
        self.groups.push(WrittenDebug(Written { group, fields: written }));
        Ok(())
    }

    /// Writes the tag columns, the footer and the trailer, and syncs the
    /// file. `seqs`: the WAL sequences of the blocks the rows came from.
    pub fn finish(mut self, seqs: (u64, u64)) -> Result<Summary, WriteError> {
        let series = u32::try_from(self.series.len()).map_err(|_| WriteError::Rows("too many series".into()))?;
        let tag_cols = self.write_tags()?;
        // Field columns in key order; groups point at them by position.
        let mut order: Vec<usize> = (0..self.fields.len()).collect();
        order.sort_by(|&a, &b| self.fields[a].key.cmp(&self.fields[b].key));
        let mut pos = vec![0; order.len()];
        for (p, &id) in order.iter().enumerate() {
            pos[id] = p;
        }
        let fields: Vec<FieldColumn> = order.iter().map(|&id| self.fields[id].clone()).collect();
        let mut groups = Vec::with_capacity(self.groups.len());
        for WrittenDebug(w) in std::mem::take(&mut self.groups) {
            let mut g = w.group;
            g.fields = vec![None; fields.len()];
            for (id, fc) in w.fields {
                g.fields[pos[id]] = Some(fc);
            }
            groups.push(g);
        }
        let rows = groups.iter().map(|g| g.rows).sum();
        let min_time = groups.iter().map(|g| g.min_time).min().unwrap_or(0);
        let max_time = groups.iter().map(|g| g.max_time).max().unwrap_or(0);
        let footer =
            Footer { rows, min_time, max_time, min_seq: seqs.0, max_seq: seqs.1, series, tags: tag_cols, fields, groups };
        let body = footer.encode();
        let at = self.end.next_multiple_of(ALIGN);
        let mut tail = body;
        tail.extend_from_slice(&trailer::encode(&tail)?);
        self.file.write_at(&tail, at)?;
        let bytes = at + tail.len() as u64;
        self.file.sync_data()?;
        Ok(Summary { rows, min_time, max_time, bytes })
    }

    /// One chunk per tag key: its distinct values (sorted) and each
    /// series' value. Checked first: every series key must come back
    /// exactly from the columns.
    fn write_tags(&mut self) -> Result<Vec<TagColumn>, WriteError> {
        // Tag keys in the order series keys hold them (unescaped).
        let mut keys: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut key_pos: HashMap<Vec<u8>, usize> = HashMap::new();
        let all = std::mem::take(&mut self.series);
        let mut split = Vec::with_capacity(all.len());
        for s in &all {
            let t = tags::split(s).ok_or_else(|| WriteError::Rows(format!("series key {:?} does not split into tags", String::from_utf8_lossy(s))))?;
            for (k, _) in &t {
                if !key_pos.contains_key(*k) {
                    key_pos.insert(k.to_vec(), keys.len());
                    keys.push((tags::unescape(k), k.to_vec()));
                }
            }
            split.push(t);
        }
        keys.sort();
        let col_of: HashMap<&[u8], usize> = keys.iter().enumerate().map(|(i, (_, k))| (k.as_slice(), i)).collect();
        // Each series' value index per column (0: none).
        let mut per_col: Vec<Vec<Option<&[u8]>>> = vec![vec![None; all.len()]; keys.len()];
        let mut rebuilt = Vec::new();
        for (sid, (t, original)) in split.iter().zip(&all).enumerate() {
            for (k, v) in t {
                per_col[col_of[*k]][sid] = Some(*v);
            }
            rebuilt.clear();
            for (c, (_, k)) in keys.iter().enumerate() {
                if let Some(v) = per_col[c][sid] {
                    tags::join_into(&mut rebuilt, k, v);
                }
            }
            if rebuilt != *original {
                return Err(WriteError::Rows(format!(
                    "series key {:?} does not come back from its tags",
                    String::from_utf8_lossy(original)
                )));
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        let mut bytes = Vec::new();
        for ((_, key), values) in keys.iter().zip(&per_col) {
            let mut dict: Vec<&[u8]> = values.iter().flatten().copied().collect();
            dict.sort_unstable();
            dict.dedup();
            let distinct = u32_of(dict.len())?;
            // Below `distinct`: no index overflows.
            let index: HashMap<&[u8], u32> = dict.iter().zip(1..=distinct).map(|(v, i)| (*v, i)).collect();
            let idx: Vec<u32> = values.iter().map(|v| v.map_or(0, |v| index[v])).collect();
            bytes.clear();
            put_dict(&dict, &mut bytes)?;
            put_numbers(&idx, &mut bytes)?;
            let chunk = self.put_chunk(&bytes, Encoding::Dict)?;
            out.push(TagColumn {
                key: key.clone(),
                chunk,
                distinct,
                nulls: values.iter().filter(|v| v.is_none()).count() as u64,
                min: dict.first().map(|v| v.to_vec()).unwrap_or_default(),
                max: dict.last().map(|v| v.to_vec()).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

fn u32_of(n: usize) -> Result<u32, BadChunk> {
    u32::try_from(n).map_err(|_| BadChunk(format!("{n} values in one chunk")))
}

fn type_of_values(v: &Values<'_>) -> FieldType {
    match v {
        Values::Float(_) => FieldType::Float,
        Values::Integer(_) => FieldType::Integer,
        Values::UInteger(_) => FieldType::UInteger,
        Values::Boolean(_) => FieldType::Boolean,
        Values::String(_) => FieldType::String,
    }
}

/// Appends the present values; returns the encoding and min/max bits.
/// Numbers go in `pages` (values per page, as `chunk::page_sizes` gives).
fn encode_values(v: &Values<'_>, pages: &[usize], out: &mut Vec<u8>) -> Result<(Encoding, Option<(u64, u64)>), BadChunk> {
    Ok(match v {
        Values::Float(x) => {
            put_paged(x, pages, out)?;
            let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (Encoding::PcoPages, Some((lo.to_bits(), hi.to_bits())))
        }
        Values::Integer(x) => {
            put_paged(x, pages, out)?;
            let (lo, hi) = (x.iter().min().copied().unwrap_or(0), x.iter().max().copied().unwrap_or(0));
            (Encoding::PcoPages, Some((lo as u64, hi as u64)))
        }
        Values::UInteger(x) => {
            put_paged(x, pages, out)?;
            (Encoding::PcoPages, Some((x.iter().min().copied().unwrap_or(0), x.iter().max().copied().unwrap_or(0))))
        }
        Values::Boolean(x) => {
            // As numbers 0 and 1: pco's entropy coding takes a field that
            // is mostly true to well under a bit a value (measured: 0.06
            // bytes against 0.125 for a bit each).
            put_paged(&x.iter().map(|b| u32::from(*b)).collect::<Vec<u32>>(), pages, out)?;
            let (lo, hi) = (x.iter().all(|b| *b), x.iter().any(|b| *b));
            (Encoding::PcoPages, Some((u64::from(lo), u64::from(hi))))
        }
        Values::String(x) => {
            let mut dict: Vec<&[u8]> = x.clone();
            dict.sort_unstable();
            dict.dedup();
            let index: HashMap<&[u8], u32> = dict.iter().zip(0..u32_of(dict.len())?).map(|(v, i)| (*v, i)).collect();
            put_dict(&dict, out)?;
            put_numbers(&x.iter().map(|v| index[v]).collect::<Vec<u32>>(), out)?;
            (Encoding::Dict, None)
        }
    })
}
