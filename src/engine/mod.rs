//! The storage engine: open and recover a store, write batches, query,
//! report status, checkpoint, close. The C layer (`ffi`) maps one to one
//! onto this API; see API.md for the meaning of each call.
//!
//! The way a write travels (DESIGN.md): the caller's thread parses and
//! validates its batch against the stored schema and encodes the WAL record
//! and the rows; then a commit leader (whichever waiting writer holds the
//! commit lock) takes every queued batch, reserves segment space for them,
//! appends their records to the WAL with one fdatasync, applies them to the
//! segments and publishes them, all under the state's write lock, and
//! answers each. See `write.rs`.

mod apply;
mod checkpoint;
mod commit;
#[cfg(feature = "parquet")]
mod export;
mod files;
mod influxql;
mod maintenance;
mod memory;
mod placement;
mod query;
mod scan;
mod record;
mod recovery;
mod seal;
mod state;
mod verify;
mod write;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::line_protocol::FieldType;
use crate::partition::Day;
use crate::schema::{Limits, SchemaView};
use crate::storage::{FsStorage, LockGuard, Storage};
use crate::auth;
use crate::wal::Wal;

pub use record::Record;
pub use verify::VerifyReport;

/// Default [`Options::max_batch_bytes`]: 10 MiB.
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 10 << 20;

/// Settings of an open store.
#[derive(Clone, Debug)]
pub struct Options {
    /// With it, [`Engine::write_as`] and [`Engine::query_as`] need no token
    /// (C: `LINEDB_OPEN_NO_AUTH`).
    pub no_auth: bool,
    /// Un-checkpointed WAL bytes, the new batch included, above which
    /// writes answer 503. Default 1 GiB.
    pub max_wal_bytes: u64,
    /// Batches longer than this, in bytes of line protocol, answer 413 with
    /// nothing stored. Default 10 MiB (InfluxDB 3's request limit).
    pub max_batch_bytes: u64,
    pub limits: Limits,
    /// Size at which a partition starts a new segment file. Default 64 MiB.
    pub segment_bytes: u64,
    /// Preallocated size of each WAL file. Default 8 MiB: while open the
    /// log holds the file being appended to, the files not yet
    /// checkpointed and one spare; a closed store holds none.
    pub wal_file_bytes: u64,
    /// Segment files kept open (a descriptor and a mapping each) when idle;
    /// the least recently used are closed past it. Default 256.
    pub max_open_segments: usize,
    /// WAL backlog at which a write runs a checkpoint. Default 64 MiB.
    pub checkpoint_wal_bytes: u64,
    /// Run the engine's own thread: once a second (and at once when a
    /// write takes the log's spare file) it makes the log's next file ahead
    /// of need and seals the partitions that have become due (below).
    /// Default true. Without it, [`Engine::maintain`] runs the same work
    /// when called, and [`Engine::compact`] seals everything.
    pub background_sealing: bool,
    /// A partition of the current UTC day is due for sealing once no write
    /// came to it for this long. Default 15 minutes.
    pub seal_after: std::time::Duration,
    /// A partition of a past UTC day is due once no write came to it for
    /// this long. Default 10 seconds. (A partition whose segment filled,
    /// `segment_bytes`, is due at once.)
    pub seal_past_after: std::time::Duration,
    /// Where the files live: the real disk unless a test says otherwise.
    pub storage: Arc<dyn Storage>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            no_auth: false,
            max_wal_bytes: 1 << 30,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            limits: Limits::default(),
            segment_bytes: 64 << 20,
            wal_file_bytes: 8 << 20,
            max_open_segments: crate::segment::DEFAULT_MAX_OPEN_SEGMENTS,
            checkpoint_wal_bytes: 64 << 20,
            background_sealing: true,
            seal_after: std::time::Duration::from_secs(15 * 60),
            seal_past_after: std::time::Duration::from_secs(10),
            storage: Arc::new(FsStorage),
        }
    }
}

