//! Runs a planned SELECT: the scan (`collect`), then per group the raw
//! rows, or the windows with their aggregates, `fill` and the columns'
//! arithmetic; then `ORDER BY`, `LIMIT`/`OFFSET` and `SLIMIT`/`SOFFSET`.

use crate::influxql::ast::{Fill, Select};

use super::accumulate::{Acc, Aux};
use super::aggregate::Func;
use super::collect::collect;
use super::expr::{eval, Env};
use super::fill::{fill, present, Slot};
use super::plan::{self, Plan, MAX_WINDOWS};
use super::result::Series;
use super::store::{Failure, Store};
use super::time::window_start;
use super::value::Value;

/// Why a statement did not answer rows.
#[derive(Debug)]
pub enum StmtError {
    /// The statement's own error, answered inside the JSON.
    Query(String),
    /// Reading the store failed: the whole call answers it.
    Store(Failure),
}

impl From<String> for StmtError {
    fn from(s: String) -> Self {
        StmtError::Query(s)
    }
}

pub fn select(store: &dyn Store, s: &Select, now: i64) -> Result<Vec<Series>, StmtError> {
    let (cond, range) = plan::bounds(s, now)?;
    let has_window = s.dimensions.iter().any(|d| matches!(d, crate::influxql::ast::Dimension::Time { .. }));
    let upper = if has_window { range.max.unwrap_or(now) } else { range.upper() };
    let meta = if range.lower() <= upper { store.meta(&s.from.measurement, range.lower(), upper) } else { None };
    // Planned even when nothing is in range: a statement's own errors
    // (an aggregate mixed with fields, an unknown function) are answered
    // whatever the data, as influxd checks them first.
    let p = plan::plan(s, meta.as_ref().unwrap_or(&super::store::Meta::default()), now, range, cond.as_ref())?;
    if meta.is_none() {
        return Ok(Vec::new());
    }
    let mut groups = collect(store, &p)?;
    // SOFFSET and SLIMIT count series in tag order; ORDER BY time DESC
    // then reverses the series too, as influxd does.
    groups.drain(..p.soffset.min(groups.len()));
    if p.slimit > 0 {
        groups.truncate(p.slimit);
    }
    if p.descending {
        groups.reverse();
    }
    let mut out = Vec::with_capacity(groups.len());
    let mut budget = MAX_WINDOWS;
    for g in groups {
        let mut rows = if p.is_aggregate() {
            windows(&p, g.windows, &mut budget)?
        } else {
            let mut rows = g.rows;
            if p.descending {
                rows.reverse();
            }
            limit(&mut rows, p.offset, p.limit);
            rows
        };
        if rows.is_empty() {
            continue;
        }
        rows.shrink_to_fit();
        let mut columns = Vec::with_capacity(p.names.len() + 1);
        columns.push("time".to_owned());
        columns.extend(p.names.iter().cloned());
        out.push(Series {
            name: Some(p.measurement.clone()),
            tags: p.group_tags.iter().cloned().zip(g.key).collect(),
            columns,
            has_time: true,
            rows,
        });
    }
    Ok(out)
}

/// Call values of a window, with the tags and fields of a selected point.
struct WindowEnv<'a> {
    calls: &'a [Value],
    point: Option<&'a Aux>,
}

static NULL: Value = Value::Null;

impl Env for WindowEnv<'_> {
    fn tag(&self, i: usize) -> Option<&str> {
        self.point?.0.get(i)?.as_deref()
    }
    fn tag_value(&self, i: usize) -> Value {
        self.point.and_then(|p| p.0.get(i)).and_then(Clone::clone).map_or(Value::Null, Value::String)
    }
    fn field(&self, i: usize) -> &Value {
        self.point.and_then(|p| p.1.get(i)).unwrap_or(&NULL)
    }
    fn call(&self, i: usize) -> &Value {
        self.calls.get(i).unwrap_or(&NULL)
    }
}

