//! InfluxQL's view of one database ([`crate::query::Store`]): its names
//! from the catalog under the state's read lock, its points through
//! verified [`Snapshot`] scans.

use crate::line_protocol::{scan, write_escaped_name};
use crate::partition::Day;
use crate::query::store::{Order, PointFn, Request, SeriesFn};
use crate::query::{Failure, Meta, Store};
use crate::seal::index::TagValues;

use super::scan::{Filter, Snapshot};
use super::Inner;

pub struct DbStore<'a> {
    pub inner: &'a Inner,
    pub database: &'a str,
}

impl Store for DbStore<'_> {
    fn databases(&self) -> Vec<String> {
        let st = self.inner.state.read();
        let mut dbs: Vec<(u32, &String)> = st.dbs.values().map(|d| (d.id, &d.name)).collect();
        dbs.sort();
        dbs.into_iter().map(|(_, n)| n.clone()).collect()
    }

    fn measurements(&self) -> Vec<String> {
        let st = self.inner.state.read();
        let mut names: Vec<String> =
            st.dbs.get(self.database).map(|d| d.tables.keys().cloned().collect()).unwrap_or_default();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names
    }

    fn meta(&self, measurement: &str, min: i64, max: i64) -> Option<Meta> {
        let st = self.inner.state.read();
        let schema = &st.dbs.get(self.database)?.schema;
        let fields = schema.fields_between(measurement, Day::of(min), Day::of(max))?;
        Some(Meta {
            tags: schema.tag_keys(measurement)?,
            fields,
            kinds: schema.kinds(measurement).into_iter().collect(),
        })
    }

    fn scan(&self, r: &Request<'_>, series: &mut SeriesFn<'_>, f: &mut PointFn<'_>) -> Result<(), Failure> {
        let snap = self.snapshot(r.measurement, r.min, r.max)?;
        let escaped = escaped_fields(r.fields);
        let must = tag_values(r);
        let filter = Filter { fields: escaped.as_deref(), series, by_series: false, tags: &must };
        ok(snap.scan_with(self.inner, Some(filter), &mut |p, slot| f(slot, p.time, p.fields)))
    }

    /// One snapshot for the listing and the points: a write between the
    /// two is in neither.
    fn scan_listed(
        &self,
        r: &Request<'_>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
        order: &mut dyn FnMut() -> Order,
    ) -> Result<(), Failure> {
        let snap = self.snapshot(r.measurement, r.min, r.max)?;
        let must = tag_values(r);
        self.list(&snap, &must, series)?;
        let escaped = escaped_fields(r.fields);
        let filter = Filter { fields: escaped.as_deref(), series, by_series: order() == Order::Series, tags: &must };
        ok(snap.scan_with(self.inner, Some(filter), &mut |p, slot| f(slot, p.time, p.fields)))
    }

    /// One snapshot for the series and every stretch: a write between
    /// two stretches is in none of them. Each partition's points come
    /// series by series (`Filter::by_series`), which sorts less.
    fn scan_newest_first(
        &self,
        r: &Request<'_>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
        enough: &mut dyn FnMut() -> bool,
    ) -> Result<(), Failure> {
        let snap = self.snapshot(r.measurement, r.min, r.max)?;
        let must = tag_values(r);
        self.list(&snap, &must, series)?;
        let escaped = escaped_fields(r.fields);
        for (lo, hi) in crate::query::store::stretches(snap.span(), r.min, r.max) {
            let filter = Filter { fields: escaped.as_deref(), series: &mut *series, by_series: true, tags: &must };
            ok(snap.scan_range(self.inner, lo, hi.saturating_add(1), Some(filter), &mut |p, slot| {
                f(slot, p.time, p.fields)
            }))?;
            if enough() {
                break;
            }
        }
        Ok(())
    }
}

impl DbStore<'_> {
    /// A verified snapshot of `measurement` over `[min, max]`.
    fn snapshot(&self, measurement: &str, min: i64, max: i64) -> Result<Snapshot, Failure> {
        let snap = Snapshot::take(self.inner, self.database, Some(measurement), min, max.saturating_add(1), false)
            .map_err(failure)?;
        snap.verify(self.inner).map_err(failure)?;
        Ok(snap)
    }

    /// Asks `series` of every series of `snap` (that may hold the tag
    /// values `must` names), reading no point.
    fn list(&self, snap: &Snapshot, must: &TagValues, series: &mut SeriesFn<'_>) -> Result<(), Failure> {
        let mut ask = |s: &[u8]| series(s).and(None);
        let listing = Filter { fields: Some(&[]), series: &mut ask, by_series: true, tags: must };
        ok(snap.scan_with(self.inner, Some(listing), &mut |_, _| true))
    }
}

