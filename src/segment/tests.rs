//! Segment tests on the real disk (temporary directories), plus a storage
//! wrapper that fails `allocate` (ENOSPC) or `sync_data` on demand.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::format::{self, BLOCK_HEADER_LEN_U64};
use super::{AppendError, BlockMeta, Segment, SegmentCache};
use crate::error::OpenError;
use crate::storage::{is_no_space, File, FsStorage, LockGuard, Map, OpenMode, Storage};

const MIB: u64 = 1 << 20;
const KEY: &[u8] = b"cpu\0day=19000";

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("linedb-segment-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn seg(&self) -> PathBuf {
        self.0.join("000001.seg")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn disk() -> Arc<dyn Storage> {
    Arc::new(FsStorage)
}

/// The body of block `seq`: its length and bytes follow from the seq.
fn body(seq: u64) -> Vec<u8> {
    let len = 1 + usize::try_from(seq * 37 % 1500).unwrap();
    let s = seq.to_le_bytes()[0];
    (0..len).map(|i| s.wrapping_add(i.to_le_bytes()[0]).wrapping_mul(31)).collect()
}

fn append(seg: &Segment, seq: u64) {
    let t = i64::try_from(seq).unwrap() * 1000 - 50_000;
    let rows = u32::try_from(seq % 7 + 1).unwrap();
    seg.append(seq, rows, t, t + 999, &body(seq)).unwrap();
}

/// Every block verifies (crc chain, header == meta) and holds the body of its seq.
fn check_blocks(seg: &Segment, want_seqs: &[u64]) {
    let blocks = seg.blocks();
    let seqs: Vec<u64> = blocks.iter().map(|b| b.seq).collect();
    assert_eq!(seqs, want_seqs);
    let mut prev: Option<&BlockMeta> = None;
    for b in blocks.iter() {
        seg.verify_block(prev, b).unwrap();
        assert_eq!(seg.block_body(b), &body(b.seq)[..], "body of seq {}", b.seq);
        prev = Some(b);
    }
    let end = blocks.last().map_or(format::file_header_len(seg.key().unwrap().len()), |b| b.end());
    assert_eq!(seg.used_len(), end);
    assert_eq!(seg.max_seq(), want_seqs.last().copied().unwrap_or(0));
}

fn flip(path: &Path, offset: u64) {
    let f = fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x40;
    f.write_all_at(&b, offset).unwrap();
    f.sync_all().unwrap();
}

fn write_bytes(path: &Path, offset: u64, bytes: &[u8]) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
    f.sync_all().unwrap();
}

fn file_bytes(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}

fn open_err(path: &Path, trusted: u64) -> OpenError {
    Segment::open(&disk(), &SegmentCache::unbounded(), path, trusted, 64 * MIB).unwrap_err()
}

#[test]
fn append_reopen_same_blocks_and_bodies() {
    let dir = TempDir::new("roundtrip");
    let path = dir.seg();
    let seqs: Vec<u64> = (1..=500).collect();
    let trusted = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        assert_eq!(seg.key().unwrap(), KEY);
        assert_eq!(seg.path(), path);
        assert!(seg.blocks().is_empty());
        assert_eq!(seg.max_seq(), 0);
        for &s in &seqs {
            append(&seg, s);
        }
        check_blocks(&seg, &seqs);
        let durable = seg.flush().unwrap();
        assert_eq!(durable, seg.used_len());
        // Nothing new: same answer, no work.
        assert_eq!(seg.flush().unwrap(), durable);
        durable
    };
    assert!(fs::metadata(&path).unwrap().len() <= 64 * MIB);
    assert!(!dir.0.join("000001.seg.tmp").exists());

    for t in [trusted, 0, format::file_header_len(KEY.len())] {
        let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, t, 64 * MIB).unwrap();
        assert_eq!(seg.key().unwrap(), KEY);
        assert_eq!(seg.used_len(), trusted);
        check_blocks(&seg, &seqs);
    }

    // Appending continues after a reopen, and survives the next.
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    for s in 501..=600 {
        append(&seg, s);
    }
    let trusted = seg.flush().unwrap();
    drop(seg);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    check_blocks(&seg, &(1..=600).collect::<Vec<_>>());
}

