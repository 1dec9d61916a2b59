//! The rows of a segment block: how validated lines are stored, and how a
//! stored row is written back as canonical line protocol.
//!
//! A block keeps the points' names already escaped in canonical form and
//! their values in binary, so a query writes names by copying bytes and
//! formats only the values. Series (tag sets) and field keys repeat from
//! row to row, so each block stores every distinct one once and rows refer
//! to them by index, and numbers are varints, so the WAL and the segments
//! carry about a sixth of the bytes of the input (TSBS cpu rows: 40 bytes
//! for 220 of line protocol). A block body (encoding 2):
//!
//! | field | bytes |
//! |---|---|
//! | marker `FF FF FF FF`, encoding `02` | 5 |
//! | series count, then each: length + `,k=v` per tag, sorted by key, escaped | |
//! | field key count, then each: length + escaped key | |
//! | rows, back to back: | |
//! | row length (after this field) | varint |
//! | time, ns, minus the row before's (0 for the first), zigzag | varint |
//! | series index | varint |
//! | field count | varint |
//! | per field: key index varint, type u8, value | |
//!
//! A value is a zigzag varint (integer), a varint (unsigned), 8 bytes
//! little-endian (f64 bits), 1 byte (bool), or a varint length and the raw
//! UTF-8 (string). A float that is a decimal of 3 or 6 places (its bits
//! come back exactly from `m / 10^3` or `m / 10^6`) is stored with type tag
//! `0x43` or `0x46` instead of 1, and `m` as a zigzag varint: 58.305 takes
//! 4 bytes, not 9 (measured: the float TSBS file's WAL and segments take
//! about half the bytes). Counts and lengths are varints (LEB128). Fields are
//! sorted by key, so merging two rows of one point is a merge of sorted
//! lists.
//!
//! Encoding 1, which stores written before it still hold, has no marker
//! and fixed-width numbers: u32 counts, lengths and indexes, i64 times
//! (absolute) and 8-byte integers. Its first field, the series count, can
//! never be `FF FF FF FF` (the entries would need 16 GiB), which is what
//! tells the two apart. Blocks are only ever written in encoding 2.

use std::fmt::Write as _;

use crate::line_protocol::{self, scan, Field, FieldType, FieldValue, LineRef};

mod interner;

use interner::Interner;

/// Builds one block body. Reused from block to block (its maps and buffers
/// keep their memory).
///
/// Encoding a row is mostly finding its series and field keys in the
/// block's dictionaries, and that is kept cheap: a series is looked up by
/// its tags as written (no sorting or escaping unless it is new to the
/// block), and a row whose field keys are those of the row before (the
/// usual case: one shape per measurement) reuses that row's key indexes
/// and order.
#[derive(Debug, Default)]
pub struct BlockEncoder {
    series: Interner,
    series_list: Vec<u8>,
    keys: Interner,
    key_list: Vec<u8>,
    /// Tags as written (`key FF value FF`...) -> series index.
    raw_series: Interner,
    /// Field keys as written -> key index.
    raw_keys: Interner,
    /// The field keys of the row before (`key FF`...), their indexes (in
    /// input order) and their sorted order.
    shape: Vec<u8>,
    prev_shape: Vec<u8>,
    prev_kidx: Vec<u32>,
    prev_order: Vec<usize>,
    /// The validation shape of the row before, if it had one.
    prev_shape_id: Option<u32>,
    rows: Vec<u8>,
    /// The row being encoded (its length goes before it).
    row: Vec<u8>,
    prev_time: i64,
    order: Vec<usize>,
    text: String,
    /// A row was dropped because its memory could not be had: the block is
    /// incomplete and must be discarded (see [`BlockEncoder::out_of_memory`]).
    short: bool,
}

/// A fast hasher for the encoder's maps (the FxHash step: rotate, xor,
/// multiply, eight bytes at a time). Not keyed: a writer can make its own
/// batch's encoding slower with colliding names, but the maps live for one
/// block, so the cost stays within the batch that brought it.
#[derive(Clone, Copy, Debug, Default)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            self.add(u64::from_le_bytes(a));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(a) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<Fx>;

