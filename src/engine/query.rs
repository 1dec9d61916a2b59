//! Queries: stored points in a time range as canonical line protocol (the
//! raw export behind `linedb_query`), one line per merged point of a
//! [`scan`](super::scan).

use crate::rows;

use super::scan::Snapshot;
use super::{Inner, Outcome};

pub fn query(
    inner: &Inner,
    database: &str,
    measurement: Option<&str>,
    start: i64,
    end: i64,
    f: &mut dyn FnMut(&[u8]) -> bool,
) -> Outcome {
    let snap = match Snapshot::take(inner, database, measurement, start, end, false) {
        Ok(s) => s,
        Err(out) => return out,
    };
    if let Err(out) = snap.verify(inner) {
        return out;
    }
    let mut line = Vec::new();
    snap.scan(inner, &mut |p| {
        line.clear();
        rows::write_line(&mut line, p.escaped, p.series, p.fields, p.time);
        f(&line)
    })
}
