//! Byte classes: which bytes end a name in each position of a line.

/// Ends a measurement: space, comma, backslash (escape), tab, newline,
/// carriage return (when it ends the line), NUL (an error there).
pub(crate) const MEASUREMENT: u8 = 1;
/// Ends a tag key or a field key: space, `=`, backslash, tab, newline, CR.
/// (An unescaped comma is part of a key, as in InfluxDB's parser.)
pub(crate) const KEY: u8 = 2;
/// Ends a tag value: space, comma, backslash, tab, newline, CR.
/// (An unescaped `=` is part of a tag value.)
pub(crate) const TAG_VALUE: u8 = 4;

const fn build() -> [u8; 256] {
    let mut t = [0u8; 256];
    let all = MEASUREMENT | KEY | TAG_VALUE;
    t[b' ' as usize] = all;
    t[b'\\' as usize] = all;
    t[b'\t' as usize] = all;
    t[b'\n' as usize] = all;
    t[b'\r' as usize] = all;
    t[b',' as usize] = MEASUREMENT | TAG_VALUE;
    t[b'=' as usize] = KEY;
    t[0] = MEASUREMENT;
    t
}

/// `STOP[b] & class != 0` when byte `b` ends a name of that class.
pub(crate) static STOP: [u8; 256] = build();

/// Whether `\c` is an escape (resolved to `c`) in a name of this class;
/// any other `\c` stands for both characters.
#[inline]
pub(crate) fn is_escapable(class: u8, c: u8) -> bool {
    match c {
        b',' | b' ' | b'\\' => true,
        b'=' => class != MEASUREMENT,
        _ => false,
    }
}
