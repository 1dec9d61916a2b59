//! A statement's answer as Arrow record batches (cargo feature `arrow`):
//! what `linedb_influxql_arrow` hands to pyarrow, Polars, DuckDB or
//! nanoarrow through the Arrow C Stream Interface, no text in between.
//!
//! One schema for the statement: `time` (timestamp, nanoseconds, UTC) when
//! its rows have one; then a column per `GROUP BY` tag key (UTF-8, the
//! series' value on every row; named `key::tag` when a column of the
//! statement has that name); then the statement's columns, each typed by
//! its values: float, integer, unsigned, string or boolean as stored;
//! integers and floats mixed (a field of several types across days)
//! become floats, unsigned mixed with signed too; any other mix is UTF-8
//! text of each value; a column without a value is a float column of
//! nulls. One record batch per series, in the answer's order.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use super::result::Series;
use super::value::Value;

/// The type a column's values take in Arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    /// Values of kinds that do not mix: their text.
    Text,
}

impl Kind {
    fn of(v: &Value) -> Option<Kind> {
        Some(match v {
            Value::Null => return None,
            Value::Float(_) => Kind::Float,
            Value::Integer(_) => Kind::Integer,
            Value::Unsigned(_) => Kind::Unsigned,
            Value::String(_) => Kind::String,
            Value::Boolean(_) => Kind::Boolean,
        })
    }

    fn join(a: Option<Kind>, b: Kind) -> Kind {
        match (a, b) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some(Kind::Float | Kind::Integer | Kind::Unsigned), Kind::Float | Kind::Integer | Kind::Unsigned) => {
                Kind::Float
            }
            _ => Kind::Text,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Float => DataType::Float64,
            Kind::Integer => DataType::Int64,
            Kind::Unsigned => DataType::UInt64,
            Kind::String | Kind::Text => DataType::Utf8,
            Kind::Boolean => DataType::Boolean,
        }
    }
}

/// The schema and the batches of one statement's series (all share the
/// statement's columns).
pub fn batches(series: &[Series]) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let Some(first) = series.first() else {
        return Ok((Arc::new(Schema::empty()), Vec::new()));
    };
    let has_time = first.has_time;
    let skip = usize::from(has_time);
    let value_names: Vec<&str> = first.columns.iter().skip(skip).map(String::as_str).collect();
    let tag_keys: Vec<&str> = first.tags.iter().map(|(k, _)| k.as_str()).collect();
    let mut kinds: Vec<Option<Kind>> = vec![None; value_names.len()];
    for s in series {
        for row in &s.rows {
            for (k, v) in kinds.iter_mut().zip(row.iter().skip(skip)) {
                if let Some(kind) = Kind::of(v) {
                    *k = Some(Kind::join(*k, kind));
                }
            }
        }
    }
    let mut fields = Vec::new();
    if has_time {
        fields.push(Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false));
    }
    let taken: HashSet<&str> = value_names.iter().copied().collect();
    for key in &tag_keys {
        let name =
            if taken.contains(key) || (has_time && *key == "time") { format!("{key}::tag") } else { (*key).to_owned() };
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    for (name, kind) in value_names.iter().zip(&kinds) {
        fields.push(Field::new(*name, kind.unwrap_or(Kind::Float).data_type(), true));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        if has_time {
            let times: Vec<i64> =
                s.rows.iter().map(|r| if let Some(Value::Integer(t)) = r.first() { *t } else { 0 }).collect();
            columns.push(Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")));
        }
        for key in &tag_keys {
            let value = s.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            columns.push(Arc::new(StringArray::from(vec![value; s.rows.len()])));
        }
        for (c, kind) in kinds.iter().enumerate() {
            let values = s.rows.iter().map(|r| r.get(c + skip).unwrap_or(&Value::Null));
            columns.push(column(kind.unwrap_or(Kind::Float), values, s.rows.len()));
        }
        out.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
    }
    Ok((schema, out))
}

fn column<'v>(kind: Kind, values: impl Iterator<Item = &'v Value>, n: usize) -> ArrayRef {
    match kind {
        Kind::Float => {
            let mut b = Float64Builder::with_capacity(n);
            values.for_each(|v| b.append_option(v.as_f64()));
            Arc::new(b.finish())
        }
        Kind::Integer => {
            let mut b = Int64Builder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Integer(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        Kind::Unsigned => {
            let mut b = UInt64Builder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Unsigned(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        Kind::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            values.for_each(|v| b.append_option(if let Value::Boolean(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        Kind::String | Kind::Text => {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            values.for_each(|v| match v {
                Value::Null => b.append_null(),
                Value::String(s) => b.append_value(s),
                Value::Float(x) => b.append_value(x.to_string()),
                Value::Integer(x) => b.append_value(x.to_string()),
                Value::Unsigned(x) => b.append_value(x.to_string()),
                Value::Boolean(x) => b.append_value(if *x { "true" } else { "false" }),
            });
            Arc::new(b.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;

    fn series(tags: &[(&str, &str)], rows: Vec<Vec<Value>>) -> Series {
        Series {
            name: Some("cpu".into()),
            tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            columns: vec!["time".into(), "host".into(), "v".into(), "s".into()],
            has_time: true,
            rows,
        }
    }

    #[test]
    fn columns_are_typed_by_their_values_and_tags_repeat_per_row() {
        let a = series(
            &[("host", "a")],
            vec![
                vec![Value::Integer(1), Value::String("x".into()), Value::Integer(3), Value::Null],
                vec![Value::Integer(2), Value::Null, Value::Float(1.5), Value::String("s".into())],
            ],
        );
        let b = series(
            &[("host", "b")],
            vec![vec![Value::Integer(3), Value::Null, Value::Integer(4), Value::Boolean(true)]],
        );
        let (schema, out) = batches(&[a, b]).unwrap();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["time", "host::tag", "host", "v", "s"]);
        assert_eq!(schema.field(3).data_type(), &DataType::Float64, "integers and floats mixed: floats");
        assert_eq!(schema.field(4).data_type(), &DataType::Utf8, "a string and a boolean: text");
        assert_eq!(out.len(), 2);
        let v = out[0].column(3).as_primitive::<Float64Type>();
        assert_eq!((v.value(0), v.value(1)), (3.0, 1.5));
        assert_eq!(out[1].column(1).as_string::<i32>().value(0), "b");
        assert!(out[0].column(2).is_null(1));
        assert_eq!(out[1].column(4).as_string::<i32>().value(0), "true");
        let t = out[0].column(0).as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(t.value(1), 2);
        let only_ints = series(&[], vec![vec![Value::Integer(1), Value::Null, Value::Integer(7), Value::Null]]);
        let (schema, out) = batches(&[only_ints]).unwrap();
        assert_eq!(schema.field(2).data_type(), &DataType::Int64);
        assert_eq!(out[0].column(2).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(schema.field(3).data_type(), &DataType::Float64, "no value: a float column of nulls");
    }
}
