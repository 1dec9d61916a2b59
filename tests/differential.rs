//! Differential test: linedb's line protocol parser against the reference
//! parser, the `influxdb-line-protocol` crate (=2.0.0), on generated and
//! mutated input.
//!
//! Every input goes through both parsers and the results are compared line by
//! line: where each line starts and ends, accept against reject, and every
//! parsed value (measurement, tags, field keys and typed values, floats by
//! their bits, strings unescaped, the timestamp and whether it was given).
//! Our parser stops at the first bad line; the reference parses each line on
//! its own, so its results are compared up to and including our first bad
//! line.
//!
//! A disagreement fails the test unless a named deviation class of
//! `docs/line-protocol-choices.md` explains it. A class recognises its
//! deviation by its exact symptom and then, where it can, rewrites the input
//! so that the deviation is gone and everything else is left as it was; the
//! rewritten input is compared again, so a deviation does not hide another
//! difference on the same input (only `NameTooLong` ends the comparison of
//! its line). See [`Class`].
//!
//! Seeded and reproducible: `LINEDB_DIFF_SEED` (decimal or 0x-hex) sets the
//! seed, `LINEDB_DIFF_CASES` the number of generated inputs, and
//! `LINEDB_DIFF_ONLY=<case>` reruns one case. Run with `--nocapture` to see
//! the counts per class.

mod kit;

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use influxdb_line_protocol as reference;
use linedb::line_protocol::{parse, Batch, FieldValue, LineRef, NameKind, ParseError, Precision, MAX_NAME_LEN};

/// The batch's default time: lines without a timestamp get it (nanosecond
/// precision, so truncation leaves it as it is).
const NOW: i64 = 1_700_000_000_123_456_789;
const DEFAULT_SEED: u64 = 0x6c69_6e65_6462_d1ff;
const DEFAULT_CASES: usize = 85_000;
/// The test fails if fewer lines than this were compared.
const MIN_LINES: usize = 100_000;

// ---- PRNG -------------------------------------------------------------------

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        kit::sim::splitmix64(&mut self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

fn case_seed(master: u64, case: usize) -> u64 {
    Rng::new(master ^ (case as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next()
}

// ---- What a parsed line is, for comparison ------------------------------------

/// A field value; floats are held by their bits so that `-0.0 != 0.0` and a
/// NaN would equal itself.
#[derive(Clone, PartialEq)]
enum Val {
    Float(u64),
    Int(i64),
    UInt(u64),
    Str(String),
    Bool(bool),
}

impl fmt::Debug for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Float(b) => write!(f, "Float({:?} = {b:#018x})", f64::from_bits(*b)),
            Val::Int(v) => write!(f, "Int({v})"),
            Val::UInt(v) => write!(f, "UInt({v})"),
            Val::Str(s) => write!(f, "Str({s:?})"),
            Val::Bool(v) => write!(f, "Bool({v})"),
        }
    }
}

/// One parsed line, as both parsers are compared on it.
#[derive(Clone, Debug, PartialEq)]
struct Point {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Val)>,
    /// The line's timestamp, or [`NOW`] if it had none.
    time: i64,
    explicit_time: bool,
}

/// A line linedb parsed: its values and where it is in the input.
#[derive(Debug)]
struct OurLine {
    point: Point,
    /// The line's text (`LineRef::text`) as a byte range of the input.
    text: (usize, usize),
    /// First byte after the leading blanks.
    start: usize,
    /// Where the line ends: its `\n`, or the end of the input.
    end: usize,
}

/// linedb's first error, and where its line is.
#[derive(Debug)]
struct OurError {
    error: ParseError,
    /// First byte of the physical line the error names.
    line_start: usize,
    /// First byte after that line's leading blanks.
    start: usize,
    /// The byte the error's column points at.
    offset: usize,
}

#[derive(Debug)]
struct Ours {
    lines: Vec<OurLine>,
    error: Option<OurError>,
}

/// One line (non-blank, non-comment segment) of the reference parser.
#[derive(Debug)]
struct RefItem {
    /// The segment `split_lines` cut, as a byte range of the input.
    seg: (usize, usize),
    /// First byte after what the crate trims (blanks, comment lines).
    start: usize,
    result: Result<Point, RefError>,
}

#[derive(Debug)]
struct RefError {
    ends_with_backslash: bool,
    message: String,
}

/// A reference parser: the crate, or (in the tests of the harness) a
/// deliberately wrong stand-in.
type Reference = fn(&str) -> Vec<RefItem>;

fn our_value(v: &FieldValue<'_>) -> Val {
    match v {
        FieldValue::Float(x) => Val::Float(x.to_bits()),
        FieldValue::Integer(x) => Val::Int(*x),
        FieldValue::UInteger(x) => Val::UInt(*x),
        FieldValue::String(s) => Val::Str(s.to_string()),
        FieldValue::Boolean(x) => Val::Bool(*x),
    }
}

fn our_point(l: &LineRef<'_, '_>) -> Point {
    Point {
        measurement: l.measurement().to_owned(),
        tags: l.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect(),
        fields: l.fields().iter().map(|f| (f.key.to_string(), our_value(&f.value))).collect(),
        time: l.timestamp(),
        explicit_time: l.explicit_time(),
    }
}

/// Byte offset of `inner` (a subslice of `outer`) in `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    let off = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    assert!(off <= outer.len() && off + inner.len() <= outer.len(), "harness: not a subslice");
    off
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

/// First byte of the 1-based physical line `line`.
fn physical_line_start(b: &[u8], line: u64) -> usize {
    if line <= 1 {
        return 0;
    }
    nth_newline(b, (line - 2) as usize).map_or(b.len(), |p| p + 1)
}

fn nth_newline(b: &[u8], n: usize) -> Option<usize> {
    b.iter().enumerate().filter(|(_, &c)| c == b'\n').nth(n).map(|(i, _)| i)
}

fn run_ours(input: &str) -> Ours {
    let b = input.as_bytes();
    let mut batch = Batch::new();
    let result = parse(b, Precision::Nanosecond, NOW, &mut batch);
    let lines = batch
        .iter()
        .map(|l| {
            let text = l.text();
            let ts = offset_in(input, text);
            let te = ts + text.len();
            let mut end = te;
            if b.get(end) == Some(&b'\r') {
                end += 1;
            }
            assert!(end == b.len() || b[end] == b'\n', "harness: line text {text:?} does not end at a line end");
            OurLine { point: our_point(&l), text: (ts, te), start: skip_blanks(b, ts), end }
        })
        .collect();
    let error = result.err().map(|error| {
        let line_start = physical_line_start(b, error.line());
        let offset = line_start + error.column() as usize - 1;
        OurError { start: skip_blanks(b, line_start), line_start, offset, error }
    });
    Ours { lines, error }
}

/// The crate's `trim_leading` (private there): skips spaces, tabs, newlines
/// and comment lines. A segment it trims to nothing is not a line.
fn trim_leading(mut i: &str) -> &str {
    loop {
        i = i.trim_start_matches([' ', '\t', '\n']);
        if i.starts_with('#') {
            i = &i[i.find('\n').unwrap_or(i.len())..];
        } else {
            return i;
        }
    }
}

