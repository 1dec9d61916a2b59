//! Sealed files written and read back, value for value; damage found.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::line_protocol::FieldType;
use crate::rows::{StoredField, StoredValue};
use crate::storage::{FsStorage, OpenMode, Storage};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("linedb-columnar-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A point as the tests describe it: series key, time, fields.
type Point = (Vec<u8>, i64, Vec<(Vec<u8>, Owned)>);

#[derive(Clone, Debug, PartialEq)]
enum Owned {
    F(f64),
    I(i64),
    U(u64),
    B(bool),
    S(Vec<u8>),
}

impl Owned {
    fn stored(&self) -> StoredValue<'_> {
        match self {
            Owned::F(x) => StoredValue::Float(*x),
            Owned::I(x) => StoredValue::Integer(*x),
            Owned::U(x) => StoredValue::UInteger(*x),
            Owned::B(x) => StoredValue::Boolean(*x),
            Owned::S(x) => StoredValue::String(x),
        }
    }
}

const KEY: &[u8] = b"store-id-and-partition";

/// Writes `groups` (each a list of points, any order within) as one file.
fn write(dir: &Path, groups: &[Vec<Point>]) -> (PathBuf, Summary) {
    let storage = FsStorage;
    let path = dir.join("000001.col");
    let file = storage.open_file(&path, OpenMode::CreateNew).unwrap();
    let mut w = Writer::new(file, KEY).unwrap();
    for g in groups {
        let mut rows = Vec::new();
        let mut owned = Vec::new();
        for (series, time, fields) in g {
            let id = w.series_id(series).unwrap();
            rows.push((id, *time, fields.clone()));
        }
        rows.sort_by_key(|r| (r.0, r.1));
        let mut grows = Vec::new();
        for (id, time, fields) in &rows {
            let start = owned.len();
            owned.extend(fields.iter().cloned());
            grows.push(GroupRow { series: *id, time: *time, fields: start..owned.len() });
        }
        let fields: Vec<StoredField<'_>> = owned.iter().map(|(k, v)| StoredField { key: k, value: v.stored() }).collect();
        w.write_group(&grows, &fields).unwrap();
    }
    let summary = w.finish((5, 9)).unwrap();
    (path, summary)
}

fn open(path: &Path) -> Result<Reader, ReadError> {
    Reader::open(FsStorage.open_file(path, OpenMode::Read).unwrap(), path, KEY)
}

/// Every point of the file, group by group, each group in (series, time)
/// order: what the tests compare with.
fn read_all(r: &Reader) -> Vec<Vec<Point>> {
    let keys = r.series_keys().unwrap();
    let f = r.footer();
    let mut out = Vec::new();
    for g in &f.groups {
        let runs = r.runs(g).unwrap();
        let times = r.times(g).unwrap();
        let mut pts: Vec<Point> = Vec::new();
        for (id, n) in runs {
            for _ in 0..n {
                let t = times[pts.len()];
                pts.push((keys[id as usize].clone(), t, Vec::new()));
            }
        }
        for (c, col) in f.fields.iter().enumerate() {
            let Some(column) = r.field(g, c).unwrap() else { continue };
            let mut k = 0;
            for (row, p) in pts.iter_mut().enumerate() {
                if column.present.as_ref().is_some_and(|pr| !pr[row]) {
                    continue;
                }
                let v = match &column.values {
                    Values::Float(v) => Owned::F(v[k]),
                    Values::Integer(v) => Owned::I(v[k]),
                    Values::UInteger(v) => Owned::U(v[k]),
                    Values::Boolean(v) => Owned::B(v[k]),
                    Values::String(d, v) => Owned::S(d.get(v[k] as usize).unwrap().to_vec()),
                };
                k += 1;
                p.2.push((col.key.clone(), v));
            }
            assert_eq!(k, column.values.len());
        }
        out.push(pts);
    }
    out
}

