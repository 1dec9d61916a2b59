//! Batch validation: the rules of LINE_PROTOCOL.md that look across names,
//! lines and what is stored. A parsed batch either comes out grouped by
//! partition, with the schema changes it brings, or is rejected at its first
//! offending line. Nothing here writes anything: the caller applies the
//! result only once the batch is durable.

use std::collections::HashMap;
use std::fmt;

use crate::line_protocol::{self, Batch, FieldType, ParseError, Precision};
use crate::partition::Day;
use crate::schema::{ColumnKind, Limits, SchemaChanges, SchemaView};

/// The lines of a batch that fall in one partition, in input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRows {
    pub measurement: String,
    pub day: Day,
    /// Indexes into the batch's lines, in input order (for a batch
    /// validated in slices, the index counts the lines of the slices
    /// before: see [`SliceValidator`]). Empty from a
    /// [`SliceValidator::counting`].
    pub lines: Vec<usize>,
    /// Lines in the partition.
    pub rows: usize,
}

/// A batch that passed every rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidatedBatch {
    /// Partitions in the order the batch first touches them.
    pub partitions: Vec<PartitionRows>,
    /// Tables, columns and field types the batch adds.
    pub changes: SchemaChanges,
    /// Points in the batch (lines), before de-duplication.
    pub points: usize,
}

/// The line a rejection names: its physical number and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineAt {
    pub line: u64,
    pub text: String,
}

/// A parsed line that breaks a rule across names, lines or stored data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidateError {
    /// A tag key given twice with different values.
    DuplicateTag { at: LineAt, key: String },
    /// A field key given twice with values of different types.
    DuplicateFieldType { at: LineAt, key: String, first: FieldType, second: FieldType },
    /// A tag or field named `time`.
    ReservedName { at: LineAt, kind: ColumnKind },
    /// A name that is a tag in one place and a field in another, in the
    /// same line (`stored` false) or in the table (`stored` true).
    TagFieldCollision { at: LineAt, name: String, is: ColumnKind, stored: bool },
    /// A field whose type differs from the one its partition holds.
    FieldTypeConflict {
        at: LineAt,
        measurement: String,
        day: Day,
        field: String,
        expected: FieldType,
        got: FieldType,
    },
    /// A line that would take its table past the column limit.
    TooManyColumns { at: LineAt, measurement: String, limit: u32 },
    /// A line that would take the database past the table limit.
    TooManyTables { at: LineAt, measurement: String, limit: u32 },
    /// A line that would take the batch past the partitions it may write to
    /// ([`SliceValidator::with_max_partitions`]): not a rule of the data
    /// but of the batch's size (the engine answers 413, not 400).
    TooManyPartitions { at: LineAt, limit: usize },
}

impl ValidateError {
    pub fn at(&self) -> &LineAt {
        use ValidateError::*;
        match self {
            DuplicateTag { at, .. }
            | DuplicateFieldType { at, .. }
            | ReservedName { at, .. }
            | TagFieldCollision { at, .. }
            | FieldTypeConflict { at, .. }
            | TooManyColumns { at, .. }
            | TooManyTables { at, .. }
            | TooManyPartitions { at, .. } => at,
        }
    }

    pub fn line(&self) -> u64 {
        self.at().line
    }

    pub fn reason(&self) -> String {
        use ValidateError::*;
        match self {
            DuplicateTag { key, .. } => format!("tag {key:?} given twice with different values"),
            DuplicateFieldType { key, first, second, .. } => format!(
                "field {key:?} given twice, as {} and as {}",
                first.name(),
                second.name()
            ),
            ReservedName { kind, .. } => format!("{} name \"time\" is reserved", kind.name()),
            TagFieldCollision { name, is, stored: false, .. } => {
                let other = if *is == ColumnKind::Tag { "field" } else { "tag" };
                format!("{name:?} is both a {} and a {other} in this line", is.name())
            }
            TagFieldCollision { name, is, stored: true, .. } => {
                let other = if *is == ColumnKind::Tag { "field" } else { "tag" };
                format!("{name:?} is a {} of this table and cannot be a {other}", is.name())
            }
            FieldTypeConflict { measurement, day, field, expected, got, .. } => format!(
                "field {field:?} is {} in partition {measurement:?} {day}, got {}",
                expected.name(),
                got.name()
            ),
            TooManyColumns { measurement, limit, .. } => {
                format!("table {measurement:?} would have more than {limit} columns")
            }
            TooManyTables { measurement, limit, .. } => {
                format!("table {measurement:?} would make more than {limit} tables")
            }
            TooManyPartitions { limit, .. } => {
                format!("the batch would write to more than {limit} partitions (measurement and day)")
            }
        }
    }
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line_protocol::write_message(f, self.line(), &self.reason(), &self.at().text)
    }
}

