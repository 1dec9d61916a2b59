//! The bytes of a segment file: the file header, the block header, their
//! checksums and the constants that fix the layout. Pure functions; no I/O.
//!
//! All integers are little-endian. Every block starts on an 8-byte boundary.
//!
//! ```text
//! file header                     block (repeated)
//! 0   magic    "LDBSEG\0\x01"     0   magic      u32  "LDBB"
//! 8   version  u32 (= 1)          4   body_len   u32  > 0
//! 12  key_len  u32 (<= 64 KiB)    8   crc        u32
//! 16  key      key_len bytes      12  rows       u32  > 0
//! ..  crc      u32                16  seq        u64  > previous block's
//! ..  zeros to an 8-byte boundary 24  min_time   i64
//!                                 32  max_time   i64  >= min_time
//!                                 40  body, then zeros to an 8-byte boundary
//! ```
//!
//! The file header's crc is CRC32 of every header byte before it. A block's
//! crc is CRC32 of: the previous block's crc (the file header's crc for the
//! first block) as a u32, the block header without its crc field, and the
//! body. Chaining the previous crc in means a stale block left beyond the
//! end by an earlier life of the file never verifies after a new block
//! unless the new block is bit-identical to the one it followed. A header of
//! 40 zero bytes (or fewer than 40 bytes, all zero, at the end of the file)
//! is the clean end.

/// The first 8 bytes of every segment file.
pub const FILE_MAGIC: [u8; 8] = *b"LDBSEG\0\x01";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The longest partition key a header holds.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Magic, version and key length: the part read before the key's length is known.
pub const FILE_PREFIX_LEN: usize = 16;
/// The first 4 bytes of every block.
pub const BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"LDBB");
/// Bytes of a block header.
pub const BLOCK_HEADER_LEN: usize = 40;
/// `BLOCK_HEADER_LEN` as a file offset.
pub const BLOCK_HEADER_LEN_U64: u64 = 40;
/// Blocks (and the file header) are padded to this.
pub const ALIGN: u64 = 8;

/// The padded length of a file header holding a key of `key_len` bytes.
pub fn file_header_len(key_len: usize) -> u64 {
    // key_len <= MAX_KEY_LEN in every caller, so this cannot overflow.
    let unpadded = (FILE_PREFIX_LEN + key_len + 4) as u64;
    (unpadded + ALIGN - 1) & !(ALIGN - 1)
}

/// The bytes of a file header for `key`, padded; `None` if the key is too long.
pub fn encode_file_header(key: &[u8]) -> Option<Vec<u8>> {
    if key.len() > MAX_KEY_LEN {
        return None;
    }
    let key_len = u32::try_from(key.len()).ok()?;
    let total = usize::try_from(file_header_len(key.len())).ok()?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&FILE_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.resize(total, 0);
    Some(out)
}

/// Why a file header was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum FileHeaderError {
    /// Not a segment file, or damaged; offset within the header and reason.
    Corrupt(u64, &'static str),
    /// A version this build does not read.
    Version(u32),
}

/// Checks the first [`FILE_PREFIX_LEN`] bytes; returns the key length.
pub fn decode_file_prefix(prefix: &[u8]) -> Result<usize, FileHeaderError> {
    if prefix.len() < FILE_PREFIX_LEN || prefix[..8] != FILE_MAGIC {
        return Err(FileHeaderError::Corrupt(0, "not a segment file (bad magic)"));
    }
    let version = u32_at(prefix, 8);
    if version != FORMAT_VERSION {
        return Err(FileHeaderError::Version(version));
    }
    let key_len = usize::try_from(u32_at(prefix, 12)).unwrap_or(usize::MAX);
    if key_len > MAX_KEY_LEN {
        return Err(FileHeaderError::Corrupt(12, "key length above 64 KiB"));
    }
    Ok(key_len)
}

/// Checks a whole file header (`file_header_len(key_len)` bytes, prefix
/// already accepted by [`decode_file_prefix`]); returns its crc.
pub fn check_file_header(header: &[u8], key_len: usize) -> Result<u32, FileHeaderError> {
    let crc_at = FILE_PREFIX_LEN + key_len;
    if header.len() < crc_at + 4 {
        return Err(FileHeaderError::Corrupt(0, "file is shorter than its header"));
    }
    let stored = u32_at(header, crc_at);
    if crc32fast::hash(&header[..crc_at]) != stored {
        return Err(FileHeaderError::Corrupt(crc_at as u64, "file header checksum mismatch"));
    }
    if header[crc_at + 4..].iter().any(|&b| b != 0) {
        return Err(FileHeaderError::Corrupt((crc_at + 4) as u64, "file header padding is not zero"));
    }
    Ok(stored)
}

/// A decoded block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub magic: u32,
    pub body_len: u32,
    pub crc: u32,
    pub rows: u32,
    pub seq: u64,
    pub min_time: i64,
    pub max_time: i64,
}