/// Separates names in the encoder's lookup keys: never in UTF-8.
const SEP: u8 = 0xFF;

/// The first bytes of an encoding-2 body.
const MARKER: [u8; 5] = [0xFF, 0xFF, 0xFF, 0xFF, 2];

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // The low 7 bits, with the continuation bit.
        #[allow(clippy::cast_possible_truncation)]
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let z = ((v << 1) ^ (v >> 63)) as u64;
    z
}

fn unzigzag(z: u64) -> i64 {
    #[allow(clippy::cast_possible_wrap)]
    let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
    v
}

impl BlockEncoder {
    pub fn new() -> Self {
        BlockEncoder::default()
    }

    /// Bytes of memory the encoder holds between blocks (about).
    pub fn retained(&self) -> usize {
        let vecs = [&self.series_list, &self.key_list, &self.shape, &self.prev_shape, &self.rows, &self.row];
        let maps = [&self.series, &self.keys, &self.raw_series, &self.raw_keys];
        vecs.iter().map(|v| v.capacity()).sum::<usize>()
            + maps.iter().map(|m| m.retained()).sum::<usize>()
            + self.text.capacity()
    }

    fn clear(&mut self) {
        self.series.clear();
        self.series_list.clear();
        self.keys.clear();
        self.key_list.clear();
        self.rows.clear();
        self.prev_time = 0;
        self.raw_series.clear();
        self.raw_keys.clear();
        self.prev_shape.clear();
        self.prev_kidx.clear();
        self.prev_order.clear();
        self.prev_shape_id = None;
        self.short = false;
    }

    /// Whether memory for a row could not be had since the last block: the
    /// block lacks rows, and the caller must discard it. What grows with a
    /// batch is checked (the rows, and the series and field-key
    /// dictionaries with their maps): failing it is an answer, not an abort
    /// of the host process.
    pub fn out_of_memory(&self) -> bool {
        self.short
    }

    /// The length [`finish`](Self::finish) will append (at most).
    pub fn body_len(&self) -> usize {
        MARKER.len() + 20 + self.series_list.len() + self.key_list.len() + self.rows.len()
    }

    /// Drops the rows added since the last block: the encoder is as new,
    /// but for the memory it keeps.
    pub fn discard(&mut self) {
        self.clear();
    }

    /// Adds one validated line (repeats already resolved).
    pub fn row(&mut self, line: LineRef<'_, '_>) {
        self.row_of_shape(line, None);
    }