/// The answer to a write or a query, as InfluxDB Clustered gives it over
/// HTTP (API.md's `linedb_result`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// 204 written, 200 query done, 400, 401, 404, 413, 500, 503.
    pub status: u16,
    /// With 503: seconds after which to try again (at least 1).
    pub retry_after_secs: u32,
    /// Write: points in the batch. Query: lines delivered.
    pub count: u64,
    /// With 400: the 1-based number of the first rejected line.
    pub error_line: u64,
    /// Empty on success.
    pub message: String,
}

impl Outcome {
    pub(crate) fn ok(status: u16, count: u64) -> Self {
        Outcome { status, retry_after_secs: 0, count, error_line: 0, message: String::new() }
    }
    pub(crate) fn error(status: u16, message: impl Into<String>) -> Self {
        Outcome { status, retry_after_secs: 0, count: 0, error_line: 0, message: message.into() }
    }
    /// 413: a batch that can never be taken as it is (retrying cannot
    /// cure it; split it).
    fn too_large(message: impl Into<String>) -> Self {
        Outcome::error(413, message)
    }
    fn unavailable(message: impl Into<String>) -> Self {
        Outcome { retry_after_secs: 1, ..Outcome::error(503, message) }
    }
}

/// Why an operation on an open store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A name that breaks the rules (empty, too long, with `/`).
    InvalidArgument(String),
    NotFound(String),
    AlreadyExists(String),
    /// The operating system refused; the error names the file.
    Io(io::Error),
    /// Stored bytes failed their checksum (or passed it and do not
    /// decode): the message names the file and where.
    Corrupt(String),
    /// An earlier failure (a failed fsync, a failed apply) left the store
    /// unable to take writes: reopen it.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) | Error::NotFound(m) | Error::AlreadyExists(m) | Error::Corrupt(m) => f.write_str(m),
            Error::Io(e) => write!(f, "{e}"),
            Error::Failed(m) => write!(f, "the store failed earlier and must be reopened: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// API.md's `linedb_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub databases: u64,
    pub partitions: u64,
    /// Points as stored: in segments, before de-duplication; in sealed
    /// files, once each (sealing merges the writes of a point).
    pub points: u64,
    pub wal_bytes: u64,
    pub segment_bytes: u64,
    pub writes_accepted: u64,
    pub writes_rejected: u64,
    pub last_sequence: u64,
    /// WAL fdatasyncs of records since open: with `writes_accepted`, how
    /// many writes each sync made durable (Rust only for now).
    pub wal_syncs: u64,
    /// Sealed files made since open, by the background and by `compact`
    /// (Rust only for now).
    pub seals: u64,
    /// Segment files open now (a descriptor and a mapping each), and
    /// opened and closed by the cache since open (Rust only for now).
    pub open_segments: u64,
    pub segment_opens: u64,
    pub segment_closes: u64,
}

/// One partition of a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    pub measurement: String,
    pub day: Day,
    pub points: u64,
    pub bytes: u64,
}

/// An open store. Cheap to share between threads (`&Engine` is enough:
/// every method takes `&self`).
#[derive(Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    maintenance: maintenance::Maintenance,
}

