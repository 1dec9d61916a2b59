//! Canonical line protocol (API.md, `linedb_query`) round-trips: a parsed
//! line written back in canonical form parses to the same point, and the
//! canonical form is a fixed point of parse-then-write.
//!
//! The property tests generate points as plain data (`GenLine`), write them
//! as input with a writer of this file that makes random legal choices
//! (optional escapes, number spellings, separators, comments, line endings,
//! repeated tags and fields), so that the parser is exercised on more than the
//! canonical writer's own output. The canonical text is also compared with an
//! independent writer of the rules in API.md.
//!
//! Generated points are valid lines: keys are unique within a line, no key is
//! `time`, a name is not both tag and field, and a name holds a tab, a newline
//! (or, in a measurement, a NUL) only right behind a backslash, the only way
//! the grammar lets those bytes into a name. A measurement never starts with
//! `#` (that line would be a comment; see `hash_at_start_of_measurement`).

use std::collections::HashSet;

use linedb::line_protocol::{
    MAX_TIME_NS, MIN_TIME_NS,
    parse, write_canonical, write_value, Batch, CanonicalLine, FieldValue, Precision,
};
use linedb::schema::{Limits, Schema};
use linedb::validate::validate;
use proptest::prelude::*;
use proptest::test_runner::Config;

// ---------------------------------------------------------------------------
// The generated point.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Measurement,
    Key,
    TagValue,
}

#[derive(Clone, Debug)]
enum Val {
    F(f64),
    I(i64),
    U(u64),
    S(String),
    B(bool),
}

impl Val {
    fn to_field(&self) -> FieldValue<'static> {
        match self {
            Val::F(x) => FieldValue::Float(*x),
            Val::I(x) => FieldValue::Integer(*x),
            Val::U(x) => FieldValue::UInteger(*x),
            Val::S(s) => FieldValue::String(s.clone().into()),
            Val::B(b) => FieldValue::Boolean(*b),
        }
    }

    /// Another value of the same type, written before this one as a repeated
    /// field that this one then overrides.
    fn decoy(&self) -> Val {
        match self {
            Val::F(_) => Val::F(-1.5),
            Val::I(_) => Val::I(7),
            Val::U(_) => Val::U(7),
            Val::S(_) => Val::S("decoy\\".to_owned()),
            Val::B(b) => Val::B(!b),
        }
    }
}

#[derive(Clone, Debug)]
struct GenLine {
    measurement: String,
    /// Unique keys, in generation order (not sorted).
    tags: Vec<(String, String)>,
    /// Unique keys, none a tag key, in generation order; never empty.
    fields: Vec<(String, Val)>,
    /// In units of the batch's precision.
    timestamp: Option<i64>,
}

#[derive(Clone, Debug)]
struct GenBatch {
    precision: Precision,
    /// The write's time in nanoseconds (lines without a timestamp get it).
    now: i64,
    lines: Vec<GenLine>,
}

/// The point a generated line should parse to, in canonical order.
#[derive(Debug)]
struct Expected {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldValue<'static>)>,
    timestamp: i64,
}

impl GenLine {
    fn timestamp_ns(&self, precision: Precision, now: i64) -> i64 {
        let n = precision.nanos();
        match self.timestamp {
            Some(t) => t * n,
            None => now.checked_sub(now.rem_euclid(n)).unwrap_or(now + (n - now.rem_euclid(n))),
        }
    }

    fn expected(&self, precision: Precision, now: i64) -> Expected {
        let mut tags = self.tags.clone();
        tags.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut fields: Vec<_> = self.fields.iter().map(|(k, v)| (k.clone(), v.to_field())).collect();
        fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Expected {
            measurement: self.measurement.clone(),
            tags,
            fields,
            timestamp: self.timestamp_ns(precision, now),
        }
    }
}

/// A byte that can stand in a name of `class` only right behind a backslash
/// (the pair is kept as both characters).
fn only_behind_backslash(c: char, class: Class) -> bool {
    matches!(c, '\t' | '\n') || (c == '\0' && class == Class::Measurement)
}

/// Whether `\c` is an escape in a name of `class` (LINE_PROTOCOL.md, Escapes).
fn escapable(c: char, class: Class) -> bool {
    match c {
        ',' | ' ' | '\\' => true,
        '=' => class != Class::Measurement,
        _ => false,
    }
}

/// Whether an unescaped `c` ends a name of `class`.
fn ends_name(c: char, class: Class) -> bool {
    match c {
        ' ' | '\\' => true,
        ',' => class != Class::Key,
        '=' => class == Class::Key,
        _ => false,
    }
}

