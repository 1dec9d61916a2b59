//! The line protocol parser: one pass over the batch, no allocation per line
//! unless a name or string has escapes to resolve.
//!
//! The parser walks the whole input rather than splitting it into lines
//! first, because a string value may hold newlines: a line ends at the first
//! `\n` that is neither inside a string nor escaped by a backslash. Large
//! inputs are parsed on two threads at once (`split.rs`), from ranges that
//! start at guessed line boundaries, which the parse before them confirms.

use std::borrow::Cow;

use super::error::{NameKind, ParseError, Position};
use super::number;
use super::scan;
use super::types::{Batch, Field, FieldValue, Line, Precision, Tag};

/// Longest name or string value, in bytes after unescaping.
pub const MAX_NAME_LEN: usize = 64 * 1024;

/// The earliest timestamp a line may carry, in nanoseconds after scaling:
/// InfluxDB 1.x and 2.x's range. Keeping one value free at each end means
/// every stored point lies in some query range `[start, end)`, with
/// `end = i64::MAX` at the top.
pub const MIN_TIME_NS: i64 = i64::MIN + 2;
/// The latest timestamp a line may carry, in nanoseconds after scaling.
pub const MAX_TIME_NS: i64 = i64::MAX - 1;

/// A UTF-8 byte-order mark: skipped at the very start of a batch (files
/// saved by Windows tools begin with one), an ordinary character anywhere
/// else.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The batch without a byte-order mark at its start.
pub fn skip_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(BOM).unwrap_or(input)
}

/// Parses a whole batch into `out` (which is cleared first).
///
/// `default_time_ns` is the time of the write call in nanoseconds; lines
/// without a timestamp get it truncated to `precision` (one time for the
/// whole batch). On error, `out` holds the lines before the faulty one, so
/// that a caller can check them for an earlier cross-line fault.
pub fn parse<'a>(
    input: &'a [u8],
    precision: Precision,
    default_time_ns: i64,
    out: &mut Batch<'a>,
) -> Result<(), ParseError> {
    out.clear();
    let input = skip_bom(input);
    let default_time = floor_to(default_time_ns, precision);
    match std::str::from_utf8(input) {
        Ok(text) => {
            out.input = text;
            Parser::new(text, precision, default_time).run(out).map_err(|f| {
                truncate_to_lines(out);
                f.into_error(text)
            })
        }
        Err(e) => parse_invalid_utf8(input, e.valid_up_to(), precision, default_time, out),
    }
}

/// The write call's time floored to the precision; within one unit of
/// i64::MIN the floor is not representable, and the next multiple up is
/// taken instead.
pub(super) fn floor_to(time_ns: i64, precision: Precision) -> i64 {
    let rem = time_ns.rem_euclid(precision.nanos());
    time_ns.checked_sub(rem).unwrap_or(time_ns + (precision.nanos() - rem))
}

/// The input holds a byte that is not UTF-8 at `bad`. Its fault competes with
/// the grammar's: whichever stands first in the input is reported. The
/// structure is read from a lossy copy (U+FFFD is no separator, so the copy
/// parses as the input does up to the bad byte), and the lines wholly before
/// the fault are parsed again from the real, valid prefix.
fn parse_invalid_utf8<'a>(
    input: &'a [u8],
    bad: usize,
    precision: Precision,
    default_time: i64,
    out: &mut Batch<'a>,
) -> Result<(), ParseError> {
    let lossy = String::from_utf8_lossy(input);
    let mut scratch = Batch::new();
    scratch.input = &lossy;
    let outcome = Parser::new(&lossy, precision, default_time).run(&mut scratch);
    let valid = std::str::from_utf8(&input[..bad]).unwrap_or("");
    let (prefix_end, error) = match outcome {
        Err(f) if f.pos < bad => (f.line_start, f.into_error(&lossy)),
        _ => {
            let good_end = scratch
                .lines
                .iter()
                .take_while(|l| l.text.end < bad)
                .last()
                .map_or(0, |l| l.text.end);
            (good_end, utf8_error(input, bad))
        }
    };
    out.input = valid;
    let prefix = valid.get(..prefix_end).unwrap_or("");
    // The prefix ends before the first bad byte and was parsed without a
    // fault above, so this cannot fail; if it did, no line is kept.
    if Parser::new(prefix, precision, default_time).run(out).is_err() {
        out.clear();
    }
    Err(error)
}