fn ref_point(l: &reference::ParsedLine<'_>) -> Point {
    use reference::FieldValue as F;
    Point {
        measurement: l.series.measurement.to_string(),
        tags: l
            .series
            .tag_set
            .as_ref()
            .map(|t| t.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default(),
        fields: l
            .field_set
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    F::I64(x) => Val::Int(*x),
                    F::U64(x) => Val::UInt(*x),
                    F::F64(x) => Val::Float(x.to_bits()),
                    F::String(s) => Val::Str(s.to_string()),
                    F::Boolean(x) => Val::Bool(*x),
                };
                (k.to_string(), v)
            })
            .collect(),
        time: l.timestamp.unwrap_or(NOW),
        explicit_time: l.timestamp.is_some(),
    }
}

/// The crate: `parse_lines` for the results, `split_lines` (which
/// `parse_lines` uses) for where each line is.
fn run_reference(input: &str) -> Vec<RefItem> {
    let spans: Vec<(usize, usize, usize)> = reference::split_lines(input)
        .filter_map(|seg| {
            let s = offset_in(input, seg);
            let e = s + seg.len();
            let content = trim_leading(seg);
            (!content.is_empty()).then_some((s, e, e - content.len()))
        })
        .collect();
    let results: Vec<Result<Point, RefError>> = reference::parse_lines(input)
        .map(|r| match r {
            Ok(l) => Ok(ref_point(&l)),
            Err(e) => Err(RefError {
                ends_with_backslash: matches!(e, reference::Error::EndsWithBackslash),
                message: e.to_string(),
            }),
        })
        .collect();
    assert_eq!(spans.len(), results.len(), "harness: split_lines/trim_leading out of step with parse_lines");
    spans
        .into_iter()
        .zip(results)
        .map(|((s, e, start), result)| RefItem { seg: (s, e), start, result })
        .collect()
}

// ---- Comparison ----------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mismatch {
    /// The parsers put line `index` at different places (or one has it and
    /// the other does not).
    Span,
    /// We accept line `index`; the reference rejects it.
    OursOkRefErr,
    /// We reject line `index` (our first error); the reference accepts it.
    OursErrRefOk,
    /// Both accept line `index` with different values.
    Values,
}

#[derive(Debug)]
struct Disagreement {
    index: usize,
    mismatch: Mismatch,
    detail: String,
}

fn disagree(index: usize, mismatch: Mismatch, detail: String) -> Option<Disagreement> {
    Some(Disagreement { index, mismatch, detail })
}

/// The first line the two results disagree on, if any.
fn diff(ours: &Ours, refs: &[RefItem]) -> Option<Disagreement> {
    for (k, ol) in ours.lines.iter().enumerate() {
        let Some(r) = refs.get(k) else {
            return disagree(k, Mismatch::Span, "the reference has no line here".into());
        };
        if (r.start, r.seg.1) != (ol.start, ol.end) {
            let detail = format!("linedb's line is {}..{}, the reference's {}..{}", ol.start, ol.end, r.start, r.seg.1);
            return disagree(k, Mismatch::Span, detail);
        }
        match &r.result {
            Err(e) => return disagree(k, Mismatch::OursOkRefErr, e.message.clone()),
            Ok(p) if *p != ol.point => {
                return disagree(k, Mismatch::Values, format!("linedb {:?}\nreference {:?}", ol.point, p));
            }
            Ok(_) => {}
        }
    }
    let k = ours.lines.len();
    match &ours.error {
        Some(e) => {
            let Some(r) = refs.get(k) else {
                return disagree(k, Mismatch::Span, "the reference has no line where linedb failed".into());
            };
            if r.start != e.start {
                let detail = format!("linedb's bad line starts at {}, the reference's line at {}", e.start, r.start);
                return disagree(k, Mismatch::Span, detail);
            }
            if let Ok(p) = &r.result {
                return disagree(k, Mismatch::OursErrRefOk, format!("linedb: {}\nreference {p:?}", e.error));
            }
        }
        None if refs.len() > k => {
            return disagree(k, Mismatch::Span, "the reference has more lines".into());
        }
        None => {}
    }
    None
}

// ---- Deviation classes -----------------------------------------------------------

/// The documented ways linedb differs from the crate
/// (docs/line-protocol-choices.md, "Where linedb differs from the reference
/// parser"), each recognised by its exact symptom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// `\r\n` or a final `\r` ends a line for linedb; the crate keeps the
    /// `\r` in the line (and rejects it) or makes a line of a lone `\r`.
    /// Symptom: the disagreeing reference line holds a `\r` that linedb
    /// took as (part of) a line ending: outside every line linedb parsed,
    /// before its bad line, followed by `\n` or the end. Rewrite: drop
    /// exactly those `\r`.
    CrLf,
    /// A float too large for a double: linedb rejects it (`FloatOverflow`),
    /// the crate reads infinity. Symptom: our first error is
    /// `FloatOverflow` of field F with token T, the reference accepts the
    /// line with an infinite float in field F, and T reads as infinity.
    /// Rewrite: T becomes `0`.
    FloatOverflow,
    /// A name that ends in an escaped backslash (`t=a\\`): linedb reads
    /// `a\`, the crate rejects it (`EndsWithBackslash`). Symptom: the crate
    /// rejects, with `EndsWithBackslash`, a line we accept, and one of our
    /// names on it ends in `\`. Rewrite: a `Z` after each escaped backslash
    /// that ends a name on that line.
    EscapedBackslashAtEnd,
    /// Where a line ends: the crate splits with a heuristic that guesses
    /// string boundaries and can merge lines or split inside a string.
    /// Symptom: both start line N at the same byte, but the crate's
    /// `split_lines` ends it at another `\n` than linedb does, and the
    /// test's own scan ([`contract_line_end`]) ends each of our lines where
    /// linedb does. Rewrite: our lines before the bad one in canonical form
    /// (which our parser must read back to the same values, and which gives
    /// the heuristic nothing to misjudge), then the rest of the input from
    /// our bad line on.
    LineSplitting,
    /// A name or string over 64 KiB: linedb rejects it (`TooLong`), the crate
    /// has no limit. Symptom: our first error is `TooLong` of a name of kind
    /// K and length L > 65536, and the reference accepts the line with a
    /// name of kind K (or, for `FieldKey`, a string value) of length L.
    /// Terminal: the rest of that line cannot be compared.
    NameTooLong,
    /// A comma after the only field of a line (`m f=1,`, `m f=1, 5`): an
    /// empty field key for linedb (`EmptyFieldKey`); the crate's field list
    /// swallows one comma after the first field (but not after a later
    /// one: it rejects `m f=1,g=2,`). Symptom: our first error is
    /// `EmptyFieldKey` right after a `,` that the end of the line or a space
    /// follows, and the reference accepts the line with exactly one field.
    /// Rewrite: drop that comma.
    TrailingCommaAfterSingleField,
    /// A UTF-8 byte-order mark at the very start of the input: linedb skips
    /// it (so a file saved by a Windows tool loads), the crate reads it as
    /// part of the first measurement. Symptom: the input starts with
    /// EF BB BF. Rewrite: drop those three bytes (a mark anywhere else is
    /// an ordinary character to both, and is compared as such).
    LeadingBom,
    /// A timestamp outside -9223372036854775806 ..= 9223372036854775806
    /// (InfluxDB 1.x/2.x's range, so every stored point can be queried):
    /// linedb rejects it (`TimestampOutOfRange`), the crate takes any i64.
    /// Symptom: our first error is `TimestampOutOfRange` with token T, the
    /// reference accepts the line with a timestamp outside the range, and
    /// T reads as that number. Rewrite: T becomes `0`.
    TimestampRange,
}