fn sorted(groups: &[Vec<Point>], ids: &[Vec<u8>]) -> Vec<Vec<Point>> {
    groups
        .iter()
        .map(|g| {
            let mut g = g.clone();
            g.sort_by_key(|p| (ids.iter().position(|k| *k == p.0).unwrap(), p.1));
            g
        })
        .collect()
}

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn sample() -> Vec<Vec<Point>> {
    let mut g1 = Vec::new();
    for t in 0..300i64 {
        for h in 0..5 {
            let series = s(&format!(",host=h{h},region=r{}", h % 2));
            let mut fields = vec![(s("idle"), Owned::F(50.0 + (t % 7) as f64 * 0.125)), (s("n"), Owned::I(t * 3 - h))];
            if t % 10 == 0 {
                fields.push((s("state"), Owned::S(s(["ok", "down", "x\"y"][(t / 10 % 3) as usize]))));
            }
            fields.push((s("up"), Owned::B(t % 3 != 0)));
            g1.push((series, 1_000 + t * 10, fields));
        }
    }
    // A later group: a new field, a series without tags, a u64.
    let g2 = vec![
        (s(",host=h1,region=r1"), 5_000, vec![(s("idle"), Owned::F(-1.5)), (s("z"), Owned::U(u64::MAX))]),
        (s(""), 7, vec![(s("n"), Owned::I(i64::MIN))]),
        (s(",zone=a\\ b"), 9, vec![(s("n"), Owned::I(i64::MAX))]),
    ];
    vec![g1, g2]
}

#[test]
fn a_file_reads_back_value_for_value() {
    let d = TempDir::new("roundtrip");
    let groups = sample();
    let (path, summary) = write(&d.0, &groups);
    assert_eq!(summary.rows, 1503);
    assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
    let r = open(&path).unwrap();
    let f = r.footer();
    assert_eq!((f.rows, f.min_time, f.max_time, f.min_seq, f.max_seq), (1503, 7, 5_000, 5, 9));
    // Fields in key order; tags too.
    let keys: Vec<&[u8]> = f.fields.iter().map(|c| c.key.as_slice()).collect();
    assert_eq!(keys, [&b"idle"[..], b"n", b"state", b"up", b"z"]);
    let tags: Vec<&[u8]> = f.tags.iter().map(|c| c.key.as_slice()).collect();
    assert_eq!(tags, [&b"host"[..], b"region", b"zone"]);
    assert_eq!(f.tags[0].nulls, 2);
    assert_eq!((f.tags[0].min.as_slice(), f.tags[0].max.as_slice()), (&b"h0"[..], &b"h4"[..]));
    // Chunk statistics: nulls and min/max.
    let g = &f.groups[0];
    let n_col = g.fields[1].unwrap();
    assert_eq!(n_col.nulls, 0);
    assert_eq!(n_col.min_max, Some(((-4i64) as u64, 897)));
    assert_eq!(g.fields[2].unwrap().nulls, 1500 - 150);
    assert!(g.fields[4].is_none());
    let ids = r.series_keys().unwrap();
    assert_eq!(read_all(&r), sorted(&groups, &ids));
    let (chunks, _) = r.verify().unwrap();
    assert!(chunks >= 3 + 2 * 2 + 4 + 3, "{chunks}");
}

#[test]
fn every_flipped_bit_is_found_before_a_value_is_used() {
    let d = TempDir::new("flips");
    let (path, _) = write(&d.0, &sample()[1..]);
    let good = std::fs::read(&path).unwrap();
    let expect = read_all(&open(&path).unwrap());
    let mut found = 0;
    for i in 0..good.len() {
        for bit in [0, 3, 7] {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            std::fs::write(&path, &b).unwrap();
            // Either refused at open, or a chunk read fails its checksum;
            // never different values. (Padding bytes are covered by
            // nothing and change nothing.)
            let outcome = open(&path).and_then(|r| {
                r.verify()?;
                Ok(read_all(&r))
            });
            match outcome {
                Err(ReadError::Damaged(_) | ReadError::Version(_)) => found += 1,
                Err(e) => panic!("{e}"),
                Ok(v) => assert_eq!(v, expect, "byte {i} bit {bit}"),
            }
        }
    }
    assert!(found > good.len() * 3 * 9 / 10, "{found} of {}", good.len() * 3);
}

