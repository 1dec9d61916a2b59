//! Validation's line shapes (reported by `validate_each`) and the block encoder
//! that trusts them.
//!
//! The encoder skips comparing a row's field keys with the row before's when
//! validation gave both the same shape, so a wrong shape would store values
//! under another field's name. These tests hold validation to the promise
//! (same shape: same measurement, tag keys, and field keys and types, in the
//! same order; a line with a repeated name: no shape), and check that
//! encoding with the shapes gives the same bytes as encoding without them.

use linedb::line_protocol::{parse, Batch, LineRef, Precision};
use linedb::partition::NANOS_PER_DAY;
use linedb::rows::BlockEncoder;
use linedb::schema::{Limits, Schema};
use linedb::validate::{validate_each, ValidatedBatch};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// One generated line: its pieces, chosen from small pools so that shapes
/// repeat, differ by one name, by order, or by a repeated name.
#[derive(Clone, Debug)]
struct GenLine {
    measurement: usize,
    tags: Vec<usize>,
    fields: Vec<usize>,
    /// Repeat the first tag (same value) or the first field (same type).
    repeat_tag: bool,
    repeat_field: bool,
    day: i64,
}

const MEASUREMENTS: [&str; 2] = ["cpu", "mem"];
const TAG_KEYS: [&str; 4] = ["host", "region", "rack", "a_long_tag_key_name"];
/// A key's type is fixed by its name (so no batch breaks the type rule),
/// and `mixed` is typed by the day: int on even days, float on odd ones.
const FIELD_KEYS: [&str; 5] = ["usage_user", "usage_system", "idle", "x", "mixed"];

fn line() -> impl Strategy<Value = GenLine> {
    (
        0..MEASUREMENTS.len(),
        proptest::sample::subsequence((0..TAG_KEYS.len()).collect::<Vec<_>>(), 0..=TAG_KEYS.len()).prop_shuffle(),
        proptest::sample::subsequence((0..FIELD_KEYS.len()).collect::<Vec<_>>(), 1..=FIELD_KEYS.len()).prop_shuffle(),
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.1),
        0..2i64,
    )
        .prop_map(|(measurement, tags, fields, repeat_tag, repeat_field, day)| GenLine {
            measurement,
            tags,
            fields,
            repeat_tag,
            repeat_field,
            day,
        })
}

fn field_text(key: usize, day: i64, n: usize) -> String {
    let name = FIELD_KEYS[key];
    match name {
        "idle" => format!("{name}={n}.5"),
        "x" => format!("{name}=\"s{n}\""),
        "mixed" if day % 2 == 1 => format!("{name}={n}.25"),
        _ => format!("{name}={n}i"),
    }
}

fn render(lines: &[GenLine]) -> String {
    let mut out = String::new();
    for (n, l) in lines.iter().enumerate() {
        out.push_str(MEASUREMENTS[l.measurement]);
        for &t in &l.tags {
            out.push_str(&format!(",{}=v{}", TAG_KEYS[t], n % 3));
        }
        if let (true, Some(&t)) = (l.repeat_tag, l.tags.first()) {
            out.push_str(&format!(",{}=v{}", TAG_KEYS[t], n % 3));
        }
        out.push(' ');
        let mut fields: Vec<String> = l.fields.iter().map(|&f| field_text(f, l.day, n)).collect();
        if l.repeat_field {
            fields.push(field_text(l.fields[0], l.day, n + 1));
        }
        out.push_str(&fields.join(","));
        out.push_str(&format!(" {}\n", l.day * NANOS_PER_DAY + n as i64));
    }
    out
}

/// The validated batch, and each line's shape as `validate_each` reported
/// it (`None` outside: a line it never reported).
fn validated<'a>(text: &'a str, batch: &mut Batch<'a>) -> (ValidatedBatch, Vec<Option<Option<u32>>>) {
    parse(text.as_bytes(), Precision::Nanosecond, 0, batch).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut shapes = vec![None; batch.len()];
    let v = validate_each(batch, &Schema::new(), &Limits::default(), |_, _, i, shape| shapes[i] = Some(shape))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    (v, shapes)
}

/// Measurement, tag keys, and field keys with their types, in order.
type ShapeOf = (String, Vec<String>, Vec<(String, u8)>);

fn shape_of(line: LineRef<'_, '_>) -> ShapeOf {
    (
        line.measurement().to_owned(),
        line.tags().iter().map(|t| t.key.to_string()).collect(),
        line.fields().iter().map(|f| (f.key.to_string(), f.value.field_type() as u8)).collect(),
    )
}

proptest! {
    #![proptest_config(Config { cases: 400, ..Config::default() })]

    #[test]
    fn lines_of_one_shape_have_the_same_names_and_types(lines in proptest::collection::vec(line(), 1..40)) {
        let text = render(&lines);
        let mut batch = Batch::new();
        let (v, shapes) = validated(&text, &mut batch);
        let mut seen: Vec<(u32, ShapeOf)> = Vec::new();
        for group in &v.partitions {
            for &i in &group.lines {
                prop_assert!(shapes[i].is_some(), "line {} was never reported", i + 1);
                let shape = shapes[i].flatten();
                let repeated = lines[i].repeat_tag && !lines[i].tags.is_empty() || lines[i].repeat_field;
                if repeated {
                    prop_assert_eq!(shape, None, "line {} had a repeated name", i + 1);
                }
                let Some(id) = shape else { continue };
                let this = shape_of(batch.line(i));
                match seen.iter().find(|(s, _)| *s == id) {
                    Some((_, first)) => prop_assert_eq!(first, &this, "line {} in shape {}", i + 1, id),
                    None => seen.push((id, this)),
                }
            }
        }
    }

    #[test]
    fn encoding_with_shapes_gives_the_same_block(lines in proptest::collection::vec(line(), 1..40)) {
        let text = render(&lines);
        let mut batch = Batch::new();
        let (v, shapes) = validated(&text, &mut batch);
        for group in &v.partitions {
            let (mut with, mut without) = (BlockEncoder::new(), BlockEncoder::new());
            for &i in &group.lines {
                let shape = shapes[i].flatten();
                with.row_of_shape(batch.line(i), shape);
                without.row(batch.line(i));
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            with.finish(&mut a);
            without.finish(&mut b);
            prop_assert_eq!(a, b);
        }
    }
}

/// The case the encoder's shortcut exists for, and the one that would go
/// wrong if validation shared a shape between lines whose keys differ only
/// in order: each row must carry its own values under its own keys.
#[test]
fn reordered_keys_get_another_shape() {
    let text = "cpu,host=a u=1i,s=2i 1\ncpu,host=a u=3i,s=4i 2\ncpu,host=a s=5i,u=6i 3\ncpu,host=a s=7i,u=8i 4\n";
    let mut batch = Batch::new();
    let (_, shapes) = validated(text, &mut batch);
    let shapes: Vec<Option<u32>> = shapes.into_iter().map(|s| s.expect("reported")).collect();
    assert_eq!(shapes[0], shapes[1]);
    assert_ne!(shapes[1], shapes[2]);
    assert_eq!(shapes[2], shapes[3]);
    assert!(shapes.iter().all(Option::is_some));
}
