//! The bad-input catalogue: every class of bad input linedb takes, from a
//! line of a batch to a damaged file, each with the exact error it gets.
//! A rejected write must leave the store's directory byte-identical (and
//! its counters unchanged); a refused open must not touch the files it
//! refused.
//!
//! The classes are counted as they run; the test fails if fewer than 25
//! ran. RELIABILITY.md lists them.

mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::ptr;

use common::*;
use linedb::auth::{PERM_READ, PERM_WRITE};
use linedb::engine::{Engine, Error, Options};
use linedb::error::OpenError;
use linedb::ffi;
use linedb::line_protocol::{Batch, ParseError, Precision};
use linedb::schema::{Limits, Schema};
use linedb::validate::{check_batch, BatchError, ValidateError};

const SEED: &str = "cpu,host=a usage=1.5,count=1i 1000\nmem,host=a free=10i 1000\n";

fn limits() -> Limits {
    Limits { max_columns_per_table: 6, max_tables_per_database: 3 }
}

/// The classes that ran, in order.
#[derive(Default)]
struct Catalogue(Vec<String>);

impl Catalogue {
    fn ran(&mut self, class: &str) {
        assert!(!self.0.iter().any(|c| c == class), "class {class:?} twice");
        self.0.push(class.to_owned());
    }
}

/// The store's files, and the counters a write would move.
fn state(e: &Engine, dir: &Path) -> (Vec<(PathBuf, Vec<u8>)>, u64, u64, u64) {
    let s = e.stats();
    (snapshot_files(dir), s.points, s.wal_bytes, s.last_sequence)
}

type Matcher = fn(&BatchError) -> bool;

