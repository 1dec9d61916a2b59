//! One call of `linedb_influxql`: parse the whole text, run its statements
//! in order, and stream the JSON document `influxd` would answer.

use crate::influxql::ast::{Source, Statement};
use crate::influxql::parse;

use super::result::{Answer, Epoch, JsonOut, Series};
use super::select::{select, StmtError};
use super::show;
use super::store::Store;

/// How a call runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The instant `now()` means, in nanoseconds.
    pub now_ns: i64,
    pub epoch: Epoch,
}

/// What a call answered: 200 when the statements ran (their own errors are
/// in the document), 400 when the text does not parse, 404 when the
/// database does not exist, 500/503 when reading the store failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    pub status: u16,
    /// Empty on 200; else what went wrong (also in the document).
    pub message: String,
    /// Statements run.
    pub statements: u64,
}

/// Where a call's answers go: influxd's JSON document ([`JsonOut`]), or a
/// caller's typed callbacks (the C API's `linedb_influxql_rows`).
pub trait Output {
    /// The text does not parse: nothing runs.
    fn parse_error(&mut self, message: &str);
    /// One statement's answer, in order; false stops the call.
    fn statement(&mut self, id: usize, answer: &Answer) -> bool;
    /// After the last statement.
    fn end(&mut self);
}

/// Runs `text` against `store` (`None`: the database does not exist;
/// `database` is its name) and writes the answer to `sink` as influxd's
/// JSON document.
pub fn run(
    store: Option<&dyn Store>,
    database: &str,
    text: &str,
    opts: Options,
    sink: &mut dyn FnMut(&[u8]) -> bool,
) -> Ran {
    let mut out = JsonOut::new(sink, opts.epoch);
    run_to(store, database, text, opts.now_ns, &mut out)
}

/// [`run`] with the answers given to `out`.
pub fn run_to(store: Option<&dyn Store>, database: &str, text: &str, now_ns: i64, out: &mut dyn Output) -> Ran {
    let statements = match parse(text) {
        Ok(s) => s,
        Err(e) => {
            let message = format!("error parsing query: {e}");
            out.parse_error(&message);
            return Ran { status: 400, message, statements: 0 };
        }
    };
    let mut ran = Ran { status: 200, message: String::new(), statements: 0 };
    let mut failed = false;
    for (id, st) in statements.iter().enumerate() {
        let answer = if failed {
            Answer::Error("not executed".into())
        } else {
            ran.statements += 1;
            match statement(store, database, st, now_ns) {
                Ok(series) => Answer::Series(series),
                Err(StmtError::Query(e)) => {
                    failed = true;
                    if store.is_none() && ran.status == 200 {
                        ran.status = 404;
                        ran.message.clone_from(&e);
                    }
                    Answer::Error(e)
                }
                Err(StmtError::Store(f)) => {
                    failed = true;
                    if ran.status == 200 {
                        ran.status = f.status;
                        ran.message.clone_from(&f.message);
                    }
                    Answer::Error(f.message)
                }
            }
        };
        if !out.statement(id, &answer) {
            return ran;
        }
    }
    out.end();
    ran
}

fn statement(store: Option<&dyn Store>, database: &str, st: &Statement, now: i64) -> Result<Vec<Series>, StmtError> {
    if let Statement::ShowDatabases = st {
        if let Some(s) = store {
            return Ok(show::databases(s));
        }
    }
    let Some(store) = store else {
        return Err(StmtError::Query(if database.is_empty() {
            "database name required".into()
        } else {
            format!("database not found: {database}")
        }));
    };
    match st {
        Statement::Select(s) => {
            check_source(&s.from, database)?;
            select(store, s, now)
        }
        Statement::ShowDatabases => Ok(show::databases(store)),
        Statement::ShowMeasurements => Ok(show::measurements(store)),
        Statement::ShowTagKeys { from } => {
            check_from(from.as_ref(), database)?;
            Ok(show::tag_keys(store, from.as_ref()))
        }
        Statement::ShowTagValues { from, key } => {
            check_from(from.as_ref(), database)?;
            show::tag_values(store, from.as_ref(), key)
        }
        Statement::ShowFieldKeys { from } => {
            check_from(from.as_ref(), database)?;
            Ok(show::field_keys(store, from.as_ref()))
        }
        Statement::ShowSeries { from, condition } => {
            check_from(from.as_ref(), database)?;
            show::series(store, from.as_ref(), condition.as_ref())
        }
    }
}

fn check_from(from: Option<&Source>, database: &str) -> Result<(), StmtError> {
    from.map_or(Ok(()), |s| check_source(s, database))
}

/// A source may name the call's database and its one retention policy,
/// `autogen`; linedb reads one database per call.
fn check_source(s: &Source, database: &str) -> Result<(), StmtError> {
    if let Some(db) = &s.database {
        if db != database {
            return Err(StmtError::Query(format!(
                "linedb reads one database per call: {db:?} is not the call's database {database:?}"
            )));
        }
    }
    match &s.retention_policy {
        Some(rp) if rp != "autogen" => Err(StmtError::Query(format!("retention policy not found: {rp}"))),
        _ => Ok(()),
    }
}