    /// [`row`](Self::row), told the line's shape by validation
    /// (`PartitionRows::shapes`): when it is the row before's, the field
    /// keys are known to be the same and are not compared again.
    pub fn row_of_shape(&mut self, line: LineRef<'_, '_>, shape_id: Option<u32>) {
        if self.short {
            return; // the block is to be discarded
        }
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        let time = line.timestamp();
        put_var(&mut row, zigzag(time.wrapping_sub(self.prev_time)));
        self.prev_time = time;

        // The series: by its text as written (no copy), else sorted and
        // escaped. A line always has a measurement, so the text is never
        // empty; if it were, the key is built from the parsed tags.
        let tags = line.tags();
        let written = line.series_text().as_bytes();
        let raw: &[u8] = if written.is_empty() {
            let raw = &mut self.shape;
            raw.clear();
            raw.push(SEP);
            for t in tags {
                raw.extend_from_slice(t.key.as_bytes());
                raw.push(SEP);
                raw.extend_from_slice(t.value.as_bytes());
                raw.push(SEP);
            }
            raw
        } else {
            written
        };
        let idx = match self.raw_series.get(raw) {
            Some(i) => i,
            None => {
                let text = &mut self.text;
                text.clear();
                sorted_by_key(&mut self.order, tags.len(), |i| tags[i].key.as_bytes());
                for &i in self.order.iter() {
                    text.push(',');
                    line_protocol::write_escaped_name(text, &tags[i].key, scan::KEY);
                    text.push('=');
                    line_protocol::write_escaped_name(text, &tags[i].value, scan::TAG_VALUE);
                }
                let Some(i) = intern(&mut self.series, &mut self.series_list, text.as_bytes()) else {
                    self.short = true;
                    self.row = row;
                    return;
                };
                if self.raw_series.try_insert(raw, i).is_err() {
                    self.short = true;
                    self.row = row;
                    return;
                }
                i
            }
        };
        put_var(&mut row, u64::from(idx));

        // The field keys: those of the row before, else looked up one by one.
        let fields = line.fields();
        let known = shape_id.is_some() && shape_id == self.prev_shape_id && self.prev_kidx.len() == fields.len();
        self.prev_shape_id = shape_id;
        if !known && self.keys_changed(fields) {
            self.prev_kidx.clear();
            for f in fields {
                let k = match self.raw_keys.get(f.key.as_bytes()) {
                    Some(k) => k,
                    None => {
                        let text = &mut self.text;
                        text.clear();
                        line_protocol::write_escaped_name(text, &f.key, scan::KEY);
                        let Some(k) = intern(&mut self.keys, &mut self.key_list, text.as_bytes()) else {
                            self.short = true;
                            break;
                        };
                        if self.raw_keys.try_insert(f.key.as_bytes(), k).is_err() {
                            self.short = true;
                            break;
                        }
                        k
                    }
                };
                self.prev_kidx.push(k);
            }
            if self.short {
                // The keys are part-made: no later row may take them as
                // the row before's (the block is discarded anyway).
                self.prev_kidx.clear();
                self.prev_shape.clear();
                self.row = row;
                return;
            }
            sorted_by_key(&mut self.prev_order, fields.len(), |i| fields[i].key.as_bytes());
            std::mem::swap(&mut self.prev_shape, &mut self.shape);
        }
        put_var(&mut row, fields.len() as u64);
        for &i in self.prev_order.iter() {
            put_var(&mut row, u64::from(self.prev_kidx[i]));
            let v = &fields[i].value;
            match v {
                FieldValue::Float(x) => put_float(&mut row, *x),
                _ => row.push(v.field_type() as u8),
            }
            match v {
                FieldValue::Float(_) => {}
                FieldValue::Integer(x) => put_var(&mut row, zigzag(*x)),
                FieldValue::UInteger(x) => put_var(&mut row, *x),
                FieldValue::Boolean(x) => row.push(u8::from(*x)),
                FieldValue::String(s) => put_bytes(&mut row, s.as_bytes()),
            }
        }
        if self.short || self.rows.try_reserve(row.len() + 10).is_err() {
            self.short = true;
        } else {
            put_var(&mut self.rows, row.len() as u64);
            self.rows.extend_from_slice(&row);
        }
        self.row = row;
    }

    /// Whether the field keys of `fields` differ from the row before's;
    /// they become the row before's.
    fn keys_changed(&mut self, fields: &[Field<'_>]) -> bool {
        let shape = &mut self.shape;
        shape.clear();
        for f in fields {
            shape.extend_from_slice(f.key.as_bytes());
            shape.push(SEP);
        }
        *shape != self.prev_shape || self.prev_kidx.len() != fields.len()
    }

    /// Appends the block (dictionaries, then rows) to `out` and starts over.
    /// Never after [`out_of_memory`](Self::out_of_memory) (the block lacks
    /// rows): [`discard`](Self::discard) it instead.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        debug_assert!(!self.short, "a block that lacks rows is finished");
        out.extend_from_slice(&MARKER);
        put_var(out, self.series.len() as u64);
        out.extend_from_slice(&self.series_list);
        put_var(out, self.keys.len() as u64);
        out.extend_from_slice(&self.key_list);
        out.extend_from_slice(&self.rows);
        self.clear();
    }
}