fn utf8_error(input: &[u8], bad: usize) -> ParseError {
    let before = &input[..bad];
    let line = memchr::memchr_iter(b'\n', before).count() as u64 + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    let end = memchr::memchr(b'\n', &input[bad..]).map_or(input.len(), |p| bad + p);
    let text = String::from_utf8_lossy(&input[start..end]);
    ParseError::InvalidUtf8 {
        at: Position::new(line, (bad - start + 1) as u64, text.trim_end_matches('\r')),
    }
}

/// Drops the tags and fields of a line that failed half-way.
pub(super) fn truncate_to_lines(out: &mut Batch<'_>) {
    let (t, f) = out.lines.last().map_or((0, 0), |l| (l.tags.end, l.fields.end));
    out.tags.truncate(t);
    out.fields.truncate(f);
}

/// A fault found while parsing: the error (its position still empty), the
/// offending byte, and the line it is on.
#[derive(Debug)]
pub(crate) struct Fault {
    error: ParseError,
    pos: usize,
    line_start: usize,
    pub(super) line_no: u64,
}

impl Fault {
    pub(super) fn into_error(self, text: &str) -> ParseError {
        let b = text.as_bytes();
        let end = memchr::memchr(b'\n', &b[self.line_start..]).map_or(b.len(), |p| self.line_start + p);
        let line = text.get(self.line_start..end).unwrap_or("").trim_end_matches('\r');
        let mut error = self.error;
        *position_mut(&mut error) =
            Position::new(self.line_no, (self.pos - self.line_start + 1) as u64, line);
        error
    }
}

fn position_mut(e: &mut ParseError) -> &mut Position {
    use ParseError::*;
    match e {
        InvalidUtf8 { at }
        | MissingMeasurement { at }
        | NulInMeasurement { at }
        | EndsWithBackslash { at, .. }
        | TooLong { at, .. }
        | EmptyTagKey { at }
        | MissingTagEquals { at, .. }
        | EmptyTagValue { at, .. }
        | MissingFields { at }
        | EmptyFieldKey { at }
        | MissingFieldEquals { at, .. }
        | MissingFieldValue { at, .. }
        | InvalidInteger { at, .. }
        | InvalidUnsigned { at, .. }
        | InvalidFloat { at, .. }
        | FloatOverflow { at, .. }
        | InvalidValue { at, .. }
        | UnterminatedString { at, .. }
        | InvalidTimestamp { at, .. }
        | TimestampOutOfRange { at, .. }
        | TrailingWhitespace { at }
        | UnexpectedCharacter { at, .. } => at,
    }
}

/// A position with nothing in it yet; [`Fault::into_error`] fills it.
fn here() -> Position {
    Position { line: 0, column: 0, text: String::new() }
}

/// A parse step's result. The error (and the byte it is at) is boxed: it
/// is large, and unboxed it made every step's result a large value copied
/// through the stack, which cost more than the parsing in `perf`.
type Step<T> = Result<T, Box<(ParseError, usize)>>;

pub(super) struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    precision: Precision,
    default_time: i64,
    /// Physical line number of the current line's first byte.
    pub(super) line_no: u64,
    /// Newlines seen inside the current line (in strings or escaped).
    inner_newlines: u64,
    /// Whether it has made an owned name or string (one with escapes):
    /// see [`Batch::owned`].
    owned: bool,
}

impl<'a> Parser<'a> {
    pub(super) fn new(s: &'a str, precision: Precision, default_time: i64) -> Self {
        Parser { s, b: s.as_bytes(), precision, default_time, line_no: 1, inner_newlines: 0, owned: false }
    }

    fn run(&mut self, out: &mut Batch<'a>) -> Result<(), Fault> {
        self.run_range(0, usize::MAX, out).map(|_| ())
    }

    /// Parses the lines that start at or after `from` (a physical line's
    /// start) and before `until`: stops at the first physical line that
    /// starts at or after `until`, and returns where that is (the input's
    /// length if the input ends first).
    pub(super) fn run_range(&mut self, from: usize, until: usize, out: &mut Batch<'a>) -> Result<usize, Fault> {
        let r = self.run_lines(from, until, out);
        out.owned |= self.owned;
        r
    }