#[test]
fn sizes_agree_with_append() {
    let dir = TempDir::new("sizes");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), KEY, MIB).unwrap();
    assert_eq!(seg.used_len(), Segment::header_len_for(KEY));
    assert_eq!(seg.used_len() % 8, 0);
    for (seq, len) in (1u64..).zip([1usize, 7, 8, 9, 100, 4096]) {
        let before = seg.used_len();
        seg.append(seq, 1, 0, 0, &vec![1u8; len]).unwrap();
        assert_eq!(seg.used_len() - before, Segment::block_len(len));
        assert_eq!(seg.used_len(), seg.blocks().last().unwrap().end());
        assert_eq!(seg.used_len() % 8, 0);
    }
    assert_eq!(Segment::block_len(usize::MAX), u64::MAX);
}

#[test]
fn a_blocks_snapshot_is_stable_and_a_count_names_one() {
    let dir = TempDir::new("snapshot");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), b"", MIB).unwrap();
    append(&seg, 1);
    let a = seg.blocks();
    let n = seg.block_count();
    append(&seg, 2);
    assert_eq!(a.len(), 1, "an old snapshot does not change");
    assert_eq!(seg.blocks().len(), 2);
    assert_eq!(seg.blocks_upto(n), a, "the first n blocks are the snapshot's");
    assert_eq!(seg.blocks_upto(99).len(), 2);
    assert_eq!(seg.rows(), seg.blocks().iter().map(|b| u64::from(b.rows)).sum::<u64>());
}

#[test]
fn concurrent_readers_never_see_a_partial_block() {
    const N: u64 = 3000;
    let dir = TempDir::new("concurrent");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), KEY, 64 * MIB).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut scans = 0u64;
                    let mut last = 0usize;
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        let blocks = seg.blocks();
                        assert!(blocks.len() >= last, "published blocks never disappear");
                        last = blocks.len();
                        let mut prev: Option<&BlockMeta> = None;
                        for (i, b) in blocks.iter().enumerate() {
                            assert_eq!(b.seq, i as u64 + 1);
                            seg.verify_block(prev, b).unwrap();
                            assert_eq!(seg.block_body(b), &body(b.seq)[..]);
                            prev = Some(b);
                        }
                        if let Some(b) = blocks.last() {
                            assert!(seg.used_len() >= b.end());
                        }
                        scans += 1;
                        if finished {
                            assert_eq!(last, usize::try_from(N).unwrap());
                            return scans;
                        }
                    }
                })
            })
            .collect();
        for seq in 1..=N {
            append(&seg, seq);
            if seq % 500 == 0 {
                seg.flush().unwrap();
            }
        }
        done.store(true, Ordering::Release);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    });
    check_blocks(&seg, &(1..=N).collect::<Vec<_>>());
}

#[test]
fn torn_last_block_is_cut_zeroed_and_appending_continues() {
    let dir = TempDir::new("torn");
    let path = dir.seg();
    let (trusted, blocks) = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        for s in 1..=10 {
            append(&seg, s);
        }
        let trusted = seg.flush().unwrap();
        // Appended after the checkpoint: in the page cache only.
        for s in 11..=13 {
            append(&seg, s);
        }
        (trusted, seg.blocks())
    };
    let file_len = fs::metadata(&path).unwrap().len();
    let last = blocks[12];
    flip(&path, last.offset + BLOCK_HEADER_LEN_U64 + 3);

    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    assert!(seg.tail_repaired());
    check_blocks(&seg, &(1..=12).collect::<Vec<_>>());
    assert_eq!(seg.used_len(), last.offset);
    // Cut by zeroing, never by shrinking.
    let bytes = file_bytes(&path);
    assert_eq!(bytes.len() as u64, file_len);
    assert!(format::all_zero(&bytes[usize::try_from(last.offset).unwrap()..]));

    append(&seg, 14);
    append(&seg, 15);
    let trusted = seg.flush().unwrap();
    drop(seg);
    let want: Vec<u64> = (1..=12).chain([14, 15]).collect();
    for t in [trusted, 0] {
        let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, t, 64 * MIB).unwrap();
        assert!(!seg.tail_repaired());
        check_blocks(&seg, &want);
    }
}

