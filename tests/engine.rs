//! The storage engine through its Rust API: the write status table, the
//! invariants of DESIGN.md, reopen, checkpoints, queries.

mod common;

use common::*;
use linedb::engine::{Engine, Error, Options};
use linedb::error::OpenError;
use linedb::line_protocol::{FieldType, Precision};
use linedb::partition::NANOS_PER_DAY;

#[test]
fn open_creates_the_layout_and_a_second_open_is_locked() {
    let t = TempDir::new("layout");
    let e = open(&t.store());
    assert!(t.store().join("LOCK").exists());
    assert!(t.store().join("wal").is_dir());
    match Engine::open(t.store(), small_options()) {
        Err(OpenError::Locked { dir }) => assert_eq!(dir, t.store()),
        other => panic!("expected Locked, got {other:?}"),
    }
    e.close().unwrap();
    // Released on close.
    open(&t.store()).close().unwrap();
}

#[test]
fn open_needs_the_parent_directory() {
    let t = TempDir::new("parent");
    let r = Engine::open(t.0.join("missing/store"), small_options());
    assert!(matches!(r, Err(OpenError::Io(ref e)) if e.kind() == std::io::ErrorKind::NotFound), "{r:?}");
}

#[test]
fn database_names_follow_the_rules() {
    let t = TempDir::new("names");
    let e = open(&t.store());
    for bad in ["", "a/b", &"x".repeat(65)] {
        assert!(matches!(e.create_database(bad), Err(Error::InvalidArgument(_))), "{bad:?}");
    }
    e.create_database(&"x".repeat(64)).unwrap();
    e.create_database("ünï cödé").unwrap();
    assert!(matches!(e.create_database("ünï cödé"), Err(Error::AlreadyExists(_))));
    assert_eq!(e.databases(), vec!["x".repeat(64), "ünï cödé".to_string()]);
    drop(e);
    let e = open(&t.store());
    assert_eq!(e.databases().len(), 2);
}

#[test]
fn unknown_database_is_404_naming_it_and_stores_nothing() {
    let t = TempDir::new("404");
    let e = open(&t.store());
    let before = snapshot_files(&t.store());
    let r = write(&e, "nope", "m f=1 1");
    assert_eq!(r.status, 404);
    assert!(r.message.contains("\"nope\""), "{}", r.message);
    assert_eq!(snapshot_files(&t.store()), before);
    assert_eq!(e.stats().writes_rejected, 1);
    assert_eq!(e.query("nope", None, 0, 10, &mut |_| true).status, 404);
}

#[test]
fn write_then_query_gives_canonical_lines_in_order() {
    let t = TempDir::new("query");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    let r = write(&e, "db", "cpu,host=b,az=1 u=2i,s=\"x\" 20\ncpu,host=a u=1i 10\nmem f=1.5,b=true 5\ncpu,host=a u=3i 20\n");
    assert_eq!((r.status, r.count, r.message.as_str()), (204, 4, ""));
    assert_eq!(
        all(&e, "db"),
        [
            "cpu,host=a u=1i 10",
            // Same time: by series key, bytewise (",az" < ",host").
            "cpu,az=1,host=b s=\"x\",u=2i 20",
            "cpu,host=a u=3i 20",
            "mem b=true,f=1.5 5",
        ]
    );
    assert_eq!(query(&e, "db", Some("mem"), 0, 100), ["mem b=true,f=1.5 5"]);
    assert_eq!(query(&e, "db", Some("none"), 0, 100), Vec::<String>::new());
    // The callback stops the query; the line that stopped it counts.
    let mut n = 0;
    let r = e.query("db", None, i64::MIN, i64::MAX, &mut |_| {
        n += 1;
        n < 2
    });
    assert_eq!((r.status, r.count), (200, 2));
    let s = e.stats();
    assert_eq!((s.databases, s.partitions, s.points, s.writes_accepted), (1, 2, 4, 1));
    assert!(s.segment_bytes > 0 && s.wal_bytes > 0 && s.last_sequence >= 2);
}

