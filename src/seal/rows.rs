//! A partition's blocks (and the rows of older sealed files being merged
//! into the new one), in the order they were written, become a sealed
//! file's row groups: rows are gathered until a group holds [`GROUP_ROWS`],
//! then sorted by (series, time), the rows of one
//! point merged (the later write's fields win, field by field, as queries
//! merge them), and handed to the writer. Memory holds one group.

use std::collections::HashMap;

use crate::columnar::{GroupRow, WriteError, Writer};
use crate::rows::{merge_fields, Block, Fields, StoredField, StoredValue};

/// Rows of a row group (the last of a file may hold fewer): measured in
/// BENCHMARKS.md, within 2.5% of the smallest files, and a sixteenth of a
/// busy day for a query of a short range to decode.
pub const GROUP_ROWS: usize = 65_536;

struct Pending<'a> {
    series: u32,
    time: i64,
    /// Write order within the group (rows come in write order).
    order: u32,
    fields: Source<'a>,
}

/// Where a pending row's fields are.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Encoded in a block (which of the group's blocks holds its keys).
    Block(Fields<'a>, u32),
    /// Copied (from an older sealed file): a range of `Grouper::owned`.
    Owned(u32, u32),
}

/// A field copied into the grouper: its key (an index of `keys`) and value
/// (strings as a range of `strings`).
#[derive(Clone, Copy)]
struct OwnedField {
    key: u32,
    value: OwnedValue,
}

#[derive(Clone, Copy)]
enum OwnedValue {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    Boolean(bool),
    String(u32, u32),
}

/// Turns blocks into row groups.
pub struct Grouper<'a> {
    blocks: Vec<Block<'a>>,
    rows: Vec<Pending<'a>>,
    owned: Vec<OwnedField>,
    strings: Vec<u8>,
    keys: Vec<Vec<u8>>,
    key_ids: HashMap<Vec<u8>, u32>,
    group_rows: usize,
    /// Rows handed over and rows written (fewer when points merged).
    pub rows_in: u64,
    pub rows_out: u64,
}

impl std::fmt::Debug for Grouper<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grouper({} rows pending)", self.rows.len())
    }
}

fn damaged(what: &str) -> WriteError {
    WriteError::Rows(format!("a stored block that passed its checksum does not decode ({what})"))
}

impl<'a> Grouper<'a> {
    pub fn new(group_rows: usize) -> Self {
        Grouper {
            blocks: Vec::new(),
            rows: Vec::new(),
            owned: Vec::new(),
            strings: Vec::new(),
            keys: Vec::new(),
            key_ids: HashMap::new(),
            group_rows: group_rows.max(1),
            rows_in: 0,
            rows_out: 0,
        }
    }

    /// Adds the rows of one block body (verified by the caller), writing
    /// a group when enough have gathered.
    pub fn add_block(&mut self, w: &mut Writer, body: &'a [u8]) -> Result<(), WriteError> {
        let block = Block::decode(body).map_err(|_| damaged("header"))?;
        // The block stays among the group's blocks (its rows' keys are in
        // it), and comes back after a group is written in its middle.
        self.blocks.push(block.clone());
        let mut index = u32::try_from(self.blocks.len() - 1).map_err(|_| damaged("too many blocks"))?;
        // The file's id of each of the block's series, looked up once a
        // block (rows point into the block's series dictionary).
        let mut ids: HashMap<(usize, usize), u32> = HashMap::new();
        for row in block.rows() {
            let row = row.map_err(|_| damaged("row"))?;
            let order = u32::try_from(self.rows.len()).map_err(|_| damaged("too many rows"))?;
            let series = match ids.get(&(row.series.as_ptr() as usize, row.series.len())) {
                Some(&id) => id,
                None => {
                    let id = w.series_id(row.series)?;
                    ids.insert((row.series.as_ptr() as usize, row.series.len()), id);
                    id
                }
            };
            self.rows.push(Pending { series, time: row.time, order, fields: Source::Block(row.fields, index) });
            // Groups are cut exactly at `group_rows`, inside a block if
            // need be: a reader bounds its buffers by the group size.
            if self.rows.len() >= self.group_rows {
                self.flush(w)?;
                self.blocks.push(block.clone());
                index = 0;
            }
        }
        Ok(())
    }