impl Drop for Engine {
    /// Stops the maintenance thread (a seal under way stops between two
    /// blocks), so that the store's lock goes with the last handle.
    fn drop(&mut self) {
        self.maintenance.stop(&self.inner);
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    opts: Options,
    /// The segment files: where, how big, the bound on open ones, the
    /// store's id they carry.
    files: files::SegmentFiles,
    state: RwLock<State>,
    /// The WAL. Held by a commit leader while it places and appends its
    /// group (not while the group syncs), and by anything else that appends.
    writer: Mutex<Wal>,
    queue: Mutex<commit::CommitQueue>,
    /// The sequence of the next WAL record to be applied: records from it
    /// up to the WAL's next sequence belong to commit groups on their way
    /// (appended, not yet applied). Groups apply in sequence order.
    turn: Mutex<u64>,
    /// Signalled when `turn` moves.
    turn_changed: Condvar,
    /// Taken by a checkpoint, so two never run at once.
    checkpoint_lock: Mutex<()>,
    /// Taken by a sealing pass, so two never seal one partition at once.
    sealing: Mutex<()>,
    /// Taken while a spare log file is made ahead of need (one at a time:
    /// they share a temporary name).
    ahead: Mutex<()>,
    /// Files sealing replaced: removed once a checkpoint has made durable
    /// a catalog that no longer lists them, and no query holds them.
    retired: Mutex<Vec<Retired>>,
    /// Sealed files made since open.
    sealed_total: AtomicU64,
    /// Recently read sealed files' series keys (bounded).
    series_keys: crate::seal::keys::KeyCache,
    /// When the store was opened: the engine's clock counts from it.
    started: std::time::Instant,
    /// Tells the maintenance thread to stop.
    stop: Arc<maintenance::Stop>,
    /// Taken while creating a database: the check that the name is free
    /// and the id it gets hold until the creation is applied.
    creating: Mutex<()>,
    failed: AtomicBool,
    failure: Mutex<String>,
    /// Set when closing starts: writes answer 503 from then on.
    closing: AtomicBool,
    wal_bytes: AtomicU64,
    writes_accepted: AtomicU64,
    writes_rejected: AtomicU64,
    _lock: Box<dyn LockGuard>,
}

use state::State;

/// A file sealing replaced, waiting to be removed.
#[derive(Debug)]
enum Retired {
    /// A segment all of whose blocks are in a sealed file.
    Segment(Arc<crate::segment::Segment>),
    /// A sealed file merged into a newer one.
    Sealed(Arc<crate::seal::SealedFile>),
}

impl Retired {
    fn path(&self) -> &Path {
        match self {
            Retired::Segment(s) => s.path(),
            Retired::Sealed(f) => &f.path,
        }
    }

    /// Whether anything but the retired list holds it (a query's snapshot).
    fn in_use(&self) -> bool {
        match self {
            Retired::Segment(s) => Arc::strong_count(s) > 1,
            Retired::Sealed(f) => Arc::strong_count(f) > 1,
        }
    }
}

/// Rules for database names: non-empty UTF-8, no `/`, at most 64 bytes.
pub const MAX_DATABASE_NAME: usize = 64;

fn check_database_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArgument("database name is empty".into()));
    }
    if name.len() > MAX_DATABASE_NAME {
        return Err(Error::InvalidArgument(format!(
            "database name is {} bytes long; the most is {MAX_DATABASE_NAME}",
            name.len()
        )));
    }
    if name == auth::ANY_DATABASE {
        // A token for "*" is a token for every database; a database of that
        // name would make one token mean two things.
        return Err(Error::InvalidArgument("\"*\" is not a database name: a \"*\" token means every database".into()));
    }
    if name.contains('/') {
        return Err(Error::InvalidArgument(format!("database name {name:?} contains '/'")));
    }
    if name.contains('\0') {
        return Err(Error::InvalidArgument(format!("database name {name:?} contains a NUL byte")));
    }
    Ok(())
}

