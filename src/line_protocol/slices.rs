//! A large batch parsed a slice at a time, so that its parsed lines (several
//! times the size of its text) never exist all at once: the writer parses a
//! slice, validates and encodes its lines, empties the batch and parses the
//! next (issue 13: peak memory per batch at most twice its size plus a
//! constant).
//!
//! One parser runs over the whole input, so line numbers in errors are the
//! input's and a slice always ends at a true line start (never inside a
//! string that holds a newline). Taken slice by slice, the lines, and the
//! error and the lines before it, are exactly [`parse`]'s.
//!
//! [`parse`]: super::parse

use super::error::ParseError;
use super::parser::{floor_to, skip_bom, truncate_to_lines, Parser};
use super::types::{Batch, Precision};

/// Parses an input in slices of about a given number of bytes.
pub struct Slices<'a> {
    text: &'a str,
    parser: Parser<'a>,
    /// Where the next slice starts (a physical line's start).
    pos: usize,
}

impl std::fmt::Debug for Slices<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slices").field("len", &self.text.len()).field("pos", &self.pos).finish()
    }
}

impl<'a> Slices<'a> {
    /// `None` when the input (after a byte-order mark) is not UTF-8: such a
    /// batch is rejected, and [`parse`](super::parse) finds which of its
    /// faults comes first.
    pub fn new(input: &'a [u8], precision: Precision, default_time_ns: i64) -> Option<Slices<'a>> {
        let text = std::str::from_utf8(skip_bom(input)).ok()?;
        let parser = Parser::new(text, precision, floor_to(default_time_ns, precision));
        Some(Slices { text, parser, pos: 0 })
    }

    /// Whether the whole input has been parsed.
    pub fn is_done(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Parses the next slice into `out` (emptied first): the lines that
    /// start before `bytes` past where the slice starts (at least one
    /// line, if any is left). On error `out` holds the slice's lines
    /// before the faulty one, and the rest of the input is not parsed.
    pub fn next(&mut self, out: &mut Batch<'a>, bytes: usize) -> Result<(), ParseError> {
        out.clear();
        out.input = self.text;
        let until = self.pos.saturating_add(bytes.max(1));
        match self.parser.run_range(self.pos, until, out) {
            Ok(end) => {
                self.pos = end;
                Ok(())
            }
            Err(fault) => {
                self.pos = self.text.len();
                truncate_to_lines(out);
                Err(fault.into_error(self.text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::parse;

    /// Every line of `input` as (number, text, timestamp), and the error.
    fn whole(input: &str) -> (Vec<(u64, String, i64)>, Option<ParseError>) {
        let mut b = Batch::new();
        let r = parse(input.as_bytes(), Precision::Nanosecond, 7, &mut b);
        (b.iter().map(|l| (l.number(), l.text().to_owned(), l.timestamp())).collect(), r.err())
    }

    fn sliced(input: &str, bytes: usize) -> (Vec<(u64, String, i64)>, Option<ParseError>) {
        let mut s = Slices::new(input.as_bytes(), Precision::Nanosecond, 7).unwrap();
        let mut b = Batch::new();
        let mut lines = Vec::new();
        while !s.is_done() {
            let r = s.next(&mut b, bytes);
            lines.extend(b.iter().map(|l| (l.number(), l.text().to_owned(), l.timestamp())));
            if let Err(e) = r {
                return (lines, Some(e));
            }
        }
        (lines, None)
    }

    #[test]
    fn slices_give_the_lines_and_the_error_of_one_parse() {
        let inputs = [
            "\u{feff}m f=1 1\nm f=2 2\n\n# c\nm f=3\n",
            "m s=\"a\nb\nc\" 1\nm f=2 2\nm s=\"x\ny\" 3\n",
            "m f=1 1\r\nm f=2 2\r\nm f= 3\nm f=4 4\n",
            "m,t=a\\ b f=1 1\n  m f=2 2\nm s=\"unterminated\nm f=3 3\n",
            "",
            "\n\n\n",
        ];
        for input in inputs {
            let want = whole(input);
            for bytes in [1, 2, 3, 5, 8, 13, 64, 1 << 20] {
                assert_eq!(sliced(input, bytes), want, "{input:?} in slices of {bytes}");
            }
        }
    }

    #[test]
    fn input_that_is_not_utf8_is_left_to_the_whole_parse() {
        assert!(Slices::new(b"m f=1 1\nm,t=\xff f=2 2\n", Precision::Nanosecond, 0).is_none());
    }
}