/// The index of `name` in a block's dictionary, adding it if new.
/// `None` when the memory for a new name cannot be had (nothing changed).
fn intern(map: &mut Interner, list: &mut Vec<u8>, name: &[u8]) -> Option<u32> {
    if let Some(i) = map.get(name) {
        return Some(i);
    }
    let i = u32::try_from(map.len()).unwrap_or(u32::MAX);
    list.try_reserve(name.len() + 10).ok()?;
    map.try_insert(name, i).ok()?;
    put_bytes(list, name);
    Some(i)
}

/// Fills `order` with `0..n` sorted by key, bytewise (names in one line are
/// unique once validated, so the order is total).
fn sorted_by_key<'k>(order: &mut Vec<usize>, n: usize, key: impl Fn(usize) -> &'k [u8]) {
    order.clear();
    order.extend(0..n);
    order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A stored row that does not decode: a bug or damage that escaped the
/// block checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    pub offset: usize,
}

/// One row of a block, borrowed from the block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row<'a> {
    pub time: i64,
    /// `,k=v...`, escaped, sorted.
    pub series: &'a [u8],
    /// The series' index in its block's table of series keys.
    pub series_id: u32,
    /// The encoded fields, in key order.
    pub fields: Fields<'a>,
}

/// A decoded block: its dictionaries, and where its rows start.
#[derive(Clone, Debug)]
pub struct Block<'a> {
    body: &'a [u8],
    series: Vec<&'a [u8]>,
    /// Escaped field keys, by index.
    pub keys: Vec<&'a [u8]>,
    rows_at: usize,
    /// Encoding 2 (varints) rather than 1.
    varint: bool,
}

impl<'a> Block<'a> {
    pub fn decode(body: &'a [u8]) -> Result<Block<'a>, BadRow> {
        let varint = body.starts_with(&MARKER);
        let mut r = Reader { b: body, pos: if varint { MARKER.len() } else { 0 }, varint };
        let bad = |pos| BadRow { offset: pos };
        let dict = |r: &mut Reader<'a>| -> Option<Vec<&'a [u8]>> {
            let n = r.len()?;
            // Each entry takes at least its length's byte (4 in encoding 1).
            let min = if r.varint { 1 } else { 4 };
            if n > (r.b.len() - r.pos.min(r.b.len())) / min {
                return None;
            }
            (0..n).map(|_| r.bytes()).collect()
        };
        let series = dict(&mut r).ok_or_else(|| bad(0))?;
        let keys = dict(&mut r).ok_or_else(|| bad(r.pos))?;
        Ok(Block { body, series, keys, rows_at: r.pos, varint })
    }

    /// The number of distinct series keys the block's rows name.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn rows(&self) -> Rows<'_, 'a> {
        Rows { block: self, pos: self.rows_at, prev_time: 0 }
    }
}

/// Reads the rows of a block in order.
#[derive(Clone, Debug)]
pub struct Rows<'b, 'a> {
    block: &'b Block<'a>,
    pos: usize,
    /// The time of the row before (encoding 2 stores differences).
    prev_time: i64,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    varint: bool,
}

