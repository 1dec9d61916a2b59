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
        // One JSON string writer for the library: influxd's escapes
        // (RFC 8259 plus `<`, `>`, `&` as \u escapes), valid JSON.
        crate::query::json::string(&mut out, name.as_ref());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_escape_what_json_requires() {
        assert_eq!(super::json_strings(["a", "b\"\\\n\u{1}é<"]), r#"["a","b\"\\\n\u0001é\u003c"]"#);
        assert_eq!(super::json_strings(Vec::<String>::new()), "[]");
    }
}
