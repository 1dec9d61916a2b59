//! The SHOW statements of the subset, answered as `influxd` answers them:
//! the same series names, columns and order.

use std::collections::BTreeSet;

use crate::columnar::tags;
use crate::influxql::ast::{Expr, KeyFilter, Source};
use crate::rows::escaped_measurement;

use super::expr::{compile, truth, Inputs, PointEnv};
use super::result::Series;
use super::select::StmtError;
use super::store::{Request, Store};
use super::time::{MAX_TIME, MIN_TIME};
use super::value::Value;

fn list(name: &str, columns: &[&str], rows: Vec<Vec<Value>>) -> Series {
    Series {
        name: Some(name.to_owned()),
        tags: Vec::new(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        has_time: false,
        rows,
    }
}

fn strings<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Vec<Vec<Value>> {
    values.into_iter().map(|s| vec![Value::String(s.into().into())]).collect()
}

/// `SHOW DATABASES`: in creation order.
pub fn databases(store: &dyn Store) -> Vec<Series> {
    vec![list("databases", &["name"], strings(store.databases()))]
}

/// `SHOW MEASUREMENTS`.
pub fn measurements(store: &dyn Store) -> Vec<Series> {
    let names = store.measurements();
    if names.is_empty() {
        return Vec::new();
    }
    vec![list("measurements", &["name"], strings(names))]
}

/// The measurements a `FROM` names (all of them without one).
fn sources(store: &dyn Store, from: Option<&Source>) -> Vec<String> {
    let all = store.measurements();
    match from {
        Some(s) => all.into_iter().filter(|m| *m == s.measurement).collect(),
        None => all,
    }
}

/// `SHOW TAG KEYS`: a series per measurement with tags.
pub fn tag_keys(store: &dyn Store, from: Option<&Source>) -> Vec<Series> {
    let mut out = Vec::new();
    for m in sources(store, from) {
        if let Some(meta) = store.meta(&m, MIN_TIME, MAX_TIME) {
            if !meta.tags.is_empty() {
                out.push(list(&m, &["tagKey"], strings(meta.tags)));
            }
        }
    }
    out
}

/// `SHOW FIELD KEYS`: a series per measurement, with each field's type.
pub fn field_keys(store: &dyn Store, from: Option<&Source>) -> Vec<Series> {
    let mut out = Vec::new();
    for m in sources(store, from) {
        if let Some(meta) = store.meta(&m, MIN_TIME, MAX_TIME) {
            if !meta.fields.is_empty() {
                let rows = meta
                    .fields
                    .into_iter()
                    .map(|(f, ty)| vec![Value::String(f.into()), Value::String(ty.name().into())])
                    .collect();
                out.push(list(&m, &["fieldKey", "fieldType"], rows));
            }
        }
    }
    out
}

/// The series keys of a measurement (escaped, without the measurement),
/// sorted: one pass over its blocks' and sealed files' series, no point
/// read. (A series index will answer this without reading blocks.)
fn series_keys(store: &dyn Store, m: &str) -> Result<BTreeSet<Vec<u8>>, StmtError> {
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    // Every series is noted and skipped: no point is read.
    let mut note = |series: &[u8]| {
        if !keys.contains(series) {
            keys.insert(series.to_vec());
        }
        None
    };
    store
        .scan(&Request::new(m, MIN_TIME, MAX_TIME, Some(&[])), &mut note, &mut |_, _, _| true)
        .map_err(StmtError::Store)?;
    Ok(keys)
}

/// The unescaped tags of a series key.
fn tags_of(series: &[u8]) -> Vec<(String, String)> {
    tags::split(series)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&tags::unescape(k)).into_owned(),
                String::from_utf8_lossy(&tags::unescape(v)).into_owned(),
            )
        })
        .collect()
}

/// `SHOW TAG VALUES ... WITH KEY ...`: (key, value) pairs of the series,
/// sorted, a series per measurement.
pub fn tag_values(store: &dyn Store, from: Option<&Source>, filter: &KeyFilter) -> Result<Vec<Series>, StmtError> {
    let re = match filter {
        KeyFilter::Regex(r) | KeyFilter::NotRegex(r) => Some(super::expr::regex(r).map_err(StmtError::Query)?),
        _ => None,
    };
    let wanted = |k: &str| match filter {
        KeyFilter::Eq(x) => k == x,
        KeyFilter::NotEq(x) => k != x,
        KeyFilter::In(xs) => xs.iter().any(|x| x == k),
        KeyFilter::Regex(_) => re.as_ref().is_some_and(|r| r.is_match(k)),
        KeyFilter::NotRegex(_) => re.as_ref().is_some_and(|r| !r.is_match(k)),
    };
    let mut out = Vec::new();
    for m in sources(store, from) {
        let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
        for series in series_keys(store, &m)? {
            pairs.extend(tags_of(&series).into_iter().filter(|(k, _)| wanted(k)));
        }
        if !pairs.is_empty() {
            let rows = pairs.into_iter().map(|(k, v)| vec![Value::String(k.into()), Value::String(v.into())]).collect();
            out.push(list(&m, &["key", "value"], rows));
        }
    }
    Ok(out)
}

/// `SHOW SERIES`: every series key (measurement and tags, escaped as line
/// protocol) whose tags meet the condition, sorted, in one unnamed series.
pub fn series(store: &dyn Store, from: Option<&Source>, condition: Option<&Expr>) -> Result<Vec<Series>, StmtError> {
    let mut rows = Vec::new();
    for m in sources(store, from) {
        let meta = store.meta(&m, MIN_TIME, MAX_TIME).unwrap_or_default();
        let mut inputs = Inputs::default();
        let cond = match condition {
            Some(c) => Some(compile(c, &|n| meta.kind(n), &mut inputs).map_err(StmtError::Query)?),
            None => None,
        };
        let escaped = escaped_measurement(&m);
        for series in series_keys(store, &m)? {
            if let Some(c) = &cond {
                let pairs = tags_of(&series);
                let tag_vals: Vec<Option<std::sync::Arc<str>>> = inputs
                    .tags
                    .iter()
                    .map(|t| pairs.iter().find(|(k, _)| k == t).map(|(_, v)| v.as_str().into()))
                    .collect();
                let fields = vec![Value::Null; inputs.fields.len()];
                if !truth(c, &PointEnv { tags: &tag_vals, fields: &fields }) {
                    continue;
                }
            }
            let mut key = escaped.clone();
            key.push_str(&String::from_utf8_lossy(&series));
            rows.push(vec![Value::String(key.into())]);
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Series { name: None, tags: Vec::new(), columns: vec!["key".into()], has_time: false, rows }])
}
