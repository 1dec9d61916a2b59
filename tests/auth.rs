//! Tokens and the 401 rows of API.md's status table, in API.md's order of
//! checks: token, permission, database (404), batch (400).

mod common;

use common::*;
use linedb::auth::{PERM_READ, PERM_WRITE};
use linedb::engine::{Engine, Error, Options};
use linedb::line_protocol::Precision;

fn open_auth(dir: &std::path::Path) -> Engine {
    Engine::open(dir, small_options()).unwrap()
}

fn w(e: &Engine, db: &str, token: Option<&str>, lines: &str) -> linedb::engine::Outcome {
    e.write_as(db, token, lines.as_bytes(), Precision::Nanosecond)
}

fn q(e: &Engine, db: &str, token: Option<&str>) -> (u16, Vec<String>) {
    let mut out = Vec::new();
    let r = e.query_as(db, token, None, i64::MIN, i64::MAX, &mut |l| {
        out.push(String::from_utf8(l.to_vec()).unwrap());
        true
    });
    (r.status, out)
}

#[test]
fn every_401_row_and_nothing_stored() {
    let t = TempDir::new("401");
    let e = open_auth(&t.store());
    e.create_database("db").unwrap();
    e.create_database("other").unwrap();
    let rw = e.create_token("db", PERM_READ | PERM_WRITE).unwrap();
    let ro = e.create_token("db", PERM_READ).unwrap();
    let wo_other = e.create_token("other", PERM_WRITE).unwrap();
    let revoked = e.create_token("db", PERM_WRITE).unwrap();
    e.revoke_token(&revoked).unwrap();
    let unknown = format!("ldb_{}", "A".repeat(40));
    let files = snapshot_files(&t.store());
    let cases: [(Option<&str>, &str); 8] = [
        (None, "missing token"),
        (Some(""), "missing token"),
        (Some("Bearer xyz"), "malformed token"),
        (Some(&rw[..rw.len() - 1]), "malformed token"),
        (Some(&unknown), "unknown or revoked token"),
        (Some(&revoked), "unknown or revoked token"),
        (Some(&ro), "token may not write database \"db\""),
        (Some(&wo_other), "token may not write database \"db\""),
    ];
    for (token, msg) in cases {
        let r = w(&e, "db", token, "m f=1 1");
        assert_eq!((r.status, r.message.as_str()), (401, msg), "{token:?}");
        assert_eq!(r.count, 0);
    }
    // Case matters.
    let upper = format!("ldb_{}", rw[4..].to_ascii_uppercase());
    if upper != rw {
        assert_eq!(w(&e, "db", Some(&upper), "m f=1 1").status, 401);
    }
    assert_eq!(snapshot_files(&t.store()), files);
    assert_eq!(e.stats().writes_rejected, 9 - u64::from(upper == rw));
    // The right token writes; a read-only one reads.
    assert_eq!(w(&e, "db", Some(&rw), "m f=1 1").status, 204);
    assert_eq!(q(&e, "db", Some(&ro)), (200, vec!["m f=1 1".to_string()]));
    // Queries need read permission.
    assert_eq!(q(&e, "other", Some(&wo_other)).0, 401);
    assert_eq!(q(&e, "db", None).0, 401);
}

#[test]
fn checks_run_in_api_order() {
    let t = TempDir::new("order");
    let e = open_auth(&t.store());
    e.create_database("db").unwrap();
    let any = e.create_token("*", PERM_WRITE).unwrap();
    let scoped = e.create_token("later", PERM_WRITE).unwrap();
    // Token before database: an unknown database with a bad token is 401.
    assert_eq!(w(&e, "nope", Some("bad"), "m f=1").status, 401);
    // Permission before database: a token for another name is 401, not 404.
    assert_eq!(w(&e, "nope", Some(&scoped), "m f=1").status, 401);
    // A token that may write that name gets 404 for a missing database...
    let r = w(&e, "nope", Some(&any), "m f=1");
    assert_eq!(r.status, 404);
    assert!(r.message.contains("\"nope\""));
    let r = w(&e, "later", Some(&scoped), "m f=1");
    assert_eq!(r.status, 404);
    // ...and works once it exists: a token may be made before its database.
    e.create_database("later").unwrap();
    assert_eq!(w(&e, "later", Some(&scoped), "m f=1i 1").status, 204);
    // Database before batch: a bad batch to a missing database is 404.
    assert_eq!(w(&e, "nope", Some(&any), "m f=").status, 404);
    // Permission before batch: a bad batch with a bad token is 401.
    assert_eq!(w(&e, "db", None, "m f=").status, 401);
    assert_eq!(w(&e, "db", Some(&any), "m f=").status, 400);
}