#[test]
fn time_range_is_start_inclusive_end_exclusive() {
    let t = TempDir::new("range");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    let day = NANOS_PER_DAY;
    let lines = format!("m f=1 {}\nm f=2 -1\nm f=3 0\nm f=4 {}\nm f=5 {}\n", -day, day - 1, day);
    assert_eq!(write(&e, "db", &lines).status, 204);
    assert_eq!(query(&e, "db", None, -1, day), ["m f=2 -1", "m f=3 0", &format!("m f=4 {}", day - 1)]);
    assert_eq!(query(&e, "db", None, 0, 0), Vec::<String>::new());
    assert_eq!(query(&e, "db", None, 5, 1), Vec::<String>::new());
    assert_eq!(query(&e, "db", None, day, day + 1), [format!("m f=5 {day}")]);
    assert_eq!(query(&e, "db", None, i64::MIN, -day + 1), [format!("m f=1 {}", -day)]);
    // -1 ns is 1969-12-31: its own partition.
    let parts = e.partitions("db").unwrap();
    let days: Vec<String> = parts.iter().map(|p| p.day.to_string()).collect();
    assert_eq!(days, ["1969-12-31", "1970-01-01", "1970-01-02"]);
    assert_eq!(parts.iter().map(|p| p.points).collect::<Vec<_>>(), [2, 2, 1]);
}

#[test]
fn same_series_and_time_is_one_point_later_write_wins_field_by_field() {
    let t = TempDir::new("dedupe");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m,t=a x=1,y=1 5\nm,t=b x=9 5").status, 204);
    assert_eq!(write(&e, "db", "m,t=a y=2,z=2 5\nm,t=a x=3 5").status, 204);
    assert_eq!(all(&e, "db"), ["m,t=a x=3,y=2,z=2 5", "m,t=b x=9 5"]);
    // Points are counted as stored, before de-duplication.
    assert_eq!(e.stats().points, 4);
}

#[test]
fn a_rejected_batch_leaves_no_trace() {
    let t = TempDir::new("notrace");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m f=1i 1").status, 204);
    let files = snapshot_files(&t.store());
    let stats = e.stats();
    // Line 3 conflicts with the stored type; line 2 brings a new field and
    // a new partition that must not be registered.
    let r = write(&e, "db", "m f=2i 2\nm g=1,h=\"s\" 90000000000000000\nm f=1.5 3\n");
    assert_eq!((r.status, r.error_line), (400, 3), "{}", r.message);
    assert!(r.message.starts_with("line 3: "), "{}", r.message);
    assert!(r.message.contains("m f=1.5 3"), "{}", r.message);
    assert_eq!(snapshot_files(&t.store()), files);
    assert_eq!(e.field_type("db", "m", 90000000000000000, "g").unwrap(), None);
    assert_eq!(e.field_type("db", "m", 2, "g").unwrap(), None);
    let after = e.stats();
    assert_eq!((after.points, after.segment_bytes, after.wal_bytes, after.partitions), (stats.points, stats.segment_bytes, stats.wal_bytes, stats.partitions));
    assert_eq!(after.writes_rejected, stats.writes_rejected + 1);
    assert_eq!(all(&e, "db"), ["m f=1i 1"]);
    // A parse error: same.
    let r = write(&e, "db", "m f=3i 4\nm f=1i2 5");
    assert_eq!((r.status, r.error_line), (400, 2));
    assert_eq!(snapshot_files(&t.store()), files);
    // An empty batch is 204 with count 0, and writes nothing either.
    let r = write(&e, "db", "\n# only a comment\n");
    assert_eq!((r.status, r.count), (204, 0));
    assert_eq!(snapshot_files(&t.store()), files);
    // Lines of a rejected batch were encoded as they passed validation;
    // none of them reaches the next batch's block.
    assert_eq!(write(&e, "db", "m f=4i 6").status, 204);
    assert_eq!(all(&e, "db"), ["m f=1i 1", "m f=4i 6"]);
}