/// The rows of an aggregate group: a row per window (one window without
/// `GROUP BY time`), filled, with the columns evaluated.
fn windows(p: &Plan, accs: Vec<(i64, Vec<Acc>)>, budget: &mut i64) -> Result<Vec<Vec<Value>>, StmtError> {
    let spans: Vec<i64> = match p.window {
        Some((interval, offset)) => {
            let start = match p.range.min {
                Some(min) => window_start(min, interval, offset),
                // No lower bound: from the window of the group's first
                // point, as influxd starts it.
                None => match accs.first() {
                    Some(w) => w.0,
                    None => return Ok(Vec::new()),
                },
            };
            let last = window_start(p.range.upper(), interval, offset);
            let count = (i128::from(last) - i128::from(start)) / i128::from(interval) + 1;
            if count > i128::from(*budget) {
                return Err(StmtError::Query(format!(
                    "GROUP BY time would make more than the {MAX_WINDOWS} windows linedb allows a statement \
                     ({count} in one series): bound the time range or widen the interval"
                )));
            }
            // At most the budget (checked above): fits an i64.
            let count = i64::try_from(count).unwrap_or(MAX_WINDOWS);
            *budget -= count;
            (0..count).map(|k| start + k * interval).collect()
        }
        None => vec![i64::MIN],
    };
    // A lone selector (or the same one written again, which influxd reads
    // once) answers its point's time when there is no GROUP BY time.
    let lone_selector = p.calls[0].func.is_selector()
        && p.calls.iter().all(|c| c.func == p.calls[0].func && c.field == p.calls[0].field);
    let mut accs = accs.into_iter().peekable();
    let mut slots: Vec<Slot> = Vec::with_capacity(spans.len());
    for ws in spans {
        let mut slot = Slot { time: ws, values: Vec::with_capacity(p.calls.len()), point: None, distinct: Vec::new() };
        // Windows with points before the first span (below a lower bound
        // they cannot be) are passed.
        while accs.peek().is_some_and(|w| w.0 < ws) {
            accs.next();
        }
        let here = if accs.peek().is_some_and(|w| w.0 == ws) { accs.next().map(|w| w.1) } else { None };
        let mut chosen = None;
        match here {
            None => slot.values.resize(p.calls.len(), None),
            Some(list) => {
                for (ci, (acc, call)) in list.into_iter().zip(&p.calls).enumerate() {
                    // None: no point (a percentile past the values), as
                    // influxd's reducer emits nothing.
                    let Some(done) = acc.finish(call.func) else {
                        slot.values.push(None);
                        continue;
                    };
                    if ci == 0 {
                        chosen = done.time;
                        slot.point = done.aux;
                        slot.distinct = done.distinct;
                    }
                    slot.values.push(Some(done.value));
                }
            }
        }
        slot.time = match (p.window, chosen) {
            (Some(_), _) => ws,
            (None, Some(t)) if lone_selector => t,
            (None, _) => p.range.min.unwrap_or(0),
        };
        slots.push(slot);
    }
    if slots.iter().all(|s| s.values.iter().all(Option::is_none)) {
        // influxd makes a series of the points its reducers emit: none,
        // no series (whatever the fill).
        return Ok(Vec::new());
    }
    fill(p, &mut slots);
    if p.descending {
        slots.reverse();
    }
    if p.fill == Fill::None && p.calls.len() > 1 {
        // influxd limits each call's points, then joins them by time: a
        // row is kept when any call still has a value there.
        for ci in 0..p.calls.len() {
            let have: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].values[ci].is_some()).collect();
            let end = if p.limit > 0 { p.offset.saturating_add(p.limit) } else { usize::MAX };
            for (rank, &i) in have.iter().enumerate() {
                if rank < p.offset || rank >= end {
                    slots[i].values[ci] = None;
                }
            }
        }
    }
    // Only fill(null) (the default) answers 0 for a count of nothing.
    // (influxd fills the points a call's iterator gives: a count with no
    // point in the whole series stays null, not 0.)
    let zero_counts = matches!(p.fill, Fill::Default | Fill::Null);
    let present: Vec<bool> = (0..p.calls.len()).map(|ci| present(&slots, ci)).collect();
    let mut rows = Vec::with_capacity(slots.len());
    let mut calls = vec![Value::Null; p.calls.len()];
    for slot in &slots {
        let empty = slot.values.iter().all(Option::is_none);
        if empty && (p.window.is_none() || p.fill == Fill::None) {
            continue;
        }
        for (ci, c) in p.calls.iter().enumerate() {
            calls[ci] = match &slot.values[ci] {
                Some(v) => v.clone(),
                None if zero_counts && present[ci] => c.func.empty(),
                None => Value::Null,
            };
        }
        let point = slot.point.as_ref();
        if p.calls.first().is_some_and(|c| c.func == Func::Distinct) && !slot.distinct.is_empty() {
            for v in &slot.distinct {
                calls[0] = v.clone();
                rows.push(row(p, slot.time, &calls, point));
            }
            continue;
        }
        rows.push(row(p, slot.time, &calls, point));
    }
    if !(p.fill == Fill::None && p.calls.len() > 1) {
        limit(&mut rows, p.offset, p.limit);
    }
    Ok(rows)
}

/// `OFFSET` and `LIMIT` (0: none) of a series' rows.
fn limit(rows: &mut Vec<Vec<Value>>, offset: usize, limit: usize) {
    rows.drain(..offset.min(rows.len()));
    if limit > 0 {
        rows.truncate(limit);
    }
}

fn row(p: &Plan, time: i64, calls: &[Value], point: Option<&Aux>) -> Vec<Value> {
    let env = WindowEnv { calls, point };
    let mut row = Vec::with_capacity(p.columns.len() + 1);
    row.push(Value::Integer(time));
    row.extend(p.columns.iter().map(|c| eval(c, &env)));
    row
}