/// Makes generated characters a name the grammar can express: a backslash
/// before every tab and newline (and NUL in a measurement) that lacks one,
/// no `#` at the start of a measurement, never empty.
fn fix_name(chars: Vec<char>, class: Class) -> String {
    let mut out: Vec<char> = Vec::with_capacity(chars.len() + 2);
    for c in chars {
        if only_behind_backslash(c, class) && out.last() != Some(&'\\') {
            out.push('\\');
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('x');
    }
    // A `#` first makes a comment line; a byte-order mark first is skipped
    // when the line starts a batch (LINE_PROTOCOL.md), so canonical text
    // of such a name reads back without it there (docs/line-protocol-choices.md;
    // tests/parse_rules.rs covers the mark itself).
    if class == Class::Measurement && matches!(out[0], '#' | '\u{feff}') {
        out.insert(0, 'm');
    }
    out.into_iter().collect()
}

// ---------------------------------------------------------------------------
// Strategies.

const NAME_SPECIALS: &[char] = &[',', ' ', '=', '\\', '"', '\'', '#', '\r', '\0', '\t', '\n'];
const UNICODE: &[char] =
    &['é', 'ß', '日', '🦀', '\u{feff}', '\u{85}', '\u{2028}', '\u{7f}', 'ÿ', '\u{10ffff}'];
const STRING_SPECIALS: &[char] = &['"', '\\', '\n', '\r', '\t', '\0', ' ', ',', '=', '#'];

/// A character from a random `u32`: plain letters, the characters that need
/// escaping somewhere, non-ASCII, or any character at all, weighted
/// `plain`/`special`/1/1. (Hand-rolled rather than `prop_oneof!`, which is
/// slow per character in a debug build.) Shrinks towards `a`.
fn pick_char(x: u32, plain: u32, special: u32, specials: &[char]) -> char {
    let (kind, r) = (x % (plain + special + 2), x / 16);
    if kind < plain {
        ['a', 'b', 'c', 'd', 'e'][(r % 5) as usize]
    } else if kind < plain + special {
        specials[r as usize % specials.len()]
    } else if kind == plain + special {
        UNICODE[r as usize % UNICODE.len()]
    } else {
        char::from_u32(r % 0x11_0000).unwrap_or('\u{fffd}')
    }
}

fn name(class: Class, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u32>(), 1..=max).prop_map(move |x| {
        fix_name(x.into_iter().map(|x| pick_char(x, 4, 4, NAME_SPECIALS)).collect(), class)
    })
}

fn string_value() -> impl Strategy<Value = String> {
    // A trailing backslash is the interesting case: force it often.
    prop::collection::vec(any::<u32>(), 0..13).prop_map(|x| {
        let trailing = x.first().is_some_and(|x| x % 4 == 3);
        let mut s: String = x.iter().skip(1).map(|&x| pick_char(x, 3, 4, STRING_SPECIALS)).collect();
        if trailing {
            s.push('\\');
        }
        s
    })
}

const EDGE_FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    0.30000000000000004,
    1e15,
    1e16,
    1e21,
    1e22,
    1e23,
    -1e21,
    1e-7,
    123456789012345.6,
    9007199254740992.0,
    9007199254740993.0,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    -f64::MIN_POSITIVE,
    f64::EPSILON,
    5e-324,
    -5e-324,
    2.225073858507201e-308, // largest subnormal
    1.7976931348623157e308,
];

/// A finite double from random parts, by kind (`sel`): any bit pattern
/// (3/9), a subnormal (1/9), an edge value (2/9), a short decimal, which the
/// parser's fast path reads (2/9), an integer times a power of ten (1/9).
/// Hand-rolled rather than `prop_oneof!` for speed in a debug build.
fn make_float(sel: u8, a: u64, b: u64) -> f64 {
    match sel % 9 {
        0..=2 => {
            let x = f64::from_bits(a);
            // Clear the exponent of an infinity or NaN: a subnormal (or zero).
            if x.is_finite() {
                x
            } else {
                f64::from_bits(a & !(0x7ff << 52))
            }
        }
        3 => {
            let x = f64::from_bits(a % (1 << 52));
            if b % 2 == 1 {
                -x
            } else {
                x
            }
        }
        4 | 5 => EDGE_FLOATS[(a % EDGE_FLOATS.len() as u64) as usize],
        6 | 7 => f64::from(a as i32) / 10f64.powi((b % 10) as i32),
        _ => {
            let x = a as i64 as f64 * 10f64.powi((b % 80) as i32 - 40);
            if x.is_finite() {
                x
            } else {
                0.0
            }
        }
    }
}

fn float() -> impl Strategy<Value = f64> {
    (any::<u8>(), any::<u64>(), any::<u64>()).prop_map(|(sel, a, b)| make_float(sel, a, b))
}

/// A field value: float 3/8, integer 1/8, unsigned 1/8, string 2/8,
/// boolean 1/8; integers are an edge value one time in four.
fn value() -> impl Strategy<Value = Val> {
    (any::<u8>(), any::<u8>(), any::<u64>(), any::<u64>(), string_value()).prop_map(|(kind, sel, a, b, s)| {
        match kind % 8 {
            0..=2 => Val::F(make_float(sel, a, b)),
            3 if b % 4 == 0 => Val::I([i64::MIN, i64::MAX, 0, -1][(a % 4) as usize]),
            3 => Val::I(a as i64),
            4 if b % 4 == 0 => Val::U([u64::MAX, 0, 1][(a % 3) as usize]),
            4 => Val::U(a),
            5 | 6 => Val::S(s),
            _ => Val::B(a % 2 == 1),
        }
    })
}

/// An optional timestamp in units of a precision of `nanos` nanoseconds,
/// whose value in nanoseconds fits i64: absent 1/5, small 2/5, anywhere in
/// range 1/5, at an edge 1/5.
fn timestamp(nanos: i64) -> impl Strategy<Value = Option<i64>> {
    // LINE_PROTOCOL.md's range, in the precision's units.
    let (lo, hi) = (MIN_TIME_NS / nanos, MAX_TIME_NS / nanos);
    (any::<u8>(), any::<i64>()).prop_map(move |(kind, a)| match kind % 5 {
        0 => None,
        1 | 2 => Some(a % 100_000),
        3 if nanos == 1 => Some(a.clamp(lo, hi)),
        3 => Some(a % (hi + 1)),
        _ => Some([lo, hi, 0, -1, 1][a.unsigned_abs() as usize % 5]),
    })
}

