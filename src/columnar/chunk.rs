//! Column chunk encodings: how the values of one column of one row group
//! (or, for a tag, of one sealed file's series) become bytes, and back.
//! Chosen by measurement (BENCHMARKS.md, `benches/encodings.rs`):
//!
//! - numbers (times, integers, unsigned, floats, dictionary indexes):
//!   `pco`, which picks delta orders, bins and float or integer
//!   multipliers per chunk and codes them with tANS; since format 2, a
//!   group's times and numeric fields are `pco` pages of whole series
//!   runs (`PcoPages`), so that a query of a few series decodes only
//!   their pages (a page holds at least [`MIN_PAGE`] values: runs shorter
//!   than that share one);
//! - booleans: `pco` of 0 and 1 (a field that is mostly one value takes
//!   well under a bit each);
//! - presence (which rows of a group hold a field, when not all do): one
//!   bit each;
//! - strings (tag values, string fields): a dictionary of the distinct
//!   values, compressed with zstd when that saves at least an eighth, then
//!   each value's index in it, as numbers.
//!
//! Decoding is only ever given bytes that matched their chunk's checksum;
//! it still checks every length and count, so a bug or a damaged file that
//! passed its CRC gives an error, never a panic or a huge allocation.

use std::fmt;

/// Why a chunk's bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadChunk(pub String);

impl fmt::Display for BadChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: impl Into<String>) -> BadChunk {
    BadChunk(what.into())
}

/// How a chunk's bytes encode its values (stored as one byte; never
/// renumbered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// `pco` standalone bytes of the chunk's numbers.
    Pco = 1,
    /// One bit a value, least significant bit first.
    Bits = 2,
    /// A dictionary of distinct byte strings, then an index per value.
    Dict = 3,
    /// (series, rows) pairs: which series a row group's rows belong to.
    Runs = 4,
    /// `pco` pages of whole series runs (format 2): see [`put_paged`].
    PcoPages = 5,
}

impl Encoding {
    pub fn from_u8(b: u8) -> Option<Encoding> {
        Some(match b {
            1 => Encoding::Pco,
            2 => Encoding::Bits,
            3 => Encoding::Dict,
            4 => Encoding::Runs,
            5 => Encoding::PcoPages,
            _ => return None,
        })
    }
}

/// The numbers `pco` encodes here.
pub trait Number: pco::data_types::Number + Default {}
impl Number for i64 {}
impl Number for u64 {}
impl Number for f64 {}
impl Number for u32 {}

/// `pco`'s compression level: 8 is its default; measured against 4 and 12
/// in BENCHMARKS.md.
const PCO_LEVEL: usize = 8;

/// Appends `values` as `pco` bytes, prefixed with their length (u32).
pub fn put_numbers<T: Number>(values: &[T], out: &mut Vec<u8>) -> Result<(), BadChunk> {
    let config = pco::ChunkConfig::default().with_compression_level(PCO_LEVEL);
    let bytes = pco::standalone::simple_compress(values, &config).map_err(|e| bad(format!("pco: {e}")))?;
    put_len(out, bytes.len())?;
    out.extend_from_slice(&bytes);
    Ok(())
}

/// Reads what [`put_numbers`] wrote: exactly `n` numbers. The numbers are
/// decoded into a buffer of `n` (which the caller bounds), never one the
/// bytes ask for: bytes claiming more numbers than `n` are an error.
pub fn get_numbers<T: Number>(r: &mut Cursor<'_>, n: usize) -> Result<Vec<T>, BadChunk> {
    let len = r.len()?;
    let bytes = r.take(len)?;
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| bad(format!("no memory for {n} numbers")))?;
    v.resize(n, T::default());
    let progress = pco::standalone::simple_decompress_into(bytes, &mut v).map_err(|e| bad(format!("pco: {e}")))?;
    if progress.n_processed != n || !progress.finished {
        return Err(bad(format!("{} numbers where {n} were expected", progress.n_processed)));
    }
    Ok(v)
}

/// A page holds at least this many values (but the last of a chunk):
/// shorter series runs share a page. Each page costs some bytes of its
/// own (pco's per-page state), and a query of one series decodes its
/// whole page.
pub const MIN_PAGE: usize = 2048;

