//! The bytes of a WAL file: its header, the framing of one record, and the
//! file names. Pure functions, no I/O.
//!
//! ```text
//! file   = header (40 bytes) record* zeros-or-stale-bytes
//! header = magic "LDBWAL\0\x01" (8) | version u32 | store tag u32
//!        | file number u64 | first sequence u64 | crc32 u32 | reserved u32 (0)
//!          crc32 covers bytes 0..32; the store tag is a fingerprint of
//!          the store's id (see [`store_tag`]), 0 in a store without one
//!          (linedb 0.1, which wrote 0 there)
//! record = magic u32 | payload length u32 | sequence u64 | crc32 u32
//!        | floor distance u32 | payload | zeros up to a multiple of 8
//!          crc32 covers length, sequence, floor distance and payload
//!          floor = sequence - floor distance: the lowest sequence not
//!          known durable when the record was written
//! ```
//!
//! All integers are little-endian. Every record starts at a multiple of 8.
//! An all-zero record header is the end of the log (preallocated space).

use std::ffi::OsStr;

/// First bytes of every WAL file.
pub const FILE_MAGIC: [u8; 8] = *b"LDBWAL\0\x01";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the file header; records start here.
pub const FILE_HEADER_LEN: u64 = 40;
const FILE_HEADER_USIZE: usize = 40;
/// First bytes of every record. `0xFF` and `0xFE` never occur in UTF-8
/// text, so line protocol payloads do not contain it by accident.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes([0xFF, b'W', b'L', 0xFE]);
/// Length of a record header; the payload follows.
pub const RECORD_HEADER_LEN: u64 = 24;
pub const RECORD_HEADER_USIZE: usize = 24;
/// Records start at multiples of this.
pub const ALIGN: u64 = 8;
const ALIGN_USIZE: usize = 8;
/// The largest payload a record can frame.
pub const MAX_PAYLOAD_LEN: u64 = u32::MAX as u64;

/// A file's name for a file number: `00000001.wal`.
pub fn file_name(number: u64) -> String {
    format!("{number:08}.wal")
}

/// Where a file is built before it is renamed to [`file_name`].
pub fn temp_name(number: u64) -> String {
    format!("{number:08}.wal.tmp")
}

/// A trimmed file kept for reuse. Its contents mean nothing: it gets a new
/// header (and number) before it is renamed back into the log. The first
/// spare; a log keeps up to [`WalOptions::spares`](super::WalOptions) of
/// them, the others named by [`spare_name`].
pub const SPARE_NAME: &str = "spare.wal";

/// Where a spare made ahead of need is built before it gets a spare's
/// name (`ahead.rs`); removed at open.
pub const SPARE_TEMP_NAME: &str = "spare.wal.tmp";

/// The name of spare number `slot`: [`SPARE_NAME`] for slot 0 (the only
/// one stores before multiple spares had), `spare-<slot>.wal` after it.
pub fn spare_name(slot: usize) -> String {
    if slot == 0 {
        SPARE_NAME.to_owned()
    } else {
        format!("spare-{slot}.wal")
    }
}

/// The slot of a spare's name, or `None` if the name is not one.
pub fn parse_spare_name(name: &OsStr) -> Option<usize> {
    let name = name.to_str()?;
    if name == SPARE_NAME {
        return Some(0);
    }
    let digits = name.strip_prefix("spare-")?.strip_suffix(".wal")?;
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let slot: usize = digits.parse().ok()?;
    // One spelling per slot: `spare-0.wal` and `spare-01.wal` are not spares.
    (slot > 0 && spare_name(slot) == name).then_some(slot)
}

/// The file number of a WAL file's name, or `None` if the name is not one.
pub fn parse_file_name(name: &OsStr) -> Option<u64> {
    parse_number(name.to_str()?.strip_suffix(".wal")?)
}

/// The file number of a temporary file's name ([`temp_name`]).
pub fn parse_temp_name(name: &OsStr) -> Option<u64> {
    parse_number(name.to_str()?.strip_suffix(".wal.tmp")?)
}

