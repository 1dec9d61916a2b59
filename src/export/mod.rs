//! Exports: stored points written to a file in another format, for the
//! engines that take over when a device is outgrown (Spark, Trino,
//! DataFusion, InfluxDB 3 read Parquet).
//!
//! - [`columns`]: the columns of an export, from a first scan of the points.
//! - [`parquet`]: the Parquet writer.
//!
//! The whole module is the cargo feature `parquet` (on by default).
//! - [`output`]: the output file: made under a temporary name, synced,
//!   then linked to the caller's path only if nothing is there.
//!
//! Nothing here knows the engine: it is given points in order and a path.

pub mod columns;
pub mod output;
pub mod parquet;

/// `names` as a JSON array of strings.
pub fn json_strings<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("[");
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, name.as_ref());
    }
    out.push(']');
    out
}

/// Appends `s` as a JSON string (RFC 8259: `"`, `\` and control
/// characters escaped).
pub fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_escape_what_json_requires() {
        assert_eq!(super::json_strings(["a", "b\"\\\n\u{1}é"]), r#"["a","b\"\\\n\u0001é"]"#);
        assert_eq!(super::json_strings(Vec::<String>::new()), "[]");
    }
}