/// Splits values counted per series run (in run order) into pages of
/// whole runs, each of at least [`MIN_PAGE`] values but the last: the
/// values per page, none 0, summing to the total.
pub fn page_sizes(counts: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut pages = Vec::new();
    let mut open = 0usize;
    for c in counts {
        open += c;
        if open >= MIN_PAGE {
            pages.push(open);
            open = 0;
        }
    }
    if open > 0 {
        pages.push(open);
    }
    pages
}

/// Appends `values` as `pco` pages of `pages` values each (as
/// [`page_sizes`] gives): the page count, each page's count of values,
/// each page's count of bytes, the length of pco's header and chunk
/// metadata (all LEB128 varints: a page's own cost is a few bytes), that
/// header and metadata, then the pages. Pages share the chunk's bins;
/// each decodes alone.
pub fn put_paged<T: Number>(values: &[T], pages: &[usize], out: &mut Vec<u8>) -> Result<(), BadChunk> {
    if pages.iter().sum::<usize>() != values.len() || pages.contains(&0) {
        return Err(bad("pages do not cover the values"));
    }
    let pco_err = |e: pco::errors::PcoError| bad(format!("pco: {e}"));
    put_varint(out, pages.len());
    if pages.is_empty() {
        return Ok(());
    }
    let config = pco::ChunkConfig::default()
        .with_compression_level(PCO_LEVEL)
        .with_paging_spec(pco::PagingSpec::Exact(pages.to_vec()));
    let fc = pco::wrapped::FileCompressor::default();
    let mut meta = fc.write_header(Vec::new()).map_err(pco_err)?;
    let mut cc = fc.chunk_compressor(values, &config).map_err(pco_err)?;
    meta = cc.write_meta(meta).map_err(pco_err)?;
    let mut bodies = Vec::new();
    let mut lens = Vec::with_capacity(pages.len());
    for i in 0..pages.len() {
        let before = bodies.len();
        bodies = cc.write_page(i, bodies).map_err(pco_err)?;
        lens.push(bodies.len() - before);
    }
    for &n in pages.iter().chain(&lens) {
        put_varint(out, n);
    }
    put_varint(out, meta.len());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&bodies);
    Ok(())
}

/// What [`put_paged`] wrote, its lengths checked, not decoded yet.
#[derive(Debug)]
pub struct Paged<'a> {
    /// (first value, values, bytes) of each page.
    pages: Vec<(usize, usize, &'a [u8])>,
    meta: &'a [u8],
}

/// Reads what [`put_paged`] wrote, which must hold exactly `n` values.
pub fn get_paged<'a>(r: &mut Cursor<'a>, n: usize) -> Result<Paged<'a>, BadChunk> {
    let count = r.varint()?;
    // Each page takes at least its 2 bytes of lengths and one value.
    if count > n || count > r.b.len() / 2 {
        return Err(bad(format!("{count} pages")));
    }
    let mut counts = Vec::with_capacity(count);
    for _ in 0..count {
        counts.push(r.varint()?);
    }
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        lens.push(r.varint()?);
    }
    let meta = if count > 0 {
        let len = r.varint()?;
        r.take(len)?
    } else {
        &[]
    };
    let mut pages = Vec::with_capacity(count);
    let mut first = 0usize;
    for (c, l) in counts.into_iter().zip(lens) {
        if c == 0 {
            return Err(bad("an empty page"));
        }
        pages.push((first, c, r.take(l)?));
        first = first.checked_add(c).ok_or_else(|| bad("page counts overflow"))?;
    }
    if first != n {
        return Err(bad(format!("pages of {first} values where {n} were expected")));
    }
    Ok(Paged { pages, meta })
}

/// pco's batch: a page is read in lengths that are multiples of it.
const BATCH: usize = 256;

