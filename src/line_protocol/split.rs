//! The two-thread parse of a large batch.
//!
//! The input is cut into [`CHUNKS`] ranges, each starting after a `\n`: a
//! guess at a line start, since the `\n` may be inside a string or escaped.
//! This thread takes ranges from the front and parses them as one run into
//! the output; a helper thread takes them from the back, each parsed on its
//! own into the spare batch. They meet wherever the helper's late start (a
//! new thread can take a few hundred microseconds to run here) puts them,
//! so neither waits long for the other.
//!
//! A range's parse is the true one when it starts at a real line start. The
//! front run starts at 0 and so is true throughout; each helper range is
//! then confirmed in order by the parse before it ending exactly where it
//! starts. At the first that is not confirmed (a line ran across its start)
//! the helper's work from there is dropped and this thread parses on from
//! where the true parse stands.

use parking_lot::Mutex;

use super::error::ParseError;
use super::parser::{floor_to, parse, skip_bom, truncate_to_lines, Fault, Parser};
use super::types::{Batch, Precision};

/// Inputs at least this long are parsed on two threads by [`parse_split`].
pub const SPLIT_MIN_LEN: usize = 128 * 1024;

/// Ranges an input is cut into: small enough that the thread that finishes
/// first waits at most a short range for the other, large enough that
/// taking one costs nothing next to parsing it.
const CHUNKS: usize = 16;

/// [`parse`], with a large input (at least [`SPLIT_MIN_LEN`] bytes) parsed
/// on two threads when the machine has two or more CPUs. The result is
/// exactly [`parse`]'s: same lines, same error. `spare` is scratch space for
/// the helper thread (emptied again on return; passed in so that its
/// allocations are reused).
pub fn parse_split<'a>(
    input: &'a [u8],
    precision: Precision,
    default_time_ns: i64,
    out: &mut Batch<'a>,
    spare: &mut Batch<'a>,
) -> Result<(), ParseError> {
    parse_split_from(input, precision, default_time_ns, out, spare, SPLIT_MIN_LEN)
}

fn two_cpus() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// Where each range starts, then the input's length: strictly increasing,
/// each start after a `\n`, the first 0.
fn range_starts(input: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    for c in 1..CHUNKS {
        // len * c / CHUNKS, without the product (it could overflow a
        // 32-bit usize).
        let guess = input.len() / CHUNKS * c + input.len() % CHUNKS * c / CHUNKS;
        let from = guess.max(starts.last().map_or(0, |&s| s));
        if let Some(p) = memchr::memchr(b'\n', input.get(from..).unwrap_or(&[])) {
            let start = from + p + 1;
            if start < input.len() && starts.last().is_some_and(|&s| start > s) {
                starts.push(start);
            }
        }
    }
    starts.push(input.len());
    starts
}

/// Which ranges are still to be taken: `front..back`.
struct Claims {
    front: usize,
    back: usize,
    /// The front run failed: the helper's ranges are not needed.
    stop: bool,
}

/// A range the helper parsed: where its lines, tags and fields start in the
/// spare batch, the newlines it held, and how its parse ended.
struct Piece {
    range: usize,
    lines: usize,
    tags: usize,
    fields: usize,
    newlines: u64,
    result: Result<usize, Fault>,
}

/// [`parse_split`] with the threshold given. Tests give 0, which splits
/// any input of two bytes or more, even on a machine with one CPU.
#[doc(hidden)]
pub fn parse_split_from<'a>(
    input: &'a [u8],
    precision: Precision,
    default_time_ns: i64,
    out: &mut Batch<'a>,
    spare: &mut Batch<'a>,
    min_len: usize,
) -> Result<(), ParseError> {
    split(input, precision, default_time_ns, out, spare, min_len, usize::MAX)
}

/// [`parse_split_from`] (threshold 0) where this thread takes one range and
/// then leaves the rest to the helper: for tests, which otherwise cannot
/// make the helper take any range (it often starts after this thread has
/// taken them all).
#[doc(hidden)]
pub fn parse_split_helper_first<'a>(
    input: &'a [u8],
    precision: Precision,
    default_time_ns: i64,
    out: &mut Batch<'a>,
    spare: &mut Batch<'a>,
) -> Result<(), ParseError> {
    split(input, precision, default_time_ns, out, spare, 0, 1)
}