#[test]
fn torn_block_drops_everything_after_it() {
    let dir = TempDir::new("torn-mid");
    let path = dir.seg();
    let (trusted, blocks) = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        for s in 1..=10 {
            append(&seg, s);
        }
        let trusted = seg.flush().unwrap();
        for s in 11..=13 {
            append(&seg, s);
        }
        (trusted, seg.blocks())
    };
    // The rows field of block 11 (covered by its crc); 12 and 13 are intact.
    flip(&path, blocks[10].offset + 12);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    check_blocks(&seg, &(1..=10).collect::<Vec<_>>());
    assert_eq!(seg.used_len(), trusted);
    assert!(format::all_zero(&file_bytes(&path)[usize::try_from(trusted).unwrap()..]));
}

#[test]
fn garbage_tail_after_blocks_is_zeroed() {
    let dir = TempDir::new("garbage");
    let path = dir.seg();
    let trusted = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        for s in 1..=3 {
            append(&seg, s);
        }
        seg.flush().unwrap()
    };
    // A header that was half written: magic and length, nothing else.
    write_bytes(&path, trusted, &format::BLOCK_MAGIC.to_le_bytes());
    write_bytes(&path, trusted + 4, &100u32.to_le_bytes());
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    check_blocks(&seg, &[1, 2, 3]);
    assert!(format::all_zero(&file_bytes(&path)[usize::try_from(trusted).unwrap()..]));
}

#[test]
fn damage_below_trusted_len_is_corrupt_with_path_and_offset() {
    let dir = TempDir::new("corrupt");
    let path = dir.seg();
    let (trusted, blocks) = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        for s in 1..=10 {
            append(&seg, s);
        }
        (seg.flush().unwrap(), seg.blocks())
    };
    let pristine = file_bytes(&path);
    let at = blocks[3].offset;

    // A bad magic.
    flip(&path, at);
    match open_err(&path, trusted) {
        OpenError::Corrupt { path: p, offset, reason } => {
            assert_eq!(p, path);
            assert_eq!(offset, at);
            assert!(reason.contains("magic"), "{reason}");
        }
        e => panic!("expected Corrupt, got {e:?}"),
    }
    // The file was not touched by the failed open.
    flip(&path, at);
    assert_eq!(file_bytes(&path), pristine);

    // A zeroed block header: the blocks end before the checkpointed length.
    write_bytes(&path, at, &[0u8; 40]);
    match open_err(&path, trusted) {
        OpenError::Corrupt { path: p, offset, .. } => assert_eq!((p, offset), (path.clone(), at)),
        e => panic!("expected Corrupt, got {e:?}"),
    }
    write_bytes(&path, 0, &pristine);

    // A length running past the end of the file.
    write_bytes(&path, at + 4, &u32::MAX.to_le_bytes());
    assert!(matches!(open_err(&path, trusted), OpenError::Corrupt { offset, .. } if offset == at));
    write_bytes(&path, 0, &pristine);

    // A checkpointed length beyond the file.
    assert!(matches!(open_err(&path, 100 * MIB), OpenError::Corrupt { .. }));

    // Below the checkpoint only headers are checked (cheap open); with
    // nothing trusted, a damaged body is a torn tail and is cut there.
    flip(&path, at + BLOCK_HEADER_LEN_U64);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    assert_eq!(seg.blocks().len(), 10);
    assert!(seg.verify_block(Some(&blocks[2]), &blocks[3]).is_err());
    drop(seg);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 64 * MIB).unwrap();
    check_blocks(&seg, &[1, 2, 3]);
}

