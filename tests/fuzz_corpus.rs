//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and the saved crash
//! inputs (`fuzz/regressions/` for parse_validate, `fuzz/regressions/<target>/`
//! for the others) through the fuzz targets' own checks
//! (`fuzz/fuzz_targets/{check,wal_check,segment_check,sealed_check,influxql_check,ops_check}.rs`), so that every
//! input the fuzzer once found interesting keeps passing under an ordinary
//! `cargo test`.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpora` writes
//! the hand-made seeds of wal_recovery and segment_open (real files made
//! with the WAL and segment APIs, and damaged copies) into their corpora;
//! `write_sealed_seeds` those of sealed_file (files the columnar writer
//! made).

mod kit;

#[path = "../fuzz/fuzz_targets/check.rs"]
mod check;
#[path = "../fuzz/fuzz_targets/ops_check.rs"]
mod ops_check;
#[path = "../fuzz/fuzz_targets/scratch.rs"]
mod scratch;
#[path = "../fuzz/fuzz_targets/sealed_check.rs"]
mod sealed_check;
#[path = "../fuzz/fuzz_targets/influxql_check.rs"]
mod influxql_check;
#[path = "../fuzz/fuzz_targets/segment_check.rs"]
mod segment_check;
#[path = "../fuzz/fuzz_targets/wal_check.rs"]
mod wal_check;

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

/// Runs every file of `dir` through `check`; returns how many ran and
/// fails naming every file that broke an invariant.
fn replay(dir: &str, check: fn(&[u8])) -> usize {
    let files = inputs(dir);
    let mut failed = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if let Err(cause) = panic::catch_unwind(|| check(&data)) {
            let cause = cause
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{}: {cause}", path.display()));
        }
    }
    assert!(failed.is_empty(), "{} of {} inputs failed:\n{}", failed.len(), files.len(), failed.join("\n"));
    files.len()
}

#[test]
fn corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/parse_validate", check::check);
    assert!(n > 0, "fuzz/corpus/parse_validate is empty or missing");
}

#[test]
fn regressions_pass_the_fuzz_checks() {
    replay("fuzz/regressions", check::check);
}

#[test]
fn prepopulation_batch_is_valid() {
    // Every setting, empty batch: builds the pre-populated schema.
    for b in 0..64u8 {
        check::check(&[b]);
    }
}

#[test]
fn wal_corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/wal_recovery", wal_check::check);
    assert!(n > 0, "fuzz/corpus/wal_recovery is empty or missing");
}

#[test]
fn wal_regressions_pass_the_fuzz_checks() {
    replay("fuzz/regressions/wal_recovery", wal_check::check);
}

#[test]
fn segment_corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/segment_open", segment_check::check);
    assert!(n > 0, "fuzz/corpus/segment_open is empty or missing");
}

#[test]
fn segment_regressions_pass_the_fuzz_checks() {
    replay("fuzz/regressions/segment_open", segment_check::check);
}

#[test]
fn sealed_corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/sealed_file", sealed_check::check);
    assert!(n > 0, "fuzz/corpus/sealed_file is empty or missing");
}

#[test]
fn influxql_corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/influxql_parse", influxql_check::check);
    assert!(n > 0, "fuzz/corpus/influxql_parse is empty or missing");
}

#[test]
fn sealed_regressions_pass_the_fuzz_checks() {
    replay("fuzz/regressions/sealed_file", sealed_check::check);
}