#[test]
fn field_types_are_per_partition_and_survive_reopen_and_checkpoint() {
    let t = TempDir::new("types");
    let day = NANOS_PER_DAY;
    {
        let e = open(&t.store());
        e.create_database("db").unwrap();
        assert_eq!(write(&e, "db", &format!("m f=1i 0\nm f=1.5 {day}\nm s=\"a\" -1")).status, 204);
        // Within the same batch, a conflict in one partition is rejected.
        let r = write(&e, "db", &format!("m g=1u {}\nm g=true {}", 2 * day, 2 * day + 1));
        assert_eq!((r.status, r.error_line), (400, 2));
        assert_eq!(e.field_type("db", "m", 2 * day, "g").unwrap(), None);
        // Dropped without close: the WAL brings them back.
    }
    let check = |e: &Engine| {
        assert_eq!(e.field_type("db", "m", 5, "f").unwrap(), Some(FieldType::Integer));
        assert_eq!(e.field_type("db", "m", day + 5, "f").unwrap(), Some(FieldType::Float));
        assert_eq!(e.field_type("db", "m", -day, "s").unwrap(), Some(FieldType::String));
        assert_eq!(e.field_type("db", "m", 5, "s").unwrap(), None);
        assert!(matches!(e.field_type("nope", "m", 5, "f"), Err(Error::NotFound(_))));
        let r = write(e, "db", "m f=2.5 7");
        assert_eq!(r.status, 400, "{}", r.message);
        assert!(r.message.contains("integer"), "{}", r.message);
    };
    let e = open(&t.store());
    check(&e);
    e.checkpoint().unwrap();
    check(&e);
    e.close().unwrap();
    let e = open(&t.store());
    check(&e);
    assert_eq!(all(&e, "db").len(), 3);
}

#[test]
fn data_survives_reopen_with_and_without_checkpoint() {
    let t = TempDir::new("reopen");
    let expected;
    {
        let e = open(&t.store());
        e.create_database("db").unwrap();
        for i in 0..50 {
            let lines: String = (0..20).map(|j| format!("m,b={i} v={j}i {}\n", i * 100 + j)).collect();
            assert_eq!(write(&e, "db", &lines).status, 204);
            if i == 25 {
                e.checkpoint().unwrap();
            }
        }
        expected = all(&e, "db");
        assert_eq!(expected.len(), 1000);
    }
    let e = open(&t.store());
    assert_eq!(all(&e, "db"), expected);
    assert_eq!(e.stats().points, 1000);
    // Writing after replay continues the sequence; a second reopen keeps all.
    assert_eq!(write(&e, "db", "m,b=x v=1i 999999").status, 204);
    let seq = e.stats().last_sequence;
    drop(e);
    let e = open(&t.store());
    assert_eq!(all(&e, "db").len(), 1001);
    assert_eq!(e.stats().last_sequence, seq);
    e.close().unwrap();
}

#[test]
fn checkpoint_trims_the_wal() {
    let t = TempDir::new("trim");
    let e = Engine::open(t.store(), Options { wal_file_bytes: 64 << 10, segment_bytes: 1 << 20, ..Options::default() }).unwrap();
    e.create_database("db").unwrap();
    // A string field keeps the volume up: rows are small when encoded.
    let pad = "p".repeat(100);
    for i in 0..200 {
        let lines: String = (0..20).map(|j| format!("m,b={i} v={j}i,s=\"{pad}\" {}\n", i * 100 + j)).collect();
        assert_eq!(write(&e, "db", &lines).status, 204);
    }
    // Log files (`NNNNNNNN.wal`); the trimmed ones are kept as spares.
    let log_files = || {
        let names = std::fs::read_dir(t.store().join("wal")).unwrap().map(|d| d.unwrap().file_name());
        names.filter(|n| n.to_str().is_some_and(|n| n.ends_with(".wal") && !n.starts_with("spare"))).count()
    };
    let before = e.stats().wal_bytes;
    let files_before = log_files();
    e.checkpoint().unwrap();
    let after = e.stats().wal_bytes;
    let files_after = log_files();
    assert!(after < before / 4, "{before} -> {after}");
    assert!(files_after < files_before, "{files_before} -> {files_after}");
    drop(e);
    let e = open(&t.store());
    assert_eq!(all(&e, "db").len(), 4000);
}

