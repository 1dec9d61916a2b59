//! The aggregates and selectors of the subset, over the values of one
//! window of one series, computed as `influxd` computes them.

use std::cmp::Ordering;

use crate::influxql::ast::Expr;

use super::value::{arithmetic, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Func {
    Count,
    /// `count(distinct(f))`.
    CountDistinct,
    Sum,
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Min,
    Max,
    First,
    Last,
    /// `percentile(f, N)`.
    Percentile(f64),
    Distinct,
}

impl Func {
    /// The function of a call and the expression it reads.
    pub fn of_call<'e>(name: &str, args: &'e [Expr]) -> Result<(Func, &'e Expr), String> {
        let lower = name.to_ascii_lowercase();
        let one = |f: Func| match args {
            [arg] => Ok((f, arg)),
            _ => Err(format!("invalid number of arguments for {lower}, expected 1, got {}", args.len())),
        };
        match lower.as_str() {
            "count" => match args {
                [Expr::Call { name, args: inner }] if name.eq_ignore_ascii_case("distinct") => match &inner[..] {
                    [arg] => Ok((Func::CountDistinct, arg)),
                    _ => Err(format!("distinct function requires exactly one argument, got {}", inner.len())),
                },
                _ => one(Func::Count),
            },
            "sum" => one(Func::Sum),
            "mean" => one(Func::Mean),
            "median" => one(Func::Median),
            "mode" => one(Func::Mode),
            "spread" => one(Func::Spread),
            "stddev" => one(Func::Stddev),
            "min" => one(Func::Min),
            "max" => one(Func::Max),
            "first" => one(Func::First),
            "last" => one(Func::Last),
            "distinct" => one(Func::Distinct),
            "percentile" => match args {
                [arg, Expr::Integer(n)] => Ok((Func::Percentile(*n as f64), arg)),
                [arg, Expr::Number(x)] => Ok((Func::Percentile(*x), arg)),
                [_, _] => Err("expected float argument in percentile()".into()),
                _ => Err(format!("invalid number of arguments for percentile, expected 2, got {}", args.len())),
            },
            _ => Err(format!("undefined function {lower}()")),
        }
    }

    /// The column name a call gets (`count(distinct(x))` is `count`).
    pub fn name(self) -> &'static str {
        match self {
            Func::Count | Func::CountDistinct => "count",
            Func::Sum => "sum",
            Func::Mean => "mean",
            Func::Median => "median",
            Func::Mode => "mode",
            Func::Spread => "spread",
            Func::Stddev => "stddev",
            Func::Min => "min",
            Func::Max => "max",
            Func::First => "first",
            Func::Last => "last",
            Func::Percentile(_) => "percentile",
            Func::Distinct => "distinct",
        }
    }

    /// Selectors answer one point's value (and, alone in a statement
    /// without `GROUP BY time`, its time; with it, its other fields).
    pub fn is_selector(self) -> bool {
        matches!(self, Func::Min | Func::Max | Func::First | Func::Last | Func::Percentile(_))
    }

    /// Functions of numbers only (`influxd` has no such iterator for
    /// strings or booleans).
    pub fn numeric_only(self) -> bool {
        matches!(
            self,
            Func::Sum
                | Func::Mean
                | Func::Median
                | Func::Spread
                | Func::Stddev
                | Func::Min
                | Func::Max
                | Func::Percentile(_)
        )
    }

    /// What an empty window answers before any `fill`: counts are 0.
    pub fn empty(self) -> Value {
        match self {
            Func::Count | Func::CountDistinct => Value::Integer(0),
            _ => Value::Null,
        }
    }
}

/// The value of `f` over a window's values (nulls already left out, in time
/// order), and for selectors the index of the point chosen. `None` when
/// influxd's reducer emits no point: an empty window, or a percentile
/// that falls outside the values. (A standard deviation of one value is
/// a point with a null value: it counts, and no fill replaces it.)
pub fn reduce(f: Func, vals: &[(i64, Value)]) -> Option<(Value, Option<usize>)> {
    if vals.is_empty() {
        return None;
    }
    reduce_some(f, vals)
}