impl std::error::Error for ValidateError {}

/// Why a batch was rejected: its first bad line did not parse, or broke a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchError {
    Parse(ParseError),
    Invalid(ValidateError),
}

impl BatchError {
    /// Physical 1-based number of the rejected line.
    pub fn line(&self) -> u64 {
        match self {
            BatchError::Parse(e) => e.line(),
            BatchError::Invalid(e) => e.line(),
        }
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Parse(e) => e.fmt(f),
            BatchError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BatchError {}

/// Parses and validates a batch: the whole check a write makes before it
/// touches storage. The first rejected line, by its place in the input,
/// rejects the batch, whether it failed to parse or broke a rule.
pub fn check_batch<'a, V: SchemaView + ?Sized>(
    input: &'a [u8],
    precision: Precision,
    default_time_ns: i64,
    view: &V,
    limits: &Limits,
    batch: &mut Batch<'a>,
) -> Result<ValidatedBatch, BatchError> {
    match line_protocol::parse(input, precision, default_time_ns, batch) {
        // The batch holds the lines before the bad one: a rule they break
        // comes first in the input.
        Err(parse) => match validate(batch, view, limits) {
            Err(invalid) => Err(BatchError::Invalid(invalid)),
            Ok(_) => Err(BatchError::Parse(parse)),
        },
        Ok(()) => validate(batch, view, limits).map_err(BatchError::Invalid),
    }
}

/// Validates a parsed batch against `view`, resolving repeated tags and
/// fields in place (a repeated tag is kept once; a repeated field keeps its
/// last value).
pub fn validate<V: SchemaView + ?Sized>(
    batch: &mut Batch<'_>,
    view: &V,
    limits: &Limits,
) -> Result<ValidatedBatch, ValidateError> {
    validate_each(batch, view, limits, |_, _, _, _| {})
}

/// [`validate`], calling `each(batch, group, line, shape)` as soon as a line
/// has passed, with the index of its group in
/// [`ValidatedBatch::partitions`] and its shape: so that a caller can use
/// the line while it is still in the cache. The line is final by then
/// (its repeats resolved); a later line may still reject the batch.
///
/// Two lines of the batch with the same `Some` shape have the same
/// measurement, tag keys, and field keys and types, in the same order. A
/// line that had a repeated name has `None` (its shape is no other
/// line's), and so has every line after `u32::MAX` shapes: ids never
/// repeat.
pub fn validate_each<'a, V: SchemaView + ?Sized>(
    batch: &mut Batch<'a>,
    view: &V,
    limits: &Limits,
    each: impl FnMut(&Batch<'a>, usize, usize, Option<u32>),
) -> Result<ValidatedBatch, ValidateError> {
    let mut v = SliceValidator::new(view, limits);
    v.slice(batch, each)?;
    Ok(v.finish())
}

/// [`validate_each`] over a batch parsed in slices (see
/// [`line_protocol::Slices`]): each slice's lines are validated as if they
/// followed the slices before in one batch, and the result is the whole
/// batch's. [`PartitionRows::lines`] numbers lines across the slices (a
/// line's index in its slice plus the lines of the slices before);
/// `each` gets the index in the slice.
pub struct SliceValidator<'v, V: ?Sized> {
    v: Validator<'v, V>,
    /// Lines in the slices before.
    base: usize,
}

impl<V: ?Sized> fmt::Debug for SliceValidator<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SliceValidator").field("lines", &self.base).finish()
    }
}

impl<'v, V: SchemaView + ?Sized> SliceValidator<'v, V> {
    pub fn new(view: &'v V, limits: &'v Limits) -> Self {
        Self::with_lines(view, limits, true)
    }

