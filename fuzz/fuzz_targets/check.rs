//! The invariants of parsing and validating one batch, shared by the fuzz
//! target (`fuzz_targets/parse_validate.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`), so that the two cannot drift. Every violation
//! panics.
//!
//! Input layout: the first byte chooses the setting, the rest is the batch.
//! - bits 0-1: precision (0 ns, 1 us, 2 ms, 3 s)
//! - bit 2: small limits (5 columns per table, 3 tables)
//! - bit 3: a schema pre-populated by `PREPOPULATE` (else empty)
//! - bits 4-5: the write call's time (`DEFAULT_TIMES`)
//! - bits 6-7: unused, so that the ASCII letters `@`..`~` name every
//!   setting and corpus files stay readable (`@` = ns, default limits, empty
//!   schema, a 2023 "now").
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use linedb::line_protocol::{self, Batch, CanonicalLine, FieldValue, LineRef, Precision};
use linedb::partition::Day;
use linedb::schema::{ColumnKind, FieldType, Limits, Schema, SchemaView};
use linedb::validate::{check_batch, BatchError, SliceValidator, ValidatedBatch};

/// The C API's message buffer less the terminating NUL.
const MESSAGE_MAX: usize = 1023;

const PRECISIONS: [Precision; 4] =
    [Precision::Nanosecond, Precision::Microsecond, Precision::Millisecond, Precision::Second];

/// Times of the write call: a realistic now, the epoch, the last nanosecond
/// of day 0 (truncation to the precision stays in day 0), and just before
/// the epoch (day -1, floor division).
const DEFAULT_TIMES: [i64; 4] = [1_700_000_000_123_456_789, 0, 86_400_000_000_000 - 1, -1];

const SMALL_LIMITS: Limits = Limits { max_columns_per_table: 5, max_tables_per_database: 3 };

/// Stored data a batch may clash with: names that fuzz inputs and the seed
/// corpus use (`m`, `f`, `t`, `cpu`, the generator's `usage_user` in its
/// 2016-01-01 partition), in day 0, day 1 and the day of `DEFAULT_TIMES[0]`.
/// Validated with the default limits: `cpu` has more columns than the small
/// limit, as a table stored before a limit was lowered would.
pub const PREPOPULATE: &[u8] = b"cpu,host=a usage=1.5,count=3i 0
cpu,host=b usage=2,ok=true 86400000000000
cpu,hostname=host_0 usage_user=1i,usage_system=true 1451606400000000000
mem,host=a free=10u,note=\"x\" 0
m,t=a f=1i,s=\"x\" 0
m f=\"s\",b=true 1700000000000000000
";

fn prepopulated() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = Schema::new();
        let mut batch = Batch::new();
        let v = check_batch(PREPOPULATE, Precision::Nanosecond, 0, &schema, &Limits::default(), &mut batch)
            .unwrap_or_else(|e| panic!("the pre-population batch is invalid: {e}"));
        schema.apply(&v.changes);
        schema
    })
}

/// One setting of a run, decoded from the first input byte.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub precision: Precision,
    pub limits: Limits,
    pub prepopulate: bool,
    pub now: i64,
}

impl Setting {
    pub fn from_byte(b: u8) -> Setting {
        Setting {
            precision: PRECISIONS[usize::from(b & 3)],
            limits: if b & 4 != 0 { SMALL_LIMITS } else { Limits::default() },
            prepopulate: b & 8 != 0,
            now: DEFAULT_TIMES[usize::from((b >> 4) & 3)],
        }
    }
}

/// Runs every check on one fuzz input (setting byte, then the batch).
pub fn check(data: &[u8]) {
    let Some((&setting, input)) = data.split_first() else {
        return;
    };
    check_input(input, Setting::from_byte(setting));
}