fn parse_number(stem: &str) -> Option<u64> {
    if stem.len() < 8 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Rounds up to a multiple of [`ALIGN`].
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// Bytes a record with a payload of `payload_len` bytes takes in the file,
/// padding included.
pub fn record_size(payload_len: u64) -> u64 {
    RECORD_HEADER_LEN + align_up(payload_len)
}

/// The header at the start of every WAL file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// The number in the file's name.
    pub number: u64,
    /// The sequence of the first record the file holds. Records below it are
    /// leftovers of the file's previous life (it was recycled).
    pub first_seq: u64,
    /// Which store wrote the file: [`store_tag`] of its id.
    pub store_tag: u32,
}

/// The fingerprint of a store's 128-bit id that its log files carry (the
/// header has room for 32 bits): CRC32 of the id, never 0, which stands
/// for a store without an id (all zeros, linedb 0.1).
pub fn store_tag(store_id: &[u8; 16]) -> u32 {
    if *store_id == [0; 16] {
        return 0;
    }
    crc32fast::hash(store_id).max(1)
}

/// Why a file header could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The magic matches but the version is one this build does not know.
    Version(u32),
    /// Not a header (torn, zeros, damaged).
    Bad(&'static str),
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_USIZE] {
        let mut b = [0u8; FILE_HEADER_USIZE];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.store_tag.to_le_bytes());
        b[16..24].copy_from_slice(&self.number.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        let crc = crc32fast::hash(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a header. The version is checked before the checksum, so a
    /// file of a later format (whose header may differ) is reported as such.
    pub fn decode(b: &[u8; FILE_HEADER_USIZE]) -> Result<FileHeader, HeaderError> {
        if b[0..8] != FILE_MAGIC {
            return Err(HeaderError::Bad("bad file magic"));
        }
        let version = le_u32(&b[8..12]);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        if le_u32(&b[32..36]) != crc32fast::hash(&b[0..32]) {
            return Err(HeaderError::Bad("file header checksum mismatch"));
        }
        Ok(FileHeader { number: le_u64(&b[16..24]), first_seq: le_u64(&b[24..32]), store_tag: le_u32(&b[12..16]) })
    }
}

/// A record header that passed the checks possible without the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub len: u32,
    pub seq: u64,
    pub crc: u32,
    /// The distance down to the record's *floor*: the lowest sequence that
    /// was not known durable when the record was written (its append's
    /// first sequence, or lower while an earlier append's sync was still
    /// under way). Recovery uses it to tell a torn record of the unsynced
    /// tail (whose later records may have reached the disk before it) from
    /// damage to a synced one: only a record whose floor is above a bad
    /// one proves the bad one was durable.
    pub group_back: u32,
}

impl RecordHeader {
    /// The record's floor: the lowest sequence not known durable when it
    /// was written.
    pub fn group_first(&self) -> u64 {
        self.seq.saturating_sub(u64::from(self.group_back))
    }
}

/// What a record header's 24 bytes are.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderCheck {
    /// All zeros: the end of the log.
    Zero,
    /// Not a record header.
    Bad(&'static str),
    /// A plausible header; the payload's checksum is still to be verified.
    Record(RecordHeader),
}

impl RecordHeader {
    pub fn check(b: &[u8; RECORD_HEADER_USIZE]) -> HeaderCheck {
        if b.iter().all(|&x| x == 0) {
            return HeaderCheck::Zero;
        }
        if le_u32(&b[0..4]) != RECORD_MAGIC {
            return HeaderCheck::Bad("bad record magic");
        }
        let len = le_u32(&b[4..8]);
        if len == 0 {
            return HeaderCheck::Bad("record length is zero");
        }
        let seq = le_u64(&b[8..16]);
        let group_back = le_u32(&b[20..24]);
        if u64::from(group_back) > seq {
            return HeaderCheck::Bad("record's group starts before sequence 0");
        }
        HeaderCheck::Record(RecordHeader { len, seq, crc: le_u32(&b[16..20]), group_back })
    }

