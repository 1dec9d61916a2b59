//! Reading a sealed file: open checks the header (magic, version, CRC,
//! the partition's key) and the footer (its CRC, and that every chunk lies
//! between the header and the footer); each chunk is checked against its
//! CRC when it is read, before it is decoded.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::line_protocol::FieldType;
use crate::storage::File;

use super::chunk::{get_bits, get_dict, get_numbers, get_numbers_in, BadChunk, Cursor, Dict, Encoding};
use super::footer::{ChunkRef, Footer, Group};
use super::{header, tags, trailer, FIRST_READ_VERSION, FORMAT_VERSION, MAX_GROUP_ROWS, MAX_SERIES, MAX_SERIES_KEY_BYTES};

/// Why a sealed file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The OS refused (the file could not be opened or read).
    Io(io::Error),
    /// A format version this build does not know.
    Version(u32),
    /// Bytes that failed their checksum, or do not decode: what and where.
    Damaged(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Version(v) => {
                write!(f, "sealed file format version {v} (this build reads {FIRST_READ_VERSION} to {FORMAT_VERSION})")
            }
            ReadError::Damaged(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The encodings of a group's times and numeric fields: whole `pco`
/// (format 1) or `pco` pages (format 2).
const NUMBERS: &[Encoding] = &[Encoding::Pco, Encoding::PcoPages];

/// One field of one row group, decoded.
#[derive(Debug)]
pub struct Column {
    /// Which rows have the field (`None`: all of them).
    pub present: Option<Vec<bool>>,
    /// The values of the rows that have it, in row order.
    pub values: Values,
}

#[derive(Debug)]
pub enum Values {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    UInteger(Vec<u64>),
    Boolean(Vec<bool>),
    /// The distinct values, and each row's index into them.
    String(Dict, Vec<u32>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Float(v) => v.len(),
            Values::Integer(v) => v.len(),
            Values::UInteger(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::String(_, v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An open sealed file, its header and footer checked.
#[derive(Debug)]
pub struct Reader {
    file: Box<dyn File>,
    path: PathBuf,
    footer: Footer,
}

impl Reader {
    /// Opens `file` (at `path`, for messages), which must be a finished
    /// sealed file of the partition `key`.
    pub fn open(file: Box<dyn File>, path: &Path, key: &[u8]) -> Result<Reader, ReadError> {
        let damaged = |what: String| ReadError::Damaged(format!("{what}: {}", path.display()));
        let len = file.length()?;
        let mut fixed = [0u8; header::FIXED];
        if len < (header::FIXED + trailer::LEN) as u64 {
            return Err(damaged(format!("a sealed file of {len} bytes")));
        }
        file.read_at(&mut fixed, 0)?;
        let (version, key_len) = header::peek(&fixed).map_err(|e| damaged(e.0))?;
        let head_len = header::len_for(key_len);
        if (head_len + trailer::LEN) as u64 > len {
            return Err(damaged("the header runs past the end".into()));
        }
        let mut head = vec![0u8; head_len];
        file.read_at(&mut head, 0)?;
        let stored_key = header::check(&head).map_err(|e| damaged(e.0))?;
        // The version counts once the header's checksum matched.
        if !(FIRST_READ_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(ReadError::Version(version));
        }
        if stored_key != key {
            return Err(damaged("the file belongs to another partition or store".into()));
        }
        let mut tail = [0u8; trailer::LEN];
        file.read_at(&mut tail, len - trailer::LEN as u64)?;
        let (footer_len, crc) = trailer::decode(&tail).map_err(|e| damaged(e.0))?;
        let footer_at = (len - trailer::LEN as u64)
            .checked_sub(footer_len as u64)
            .filter(|&at| at >= head_len as u64)
            .ok_or_else(|| damaged("the footer runs past the start".into()))?;
        let mut body = Vec::new();
        body.try_reserve_exact(footer_len).map_err(|_| damaged(format!("a footer of {footer_len} bytes")))?;
        body.resize(footer_len, 0);
        file.read_at(&mut body, footer_at)?;
        if crc32fast::hash(&body) != crc {
            return Err(damaged(format!("footer checksum mismatch at offset {footer_at}")));
        }
        let footer = Footer::decode(&body).map_err(|e| damaged(e.0))?;
        let within =
            |c: &ChunkRef| c.offset >= head_len as u64 && c.offset.checked_add(u64::from(c.len)).is_some_and(|end| end <= footer_at);
        let all_within = footer.tags.iter().all(|t| within(&t.chunk))
            && footer.groups.iter().all(|g| {
                within(&g.series) && within(&g.time) && g.fields.iter().flatten().all(|f| within(&f.chunk))
            })
            && footer.groups.iter().all(|g| g.fields.len() == footer.fields.len());
        if !all_within {
            return Err(damaged("a chunk lies outside the file's chunks".into()));
        }
        // Counts every reader sizes its buffers by: bounded, and agreeing.
        let rows_ok = footer.groups.iter().all(|g| (1..=MAX_GROUP_ROWS).contains(&g.rows))
            && footer.groups.iter().map(|g| g.rows).sum::<u64>() == footer.rows;
        let series_ok = footer.series <= MAX_SERIES
            && u64::from(footer.series) <= footer.rows
            && footer.groups.iter().all(|g| g.min_series <= g.max_series && g.max_series < footer.series)
            && footer.tags.iter().all(|t| t.distinct <= footer.series && t.nulls <= u64::from(footer.series));
        if !rows_ok || !series_ok {
            return Err(damaged("the footer's counts do not agree".into()));
        }
        Ok(Reader { file, path: path.to_path_buf(), footer })
    }

    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn damaged(&self, c: &ChunkRef, what: &str) -> ReadError {
        ReadError::Damaged(format!("damaged chunk ({what}) at offset {}: {}", c.offset, self.path.display()))
    }

    /// A chunk's bytes, checked against their CRC.
    pub fn chunk(&self, c: &ChunkRef) -> Result<Vec<u8>, ReadError> {
        let mut b = vec![0u8; c.len as usize];
        self.file.read_at(&mut b, c.offset)?;
        if crc32fast::hash(&b) != c.crc {
            return Err(self.damaged(c, "checksum mismatch"));
        }
        Ok(b)
    }

    fn decode<T>(&self, c: &ChunkRef, want: Encoding, f: impl FnOnce(&mut Cursor<'_>) -> Result<T, BadChunk>) -> Result<T, ReadError> {
        self.decode_any(c, &[want], |r, _| f(r))
    }

    /// [`Reader::decode`] of a chunk in any of the encodings `want`
    /// (handed to `f`).
    fn decode_any<T>(
        &self,
        c: &ChunkRef,
        want: &[Encoding],
        f: impl FnOnce(&mut Cursor<'_>, Encoding) -> Result<T, BadChunk>,
    ) -> Result<T, ReadError> {
        if !want.contains(&c.encoding) {
            return Err(self.damaged(c, "unexpected encoding"));
        }
        let b = self.chunk(c)?;
        let mut r = Cursor::new(&b);
        let v = f(&mut r, c.encoding).map_err(|e| self.damaged(c, &e.0))?;
        if !r.is_empty() {
            return Err(self.damaged(c, "bytes after its values"));
        }
        Ok(v)
    }

    /// A group's (series id, rows) runs, in id order.
    pub fn runs(&self, g: &Group) -> Result<Vec<(u32, u32)>, ReadError> {
        let rows = self.rows_of(g)?;
        let series = self.footer.series;
        self.decode(&g.series, Encoding::Runs, |r| {
            let n = r.len()?;
            if n > rows {
                return Err(BadChunk("more runs than rows".into()));
            }
            let ids: Vec<u32> = get_numbers(r, n)?;
            let counts: Vec<u32> = get_numbers(r, n)?;
            if counts.iter().map(|&c| c as usize).sum::<usize>() != rows || ids.iter().any(|&i| i >= series) {
                return Err(BadChunk("runs do not match the group".into()));
            }
            Ok(ids.into_iter().zip(counts).collect())
        })
    }

    fn rows_of(&self, g: &Group) -> Result<usize, ReadError> {
        usize::try_from(g.rows).map_err(|_| self.damaged(&g.time, "row count"))
    }

    /// A group's times, row by row.
    pub fn times(&self, g: &Group) -> Result<Vec<i64>, ReadError> {
        let rows = self.rows_of(g)?;
        self.times_in(g, &[(0, rows)])
    }

    /// The times of the group's rows in `ranges` (sorted, disjoint row
    /// ranges: series runs), concatenated. Only the pages holding them
    /// are decoded (a format 1 chunk is decoded whole).
    pub fn times_in(&self, g: &Group, ranges: &[(usize, usize)]) -> Result<Vec<i64>, ReadError> {
        let rows = self.rows_of(g)?;
        self.decode_any(&g.time, NUMBERS, |r, e| get_numbers_in(r, e, rows, ranges))
    }

    /// Field column `col` (a position in the footer's fields) of a group;
    /// `None` when no row of the group has it.
    pub fn field(&self, g: &Group, col: usize) -> Result<Option<Column>, ReadError> {
        let rows = self.rows_of(g)?;
        self.field_in(g, col, &[(0, rows)])
    }

    /// [`Reader::field`] of the rows in `ranges` only (as
    /// [`Reader::times_in`] takes them): the column's presence and values
    /// are those rows', in order.
    pub fn field_in(&self, g: &Group, col: usize, ranges: &[(usize, usize)]) -> Result<Option<Column>, ReadError> {
        let Some(Some(fc)) = g.fields.get(col) else { return Ok(None) };
        let Some(column) = self.footer.fields.get(col) else { return Ok(None) };
        let rows = self.rows_of(g)?;
        let nulls = usize::try_from(fc.nulls).ok().filter(|&n| n < rows).ok_or_else(|| self.damaged(&fc.chunk, "nulls"))?;
        let n = rows - nulls;
        let want: &[Encoding] = if column.ty == FieldType::String { &[Encoding::Dict] } else { NUMBERS };
        let ty = column.ty;
        let whole = ranges == [(0, rows)];
        self.decode_any(&fc.chunk, want, |r, encoding| {
            if ranges.iter().any(|&(a, b)| a >= b || b > rows) || ranges.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(BadChunk("row ranges out of order".into()));
            }
            // The present values' indexes of the rows asked for, and
            // those rows' presence.
            let (present, value_ranges) = if nulls > 0 {
                let p = get_bits(r, rows)?;
                if p.iter().filter(|b| !**b).count() != nulls {
                    return Err(BadChunk("presence does not match the null count".into()));
                }
                if whole {
                    (Some(p), vec![(0, n)])
                } else {
                    let mut before = 0usize; // present values before row `at`
                    let mut at = 0usize;
                    let mut vr = Vec::with_capacity(ranges.len());
                    let mut sel = Vec::with_capacity(ranges.iter().map(|(a, b)| b - a).sum());
                    for &(a, b) in ranges {
                        before += p[at..a].iter().filter(|x| **x).count();
                        let inside = p[a..b].iter().filter(|x| **x).count();
                        if inside > 0 {
                            vr.push((before, before + inside));
                        }
                        sel.extend_from_slice(&p[a..b]);
                        before += inside;
                        at = b;
                    }
                    (Some(sel), vr)
                }
            } else {
                (None, ranges.to_vec())
            };
            let values = match ty {
                FieldType::Float => Values::Float(get_numbers_in(r, encoding, n, &value_ranges)?),
                FieldType::Integer => Values::Integer(get_numbers_in(r, encoding, n, &value_ranges)?),
                FieldType::UInteger => Values::UInteger(get_numbers_in(r, encoding, n, &value_ranges)?),
                FieldType::Boolean => {
                    let v: Vec<u32> = get_numbers_in(r, encoding, n, &value_ranges)?;
                    if v.iter().any(|&b| b > 1) {
                        return Err(BadChunk("a boolean that is neither 0 nor 1".into()));
                    }
                    Values::Boolean(v.into_iter().map(|b| b == 1).collect())
                }
                FieldType::String => {
                    let dict = get_dict(r)?;
                    let idx: Vec<u32> = get_numbers_in(r, encoding, n, &value_ranges)?;
                    if idx.iter().any(|&i| i as usize >= dict.len()) {
                        return Err(BadChunk("a string index past its dictionary".into()));
                    }
                    Values::String(dict, idx)
                }
            };
            Ok(Some(Column { present, values }))
        })
    }

    /// Every series key, by id, rebuilt from the tag columns.
    pub fn series_keys(&self) -> Result<Vec<Vec<u8>>, ReadError> {
        let n = self.footer.series as usize;
        let mut keys = vec![Vec::new(); n];
        let mut total = 0u64;
        for t in &self.footer.tags {
            let (dict, idx) = self.decode(&t.chunk, Encoding::Dict, |r| {
                let dict = get_dict(r)?;
                let idx: Vec<u32> = get_numbers(r, n)?;
                if idx.iter().any(|&i| i as usize > dict.len()) {
                    return Err(BadChunk("a tag index past its dictionary".into()));
                }
                Ok((dict, idx))
            })?;
            for (key, &i) in keys.iter_mut().zip(&idx) {
                if let Some(v) = i.checked_sub(1).and_then(|i| dict.get(i as usize)) {
                    // Keys share dictionary values: their total is bounded
                    // apart, so that a damaged file cannot make it huge.
                    total = total.saturating_add((t.key.len() + v.len() + 2) as u64);
                    if total > MAX_SERIES_KEY_BYTES {
                        return Err(ReadError::Damaged(format!(
                            "series keys of more than {MAX_SERIES_KEY_BYTES} bytes: {}",
                            self.path.display()
                        )));
                    }
                    tags::join_into(key, &t.key, v);
                }
            }
        }
        Ok(keys)
    }

    /// Reads and checks every chunk (a scrub): the count of chunks and
    /// their bytes, or the first damage.
    pub fn verify(&self) -> Result<(u64, u64), ReadError> {
        let mut chunks: Vec<&ChunkRef> = self.footer.tags.iter().map(|t| &t.chunk).collect();
        for g in &self.footer.groups {
            chunks.push(&g.series);
            chunks.push(&g.time);
            chunks.extend(g.fields.iter().flatten().map(|f| &f.chunk));
        }
        let mut bytes = 0;
        for c in &chunks {
            self.chunk(c)?;
            bytes += u64::from(c.len);
        }
        Ok((chunks.len() as u64, bytes))
    }
}
