//! A SELECT made ready to run against one measurement: its time bounds,
//! the condition left after them, the groups, and its columns expanded
//! (`*`, `mean(*)`), named as `influxd` names them and compiled.

use std::collections::HashSet;

use crate::influxql::ast::{BinOp, Cast, Dimension, Expr, Field, Fill, Select};
use crate::schema::FieldType;

use super::aggregate::Func;
use super::expr::{compile, compile_with, reads_field, Inputs, Node};
use super::store::Meta;
use super::time::{self, TimeRange};
use super::value::Value;

/// One aggregate call of a statement: `func` over a field.
#[derive(Debug)]
pub struct Call {
    pub func: Func,
    /// Index into [`Inputs::fields`].
    pub field: usize,
    /// The type of the values the call answers (a count: integer; a
    /// mean: float; a selector, sum, spread or mode: its field's type),
    /// `None` where the schema does not say. `fill(<number>)` takes it.
    pub output: Option<FieldType>,
}

#[derive(Debug)]
pub struct Plan {
    pub measurement: String,
    pub range: TimeRange,
    /// `GROUP BY time(interval, offset)`.
    pub window: Option<(i64, i64)>,
    /// The conjuncts of the condition that read tags only: tested once per
    /// series, before its points are read.
    pub series_condition: Option<Node>,
    /// The rest, tested per point.
    pub point_condition: Option<Node>,
    /// The tag values the series condition requires, for a store's index
    /// ([`tag_values`]).
    pub tag_values: Vec<(String, Vec<String>)>,
    /// The tag keys grouped by, sorted.
    pub group_tags: Vec<String>,
    /// Their indexes in [`Inputs::tags`].
    pub group_at: Vec<usize>,
    pub inputs: Inputs,
    /// Output column names after `time`.
    pub names: Vec<String>,
    pub columns: Vec<Node>,
    /// Empty for a raw query.
    pub calls: Vec<Call>,
    pub fill: Fill,
    pub descending: bool,
    pub limit: usize,
    pub offset: usize,
    pub slimit: usize,
    pub soffset: usize,
}

impl Plan {
    pub fn is_aggregate(&self) -> bool {
        !self.calls.is_empty()
    }
}

/// The most windows a statement may have, all its series together: a
/// `GROUP BY time(1s)` over years would otherwise build billions of rows
/// (each window costs about a hundred bytes while its answer is built).
pub const MAX_WINDOWS: i64 = 1_000_000;

/// Plans `s` against the measurement's `meta` (`None`: the measurement
/// does not exist in the range: the statement answers nothing).
pub fn plan(s: &Select, meta: &Meta, now: i64, range: TimeRange, condition: Option<&Expr>) -> Result<Plan, String> {
    let window = s.dimensions.iter().find_map(|d| match d {
        Dimension::Time { interval, offset } => Some((*interval, *offset)),
        _ => None,
    });
    if let Some((interval, _)) = window {
        if interval <= 0 {
            return Err("GROUP BY time interval must be positive".into());
        }
    }
    let mut range = range;
    if window.is_some() && range.max.is_none() {
        // influxd: windows run up to now() unless the statement says.
        range.max = Some(now);
    }
    let kind = |name: &str| meta.kind(name);
    let mut group_tags: Vec<String> = Vec::new();
    for d in &s.dimensions {
        match d {
            Dimension::Time { .. } => {}
            Dimension::Tag(k) => group_tags.push(k.clone()),
            Dimension::Wildcard => group_tags.extend(meta.tags.iter().cloned()),
            Dimension::Regex(r) => {
                let re = super::expr::regex(r)?;
                group_tags.extend(meta.tags.iter().filter(|t| re.is_match(t)).cloned());
            }
        }
    }
    group_tags.sort();
    group_tags.dedup();
    let fields = expand(&s.fields, meta, &group_tags)?;
    let names = column_names(&fields);
    let mut inputs = Inputs::default();
    let group_at = group_tags.iter().map(|t| inputs.tag(t)).collect();
    let condition = match condition {
        Some(c) => Some(compile(c, &kind, &mut inputs)?),
        None => None,
    };
    let (series_condition, point_condition) = match condition {
        Some(c) => split_conjuncts(c),
        None => (None, None),
    };
    let has_calls = fields.iter().any(|f| has_call(&f.expr));
    let mut calls: Vec<Call> = Vec::new();
    let mut columns = Vec::with_capacity(fields.len());
    for f in &fields {
        let node = if has_calls {
            compile_with(&f.expr, &kind, &mut inputs, &mut |call, inputs| {
                let Expr::Call { name, args } = call else {
                    return Err(format!("expected a call, found {call}"));
                };
                let (func, arg) = Func::of_call(name, args)?;
                let field = match arg {
                    Expr::Var { name, .. } => {
                        if func.numeric_only() {
                            if let Some(ty @ (FieldType::String | FieldType::Boolean)) = meta.field_type(name) {
                                return Err(format!(
                                    "{}() does not apply to {} field {name:?}",
                                    func.name(),
                                    ty.name()
                                ));
                            }
                        }
                        inputs.field(name)
                    }
                    Expr::Call { name, .. } if name.eq_ignore_ascii_case("distinct") => {
                        return Err("distinct may only be the argument of count".into())
                    }
                    other => return Err(format!("expected field argument in {}(), found {other}", func.name())),
                };
                let output = match func {
                    Func::Count | Func::CountDistinct => Some(FieldType::Integer),
                    Func::Mean | Func::Median | Func::Stddev => Some(FieldType::Float),
                    _ => match arg {
                        Expr::Var { name, .. } => meta.field_type(name),
                        _ => None,
                    },
                };
                calls.push(Call { func, field, output });
                Ok(Node::Call(calls.len() - 1))
            })?
        } else {
            compile(&f.expr, &kind, &mut inputs)?
        };
        columns.push(node);
    }
    if has_calls {
        let aux = columns.iter().any(reads_field_or_tag);
        if calls.iter().any(|c| c.func == Func::Distinct) && (calls.len() > 1 || aux || columns.len() > 1) {
            return Err("aggregate function distinct() cannot be combined with other functions or fields".into());
        }
        if aux && !(calls.len() == 1 && calls[0].func.is_selector()) {
            return Err("mixing aggregate and non-aggregate queries is not supported".into());
        }
    } else if window.is_some() {
        return Err("GROUP BY requires at least one aggregate function".into());
    }
    let to_usize = |n: Option<u64>| n.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    Ok(Plan {
        measurement: s.from.measurement.clone(),
        range,
        window,
        tag_values: series_condition.as_ref().map_or_else(Vec::new, |c| tag_values(c, &inputs.tags)),
        series_condition,
        point_condition,
        group_tags,
        group_at,
        inputs,
        names,
        columns,
        calls,
        fill: s.fill.clone(),
        descending: s.descending,
        limit: to_usize(s.limit),
        offset: to_usize(s.offset),
        slimit: to_usize(s.slimit),
        soffset: to_usize(s.soffset),
    })
}

