//! `Engine::influxql` without a peer: statuses, the document's shape at
//! its edges (an unknown database, a failing statement among several, a
//! long series, a sink that stops), tokens, and damaged stored bytes. The
//! answers themselves are held to a real influxd by `influxql_diff.rs`.

mod common;

use common::*;
use linedb::engine::{Engine, Options, Outcome};
use linedb::line_protocol::Precision;
use linedb::query::{Epoch, Options as QueryOptions};

fn opts() -> QueryOptions {
    QueryOptions { now_ns: 10_000_000_000_000, epoch: Epoch::Rfc3339 }
}

/// The status and the document.
fn ask(db: &Engine, database: &str, q: &str) -> (Outcome, String) {
    let mut doc = Vec::new();
    let out = db.influxql(database, q, opts(), &mut |piece| {
        doc.extend_from_slice(piece);
        true
    });
    (out, String::from_utf8(doc).unwrap())
}

fn store(t: &TempDir) -> Engine {
    let db = Engine::open(t.store(), Options { background_sealing: false, ..Options::default() }).unwrap();
    db.create_database("db").unwrap();
    db
}

#[test]
fn an_unknown_database_answers_404_with_influxds_document() {
    let t = TempDir::new("iql-404");
    let db = store(&t);
    let (out, doc) = ask(&db, "nodb", "SELECT v FROM cpu; SHOW MEASUREMENTS");
    assert_eq!(out.status, 404);
    assert_eq!(
        doc,
        r#"{"results":[{"statement_id":0,"error":"database not found: nodb"},{"statement_id":1,"error":"not executed"}]}"#
    );
}

#[test]
fn text_that_does_not_parse_runs_nothing_and_answers_400() {
    let t = TempDir::new("iql-400");
    let db = store(&t);
    write(&db, "db", "cpu v=1 0");
    let (out, doc) = ask(&db, "db", "SHOW MEASUREMENTS; SELECT FROM cpu");
    assert_eq!(out.status, 400);
    assert_eq!(out.count, 0);
    assert_eq!(
        doc,
        r#"{"error":"error parsing query: found FROM, expected identifier, string, number, bool at line 1, char 27"}"#
    );
    assert!(out.message.starts_with("error parsing query: "), "{}", out.message);
}

#[test]
fn a_failing_statement_stops_the_ones_after_it() {
    let t = TempDir::new("iql-not-run");
    let db = store(&t);
    write(&db, "db", "cpu v=1 0");
    let (out, doc) = ask(&db, "db", "SELECT count(v) FROM cpu; SELECT v, count(v) FROM cpu; SHOW MEASUREMENTS");
    assert_eq!(out.status, 200);
    assert_eq!(out.count, 2);
    assert_eq!(
        doc,
        r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","count"],"values":[["1970-01-01T00:00:00Z",1]]}]},{"statement_id":1,"error":"mixing aggregate and non-aggregate queries is not supported"},{"statement_id":2,"error":"not executed"}]}"#
    );
}