impl BlockHeader {
    /// A header for a new block, its crc not yet set.
    pub fn new(body_len: u32, rows: u32, seq: u64, min_time: i64, max_time: i64) -> BlockHeader {
        BlockHeader { magic: BLOCK_MAGIC, body_len, crc: 0, rows, seq, min_time, max_time }
    }

    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.body_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.crc.to_le_bytes());
        b[12..16].copy_from_slice(&self.rows.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.min_time.to_le_bytes());
        b[32..40].copy_from_slice(&self.max_time.to_le_bytes());
        b
    }

    /// Decodes the first [`BLOCK_HEADER_LEN`] bytes; `None` if there are fewer.
    pub fn decode(b: &[u8]) -> Option<BlockHeader> {
        if b.len() < BLOCK_HEADER_LEN {
            return None;
        }
        Some(BlockHeader {
            magic: u32_at(b, 0),
            body_len: u32_at(b, 4),
            crc: u32_at(b, 8),
            rows: u32_at(b, 12),
            seq: u64_at(b, 16),
            min_time: u64_at(b, 24).cast_signed(),
            max_time: u64_at(b, 32).cast_signed(),
        })
    }

    /// The checks that need no body: what `open` does for blocks below the
    /// checkpointed length, and what `append` demands of every new block.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.magic != BLOCK_MAGIC {
            return Err("bad block magic");
        }
        if self.body_len == 0 {
            return Err("block body length is zero");
        }
        if self.rows == 0 {
            return Err("block row count is zero");
        }
        if self.min_time > self.max_time {
            return Err("block min_time is above max_time");
        }
        Ok(())
    }

    /// Header plus body, padded: where the next block starts, relative to this one.
    pub fn block_len(&self) -> u64 {
        block_len(self.body_len)
    }

    /// The crc this header should carry, given the previous block's crc
    /// (`chain`) and the body.
    pub fn compute_crc(&self, chain: u32, body: &[u8]) -> u32 {
        let enc = self.encode();
        let mut h = crc32fast::Hasher::new();
        h.update(&chain.to_le_bytes());
        h.update(&enc[0..8]);
        h.update(&enc[12..BLOCK_HEADER_LEN]);
        h.update(body);
        h.finalize()
    }
}

/// Header plus a body of `body_len` bytes, padded to [`ALIGN`].
pub fn block_len(body_len: u32) -> u64 {
    // At most 40 + u32::MAX + 7: cannot overflow.
    (BLOCK_HEADER_LEN_U64 + u64::from(body_len) + ALIGN - 1) & !(ALIGN - 1)
}

/// Whether every byte is zero (the clean end of a segment).
pub fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_round_trip() {
        for key in [&b""[..], b"k", b"cpu\0day=19000", &[7u8; 1000]] {
            let h = encode_file_header(key).unwrap();
            assert_eq!(h.len() as u64, file_header_len(key.len()));
            assert_eq!(h.len() % 8, 0);
            let key_len = decode_file_prefix(&h[..FILE_PREFIX_LEN]).unwrap();
            assert_eq!(key_len, key.len());
            check_file_header(&h, key_len).unwrap();
            assert_eq!(&h[FILE_PREFIX_LEN..FILE_PREFIX_LEN + key_len], key);
        }
        assert!(encode_file_header(&vec![0u8; MAX_KEY_LEN + 1]).is_none());
        assert!(encode_file_header(&vec![0u8; MAX_KEY_LEN]).is_some());
    }

    #[test]
    fn file_header_rejects_damage() {
        let mut h = encode_file_header(b"key").unwrap();
        h[17] ^= 1;
        assert!(matches!(check_file_header(&h, 3), Err(FileHeaderError::Corrupt(..))));
        let mut h = encode_file_header(b"key").unwrap();
        h[8] = 9;
        assert_eq!(decode_file_prefix(&h), Err(FileHeaderError::Version(9)));
        h[0] = b'X';
        assert!(matches!(decode_file_prefix(&h), Err(FileHeaderError::Corrupt(0, _))));
    }

    #[test]
    fn block_header_round_trip_and_crc() {
        let mut h = BlockHeader::new(13, 2, 99, -5, 7);
        h.crc = h.compute_crc(1234, b"thirteen byte");
        let d = BlockHeader::decode(&h.encode()).unwrap();
        assert_eq!(d, h);
        assert_eq!(d.block_len(), 56);
        assert!(d.check().is_ok());
        // The crc covers the chain, every field and the body.
        assert_ne!(d.compute_crc(1235, b"thirteen byte"), h.crc);
        assert_ne!(d.compute_crc(1234, b"thirteen bytf"), h.crc);
        assert_ne!(BlockHeader { seq: 100, ..d }.compute_crc(1234, b"thirteen byte"), h.crc);
        assert_ne!(BlockHeader { body_len: 12, ..d }.compute_crc(1234, b"thirteen byte"), h.crc);
        assert!(BlockHeader { body_len: 0, ..d }.check().is_err());
        assert!(BlockHeader { rows: 0, ..d }.check().is_err());
        assert!(BlockHeader { min_time: 8, ..d }.check().is_err());
        assert!(BlockHeader::decode(&[0u8; 40]).unwrap().check().is_err());
    }
}