/// Runs every check on one batch in one setting.
pub fn check_input(input: &[u8], s: Setting) {
    let schema = if s.prepopulate { prepopulated().clone() } else { Schema::new() };
    let physical_lines = input.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
    let default_time = s.now - s.now.rem_euclid(s.precision.nanos());

    // Parsing is deterministic, and a parse error is well formed.
    let mut b1 = Batch::new();
    let r1 = line_protocol::parse(input, s.precision, s.now, &mut b1);
    let mut b2 = Batch::new();
    let r2 = line_protocol::parse(input, s.precision, s.now, &mut b2);
    assert_eq!(r1, r2, "parse is not deterministic");
    assert_eq!(snapshot(&b1), snapshot(&b2), "parse is not deterministic");
    // The two-thread parse (forced on however small an input) is the same.
    let (mut b3, mut spare) = (Batch::new(), Batch::new());
    let r3 = line_protocol::parse_split_from(input, s.precision, s.now, &mut b3, &mut spare, 0);
    assert_eq!(r1, r3, "the split parse differs");
    assert_eq!(snapshot(&b1), snapshot(&b3), "the split parse differs");
    assert!(spare.is_empty(), "the split parse left lines in its spare batch");
    // And with the helper thread taking every range but the first, so that
    // its ranges are confirmed one by one.
    let mut b4 = Batch::new();
    let r4 = line_protocol::parse_split_helper_first(input, s.precision, s.now, &mut b4, &mut spare);
    assert_eq!(r1, r4, "the split parse (helper first) differs");
    assert_eq!(snapshot(&b1), snapshot(&b4), "the split parse (helper first) differs");
    assert!(spare.is_empty(), "the split parse left lines in its spare batch");
    check_lines(&b1, s, default_time, physical_lines);
    if let Err(e) = &r1 {
        check_message(e.line(), &e.to_string(), physical_lines);
        assert!(e.column() >= 1, "parse error column {} < 1: {e}", e.column());
    }

    let mut batch = Batch::new();
    let result = check_batch(input, s.precision, s.now, &schema, &s.limits, &mut batch);
    // Parsed and validated a slice at a time (as the engine does a large
    // batch), the answer is the same, for slices of any size.
    for bytes in [1, 7, input.len() / 3 + 1] {
        check_sliced(input, s, &schema, &result, bytes);
    }
    let v = match result {
        Err(e) => {
            check_message(e.line(), &e.to_string(), physical_lines);
            match (&e, &r1) {
                (BatchError::Parse(pe), Err(first)) => {
                    assert_eq!(pe, first, "check_batch reports another parse error than parse")
                }
                (BatchError::Parse(pe), Ok(())) => {
                    panic!("check_batch reports a parse error that parse does not: {pe}")
                }
                (BatchError::Invalid(ve), Err(pe)) => assert!(
                    ve.line() < pe.line(),
                    "a rule broken on line {} is reported before the parse error on line {}: {e}",
                    ve.line(),
                    pe.line()
                ),
                (BatchError::Invalid(_), Ok(())) => {}
            }
            return;
        }
        Ok(v) => v,
    };
    if let Err(e) = &r1 {
        panic!("check_batch accepts what parse rejects: {e}");
    }
    assert_eq!(b1.len(), batch.len(), "check_batch parsed another number of lines than parse");
    check_lines(&batch, s, default_time, physical_lines);
    assert_eq!(v.points, batch.len(), "points is not the number of lines");

    // Every line in exactly one partition, the one of its measurement and day.
    let mut seen = vec![false; batch.len()];
    let mut keys = HashSet::new();
    for p in &v.partitions {
        assert!(!p.lines.is_empty(), "empty partition group {} {}", p.measurement, p.day);
        assert!(keys.insert((p.measurement.clone(), p.day)), "partition {} {} listed twice", p.measurement, p.day);
        let mut last = None;
        for &i in &p.lines {
            assert!(i < batch.len(), "partition line index {i} out of range");
            assert!(!seen[i], "line index {i} in two partition groups");
            assert!(last < Some(i), "partition lines out of input order");
            last = Some(i);
            seen[i] = true;
            let line = batch.line(i);
            assert_eq!(line.measurement(), p.measurement, "line {i} in another table's partition");
            assert_eq!(Day::of(line.timestamp()), p.day, "line {i} in another day's partition");
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        panic!("line index {i} in no partition group");
    }

    check_rules(&batch, &schema);

    // The schema with the changes applied holds every name and type of the
    // batch, within the limits.
    let mut updated = schema.clone();
    updated.apply(&v.changes);
    for line in batch.iter() {
        let m = line.measurement();
        let day = Day::of(line.timestamp());
        for t in line.tags() {
            assert_eq!(updated.column_kind(m, &t.key), Some(ColumnKind::Tag), "tag {:?} of {m:?} not applied", t.key);
        }
        for f in line.fields() {
            assert_eq!(updated.column_kind(m, &f.key), Some(ColumnKind::Field), "field {:?} of {m:?} not applied", f.key);
            assert_eq!(
                updated.field_type(m, day, &f.key),
                Some(f.value.field_type()),
                "type of field {:?} of {m:?} {day} not applied",
                f.key
            );
        }
    }
    if !v.changes.tables.is_empty() {
        let n = updated.table_count();
        assert!(n <= s.limits.max_tables_per_database as usize, "{n} tables over the limit");
    }
    let grown: HashSet<&str> = v.changes.columns.iter().map(|(t, _, _)| t.as_str()).collect();
    for t in grown {
        let n = updated.column_count(t).unwrap_or(0);
        assert!(n <= s.limits.max_columns_per_table as usize, "table {t:?} has {n} columns, over the limit");
    }

    // Canonical lines read back to the same point, and are a fixpoint.
    let mut canonical_batch = String::new();
    for line in batch.iter() {
        let c = CanonicalLine::from_line(line);
        let mut text = String::new();
        c.write(&mut text);
        let mut again = Batch::new();
        // A byte-order mark that starts a batch is skipped (a measurement
        // that starts with one keeps it behind a blank line).
        let input_text = if text.starts_with('\u{feff}') { format!("\n{text}") } else { text.clone() };
        if let Err(e) = line_protocol::parse(input_text.as_bytes(), Precision::Nanosecond, 0, &mut again) {
            panic!("canonical line {text:?} does not parse: {e}");
        }
        assert_eq!(again.len(), 1, "canonical line {text:?} parses to {} lines", again.len());
        let back = CanonicalLine::from_line(again.line(0));
        assert!(same_canonical(&c, &back), "canonical line {text:?} reads back as {back:?}, not {c:?}");
        let mut text2 = String::new();
        back.write(&mut text2);
        assert_eq!(text, text2, "canonical form is not a fixpoint");
        if !canonical_batch.is_empty() || text.starts_with('\u{feff}') {
            canonical_batch.push('\n');
        }
        canonical_batch.push_str(&text);
    }

    // The batch in canonical form is as valid against the same schema, and
    // brings the same changes (in another order: names are sorted).
    let mut cbatch = Batch::new();
    match check_batch(canonical_batch.as_bytes(), Precision::Nanosecond, 0, &schema, &s.limits, &mut cbatch) {
        Err(e) => panic!("the batch in canonical form is rejected: {e}\n{canonical_batch}"),
        Ok(cv) => {
            assert_eq!(cv.points, v.points, "the batch in canonical form has another number of points");
            assert_eq!(sorted(&cv.changes), sorted(&v.changes), "the batch in canonical form brings other changes");
        }
    }

    // Applying the changes makes the schema idempotent: the same batch
    // passes again, in the same partitions, and changes nothing more.
    let mut batch2 = Batch::new();
    match check_batch(input, s.precision, s.now, &updated, &s.limits, &mut batch2) {
        Err(e) => panic!("the batch is rejected once its own changes are applied: {e}"),
        Ok(v2) => {
            assert!(v2.changes.is_empty(), "the batch changes the schema twice: {:?}", v2.changes);
            assert_eq!(v2.partitions, v.partitions, "the batch falls in other partitions the second time");
            assert_eq!(v2.points, v.points);
        }
    }
}

/// A Display message is `line N: ...`, fits the C API's buffer, and names
/// an existing physical line.
fn check_message(line: u64, message: &str, physical_lines: u64) {
    assert!(line >= 1, "error line {line} < 1: {message}");
    assert!(line <= physical_lines, "error line {line} past the input's {physical_lines} lines: {message}");
    assert!(message.len() <= MESSAGE_MAX, "message of {} bytes: {message}", message.len());
    let head = format!("line {line}:");
    assert!(message.starts_with(&head), "message does not start with {head:?}: {message}");
}

/// Per-line facts of any parsed batch (also a partial one).
fn check_lines(batch: &Batch<'_>, s: Setting, default_time: i64, physical_lines: u64) {
    let mut last = 0;
    for line in batch.iter() {
        let n = line.number();
        assert!(n > last, "line numbers not increasing: {n} after {last}");
        assert!(n <= physical_lines, "line number {n} past the input's {physical_lines} lines");
        last = n;
        assert!(!line.measurement().is_empty(), "empty measurement on line {n}");
        assert!(!line.fields().is_empty(), "no field on line {n}");
        for t in line.tags() {
            assert!(!t.key.is_empty() && !t.value.is_empty(), "empty tag key or value on line {n}");
        }
        if line.explicit_time() {
            assert_eq!(line.timestamp() % s.precision.nanos(), 0, "timestamp not a multiple of the precision");
        } else {
            assert_eq!(line.timestamp(), default_time, "line {n} without a timestamp not at the write's time");
        }
        for f in line.fields() {
            if let FieldValue::Float(x) = f.value {
                assert!(x.is_finite(), "non-finite float {x} on line {n}");
            }
        }
    }
}

/// The rules of a valid batch, checked independently of the validator.
fn check_rules(batch: &Batch<'_>, schema: &Schema) {
    let mut kinds: HashMap<(&str, &str), ColumnKind> = HashMap::new();
    let mut types: HashMap<(&str, Day, &str), FieldType> = HashMap::new();
    for line in batch.iter() {
        let m = line.measurement();
        let day = Day::of(line.timestamp());
        let mut names = HashSet::new();
        for t in line.tags() {
            assert!(names.insert(&*t.key), "name {:?} twice in a validated line {}", t.key, line.number());
            assert_ne!(t.key, "time", "tag named time");
            let k = *kinds.entry((m, &t.key)).or_insert(ColumnKind::Tag);
            assert_eq!(k, ColumnKind::Tag, "{:?} a tag and a field of {m:?}", t.key);
            if let Some(k) = schema.column_kind(m, &t.key) {
                assert_eq!(k, ColumnKind::Tag, "stored field {:?} of {m:?} accepted as a tag", t.key);
            }
        }
        for f in line.fields() {
            assert!(names.insert(&*f.key), "name {:?} twice in a validated line {}", f.key, line.number());
            assert_ne!(f.key, "time", "field named time");
            let k = *kinds.entry((m, &f.key)).or_insert(ColumnKind::Field);
            assert_eq!(k, ColumnKind::Field, "{:?} a tag and a field of {m:?}", f.key);
            if let Some(k) = schema.column_kind(m, &f.key) {
                assert_eq!(k, ColumnKind::Field, "stored tag {:?} of {m:?} accepted as a field", f.key);
            }
            let ty = f.value.field_type();
            let t = *types.entry((m, day, &f.key)).or_insert(ty);
            assert_eq!(t, ty, "field {:?} of {m:?} {day} with two types in one batch", f.key);
            if let Some(t) = schema.field_type(m, day, &f.key) {
                assert_eq!(t, ty, "field {:?} of {m:?} {day} accepted with another type than stored", f.key);
            }
        }
    }
}

type Changes = (Vec<String>, Vec<(String, String, u8)>, Vec<(String, Day, String, FieldType)>);

fn sorted(c: &linedb::schema::SchemaChanges) -> Changes {
    let mut tables = c.tables.clone();
    tables.sort();
    let mut columns: Vec<_> = c.columns.iter().map(|(t, n, k)| (t.clone(), n.clone(), *k as u8)).collect();
    columns.sort();
    let mut field_types = c.field_types.clone();
    field_types.sort();
    (tables, columns, field_types)
}

/// A comparable copy of a value: floats by their bits.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Float(u64),
    Integer(i64),
    UInteger(u64),
    String(String),
    Boolean(bool),
}

