//! Parquet export (issue 14, item 5): every value of an export, read back
//! by pyarrow (and counted by DuckDB), equals what `Engine::query` answers
//! for the same range, parsed by the `influxdb-line-protocol` crate; the
//! errors leave nothing behind.
//!
//! Needs python3 with pyarrow (`.ci/run` installs it with DuckDB); where it
//! is missing the tests say so loudly and pass, except under CI.
#![cfg(feature = "parquet")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use influxdb_line_protocol as reference;
use linedb::engine::{Engine, Options};

const DAY: i64 = 86_400_000_000_000;

/// A value as both sides give it (floats by their bits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Float(u64),
    Int(i64),
    UInt(u64),
    Str(String),
    Bool(bool),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Float(_) => "float",
            Val::Int(_) => "integer",
            Val::UInt(_) => "unsigned",
            Val::Str(_) => "string",
            Val::Bool(_) => "boolean",
        }
    }
}

/// One row: time, tags by name, values by column name.
type Row = (i64, BTreeMap<String, String>, BTreeMap<String, Val>);

/// What pyarrow read.
#[derive(Debug, Default)]
struct Dump {
    rows: usize,
    row_groups: usize,
    meta: BTreeMap<String, String>,
    /// (name, arrow type) in schema order.
    columns: Vec<(String, String)>,
    encodings: BTreeMap<String, String>,
    dictionary: BTreeMap<String, String>,
    duckdb: Option<(usize, i64, i64)>,
    data: Vec<(i64, BTreeMap<String, Val>)>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn unhex_str(s: &str) -> String {
    String::from_utf8(unhex(s)).unwrap()
}

/// Runs tests/parquet_dump.py on `file`; `None` (after saying so loudly)
/// where pyarrow is missing outside CI.
fn dump(file: &Path) -> Option<Dump> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parquet_dump.py");
    let out = Command::new("python3").arg(&script).arg(file).output();
    let missing = match &out {
        Err(e) => Some(format!("cannot run python3: {e}")),
        Ok(o) if o.status.code() == Some(3) => Some("pyarrow is not installed".to_owned()),
        Ok(_) => None,
    };
    if let Some(why) = missing {
        eprintln!("\n*** PARQUET READ-BACK NOT RUN: {why} (pip install pyarrow duckdb) ***\n");
        assert!(std::env::var_os("CI").is_none(), "CI must read exports back with pyarrow: {why}");
        return None;
    }
    let out = out.unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "parquet_dump.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut d = Dump::default();
    for line in stdout.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        match parts[0] {
            "rows" => d.rows = parts[1].parse().unwrap(),
            "row_groups" => d.row_groups = parts[1].parse().unwrap(),
            "meta" => {
                d.meta.insert(parts[1].to_owned(), parts[2].to_owned());
            }
            "column" => d.columns.push((unhex_str(parts[1]), parts[2].to_owned())),
            "encodings" => {
                d.encodings.insert(unhex_str(parts[1]), parts[2].to_owned());
            }
            "dictionary" => {
                d.dictionary.insert(unhex_str(parts[1]), parts[2].to_owned());
            }
            "duckdb" => d.duckdb = Some((parts[1].parse().unwrap(), parts[2].parse().unwrap(), parts[3].parse().unwrap())),
            "row" => {
                let time = parts[1].parse().unwrap();
                let mut values = BTreeMap::new();
                for p in &parts[2..] {
                    let (name, v) = p.split_once('=').unwrap();
                    let (kind, v) = v.split_once(':').unwrap();
                    let v = match kind {
                        "f" => Val::Float(u64::from_le_bytes(unhex(v).try_into().unwrap())),
                        "i" => Val::Int(v.parse().unwrap()),
                        "u" => Val::UInt(v.parse().unwrap()),
                        "s" => Val::Str(unhex_str(v)),
                        "b" => Val::Bool(v == "1"),
                        other => panic!("kind {other}"),
                    };
                    values.insert(unhex_str(name), v);
                }
                d.data.push((time, values));
            }
            other => panic!("unexpected dump line {other:?}"),
        }
    }
    Some(d)
}