/// Splits a condition's `AND`ed parts into those that read only tags and
/// the rest, each joined again by `AND`.
fn split_conjuncts(c: Node) -> (Option<Node>, Option<Node>) {
    fn parts(n: Node, out: &mut Vec<Node>) {
        match n {
            Node::And(l, r) => {
                parts(*l, out);
                parts(*r, out);
            }
            other => out.push(other),
        }
    }
    let mut all = Vec::new();
    parts(c, &mut all);
    let (tags, rest): (Vec<Node>, Vec<Node>) = all.into_iter().partition(|n| !reads_field(n));
    let join = |v: Vec<Node>| v.into_iter().reduce(|a, b| Node::And(Box::new(a), Box::new(b)));
    (join(tags), join(rest))
}

/// What a series condition requires of tag values: each conjunct that is
/// `tag = 'v'`, or an `OR` of such of one tag, as (tag, values) (`tags`
/// names the inputs' tags). Every series the condition keeps holds one
/// value of each; other conjuncts are left to the condition.
pub fn tag_values(c: &Node, tags: &[String]) -> Vec<(String, Vec<String>)> {
    fn any_of(n: &Node) -> Option<(usize, Vec<String>)> {
        match n {
            Node::Cmp(BinOp::Eq, a, b) => match (&**a, &**b) {
                (Node::Tag(i), Node::Lit(Value::String(v))) | (Node::Lit(Value::String(v)), Node::Tag(i)) => {
                    Some((*i, vec![v.to_string()]))
                }
                _ => None,
            },
            Node::Or(l, r) => {
                let ((i, mut a), (j, b)) = (any_of(l)?, any_of(r)?);
                (i == j).then(|| {
                    a.extend(b);
                    (i, a)
                })
            }
            _ => None,
        }
    }
    fn walk(n: &Node, tags: &[String], out: &mut Vec<(String, Vec<String>)>) {
        if let Node::And(l, r) = n {
            walk(l, tags, out);
            walk(r, tags, out);
        } else if let Some((i, values)) = any_of(n) {
            if let Some(name) = tags.get(i) {
                out.push((name.clone(), values));
            }
        }
    }
    let mut out = Vec::new();
    walk(c, tags, &mut out);
    out
}

/// Splits a statement's `WHERE` into its time bounds and the rest.
pub fn bounds(s: &Select, now: i64) -> Result<(Option<Expr>, TimeRange), String> {
    match &s.condition {
        Some(c) => time::split(c, now),
        None => Ok((None, TimeRange::default())),
    }
}

fn has_call(e: &Expr) -> bool {
    match e {
        Expr::Call { .. } => true,
        Expr::Binary { lhs, rhs, .. } => has_call(lhs) || has_call(rhs),
        Expr::Paren(inner) => has_call(inner),
        _ => false,
    }
}

fn reads_field_or_tag(n: &Node) -> bool {
    match n {
        Node::Field(_) | Node::Tag(_) => true,
        Node::Call(_) | Node::Lit(_) => false,
        Node::Arith(_, l, r) | Node::Cmp(_, l, r) | Node::And(l, r) | Node::Or(l, r) => {
            reads_field_or_tag(l) || reads_field_or_tag(r)
        }
        Node::Match { node, .. } => reads_field_or_tag(node),
    }
}

