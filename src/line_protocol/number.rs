//! Number conversion for field values and timestamps. The grammar (which
//! bytes make a number) is the parser's; this module turns accepted digit
//! runs into values, with every overflow checked.

/// Value of a run of ASCII digits, negated if `negative`; `None` when it does
/// not fit i64. `digits` is non-empty and all digits.
pub(crate) fn to_i64(digits: &[u8], negative: bool) -> Option<i64> {
    let magnitude = to_u64(digits)?;
    if negative {
        if magnitude <= i64::MAX as u64 {
            Some(-(magnitude as i64))
        } else if magnitude == i64::MAX as u64 + 1 {
            Some(i64::MIN)
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Value of a run of ASCII digits; `None` when it does not fit u64.
pub(crate) fn to_u64(digits: &[u8]) -> Option<u64> {
    // Up to 19 digits cannot overflow u64: no checks needed on the hot path.
    if digits.len() <= 19 {
        let mut v: u64 = 0;
        for &d in digits {
            v = v * 10 + u64::from(d - b'0');
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// Exact powers of ten a double holds.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Value of a float token that the parser has already matched against
/// `-?D+(.D+)?([eE][+-]?D+)?`. `int` and `frac` are the digit runs before and
/// after the point; `text` is the whole token, for the general path.
///
/// The common short decimal is converted exactly by Clinger's fast path: a
/// mantissa below 2^53 times or over an exact power of ten at most 10^22 is
/// one correctly rounded IEEE operation. Everything else goes to the
/// standard library's correctly rounded parser.
pub(crate) fn to_f64(text: &str, negative: bool, int: &[u8], frac: &[u8], has_exp: bool) -> f64 {
    if !has_exp && int.len() + frac.len() <= 15 {
        let mut m: u64 = 0;
        for &d in int.iter().chain(frac) {
            m = m * 10 + u64::from(d - b'0');
        }
        // m < 10^15 < 2^53: exact as a double; frac.len() <= 15 <= 22.
        let v = if frac.is_empty() { m as f64 } else { m as f64 / POW10[frac.len()] };
        return if negative { -v } else { v };
    }
    // The token is ASCII and matches Rust's float grammar (a subset of it).
    text.parse::<f64>().unwrap_or(f64::NAN)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn i64_edges() {
        assert_eq!(to_i64(b"9223372036854775807", false), Some(i64::MAX));
        assert_eq!(to_i64(b"9223372036854775808", false), None);
        assert_eq!(to_i64(b"9223372036854775808", true), Some(i64::MIN));
        assert_eq!(to_i64(b"9223372036854775809", true), None);
        assert_eq!(to_i64(b"000000000000000000000000001", true), Some(-1));
        assert_eq!(to_i64(b"0", true), Some(0));
    }

    #[test]
    fn u64_edges() {
        assert_eq!(to_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(to_u64(b"18446744073709551616"), None);
        assert_eq!(to_u64(b"99999999999999999999"), None);
    }

    #[test]
    fn fast_path_matches_std() {
        for s in ["58.3", "0.1", "123456789012345", "12345678.9012345", "0.000000000000001", "1"] {
            let (i, f) = s.split_once('.').unwrap_or((s, ""));
            let got = to_f64(s, false, i.as_bytes(), f.as_bytes(), false);
            assert_eq!(got.to_bits(), s.parse::<f64>().unwrap().to_bits(), "{s}");
        }
        assert!(to_f64("-0", true, b"0", b"", false).is_sign_negative());
    }
}