impl Paged<'_> {
    /// The values at the indexes of `ranges` (sorted, disjoint, each within
    /// the chunk), concatenated: only the pages they touch are decoded.
    pub fn decode<T: Number>(&self, ranges: &[(usize, usize)]) -> Result<Vec<T>, BadChunk> {
        let pco_err = |e: pco::errors::PcoError| bad(format!("pco: {e}"));
        let total: usize = ranges.iter().map(|(a, b)| b.saturating_sub(*a)).sum();
        let mut out: Vec<T> = Vec::new();
        out.try_reserve_exact(total).map_err(|_| bad(format!("no memory for {total} numbers")))?;
        if total == 0 {
            return Ok(out);
        }
        let (fd, rest) = pco::wrapped::FileDecompressor::new(self.meta).map_err(pco_err)?;
        let (mut cd, _) = fd.chunk_decompressor::<T, _>(rest).map_err(pco_err)?;
        let mut buf: Vec<T> = Vec::new();
        let mut r = 0; // the first range not wholly taken
        for &(first, n, bytes) in &self.pages {
            let end = first + n;
            while r < ranges.len() && ranges[r].1 <= first {
                r += 1;
            }
            if r == ranges.len() {
                break;
            }
            if ranges[r].0 >= end {
                continue; // no range reaches into this page
            }
            // Decoded only as far as the last range in it reaches (pco
            // decodes from a page's start, in batches of 256: a length
            // that is a multiple of 256 or the whole page).
            let last = ranges[r..].iter().take_while(|x| x.0 < end).map(|x| x.1.min(end)).max().unwrap_or(end);
            let upto = (last - first).next_multiple_of(BATCH).min(n);
            buf.clear();
            buf.resize(upto, T::default());
            let mut pd = cd.page_decompressor(bytes, n).map_err(pco_err)?;
            let progress = pd.read(&mut buf).map_err(pco_err)?;
            if progress.n_processed != upto || (upto == n) != progress.finished {
                return Err(bad(format!(
                    "{} numbers of a page where {upto} of {n} were expected",
                    progress.n_processed
                )));
            }
            let mut k = r;
            while k < ranges.len() && ranges[k].0 < end {
                let (a, b) = (ranges[k].0.max(first), ranges[k].1.min(end));
                out.extend_from_slice(&buf[a - first..b - first]);
                k += 1;
            }
        }
        if out.len() != total {
            return Err(bad("ranges outside the chunk"));
        }
        Ok(out)
    }
}

/// The numbers of a chunk at the indexes of `ranges` (as
/// [`Paged::decode`] takes them), `n` in all: a whole `Pco` chunk
/// (format 1) is decoded whole and cut; `PcoPages` decodes the pages the
/// ranges touch.
pub fn get_numbers_in<T: Number>(
    r: &mut Cursor<'_>,
    encoding: Encoding,
    n: usize,
    ranges: &[(usize, usize)],
) -> Result<Vec<T>, BadChunk> {
    if ranges.iter().any(|&(a, b)| a >= b || b > n) || ranges.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(bad("ranges out of order"));
    }
    match encoding {
        Encoding::PcoPages => get_paged(r, n)?.decode(ranges),
        _ => {
            let all: Vec<T> = get_numbers(r, n)?;
            if ranges == [(0, n)] {
                return Ok(all);
            }
            Ok(ranges.iter().flat_map(|&(a, b)| all[a..b].iter().copied()).collect())
        }
    }
}

/// Appends one bit a value (length implied by the caller's count).
pub fn put_bits(bits: impl Iterator<Item = bool>, out: &mut Vec<u8>) {
    let mut byte = 0u8;
    let mut k = 0;
    for b in bits {
        byte |= u8::from(b) << k;
        k += 1;
        if k == 8 {
            out.push(byte);
            byte = 0;
            k = 0;
        }
    }
    if k > 0 {
        out.push(byte);
    }
}

