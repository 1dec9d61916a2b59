//! InfluxQL against its peers, measured in the same run (issue 15): the
//! same data (the int workload, 100 hosts, 10 s steps from 2016-01-01) and
//! the same questions, all warm, median of LINEDB_BENCH_RUNS (default 15):
//!
//! | query | linedb | influxd | SQLite |
//! |---|---|---|---|
//! | Q1 | `SELECT mean(usage_user) FROM cpu WHERE hostname = 'host_0' AND <6 h> GROUP BY time(1m)` through `Engine::influxql` (JSON) and `Engine::influxql_to` (typed, as `linedb_influxql_rows`) | the same over HTTP `/query` | `avg(usage_user)` per minute of one host, index on (hostname, time) |
//! | Q2 | `SELECT last(usage_user) FROM cpu GROUP BY hostname` | the same | the row of `max(time)` per hostname |
//! | Q3 | `SELECT mean(*) FROM cpu WHERE <all> GROUP BY time(1h), hostname` | the same | `avg` of each field per hour and hostname |
//! | Q4 | `SELECT * FROM cpu WHERE <all>` as Arrow record batches (`Engine::influxql_arrow_as`, the path of `linedb_influxql_arrow`): points/s | the full scan to line protocol (write bench row 4) | |
//!
//! linedb's store is sealed first (`compact`), as a device's past days
//! are; influxd gets the same 5,000-line batches over HTTP; SQLite one
//! table `cpu(time, 10 tags, 10 fields)` with an index on
//! (hostname, time), loaded in one transaction. Each answer is checked to
//! hold what the question asks (the number of rows) before timing.
//!
//! Run: `cargo bench --bench query`. Environment: LINEDB_BENCH_LINES
//! (default 1,000,000), LINEDB_BENCH_RUNS, LINEDB_BENCH_QUERIES (say
//! `Q1,Q3`: only those), LINEDB_BENCH_PEERS=none (no influxd: for
//! profiling). `cargo test --bench query` runs
//! a smoke version (20,000 lines, no influxd).

use std::time::{Duration, Instant};

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;
use linedb::query::{Epoch, Options as QueryOptions};

mod support;

use support::influxd::{find_on_path, start_influxd, Http};
use support::BenchDir;

const DB: &str = "bench";
const START_NS: i64 = 1_451_606_400_000_000_000;
const HOUR_NS: i64 = 3_600_000_000_000;

struct Query {
    name: &'static str,
    influxql: String,
    sql: String,
}

fn queries(lines: usize) -> Vec<Query> {
    let span = (lines as i64 / 100 + 1) * 10_000_000_000;
    let end = START_NS + span;
    // Six hours from the second hour (a smaller workload: its middle half).
    let q1_from = START_NS + (2 * HOUR_NS).min(span / 4);
    let q1_to = q1_from + (6 * HOUR_NS).min(span / 2);
    let fields = [
        "usage_user",
        "usage_system",
        "usage_idle",
        "usage_nice",
        "usage_iowait",
        "usage_irq",
        "usage_softirq",
        "usage_steal",
        "usage_guest",
        "usage_guest_nice",
    ];
    let avgs: Vec<String> = fields.iter().map(|f| format!("avg({f})")).collect();
    vec![
        Query {
            name: "Q1",
            influxql: format!(
                "SELECT mean(usage_user) FROM cpu WHERE hostname = 'host_0' AND time >= {q1_from} AND time < {q1_to} GROUP BY time(1m)"
            ),
            sql: format!(
                "SELECT (time / 60000000000) * 60000000000 AS t, avg(usage_user) FROM cpu \
                 WHERE hostname = 'host_0' AND time >= {q1_from} AND time < {q1_to} GROUP BY t ORDER BY t"
            ),
        },
        Query {
            name: "Q2",
            influxql: "SELECT last(usage_user) FROM cpu GROUP BY hostname".into(),
            sql: "SELECT hostname, usage_user, max(time) FROM cpu GROUP BY hostname".into(),
        },
        Query {
            name: "Q3",
            influxql: format!("SELECT mean(*) FROM cpu WHERE time >= {START_NS} AND time < {end} GROUP BY time(1h), hostname"),
            sql: format!(
                "SELECT hostname, (time / {HOUR_NS}) * {HOUR_NS} AS t, {} FROM cpu WHERE time >= {START_NS} AND time < {end} \
                 GROUP BY hostname, t ORDER BY hostname, t",
                avgs.join(", ")
            ),
        },
    ]
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time_runs(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let rows = f(); // warm
    assert!(rows > 0, "a question without an answer measures nothing");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let n = f();
        times.push(t.elapsed());
        assert_eq!(n, rows, "answers differ between runs");
    }
    (median(times), rows)
}

