//! The time bounds of a statement, taken out of its `WHERE` clause as
//! `influxd` takes them: every comparison of `time` anywhere in the
//! condition bounds the whole statement (`AND` intersects, `OR` unites the
//! bounds each side sets), and is removed from the condition that is left
//! to test against each point.

use crate::influxql::ast::{BinOp, Expr};

/// The earliest and latest times a statement may see, both inclusive, as
/// `influxd`'s `MinTime` and `MaxTime`.
pub const MIN_TIME: i64 = i64::MIN + 2;
pub const MAX_TIME: i64 = i64::MAX - 1;

/// Inclusive bounds; `None` where the condition sets none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl TimeRange {
    fn intersect(self, o: TimeRange) -> TimeRange {
        TimeRange { min: pick(self.min, o.min, i64::max), max: pick(self.max, o.max, i64::min) }
    }

    /// `influxd`'s union: a side that sets no bound leaves the other's.
    fn union(self, o: TimeRange) -> TimeRange {
        TimeRange { min: pick(self.min, o.min, i64::min), max: pick(self.max, o.max, i64::max) }
    }

    pub fn lower(&self) -> i64 {
        self.min.unwrap_or(MIN_TIME)
    }

    pub fn upper(&self) -> i64 {
        self.max.unwrap_or(MAX_TIME)
    }
}

fn pick(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Splits `cond` into the condition without its time comparisons and the
/// bounds they set. `now` is the instant `now()` means.
pub fn split(cond: &Expr, now: i64) -> Result<(Option<Expr>, TimeRange), String> {
    match cond {
        Expr::Paren(inner) => split(inner, now),
        Expr::Binary { op: op @ (BinOp::And | BinOp::Or), lhs, rhs } => {
            let (l, lt) = split(lhs, now)?;
            let (r, rt) = split(rhs, now)?;
            let range = if *op == BinOp::And { lt.intersect(rt) } else { lt.union(rt) };
            let rest = match (l, r) {
                (Some(l), Some(r)) => Some(Expr::Binary { op: *op, lhs: Box::new(l), rhs: Box::new(r) }),
                (l, None) => l,
                (None, r) => r,
            };
            Ok((rest, range))
        }
        Expr::Binary { op, lhs, rhs } => {
            let (op, value) = if is_time(lhs) {
                (*op, rhs)
            } else if is_time(rhs) {
                (flip(*op), lhs)
            } else {
                return Ok((Some(cond.clone()), TimeRange::default()));
            };
            let t = instant(value, now)?;
            let range = match op {
                BinOp::Eq => TimeRange { min: Some(t), max: Some(t) },
                BinOp::Gt => TimeRange { min: Some(t.saturating_add(1)), max: None },
                BinOp::GtEq => TimeRange { min: Some(t), max: None },
                BinOp::Lt => TimeRange { min: None, max: Some(t.saturating_sub(1)) },
                BinOp::LtEq => TimeRange { min: None, max: Some(t) },
                other => return Err(format!("invalid time comparison operator: {}", other.symbol())),
            };
            Ok((None, range))
        }
        _ => Ok((Some(cond.clone()), TimeRange::default())),
    }
}

fn is_time(e: &Expr) -> bool {
    match e {
        Expr::Var { name, .. } => name.eq_ignore_ascii_case("time"),
        Expr::Paren(inner) => is_time(inner),
        _ => false,
    }
}

/// `a op time` as `time op' a`.
fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        other => other,
    }
}

/// The instant a time expression names, in nanoseconds: an RFC 3339
/// string, an integer (nanoseconds) or duration literal (`1451606400s`),
/// `now()`, and sums and differences of these.
pub fn instant(e: &Expr, now: i64) -> Result<i64, String> {
    match e {
        Expr::Paren(inner) => instant(inner, now),
        Expr::Integer(n) | Expr::Duration(n) => Ok(*n),
        // A decimal is nanoseconds too (`influxd` truncates it).
        // In range (checked), cut toward zero.
        #[allow(clippy::cast_possible_truncation)]
        Expr::Number(x) if x.is_finite() && x.abs() < 9.2e18 => Ok(*x as i64),
        // influxd's words.
        Expr::Str(s) => parse_rfc3339(s).ok_or_else(|| "invalid timestamp string".to_string()),
        Expr::Call { name, args } if name.eq_ignore_ascii_case("now") && args.is_empty() => Ok(now),
        Expr::Binary { op: op @ (BinOp::Add | BinOp::Sub), lhs, rhs } => {
            let (a, b) = (instant(lhs, now)?, instant(rhs, now)?);
            let r = if *op == BinOp::Add { a.checked_add(b) } else { a.checked_sub(b) };
            r.ok_or_else(|| "time overflows".to_string())
        }
        other => Err(format!("invalid time expression: {other}")),
    }
}

/// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a space
/// may stand for the `T`, and the zone may be left out: UTC).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return days.checked_mul(86_400_000_000_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut at = 19;
    let mut frac = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            if at - start < 9 {
                frac = frac * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..9 {
            frac *= 10;
        }
    }
    let zone = match &b[at..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == at + 6 && b[at + 3] == b':' => {
            let (zh, zm) = (num(at + 1, 2)?, num(at + 4, 2)?);
            let off = (zh * 60 + zm) * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let secs = days.checked_mul(86_400)?.checked_add(h * 3600 + mi * 60 + sec - zone)?;
    secs.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The start of the window `t` falls in: windows are `interval` long,
/// aligned to the epoch plus `offset`.
pub fn window_start(t: i64, interval: i64, offset: i64) -> i64 {
    // In i64 when nothing overflows (every time a store holds), else in
    // i128 (division of i128 is many times slower).
    if let Some(start) =
        t.checked_sub(offset).and_then(|d| d.checked_rem_euclid(interval)).and_then(|r| t.checked_sub(r))
    {
        return start;
    }
    let (t, i, o) = (i128::from(t), i128::from(interval), i128::from(offset));
    let start = t - (t - o).rem_euclid(i);
    i64::try_from(start).unwrap_or(if start < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influxql::{parse, Statement};

    /// The i64 path gives what the i128 arithmetic gives, where it
    /// applies, and every start is at most its time.
    #[test]
    fn window_starts_are_those_of_wide_arithmetic() {
        let wide = |t: i64, i: i64, o: i64| {
            let (t, i, o) = (i128::from(t), i128::from(i), i128::from(o));
            let s = t - (t - o).rem_euclid(i);
            i64::try_from(s).unwrap_or(i64::MIN)
        };
        let values = [i64::MIN, i64::MIN + 1, -3_601, -1, 0, 1, 59, 3_600, i64::MAX - 1, i64::MAX];
        for t in values {
            for i in [1, 60, 3_600, 1 << 40, i64::MAX] {
                for o in [i64::MIN, -61, 0, 7, 3_599, i64::MAX] {
                    assert_eq!(window_start(t, i, o), wide(t, i, o), "{t} {i} {o}");
                    assert!(window_start(t, i, o) <= t);
                }
            }
        }
    }

    fn where_of(q: &str) -> Expr {
        match parse(q).unwrap().remove(0) {
            Statement::Select(s) => s.condition.unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2016-01-01T00:00:00Z"), Some(1_451_606_400_000_000_000));
        assert_eq!(parse_rfc3339("2016-01-01"), Some(1_451_606_400_000_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999999999Z"), Some(-1));
        assert_eq!(parse_rfc3339("2016-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn time_anywhere_bounds_the_statement() {
        let (rest, r) = split(&where_of("SELECT v FROM m WHERE time >= 10 AND host = 'a' AND time < 20"), 0).unwrap();
        assert_eq!(r, TimeRange { min: Some(10), max: Some(19) });
        assert_eq!(rest.unwrap().to_string(), "\"host\" = 'a'");
        // Under OR too, as influxd: the other side stays as the condition.
        let (rest, r) = split(&where_of("SELECT v FROM m WHERE time > 5 OR host = 'b'"), 0).unwrap();
        assert_eq!(r, TimeRange { min: Some(6), max: None });
        assert_eq!(rest.unwrap().to_string(), "\"host\" = 'b'");
        let (rest, r) = split(&where_of("SELECT v FROM m WHERE time > now() - 1h"), 7_200_000_000_000).unwrap();
        assert!(rest.is_none());
        assert_eq!(r.min, Some(3_600_000_000_001));
        assert!(split(&where_of("SELECT v FROM m WHERE time != 5"), 0).is_err());
    }
}