/// Reads `n` bits written by [`put_bits`].
pub fn get_bits(r: &mut Cursor<'_>, n: usize) -> Result<Vec<bool>, BadChunk> {
    let bytes = r.take(n.div_ceil(8))?;
    Ok((0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

/// Dictionaries at least this long are tried with zstd.
const ZSTD_FROM: usize = 64;
/// zstd's level: its default, as `zstd -3`.
const ZSTD_LEVEL: i32 = 3;
/// A dictionary larger than this, decoded, is refused as damage, and the
/// writer refuses to write one (the rows then stay in their segments).
const MAX_DICT_BYTES: usize = 256 << 20;
/// The most a stored dictionary may grow when unpacked (zstd gets strings
/// of distinct values to a few times smaller).
const MAX_DICT_RATIO: usize = 256;

/// Appends a dictionary of `entries` (each its u32 length and bytes),
/// zstd-compressed when that saves at least an eighth.
pub fn put_dict(entries: &[&[u8]], out: &mut Vec<u8>) -> Result<(), BadChunk> {
    let mut raw = Vec::new();
    for e in entries {
        put_len(&mut raw, e.len())?;
        raw.extend_from_slice(e);
    }
    // What a reader refuses is never written: such rows stay unsealed.
    if raw.len() > MAX_DICT_BYTES {
        return Err(bad(format!("a dictionary of {} bytes (at most {MAX_DICT_BYTES})", raw.len())));
    }
    put_len(out, entries.len())?;
    put_len(out, raw.len())?;
    let packed = if raw.len() >= ZSTD_FROM {
        zstd::bulk::compress(&raw, ZSTD_LEVEL)
            .ok()
            .filter(|z| z.len() <= raw.len() - raw.len() / 8)
            // A reader refuses a dictionary that grows more than this (it
            // takes it for damage): store such a one as it is.
            .filter(|z| raw.len() <= z.len().saturating_mul(MAX_DICT_RATIO).saturating_add(4096))
    } else {
        None
    };
    match packed {
        Some(z) => {
            out.push(1);
            put_len(out, z.len())?;
            out.extend_from_slice(&z);
        }
        None => {
            out.push(0);
            put_len(out, raw.len())?;
            out.extend_from_slice(&raw);
        }
    }
    Ok(())
}

/// A dictionary read back: its entries, as ranges of `bytes`.
#[derive(Debug, Default)]
pub struct Dict {
    bytes: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Dict {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let &(a, b) = self.ranges.get(i)?;
        self.bytes.get(a..b)
    }
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges.iter().map(|&(a, b)| &self.bytes[a..b])
    }
}

/// Reads what [`put_dict`] wrote.
pub fn get_dict(r: &mut Cursor<'_>) -> Result<Dict, BadChunk> {
    let n = r.len()?;
    let raw_len = r.len()?;
    if raw_len > MAX_DICT_BYTES {
        return Err(bad(format!("a dictionary of {raw_len} bytes")));
    }
    let packed = r.u8()?;
    let stored_len = r.len()?;
    let stored = r.take(stored_len)?;
    // zstd takes a dictionary of distinct names to a few times smaller,
    // never hundreds: a larger claim is damage (and no buffer is made for
    // it).
    if raw_len > stored_len.saturating_mul(MAX_DICT_RATIO).saturating_add(4096) {
        return Err(bad(format!("a dictionary of {raw_len} bytes from {stored_len}")));
    }
    let bytes = match packed {
        0 => stored.to_vec(),
        1 => unzstd(stored, raw_len)?,
        x => return Err(bad(format!("dictionary packing {x}"))),
    };
    if bytes.len() != raw_len {
        return Err(bad("dictionary length"));
    }
    // Each entry takes at least its 4-byte length.
    if n > raw_len / 4 {
        return Err(bad("dictionary count"));
    }
    let mut ranges = Vec::with_capacity(n);
    let mut c = Cursor::new(&bytes);
    for _ in 0..n {
        let len = c.len()?;
        let start = c.pos;
        c.take(len)?;
        ranges.push((start, start + len));
    }
    if !c.is_empty() {
        return Err(bad("bytes after the dictionary"));
    }
    Ok(Dict { bytes, ranges })
}

/// Appends `n` as a LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        // The low 7 bits, with the bit that says more follow.
        #[allow(clippy::cast_possible_truncation)]
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(n as u8);
}

/// zstd-decompresses `stored`, which must unpack to `raw_len` bytes or
/// fewer, with a decompression context kept per thread: making one costs
/// more than unpacking a sealed file's tag dictionaries (a query reads
/// them from every file it touches).
fn unzstd(stored: &[u8], raw_len: usize) -> Result<Vec<u8>, BadChunk> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let d = match c.as_mut() {
            Some(d) => d,
            None => c.insert(zstd::bulk::Decompressor::new().map_err(|e| bad(format!("zstd: {e}")))?),
        };
        d.decompress(stored, raw_len).map_err(|e| bad(format!("zstd: {e}")))
    })
}