/// The points `Engine::query` answers, parsed by the reference crate, with
/// field columns named by the export's rule: `key::type` for a key of
/// several types in the range, `key::field` for a key that is also a tag.
fn expected(e: &Engine, m: &str, start: i64, end: i64) -> Vec<Row> {
    let lines = query(e, "db", Some(m), start, end);
    let text = lines.join("\n");
    let mut points = Vec::new();
    let mut types: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut tag_keys = BTreeSet::new();
    for l in reference::parse_lines(&text) {
        let l = l.unwrap();
        let tags: BTreeMap<String, String> =
            l.series.tag_set.iter().flatten().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        tag_keys.extend(tags.keys().cloned());
        let fields: Vec<(String, Val)> = l
            .field_set
            .iter()
            .map(|(k, v)| {
                use reference::FieldValue as F;
                let v = match v {
                    F::I64(x) => Val::Int(*x),
                    F::U64(x) => Val::UInt(*x),
                    F::F64(x) => Val::Float(x.to_bits()),
                    F::String(s) => Val::Str(s.to_string()),
                    F::Boolean(x) => Val::Bool(*x),
                };
                types.entry(k.to_string()).or_default().insert(v.type_name());
                (k.to_string(), v)
            })
            .collect();
        points.push((l.timestamp.unwrap(), tags, fields));
    }
    points
        .into_iter()
        .map(|(t, tags, fields)| {
            let named = fields
                .into_iter()
                .map(|(k, v)| {
                    let mut name = if types[&k].len() > 1 { format!("{k}::{}", v.type_name()) } else { k };
                    if tag_keys.contains(&name) {
                        name.push_str("::field");
                    }
                    (name, v)
                })
                .collect();
            (t, tags, named)
        })
        .collect()
}