impl Engine {
    /// Opens the store in `dir` (created if missing; its parent must
    /// exist), takes its lock, and recovers: segments are verified past the
    /// last checkpoint and WAL records after it are replayed.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Engine, crate::error::OpenError> {
        let inner = Arc::new(recovery::open(dir.as_ref(), opts)?);
        memory::give_back();
        let engine = Engine { inner, maintenance: maintenance::Maintenance::default() };
        if engine.inner.opts.background_sealing {
            engine.maintenance.start(&engine.inner);
        }
        Ok(engine)
    }

    /// Checkpoints and closes. The lock is released when this returns,
    /// whatever the result.
    pub fn close(self) -> Result<(), Error> {
        self.shut_down()
    }

    /// The work of [`Engine::close`] for a caller that shares the engine
    /// (the C layer): from now on writes answer 503; then checkpoints. The
    /// lock is released when the engine is dropped.
    pub fn shut_down(&self) -> Result<(), Error> {
        self.inner.closing.store(true, Ordering::Release);
        if self.inner.is_failed() {
            return Err(self.inner.failed_error());
        }
        self.maintenance.stop(&self.inner);
        checkpoint::run_one(&self.inner, checkpoint::Then::Close)
    }

    /// Whether closing has begun (writes answer 503 from then on).
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Makes a token with `perms` ([`auth::PERM_READ`], [`auth::PERM_WRITE`]
    /// or both) on `database` (or `*`: every database, also ones created
    /// later), durably. The database need not exist yet. Returns the token;
    /// only its hash is stored.
    pub fn create_token(&self, database: &str, perms: u32) -> Result<String, Error> {
        if database != auth::ANY_DATABASE {
            check_database_name(database)?;
        }
        if perms == 0 || perms & !auth::PERM_ALL != 0 {
            return Err(Error::InvalidArgument(format!(
                "permissions {perms:#x}: give LINEDB_PERM_READ (1), LINEDB_PERM_WRITE (2) or both"
            )));
        }
        let token = auth::generate().map_err(|e| Error::Io(std::io::Error::other(format!("random source: {e}"))))?;
        let stored = auth::StoredToken { hash: auth::hash(&token), database: database.to_owned(), perms };
        self.log_and_apply(&record::encode_create_token(&stored), |st| st.tokens.push(stored.clone()))?;
        Ok(token)
    }

    /// Revokes a token, durably; it is refused from the next call on.
    pub fn revoke_token(&self, token: &str) -> Result<(), Error> {
        if !auth::is_well_formed(token) {
            return Err(Error::InvalidArgument("malformed token".into()));
        }
        let h = auth::hash(token);
        if auth::find(&self.inner.state.read().tokens, &h).is_none() {
            return Err(Error::NotFound("unknown or already revoked token".into()));
        }
        self.log_and_apply(&record::encode_revoke_token(&h), |st| st.tokens.retain(|t| t.hash != h))
    }

    /// Checks a token for `perm` on `database`: `Err` is the 401 answer.
    /// API.md's order: token, then permission (a database that does not
    /// exist is the caller's next check, 404).
    pub fn authorize(&self, token: Option<&str>, database: &str, perm: u32) -> Result<(), Outcome> {
        if self.inner.opts.no_auth {
            return Ok(());
        }
        let token = match token {
            None | Some("") => return Err(Outcome::error(401, "missing token")),
            Some(t) => t,
        };
        if !auth::is_well_formed(token) {
            return Err(Outcome::error(401, "malformed token"));
        }
        let st = self.inner.state.read();
        let Some(t) = auth::find(&st.tokens, &auth::hash(token)) else {
            return Err(Outcome::error(401, "unknown or revoked token"));
        };
        if !t.allows(database, perm) {
            let what = if perm == auth::PERM_WRITE { "write" } else { "read" };
            return Err(Outcome::error(401, format!("token may not {what} database {database:?}")));
        }
        Ok(())
    }

    /// [`Engine::write`] for a caller presenting `token` (C's `linedb_write`).
    pub fn write_as(
        &self,
        database: &str,
        token: Option<&str>,
        lines: &[u8],
        precision: crate::line_protocol::Precision,
    ) -> Outcome {
        if let Err(out) = self.authorize(token, database, auth::PERM_WRITE) {
            self.inner.writes_rejected.fetch_add(1, Ordering::Relaxed);
            return out;
        }
        self.write(database, lines, precision)
    }

    /// [`Engine::query`] for a caller presenting `token` (C's `linedb_query`).
    pub fn query_as(
        &self,
        database: &str,
        token: Option<&str>,
        measurement: Option<&str>,
        start_ns: i64,
        end_ns: i64,
        f: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Outcome {
        if let Err(out) = self.authorize(token, database, auth::PERM_READ) {
            return out;
        }
        self.query(database, measurement, start_ns, end_ns, f)
    }

    /// Appends one record that is not a batch, syncs, and applies it, after
    /// every commit group on its way: it must apply in sequence order too.
    fn log_and_apply(&self, payload: &[u8], apply: impl FnOnce(&mut State)) -> Result<(), Error> {
        let inner = &self.inner;
        let mut wal = inner.writer.lock();
        inner.check_failed()?;
        commit::drain(inner, &wal);
        let seq = match wal.append(&[payload]) {
            Ok(seq) => seq,
            Err(crate::wal::WalError::NoSpace(e)) => return Err(Error::Io(e)),
            Err(e) => return Err(inner.fail(format!("WAL append: {e}"))),
        };
        let synced = wal.sync();
        if let Err(e) = synced {
            let err = inner.fail(format!("WAL sync: {e}"));
            commit::pass_turn(inner, seq + 1);
            return Err(err);
        }
        inner.wal_bytes.store(wal.backlog_bytes(), Ordering::Relaxed);
        {
            let mut st = inner.state.write();
            apply(&mut st);
            st.applied_seq = seq;
        }
        commit::pass_turn(inner, seq + 1);
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates a database, durably.
    pub fn create_database(&self, name: &str) -> Result<(), Error> {
        check_database_name(name)?;
        // Under the commit lock, so two creations cannot take one id.
        let _one = self.inner.creating.lock();
        let id = {
            let st = self.inner.state.read();
            if st.dbs.contains_key(name) {
                return Err(Error::AlreadyExists(format!("database {name:?} exists")));
            }
            st.next_db_id.max(1)
        };
        self.log_and_apply(&record::encode_create_database(id, name), |st| {
            st.dbs.insert(name.to_owned(), state::Database::new(id, name.to_owned()));
            st.next_db_id = id + 1;
        })
    }

    /// Database names, sorted.
    pub fn databases(&self) -> Vec<String> {
        self.inner.state.read().dbs.keys().cloned().collect()
    }

    /// Writes a batch of line protocol; lines without a timestamp get the
    /// current time. See API.md's write status table.
    pub fn write(&self, database: &str, lines: &[u8], precision: crate::line_protocol::Precision) -> Outcome {
        self.write_at(database, lines, precision, now_ns())
    }

    /// [`Engine::write`] with the time of the call given.
    pub fn write_at(
        &self,
        database: &str,
        lines: &[u8],
        precision: crate::line_protocol::Precision,
        now_ns: i64,
    ) -> Outcome {
        let out = write::write(&self.inner, database, lines, precision, now_ns);
        let counter = if out.status == 204 { &self.inner.writes_accepted } else { &self.inner.writes_rejected };
        counter.fetch_add(1, Ordering::Relaxed);
        // After a 503 too: a backlog that reached the limit while
        // checkpoints were held off (a scrub) must not stay there.
        if matches!(out.status, 204 | 503)
            && self.inner.wal_bytes.load(Ordering::Relaxed) >= self.inner.opts.checkpoint_wal_bytes
        {
            // Best effort: a failure here has failed the store, and the next
            // write says so.
            let _ = self.checkpoint_if_idle();
        }
        out
    }

    /// Calls `f` with each stored point with `start_ns <= time < end_ns`
    /// as canonical line protocol, in API.md's order; `f` returns false to
    /// stop. Answers 200 with the number of lines delivered.
    pub fn query(
        &self,
        database: &str,
        measurement: Option<&str>,
        start_ns: i64,
        end_ns: i64,
        f: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Outcome {
        query::query(&self.inner, database, measurement, start_ns, end_ns, f)
    }

    /// Writes the points of `measurement` in `database` with
    /// `start_ns <= time < end_ns` to a new Parquet file at `path` (merged
    /// as [`Engine::query`] merges them; columns as [`crate::export`]
    /// describes). 200 with the rows written; 400 when `path` exists or
    /// cannot be made (its directory missing, not writable); 404 for an
    /// unknown database or measurement; 500 damage or a failed store; 503
    /// out of space or descriptors. Nothing is left at `path` unless 200.
    #[cfg(feature = "parquet")]
    pub fn export_parquet(&self, database: &str, measurement: &str, start_ns: i64, end_ns: i64, path: &Path) -> Outcome {
        export::export_parquet(&self.inner, database, measurement, start_ns, end_ns, path)
    }

    /// [`Engine::export_parquet`] for a caller presenting `token` (read
    /// permission on `database`).
    #[cfg(feature = "parquet")]
    pub fn export_parquet_as(
        &self,
        database: &str,
        token: Option<&str>,
        measurement: &str,
        start_ns: i64,
        end_ns: i64,
        path: &Path,
    ) -> Outcome {
        if let Err(out) = self.authorize(token, database, auth::PERM_READ) {
            return out;
        }
        self.export_parquet(database, measurement, start_ns, end_ns, path)
    }

    /// Runs InfluxQL statements (`;`-separated) against `database` and
    /// writes `influxd`'s `/query` JSON answer to `sink` in pieces (see
    /// [`crate::query`] and `docs/influxql.md`). 200 when the statements
    /// ran (a statement's own error is in the document), 400 when the text
    /// does not parse, 404 for an unknown database, 500/503 when reading
    /// failed. `count` is the statements run.
    pub fn influxql(
        &self,
        database: &str,
        text: &str,
        opts: crate::query::Options,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Outcome {
        let mut out = crate::query::result::JsonOut::new(sink, opts.epoch);
        self.influxql_to(database, text, opts.now_ns, &mut out)
    }

    /// [`Engine::influxql`] with the answers given to `out` (typed, not
    /// JSON); `now_ns` is the instant `now()` means.
    pub fn influxql_to(&self, database: &str, text: &str, now_ns: i64, out: &mut dyn crate::query::Output) -> Outcome {
        let exists = self.inner.state.read().dbs.contains_key(database);
        let store = influxql::DbStore { inner: &self.inner, database };
        let store: Option<&dyn crate::query::Store> = if exists { Some(&store) } else { None };
        let ran = crate::query::run_to(store, database, text, now_ns, out);
        Outcome { count: ran.statements, ..Outcome::error(ran.status, ran.message) }
    }

    /// [`Engine::influxql_to`] for a caller presenting `token`.
    pub fn influxql_to_as(
        &self,
        database: &str,
        token: Option<&str>,
        text: &str,
        now_ns: i64,
        out: &mut dyn crate::query::Output,
    ) -> Outcome {
        if let Err(out) = self.authorize(token, database, auth::PERM_READ) {
            return out;
        }
        self.influxql_to(database, text, now_ns, out)
    }

    /// [`Engine::influxql_arrow`] for a caller presenting `token`.
    #[cfg(feature = "arrow")]
    pub fn influxql_arrow_as(
        &self,
        database: &str,
        token: Option<&str>,
        text: &str,
        now_ns: i64,
    ) -> Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>), Outcome> {
        self.authorize(token, database, auth::PERM_READ)?;
        self.influxql_arrow(database, text, now_ns)
    }

    /// One InfluxQL statement's answer as Arrow record batches (see
    /// [`crate::query::arrow`]): the schema and a batch per series; `Err`
    /// 400 when the text does not parse, holds other than one statement,
    /// or the statement answers an error (the message says it); 404, 500,
    /// 503 as [`Engine::influxql`].
    #[cfg(feature = "arrow")]
    pub fn influxql_arrow(
        &self,
        database: &str,
        text: &str,
        now_ns: i64,
    ) -> Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>), Outcome> {
        /// Keeps the one statement's answer.
        struct One(Vec<crate::query::Answer>);
        impl crate::query::Output for One {
            fn parse_error(&mut self, _: &str) {}
            fn statement(&mut self, _: usize, answer: &crate::query::Answer) -> bool {
                self.0.push(answer.clone());
                true
            }
            fn end(&mut self) {}
        }
        let mut one = One(Vec::new());
        let out = self.influxql_to(database, text, now_ns, &mut one);
        if out.status != 200 {
            return Err(out);
        }
        match one.0.as_slice() {
            [crate::query::Answer::Series(series)] => crate::query::arrow::batches(series)
                .map_err(|e| Outcome::error(500, format!("building the Arrow answer: {e}"))),
            [crate::query::Answer::Error(e)] => Err(Outcome::error(400, e.clone())),
            answers => Err(Outcome::error(
                400,
                format!("an Arrow answer is of one statement; the text holds {}", answers.len()),
            )),
        }
    }

    /// [`Engine::influxql`] for a caller presenting `token` (read
    /// permission on `database`).
    pub fn influxql_as(
        &self,
        database: &str,
        token: Option<&str>,
        text: &str,
        opts: crate::query::Options,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Outcome {
        if let Err(out) = self.authorize(token, database, auth::PERM_READ) {
            return out;
        }
        self.influxql(database, text, opts, sink)
    }

    /// Sets the most segment files the store keeps open (and mapped) while
    /// idle; 0 restores the default ([`Options::max_open_segments`]). Past
    /// it, the least recently used idle ones are closed now.
    pub fn set_max_open_segments(&self, n: usize) {
        let n = if n == 0 { crate::segment::DEFAULT_MAX_OPEN_SEGMENTS } else { n };
        self.inner.files.cache.set_capacity(n);
    }

    /// Sets the size of the WAL files made from now on (0: the default,
    /// 8 MiB); `InvalidArgument` below 256 bytes.
    pub fn set_wal_file_bytes(&self, bytes: u64) -> Result<(), Error> {
        let bytes = if bytes == 0 { Options::default().wal_file_bytes } else { bytes };
        self.inner.writer.lock().set_file_size(bytes).map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    /// The most segment files the store keeps open while idle.
    pub fn max_open_segments(&self) -> usize {
        self.inner.files.cache.capacity()
    }

    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let wal_syncs = inner.writer.lock().record_syncs();
        let (segment_opens, segment_closes) = inner.files.cache.opens_and_closes();
        let st = inner.state.read();
        let mut s = Stats {
            wal_syncs,
            open_segments: inner.files.cache.open_count() as u64,
            segment_opens,
            segment_closes,
            databases: st.dbs.len() as u64,
            wal_bytes: inner.wal_bytes.load(Ordering::Relaxed),
            writes_accepted: inner.writes_accepted.load(Ordering::Relaxed),
            writes_rejected: inner.writes_rejected.load(Ordering::Relaxed),
            last_sequence: st.applied_seq,
            seals: inner.sealed_total.load(Ordering::Relaxed),
            ..Stats::default()
        };
        for db in st.dbs.values() {
            for t in db.tables.values() {
                for p in t.partitions.values() {
                    s.partitions += 1;
                    let sealed_seq = p.sealed_seq();
                    for seg in &p.segments {
                        s.segment_bytes += seg.used_len();
                        s.points += seg.rows_above(sealed_seq);
                    }
                    for f in &p.sealed {
                        s.points += f.rows;
                    }
                }
            }
        }
        s
    }

    /// The type `field` has in the partition of `measurement` that `time_ns`
    /// falls in; `None` when not set.
    pub fn field_type(
        &self,
        database: &str,
        measurement: &str,
        time_ns: i64,
        field: &str,
    ) -> Result<Option<FieldType>, Error> {
        let st = self.inner.state.read();
        let db = st.dbs.get(database).ok_or_else(|| Error::NotFound(format!("database {database:?} not found")))?;
        Ok(db.schema.field_type(measurement, Day::of(time_ns), field))
    }

    /// Every partition of a database, by measurement then day.
    pub fn partitions(&self, database: &str) -> Result<Vec<PartitionInfo>, Error> {
        let st = self.inner.state.read();
        let db = st.dbs.get(database).ok_or_else(|| Error::NotFound(format!("database {database:?} not found")))?;
        let mut names: Vec<&String> = db.tables.keys().collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            for (day, p) in &db.tables[name].partitions {
                let mut info = PartitionInfo { measurement: name.clone(), day: *day, points: 0, bytes: 0 };
                let sealed_seq = p.sealed_seq();
                for seg in &p.segments {
                    info.bytes += seg.used_len();
                    info.points += seg.rows_above(sealed_seq);
                }
                for f in &p.sealed {
                    info.bytes += f.bytes;
                    info.points += f.rows;
                }
                out.push(info);
            }
        }
        Ok(out)
    }

    /// Reads every stored byte (catalog, segments, the log's live records)
    /// and checks it against its checksum; writes go on meanwhile. Damage
    /// is in the report, not an error: `Err` only when a file could not be
    /// read. A damaged segment block found here is never answered from
    /// afterwards.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        self.inner.check_failed()?;
        verify::verify(&self.inner)
    }

    /// Makes every segment durable, persists the catalog, and trims the WAL.
    pub fn checkpoint(&self) -> Result<(), Error> {
        self.restart_maintenance();
        checkpoint::run_one(&self.inner, checkpoint::Then::GoOn)
    }

    /// Starts the maintenance thread if it should run and could not be
    /// started at open (the process had no room for one more thread).
    fn restart_maintenance(&self) {
        if self.inner.opts.background_sealing && !self.inner.stopping() {
            self.maintenance.start(&self.inner);
        }
    }

    /// Runs now, on the calling thread, one pass of what the background
    /// thread runs each second: makes the write-ahead log's next file ahead
    /// of need (so that the write that fills the current one does not make
    /// it), and seals the partitions that are due ([`Options::seal_after`],
    /// [`Options::seal_past_after`]). For a store opened without background
    /// work (`background_sealing: false`), so that the program decides
    /// when it runs; harmless beside the thread. Returns how many
    /// partitions it sealed; a spare file that could not be made is not an
    /// error (the write that needs a file makes it).
    pub fn maintain(&self) -> Result<usize, Error> {
        maintenance::pass(&self.inner)
    }

    /// Seals every partition that has blocks not sealed yet, whether due or
    /// not, makes it durable (a checkpoint), and removes the segments the
    /// sealed files replaced. Returns how many partitions it sealed.
    pub fn compact(&self) -> Result<usize, Error> {
        let sealed = seal::seal(&self.inner, seal::Due::All)?;
        if sealed == 0 {
            // Nothing to seal: still durable on return, as promised.
            self.checkpoint()?;
        }
        Ok(sealed)
    }

    fn checkpoint_if_idle(&self) -> Result<(), Error> {
        self.restart_maintenance();
        match self.inner.checkpoint_lock.try_lock() {
            Some(_one) => {
                let r = checkpoint::run(&self.inner, checkpoint::Then::GoOn);
                memory::give_back();
                r
            }
            None => Ok(()),
        }
    }
}

impl Inner {
    /// The engine's clock: milliseconds since open.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether closing has begun or the maintenance thread was told to
    /// stop: background work gives up.
    fn stopping(&self) -> bool {
        self.closing.load(Ordering::Acquire) || self.stop.is_set()
    }

    fn check_failed(&self) -> Result<(), Error> {
        if self.is_failed() {
            Err(self.failed_error())
        } else {
            Ok(())
        }
    }

    fn failed_error(&self) -> Error {
        Error::Failed(self.failure.lock().clone())
    }

    /// Puts the store in the failed state (DESIGN.md: after a failed fsync
    /// the page cache cannot be trusted) and returns the error to report.
    /// Whether the store has failed, also by a flush the segment cache
    /// made while closing a file.
    fn is_failed(&self) -> bool {
        if self.failed.load(Ordering::Acquire) {
            return true;
        }
        match self.files.cache.take_failure() {
            Some(why) => {
                self.fail(why);
                true
            }
            None => false,
        }
    }

    fn fail(&self, why: String) -> Error {
        let mut f = self.failure.lock();
        if !self.failed.swap(true, Ordering::AcqRel) {
            *f = why;
        }
        Error::Failed(f.clone())
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map(|n| -n).unwrap_or(i64::MIN),
    }
}