    fn run_lines(&mut self, from: usize, until: usize, out: &mut Batch<'a>) -> Result<usize, Fault> {
        let b = self.b;
        let n = b.len();
        let mut i = from;
        let mut line_start = from;
        loop {
            // At the start of a physical line, or after a blank prefix of it.
            while i < n && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            if i == n {
                return Ok(n);
            }
            match b[i] {
                b'\n' => {
                    i += 1;
                    self.line_no += 1;
                    line_start = i;
                    if i >= until {
                        return Ok(i);
                    }
                    continue;
                }
                b'\r' if i + 1 == n || b[i + 1] == b'\n' => {
                    i += 1;
                    continue;
                }
                b'#' => {
                    i = memchr::memchr(b'\n', &b[i..]).map_or(n, |p| i + p);
                    continue;
                }
                _ => {}
            }
            self.inner_newlines = 0;
            match self.line(i, line_start, out) {
                Ok(end) => {
                    // `end` is at the line's `\n` (or `\r\n`) or at the end.
                    i = end;
                    self.line_no += self.inner_newlines;
                }
                Err(e) => {
                    let (error, pos) = *e;
                    return Err(Fault { error, pos, line_start, line_no: self.line_no });
                }
            }
        }
    }

    /// True when the line ends at `j`: the end of input, `\n`, or a `\r`
    /// that is followed by `\n` or the end.
    #[inline(always)]
    fn eol(&self, j: usize) -> bool {
        let b = self.b;
        j >= b.len() || b[j] == b'\n' || (b[j] == b'\r' && (j + 1 == b.len() || b[j + 1] == b'\n'))
    }

    #[inline(always)]
    fn at(&self, j: usize) -> u8 {
        self.b.get(j).copied().unwrap_or(b'\n')
    }

    /// Parses the line whose content starts at `i`; returns where it ends.
    fn line(&mut self, i: usize, line_start: usize, out: &mut Batch<'a>) -> Step<usize> {
        let tags_start = out.tags.len();
        let fields_start = out.fields.len();

        let (measurement, mut j) = self.name(i, scan::MEASUREMENT, NameKind::Measurement)?;
        if measurement.is_empty() {
            return Err(Box::new(match self.at(j) {
                0 => (ParseError::NulInMeasurement { at: here() }, j),
                _ => (ParseError::MissingMeasurement { at: here() }, j),
            }));
        }
        // Tags.
        while self.at(j) == b',' {
            let key_at = j + 1;
            let (key, k) = self.name(key_at, scan::KEY, NameKind::TagKey)?;
            if key.is_empty() {
                return Err(Box::new((ParseError::EmptyTagKey { at: here() }, key_at)));
            }
            if self.at(k) != b'=' {
                return Err(Box::new((ParseError::MissingTagEquals { at: here(), key: key.into_owned() }, k)));
            }
            let (value, v) = self.name(k + 1, scan::TAG_VALUE, NameKind::TagValue)?;
            if value.is_empty() {
                return Err(Box::new((ParseError::EmptyTagValue { at: here(), key: key.into_owned() }, k + 1)));
            }
            out.tags.push(Tag { key, value });
            j = v;
        }
        let series = i..j;
        if self.eol(j) {
            return Err(Box::new((ParseError::MissingFields { at: here() }, j)));
        }
        match self.at(j) {
            b' ' => {}
            0 => return Err(Box::new((ParseError::NulInMeasurement { at: here() }, j))),
            c => return Err(Box::new(self.unexpected(j, c, "the series key"))),
        }
        j = self.skip_spaces(j);
        if self.eol(j) {
            return Err(Box::new((ParseError::MissingFields { at: here() }, j)));
        }
        // Fields.
        loop {
            let (key, k) = self.name(j, scan::KEY, NameKind::FieldKey)?;
            if key.is_empty() {
                return Err(Box::new((ParseError::EmptyFieldKey { at: here() }, j)));
            }
            if self.at(k) != b'=' {
                return Err(Box::new((ParseError::MissingFieldEquals { at: here(), key: key.into_owned() }, k)));
            }
            let (value, v) = self.value(k + 1, &key)?;
            out.fields.push(Field { key, value });
            j = v;
            if self.eol(j) {
                break;
            }
            match self.at(j) {
                b',' => j += 1,
                b' ' => break,
                c => return Err(Box::new(self.unexpected(j, c, "a field value"))),
            }
        }
        // Timestamp.
        let mut timestamp = self.default_time;
        let mut explicit_time = false;
        if !self.eol(j) {
            let spaces = j;
            j = self.skip_spaces(j);
            if self.eol(j) {
                return Err(Box::new((ParseError::TrailingWhitespace { at: here() }, spaces)));
            }
            let (t, end) = self.timestamp(j)?;
            timestamp = t;
            explicit_time = true;
            j = self.skip_spaces(end);
            if !self.eol(j) {
                let c = self.at(j);
                return Err(Box::new(self.unexpected(j, c, "the timestamp")));
            }
        }
        out.lines.push(Line {
            measurement,
            tags: tags_start..out.tags.len(),
            fields: fields_start..out.fields.len(),
            timestamp,
            explicit_time,
            number: self.line_no,
            text: line_start..self.content_end(j),
            series,
        });
        Ok(j)
    }