fn put_len(out: &mut Vec<u8>, n: usize) -> Result<(), BadChunk> {
    let n = u32::try_from(n).map_err(|_| bad(format!("{n} is too long for a chunk")))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Reads a chunk's bytes, checking every bound.
#[derive(Debug)]
pub struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], BadChunk> {
        let end = self.pos.checked_add(n).ok_or_else(|| bad("length overflows"))?;
        let s = self.b.get(self.pos..end).ok_or_else(|| bad(format!("{n} bytes past the end at {}", self.pos)))?;
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, BadChunk> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, BadChunk> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    pub fn len(&mut self) -> Result<usize, BadChunk> {
        Ok(self.u32()? as usize)
    }
    /// A LEB128 varint below 2^32 (what [`put_varint`] wrote).
    pub fn varint(&mut self) -> Result<usize, BadChunk> {
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(v)
                    .ok()
                    .filter(|_| v <= u64::from(u32::MAX))
                    .ok_or_else(|| bad("a varint too large"));
            }
        }
        Err(bad("a varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_a_wrong_count_is_an_error() {
        let v: Vec<i64> = (0..5000).map(|i| 1_451_606_400_000_000_000 + i * 10_000_000_000).collect();
        let mut out = Vec::new();
        put_numbers(&v, &mut out).unwrap();
        // Regular times take almost nothing.
        assert!(out.len() < 100, "{}", out.len());
        assert_eq!(get_numbers::<i64>(&mut Cursor::new(&out), v.len()).unwrap(), v);
        assert!(get_numbers::<i64>(&mut Cursor::new(&out), v.len() + 1).is_err());
        let f: Vec<f64> = vec![f64::NAN, -0.0, 0.0, f64::MAX, f64::MIN_POSITIVE, 58.3];
        let mut out = Vec::new();
        put_numbers(&f, &mut out).unwrap();
        let back = get_numbers::<f64>(&mut Cursor::new(&out), f.len()).unwrap();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            f.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let u: Vec<u64> = vec![u64::MAX, 0, 1];
        let mut out = Vec::new();
        put_numbers(&u, &mut out).unwrap();
        assert_eq!(get_numbers::<u64>(&mut Cursor::new(&out), 3).unwrap(), u);
    }

    #[test]
    fn pages_split_at_runs_and_decode_alone() {
        assert_eq!(page_sizes([]), Vec::<usize>::new());
        assert_eq!(page_sizes([5, 0, 3]), vec![8]);
        assert_eq!(page_sizes([MIN_PAGE, 1, MIN_PAGE - 1, 0, 7]), vec![MIN_PAGE, MIN_PAGE, 7]);
        let v: Vec<i64> = (0..9000).map(|i| i * i % 977 - 300).collect();
        let pages = page_sizes([3000, 10, 2500, 3490]);
        assert_eq!(pages, vec![3000, 2510, 3490]);
        let mut out = Vec::new();
        put_paged(&v, &pages, &mut out).unwrap();
        let ranges = [(0, 1), (2999, 3001), (5600, 9000)];
        let want: Vec<i64> = ranges.iter().flat_map(|&(a, b)| v[a..b].iter().copied()).collect();
        let mut r = Cursor::new(&out);
        assert_eq!(get_numbers_in::<i64>(&mut r, Encoding::PcoPages, v.len(), &ranges).unwrap(), want);
        assert!(r.is_empty());
        assert_eq!(
            get_numbers_in::<i64>(&mut Cursor::new(&out), Encoding::PcoPages, v.len(), &[(0, 9000)]).unwrap(),
            v
        );
        // The wrong count, ranges out of order or past the end: errors.
        assert!(get_numbers_in::<i64>(&mut Cursor::new(&out), Encoding::PcoPages, v.len() + 1, &[(0, 1)]).is_err());
        assert!(get_numbers_in::<i64>(&mut Cursor::new(&out), Encoding::PcoPages, v.len(), &[(5, 6), (1, 2)]).is_err());
        assert!(get_numbers_in::<i64>(&mut Cursor::new(&out), Encoding::PcoPages, v.len(), &[(0, 9001)]).is_err());
        // Pages that do not cover the values are refused when written.
        assert!(put_paged(&v, &[100], &mut Vec::new()).is_err());
        assert!(put_paged(&v, &[0, 9000], &mut Vec::new()).is_err());
        // Format 1's whole chunks answer ranges too.
        let mut whole = Vec::new();
        put_numbers(&v, &mut whole).unwrap();
        assert_eq!(get_numbers_in::<i64>(&mut Cursor::new(&whole), Encoding::Pco, v.len(), &ranges).unwrap(), want);
        // Damage anywhere (cut, or a bit flipped): an error or some
        // numbers, never a panic.
        for cut in 0..out.len().min(64) {
            assert!(get_numbers_in::<i64>(&mut Cursor::new(&out[..cut]), Encoding::PcoPages, v.len(), &ranges).is_err());
        }
        for i in (0..out.len()).step_by(7) {
            let mut b = out.clone();
            b[i] ^= 0x10;
            let _ = get_numbers_in::<i64>(&mut Cursor::new(&b), Encoding::PcoPages, v.len(), &ranges);
        }
    }

    /// A page is decoded only as far as its last range reaches: every
    /// cut (inside a batch of 256, at its end, the page's end) answers
    /// what the whole page holds.
    #[test]
    fn pages_decoded_in_part_answer_their_values() {
        let v: Vec<f64> = (0..7000).map(|i| f64::from(i % 911) * 0.25 - 7.0).collect();
        let pages = page_sizes([3000, 1000, 3000]);
        assert_eq!(pages, vec![3000, 4000]);
        let mut out = Vec::new();
        put_paged(&v, &pages, &mut out).unwrap();
        let mut sets: Vec<Vec<(usize, usize)>> = Vec::new();
        for end in [1, 255, 256, 257, 511, 512, 2999, 3000] {
            sets.push(vec![(0, end)]);
            sets.push(vec![(end - 1, end), (3000 + end - 1, 3000 + end)]);
        }
        sets.push(vec![(10, 20), (300, 301), (3001, 3002), (6999, 7000)]);
        sets.push(vec![(2990, 3010)]);
        for ranges in sets {
            let want: Vec<f64> = ranges.iter().flat_map(|&(a, b)| v[a..b].iter().copied()).collect();
            let got = get_numbers_in::<f64>(&mut Cursor::new(&out), Encoding::PcoPages, v.len(), &ranges).unwrap();
            assert_eq!(got, want, "{ranges:?}");
        }
    }

    #[test]
    fn bits_round_trip() {
        for n in [0usize, 1, 7, 8, 9, 100] {
            let v: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
            let mut out = Vec::new();
            put_bits(v.iter().copied(), &mut out);
            assert_eq!(out.len(), n.div_ceil(8));
            assert_eq!(get_bits(&mut Cursor::new(&out), n).unwrap(), v);
        }
        assert!(get_bits(&mut Cursor::new(&[0]), 9).is_err());
    }

    #[test]
    fn dictionaries_round_trip_packed_or_not() {
        let small: Vec<&[u8]> = vec![b"ok", b"down", b""];
        let long: Vec<Vec<u8>> = (0..500).map(|i| format!("host_{i},region=us-east-1").into_bytes()).collect();
        let long: Vec<&[u8]> = long.iter().map(|v| v.as_slice()).collect();
        for (entries, packed) in [(small, 0u8), (long, 1u8)] {
            let mut out = Vec::new();
            put_dict(&entries, &mut out).unwrap();
            assert_eq!(out[8], packed);
            let d = get_dict(&mut Cursor::new(&out)).unwrap();
            assert_eq!(d.iter().collect::<Vec<_>>(), entries);
        }
    }

    #[test]
    fn damaged_dictionaries_are_errors_not_panics() {
        let entries: Vec<&[u8]> = vec![b"alpha", b"beta"];
        let mut out = Vec::new();
        put_dict(&entries, &mut out).unwrap();
        for cut in 0..out.len() {
            assert!(get_dict(&mut Cursor::new(&out[..cut])).is_err());
        }
        for i in 0..out.len() {
            for bit in 0..8 {
                let mut b = out.clone();
                b[i] ^= 1 << bit;
                // Either an error or some dictionary; never a panic.
                let _ = get_dict(&mut Cursor::new(&b));
            }
        }
    }
}
