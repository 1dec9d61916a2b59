//! Runs a planned SELECT: one scan of the measurement's points in the
//! statement's time bounds, each point tested against the condition and
//! put in its group; then per group the raw rows, or the windows with
//! their aggregates, `fill` and the columns' arithmetic; then `ORDER BY`,
//! `LIMIT`/`OFFSET` and `SLIMIT`/`SOFFSET`.

use std::collections::HashMap;

use crate::columnar::tags;
use crate::influxql::ast::{Fill, Select};
use crate::schema::FieldType;

use super::accumulate::{Acc, Aux};
use super::aggregate::Func;
use super::expr::{eval, truth, Env, Node, PointEnv};
use super::plan::{self, Plan, MAX_WINDOWS};
use super::result::Series;
use super::store::{Failure, Store};
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

/// One group's points, as the scan left them.
#[derive(Default)]
struct Group {
    key: Vec<String>,
    /// Raw rows (time first).
    rows: Vec<Vec<Value>>,
    /// The windows that had points, in time order (one, starting at
    /// `i64::MIN`, without `GROUP BY time`), with each call's accumulator.
    windows: Vec<(i64, Vec<Acc>)>,
}

impl Group {
    fn has_points(&self) -> bool {
        !self.rows.is_empty() || !self.windows.is_empty()
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

/// A series the scan keeps: its tags (those the statement reads) and its
/// group.
struct SeriesInfo {
    tags: Vec<Option<String>>,
    group: usize,
}

/// What the series callback learns, shared with the point callback.
#[derive(Default)]
struct Seen {
    series: Vec<SeriesInfo>,
    /// Group keys (the grouped tags' values), by group index.
    groups: Vec<Vec<String>>,
    by_key: HashMap<Vec<String>, usize>,
    /// Every series key asked about, with its slot (or none: skipped).
    known: HashMap<Vec<u8>, Option<u32>>,
    bad_series: bool,
}

impl Seen {
    /// The slot of a series key: its tags parsed once, its group found,
    /// and the condition's tag-only part tested (a series that fails it is
    /// skipped before any of its points is read).
    fn slot(&mut self, p: &Plan, series: &[u8]) -> Option<u32> {
        if let Some(s) = self.known.get(series) {
            return *s;
        }
        let mut tags: Vec<Option<String>> = vec![None; p.inputs.tags.len()];
        if !tags.is_empty() {
            let Some(pairs) = tags::split(series) else {
                self.bad_series = true;
                return None;
            };
            for (k, v) in pairs {
                let k = unescaped(k);
                if let Some(i) = p.inputs.tags.iter().position(|t| t.as_bytes() == &*k) {
                    tags[i] = Some(String::from_utf8_lossy(&unescaped(v)).into_owned());
                }
            }
        }
        let keep = p.series_condition.as_ref().is_none_or(|c| truth(c, &PointEnv { tags: &tags, fields: &[] }));
        let slot = if keep {
            let key: Vec<String> = p.group_at.iter().map(|&i| tags[i].clone().unwrap_or_default()).collect();
            let group = match self.by_key.get(&key) {
                Some(&g) => g,
                None => {
                    self.groups.push(key.clone());
                    self.by_key.insert(key, self.groups.len() - 1);
                    self.groups.len() - 1
                }
            };
            self.series.push(SeriesInfo { tags, group });
            u32::try_from(self.series.len() - 1).ok()
        } else {
            None
        };
        self.known.insert(series.to_vec(), slot);
        slot
    }
}

/// Scans the points into their groups, sorted by the grouped tags' values.
/// Only the fields the statement reads are read, and only the series its
/// tag conditions keep.
fn collect(store: &dyn Store, p: &Plan) -> Result<Vec<Group>, StmtError> {
    let nfields = p.inputs.fields.len();
    let mut field_vals = vec![Value::Null; nfields];
    let seen = std::cell::RefCell::new(Seen::default());
    let mut groups: Vec<Group> = Vec::new();
    let raw_fields: Vec<usize> = (0..nfields).filter(|i| p.columns.iter().any(|c| reads(c, *i))).collect();
    let with_aux = p.is_aggregate() && p.columns.iter().any(reads_point);
    let mut series_fn = |series: &[u8]| seen.borrow_mut().slot(p, series);
    let mut field_map = FieldMap::default();
    let mut point_fn = |slot: u32, time: i64, fields: &[crate::rows::StoredField<'_>]| {
        for v in field_vals.iter_mut() {
            *v = Value::Null;
        }
        for (k, f) in fields.iter().enumerate() {
            if let Some(i) = field_map.input(p, k, f.key) {
                field_vals[i] = Value::from_stored(&f.value);
            }
        }
        let seen = seen.borrow();
        let Some(info) = seen.series.get(slot as usize) else { return true };
        let env = PointEnv { tags: &info.tags, fields: &field_vals };
        if let Some(c) = &p.point_condition {
            if !truth(c, &env) {
                return true;
            }
        }
        while groups.len() <= info.group {
            groups.push(Group::default());
        }
        let group = &mut groups[info.group];
        if p.is_aggregate() {
            if p.calls.iter().all(|c| field_vals[c.field].is_null()) {
                return true;
            }
            // Points come in time order: a point's window is the last one
            // or a new one after it.
            let ws = p.window.map_or(i64::MIN, |(interval, offset)| window_start(time, interval, offset));
            if group.windows.last().is_none_or(|w| w.0 != ws) {
                group.windows.push((ws, p.calls.iter().map(|c| Acc::new(c.func)).collect()));
            }
            let Some((_, accs)) = group.windows.last_mut() else { return true };
            for (acc, c) in accs.iter_mut().zip(&p.calls) {
                let v = &field_vals[c.field];
                if !v.is_null() {
                    acc.add(c.func, time, v, with_aux, &mut || (info.tags.clone(), field_vals.clone()));
                }
            }
        } else if raw_fields.iter().any(|&i| !field_vals[i].is_null()) {
            let mut row = Vec::with_capacity(p.columns.len() + 1);
            row.push(Value::Integer(time));
            row.extend(p.columns.iter().map(|c| eval(c, &env)));
            group.rows.push(row);
        }
        true
    };
    let scanned = store.scan(
        &p.measurement,
        p.range.lower(),
        p.range.upper(),
        Some(&p.inputs.fields),
        &mut series_fn,
        &mut point_fn,
    );
    scanned.map_err(StmtError::Store)?;
    let seen = seen.into_inner();
    if seen.bad_series {
        return Err(StmtError::Store(Failure {
            status: 500,
            message: "a stored series key does not split into tags".into(),
        }));
    }
    // Groups whose series had no point left get none.
    for (g, key) in groups.iter_mut().zip(seen.groups) {
        g.key = key;
    }
    groups.retain(Group::has_points);
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(groups)
}

/// Which input field a point's k-th stored field is, remembered per
/// position: points mostly have the same fields as the one before, so a
/// key is compared with the last key at its position (one short compare)
/// before it is looked up among the inputs.
#[derive(Default)]
struct FieldMap {
    /// Per position: the last (escaped) key seen there, and its input.
    at: Vec<(Vec<u8>, Option<usize>)>,
}

impl FieldMap {
    fn input(&mut self, p: &Plan, k: usize, key: &[u8]) -> Option<usize> {
        if let Some((last, input)) = self.at.get(k) {
            if last.as_slice() == key {
                return *input;
            }
        }
        let name = unescaped(key);
        let input = p.inputs.fields.iter().position(|t| t.as_bytes() == &*name);
        if self.at.len() <= k {
            self.at.resize(k + 1, (Vec::new(), None));
        }
        self.at[k] = (key.to_vec(), input);
        input
    }
}

/// A stored (escaped) name without its escapes, borrowed when it has none.
fn unescaped(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if name.contains(&b'\\') {
        std::borrow::Cow::Owned(tags::unescape(name))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

fn reads(n: &Node, field: usize) -> bool {
    match n {
        Node::Field(i) => *i == field,
        Node::Tag(_) | Node::Call(_) | Node::Lit(_) => false,
        Node::Arith(_, l, r) | Node::Cmp(_, l, r) | Node::And(l, r) | Node::Or(l, r) => {
            reads(l, field) || reads(r, field)
        }
        Node::Match { node, .. } => reads(node, field),
    }
}

/// Whether a column reads a point's tags or fields outside calls.
fn reads_point(n: &Node) -> bool {
    match n {
        Node::Field(_) | Node::Tag(_) => true,
        Node::Call(_) | Node::Lit(_) => false,
        Node::Arith(_, l, r) | Node::Cmp(_, l, r) | Node::And(l, r) | Node::Or(l, r) => {
            reads_point(l) || reads_point(r)
        }
        Node::Match { node, .. } => reads_point(node),
    }
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
    fn field(&self, i: usize) -> &Value {
        self.point.and_then(|p| p.1.get(i)).unwrap_or(&NULL)
    }
    fn call(&self, i: usize) -> &Value {
        self.calls.get(i).unwrap_or(&NULL)
    }
}

/// The start of the window `t` falls in: windows are `interval` long,
/// aligned to the epoch plus `offset`.
pub fn window_start(t: i64, interval: i64, offset: i64) -> i64 {
    let (t, i, o) = (i128::from(t), i128::from(interval), i128::from(offset));
    let start = t - (t - o).rem_euclid(i);
    i64::try_from(start).unwrap_or(if start < 0 { i64::MIN } else { i64::MAX })
}

/// One window's result before `fill`: per call its value (`None`: the
/// window had no value for it), and what the first call chose.
struct Slot {
    time: i64,
    values: Vec<Option<Value>>,
    /// The tags and fields of the point a lone selector chose.
    point: Option<Aux>,
    /// For `distinct`: every distinct value (one row each).
    distinct: Vec<Value>,
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

/// `fill(...)` of the windows without a value for a call.
fn fill(p: &Plan, slots: &mut [Slot]) {
    if p.window.is_none() {
        return;
    }
    for (ci, call) in p.calls.iter().enumerate() {
        match &p.fill {
            Fill::Default | Fill::Null | Fill::None => {}
            Fill::Number(_) | Fill::Integer(_) => {
                let x = match p.fill {
                    Fill::Integer(n) => n as f64,
                    Fill::Number(x) => x,
                    _ => 0.0,
                };
                // The number as the call's type (an integer cut toward
                // zero, as Go converts); a string or boolean call gets its
                // type's zero value, as influxd fills it.
                // A string or boolean call with no point in the whole
                // series gets the number as written (influxd's fill then
                // sees no string iterator).
                let output = match call.output {
                    Some(FieldType::String | FieldType::Boolean) if !present(slots, ci) => None,
                    other => other,
                };
                let v = match output {
                    // Go's conversion: toward zero, saturating here.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(FieldType::Integer) => Value::Integer(x as i64),
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(FieldType::UInteger) => Value::Unsigned(x as u64),
                    Some(FieldType::String) => Value::String(String::new()),
                    Some(FieldType::Boolean) => Value::Boolean(false),
                    Some(FieldType::Float) | None => match p.fill {
                        Fill::Integer(n) => Value::Integer(n),
                        _ => Value::Float(x),
                    },
                };
                fill_with(slots, ci, &v);
            }
            Fill::Previous => {
                // "Previous" in the order the rows go out.
                let mut prev: Option<Value> = None;
                let order: Box<dyn Iterator<Item = &mut Slot>> =
                    if p.descending { Box::new(slots.iter_mut().rev()) } else { Box::new(slots.iter_mut()) };
                for s in order {
                    match &s.values[ci] {
                        Some(v) => prev = Some(v.clone()),
                        None => s.values[ci] = prev.clone(),
                    }
                }
            }
            Fill::Linear => linear(slots, ci, p.window.map_or(1, |w| w.0)),
        }
    }
}

/// Whether call `ci` has a value in any window of the series.
fn present(slots: &[Slot], ci: usize) -> bool {
    slots.iter().any(|s| s.values[ci].is_some())
}

fn fill_with(slots: &mut [Slot], ci: usize, v: &Value) {
    for s in slots.iter_mut() {
        if s.values[ci].is_none() {
            s.values[ci] = Some(v.clone());
        }
    }
}

/// Linear fill: an empty window between two with numbers gets the value
/// on the line between them, computed as influxd computes it (in window
/// numbers: slope times distance plus start, in floats; cut toward zero
/// for integers).
fn linear(slots: &mut [Slot], ci: usize, interval: i64) {
    let known: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].values[ci].is_some()).collect();
    for pair in known.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (Some(va), Some(vb)) = (slots[a].values[ci].clone(), slots[b].values[ci].clone()) else {
            continue;
        };
        // In window numbers (time / interval, cut toward zero), as influxd.
        let (ta, tb) = (slots[a].time / interval, slots[b].time / interval);
        for s in slots.iter_mut().take(b).skip(a + 1) {
            let x = (s.time / interval - ta) as f64;
            s.values[ci] = match (&va, &vb) {
                (Value::Integer(y0), Value::Integer(y1)) => {
                    let m = (y1 - y0) as f64 / (tb - ta) as f64;
                    // Cut toward zero, as influxd's int64(); between two
                    // i64 values, so in range.
                    #[allow(clippy::cast_possible_truncation)]
                    let y = (m * x + *y0 as f64) as i64;
                    Some(Value::Integer(y))
                }
                _ => match (va.as_f64(), vb.as_f64()) {
                    (Some(y0), Some(y1)) => {
                        let m = (y1 - y0) / (tb - ta) as f64;
                        Some(Value::Float(m * x + y0))
                    }
                    _ => None,
                },
            };
        }
    }
}