#[test]
fn a_cut_file_and_another_partitions_file_are_refused() {
    let d = TempDir::new("cut");
    let (path, _) = write(&d.0, &sample()[1..]);
    let good = std::fs::read(&path).unwrap();
    for cut in [0, 10, 40, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        assert!(matches!(open(&path), Err(ReadError::Damaged(_))), "cut at {cut}");
    }
    std::fs::write(&path, &good).unwrap();
    let r = Reader::open(FsStorage.open_file(&path, OpenMode::Read).unwrap(), &path, b"another");
    assert!(matches!(r, Err(ReadError::Damaged(ref m)) if m.contains("another partition")));
}

#[test]
fn rows_that_cannot_be_columns_are_refused() {
    let d = TempDir::new("refused");
    let storage: Arc<dyn Storage> = Arc::new(FsStorage);
    let mut w = Writer::new(storage.open_file(&d.0.join("a.col"), OpenMode::CreateNew).unwrap(), KEY).unwrap();
    let a = w.series_id(b",h=a").unwrap();
    let f = [
        StoredField { key: b"x", value: StoredValue::Integer(1) },
        StoredField { key: b"x", value: StoredValue::Float(1.0) },
    ];
    // Out of order.
    let rows = [GroupRow { series: a, time: 2, fields: 0..1 }, GroupRow { series: a, time: 1, fields: 0..1 }];
    assert!(matches!(w.write_group(&rows, &f), Err(WriteError::Rows(_))));
    // Two types of one field.
    let rows = [GroupRow { series: a, time: 1, fields: 0..1 }, GroupRow { series: a, time: 2, fields: 1..2 }];
    assert!(matches!(w.write_group(&rows, &f), Err(WriteError::Rows(m)) if m.contains("float")));
    // A series key that is not one.
    let mut w = Writer::new(storage.open_file(&d.0.join("b.col"), OpenMode::CreateNew).unwrap(), KEY).unwrap();
    let bad = w.series_id(b"no-comma").unwrap();
    w.write_group(&[GroupRow { series: bad, time: 1, fields: 0..1 }], &f).unwrap();
    assert!(matches!(w.finish((1, 1)), Err(WriteError::Rows(m)) if m.contains("tags")));
}

