//! Points to a Parquet file, one row group at a time.
//!
//! Columns (see [`super::columns`]): `time`, a required INT64 timestamp of
//! nanoseconds adjusted to UTC (delta encoded); each tag an optional UTF-8
//! string, dictionary encoded (a series without the tag is null); each
//! field an optional column of its type: DOUBLE, INT64, INT64 annotated
//! unsigned 64-bit, UTF-8 string, BOOLEAN (a point without the field is
//! null). Pages are zstd compressed. The file's key-value metadata names
//! the measurement and which columns are tags and which fields
//! (`linedb:measurement`, `linedb:tags`, `linedb:fields`, JSON).
//!
//! Memory is one row group of buffered columns: at most [`GROUP_ROWS`]
//! rows or about [`GROUP_BYTES`] of values (tag dictionaries and the
//! per-series cache counted), whichever comes first, and the file's
//! metadata until the footer (min/max per column chunk: a few hundred
//! bytes per column and row group). Tag values are kept once per group (a
//! dictionary per column) and each series' tags are split once per group.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use parking_lot::Mutex;
use parquet::basic::{Compression, Encoding, LogicalType, Repetition, TimeUnit, Type as PhysicalType, ZstdLevel};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};

use super::columns::Layout;
use super::json_strings;
use crate::columnar::tags;
use crate::line_protocol::FieldType;
use crate::rows::{StoredField, StoredValue};

/// Rows per row group at most: large enough for the engines that read
/// Parquet to scan well, small enough for a board's memory.
pub const GROUP_ROWS: usize = 1 << 17;
/// Bytes of buffered values after which a row group is written even if it
/// has fewer rows (long strings).
pub const GROUP_BYTES: usize = 64 << 20;
/// zstd's level for the pages: its default, the usual speed/size balance.
const ZSTD_LEVEL: i32 = 3;

/// Why a Parquet file could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    /// The output refused bytes (the error as the OS gave it).
    Io(io::Error),
    /// A stored series key that does not split into tags, or a value the
    /// first scan did not see: a bug, never the caller's input.
    Internal(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Io(e) => write!(f, "{e}"),
            WriteError::Internal(m) => write!(f, "{m}"),
        }
    }
}

/// The first I/O error the output met, shared by the output and the
/// [`Writer`]: the Parquet crate's error type loses the errno (and its
/// final flush drops the output with the error), so the kind of failure
/// (out of space: 503) is read here.
type FirstError = Arc<Mutex<Option<io::Error>>>;

/// The output, keeping its first I/O error in a [`FirstError`].
struct Keep<W> {
    out: W,
    error: FirstError,
}

impl<W: Write> Write for Keep<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf).inspect_err(|e| self.keep(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().inspect_err(|e| self.keep(e))
    }
}

impl<W> Keep<W> {
    fn keep(&self, e: &io::Error) {
        let mut first = self.error.lock();
        if first.is_none() {
            *first = Some(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            });
        }
    }
}

/// One tag column of a group: each row's value as an index into the
/// group's dictionary of the column, or `NONE`.
#[derive(Default)]
struct TagColumn {
    ids: Vec<u32>,
    dict: Vec<ByteArray>,
    index: HashMap<Vec<u8>, u32>,
}

const NONE: u32 = u32::MAX;

impl TagColumn {
    fn intern(&mut self, value: Vec<u8>) -> Result<u32, WriteError> {
        if let Some(&id) = self.index.get(&value) {
            return Ok(id);
        }
        let id = u32::try_from(self.dict.len()).map_err(|_| WriteError::Internal("too many tag values".into()))?;
        self.dict.push(ByteArray::from(value.clone()));
        self.index.insert(value, id);
        Ok(id)
    }
}

/// The values of a field column in a group (present rows only) and each
/// row's definition level (1 present, 0 null).
enum Values {
    Float(Vec<f64>),
    /// Integers, and unsigned integers as their bits.
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Bytes(Vec<ByteArray>),
}

struct FieldColumn {
    values: Values,
    def: Vec<i16>,
}

/// A Parquet file being written: [`Writer::push`] each point in order,
/// then [`Writer::finish`].
pub struct Writer<W: Write + Send> {
    file: SerializedFileWriter<Keep<W>>,
    error: FirstError,
    layout: Layout,
    times: Vec<i64>,
    tags: Vec<TagColumn>,
    fields: Vec<FieldColumn>,
    /// Each series' tag ids in this group.
    series: HashMap<Vec<u8>, Box<[u32]>>,
    bytes: usize,
    rows: u64,
}

impl<W: Write + Send> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "parquet::Writer({} rows)", self.rows)
    }
}

