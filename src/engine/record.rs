//! What a WAL record holds. A record is everything a change needs to be
//! redone at recovery without parsing or validating again: the ids it gave
//! out, the schema changes it made (so a lost batch registers no field
//! type), and each partition's block of rows.
//!
//! | kind | fields |
//! |---|---|
//! | 1 create database | database id u32, name |
//! | 2 batch | database id u32; new tables (id u32, name); schema changes; blocks (table id u32, day i32, rows u32, min time i64, max time i64, body) |
//! | 3 create token | SHA-256 of the token, database or `*`, permissions u32 |
//! | 4 revoke token | SHA-256 of the token |

use std::ops::Range;

use crate::auth::StoredToken;
use crate::catalog::format_schema::{decode_schema, decode_token, encode_schema, encode_token};
use crate::codec::{Dec, Enc};
use crate::partition::Day;
use crate::schema::SchemaChanges;

const KIND_CREATE_DATABASE: u8 = 1;
const KIND_BATCH: u8 = 2;
const KIND_CREATE_TOKEN: u8 = 3;
const KIND_REVOKE_TOKEN: u8 = 4;

/// One partition's rows of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub table_id: u32,
    pub day: Day,
    pub rows: u32,
    pub min_time: i64,
    pub max_time: i64,
    /// The rows' bytes within the record's payload.
    pub body: Range<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    CreateDatabase { id: u32, name: String },
    Batch { db_id: u32, new_tables: Vec<(u32, String)>, changes: SchemaChanges, blocks: Vec<BlockRef> },
    CreateToken(StoredToken),
    RevokeToken { hash: [u8; 32] },
}

pub fn encode_create_token(t: &StoredToken) -> Vec<u8> {
    let mut e = Enc::default();
    e.u8(KIND_CREATE_TOKEN);
    encode_token(&mut e, t);
    e.buf
}

pub fn encode_revoke_token(hash: &[u8; 32]) -> Vec<u8> {
    let mut e = Enc::default();
    e.u8(KIND_REVOKE_TOKEN);
    e.buf.extend_from_slice(hash);
    e.buf
}

pub fn encode_create_database(id: u32, name: &str) -> Vec<u8> {
    let mut e = Enc::default();
    e.u8(KIND_CREATE_DATABASE);
    e.u32(id);
    e.str(name);
    e.buf
}

/// Builds a batch record block by block: the bodies are written straight
/// into the payload, so the rows are encoded once.
#[derive(Debug)]
pub struct BatchRecord {
    enc: Enc,
    count_at: usize,
    pub blocks: Vec<BlockRef>,
}

impl BatchRecord {
    #[cfg(test)]
    pub fn new(db_id: u32, new_tables: &[(u32, String)], changes: &SchemaChanges) -> Self {
        Self::with_buffer(Vec::new(), db_id, new_tables, changes)
    }

    /// As [`BatchRecord::new`], writing into `buf` (cleared first), so a
    /// writer can reuse one allocation.
    pub fn with_buffer(mut buf: Vec<u8>, db_id: u32, new_tables: &[(u32, String)], changes: &SchemaChanges) -> Self {
        buf.clear();
        let mut enc = Enc { buf };
        enc.u8(KIND_BATCH);
        enc.u32(db_id);
        enc.len(new_tables.len());
        for (id, name) in new_tables {
            enc.u32(*id);
            enc.str(name);
        }
        encode_schema(&mut enc, changes);
        let count_at = enc.buf.len();
        enc.u32(0);
        BatchRecord { enc, count_at, blocks: Vec::new() }
    }

    /// Starts a block; the caller appends its rows to the returned vector,
    /// then calls [`BatchRecord::end_block`].
    pub fn begin_block(&mut self, table_id: u32, day: Day) -> &mut Vec<u8> {
        self.enc.u32(table_id);
        self.enc.i32(day.0);
        // rows, min, max and the body length are filled in by end_block.
        self.enc.buf.extend_from_slice(&[0u8; 4 + 8 + 8 + 4]);
        let start = self.enc.buf.len();
        self.blocks.push(BlockRef { table_id, day, rows: 0, min_time: 0, max_time: 0, body: start..start });
        &mut self.enc.buf
    }

