//! Validation: every cross-line rule of LINE_PROTOCOL.md, against stored
//! data and within one batch.

use linedb::line_protocol::{Batch, FieldType, ParseError, Precision};
use linedb::partition::{Day, NANOS_PER_DAY};
use linedb::schema::{ColumnKind, Limits, Schema, SchemaView};
use linedb::validate::{check_batch, BatchError, ValidateError, ValidatedBatch};

fn check_with(input: &str, schema: &Schema, limits: &Limits) -> Result<ValidatedBatch, BatchError> {
    let mut b = Batch::new();
    check_batch(input.as_bytes(), Precision::Nanosecond, 0, schema, limits, &mut b)
}

fn check(input: &str, schema: &Schema) -> Result<ValidatedBatch, BatchError> {
    check_with(input, schema, &Limits::default())
}

/// A schema holding what `input` brings.
fn stored(input: &str) -> Schema {
    let mut s = Schema::new();
    let v = check(input, &s).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    s.apply(&v.changes);
    s
}

fn invalid(input: &str, schema: &Schema) -> ValidateError {
    invalid_with(input, schema, &Limits::default())
}

fn invalid_with(input: &str, schema: &Schema, limits: &Limits) -> ValidateError {
    let before = schema.clone();
    let e = match check_with(input, schema, limits) {
        Err(BatchError::Invalid(e)) => e,
        other => panic!("{input:?}: expected a rule violation, got {other:?}"),
    };
    // Rejection leaves the schema as it was.
    assert_eq!(schema, &before);
    e
}

#[test]
fn repeated_tag_with_same_value_is_one_tag() {
    let mut b = Batch::new();
    let v = check_batch(b"m,t=a,u=b,t=a f=1", Precision::Nanosecond, 0, &Schema::new(), &Limits::default(), &mut b).unwrap();
    assert_eq!(v.points, 1);
    let keys: Vec<_> = b.line(0).tags().iter().map(|t| t.key.to_string()).collect();
    assert_eq!(keys, ["t", "u"]);
}

#[test]
fn repeated_tag_with_different_values_is_rejected() {
    let e = invalid("m f=1\nm,t=a,t=b f=1", &Schema::new());
    assert!(matches!(&e, ValidateError::DuplicateTag { key, .. } if key == "t"), "{e:?}");
    assert_eq!(e.line(), 2);
    assert_eq!(e.to_string(), "line 2: tag \"t\" given twice with different values: m,t=a,t=b f=1");
}

#[test]
fn repeated_field_of_same_type_keeps_last_value() {
    let mut b = Batch::new();
    check_batch(b"m f=1,g=2,f=3", Precision::Nanosecond, 0, &Schema::new(), &Limits::default(), &mut b).unwrap();
    let fields: Vec<_> = b.line(0).fields().iter().map(|f| (f.key.to_string(), f.value.clone())).collect();
    use linedb::line_protocol::FieldValue::Float;
    assert_eq!(fields, [("g".to_owned(), Float(2.0)), ("f".to_owned(), Float(3.0))]);
}

#[test]
fn repeated_field_of_different_types_is_rejected() {
    let e = invalid("m f=1,f=1i", &Schema::new());
    assert!(
        matches!(e, ValidateError::DuplicateFieldType { first: FieldType::Float, second: FieldType::Integer, .. }),
        "{e:?}"
    );
}

#[test]
fn time_is_reserved() {
    let e = invalid("m,time=a f=1", &Schema::new());
    assert!(matches!(e, ValidateError::ReservedName { kind: ColumnKind::Tag, .. }), "{e:?}");
    let e = invalid("m f=1,time=2", &Schema::new());
    assert!(matches!(e, ValidateError::ReservedName { kind: ColumnKind::Field, .. }), "{e:?}");
    // A measurement may be called time; a tag may be called Time.
    check("time,Time=a f=1", &Schema::new()).unwrap();
}

#[test]
fn a_name_is_a_tag_or_a_field_in_one_line() {
    let e = invalid("m,x=a x=1", &Schema::new());
    assert!(matches!(&e, ValidateError::TagFieldCollision { name, is: ColumnKind::Tag, stored: false, .. } if name == "x"), "{e:?}");
}

