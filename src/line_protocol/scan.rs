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

/// The first index at or after `j` whose byte ends a name of `class`
/// (`MEASUREMENT`, `KEY` or `TAG_VALUE`), or `b.len()` if none does.
///
/// Names are most of a line's bytes, so this reads eight bytes a step:
/// a word is flagged if a byte in it may stop the name (any byte up to the
/// space, a backslash, or the class's separator: `=` ends keys, `,` the
/// others), and only a flagged byte is looked up in [`STOP`]. Each flag
/// test `(x - k) & !x & 0x80..` is exact for the lowest byte it flags (a
/// borrow can only spill into higher bytes), so the lowest flag of all
/// three is a real candidate.
#[inline(always)]
pub(crate) fn find_stop(b: &[u8], mut j: usize, class: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let sep = u64::from(if class == KEY { b'=' } else { b',' });
    while let Some(word) = b.get(j..).and_then(<[u8]>::first_chunk::<8>) {
        let x = u64::from_le_bytes(*word);
        let low = x.wrapping_sub(ONES * 0x21) & !x;
        let bs = x ^ (ONES * u64::from(b'\\'));
        let bs = bs.wrapping_sub(ONES) & !bs;
        let sp = x ^ (ONES * sep);
        let sp = sp.wrapping_sub(ONES) & !sp;
        let flags = (low | bs | sp) & HIGH;
        if flags == 0 {
            j += 8;
            continue;
        }
        let k = j + (flags.trailing_zeros() / 8) as usize;
        if STOP[word[k - j] as usize] & class != 0 {
            return k;
        }
        // A control byte that does not stop this class (NUL outside a
        // measurement, say): part of the name.
        j = k + 1;
    }
    while j < b.len() && STOP[b[j] as usize] & class == 0 {
        j += 1;
    }
    j
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition `find_stop` must agree with.
    fn slow(b: &[u8], mut j: usize, class: u8) -> usize {
        while j < b.len() && STOP[b[j] as usize] & class == 0 {
            j += 1;
        }
        j
    }

    /// Every byte value, at every place in and after a word, before and
    /// after other stops: the word test must never skip a stop nor stop
    /// early, whatever the neighbours (the borrow of one byte's test runs
    /// into the next).
    #[test]
    fn find_stop_agrees_with_the_table_for_every_byte_and_place() {
        let fillers: [u8; 5] = [b'a', 0x01, 0xff, b'=', b','];
        for class in [MEASUREMENT, KEY, TAG_VALUE] {
            for filler in fillers {
                for len in 0..20 {
                    for at in 0..len {
                        for byte in 0..=255u8 {
                            let mut b = vec![filler; len];
                            b[at] = byte;
                            if at + 3 < len {
                                b[at + 3] = b' ';
                            }
                            for start in 0..=len.min(9) {
                                assert_eq!(
                                    find_stop(&b, start, class),
                                    slow(&b, start, class),
                                    "class {class} filler {filler:#x} len {len} byte {byte:#x} at {at} from {start}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