    pub fn end_block(&mut self, rows: u32, min_time: i64, max_time: i64) {
        let end = self.enc.buf.len();
        let Some(b) = self.blocks.last_mut() else { return };
        b.body.end = end;
        b.rows = rows;
        b.min_time = min_time;
        b.max_time = max_time;
        let len = u32::try_from(end - b.body.start).unwrap_or(u32::MAX);
        let h = b.body.start - 24;
        let buf = &mut self.enc.buf;
        buf[h..h + 4].copy_from_slice(&rows.to_le_bytes());
        buf[h + 4..h + 12].copy_from_slice(&min_time.to_le_bytes());
        buf[h + 12..h + 20].copy_from_slice(&max_time.to_le_bytes());
        buf[h + 20..h + 24].copy_from_slice(&len.to_le_bytes());
    }

    pub fn finish(mut self) -> (Vec<u8>, Vec<BlockRef>) {
        let n = u32::try_from(self.blocks.len()).unwrap_or(u32::MAX);
        self.enc.buf[self.count_at..self.count_at + 4].copy_from_slice(&n.to_le_bytes());
        (self.enc.buf, self.blocks)
    }
}

/// Decodes a record; `None` if the bytes are not one.
pub fn decode(payload: &[u8]) -> Option<Record> {
    let mut d = Dec::new(payload);
    let rec = match d.u8()? {
        KIND_CREATE_DATABASE => Record::CreateDatabase { id: d.u32()?, name: d.str()?.to_owned() },
        KIND_BATCH => {
            let db_id = d.u32()?;
            let mut new_tables = Vec::new();
            for _ in 0..d.count(8)? {
                new_tables.push((d.u32()?, d.str()?.to_owned()));
            }
            let changes = decode_schema(&mut d)?;
            let mut blocks = Vec::new();
            for _ in 0..d.count(32)? {
                let table_id = d.u32()?;
                let day = Day(d.i32()?);
                let rows = d.u32()?;
                let min_time = d.i64()?;
                let max_time = d.i64()?;
                let len = d.u32()? as usize;
                let start = d.pos();
                d.take(len)?;
                blocks.push(BlockRef { table_id, day, rows, min_time, max_time, body: start..start + len });
            }
            Record::Batch { db_id, new_tables, changes, blocks }
        }
        KIND_CREATE_TOKEN => Record::CreateToken(decode_token(&mut d)?),
        KIND_REVOKE_TOKEN => {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(d.take(32)?);
            Record::RevokeToken { hash }
        }
        _ => return None,
    };
    d.is_empty().then_some(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnKind, FieldType};

    #[test]
    fn batch_round_trip() {
        let mut changes = SchemaChanges::default();
        changes.tables.push("m".into());
        changes.columns.push(("m".into(), "f".into(), ColumnKind::Field));
        changes.field_types.push(("m".into(), Day(3), "f".into(), FieldType::Float));
        let mut r = BatchRecord::new(7, &[(1, "m".into())], &changes);
        r.begin_block(1, Day(3)).extend_from_slice(b"rows-a");
        r.end_block(2, -5, 9);
        r.begin_block(1, Day(4)).extend_from_slice(b"rows-bb");
        r.end_block(1, 10, 10);
        let (payload, blocks) = r.finish();
        let Some(Record::Batch { db_id, new_tables, changes: c, blocks: b }) = decode(&payload) else {
            panic!("not a batch")
        };
        assert_eq!((db_id, new_tables, c), (7, vec![(1, "m".to_string())], changes));
        assert_eq!(b, blocks);
        assert_eq!(&payload[b[0].body.clone()], b"rows-a");
        assert_eq!(&payload[b[1].body.clone()], b"rows-bb");
        assert_eq!((b[1].rows, b[1].min_time, b[1].max_time), (1, 10, 10));
        // Any cut is refused.
        for cut in 0..payload.len() {
            assert_eq!(decode(&payload[..cut]), None);
        }
    }

    #[test]
    fn token_records_round_trip() {
        let t = StoredToken { hash: [9; 32], database: "*".into(), perms: 2 };
        assert_eq!(decode(&encode_create_token(&t)), Some(Record::CreateToken(t)));
        assert_eq!(decode(&encode_revoke_token(&[4; 32])), Some(Record::RevokeToken { hash: [4; 32] }));
        assert_eq!(decode(&encode_revoke_token(&[4; 32])[..20]), None);
    }

    #[test]
    fn create_database_round_trip() {
        let p = encode_create_database(3, "db");
        assert_eq!(decode(&p), Some(Record::CreateDatabase { id: 3, name: "db".into() }));
        assert_eq!(decode(&[9]), None);
    }
}