/// A scan's outcome as a query takes it.
fn ok(out: super::Outcome) -> Result<(), Failure> {
    if out.status == 200 {
        Ok(())
    } else {
        Err(failure(out))
    }
}

fn failure(o: super::Outcome) -> Failure {
    Failure { status: o.status, message: o.message }
}

/// A request's tag values, as a scan's filter takes them.
fn tag_values(r: &Request<'_>) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    r.tags.iter().map(|(k, vs)| (k.as_bytes().to_vec(), vs.iter().map(|v| v.as_bytes().to_vec()).collect())).collect()
}

/// Field keys as rows store them.
fn escaped_fields(fields: Option<&[String]>) -> Option<Vec<Vec<u8>>> {
    fields.map(|names| {
        names
            .iter()
            .map(|n| {
                let mut s = String::new();
                write_escaped_name(&mut s, n, scan::KEY);
                s.into_bytes()
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::DbStore;
    use crate::engine::{Engine, Options};
    use crate::line_protocol::Precision;
    use crate::query::store::{Order, Request};
    use crate::query::Store;

    /// A fresh store at a temporary directory named after `name`, with
    /// database `db`, sealing only when asked.
    fn open(name: &str) -> (std::path::PathBuf, Engine) {
        let dir = std::env::temp_dir().join(format!("linedb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = Options { no_auth: true, background_sealing: false, ..Options::default() };
        let e = Engine::open(&dir, opts).unwrap();
        e.create_database("db").unwrap();
        (dir, e)
    }

    /// The listing and the points are one snapshot: a series written
    /// while the order is chosen is in neither, nor a point of a listed
    /// series; and series order is series by series, each in time order.
    #[test]
    fn a_listed_scan_reads_one_snapshot_in_the_order_chosen() {
        let (dir, e) = open("listed");
        let early = b"m,host=a v=1 10\nm,host=b v=2 10\nm,host=a v=3 20\nm,host=b v=4 30\n";
        assert_eq!(e.write("db", early, Precision::Nanosecond).status, 204);
        // Half of it sealed, half in segments, with a point written again.
        e.compact().unwrap();
        let late = b"m,host=a v=5 40\nm,host=b v=6 5\nm,host=a v=7 20\n";
        assert_eq!(e.write("db", late, Precision::Nanosecond).status, 204);
        let store = DbStore { inner: &e.inner, database: "db" };
        // The second scan sees what was written during the first (c@15
        // and a@50, values 8 and 9), not what is written during itself
        // (values 18 and 19).
        for (round, order) in [Order::Series, Order::Time].into_iter().enumerate() {
            let listed: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
            let mut series = |key: &[u8]| {
                let mut l = listed.borrow_mut();
                if !l.iter().any(|k| k == key) {
                    l.push(key.to_vec());
                }
                u32::try_from(l.iter().position(|k| k == key)?).ok()
            };
            let mut seen: Vec<(u32, i64, String)> = Vec::new();
            let mut point = |slot: u32, time: i64, fields: &[crate::rows::StoredField<'_>]| {
                seen.push((slot, time, format!("{:?}", fields[0].value)));
                true
            };
            let mut choose = || {
                let during = format!("m,host=c v={} 15\nm,host=a v={} 50\n", 8 + 10 * round, 9 + 10 * round);
                assert_eq!(e.write("db", during.as_bytes(), Precision::Nanosecond).status, 204);
                order
            };
            let r = Request::new("m", 0, 1_000, None);
            store.scan_listed(&r, &mut series, &mut point, &mut choose).unwrap();
            let hosts: &[&[u8]] =
                if round == 0 { &[b",host=a", b",host=b"] } else { &[b",host=a", b",host=b", b",host=c"] };
            assert_eq!(listed.into_inner(), hosts);
            let want: Vec<(u32, i64, &str)> = match order {
                Order::Series => {
                    vec![(0, 10, "1"), (0, 20, "7"), (0, 40, "5"), (1, 5, "6"), (1, 10, "2"), (1, 30, "4")]
                }
                Order::Time => vec![
                    (1, 5, "6"),
                    (0, 10, "1"),
                    (1, 10, "2"),
                    (2, 15, "8"),
                    (0, 20, "7"),
                    (1, 30, "4"),
                    (0, 40, "5"),
                    (0, 50, "9"),
                ],
            };
            let want: Vec<(u32, i64, String)> =
                want.into_iter().map(|(s, t, v)| (s, t, format!("Float({v}.0)"))).collect();
            assert_eq!(seen, want, "{order:?}");
        }
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Of a sealed file, only the series that hold the tag values a
    /// request names are asked about (by the file's tag index); blocks
    /// not sealed yet are asked whole.
    #[test]
    fn a_sealed_files_series_are_asked_by_their_tag_values() {
        let (dir, e) = open("tag-index");
        let lines: String = (0..1_000).map(|i| format!("m,host=h{i:04},rack=r{} v={i} {}\n", i % 10, i + 1)).collect();
        assert_eq!(e.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
        e.compact().unwrap();
        let late = b"m,host=h0007,rack=r7 v=1 2000\nm,host=h0008,rack=r8 v=1 2000\n";
        assert_eq!(e.write("db", late, Precision::Nanosecond).status, 204);
        let store = DbStore { inner: &e.inner, database: "db" };
        let must = [
            ("host".to_owned(), vec!["h0007".to_owned(), "h0500".to_owned()]),
            ("rack".to_owned(), vec!["r7".to_owned(), "r0".to_owned()]),
        ];
        let asked: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
        let mut series = |key: &[u8]| {
            asked.borrow_mut().push(key.to_vec());
            Some(0)
        };
        let mut points = 0;
        let r = Request { tags: &must, ..Request::new("m", 0, 10_000, None) };
        store
            .scan(&r, &mut series, &mut |_, _, _| {
                points += 1;
                true
            })
            .unwrap();
        let mut asked = asked.into_inner();
        asked.sort();
        asked.dedup();
        // The sealed file's two (h0007, h0500), and the block's two
        // (h0007 again, h0008: blocks are not indexed).
        let want: Vec<Vec<u8>> = [",host=h0007,rack=r7", ",host=h0008,rack=r8", ",host=h0500,rack=r0"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        assert_eq!(asked, want);
        assert_eq!(points, 4, "what the series function kept, all of it");
        // The statement finds the same through the engine.
        let q = "SELECT count(v) FROM m WHERE (host = 'h0007' OR host = 'h0500') AND rack != 'x' GROUP BY host";
        let mut body = Vec::new();
        let opts = crate::query::Options { now_ns: 0, epoch: crate::query::Epoch::Divisor(1) };
        let out = e.influxql("db", q, opts, &mut |b| {
            body.extend_from_slice(b);
            true
        });
        assert_eq!(out.status, 200);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("\"host\":\"h0007\"},\"columns\":[\"time\",\"count\"],\"values\":[[0,2]]"), "{text}");
        assert!(text.contains("\"host\":\"h0500\"},\"columns\":[\"time\",\"count\"],\"values\":[[0,1]]"), "{text}");
        assert_eq!(text.matches("\"host\"").count(), 2, "{text}");
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Host c's newest point with `v` is old; between the first stretch
    /// and the next, a client writes c@10000 and then c@9000. The later
    /// stretches read the snapshot taken before: they answer c@40, never
    /// 9000 (which was never c's newest point).
    #[test]
    fn every_stretch_reads_one_snapshot() {
        let (dir, e) = open("newest-first");
        let mut lines = String::new();
        for t in 1..=10_000i64 {
            lines.push_str(&format!("m,host=a v={t} {t}\n"));
            if t <= 40 {
                lines.push_str(&format!("m,host=c v={t} {t}\n"));
            }
        }
        assert_eq!(e.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
        let store = DbStore { inner: &e.inner, database: "db" };
        let newest: RefCell<Vec<(u32, i64)>> = RefCell::new(Vec::new());
        let mut stretches = 0;
        let mut series = |key: &[u8]| Some(u32::from(key == b",host=c"));
        let mut point = |slot: u32, time: i64, _: &[crate::rows::StoredField<'_>]| {
            newest.borrow_mut().push((slot, time));
            true
        };
        let fields = ["v".to_owned()];
        let mut enough = || {
            stretches += 1;
            if stretches == 1 {
                let late = b"m,host=c v=1 10000\nm,host=c v=2 9000\n";
                assert_eq!(e.write("db", late, Precision::Nanosecond).status, 204);
            }
            false
        };
        let r = Request::new("m", 0, i64::MAX - 1, Some(&fields));
        store.scan_newest_first(&r, &mut series, &mut point, &mut enough).unwrap();
        assert!(stretches > 1, "several stretches");
        let seen = newest.into_inner();
        let c: Vec<i64> = seen.iter().filter(|(s, _)| *s == 1).map(|(_, t)| *t).collect();
        assert_eq!(c, (1..=40).collect::<Vec<i64>>(), "host c as the snapshot held it");
        assert_eq!(seen.iter().filter(|(s, _)| *s == 0).count(), 10_000);
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