/// Renames repeated keys (and `time`) so that every key of a line is unique
/// and no name is both a tag and a field.
fn uniquify(tags: &mut [(String, String)], fields: &mut [(String, Val)]) {
    let mut seen: HashSet<String> = HashSet::from(["time".to_owned()]);
    for key in tags.iter_mut().map(|t| &mut t.0).chain(fields.iter_mut().map(|f| &mut f.0)) {
        while !seen.insert(key.clone()) {
            key.push('_');
        }
    }
}

fn line(nanos: i64) -> impl Strategy<Value = GenLine> {
    (
        name(Class::Measurement, 8),
        prop::collection::vec((name(Class::Key, 6), name(Class::TagValue, 6)), 0..4),
        prop::collection::vec((name(Class::Key, 6), value()), 1..5),
        timestamp(nanos),
    )
        .prop_map(|(measurement, mut tags, mut fields, timestamp)| {
            uniquify(&mut tags, &mut fields);
            GenLine { measurement, tags, fields, timestamp }
        })
}

fn precision() -> impl Strategy<Value = Precision> {
    prop::sample::select(
        &[Precision::Nanosecond, Precision::Microsecond, Precision::Millisecond, Precision::Second][..],
    )
}

fn now() -> impl Strategy<Value = i64> {
    // Every write time, down to i64::MIN (where the floor to the precision
    // is not representable: see `regression_default_time_near_i64_min`).
    const LOWEST: i64 = i64::MIN;
    prop_oneof![Just(1_700_000_000_123_456_789i64), LOWEST..=i64::MAX]
}

fn batch(max_lines: usize) -> impl Strategy<Value = GenBatch> {
    precision().prop_flat_map(move |p| {
        (now(), prop::collection::vec(line(p.nanos()), 1..=max_lines))
            .prop_map(move |(now, lines)| GenBatch { precision: p, now, lines })
    })
}

/// The writer's random choices: a stream of bytes read in a cycle. Shrinking
/// takes them to 0, the plainest spelling.
fn choices() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..48)
}

// ---------------------------------------------------------------------------
// The test-side writer of input line protocol, with random legal choices.

struct Choices<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes, pos: 0 }
    }

    /// A number below `n`.
    fn pick(&mut self, n: usize) -> usize {
        let b = self.bytes[self.pos % self.bytes.len()];
        // Mix in the position so that a short stream does not repeat too
        // obviously; 0 stays 0.
        let v = (b as usize).wrapping_mul(self.pos / self.bytes.len() + 1);
        self.pos += 1;
        v % n
    }

    /// True now and then (about one time in `n`).
    fn one_in(&mut self, n: usize) -> bool {
        self.pick(n) == n - 1
    }

    fn flip(&mut self) -> bool {
        self.pick(2) == 1
    }
}

/// Writes `v` as a name of `class`, escaping what must be escaped and, at
/// random, what may be: a backslash that precedes a character that is no
/// escape here may stay single; a comma in a key and `=` in a tag value
/// may stay unescaped.
fn render_name(out: &mut String, v: &str, class: Class, ch: &mut Choices<'_>) {
    let chars: Vec<char> = v.chars().collect();
    for (k, &c) in chars.iter().enumerate() {
        let next = chars.get(k + 1).copied();
        if c == '\\' {
            match next {
                // `\<tab>`: the pair is the only spelling.
                Some(n) if only_behind_backslash(n, class) => out.push('\\'),
                // `\x` is no escape: both spellings read as `\x`.
                Some(n) if !escapable(n, class) && ch.flip() => out.push('\\'),
                _ => out.push_str("\\\\"),
            }
        } else if escapable(c, class) {
            if ends_name(c, class) || ch.flip() {
                out.push('\\');
            }
            out.push(c);
        } else {
            out.push(c);
        }
    }
}

fn render_string(out: &mut String, s: &str, ch: &mut Choices<'_>) {
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    for (k, &c) in chars.iter().enumerate() {
        match c {
            '"' => out.push_str("\\\""),
            // A backslash not followed by `"` or `\` (nor the closing quote)
            // may stay single: it is literal there.
            '\\' => match chars.get(k + 1) {
                Some('"' | '\\') | None => out.push_str("\\\\"),
                Some(_) if ch.flip() => out.push('\\'),
                Some(_) => out.push_str("\\\\"),
            },
            c => out.push(c),
        }
    }
    out.push('"');
}