#[test]
fn stale_block_after_zeros_is_not_read() {
    let dir = TempDir::new("stale");
    let path = dir.seg();
    let blocks = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        for s in 1..=5 {
            append(&seg, s);
        }
        seg.flush().unwrap();
        seg.blocks()
    };
    let pristine = file_bytes(&path);
    let (b4, b5) = (blocks[3], blocks[4]);
    let zeros = vec![0u8; usize::try_from(b4.end() - b4.offset).unwrap()];

    // Block 4 lost (zeros), block 5 survived: the walk ends at the zeros.
    write_bytes(&path, b4.offset, &zeros);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 64 * MIB).unwrap();
    check_blocks(&seg, &[1, 2, 3]);
    // A new block exactly as long as the lost one ends where stale block 5
    // starts. Its seq passes the seq rule, but its crc chains to the old
    // block 4, so it is never read after the new one.
    let other: Vec<u8> = body(4).iter().map(|b| b ^ 0xff).collect();
    seg.append(4, 1, 0, 0, &other).unwrap();
    assert_eq!(seg.used_len(), b5.offset);
    let trusted = seg.flush().unwrap();
    drop(seg);
    for t in [trusted, 0] {
        let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, t, 64 * MIB).unwrap();
        assert_eq!(seg.blocks().iter().map(|b| b.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(seg.block_body(&seg.blocks()[3]), &other[..]);
        assert_eq!(seg.used_len(), b5.offset);
    }
    // ... and the first open that met it zeroed it.
    assert!(format::all_zero(&file_bytes(&path)[usize::try_from(b5.offset).unwrap()..]));

    // A stale block whose seq is not above the new block's ends the walk too.
    write_bytes(&path, 0, &pristine);
    write_bytes(&path, b4.offset, &zeros);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 64 * MIB).unwrap();
    let len = usize::try_from(b4.len).unwrap();
    seg.append(9, 1, 0, 0, &vec![7u8; len]).unwrap();
    let trusted = seg.flush().unwrap();
    drop(seg);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    assert_eq!(seg.blocks().iter().map(|b| b.seq).collect::<Vec<_>>(), [1, 2, 3, 9]);
    assert_eq!(seg.max_seq(), 9);

    // A bit-identical rewrite of the lost block (WAL replay) re-links the
    // block after it: that block is what replay would write next anyway.
    write_bytes(&path, 0, &pristine);
    write_bytes(&path, b4.offset, &zeros);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 64 * MIB).unwrap();
    append(&seg, 4);
    seg.flush().unwrap();
    drop(seg);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 64 * MIB).unwrap();
    check_blocks(&seg, &[1, 2, 3, 4, 5]);
}

#[test]
fn bad_file_headers() {
    let dir = TempDir::new("header");
    let path = dir.seg();
    drop(Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, MIB).unwrap());
    let pristine = file_bytes(&path);

    write_bytes(&path, 8, &2u32.to_le_bytes());
    match open_err(&path, 0) {
        OpenError::Version { path: p, found, supported } => {
            assert_eq!((p, found, supported), (path.clone(), 2, format::FORMAT_VERSION));
        }
        e => panic!("expected Version, got {e:?}"),
    }
    write_bytes(&path, 0, &pristine);

    flip(&path, 2);
    assert!(matches!(open_err(&path, 0), OpenError::Corrupt { offset: 0, .. }));
    write_bytes(&path, 0, &pristine);

    flip(&path, 17); // a key byte: the header crc catches it
    assert!(matches!(open_err(&path, 0), OpenError::Corrupt { .. }));
    write_bytes(&path, 0, &pristine);

    write_bytes(&path, 12, &(1u32 << 20).to_le_bytes());
    assert!(matches!(open_err(&path, 0), OpenError::Corrupt { offset: 12, .. }));

    let short = dir.0.join("short.seg");
    fs::write(&short, b"LDBSEG").unwrap();
    assert!(matches!(open_err(&short, 0), OpenError::Corrupt { offset: 0, .. }));
    let empty = dir.0.join("empty.seg");
    fs::write(&empty, b"").unwrap();
    assert!(matches!(open_err(&empty, 0), OpenError::Corrupt { offset: 0, .. }));
    assert!(matches!(open_err(&dir.0.join("missing.seg"), 0), OpenError::Io(e) if e.kind() == io::ErrorKind::NotFound));
}

#[test]
fn create_rules() {
    let dir = TempDir::new("create");
    let path = dir.seg();
    // A leftover temp file from a crashed create is replaced.
    fs::write(dir.0.join("000001.seg.tmp"), b"junk").unwrap();
    let big_key = vec![b'k'; format::MAX_KEY_LEN];
    drop(Segment::create(&disk(), &SegmentCache::unbounded(), &path, &big_key, MIB).unwrap());
    assert!(!dir.0.join("000001.seg.tmp").exists());
    let err = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, MIB).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, MIB).unwrap();
    assert_eq!(seg.key().unwrap(), &big_key[..]);

    let too_long = vec![0u8; format::MAX_KEY_LEN + 1];
    let err = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.0.join("b.seg"), &too_long, MIB).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.0.join("c.seg"), KEY, 16).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(!dir.0.join("b.seg").exists() && !dir.0.join("c.seg").exists());
}