#[test]
fn wal_backlog_over_the_limit_is_503_and_stores_nothing() {
    let t = TempDir::new("503");
    let opts = Options { max_wal_bytes: 64 << 10, checkpoint_wal_bytes: u64::MAX, ..small_options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let lines: String = (0..100).map(|j| format!("m v={j}i {j}\n")).collect();
    let mut accepted = 0;
    let r = loop {
        let r = write(&e, "db", &lines);
        if r.status != 204 {
            break r;
        }
        accepted += 1;
        assert!(accepted < 1000);
    };
    assert_eq!(r.status, 503, "{}", r.message);
    assert!(r.retry_after_secs >= 1);
    assert_eq!(e.stats().points, accepted * 100);
    // A checkpoint makes room again.
    e.checkpoint().unwrap();
    assert_eq!(write(&e, "db", &lines).status, 204);
}

#[test]
fn lines_without_time_get_the_write_time_truncated_to_the_precision() {
    let t = TempDir::new("deftime");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    let r = e.write_at("db", b"m f=1\nm g=2 5", Precision::Second, 7_654_321_000);
    assert_eq!(r.status, 204);
    assert_eq!(all(&e, "db"), ["m g=2 5000000000", "m f=1 7000000000"]);
}

#[test]
fn the_store_refuses_a_corrupt_wal_naming_the_file() {
    let t = TempDir::new("corrupt");
    {
        let e = open(&t.store());
        e.create_database("db").unwrap();
        for i in 0..10 {
            assert_eq!(write(&e, "db", &format!("m v={i}i {i}")).status, 204);
        }
    }
    // Damage a record in the middle: records after it prove it was acknowledged.
    let wal = std::fs::read_dir(t.store().join("wal")).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&wal).unwrap();
    let magic = [0xFF, b'W', b'L', 0xFE];
    let records: Vec<usize> = bytes.windows(4).enumerate().filter(|(_, w)| *w == magic).map(|(i, _)| i).collect();
    assert!(records.len() >= 10, "{} records", records.len());
    // Inside the payload of the 5th record (its header is 24 bytes).
    bytes[records[5] + 30] ^= 0x40;
    std::fs::write(&wal, &bytes).unwrap();
    match Engine::open(t.store(), small_options()) {
        Err(OpenError::Corrupt { path, .. }) => assert_eq!(path, wal),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn concurrent_writers_and_readers_never_see_part_of_a_batch() {
    let t = TempDir::new("concurrent");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    const WRITERS: usize = 4;
    const BATCHES: usize = 40;
    const LINES: usize = 25;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let e = &e;
            writers.push(s.spawn(move || {
                for b in 0..BATCHES {
                    // Two measurements and two days per batch, so a batch
                    // spans partitions.
                    let lines: String = (0..LINES)
                        .map(|j| {
                            let m = if j % 2 == 0 { "a" } else { "b" };
                            let day = (j % 3) as i64 * NANOS_PER_DAY;
                            format!("{m},w={w},b={b} v={j}i {}\n", day + j as i64)
                        })
                        .collect();
                    let r = write(e, "db", &lines);
                    assert_eq!(r.status, 204, "{}", r.message);
                }
            }));
        }
        for _ in 0..2 {
            let (e, done) = (&e, &done);
            s.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut per_batch = std::collections::HashMap::<String, usize>::new();
                    e.query("db", None, i64::MIN, i64::MAX, &mut |l| {
                        let l = std::str::from_utf8(l).unwrap();
                        let key = l.split(' ').next().unwrap().split(',').skip(1).collect::<Vec<_>>().join(",");
                        *per_batch.entry(key).or_default() += 1;
                        true
                    });
                    let mut batches = std::collections::HashMap::<String, usize>::new();
                    for (k, n) in per_batch {
                        *batches.entry(k).or_default() += n;
                    }
                    for (k, n) in batches {
                        // Each series key (w, b) appears in both measurements:
                        // all LINES points or none.
                        assert!(n == LINES || n == 0, "batch {k}: {n} of {LINES} points visible");
                    }
                }
            });
        }
        let results: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in results {
            if let Err(p) = r {
                std::panic::resume_unwind(p);
            }
        }
    });
    assert_eq!(all(&e, "db").len(), WRITERS * BATCHES * LINES);
    drop(e);
    let e = open(&t.store());
    assert_eq!(all(&e, "db").len(), WRITERS * BATCHES * LINES);
}

#[test]
fn writes_from_one_thread_apply_in_order() {
    let t = TempDir::new("order");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    for i in 0..100 {
        assert_eq!(write(&e, "db", &format!("m v={i}i 1")).status, 204);
    }
    assert_eq!(all(&e, "db"), ["m v=99i 1"]);
}

