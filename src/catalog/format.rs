//! The catalog file's bytes.
//!
//! | field | bytes |
//! |---|---|
//! | magic `LDBCAT\0\x01` | 8 |
//! | format version | u32 |
//! | body length | u64 |
//! | CRC32 of version, length and body | u32 |
//! | body | body length |
//!
//! Body (version 2): the store's id (16 bytes, random, made when the store
//! was created), sequence u64, next database id u32, then per database: id, name,
//! next table id, tables (id, name), schema (tables; columns as table,
//! name, kind; field types as table, day, field, type), partitions (table
//! id, day, segments as number and durable length); then tokens (SHA-256
//! hash, database or `*`, permissions). Strings are a u32
//! length and UTF-8; counts are u32. Version 1 (linedb 0.1) is the same
//! without the id: such a store has none (all zeros), and its segments
//! carry none either. Version 3 (sealed partitions) adds to each partition,
//! after its segments, the highest segment number sealed away (u32) and
//! the numbers of its sealed files (a count, then u32 each); versions 1 and
//! 2 are read as partitions without either.

use crate::auth::StoredToken;
use crate::codec::{Dec, Enc};
use crate::partition::Day;
use crate::schema::{ColumnKind, FieldType, SchemaChanges};

use super::{CatalogData, DatabaseData, PartitionData};

pub const MAGIC: [u8; 8] = *b"LDBCAT\0\x01";
pub const FORMAT_VERSION: u32 = 3;
pub const HEADER_LEN: usize = 8 + 4 + 8 + 4;

pub fn encode(c: &CatalogData) -> Vec<u8> {
    let mut e = Enc::default();
    e.buf.extend_from_slice(&c.store_id);
    e.u64(c.seq);
    e.u32(c.next_db_id);
    e.len(c.databases.len());
    for db in &c.databases {
        e.u32(db.id);
        e.str(&db.name);
        e.u32(db.next_table_id);
        e.len(db.tables.len());
        for (id, name) in &db.tables {
            e.u32(*id);
            e.str(name);
        }
        encode_schema(&mut e, &db.schema);
        e.len(db.partitions.len());
        for p in &db.partitions {
            e.u32(p.table_id);
            e.i32(p.day.0);
            e.len(p.segments.len());
            for (n, len) in &p.segments {
                e.u32(*n);
                e.u64(*len);
            }
            e.u32(p.retired_upto);
            e.len(p.sealed.len());
            for n in &p.sealed {
                e.u32(*n);
            }
        }
    }
    e.len(c.tokens.len());
    for t in &c.tokens {
        encode_token(&mut e, t);
    }
    let body = e.buf;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out[8..]);
    h.update(&body);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn encode_token(e: &mut Enc, t: &StoredToken) {
    e.buf.extend_from_slice(&t.hash);
    e.str(&t.database);
    e.u32(t.perms);
}

pub fn decode_token(d: &mut Dec<'_>) -> Option<StoredToken> {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(d.take(32)?);
    Some(StoredToken { hash, database: d.str()?.to_owned(), perms: d.u32()? })
}

pub fn encode_schema(e: &mut Enc, s: &SchemaChanges) {
    e.len(s.tables.len());
    for t in &s.tables {
        e.str(t);
    }
    e.len(s.columns.len());
    for (t, c, k) in &s.columns {
        e.str(t);
        e.str(c);
        e.u8(match k {
            ColumnKind::Tag => 1,
            ColumnKind::Field => 2,
        });
    }
    e.len(s.field_types.len());
    for (t, day, f, ty) in &s.field_types {
        e.str(t);
        e.i32(day.0);
        e.str(f);
        e.u8(*ty as u8);
    }
}

pub fn decode_schema(d: &mut Dec<'_>) -> Option<SchemaChanges> {
    let mut s = SchemaChanges::default();
    for _ in 0..d.count(4)? {
        s.tables.push(d.str()?.to_owned());
    }
    for _ in 0..d.count(9)? {
        let t = d.str()?.to_owned();
        let c = d.str()?.to_owned();
        let k = match d.u8()? {
            1 => ColumnKind::Tag,
            2 => ColumnKind::Field,
            _ => return None,
        };
        s.columns.push((t, c, k));
    }
    for _ in 0..d.count(13)? {
        let t = d.str()?.to_owned();
        let day = Day(d.i32()?);
        let f = d.str()?.to_owned();
        let ty = FieldType::from_u8(d.u8()?)?;
        s.field_types.push((t, day, f, ty));
    }
    Some(s)
}

/// Why catalog bytes were refused.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a catalog, or damaged: the reason and the byte offset.
    Corrupt(&'static str, u64),
    Version(u32),
}

pub fn decode(bytes: &[u8]) -> Result<CatalogData, DecodeError> {
    let mut d = Dec::new(bytes);
    if d.take(8) != Some(&MAGIC[..]) {
        return Err(DecodeError::Corrupt("not a catalog file (bad magic)", 0));
    }
    let version = d.u32().ok_or(DecodeError::Corrupt("short header", 8))?;
    let len = d.u64().ok_or(DecodeError::Corrupt("short header", 12))?;
    let crc = d.u32().ok_or(DecodeError::Corrupt("short header", 20))?;
    let body_start = d.pos();
    let body = usize::try_from(len)
        .ok()
        .and_then(|len| d.take(len))
        .ok_or(DecodeError::Corrupt("file shorter than its header says", body_start as u64))?;
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[8..20]);
    h.update(body);
    if h.finalize() != crc {
        return Err(DecodeError::Corrupt("checksum mismatch", 20));
    }
    // Only a checksummed header is trusted to tell the version.
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(DecodeError::Version(version));
    }
    let mut d = Dec::new(body);
    decode_body(&mut d, version)
        .filter(|_| d.is_empty())
        .ok_or(DecodeError::Corrupt("malformed body", (body_start + d.pos()) as u64))
}