    /// Where the line's text ends if it ends at `j` (before a `\r\n`).
    fn content_end(&self, j: usize) -> usize {
        if j < self.b.len() && self.b[j] == b'\r' { j } else { j.min(self.b.len()) }
    }

    fn skip_spaces(&self, mut j: usize) -> usize {
        while j < self.b.len() && self.b[j] == b' ' {
            j += 1;
        }
        j
    }

    fn unexpected(&self, j: usize, c: u8, after: &'static str) -> (ParseError, usize) {
        let found = self.s.get(j..).and_then(|r| r.chars().next()).unwrap_or(c as char);
        (ParseError::UnexpectedCharacter { at: here(), found, after }, j)
    }

    /// Scans a name of `class` from `i`; returns it (unescaped) and the
    /// index of the byte that ended it.
    #[inline(always)]
    fn name(&mut self, i: usize, class: u8, kind: NameKind) -> Step<(Cow<'a, str>, usize)> {
        let b = self.b;
        let n = b.len();
        let mut j = i;
        let mut escaped = false;
        loop {
            j = scan::find_stop(b, j, class);
            if j == n {
                break;
            }
            match b[j] {
                b'\\' => {
                    if j + 1 == n {
                        return Err(Box::new((ParseError::EndsWithBackslash { at: here(), kind }, j)));
                    }
                    if b[j + 1] == b'\n' {
                        self.inner_newlines += 1;
                    }
                    escaped = true;
                    j += 2;
                }
                b'\r' if j + 1 < n && b[j + 1] != b'\n' => j += 1,
                _ => break,
            }
        }
        // `i` and `j` stand at ASCII bytes or the ends: char boundaries.
        let raw = self.s.get(i..j).unwrap_or("");
        let name = if escaped {
            self.owned = true;
            Cow::Owned(unescape_name(raw, class))
        } else {
            Cow::Borrowed(raw)
        };
        if name.len() > MAX_NAME_LEN {
            return Err(Box::new((ParseError::TooLong { at: here(), kind, len: name.len() }, i)));
        }
        Ok((name, j))
    }

    /// Parses a field value at `i`; returns it and the index after it.
    #[inline(always)]
    fn value(&mut self, i: usize, key: &str) -> Step<(FieldValue<'a>, usize)> {
        match self.at(i) {
            b'0'..=b'9' | b'-' => self.number(i, key),
            b'"' => self.string(i, key),
            b't' | b'T' | b'f' | b'F' => self.boolean(i, key),
            _ if self.eol(i) || matches!(self.at(i), b' ' | b',') => {
                Err(Box::new((ParseError::MissingFieldValue { at: here(), key: key.to_owned() }, i)))
            }
            _ => Err(Box::new(self.bad_value(i, i, key, ValueKind::Other))),
        }
    }

    /// Where the token at `i` ends: at a comma, a space or the line's end.
    fn token_end(&self, mut j: usize) -> usize {
        while !self.eol(j) && !matches!(self.b[j], b',' | b' ') {
            j += 1;
        }
        j
    }

    /// Whether a value may end at `j`.
    #[inline(always)]
    fn value_ends(&self, j: usize) -> bool {
        self.eol(j) || matches!(self.b[j], b',' | b' ')
    }

    fn bad_value(&self, start: usize, pos: usize, key: &str, kind: ValueKind) -> (ParseError, usize) {
        let value = self.s.get(start..self.token_end(start)).unwrap_or("").to_owned();
        let field = key.to_owned();
        let at = here();
        let e = match kind {
            ValueKind::Integer => ParseError::InvalidInteger { at, field, value },
            ValueKind::Unsigned => ParseError::InvalidUnsigned { at, field, value },
            ValueKind::Float => ParseError::InvalidFloat { at, field, value },
            ValueKind::FloatOverflow => ParseError::FloatOverflow { at, field, value },
            ValueKind::Other => ParseError::InvalidValue { at, field, value },
        };
        (e, pos)
    }