fn zeros(ch: &mut Choices<'_>) -> &'static str {
    ["", "", "0", "000"][ch.pick(4)]
}

/// A decimal spelling of a finite `x` that reads back to the same double.
fn render_float(out: &mut String, x: f64, ch: &mut Choices<'_>) {
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let a = x.abs();
    match ch.pick(6) {
        0 => out.push_str(&format!("{x}")),
        1 => out.push_str(&format!("{x:e}")),
        2 => out.push_str(&format!("{x:E}")),
        3 => out.push_str(&format!("{x:?}")),
        4 => {
            // Leading zeros on the integer part, trailing zeros on the fraction.
            let d = format!("{a}");
            let frac = if d.contains('.') {
                "0".repeat(ch.pick(3))
            } else {
                ["", ".0", ".000"][ch.pick(3)].to_owned()
            };
            out.push_str(&format!("{sign}{}{d}{frac}", zeros(ch)));
        }
        _ => {
            // All significant digits as an integer, the exponent moved.
            let e = format!("{a:e}");
            let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            let digits: String = mant.chars().filter(|c| *c != '.').collect();
            let exp = exp - (digits.len() as i32 - 1);
            let mark = if ch.flip() { 'e' } else { 'E' };
            let plus = if exp >= 0 && ch.flip() { "+" } else { "" };
            let (esign, eabs) = if exp < 0 { ("-", -exp) } else { ("", exp) };
            out.push_str(&format!("{sign}{}{digits}{mark}{plus}{esign}{}{eabs}", zeros(ch), zeros(ch)));
        }
    }
}

fn render_value(out: &mut String, v: &Val, ch: &mut Choices<'_>) {
    match v {
        Val::F(x) => render_float(out, *x, ch),
        Val::I(x) => {
            let sign = if *x < 0 || (*x == 0 && ch.one_in(4)) { "-" } else { "" };
            out.push_str(&format!("{sign}{}{}i", zeros(ch), x.unsigned_abs()));
        }
        Val::U(x) => out.push_str(&format!("{}{x}u", zeros(ch))),
        Val::S(s) => render_string(out, s, ch),
        Val::B(true) => out.push_str(["true", "True", "TRUE", "t", "T"][ch.pick(5)]),
        Val::B(false) => out.push_str(["false", "False", "FALSE", "f", "F"][ch.pick(5)]),
    }
}

fn spaces(ch: &mut Choices<'_>, min: usize) -> String {
    " ".repeat(min + if ch.one_in(4) { 1 + ch.pick(2) } else { 0 })
}

/// What the writer put into one line, in input order (repeats included).
#[derive(Debug)]
struct Written {
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldValue<'static>)>,
    /// The line's text from its physical start (leading blanks included),
    /// without its line ending.
    text: String,
    /// Physical 1-based number of the line's first byte.
    number: u64,
}

/// Writes one line; its `number` is left for the batch to fill.
fn render_line(l: &GenLine, ch: &mut Choices<'_>) -> Written {
    let mut out = String::new();
    for _ in 0..ch.pick(3) {
        out.push(if ch.flip() { '\t' } else { ' ' });
    }
    render_name(&mut out, &l.measurement, Class::Measurement, ch);
    // Tags in generation order; now and then a tag is repeated with the same
    // value (possibly spelled otherwise), which is one tag.
    let mut tags = Vec::new();
    for (k, v) in &l.tags {
        let times = if ch.one_in(8) { 2 } else { 1 };
        for _ in 0..times {
            out.push(',');
            render_name(&mut out, k, Class::Key, ch);
            out.push('=');
            render_name(&mut out, v, Class::TagValue, ch);
            tags.push((k.clone(), v.clone()));
        }
    }
    out.push_str(&spaces(ch, 1));
    // Fields in generation order; now and then one is preceded by an earlier
    // value of the same type, which the last one overrides.
    let mut written: Vec<(&str, Val)> = Vec::new();
    for (k, v) in &l.fields {
        if ch.one_in(8) {
            written.push((k, v.decoy()));
        }
        written.push((k, v.clone()));
    }
    let mut fields = Vec::new();
    for (n, (k, v)) in written.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        render_name(&mut out, k, Class::Key, ch);
        out.push('=');
        render_value(&mut out, v, ch);
        fields.push(((*k).to_owned(), v.to_field()));
    }
    if let Some(t) = l.timestamp {
        out.push_str(&spaces(ch, 1));
        let sign = if t < 0 || (t == 0 && ch.one_in(4)) { "-" } else { "" };
        out.push_str(&format!("{sign}{}{}", zeros(ch), t.unsigned_abs()));
        out.push_str(&spaces(ch, 0));
    }
    Written { tags, fields, text: out, number: 0 }
}

fn render_filler(ch: &mut Choices<'_>) -> String {
    let mut s = String::new();
    for _ in 0..ch.pick(3) {
        s.push(if ch.flip() { '\t' } else { ' ' });
    }
    if ch.flip() {
        // A comment: anything but a newline, quotes and backslashes included.
        s.push('#');
        let body = ["", " note", " m,t=\"x f=1", "\\", "\r", "\"", "#", " a=b c=\"d"];
        s.push_str(body[ch.pick(body.len())]);
    }
    s
}

/// Writes the batch; returns the input and what each line holds.
fn render_batch(b: &GenBatch, ch: &mut Choices<'_>) -> (String, Vec<Written>) {
    let mut out = String::new();
    let mut written = Vec::new();
    for (n, l) in b.lines.iter().enumerate() {
        while ch.one_in(5) {
            out.push_str(&render_filler(ch));
            out.push_str(if ch.flip() { "\r\n" } else { "\n" });
        }
        let number = out.matches('\n').count() as u64 + 1;
        let w = render_line(l, ch);
        out.push_str(&w.text);
        written.push(Written { number, ..w });
        let last = n + 1 == b.lines.len();
        out.push_str(match (last, ch.pick(4)) {
            (false, 0 | 1) => "\n",
            (false, _) => "\r\n",
            (true, 0) => "",
            (true, 1) => "\n",
            (true, 2) => "\r\n",
            (true, _) => "\r",
        });
    }
    // Blanks or a comment after the last line need a line ending before them.
    if out.ends_with('\n') && ch.one_in(4) {
        out.push_str(&render_filler(ch));
    }
    (out, written)
}

// ---------------------------------------------------------------------------
// An independent writer of canonical line protocol, from API.md's rules.