#[test]
fn bad_input_catalogue() {
    let mut cat = Catalogue::default();
    let t = TempDir::new("catalogue");
    let dir = t.store();
    let e = Engine::open(&dir, Options { limits: limits(), ..small_options() }).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", SEED).status, 204);
    // The schema the engine holds now, mirrored to compute each rejection.
    let mut schema = Schema::new();
    let mut b = Batch::default();
    let v = check_batch(SEED.as_bytes(), Precision::Nanosecond, 0, &schema, &limits(), &mut b).unwrap();
    schema.apply(&v.changes);

    // ---- batches refused with 400, by parser or validator --------------
    let long_name = format!("{} v=1 1", "m".repeat(70_000));
    let wide = "cpu,host=a usage=1.5,count=1i,f1=1,f2=2,f3=3 1000";
    let cases: Vec<(&str, Vec<u8>, Matcher)> = vec![
        ("parse: missing measurement", b",host=a v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::MissingMeasurement { .. }))
        }),
        ("parse: NUL in measurement", b"c\0pu v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::NulInMeasurement { .. }))
        }),
        ("parse: name ends with a backslash", b"cpu,host=a\\".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::EndsWithBackslash { .. }))
        }),
        ("parse: name over 64 KiB", long_name.into_bytes(), |e| {
            matches!(e, BatchError::Parse(ParseError::TooLong { .. }))
        }),
        ("parse: empty tag key", b"cpu,=a v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::EmptyTagKey { .. }))
        }),
        ("parse: tag without '='", b"cpu,host v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::MissingTagEquals { .. }))
        }),
        ("parse: empty tag value", b"cpu,host= v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::EmptyTagValue { .. }))
        }),
        ("parse: no fields", b"cpu,host=a".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::MissingFields { .. }))
        }),
        ("parse: empty field key", b"cpu =1 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::EmptyFieldKey { .. }))
        }),
        ("parse: field without '='", b"cpu v 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::MissingFieldEquals { .. }))
        }),
        ("parse: field without a value", b"cpu v= 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::MissingFieldValue { .. }))
        }),
        ("parse: integer out of range", b"cpu v=9223372036854775808i 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::InvalidInteger { .. }))
        }),
        ("parse: negative unsigned", b"cpu v=-1u 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::InvalidUnsigned { .. }))
        }),
        ("parse: malformed float", b"cpu v=1.2.3 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::InvalidFloat { .. }))
        }),
        ("parse: float overflow", b"cpu v=1e999 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::FloatOverflow { .. }))
        }),
        ("parse: unknown value", b"cpu v=yes 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::InvalidValue { .. }))
        }),
        ("parse: unterminated string", b"cpu v=\"abc 1".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::UnterminatedString { .. }))
        }),
        ("parse: malformed timestamp", b"cpu v=1 12ab".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::InvalidTimestamp { .. }))
        }),
        ("parse: timestamp out of range", b"cpu v=1 99999999999999999999".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::TimestampOutOfRange { .. }))
        }),
        ("parse: trailing space after the fields", b"cpu v=1 ".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::TrailingWhitespace { .. }))
        }),
        ("parse: unexpected character", b"cpu v=1 1 2".to_vec(), |e| {
            matches!(e, BatchError::Parse(ParseError::UnexpectedCharacter { .. }))
        }),
        ("parse: not UTF-8", b"cpu,host=a v=\"\xff\xfe\" 1".to_vec(), |e| matches!(e, BatchError::Parse(_))),
        ("validate: tag repeated with another value", b"cpu,host=a,host=b v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::DuplicateTag { .. }))
        }),
        ("validate: field repeated with another type", b"cpu v=1i,v=1.5 1".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::DuplicateFieldType { .. }))
        }),
        ("validate: reserved name", b"cpu time=1 1".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::ReservedName { .. }))
        }),
        ("validate: tag named like a stored field", b"cpu,usage=x v=1 1000".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::TagFieldCollision { .. }))
        }),
        ("validate: type conflict with the stored partition", b"cpu,host=a usage=2i 1000".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::FieldTypeConflict { .. }))
        }),
        ("validate: type conflict within the batch", b"new v=1i 1\nnew v=\"s\" 2".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::FieldTypeConflict { .. }))
        }),
        ("limit: columns per table", wide.as_bytes().to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::TooManyColumns { .. }))
        }),
        ("limit: tables per database", b"t1 v=1 1\nt2 v=1 1".to_vec(), |e| {
            matches!(e, BatchError::Invalid(ValidateError::TooManyTables { .. }))
        }),
    ];
    for (class, bad, matcher) in cases {
        // Good lines first: the first rejected line rejects them too.
        let mut lines = b"cpu,host=b usage=2.5 2000\nmem,host=b free=1i 2000\n".to_vec();
        lines.extend_from_slice(&bad);
        let want = check_batch(&lines, Precision::Nanosecond, 0, &schema, &limits(), &mut Batch::default())
            .expect_err(class);
        assert!(matcher(&want), "{class}: the batch gets {want:?}");
        let before = state(&e, &dir);
        let r = e.write_at("db", &lines, Precision::Nanosecond, 0);
        assert_eq!(r.status, 400, "{class}: {r:?}");
        assert_eq!(r.error_line, want.line(), "{class}");
        assert_eq!(r.message, want.to_string(), "{class}");
        assert!(r.error_line >= 3, "{class}: the bad line is the third or later");
        assert_eq!(state(&e, &dir), before, "{class}: the store changed");
        cat.ran(class);
    }

    // ---- 404 and 401 ------------------------------------------------------
    let before = state(&e, &dir);
    let r = write(&e, "nodb", "cpu v=1 1");
    assert_eq!((r.status, r.message.contains("nodb")), (404, true), "{r:?}");
    assert_eq!(state(&e, &dir), before);
    cat.ran("unknown database");

    let writer = e.create_token("db", PERM_WRITE).unwrap();
    let reader = e.create_token("db", PERM_READ).unwrap();
    let other = e.create_token("other", PERM_WRITE).unwrap();
    let revoked = e.create_token("db", PERM_WRITE).unwrap();
    e.revoke_token(&revoked).unwrap();
    // Tokens are compared exactly: the same token with its letters' case
    // flipped is another (unknown) token.
    let upper: String = writer
        .chars()
        .enumerate()
        .map(|(i, c)| match c {
            _ if i < 4 => c,
            'a'..='z' => c.to_ascii_uppercase(),
            _ => c.to_ascii_lowercase(),
        })
        .collect();
    assert_ne!(upper, writer);
    let tokens: [(&str, Option<&str>, &str); 8] = [
        ("token: missing", None, "missing token"),
        ("token: empty", Some(""), "missing token"),
        ("token: malformed", Some("ldb_short"), "malformed token"),
        ("token: unknown", Some("ldb_0123456789012345678901234567890123456789"), "unknown or revoked token"),
        ("token: revoked", Some(&revoked), "unknown or revoked token"),
        ("token: read-only, writing", Some(&reader), "may not write"),
        ("token: for another database", Some(&other), "may not write"),
        ("token: case changed", Some(&upper), "unknown or revoked token"),
    ];
    for (class, token, why) in tokens {
        let before = state(&e, &dir);
        let r = e.write_as("db", token, b"cpu v=1 1", Precision::Nanosecond);
        assert_eq!(r.status, 401, "{class}: {r:?}");
        assert!(r.message.contains(why), "{class}: {}", r.message);
        assert_eq!(state(&e, &dir), before, "{class}: the store changed");
        cat.ran(class);
    }
    // The good token works: the 401s were about the tokens.
    assert_eq!(e.write_as("db", Some(&writer), b"cpu,host=c usage=1.5 3000", Precision::Nanosecond).status, 204);

    // ---- names the Rust API refuses ------------------------------------
    for (class, name) in [("database name: empty", ""), ("database name: with '/'", "a/b"), ("database name: \"*\"", "*")] {
        let before = state(&e, &dir);
        assert!(matches!(e.create_database(name), Err(Error::InvalidArgument(_))), "{class}");
        assert_eq!(state(&e, &dir), before, "{class}");
        cat.ran(class);
    }
    let before = state(&e, &dir);
    assert!(matches!(e.create_database(&"x".repeat(65)), Err(Error::InvalidArgument(_))));
    assert!(matches!(e.create_token("db", 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(e.create_token("db", 8), Err(Error::InvalidArgument(_))));
    assert_eq!(state(&e, &dir), before);
    cat.ran("database name over 64 bytes; permissions out of range");
    drop(e);

    // ---- the C API: NULLs and bad lengths ---------------------------------
    c_api_classes(&mut cat, &dir);

    // ---- damaged files, versions, locks ---------------------------------
    file_classes(&mut cat, &t);

    // ---- store directories no store can live in -------------------------
    dir_classes(&mut cat, &t);

    eprintln!("{} classes:\n  {}", cat.0.len(), cat.0.join("\n  "));
    assert!(cat.0.len() >= 25, "only {} classes", cat.0.len());
}

fn new_result() -> ffi::linedb_result {
    // SAFETY: linedb_result is plain data (integers and a char array);
    // all zeros is a valid value.
    unsafe { std::mem::zeroed() }
}

fn c_api_classes(cat: &mut Catalogue, dir: &Path) {
    let path = CString::new(dir.to_string_lossy().into_owned()).unwrap();
    let mut db: *mut ffi::linedb = ptr::null_mut();
    let mut opts = ffi::linedb_options { struct_size: 0, flags: 0, max_wal_bytes: 0, max_columns_per_table: 0, max_tables_per_database: 0, max_batch_bytes: 0 };
    // SAFETY: pointers to live locals.
    unsafe { ffi::linedb_options_init(&mut opts) };
    opts.flags = 1; // LINEDB_OPEN_NO_AUTH
    // SAFETY: a NUL-terminated path, live options, out-pointer and no error.
    let code = unsafe { ffi::linedb_open(path.as_ptr(), &opts, &mut db, ptr::null_mut()) };
    assert_eq!(code as u32, 0);
    let name = CString::new("db").unwrap();
    let lines = b"cpu,host=z usage=9.5 5000";
    let not_utf8 = CString::new(b"d\xffb".to_vec()).unwrap();
    let cases: [(&str, *const std::ffi::c_char, *const std::ffi::c_char, usize, u32, &str); 4] = [
        ("C: NULL database", ptr::null(), lines.as_ptr().cast(), lines.len(), 0, "NULL"),
        ("C: NULL lines with a length", name.as_ptr(), ptr::null(), 10, 0, "NULL"),
        ("C: database name not UTF-8", not_utf8.as_ptr(), lines.as_ptr().cast(), lines.len(), 0, "UTF-8"),
        ("C: unknown precision", name.as_ptr(), lines.as_ptr().cast(), lines.len(), 9, "precision"),
    ];
    for (class, database, l, len, precision, why) in cases {
        let before = snapshot_files(dir);
        let mut res = new_result();
        // SAFETY: db is open; the pointers are NULL or valid for `len`.
        let status = unsafe { ffi::linedb_write(db, database, ptr::null(), l, len, precision as _, &mut res) };
        // SAFETY: the library NUL-terminates the message.
        let msg = unsafe { std::ffi::CStr::from_ptr(res.message.as_ptr()) }.to_string_lossy().into_owned();
        assert_eq!((status, res.status), (400, 400), "{class}: {msg}");
        assert!(msg.contains(why), "{class}: {msg}");
        assert_eq!(snapshot_files(dir), before, "{class}: the store changed");
        cat.ran(class);
    }
    // A zero-length batch with NULL lines is an empty batch, not an error.
    let mut res = new_result();
    // SAFETY: as above, len 0.
    let status = unsafe { ffi::linedb_write(db, name.as_ptr(), ptr::null(), ptr::null(), 0, 0, &mut res) };
    assert_eq!(status, 204);
    // SAFETY: db is open and closed once.
    assert_eq!(unsafe { ffi::linedb_close(db, ptr::null_mut()) } as u32, 0);
}

/// Opens `dir` expecting a refusal that names `file`; the files are
/// unchanged after it.
fn refused(dir: &Path, class: &str, check: impl Fn(&OpenError) -> bool) {
    let before = snapshot_files(dir);
    match Engine::open(dir, small_options()) {
        Ok(_) => panic!("{class}: the store opened"),
        Err(e) => assert!(check(&e), "{class}: {e:?}"),
    }
    assert_eq!(snapshot_files(dir), before, "{class}: a refused open changed files");
}

fn store_with_data(t: &TempDir, name: &str, checkpoint: bool) -> PathBuf {
    let dir = t.0.join(name);
    let e = Engine::open(&dir, small_options()).unwrap();
    e.create_database("db").unwrap();
    for i in 0..5 {
        assert_eq!(write(&e, "db", &format!("cpu,host=a v={i}i {i}000")).status, 204);
    }
    if checkpoint {
        e.close().unwrap();
    }
    dir
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

fn wal_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal") && p.file_name().is_some_and(|n| n != "spare.wal"))
        .collect();
    files.sort();
    files.remove(0)
}

fn file_classes(cat: &mut Catalogue, t: &TempDir) {
    // A checksum mismatch in a WAL record followed by valid records.
    let dir = store_with_data(t, "wal-crc", false);
    let wal = wal_file(&dir);
    edit(&wal, |b| {
        // The first record's payload starts after the file header (40) and
        // the record header; flip a byte inside it.
        b[40 + 28] ^= 0x40;
    });
    refused(&dir, "file: WAL record checksum, valid records after", |e| {
        matches!(e, OpenError::Corrupt { path, .. } if path == &wal)
    });
    cat.ran("file: WAL record checksum, valid records after");

    // The catalog: a flipped byte, a truncation, a future version.
    let dir = store_with_data(t, "catalog", true);
    let catalog = dir.join("catalog");
    let good = std::fs::read(&catalog).unwrap();
    edit(&catalog, |b| {
        let n = b.len();
        b[n - 3] ^= 1;
    });
    refused(&dir, "file: catalog checksum", |e| matches!(e, OpenError::Corrupt { path, .. } if path == &catalog));
    cat.ran("file: catalog checksum");
    std::fs::write(&catalog, &good[..good.len() - 5]).unwrap();
    refused(&dir, "file: catalog truncated", |e| matches!(e, OpenError::Corrupt { path, .. } if path == &catalog));
    cat.ran("file: catalog truncated");
    let mut v2 = good.clone();
    v2[8..12].copy_from_slice(&4u32.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&v2[8..20]);
    h.update(&v2[24..]);
    let crc = h.finalize();
    v2[20..24].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&catalog, &v2).unwrap();
    refused(&dir, "file: unknown format version", |e| {
        matches!(e, OpenError::Version { path, found: 4, supported: 3 } if path == &catalog)
    });
    cat.ran("file: unknown format version");
    std::fs::write(&catalog, &good).unwrap();

    // A segment cut below the length the catalog trusts.
    let seg = find_segment(&dir);
    let len = std::fs::metadata(&seg).unwrap().len();
    let used = used_len(&seg);
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(used - 8).unwrap();
    refused(&dir, "file: segment truncated below its checkpoint", |e| {
        matches!(e, OpenError::Corrupt { path, .. } if path == &seg)
    });
    cat.ran("file: segment truncated below its checkpoint");
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len).unwrap();
    let _ = std::fs::remove_file(&seg);

    // A directory another handle holds; a path that is a file.
    let held = Engine::open(t.0.join("held"), small_options()).unwrap();
    refused(&t.0.join("held"), "locked directory", |e| matches!(e, OpenError::Locked { .. }));
    drop(held);
    cat.ran("locked directory");
    let file = t.0.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(Engine::open(&file, small_options()).is_err());
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    cat.ran("store path is a file");
}