#[test]
fn tokens_and_revocations_survive_reopen() {
    let t = TempDir::new("tokens-reopen");
    let (keep, gone, later_gone);
    {
        let e = open_auth(&t.store());
        e.create_database("db").unwrap();
        keep = e.create_token("db", PERM_WRITE | PERM_READ).unwrap();
        gone = e.create_token("db", PERM_WRITE).unwrap();
        e.revoke_token(&gone).unwrap();
        e.checkpoint().unwrap();
        later_gone = e.create_token("*", PERM_WRITE).unwrap();
        assert_eq!(w(&e, "db", Some(&later_gone), "m f=1 1").status, 204);
        // Revocation takes effect at once.
        e.revoke_token(&later_gone).unwrap();
        assert_eq!(w(&e, "db", Some(&later_gone), "m f=1 2").status, 401);
        assert!(matches!(e.revoke_token(&later_gone), Err(Error::NotFound(_))));
        // Dropped without close: the last ones are only in the WAL.
    }
    let e = open_auth(&t.store());
    assert_eq!(w(&e, "db", Some(&keep), "m f=2 2").status, 204);
    assert_eq!(w(&e, "db", Some(&gone), "m f=3 3").status, 401);
    assert_eq!(w(&e, "db", Some(&later_gone), "m f=3 3").status, 401);
    e.close().unwrap();
    let e = open_auth(&t.store());
    assert_eq!(q(&e, "db", Some(&keep)).1.len(), 2);
    assert_eq!(w(&e, "db", Some(&later_gone), "m f=3 3").status, 401);
}

#[test]
fn token_arguments_are_checked() {
    let t = TempDir::new("token-args");
    let e = open_auth(&t.store());
    for perms in [0, 4, 7, u32::MAX] {
        assert!(matches!(e.create_token("db", perms), Err(Error::InvalidArgument(_))), "{perms}");
    }
    assert!(matches!(e.create_token("a/b", PERM_READ), Err(Error::InvalidArgument(_))));
    assert!(matches!(e.create_token("", PERM_READ), Err(Error::InvalidArgument(_))));
    assert!(matches!(e.revoke_token("nonsense"), Err(Error::InvalidArgument(_))));
    assert!(matches!(e.revoke_token(&format!("ldb_{}", "z".repeat(40))), Err(Error::NotFound(_))));
    let tok = e.create_token("*", PERM_READ).unwrap();
    assert!(tok.starts_with("ldb_") && tok.len() == 44, "{tok}");
    assert!(tok.len() < 128, "fits LINEDB_TOKEN_BUF");
    // The token itself is never stored.
    e.checkpoint().unwrap();
    for (path, bytes) in snapshot_files(&t.store()) {
        assert!(!bytes.windows(tok.len()).any(|w| w == tok.as_bytes()), "token found in {}", path.display());
    }
}

#[test]
fn no_auth_needs_no_token() {
    let t = TempDir::new("noauth");
    let e = Engine::open(t.store(), Options { no_auth: true, ..small_options() }).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(w(&e, "db", None, "m f=1 1").status, 204);
    assert_eq!(w(&e, "db", Some("whatever"), "m f=2 2").status, 204);
    assert_eq!(q(&e, "db", None).1.len(), 2);
    assert_eq!(w(&e, "nope", None, "m f=1").status, 404);
}

#[test]
fn writes_while_closing_are_503() {
    let t = TempDir::new("closing");
    let e = Engine::open(t.store(), Options { no_auth: true, ..small_options() }).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(w(&e, "db", None, "m f=1 1").status, 204);
    e.shut_down().unwrap();
    let r = w(&e, "db", None, "m f=2 2");
    assert_eq!(r.status, 503);
    assert!(r.retry_after_secs >= 1);
    drop(e);
    let e = open(&t.store());
    assert_eq!(all(&e, "db"), ["m f=1 1"]);
}
