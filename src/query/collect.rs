//! The scan of a SELECT: each series key of the measurement asked once
//! (its tags parsed, its group found, the condition's tag-only part
//! tested: a series that fails it is skipped unread), then each point of
//! a kept series tested against the rest of the condition and put in its
//! group: a raw row, or its values added to the accumulators of its
//! window.

use std::collections::HashMap;
use std::sync::Arc;

use crate::columnar::tags;

use super::accumulate::Acc;
use super::expr::{eval, truth, Node, PointEnv};
use super::plan::Plan;
use super::select::StmtError;
use super::store::{Failure, Order, Request, Store};
use super::time::window_start;
use super::value::Value;

/// One group's points, as the scan left them.
#[derive(Default)]
pub(super) struct Group {
    pub key: Vec<String>,
    /// Raw rows (time first).
    pub rows: Vec<Vec<Value>>,
    /// The windows that had points, in time order (one, starting at
    /// `i64::MIN`, without `GROUP BY time`), with each call's accumulator.
    pub windows: Vec<(i64, Vec<Acc>)>,
}

impl Group {
    fn has_points(&self) -> bool {
        !self.rows.is_empty() || !self.windows.is_empty()
    }
}

/// A series the scan keeps: its tags (those the statement reads) and its
/// group.
struct SeriesInfo {
    tags: Vec<Option<Arc<str>>>,
    group: usize,
}

/// What the series callback learns, shared with the point callback.
#[derive(Default)]
struct Seen {
    series: Vec<SeriesInfo>,
    /// Group keys (the grouped tags' values), by group index.
    groups: Vec<Vec<String>>,
    /// The number of kept series of each group.
    members: Vec<u32>,
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
        let mut tags: Vec<Option<Arc<str>>> = vec![None; p.inputs.tags.len()];
        if !tags.is_empty() {
            let Some(pairs) = tags::split(series) else {
                self.bad_series = true;
                return None;
            };
            for (k, v) in pairs {
                let k = unescaped(k);
                if let Some(i) = p.inputs.tags.iter().position(|t| t.as_bytes() == &*k) {
                    tags[i] = Some(String::from_utf8_lossy(&unescaped(v)).into());
                }
            }
        }
        let keep = p.series_condition.as_ref().is_none_or(|c| truth(c, &PointEnv { tags: &tags, fields: &[] }));
        let slot = if keep {
            let key: Vec<String> = p.group_at.iter().map(|&i| tags[i].as_deref().unwrap_or("").to_owned()).collect();
            let group = match self.by_key.get(&key) {
                Some(&g) => g,
                None => {
                    self.groups.push(key.clone());
                    self.members.push(0);
                    self.by_key.insert(key, self.groups.len() - 1);
                    self.groups.len() - 1
                }
            };
            self.members[group] += 1;
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
pub(super) fn collect(store: &dyn Store, p: &Plan) -> Result<Vec<Group>, StmtError> {
    let nfields = p.inputs.fields.len();
    let mut field_vals = vec![Value::Null; nfields];
    let seen = std::cell::RefCell::new(Seen::default());
    let groups: std::cell::RefCell<Vec<Group>> = std::cell::RefCell::new(Vec::new());
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
        let mut groups = groups.borrow_mut();
        while groups.len() <= info.group {
            groups.push(Group::default());
        }
        let group = &mut groups[info.group];
        if p.is_aggregate() {
            if p.calls.iter().all(|c| field_vals[c.field].is_null()) {
                return true;
            }
            // A group's points come in time order (all points do, or its
            // one series' do): a point's window is the last one or a new
            // one after it.
            let ws = window_of(p.window, group.windows.last().map(|w| w.0), time);
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
    let (lower, upper) = (p.range.lower(), p.range.upper());
    let r = Request { tags: &p.tag_values, ..Request::new(&p.measurement, lower, upper, Some(&p.inputs.fields)) };
    if latest_only(p) {
        // Newest first, in ever longer stretches, until every group of a
        // kept series has every call's point: anything older would lose
        // to it (`Store::scan_newest_first`, one snapshot throughout).
        let mut enough = || all_picked(&seen.borrow(), &groups.borrow());
        store.scan_newest_first(&r, &mut series_fn, &mut point_fn, &mut enough)
    } else if p.group_at.is_empty() {
        store.scan(&r, &mut series_fn, &mut point_fn)
    } else {
        // Grouped by tags: when every group has one series, a group's
        // points in series order are in time order (and series order
        // sorts far less), so the series are listed first.
        let mut order = || {
            if seen.borrow().members.iter().all(|&n| n <= 1) {
                Order::Series
            } else {
                Order::Time
            }
        };
        store.scan_listed(&r, &mut series_fn, &mut point_fn, &mut order)
    }
    .map_err(StmtError::Store)?;
    let seen = seen.into_inner();
    let mut groups = groups.into_inner();
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

/// The start of the window of a point at `time` (`i64::MIN` without
/// windows), given the start of its group's last window: the same one
/// when `time` is in it, found without a division.
pub(super) fn window_of(window: Option<(i64, i64)>, last: Option<i64>, time: i64) -> i64 {
    match (window, last) {
        (None, _) => i64::MIN,
        // (A last start of the least time may be one clamped: not a real
        // window's start.)
        (Some((interval, _)), Some(last))
            if last != i64::MIN && time >= last && time.checked_sub(last).is_some_and(|d| d < interval) =>
        {
            last
        }
        (Some((interval, offset)), _) => window_start(time, interval, offset),
    }
}

/// Whether a statement can be answered newest first: every call is
/// `last` and there are no windows, so a group's answer is its newest
/// point with each field, and the points of a stretch decide it for every
/// group that has one there (ties are within a stretch: its order of
/// equal times is the full scan's). Nor does it need time order across
/// series: of equal times the first seen wins, and `Store::scan_newest_first`
/// gives those in the order a time-ordered scan does.
fn latest_only(p: &Plan) -> bool {
    p.window.is_none() && !p.calls.is_empty() && p.calls.iter().all(|c| c.func == super::aggregate::Func::Last)
}

/// Whether every group of a kept series has every call's point.
fn all_picked(seen: &Seen, groups: &[Group]) -> bool {
    seen.series.iter().all(|s| {
        groups
            .get(s.group)
            .and_then(|g| g.windows.last())
            .is_some_and(|(_, accs)| accs.iter().all(super::accumulate::Acc::has_pick))
    })
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
            if same(last, key) {
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

/// Whether two names are equal: short ones (most) compared as two
/// words each, without a call to `memcmp`.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
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
pub(super) fn reads_point(n: &Node) -> bool {
    match n {
        Node::Field(_) | Node::Tag(_) => true,
        Node::Call(_) | Node::Lit(_) => false,
        Node::Arith(_, l, r) | Node::Cmp(_, l, r) | Node::And(l, r) | Node::Or(l, r) => {
            reads_point(l) || reads_point(r)
        }
        Node::Match { node, .. } => reads_point(node),
    }
}
