//! Parse errors: one variant per kind of fault, each with where it is.

use std::fmt;

/// Longest message a caller is shown (the C API's `LINEDB_MESSAGE_MAX` less
/// the terminating NUL).
pub const MESSAGE_MAX: usize = 1023;
/// Longest name or value quoted inside a message before it is cut.
const QUOTE_MAX: usize = 64;

/// Where a fault is: the physical 1-based line number, the 1-based byte
/// column within that line, and the line's text (cut to fit a message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub text: String,
}

impl Position {
    pub(crate) fn new(line: u64, column: u64, text: &str) -> Self {
        Position { line, column, text: cut(text, MESSAGE_MAX).to_owned() }
    }
}

/// Which kind of name a fault is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
    /// A string field value (only its length is limited).
    StringValue,
}

impl NameKind {
    pub const fn name(self) -> &'static str {
        match self {
            NameKind::Measurement => "measurement",
            NameKind::TagKey => "tag key",
            NameKind::TagValue => "tag value",
            NameKind::FieldKey => "field key",
            NameKind::StringValue => "string value",
        }
    }
}

/// A line that does not follow the grammar of LINE_PROTOCOL.md.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// A byte sequence that is not UTF-8; `at` is the physical line and
    /// column of the first bad byte.
    InvalidUtf8 { at: Position },
    /// The line starts with a comma, so it has no measurement.
    MissingMeasurement { at: Position },
    /// A NUL byte in the measurement.
    NulInMeasurement { at: Position },
    /// A name ends in a lone backslash (at the end of the input).
    EndsWithBackslash { at: Position, kind: NameKind },
    /// A name or value longer than 64 KiB after unescaping.
    TooLong { at: Position, kind: NameKind, len: usize },
    /// A comma that starts a tag is followed by no key (`m, f=1`, `m,=v`).
    EmptyTagKey { at: Position },
    /// A tag key is not followed by `=`.
    MissingTagEquals { at: Position, key: String },
    /// A tag has no value (`m,t= f=1`).
    EmptyTagValue { at: Position, key: String },
    /// The line ends, or a character other than a space follows, where the
    /// field set should start.
    MissingFields { at: Position },
    /// A field has no key (`m =1`, `m f=1,`).
    EmptyFieldKey { at: Position },
    /// A field key is not followed by `=`.
    MissingFieldEquals { at: Position, key: String },
    /// Nothing follows a field's `=`.
    MissingFieldValue { at: Position, key: String },
    /// A value with an `i` suffix that is not an integer fitting i64.
    InvalidInteger { at: Position, field: String, value: String },
    /// A value with a `u` suffix that is not an integer fitting u64.
    InvalidUnsigned { at: Position, field: String, value: String },
    /// A number that is not a float of the grammar.
    InvalidFloat { at: Position, field: String, value: String },
    /// A float too large for a double (linedb rejects what would be infinity).
    FloatOverflow { at: Position, field: String, value: String },
    /// A value that is no number, string or boolean (`tRUE`, `"`-less words).
    InvalidValue { at: Position, field: String, value: String },
    /// A string value whose closing quote never comes.
    UnterminatedString { at: Position, field: String },
    /// A timestamp that is not a signed decimal integer.
    InvalidTimestamp { at: Position, value: String },
    /// A timestamp that does not fit i64 nanoseconds once scaled.
    TimestampOutOfRange { at: Position, value: String },
    /// Spaces after the field set with no timestamp behind them.
    TrailingWhitespace { at: Position },
    /// Something other than a separator where one must stand (a tab, a
    /// `#` after the fields, a second timestamp...).
    UnexpectedCharacter { at: Position, found: char, after: &'static str },
}

impl ParseError {
    pub fn position(&self) -> &Position {
        use ParseError::*;
        match self {
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

    /// Physical 1-based line number of the fault.
    pub fn line(&self) -> u64 {
        self.position().line
    }

    /// 1-based byte column of the fault within its line.
    pub fn column(&self) -> u64 {
        self.position().column
    }

    /// What is wrong, without the line number and the quoted line.
    pub fn reason(&self) -> String {
        use ParseError::*;
        let q = Quoted;
        match self {
            InvalidUtf8 { .. } => "invalid UTF-8".to_owned(),
            MissingMeasurement { .. } => "missing measurement".to_owned(),
            NulInMeasurement { .. } => "NUL byte in measurement".to_owned(),
            EndsWithBackslash { kind, .. } => format!("{} ends with a lone backslash", kind.name()),
            TooLong { kind, len, .. } => {
                format!("{} is {len} bytes, longer than the limit of 65536", kind.name())
            }
            EmptyTagKey { .. } => "empty tag key".to_owned(),
            MissingTagEquals { key, .. } => format!("missing \"=\" after tag key {}", q.of(key)),
            EmptyTagValue { key, .. } => format!("empty value for tag {}", q.of(key)),
            MissingFields { .. } => "missing fields".to_owned(),
            EmptyFieldKey { .. } => "empty field key".to_owned(),
            MissingFieldEquals { key, .. } => format!("missing \"=\" after field key {}", q.of(key)),
            MissingFieldValue { key, .. } => format!("missing value for field {}", q.of(key)),
            InvalidInteger { field, value, .. } => {
                format!("invalid integer {} for field {}", q.of(value), q.of(field))
            }
            InvalidUnsigned { field, value, .. } => {
                format!("invalid unsigned integer {} for field {}", q.of(value), q.of(field))
            }
            InvalidFloat { field, value, .. } => {
                format!("invalid float {} for field {}", q.of(value), q.of(field))
            }
            FloatOverflow { field, value, .. } => {
                format!("float {} for field {} is out of range", q.of(value), q.of(field))
            }
            InvalidValue { field, value, .. } => {
                format!("invalid value {} for field {}", q.of(value), q.of(field))
            }
            UnterminatedString { field, .. } => {
                format!("unterminated string for field {}", q.of(field))
            }
            InvalidTimestamp { value, .. } => format!("invalid timestamp {}", q.of(value)),
            TimestampOutOfRange { value, .. } => {
                format!(
                    "timestamp {} is out of range: in nanoseconds it must lie in -9223372036854775806 ..= 9223372036854775806",
                    q.of(value)
                )
            }
            TrailingWhitespace { .. } => "trailing whitespace after the fields".to_owned(),
            UnexpectedCharacter { found, after, .. } => {
                format!("unexpected character {:?} after {after}", found)
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.position();
        write_message(f, at.line, &self.reason(), &at.text)
    }
}

impl std::error::Error for ParseError {}

/// Writes `line N: reason: text`, with the text cut so that the whole
/// message fits [`MESSAGE_MAX`] bytes.
pub(crate) fn write_message(
    f: &mut fmt::Formatter<'_>,
    line: u64,
    reason: &str,
    text: &str,
) -> fmt::Result {
    let head = format!("line {line}: {reason}: ");
    let head = cut(&head, MESSAGE_MAX);
    f.write_str(head)?;
    f.write_str(cut(text, MESSAGE_MAX - head.len()))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Quotes a name or value for a message, cut to [`QUOTE_MAX`] bytes.
struct Quoted;

impl Quoted {
    fn of(&self, s: &str) -> String {
        let c = cut(s, QUOTE_MAX);
        if c.len() < s.len() {
            format!("\"{c}\"...")
        } else {
            format!("\"{c}\"")
        }
    }
}