    /// A validator that counts each partition's lines
    /// ([`PartitionRows::rows`]) without listing them: the engine needs
    /// no more, and a list takes 8 bytes a line.
    pub fn counting(view: &'v V, limits: &'v Limits) -> Self {
        Self::with_lines(view, limits, false)
    }

    /// Refuses ([`ValidateError::TooManyPartitions`]) the line that would
    /// take the batch to more than `max` partitions, before anything is
    /// kept for it.
    pub fn with_max_partitions(mut self, max: usize) -> Self {
        self.v.max_partitions = max;
        self
    }

    fn with_lines(view: &'v V, limits: &'v Limits, record_lines: bool) -> Self {
        let v = Validator {
            view,
            limits,
            tables: HashMap::new(),
            out: ValidatedBatch::default(),
            new_types: HashMap::new(),
            groups: HashMap::new(),
            shape: None,
            next_shape: 0,
            key: Vec::new(),
            base: 0,
            record_lines,
            max_partitions: usize::MAX,
        };
        SliceValidator { v, base: 0 }
    }

    /// Validates the lines of the next slice, calling `each` as
    /// [`validate_each`] does. A line's shape never refers to a line of
    /// an earlier slice (those are gone): the first line of each slice is
    /// checked in full. After an error the validator holds part of the
    /// failed slice and is to be dropped: the error is the batch's.
    pub fn slice<'a>(
        &mut self,
        batch: &mut Batch<'a>,
        mut each: impl FnMut(&Batch<'a>, usize, usize, Option<u32>),
    ) -> Result<(), ValidateError> {
        self.v.shape = None;
        self.v.base = self.base;
        for i in 0..batch.lines.len() {
            let (group, shape) = self.v.line(batch, i)?;
            each(batch, group, i, shape);
        }
        self.base += batch.lines.len();
        Ok(())
    }

    /// The whole batch's result.
    pub fn finish(mut self) -> ValidatedBatch {
        self.v.out.points = self.base;
        self.v.out
    }
}

/// The names and field types of a line with no repeated names, as last
/// validated: a following line with the same shape in the same partition
/// passes every rule without another look-up.
///
/// The shape is that line itself, by index: validation changes a line's
/// names only when it has repeats, and a line with repeats never becomes
/// the shape, so the line stays as it was checked.
struct Shape {
    line: usize,
    /// Its number in the batch: the shape [`validate_each`] reports.
    id: u32,
    /// Partitions (days) this shape was checked against, with their group.
    days: Vec<(Day, usize)>,
}

impl Shape {
    fn matches(&self, batch: &Batch<'_>, i: usize) -> bool {
        let (line, shape) = (batch.line(i), batch.line(self.line));
        let (tags, fields) = (line.tags(), line.fields());
        let (shape_tags, shape_fields) = (shape.tags(), shape.fields());
        line.measurement() == shape.measurement()
            && tags.len() == shape_tags.len()
            && fields.len() == shape_fields.len()
            && tags.iter().zip(shape_tags).all(|(t, k)| same_name(&t.key, &k.key))
            && fields
                .iter()
                .zip(shape_fields)
                .all(|(f, k)| f.value.field_type() == k.value.field_type() && same_name(&f.key, &k.key))
    }
}

/// `a == b`, inline for the short names lines are made of: two overlapping
/// word compares cover 4 to 16 bytes, where a call to `memcmp` per name was
/// most of the time spent matching a shape.
#[inline(always)]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        8..=16 => a.first_chunk::<8>() == b.first_chunk::<8>() && a.last_chunk::<8>() == b.last_chunk::<8>(),
        4..=7 => a.first_chunk::<4>() == b.first_chunk::<4>() && a.last_chunk::<4>() == b.last_chunk::<4>(),
        _ => a == b,
    }
}