    /// Adds one row given as fields (a row of an older sealed file),
    /// copying them; writes a group when enough have gathered.
    pub fn add_row(&mut self, w: &mut Writer, series: &[u8], time: i64, fields: &[StoredField<'_>]) -> Result<(), WriteError> {
        let too_many = || WriteError::Rows("too many rows in one group".into());
        let order = u32::try_from(self.rows.len()).map_err(|_| too_many())?;
        let start = u32::try_from(self.owned.len()).map_err(|_| too_many())?;
        for f in fields {
            let key = match self.key_ids.get(f.key) {
                Some(&k) => k,
                None => {
                    let k = u32::try_from(self.keys.len()).map_err(|_| too_many())?;
                    self.keys.push(f.key.to_vec());
                    self.key_ids.insert(f.key.to_vec(), k);
                    k
                }
            };
            let value = match f.value {
                StoredValue::Float(x) => OwnedValue::Float(x),
                StoredValue::Integer(x) => OwnedValue::Integer(x),
                StoredValue::UInteger(x) => OwnedValue::UInteger(x),
                StoredValue::Boolean(x) => OwnedValue::Boolean(x),
                StoredValue::String(s) => {
                    let at = u32::try_from(self.strings.len()).map_err(|_| too_many())?;
                    let len = u32::try_from(s.len()).map_err(|_| too_many())?;
                    self.strings.extend_from_slice(s);
                    OwnedValue::String(at, len)
                }
            };
            self.owned.push(OwnedField { key, value });
        }
        let end = u32::try_from(self.owned.len()).map_err(|_| too_many())?;
        let series = w.series_id(series)?;
        self.rows.push(Pending { series, time, order, fields: Source::Owned(start, end) });
        if self.rows.len() >= self.group_rows {
            self.flush(w)?;
        }
        Ok(())
    }

    /// The fields of a pending row, appended to `out`.
    fn fields_of<'s>(&'s self, src: Source<'a>, out: &mut Vec<StoredField<'s>>) -> Result<(), WriteError> {
        match src {
            Source::Block(fields, block) => {
                let keys = &self.blocks.get(block as usize).ok_or_else(|| damaged("block"))?.keys;
                fields.decode(keys, out).map_err(|_| damaged("fields"))
            }
            Source::Owned(start, end) => {
                let fields = self.owned.get(start as usize..end as usize).ok_or_else(|| damaged("copied fields"))?;
                for f in fields {
                    let key = self.keys.get(f.key as usize).ok_or_else(|| damaged("copied key"))?;
                    let value = match f.value {
                        OwnedValue::Float(x) => StoredValue::Float(x),
                        OwnedValue::Integer(x) => StoredValue::Integer(x),
                        OwnedValue::UInteger(x) => StoredValue::UInteger(x),
                        OwnedValue::Boolean(x) => StoredValue::Boolean(x),
                        OwnedValue::String(at, len) => StoredValue::String(
                            self.strings.get(at as usize..at as usize + len as usize).ok_or_else(|| damaged("copied string"))?,
                        ),
                    };
                    out.push(StoredField { key, value });
                }
                Ok(())
            }
        }
    }

    /// Writes what is left.
    pub fn finish(mut self, w: &mut Writer) -> Result<(u64, u64), WriteError> {
        self.flush(w)?;
        Ok((self.rows_in, self.rows_out))
    }