#[test]
fn invalid_blocks_are_refused() {
    let dir = TempDir::new("invalid");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), KEY, MIB).unwrap();
    append(&seg, 5);
    let used = seg.used_len();
    for r in [
        seg.append(6, 1, 0, 0, b""),
        seg.append(6, 0, 0, 0, b"x"),
        seg.append(6, 1, 1, 0, b"x"),
        seg.append(5, 1, 0, 0, b"x"),
        seg.append(4, 1, 0, 0, b"x"),
    ] {
        assert!(matches!(r, Err(AppendError::Invalid(_))), "{r:?}");
    }
    assert_eq!(seg.used_len(), used);
    check_blocks(&seg, &[5]);
    seg.append(6, 1, i64::MIN, i64::MAX, b"x").unwrap();
}

#[test]
fn forged_block_meta_reads_nothing() {
    let dir = TempDir::new("forged");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), KEY, MIB).unwrap();
    append(&seg, 1);
    let real = seg.blocks()[0];
    let beyond = BlockMeta { offset: real.end(), ..real };
    assert!(seg.block_body(&beyond).is_empty());
    assert!(seg.try_block_body(&beyond).is_none());
    assert!(seg.verify_block(None, &beyond).is_err());
    let huge = BlockMeta { offset: u64::MAX - 3, len: u32::MAX, ..real };
    assert!(seg.block_body(&huge).is_empty());
    assert!(seg.verify_block(None, &BlockMeta { rows: 99, ..real }).is_err());
    assert!(seg.verify_block(Some(&real), &real).is_err(), "wrong chain");
}

#[test]
fn full_at_capacity() {
    const CAP: u64 = 4096;
    let dir = TempDir::new("full");
    let path = dir.seg();
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, b"k", CAP).unwrap();
    let header = format::file_header_len(1);
    let block = format::block_len(100);
    let fits = (CAP - header) / block;
    for seq in 1..=fits {
        seg.append(seq, 1, 0, 0, &[1u8; 100]).unwrap();
    }
    assert_eq!(seg.used_len(), header + fits * block);
    let before = seg.blocks();
    assert!(matches!(seg.append(fits + 1, 1, 0, 0, &[1u8; 100]), Err(AppendError::Full)));
    assert!(CAP - seg.used_len() < format::block_len(1));
    assert!(matches!(seg.append(fits + 1, 1, 0, 0, b"x"), Err(AppendError::Full)));
    assert_eq!(seg.blocks(), before);
    assert!(matches!(seg.append(fits + 1, 1, 0, 0, &[0u8; 8 * 1024]), Err(AppendError::Full)));
    assert_eq!(fs::metadata(&path).unwrap().len(), CAP, "growth is capped at the capacity");
    seg.flush().unwrap();
    drop(seg);

    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, CAP).unwrap();
    assert_eq!(seg.blocks().len() as u64, fits);
    assert!(matches!(seg.append(fits + 1, 1, 0, 0, b"x"), Err(AppendError::Full)));
    drop(seg);
    // A smaller capacity than the file: the file's length.
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 1024).unwrap();
    assert_eq!(seg.capacity(), CAP);
    drop(seg);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, 0, 2 * CAP).unwrap();
    seg.append(fits + 1, 1, 0, 0, &[1u8; 100]).unwrap();
    assert_eq!(seg.blocks().len() as u64, fits + 1);
}

/// Faults the test storage injects.
#[derive(Debug)]
struct Faults {
    /// `allocate` beyond this many bytes fails with ENOSPC.
    alloc_limit: AtomicU64,
    fail_sync: AtomicBool,
    /// The errno a failing sync returns (0: EIO).
    sync_errno: std::sync::atomic::AtomicI32,
    /// `open_file` fails with EMFILE.
    fail_open: AtomicBool,
}

#[derive(Debug)]
struct FaultyStorage {
    inner: FsStorage,
    faults: Arc<Faults>,
}