/// Writes the look-up key of a name in a partition into `buf`: the
/// measurement's length and bytes, the day, then the name, so that no two
/// (measurement, day, name) share a key. Kept in one reused buffer, so a
/// look-up allocates nothing.
fn partition_key<'k>(buf: &'k mut Vec<u8>, measurement: &str, day: Day, name: &str) -> &'k [u8] {
    buf.clear();
    let len = u32::try_from(measurement.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(measurement.as_bytes());
    buf.extend_from_slice(&day.0.to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf
}

/// What the batch so far has added to one table.
struct TableState {
    columns: usize,
    new_columns: HashMap<String, ColumnKind>,
}

struct Validator<'v, V: ?Sized> {
    view: &'v V,
    limits: &'v Limits,
    tables: HashMap<String, TableState>,
    out: ValidatedBatch,
    /// Field types the batch sets, by [`partition_key`] of the field.
    new_types: HashMap<Vec<u8>, FieldType>,
    /// Groups of `out.partitions`, by [`partition_key`] with no name.
    groups: HashMap<Vec<u8>, usize>,
    shape: Option<Shape>,
    /// The id the next shape gets.
    next_shape: u32,
    /// The buffer look-up keys are built in.
    key: Vec<u8>,
    /// Lines of the slices before this one (see [`SliceValidator`]).
    base: usize,
    /// Whether [`PartitionRows::lines`] is filled (else only counted).
    record_lines: bool,
    /// The most partitions the batch may write to.
    max_partitions: usize,
}

impl<V: SchemaView + ?Sized> Validator<'_, V> {
    /// Validates line `i`; returns its group and shape.
    fn line(&mut self, batch: &mut Batch<'_>, i: usize) -> Result<(usize, Option<u32>), ValidateError> {
        let day = Day::of(batch.lines[i].timestamp);
        if let Some(shape) = &self.shape {
            if shape.matches(batch, i) {
                let id = Some(shape.id);
                if let Some(&(_, g)) = shape.days.iter().find(|(d, _)| *d == day) {
                    self.push_line(g, i);
                    return Ok((g, id));
                }
                self.check_types(batch, i, day)?;
                let g = self.group(batch, i, day)?;
                self.push_line(g, i);
                if let Some(shape) = &mut self.shape {
                    shape.days.push((day, g));
                }
                return Ok((g, id));
            }
        }
        let clean = resolve_repeats(batch, i)?;
        self.check_columns(batch, i)?;
        self.check_types(batch, i, day)?;
        let g = self.group(batch, i, day)?;
        // Ids never repeat: past u32::MAX shapes a line simply has none.
        let id = clean.then_some(self.next_shape).filter(|&n| n != u32::MAX);
        self.next_shape = self.next_shape.saturating_add(1);
        self.push_line(g, i);
        // The last line needs no shape: no line follows to use it.
        if let (Some(id), true) = (id, i + 1 < batch.lines.len()) {
            self.shape = Some(Shape { line: i, id, days: vec![(day, g)] });
        }
        Ok((g, id))
    }

    /// Line `i` of this slice goes to group `g`.
    fn push_line(&mut self, g: usize, i: usize) {
        let group = &mut self.out.partitions[g];
        group.rows += 1;
        if self.record_lines {
            group.lines.push(self.base + i);
        }
    }

    /// The group of line `i`'s partition, made if new (within the batch's
    /// partition bound).
    fn group(&mut self, batch: &Batch<'_>, i: usize, day: Day) -> Result<usize, ValidateError> {
        let measurement = &batch.lines[i].measurement;
        let key = partition_key(&mut self.key, measurement, day, "");
        if let Some(&g) = self.groups.get(key) {
            return Ok(g);
        }
        let g = self.out.partitions.len();
        if g >= self.max_partitions {
            return Err(ValidateError::TooManyPartitions { at: at(batch, i), limit: self.max_partitions });
        }
        self.groups.insert(key.to_vec(), g);
        self.out.partitions.push(PartitionRows { measurement: measurement.to_string(), day, lines: Vec::new(), rows: 0 });
        Ok(g)
    }

    /// The table exists (or is added) and every name of the line is a
    /// column of the right kind (or is added within the limit).
    fn check_columns(&mut self, batch: &Batch<'_>, i: usize) -> Result<(), ValidateError> {
        let m = batch.line(i).measurement();
        if !self.tables.contains_key(m) {
            let table = match self.view.column_count(m) {
                Some(columns) => TableState { columns, new_columns: HashMap::new() },
                None => {
                    let tables = self.view.table_count() + self.out.changes.tables.len() + 1;
                    if tables > self.limits.max_tables_per_database as usize {
                        let limit = self.limits.max_tables_per_database;
                        return Err(ValidateError::TooManyTables { at: at(batch, i), measurement: m.to_owned(), limit });
                    }
                    self.out.changes.tables.push(m.to_owned());
                    TableState { columns: 1, new_columns: HashMap::new() }
                }
            };
            self.tables.insert(m.to_owned(), table);
        }
        let Some(table) = self.tables.get_mut(m) else {
            return Ok(()); // inserted just above
        };
        check_names(self.view, self.limits, &mut self.out.changes, table, batch, i)
    }
}

