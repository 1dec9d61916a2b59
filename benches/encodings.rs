//! Column encodings measured on the TSBS cpu-only workload (the int, float
//! and mixed files of `../shared/data/gen_cpu.py`, 1,000,000 lines, 100
//! hosts, seed 1): what the sealed format uses (`pco` for numbers, bits for
//! booleans, a dictionary for strings) against hand-written codecs of the
//! kind time-series engines use (delta-of-delta and varints for times,
//! delta + zigzag + varints for integers, Gorilla's XOR for floats) and
//! against zstd over the plain bytes; bytes per value, and encode and
//! decode speed. Then whole sealed files, written by `columnar::Writer` for
//! each row-group size tried, in bytes per field value.
//!
//! Rows are cut into row groups in arrival order and sorted by (series,
//! time) within a group, as sealing does.
//!
//! Run: `cargo bench --bench encodings` (LINEDB_BENCH_LINES changes the
//! size).

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Instant;

use linedb::columnar::{GroupRow, Writer};
use linedb::line_protocol::{parse, Batch, FieldValue, Precision};
use linedb::rows::{StoredField, StoredValue};
use linedb::storage::{FsStorage, OpenMode, Storage};

mod support;

/// One row: series id, time, fields in key order.
struct Row {
    series: u32,
    time: i64,
    fields: Vec<(String, Val)>,
}

#[derive(Clone, Debug)]
enum Val {
    F(f64),
    I(i64),
    S(String),
    B(bool),
}

/// The rows of each day, in arrival order, and the series keys.
fn load(text: &str) -> (BTreeMap<i64, Vec<Row>>, Vec<Vec<u8>>) {
    let mut batch = Batch::new();
    parse(text.as_bytes(), Precision::Nanosecond, 0, &mut batch).expect("workload parses");
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut keys = Vec::new();
    let mut days: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
    for line in batch.iter() {
        let mut tags: Vec<(String, String)> = line.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect();
        tags.sort();
        let key: String = tags.iter().map(|(k, v)| format!(",{k}={v}")).collect();
        let n = ids.len() as u32;
        let series = *ids.entry(key.clone()).or_insert_with(|| {
            keys.push(key.into_bytes());
            n
        });
        let mut fields: Vec<(String, Val)> = line
            .fields()
            .iter()
            .map(|f| {
                let v = match &f.value {
                    FieldValue::Float(x) => Val::F(*x),
                    FieldValue::Integer(x) => Val::I(*x),
                    FieldValue::String(s) => Val::S(s.to_string()),
                    FieldValue::Boolean(b) => Val::B(*b),
                    other => panic!("unexpected {other:?}"),
                };
                (f.key.to_string(), v)
            })
            .collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let t = line.timestamp();
        days.entry(t.div_euclid(86_400_000_000_000)).or_default().push(Row { series, time: t, fields });
    }
    (days, keys)
}

/// Row groups of `size` rows in arrival order, each sorted by (series, time).
fn groups(days: &BTreeMap<i64, Vec<Row>>, size: usize) -> Vec<Vec<&Row>> {
    let mut out = Vec::new();
    for rows in days.values() {
        for chunk in rows.chunks(size) {
            let mut g: Vec<&Row> = chunk.iter().collect();
            g.sort_by_key(|r| (r.series, r.time));
            out.push(g);
        }
    }
    out
}

// ---- hand-written codecs ----------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let c = b[*pos];
        *pos += 1;
        v |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Delta-of-delta, zigzag, varint (Gorilla's idea for times, byte-aligned).
fn dod_encode(v: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut prev, mut delta) = (0i64, 0i64);
    for &x in v {
        let d = x.wrapping_sub(prev);
        put_varint(&mut out, zigzag(d.wrapping_sub(delta)));
        delta = d;
        prev = x;
    }
    out
}

fn dod_decode(b: &[u8], n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let (mut pos, mut prev, mut delta) = (0, 0i64, 0i64);
    for _ in 0..n {
        delta = delta.wrapping_add(unzigzag(get_varint(b, &mut pos)));
        prev = prev.wrapping_add(delta);
        out.push(prev);
    }
    out
}

/// Delta, zigzag, varint.
fn delta_encode(v: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0i64;
    for &x in v {
        put_varint(&mut out, zigzag(x.wrapping_sub(prev)));
        prev = x;
    }
    out
}

fn delta_decode(b: &[u8], n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let (mut pos, mut prev) = (0, 0i64);
    for _ in 0..n {
        prev = prev.wrapping_add(unzigzag(get_varint(b, &mut pos)));
        out.push(prev);
    }
    out
}