fn value(v: &FieldValue<'_>) -> Value {
    match v {
        FieldValue::Float(x) => Value::Float(x.to_bits()),
        FieldValue::Integer(x) => Value::Integer(*x),
        FieldValue::UInteger(x) => Value::UInteger(*x),
        FieldValue::String(s) => Value::String(s.to_string()),
        FieldValue::Boolean(b) => Value::Boolean(*b),
    }
}

type Snapshot = (String, Vec<(String, String)>, Vec<(String, Value)>, i64, bool, u64, String);

fn snapshot(batch: &Batch<'_>) -> Vec<Snapshot> {
    batch.iter().map(|l: LineRef<'_, '_>| {
        (
            l.measurement().to_owned(),
            l.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect(),
            l.fields().iter().map(|f| (f.key.to_string(), value(&f.value))).collect(),
            l.timestamp(),
            l.explicit_time(),
            l.number(),
            l.text().to_owned(),
        )
    })
    .collect()
}

fn same_canonical(a: &CanonicalLine, b: &CanonicalLine) -> bool {
    a.measurement == b.measurement
        && a.tags == b.tags
        && a.timestamp == b.timestamp
        && a.fields.len() == b.fields.len()
        && a.fields.iter().zip(&b.fields).all(|((ka, va), (kb, vb))| ka == kb && value(va) == value(vb))
}

/// The batch parsed and validated in slices of `bytes` gives `want`, the
/// answer of one parse and validation of the whole.
fn check_sliced(input: &[u8], s: Setting, schema: &Schema, want: &Result<ValidatedBatch, BatchError>, bytes: usize) {
    let Some(mut slices) = line_protocol::Slices::new(input, s.precision, s.now) else {
        return;
    };
    let mut validator = SliceValidator::new(schema, &s.limits);
    let mut batch = Batch::new();
    let got = loop {
        if slices.is_done() {
            break Ok(validator.finish());
        }
        let parsed = slices.next(&mut batch, bytes);
        if let Err(e) = validator.slice(&mut batch, |_, _, _, _| {}) {
            break Err(BatchError::Invalid(e));
        }
        if let Err(e) = parsed {
            break Err(BatchError::Parse(e));
        }
    };
    assert_eq!(&got, want, "validated in slices of {bytes} bytes, the batch gets another answer");
}