    /// Whether `payload` is the payload this header frames.
    pub fn verify(&self, payload: &[u8]) -> bool {
        record_crc(self.len, self.seq, self.group_back, payload) == self.crc
    }
}

/// The checksum of a record: length, sequence and group offset, then
/// payload, so that an all-zero header (CRC32 of nothing is 0) never passes.
pub fn record_crc(len: u32, seq: u64, group_back: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(&group_back.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one framed record (header, payload, padding) to `out`. The
/// caller has checked that the payload is non-empty and fits in a u32.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, group_back: u32, len: u32, payload: &[u8]) {
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&record_crc(len, seq, group_back, payload).to_le_bytes());
    out.extend_from_slice(&group_back.to_le_bytes());
    out.extend_from_slice(payload);
    let pad = (ALIGN_USIZE - payload.len() % ALIGN_USIZE) % ALIGN_USIZE;
    out.extend_from_slice(&[0u8; ALIGN_USIZE][..pad]);
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let h = FileHeader { number: 7, first_seq: 1234, store_tag: 0xDEAD_BEEF };
        let mut b = h.encode();
        assert_eq!(FileHeader::decode(&b), Ok(h));
        b[25] ^= 1;
        assert!(matches!(FileHeader::decode(&b), Err(HeaderError::Bad(_))));
        let mut v = h.encode();
        v[8] = 2;
        assert_eq!(FileHeader::decode(&v), Err(HeaderError::Version(2)));
        assert!(matches!(FileHeader::decode(&[0u8; 40]), Err(HeaderError::Bad(_))));
    }

    #[test]
    fn record_framing() {
        let mut out = Vec::new();
        encode_record(&mut out, 9, 0, 5, b"hello");
        assert_eq!(out.len() as u64, record_size(5));
        assert_eq!(out.len() % 8, 0);
        let mut hb = [0u8; RECORD_HEADER_USIZE];
        hb.copy_from_slice(&out[..RECORD_HEADER_USIZE]);
        let HeaderCheck::Record(h) = RecordHeader::check(&hb) else { panic!("not a record") };
        assert_eq!((h.len, h.seq), (5, 9));
        assert!(h.verify(b"hello"));
        assert!(!h.verify(b"hellp"));
        assert_eq!(RecordHeader::check(&[0u8; RECORD_HEADER_USIZE]), HeaderCheck::Zero);
        // A zero length is never a record, even with a matching checksum.
        let mut z = [0u8; RECORD_HEADER_USIZE];
        z[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        z[16..20].copy_from_slice(&record_crc(0, 0, 0, b"").to_le_bytes());
        assert!(matches!(RecordHeader::check(&z), HeaderCheck::Bad(_)));
    }

    #[test]
    fn names() {
        assert_eq!(file_name(1), "00000001.wal");
        assert_eq!(parse_file_name(OsStr::new("00000001.wal")), Some(1));
        assert_eq!(parse_file_name(OsStr::new("123456789.wal")), Some(123_456_789));
        assert_eq!(parse_file_name(OsStr::new("0001.wal")), None);
        assert_eq!(parse_file_name(OsStr::new(SPARE_NAME)), None);
        for slot in [0, 1, 2, 63, 999_999] {
            assert_eq!(parse_spare_name(OsStr::new(&spare_name(slot))), Some(slot));
            assert_eq!(parse_file_name(OsStr::new(&spare_name(slot))), None);
        }
        for not in ["spare-0.wal", "spare-01.wal", "spare-.wal", "spare-1", "spare-1.wal.tmp", "spare-x.wal", "spare-1234567.wal"] {
            assert_eq!(parse_spare_name(OsStr::new(not)), None, "{not}");
        }
        assert_eq!(parse_file_name(OsStr::new("00000001.wal.tmp")), None);
        assert_eq!(parse_temp_name(OsStr::new(&temp_name(3))), Some(3));
    }
}
