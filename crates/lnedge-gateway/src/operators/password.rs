//! Passwords: Argon2id (RFC 9106; the `argon2` crate's defaults, OWASP's minimum: 19 MiB, two
//! passes, one lane) in PHC strings, so the parameters travel with each hash and can be raised
//! later without locking anyone out.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Fewest characters a password may have (NIST SP 800-63B's floor for chosen passwords is 8;
/// an operator's account can spend money, so more).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Most bytes a password may have (hashing is the cost: a huge one would be a cheap attack).
pub const MAX_PASSWORD_BYTES: usize = 1_024;

/// The PHC string of `password` under a fresh random salt.
pub(crate) fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Whether `password` matches `phc`. A malformed stored hash matches nothing. The comparison
/// of the digests is the `password-hash` crate's, in constant time.
pub(crate) fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends the time of one verification for a name that has no password (no such operator, or
/// LNURL-auth only), so that the answer's timing does not say which names exist.
pub(crate) fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("lnedge: no such operator").unwrap_or_default());
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_salts_differ() {
        let a = hash("correct horse battery").expect("hash");
        let b = hash("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("correct horse battery", "not a phc string"));
        verify_nothing("anything");
    }
}