#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn File>,
    faults: Arc<Faults>,
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn File>> {
        if self.faults.fail_open.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        let inner = self.inner.open_file(path, mode)?;
        Ok(Box::new(FaultyFile { inner, faults: Arc::clone(&self.faults) }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        self.inner.list_dir(path)
    }
    fn lock_file(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.lock_file(path)
    }
}

impl File for FaultyFile {
    fn length(&self) -> io::Result<u64> {
        self.inner.length()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        if len > self.faults.alloc_limit.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.inner.allocate(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            let errno = self.faults.sync_errno.load(Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(if errno == 0 { libc::EIO } else { errno }));
        }
        self.inner.sync_data()
    }
    fn mmap(&self, len: usize) -> io::Result<Box<dyn Map>> {
        self.inner.mmap(len)
    }
}

fn faulty() -> (Arc<dyn Storage>, Arc<Faults>) {
    let faults = Arc::new(Faults {
        alloc_limit: AtomicU64::new(u64::MAX),
        fail_sync: AtomicBool::new(false),
        sync_errno: std::sync::atomic::AtomicI32::new(0),
        fail_open: AtomicBool::new(false),
    });
    (Arc::new(FaultyStorage { inner: FsStorage, faults: Arc::clone(&faults) }), faults)
}

#[test]
fn no_space_publishes_nothing_and_the_segment_stays_usable() {
    let dir = TempDir::new("nospace");
    let path = dir.seg();
    let (storage, faults) = faulty();
    let seg = Segment::create(&storage, &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
    for s in 1..=3 {
        append(&seg, s);
    }
    assert_eq!(fs::metadata(&path).unwrap().len(), super::GROW_MIN, "the first growth step");

    faults.alloc_limit.store(0, Ordering::SeqCst);
    let before = seg.blocks();
    let used = seg.used_len();
    let big = vec![9u8; 3 * 1024 * 1024 / 2];
    match seg.append(4, 1, 0, 0, &big) {
        Err(AppendError::NoSpace(e)) => assert!(is_no_space(&e)),
        r => panic!("expected NoSpace, got {r:?}"),
    }
    assert_eq!(seg.blocks(), before);
    assert_eq!(seg.used_len(), used);
    // Blocks that fit in the space already reserved still append.
    seg.append(4, 1, 0, 0, b"small").unwrap();
    assert!(matches!(seg.append(5, 1, 0, 0, &big), Err(AppendError::NoSpace(_))));

    // Lifted: the next append works.
    faults.alloc_limit.store(u64::MAX, Ordering::SeqCst);
    seg.append(5, 1, 0, 0, &big).unwrap();

    // Fill exactly what is reserved (if the growth for the big block left
    // any room), so the next block needs growth.
    let file_len = fs::metadata(&path).unwrap().len();
    let spare = file_len - seg.used_len();
    let room = (spare >= BLOCK_HEADER_LEN_U64 + 8).then(|| {
        let room = usize::try_from(spare - BLOCK_HEADER_LEN_U64).unwrap() / 8 * 8;
        seg.append(6, 1, 0, 0, &vec![6u8; room]).unwrap();
        room
    });
    assert_eq!(fs::metadata(&path).unwrap().len(), file_len);
    assert_eq!(seg.used_len(), file_len, "what was reserved is filled");
    let tight_seq = if room.is_some() { 7 } else { 6 };
    // When the growth step does not fit but the block does, just the block.
    let need = seg.used_len() + format::block_len(5);
    faults.alloc_limit.store(need, Ordering::SeqCst);
    seg.append(tight_seq, 1, 0, 0, b"tight").unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), need);
    faults.alloc_limit.store(u64::MAX, Ordering::SeqCst);

    let trusted = seg.flush().unwrap();
    drop(seg);
    let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &path, trusted, 64 * MIB).unwrap();
    let seqs: Vec<u64> = seg.blocks().iter().map(|b| b.seq).collect();
    assert_eq!(seqs, (1..=tight_seq).collect::<Vec<_>>());
    let blocks = seg.blocks();
    assert_eq!(seg.block_body(&blocks[3]), b"small");
    assert_eq!(seg.block_body(&blocks[4]), &big[..]);
    if let Some(room) = room {
        assert_eq!(seg.block_body(&blocks[5]).len(), room);
    }
    assert_eq!(seg.block_body(&blocks[blocks.len() - 1]), b"tight");
    for (i, b) in blocks.iter().enumerate() {
        seg.verify_block(i.checked_sub(1).map(|p| &blocks[p]), b).unwrap();
    }
}