fn spec_name(out: &mut String, v: &str, class: Class) {
    let chars: Vec<char> = v.chars().collect();
    for (k, &c) in chars.iter().enumerate() {
        match c {
            // `\` is escaped, except right before a character that the
            // grammar admits only behind a literal backslash.
            '\\' if chars.get(k + 1).is_some_and(|&n| only_behind_backslash(n, class)) => out.push('\\'),
            '\\' | ',' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '=' if class != Class::Measurement => out.push_str("\\="),
            c => out.push(c),
        }
    }
}

fn spec_canonical(e: &Expected) -> String {
    let mut s = String::new();
    spec_name(&mut s, &e.measurement, Class::Measurement);
    for (k, v) in &e.tags {
        s.push(',');
        spec_name(&mut s, k, Class::Key);
        s.push('=');
        spec_name(&mut s, v, Class::TagValue);
    }
    for (n, (k, v)) in e.fields.iter().enumerate() {
        s.push(if n == 0 { ' ' } else { ',' });
        spec_name(&mut s, k, Class::Key);
        s.push('=');
        match v {
            FieldValue::Float(x) => s.push_str(&format!("{x}")),
            FieldValue::Integer(x) => s.push_str(&format!("{x}i")),
            FieldValue::UInteger(x) => s.push_str(&format!("{x}u")),
            FieldValue::Boolean(x) => s.push_str(if *x { "true" } else { "false" }),
            FieldValue::String(x) => {
                s.push('"');
                for c in x.chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
            }
        }
    }
    s.push_str(&format!(" {}", e.timestamp));
    s
}

// ---------------------------------------------------------------------------
// Comparison helpers.

/// Values are equal, floats by their bits (so -0 differs from 0).
fn same_value(a: &FieldValue<'_>, b: &FieldValue<'_>) -> bool {
    match (a, b) {
        (FieldValue::Float(x), FieldValue::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn same_fields(a: &[(String, FieldValue<'_>)], b: &[(String, FieldValue<'_>)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb))
}

fn check_canonical(c: &CanonicalLine, e: &Expected, context: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&c.measurement, &e.measurement, "{}", context);
    prop_assert_eq!(&c.tags, &e.tags, "{}", context);
    prop_assert!(
        same_fields(&c.fields, &e.fields),
        "fields {:?}, expected {:?}: {}",
        c.fields,
        e.fields,
        context
    );
    prop_assert_eq!(c.timestamp, e.timestamp, "{}", context);
    Ok(())
}

fn parse_ok<'a>(input: &'a str, p: Precision, now: i64, batch: &mut Batch<'a>) -> Result<(), TestCaseError> {
    match parse(input.as_bytes(), p, now, batch) {
        Ok(()) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("{input:?} does not parse: {e}"))),
    }
}

/// Parses a canonical line alone, in nanoseconds.
fn reparse(text: &str) -> Result<CanonicalLine, TestCaseError> {
    let mut b = Batch::new();
    parse_ok(text, Precision::Nanosecond, 0, &mut b)?;
    prop_assert_eq!(b.len(), 1, "canonical line {:?} is {} lines", text, b.len());
    let line = b.line(0);
    prop_assert!(line.explicit_time(), "canonical line {:?} has no timestamp", text);
    Ok(CanonicalLine::from_line(line))
}

fn canonical_text(c: &CanonicalLine) -> String {
    let mut s = String::new();
    c.write(&mut s);
    s
}

/// Cases per property: each property runs in a few seconds in a debug build.
const BATCH_CASES: u32 = 3_000;
const NAME_CASES: u32 = 5_000;
const FLOAT_CASES: u32 = 10_000;