fn find_segment(dir: &Path) -> PathBuf {
    let mut stack = vec![dir.join("data")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "seg") {
                return p;
            }
        }
    }
    panic!("no segment under {}", dir.display());
}

/// The end of a segment's last block: where its zeros begin.
fn used_len(seg: &Path) -> u64 {
    let b = std::fs::read(seg).unwrap();
    let end = b.iter().rposition(|&x| x != 0).unwrap_or(0);
    end as u64 + 1
}

/// `linedb_open` refuses, creating nothing, a `dir` that is empty, that is
/// a file, or that is too long for the files a store makes under it; and a
/// failure under a long path still names its cause within the C message.
fn dir_classes(cat: &mut Catalogue, t: &TempDir) {
    let open_c = |dir: &[u8]| -> (u32, String) {
        let path = CString::new(dir.to_vec()).unwrap();
        let mut db: *mut ffi::linedb = ptr::null_mut();
        // SAFETY: all zeros is a valid linedb_error (an integer and bytes).
        let mut err: ffi::linedb_error = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path, default options, live out-pointers.
        let code = unsafe { ffi::linedb_open(path.as_ptr(), ptr::null(), &mut db, &mut err) };
        // SAFETY: the library NUL-terminates the message.
        let msg = unsafe { std::ffi::CStr::from_ptr(err.message.as_ptr()) }.to_string_lossy().into_owned();
        if !db.is_null() {
            // SAFETY: an open handle, closed once.
            unsafe { ffi::linedb_close(db, ptr::null_mut()) };
        }
        (code as u32, msg)
    };
    const INVALID: u32 = 1;
    const IO: u32 = 5;

    // Empty: it would have meant the working directory.
    let cwd = std::env::current_dir().unwrap();
    let before = snapshot_files(&cwd.join("src"));
    let (code, msg) = open_c(b"");
    assert_eq!(code, INVALID, "{msg}");
    assert!(msg.contains("dir is empty"), "{msg}");
    assert!(!cwd.join("LOCK").exists() && !cwd.join("wal").exists(), "files made in the working directory");
    assert_eq!(snapshot_files(&cwd.join("src")), before);
    cat.ran("dir: empty");

    // A file, not a directory.
    let file = t.0.join("a-file");
    std::fs::write(&file, b"not a store").unwrap();
    let (code, msg) = open_c(file.to_str().unwrap().as_bytes());
    assert_eq!(code, INVALID, "{msg}");
    assert!(msg.contains("not a directory"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a store");
    cat.ran("dir: a file");

    // Too long for the store's own files (each component within NAME_MAX).
    let mut long = t.0.clone();
    while long.as_os_str().len() < 4070 {
        long.push("d".repeat(200));
    }
    let before = snapshot_files(&t.0);
    let (code, msg) = open_c(long.to_str().unwrap().as_bytes());
    assert_eq!(code, INVALID, "{msg}");
    assert!(msg.starts_with("cannot open the store: dir is "), "{msg}");
    assert_eq!(snapshot_files(&t.0), before, "a refused open made files");
    cat.ran("dir: too long for the store's files");

    // Long, allowed, but its parent is missing: the errno comes before the
    // path, so the 1024-byte message keeps it.
    let mut deep = t.0.join("missing");
    while deep.as_os_str().len() < 3700 {
        deep.push("e".repeat(200));
    }
    assert!(deep.as_os_str().len() < 4000);
    let (code, msg) = open_c(deep.to_str().unwrap().as_bytes());
    assert_eq!(code, IO, "{msg}");
    assert!(msg.contains("No such file or directory (os error 2)"), "{msg}");
    assert!(!t.0.join("missing").exists());
    cat.ran("dir: a long path's errno survives the message limit");
}