#[test]
fn reserve_then_append_needs_no_allocation() {
    let dir = TempDir::new("reserve");
    let path = dir.seg();
    let (storage, faults) = faulty();
    let seg = Segment::create(&storage, &SegmentCache::unbounded(), &path, KEY, 8 * MIB).unwrap();
    let blocks: Vec<Vec<u8>> = (0..20).map(|i| vec![i; 150_000]).collect();
    let need: u64 = blocks.iter().map(|b| Segment::block_len(b.len())).sum();
    assert!(need > MIB);
    seg.reserve(need).unwrap();
    assert!(seg.blocks().is_empty(), "reserve publishes nothing");
    assert!(fs::metadata(&path).unwrap().len() >= seg.used_len() + need);

    faults.alloc_limit.store(0, Ordering::SeqCst);
    for (seq, b) in (1..).zip(&blocks) {
        seg.append(seq, 1, 0, 0, b).unwrap();
    }
    assert!(matches!(seg.reserve(8 * MIB), Err(AppendError::Full)));
    let used = seg.used_len();
    assert!(matches!(seg.reserve(MIB), Err(AppendError::NoSpace(_))));
    assert_eq!(seg.used_len(), used);
    assert_eq!(seg.blocks().len(), 20);
}

#[test]
fn reservations_stack_until_appended_or_released() {
    // Commit groups on their way each hold a reservation: a later one goes
    // after the earlier ones, so together they never pass the capacity.
    let dir = TempDir::new("promise");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), KEY, 64 * 1024).unwrap();
    let start = seg.used_len();
    assert_eq!(seg.promised_len(), start);
    let b = body(1);
    let len = Segment::block_len(b.len());
    seg.reserve(len).unwrap();
    seg.reserve(len).unwrap();
    assert_eq!(seg.promised_len(), start + 2 * len);
    assert_eq!(seg.used_len(), start, "reserving publishes nothing");
    // What is left after both: a third reservation that passes it is Full.
    let room = seg.capacity() - seg.promised_len();
    assert!(matches!(seg.reserve(room + 1), Err(AppendError::Full)));
    seg.append(1, 1, 0, 0, &b).unwrap();
    assert_eq!(seg.promised_len(), start + 2 * len, "the append used its reservation");
    assert_eq!(seg.used_len(), start + len);
    seg.release(len);
    assert_eq!(seg.promised_len(), start + len);
    seg.reserve(room + len).unwrap();
    assert_eq!(seg.promised_len(), seg.capacity());
}

#[test]
fn a_sealed_segment_takes_no_more_reservations() {
    let dir = TempDir::new("seal");
    let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &dir.seg(), KEY, 64 * 1024).unwrap();
    let b = body(1);
    let len = Segment::block_len(b.len());
    seg.reserve(len).unwrap();
    seg.seal();
    assert_eq!(seg.promised_len(), seg.capacity());
    assert!(matches!(seg.reserve(1), Err(AppendError::Full)));
    // What was reserved before the seal still goes in.
    seg.append(1, 1, 0, 0, &b).unwrap();
    check_blocks(&seg, &[1]);
}

#[test]
fn a_failed_flush_fails_every_later_flush() {
    let dir = TempDir::new("flushfail");
    let (storage, faults) = faulty();
    let seg = Segment::create(&storage, &SegmentCache::unbounded(), &dir.seg(), KEY, MIB).unwrap();
    append(&seg, 1);
    faults.fail_sync.store(true, Ordering::SeqCst);
    assert!(seg.flush().is_err());
    faults.fail_sync.store(false, Ordering::SeqCst);
    assert!(seg.flush().is_err(), "never retry a failed sync and report success");
    // Appends and reads still work; the engine decides what to do.
    append(&seg, 2);
    check_blocks(&seg, &[1, 2]);
}

#[test]
fn a_sync_that_fails_for_space_is_a_failed_sync_not_a_shortage() {
    // fdatasync's ENOSPC (thin provisioning, quotas, NFS) means the pages
    // were not written and may be marked clean: as final as EIO, and never
    // taken for a shortage that a retry cures.
    let dir = TempDir::new("flushnospace");
    let (storage, faults) = faulty();
    let seg = Segment::create(&storage, &SegmentCache::unbounded(), &dir.seg(), KEY, MIB).unwrap();
    append(&seg, 1);
    faults.sync_errno.store(libc::ENOSPC, Ordering::SeqCst);
    faults.fail_sync.store(true, Ordering::SeqCst);
    let e = seg.flush().unwrap_err();
    assert!(!crate::storage::is_transient(&e), "{e}");
    faults.fail_sync.store(false, Ordering::SeqCst);
    assert!(seg.flush().is_err(), "never retry a failed sync and report success");
}

