//! A sealed file's footer: where each chunk is, how it is encoded, its
//! checksum, its count of nulls and its min/max; what the columns are; and
//! the row groups. Written after the chunks, read (and its own checksum
//! checked) before any of them.

use crate::codec::{Dec, Enc};
use crate::schema::FieldType;

use super::chunk::{BadChunk, Encoding};

/// Where a chunk's bytes are and how to check and read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    pub offset: u64,
    pub len: u32,
    /// CRC32 of the chunk's bytes.
    pub crc: u32,
    pub encoding: Encoding,
}

/// A tag column: over the file's series (not rows), the value each series
/// has for this tag key, or none.
#[derive(Clone, Debug, PartialEq)]
pub struct TagColumn {
    /// The key as rows store it (escaped as canonical line protocol).
    pub key: Vec<u8>,
    pub chunk: ChunkRef,
    /// Distinct values (the dictionary's length).
    pub distinct: u32,
    /// Series without this tag.
    pub nulls: u64,
    /// The smallest and largest value (escaped), bytewise.
    pub min: Vec<u8>,
    pub max: Vec<u8>,
}

/// A field column: its key and its one type in this partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldColumn {
    pub key: Vec<u8>,
    pub ty: FieldType,
}

/// A min or max of a field chunk: the value's bits (an i64 or u64 as it
/// is, an f64's bits, a boolean as 0 or 1). String chunks have none.
pub type Stat = u64;

/// One field's chunk in one row group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldChunk {
    pub chunk: ChunkRef,
    /// Rows of the group without this field.
    pub nulls: u64,
    /// Over the rows that have it; `None` for strings.
    pub min_max: Option<(Stat, Stat)>,
}

/// Rows of some series, each series' rows in time order, the series in
/// the order of their ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
    /// The lowest and highest series id in the group.
    pub min_series: u32,
    pub max_series: u32,
    /// `Runs`: (series id, rows) in id order.
    pub series: ChunkRef,
    /// `Pco` of the rows' times.
    pub time: ChunkRef,
    /// One per field column, in the footer's column order; `None` when no
    /// row of the group has the field.
    pub fields: Vec<Option<FieldChunk>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Footer {
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
    /// The WAL sequences of the blocks the file was made from.
    pub min_seq: u64,
    pub max_seq: u64,
    /// Series in the file, numbered from 0.
    pub series: u32,
    /// In key order (as rows store series keys: bytewise by unescaped key).
    pub tags: Vec<TagColumn>,
    /// In key order (bytewise, escaped, as rows store fields).
    pub fields: Vec<FieldColumn>,
    pub groups: Vec<Group>,
}

fn put_chunk(e: &mut Enc, c: &ChunkRef) {
    e.u64(c.offset);
    e.u32(c.len);
    e.u32(c.crc);
    e.u8(c.encoding as u8);
}

fn get_chunk(d: &mut Dec<'_>) -> Option<ChunkRef> {
    Some(ChunkRef { offset: d.u64()?, len: d.u32()?, crc: d.u32()?, encoding: Encoding::from_u8(d.u8()?)? })
}

impl Footer {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u64(self.rows);
        e.i64(self.min_time);
        e.i64(self.max_time);
        e.u64(self.min_seq);
        e.u64(self.max_seq);
        e.u32(self.series);
        e.len(self.tags.len());
        for t in &self.tags {
            e.bytes(&t.key);
            put_chunk(&mut e, &t.chunk);
            e.u32(t.distinct);
            e.u64(t.nulls);
            e.bytes(&t.min);
            e.bytes(&t.max);
        }
        e.len(self.fields.len());
        for f in &self.fields {
            e.bytes(&f.key);
            e.u8(f.ty as u8);
        }
        e.len(self.groups.len());
        for g in &self.groups {
            e.u64(g.rows);
            e.i64(g.min_time);
            e.i64(g.max_time);
            e.u32(g.min_series);
            e.u32(g.max_series);
            put_chunk(&mut e, &g.series);
            put_chunk(&mut e, &g.time);
            for f in &g.fields {
                match f {
                    None => e.u8(0),
                    Some(f) => {
                        e.u8(if f.min_max.is_some() { 2 } else { 1 });
                        put_chunk(&mut e, &f.chunk);
                        e.u64(f.nulls);
                        if let Some((lo, hi)) = f.min_max {
                            e.u64(lo);
                            e.u64(hi);
                        }
                    }
                }
            }
        }
        e.buf
    }

    pub fn decode(b: &[u8]) -> Result<Footer, BadChunk> {
        Footer::decode_opt(b).ok_or_else(|| BadChunk("the footer does not decode".into()))
    }

    fn decode_opt(b: &[u8]) -> Option<Footer> {
        let mut d = Dec::new(b);
        let (rows, min_time, max_time, min_seq, max_seq, series) =
            (d.u64()?, d.i64()?, d.i64()?, d.u64()?, d.u64()?, d.u32()?);
        let n = d.count(8)?;
        let mut tags = Vec::with_capacity(n);
        for _ in 0..n {
            tags.push(TagColumn {
                key: d.bytes()?.to_vec(),
                chunk: get_chunk(&mut d)?,
                distinct: d.u32()?,
                nulls: d.u64()?,
                min: d.bytes()?.to_vec(),
                max: d.bytes()?.to_vec(),
            });
        }
        let n = d.count(5)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(FieldColumn { key: d.bytes()?.to_vec(), ty: FieldType::from_u8(d.u8()?)? });
        }
        // A group takes at least its fixed part and a byte per field.
        let n = d.count(8 * 3 + 4 * 2 + 17 * 2 + fields.len())?;
        let mut groups = Vec::with_capacity(n);
        for _ in 0..n {
            let (rows, min_time, max_time, min_series, max_series) = (d.u64()?, d.i64()?, d.i64()?, d.u32()?, d.u32()?);
            let (series, time) = (get_chunk(&mut d)?, get_chunk(&mut d)?);
            let mut fs = Vec::with_capacity(fields.len());
            for _ in 0..fields.len() {
                fs.push(match d.u8()? {
                    0 => None,
                    k @ (1 | 2) => {
                        let chunk = get_chunk(&mut d)?;
                        let nulls = d.u64()?;
                        let min_max = if k == 2 { Some((d.u64()?, d.u64()?)) } else { None };
                        Some(FieldChunk { chunk, nulls, min_max })
                    }
                    _ => return None,
                });
            }
            groups.push(Group { rows, min_time, max_time, min_series, max_series, series, time, fields: fs });
        }
        if !d.is_empty() {
            return None;
        }
        Some(Footer { rows, min_time, max_time, min_seq, max_seq, series, tags, fields, groups })
    }
}
