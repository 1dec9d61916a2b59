//! One test per row of LINE_PROTOCOL.md's tables and rules, and one per
//! parse error variant with its exact line and column.

use linedb::line_protocol::{parse, Batch, FieldValue, NameKind, ParseError, Precision};

const NOW: i64 = 1_700_000_000_123_456_789;

/// A parsed line, owned, for comparisons.
#[derive(Debug, PartialEq)]
struct L {
    m: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldValue<'static>)>,
    ts: i64,
    number: u64,
}

fn ok_p(input: &[u8], p: Precision) -> Vec<L> {
    let mut b = Batch::new();
    if let Err(e) = parse(input, p, NOW, &mut b) {
        panic!("{:?} should parse, got {e:?}", String::from_utf8_lossy(input));
    }
    b.iter()
        .map(|l| L {
            m: l.measurement().to_owned(),
            tags: l.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect(),
            fields: l.fields().iter().map(|f| (f.key.to_string(), f.value.to_owned_value())).collect(),
            ts: l.timestamp(),
            number: l.number(),
        })
        .collect()
}

fn ok(input: &str) -> Vec<L> {
    ok_p(input.as_bytes(), Precision::Nanosecond)
}

fn one(input: &str) -> L {
    let mut v = ok(input);
    assert_eq!(v.len(), 1, "{input:?}");
    v.remove(0)
}

fn err(input: &[u8]) -> ParseError {
    let mut b = Batch::new();
    match parse(input, Precision::Nanosecond, NOW, &mut b) {
        Ok(()) => panic!("{:?} should be rejected", String::from_utf8_lossy(input)),
        Err(e) => e,
    }
}

/// Asserts the exact variant (a pattern), line and column of the error.
macro_rules! assert_err {
    ($input:expr, $pat:pat, $line:expr, $col:expr) => {{
        let e = err($input.as_ref());
        assert!(matches!(e, $pat), "{:?}: got {e:?}", $input);
        assert_eq!((e.line(), e.column()), ($line, $col), "{:?}: {e}", $input);
        e
    }};
}

fn field(input: &str) -> FieldValue<'static> {
    let l = one(input);
    assert_eq!(l.fields.len(), 1);
    l.fields.into_iter().next().map(|f| f.1).unwrap_or(FieldValue::Boolean(false))
}

fn s(x: &str) -> String {
    x.to_owned()
}

// ---- A line -------------------------------------------------------------

#[test]
fn full_line() {
    let l = one("cpu,host=a,region=west usage=64.2,n=3i 1590488773254420000");
    assert_eq!(l.m, "cpu");
    assert_eq!(l.tags, vec![(s("host"), s("a")), (s("region"), s("west"))]);
    assert_eq!(l.fields, vec![(s("usage"), FieldValue::Float(64.2)), (s("n"), FieldValue::Integer(3))]);
    assert_eq!(l.ts, 1590488773254420000);
}

#[test]
fn sections_separated_by_one_or_more_spaces() {
    let l = one("m,t=a    f=1     5");
    assert_eq!((l.tags.len(), l.fields.len(), l.ts), (1, 1, 5));
}

#[test]
fn tab_is_not_a_separator() {
    assert_err!("m\tf=1", ParseError::UnexpectedCharacter { found: '\t', .. }, 1, 2);
    assert_err!("m f=1\t5", ParseError::UnexpectedCharacter { found: '\t', .. }, 1, 6);
    assert_err!("m,t=a\tb f=1", ParseError::UnexpectedCharacter { found: '\t', .. }, 1, 6);
}

#[test]
fn leading_spaces_and_tabs_skipped_blank_lines_skipped() {
    let v = ok("\n  \t m f=1 1\n\n\t\n m g=2 2\n");
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].number, v[1].number), (2, 5));
}

#[test]
fn comment_lines() {
    let v = ok("# a comment\n   # indented, with \"quote and = sign\nm f=1 1\n#last");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].number, 3);
}