/// `*` as every field and tag (but those grouped by) in name order, and
/// `f(*)` as `f` of every field it applies to, named `f_field`.
fn expand(fields: &[Field], meta: &Meta, group_tags: &[String]) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for f in fields {
        match &f.expr {
            Expr::Wildcard => {
                let mut names: Vec<(&str, Cast)> = meta.fields.iter().map(|(n, _)| (n.as_str(), Cast::Field)).collect();
                names.extend(meta.tags.iter().filter(|t| !group_tags.contains(t)).map(|t| (t.as_str(), Cast::Tag)));
                names.sort_by(|a, b| a.0.cmp(b.0));
                out.extend(
                    names
                        .into_iter()
                        .map(|(n, c)| Field { expr: Expr::Var { name: n.to_owned(), cast: Some(c) }, alias: None }),
                );
            }
            Expr::Call { name, args } if matches!(args.first(), Some(Expr::Wildcard)) => {
                let mut probe = args.clone();
                probe[0] = Expr::Var { name: String::new(), cast: None };
                let (func, _) = Func::of_call(name, &probe)?;
                for (field, ty) in &meta.fields {
                    if func.numeric_only() && matches!(ty, FieldType::String | FieldType::Boolean) {
                        continue;
                    }
                    let mut a = args.clone();
                    a[0] = Expr::Var { name: field.clone(), cast: None };
                    out.push(Field {
                        expr: Expr::Call { name: name.clone(), args: a },
                        alias: Some(format!("{}_{field}", f.alias.as_deref().unwrap_or(func.name()))),
                    });
                }
            }
            _ => out.push(f.clone()),
        }
    }
    Ok(out)
}

/// Column names: the alias, else what the expression reads (`mean`,
/// `max_min` for `max(v) - min(v)`); a name taken before gets `_1`,
/// `_2`... as influxd numbers them.
fn column_names(fields: &[Field]) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(fields.len());
    let base: Vec<String> = fields.iter().map(|f| f.alias.clone().unwrap_or_else(|| name_of(&f.expr))).collect();
    for name in &base {
        let mut n = name.clone();
        let mut i = 1;
        while taken.contains(&n) {
            n = format!("{name}_{i}");
            i += 1;
        }
        taken.insert(n.clone());
        out.push(n);
    }
    out
}

fn name_of(e: &Expr) -> String {
    match e {
        Expr::Var { name, .. } => name.clone(),
        Expr::Call { name, args } => match Func::of_call(name, args) {
            Ok((f, _)) => f.name().to_owned(),
            Err(_) => name.to_ascii_lowercase(),
        },
        Expr::Paren(inner) => name_of(inner),
        Expr::Binary { lhs, rhs, .. } => {
            let (l, r) = (name_of(lhs), name_of(rhs));
            match (l.is_empty(), r.is_empty()) {
                (false, false) => format!("{l}_{r}"),
                (false, true) => l,
                _ => r,
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::influxql::{parse, Statement};
    use crate::schema::{ColumnKind, FieldType};

    use super::super::store::Meta;

    /// The tag values a statement's plan asks a store for.
    fn wanted(q: &str) -> Vec<(String, Vec<String>)> {
        let Statement::Select(s) = parse(q).unwrap().remove(0) else { unreachable!() };
        let mut meta = Meta { tags: vec!["host".into(), "rack".into()], ..Meta::default() };
        meta.fields.push(("v".into(), FieldType::Float));
        meta.kinds.insert("host".into(), ColumnKind::Tag);
        meta.kinds.insert("rack".into(), ColumnKind::Tag);
        meta.kinds.insert("v".into(), ColumnKind::Field);
        let (cond, range) = super::bounds(&s, 0).unwrap();
        super::plan(&s, &meta, 0, range, cond.as_ref()).unwrap().tag_values
    }

    fn terms(t: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        t.iter().map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect()
    }

    #[test]
    fn equalities_of_tags_anded_at_the_top_are_asked_of_the_store() {
        let q = "SELECT v FROM m WHERE host = 'a' AND time > 5 AND v > 1";
        assert_eq!(wanted(q), terms(&[("host", &["a"])]));
        let q = "SELECT v FROM m WHERE ('a' = host OR host = 'b') AND rack = '1'";
        assert_eq!(wanted(q), terms(&[("host", &["a", "b"]), ("rack", &["1"])]));
        // Nothing a series must hold: other tags or fields in the OR,
        // other comparisons, regular expressions, no condition.
        for q in [
            "SELECT v FROM m WHERE host = 'a' OR rack = '1'",
            "SELECT v FROM m WHERE host = 'a' OR v > 1",
            "SELECT v FROM m WHERE host != 'a'",
            "SELECT v FROM m WHERE host =~ /a/",
            "SELECT v FROM m WHERE host = 5",
            "SELECT v FROM m",
        ] {
            assert_eq!(wanted(q), Vec::new(), "{q}");
        }
    }
}
