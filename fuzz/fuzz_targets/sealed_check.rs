//! The invariants of reading an arbitrary sealed file, shared by the fuzz
//! target (`fuzz_targets/sealed_file.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Every violation panics.
//!
//! Input: byte 0 is the setting, the rest the file. Setting bit 0: fix the
//! checksums first (the header's, every chunk's in the footer, the
//! footer's in the trailer), so that mutations reach the decoders behind
//! them (pco, dictionaries, runs, the footer itself).
//!
//! The checks: opening never panics, and answers the file, `Damaged`, or
//! `Version` (the header names another version); reading every group's
//! runs, times and field columns, the series keys, the decoded rows and a
//! scrub never panics; what reads back is consistent (runs add up to the
//! group's rows, columns hold a value for each row that has the field,
//! string indexes lie in their dictionary, every row's series key exists).
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use linedb::columnar::footer::Footer;
use linedb::columnar::{ReadError, Reader, Values};
use linedb::seal::read::Decoded;
use linedb::storage::{File, Map};

/// The partition key the files of the corpus carry.
pub const KEY: &[u8] = b"fuzz-partition";

/// A file in memory.
#[derive(Debug)]
struct Bytes(Vec<u8>);

impl File for Bytes {
    fn length(&self) -> std::io::Result<u64> {
        Ok(self.0.len() as u64)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let src = start.checked_add(buf.len()).and_then(|end| self.0.get(start..end)).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("read only"))
    }
    fn allocate(&self, _: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("read only"))
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn mmap(&self, _: usize) -> std::io::Result<Box<dyn Map>> {
        Err(std::io::Error::other("no mapping"))
    }
}

/// Recomputes the checksums of `file` where its structure can be found.
pub fn fix_checksums(file: &mut [u8]) {
    let n = file.len();
    // Header: magic 8, version 4, key length 4, key, CRC.
    if n >= 16 {
        let key_len = u32::from_le_bytes(file[12..16].try_into().unwrap()) as usize;
        if let Some(end) = 16usize.checked_add(key_len).filter(|e| e + 4 <= n) {
            let crc = crc32fast::hash(&file[..end]);
            file[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    if n < 16 {
        return;
    }
    let footer_len = u32::from_le_bytes(file[n - 16..n - 12].try_into().unwrap()) as usize;
    let Some(at) = (n - 16).checked_sub(footer_len) else { return };
    let Ok(mut footer) = Footer::decode(&file[at..n - 16]) else {
        let crc = crc32fast::hash(&file[at..n - 16]);
        file[n - 12..n - 8].copy_from_slice(&crc.to_le_bytes());
        return;
    };
    let crc_of = |c: &linedb::columnar::footer::ChunkRef| {
        let start = usize::try_from(c.offset).ok()?;
        let end = start.checked_add(c.len as usize)?;
        file.get(start..end).map(crc32fast::hash)
    };
    for t in &mut footer.tags {
        if let Some(c) = crc_of(&t.chunk) {
            t.chunk.crc = c;
        }
    }
    for g in &mut footer.groups {
        for c in [&mut g.series, &mut g.time].into_iter().chain(g.fields.iter_mut().flatten().map(|f| &mut f.chunk)) {
            if let Some(x) = crc_of(c) {
                c.crc = x;
            }
        }
    }
    let body = footer.encode();
    if body.len() == footer_len {
        file[at..n - 16].copy_from_slice(&body);
        let crc = crc32fast::hash(&body);
        file[n - 12..n - 8].copy_from_slice(&crc.to_le_bytes());
    }
}

pub fn check(data: &[u8]) {
    let Some((&setting, rest)) = data.split_first() else { return };
    let mut file = rest.to_vec();
    if setting & 1 == 1 {
        fix_checksums(&mut file);
    }
    let path = Path::new("fuzz.col");
    let r = match Reader::open(Box::new(Bytes(file.clone())), path, KEY) {
        Ok(r) => r,
        Err(ReadError::Damaged(m)) => {
            assert!(m.contains("fuzz.col"), "a refusal names the file: {m}");
            return;
        }
        Err(ReadError::Version(v)) => {
            assert!(file.len() >= 12 && u32::from_le_bytes(file[8..12].try_into().unwrap()) == v);
            assert!(!(linedb::columnar::FIRST_READ_VERSION..=linedb::columnar::FORMAT_VERSION).contains(&v), "version {v} is read");
            return;
        }
        Err(e) => panic!("open: {e}"),
    };
    let f = r.footer().clone();
    let keys = r.series_keys();
    if let Ok(keys) = &keys {
        assert_eq!(keys.len(), f.series as usize);
    }
    for g in &f.groups {
        let rows = g.rows as usize;
        if let Ok(runs) = r.runs(g) {
            assert_eq!(runs.iter().map(|(_, n)| *n as usize).sum::<usize>(), rows);
            assert!(runs.iter().all(|(id, _)| *id < f.series));
        }
        if let Ok(times) = r.times(g) {
            assert_eq!(times.len(), rows);
        }
        for c in 0..f.fields.len() {
            let Ok(Some(col)) = r.field(g, c) else { continue };
            let present = col.present.as_ref().map_or(rows, |p| {
                assert_eq!(p.len(), rows);
                p.iter().filter(|b| **b).count()
            });
            assert_eq!(col.values.len(), present);
            if let Values::String(d, idx) = &col.values {
                assert!(idx.iter().all(|i| (*i as usize) < d.len()));
            }
        }
    }
    if let Ok(d) = Decoded::read(&r, i64::MIN, i64::MAX) {
        let mut fields = Vec::new();
        let mut all = Vec::new();
        for (at, time, id, _) in d.rows_with_ids(i64::MIN, i64::MAX) {
            fields.clear();
            d.fields(at, &mut fields);
            all.push((time, id, format!("{fields:?}")));
        }
        // Some series only (every other id, or the file's last, chosen by
        // the setting): exactly the whole read's rows of those series, in
        // the same order (only their runs' pages decoded).
        let keep_id = |id: u32| if setting & 2 == 2 { id % 2 == 1 } else { id + 1 == f.series };
        let mut asked = Vec::new();
        let picked = Decoded::read_selected(&r, None, i64::MIN, i64::MAX, None, &mut |id, _| {
            asked.push(id);
            keep_id(id)
        });
        if let Ok(p) = picked {
            let mut sorted = asked.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), asked.len(), "each series is asked once");
            let mut got = Vec::new();
            for (at, time, id, _) in p.rows_with_ids(i64::MIN, i64::MAX) {
                fields.clear();
                p.fields(at, &mut fields);
                got.push((time, id, format!("{fields:?}")));
            }
            let want: Vec<_> = all.iter().filter(|(_, id, _)| keep_id(*id)).cloned().collect();
            assert_eq!(got, want, "a selective read answers the whole read's rows of its series");
        }
    }
    let _ = r.verify();
}
