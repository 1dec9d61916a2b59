//! Values as `influxd` 1.6 writes them in its `/query` JSON, which is Go's
//! `encoding/json` with its defaults (`docs/influxql.md` lists what was
//! observed):
//!
//! - floats: the shortest decimal that reads back to the same double;
//!   without exponent when 1e-6 <= |x| < 1e21 (or x is zero), else with
//!   one (`1e-7`, `1e+21`); negative zero is `-0`;
//! - strings: `"` and `\` escaped, `\n` `\r` `\t` short, other control
//!   characters, `<`, `>`, `&`, U+2028 and U+2029 as `\u00XX` / `\u20XX`;
//! - times: RFC 3339 in UTC with nanoseconds, trailing zeros of the
//!   fraction dropped, none at all when it is zero.

use std::fmt::Write;

/// Appends `x` as Go's `encoding/json` writes a float64. JSON has no NaN
/// or infinity (and no stored value is one): they are written as `null`.
pub fn float(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    let abs = x.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // Rust's `{}`: the shortest round-trip digits, never an exponent.
        let _ = write!(out, "{x}");
        return;
    }
    // Rust's `{:e}` is Go's 'e' format without the `+` of a positive
    // exponent (and Go drops an exponent's leading zero, as Rust does).
    let start = out.len();
    let _ = write!(out, "{x:e}");
    if let Some(e) = out[start..].find('e') {
        let at = start + e + 1;
        if !out[at..].starts_with('-') {
            out.insert(at, '+');
        }
    }
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` escapes
/// by default (HTML-safe).
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends nanoseconds since the Unix epoch as Go's `time.RFC3339Nano`
/// in UTC, quoted: `"2016-01-01T00:00:00.5Z"`.
pub fn rfc3339(out: &mut String, ns: i64) {
    const NS_PER_DAY: i64 = 86_400_000_000_000;
    let days = ns.div_euclid(NS_PER_DAY);
    let in_day = ns.rem_euclid(NS_PER_DAY);
    let (y, m, d) = civil(days);
    let secs = in_day / 1_000_000_000;
    let frac = in_day % 1_000_000_000;
    let _ = write!(out, "\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str("Z\"");
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut s = String::new();
        float(&mut s, x);
        s
    }

    #[test]
    fn floats_as_influxd_wrote_them() {
        // Each pair as influxd 1.6 answered it (docs/influxql.md); the
        // third value as the line protocol wrote it.
        let written: f64 = "123456789.123456789".parse().unwrap();
        for (x, want) in [
            (0.1, "0.1"),
            (0.0000015, "0.0000015"),
            (1e20, "100000000000000000000"),
            (written, "123456789.12345679"),
            (-0.0, "-0"),
            (1e-7, "1e-7"),
            (1e21, "1e+21"),
            (12345678901234567890123.0, "1.2345678901234568e+22"),
        ] {
            assert_eq!(f(x), want, "{x:?}");
        }
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-2.5e-10), "-2.5e-10");
        assert_eq!(f(1e-6), "0.000001");
        assert_eq!(f(f64::NAN), "null");
    }

    #[test]
    fn floats_read_back_exactly() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() {
                assert_eq!(f(v).parse::<f64>().map(f64::to_bits), Ok(v.to_bits()), "{v:e}");
            }
        }
    }

    #[test]
    fn strings_escaped_as_go_escapes_them() {
        let mut s = String::new();
        string(&mut s, "<&>\"q\\\n\t\r\u{1}\u{2028}é");
        assert_eq!(s, r#""\u003c\u0026\u003e\"q\\\n\t\r\u0001\u2028é""#);
    }

    #[test]
    fn times_as_rfc3339_nano() {
        let t = |ns| {
            let mut s = String::new();
            rfc3339(&mut s, ns);
            s
        };
        assert_eq!(t(1), "\"1970-01-01T00:00:00.000000001Z\"");
        assert_eq!(t(2_000_000_001), "\"1970-01-01T00:00:02.000000001Z\"");
        assert_eq!(t(2_000_000_000), "\"1970-01-01T00:00:02Z\"");
        assert_eq!(t(1_451_606_400_500_000_000), "\"2016-01-01T00:00:00.5Z\"");
        assert_eq!(t(-1), "\"1969-12-31T23:59:59.999999999Z\"");
        assert_eq!(t(951_782_400_000_000_000), "\"2000-02-29T00:00:00Z\"");
        assert_eq!(t(i64::MIN), "\"1677-09-21T00:12:43.145224192Z\"");
        assert_eq!(t(i64::MAX), "\"2262-04-11T23:47:16.854775807Z\"");
    }
}