/// Every name of line `i` is a column of `table` of the kind it is used
/// as, or is added (within the column limit) to the batch's changes.
fn check_names<V: SchemaView + ?Sized>(
    view: &V,
    limits: &Limits,
    changes: &mut SchemaChanges,
    table: &mut TableState,
    batch: &Batch<'_>,
    i: usize,
) -> Result<(), ValidateError> {
    let line = batch.line(i);
    let m = line.measurement();
    let names = line.tags().iter().map(|t| (&t.key, ColumnKind::Tag));
    let names = names.chain(line.fields().iter().map(|f| (&f.key, ColumnKind::Field)));
    for (name, kind) in names {
        let known = match table.new_columns.get(name.as_ref()) {
            Some(k) => Some(*k),
            None => view.column_kind(m, name),
        };
        match known {
            Some(k) if k == kind => {}
            Some(k) => {
                let name = name.to_string();
                return Err(ValidateError::TagFieldCollision { at: at(batch, i), name, is: k, stored: true });
            }
            None => {
                if table.columns + 1 > limits.max_columns_per_table as usize {
                    let limit = limits.max_columns_per_table;
                    return Err(ValidateError::TooManyColumns { at: at(batch, i), measurement: m.to_owned(), limit });
                }
                table.columns += 1;
                table.new_columns.insert(name.to_string(), kind);
                changes.columns.push((m.to_owned(), name.to_string(), kind));
            }
        }
    }
    Ok(())
}

impl<V: SchemaView + ?Sized> Validator<'_, V> {
    /// Every field has the type its partition holds, stored or set earlier
    /// in the batch; new ones are set.
    fn check_types(&mut self, batch: &Batch<'_>, i: usize, day: Day) -> Result<(), ValidateError> {
        let line = batch.line(i);
        let m = line.measurement();
        for f in line.fields() {
            let got = f.value.field_type();
            let key = partition_key(&mut self.key, m, day, &f.key);
            let expected = match self.new_types.get(key) {
                Some(t) => Some(*t),
                None => self.view.field_type(m, day, &f.key),
            };
            match expected {
                Some(t) if t == got => {}
                Some(expected) => {
                    return Err(ValidateError::FieldTypeConflict {
                        at: at(batch, i),
                        measurement: m.to_owned(),
                        day,
                        field: f.key.to_string(),
                        expected,
                        got,
                    });
                }
                None => {
                    self.new_types.insert(key.to_vec(), got);
                    self.out.changes.field_types.push((m.to_owned(), day, f.key.to_string(), got));
                }
            }
        }
        Ok(())
    }
}

fn at(batch: &Batch<'_>, i: usize) -> LineAt {
    let line = batch.line(i);
    LineAt { line: line.number(), text: line_protocol::cut(line.text(), line_protocol::MESSAGE_MAX).to_owned() }
}