/// No failure persistence: a failing case is to be kept as an explicit
/// regression test below, not in a file beside this one.
fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config(BATCH_CASES))]

    /// The parser reads what the test writer wrote: every line, its tags and
    /// fields in input order with their values (floats by bits), its
    /// timestamp, line number and text.
    #[test]
    fn parser_reads_generated_batches(b in batch(4), bytes in choices()) {
        let mut ch = Choices::new(&bytes);
        let (input, written) = render_batch(&b, &mut ch);
        let mut parsed = Batch::new();
        parse_ok(&input, b.precision, b.now, &mut parsed)?;
        prop_assert_eq!(parsed.len(), b.lines.len(), "{:?}", input);
        for ((g, w), line) in b.lines.iter().zip(&written).zip(parsed.iter()) {
            let ctx = format!("line {:?} of {:?}", w.text, input);
            prop_assert_eq!(line.measurement(), g.measurement.as_str(), "{}", ctx);
            let tags: Vec<(String, String)> =
                line.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect();
            prop_assert_eq!(&tags, &w.tags, "{}", ctx);
            let fields: Vec<(String, FieldValue<'_>)> =
                line.fields().iter().map(|f| (f.key.to_string(), f.value.clone())).collect();
            prop_assert!(
                same_fields(&fields, &w.fields),
                "fields {:?}, written {:?}: {}",
                fields,
                w.fields,
                ctx
            );
            prop_assert_eq!(line.timestamp(), g.timestamp_ns(b.precision, b.now), "{}", ctx);
            prop_assert_eq!(line.explicit_time(), g.timestamp.is_some(), "{}", ctx);
            prop_assert_eq!(line.number(), w.number, "{}", ctx);
            prop_assert_eq!(line.text(), w.text.as_str(), "{}", ctx);
            // Repeats resolved and sorted: the generated point.
            check_canonical(&CanonicalLine::from_line(line), &g.expected(b.precision, b.now), &ctx)?;
        }
    }

    /// A parsed line written in canonical form is the text API.md defines,
    /// is a valid line, and parses (in nanoseconds) to the same point; the
    /// canonical lines joined by newlines parse to the same batch.
    #[test]
    fn canonical_round_trips(b in batch(4), bytes in choices()) {
        let mut ch = Choices::new(&bytes);
        let (input, _) = render_batch(&b, &mut ch);
        let mut parsed = Batch::new();
        parse_ok(&input, b.precision, b.now, &mut parsed)?;
        prop_assert_eq!(parsed.len(), b.lines.len());
        let mut joined = String::new();
        let mut expected = Vec::new();
        let mut numbers = Vec::new();
        for (g, line) in b.lines.iter().zip(parsed.iter()) {
            let e = g.expected(b.precision, b.now);
            let mut text = String::new();
            write_canonical(&mut text, line);
            prop_assert_eq!(&text, &spec_canonical(&e), "canonical form of {:?}", line.text());
            let back = reparse(&text)?;
            check_canonical(&back, &e, &format!("canonical {text:?}"))?;
            // A canonical line is a valid line on its own.
            let mut one = Batch::new();
            parse_ok(&text, Precision::Nanosecond, 0, &mut one)?;
            if let Err(err) = validate(&mut one, &Schema::new(), &Limits::default()) {
                return Err(TestCaseError::fail(format!("canonical {text:?} is rejected: {err}")));
            }
            if !joined.is_empty() {
                joined.push('\n');
            }
            // Physical number: names and strings may hold newlines.
            numbers.push(joined.matches('\n').count() as u64 + 1);
            joined.push_str(&text);
            expected.push(e);
        }
        let mut again = Batch::new();
        parse_ok(&joined, Precision::Nanosecond, 0, &mut again)?;
        prop_assert_eq!(again.len(), expected.len(), "{:?}", joined);
        for (n, (line, e)) in again.iter().zip(&expected).enumerate() {
            prop_assert_eq!(line.number(), numbers[n], "{:?}", joined);
            check_canonical(&CanonicalLine::from_line(line), e, &joined)?;
        }
    }

    /// canonical(parse(canonical(x))) == canonical(x), whichever way the
    /// canonical text is produced.
    #[test]
    fn canonical_is_a_fixed_point(b in batch(3), bytes in choices()) {
        let mut ch = Choices::new(&bytes);
        let (input, _) = render_batch(&b, &mut ch);
        let mut parsed = Batch::new();
        parse_ok(&input, b.precision, b.now, &mut parsed)?;
        for line in parsed.iter() {
            let c = CanonicalLine::from_line(line);
            let text = canonical_text(&c);
            let mut via_fn = String::new();
            write_canonical(&mut via_fn, line);
            prop_assert_eq!(&via_fn, &text);
            prop_assert_eq!(&c.to_string(), &text);
            let again = canonical_text(&reparse(&text)?);
            prop_assert_eq!(&again, &text, "from {:?}", line.text());
            let third = canonical_text(&reparse(&again)?);
            prop_assert_eq!(&third, &text);
        }
    }
}

proptest! {
    #![proptest_config(config(NAME_CASES))]

    /// Names dense with characters that need escaping, one tag and one
    /// field, in every class.
    #[test]
    fn names_round_trip(
        m in name(Class::Measurement, 16),
        k in name(Class::Key, 16),
        v in name(Class::TagValue, 16),
        f in name(Class::Key, 16),
        bytes in choices(),
    ) {
        let mut tags = vec![(k, v)];
        let mut fields = vec![(f, Val::B(true))];
        uniquify(&mut tags, &mut fields);
        let g = GenLine { measurement: m, tags, fields, timestamp: Some(-1) };
        let b = GenBatch { precision: Precision::Nanosecond, now: 0, lines: vec![g] };
        let mut ch = Choices::new(&bytes);
        let (input, _) = render_batch(&b, &mut ch);
        let mut parsed = Batch::new();
        parse_ok(&input, b.precision, 0, &mut parsed)?;
        prop_assert_eq!(parsed.len(), 1);
        let e = b.lines[0].expected(b.precision, 0);
        let c = CanonicalLine::from_line(parsed.line(0));
        check_canonical(&c, &e, &input)?;
        let text = canonical_text(&c);
        prop_assert_eq!(&text, &spec_canonical(&e));
        check_canonical(&reparse(&text)?, &e, &text)?;
        prop_assert_eq!(canonical_text(&reparse(&text)?), text);
    }
}

proptest! {
    #![proptest_config(config(FLOAT_CASES))]

    /// Every float, in every spelling the test writer knows, reads back to
    /// the same bits, and its canonical spelling is Rust's `{}` and reads
    /// back to the same bits too.
    #[test]
    fn floats_round_trip(x in float(), bytes in choices()) {
        let mut ch = Choices::new(&bytes);
        let mut input = String::from("m f=");
        render_float(&mut input, x, &mut ch);
        let mut parsed = Batch::new();
        parse_ok(&input, Precision::Nanosecond, 0, &mut parsed)?;
        let got = &parsed.line(0).fields()[0].value;
        prop_assert!(same_value(got, &FieldValue::Float(x)), "{:?} read as {:?}, not {:?}", input, got, x);
        let mut text = String::new();
        write_value(&mut text, got);
        prop_assert_eq!(&text, &format!("{x}"));
        prop_assert!(!text.contains(['e', 'E']), "{}", text);
        let line = format!("m f={text} 0");
        let back = reparse(&line)?;
        let again = &back.fields[0].1;
        prop_assert!(same_value(again, &FieldValue::Float(x)), "{:?} read back as {:?}", line, again);
    }
}