/// Rows in an influxd JSON document (`[` of each row).
fn json_rows(doc: &[u8]) -> usize {
    let text = String::from_utf8_lossy(doc);
    text.matches("\"values\":[").count() + text.matches("],[").count()
}

fn linedb_store(dir: &BenchDir, batches: &[&str]) -> Engine {
    let db = Engine::open(dir.path().join("store"), Options { background_sealing: false, ..Options::default() })
        .expect("open store");
    db.create_database(DB).expect("create database");
    for b in batches {
        let out = db.write(DB, b.as_bytes(), Precision::Nanosecond);
        assert_eq!(out.status, 204, "{}", out.message);
    }
    db.compact().expect("compact");
    db
}

fn linedb_run(db: &Engine, q: &str) -> usize {
    let mut doc = Vec::new();
    let opts = QueryOptions { now_ns: linedb::engine::now_ns(), epoch: Epoch::Rfc3339 };
    let out = db.influxql(DB, q, opts, &mut |piece| {
        doc.extend_from_slice(piece);
        true
    });
    assert_eq!(out.status, 200, "{}", out.message);
    assert!(!String::from_utf8_lossy(&doc).contains("\"error\""), "{}", String::from_utf8_lossy(&doc));
    json_rows(&doc)
}

/// Counts the rows of typed answers (`Engine::influxql_to`, the path of
/// C's `linedb_influxql_rows`), reading each value as a caller would.
struct CountRows(usize);

impl linedb::query::Output for CountRows {
    fn parse_error(&mut self, message: &str) {
        panic!("{message}");
    }
    fn statement(&mut self, _: usize, answer: &linedb::query::Answer) -> bool {
        match answer {
            linedb::query::Answer::Error(e) => panic!("{e}"),
            linedb::query::Answer::Series(list) => {
                for s in list {
                    for row in &s.rows {
                        std::hint::black_box(row.iter().filter(|v| !v.is_null()).count());
                        self.0 += 1;
                    }
                }
            }
        }
        true
    }
    fn end(&mut self) {}
}

fn linedb_typed(db: &Engine, q: &str) -> usize {
    let mut out = CountRows(0);
    let status = db.influxql_to(DB, q, linedb::engine::now_ns(), &mut out).status;
    assert_eq!(status, 200);
    out.0
}