    fn flush(&mut self, w: &mut Writer) -> Result<(), WriteError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        self.rows.sort_unstable_by_key(|r| (r.series, r.time, r.order));
        let mut out: Vec<GroupRow> = Vec::with_capacity(self.rows.len());
        let mut fields: Vec<StoredField<'_>> = Vec::new();
        let (mut next, mut scratch) = (Vec::new(), Vec::new());
        let mut acc: Vec<StoredField<'_>> = Vec::new();
        let mut i = 0;
        while i < self.rows.len() {
            let r = &self.rows[i];
            acc.clear();
            self.fields_of(r.fields, &mut acc)?;
            let mut j = i + 1;
            while j < self.rows.len() && self.rows[j].series == r.series && self.rows[j].time == r.time {
                next.clear();
                self.fields_of(self.rows[j].fields, &mut next)?;
                merge_fields(&mut acc, &next, &mut scratch);
                j += 1;
            }
            let start = fields.len();
            fields.extend_from_slice(&acc);
            out.push(GroupRow { series: r.series, time: r.time, fields: start..fields.len() });
            i = j;
        }
        w.write_group(&out, &fields)?;
        drop(fields);
        self.rows_in += self.rows.len() as u64;
        self.rows_out += out.len() as u64;
        self.rows.clear();
        self.blocks.clear();
        self.owned.clear();
        self.strings.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::{parse, Batch, Precision};
    use crate::rows::BlockEncoder;
    use crate::storage::{FsStorage, OpenMode, Storage};

    fn body(text: &str) -> Vec<u8> {
        let mut batch = Batch::new();
        parse(text.as_bytes(), Precision::Nanosecond, 0, &mut batch).unwrap();
        let mut enc = BlockEncoder::new();
        for l in batch.iter() {
            enc.row(l);
        }
        let mut out = Vec::new();
        enc.finish(&mut out);
        out
    }

    #[test]
    fn groups_are_cut_at_their_size_inside_a_block_and_points_merge_within_one() {
        let dir = std::env::temp_dir().join(format!("linedb-grouper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("1.col");
        let mut w = Writer::new(FsStorage.open_file(&path, OpenMode::CreateNew).unwrap(), b"k").unwrap();
        // 10 rows; the 3rd and 4th are one point (merged: f from the
        // later, g kept from the earlier).
        let a = body("m,h=a f=1i,g=1i 1\nm,h=b f=2i 2\nm,h=a f=3i,g=7i 3\nm,h=a f=4i 3\n");
        let b = body("m,h=a f=5i 5\nm,h=a f=6i 6\nm,h=b f=7i 7\nm,h=b f=8i 8\nm,h=a f=9i 9\nm,h=a f=10i 10\n");
        let mut g = Grouper::new(4);
        g.add_block(&mut w, &a).unwrap();
        g.add_block(&mut w, &b).unwrap();
        let (rows_in, rows_out) = g.finish(&mut w).unwrap();
        assert_eq!((rows_in, rows_out), (10, 9));
        w.finish((1, 2)).unwrap();
        let r = crate::columnar::Reader::open(FsStorage.open_file(&path, OpenMode::Read).unwrap(), &path, b"k").unwrap();
        let sizes: Vec<u64> = r.footer().groups.iter().map(|g| g.rows).collect();
        assert_eq!(sizes, [3, 4, 2], "4 rows a group; the first held one point twice");
        let d = crate::seal::read::Decoded::read(&r, i64::MIN, i64::MAX).unwrap();
        let mut f = Vec::new();
        let point3: Vec<_> = d
            .rows(3, 4)
            .map(|(at, _, s)| {
                f.clear();
                d.fields(at, &mut f);
                (s.to_vec(), f.iter().map(|x| (x.key.to_vec(), x.value)).collect::<Vec<_>>())
            })
            .collect();
        assert_eq!(
            point3,
            [(b",h=a".to_vec(), vec![(b"f".to_vec(), StoredValue::Integer(4)), (b"g".to_vec(), StoredValue::Integer(7))])]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