// ---------------------------------------------------------------------------
// Tricky canonical cases, exactly.

const NOW: i64 = 1_700_000_000_123_456_789;

/// Parses one line and writes it in canonical form.
fn canon_p(input: &str, p: Precision) -> String {
    let mut b = Batch::new();
    if let Err(e) = parse(input.as_bytes(), p, NOW, &mut b) {
        panic!("{input:?} should parse: {e}");
    }
    assert_eq!(b.len(), 1, "{input:?}");
    let mut s = String::new();
    write_canonical(&mut s, b.line(0));
    // And it is a fixed point.
    let mut b2 = Batch::new();
    if let Err(e) = parse(s.as_bytes(), Precision::Nanosecond, 0, &mut b2) {
        panic!("canonical {s:?} should parse: {e}");
    }
    assert_eq!(b2.len(), 1, "{s:?}");
    let mut s2 = String::new();
    write_canonical(&mut s2, b2.line(0));
    assert_eq!(s2, s, "canonical form of {input:?} is not a fixed point");
    s
}

fn canon(input: &str) -> String {
    canon_p(input, Precision::Nanosecond)
}

fn float_text(x: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, &FieldValue::Float(x));
    s
}

#[test]
fn floats_without_exponent() {
    assert_eq!(canon("m f=1e21 0"), "m f=1000000000000000000000 0");
    assert_eq!(canon("m f=1E+21 0"), "m f=1000000000000000000000 0");
    assert_eq!(canon("m f=1e-7 0"), "m f=0.0000001 0");
    assert_eq!(canon("m f=1.5e0 0"), "m f=1.5 0");
    assert_eq!(canon("m f=01 0"), "m f=1 0");
    assert_eq!(canon("m f=1.000 0"), "m f=1 0");
    assert_eq!(canon("m f=1e3 0"), "m f=1000 0");
    assert_eq!(float_text(1e21), "1000000000000000000000");
    assert_eq!(float_text(f64::MAX), format!("17976931348623157{}", "0".repeat(292)));
    assert_eq!(float_text(5e-324), format!("0.{}5", "0".repeat(323)));
    let min_normal = float_text(f64::MIN_POSITIVE);
    assert!(min_normal.starts_with("0.000") && !min_normal.contains('e'), "{min_normal}");
    assert_eq!(canon(&format!("m f={} 0", float_text(5e-324))), format!("m f=0.{}5 0", "0".repeat(323)));
    assert_eq!(canon("m f=4.9406564584124654e-324 0"), format!("m f=0.{}5 0", "0".repeat(323)));
    // Too small for a double rounds to zero, as IEEE does.
    assert_eq!(canon("m f=1e-400 0"), "m f=0 0");
}

#[test]
fn negative_zero_keeps_its_sign() {
    assert_eq!(canon("m f=-0 0"), "m f=-0 0");
    assert_eq!(canon("m f=-0.0 0"), "m f=-0 0");
    assert_eq!(canon("m f=-0e5 0"), "m f=-0 0");
    assert_eq!(canon("m f=0 0"), "m f=0 0");
    assert_eq!(float_text(-0.0), "-0");
    assert_eq!(canon("m f=-1e-400 0"), "m f=-0 0");
    // Integers have no negative zero.
    assert_eq!(canon("m f=-0i 0"), "m f=0i 0");
}

