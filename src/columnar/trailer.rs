//! The last 16 bytes of a sealed file: where its footer starts and the
//! footer's checksum. A file whose trailer is missing or wrong was not
//! finished (or is damaged): it is never read.

use std::io;

use super::chunk::BadChunk;

pub const MAGIC: [u8; 8] = *b"LDBCOLND";
pub const LEN: usize = 16;

/// The trailer for a footer of these bytes.
pub fn encode(footer: &[u8]) -> io::Result<[u8; LEN]> {
    let len = u32::try_from(footer.len()).map_err(|_| io::Error::other("a footer over 4 GiB"))?;
    let mut b = [0u8; LEN];
    b[0..4].copy_from_slice(&len.to_le_bytes());
    b[4..8].copy_from_slice(&crc32fast::hash(footer).to_le_bytes());
    b[8..16].copy_from_slice(&MAGIC);
    Ok(b)
}

/// The footer's length and CRC.
pub fn decode(b: &[u8; LEN]) -> Result<(usize, u32), BadChunk> {
    if b[8..16] != MAGIC {
        return Err(BadChunk("no trailer (the file was not finished)".into()));
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let crc = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    Ok((len, crc))
}
