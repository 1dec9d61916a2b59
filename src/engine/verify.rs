//! `linedb_verify`: a scrub of every stored byte (catalog, segments, sealed
//! files, the write-ahead log's live records), while writes go on.
//!
//! Segments are taken as the state holds them (their published blocks at
//! that moment); the log's live files with their ends, under the log's
//! lock, then read while checkpoints are held off (a checkpoint is what
//! trims and recycles log files). Damage found in a segment is remembered
//! by the segment, so queries stop answering from it at once.

use std::sync::Arc;

use crate::catalog;
use crate::columnar::ReadError;
use crate::seal::SealedFile;
use crate::segment::Segment;
use crate::wal::scrub::scrub_file;

use super::apply::PartKey;
use super::{Error, Inner};

/// What a scrub read and found (API.md's `linedb_verify_report`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub files: u64,
    /// Segment blocks and log records checked (the catalog counts as one).
    pub blocks: u64,
    pub bytes: u64,
    pub damaged_blocks: u64,
    /// File and offset of the first damage, or empty.
    pub first_damage: String,
}

impl VerifyReport {
    fn damage(&mut self, what: String) {
        self.damaged_blocks += 1;
        if self.first_damage.is_empty() {
            self.first_damage = what;
        }
    }
}

pub fn verify(inner: &Inner) -> Result<VerifyReport, Error> {
    let mut r = VerifyReport::default();
    let storage = inner.opts.storage.as_ref();

    // The catalog: read and decoded whole, its checksum first.
    match catalog::load(storage, &inner.dir) {
        Ok(Some(_)) => {
            r.files += 1;
            r.blocks += 1;
            let path = inner.dir.join(catalog::CATALOG_FILE);
            r.bytes += storage.open_file(&path, crate::storage::OpenMode::Read)?.length()?;
        }
        // A store writes its catalog before any other file.
        Ok(None) => {
            r.files += 1;
            r.damage(format!("the catalog is missing: {}", inner.dir.join(catalog::CATALOG_FILE).display()));
        }
        Err(crate::error::OpenError::Io(e)) => return Err(Error::Io(e)),
        Err(e) => {
            r.files += 1;
            r.damage(e.to_string());
        }
    }

    // Segments, as the state holds them now, in a fixed order (database,
    // table id, day): the first damage reported, and the order files are
    // opened in, are the same on every run.
    let (segments, sealed) = {
        let st = inner.state.read();
        let mut out: Vec<Arc<Segment>> = Vec::new();
        let mut sealed: Vec<(PartKey, Arc<SealedFile>)> = Vec::new();
        for db in st.dbs.values() {
            let mut tables: Vec<_> = db.tables.values().collect();
            tables.sort_by_key(|t| t.id);
            for t in tables {
                for (day, p) in &t.partitions {
                    out.extend(p.segments.iter().cloned());
                    sealed.extend(p.sealed.iter().map(|f| ((db.id, t.id, *day), Arc::clone(f))));
                }
            }
        }
        (out, sealed)
    };
    // Sealed files: header, footer and every chunk. Damage found is
    // remembered by the file, so queries stop answering from it at once.
    for (key, f) in &sealed {
        r.files += 1;
        let checked = f.reader(storage, &inner.files.key(*key)).and_then(|reader| {
            let (chunks, bytes) = reader.verify()?;
            Ok((chunks, bytes))
        });
        match checked {
            Ok((chunks, bytes)) => {
                r.blocks += chunks;
                r.bytes += bytes;
            }
            Err(ReadError::Io(e)) => return Err(Error::Io(e)),
            Err(ReadError::Damaged(d)) => {
                f.set_damaged(d.clone());
                r.damage(d);
            }
            Err(e) => r.damage(format!("{e}: {}", f.path.display())),
        }
    }
    for seg in &segments {
        let s = seg.scrub();
        r.files += 1;
        r.blocks += s.blocks;
        r.bytes += s.bytes;
        r.damaged_blocks += s.damaged_blocks;
        if let Some(d) = s.first_damage {
            if r.first_damage.is_empty() {
                r.first_damage = d.to_string();
            }
        }
    }

    // The log's live records, with checkpoints (trims) held off.
    let _no_trim = inner.checkpoint_lock.lock();
    let extents = inner.writer.lock().live_extents();
    for e in &extents {
        let s = scrub_file(storage, e)?;
        r.files += 1;
        r.blocks += s.records;
        r.bytes += s.bytes;
        if let Some((offset, reason)) = s.damage {
            r.damage(format!("damaged write-ahead log record ({reason}) at offset {offset}: {}", e.path.display()));
        }
    }
    Ok(r)
}
