//! Reading the records of one WAL file, with bounded memory: a read-ahead
//! window of [`WINDOW`] bytes, grown only to hold one record's payload
//! (whose length is checked against the file first).

use std::io;

use crate::storage::File;

use super::format::{
    align_up, record_size, FileHeader, HeaderCheck, HeaderError, RecordHeader, ALIGN, FILE_HEADER_LEN,
    RECORD_HEADER_LEN, RECORD_HEADER_USIZE, RECORD_MAGIC,
};

/// How much is read at once when scanning.
const WINDOW: u64 = 256 * 1024;

/// What is at an offset where a record may start.
#[derive(Debug)]
pub enum Entry<'a> {
    /// A valid record (header and checksum).
    Record { seq: u64, payload: &'a [u8], size: u64, group_first: u64 },
    /// An all-zero record header: the log ends here.
    Zero,
    /// No room for a record header before the end of the file.
    Eof,
    /// Not a valid record: damaged, torn, or leftover bytes. `span` is how
    /// many bytes from the offset the bad record claims (at least a header,
    /// at most to the end of the file): the bytes a cut zeroes.
    Bad { reason: &'static str, span: u64 },
}

/// Reads one file through a window.
#[derive(Debug)]
pub struct FileReader<'f> {
    file: &'f dyn File,
    len: u64,
    window: Vec<u8>,
    window_start: u64,
}

pub fn to_usize(n: u64) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "length does not fit in memory"))
}

impl<'f> FileReader<'f> {
    pub fn new(file: &'f dyn File, len: u64) -> FileReader<'f> {
        FileReader { file, len, window: Vec::new(), window_start: 0 }
    }

    /// The bytes `[offset, offset + n)`, which must lie within the file.
    fn bytes(&mut self, offset: u64, n: u64) -> io::Result<&[u8]> {
        let end = offset.checked_add(n).filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of a WAL file"));
        };
        let have = self.window.len() as u64;
        if offset < self.window_start || end > self.window_start + have {
            let want = n.max(WINDOW).min(self.len - offset);
            self.window.resize(to_usize(want)?, 0);
            self.window_start = offset;
            if let Err(e) = self.file.read_at(&mut self.window, offset) {
                self.window.clear();
                return Err(e);
            }
        }
        let start = to_usize(offset - self.window_start)?;
        Ok(&self.window[start..start + to_usize(n)?])
    }

    /// The file's header.
    pub fn header(&mut self) -> io::Result<Result<FileHeader, HeaderError>> {
        if self.len < FILE_HEADER_LEN {
            return Ok(Err(HeaderError::Bad("file is shorter than its header")));
        }
        let mut b = [0u8; 40];
        b.copy_from_slice(self.bytes(0, FILE_HEADER_LEN)?);
        Ok(FileHeader::decode(&b))
    }

    /// What is at `offset` (a multiple of [`ALIGN`]).
    pub fn entry_at(&mut self, offset: u64) -> io::Result<Entry<'_>> {
        let room = match self.len.checked_sub(offset) {
            Some(r) if r >= RECORD_HEADER_LEN => r - RECORD_HEADER_LEN,
            _ => return Ok(Entry::Eof),
        };
        let mut hb = [0u8; RECORD_HEADER_USIZE];
        hb.copy_from_slice(self.bytes(offset, RECORD_HEADER_LEN)?);
        let h = match RecordHeader::check(&hb) {
            HeaderCheck::Zero => return Ok(Entry::Zero),
            HeaderCheck::Bad(reason) => return Ok(Entry::Bad { reason, span: RECORD_HEADER_LEN }),
            HeaderCheck::Record(h) => h,
        };
        let len = u64::from(h.len);
        if len > room {
            return Ok(Entry::Bad { reason: "record length runs past the end of the file", span: RECORD_HEADER_LEN });
        }
        let size = record_size(len);
        let payload = self.bytes(offset + RECORD_HEADER_LEN, len)?;
        if !h.verify(payload) {
            let span = size.min(room + RECORD_HEADER_LEN);
            return Ok(Entry::Bad { reason: "record checksum mismatch", span });
        }
        Ok(Entry::Record { seq: h.seq, payload, size, group_first: h.group_first() })
    }

    /// The first valid record at or after `from` (at multiples of
    /// [`ALIGN`]) whose sequence is at least `min_seq` and whose floor is
    /// above `group_after`: proof, after a bad record, that the bad one was
    /// not the end of the log. (A record written while the bad one was not
    /// yet durable proves nothing: the disk may keep unsynced pages in any
    /// order.)
    pub fn find_valid(&mut self, from: u64, min_seq: u64, group_after: u64) -> io::Result<Option<(u64, u64)>> {
        let magic = RECORD_MAGIC.to_le_bytes();
        let mut off = align_up(from);
        while off.checked_add(RECORD_HEADER_LEN).is_some_and(|e| e <= self.len) {
            if self.bytes(off, 4)? == magic {
                if let Entry::Record { seq, group_first, .. } = self.entry_at(off)? {
                    if seq >= min_seq && group_first > group_after {
                        return Ok(Some((off, seq)));
                    }
                }
            }
            off += ALIGN;
        }
        Ok(None)
    }
}
