//! The invariants of parsing and running arbitrary InfluxQL text, shared
//! by the fuzz target (`fuzz_targets/influxql_parse.rs`) and the corpus
//! replay test (`tests/fuzz_corpus.rs`). Every violation panics.
//!
//! Input: the bytes, as UTF-8 (lossy). The checks: parsing never panics;
//! an error's place lies within the text (its line exists, its char is
//! at most one past the line's end); a statement prints as text that
//! parses back to the same statement. Text that parses is then run
//! against a small store (three measurements, every field type, three
//! days, part of it sealed): it never panics, answers 200 and a whole
//! JSON document, and the typed answers have the JSON's statements.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use linedb::engine::{Engine, Options};
use linedb::influxql;
use linedb::line_protocol::Precision;
use linedb::query::{Answer, Epoch, Options as QueryOptions, Output};

const DAY: i64 = 86_400_000_000_000;

/// This thread's store, made at its first input.
fn store() -> Engine {
    let dir = crate::scratch::fresh("influxql");
    let db = Engine::open(dir.join("store"), Options { background_sealing: false, ..Options::default() }).unwrap();
    db.create_database("db").unwrap();
    let mut lines = String::new();
    for i in 0..300i64 {
        let t = (i % 3) * DAY + i * 7_000_000_000;
        lines.push_str(&format!(
            "cpu,host=h{},region=r{} f={}.5,n={}i,u={}u,s=\"v{}\",b={} {t}\n",
            i % 5,
            i % 2,
            i * 3 - 100,
            i % 17,
            i % 11,
            i % 4,
            i % 3 == 0
        ));
        lines.push_str(&format!("mem,host=h{} free={}i {t}\n", i % 3, i * 11));
        lines.push_str(&format!("odd\\ m,t\\=k=a\\ b x={} {t}\n", i));
        if i == 150 {
            assert_eq!(db.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
            lines.clear();
            db.compact().unwrap();
        }
    }
    assert_eq!(db.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
    db
}

thread_local! {
    static STORE: Engine = store();
}

/// Counts the typed answers' statements.
struct Statements(usize);

impl Output for Statements {
    fn parse_error(&mut self, message: &str) {
        panic!("typed: the text parsed, yet {message}");
    }
    fn statement(&mut self, _: usize, _: &Answer) -> bool {
        self.0 += 1;
        true
    }
    fn end(&mut self) {}
}

fn run(text: &str, statements: usize) {
    STORE.with(|db| {
        let now = 3 * DAY;
        let mut doc = Vec::new();
        let opts = QueryOptions { now_ns: now, epoch: Epoch::Rfc3339 };
        let out = db.influxql("db", text, opts, &mut |piece| {
            doc.extend_from_slice(piece);
            true
        });
        let doc = String::from_utf8(doc).unwrap_or_else(|e| panic!("{text:?}: the answer is not UTF-8: {e}"));
        assert_eq!(out.status, 200, "{text:?}: {}", out.message);
        assert!(doc.starts_with("{\"results\":[{\"statement_id\":0") && doc.ends_with("}]}"), "{text:?}: {doc}");
        let mut typed = Statements(0);
        assert_eq!(db.influxql_to("db", text, now, &mut typed).status, 200);
        assert_eq!(typed.0, statements, "{text:?}");
    });
}

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match influxql::parse(&text) {
        Ok(statements) => {
            let printed: Vec<String> = statements.iter().map(ToString::to_string).collect();
            let again = influxql::parse(&printed.join(";\n"))
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
            assert_eq!(statements, again, "{text:?} printed as {printed:?}");
            run(&text, statements.len());
        }
        Err(e) => {
            let lines: Vec<&str> = text.split('\n').collect();
            let line = lines.get(e.line - 1).unwrap_or_else(|| panic!("{text:?}: {e} names no line"));
            assert!(e.char >= 1 && e.char <= line.chars().count() + 1, "{text:?}: {e} is past its line");
            assert!(!e.message.is_empty());
        }
    }
}
