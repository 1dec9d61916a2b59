//! Checksums before use: the blocks a checkpoint made durable are opened
//! with header checks only (so that opening a large store reads almost
//! nothing), and verified whole the first time a query needs their
//! partition. Blocks verified at open (past the checkpointed length) and
//! blocks this process appended are trusted as they are.
//!
//! A query verifies every unverified block of a segment before it uses any
//! of them: block headers (times, rows, sequence) are what a query prunes
//! and merges by, so a header must be known good before the query decides
//! what to read. It happens once per segment per open; a damaged block is
//! remembered, and every later query of the segment answers the same
//! damage without reading it again.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::{BlockMeta, Segment};

/// A stored block that failed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDamage {
    pub path: PathBuf,
    /// Where the block (its header) starts in the file.
    pub offset: u64,
    pub reason: &'static str,
}

impl fmt::Display for BlockDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause first: a message cut to fit a C buffer keeps it.
        write!(f, "damaged block ({}) at offset {}: {}", self.reason, self.offset, self.path.display())
    }
}

impl std::error::Error for BlockDamage {}

/// Under [`Segment`]'s `verify` lock.
#[derive(Debug, Default)]
pub(super) struct VerifyState {
    /// The unverified blocks were verified and all matched.
    pub done: bool,
    /// The first damaged block found, by a query or a scrub (boxed: a
    /// store holds many segments, few of them damaged).
    pub damage: Option<Box<BlockDamage>>,
}

/// What [`Segment::scrub`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub blocks: u64,
    /// Bytes read and checked: the file header and every block.
    pub bytes: u64,
    pub damaged_blocks: u64,
    /// The first damaged block.
    pub first_damage: Option<BlockDamage>,
}

impl Segment {
    /// Verifies, once per open, every block open did not verify; `Err`
    /// names the first damaged block (then and on every later call). A
    /// query calls it before it uses any block of the segment.
    pub fn ensure_verified(&self) -> Result<(), BlockDamage> {
        if self.verified.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut v = self.verify.lock();
        if let Some(d) = &v.damage {
            return Err((**d).clone());
        }
        if v.done {
            return Ok(());
        }
        let blocks = self.blocks();
        // A shortage of descriptors is no damage: the query that asked
        // fails, the next one tries again.
        let view = self.view().map_err(|e| self.unreadable(&e))?;
        let mut prev: Option<&BlockMeta> = None;
        for b in blocks.iter().take_while(|b| b.offset < self.verified_from) {
            if let Err(reason) = view.verify_block(prev, b) {
                let d = self.damage_at(b.offset, reason);
                v.damage = Some(Box::new(d.clone()));
                return Err(d);
            }
            prev = Some(b);
        }
        v.done = true;
        self.verified.store(true, Ordering::Release);
        Ok(())
    }

    /// Reads every stored byte of the segment and checks it: the file
    /// header, and each published block against its checksum (chained to
    /// the block before, as stored). Writes may go on meanwhile; blocks
    /// published after the call began are not read. A damaged block is
    /// also remembered, so that queries stop using the segment.
    pub fn scrub(&self) -> ScrubReport {
        let mut r = ScrubReport { bytes: self.header_len(), ..ScrubReport::default() };
        let view = match self.view() {
            Ok(v) => v,
            Err(_) => {
                r.damaged_blocks += 1;
                r.first_damage = Some(self.damage_at(0, "segment file cannot be opened"));
                return r;
            }
        };
        if let Err(reason) = self.check_file_header(&view) {
            r.damaged_blocks += 1;
            r.first_damage = Some(self.damage_at(0, reason));
        }
        let blocks = self.blocks();
        let mut prev: Option<&BlockMeta> = None;
        for b in blocks.iter() {
            r.blocks += 1;
            r.bytes += b.end() - b.offset;
            if let Err(reason) = view.verify_block(prev, b) {
                r.damaged_blocks += 1;
                if r.first_damage.is_none() {
                    r.first_damage = Some(self.damage_at(b.offset, reason));
                }
            }
            prev = Some(b);
        }
        if let Some(d) = &r.first_damage {
            let mut v = self.verify.lock();
            if v.damage.is_none() {
                v.damage = Some(Box::new(d.clone()));
            }
            self.verified.store(false, Ordering::Release);
        }
        r
    }

    /// The segment could not be opened to be verified (not remembered as
    /// damage: a shortage passes).
    fn unreadable(&self, e: &std::io::Error) -> BlockDamage {
        BlockDamage { path: self.path().to_path_buf(), offset: 0, reason: if crate::storage::is_transient(e) { "segment file cannot be opened now (out of descriptors or address space)" } else { "segment file cannot be opened" } }
    }

    fn damage_at(&self, offset: u64, reason: &'static str) -> BlockDamage {
        BlockDamage { path: self.path().to_path_buf(), offset, reason }
    }
}