/// What a class makes of a disagreement: the input to compare again, or
/// nothing more to compare.
enum Verdict {
    Rewrite(String),
    Explained,
}

struct Round<'a> {
    input: &'a str,
    ours: &'a Ours,
    refs: &'a [RefItem],
    d: &'a Disagreement,
}

/// Recognises one class's symptom in a round.
type Classifier = fn(&Round<'_>) -> Option<Verdict>;

fn classify(r: &Round<'_>) -> Option<(Class, Verdict)> {
    let classes: [(Class, Classifier); 8] = [
        (Class::LeadingBom, leading_bom),
        (Class::TimestampRange, timestamp_range),
        (Class::CrLf, crlf),
        (Class::FloatOverflow, float_overflow),
        (Class::EscapedBackslashAtEnd, escaped_backslash_at_end),
        (Class::LineSplitting, line_splitting),
        (Class::NameTooLong, name_too_long),
        (Class::TrailingCommaAfterSingleField, trailing_comma_after_single_field),
    ];
    classes.iter().find_map(|(c, f)| f(r).map(|v| (*c, v)))
}

/// The `\r` linedb took as a line ending (or a blank line), before its first
/// bad line.
fn line_ending_crs(input: &str, ours: &Ours) -> Vec<usize> {
    let b = input.as_bytes();
    let limit = ours.error.as_ref().map_or(b.len(), |e| e.line_start);
    (0..limit)
        .filter(|&p| b[p] == b'\r' && (p + 1 == b.len() || b[p + 1] == b'\n'))
        .filter(|&p| !ours.lines.iter().any(|l| l.text.0 <= p && p < l.text.1))
        .collect()
}

fn crlf(r: &Round<'_>) -> Option<Verdict> {
    let item = r.refs.get(r.d.index)?;
    let crs = line_ending_crs(r.input, r.ours);
    if !crs.iter().any(|&p| item.seg.0 <= p && p < item.seg.1) {
        return None;
    }
    let mut out = String::with_capacity(r.input.len());
    let mut last = 0;
    for p in crs {
        out.push_str(&r.input[last..p]);
        last = p + 1;
    }
    out.push_str(&r.input[last..]);
    Some(Verdict::Rewrite(out))
}

fn leading_bom(r: &Round<'_>) -> Option<Verdict> {
    r.input.strip_prefix('\u{feff}').map(|rest| Verdict::Rewrite(rest.to_owned()))
}

fn timestamp_range(r: &Round<'_>) -> Option<Verdict> {
    if r.d.mismatch != Mismatch::OursErrRefOk {
        return None;
    }
    let e = r.ours.error.as_ref()?;
    let ParseError::TimestampOutOfRange { value, .. } = &e.error else {
        return None;
    };
    let Ok(p) = &r.refs.get(r.d.index)?.result else {
        return None;
    };
    let range = -9_223_372_036_854_775_806..=9_223_372_036_854_775_806i64;
    if !p.explicit_time || range.contains(&p.time) || value.parse::<i64>() != Ok(p.time) {
        return None;
    }
    let token_is_there = r.input.get(e.offset..).is_some_and(|rest| rest.starts_with(value.as_str()));
    if !token_is_there {
        return None;
    }
    let mut out = r.input.to_owned();
    out.replace_range(e.offset..e.offset + value.len(), "0");
    Some(Verdict::Rewrite(out))
}

fn float_overflow(r: &Round<'_>) -> Option<Verdict> {
    if r.d.mismatch != Mismatch::OursErrRefOk {
        return None;
    }
    let e = r.ours.error.as_ref()?;
    let ParseError::FloatOverflow { field, value, .. } = &e.error else {
        return None;
    };
    let Ok(p) = &r.refs.get(r.d.index)?.result else {
        return None;
    };
    let infinite = |v: &Val| matches!(v, Val::Float(b) if f64::from_bits(*b).is_infinite());
    if !p.fields.iter().any(|(k, v)| k == field && infinite(v)) {
        return None;
    }
    let token_is_there = r.input.get(e.offset..).is_some_and(|rest| rest.starts_with(value.as_str()));
    if !token_is_there || !value.parse::<f64>().is_ok_and(f64::is_infinite) {
        return None;
    }
    let mut out = r.input.to_owned();
    out.replace_range(e.offset..e.offset + value.len(), "0");
    Some(Verdict::Rewrite(out))
}

fn escaped_backslash_at_end(r: &Round<'_>) -> Option<Verdict> {
    if r.d.mismatch != Mismatch::OursOkRefErr {
        return None;
    }
    let Err(err) = &r.refs.get(r.d.index)?.result else {
        return None;
    };
    let line = r.ours.lines.get(r.d.index)?;
    let p = &line.point;
    let ends = |s: &String| s.ends_with('\\');
    let has_name_ending_in_backslash = ends(&p.measurement)
        || p.tags.iter().any(|(k, v)| ends(k) || ends(v))
        || p.fields.iter().any(|(k, _)| ends(k));
    if !err.ends_with_backslash || !has_name_ending_in_backslash {
        return None;
    }
    // Walk the line's escape pairs; after a `\\` that a name delimiter (or the
    // line's end) follows, put a `Z`. Inside a string value the pairs fall the
    // same way (`\\` and `\"` pair there too, and a lone `\` is followed by no
    // backslash), and both parsers then read the same `Z` there.
    let b = r.input.as_bytes();
    let (ts, te) = line.text;
    let mut at = Vec::new();
    let mut k = ts;
    while k < te {
        if b[k] == b'\\' && k + 1 < te {
            if b[k + 1] == b'\\' && (k + 2 == te || matches!(b[k + 2], b' ' | b',' | b'=' | b'\t' | b'\n' | b'\r')) {
                at.push(k + 2);
            }
            k += 2;
        } else {
            k += 1;
        }
    }
    if at.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(r.input.len() + at.len());
    let mut last = 0;
    for q in at {
        out.push_str(&r.input[last..q]);
        out.push('Z');
        last = q;
    }
    out.push_str(&r.input[last..]);
    Some(Verdict::Rewrite(out))
}

fn line_splitting(r: &Round<'_>) -> Option<Verdict> {
    if r.d.mismatch != Mismatch::Span {
        return None;
    }
    let line = r.ours.lines.get(r.d.index)?;
    let item = r.refs.get(r.d.index)?;
    if item.start != line.start || item.seg.1 == line.end {
        return None;
    }
    // One of them goes on past a `\n` at which the other stops.
    let cut = item.seg.1.min(line.end);
    if r.input.as_bytes().get(cut) != Some(&b'\n') {
        return None;
    }
    // Our lines end where the contract says, by a scan of our own.
    let b = r.input.as_bytes();
    if r.ours.lines.iter().any(|l| contract_line_end(b, l.start) != l.end) {
        return None;
    }
    let mut out = String::new();
    for l in &r.ours.lines {
        write_canonical(&mut out, &l.point);
        out.push('\n');
    }
    if out.starts_with('\u{feff}') {
        // A measurement that starts with a byte-order mark, put first: a
        // blank line before it keeps the mark from being skipped.
        out.insert(0, '\n');
    }
    if let Some(e) = &r.ours.error {
        out.push_str(&r.input[e.start..]);
    }
    // The rewrite must mean the same to us.
    let again = run_ours(&out);
    let same = again.lines.len() == r.ours.lines.len()
        && again.lines.iter().zip(&r.ours.lines).all(|(a, b)| a.point == b.point)
        && again.error.is_some() == r.ours.error.is_some();
    same.then_some(Verdict::Rewrite(out))
}

/// Where a valid line that starts at `start` ends by LINE_PROTOCOL.md: at
/// the first `\n` that is neither escaped (in a name, `\` takes the next
/// byte) nor inside a string field value (which runs to the next `"` not
/// escaped by `\`). A scan independent of both parsers, for valid lines only.
fn contract_line_end(b: &[u8], start: usize) -> usize {
    let n = b.len();
    let rest_of_line = |i: usize| b[i.min(n)..].iter().position(|&c| c == b'\n').map_or(n, |p| i.min(n) + p);
    let mut i = start;
    // The series key ends at the first unescaped space.
    while i < n && b[i] != b' ' {
        if b[i] == b'\n' {
            return i;
        }
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    while i < n && b[i] == b' ' {
        i += 1;
    }
    loop {
        // A field key ends at its unescaped `=`.
        while i < n && b[i] != b'=' {
            if matches!(b[i], b'\n' | b' ') {
                return rest_of_line(i);
            }
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
        if i < n && b[i] == b'"' {
            i += 1;
            while i < n && b[i] != b'"' {
                i += if b[i] == b'\\' && matches!(b.get(i + 1), Some(b'"' | b'\\')) { 2 } else { 1 };
            }
            i += 1;
        } else {
            while i < n && !matches!(b[i], b',' | b' ' | b'\n') {
                i += 1;
            }
        }
        if i < n && b[i] == b',' {
            i += 1;
        } else {
            // The timestamp, if any, and blanks: to the end of the line.
            return rest_of_line(i);
        }
    }
}

fn name_too_long(r: &Round<'_>) -> Option<Verdict> {
    if r.d.mismatch != Mismatch::OursErrRefOk {
        return None;
    }
    let e = r.ours.error.as_ref()?;
    let ParseError::TooLong { kind, len, .. } = e.error else {
        return None;
    };
    let Ok(p) = &r.refs.get(r.d.index)?.result else {
        return None;
    };
    let found = match kind {
        NameKind::Measurement => p.measurement.len() == len,
        NameKind::TagKey => p.tags.iter().any(|(k, _)| k.len() == len),
        NameKind::TagValue => p.tags.iter().any(|(_, v)| v.len() == len),
        NameKind::FieldKey => p.fields.iter().any(|(k, _)| k.len() == len),
        NameKind::StringValue => p.fields.iter().any(|(_, v)| matches!(v, Val::Str(s) if s.len() == len)),
    };
    (len > MAX_NAME_LEN && found).then_some(Verdict::Explained)
}

fn trailing_comma_after_single_field(r: &Round<'_>) -> Option<Verdict> {
    if r.d.mismatch != Mismatch::OursErrRefOk {
        return None;
    }
    let e = r.ours.error.as_ref()?;
    if !matches!(e.error, ParseError::EmptyFieldKey { .. }) {
        return None;
    }
    let Ok(p) = &r.refs.get(r.d.index)?.result else {
        return None;
    };
    let b = r.input.as_bytes();
    let comma = e.offset.checked_sub(1)?;
    let then_end_or_space = e.offset == b.len() || matches!(b[e.offset], b' ' | b'\n');
    if p.fields.len() != 1 || b.get(comma) != Some(&b',') || !then_end_or_space {
        return None;
    }
    let mut out = r.input.to_owned();
    out.remove(comma);
    Some(Verdict::Rewrite(out))
}

// ---- A canonical writer of our own (for the LineSplitting rewrite) -------------

fn write_name(out: &mut String, s: &str, measurement: bool) {
    let escapable = |c: u8| matches!(c, b',' | b' ' | b'\\') || (!measurement && c == b'=');
    let b = s.as_bytes();
    for (i, ch) in s.char_indices() {
        match ch {
            // `\x` with x no escape reads as both characters: write it so.
            '\\' if b.get(i + 1).is_some_and(|&n| !escapable(n)) => out.push('\\'),
            '\\' | ',' | ' ' => {
                out.push('\\');
                out.push(ch);
            }
            '=' if !measurement => out.push_str("\\="),
            _ => out.push(ch),
        }
    }
}

fn write_canonical(out: &mut String, p: &Point) {
    write_name(out, &p.measurement, true);
    for (k, v) in &p.tags {
        out.push(',');
        write_name(out, k, false);
        out.push('=');
        write_name(out, v, false);
    }
    for (n, (k, v)) in p.fields.iter().enumerate() {
        out.push(if n == 0 { ' ' } else { ',' });
        write_name(out, k, false);
        out.push('=');
        let _ = match v {
            Val::Float(b) => write!(out, "{:?}", f64::from_bits(*b)),
            Val::Int(x) => write!(out, "{x}i"),
            Val::UInt(x) => write!(out, "{x}u"),
            Val::Bool(x) => write!(out, "{x}"),
            Val::Str(s) => {
                out.push('"');
                for ch in s.chars() {
                    if ch == '"' || ch == '\\' {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push('"');
                Ok(())
            }
        };
    }
    if p.explicit_time {
        let _ = write!(out, " {}", p.time);
    }
}

// ---- The check of one input ---------------------------------------------------------

#[derive(Debug)]
struct Failure {
    /// The input as rewritten by the classes applied so far.
    current: String,
    classes: Vec<Class>,
    disagreement: Disagreement,
    ours: String,
    reference: String,
}

#[derive(Debug, Default)]
struct Checked {
    classes: Vec<Class>,
    /// Lines of the original input looked at: ours up to and including the
    /// first bad one (the reference's results are compared against them).
    lines: usize,
    accepted: usize,
    rejected: bool,
}

/// Compares the parsers on `input`; explains each disagreement by a class
/// and compares the rewritten input again, until they agree.
fn check(input: &str, reference: Reference) -> Result<Checked, Box<Failure>> {
    let mut current = input.to_owned();
    let mut checked = Checked::default();
    for round in 0..64 {
        let ours = run_ours(&current);
        let refs = reference(&current);
        if round == 0 {
            checked.accepted = ours.lines.len();
            checked.rejected = ours.error.is_some();
            checked.lines = ours.lines.len() + usize::from(ours.error.is_some());
        }
        let Some(d) = diff(&ours, &refs) else {
            return Ok(checked);
        };
        let round = Round { input: &current, ours: &ours, refs: &refs, d: &d };
        match classify(&round) {
            Some((class, verdict)) => {
                checked.classes.push(class);
                match verdict {
                    Verdict::Rewrite(next) => current = next,
                    Verdict::Explained => return Ok(checked),
                }
            }
            None => {
                return Err(Box::new(Failure {
                    classes: checked.classes,
                    ours: format!("{ours:#?}"),
                    reference: format!("{refs:#?}"),
                    current,
                    disagreement: d,
                }));
            }
        }
    }
    panic!("harness: no agreement after 64 rewrites of {:?}", escape(input.as_bytes()));
}

fn escape(b: &[u8]) -> String {
    b.iter().flat_map(|&c| std::ascii::escape_default(c)).map(char::from).collect()
}

// ---- Generation -----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
}

const WORDS: &[&str] = &["cpu", "host", "m", "a", "b", "region", "x1", "value", "_id", "time", "T", "f", "true", "e5"];
const UNICODE: &[&str] = &["é", "日本", "🦀", "\u{feff}", "ß", "Ω", "\u{a0}"];
const PUNCT: &[&str] = &["\"", "#", "'", "-", ".", "+", "_", "/", ":", ";", "{", "}", "[", "*"];
const VALUE_LIKE: &[&str] = &["t", "f", "1", "1i", "2u", "1e5", "-1", "0", "1.5", "\"s\"", "TRUE"];
/// A backslash before a character that is no escape in a name: both kept.
const NON_ESCAPES: &[&str] = &["\\x", "\\\"", "\\#", "\\é", "\\\t", "\\n", "\\'", "\\1", "\\\r"];

fn gen_name(r: &mut Rng, slot: Slot) -> String {
    let mut s = String::new();
    let mut ends_in_escaped_backslash = false;
    for _ in 0..r.range(1, 4) {
        ends_in_escaped_backslash = false;
        match r.below(100) {
            0..=39 => s.push_str(r.pick(WORDS)),
            40..=51 => {
                let escapes: &[&str] = if slot == Slot::Measurement {
                    &["\\,", "\\ ", "\\\\"]
                } else {
                    &["\\,", "\\ ", "\\\\", "\\="]
                };
                let e = r.pick(escapes);
                ends_in_escaped_backslash = e == "\\\\";
                s.push_str(e);
            }
            // Unescaped characters that are part of a name in this slot.
            52..=57 => s.push(if matches!(slot, Slot::Measurement | Slot::TagValue) { '=' } else { ',' }),
            58..=64 => s.push_str(r.pick(NON_ESCAPES)),
            65..=72 => s.push_str(r.pick(PUNCT)),
            73..=80 => s.push_str(r.pick(UNICODE)),
            81..=87 => s.push_str(r.pick(VALUE_LIKE)),
            88..=89 => {
                // A carriage return inside a name.
                s.push('\r');
                s.push('q');
            }
            90 => s.push_str(if r.one_in(3) { "\\\n" } else { "\\\0" }),
            91 => s.push('\0'),
            _ => {
                for _ in 0..r.range(1, 3) {
                    s.push(char::from(b'0' + r.below(10) as u8));
                }
            }
        }
    }
    if slot == Slot::Measurement && s.starts_with('#') {
        s.insert(0, 'm');
    }
    // A name ending in an escaped backslash is a documented deviation
    // (EscapedBackslashAtEnd): only now and then, so that it does not take
    // over the comparison.
    if ends_in_escaped_backslash && !r.one_in(4) {
        s.push('z');
    }
    if r.one_in(150) {
        // An escaped backslash at the end (EscapedBackslashAtEnd).
        s.push_str("\\\\");
    }
    s
}

const FLOAT_EDGES: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "01",
    "007.5",
    "1",
    "-1",
    "1.5",
    "0.1",
    "0.30000000000000004",
    "1e3",
    "1E3",
    "2e-3",
    "2E-3",
    "1.5e+2",
    "1.5E+2",
    "-1.5e-2",
    "1e0",
    "1e-0",
    "1e+0",
    "1e0005",
    "-0e0",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "1e308",
    "1e309",
    "-1e309",
    "1e400",
    "1e-400",
    "-1e-400",
    "5e-324",
    "4.9e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "2.2250738585072014e-308",
    "2.2250738585072011e-308",
    "9007199254740993",
    "9007199254740992.5",
    "123456789012345",
    "1234567890123456",
    "999999999999999.9",
    "0.000000000000001",
    "0.0000000000000001",
    "12345678901234567890",
    "0e99999999999999999999",
    "1e99999999999999999999",
    "1e-99999999999999999999",
    "9223372036854775807",
    "18446744073709551616",
    "17976931348623157000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "179769313486231580000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
];

const INT_EDGES: &[&str] = &[
    "0",
    "-0",
    "007",
    "-007",
    "1",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "00000000000000000000000000001",
    "99999999999999999999",
];

const UINT_EDGES: &[&str] =
    &["0", "000", "1", "18446744073709551615", "18446744073709551616", "000000000000000000000018446744073709551615", "9223372036854775808"];

const BOOLS: &[&str] = &["t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"];

const STRING_PIECES: &[&str] = &[
    "abc", "x", " ", ",", "=", "#", "\\\"", "\\\\", "\\n", "\\,", "\\ ", "\\\t", "\n", "\r\n", "\t", "é", "'", "\\é", "{",
    "\\x", "a=b", "\"\"", "\\\\\\\"", "🦀", "\r",
];

fn digits(r: &mut Rng, s: &mut String, n: usize) {
    for _ in 0..n {
        s.push(char::from(b'0' + r.below(10) as u8));
    }
}

fn gen_float(r: &mut Rng, s: &mut String) {
    if r.percent(30) {
        s.push_str(r.pick(FLOAT_EDGES));
        return;
    }
    if r.percent(20) {
        s.push('-');
    }
    if r.one_in(10) {
        s.push_str("00");
    }
    let n = if r.percent(70) { r.range(1, 4) } else { r.range(1, 20) };
    digits(r, s, n);
    if r.percent(50) {
        s.push('.');
        let n = if r.percent(70) { r.range(1, 4) } else { r.range(1, 22) };
        digits(r, s, n);
    }
    if r.percent(25) {
        s.push(if r.percent(50) { 'e' } else { 'E' });
        match r.below(3) {
            0 => s.push('-'),
            1 => s.push('+'),
            _ => {}
        }
        let n = r.range(1, 3);
        digits(r, s, n);
    }
}

fn gen_value(r: &mut Rng, s: &mut String) {
    match r.below(100) {
        0..=34 => gen_float(r, s),
        35..=54 => {
            if r.percent(30) {
                s.push_str(r.pick(INT_EDGES));
            } else if r.percent(50) {
                let _ = write!(s, "{}", r.next() as i64);
            } else {
                let _ = write!(s, "{}", (r.next() % 2000) as i64 - 1000);
            }
            s.push('i');
        }
        55..=64 => {
            if r.percent(30) {
                s.push_str(r.pick(UINT_EDGES));
            } else {
                let _ = write!(s, "{}", r.next() >> r.below(64));
            }
            s.push('u');
        }
        65..=84 => {
            s.push('"');
            for _ in 0..r.below(6) {
                s.push_str(r.pick(STRING_PIECES));
            }
            s.push('"');
        }
        _ => s.push_str(r.pick(BOOLS)),
    }
}

const TIME_EDGES: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "0001",
    "1700000000000000000",
    "-1700000000000000000",
    "1700000000123456789",
];

fn spaces(r: &mut Rng, s: &mut String) {
    s.push_str(if r.one_in(8) { r.pick(&["  ", "   "]) } else { " " });
}

fn gen_line(r: &mut Rng) -> String {
    let mut s = String::new();
    if r.one_in(12) {
        for _ in 0..r.range(1, 3) {
            s.push(r.pick(&[' ', '\t']));
        }
    }
    s.push_str(&gen_name(r, Slot::Measurement));
    let tags = r.pick(&[0, 0, 1, 1, 2, 3]);
    for _ in 0..tags {
        s.push(',');
        s.push_str(&gen_name(r, Slot::TagKey));
        s.push('=');
        s.push_str(&gen_name(r, Slot::TagValue));
    }
    spaces(r, &mut s);
    let fields = r.pick(&[1, 1, 1, 2, 2, 3, 4]);
    for n in 0..fields {
        if n > 0 {
            s.push(',');
        }
        s.push_str(&gen_name(r, Slot::FieldKey));
        s.push('=');
        gen_value(r, &mut s);
    }
    if r.percent(40) {
        spaces(r, &mut s);
        if r.percent(25) {
            s.push_str(r.pick(TIME_EDGES));
        } else if r.percent(50) {
            let _ = write!(s, "{}", r.next() as i64);
        } else {
            let _ = write!(s, "{}", (r.next() % 2_000_000) as i64 - 1_000_000);
        }
        if r.one_in(10) {
            spaces(r, &mut s);
        }
    }
    s
}

/// Blank lines, comments, a lone `\r`.
fn gen_special(r: &mut Rng) -> String {
    match r.below(6) {
        0 => String::new(),
        1 => (0..r.range(1, 4)).map(|_| r.pick(&[' ', '\t'])).collect(),
        2 => "\r".into(),
        3 => format!("#{}", gen_line(r)),
        _ => {
            let mut s: String = (0..r.below(3)).map(|_| r.pick(&[' ', '\t'])).collect();
            s.push('#');
            for _ in 0..r.range(0, 5) {
                s.push_str(r.pick(&[" ", "a", "=", "\"", ",", "\\", "x=1", "\"q\"", "é", "#"]));
            }
            s
        }
    }
}

/// Bytes that mean something in the grammar, to insert and replace with.
const ALPHABET: &[u8] = b", =\\\"\n\r\t#iu.e-+0123456789azTFtfE\0";
const TOKENS: &[&str] = &[
    "\\\\", "\\", "\"", "\r\n", "\\\"", ",", "=", "  ", "i", "u", "e", "E-", ".5", "#", "\t", "9223372036854775808", "e400",
    "\\ ", "\\,", "\\=", "é", "true", "-", "\n#", ",t=a", " f=1", "\"\n\"",
];

fn char_start(s: &[u8], mut p: usize) -> usize {
    while p > 0 && p < s.len() && (s[p] & 0xC0) == 0x80 {
        p -= 1;
    }
    p
}

fn char_len(s: &[u8], p: usize) -> usize {
    let mut q = p + 1;
    while q < s.len() && (s[q] & 0xC0) == 0x80 {
        q += 1;
    }
    q - p
}

/// Deletes, inserts, replaces, duplicates, swaps or cuts, keeping whole
/// characters (so the result stays UTF-8).
fn mutate(r: &mut Rng, s: &mut Vec<u8>) {
    for _ in 0..r.range(1, 3) {
        let n = s.len();
        let p = char_start(s, r.below(n + 1));
        match r.below(8) {
            0 | 1 if p < n => {
                let l = char_len(s, p);
                s.drain(p..p + l);
            }
            2 => s.insert(p, r.pick(ALPHABET)),
            3 if p < n => {
                let l = char_len(s, p);
                s.splice(p..p + l, [r.pick(ALPHABET)]);
            }
            4 if p < n => {
                let q = char_start(s, (p + r.range(1, 8)).min(n));
                let q = if q <= p { p + char_len(s, p) } else { q };
                let copy = s[p..q].to_vec();
                s.splice(q..q, copy);
            }
            5 => {
                let t = r.pick(TOKENS).as_bytes();
                s.splice(p..p, t.iter().copied());
            }
            6 if p + 1 < n && s[p].is_ascii() && s[p + 1].is_ascii() => s.swap(p, p + 1),
            7 if r.one_in(3) => s.truncate(p),
            _ => s.insert(p, r.pick(ALPHABET)),
        }
    }
}

/// A line with a name or string of about 64 KiB.
fn gen_long_line(r: &mut Rng) -> String {
    let len = MAX_NAME_LEN - 1 + r.below(4);
    let body = "x".repeat(len);
    match r.below(5) {
        0 => format!("{body} f=1"),
        1 => format!("m,{body}=v f=1"),
        2 => format!("m,t={body} f=1"),
        3 => format!("m {body}=1"),
        _ => format!("m f=\"{body}\""),
    }
}

struct Case {
    bytes: Vec<u8>,
    batch: bool,
    mutated: bool,
}

fn gen_case(r: &mut Rng) -> Case {
    if r.one_in(4000) {
        return Case { bytes: gen_long_line(r).into_bytes(), batch: false, mutated: false };
    }
    let batch = r.one_in(6);
    let mut mutated = false;
    let mut bytes = if batch {
        let eol = if r.percent(8) { "\r\n" } else { "\n" };
        let mut s = Vec::new();
        let lines = r.range(2, 8);
        for n in 0..lines {
            let mut line = if r.percent(15) { gen_special(r) } else { gen_line(r) }.into_bytes();
            if r.percent(12) {
                mutate(r, &mut line);
                mutated = true;
            }
            s.extend_from_slice(&line);
            if n + 1 < lines || r.percent(50) {
                s.extend_from_slice(eol.as_bytes());
            }
        }
        s
    } else {
        let mut s = if r.one_in(25) { gen_special(r) } else { gen_line(r) }.into_bytes();
        match r.below(100) {
            0..=49 => {}
            50..=91 => s.push(b'\n'),
            _ => s.extend_from_slice(b"\r\n"),
        }
        s
    };
    if r.percent(if batch { 10 } else { 55 }) {
        mutate(r, &mut bytes);
        mutated = true;
    }
    if r.one_in(300) {
        // Invalid UTF-8: a stray continuation byte, a lone lead byte, a cut
        // sequence.
        let p = char_start(&bytes, r.below(bytes.len() + 1));
        let bad: &[u8] = r.pick(&[&b"\xff"[..], &b"\x80"[..], b"\xc3", b"\xe6\x97", b"\xed\xa0\x80"]);
        bytes.splice(p..p, bad.iter().copied());
    }
    Case { bytes, batch, mutated }
}

/// Inputs written by hand: the examples of the docs and the edges.
fn fixed_inputs() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "cpu,host=a,region=west usage=64.2,n=3i 1590488773254420000",
        "m,a,b=c f=1",
        "m a,b=1",
        "m\0x f=1",
        "m,t\0=v\0 f\0=\"\0\"",
        "m,t=a\\\nb f=1 1\nm f=2 2",
        "m\tf=1",
        "m  f=1   5  ",
        "m f=1 1\r\nm,t=a g=2i\r\nm s=\"x\"\r",
        "\r\nm f=1\r\n\r\n\r",
        "m\rx f=1",
        "m s=\"a\r\nb\"",
        "m f=1e400",
        "m f=-1.8e308",
        "m,t=a\\\\ f=1",
        "m\\\\ f=1",
        "m,k\\\\=v f\\\\=1",
        "# a=\"b\nm f=1\nm g=2",
        "m,k=\"x y\" f=1",
        " m,t=\"x f=1\nm g=2",
        "m a,b=1,s=\"x\ny\"",
        "m f=1 # note",
        "m f=1 1 # note",
        "m#x f=1",
        "# a comment\n   # indented, with \"quote and = sign\nm f=1 1\n#last",
        "m f=1 ",
        "\u{feff}m f=1",
        "a\\,b\\ c\\\\d f=1",
        "a=b f=1",
        "a\\=b f=1",
        "m,k\\,\\=\\ \\\\x=v\\,\\=\\ \\\\y f\\,\\=\\ \\\\z=1",
        "m,k=v=w f=1",
        "m s=\"a \\\"q\\\" \\\\ b\"",
        "m s=\"a\\nb\\,c\"",
        "m s=\"a\nb\"",
        "m\\x f=1",
        "m,t\\x=v\\é f=1",
        "m,t=a\\\tb f=1",
        "m\\",
        "m,t\\",
        "m,t=a\\",
        "m f\\",
        "m f=.5",
        "m f=5.",
        "m f=+1",
        "m f=NaN",
        "m f=inf",
        "m f=1e",
        "m f=1x",
        "m f=-",
        "m f=-9223372036854775808i",
        "m f=9223372036854775807i",
        "m f=007i",
        "m f=+1i",
        "m f=1.5i",
        "m f=9223372036854775808i",
        "m,t=a f=1i2",
        "m f=18446744073709551615u",
        "m f=0u",
        "m f=-1u",
        "m f=18446744073709551616u",
        "m f=1uu",
        "m f=\"\"",
        "m f='a'",
        "m f=word",
        "m f=\"abc",
        "m f=\"abc\"x",
        "m f=tRUE",
        "m f=tru",
        "m f=falsey",
        "m f=1 -1",
        "m f=1 -9223372036854775808",
        "m f=1 9223372036854775807",
        "m f=1 9223372036854775808",
        "m f=1 +1",
        "m f=1 1.5",
        "m f=1 -",
        ",t=a f=1",
        "m, f=1",
        "m,=v f=1",
        "m,t f=1",
        "m,t= f=1",
        "m,t=a,",
        "m",
        "m,t=a",
        "m   ",
        "m =1",
        "m f=1,",
        "m f",
        "m f=",
        "m f=,g=1",
        "m f=1,g=2 3 4",
        "m,t=a,t=a f=1,f=2",
        "",
        "\n\n  \n# only a comment\n\r\n",
        "# c\\\nm f=1\nm g=2",
        "m f=1\\\nm g=2",
        "m\\\0 f=1",
        "m f=1 1\t",
        "m f=\"a\\\" 1",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for len in [MAX_NAME_LEN, MAX_NAME_LEN + 1] {
        let x = "x".repeat(len);
        for s in [
            format!("{x} f=1"),
            format!("m,{x}=v f=1"),
            format!("m,t={x} f=1"),
            format!("m {x}=1"),
            format!("m f=\"{x}\""),
        ] {
            v.push(s.into_bytes());
        }
    }
    v.push("\\,".repeat(32_768).into_bytes().into_iter().chain(*b" f=1").collect());
    v
}

// ---- The test ------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn panic_message(cause: &(dyn std::any::Any + Send)) -> String {
    cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[derive(Default)]
struct Stats {
    inputs: usize,
    batches: usize,
    mutated: usize,
    lines: usize,
    accepted_lines: usize,
    rejected_inputs: usize,
    invalid_utf8: usize,
    explained_inputs: usize,
    classes: BTreeMap<String, usize>,
}

/// Runs one input; returns a report of what went wrong, if anything.
fn run_case(bytes: &[u8], stats: &mut Stats) -> Option<String> {
    stats.inputs += 1;
    let Ok(input) = std::str::from_utf8(bytes) else {
        // The crate takes only `&str`: here linedb alone, which must reject.
        stats.invalid_utf8 += 1;
        let mut b = Batch::new();
        return match panic::catch_unwind(AssertUnwindSafe(|| parse(bytes, Precision::Nanosecond, NOW, &mut b))) {
            Ok(Err(_)) => None,
            Ok(Ok(())) => Some(format!("input: b\"{}\"\nlinedb accepted invalid UTF-8", escape(bytes))),
            Err(cause) => Some(format!("input: b\"{}\"\npanic: {}", escape(bytes), panic_message(&*cause))),
        };
    };
    match panic::catch_unwind(AssertUnwindSafe(|| check(input, run_reference))) {
        Ok(Ok(c)) => {
            stats.lines += c.lines;
            stats.accepted_lines += c.accepted;
            stats.rejected_inputs += usize::from(c.rejected);
            if !c.classes.is_empty() {
                stats.explained_inputs += 1;
            }
            for class in c.classes {
                *stats.classes.entry(format!("{class:?}")).or_default() += 1;
            }
            None
        }
        Ok(Err(f)) => Some(format!(
            "input: b\"{}\"\nclasses applied first: {:?}\ncompared (after those rewrites): b\"{}\"\n\
             disagreement on line {} ({:?}): {}\nlinedb: {}\nreference: {}",
            escape(bytes),
            f.classes,
            escape(f.current.as_bytes()),
            f.disagreement.index,
            f.disagreement.mismatch,
            f.disagreement.detail,
            f.ours,
            f.reference,
        )),
        Err(cause) => Some(format!("input: b\"{}\"\npanic: {}", escape(bytes), panic_message(&*cause))),
    }
}

#[test]
fn differential_against_influxdb_line_protocol() {
    let seed = env_u64("LINEDB_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_u64("LINEDB_DIFF_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only = env_u64("LINEDB_DIFF_ONLY").map(|n| n as usize);
    let started = Instant::now();
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let mut failed_cases = 0usize;

    if only.is_none() {
        for (n, bytes) in fixed_inputs().iter().enumerate() {
            if let Some(f) = run_case(bytes, &mut stats) {
                let f = format!("fixed input {n}\n{f}");
                failed_cases += 1;
                failures.push(f);
            }
        }
    }
    let range = match only {
        Some(c) => c..c + 1,
        None => 0..cases,
    };
    for case in range {
        let mut r = Rng::new(case_seed(seed, case));
        let c = gen_case(&mut r);
        stats.batches += usize::from(c.batch);
        stats.mutated += usize::from(c.mutated);
        if let Some(f) = run_case(&c.bytes, &mut stats) {
            let f = format!("case {case} (rerun: LINEDB_DIFF_SEED={seed:#x} LINEDB_DIFF_ONLY={case})\n{f}");
            failed_cases += 1;
            if failures.len() < 10 {
                failures.push(f);
            }
        }
    }

    println!("differential test, seed {seed:#x}, {:.1?}", started.elapsed());
    println!(
        "  inputs {} ({} batches, {} mutated, {} not UTF-8 and checked on linedb alone)",
        stats.inputs, stats.batches, stats.mutated, stats.invalid_utf8
    );
    println!(
        "  lines compared {}: {} accepted by both; {} inputs rejected by linedb",
        stats.lines, stats.accepted_lines, stats.rejected_inputs
    );
    println!("  inputs with a documented deviation: {}", stats.explained_inputs);
    let all = [
        "CrLf",
        "FloatOverflow",
        "EscapedBackslashAtEnd",
        "LineSplitting",
        "NameTooLong",
        "TrailingCommaAfterSingleField",
        "LeadingBom",
        "TimestampRange",
    ];
    for class in all {
        println!("    {class:<30} {}", stats.classes.get(class).copied().unwrap_or(0));
    }
    assert!(
        failures.is_empty(),
        "{failed_cases} inputs disagree (first {} shown):\n\n{}",
        failures.len(),
        failures.join("\n\n----------------\n\n")
    );
    if only.is_none() && cases >= DEFAULT_CASES {
        assert!(stats.lines >= MIN_LINES, "only {} lines compared", stats.lines);
    }
}

// ---- The harness itself ------------------------------------------------------------

/// The crate, with every finite float one ulp off.
fn nudged_floats(input: &str) -> Vec<RefItem> {
    let mut items = run_reference(input);
    for it in &mut items {
        if let Ok(p) = &mut it.result {
            for (_, v) in &mut p.fields {
                if let Val::Float(b) = v {
                    if f64::from_bits(*b).is_finite() {
                        *b ^= 1;
                    }
                }
            }
        }
    }
    items
}

/// The crate, rejecting every line.
fn rejects_all(input: &str) -> Vec<RefItem> {
    let mut items = run_reference(input);
    for it in &mut items {
        it.result = Err(RefError { ends_with_backslash: false, message: "rejected by the stand-in".into() });
    }
    items
}

/// The crate, with string values and tag values changed.
fn changes_strings(input: &str) -> Vec<RefItem> {
    let mut items = run_reference(input);
    for it in &mut items {
        if let Ok(p) = &mut it.result {
            for (_, v) in &mut p.tags {
                v.push('!');
            }
            for (_, v) in &mut p.fields {
                if let Val::Str(s) = v {
                    s.push('!');
                }
            }
        }
    }
    items
}

/// The crate, forgetting timestamps.
fn drops_timestamps(input: &str) -> Vec<RefItem> {
    let mut items = run_reference(input);
    for it in &mut items {
        if let Ok(p) = &mut it.result {
            p.time = NOW;
            p.explicit_time = false;
        }
    }
    items
}

/// The crate, with every line one byte shorter at its end.
fn short_lines(input: &str) -> Vec<RefItem> {
    let mut items = run_reference(input);
    for it in &mut items {
        it.seg.1 -= 1;
    }
    items
}

#[test]
fn harness_reports_disagreements() {
    let fails = |input: &str, reference: Reference| {
        let r = check(input, reference);
        assert!(r.is_err(), "{input:?} should disagree, got {r:?}");
        r.err().map(|f| f.disagreement.mismatch)
    };
    assert_eq!(fails("m f=1.5", nudged_floats), Some(Mismatch::Values));
    assert_eq!(fails("m f=0", nudged_floats), Some(Mismatch::Values));
    assert_eq!(fails("m f=1", rejects_all), Some(Mismatch::OursOkRefErr));
    assert_eq!(fails("m,t=a f=1", changes_strings), Some(Mismatch::Values));
    assert_eq!(fails("m s=\"a\\\"b\"", changes_strings), Some(Mismatch::Values));
    assert_eq!(fails("m f=1 5", drops_timestamps), Some(Mismatch::Values));
    assert_eq!(fails("m f=1\nm g=2", short_lines), Some(Mismatch::Span));
    // A later line of a batch.
    assert_eq!(fails("m f=1i\nm g=2.5", nudged_floats).map(|_| ()), Some(()));
    // A deviation class on the same input does not hide another difference:
    // the class rewrites the input, and the rewrite is compared again.
    let f = check("m f=1.5\r\n", nudged_floats).expect_err("disagreement");
    assert_eq!((f.classes.as_slice(), f.disagreement.mismatch), (&[Class::CrLf][..], Mismatch::Values));
    let f = check("m,t=a\\\\ f=2.5", nudged_floats).expect_err("disagreement");
    assert_eq!(f.classes, [Class::EscapedBackslashAtEnd]);
    let f = check("m f=1e400,g=1.5", nudged_floats).expect_err("disagreement");
    assert_eq!(f.classes, [Class::FloatOverflow]);
    let f = check("# a=\"b\nm f=1\nm g=2.5", nudged_floats).expect_err("disagreement");
    assert_eq!(f.classes, [Class::LineSplitting]);
    // Our rejection is not excused by a class meant for something else.
    assert!(check("m f=1e400\r\n", rejects_all).is_ok(), "both reject");
    assert_eq!(fails("m,t=a\\\\ f=1", rejects_all), Some(Mismatch::OursOkRefErr));
    // Values: -0.0 and 0.0 differ.
    let ours = run_ours("m f=-0");
    let refs = run_reference("m f=00");
    assert_eq!(diff(&ours, &refs).map(|d| d.mismatch), Some(Mismatch::Values));
}

#[test]
fn each_documented_deviation_is_recognised() {
    let classes = |input: &str| match check(input, run_reference) {
        Ok(c) => c.classes,
        Err(f) => panic!("{input:?}: {f:#?}"),
    };
    assert_eq!(classes("m f=1 1\r\nm g=2"), [Class::CrLf]);
    assert_eq!(classes("\r\nm f=1\r"), [Class::CrLf]);
    assert_eq!(classes("m f=1e400"), [Class::FloatOverflow]);
    assert_eq!(classes("m f=-1e400,g=1e999 5"), [Class::FloatOverflow, Class::FloatOverflow]);
    assert_eq!(classes("m,t=a\\\\ f=1"), [Class::EscapedBackslashAtEnd]);
    assert_eq!(classes("m\\\\,k\\\\=v\\\\\\\\ f\\\\=1"), [Class::EscapedBackslashAtEnd]);
    assert_eq!(classes("# a=\"b\nm f=1\nm g=2"), [Class::LineSplitting]);
    assert_eq!(classes("m a,b=1,s=\"x\ny\""), [Class::LineSplitting]);
    assert_eq!(classes(&format!("m,t={} f=1", "x".repeat(MAX_NAME_LEN + 1))), [Class::NameTooLong]);
    assert_eq!(classes("m f=1,"), [Class::TrailingCommaAfterSingleField]);
    assert_eq!(classes("m,t=a f=\"x\", -5\n"), [Class::TrailingCommaAfterSingleField]);
    // (The crate rejects a comma after a later field, as linedb does.)
    assert_eq!(classes("m f=1,g=2,"), []);
    assert_eq!(classes("\u{feff}m f=1 5\nn g=2"), [Class::LeadingBom]);
    assert_eq!(classes("m f=1 9223372036854775807"), [Class::TimestampRange]);
    assert_eq!(classes("m f=1 1\nm f=2 -9223372036854775808"), [Class::TimestampRange]);
    assert_eq!(classes("m f=1 -9223372036854775807"), [Class::TimestampRange]);
    // And none where the parsers agree.
    assert_eq!(classes("m,t=a f=1,s=\"x\ny\" 5\n# c\nm g=-0"), []);
}
