//! Tokens: what a well-formed one looks like, how one is made, and how one
//! is stored (its SHA-256 hash, never the token) and checked.
//!
//! A token is `ldb_` and 40 characters of `[0-9A-Za-z]` from the OS's random
//! source (about 238 bits). Anything else is malformed: a caller is told so
//! before any lookup. Lookups compare hashes in constant time over every
//! stored token, so timing says nothing about which bytes matched.

use sha2::{Digest, Sha256};

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "ldb_";
/// Random characters after the prefix.
pub const TOKEN_RANDOM_LEN: usize = 40;
/// Length of every token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + TOKEN_RANDOM_LEN;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Read permission (queries).
pub const PERM_READ: u32 = 1;
/// Write permission (writes).
pub const PERM_WRITE: u32 = 2;
/// Every permission bit that means something.
pub const PERM_ALL: u32 = PERM_READ | PERM_WRITE;

/// The database name that stands for every database.
pub const ANY_DATABASE: &str = "*";

/// A token as stored: its hash, the database it is for, its permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    pub hash: [u8; 32],
    pub database: String,
    pub perms: u32,
}

impl StoredToken {
    /// Whether this token grants `perm` on `database`.
    pub fn allows(&self, database: &str, perm: u32) -> bool {
        self.perms & perm == perm && (self.database == ANY_DATABASE || self.database == database)
    }
}

/// Whether `token` has the shape of a token.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token.as_bytes()[TOKEN_PREFIX.len()..].iter().all(|b| ALPHABET.contains(b))
}

/// A new random token.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(TOKEN_LEN);
    out.push_str(TOKEN_PREFIX);
    // Rejection sampling keeps every character uniform: bytes >= 248 (the
    // largest multiple of 62 that fits a byte) are drawn again.
    let mut buf = [0u8; 64];
    while out.len() < TOKEN_LEN {
        getrandom::fill(&mut buf)?;
        for &b in &buf {
            if b < 248 && out.len() < TOKEN_LEN {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equality of two hashes in time that does not depend on where they differ.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Keep the compiler from turning the fold back into an early exit.
    std::hint::black_box(diff) == 0
}

/// The stored token whose hash is `h`, looking at every one.
pub fn find<'t>(tokens: &'t [StoredToken], h: &[u8; 32]) -> Option<&'t StoredToken> {
    let mut found = None;
    for t in tokens {
        if hashes_equal(&t.hash, h) {
            found = Some(t);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(is_well_formed(&a) && is_well_formed(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
    }

    #[test]
    fn malformed_tokens() {
        let good = generate().unwrap();
        assert!(is_well_formed(&good));
        for bad in [
            String::new(),
            "ldb_".to_owned(),
            good[..TOKEN_LEN - 1].to_owned(),
            format!("{good}x"),
            good.replacen("ldb_", "LDB_", 1),
            format!("{}-", &good[..TOKEN_LEN - 1]),
            format!("{}é", &good[..TOKEN_LEN - 2]),
        ] {
            assert!(!is_well_formed(&bad), "{bad:?}");
        }
    }

    #[test]
    fn lookup_and_permissions() {
        let t1 = generate().unwrap();
        let t2 = generate().unwrap();
        let stored = vec![
            StoredToken { hash: hash(&t1), database: "db".into(), perms: PERM_READ },
            StoredToken { hash: hash(&t2), database: ANY_DATABASE.into(), perms: PERM_ALL },
        ];
        let s1 = find(&stored, &hash(&t1)).unwrap();
        assert!(s1.allows("db", PERM_READ) && !s1.allows("db", PERM_WRITE) && !s1.allows("other", PERM_READ));
        let s2 = find(&stored, &hash(&t2)).unwrap();
        assert!(s2.allows("anything", PERM_WRITE) && s2.allows("x", PERM_READ | PERM_WRITE));
        // Case matters.
        assert!(find(&stored, &hash(&t1.to_uppercase())).is_none() || t1 == t1.to_uppercase());
        assert!(!hashes_equal(&hash("a"), &hash("b")));
    }
}