fn decode_body(d: &mut Dec<'_>, version: u32) -> Option<CatalogData> {
    let mut store_id = [0u8; 16];
    if version >= 2 {
        store_id.copy_from_slice(d.take(16)?);
    }
    let mut c = CatalogData { store_id, seq: d.u64()?, next_db_id: d.u32()?, databases: Vec::new(), tokens: Vec::new() };
    for _ in 0..d.count(16)? {
        let mut db = DatabaseData { id: d.u32()?, name: d.str()?.to_owned(), next_table_id: d.u32()?, ..Default::default() };
        for _ in 0..d.count(8)? {
            db.tables.push((d.u32()?, d.str()?.to_owned()));
        }
        db.schema = decode_schema(d)?;
        for _ in 0..d.count(12)? {
            let table_id = d.u32()?;
            let day = Day(d.i32()?);
            let mut segments = Vec::new();
            for _ in 0..d.count(12)? {
                segments.push((d.u32()?, d.u64()?));
            }
            let (mut retired_upto, mut sealed) = (0, Vec::new());
            if version >= 3 {
                retired_upto = d.u32()?;
                for _ in 0..d.count(4)? {
                    sealed.push(d.u32()?);
                }
            }
            db.partitions.push(PartitionData { table_id, day, segments, retired_upto, sealed });
        }
        c.databases.push(db);
    }
    for _ in 0..d.count(40)? {
        c.tokens.push(decode_token(d)?);
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CatalogData {
        let mut schema = SchemaChanges::default();
        schema.tables.push("cpu".into());
        schema.columns.push(("cpu".into(), "host".into(), ColumnKind::Tag));
        schema.columns.push(("cpu".into(), "u".into(), ColumnKind::Field));
        schema.field_types.push(("cpu".into(), Day(-1), "u".into(), FieldType::Integer));
        CatalogData {
            store_id: [9; 16],
            seq: 42,
            next_db_id: 2,
            databases: vec![DatabaseData {
                id: 1,
                name: "db".into(),
                next_table_id: 2,
                tables: vec![(1, "cpu".into())],
                schema,
                partitions: vec![PartitionData {
                    table_id: 1,
                    day: Day(-1),
                    segments: vec![(4, 4096), (5, 100)],
                    retired_upto: 3,
                    sealed: vec![1, 2],
                }],
            }],
            tokens: vec![StoredToken { hash: [7; 32], database: "*".into(), perms: 3 }],
        }
    }

    #[test]
    fn round_trip() {
        let c = sample();
        assert_eq!(decode(&encode(&c)), Ok(c));
    }

    #[test]
    fn every_flipped_bit_and_every_cut_is_refused() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(decode(&b).is_err(), "flip of byte {i} bit {bit} accepted");
            }
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
    }

    /// A catalog with its version set to `version` and the body cut to
    /// `body_from..`, sealed again (length and checksum).
    fn resealed(version: u32, body_from: usize) -> Vec<u8> {
        let c = encode(&sample());
        let mut b = c[..HEADER_LEN].to_vec();
        b.extend_from_slice(&c[HEADER_LEN + body_from..]);
        b[8..12].copy_from_slice(&version.to_le_bytes());
        let len = b.len() - HEADER_LEN;
        b[12..20].copy_from_slice(&(len as u64).to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&b[8..20]);
        h.update(&b[HEADER_LEN..]);
        let crc = h.finalize();
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn unknown_version_is_a_version_error() {
        assert_eq!(decode(&resealed(4, 0)), Err(DecodeError::Version(4)));
    }

    /// Catalog bytes `b` given `version`, their length and checksum set
    /// again.
    fn with_version(mut b: Vec<u8>, version: u32) -> Vec<u8> {
        b[8..12].copy_from_slice(&version.to_le_bytes());
        let len = (b.len() - HEADER_LEN) as u64;
        b[12..20].copy_from_slice(&len.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&b[8..20]);
        h.update(&b[HEADER_LEN..]);
        let crc = h.finalize();
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// `sample()` encoded as a version 2 catalog (no sealed files).
    fn version_2() -> (Vec<u8>, CatalogData) {
        let mut c = sample();
        c.databases[0].partitions[0].retired_upto = 0;
        c.databases[0].partitions[0].sealed.clear();
        let v3 = encode(&c);
        // The partition's v3 additions are its last 8 bytes before the
        // token count and the token: retired_upto 0 and no sealed files.
        let token_bytes = 4 + 32 + 4 + 1 + 4;
        let end = v3.len() - token_bytes;
        assert_eq!(&v3[end - 8..end], &[0u8; 8]);
        let mut b = v3[..end - 8].to_vec();
        b.extend_from_slice(&v3[end..]);
        (with_version(b, 2), c)
    }

    #[test]
    fn a_version_2_catalog_reads_as_partitions_without_sealed_files() {
        let (bytes, want) = version_2();
        assert_eq!(decode(&bytes), Ok(want));
    }

    #[test]
    fn a_version_1_catalog_reads_as_a_store_without_an_id() {
        // Version 1 is version 2 without the 16-byte id.
        let (v2, c) = version_2();
        let mut b = v2[..HEADER_LEN].to_vec();
        b.extend_from_slice(&v2[HEADER_LEN + 16..]);
        assert_eq!(decode(&with_version(b, 1)), Ok(CatalogData { store_id: [0; 16], ..c }));
    }
}