impl<W: Write + Send> Writer<W> {
    /// Starts a file with `layout`'s columns; writes its first bytes to `out`.
    pub fn new(out: W, measurement: &str, layout: Layout) -> Result<Writer<W>, WriteError> {
        let schema = Arc::new(schema(&layout).map_err(|e| WriteError::Internal(format!("schema: {e}")))?);
        let zstd = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| WriteError::Internal(e.to_string()))?;
        let meta = vec![
            KeyValue::new("linedb:measurement".to_owned(), measurement.to_owned()),
            KeyValue::new("linedb:tags".to_owned(), json_strings(&layout.tags)),
            KeyValue::new("linedb:fields".to_owned(), json_strings(layout.fields.iter().map(|f| &f.name))),
        ];
        let time = ColumnPath::new(vec!["time".to_owned()]);
        let props = WriterProperties::builder()
            .set_created_by(format!("linedb {}", env!("CARGO_PKG_VERSION")))
            .set_compression(Compression::ZSTD(zstd))
            .set_max_row_group_row_count(Some(GROUP_ROWS))
            // Min/max per column chunk, not per page: the file's metadata,
            // held until the footer, stays a few hundred bytes per column
            // and row group whatever the pages.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_column_dictionary_enabled(time.clone(), false)
            .set_column_encoding(time, Encoding::DELTA_BINARY_PACKED)
            .set_key_value_metadata(Some(meta))
            .build();
        let error = FirstError::default();
        let keep = Keep { out, error: Arc::clone(&error) };
        let file = match SerializedFileWriter::new(keep, schema, Arc::new(props)) {
            Ok(f) => f,
            Err(e) => return Err(failure(&error, &e)),
        };
        let tags = layout.tags.iter().map(|_| TagColumn::default()).collect();
        let fields = layout.fields.iter().map(|f| FieldColumn { values: empty(f.ty), def: Vec::new() }).collect();
        Ok(Writer { file, error, layout, times: Vec::new(), tags, fields, series: HashMap::new(), bytes: 0, rows: 0 })
    }

    /// Adds one point (points come in the order the file is to hold them).
    pub fn push(&mut self, series: &[u8], time: i64, fields: &[StoredField<'_>]) -> Result<(), WriteError> {
        let row = self.times.len();
        self.times.push(time);
        self.bytes += 8 + 4 * self.tags.len() + 2 * self.fields.len();
        let ids = match self.series.get(series) {
            Some(ids) => ids,
            None => {
                let ids = self.tag_ids(series)?;
                // The key, its ids, and the map's own share.
                self.bytes += series.len() + 4 * ids.len() + 64;
                self.series.entry(series.to_vec()).or_insert(ids)
            }
        };
        for (col, &id) in self.tags.iter_mut().zip(ids.iter()) {
            col.ids.push(id);
        }
        for f in fields {
            let ty = f.value.field_type();
            let Some(col) = self.layout.field(f.key, ty).and_then(|c| self.fields.get_mut(c)) else {
                return Err(WriteError::Internal(format!("a field the first scan did not see: {:?}", f.key)));
            };
            // One definition level per row: a key twice in a point (merged
            // points never have one) would shift the column.
            if col.def.len() != row {
                return Err(WriteError::Internal(format!("a field twice in one point: {:?}", f.key)));
            }
            self.bytes += push_value(&mut col.values, f.value)?;
            col.def.push(1);
        }
        // The fields the point has none of: null.
        for col in &mut self.fields {
            if col.def.len() == row {
                col.def.push(0);
            }
        }
        self.rows += 1;
        if self.times.len() >= GROUP_ROWS || self.bytes >= GROUP_BYTES {
            self.write_group()?;
        }
        Ok(())
    }

    /// Writes what is buffered and the footer; returns the output and the
    /// number of rows written.
    pub fn finish(mut self) -> Result<(W, u64), WriteError> {
        if !self.times.is_empty() {
            self.write_group()?;
        }
        let rows = self.rows;
        match self.file.into_inner() {
            Ok(keep) => match keep.error.lock().take() {
                Some(e) => Err(WriteError::Io(e)),
                None => Ok((keep.out, rows)),
            },
            Err(e) => Err(failure(&self.error, &e)),
        }
    }

    /// The group dictionary ids of a series' tags, one per tag column.
    fn tag_ids(&mut self, series: &[u8]) -> Result<Box<[u32]>, WriteError> {
        let mut ids = vec![NONE; self.tags.len()].into_boxed_slice();
        let split = tags::split(series).ok_or_else(|| WriteError::Internal("a stored series key does not split".into()))?;
        for (k, v) in split {
            let Some((at, col)) = self.layout.tag(k).and_then(|c| Some((c, self.tags.get_mut(c)?))) else {
                return Err(WriteError::Internal("a tag the first scan did not see".into()));
            };
            let value = tags::unescape(v);
            if !col.index.contains_key(&value) {
                // The dictionary's copy and the index's key.
                self.bytes += 2 * value.len() + 64;
            }
            ids[at] = col.intern(value)?;
        }
        Ok(ids)
    }

    fn write_group(&mut self) -> Result<(), WriteError> {
        if let Err(e) = self.write_columns() {
            return Err(failure(&self.error, &e));
        }
        if let Some(e) = self.error.lock().take() {
            return Err(WriteError::Io(e));
        }
        self.times.clear();
        for col in &mut self.tags {
            *col = TagColumn::default();
        }
        for col in &mut self.fields {
            clear(&mut col.values);
            col.def.clear();
        }
        self.series.clear();
        self.bytes = 0;
        Ok(())
    }

    fn write_columns(&mut self) -> Result<(), ParquetError> {
        let mut group = self.file.next_row_group()?;
        let mut at = 0usize;
        let mut scratch: Vec<ByteArray> = Vec::new();
        let mut def: Vec<i16> = Vec::new();
        while let Some(mut col) = group.next_column()? {
            let wrong = || ParquetError::General(format!("column {at} has another type than its values"));
            if at == 0 {
                let ColumnWriter::Int64ColumnWriter(w) = col.untyped() else { return Err(wrong()) };
                w.write_batch(&self.times, None, None)?;
            } else if let Some(tag) = self.tags.get(at - 1) {
                scratch.clear();
                def.clear();
                for &id in &tag.ids {
                    match tag.dict.get(id as usize) {
                        Some(v) => {
                            scratch.push(v.clone());
                            def.push(1);
                        }
                        None => def.push(0),
                    }
                }
                let ColumnWriter::ByteArrayColumnWriter(w) = col.untyped() else { return Err(wrong()) };
                w.write_batch(&scratch, Some(&def), None)?;
            } else if let Some(field) = self.fields.get(at - 1 - self.tags.len()) {
                let def = Some(field.def.as_slice());
                match (col.untyped(), &field.values) {
                    (ColumnWriter::DoubleColumnWriter(w), Values::Float(v)) => w.write_batch(v, def, None)?,
                    (ColumnWriter::Int64ColumnWriter(w), Values::Int(v)) => w.write_batch(v, def, None)?,
                    (ColumnWriter::BoolColumnWriter(w), Values::Bool(v)) => w.write_batch(v, def, None)?,
                    (ColumnWriter::ByteArrayColumnWriter(w), Values::Bytes(v)) => w.write_batch(v, def, None)?,
                    _ => return Err(wrong()),
                };
            } else {
                return Err(ParquetError::General(format!("column {at} is not in the layout")));
            }
            col.close()?;
            at += 1;
        }
        group.close()?;
        Ok(())
    }
}

