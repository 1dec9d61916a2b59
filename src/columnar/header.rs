//! The header of a sealed file: what it is, which version, which
//! partition of which store.

use super::chunk::BadChunk;
use super::FORMAT_VERSION;

/// Chunks' alignment, as a length.
const ALIGN_USIZE: usize = 8;
const _: () = assert!(ALIGN_USIZE as u64 == super::ALIGN);

pub const MAGIC: [u8; 8] = *b"LDBCOL\0\x01";

/// The bytes before the key.
pub const FIXED: usize = 16;

/// The longest key accepted (a store id and three numbers are far less).
pub const MAX_KEY: usize = 1024;

pub fn encode(key: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(FIXED + key.len() + 12);
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    b.extend_from_slice(key);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let padded = b.len().next_multiple_of(ALIGN_USIZE);
    b.resize(padded, 0);
    b
}

/// The header's length for a key length read from its first bytes.
pub fn len_for(key_len: usize) -> usize {
    (FIXED + key_len + 4).next_multiple_of(ALIGN_USIZE)
}

/// What a header's first [`FIXED`] bytes say: the version, and the key's
/// length; `Err` if it is not a sealed file's.
pub fn peek(b: &[u8]) -> Result<(u32, usize), BadChunk> {
    if b.len() < FIXED || b[..8] != MAGIC {
        return Err(BadChunk("not a sealed file (bad magic)".into()));
    }
    let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    let key_len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
    if key_len > MAX_KEY {
        return Err(BadChunk(format!("a header key of {key_len} bytes")));
    }
    Ok((version, key_len))
}

/// Checks a whole header (`len_for` bytes) and returns its key.
pub fn check(b: &[u8]) -> Result<&[u8], BadChunk> {
    let (_, key_len) = peek(b)?;
    let end = FIXED + key_len;
    if b.len() < end + 4 {
        return Err(BadChunk("short header".into()));
    }
    let stored = u32::from_le_bytes([b[end], b[end + 1], b[end + 2], b[end + 3]]);
    if crc32fast::hash(&b[..end]) != stored {
        return Err(BadChunk("header checksum mismatch".into()));
    }
    Ok(&b[FIXED..end])
}