/// Gorilla's XOR encoding of floats (Pelkonen et al., VLDB 2015), as
/// InfluxDB's TSM uses it: bits, not bytes.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, v: u64, bits: u32) {
        for i in (0..bits).rev() {
            self.acc = self.acc << 1 | (v >> i & 1);
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

fn gorilla_encode(v: &[f64]) -> Vec<u8> {
    let mut w = Bits { out: Vec::new(), acc: 0, n: 0 };
    let (mut prev, mut lead, mut trail) = (0u64, 64u32, 64u32);
    for (i, x) in v.iter().enumerate() {
        let b = x.to_bits();
        if i == 0 {
            w.put(b, 64);
        } else {
            let x = b ^ prev;
            if x == 0 {
                w.put(0, 1);
            } else {
                let (l, t) = (x.leading_zeros().min(31), x.trailing_zeros());
                if lead <= l && trail <= t && lead < 64 {
                    w.put(0b10, 2);
                    w.put(x >> trail, 64 - lead - trail);
                } else {
                    w.put(0b11, 2);
                    w.put(u64::from(l), 5);
                    let sig = 64 - l - t;
                    w.put(u64::from(sig - 1), 6);
                    w.put(x >> t, sig);
                    lead = l;
                    trail = t;
                }
            }
        }
        prev = b;
    }
    w.finish()
}

// ---- measuring --------------------------------------------------------

struct Tally {
    bytes: usize,
    values: usize,
    encode_s: f64,
    decode_s: f64,
}

impl Tally {
    fn new() -> Self {
        Tally { bytes: 0, values: 0, encode_s: 0.0, decode_s: 0.0 }
    }
    fn line(&self, name: &str) {
        let per = self.bytes as f64 / self.values.max(1) as f64;
        let enc = self.values as f64 / self.encode_s.max(1e-9) / 1e6;
        let dec = if self.decode_s > 0.0 { format!("{:.0}", self.values as f64 / self.decode_s / 1e6) } else { "–".into() };
        println!("| {name} | {per:.3} | {enc:.0} | {dec} |");
    }
}

fn timed<T>(t: &mut f64, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let v = f();
    *t += start.elapsed().as_secs_f64();
    v
}

/// Decodes `n` values from bytes; returns how many it decoded.
type Decoder<'a> = &'a dyn Fn(&[u8], usize) -> usize;

fn measure<T: Clone>(
    tallies: &mut BTreeMap<String, Tally>,
    name: &str,
    values: &[T],
    enc: impl Fn(&[T]) -> Vec<u8>,
    dec: Option<Decoder<'_>>,
) {
    let t = tallies.entry(name.to_string()).or_insert_with(Tally::new);
    let bytes = timed(&mut t.encode_s, || enc(values));
    if let Some(dec) = dec {
        let n = timed(&mut t.decode_s, || dec(&bytes, values.len()));
        assert_eq!(n, values.len(), "{name}");
    }
    t.bytes += bytes.len();
    t.values += values.len();
}

fn pco_i64(v: &[i64]) -> Vec<u8> {
    pco::standalone::simple_compress(v, &pco::ChunkConfig::default()).expect("pco")
}

fn pco_f64(v: &[f64]) -> Vec<u8> {
    pco::standalone::simple_compress(v, &pco::ChunkConfig::default()).expect("pco")
}

fn zstd_of(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 3).expect("zstd")
}