/// A crash can leave bytes of lost blocks past a zero block header (a
/// sector kept after one lost): the segment opens clean at that header.
/// Blocks appended later end below the debris; unless it is cleared when
/// the partition moves on, the next open of the segment as a non-last one
/// (`whole`) reads it as a damaged block and refuses the store.
#[test]
fn debris_past_a_clean_end_is_cleared_before_a_later_segment() {
    let dir = TempDir::new("debris");
    let path = dir.seg();
    let trusted = {
        let seg = Segment::create(&disk(), &SegmentCache::unbounded(), &path, KEY, 64 * MIB).unwrap();
        for s in 1..=3 {
            append(&seg, s);
        }
        seg.flush().unwrap()
    };
    // Where blocks 4 and 5 will end: a lost block's header left there.
    let end = trusted + Segment::block_len(body(4).len()) + Segment::block_len(body(5).len());
    write_bytes(&path, end, &format::BLOCK_MAGIC.to_le_bytes());
    write_bytes(&path, end + 4, &[0x5a; 60]);
    let whole = |path: &Path| {
        let expect = super::Expect { trusted_len: 0, trusted_seq: u64::MAX, whole: true, key: None, cut_now: false };
        Segment::open_checked(&disk(), &SegmentCache::unbounded(), path, &expect, 64 * MIB)
    };
    for clear in [false, true] {
        let copy = dir.0.join(format!("copy-{clear}.seg"));
        fs::copy(&path, &copy).unwrap();
        {
            let seg = Segment::open(&disk(), &SegmentCache::unbounded(), &copy, trusted, 64 * MIB).unwrap();
            assert!(!seg.tail_repaired(), "the walk stops clean at the zero header after block 3");
            append(&seg, 4);
            append(&seg, 5);
            assert_eq!(seg.used_len(), end);
            if clear {
                assert!(seg.clear_past_end().unwrap(), "the debris is written over");
                assert!(!seg.clear_past_end().unwrap(), "nothing left to write");
            }
            seg.flush().unwrap();
        }
        match whole(&copy) {
            Ok(seg) => {
                assert!(clear, "opened whole with debris after its last block");
                check_blocks(&seg, &[1, 2, 3, 4, 5]);
            }
            Err(OpenError::Corrupt { offset, .. }) => {
                assert!(!clear, "refused after the debris was cleared");
                assert_eq!(offset, end);
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
}

/// The commit path clears a segment when it places a block in the next
/// one; applying the group after its WAL record then asks it again, and
/// must not need a descriptor (the segment cache may have closed the file
/// meanwhile): a segment this process made, or one cleared, answers
/// without opening anything. One opened from disk is cleared once.
#[test]
fn clearing_a_made_or_cleared_segment_opens_nothing() {
    let dir = TempDir::new("clear-open");
    let (storage, faults) = faulty();
    let cache = SegmentCache::new(1);
    let a = Segment::create(&storage, &cache, &dir.0.join("000001.seg"), KEY, 64 * MIB).unwrap();
    append(&a, 1);
    a.flush().unwrap();
    let b = Segment::create(&storage, &cache, &dir.0.join("000002.seg"), KEY, 64 * MIB).unwrap();
    append(&b, 2); // the cache of one closes `a`
    faults.fail_open.store(true, Ordering::SeqCst);
    assert!(!a.clear_past_end().unwrap(), "made here: nothing to write, nothing opened");
    faults.fail_open.store(false, Ordering::SeqCst);
    drop((a, b));
    let a = Segment::open(&storage, &cache, &dir.0.join("000001.seg"), 0, 64 * MIB).unwrap();
    let b = Segment::open(&storage, &cache, &dir.0.join("000002.seg"), 0, 64 * MIB).unwrap();
    b.clear_past_end().unwrap();
    a.clear_past_end().unwrap();
    faults.fail_open.store(true, Ordering::SeqCst);
    // Cleared once: asked again with no descriptor to be had, it answers.
    assert!(!a.clear_past_end().unwrap());
    assert!(!b.clear_past_end().unwrap());
    faults.fail_open.store(false, Ordering::SeqCst);
}
