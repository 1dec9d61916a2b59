//! Aggregates computed as the points stream by, one accumulator per call,
//! window and group: a count, sum, mean, spread or selector holds a few
//! values whatever the number of points; only the functions that need
//! every value (median, mode, percentile, distinct, count of distinct,
//! stddev, computed by [`reduce`] as `influxd` computes them) keep them.
//!
//! Points arrive in time order (then in an order the scan fixes); each
//! accumulator gives exactly what [`reduce`] gives over the same values in
//! the same order (the tests below hold them to it).

use std::cmp::Ordering;

use super::aggregate::{distinct, reduce, Func};
use super::value::{arithmetic, Value};
use crate::influxql::ast::BinOp;

/// A point's tags and fields, kept for the columns beside a lone selector.
pub type Aux = (Vec<Option<std::sync::Arc<str>>>, Vec<Value>);

#[derive(Debug)]
pub enum Acc {
    Count(i64),
    /// Null until the first value.
    Sum(Value),
    Mean {
        mean: f64,
        n: u64,
    },
    Spread {
        lo: Value,
        hi: Value,
    },
    /// min, max, first, last: the chosen point (null until the first).
    Pick {
        value: Value,
        time: i64,
        aux: Option<Aux>,
    },
    /// Every value, for the functions that need them all (with each
    /// point's tags and fields when a lone selector's columns need them).
    Values(Vec<(i64, Value)>, Vec<Aux>),
}

/// What an accumulator answers: the value, the time of the point a
/// selector chose, that point's tags and fields, and for `distinct` every
/// distinct value.
#[derive(Debug, Default)]
pub struct Finished {
    pub value: Value,
    pub time: Option<i64>,
    pub aux: Option<Aux>,
    pub distinct: Vec<Value>,
}

impl Acc {
    pub fn new(f: Func) -> Acc {
        match f {
            Func::Count => Acc::Count(0),
            Func::Sum => Acc::Sum(Value::Null),
            Func::Mean => Acc::Mean { mean: 0.0, n: 0 },
            Func::Spread => Acc::Spread { lo: Value::Null, hi: Value::Null },
            Func::Min | Func::Max | Func::First | Func::Last => Acc::Pick { value: Value::Null, time: 0, aux: None },
            _ => Acc::Values(Vec::new(), Vec::new()),
        }
    }

    /// Takes a non-null value of a point; `aux` gives the point's tags and
    /// fields, asked only when this point becomes the chosen one (or, for
    /// `Values`, when `keep_aux`).
    /// Whether a selector (min, max, first, last) has chosen a point yet;
    /// false for the other accumulators.
    pub fn has_pick(&self) -> bool {
        matches!(self, Acc::Pick { value, .. } if !value.is_null())
    }

