//! What a parsed batch is made of. Lines borrow from the input; a name or a
//! string is copied only when it had escapes to resolve.

use std::borrow::Cow;
use std::ops::Range;

/// The unit of the timestamps in a batch, as the `precision` of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
}

impl Precision {
    /// Nanoseconds in one unit of this precision.
    pub const fn nanos(self) -> i64 {
        match self {
            Precision::Nanosecond => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
        }
    }
}

/// A field value with its type.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    String(Cow<'a, str>),
    Boolean(bool),
}

/// The type of a field. The numbers are those of the C API's
/// `linedb_field_type` (0 there means "not set" and has no variant here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FieldType {
    Float = 1,
    Integer = 2,
    UInteger = 3,
    String = 4,
    Boolean = 5,
}

impl FieldType {
    /// The name used in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::UInteger => "unsigned",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }

    /// The inverse of `as u8`, for reading stored tables.
    pub const fn from_u8(v: u8) -> Option<FieldType> {
        match v {
            1 => Some(FieldType::Float),
            2 => Some(FieldType::Integer),
            3 => Some(FieldType::UInteger),
            4 => Some(FieldType::String),
            5 => Some(FieldType::Boolean),
            _ => None,
        }
    }
}

impl FieldValue<'_> {
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::Float(_) => FieldType::Float,
            FieldValue::Integer(_) => FieldType::Integer,
            FieldValue::UInteger(_) => FieldType::UInteger,
            FieldValue::String(_) => FieldType::String,
            FieldValue::Boolean(_) => FieldType::Boolean,
        }
    }

    /// The same value, borrowing nothing from the input (a string is
    /// copied): for keeping a value past its batch.
    pub fn to_owned_value(&self) -> FieldValue<'static> {
        match self {
            FieldValue::String(s) => FieldValue::String(Cow::Owned(s.to_string())),
            FieldValue::Float(x) => FieldValue::Float(*x),
            FieldValue::Integer(x) => FieldValue::Integer(*x),
            FieldValue::UInteger(x) => FieldValue::UInteger(*x),
            FieldValue::Boolean(x) => FieldValue::Boolean(*x),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tag<'a> {
    pub key: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field<'a> {
    pub key: Cow<'a, str>,
    pub value: FieldValue<'a>,
}

/// One line as it was written (tags and fields in input order, duplicates
/// kept: resolving them is validation's job).
#[derive(Clone, Debug, PartialEq)]
pub struct Line<'a> {
    pub measurement: Cow<'a, str>,
    pub(crate) tags: Range<usize>,
    pub(crate) fields: Range<usize>,
    /// Nanoseconds since the epoch (the batch's default time if the line had none).
    pub timestamp: i64,
    /// Whether the line carried its own timestamp.
    pub explicit_time: bool,
    /// Physical 1-based line number of the line's first byte.
    pub number: u64,
    /// Byte range of the line's text in the input (without its line ending).
    pub(crate) text: Range<usize>,
    /// The measurement and tags as written (escapes unresolved): lines with
    /// the same series text have the same measurement and tags.
    pub(crate) series: Range<usize>,
}

/// A parsed batch: every line, with tags and fields kept in two flat arrays
/// so that parsing allocates nothing per line once the arrays have grown.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    pub(crate) input: &'a str,
    pub(crate) lines: Vec<Line<'a>>,
    pub(crate) tags: Vec<Tag<'a>>,
    pub(crate) fields: Vec<Field<'a>>,
    /// Whether a name or string in it may own its text (it had escapes).
    /// While this is false, every name and string borrows the input, so
    /// the arrays can be emptied without a pass over them.
    pub(crate) owned: bool,
}

impl<'a> Batch<'a> {
    pub fn new() -> Self {
        Batch { input: "", lines: Vec::new(), tags: Vec::new(), fields: Vec::new(), owned: false }
    }

    /// Empties the batch and hands its arrays to a batch of another input,
    /// so a long-lived writer reuses the same memory for every batch.
    pub fn recycle<'b>(self) -> Batch<'b> {
        // Collecting an emptied vector's iterator into a vector of an
        // element type of the same size reuses its allocation (std's
        // in-place collect); no element is ever produced.
        Batch {
            input: "",
            lines: self.lines.into_iter().filter(|_| false).map(|_| unreachable_value()).collect(),
            tags: self.tags.into_iter().filter(|_| false).map(|_| unreachable_value()).collect(),
            fields: self.fields.into_iter().filter(|_| false).map(|_| unreachable_value()).collect(),
            owned: false,
        }
    }

    pub fn clear(&mut self) {
        if self.owned {
            self.lines.clear();
            self.tags.clear();
            self.fields.clear();
            self.owned = false;
        } else {
            // SAFETY: a length of 0 is within any capacity, and no element
            // is read again. The elements are forgotten rather than dropped,
            // which frees nothing they own: with `owned` false every name
            // and string in them borrows the input (a pass that dropped
            // them read every line back in from memory for nothing).
            unsafe {
                self.lines.set_len(0);
                self.tags.set_len(0);
                self.fields.set_len(0);
            }
        }
    }

    /// Number of lines (blank and comment lines are not lines).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn line(&self, i: usize) -> LineRef<'_, 'a> {
        LineRef { batch: self, line: &self.lines[i] }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = LineRef<'_, 'a>> + '_ {
        self.lines.iter().map(move |line| LineRef { batch: self, line })
    }

    pub(crate) fn line_text(&self, line: &Line<'a>) -> &'a str {
        self.input.get(line.text.clone()).unwrap_or("")
    }
}

/// Never called: the iterators it maps are empty. It exists so that
/// `recycle` can name a value of the new element type.
fn unreachable_value<T>() -> T {
    unreachable!("an emptied vector yields no element")
}

/// A line with access to its tags and fields.
#[derive(Clone, Copy, Debug)]
pub struct LineRef<'b, 'a> {
    batch: &'b Batch<'a>,
    line: &'b Line<'a>,
}

impl<'b, 'a> LineRef<'b, 'a> {
    pub fn measurement(&self) -> &'b str {
        &self.line.measurement
    }
    pub fn tags(&self) -> &'b [Tag<'a>] {
        &self.batch.tags[self.line.tags.clone()]
    }
    pub fn fields(&self) -> &'b [Field<'a>] {
        &self.batch.fields[self.line.fields.clone()]
    }
    pub fn timestamp(&self) -> i64 {
        self.line.timestamp
    }
    pub fn explicit_time(&self) -> bool {
        self.line.explicit_time
    }
    pub fn number(&self) -> u64 {
        self.line.number
    }
    /// The line as written, without its line ending.
    pub fn text(&self) -> &'a str {
        self.batch.line_text(self.line)
    }
    /// The measurement and tags as written, escapes unresolved: equal for
    /// two lines exactly when they are written alike, so a key for the
    /// series that costs no copy.
    pub fn series_text(&self) -> &'a str {
        self.batch.input.get(self.line.series.clone()).unwrap_or("")
    }
    pub fn line(&self) -> &'b Line<'a> {
        self.line
    }
}