#[test]
fn shortest_round_trip_float() {
    assert_eq!(float_text(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(canon("m f=0.30000000000000004 0"), "m f=0.30000000000000004 0");
    assert_eq!(canon("m f=0.1 0"), "m f=0.1 0");
    assert_eq!(canon("m f=0.10000000000000001 0"), "m f=0.1 0");
    assert_eq!(canon("m f=9007199254740993 0"), "m f=9007199254740992 0");
    assert_eq!(canon("m f=123456789012345.6 0"), "m f=123456789012345.6 0");
}

#[test]
fn integer_edges() {
    assert_eq!(
        canon("m a=-9223372036854775808i,b=9223372036854775807i,c=18446744073709551615u,d=0u 0"),
        "m a=-9223372036854775808i,b=9223372036854775807i,c=18446744073709551615u,d=0u 0"
    );
    assert_eq!(canon("m a=007i,b=007u 0"), "m a=7i,b=7u 0");
}

#[test]
fn booleans_are_true_and_false() {
    assert_eq!(
        canon("m a=t,b=T,c=True,d=TRUE,e=f,g=F,h=False,i=FALSE 0"),
        "m a=true,b=true,c=true,d=true,e=false,g=false,h=false,i=false 0"
    );
}

#[test]
fn tag_value_ending_in_backslash() {
    assert_eq!(canon("m,t=a\\\\ f=1 0"), "m,t=a\\\\ f=1 0");
    assert_eq!(canon("m,t=\\\\ f=1 0"), "m,t=\\\\ f=1 0");
    // A key and a measurement too.
    assert_eq!(canon("m\\\\,k\\\\=v f\\\\=1 0"), "m\\\\,k\\\\=v f\\\\=1 0");
}

#[test]
fn measurement_with_equals() {
    assert_eq!(canon("a=b f=1 0"), "a=b f=1 0");
    // `\=` is no escape in a measurement: both characters are the name.
    assert_eq!(canon("a\\=b f=1 0"), "a\\\\=b f=1 0");
    assert_eq!(canon("=,t=v f=1 0"), "=,t=v f=1 0");
}

#[test]
fn equals_and_commas_in_keys_and_tag_values() {
    // An unescaped `=` in a tag value and comma in a key are kept; canonical
    // form escapes them.
    assert_eq!(canon("m,k=v=w f=1 0"), "m,k=v\\=w f=1 0");
    assert_eq!(canon("m,a,b=c f=1 0"), "m,a\\,b=c f=1 0");
    assert_eq!(canon("m,a\\=b\\,c=d\\ e f\\ g=1 0"), "m,a\\=b\\,c=d\\ e f\\ g=1 0");
    assert_eq!(canon("m\\ x\\,y f=1 0"), "m\\ x\\,y f=1 0");
}

#[test]
fn hash_at_start_of_measurement() {
    // `#m f=1` is a comment, so no parsed measurement starts with `#`;
    // `\#` is no escape, so `\#m` is the measurement `\#m`.
    let mut b = Batch::new();
    assert!(parse(b"#m f=1 0", Precision::Nanosecond, 0, &mut b).is_ok());
    assert_eq!(b.len(), 0);
    assert_eq!(canon("\\#m f=1 0"), "\\\\#m f=1 0");
    assert_eq!(canon("m#,#k=#v #f=1 0"), "m#,#k=#v #f=1 0");
}

#[test]
fn backslash_before_characters_only_allowed_behind_it() {
    // A tab, a newline (and NUL in a measurement) stand in a name only as
    // `\<c>`, kept as both characters; canonical form writes the pair as is.
    assert_eq!(canon("m\\\tx,t\\\tk=v\\\tw f\\\tg=1 0"), "m\\\tx,t\\\tk=v\\\tw f\\\tg=1 0");
    assert_eq!(canon("m\\\nx,t=v\\\nw f=1 0"), "m\\\nx,t=v\\\nw f=1 0");
    assert_eq!(canon("m\\\0x f=1 0"), "m\\\0x f=1 0");
    // `\\` then `\<tab>`: the name `\\<tab>`.
    assert_eq!(canon("m,t=\\\\\\\t f=1 0"), "m,t=\\\\\\\t f=1 0");
    // NUL is plain in keys, tag values and strings.
    assert_eq!(canon("m,k\0=v\0 f\0=\"\0\" 0"), "m,k\0=v\0 f\0=\"\0\" 0");
    // A bare CR in a name is part of it.
    assert_eq!(canon("m\rx,t=\r f=1 0"), "m\rx,t=\r f=1 0");
}

#[test]
fn strings_escape_quote_and_backslash_only() {
    assert_eq!(canon("m s=\"a\\\"b\\\\c\" 0"), "m s=\"a\\\"b\\\\c\" 0");
    // A lone backslash is literal in input, escaped in canonical form.
    assert_eq!(canon("m s=\"a\\b\" 0"), "m s=\"a\\\\b\" 0");
    // Trailing backslash, newline, CR, tab.
    assert_eq!(canon("m s=\"x\\\\\" 0"), "m s=\"x\\\\\" 0");
    assert_eq!(canon("m s=\"a\nb\r\tc\" 0"), "m s=\"a\nb\r\tc\" 0");
    assert_eq!(canon("m s=\"\" 0"), "m s=\"\" 0");
}

#[test]
fn sorted_tags_and_fields_and_repeats_resolved() {
    assert_eq!(
        canon("m,b=2,a=1 z=1i,y=2u,x=true,w=\"s\",v=1.5 5"),
        "m,a=1,b=2 v=1.5,w=\"s\",x=true,y=2u,z=1i 5"
    );
    // Bytewise: 'B' < 'a' < 'é'.
    assert_eq!(canon("m,é=1,a=2,B=3 é=1,a=2,B=3 0"), "m,B=3,a=2,é=1 B=3,a=2,é=1 0");
    // A prefix sorts first.
    assert_eq!(canon("m,ab=1,a=2 ab=1,a=2 0"), "m,a=2,ab=1 a=2,ab=1 0");
    assert_eq!(canon("m,t=a,t=a f=1,f=2 0"), "m,t=a f=2 0");
}

#[test]
fn timestamps_in_nanoseconds() {
    assert_eq!(canon_p("m f=1 5", Precision::Millisecond), "m f=1 5000000");
    assert_eq!(canon_p("m f=1 -1", Precision::Second), "m f=1 -1000000000");
    assert_eq!(canon_p("m f=1 -9223372036", Precision::Second), "m f=1 -9223372036000000000");
    assert_eq!(canon("m f=1 -9223372036854775806"), "m f=1 -9223372036854775806");
    assert_eq!(canon("m f=1 9223372036854775806"), "m f=1 9223372036854775806");
    // No timestamp: the write's time, truncated down to the precision.
    assert_eq!(canon_p("m f=1", Precision::Microsecond), "m f=1 1700000000123456000");
    assert_eq!(canon("m f=1   7  \r\n"), "m f=1 7");
}

/// A write time within one precision unit of i64::MIN once overflowed when
/// truncated to the precision (found by `batch`'s generator).
#[test]
fn regression_default_time_near_i64_min() {
    let mut b = Batch::new();
    // The floor is not representable: the next multiple up is taken, never a wrap.
    parse(b"m f=1", Precision::Microsecond, i64::MIN, &mut b).unwrap();
    assert_eq!(b.line(0).timestamp(), i64::MIN + 808);
    assert_eq!(b.line(0).timestamp() % 1_000, 0);
    parse(b"m f=1", Precision::Second, i64::MIN + 5, &mut b).unwrap();
    assert_eq!(b.line(0).timestamp(), i64::MIN + 854_775_808);
}