/// Sealed files of a few shapes, as the writer makes them: every field
/// type, nulls, strings, tags missing from some series, several groups.
#[test]
#[ignore = "writes into fuzz/corpus; run by hand"]
fn write_sealed_seeds() {
    use linedb::columnar::{GroupRow, Writer};
    use linedb::rows::{StoredField, StoredValue};
    use linedb::storage::{FsStorage, OpenMode, Storage};
    let dir = corpus_dir("sealed_file");
    let tmp = std::env::temp_dir().join(format!("linedb-sealed-seeds-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    // Shape 4: runs longer than a page (`chunk::MIN_PAGE`), so that
    // chunks hold several pages. (The corpus's format-1 files, written
    // before format 2, stay in it: they keep format 1 read.)
    for shape in 0..5u32 {
        let path = tmp.join(format!("{shape}.col"));
        let _ = fs::remove_file(&path);
        let mut w = Writer::new(FsStorage.open_file(&path, OpenMode::CreateNew).unwrap(), sealed_check::KEY).unwrap();
        let series: Vec<u32> = [",host=a", ",host=b,rack=1", "", ",rack=2"]
            .iter()
            .take(if shape == 4 { 3 } else { 1 + shape as usize })
            .map(|k| w.series_id(k.as_bytes()).unwrap())
            .collect();
        for group in 0..(1 + shape % 2) {
            let strings = [b"ok".as_slice(), b"down", b"a \"q\""];
            let mut fields = Vec::new();
            let mut rows = Vec::new();
            for (k, s) in series.iter().enumerate() {
                let n = if shape == 4 { 2100 + 700 * k as u32 } else { 20 + shape * 10 };
                for t in 0..n {
                    let start = fields.len();
                    fields.push(StoredField { key: b"f", value: StoredValue::Float(f64::from(t) * 0.125 + f64::from(group)) });
                    if t % 3 != 0 {
                        fields.push(StoredField { key: b"i", value: StoredValue::Integer(i64::from(t) - 7) });
                    }
                    if shape >= 2 {
                        fields.push(StoredField { key: b"s", value: StoredValue::String(strings[t as usize % 3]) });
                        fields.push(StoredField { key: b"u", value: StoredValue::UInteger(u64::from(t) << 40) });
                    }
                    if shape == 3 && t % 2 == 0 {
                        fields.push(StoredField { key: b"z", value: StoredValue::Boolean(k % 2 == 0) });
                    }
                    rows.push(GroupRow { series: *s, time: i64::from(t) * 10_000_000_000 + i64::from(group), fields: start..fields.len() });
                }
            }
            rows.sort_by_key(|r| (r.series, r.time));
            w.write_group(&rows, &fields).unwrap();
        }
        w.finish((1, 9)).unwrap();
        let file = fs::read(&path).unwrap();
        for setting in [0u8, 1, 2, 3] {
            let mut input = vec![setting];
            input.extend_from_slice(&file);
            fs::write(dir.join(format!("seed_{shape}_{setting}")), input).unwrap();
        }
    }
    let _ = fs::remove_dir_all(&tmp);
}

#[test]
fn ops_corpus_passes_the_fuzz_checks() {
    let n = replay("fuzz/corpus/ops_crash", ops_check::check);
    assert!(n > 0, "fuzz/corpus/ops_crash is empty or missing");
}

#[test]
fn ops_regressions_pass_the_fuzz_checks() {
    replay("fuzz/regressions/ops_crash", ops_check::check);
}

/// Writes the seeds of wal_recovery and segment_open (`seed_*`) into their
/// corpora: files the WAL and segment APIs wrote, and damaged copies. Run
/// by hand after a format change; `cargo fuzz cmin` may later drop seeds
/// that add no coverage.
#[test]
#[ignore = "writes into fuzz/corpus; run by hand"]
fn write_seed_corpora() {
    seeds::wal_seeds(&corpus_dir("wal_recovery"));
    seeds::segment_seeds(&corpus_dir("segment_open"));
}

fn corpus_dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

mod seeds {
    use std::fs;
    use std::path::Path;
    use std::sync::Arc;

    use linedb::segment::{BlockMeta, Segment, SegmentCache};
    use linedb::storage::{FsStorage, Storage};
    use linedb::wal::{Wal, WalOptions};

    use crate::scratch;
    use crate::segment_check::{self, Setting as SegSetting};
    use crate::wal_check::{self, Setting as WalSetting, FIRST_NUMBERS};

    type Files = Vec<(String, Vec<u8>)>;

    fn put(dir: &Path, name: &str, data: &[u8]) {
        fs::write(dir.join(name), data).unwrap();
    }

    /// A line-protocol-like payload of a length that varies with `seq`.
    fn line(seq: u64) -> Vec<u8> {
        let mut p = format!("cpu,host=h{} usage={seq}", seq % 3).into_bytes();
        p.resize(p.len() + usize::try_from(seq * 5 % 17).unwrap(), b'0');
        p
    }

    /// A log written through the API: appends of `groups[i]` records, each
    /// synced; then optionally a trim up to `trim` and more appends. Its
    /// files in name order (`NNNNNNNN.wal`, then `spare.wal`).
    fn wal_log(file_size: u64, after: u64, groups: &[usize], trim: Option<u64>, more: &[usize]) -> Files {
        let dir = scratch::fresh("seed-wal");
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let mut wal = Wal::open(storage, &dir, WalOptions { file_size, spares: 1, store_tag: 0 }, after, &mut |_, _| Ok(())).unwrap();
        let write = |wal: &mut Wal, groups: &[usize]| {
            for &k in groups {
                let seq = wal.next_seq();
                let ps: Vec<Vec<u8>> = (seq..seq + k as u64).map(line).collect();
                let refs: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
                assert_eq!(wal.append(&refs).unwrap(), seq);
                wal.sync().unwrap();
            }
        };
        write(&mut wal, groups);
        if let Some(upto) = trim {
            wal.trim(upto).unwrap();
        }
        write(&mut wal, more);
        drop(wal);
        let mut files: Files = fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    /// The records of a WAL file: (offset, size, seq), up to a zero header.
    fn records(b: &[u8]) -> Vec<(usize, usize, u64)> {
        let mut out = Vec::new();
        let mut off = 40;
        while off + 24 <= b.len() && b[off..off + 24].iter().any(|&x| x != 0) {
            let len = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
            let seq = u64::from_le_bytes(b[off + 8..off + 16].try_into().unwrap());
            let size = 24 + len.next_multiple_of(8);
            out.push((off, size, seq));
            off += size;
        }
        out
    }

    /// The file up to its last record and the zero header after it.
    fn trimmed(b: &[u8]) -> Vec<u8> {
        let end = records(b).last().map_or(40, |r| r.0 + r.1) + 24;
        b[..end.min(b.len())].to_vec()
    }

    fn flip(b: &[u8], at: usize) -> Vec<u8> {
        let mut b = b.to_vec();
        b[at] ^= 0x20;
        b
    }

    pub fn wal_seeds(dir: &Path) {
        let base = WalSetting { files: 3, ..WalSetting::default() };
        let w = |name: &str, s: WalSetting, files: &[&[u8]]| put(dir, name, &wal_check::input(&s, files));

        // 10 records, one per append, in files of 256 bytes: 3 files.
        let a = wal_log(256, 0, &[1; 10], None, &[]);
        assert_eq!(a.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["00000001.wal", "00000002.wal", "00000003.wal"]);
        let fa: Vec<&[u8]> = a.iter().map(|f| f.1.as_slice()).collect();
        w("seed_log", base, &fa);
        for (after_seq, name) in [(2, "seed_log_after_2"), (4, "seed_log_after_5"), (5, "seed_log_after_8"), (6, "seed_log_after_1000"), (7, "seed_log_after_max")] {
            w(name, WalSetting { after_seq, ..base }, &fa);
        }
        w("seed_one_file", WalSetting { files: 1, ..base }, &fa[..1]);
        w("seed_append_2", WalSetting { appends: 1, ..base }, &fa);
        w("seed_append_3_big", WalSetting { appends: 2, big_append: true, ..base }, &fa);
        w("seed_size_257", WalSetting { file_size: 1, ..base }, &fa);
        w("seed_size_512", WalSetting { file_size: 2, ..base }, &fa);
        w("seed_size_invalid", WalSetting { file_size: 6, ..base }, &fa);
        w("seed_spare", WalSetting { spare: true, ..base }, &fa);
        w("seed_leftover_tmp", WalSetting { leftover_tmp: true, ..base }, &fa);
        w("seed_empty_file", WalSetting { files: 1, ..base }, &[b""]);
        w("seed_header_only", WalSetting { files: 1, ..base }, &[&fa[0][..40]]);
        w("seed_second_empty", base, &[fa[0], b"", fa[2]]);

        let last = *records(fa[2]).last().unwrap();
        w("seed_torn_cut", base, &[fa[0], fa[1], &fa[2][..last.0 + last.1 / 2]]);
        let mut zeroed = fa[2].to_vec();
        zeroed[last.0 + 30..].fill(0);
        w("seed_torn_zeroed", base, &[fa[0], fa[1], &zeroed]);
        w("seed_tail_bad_crc", base, &[fa[0], fa[1], &flip(fa[2], last.0 + 26)]);
        let first = records(fa[0])[0];
        w("seed_middle_bad_crc", base, &[&flip(fa[0], first.0 + 26), fa[1], fa[2]]);
        w("seed_middle_bad_magic", base, &[&flip(fa[0], first.0 + 1), fa[1], fa[2]]);
        let mut version = fa[1].to_vec();
        version[8] = 2;
        w("seed_version", base, &[fa[0], &version, fa[2]]);
        w("seed_bad_header", base, &[fa[0], &flip(fa[1], 30), fa[2]]);
        w("seed_last_bad_header", base, &[fa[0], fa[1], &flip(fa[2], 30)]);
        w("seed_numbers_off", WalSetting { first_number: 1, ..base }, &fa);
        w("seed_numbers_fixed", WalSetting { first_number: 1, fix_headers: true, ..base }, &fa);
        w("seed_gap", WalSetting { files: 2, gap: true, ..base }, &[fa[0], fa[2]]);
        w("seed_gap_covered", WalSetting { files: 2, gap: true, after_seq: 6, ..base }, &[fa[0], fa[2]]);
        // Records edited, checksums fixed: a sequence gap inside a file, a
        // stale record ending one, a group offset.
        let second = records(fa[0])[1];
        let mut gap = fa[0].to_vec();
        gap[second.0 + 8] += 1;
        w("seed_fixed_gap_in_file", WalSetting { fix_records: true, ..base }, &[&gap, fa[1], fa[2]]);
        let mut stale = fa[2].to_vec();
        stale[last.0 + 8] = 1;
        w("seed_fixed_stale", WalSetting { fix_records: true, ..base }, &[fa[0], fa[1], &stale]);
        let mut group = fa[2].to_vec();
        group[last.0 + 20] = 1;
        w("seed_fixed_group", WalSetting { fix_records: true, ..base }, &[fa[0], fa[1], &group]);

        // Appends of several records (group offsets), in files of 512: the
        // last append (7..=10) spans both files, so file 1 was synced
        // before file 2 was written: damage to its first record is
        // corruption. Damage to the second record, followed by a later
        // append's, too.
        let g = wal_log(512, 0, &[1, 3, 2, 4], None, &[]);
        let fg: Vec<&[u8]> = g.iter().map(|f| f.1.as_slice()).collect();
        assert_eq!(fg.len(), 2);
        let gs = WalSetting { files: 2, file_size: 2, ..base };
        w("seed_groups", gs, &fg);
        let rec7 = records(fg[0]).into_iter().find(|r| r.2 == 7).unwrap();
        w("seed_groups_bad_before_next_file", gs, &[&flip(fg[0], rec7.0 + 26), fg[1]]);
        let rec2 = records(fg[0])[1];
        w("seed_groups_bad_second", gs, &[&flip(fg[0], rec2.0 + 26), fg[1]]);
        // The same in one file of 4096: the first record of the last append
        // torn, later ones of the same append intact: a torn tail, cut.
        let g = wal_log(4096, 0, &[1, 3, 2, 4], None, &[]);
        assert_eq!(g.len(), 1);
        let fg = trimmed(&g[0].1);
        let gs = WalSetting { files: 1, file_size: 4, ..base };
        w("seed_groups_one_file", gs, &[&fg]);
        let rec7 = records(&fg).into_iter().find(|r| r.2 == 7).unwrap();
        w("seed_groups_torn_first_of_last", gs, &[&flip(&fg, rec7.0 + 26)]);

        // Trimmed up to 8 (file 1 kept as spare.wal), then 6 more: the
        // spare comes back as a file with stale records of its old life.
        let b = wal_log(256, 0, &[1; 10], Some(8), &[1; 6]);
        let numbered: Vec<&(String, Vec<u8>)> = b.iter().filter(|f| f.0 != "spare.wal").collect();
        let first_number: u64 = numbered[0].0[..8].parse().unwrap();
        let first_number = u8::try_from(FIRST_NUMBERS.iter().position(|&n| n == first_number).unwrap()).unwrap();
        let mut fb: Vec<&[u8]> = numbered.iter().take(3).map(|f| f.1.as_slice()).collect();
        let spare = fb.len() < 3 && b.iter().any(|f| f.0 == "spare.wal");
        if spare {
            fb.push(&b.iter().find(|f| f.0 == "spare.wal").unwrap().1);
        }
        let bs = WalSetting { files: u8::try_from(fb.len()).unwrap(), first_number, spare, ..base };
        w("seed_recycled", bs, &fb);
        w("seed_recycled_after_8", WalSetting { after_seq: 5, ..bs }, &fb);

        // A log starting at 100 (a checkpoint at 99).
        let c = wal_log(256, 99, &[1; 6], None, &[]);
        let fc: Vec<&[u8]> = c.iter().take(3).map(|f| f.1.as_slice()).collect();
        let cs = WalSetting { files: u8::try_from(fc.len()).unwrap(), ..base };
        w("seed_from_100_after_1000", WalSetting { after_seq: 6, ..cs }, &fc);
        w("seed_from_100_after_5", WalSetting { after_seq: 4, ..cs }, &fc);
        w("seed_1_then_100", WalSetting { files: 2, fix_headers: true, ..base }, &[fa[0], fc[0]]);
        w("seed_1_then_100_after_1000", WalSetting { files: 2, fix_headers: true, after_seq: 6, ..base }, &[fa[0], fc[0]]);

        // One file of 4096 bytes (stored up to its end).
        let d = wal_log(4096, 0, &[1, 2, 3, 4, 5], None, &[]);
        assert_eq!(d.len(), 1);
        let fd = trimmed(&d[0].1);
        w("seed_size_4096", WalSetting { files: 1, file_size: 4, ..base }, &[&fd]);
        w("seed_size_64k", WalSetting { files: 1, file_size: 5, big_append: true, ..base }, &[&fd]);
    }

    /// A segment written through the API (key, bodies of these lengths at
    /// seqs from `first_seq`), flushed; the file up to its used length.
    fn segment_file(key: &[u8], bodies: &[usize], first_seq: u64) -> (Vec<u8>, Vec<BlockMeta>) {
        let dir = scratch::fresh("seed-segment");
        let path = dir.join("000001.seg");
        let storage: Arc<dyn Storage> = Arc::new(FsStorage);
        let seg = Segment::create(&storage, &SegmentCache::unbounded(), &path, key, 4096).unwrap();
        for (i, &n) in bodies.iter().enumerate() {
            let body: Vec<u8> = (0..n).map(|j| b"0123456789,=abcdef"[(i + j) % 18]).collect();
            let t = 1_451_606_400_000_000_000 + i64::try_from(i).unwrap() * 1000;
            seg.append(first_seq + i as u64, u32::try_from(i % 4 + 1).unwrap(), t, t + 999, &body).unwrap();
        }
        let used = seg.flush().unwrap();
        let blocks = seg.blocks().to_vec();
        drop(seg);
        let mut file = fs::read(&path).unwrap();
        file.truncate(usize::try_from(used).unwrap());
        (file, blocks)
    }

    fn at(b: &BlockMeta) -> usize {
        usize::try_from(b.offset).unwrap()
    }

    fn end(b: &BlockMeta) -> u32 {
        u32::try_from(b.end()).unwrap()
    }

    pub fn segment_seeds(dir: &Path) {
        let base = SegSetting::default();
        let s = |name: &str, st: SegSetting, trusted: u32, file: &[u8]| put(dir, name, &segment_check::input(&st, trusted, file));
        let trusted_raw = SegSetting { trusted: 2, ..base };

        let (f, blocks) = segment_file(b"cpu\0day=16801", &[10, 33, 1, 64, 20], 1);
        s("seed_blocks", base, 0, &f);
        let mut zeros = f.clone();
        zeros.resize(f.len() + 64, 0);
        s("seed_blocks_zeros", base, 0, &zeros);
        s("seed_trusted_all", SegSetting { trusted: 1, ..base }, 0, &f);
        s("seed_trusted_block_2", trusted_raw, end(&blocks[1]), &f);
        s("seed_trusted_mid_block", trusted_raw, end(&blocks[1]) + 10, &f);
        s("seed_trusted_past_end", SegSetting { trusted: 3, ..base }, u32::try_from(f.len()).unwrap() + 8, &f);
        s("seed_torn_cut", base, 0, &f[..at(&blocks[4]) + 30]);
        let mut torn = zeros.clone();
        torn[at(&blocks[4]) + 45..].fill(0);
        s("seed_torn_zeroed", base, 0, &torn);
        let mut bad = f.clone();
        bad[at(&blocks[2]) + 40] ^= 0x20;
        s("seed_bad_body", base, 0, &bad);
        let mut bad = f.clone();
        bad[at(&blocks[0]) + 41] ^= 0x20;
        s("seed_bad_body_trusted", trusted_raw, end(&blocks[2]), &bad);
        let mut bad = f.clone();
        bad[at(&blocks[1])] ^= 0x20;
        s("seed_bad_magic_below_trusted", trusted_raw, end(&blocks[3]), &bad);
        let mut version = f.clone();
        version[8] = 2;
        s("seed_version", base, 0, &version);
        let mut header = f.clone();
        header[17] ^= 0x20;
        s("seed_bad_header", base, 0, &header);
        s("seed_bad_header_fixed", SegSetting { fix_crcs: true, ..base }, 0, &header);
        let mut garbage = zeros.clone();
        garbage.extend_from_slice(&f[at(&blocks[0])..at(&blocks[2])]);
        s("seed_garbage_after_zeros", base, 0, &garbage);
        // Headers edited, checksums fixed: a stale seq, zero rows, times out of order.
        let mut stale = f.clone();
        stale[at(&blocks[3]) + 16] = 2;
        s("seed_fixed_stale", SegSetting { fix_crcs: true, ..base }, 0, &stale);
        let mut rows = f.clone();
        rows[at(&blocks[2]) + 12..at(&blocks[2]) + 16].fill(0);
        s("seed_fixed_zero_rows", SegSetting { fix_crcs: true, ..base }, 0, &rows);
        let mut times = f.clone();
        times[at(&blocks[2]) + 39] = 0x80;
        s("seed_fixed_times", SegSetting { fix_crcs: true, ..base }, 0, &times);
        s("seed_capacity_exact", SegSetting { capacity: 1, ..base }, 0, &f);
        s("seed_capacity_64_fits", SegSetting { capacity: 2, body: 1, ..base }, 0, &f);
        s("seed_capacity_64_full", SegSetting { capacity: 2, body: 2, ..base }, 0, &f);
        s("seed_big_body", SegSetting { body: 3, ..base }, 0, &f);
        s("seed_seq_max", SegSetting { seq_max: true, ..base }, 0, &f);
        s("seed_empty_file", base, 0, b"");
        s("seed_prefix_only", base, 0, &f[..16]);

        let (f, _) = segment_file(b"", &[8, 16], 1);
        s("seed_empty_key", base, 0, &f);
        let (f, _) = segment_file(b"m\0day=0", &[], 1);
        s("seed_no_blocks", base, 0, &f);
        s("seed_no_blocks_trusted", SegSetting { trusted: 1, ..base }, 0, &f);
        let (f, _) = segment_file(b"m\0day=0", &[5, 5], u64::MAX - 1);
        s("seed_highest_seq", base, 0, &f);
    }
}
