//! The newest-first scan of `last()` statements (`collect::latest_only`),
//! against a store in memory that counts the points it hands out.

use std::cell::Cell;

use crate::rows::{StoredField, StoredValue};
use crate::schema::{ColumnKind, FieldType};

use super::store::{Failure, Meta, PointFn, SeriesFn, Store};
use super::{run, Epoch, Options};

/// A point: series key, time, fields.
type Point = (String, i64, Vec<(&'static str, f64)>);

/// One measurement `m`, tag `host`, float fields; points in time order.
struct Mem {
    points: Vec<Point>,
    /// Points handed to the query.
    read: Cell<usize>,
    scans: Cell<usize>,
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
        Some(Meta { tags: vec!["host".into()], fields, kinds })
    }
    fn scan(
        &self,
        _: &str,
        min: i64,
        max: i64,
        fields: Option<&[String]>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
    ) -> Result<(), Failure> {
        self.scans.set(self.scans.get() + 1);
        for (key, time, values) in self.points.iter().filter(|p| p.1 >= min && p.1 <= max) {
            let Some(slot) = series(key.as_bytes()) else { continue };
            let stored: Vec<StoredField<'_>> = values
                .iter()
                .filter(|(k, _)| fields.is_none_or(|want| want.iter().any(|w| w == k)))
                .map(|(k, v)| StoredField { key: k.as_bytes(), value: StoredValue::Float(*v) })
                .collect();
            self.read.set(self.read.get() + 1);
            if !f(slot, *time, &stored) {
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

/// Hosts a and b report v every second up to 10,000; c stopped at 40; d
/// has v until 50, then only w.
fn store() -> Mem {
    let mut points = Vec::new();
    for t in 1..=10_000i64 {
        let x = t as f64;
        points.push((",host=a".to_owned(), t, vec![("v", x)]));
        points.push((",host=b".to_owned(), t, vec![("v", -x)]));
        if t <= 40 {
            points.push((",host=c".to_owned(), t, vec![("v", x * 10.0)]));
        }
        let d = if t <= 50 { vec![("v", x * 100.0), ("w", 1.0)] } else { vec![("w", x)] };
        points.push((",host=d".to_owned(), t, d));
    }
    Mem { points, read: Cell::new(0), scans: Cell::new(0) }
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