#[test]
fn a_series_past_ten_thousand_rows_is_marked_partial_and_complete() {
    let t = TempDir::new("iql-partial");
    let db = store(&t);
    let lines: String = (0..10_001).map(|i| format!("cpu v={i}i {i}\n")).collect();
    assert_eq!(db.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
    let (out, doc) = ask(&db, "db", "SELECT v FROM cpu");
    assert_eq!(out.status, 200);
    assert_eq!(doc.matches("],[").count(), 10_000, "every row is there");
    assert!(
        doc.ends_with(r#"["1970-01-01T00:00:00.00001Z",10000]],"partial":true}]}]}"#),
        "{}",
        &doc[doc.len() - 80..]
    );
    let (_, doc) = ask(&db, "db", "SELECT v FROM cpu LIMIT 10000");
    assert!(!doc.contains("partial"));
}

#[test]
fn a_sink_that_stops_gets_nothing_more() {
    let t = TempDir::new("iql-stop");
    let db = store(&t);
    let lines: String = (0..20_000).map(|i| format!("cpu v={i}i {i}\n")).collect();
    assert_eq!(db.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
    let mut pieces = 0;
    let out = db.influxql("db", "SELECT v FROM cpu; SELECT v FROM cpu", opts(), &mut |_| {
        pieces += 1;
        false
    });
    assert_eq!(out.status, 200);
    assert_eq!(pieces, 1, "the document comes in pieces, and stops at the first refused");
}

#[test]
fn without_a_lower_bound_windows_start_at_the_first_point_and_end_at_now() {
    let t = TempDir::new("iql-windows");
    let db = store(&t);
    write(&db, "db", "cpu v=1 7200000000000\ncpu v=3 7300000000000");
    // now() is 10,000 s: windows of 1000 s from 7000 s to 10,000 s.
    let (_, doc) = ask(&db, "db", "SELECT count(v) FROM cpu GROUP BY time(1000s)");
    assert_eq!(
        doc,
        r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","count"],"values":[["1970-01-01T01:56:40Z",2],["1970-01-01T02:13:20Z",0],["1970-01-01T02:30:00Z",0],["1970-01-01T02:46:40Z",0]]}]}]}"#
    );
    // A time range of more windows than allowed is the statement's error,
    // counted over all its series.
    let (out, doc) = ask(&db, "db", "SELECT count(v) FROM cpu WHERE time >= 0 GROUP BY time(1ns)");
    assert_eq!(out.status, 200);
    assert!(doc.contains("more than the 1000000 windows linedb allows a statement (10000000000001 in one series)"), "{doc}");
    write(&db, "db", "cpu,host=a v=1 7200000000000\ncpu,host=b v=1 7200000000000");
    // One series of 600,000 windows is allowed; three are not.
    let q = "SELECT count(v) FROM cpu WHERE time >= 7200000000000 AND time < 7200000600000 GROUP BY time(1ns)";
    let (_, doc) = ask(&db, "db", q);
    assert!(!doc.contains("error"), "{}", &doc[..200]);
    let (_, doc) = ask(&db, "db", &format!("{q}, host"));
    assert!(doc.contains("(600000 in one series)"), "three series of 600,000 windows pass the budget: {doc}");
}

#[test]
fn a_token_without_read_permission_is_refused() {
    let t = TempDir::new("iql-auth");
    let db = store(&t);
    write(&db, "db", "cpu v=1 0");
    let writer = db.create_token("db", linedb::auth::PERM_WRITE).unwrap();
    let reader = db.create_token("db", linedb::auth::PERM_READ).unwrap();
    let ask_as = |token: Option<&str>| {
        let mut doc = Vec::new();
        let out = db.influxql_as("db", token, "SHOW MEASUREMENTS", opts(), &mut |b| {
            doc.extend_from_slice(b);
            true
        });
        (out.status, String::from_utf8(doc).unwrap())
    };
    assert_eq!(ask_as(None), (401, String::new()), "no document with a 401");
    assert_eq!(ask_as(Some(&writer)), (401, String::new()));
    assert_eq!(
        ask_as(Some(&reader)),
        (200, r#"{"results":[{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["cpu"]]}]}]}"#.to_owned())
    );
}

#[test]
fn damaged_stored_bytes_answer_500_never_rows() {
    let t = TempDir::new("iql-damage");
    let db = store(&t);
    let lines: String = (0..2000).map(|i| format!("cpu,host=h{} v={}.25,n={i}i {i}000\n", i % 7, i * 3)).collect();
    assert_eq!(db.write("db", lines.as_bytes(), Precision::Nanosecond).status, 204);
    db.compact().unwrap();
    let (out, before) = ask(&db, "db", "SELECT sum(n) FROM cpu");
    assert_eq!(out.status, 200);
    assert!(before.contains("1999000"), "{before}");
    let sealed: Vec<_> =
        all_files(&t.store()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "col")).collect();
    assert_eq!(sealed.len(), 1);
    let mut bytes = std::fs::read(&sealed[0]).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x10;
    std::fs::write(&sealed[0], &bytes).unwrap();
    let (out, doc) = ask(&db, "db", "SELECT sum(n) FROM cpu; SHOW MEASUREMENTS");
    assert_eq!(out.status, 500, "{doc}");
    assert!(out.message.contains(".col"), "the message names the file: {}", out.message);
    assert!(!doc.contains("\"series\""), "no rows from damaged bytes: {doc}");
    assert!(doc.ends_with(r#"{"statement_id":1,"error":"not executed"}]}"#), "{doc}");
}