/// Splits a dumped row into tags and fields by the file's `linedb:tags`.
fn rows_of(d: &Dump) -> Vec<Row> {
    let tag_names: BTreeSet<String> = json_names(&d.meta["linedb:tags"]).into_iter().collect();
    d.data
        .iter()
        .map(|(t, values)| {
            let mut tags = BTreeMap::new();
            let mut fields = BTreeMap::new();
            for (k, v) in values {
                match v {
                    Val::Str(s) if tag_names.contains(k) => {
                        tags.insert(k.clone(), s.clone());
                    }
                    _ => {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
            (*t, tags, fields)
        })
        .collect()
}

/// The names of a JSON array of plain strings (the test's names need no
/// escapes but `\"` and `\\`).
fn json_names(s: &str) -> Vec<String> {
    let inner = s.trim().strip_prefix('[').unwrap().strip_suffix(']').unwrap();
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut in_str, mut esc) = (false, false);
    for c in inner.chars() {
        match (in_str, esc, c) {
            (true, true, c) => {
                cur.push(c);
                esc = false;
            }
            (true, false, '\\') => esc = true,
            (true, false, '"') => {
                out.push(std::mem::take(&mut cur));
                in_str = false;
            }
            (true, false, c) => cur.push(c),
            (false, _, '"') => in_str = true,
            _ => {}
        }
    }
    out
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Points of measurement `m x` over three days: every field type, a field
/// (`v`) that is an integer on day 0, a float on day 1 and a boolean on
/// day 2, series with and without a tag, names and
/// values that need escaping, unicode, extreme values, and points that
/// repeat earlier ones with other fields (merged by the later write).
fn batch(rng: &mut Rng, lines: usize) -> String {
    let mut out = String::new();
    for _ in 0..lines {
        let day = rng.below(3) as i64;
        let t = day * DAY + rng.below(40) as i64 * 1_000_000_000 + 7;
        let host = rng.below(5);
        let mut tags = format!("host=h{host}");
        if host.is_multiple_of(2) {
            tags.push_str(",rack\\ id=r\\,1\\=é");
        }
        let mut fields = Vec::new();
        match day {
            0 => fields.push(format!("v={}i", [i64::MIN, -1, 0, 42, i64::MAX][rng.below(5) as usize])),
            1 => fields.push(format!("v={}", [-0.0, 1.5, 1e-7, 123456.789, f64::MAX][rng.below(5) as usize])),
            _ => fields.push(format!("v={}", rng.below(2) == 0)),
        }
        if rng.below(2) == 0 {
            fields.push(format!("u={}u", [0, 1, u64::MAX][rng.below(3) as usize]));
        }
        if rng.below(3) == 0 {
            fields.push(format!("s=\"{}\"", ["", "a \\\"q\\\" \\\\ z", "x,y=z ü", "line\nbreak"][rng.below(4) as usize]));
        }
        if rng.below(3) == 0 {
            fields.push(format!("b={}", rng.below(2) == 0));
        }
        out.push_str(&format!("m\\ x,{tags} {} {t}\n", fields.join(",")));
    }
    out
}

fn options() -> Options {
    Options { background_sealing: false, ..small_options() }
}

fn store() -> (TempDir, Engine) {
    let t = TempDir::new("export");
    let e = Engine::open(t.store(), options()).unwrap();
    e.create_database("db").unwrap();
    (t, e)
}

/// Files in `dir` (names), sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn out_dir(t: &TempDir) -> PathBuf {
    let d = t.0.join("out");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_value_reads_back_through_pyarrow_sealed_hot_and_merged() {
    let (t, e) = store();
    let mut rng = Rng(0xE4907);
    for _ in 0..6 {
        let w = write(&e, "db", &batch(&mut rng, 200));
        assert_eq!(w.status, 204, "{}", w.message);
    }
    assert!(e.compact().unwrap() > 0);
    // Late writes: hot segments over the sealed files, some of the same
    // points.
    for _ in 0..3 {
        let w = write(&e, "db", &batch(&mut rng, 200));
        assert_eq!(w.status, 204, "{}", w.message);
    }
    let dir = out_dir(&t);
    for (n, (start, end)) in [(i64::MIN, i64::MAX), (DAY / 2, DAY + 20_000_000_000), (0, DAY), (2 * DAY, 3 * DAY)]
        .into_iter()
        .enumerate()
    {
        let path = dir.join(format!("x{n}.parquet"));
        let out = e.export_parquet("db", "m x", start, end, &path);
        assert_eq!(out.status, 200, "{}", out.message);
        let want = expected(&e, "m x", start, end);
        assert_eq!(out.count as usize, want.len());
        assert!(!want.is_empty());
        let Some(d) = dump(&path) else { return };
        assert_eq!(d.rows, want.len());
        assert_eq!(rows_of(&d), want, "range [{start}, {end})");
        // Types: time in ns, UTC; tags strings read back as dictionaries;
        // fields in their own types.
        assert_eq!(d.columns[0], ("time".to_owned(), "timestamp[ns, tz=UTC]".to_owned()));
        let value_types: BTreeMap<&str, &str> =
            want.iter().flat_map(|r| r.2.iter().map(|(k, v)| (k.as_str(), v.type_name()))).collect();
        for (name, ty) in &d.columns[1..] {
            let want_ty = match (name.as_str(), value_types.get(name.as_str())) {
                ("host" | "rack id", None) => "string",
                (_, Some(&"float")) => "double",
                (_, Some(&"integer")) => "int64",
                (_, Some(&"unsigned")) => "uint64",
                (_, Some(&"string")) => "string",
                (_, Some(&"boolean")) => "bool",
                other => panic!("unexpected column {other:?}"),
            };
            assert_eq!(ty, want_ty, "column {name}");
        }
        assert_eq!(d.meta["linedb:measurement"], "m x");
        assert!(json_names(&d.meta["linedb:tags"]).contains(&"host".to_owned()));
        assert!(d.encodings["host"].contains("DICTIONARY"), "{:?}", d.encodings);
        assert_eq!(d.dictionary["host"], "dictionary<values=string, indices=int32, ordered=0>");
        assert!(d.encodings["time"].contains("DELTA_BINARY_PACKED"), "{:?}", d.encodings);
        if let Some((rows, lo, hi)) = d.duckdb {
            assert_eq!(rows, want.len());
            assert_eq!((lo, hi), (want[0].0, want[want.len() - 1].0));
        }
        // The first range spans the three days: `v` has three types.
        if n == 0 {
            let cols: Vec<&str> = d.columns.iter().map(|c| c.0.as_str()).collect();
            let want = ["time", "host", "rack id", "b", "s", "u", "v::boolean", "v::float", "v::integer"];
            assert_eq!(cols, want);
        }
    }
    assert_eq!(names(&dir), ["x0.parquet", "x1.parquet", "x2.parquet", "x3.parquet"]);
}

#[test]
fn a_large_export_has_several_row_groups_and_every_row() {
    let (t, e) = store();
    // 140,000 points of one day: more than one row group of 131,072.
    let mut text = String::new();
    for i in 0..140_000i64 {
        text.push_str(&format!("cpu,host=h{} usage={}i {}\n", i % 7, i, i * 1_000_000));
        if text.len() > 1 << 20 {
            assert_eq!(write(&e, "db", &text).status, 204);
            text.clear();
        }
    }
    assert_eq!(write(&e, "db", &text).status, 204);
    let path = out_dir(&t).join("cpu.parquet");
    let out = e.export_parquet("db", "cpu", 0, DAY, &path);
    assert_eq!((out.status, out.count), (200, 140_000), "{}", out.message);
    let Some(d) = dump(&path) else { return };
    assert_eq!((d.rows, d.row_groups), (140_000, 2));
    for (i, (time, values)) in d.data.iter().enumerate() {
        let i = i as i64;
        assert_eq!(*time, i * 1_000_000);
        assert_eq!(values["usage"], Val::Int(i));
        assert_eq!(values["host"], Val::Str(format!("h{}", i % 7)));
    }
}

#[test]
fn an_empty_range_is_a_valid_file_of_no_rows() {
    let (t, e) = store();
    assert_eq!(write(&e, "db", "cpu,host=a v=1i 5\n").status, 204);
    let path = out_dir(&t).join("empty.parquet");
    let out = e.export_parquet("db", "cpu", DAY, 2 * DAY, &path);
    assert_eq!((out.status, out.count), (200, 0), "{}", out.message);
    let Some(d) = dump(&path) else { return };
    assert_eq!((d.rows, d.row_groups), (0, 0));
    assert_eq!(d.columns, [("time".to_owned(), "timestamp[ns, tz=UTC]".to_owned())]);
}

#[test]
fn refusals_answer_their_status_and_leave_nothing() {
    let (t, e) = store();
    assert_eq!(write(&e, "db", "cpu,host=a v=1i 5\n").status, 204);
    let dir = out_dir(&t);
    let path = dir.join("x.parquet");

    // Something already has the name: 400, and it is untouched.
    std::fs::write(&path, b"mine").unwrap();
    let out = e.export_parquet("db", "cpu", 0, DAY, &path);
    assert_eq!(out.status, 400, "{}", out.message);
    assert!(out.message.contains("exists"), "{}", out.message);
    assert_eq!(std::fs::read(&path).unwrap(), b"mine");
    std::fs::remove_file(&path).unwrap();

    // Its directory is missing: 400 naming it.
    let out = e.export_parquet("db", "cpu", 0, DAY, &dir.join("no/x.parquet"));
    assert_eq!(out.status, 400, "{}", out.message);
    assert!(out.message.contains("no/"), "{}", out.message);

    // Unknown database and measurement: 404.
    let out = e.export_parquet("nodb", "cpu", 0, DAY, &path);
    assert_eq!(out.status, 404, "{}", out.message);
    let out = e.export_parquet("db", "mem", 0, DAY, &path);
    assert_eq!(out.status, 404, "{}", out.message);
    assert!(out.message.contains("mem"), "{}", out.message);

    // A token that may not read: 401.
    drop(e);
    let auth = Engine::open(t.store(), Options { no_auth: false, ..options() }).unwrap();
    let writer = auth.create_token("db", linedb::auth::PERM_WRITE).unwrap();
    for token in [None, Some("nonsense"), Some(writer.as_str())] {
        let out = auth.export_parquet_as("db", token, "cpu", 0, DAY, &path);
        assert_eq!(out.status, 401, "{token:?}: {}", out.message);
    }
    let reader = auth.create_token("db", linedb::auth::PERM_READ).unwrap();
    let out = auth.export_parquet_as("db", Some(&reader), "cpu", 0, DAY, &path);
    assert_eq!((out.status, out.count), (200, 1), "{}", out.message);
    std::fs::remove_file(&path).unwrap();

    // Nothing was left by any refusal: no file, no temporary.
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
}

#[test]
fn a_damaged_sealed_file_is_a_500_naming_it_and_nothing_is_written() {
    let (t, e) = store();
    let mut rng = Rng(0xDA11);
    assert_eq!(write(&e, "db", &batch(&mut rng, 300)).status, 204);
    assert!(e.compact().unwrap() > 0);
    drop(e);
    // One byte of a chunk in the middle of every sealed file.
    let cols: Vec<PathBuf> = tree(&t.store()).into_iter().filter(|p| p.to_string_lossy().ends_with(".col")).collect();
    assert!(!cols.is_empty());
    for col in &cols {
        let mut bytes = std::fs::read(col).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x10;
        std::fs::write(col, bytes).unwrap();
    }
    let e = Engine::open(t.store(), options()).unwrap();
    let dir = out_dir(&t);
    let out = e.export_parquet("db", "m x", i64::MIN, i64::MAX, &dir.join("x.parquet"));
    assert_eq!(out.status, 500, "{}", out.message);
    assert!(out.message.contains(".col"), "{}", out.message);
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
}
