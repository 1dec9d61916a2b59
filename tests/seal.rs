//! Sealing (issue 14): a sealed partition answers exactly what it answered
//! hot, late writes merge with it, and it takes a fraction of the room.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use linedb::engine::{Engine, Options};

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const DAY: i64 = 86_400_000_000_000;

/// A batch of points over a few measurements, series and days, with every
/// field type, names that need escaping, fields a point sometimes lacks,
/// and points that repeat earlier ones (so merging is exercised).
fn batch(rng: &mut Rng, lines: usize) -> String {
    let mut out = String::new();
    for _ in 0..lines {
        let m = ["cpu", "disk io", "m,x"][rng.below(3) as usize];
        let host = rng.below(6);
        let day = rng.below(3) as i64;
        let t = day * DAY + rng.below(50) as i64 * 1_000_000_000;
        let mut tags = format!("host=h{host}");
        if host.is_multiple_of(2) {
            tags.push_str(",rack\\ id=r\\,1");
        }
        let mut fields = Vec::new();
        if rng.below(4) != 0 {
            fields.push(format!("f={}", rng.below(1000) as f64 / 8.0 - 20.0));
        }
        if rng.below(3) != 0 {
            fields.push(format!("i={}i", rng.below(200) as i64 - 100));
        }
        if rng.below(5) == 0 {
            fields.push(format!("u={}u", rng.next()));
        }
        if rng.below(4) == 0 {
            fields.push(format!("s=\"{}\"", ["ok", "a \\\"q\\\"", "", "x,y=z"][rng.below(4) as usize]));
        }
        if rng.below(3) == 0 {
            fields.push(format!("b={}", rng.below(2) == 0));
        }
        if fields.is_empty() {
            fields.push("i=1i".into());
        }
        let m = m.replace(' ', "\\ ").replace(',', "\\,");
        out.push_str(&format!("{m},{tags} {} {t}\n", fields.join(",")));
    }
    out
}

fn options() -> Options {
    Options { background_sealing: false, ..small_options() }
}

/// Files under `dir` whose names end with `ext`.
fn files_with(dir: &Path, ext: &str) -> usize {
    tree(dir).iter().filter(|p| p.is_file() && p.to_string_lossy().ends_with(ext)).count()
}

/// The most sealed files any one partition directory holds.
fn most_sealed_files(dir: &Path) -> usize {
    let mut per: std::collections::HashMap<std::path::PathBuf, usize> = Default::default();
    for p in tree(dir) {
        if p.to_string_lossy().ends_with(".col") {
            *per.entry(p.parent().unwrap().to_path_buf()).or_default() += 1;
        }
    }
    per.values().copied().max().unwrap_or(0)
}

/// Ranges that cut through days and through the points of a day.
fn ranges() -> Vec<(i64, i64)> {
    vec![(i64::MIN, i64::MAX), (0, DAY), (DAY / 2, DAY + 20_000_000_000), (10_000_000_000, 30_000_000_000), (2 * DAY, 3 * DAY), (5, 6)]
}

fn assert_same(a: &Engine, b: &Engine, when: &str) {
    for (start, end) in ranges() {
        for m in [None, Some("cpu"), Some("disk io")] {
            assert_eq!(query(a, "db", m, start, end), query(b, "db", m, start, end), "{when}: {m:?} [{start}, {end})");
        }
    }
}

#[test]
fn a_sealed_store_answers_what_a_hot_one_answers_through_late_writes_and_reopens() {
    let (ta, tb) = (TempDir::new("seal-a"), TempDir::new("seal-b"));
    let a = Engine::open(ta.store(), options()).unwrap();
    let b = Engine::open(tb.store(), options()).unwrap();
    for e in [&a, &b] {
        e.create_database("db").unwrap();
    }
    let mut rng = Rng(0x5EA1);
    let mut a = a;
    let mut most_seen = 0;
    for round in 0..6 {
        for _ in 0..4 {
            let text = batch(&mut rng, 150);
            assert_eq!(write(&a, "db", &text).status, 204);
            assert_eq!(write(&b, "db", &text).status, 204);
        }
        let sealed = a.compact().unwrap();
        assert!(sealed > 0, "round {round}: nothing sealed");
        assert_same(&a, &b, &format!("round {round}, after compact"));
        // Every partition is sealed, and its segments are gone; a
        // partition holds at most three sealed files (the next seal merges
        // them), and the files merged are gone too.
        assert_eq!(files_with(&ta.store(), ".seg"), 0, "round {round}: {:?}", tree(&ta.store()));
        assert!(files_with(&ta.store(), ".col") >= 9);
        let most = most_sealed_files(&ta.store());
        assert!(most <= 3, "round {round}: a partition holds {most} sealed files");
        most_seen = most_seen.max(most);
        // Late writes to sealed partitions: hot again, merged with them.
        let text = batch(&mut rng, 100);
        assert_eq!(write(&a, "db", &text).status, 204);
        assert_eq!(write(&b, "db", &text).status, 204);
        assert_same(&a, &b, &format!("round {round}, after late writes"));
        if round % 2 == 1 {
            drop(a);
            a = Engine::open(ta.store(), options()).unwrap();
            assert_same(&a, &b, &format!("round {round}, reopened"));
        }
    }
    // Merges happened: partitions reached three files and went back.
    assert_eq!(most_seen, 3);
    // Compacting with nothing new seals nothing.
    a.compact().unwrap();
    assert_eq!(a.compact().unwrap(), 0);
    a.close().unwrap();
    let a = Engine::open(ta.store(), options()).unwrap();
    assert_same(&a, &b, "closed and reopened");
}