fn le_i64(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn codecs(variant: &str, days: &BTreeMap<i64, Vec<Row>>) {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for g in groups(days, 65_536) {
        let times: Vec<i64> = g.iter().map(|r| r.time).collect();
        measure(&mut tallies, "time: pco", &times, pco_i64, Some(&|b, _| pco::standalone::simple_decompress::<i64>(b).expect("pco").len()));
        measure(&mut tallies, "time: delta-of-delta + varint (own)", &times, dod_encode, Some(&|b, n| black_box(dod_decode(b, n)).len()));
        measure(&mut tallies, "time: zstd -3 of plain", &times, |v| zstd_of(&le_i64(v)), None);
        let keys: Vec<&String> = g[0].fields.iter().map(|f| &f.0).collect();
        for (k, key) in keys.iter().enumerate() {
            match g[0].fields[k].1 {
                Val::I(_) => {
                    let v: Vec<i64> = g.iter().map(|r| if let Val::I(x) = r.fields[k].1 { x } else { 0 }).collect();
                    measure(&mut tallies, "integer: pco", &v, pco_i64, Some(&|b, _| pco::standalone::simple_decompress::<i64>(b).expect("pco").len()));
                    measure(&mut tallies, "integer: delta + zigzag + varint (own)", &v, delta_encode, Some(&|b, n| black_box(delta_decode(b, n)).len()));
                    measure(&mut tallies, "integer: zstd -3 of plain", &v, |v| zstd_of(&le_i64(v)), None);
                }
                Val::F(_) => {
                    let v: Vec<f64> = g.iter().map(|r| if let Val::F(x) = r.fields[k].1 { x } else { 0.0 }).collect();
                    measure(&mut tallies, "float: pco", &v, pco_f64, Some(&|b, _| pco::standalone::simple_decompress::<f64>(b).expect("pco").len()));
                    measure(&mut tallies, "float: Gorilla XOR (own)", &v, gorilla_encode, None);
                    measure(&mut tallies, "float: zstd -3 of plain", &v, |v| zstd_of(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()), None);
                }
                Val::S(_) => {
                    let v: Vec<&str> = g.iter().map(|r| if let Val::S(ref s) = r.fields[k].1 { s.as_str() } else { "" }).collect();
                    measure(&mut tallies, &format!("string ({key}): dictionary + pco indexes"), &v, |v| {
                        let mut d: Vec<&str> = v.to_vec();
                        d.sort_unstable();
                        d.dedup();
                        let idx: Vec<u32> = v.iter().map(|s| d.binary_search(s).expect("in") as u32).collect();
                        let mut out: Vec<u8> = d.iter().flat_map(|s| s.bytes()).collect();
                        out.extend(pco::standalone::simple_compress(&idx, &pco::ChunkConfig::default()).expect("pco"));
                        out
                    }, None);
                    measure(&mut tallies, &format!("string ({key}): zstd -3 of plain"), &v, |v| {
                        zstd_of(&v.iter().flat_map(|s| (s.len() as u32).to_le_bytes().into_iter().chain(s.bytes())).collect::<Vec<u8>>())
                    }, None);
                }
                Val::B(_) => {
                    let v: Vec<bool> = g.iter().map(|r| matches!(r.fields[k].1, Val::B(true))).collect();
                    measure(&mut tallies, &format!("boolean ({key}): bits"), &v, |v| {
                        v.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |a, (i, b)| a | u8::from(*b) << i)).collect()
                    }, None);
                    measure(&mut tallies, &format!("boolean ({key}): pco of 0/1"), &v, |v| {
                        let n: Vec<u32> = v.iter().map(|b| u32::from(*b)).collect();
                        pco::standalone::simple_compress(&n, &pco::ChunkConfig::default()).expect("pco")
                    }, None);
                }
            }
        }
    }
    println!("\n{variant}: bytes per value, M values/s encoding and decoding (row groups of 65,536)\n");
    println!("| column: encoding | bytes/value | encode | decode |\n|---|---|---|---|");
    for (name, t) in &tallies {
        t.line(name);
    }
}

/// Whole sealed files per row-group size: bytes per field value.
fn files(variant: &str, days: &BTreeMap<i64, Vec<Row>>, keys: &[Vec<u8>], field_values: usize) {
    let dir = std::env::temp_dir().join(format!("linedb-bench-encodings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!("\n{variant}: sealed files (every day of the file), by rows per row group\n");
    println!("| rows per group | bytes | bytes per field value | write s |\n|---|---|---|---|");
    for size in [8_192, 65_536, 262_144, 1 << 20] {
        let start = Instant::now();
        let mut total = 0u64;
        for (day, rows) in days {
            let path = dir.join(format!("{day}-{size}.col"));
            let file = FsStorage.open_file(&path, OpenMode::CreateNew).expect("create");
            let mut w = Writer::new(file, b"bench").expect("writer");
            // The file's ids are its own, in first-use order.
            let mut local: HashMap<u32, u32> = HashMap::new();
            for chunk in rows.chunks(size) {
                let mut g: Vec<(u32, &Row)> = chunk
                    .iter()
                    .map(|r| {
                        let id = *local.entry(r.series).or_insert_with(|| w.series_id(&keys[r.series as usize]).expect("id"));
                        (id, r)
                    })
                    .collect();
                g.sort_by_key(|(id, r)| (*id, r.time));
                let mut fields = Vec::new();
                let mut grows = Vec::new();
                for (id, r) in &g {
                    let start = fields.len();
                    for (k, v) in &r.fields {
                        let value = match v {
                            Val::F(x) => StoredValue::Float(*x),
                            Val::I(x) => StoredValue::Integer(*x),
                            Val::S(s) => StoredValue::String(s.as_bytes()),
                            Val::B(b) => StoredValue::Boolean(*b),
                        };
                        fields.push(StoredField { key: k.as_bytes(), value });
                    }
                    grows.push(GroupRow { series: *id, time: r.time, fields: start..fields.len() });
                }
                w.write_group(&grows, &fields).expect("group");
            }
            total += w.finish((1, 1)).expect("finish").bytes;
        }
        let secs = start.elapsed().as_secs_f64();
        println!("| {size} | {total} | {:.3} | {secs:.2} |", total as f64 / field_values as f64);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with
    // a small workload, as a smoke test.
    let quick = !std::env::args().any(|a| a == "--bench");
    let lines = if quick {
        20_000
    } else {
        std::env::var("LINEDB_BENCH_LINES").ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(1_000_000)
    };
    for variant in ["int", "float", "mixed"] {
        let text = std::fs::read_to_string(support::workload(variant, lines, !quick)).expect("workload");
        let (days, keys) = load(&text);
        let field_values: usize = days.values().flatten().map(|r| r.fields.len()).sum();
        println!("\n## {variant}: {lines} lines, {field_values} field values, {} days, {} series", days.len(), keys.len());
        codecs(variant, &days);
        files(variant, &days, &keys, field_values);
    }
}