impl<'a> Reader<'a> {
    fn var(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7F);
            // The tenth byte may carry one bit only.
            if shift == 63 && bits > 1 {
                return None;
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    /// A count, length or index.
    fn len(&mut self) -> Option<usize> {
        if self.varint {
            usize::try_from(self.var()?).ok()
        } else {
            self.u32()
        }
    }
    fn int(&mut self) -> Option<i64> {
        if self.varint {
            self.var().map(unzigzag)
        } else {
            #[allow(clippy::cast_possible_wrap)]
            self.u64().map(|v| v as i64)
        }
    }
    fn uint(&mut self) -> Option<u64> {
        if self.varint {
            self.var()
        } else {
            self.u64()
        }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u32(&mut self) -> Option<usize> {
        let s = self.take(4)?;
        Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
}

impl<'a> Iterator for Rows<'_, 'a> {
    type Item = Result<Row<'a>, BadRow>;

    fn next(&mut self) -> Option<Self::Item> {
        let body = self.block.body;
        if self.pos >= body.len() {
            return None;
        }
        let at = self.pos;
        let varint = self.block.varint;
        let prev_time = self.prev_time;
        let row = (|| {
            let mut r = Reader { b: body, pos: self.pos, varint };
            let len = r.len()?;
            let row = r.take(len)?;
            let end = r.pos;
            let mut r = Reader { b: row, pos: 0, varint };
            let time = if varint { prev_time.wrapping_add(r.int()?) } else { r.int()? };
            let series_ix = r.len()?;
            let series = *self.block.series.get(series_ix)?;
            let series_id = u32::try_from(series_ix).ok()?;
            let count = r.len()?;
            let fields = Fields { b: &row[r.pos..], count, varint };
            Some((Row { time, series, series_id, fields }, end))
        })();
        match row {
            Some((row, end)) => {
                self.pos = end;
                self.prev_time = row.time;
                Some(Ok(row))
            }
            None => {
                self.pos = body.len();
                Some(Err(BadRow { offset: at }))
            }
        }
    }
}

/// The encoded fields of a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fields<'a> {
    b: &'a [u8],
    count: usize,
    varint: bool,
}

/// One stored field: its escaped key and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredField<'a> {
    pub key: &'a [u8],
    pub value: StoredValue<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StoredValue<'a> {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    String(&'a [u8]),
    Boolean(bool),
}

impl StoredValue<'_> {
    /// The value's type.
    pub const fn field_type(&self) -> FieldType {
        match self {
            StoredValue::Float(_) => FieldType::Float,
            StoredValue::Integer(_) => FieldType::Integer,
            StoredValue::UInteger(_) => FieldType::UInteger,
            StoredValue::String(_) => FieldType::String,
            StoredValue::Boolean(_) => FieldType::Boolean,
        }
    }
}