fn reduce_some(f: Func, vals: &[(i64, Value)]) -> Option<(Value, Option<usize>)> {
    Some(match f {
        Func::Count => (Value::Integer(vals.len() as i64), None),
        Func::CountDistinct => (Value::Integer(distinct(vals).len() as i64), None),
        Func::Distinct => (distinct(vals).into_iter().next().unwrap_or(Value::Null), None),
        Func::Sum => {
            let mut acc = zero_like(&vals[0].1);
            for (_, v) in vals {
                acc = arithmetic(crate::influxql::ast::BinOp::Add, &acc, v);
            }
            (acc, None)
        }
        Func::Mean => {
            // influxd's running mean: m += (x - m) / n.
            let mut mean = 0.0;
            for (n, (_, v)) in vals.iter().enumerate() {
                let x = v.as_f64().unwrap_or(0.0);
                mean += (x - mean) / (n + 1) as f64;
            }
            (Value::Float(mean), None)
        }
        Func::Median => {
            let mut xs: Vec<f64> = vals.iter().filter_map(|(_, v)| v.as_f64()).collect();
            xs.sort_by(f64::total_cmp);
            let n = xs.len();
            let m = if n % 2 == 1 { xs[n / 2] } else { xs[n / 2 - 1] + (xs[n / 2] - xs[n / 2 - 1]) / 2.0 };
            (Value::Float(m), None)
        }
        Func::Mode => (mode(vals), None),
        Func::Spread => {
            let (mut lo, mut hi) = (&vals[0].1, &vals[0].1);
            for (_, v) in vals {
                if v.order(lo) == Ordering::Less {
                    lo = v;
                }
                if v.order(hi) == Ordering::Greater {
                    hi = v;
                }
            }
            (arithmetic(crate::influxql::ast::BinOp::Sub, hi, lo), None)
        }
        Func::Stddev => {
            if vals.len() < 2 {
                return Some((Value::Null, None));
            }
            let xs: Vec<f64> = vals.iter().filter_map(|(_, v)| v.as_f64()).collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
            (Value::Float(var.sqrt()), None)
        }
        Func::Min | Func::Max => {
            let want = if f == Func::Min { Ordering::Less } else { Ordering::Greater };
            let mut best = 0;
            for (i, (_, v)) in vals.iter().enumerate() {
                // The earliest point of the extreme value wins.
                if v.order(&vals[best].1) == want {
                    best = i;
                }
            }
            (vals[best].1.clone(), Some(best))
        }
        Func::First => {
            let i = (0..vals.len()).min_by_key(|&i| vals[i].0).unwrap_or(0);
            (vals[i].1.clone(), Some(i))
        }
        Func::Last => {
            // The first of the latest: `max_by_key` would take the last.
            let t = vals.iter().map(|p| p.0).max().unwrap_or(0);
            let i = vals.iter().position(|p| p.0 == t).unwrap_or(0);
            (vals[i].1.clone(), Some(i))
        }
        Func::Percentile(p) => {
            let mut order: Vec<usize> = (0..vals.len()).collect();
            order.sort_by(|&a, &b| vals[a].1.order(&vals[b].1));
            // influxd's index: floor(n * p / 100 + 0.5) - 1 (a float of at
            // most n + 1, which an i64 holds; a NaN percentile gives 0).
            #[allow(clippy::cast_possible_truncation)]
            let i = (vals.len() as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
            match usize::try_from(i).ok().and_then(|i| order.get(i)) {
                Some(&at) => (vals[at].1.clone(), Some(at)),
                None => return None,
            }
        }
    })
}

/// The distinct values of a window, in value order.
pub fn distinct(vals: &[(i64, Value)]) -> Vec<Value> {
    let mut all: Vec<&Value> = vals.iter().map(|(_, v)| v).collect();
    all.sort_by(|a, b| a.order(b));
    all.dedup_by(|a, b| a.order(b) == Ordering::Equal && std::mem::discriminant(*a) == std::mem::discriminant(*b));
    all.into_iter().cloned().collect()
}

/// The most frequent value, found as influxd 1.6 finds it
/// (`FloatModeReduceSlice`): the values sorted (stably, so equal values
/// keep their time order) and counted in runs; a run takes the lead when
/// its count passes the leader's, or equals it and the run began no later
/// than the leader's latest point. A value seen once never takes the lead
/// from the first: with no value repeated, the smallest wins.
fn mode(vals: &[(i64, Value)]) -> Value {
    let mut order: Vec<usize> = (0..vals.len()).collect();
    order.sort_by(|&a, &b| vals[a].1.order(&vals[b].1));
    let first = &vals[order[0]];
    let (mut most_freq, mut curr_freq) = (0usize, 0usize);
    let (mut curr_mode, mut most_mode) = (&first.1, &first.1);
    let (mut most_time, mut curr_time) = (first.0, first.0);
    for &i in &order {
        let (t, v) = (&vals[i].0, &vals[i].1);
        if v.order(curr_mode) != Ordering::Equal {
            curr_freq = 1;
            curr_mode = v;
            curr_time = *t;
            continue;
        }
        curr_freq += 1;
        if most_freq > curr_freq || (most_freq == curr_freq && curr_time > most_time) {
            continue;
        }
        most_freq = curr_freq;
        most_mode = v;
        most_time = *t;
    }
    most_mode.clone()
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

    fn ints(xs: &[i64]) -> Vec<(i64, Value)> {
        xs.iter().enumerate().map(|(t, x)| (t as i64, Value::Integer(*x))).collect()
    }

    #[test]
    fn aggregates_of_integers() {
        let v = ints(&[3, 1, 4, 1, 5]);
        let reduce = |f, v: &[(i64, Value)]| super::reduce(f, v).unwrap_or((Value::Null, None));
        assert_eq!(reduce(Func::Count, &v).0, Value::Integer(5));
        assert_eq!(reduce(Func::Sum, &v).0, Value::Integer(14));
        assert_eq!(reduce(Func::Mean, &v).0, Value::Float(2.8));
        assert_eq!(reduce(Func::Median, &v).0, Value::Float(3.0));
        assert_eq!(reduce(Func::Mode, &v).0, Value::Integer(1));
        assert_eq!(reduce(Func::Spread, &v).0, Value::Integer(4));
        assert_eq!(reduce(Func::Min, &v), (Value::Integer(1), Some(1)));
        assert_eq!(reduce(Func::Max, &v), (Value::Integer(5), Some(4)));
        assert_eq!(reduce(Func::First, &v), (Value::Integer(3), Some(0)));
        assert_eq!(reduce(Func::Last, &v), (Value::Integer(5), Some(4)));
        assert_eq!(reduce(Func::CountDistinct, &v).0, Value::Integer(4));
        assert_eq!(reduce(Func::Percentile(50.0), &v).0, Value::Integer(3));
        assert_eq!(super::reduce(Func::Percentile(0.0), &v), None);
        assert_eq!(reduce(Func::Stddev, &ints(&[2, 4])).0, Value::Float(std::f64::consts::SQRT_2));
        assert_eq!(reduce(Func::Stddev, &ints(&[2])).0, Value::Null);
        assert_eq!(super::reduce(Func::Count, &[]), None);
        assert_eq!(Func::Count.empty(), Value::Integer(0));
    }
}