/// What a Parquet error means: the output's I/O error if it met one (its
/// errno kept), else a bug of ours or of the crate's.
fn failure(first: &FirstError, e: &ParquetError) -> WriteError {
    match first.lock().take() {
        Some(io) => WriteError::Io(io),
        None => WriteError::Internal(format!("Parquet writer: {e}")),
    }
}

fn empty(ty: FieldType) -> Values {
    match ty {
        FieldType::Float => Values::Float(Vec::new()),
        FieldType::Integer | FieldType::UInteger => Values::Int(Vec::new()),
        FieldType::Boolean => Values::Bool(Vec::new()),
        FieldType::String => Values::Bytes(Vec::new()),
    }
}

fn clear(v: &mut Values) {
    match v {
        Values::Float(v) => v.clear(),
        Values::Int(v) => v.clear(),
        Values::Bool(v) => v.clear(),
        Values::Bytes(v) => v.clear(),
    }
}

/// Appends `value` to a column of its type (the layout chose the column by
/// type, so they match); the bytes it buffers.
fn push_value(values: &mut Values, value: StoredValue<'_>) -> Result<usize, WriteError> {
    match (values, value) {
        (Values::Float(v), StoredValue::Float(x)) => v.push(x),
        (Values::Int(v), StoredValue::Integer(x)) => v.push(x),
        // Parquet's unsigned 64-bit integers are INT64 holding the bits.
        (Values::Int(v), StoredValue::UInteger(x)) => v.push(i64::from_ne_bytes(x.to_ne_bytes())),
        (Values::Bool(v), StoredValue::Boolean(x)) => v.push(x),
        (Values::Bytes(v), StoredValue::String(s)) => {
            v.push(ByteArray::from(s.to_vec()));
            return Ok(s.len() + 32);
        }
        (_, value) => {
            return Err(WriteError::Internal(format!("a {} value in a column of another type", value.field_type().name())))
        }
    }
    Ok(8)
}

/// The file's schema for `layout`.
fn schema(layout: &Layout) -> Result<Type, ParquetError> {
    let mut columns = Vec::with_capacity(1 + layout.tags.len() + layout.fields.len());
    let time = Type::primitive_type_builder("time", PhysicalType::INT64)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::NANOS)))
        .build()?;
    columns.push(Arc::new(time));
    for name in &layout.tags {
        let t = Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(Some(LogicalType::String))
            .build()?;
        columns.push(Arc::new(t));
    }
    for f in &layout.fields {
        let (physical, logical) = match f.ty {
            FieldType::Float => (PhysicalType::DOUBLE, None),
            FieldType::Integer => (PhysicalType::INT64, None),
            FieldType::UInteger => (PhysicalType::INT64, Some(LogicalType::integer(64, false))),
            FieldType::String => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            FieldType::Boolean => (PhysicalType::BOOLEAN, None),
        };
        let t = Type::primitive_type_builder(&f.name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()?;
        columns.push(Arc::new(t));
    }
    Type::group_type_builder("schema").with_fields(columns).build()
}
