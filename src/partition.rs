//! Partition keys: a point belongs to the partition of its measurement and
//! the UTC day its timestamp falls in.

use std::fmt;

pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// A UTC day, counted from 1970-01-01 (day 0) by floor division, so that
/// `-1` ns falls in day `-1`, 1969-12-31.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i32);

impl Day {
    /// The day a timestamp in nanoseconds falls in. Every i64 maps into
    /// i32 days (about +-106,752 days).
    pub fn of(ts_ns: i64) -> Day {
        // |i64::MIN / NANOS_PER_DAY| < 2^17, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        Day(ts_ns.div_euclid(NANOS_PER_DAY) as i32)
    }

    /// The first nanosecond of the day, saturated to the i64 range.
    pub fn start_ns(self) -> i64 {
        i64::from(self.0).saturating_mul(NANOS_PER_DAY)
    }

    /// The proleptic Gregorian (year, month, day) of this day.
    pub fn civil(self) -> (i64, u32, u32) {
        // Days since 0000-03-01, counted in 400-year eras of 146097 days;
        // starting the year in March puts the leap day at the end.
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097); // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
        let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
        let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
        let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
        let y = yoe + era * 400 + i64::from(m <= 2);
        // d and m are in small ranges checked above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (y, m as u32, d as u32)
    }
}

impl Day {
    /// The day a `YYYY-MM-DD` name (as [`Day`]'s `Display` writes it) names;
    /// `None` for anything else.
    pub fn parse(name: &str) -> Option<Day> {
        let b = name.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = name.get(r)?;
            part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        // The inverse of `civil`: days since 0000-03-01 in 400-year eras.
        let y = y - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let day = Day(i32::try_from(era * 146_097 + doe - 719_468).ok()?);
        // Rejects dates that do not exist (`2001-02-30`) by the round trip.
        (day.to_string() == name).then_some(day)
    }
}

impl fmt::Display for Day {
    /// `YYYY-MM-DD` (years before 0 or after 9999 keep their sign and digits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_division() {
        assert_eq!(Day::of(0), Day(0));
        assert_eq!(Day::of(-1), Day(-1));
        assert_eq!(Day::of(NANOS_PER_DAY - 1), Day(0));
        assert_eq!(Day::of(NANOS_PER_DAY), Day(1));
        assert_eq!(Day::of(-NANOS_PER_DAY), Day(-1));
        assert_eq!(Day::of(-NANOS_PER_DAY - 1), Day(-2));
        assert_eq!(Day::of(i64::MIN), Day(-106_752));
        assert_eq!(Day::of(i64::MAX), Day(106_751));
    }

    #[test]
    fn parse_is_the_inverse_of_display() {
        for d in (-106_752..=106_751).step_by(7).chain([-1, 0, 1, 11_016]) {
            assert_eq!(Day::parse(&Day(d).to_string()), Some(Day(d)), "{d}");
        }
        for bad in ["", "1970-1-01", "1970-01-1x", "2001-02-30", "1970/01/01", "+970-01-01", "1970-13-01"] {
            assert_eq!(Day::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(Day(0).to_string(), "1970-01-01");
        assert_eq!(Day(-1).to_string(), "1969-12-31");
        assert_eq!(Day::of(1_451_606_400_000_000_000).to_string(), "2016-01-01");
        assert_eq!(Day(11_016).to_string(), "2000-02-29");
        assert_eq!(Day::of(i64::MIN).to_string(), "1677-09-21");
        assert_eq!(Day::of(i64::MAX).to_string(), "2262-04-11");
        // Every day of 1900..2100 maps to the next calendar day.
        let mut prev = Day(-25_567).civil();
        assert_eq!(prev, (1900, 1, 1));
        for d in -25_566..47_482 {
            let c = Day(d).civil();
            let next_day = (prev.0, prev.1, prev.2 + 1) == c;
            let next_month = c.2 == 1 && ((prev.0, prev.1 + 1) == (c.0, c.1) || (prev.0 + 1, 1) == (c.0, c.1));
            assert!(next_day || next_month, "{prev:?} -> {c:?}");
            prev = c;
        }
    }
}
