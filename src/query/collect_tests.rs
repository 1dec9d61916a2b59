//! The orders `collect` asks of a store: newest first for `last()`
//! statements (`collect::latest_only`), series by series when every group
//! has one series; against a store in memory that counts the points it
//! hands out.

use std::cell::{Cell, RefCell};

use crate::rows::{StoredField, StoredValue};
use crate::schema::{ColumnKind, FieldType};

use super::store::{Failure, Meta, Order, PointFn, Request, SeriesFn, Store};
use super::{run, Epoch, Options};

/// A point: series key, time, fields.
type Point = (String, i64, Vec<(&'static str, f64)>);

/// One measurement `m`, tags `host` and `rack`, float fields; points in
/// time order.
struct Mem {
    points: Vec<Point>,
    /// Points handed to the query.
    read: Cell<usize>,
    scans: Cell<usize>,
    /// The orders `scan_listed` was asked for.
    orders: RefCell<Vec<Order>>,
    /// Whether `scan_listed` gives series order when asked (else time
    /// order, which is one).
    honour: Cell<bool>,
}

impl Mem {
    /// Hands `f` a point with the fields `fields` names.
    fn give(&self, slot: u32, p: &Point, fields: Option<&[String]>, f: &mut PointFn<'_>) -> bool {
        let stored: Vec<StoredField<'_>> =
            p.2.iter()
                .filter(|(k, _)| fields.is_none_or(|want| want.iter().any(|w| w == k)))
                .map(|(k, v)| StoredField { key: k.as_bytes(), value: StoredValue::Float(*v) })
                .collect();
        self.read.set(self.read.get() + 1);
        f(slot, p.1, &stored)
    }
}

impl Store for Mem {
    fn databases(&self) -> Vec<String> {
        vec!["db".into()]
    }
    fn measurements(&self) -> Vec<String> {
        vec!["m".into()]
    }
    fn meta(&self, _: &str, _: i64, _: i64) -> Option<Meta> {
        let fields = vec![("v".to_owned(), FieldType::Float), ("w".to_owned(), FieldType::Float)];
        let mut kinds: std::collections::HashMap<String, ColumnKind> =
            fields.iter().map(|(n, _)| (n.clone(), ColumnKind::Field)).collect();
        kinds.insert("host".into(), ColumnKind::Tag);
        kinds.insert("rack".into(), ColumnKind::Tag);
        Some(Meta { tags: vec!["host".into(), "rack".into()], fields, kinds })
    }
    fn scan(&self, r: &Request<'_>, series: &mut SeriesFn<'_>, f: &mut PointFn<'_>) -> Result<(), Failure> {
        self.scans.set(self.scans.get() + 1);
        for p in self.points.iter().filter(|p| p.1 >= r.min && p.1 <= r.max) {
            let Some(slot) = series(p.0.as_bytes()) else { continue };
            if !self.give(slot, p, r.fields, f) {
                break;
            }
        }
        Ok(())
    }
    fn scan_listed(
        &self,
        r: &Request<'_>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
        order: &mut dyn FnMut() -> Order,
    ) -> Result<(), Failure> {
        let listing = Request { fields: Some(&[]), ..*r };
        self.scan(&listing, &mut |s| series(s).and(None), &mut |_, _, _| true)?;
        let chosen = order();
        self.orders.borrow_mut().push(chosen);
        if chosen == Order::Time || !self.honour.get() {
            return self.scan(r, series, f);
        }
        let mut kept: Vec<(u32, &Point)> = Vec::new();
        for p in self.points.iter().filter(|p| p.1 >= r.min && p.1 <= r.max) {
            if let Some(slot) = series(p.0.as_bytes()) {
                kept.push((slot, p));
            }
        }
        kept.sort_by_key(|(slot, p)| (*slot, p.1));
        for (slot, p) in kept {
            if !self.give(slot, p, r.fields, f) {
                break;
            }
        }
        Ok(())
    }
    fn span(&self, _: &str, min: i64, max: i64) -> Option<(i64, i64)> {
        let times = self.points.iter().map(|p| p.1).filter(|t| *t >= min && *t <= max);
        Some((times.clone().min()?, times.max()?))
    }
}

fn ask(store: &Mem, q: &str) -> String {
    let mut out = Vec::new();
    let ran = run(Some(store), "db", q, Options { now_ns: 0, epoch: Epoch::Divisor(1) }, &mut |b| {
        out.extend_from_slice(b);
        true
    });
    assert_eq!(ran.status, 200, "{}", ran.message);
    String::from_utf8(out).unwrap()
}

/// Hosts a and b (rack 1) report v every second up to 10,000; c (rack 2)
/// stopped at 40; d (rack 2) has v until 50, then only w.
fn store() -> Mem {
    let mut points = Vec::new();
    for t in 1..=10_000i64 {
        let x = t as f64;
        points.push((",host=a,rack=1".to_owned(), t, vec![("v", x)]));
        points.push((",host=b,rack=1".to_owned(), t, vec![("v", -x)]));
        if t <= 40 {
            points.push((",host=c,rack=2".to_owned(), t, vec![("v", x * 10.0)]));
        }
        let d = if t <= 50 { vec![("v", x * 100.0), ("w", 1.0)] } else { vec![("w", x)] };
        points.push((",host=d,rack=2".to_owned(), t, d));
    }
    Mem { points, read: Cell::new(0), scans: Cell::new(0), orders: RefCell::new(Vec::new()), honour: Cell::new(true) }
}

#[test]
fn last_reads_the_newest_stretch_first_and_widens_for_the_groups_it_lacks() {
    let s = store();
    let total = s.points.len();
    // Every group's newest point with v, however far back it is.
    let out = ask(&s, "SELECT last(v) FROM m GROUP BY host");
    for (host, time, v) in [("a", 10_000, "10000"), ("b", 10_000, "-10000"), ("c", 40, "400"), ("d", 50, "5000")] {
        let want =
            format!("\"tags\":{{\"host\":\"{host}\"}},\"columns\":[\"time\",\"last\"],\"values\":[[{time},{v}]]");
        assert!(out.contains(&want), "{want} in {out}");
    }
    // c and d need the oldest stretch: everything was read in the end.
    assert!(s.scans.get() > 2, "series first, then stretches: {} scans", s.scans.get());
    // Of hosts whose newest points hold v, only a stretch is read.
    s.read.set(0);
    let out = ask(&s, "SELECT last(v) FROM m WHERE host = 'a' OR host = 'b' GROUP BY host");
    assert!(out.contains("[[10000,10000]]") && out.contains("[[10000,-10000]]"), "{out}");
    assert!(s.read.get() < total / 20, "{} of {total} points read", s.read.get());
    // Without GROUP BY: one group of all four hosts.
    let out = ask(&s, "SELECT last(w) FROM m");
    assert!(out.contains("[[10000,10000]]"), "{out}");
    // Not only last(): every point is read, as before.
    s.read.set(0);
    ask(&s, "SELECT last(v), first(v) FROM m GROUP BY host");
    assert!(s.read.get() >= total, "{} of {total}", s.read.get());
}

#[test]
fn points_come_series_by_series_only_when_every_group_has_one_series() {
    let s = store();
    // One series a group: series order, and the same answer as in time
    // order.
    let by_host = "SELECT mean(v), count(w), first(v), last(w), median(v) FROM m GROUP BY time(1000s), host";
    // Asked in series order, answered as in time order.
    let series_order_answers_as_time_order = |q: &str| {
        let out = ask(&s, q);
        assert_eq!(s.orders.take(), vec![Order::Series], "{q}");
        s.honour.set(false);
        assert_eq!(ask(&s, q), out, "{q}");
        s.honour.set(true);
        s.orders.take();
    };
    series_order_answers_as_time_order(by_host);
    series_order_answers_as_time_order("SELECT v, w FROM m WHERE time > 9990 GROUP BY *");
    // Two series a rack: time order.
    let out = ask(&s, "SELECT count(v) FROM m WHERE time <= 25 GROUP BY time(10ns), rack");
    assert_eq!(s.orders.take(), vec![Order::Time]);
    let windows = "\"values\":[[0,18],[10,20],[20,12]]";
    assert_eq!(out.matches(windows).count(), 2, "{out}");
    // Unless a tag condition leaves one.
    ask(&s, "SELECT mean(v) FROM m WHERE host = 'a' OR host = 'c' GROUP BY time(1000s), rack");
    assert_eq!(s.orders.take(), vec![Order::Series]);
    // Without GROUP BY a tag, one scan and no listing.
    s.scans.set(0);
    ask(&s, "SELECT mean(v) FROM m GROUP BY time(1000s)");
    assert_eq!(s.scans.get(), 1);
    assert!(s.orders.take().is_empty());
}

#[test]
fn a_window_found_from_the_last_is_the_one_computed() {
    use super::collect::window_of;
    use super::time::window_start;
    let times = [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + 30,
        i64::MIN + 59,
        -1_000_000_007,
        -61,
        -60,
        -1,
        0,
        1,
        59,
        60,
        61,
        3_599,
        1 << 62,
        i64::MAX,
    ];
    for (interval, offset) in [(60, 0), (60, 7), (60, -7), (3_600, 1_800), (1, 0), (i64::MAX, 0), (1 << 62, -5)] {
        for &prev in &times {
            let last = window_start(prev, interval, offset);
            for &t in times.iter().filter(|&&t| t >= prev) {
                let want = window_start(t, interval, offset);
                assert_eq!(
                    window_of(Some((interval, offset)), Some(last), t),
                    want,
                    "{t} after {prev} by {interval}+{offset}"
                );
                assert_eq!(window_of(Some((interval, offset)), None, t), want);
            }
        }
    }
    assert_eq!(window_of(None, Some(5), 7), i64::MIN);
}

#[test]
fn names_compare_equal_only_when_equal() {
    use super::collect::same;
    let names: [&[u8]; 9] = [
        b"",
        b"a",
        b"usage_u",
        b"usage_us",
        b"usage_use",
        b"usage_user",
        b"usage_usex",
        b"xsage_user",
        b"usage_guest_nice_x",
    ];
    for a in names {
        for b in names {
            assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
        }
    }
    assert!(!same(b"usage_user_0000x", b"usage_user_0000y"));
    assert!(!same(b"xsage_user_00000", b"usage_user_00000"));
}