/// The split parse; this thread takes at most `front_ranges` ranges before
/// it waits for the helper.
fn split<'a>(
    input: &'a [u8],
    precision: Precision,
    default_time_ns: i64,
    out: &mut Batch<'a>,
    spare: &mut Batch<'a>,
    min_len: usize,
    front_ranges: usize,
) -> Result<(), ParseError> {
    spare.clear();
    // The fallbacks parse the batch as given: `parse` skips one leading
    // byte-order mark itself (given the batch without it, it would skip a
    // second one, which is an ordinary character).
    let whole = input;
    let input = skip_bom(input);
    let text = match std::str::from_utf8(input) {
        Ok(t) if input.len() >= min_len.max(2) && (min_len == 0 || two_cpus()) => t,
        _ => return parse(whole, precision, default_time_ns, out),
    };
    let starts = range_starts(input);
    let ranges = starts.len() - 1;
    if ranges < 2 {
        return parse(whole, precision, default_time_ns, out);
    }
    out.clear();
    out.input = text;
    spare.input = text;
    let default_time = floor_to(default_time_ns, precision);
    let claims = Mutex::new(Claims { front: 0, back: ranges, stop: false });
    let starts = &starts;
    let (front, helper) = std::thread::scope(|s| {
        let helper = std::thread::Builder::new().name("linedb-parse".into()).spawn_scoped(s, || {
            let mut pieces: Vec<Piece> = Vec::new();
            loop {
                let r = {
                    let mut k = claims.lock();
                    if k.stop || k.back <= k.front {
                        break;
                    }
                    k.back -= 1;
                    k.back
                };
                let (lines, tags, fields) = (spare.lines.len(), spare.tags.len(), spare.fields.len());
                let mut p = Parser::new(text, precision, default_time);
                let result = p.run_range(starts[r], starts[r + 1], spare);
                if result.is_err() {
                    // Drop what the failed line left half-way.
                    let (t, f) = spare.lines[lines..].last().map_or((tags, fields), |l| (l.tags.end, l.fields.end));
                    spare.tags.truncate(t);
                    spare.fields.truncate(f);
                }
                pieces.push(Piece { range: r, lines, tags, fields, newlines: p.line_no - 1, result });
            }
            pieces
        });
        let mut p = Parser::new(text, precision, default_time);
        let mut pos = 0;
        let front = loop {
            let r = {
                let mut k = claims.lock();
                if k.front >= k.back || k.front >= front_ranges {
                    break Ok(());
                }
                k.front += 1;
                k.front - 1
            };
            // A line (a string holding newlines) may have run across the
            // whole range already.
            if pos >= starts[r + 1] {
                continue;
            }
            match p.run_range(pos, starts[r + 1], out) {
                Ok(end) => pos = end,
                Err(f) => {
                    claims.lock().stop = true;
                    break Err(f);
                }
            }
        };
        (front.map(|()| (pos, p)), helper.map(|h| h.join()))
    });
    let pieces = match helper {
        Ok(Ok(pieces)) => pieces,
        // No thread to be had, or it panicked (a bug; the parse is redone
        // here rather than lost): parse it all on this thread. A panic may
        // have left owned names in the spare batch without its flag set.
        _ => {
            spare.owned = true;
            spare.clear();
            return parse(input, precision, default_time_ns, out);
        }
    };
    let result = match front {
        Err(f) => Err(f),
        Ok((pos, p)) => join(out, spare, pieces, starts, pos, p),
    };
    spare.clear();
    result.map_err(|f| {
        truncate_to_lines(out);
        f.into_error(text)
    })
}

