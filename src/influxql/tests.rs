//! The parser against statements of the subset, their errors, and the
//! round trip through `Display`.

use super::ast::*;
use super::parse;

fn one(text: &str) -> Statement {
    let mut v = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(v.len(), 1, "{text}");
    v.remove(0)
}

fn select(text: &str) -> Select {
    match one(text) {
        Statement::Select(s) => *s,
        other => panic!("{text}: {other:?}"),
    }
}

fn var(name: &str) -> Expr {
    Expr::Var { name: name.into(), cast: None }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call { name: name.into(), args }
}

fn bin(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
    Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }
}

fn error(text: &str) -> String {
    parse(text).map(|s| format!("parsed: {s:?}")).unwrap_or_else(|e| e.to_string())
}

#[test]
fn a_grafana_select() {
    let s = select(
        r#"SELECT mean("usage_user") AS "u" FROM "telegraf"."autogen"."cpu" WHERE ("host" = 'h1') AND time >= now() - 6h GROUP BY time(1m), "host" fill(null) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 1"#,
    );
    assert_eq!(s.fields, [Field { expr: call("mean", vec![var("usage_user")]), alias: Some("u".into()) }]);
    assert_eq!(
        s.from,
        Source { database: Some("telegraf".into()), retention_policy: Some("autogen".into()), measurement: "cpu".into() }
    );
    let host = Expr::Paren(Box::new(bin(BinOp::Eq, var("host"), Expr::Str("h1".into()))));
    let time = bin(BinOp::GtEq, var("time"), bin(BinOp::Sub, call("now", vec![]), Expr::Duration(6 * 3_600_000_000_000)));
    assert_eq!(s.condition, Some(bin(BinOp::And, host, time)));
    assert_eq!(s.dimensions, [Dimension::Time { interval: 60_000_000_000, offset: 0 }, Dimension::Tag("host".into())]);
    assert_eq!(s.fill, Fill::Null);
    assert!(s.descending);
    assert_eq!((s.limit, s.offset, s.slimit, s.soffset), (Some(10), Some(2), Some(3), Some(1)));
}

#[test]
fn precedence_and_associativity() {
    let s = select("SELECT a + b * c - d FROM m WHERE x = 1 OR y = 2 AND z =~ /r/");
    let f = &s.fields[0].expr;
    assert_eq!(*f, bin(BinOp::Sub, bin(BinOp::Add, var("a"), bin(BinOp::Mul, var("b"), var("c"))), var("d")));
    let c = s.condition.unwrap();
    let x = bin(BinOp::Eq, var("x"), Expr::Integer(1));
    let y = bin(BinOp::Eq, var("y"), Expr::Integer(2));
    let z = bin(BinOp::EqRegex, var("z"), Expr::Regex("r".into()));
    assert_eq!(c, bin(BinOp::Or, x, bin(BinOp::And, y, z)));
}