/// Series runs longer than a page, every field type, fields missing from
/// some rows: times and numeric fields are written as pages, and a read of
/// some runs (`times_in`, `field_in`) answers exactly those runs' rows of
/// the whole read, for any choice of runs.
#[test]
fn runs_read_alone_answer_what_the_whole_group_holds() {
    let dir = TempDir::new("pages");
    let mut g = Vec::new();
    let long = chunk::MIN_PAGE + 300;
    for (k, host) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        // Runs of several pages, one page, and shorter than a page.
        let n = [long * 2, long, 40, 3, long][k];
        for t in 0..n {
            let t64 = i64::try_from(t).unwrap();
            let mut fields = vec![(s("f"), Owned::F(t64 as f64 * 0.25))];
            if t % 3 != 0 {
                fields.push((s("i"), Owned::I(t64 - 1000)));
            }
            if k != 2 {
                fields.push((s("u"), Owned::U(u64::try_from(t).unwrap() << 20)));
            }
            fields.push((s("b"), Owned::B(t % 5 == 0)));
            if t % 2 == 0 {
                fields.push((s("s"), Owned::S(format!("v{}", t % 7).into_bytes())));
            }
            g.push((format!(",host={host}").into_bytes(), t64 * 10_000_000_000 + 7, fields));
        }
    }
    let (path, _) = write(&dir.0, &[g]);
    let r = open(&path).unwrap();
    let f = r.footer().clone();
    let grp = &f.groups[0];
    assert_eq!(grp.time.encoding, chunk::Encoding::PcoPages);
    for (col, fc) in f.fields.iter().zip(&grp.fields) {
        let want = if col.ty == FieldType::String { chunk::Encoding::Dict } else { chunk::Encoding::PcoPages };
        assert_eq!(fc.unwrap().chunk.encoding, want, "{:?}", String::from_utf8_lossy(&col.key));
    }
    let runs = r.runs(grp).unwrap();
    let mut bounds = Vec::new();
    let mut at = 0usize;
    for (_, n) in &runs {
        bounds.push((at, at + *n as usize));
        at += *n as usize;
    }
    let times = r.times(grp).unwrap();
    let whole: Vec<Column> = (0..f.fields.len()).map(|c| r.field(grp, c).unwrap().unwrap()).collect();
    // Every subset of the five runs.
    for mask in 1u32..32 {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (i, &(a, b)) in bounds.iter().enumerate() {
            if mask & (1 << i) != 0 {
                match ranges.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => ranges.push((a, b)),
                }
            }
        }
        let rows: Vec<usize> = ranges.iter().flat_map(|&(a, b)| a..b).collect();
        let want_times: Vec<i64> = rows.iter().map(|&i| times[i]).collect();
        assert_eq!(r.times_in(grp, &ranges).unwrap(), want_times, "mask {mask}");
        for (c, w) in whole.iter().enumerate() {
            let got = r.field_in(grp, c, &ranges).unwrap().unwrap();
            // The whole column's value of each row asked for (None: absent).
            let value_of = |col: &Column, row: usize| -> Option<String> {
                let present = col.present.as_ref().is_none_or(|p| p[row]);
                let k = col.present.as_ref().map_or(row, |p| p[..row].iter().filter(|x| **x).count());
                present.then(|| match &col.values {
                    Values::Float(v) => format!("{}", v[k]),
                    Values::Integer(v) => format!("{}", v[k]),
                    Values::UInteger(v) => format!("{}", v[k]),
                    Values::Boolean(v) => format!("{}", v[k]),
                    Values::String(d, v) => String::from_utf8_lossy(d.get(v[k] as usize).unwrap()).into_owned(),
                })
            };
            let want: Vec<Option<String>> = rows.iter().map(|&i| value_of(w, i)).collect();
            let have: Vec<Option<String>> = (0..rows.len()).map(|i| value_of(&got, i)).collect();
            assert_eq!(have, want, "mask {mask}, column {c}");
        }
    }
    // Ranges out of order or past the group are errors, not panics.
    for bad in [vec![(5usize, 3usize)], vec![(0, at + 1)], vec![(10, 20), (15, 30)]] {
        assert!(r.times_in(grp, &bad).is_err());
        assert!(r.field_in(grp, 0, &bad).is_err());
    }
}

/// A header naming format 1 or 2 is read (format 1's chunks are whole
/// `pco`: a file whose chunks are all whole reads back the same under
/// either); 0 and 3 are refused as `Version`, checked after the header's
/// checksum.
#[test]
fn versions_one_and_two_are_read_and_others_refused() {
    let d = TempDir::new("versions");
    let (path, _) = write(&d.0, &sample());
    let good = std::fs::read(&path).unwrap();
    let key_len = u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
    let crc_at = 16 + key_len;
    let want = read_all(&open(&path).unwrap());
    for v in [0u32, 1, 2, 3] {
        let mut b = good.clone();
        b[8..12].copy_from_slice(&v.to_le_bytes());
        let crc = crc32fast::hash(&b[..crc_at]);
        b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &b).unwrap();
        match open(&path) {
            Ok(r) => {
                assert!((FIRST_READ_VERSION..=FORMAT_VERSION).contains(&v), "version {v} opened");
                assert_eq!(read_all(&r), want);
            }
            Err(ReadError::Version(found)) => assert!(found == v && !(1..=2).contains(&v), "version {v} refused"),
            Err(e) => panic!("version {v}: {e}"),
        }
    }
}