#[test]
fn hash_elsewhere_is_not_a_comment() {
    assert_err!("m f=1 # note", ParseError::InvalidTimestamp { .. }, 1, 7);
    assert_err!("m f=1 1 # note", ParseError::UnexpectedCharacter { found: '#', .. }, 1, 9);
    // In a name, # is an ordinary character.
    assert_eq!(one("m#x f=1").m, "m#x");
}

#[test]
fn crlf_line_endings() {
    let v = ok("m f=1 1\r\nm,t=a g=2i\r\nm s=\"x\"\r");
    assert_eq!(v.len(), 3);
    assert_eq!(v[1].fields[0].1, FieldValue::Integer(2));
    assert_eq!(v[2].fields[0].1, FieldValue::String("x".into()));
    // A line of only \r is blank.
    assert_eq!(ok("\r\nm f=1\r\n\r\n\r").len(), 1);
    // A \r elsewhere is part of a name.
    assert_eq!(one("m\rx f=1").m, "m\rx");
    // Inside a string it is kept, even before \n.
    assert_eq!(field("m s=\"a\r\nb\""), FieldValue::String("a\r\nb".into()));
}

#[test]
fn spaces_after_timestamp_allowed() {
    assert_eq!(one("m f=1 5   ").ts, 5);
    assert_eq!(one("m f=1 5 \r\n").ts, 5);
}

#[test]
fn trailing_space_without_timestamp_is_an_error() {
    assert_err!("m f=1 ", ParseError::TrailingWhitespace { .. }, 1, 6);
    assert_err!("m f=1   \nm g=1", ParseError::TrailingWhitespace { .. }, 1, 6);
}

#[test]
fn a_bom_at_the_start_of_a_batch_is_skipped_and_nowhere_else() {
    assert_eq!(one("\u{feff}m f=1").m, "m");
    // Only one, and only at the very start.
    assert_eq!(one("\u{feff}\u{feff}m f=1").m, "\u{feff}m");
    assert_eq!(one(" \u{feff}m f=1").m, "\u{feff}m");
    let v = ok("m f=1\n\u{feff}n f=2");
    assert_eq!(v[1].m, "\u{feff}n");
    // Columns count from after the skipped mark.
    assert_err!("\u{feff}m f=x", ParseError::InvalidValue { .. }, 1, 5);
    // The two-thread parse skips it too.
    let body: String = (0..4000).map(|i| format!("m f={i} {i}\n")).collect();
    let input = format!("\u{feff}{body}");
    let (mut out, mut spare) = (Batch::new(), Batch::new());
    linedb::line_protocol::parse_split_from(input.as_bytes(), Precision::Nanosecond, NOW, &mut out, &mut spare, 0)
        .expect("parses");
    assert_eq!(out.len(), 4000);
    assert_eq!(out.line(0).measurement(), "m");
}

#[test]
fn invalid_utf8_is_an_error_on_its_physical_line() {
    assert_err!(b"m f=1\nm,t=\xff f=1", ParseError::InvalidUtf8 { .. }, 2, 5);
    // In a string and in a comment too.
    assert_err!(b"m s=\"\xc3\x28\"", ParseError::InvalidUtf8 { .. }, 1, 6);
    assert_err!(b"# caf\xe9\nm f=1", ParseError::InvalidUtf8 { .. }, 1, 6);
    // In a string spanning lines: the physical line of the bad byte.
    assert_err!(b"m s=\"a\nb\xff\" 1", ParseError::InvalidUtf8 { .. }, 2, 2);
}

#[test]
fn first_fault_in_the_input_wins_over_invalid_utf8() {
    // A grammar fault before the bad byte, on the same line, wins...
    assert_err!(b"m f=1x \xff", ParseError::InvalidFloat { .. }, 1, 6);
    // ...and one on an earlier line.
    assert_err!(b"m f=\nm f=\xff", ParseError::MissingFieldValue { .. }, 1, 5);
    // A bad byte before the grammar fault wins.
    assert_err!(b"m,t=\xff f=1x", ParseError::InvalidUtf8 { .. }, 1, 5);
    // A bad byte where a fault would be detected later in the value wins.
    assert_err!(b"m f=1\xff", ParseError::InvalidUtf8 { .. }, 1, 6);
}