#[test]
fn sources_wildcards_casts_and_fills() {
    let s = select(r#"SELECT *, "f"::float, t::tag, count(distinct(v)), percentile(v, 95.5) FROM "db".."m m" fill(-1.5)"#);
    assert_eq!(s.fields[0].expr, Expr::Wildcard);
    assert_eq!(s.fields[1].expr, Expr::Var { name: "f".into(), cast: Some(Cast::Float) });
    assert_eq!(s.fields[2].expr, Expr::Var { name: "t".into(), cast: Some(Cast::Tag) });
    assert_eq!(s.fields[3].expr, call("count", vec![call("distinct", vec![var("v")])]));
    assert_eq!(s.fields[4].expr, call("percentile", vec![var("v"), Expr::Number(95.5)]));
    assert_eq!(s.from, Source { database: Some("db".into()), retention_policy: None, measurement: "m m".into() });
    assert_eq!(s.fill, Fill::Number(-1.5));
    let s = select("SELECT mean(*) FROM rp.m GROUP BY time(5m, -1m), * fill(previous)");
    assert_eq!(s.fields[0].expr, call("mean", vec![Expr::Wildcard]));
    assert_eq!(s.from.retention_policy.as_deref(), Some("rp"));
    assert_eq!(s.dimensions, [Dimension::Time { interval: 300_000_000_000, offset: -60_000_000_000 }, Dimension::Wildcard]);
    assert_eq!(s.fill, Fill::Previous);
}

#[test]
fn show_statements() {
    assert_eq!(one("show databases"), Statement::ShowDatabases);
    assert_eq!(one("SHOW MEASUREMENTS"), Statement::ShowMeasurements);
    let m = || Some(Source { database: None, retention_policy: None, measurement: "cpu".into() });
    assert_eq!(one("SHOW TAG KEYS FROM cpu"), Statement::ShowTagKeys { from: m() });
    assert_eq!(one("SHOW FIELD KEYS"), Statement::ShowFieldKeys { from: None });
    assert_eq!(
        one(r#"SHOW TAG VALUES FROM cpu WITH KEY = "host""#),
        Statement::ShowTagValues { from: m(), key: KeyFilter::Eq("host".into()) }
    );
    assert_eq!(
        one(r#"SHOW TAG VALUES WITH KEY IN ("a", "b")"#),
        Statement::ShowTagValues { from: None, key: KeyFilter::In(vec!["a".into(), "b".into()]) }
    );
    assert_eq!(
        one("SHOW SERIES FROM cpu WHERE host = 'a'"),
        Statement::ShowSeries { from: m(), condition: Some(bin(BinOp::Eq, var("host"), Expr::Str("a".into()))) }
    );
}

#[test]
fn several_statements() {
    let v = parse("SHOW DATABASES; SELECT v FROM m;").unwrap();
    assert_eq!(v.len(), 2);
}

#[test]
fn errors_say_what_was_found_and_where() {
    assert_eq!(error("SELECT"), "found EOF, expected identifier, string, number, bool at line 1, char 7");
    assert_eq!(error("SELECT v"), "found EOF, expected FROM at line 1, char 9");
    assert_eq!(
        error("SELEC v FROM m"),
        "found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"
    );
    assert_eq!(error("SELECT v FROM m LIMIT x"), "found x, expected integer at line 1, char 23");
    assert_eq!(error("SELECT v FROM m\nWHERE"), "found EOF, expected identifier, string, number, bool at line 2, char 6");
    assert!(error("").contains("found EOF"));
    assert!(error("SELECT v FROM m ORDER BY host").contains("only ORDER BY time"));
    assert!(error("SELECT v INTO x FROM m").contains("INTO is not supported"));
    assert!(error("SELECT v FROM /m/").contains("regular expression sources"));
    assert!(error("SELECT v FROM a, b").contains("several measurements"));
    assert!(error("SELECT v FROM m tz('Europe/Paris')").contains("tz()"));
    assert!(error("DROP MEASUREMENT m").contains("DROP statements are not supported"));
    assert!(error("SHOW RETENTION POLICIES").contains("SHOW RETENTION is not supported"));
    assert!(error("SELECT v FROM m GROUP BY time(0s)").contains("positive duration"));
    assert!(error("SELECT v FROM m SELECT").contains("expected ;"));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("SELECT {}v{} FROM m", "(".repeat(200), ")".repeat(200));
    assert!(error(&deep).contains("nested more than"));
    let ok = format!("SELECT {}v{} FROM m", "(".repeat(20), ")".repeat(20));
    assert!(parse(&ok).is_ok());
}

#[test]
fn display_reads_back_to_the_same_statement() {
    for text in [
        r#"SELECT mean("usage_user") AS "u" FROM "telegraf"."autogen"."cpu" WHERE ("host" = 'h1') AND time >= now() - 6h GROUP BY time(1m, 30s), "host" fill(null) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 1"#,
        r#"SELECT *, "f"::float, a / -b, -1.5, 2.0, 100000000000000000000, 'it\'s' FROM "db".."m" WHERE s !~ /a\/b\d/ OR x <> 'q\'\\' fill(-3)"#,
        "SELECT count(distinct(v)), percentile(v, 95) FROM m GROUP BY /r/, time(1h, -5m) fill(linear)",
        r#"SHOW TAG VALUES FROM "c p u" WITH KEY IN ("a", "b\"c")"#,
        "SHOW SERIES WHERE host =~ /^h/",
        "SHOW TAG KEYS; SHOW FIELD KEYS FROM m; SHOW MEASUREMENTS; SHOW DATABASES",
    ] {
        let first = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed: Vec<String> = first.iter().map(ToString::to_string).collect();
        let again = parse(&printed.join("; ")).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
        assert_eq!(first, again, "{printed:?}");
    }
}