    /// A number is followed at `j` by something other than a comma, a space
    /// or the line's end: a tab is named as such (it is a common mistake for
    /// a separator); anything else makes the number malformed.
    fn not_a_delimiter(&self, start: usize, j: usize, key: &str, kind: ValueKind) -> (ParseError, usize) {
        match self.b[j] {
            b'\t' => self.unexpected(j, b'\t', "a field value"),
            _ => self.bad_value(start, j, key, kind),
        }
    }

    #[inline(always)]
    fn digits(&self, mut j: usize) -> usize {
        while j < self.b.len() && self.b[j].is_ascii_digit() {
            j += 1;
        }
        j
    }

    fn number(&mut self, i: usize, key: &str) -> Step<(FieldValue<'a>, usize)> {
        let b = self.b;
        let negative = b[i] == b'-';
        let int_start = i + usize::from(negative);
        let int_end = self.digits(int_start);
        if int_end == int_start {
            return Err(Box::new(self.bad_value(i, int_start, key, ValueKind::Other)));
        }
        let int = &b[int_start..int_end];
        match self.at(int_end) {
            b'i' => {
                let end = int_end + 1;
                if !self.value_ends(end) {
                    return Err(Box::new(self.not_a_delimiter(i, end, key, ValueKind::Integer)));
                }
                match number::to_i64(int, negative) {
                    Some(v) => Ok((FieldValue::Integer(v), end)),
                    None => Err(Box::new(self.bad_value(i, i, key, ValueKind::Integer))),
                }
            }
            b'u' => {
                let end = int_end + 1;
                if negative {
                    return Err(Box::new(self.bad_value(i, i, key, ValueKind::Unsigned)));
                }
                if !self.value_ends(end) {
                    return Err(Box::new(self.not_a_delimiter(i, end, key, ValueKind::Unsigned)));
                }
                match number::to_u64(int) {
                    Some(v) => Ok((FieldValue::UInteger(v), end)),
                    None => Err(Box::new(self.bad_value(i, i, key, ValueKind::Unsigned))),
                }
            }
            _ => {
                let mut j = int_end;
                let mut frac: &[u8] = &[];
                if self.at(j) == b'.' && !self.eol(j) {
                    let f_end = self.digits(j + 1);
                    if f_end == j + 1 {
                        return Err(Box::new(self.bad_value(i, j + 1, key, self.suffix_kind(i))));
                    }
                    frac = &b[j + 1..f_end];
                    j = f_end;
                }
                let mut has_exp = false;
                if matches!(self.at(j), b'e' | b'E') {
                    let mut k = j + 1;
                    if matches!(self.at(k), b'+' | b'-') {
                        k += 1;
                    }
                    let e_end = self.digits(k);
                    if e_end == k {
                        return Err(Box::new(self.bad_value(i, k, key, self.suffix_kind(i))));
                    }
                    has_exp = true;
                    j = e_end;
                }
                if !self.value_ends(j) {
                    return Err(Box::new(self.not_a_delimiter(i, j, key, self.suffix_kind(i))));
                }
                let text = self.s.get(i..j).unwrap_or("");
                let v = number::to_f64(text, negative, int, frac, has_exp);
                if v.is_infinite() {
                    Err(Box::new(self.bad_value(i, i, key, ValueKind::FloatOverflow)))
                } else if v.is_nan() {
                    Err(Box::new(self.bad_value(i, i, key, ValueKind::Float)))
                } else {
                    Ok((FieldValue::Float(v), j))
                }
            }
        }
    }

    /// Names a malformed number by the suffix it was written with, so that
    /// `1.5i` is reported as an invalid integer.
    fn suffix_kind(&self, i: usize) -> ValueKind {
        let end = self.token_end(i);
        match end.checked_sub(1).map(|e| self.b[e]) {
            Some(b'i') => ValueKind::Integer,
            Some(b'u') => ValueKind::Unsigned,
            _ => ValueKind::Float,
        }
    }