    pub fn add(&mut self, f: Func, time: i64, v: &Value, keep_aux: bool, aux: &mut dyn FnMut() -> Aux) {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(acc) => {
                let base = if acc.is_null() { zero_like(v) } else { std::mem::replace(acc, Value::Null) };
                *acc = arithmetic(BinOp::Add, &base, v);
            }
            Acc::Mean { mean, n } => {
                *n += 1;
                let x = v.as_f64().unwrap_or(0.0);
                *mean += (x - *mean) / *n as f64;
            }
            Acc::Spread { lo, hi } => {
                if lo.is_null() || v.order(lo) == Ordering::Less {
                    *lo = v.clone();
                }
                if hi.is_null() || v.order(hi) == Ordering::Greater {
                    *hi = v.clone();
                }
            }
            Acc::Pick { value, time: at, aux: kept } => {
                // Strictly better only: of equals, the first seen stays.
                let better = value.is_null()
                    || match f {
                        Func::Min => v.order(value) == Ordering::Less,
                        Func::Max => v.order(value) == Ordering::Greater,
                        Func::First => time < *at,
                        _ => time > *at,
                    };
                if better {
                    *value = v.clone();
                    *at = time;
                    *kept = keep_aux.then(aux);
                }
            }
            Acc::Values(vals, auxes) => {
                vals.push((time, v.clone()));
                if keep_aux {
                    auxes.push(aux());
                }
            }
        }
    }

    /// The call's answer; `None` when there is none (no value, or a
    /// percentile past the values): influxd's reducer emits no point.
    pub fn finish(self, f: Func) -> Option<Finished> {
        let done = |value: Value| Some(Finished { value, ..Finished::default() });
        match self {
            Acc::Count(0) => None,
            Acc::Count(n) => done(Value::Integer(n)),
            Acc::Sum(Value::Null) => None,
            Acc::Sum(v) => done(v),
            Acc::Mean { n: 0, .. } => None,
            Acc::Mean { mean, .. } => done(Value::Float(mean)),
            Acc::Spread { lo: Value::Null, .. } => None,
            Acc::Spread { lo, hi } => done(arithmetic(BinOp::Sub, &hi, &lo)),
            Acc::Pick { value: Value::Null, .. } => None,
            Acc::Pick { value, time, aux } => Some(Finished { value, time: Some(time), aux, distinct: Vec::new() }),
            Acc::Values(vals, mut auxes) => {
                let (value, sel) = reduce(f, &vals)?;
                let time = sel.and_then(|i| vals.get(i)).map(|p| p.0);
                let aux = sel.filter(|&i| i < auxes.len()).map(|i| auxes.swap_remove(i));
                let distinct = if f == Func::Distinct { distinct(&vals) } else { Vec::new() };
                Some(Finished { value, time, aux, distinct })
            }
        }
    }
}

fn zero_like(v: &Value) -> Value {
    match v {
        Value::Integer(_) => Value::Integer(0),
        Value::Unsigned(_) => Value::Unsigned(0),
        _ => Value::Float(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: Func, vals: &[(i64, Value)]) -> Option<(Value, Option<i64>)> {
        let mut acc = Acc::new(f);
        for (t, v) in vals {
            acc.add(f, *t, v, false, &mut || (Vec::new(), Vec::new()));
        }
        acc.finish(f).map(|d| (d.value, d.time))
    }

    /// Streaming gives what reduce gives over the same values, ties and
    /// types included.
    #[test]
    fn accumulators_answer_as_reduce_does() {
        let sets: Vec<Vec<(i64, Value)>> = vec![
            vec![(1, Value::Integer(3)), (1, Value::Integer(1)), (2, Value::Integer(4)), (2, Value::Integer(1))],
            vec![(5, Value::Float(2.5)), (6, Value::Float(-1.0)), (7, Value::Float(2.5)), (7, Value::Float(9.75))],
            vec![(3, Value::Unsigned(7))],
            vec![(1, Value::String("b".into())), (2, Value::String("a".into())), (2, Value::String("c".into()))],
            vec![(1, Value::Boolean(true)), (1, Value::Boolean(false))],
        ];
        let funcs = [
            Func::Count,
            Func::Sum,
            Func::Mean,
            Func::Spread,
            Func::Min,
            Func::Max,
            Func::First,
            Func::Last,
            Func::Median,
            Func::Percentile(50.0),
        ];
        for vals in &sets {
            for f in funcs {
                if vals.iter().any(|(_, v)| !v.is_number()) && f.numeric_only()
                    || !vals[0].1.is_number() && f == Func::Sum
                {
                    continue;
                }
                let want = reduce(f, vals).map(|(v, sel)| (v, sel.map(|i| vals[i].0)));
                let got = run(f, vals);
                let pick = matches!(f, Func::Min | Func::Max | Func::First | Func::Last | Func::Percentile(_));
                let got = if pick { got } else { got.map(|(v, _)| (v, None)) };
                assert_eq!(got, want, "{f:?} of {vals:?}");
            }
        }
        assert_eq!(run(Func::Count, &[]), None);
        assert_eq!(run(Func::Percentile(5.0), &[(1, Value::Integer(1))]), None);
    }
}
