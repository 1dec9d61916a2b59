//! Format stability: `tests/fixtures/store-v1/` is a store written by format
//! version 1 with blocks in row encoding 1, `store-v1-enc2/` the same with
//! encoding 2 (docs/storage.md), each with its catalog, segments, and WAL
//! records after the last checkpoint. This build must keep reading both; a
//! format change must either keep this test passing or bump the version on
//! purpose (and add a new fixture).
//!
//! To write the current fixture (`store-v1-enc2`) again:
//! `LINEDB_WRITE_FIXTURE=1 cargo test --test fixture`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use linedb::engine::{Engine, Options};
use linedb::line_protocol::{FieldType, Precision};

/// The fixtures, oldest first; this build writes the last.
const FIXTURES: [&str; 2] = ["store-v1", "store-v1-enc2"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The token the fixture's catalog holds (a test secret, nothing else).
fn token_file(name: &str) -> PathBuf {
    fixture(&format!("{name}.token"))
}

/// A token revoked in the fixture's WAL.
fn revoked_file(name: &str) -> PathBuf {
    fixture(&format!("{name}.revoked"))
}

fn fixture_options() -> Options {
    Options { wal_file_bytes: 4096, segment_bytes: 4096, ..Options::default() }
}

const CHECKPOINTED: &str = "cpu,host=a,region=eu usage=1.5,cores=4i,up=true,name=\"gw \\\"1\\\"\" 1000\n\
cpu,host=b usage=2 2000\n\
mem,host=a used=10u -5\n";
const AFTER: &str = "cpu,host=a usage=3.25 86400000000001\ncpu,host=a,region=eu usage=9 1000\n";

const EXPECTED: [&str; 5] = [
    "cpu,host=a,region=eu cores=4i,name=\"gw \\\"1\\\"\",up=true,usage=9 1000",
    "cpu,host=b usage=2 2000",
    "cpu,host=a usage=3.25 86400000000001",
    "mem,host=a used=10u -5",
    "other m=1i 7",
];

#[test]
fn write_fixture() {
    if std::env::var("LINEDB_WRITE_FIXTURE").is_err() {
        return;
    }
    let name = FIXTURES[FIXTURES.len() - 1];
    let dir = fixture(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let e = Engine::open(&dir, fixture_options()).unwrap();
    e.create_database("db").unwrap();
    e.create_database("second").unwrap();
    let token = e.create_token("db", 3).unwrap();
    std::fs::write(token_file(name), &token).unwrap();
    assert_eq!(e.write_at("db", CHECKPOINTED.as_bytes(), Precision::Nanosecond, 0).status, 204);
    assert_eq!(e.write_at("second", b"x y=1", Precision::Second, 3_000_000_000).status, 204);
    e.checkpoint().unwrap();
    assert_eq!(e.write_at("db", AFTER.as_bytes(), Precision::Nanosecond, 0).status, 204);
    assert_eq!(e.write_at("db", b"other m=1i 7", Precision::Nanosecond, 0).status, 204);
    let revoked = e.create_token("*", 2).unwrap();
    e.revoke_token(&revoked).unwrap();
    std::fs::write(revoked_file(name), &revoked).unwrap();
    // Dropped without close: the last two batches stay in the WAL only.
    drop(e);
    std::fs::remove_file(dir.join("LOCK")).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn every_fixture_opens_and_answers() {
    if std::env::var("LINEDB_WRITE_FIXTURE").is_ok() {
        return;
    }
    for name in FIXTURES {
        fixture_opens_and_answers(name);
    }
}

fn fixture_opens_and_answers(name: &str) {
    let t = TempDir::new("fixture");
    copy_dir(&fixture(name), &t.store());
    for opts in [fixture_options(), Options::default()] {
        let e = Engine::open(t.store(), opts).unwrap();
        assert_eq!(e.databases(), ["db", "second"]);
        assert_eq!(all(&e, "db"), EXPECTED);
        assert_eq!(all(&e, "second"), ["x y=1 3000000000"]);
        assert_eq!(e.field_type("db", "cpu", 0, "cores").unwrap(), Some(FieldType::Integer));
        assert_eq!(e.field_type("db", "mem", -5, "used").unwrap(), Some(FieldType::UInteger));
        assert_eq!(e.field_type("db", "cpu", 86_400_000_000_001, "usage").unwrap(), Some(FieldType::Float));
        assert_eq!(e.stats().points, 7);
        let token = std::fs::read_to_string(token_file(name)).unwrap();
        let revoked = std::fs::read_to_string(revoked_file(name)).unwrap();
        assert_eq!(e.authorize(Some(&token), "db", linedb::auth::PERM_WRITE), Ok(()));
        assert_eq!(e.authorize(Some(&token), "second", linedb::auth::PERM_READ).map_err(|o| o.status), Err(401));
        assert_eq!(e.authorize(Some(&revoked), "db", linedb::auth::PERM_WRITE).map_err(|o| o.status), Err(401));
        // It takes writes and keeps them.
        assert_eq!(write(&e, "db", "cpu,host=c usage=1 3000").status, 204);
        let r = write(&e, "db", "cpu,host=c cores=1.5 3000");
        assert_eq!(r.status, 400, "{}", r.message);
        e.close().unwrap();
        let e = Engine::open(t.store(), Options::default()).unwrap();
        assert_eq!(all(&e, "db").len(), EXPECTED.len() + 1);
        drop(e);
        // Start the second round from the fixture again.
        std::fs::remove_dir_all(t.store()).unwrap();
        copy_dir(&fixture(name), &t.store());
    }
}