#[test]
fn segments_rotate_at_the_configured_size() {
    let t = TempDir::new("rotate");
    let opts = Options { segment_bytes: 16 << 10, ..small_options() };
    let e = Engine::open(t.store(), opts.clone()).unwrap();
    e.create_database("db").unwrap();
    let pad = "p".repeat(100);
    for i in 0..100 {
        let lines: String = (0..20).map(|j| format!("m,b={i} v={j}i,s=\"{pad}\" {}\n", i * 100 + j)).collect();
        assert_eq!(write(&e, "db", &lines).status, 204);
    }
    let segs: Vec<_> = walk(&t.store().join("data")).into_iter().filter(|p| p.extension().is_some_and(|x| x == "seg")).collect();
    assert!(segs.len() > 3, "{segs:?}");
    e.checkpoint().unwrap();
    drop(e);
    let e = Engine::open(t.store(), opts).unwrap();
    assert_eq!(all(&e, "db").len(), 2000);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_point_a_write_takes_is_reachable_by_a_query() {
    let t = TempDir::new("time-range");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    // The ends of the range (LINE_PROTOCOL.md): both stored, both reachable
    // with end_ns = i64::MAX and start_ns = i64::MIN.
    assert_eq!(write(&e, "db", "m f=1 9223372036854775806\nm f=2 -9223372036854775806").status, 204);
    let got = query(&e, "db", None, i64::MIN, i64::MAX);
    assert_eq!(got, ["m f=2 -9223372036854775806", "m f=1 9223372036854775806"]);
    // One past either end is a 400 that names the line; nothing is stored.
    let before = snapshot_files(&t.store());
    for (lines, line) in [("m f=3 1\nm f=3 9223372036854775807", 2), ("m f=3 -9223372036854775807", 1)] {
        let out = write(&e, "db", lines);
        assert_eq!((out.status, out.error_line), (400, line), "{out:?}");
        assert!(out.message.contains("out of range"), "{}", out.message);
    }
    let s = Precision::Second;
    let out = e.write("db", b"m f=3 9223372037", s);
    assert_eq!(out.status, 400, "{out:?}");
    assert_eq!(snapshot_files(&t.store()), before);
    assert_eq!(all(&e, "db").len(), 2);
}

#[test]
fn a_batch_that_can_never_fit_is_413_and_stores_nothing() {
    let t = TempDir::new("413");
    let lines: String = (0..2000).map(|j| format!("m v={j}i,s=\"{j:030}\" {j}\n")).collect();
    let len = lines.len() as u64;
    // At the limit it is taken; one byte over, 413.
    let opts = Options { max_batch_bytes: len, ..small_options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", &lines).status, 204);
    e.close().unwrap();
    let opts = Options { max_batch_bytes: len - 1, ..small_options() };
    let e = Engine::open(t.store(), opts).unwrap();
    let before = snapshot_files(&t.store());
    let out = write(&e, "db", &lines);
    assert_eq!((out.status, out.retry_after_secs, out.error_line), (413, 0, 0), "{out:?}");
    assert!(out.message.contains("max_batch_bytes") && out.message.contains(&len.to_string()), "{}", out.message);
    assert_eq!(snapshot_files(&t.store()), before);
    assert_eq!(e.stats().writes_rejected, 1);
    e.close().unwrap();

    // A record larger than the whole WAL limit: 413, not a 503 that
    // retrying could never cure; a batch that fits still goes in.
    let opts = Options { max_wal_bytes: 16 << 10, checkpoint_wal_bytes: u64::MAX, ..small_options() };
    let e = Engine::open(t.store(), opts).unwrap();
    let before = all(&e, "db");
    let out = write(&e, "db", &lines);
    assert_eq!((out.status, out.retry_after_secs), (413, 0), "{out:?}");
    assert!(out.message.contains("max_wal_bytes"), "{}", out.message);
    assert_eq!(all(&e, "db"), before);
    assert_eq!(write(&e, "db", "m v=1i 1").status, 204);
}

#[test]
fn stats_count_the_wal_syncs_of_records() {
    let t = TempDir::new("syncs");
    let e = open(&t.store());
    e.create_database("db").unwrap();
    let before = e.stats();
    for i in 0..10 {
        assert_eq!(write(&e, "db", &format!("m f={i} {i}")).status, 204);
    }
    // One writer at a time: one fdatasync per write (a rotation would add
    // one; 10 small records stay in one file).
    let after = e.stats();
    assert_eq!(after.wal_syncs - before.wal_syncs, 10);
    assert_eq!(after.writes_accepted - before.writes_accepted, 10);
    // A rejected write syncs nothing.
    assert_eq!(write(&e, "db", "m f=\"s\" 1").status, 400);
    assert_eq!(e.stats().wal_syncs, after.wal_syncs);
}