#[test]
fn the_background_seals_a_past_day_once_it_is_quiet() {
    let t = TempDir::new("seal-background");
    let opts = Options { seal_past_after: Duration::from_millis(200), ..small_options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let mut rng = Rng(7);
    let text = batch(&mut rng, 500);
    assert_eq!(write(&e, "db", &text).status, 204);
    let before = all(&e, "db");
    // The maintenance thread looks once a second; give it ten.
    let deadline = Instant::now() + Duration::from_secs(10);
    while files_with(&t.store(), ".seg") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(files_with(&t.store(), ".seg"), 0, "{:?}", tree(&t.store()));
    assert_eq!(all(&e, "db"), before);
    drop(e);
    let e = Engine::open(t.store(), Options { background_sealing: false, ..small_options() }).unwrap();
    assert_eq!(all(&e, "db"), before);
}

#[test]
fn a_partition_of_today_is_not_sealed_in_the_background_while_written() {
    // Only compact seals it before it is quiet for `seal_after`.
    let t = TempDir::new("seal-today");
    let opts = Options { seal_past_after: Duration::from_millis(1), ..small_options() };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    assert_eq!(write(&e, "db", &format!("m f=1i {now}")).status, 204);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(files_with(&t.store(), ".col"), 0);
    assert_eq!(e.compact().unwrap(), 1);
    assert_eq!(files_with(&t.store(), ".col"), 1);
    assert_eq!(all(&e, "db"), [format!("m f=1i {now}")]);
}

#[test]
fn a_partition_whose_segment_filled_is_sealed_in_the_background_while_written() {
    // Today's partition, written to all the time: not quiet, but its first
    // segment filled (`segment_bytes`), so it is due at once.
    let t = TempDir::new("seal-full");
    let opts = Options {
        segment_bytes: 64 << 10,
        seal_after: Duration::from_secs(3600),
        seal_past_after: Duration::from_secs(3600),
        ..small_options()
    };
    let e = Engine::open(t.store(), opts).unwrap();
    e.create_database("db").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let now = now - now.rem_euclid(DAY) + 1;
    let mut i = 0i64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while files_with(&t.store(), ".col") == 0 && Instant::now() < deadline {
        let text: String = (0..50).map(|k| format!("m,h=h{k} f={i}i,s=\"{}\" {}\n", "x".repeat(60), now + i * 100 + k)).collect();
        assert_eq!(write(&e, "db", &text).status, 204);
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(files_with(&t.store(), ".col") >= 1, "{:?}", tree(&t.store()));
    let got = all(&e, "db");
    assert_eq!(got.len() as i64, i * 50);
    drop(e);
    let e = Engine::open(t.store(), options()).unwrap();
    assert_eq!(all(&e, "db"), got);
}

#[test]
fn open_refuses_a_segment_of_another_partition_where_a_sealed_away_one_was() {
    // The catalog says segments of day 0 numbered up to 1 were sealed away;
    // a file by that name that names another partition is not the
    // store's to remove: open refuses it and changes nothing.
    let t = TempDir::new("seal-foreign");
    let e = Engine::open(t.store(), options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", &format!("m f=1i 1\nm f=2i {}", DAY + 1)).status, 204);
    assert_eq!(e.compact().unwrap(), 2);
    // A late write to day 1: its new segment, 000002.seg.
    assert_eq!(write(&e, "db", &format!("m f=3i {}", DAY + 2)).status, 204);
    e.close().unwrap();
    let day1 = tree(&t.store()).into_iter().find(|p| p.to_string_lossy().ends_with("1970-01-02/000002.seg")).unwrap();
    let day0 = day1.parent().unwrap().parent().unwrap().join("1970-01-01");
    std::fs::copy(&day1, day0.join("000001.seg")).unwrap();
    let before = snapshot_files(&t.store());
    match Engine::open(t.store(), options()) {
        Err(linedb::error::OpenError::Corrupt { path, .. }) => assert!(path.ends_with("1970-01-01/000001.seg"), "{}", path.display()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_files(&t.store()), before, "a refused open changed files");
    // Without it, the store opens with every point.
    std::fs::remove_file(day0.join("000001.seg")).unwrap();
    let e = Engine::open(t.store(), options()).unwrap();
    assert_eq!(all(&e, "db").len(), 3);
}