/// Appends the helper's confirmed pieces to `out`, in input order, and
/// parses on from the first that is not confirmed. `pos` is where the true
/// parse stands, `p` the parser that got it there.
fn join<'a>(
    out: &mut Batch<'a>,
    spare: &mut Batch<'a>,
    pieces: Vec<Piece>,
    starts: &[usize],
    mut pos: usize,
    mut p: Parser<'a>,
) -> Result<(), Fault> {
    // The helper went back to front, so the pieces are in the spare batch
    // in reverse: in input order, each is the spare batch's tail.
    for piece in pieces.into_iter().rev() {
        if starts[piece.range] != pos {
            return p.run_range(pos, usize::MAX, out).map(|_| ());
        }
        // Its line numbers counted from 1 at its start.
        let shift = p.line_no - 1;
        let (t, f) = (out.tags.len(), out.fields.len());
        out.lines.extend(spare.lines.drain(piece.lines..).map(|mut l| {
            l.tags = l.tags.start - piece.tags + t..l.tags.end - piece.tags + t;
            l.fields = l.fields.start - piece.fields + f..l.fields.end - piece.fields + f;
            l.number += shift;
            l
        }));
        out.owned |= spare.owned;
        out.tags.extend(spare.tags.drain(piece.tags..));
        out.fields.extend(spare.fields.drain(piece.fields..));
        match piece.result {
            Ok(end) => {
                pos = end;
                p.line_no += piece.newlines;
            }
            Err(mut fault) => {
                fault.line_no += shift;
                return Err(fault);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_starts_follow_newlines_and_never_repeat() {
        let input = b"a f=1i 1\nb f=1i 2\nc f=1i 3\n";
        let starts = range_starts(input);
        assert_eq!(starts.first(), Some(&0));
        assert_eq!(starts.last(), Some(&input.len()));
        assert!(starts.windows(2).all(|w| w[0] < w[1]));
        assert!(starts[1..starts.len() - 1].iter().all(|&s| input[s - 1] == b'\n'));
        // Three lines make three ranges at most.
        assert!(starts.len() <= 4);
        // No newline after the first guess: one range.
        assert_eq!(range_starts(b"m f=1i 1"), vec![0, 8]);
    }

    /// Only the first byte-order mark is skipped, by the split parse's
    /// fallbacks too (found by fuzzing: a batch of two marks and bytes
    /// that are not UTF-8 had its second mark skipped as well, and the
    /// error named another column).
    #[test]
    fn a_second_byte_order_mark_is_a_character_on_every_way() {
        let inputs: [&[u8]; 3] = [
            b"\xEF\xBB\xBF\xEF\xBB\xBF==y\xBF=e",
            b"\xEF\xBB\xBF\xEF\xBB\xBFm f=1i 1",
            b"\xEF\xBB\xBF\xEF\xBB\xBFm f=1i 1\nm f=2i 2\n",
        ];
        for input in inputs {
            let mut one = Batch::new();
            let r1 = parse(input, Precision::Nanosecond, 0, &mut one);
            let (mut out, mut spare) = (Batch::new(), Batch::new());
            let r2 = parse_split_from(input, Precision::Nanosecond, 0, &mut out, &mut spare, 0);
            assert_eq!(r1, r2, "{input:?}");
            assert_eq!(one.len(), out.len(), "{input:?}");
        }
        let mut one = Batch::new();
        let err = parse(inputs[0], Precision::Nanosecond, 0, &mut one).unwrap_err();
        assert!(format!("{err:?}").contains("column: 7"), "{err:?}");
    }

    /// `Batch::owned` must be set whenever a name or string owns its text,
    /// on every way through, or clearing the batch would leak that text.
    #[test]
    fn a_batch_knows_when_it_owns_text() {
        let plain = "cpu,h=a f=1i 1\n".repeat(40);
        for (tail, owned) in [("", false), ("m,t\\ x=y f=1i 2\n", true), ("m f=\"say \\\"hi\\\"\" 3\n", true)] {
            let input = format!("{plain}{tail}");
            let (mut out, mut spare) = (Batch::new(), Batch::new());
            parse(input.as_bytes(), Precision::Nanosecond, 0, &mut out).expect("parses");
            assert_eq!(out.owned, owned, "one thread, {tail:?}");
            // The escaped line is last: the helper parses it.
            parse_split_helper_first(input.as_bytes(), Precision::Nanosecond, 0, &mut out, &mut spare).expect("parses");
            assert_eq!(out.owned, owned, "helper, {tail:?}");
            assert!(out.len() >= 40 && spare.is_empty());
            out.clear();
            assert!(!out.owned && out.is_empty());
        }
    }
}
