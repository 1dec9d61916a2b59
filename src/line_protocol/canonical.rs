//! Canonical line protocol: the one way linedb writes a point (API.md):
//! tags and fields sorted by key (bytewise), `i`/`u` suffixes, floats as the
//! shortest decimal that reads back to the same double, nanosecond time.

use std::fmt::Write as _;

use super::scan;
use super::types::{FieldValue, LineRef};

/// Writes `name` escaped for a name of `class` (`scan::MEASUREMENT`,
/// `scan::KEY` or `scan::TAG_VALUE`) so that parsing gives `name` back.
///
/// A backslash becomes `\\`, except before a character that can only stand
/// in a name behind a backslash (tab, newline; NUL in a measurement): the
/// parser kept that pair as both characters, so it is written as it came.
pub fn write_escaped_name(out: &mut String, name: &str, class: u8) {
    let b = name.as_bytes();
    // Most names need no escape: one scan, one copy.
    if !b.iter().any(|&c| matches!(c, b'\\' | b',' | b' ' | b'=')) {
        out.push_str(name);
        return;
    }
    let mut last = 0;
    for (k, &c) in b.iter().enumerate() {
        let escape = match c {
            b'\\' => {
                let next = b.get(k + 1).copied();
                let literal_pair = matches!(next, Some(b'\t' | b'\n'))
                    || (class == scan::MEASUREMENT && next == Some(0));
                !literal_pair
            }
            b',' | b' ' => true,
            b'=' => class != scan::MEASUREMENT,
            _ => false,
        };
        if escape {
            out.push_str(&name[last..k]);
            out.push('\\');
            last = k;
        }
    }
    out.push_str(&name[last..]);
}

fn write_string_value(out: &mut String, s: &str) {
    out.push('"');
    let mut last = 0;
    for (k, c) in s.bytes().enumerate() {
        if c == b'"' || c == b'\\' {
            out.push_str(&s[last..k]);
            out.push('\\');
            last = k;
        }
    }
    out.push_str(&s[last..]);
    out.push('"');
}

/// A point in canonical order with duplicates resolved (a repeated tag is
/// kept once; a repeated field keeps its last value), owning its data.
#[derive(Clone, Debug, PartialEq)]
pub struct CanonicalLine {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, FieldValue<'static>)>,
    pub timestamp: i64,
}

impl CanonicalLine {
    pub fn from_line(line: LineRef<'_, '_>) -> Self {
        let mut tags: Vec<(String, String)> =
            line.tags().iter().map(|t| (t.key.to_string(), t.value.to_string())).collect();
        // Stable sort, then keep the first of equal keys (equal keys have equal
        // values in a valid line).
        tags.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        tags.dedup_by(|a, b| a.0 == b.0);
        let mut fields: Vec<(String, FieldValue<'static>)> = line
            .fields()
            .iter()
            .map(|f| (f.key.to_string(), owned_value(&f.value)))
            .collect();
        fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        // The last of equal keys wins: dedup_by keeps the first, so walk
        // reversed runs by hand.
        let mut deduped: Vec<(String, FieldValue<'static>)> = Vec::with_capacity(fields.len());
        for f in fields {
            match deduped.last_mut() {
                Some(last) if last.0 == f.0 => *last = f,
                _ => deduped.push(f),
            }
        }
        CanonicalLine {
            measurement: line.measurement().to_owned(),
            tags,
            fields: deduped,
            timestamp: line.timestamp(),
        }
    }

    /// Appends the line (without a newline) to `out`.
    pub fn write(&self, out: &mut String) {
        write_escaped_name(out, &self.measurement, scan::MEASUREMENT);
        for (k, v) in &self.tags {
            out.push(',');
            write_escaped_name(out, k, scan::KEY);
            out.push('=');
            write_escaped_name(out, v, scan::TAG_VALUE);
        }
        for (n, (k, v)) in self.fields.iter().enumerate() {
            out.push(if n == 0 { ' ' } else { ',' });
            write_escaped_name(out, k, scan::KEY);
            out.push('=');
            write_value(out, v);
        }
        let _ = write!(out, " {}", self.timestamp);
    }
}

impl std::fmt::Display for CanonicalLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.write(&mut s);
        f.write_str(&s)
    }
}

/// Writes a field value in canonical form.
pub fn write_value(out: &mut String, v: &FieldValue<'_>) {
    // Writing to a String cannot fail.
    let _ = match v {
        FieldValue::Float(x) => write!(out, "{x}"),
        FieldValue::Integer(x) => write!(out, "{x}i"),
        FieldValue::UInteger(x) => write!(out, "{x}u"),
        FieldValue::Boolean(x) => write!(out, "{x}"),
        FieldValue::String(s) => {
            write_string_value(out, s);
            Ok(())
        }
    };
}

fn owned_value(v: &FieldValue<'_>) -> FieldValue<'static> {
    match v {
        FieldValue::Float(x) => FieldValue::Float(*x),
        FieldValue::Integer(x) => FieldValue::Integer(*x),
        FieldValue::UInteger(x) => FieldValue::UInteger(*x),
        FieldValue::Boolean(x) => FieldValue::Boolean(*x),
        FieldValue::String(s) => FieldValue::String(s.to_string().into()),
    }
}

/// Writes one parsed line in canonical form (sorted, duplicates resolved).
pub fn write_canonical(out: &mut String, line: LineRef<'_, '_>) {
    CanonicalLine::from_line(line).write(out);
}