fn sqlite_load(text: &str) -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    conn.execute_batch(
        "CREATE TABLE cpu (time INTEGER, hostname TEXT, region TEXT, datacenter TEXT, rack TEXT, os TEXT, arch TEXT, \
         team TEXT, service TEXT, service_version TEXT, service_environment TEXT, usage_user INTEGER, usage_system INTEGER, \
         usage_idle INTEGER, usage_nice INTEGER, usage_iowait INTEGER, usage_irq INTEGER, usage_softirq INTEGER, \
         usage_steal INTEGER, usage_guest INTEGER, usage_guest_nice INTEGER)",
    )
    .expect("create table");
    let tx = conn.transaction().expect("begin");
    {
        let mut ins = tx.prepare("INSERT INTO cpu VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)")
            .expect("prepare");
        for line in text.lines().filter(|l| !l.is_empty()) {
            // cpu,tag=v,... field=1i,... time (no escapes in this workload)
            let mut parts = line.split(' ');
            let (Some(series), Some(fields), Some(time)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let tags: Vec<&str> = series.split(',').skip(1).map(|kv| kv.split_once('=').map_or("", |x| x.1)).collect();
            let vals: Vec<i64> = fields
                .split(',')
                .map(|kv| kv.split_once('=').map_or(0, |x| x.1.trim_end_matches('i').parse::<f64>().map_or(0, |f| f as i64)))
                .collect();
            let time: i64 = time.parse().expect("time");
            let mut params: Vec<rusqlite::types::Value> = vec![time.into()];
            params.extend(tags.iter().map(|t| rusqlite::types::Value::from(t.to_string())));
            params.extend(vals.iter().map(|v| rusqlite::types::Value::from(*v)));
            ins.execute(rusqlite::params_from_iter(params)).expect("insert");
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("CREATE INDEX cpu_host_time ON cpu (hostname, time)").expect("index");
    conn
}

fn sqlite_run(conn: &rusqlite::Connection, sql: &str) -> usize {
    let mut st = conn.prepare_cached(sql).expect("prepare");
    let mut rows = st.query([]).expect("query");
    let mut n = 0;
    while let Some(row) = rows.next().expect("row") {
        std::hint::black_box(row.get_ref(0).ok());
        n += 1;
    }
    n
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.replace('_', "").parse::<usize>().ok());
    let lines = if quick { 20_000 } else { env("LINEDB_BENCH_LINES").unwrap_or(1_000_000) };
    let runs = if quick { 2 } else { env("LINEDB_BENCH_RUNS").unwrap_or(15) };
    let path = support::workload("int", lines, !quick);
    let text = std::fs::read_to_string(&path).expect("workload");
    let batches = support::batches(&text, 5_000);
    let dir = BenchDir::new("query");
    let db = linedb_store(&dir, &batches);
    let conn = sqlite_load(&text);
    let mut influxd = None;
    let mut note = String::new();
    if quick {
        note = "influxd: skipped (quick mode)".into();
    } else if std::env::var("LINEDB_BENCH_PEERS").is_ok_and(|v| v == "none") {
        note = "influxd: skipped (LINEDB_BENCH_PEERS=none)".into();
    } else if let Some(bin) = find_on_path("influxd") {
        match start_influxd(&bin) {
            Ok(server) => {
                let mut http = Http::new(server.port);
                http.create_database(DB).expect("influxd database");
                for b in &batches {
                    http.write_batch(DB, b).expect("influxd write");
                }
                influxd = Some((server, http));
            }
            Err(e) => note = format!("influxd: {e}"),
        }
    } else {
        note = "influxd: not on PATH".into();
    }
    println!("{lines} lines, median of {runs} warm runs");
    println!("| query | linedb (JSON) | linedb (typed) | influxd | SQLite | linedb/influxd | linedb/SQLite | rows |");
    println!("|---|---|---|---|---|---|---|---|");
    let only = std::env::var("LINEDB_BENCH_QUERIES").unwrap_or_default();
    for q in queries(lines).into_iter().filter(|q| only.is_empty() || only.split(',').any(|o| o == q.name)) {
        let (ours, rows) = time_runs(runs, || linedb_run(&db, &q.influxql));
        let (typed, typed_rows) = time_runs(runs, || linedb_typed(&db, &q.influxql));
        assert_eq!(typed_rows, rows, "{}: typed and JSON answers differ", q.name);
        let (lite, lite_rows) = time_runs(runs, || sqlite_run(&conn, &q.sql));
        let peer = influxd.as_mut().map(|(_, http)| {
            let target = format!("/query?db={DB}&q={}", encode(&q.influxql));
            time_runs(runs, || {
                let (st, body) = http.request("GET", &target, None, b"").expect("influxd query");
                assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
                json_rows(&body)
            })
        });
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        let (peer_cell, ratio) = match &peer {
            Some((d, n)) => {
                assert_eq!(*n, rows, "{}: influxd and linedb answer different row counts", q.name);
                (ms(*d), format!("{:.2}×", ours.as_secs_f64() / d.as_secs_f64()))
            }
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {} | {peer_cell} | {} | {ratio} | {:.2}× | {rows} (SQLite {lite_rows}) |",
            q.name,
            ms(ours),
            ms(typed),
            ms(lite),
            ours.as_secs_f64() / lite.as_secs_f64()
        );
    }
    // Q4: every point of the range as Arrow record batches (the path of
    // linedb_influxql_arrow), against the row-4 full scan of the write
    // bench (canonical line protocol text).
    if only.is_empty() || only.split(',').any(|o| o == "Q4") {
        let end = START_NS + (lines as i64 / 100 + 1) * 10_000_000_000;
        let q = format!("SELECT * FROM cpu WHERE time >= {START_NS} AND time < {end}");
        let (arrow, rows) = time_runs(runs.min(5), || {
            let (_, batches) = db.influxql_arrow(DB, &q, linedb::engine::now_ns()).expect("arrow answer");
            batches.iter().map(|b| b.num_rows()).sum()
        });
        let (scan, scanned) = time_runs(runs.min(5), || {
            let mut n = 0usize;
            let out = db.query(DB, None, i64::MIN, i64::MAX, &mut |line| {
                n += usize::from(!line.is_empty());
                true
            });
            assert_eq!(out.status, 200);
            n
        });
        assert_eq!(rows, scanned, "Q4 answers every point");
        println!(
            "\nQ4 `{q}` to Arrow: {rows} points in {:.1} ms, {:.2} M points/s; the full scan to line protocol (write bench row 4): {:.1} ms, {:.2} M points/s",
            arrow.as_secs_f64() * 1e3,
            rows as f64 / arrow.as_secs_f64() / 1e6,
            scan.as_secs_f64() * 1e3,
            scanned as f64 / scan.as_secs_f64() / 1e6
        );
    }
    if !note.is_empty() {
        println!("\n{note}");
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