/// The rules within one line: no name `time`, no name both a tag and a
/// field, a repeated tag only with the same value (kept once), a repeated
/// field only with the same type (the last value kept). Returns whether the
/// line had no repeated name at all.
fn resolve_repeats(batch: &mut Batch<'_>, i: usize) -> Result<bool, ValidateError> {
    let line = batch.line(i);
    let (tags, fields) = (line.tags(), line.fields());
    if tags.iter().any(|t| t.key == "time") {
        return Err(ValidateError::ReservedName { at: at(batch, i), kind: ColumnKind::Tag });
    }
    if fields.iter().any(|f| f.key == "time") {
        return Err(ValidateError::ReservedName { at: at(batch, i), kind: ColumnKind::Field });
    }
    // Sort (name, kind, index) so that repeats are neighbours; the index
    // keeps the input order among equal names.
    let mut names: Vec<(&str, ColumnKind, usize)> = Vec::with_capacity(tags.len() + fields.len());
    names.extend(tags.iter().enumerate().map(|(k, t)| (t.key.as_ref(), ColumnKind::Tag, k)));
    names.extend(fields.iter().enumerate().map(|(k, f)| (f.key.as_ref(), ColumnKind::Field, k)));
    names.sort_unstable_by(|a, b| a.0.cmp(b.0).then((a.1 as u8).cmp(&(b.1 as u8))).then(a.2.cmp(&b.2)));
    let mut drop_tags = Vec::new();
    let mut drop_fields = Vec::new();
    for w in names.windows(2) {
        let ((n0, k0, i0), (n1, k1, i1)) = (w[0], w[1]);
        if n0 != n1 {
            continue;
        }
        match (k0, k1) {
            (ColumnKind::Tag, ColumnKind::Tag) => {
                if tags[i0].value != tags[i1].value {
                    return Err(ValidateError::DuplicateTag { at: at(batch, i), key: n0.to_owned() });
                }
                drop_tags.push(i1);
            }
            (ColumnKind::Field, ColumnKind::Field) => {
                let (first, second) = (fields[i0].value.field_type(), fields[i1].value.field_type());
                if first != second {
                    return Err(ValidateError::DuplicateFieldType { at: at(batch, i), key: n0.to_owned(), first, second });
                }
                drop_fields.push(i0);
            }
            (k, _) => {
                return Err(ValidateError::TagFieldCollision { at: at(batch, i), name: n0.to_owned(), is: k, stored: false });
            }
        }
    }
    if drop_tags.is_empty() && drop_fields.is_empty() {
        return Ok(true);
    }
    let line = &mut batch.lines[i];
    line.tags = compact(&mut batch.tags, line.tags.clone(), &drop_tags);
    line.fields = compact(&mut batch.fields, line.fields.clone(), &drop_fields);
    Ok(false)
}

/// Removes the entries at `drop` (offsets within `range`) from the range of
/// `items`, keeping order; returns the shortened range.
fn compact<T>(items: &mut [T], range: std::ops::Range<usize>, drop: &[usize]) -> std::ops::Range<usize> {
    let (start, end) = (range.start, range.end);
    let slice = &mut items[start..end];
    let mut keep = 0;
    for k in 0..slice.len() {
        if !drop.contains(&k) {
            slice.swap(keep, k);
            keep += 1;
        }
    }
    range.start..range.start + keep
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measurement's length keeps its end from running into the day
    /// and the name: these two would be the same bytes without it.
    #[test]
    fn partition_keys_are_unambiguous() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ka = partition_key(&mut a, "m\0\0\0\0", Day(0), "f").to_vec();
        let kb = partition_key(&mut b, "m", Day(0), "\0\0\0\0f").to_vec();
        assert_ne!(ka, kb);
        assert_ne!(partition_key(&mut a, "m", Day(0), "f").to_vec(), partition_key(&mut b, "m", Day(1), "f").to_vec());
        assert_eq!(partition_key(&mut a, "m", Day(-3), "f").to_vec(), partition_key(&mut b, "m", Day(-3), "f").to_vec());
    }

    /// Equal names of every length compare equal; a difference in any one
    /// byte, or in length, never does (the word compares overlap, so a
    /// byte missed by both would go unseen).
    #[test]
    fn same_name_sees_every_byte() {
        for len in 0..40usize {
            let a: String = (b'a'..=b'z').cycle().take(len).map(char::from).collect();
            assert!(same_name(&a, &a.clone()), "len {len}");
            for at in 0..len {
                let mut b = a.clone().into_bytes();
                b[at] = b'_';
                let b = String::from_utf8(b).expect("ascii");
                assert!(!same_name(&a, &b), "len {len}, byte {at}");
            }
            let longer = format!("{a}z");
            assert!(!same_name(&a, &longer) && !same_name(&longer, &a), "len {len}");
        }
    }
}
