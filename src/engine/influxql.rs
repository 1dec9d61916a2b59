//! InfluxQL's view of one database ([`crate::query::Store`]): its names
//! from the catalog under the state's read lock, its points through
//! verified [`Snapshot`] scans.

use crate::partition::Day;
use crate::line_protocol::{scan, write_escaped_name};
use crate::query::store::{PointFn, SeriesFn};
use crate::query::{Failure, Meta, Store};

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

    fn scan(
        &self,
        measurement: &str,
        min: i64,
        max: i64,
        fields: Option<&[String]>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
    ) -> Result<(), Failure> {
        self.scan_in(measurement, min, max, fields, series, f, false)
    }

    fn scan_by_series(
        &self,
        measurement: &str,
        min: i64,
        max: i64,
        fields: Option<&[String]>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
    ) -> Result<(), Failure> {
        self.scan_in(measurement, min, max, fields, series, f, true)
    }

    fn span(&self, measurement: &str, min: i64, max: i64) -> Option<(i64, i64)> {
        let snap = Snapshot::take(self.inner, self.database, Some(measurement), min, max.saturating_add(1), false).ok()?;
        snap.span()
    }
}

impl DbStore<'_> {
    /// [`Store::scan`], in time order or (`by_series`) series by series in
    /// each partition.
    #[allow(clippy::too_many_arguments)]
    fn scan_in(
        &self,
        measurement: &str,
        min: i64,
        max: i64,
        fields: Option<&[String]>,
        series: &mut SeriesFn<'_>,
        f: &mut PointFn<'_>,
        by_series: bool,
    ) -> Result<(), Failure> {
        let fail = |o: super::Outcome| Failure { status: o.status, message: o.message };
        let end = max.saturating_add(1);
        let snap = Snapshot::take(self.inner, self.database, Some(measurement), min, end, false).map_err(fail)?;
        snap.verify(self.inner).map_err(fail)?;
        // Field keys as rows store them.
        let escaped: Option<Vec<Vec<u8>>> = fields.map(|names| {
            names
                .iter()
                .map(|n| {
                    let mut s = String::new();
                    write_escaped_name(&mut s, n, scan::KEY);
                    s.into_bytes()
                })
                .collect()
        });
        let filter = Filter { fields: escaped.as_deref(), series, by_series };
        let out = snap.scan_with(self.inner, Some(filter), &mut |p, slot| f(slot, p.time, p.fields));
        if out.status == 200 {
            Ok(())
        } else {
            Err(fail(out))
        }
    }
}
