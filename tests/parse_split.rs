//! The two-thread parse of large batches gives exactly what the one-thread
//! parse gives: the same lines (numbers and text included) and the same
//! error, wherever the guessed split falls: between lines, inside a string
//! that holds newlines, after an escaped newline, in a comment, at a bad
//! line in either half.

use linedb::line_protocol::{
    parse, parse_split_from, parse_split_helper_first, Batch, FieldValue, ParseError, Precision,
};
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000_123_456_789;

/// A parsed line, owned, for comparisons.
#[derive(Debug, PartialEq)]
struct L {
    m: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldValue<'static>)>,
    ts: i64,
    explicit: bool,
    number: u64,
    text: String,
}

fn lines(b: &Batch<'_>) -> Vec<L> {
    b.iter()
        .map(|l| L {
            m: l.measurement().to_owned(),
            tags: l.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect(),
            fields: l.fields().iter().map(|f| (f.key.to_string(), f.value.to_owned_value())).collect(),
            ts: l.timestamp(),
            explicit: l.explicit_time(),
            number: l.number(),
            text: l.text().to_owned(),
        })
        .collect()
}

fn one_thread(input: &[u8]) -> (Result<(), ParseError>, Vec<L>) {
    let mut b = Batch::new();
    let r = parse(input, Precision::Nanosecond, NOW, &mut b);
    (r, lines(&b))
}

fn two_threads(input: &[u8], spare: &mut Batch<'static>) -> (Result<(), ParseError>, Vec<L>) {
    let mut b = Batch::new();
    let mut s = std::mem::take(spare).recycle();
    let r = parse_split_from(input, Precision::Nanosecond, NOW, &mut b, &mut s, 0);
    assert!(s.is_empty(), "the spare batch is left empty");
    *spare = s.recycle();
    (r, lines(&b))
}

/// The split parse with the helper thread taking every range but the
/// first: the way through that confirms the helper's ranges one by one.
fn helper_first(input: &[u8], spare: &mut Batch<'static>) -> (Result<(), ParseError>, Vec<L>) {
    let mut b = Batch::new();
    let mut s = std::mem::take(spare).recycle();
    let r = parse_split_helper_first(input, Precision::Nanosecond, NOW, &mut b, &mut s);
    assert!(s.is_empty(), "the spare batch is left empty");
    *spare = s.recycle();
    (r, lines(&b))
}

const PIECES: &[&str] = &[
    "cpu,host=a,region=eu usage=1.5,count=3i 1700000000000000000\n",
    "mem,host=b free=10u,ok=true\n",
    "m,t=x s=\"one\ntwo\nthree\" 5\n",
    "m,t\\\nx=y f=1i 6\n",
    "# a comment line\n",
    "\n",
    "  \n",
    "m f=2i 7\r\n",
    "weather,city=a\\ b temp=-3.5,note=\"say \\\"hi\\\"\" 8\n",
    "m f=\"\n\n\" 9\n",
    "m f=1i 10",
];

const BAD: &[&str] = &["m f= 11\n", "m,t= f=1i 12\n", "m f=1x 13\n", "m f=\"open\n", "m 14\n"];

fn input_from(picks: &[usize], bad: Option<(usize, usize)>) -> Vec<u8> {
    let mut s = String::new();
    for (i, &p) in picks.iter().enumerate() {
        if let Some((at, which)) = bad {
            if at == i {
                s.push_str(BAD[which % BAD.len()]);
            }
        }
        let piece = PIECES[p % PIECES.len()];
        s.push_str(piece);
        // The piece without a final newline only ever ends the input.
        if !piece.ends_with('\n') && i + 1 < picks.len() {
            s.push('\n');
        }
    }
    s.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn split_parse_is_the_one_thread_parse(
        picks in proptest::collection::vec(0usize..64, 1..60),
        bad in proptest::option::of((0usize..60, 0usize..8)),
    ) {
        let input = input_from(&picks, bad);
        let mut spare = Batch::new();
        let want = one_thread(&input);
        prop_assert_eq!(&two_threads(&input, &mut spare), &want);
        prop_assert_eq!(helper_first(&input, &mut spare), want);
    }
}

#[test]
fn split_inside_a_string_and_at_a_line_end_and_errors_in_each_half() {
    let mut spare = Batch::new();
    // The middle falls inside a string holding newlines.
    let mut s = String::from("a f=1i 1\n");
    s.push_str(&format!("m f=\"{}\" 2\n", "x\n".repeat(50)));
    s.push_str("b f=1i 3\n");
    let input = s.into_bytes();
    assert_eq!(two_threads(&input, &mut spare), one_thread(&input));
    assert_eq!(helper_first(&input, &mut spare), one_thread(&input));
    assert!(one_thread(&input).0.is_ok());
    // Many lines, an error in the second half: its line number counts the
    // first half's lines.
    let mut s = "cpu,h=a f=1i 1\n".repeat(100);
    s.push_str(&"cpu,h=b f=2i 2\n".repeat(100));
    s.push_str("cpu f= 3\n");
    let input = s.into_bytes();
    let (r, got) = two_threads(&input, &mut spare);
    assert_eq!((r.clone(), got), one_thread(&input));
    assert_eq!(helper_first(&input, &mut spare), one_thread(&input));
    assert_eq!(r.unwrap_err().position().line, 201);
    // And in the first half: no line of the second half is kept.
    let mut s = String::from("cpu f= 0\n");
    s.push_str(&"cpu,h=a f=1i 1\n".repeat(200));
    let input = s.into_bytes();
    let (r, got) = two_threads(&input, &mut spare);
    assert!(got.is_empty());
    assert_eq!(r.unwrap_err().position().line, 1);
    assert_eq!(helper_first(&input, &mut spare), one_thread(&input));
}
