//! Password hashing: Argon2id with OWASP's "m = 7 MiB, t = 5, p = 1" (as strong as the crate's
//! default m = 19 MiB, t = 2, with a third of the memory per sign-in, so a burst of sign-ins
//! cannot balloon a server). Existing hashes verify with the parameters stored in them.
//! Both functions block for tens of milliseconds: call them off async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The rules a new password must meet; the error says which one it breaks.
pub fn check_rules(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 10 {
        return Err("password: use at least 10 characters");
    }
    if password.len() > 1024 {
        return Err("password: use at most 1024 bytes");
    }
    Ok(())
}

/// The Argon2id PHC string for `password`, with a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt =
        SaltString::encode_b64(&crate::random_bytes::<16>()).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters")
        .to_string()
}

/// Whether `password` matches the PHC string `stored` (false for an unreadable `stored`).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn argon2() -> Argon2<'static> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).expect("valid Argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery staple");
        assert!(
            stored.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery staple", &stored));
        assert!(!verify("correct horse battery stapler", &stored));
        assert!(!verify("anything", "not a phc string"));
        assert_ne!(stored, hash("correct horse battery staple"), "salted");
    }

    #[test]
    fn rules_name_what_is_wrong() {
        assert_eq!(
            check_rules("short"),
            Err("password: use at least 10 characters")
        );
        assert!(check_rules(&"x".repeat(1025)).is_err());
        assert!(check_rules("long enough here").is_ok());
    }
}