// ---- Escapes ----------------------------------------------------------------

#[test]
fn measurement_escapes() {
    assert_eq!(one(r"a\,b\ c\\d f=1").m, r"a,b c\d");
    // `=` is part of a measurement, escaped or not (an escaped one keeps its backslash).
    assert_eq!(one("a=b f=1").m, "a=b");
    assert_eq!(one(r"a\=b f=1").m, r"a\=b");
}

#[test]
fn tag_and_field_key_escapes() {
    let l = one(r"m,k\,\=\ \\x=v\,\=\ \\y f\,\=\ \\z=1");
    assert_eq!(l.tags, vec![(s(r"k,= \x"), s(r"v,= \y"))]);
    assert_eq!(l.fields[0].0, r"f,= \z");
}

#[test]
fn equals_inside_tag_value_is_kept() {
    assert_eq!(one("m,k=v=w f=1").tags, vec![(s("k"), s("v=w"))]);
}

#[test]
fn unescaped_comma_is_part_of_a_key() {
    // As InfluxDB's parser: a key ends at `=`, not at a comma.
    assert_eq!(one("m,a,b=c f=1").tags, vec![(s("a,b"), s("c"))]);
    assert_eq!(one("m a,b=1").fields[0].0, "a,b");
}

#[test]
fn string_escapes() {
    assert_eq!(field(r#"m s="a \"q\" \\ b""#), FieldValue::String(r#"a "q" \ b"#.into()));
    // Other backslashes are literal.
    assert_eq!(field(r#"m s="a\nb\,c""#), FieldValue::String(r"a\nb\,c".into()));
    // A raw newline inside quotes is part of the string.
    assert_eq!(field("m s=\"a\nb\""), FieldValue::String("a\nb".into()));
}

#[test]
fn other_escapes_keep_both_characters() {
    assert_eq!(one(r"m\x f=1").m, r"m\x");
    assert_eq!(one(r"m,t\x=v\é f=1").tags, vec![(s(r"t\x"), s(r"v\é"))]);
    // An escaped tab or newline is kept too, and does not end the name or line.
    assert_eq!(one("m,t=a\\\tb f=1").tags[0].1, "a\\\tb");
    let v = ok("m,t=a\\\nb f=1 1\nm f=2 2");
    assert_eq!(v[0].tags[0].1, "a\\\nb");
    assert_eq!((v[0].number, v[1].number), (1, 3));
}

#[test]
fn lone_backslash_at_end_is_an_error() {
    assert_err!(r"m\", ParseError::EndsWithBackslash { kind: NameKind::Measurement, .. }, 1, 2);
    assert_err!(r"m,t\", ParseError::EndsWithBackslash { kind: NameKind::TagKey, .. }, 1, 4);
    assert_err!(r"m,t=a\", ParseError::EndsWithBackslash { kind: NameKind::TagValue, .. }, 1, 6);
    assert_err!(r"m f\", ParseError::EndsWithBackslash { kind: NameKind::FieldKey, .. }, 1, 4);
    // An escaped backslash at the end is not lone.
    assert_eq!(one(r"m,t=a\\ f=1").tags[0].1, r"a\");
}

#[test]
fn quotes_are_literal_in_tags() {
    assert_eq!(one(r#"m,k="x" f=1"#).tags[0].1, "\"x\"");
    // So a space inside them ends the tag set, and the rest is not a field.
    assert_err!(r#"m,k="x y" f=1"#, ParseError::MissingFieldEquals { .. }, 1, 10);
}

// ---- Field values -------------------------------------------------------------

#[test]
fn floats() {
    for (text, v) in [("1", 1.0), ("-1.5", -1.5), ("1e3", 1e3), ("2E-3", 2e-3), ("01", 1.0), ("1.5e+2", 150.0)] {
        assert_eq!(field(&format!("m f={text}")), FieldValue::Float(v), "{text}");
    }
    match field("m f=-0") {
        FieldValue::Float(x) => assert!(x == 0.0 && x.is_sign_negative()),
        other => panic!("{other:?}"),
    }
    // Too small rounds to zero, as IEEE does.
    assert_eq!(field("m f=1e-400"), FieldValue::Float(0.0));
    assert_eq!(field("m f=1.7976931348623157e308"), FieldValue::Float(f64::MAX));
}

#[test]
fn not_floats() {
    assert_err!("m f=.5", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=5.", ParseError::InvalidFloat { .. }, 1, 7);
    assert_err!("m f=+1", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=NaN", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=inf", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=1e", ParseError::InvalidFloat { .. }, 1, 7);
    assert_err!("m f=1x", ParseError::InvalidFloat { .. }, 1, 6);
    assert_err!("m f=-", ParseError::InvalidValue { .. }, 1, 6);
}

#[test]
fn float_overflow_is_an_error() {
    let e = assert_err!("m f=1e400", ParseError::FloatOverflow { .. }, 1, 5);
    assert_eq!(e.to_string(), "line 1: float \"1e400\" for field \"f\" is out of range: m f=1e400");
    assert_err!("m f=-1.8e308", ParseError::FloatOverflow { .. }, 1, 5);
}

#[test]
fn integers() {
    assert_eq!(field("m f=-9223372036854775808i"), FieldValue::Integer(i64::MIN));
    assert_eq!(field("m f=9223372036854775807i"), FieldValue::Integer(i64::MAX));
    assert_eq!(field("m f=007i"), FieldValue::Integer(7));
}

#[test]
fn not_integers() {
    assert_err!("m f=+1i", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=1.5i", ParseError::InvalidInteger { .. }, 1, 8);
    assert_err!("m f=9223372036854775808i", ParseError::InvalidInteger { .. }, 1, 5);
    let e = assert_err!("m,t=a f=1i2", ParseError::InvalidInteger { .. }, 1, 11);
    assert_eq!(e.to_string(), "line 1: invalid integer \"1i2\" for field \"f\": m,t=a f=1i2");
}

#[test]
fn unsigned() {
    assert_eq!(field("m f=18446744073709551615u"), FieldValue::UInteger(u64::MAX));
    assert_eq!(field("m f=0u"), FieldValue::UInteger(0));
    assert_err!("m f=-1u", ParseError::InvalidUnsigned { .. }, 1, 5);
    assert_err!("m f=18446744073709551616u", ParseError::InvalidUnsigned { .. }, 1, 5);
    assert_err!("m f=1uu", ParseError::InvalidUnsigned { .. }, 1, 7);
}

#[test]
fn strings() {
    assert_eq!(field(r#"m f="a \"q\"""#), FieldValue::String(r#"a "q""#.into()));
    assert_eq!(field(r#"m f="""#), FieldValue::String("".into()));
    assert_err!("m f='a'", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=word", ParseError::InvalidValue { .. }, 1, 5);
    assert_err!("m f=\"abc", ParseError::UnterminatedString { .. }, 1, 5);
    assert_err!("m f=\"abc\"x", ParseError::UnexpectedCharacter { found: 'x', .. }, 1, 10);
}

#[test]
fn booleans() {
    for t in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(field(&format!("m f={t}")), FieldValue::Boolean(true), "{t}");
    }
    for f in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(field(&format!("m f={f}")), FieldValue::Boolean(false), "{f}");
    }
    assert_err!("m f=tRUE", ParseError::InvalidValue { .. }, 1, 6);
    assert_err!("m f=tru", ParseError::InvalidValue { .. }, 1, 8);
    assert_err!("m f=falsey", ParseError::InvalidValue { .. }, 1, 10);
}

#[test]
fn names_and_strings_up_to_64_kib() {
    let max = "x".repeat(65_536);
    assert_eq!(one(&format!("{max} f=1")).m.len(), 65_536);
    assert_eq!(one(&format!("m,{max}={max} {max}=1")).tags[0].1.len(), 65_536);
    assert_eq!(field(&format!("m f=\"{max}\"")), FieldValue::String(max.clone().into()));
    let over = "x".repeat(65_537);
    assert_err!(format!("{over} f=1"), ParseError::TooLong { kind: NameKind::Measurement, len: 65_537, .. }, 1, 1);
    assert_err!(format!("m,t={over} f=1"), ParseError::TooLong { kind: NameKind::TagValue, .. }, 1, 5);
    assert_err!(format!("m f=\"{over}\""), ParseError::TooLong { kind: NameKind::StringValue, len: 65_537, .. }, 1, 5);
    // The limit applies after unescaping.
    let escaped = r"\,".repeat(32_768);
    assert_eq!(one(&format!("{escaped} f=1")).m.len(), 32_768);
}

// ---- Timestamps ---------------------------------------------------------------

#[test]
fn timestamps_signed_and_i64() {
    assert_eq!(one("m f=1 -1").ts, -1);
    // InfluxDB 1.x and 2.x's range: one value kept free at each end, so
    // that every stored point lies in a query range [start, i64::MAX).
    assert_eq!(one("m f=1 -9223372036854775806").ts, -9_223_372_036_854_775_806);
    assert_eq!(one("m f=1 9223372036854775806").ts, 9_223_372_036_854_775_806);
    assert_err!("m f=1 -9223372036854775808", ParseError::TimestampOutOfRange { .. }, 1, 7);
    assert_err!("m f=1 -9223372036854775807", ParseError::TimestampOutOfRange { .. }, 1, 7);
    assert_err!("m f=1 9223372036854775807", ParseError::TimestampOutOfRange { .. }, 1, 7);
    assert_err!("m f=1 9223372036854775808", ParseError::TimestampOutOfRange { .. }, 1, 7);
    assert_err!("m f=1 +1", ParseError::InvalidTimestamp { .. }, 1, 7);
    assert_err!("m f=1 1.5", ParseError::InvalidTimestamp { .. }, 1, 8);
    assert_err!("m f=1 -", ParseError::InvalidTimestamp { .. }, 1, 8);
}

#[test]
fn timestamp_precision_scales_to_ns() {
    let cases = [
        (Precision::Microsecond, 1_000),
        (Precision::Millisecond, 1_000_000),
        (Precision::Second, 1_000_000_000),
    ];
    for (p, mult) in cases {
        assert_eq!(ok_p(b"m f=1 -3", p)[0].ts, -3 * mult);
    }
    // Scaling must not overflow.
    let mut b = Batch::new();
    let e = parse(b"m f=1 9223372036854776", Precision::Millisecond, NOW, &mut b).unwrap_err();
    assert!(matches!(e, ParseError::TimestampOutOfRange { .. }), "{e:?}");
    assert_eq!(ok_p(b"m f=1 9223372036854", Precision::Millisecond)[0].ts, 9_223_372_036_854_000_000);
}

#[test]
fn missing_timestamp_gets_batch_time_truncated_to_precision() {
    let v = ok("m f=1\nm g=2\nm h=3 7");
    assert_eq!((v[0].ts, v[1].ts, v[2].ts), (NOW, NOW, 7));
    assert_eq!(ok_p(b"m f=1", Precision::Second)[0].ts, 1_700_000_000_000_000_000);
    assert_eq!(ok_p(b"m f=1", Precision::Millisecond)[0].ts, 1_700_000_000_123_000_000);
    assert_eq!(ok_p(b"m f=1", Precision::Microsecond)[0].ts, 1_700_000_000_123_456_000);
    // Truncation of a negative time goes down (floor), so it stays a time of that unit.
    let mut b = Batch::new();
    parse(b"m f=1", Precision::Second, -1, &mut b).unwrap();
    assert_eq!(b.line(0).timestamp(), -1_000_000_000);
}

// ---- Errors: every variant with line and column ---------------------------------

#[test]
fn error_variants_with_line_and_column() {
    assert_err!(",t=a f=1", ParseError::MissingMeasurement { .. }, 1, 1);
    assert_err!("m\0x f=1", ParseError::NulInMeasurement { .. }, 1, 2);
    assert_err!("m, f=1", ParseError::EmptyTagKey { .. }, 1, 3);
    assert_err!("m,=v f=1", ParseError::EmptyTagKey { .. }, 1, 3);
    assert_err!("m,t f=1", ParseError::MissingTagEquals { .. }, 1, 4);
    assert_err!("m,t= f=1", ParseError::EmptyTagValue { .. }, 1, 5);
    assert_err!("m,t=a,", ParseError::EmptyTagKey { .. }, 1, 7);
    assert_err!("m", ParseError::MissingFields { .. }, 1, 2);
    assert_err!("m,t=a", ParseError::MissingFields { .. }, 1, 6);
    assert_err!("m   ", ParseError::MissingFields { .. }, 1, 5);
    assert_err!("m =1", ParseError::EmptyFieldKey { .. }, 1, 3);
    assert_err!("m f=1,", ParseError::EmptyFieldKey { .. }, 1, 7);
    assert_err!("m f", ParseError::MissingFieldEquals { .. }, 1, 4);
    assert_err!("m f=", ParseError::MissingFieldValue { .. }, 1, 5);
    assert_err!("m f=,g=1", ParseError::MissingFieldValue { .. }, 1, 5);
    assert_err!("m f=1,g=2 3 4", ParseError::UnexpectedCharacter { found: '4', .. }, 1, 13);
}

#[test]
fn comma_after_the_last_field_is_an_error() {
    // An empty field key, after one field or several, before the end, a
    // timestamp or a newline. (The reference parser accepts it after a
    // line's only field: a documented deviation.)
    assert_err!("m f=1,", ParseError::EmptyFieldKey { .. }, 1, 7);
    assert_err!("m f=1, 5", ParseError::EmptyFieldKey { .. }, 1, 7);
    assert_err!("m f=1,\nm g=2", ParseError::EmptyFieldKey { .. }, 1, 7);
    assert_err!("m f=1,g=2,", ParseError::EmptyFieldKey { .. }, 1, 11);
}

#[test]
fn line_numbers_count_blank_and_comment_lines() {
    let e = assert_err!("# c\n\nm f=1\n  \nm f=x", ParseError::InvalidValue { .. }, 5, 5);
    assert_eq!(e.to_string(), "line 5: invalid value \"x\" for field \"f\": m f=x");
}

#[test]
fn a_string_spanning_lines_is_named_by_its_first() {
    assert_err!("m f=1\nm s=\"a\nb\nc\" 1x", ParseError::InvalidTimestamp { .. }, 2, 14);
    // ...and the line after it has its own physical number.
    assert_err!("m s=\"a\nb\" 1\nm f=x", ParseError::InvalidValue { .. }, 3, 5);
}

#[test]
fn first_bad_line_wins_and_quotes_are_cut_to_fit() {
    let long = "x".repeat(5_000);
    let input = format!("m f=1\nm,t={long} f=bad\nm f=\n");
    let e = err(input.as_bytes());
    assert_eq!(e.line(), 2);
    let msg = e.to_string();
    assert!(msg.len() <= 1023, "{}", msg.len());
    assert!(msg.starts_with("line 2: invalid value \"bad\" for field \"f\": m,t=xxx"), "{msg}");
}

#[test]
fn on_error_the_batch_holds_the_lines_before() {
    let mut b = Batch::new();
    assert!(parse(b"a f=1 1\nb,t=x g=2 2\nc h=\n", Precision::Nanosecond, 0, &mut b).is_err());
    assert_eq!(b.len(), 2);
    assert_eq!(b.line(1).tags().len(), 1);
    assert_eq!(b.line(1).fields().len(), 1);
    let mut b = Batch::new();
    assert!(parse(b"a f=1 1\nb,t=x g=\xff\n", Precision::Nanosecond, 0, &mut b).is_err());
    assert_eq!(b.len(), 1);
}

#[test]
fn empty_batches() {
    assert!(ok("").is_empty());
    assert!(ok("\n\n  \n# only a comment\n\r\n").is_empty());
}

#[test]
fn duplicates_are_kept_by_the_parser() {
    let l = one("m,t=a,t=a f=1,f=2");
    assert_eq!(l.tags.len(), 2);
    assert_eq!(l.fields.len(), 2);
}
