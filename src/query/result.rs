//! Statement results and the `/query` JSON document `influxd` writes for
//! them, streamed to the caller in pieces.

use super::json;
use super::value::Value;

/// One series of a statement's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// `None` for `SHOW SERIES`, whose answer has no name.
    pub name: Option<String>,
    /// Present only with `GROUP BY` tags, in key order.
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    /// When the first column is `time`, each row's first value is its time
    /// as `Value::Integer` nanoseconds.
    pub has_time: bool,
    pub rows: Vec<Vec<Value>>,
}

/// What one statement answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Series(Vec<Series>),
    Error(String),
}

/// `influxd`'s chunk size: a series of more rows is marked `partial`, as
/// `influxd` marks it when it joins its chunks (every row is there).
pub const CHUNK_ROWS: usize = 10_000;

/// How times are written: RFC 3339 strings, or integers in a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    Rfc3339,
    /// Nanoseconds per unit (1, 1_000, 1_000_000, 1_000_000_000).
    Divisor(i64),
}

/// Writes the document to `sink` in pieces of about 64 KiB; stops early
/// (returning false) when `sink` does.
pub(crate) struct JsonOut<'s> {
    buf: String,
    sink: &'s mut dyn FnMut(&[u8]) -> bool,
    stopped: bool,
    pub epoch: Epoch,
}

const PIECE: usize = 64 * 1024;

impl super::run::Output for JsonOut<'_> {
    fn parse_error(&mut self, message: &str) {
        self.error_document(message);
        self.flush();
    }

    fn statement(&mut self, id: usize, answer: &Answer) -> bool {
        self.statement_object(id, answer);
        self.flush()
    }

    fn end(&mut self) {
        self.buf.push_str("]}");
        self.flush();
    }
}

impl<'s> JsonOut<'s> {
    pub fn new(sink: &'s mut dyn FnMut(&[u8]) -> bool, epoch: Epoch) -> Self {
        JsonOut { buf: String::with_capacity(PIECE + 1024), sink, stopped: false, epoch }
    }

    fn maybe_flush(&mut self) {
        if self.buf.len() >= PIECE {
            self.flush();
        }
    }

    /// Hands what is buffered to the sink; false once the sink stopped.
    pub fn flush(&mut self) -> bool {
        if !self.stopped && !self.buf.is_empty() {
            self.stopped = !(self.sink)(self.buf.as_bytes());
        }
        self.buf.clear();
        !self.stopped
    }

    /// A whole document that is only an error (a text that does not parse).
    pub fn error_document(&mut self, message: &str) {
        self.buf.push_str("{\"error\":");
        json::string(&mut self.buf, message);
        self.buf.push('}');
    }

    /// One statement's result object (the first opens the document).
    fn statement_object(&mut self, id: usize, answer: &Answer) {
        self.buf.push_str(if id == 0 { "{\"results\":[" } else { "," });
        self.buf.push_str("{\"statement_id\":");
        self.buf.push_str(&id.to_string());
        match answer {
            Answer::Error(e) => {
                self.buf.push_str(",\"error\":");
                json::string(&mut self.buf, e);
            }
            Answer::Series(list) if list.is_empty() => {}
            Answer::Series(list) => {
                self.buf.push_str(",\"series\":[");
                for (n, s) in list.iter().enumerate() {
                    if n > 0 {
                        self.buf.push(',');
                    }
                    self.series(s);
                    if self.stopped {
                        return;
                    }
                }
                self.buf.push(']');
            }
        }
        self.buf.push('}');
    }

    fn series(&mut self, s: &Series) {
        self.buf.push('{');
        if let Some(name) = &s.name {
            self.buf.push_str("\"name\":");
            json::string(&mut self.buf, name);
            self.buf.push(',');
        }
        if !s.tags.is_empty() {
            self.buf.push_str("\"tags\":{");
            for (n, (k, v)) in s.tags.iter().enumerate() {
                if n > 0 {
                    self.buf.push(',');
                }
                json::string(&mut self.buf, k);
                self.buf.push(':');
                json::string(&mut self.buf, v);
            }
            self.buf.push_str("},");
        }
        self.buf.push_str("\"columns\":[");
        for (n, c) in s.columns.iter().enumerate() {
            if n > 0 {
                self.buf.push(',');
            }
            json::string(&mut self.buf, c);
        }
        self.buf.push(']');
        if !s.rows.is_empty() {
            self.buf.push_str(",\"values\":[");
            for (r, row) in s.rows.iter().enumerate() {
                if r > 0 {
                    self.buf.push(',');
                }
                self.buf.push('[');
                for (n, v) in row.iter().enumerate() {
                    if n > 0 {
                        self.buf.push(',');
                    }
                    match v {
                        Value::Integer(t) if n == 0 && s.has_time => self.time(*t),
                        v => value(&mut self.buf, v),
                    }
                }
                self.buf.push(']');
                self.maybe_flush();
                if self.stopped {
                    return;
                }
            }
            self.buf.push(']');
        }
        if s.rows.len() > CHUNK_ROWS {
            self.buf.push_str(",\"partial\":true");
        }
        self.buf.push('}');
    }

    fn time(&mut self, ns: i64) {
        match self.epoch {
            Epoch::Rfc3339 => json::rfc3339(&mut self.buf, ns),
            // Go's integer division, toward zero, as influxd converts.
            Epoch::Divisor(d) => self.buf.push_str(&(ns / d).to_string()),
        }
    }
}

/// A value as influxd writes it.
fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Float(x) => json::float(out, *x),
        Value::Integer(x) => out.push_str(&x.to_string()),
        Value::Unsigned(x) => out.push_str(&x.to_string()),
        Value::String(s) => json::string(out, s),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(answers: &[Answer], epoch: Epoch) -> String {
        use crate::query::run::Output;
        let mut text = Vec::new();
        let mut sink = |b: &[u8]| {
            text.extend_from_slice(b);
            true
        };
        let mut out = JsonOut::new(&mut sink, epoch);
        for (i, a) in answers.iter().enumerate() {
            out.statement(i, a);
        }
        out.end();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn documents_as_influxd_writes_them() {
        let s = Series {
            name: Some("cpu".into()),
            tags: vec![("host".into(), "a".into())],
            columns: vec!["time".into(), "mean".into()],
            has_time: true,
            rows: vec![
                vec![Value::Integer(0), Value::Float(1.5)],
                vec![Value::Integer(3_600_000_000_000), Value::Null],
            ],
        };
        let got = render(
            &[Answer::Series(vec![s.clone()]), Answer::Series(vec![]), Answer::Error("not executed".into())],
            Epoch::Rfc3339,
        );
        assert_eq!(
            got,
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[["1970-01-01T00:00:00Z",1.5],["1970-01-01T01:00:00Z",null]]}]},{"statement_id":1},{"statement_id":2,"error":"not executed"}]}"#
        );
        let got = render(&[Answer::Series(vec![s])], Epoch::Divisor(1_000_000_000));
        assert!(got.contains(r#"[[0,1.5],[3600,null]]"#), "{got}");
    }

    #[test]
    fn a_series_past_the_chunk_size_is_partial() {
        let rows = (0..=CHUNK_ROWS as i64).map(|t| vec![Value::Integer(t), Value::Integer(1)]).collect();
        let s = Series {
            name: Some("m".into()),
            columns: vec!["time".into(), "v".into()],
            has_time: true,
            rows,
            ..Series::default()
        };
        let got = render(&[Answer::Series(vec![s])], Epoch::Divisor(1));
        assert!(got.ends_with(r#"[10000,1]],"partial":true}]}]}"#), "{}", &got[got.len() - 60..]);
    }
}