#[test]
fn a_name_is_a_tag_or_a_field_in_one_table_across_lines() {
    let e = invalid("m,x=a f=1\nm x=1", &Schema::new());
    assert!(matches!(e, ValidateError::TagFieldCollision { is: ColumnKind::Tag, stored: true, .. }), "{e:?}");
    assert_eq!(e.line(), 2);
    // Another table may use it the other way.
    check("m,x=a f=1\nn x=1", &Schema::new()).unwrap();
}

#[test]
fn a_name_is_a_tag_or_a_field_against_stored_data() {
    let s = stored("m x=1");
    let e = invalid("m,x=a f=1", &s);
    assert!(matches!(e, ValidateError::TagFieldCollision { is: ColumnKind::Field, stored: true, .. }), "{e:?}");
}

#[test]
fn field_type_conflict_with_stored_partition() {
    let s = stored("cpu f=1i 10");
    let e = invalid("cpu f=2i 20\ncpu f=2.5 30", &s);
    match &e {
        ValidateError::FieldTypeConflict { measurement, day, field, expected, got, .. } => {
            assert_eq!((measurement.as_str(), *day, field.as_str()), ("cpu", Day(0), "f"));
            assert_eq!((*expected, *got), (FieldType::Integer, FieldType::Float));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.line(), 2);
    assert_eq!(e.to_string(), "line 2: field \"f\" is integer in partition \"cpu\" 1970-01-01, got float: cpu f=2.5 30");
}

#[test]
fn field_type_conflict_within_one_batch() {
    let e = invalid("cpu f=1i 10\ncpu g=1 11\ncpu f=\"s\" 12", &Schema::new());
    assert!(matches!(e, ValidateError::FieldTypeConflict { expected: FieldType::Integer, got: FieldType::String, .. }), "{e:?}");
    assert_eq!(e.line(), 3);
}

#[test]
fn field_types_are_per_partition() {
    // The same field may have another type on another day, or in another table.
    let day = NANOS_PER_DAY;
    let v = check(&format!("cpu f=1i 10\ncpu f=1.5 {day}\nmem f=true 10"), &Schema::new()).unwrap();
    assert_eq!(v.partitions.len(), 3);
    let s = stored("cpu f=1i 10");
    check(&format!("cpu f=1.5 {day}"), &s).unwrap();
}

#[test]
fn negative_timestamps_fall_in_1969() {
    // -1 ns is 1969-12-31: another partition than 0 ns.
    let v = check("m f=1i -1\nm f=1.5 0", &Schema::new()).unwrap();
    let days: Vec<_> = v.partitions.iter().map(|p| p.day).collect();
    assert_eq!(days, [Day(-1), Day(0)]);
    assert_eq!(Day(-1).to_string(), "1969-12-31");
    // The whole of 1969-12-31 is one partition.
    let e = invalid(&format!("m f=1i -1\nm f=1.5 {}", -NANOS_PER_DAY), &Schema::new());
    assert!(matches!(e, ValidateError::FieldTypeConflict { day: Day(-1), .. }), "{e:?}");
    // One nanosecond earlier is 1969-12-30: another partition.
    let v = check(&format!("m f=1i -1\nm f=1.5 {}", -NANOS_PER_DAY - 1), &Schema::new()).unwrap();
    assert_eq!(v.partitions[1].day, Day(-2));
    assert_eq!(Day(-2).to_string(), "1969-12-30");
}

#[test]
fn same_shape_entering_a_new_day_is_checked_against_that_day() {
    // The fast path for repeated line shapes must still look at each new partition.
    let day = NANOS_PER_DAY;
    let s = stored(&format!("m,h=a f=1i {day}"));
    let e = invalid(&format!("m,h=a f=1 0\nm,h=b f=2 1\nm,h=c f=3 {day}"), &s);
    assert!(matches!(e, ValidateError::FieldTypeConflict { day: Day(1), .. }), "{e:?}");
    assert_eq!(e.line(), 3);
}

#[test]
fn column_limit_counts_time_tags_and_fields() {
    let limits = Limits { max_columns_per_table: 4, ..Limits::default() };
    // time + t + f + g = 4 columns: allowed.
    check_with("m,t=a f=1,g=2", &Schema::new(), &limits).unwrap();
    let e = invalid_with("m,t=a f=1,g=2,h=3", &Schema::new(), &limits);
    assert!(matches!(&e, ValidateError::TooManyColumns { limit: 4, measurement, .. } if measurement == "m"), "{e:?}");
    // Across lines of a batch.
    let e = invalid_with("m,t=a f=1\nm g=1\nm h=1", &Schema::new(), &limits);
    assert_eq!(e.line(), 3);
    // Against stored columns.
    let s = stored("m,t=a f=1,g=2");
    let e = invalid_with("m x=1", &s, &limits);
    assert!(matches!(e, ValidateError::TooManyColumns { .. }), "{e:?}");
    // Known columns do not count again.
    check_with("m,t=b g=3,f=4", &s, &limits).unwrap();
}

#[test]
fn default_limits_are_250_columns_and_500_tables() {
    let limits = Limits::default();
    assert_eq!((limits.max_columns_per_table, limits.max_tables_per_database), (250, 500));
    let fields = |n: usize| (0..n).map(|i| format!("f{i}=1")).collect::<Vec<_>>().join(",");
    check(&format!("m {}", fields(249)), &Schema::new()).unwrap();
    let e = invalid(&format!("m {}", fields(250)), &Schema::new());
    assert!(matches!(e, ValidateError::TooManyColumns { limit: 250, .. }), "{e:?}");
    let tables = |n: usize| (0..n).map(|i| format!("m{i} f=1")).collect::<Vec<_>>().join("\n");
    check(&tables(500), &Schema::new()).unwrap();
    let e = invalid(&tables(501), &Schema::new());
    assert!(matches!(e, ValidateError::TooManyTables { limit: 500, .. }), "{e:?}");
    assert_eq!(e.line(), 501);
}

#[test]
fn table_limit_counts_stored_tables() {
    let limits = Limits { max_tables_per_database: 2, ..Limits::default() };
    let s = stored("a f=1\nb f=1");
    check_with("a f=2\nb f=3", &s, &limits).unwrap();
    let e = invalid_with("a f=2\nc f=1", &s, &limits);
    assert!(matches!(&e, ValidateError::TooManyTables { measurement, .. } if measurement == "c"), "{e:?}");
}

#[test]
fn a_line_with_repeats_does_not_disturb_the_shape_before_it() {
    // Line 1 is the shape the fast path compares with; line 2 has repeats
    // (resolved in place) and must not become the shape; line 3 has line
    // 1's shape, and line 4 line 1's names with another field type.
    let input = "m,t=a f=1i,g=2i 0\nm,t=a,t=a g=1i,f=2i,f=3i 0\nm,t=b f=4i,g=5i 0\nm,t=c f=4i,g=5.0 0";
    let e = invalid(input, &Schema::new());
    assert!(matches!(&e, ValidateError::FieldTypeConflict { field, .. } if field == "g"), "{e:?}");
    assert_eq!(e.line(), 4);
    let v = check(&input[..input.rfind('\n').unwrap_or(0)], &Schema::new()).unwrap();
    assert_eq!(v.partitions.len(), 1);
    assert_eq!(v.partitions[0].lines, [0, 1, 2]);
}

#[test]
fn field_types_set_in_a_batch_are_told_apart_by_measurement_day_and_name() {
    // Names chosen so that measurement and field run into each other if
    // the batch's own type table joined them carelessly.
    let d = NANOS_PER_DAY;
    let v = check(&format!("a bc=1i 0\nab c=1.5 0\na bc=\"s\" {d}\nabc x=true 0"), &Schema::new()).unwrap();
    let mut types = v.changes.field_types.clone();
    types.sort();
    let want = [
        ("a".to_owned(), Day(0), "bc".to_owned(), FieldType::Integer),
        ("a".to_owned(), Day(1), "bc".to_owned(), FieldType::String),
        ("ab".to_owned(), Day(0), "c".to_owned(), FieldType::Float),
        ("abc".to_owned(), Day(0), "x".to_owned(), FieldType::Boolean),
    ];
    assert_eq!(types, want);
    // And the same field again in its own partition is checked against it.
    let e = invalid("a bc=1i 0\nab c=1.5 0\na bc=2.5 5", &Schema::new());
    assert!(matches!(&e, ValidateError::FieldTypeConflict { field, measurement, .. } if field == "bc" && measurement == "a"), "{e:?}");
}

#[test]
fn grouped_by_measurement_and_utc_day() {
    let d = NANOS_PER_DAY;
    let input = format!("cpu f=1 5\nmem f=1 5\ncpu f=2 {}\ncpu f=3 {}\ncpu f=4 6", d + 1, d - 1);
    let v = check(&input, &Schema::new()).unwrap();
    let groups: Vec<_> = v.partitions.iter().map(|p| (p.measurement.as_str(), p.day, p.lines.clone())).collect();
    assert_eq!(groups, [("cpu", Day(0), vec![0, 3, 4]), ("mem", Day(0), vec![1]), ("cpu", Day(1), vec![2])]);
    assert_eq!(v.points, 5);
}

#[test]
fn changes_list_what_the_batch_adds() {
    let s = stored("cpu,h=a f=1i 0");
    let v = check("cpu,h=b,r=x f=2i,g=true 0\nmem v=1u 0", &s).unwrap();
    assert_eq!(v.changes.tables, ["mem"]);
    let cols: Vec<_> = v.changes.columns.iter().map(|(t, c, k)| (t.as_str(), c.as_str(), *k)).collect();
    assert_eq!(cols, [("cpu", "r", ColumnKind::Tag), ("cpu", "g", ColumnKind::Field), ("mem", "v", ColumnKind::Field)]);
    let types: Vec<_> = v.changes.field_types.iter().map(|(t, d, f, ty)| (t.as_str(), *d, f.as_str(), *ty)).collect();
    assert_eq!(types, [("cpu", Day(0), "g", FieldType::Boolean), ("mem", Day(0), "v", FieldType::UInteger)]);
    let mut s2 = s.clone();
    s2.apply(&v.changes);
    assert_eq!(s2.field_type("mem", Day(0), "v"), Some(FieldType::UInteger));
    assert_eq!(s2.column_count("cpu"), Some(5));
}

#[test]
fn first_rejected_line_wins_between_parse_and_rules() {
    // A rule broken on line 2 comes before a parse error on line 4.
    match check("m f=1i\nm f=1.5\nm g=1\nm g=", &Schema::new()) {
        Err(BatchError::Invalid(e)) => assert_eq!(e.line(), 2),
        other => panic!("{other:?}"),
    }
    // A parse error on line 2 comes before a rule broken on line 3.
    match check("m f=1i\nm g=\nm f=1.5", &Schema::new()) {
        Err(BatchError::Parse(e @ ParseError::MissingFieldValue { .. })) => assert_eq!(e.line(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_batch_is_valid_with_no_points() {
    let v = check("\n# nothing\n", &Schema::new()).unwrap();
    assert_eq!(v.points, 0);
    assert!(v.partitions.is_empty() && v.changes.is_empty());
}

#[test]
fn a_batch_past_its_partition_bound_is_refused_at_the_line_that_passes_it() {
    use linedb::validate::SliceValidator;
    let (schema, limits) = (Schema::new(), Limits::default());
    let input = b"m f=1 1\nm f=2 2\nn f=1 1\nm f=3 86400000000000\nm f=4 3";
    let mut b = Batch::new();
    linedb::line_protocol::parse(input, Precision::Nanosecond, 0, &mut b).unwrap();
    let mut v = SliceValidator::new(&schema, &limits).with_max_partitions(2);
    match v.slice(&mut b, |_, _, _, _| {}) {
        Err(ValidateError::TooManyPartitions { at, limit }) => assert_eq!((at.line, limit), (4, 2)),
        other => panic!("{other:?}"),
    }
    // Within the bound, the same lines pass.
    let mut b = Batch::new();
    linedb::line_protocol::parse(input, Precision::Nanosecond, 0, &mut b).unwrap();
    let mut v = SliceValidator::new(&schema, &limits).with_max_partitions(3);
    v.slice(&mut b, |_, _, _, _| {}).unwrap();
    assert_eq!(v.finish().partitions.len(), 3);
}