impl<'a> Fields<'a> {
    /// The fields in key order (`keys`: the block's key dictionary);
    /// `Err` if the encoding is damaged.
    pub fn decode(&self, keys: &[&'a [u8]], out: &mut Vec<StoredField<'a>>) -> Result<(), BadRow> {
        let mut r = Reader { b: self.b, pos: 0, varint: self.varint };
        for _ in 0..self.count {
            let f = (|| {
                let key = *keys.get(r.len()?)?;
                let tag = r.u8()?;
                if let Some(scale) = decimal_scale(tag) {
                    // Only encoding 2 writes decimals.
                    let m = if r.varint { unzigzag(r.var()?) } else { return None };
                    return Some(StoredField { key, value: StoredValue::Float(from_decimal(m, scale)?) });
                }
                let ty = FieldType::from_u8(tag)?;
                let value = match ty {
                    FieldType::Float => StoredValue::Float(f64::from_bits(r.u64()?)),
                    FieldType::Integer => StoredValue::Integer(r.int()?),
                    FieldType::UInteger => StoredValue::UInteger(r.uint()?),
                    FieldType::Boolean => StoredValue::Boolean(r.u8()? != 0),
                    FieldType::String => StoredValue::String(r.bytes()?),
                };
                Some(StoredField { key, value })
            })();
            out.push(f.ok_or(BadRow { offset: r.pos })?);
        }
        Ok(())
    }
}

/// Type tags of floats stored as decimals (encoding 2 only): the value is a
/// zigzag varint `m`, and the float is `m / 10^3` or `m / 10^6`, rounded
/// once (IEEE division of two exact numbers), which is the float the
/// decimal text `m`e-3 (or e-6) parses to. Most measured values are
/// decimals of a few digits: 58.305 takes 4 bytes (tag and a 3-byte
/// varint) instead of 9, in the WAL and in the segments alike.
const DECIMAL_3: u8 = 0x43;
const DECIMAL_6: u8 = 0x46;

/// The power of ten a decimal tag divides by.
fn decimal_scale(tag: u8) -> Option<f64> {
    match tag {
        DECIMAL_3 => Some(1e3),
        DECIMAL_6 => Some(1e6),
        _ => None,
    }
}

/// The float of a stored decimal; `None` for a mantissa no encoder writes
/// (beyond 2^53, where the division would not be exact).
fn from_decimal(m: i64, scale: f64) -> Option<f64> {
    const EXACT: i64 = 1 << 53;
    if !(-EXACT..=EXACT).contains(&m) {
        return None;
    }
    // |m| <= 2^53: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    Some(m as f64 / scale)
}

/// Appends a float's type tag and value: as a decimal of 3 or 6 places
/// when that gives exactly the same bits back, else its 8 bytes.
fn put_float(row: &mut Vec<u8>, x: f64) {
    for (tag, scale) in [(DECIMAL_3, 1e3), (DECIMAL_6, 1e6)] {
        let y = (x * scale).round();
        if y.abs() <= 9_007_199_254_740_992.0 {
            // |y| <= 2^53 and integral: exact as an i64.
            #[allow(clippy::cast_possible_truncation)]
            let m = y as i64;
            if from_decimal(m, scale).is_some_and(|back| back.to_bits() == x.to_bits()) {
                row.push(tag);
                put_var(row, zigzag(m));
                return;
            }
        }
    }
    row.push(FieldType::Float as u8);
    row.extend_from_slice(&x.to_bits().to_le_bytes());
}

/// Appends one point as canonical line protocol (no newline): the escaped
/// measurement, the series, the fields, the time.
pub fn write_line(out: &mut Vec<u8>, measurement: &[u8], series: &[u8], fields: &[StoredField<'_>], time: i64) {
    out.extend_from_slice(measurement);
    out.extend_from_slice(series);
    for (n, f) in fields.iter().enumerate() {
        out.push(if n == 0 { b' ' } else { b',' });
        out.extend_from_slice(f.key);
        out.push(b'=');
        match f.value {
            // Rust's `{}` is the canonical float: shortest round trip, no exponent.
            StoredValue::Float(x) => {
                let _ = write!(VecWriter(out), "{x}");
            }
            StoredValue::Integer(x) => {
                put_i64(out, x);
                out.push(b'i');
            }
            StoredValue::UInteger(x) => {
                put_u64(out, x);
                out.push(b'u');
            }
            StoredValue::Boolean(x) => out.extend_from_slice(if x { b"true" } else { b"false" }),
            StoredValue::String(s) => {
                out.push(b'"');
                for &c in s {
                    if c == b'"' || c == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
                out.push(b'"');
            }
        }
    }
    out.push(b' ');
    put_i64(out, time);
}

/// Decimal digits of `v`.
fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // v % 10 < 10: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let d = (v % 10) as u8;
        buf[i] = b'0' + d;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    put_u64(out, v.unsigned_abs());
}

/// `write!` straight into a byte vector.
struct VecWriter<'v>(&'v mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Merges `later` into `acc` (both in key order): a key in both takes the
/// later value; the result stays in key order.
pub fn merge_fields<'a>(acc: &mut Vec<StoredField<'a>>, later: &[StoredField<'a>], scratch: &mut Vec<StoredField<'a>>) {
    scratch.clear();
    let (mut i, mut j) = (0, 0);
    while i < acc.len() && j < later.len() {
        match acc[i].key.cmp(later[j].key) {
            std::cmp::Ordering::Less => {
                scratch.push(acc[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                scratch.push(later[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                scratch.push(later[j]);
                i += 1;
                j += 1;
            }
        }
    }
    scratch.extend_from_slice(&acc[i..]);
    scratch.extend_from_slice(&later[j..]);
    std::mem::swap(acc, scratch);
}

/// The escaped form of a measurement name, as rows are written back.
pub fn escaped_measurement(name: &str) -> String {
    let mut s = String::new();
    line_protocol::write_escaped_name(&mut s, name, scan::MEASUREMENT);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::{parse, Batch, Precision};

    /// Encodes every line of `batch` as one block body with `enc`.
    fn encode_all(enc: &mut BlockEncoder, batch: &Batch<'_>) -> Vec<u8> {
        for line in batch.iter() {
            enc.row(line);
        }
        let mut body = Vec::new();
        enc.finish(&mut body);
        body
    }

    /// Encodes every line of `input` as one block and writes it back.
    fn roundtrip_all(input: &str) -> Vec<String> {
        let mut batch = Batch::new();
        parse(input.as_bytes(), Precision::Nanosecond, 0, &mut batch).unwrap();
        let body = encode_all(&mut BlockEncoder::new(), &batch);
        let block = Block::decode(&body).unwrap();
        let rows: Vec<_> = block.rows().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), batch.len());
        rows.iter()
            .zip(batch.iter())
            .map(|(row, line)| {
                let mut fields = Vec::new();
                row.fields.decode(&block.keys, &mut fields).unwrap();
                let mut out = Vec::new();
                let m = escaped_measurement(line.measurement());
                write_line(&mut out, m.as_bytes(), row.series, &fields, row.time);
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    fn roundtrip(input: &str) -> String {
        roundtrip_all(input).remove(0)
    }

    #[test]
    fn floats_come_back_bit_for_bit_decimals_or_not() {
        // Decimals take the short form; anything else its 8 bytes.
        let mut values: Vec<f64> = vec![
            58.305, 0.1, -0.001, 0.0, -0.0, 1e-7, 1.0 / 3.0, 123_456.789_012, 9_007_199_254.740_993, f64::MAX,
            f64::MIN_POSITIVE, 5e-324, -1e300, 4_503_599_627_370_496.5, 100.0, -58.3,
        ];
        let mut r = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let x = f64::from_bits(r);
            if x.is_finite() {
                values.push(x);
            }
            // Decimals of up to 7 places, the ones sensors send.
            values.push((r % 2_000_000_001) as f64 / [1.0, 10.0, 1e3, 1e6, 1e7][(r >> 40) as usize % 5] - 100.0);
        }
        for x in values {
            let mut row = Vec::new();
            put_float(&mut row, x);
            let mut fields = Vec::new();
            let f = Fields { b: &row_with_key(&row), count: 1, varint: true };
            f.decode(&[b"f"], &mut fields).unwrap();
            match fields[0].value {
                StoredValue::Float(y) => assert_eq!(y.to_bits(), x.to_bits(), "{x:e} came back as {y:e}"),
                other => panic!("{other:?}"),
            }
        }
        let mut row = Vec::new();
        put_float(&mut row, 58.305);
        assert_eq!(row.len(), 4, "a 3-place decimal takes its tag and a 3-byte varint");
    }

    /// A field of key index 0 with `value` (tag and bytes).
    fn row_with_key(value: &[u8]) -> Vec<u8> {
        let mut b = vec![0];
        b.extend_from_slice(value);
        b
    }

    #[test]
    fn rows_read_back_as_canonical_lines() {
        assert_eq!(roundtrip("m,b=2,a=1 z=1i,y=2u,x=-0.5,w=true,v=\"q\\\"\\\\\" 5"), "m,a=1,b=2 v=\"q\\\"\\\\\",w=true,x=-0.5,y=2u,z=1i 5");
        assert_eq!(roundtrip("m\\ x,t\\=k=a\\,b f\\ g=1e3 -7"), "m\\ x,t\\=k=a\\,b f\\ g=1000 -7");
        assert_eq!(roundtrip("a=b f=0.1"), "a=b f=0.1 0");
    }

    #[test]
    fn extreme_numbers_and_time_steps_read_back() {
        let input = "m a=-9223372036854775808i,b=18446744073709551615u,c=9223372036854775807i -9223372036854775806\n\
                     m a=0i,b=0u,c=-1i 9223372036854775806\n\
                     m a=1i 0\n\
                     m a=1i 0";
        assert_eq!(
            roundtrip_all(input),
            [
                "m a=-9223372036854775808i,b=18446744073709551615u,c=9223372036854775807i -9223372036854775806",
                "m a=0i,b=0u,c=-1i 9223372036854775806",
                "m a=1i 0",
                "m a=1i 0",
            ]
        );
    }

    #[test]
    fn varints_are_small_for_small_numbers() {
        let mut v = Vec::new();
        for (n, len) in [(0u64, 1), (127, 1), (128, 2), (u64::from(u32::MAX), 5), (u64::MAX, 10)] {
            v.clear();
            put_var(&mut v, n);
            assert_eq!(v.len(), len, "{n}");
            let mut r = Reader { b: &v, pos: 0, varint: true };
            assert_eq!(r.var(), Some(n));
        }
        for x in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(x)), x);
        }
        // An eleventh byte, or a tenth carrying more than one bit: refused.
        let long = [0xFFu8; 10];
        assert_eq!(Reader { b: &long, pos: 0, varint: true }.var(), None);
    }

    #[test]
    fn series_and_keys_are_stored_once_per_block() {
        let input = "m,h=a x=1i,y=2i 1\nm,h=b x=3i 2\nm,h=a y=4i,z=5i 3\nm x=6i 4";
        assert_eq!(roundtrip_all(input), ["m,h=a x=1i,y=2i 1", "m,h=b x=3i 2", "m,h=a y=4i,z=5i 3", "m x=6i 4"]);
        let mut batch = Batch::new();
        parse(input.as_bytes(), Precision::Nanosecond, 0, &mut batch).unwrap();
        let mut enc = BlockEncoder::new();
        let body = encode_all(&mut enc, &batch);
        let block = Block::decode(&body).unwrap();
        assert_eq!(block.series, [b",h=a".as_slice(), b",h=b", b""]);
        assert_eq!(block.keys, [b"x".as_slice(), b"y", b"z"]);
        // The encoder starts over after finish.
        enc.row(batch.line(3));
        let mut body2 = Vec::new();
        enc.finish(&mut body2);
        assert_eq!(Block::decode(&body2).unwrap().keys, [b"x".as_slice()]);
    }

    #[test]
    fn a_damaged_body_is_an_error_not_a_panic() {
        let mut batch = Batch::new();
        parse(b"m,t=a f=1i,s=\"x\" 1\nm,t=b f=2i 2", Precision::Nanosecond, 0, &mut batch).unwrap();
        let mut enc = BlockEncoder::new();
        for line in batch.iter() {
            enc.row(line);
        }
        let mut body = Vec::new();
        enc.finish(&mut body);
        for cut in 0..body.len() {
            if let Ok(block) = Block::decode(&body[..cut]) {
                for row in block.rows().flatten() {
                    let _ = row.fields.decode(&block.keys, &mut Vec::new());
                }
            }
        }
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0xff;
            if let Ok(block) = Block::decode(&bad) {
                for row in block.rows().flatten() {
                    let _ = row.fields.decode(&block.keys, &mut Vec::new());
                }
            }
        }
        let mut bad = body.clone();
        // A series count (16383) past the end.
        bad[MARKER.len()] = 0xff;
        bad[MARKER.len() + 1] = 0x7f;
        assert_eq!(Block::decode(&bad).err(), Some(BadRow { offset: 0 }));
    }

    #[test]
    fn integers_print_as_std_does() {
        for v in [0i64, 1, -1, 9, 10, -10, 12345, i64::MIN, i64::MAX, i64::MIN + 1] {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        for v in [0u64, 7, 100, u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn merge_takes_later_values_and_keeps_order() {
        let a = [
            StoredField { key: b"a", value: StoredValue::Integer(1) },
            StoredField { key: b"c", value: StoredValue::Integer(3) },
        ];
        let b = [
            StoredField { key: b"b", value: StoredValue::Boolean(true) },
            StoredField { key: b"c", value: StoredValue::Integer(30) },
        ];
        let mut acc = a.to_vec();
        merge_fields(&mut acc, &b, &mut Vec::new());
        let keys: Vec<&[u8]> = acc.iter().map(|f| f.key).collect();
        assert_eq!(keys, [b"a".as_slice(), b"b", b"c"]);
        assert_eq!(acc[2].value, StoredValue::Integer(30));
    }
}