    fn boolean(&mut self, i: usize, key: &str) -> Step<(FieldValue<'a>, usize)> {
        const SPELLINGS: [(&[u8], bool); 10] = [
            (b"true", true),
            (b"True", true),
            (b"TRUE", true),
            (b"t", true),
            (b"T", true),
            (b"false", false),
            (b"False", false),
            (b"FALSE", false),
            (b"f", false),
            (b"F", false),
        ];
        let end = self.token_end(i);
        let token = &self.b[i..end];
        if let Some(&(_, v)) = SPELLINGS.iter().find(|(s, _)| *s == token) {
            return Ok((FieldValue::Boolean(v), end));
        }
        // The fault is at the first byte no spelling continues with.
        let matched = (0..=token.len())
            .rev()
            .find(|&k| SPELLINGS.iter().any(|(s, _)| s.starts_with(&token[..k])))
            .unwrap_or(0);
        Err(Box::new(self.bad_value(i, i + matched, key, ValueKind::Other)))
    }

    fn string(&mut self, i: usize, key: &str) -> Step<(FieldValue<'a>, usize)> {
        let b = self.b;
        let mut j = i + 1;
        let mut escaped = false;
        loop {
            match memchr::memchr3(b'"', b'\\', b'\n', &b[j..]) {
                None => {
                    return Err(Box::new((ParseError::UnterminatedString { at: here(), field: key.to_owned() }, i)));
                }
                Some(p) => {
                    j += p;
                    match b[j] {
                        b'"' => break,
                        b'\n' => {
                            self.inner_newlines += 1;
                            j += 1;
                        }
                        _ => {
                            // `\"` and `\\` are escapes; any other `\` is literal.
                            if matches!(b.get(j + 1), Some(b'"' | b'\\')) {
                                escaped = true;
                                j += 2;
                            } else {
                                j += 1;
                            }
                        }
                    }
                }
            }
        }
        let raw = self.s.get(i + 1..j).unwrap_or("");
        let value = if escaped {
            self.owned = true;
            Cow::Owned(unescape_string(raw))
        } else {
            Cow::Borrowed(raw)
        };
        if value.len() > MAX_NAME_LEN {
            return Err(Box::new((ParseError::TooLong { at: here(), kind: NameKind::StringValue, len: value.len() }, i)));
        }
        let end = j + 1;
        if !self.value_ends(end) {
            let c = self.at(end);
            return Err(Box::new(self.unexpected(end, c, "a string value")));
        }
        Ok((FieldValue::String(value), end))
    }

    fn timestamp(&self, i: usize) -> Step<(i64, usize)> {
        let negative = self.at(i) == b'-';
        let start = i + usize::from(negative);
        let end = self.digits(start);
        let token_end = {
            let mut e = end;
            while !self.eol(e) && self.b[e] != b' ' {
                e += 1;
            }
            e
        };
        let value = || self.s.get(i..token_end).unwrap_or("").to_owned();
        if end == start {
            return Err(Box::new((ParseError::InvalidTimestamp { at: here(), value: value() }, start)));
        }
        if end != token_end {
            return Err(Box::new((ParseError::InvalidTimestamp { at: here(), value: value() }, end)));
        }
        number::to_i64(&self.b[start..end], negative)
            .and_then(|t| t.checked_mul(self.precision.nanos()))
            .filter(|t| (MIN_TIME_NS..=MAX_TIME_NS).contains(t))
            .map(|t| (t, end))
            .ok_or_else(|| Box::new((ParseError::TimestampOutOfRange { at: here(), value: value() }, i)))
    }
}

#[derive(Clone, Copy)]
enum ValueKind {
    Integer,
    Unsigned,
    Float,
    FloatOverflow,
    Other,
}

/// Resolves the escapes of a name of `class` (see [`scan::is_escapable`]).
fn unescape_name(raw: &str, class: u8) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'\\' && k + 1 < b.len() {
            if scan::is_escapable(class, b[k + 1]) {
                out.push_str(&raw[last..k]);
                last = k + 1;
                k += 2;
            } else {
                k += 1;
            }
        } else {
            k += 1;
        }
    }
    out.push_str(&raw[last..]);
    out
}

/// Resolves `\"` and `\\` in a string value.
fn unescape_string(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'\\' && matches!(b.get(k + 1), Some(b'"' | b'\\')) {
            out.push_str(&raw[last..k]);
            last = k + 1;
            k += 2;
        } else {
            k += 1;
        }
    }
    out.push_str(&raw[last..]);
    out
}
