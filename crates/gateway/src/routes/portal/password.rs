//! Passwords: the rule they must meet, argon2id hashing and verification, off the async workers.
//!
//! argon2id with the crate's default parameters (19 MiB, 2 passes, 1 lane: OWASP's minimum for
//! argon2id) costs tens of milliseconds of one core by design, so it runs in `spawn_blocking`.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash as PhcString};
use portcullis_core::account::PasswordHash;
use rand::RngCore;

use crate::error::ApiError;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The longest password accepted (argon2 hashes any length; this bounds the work per attempt).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks the password rule; the message names what is wrong (never the password).
///
/// # Errors
///
/// A 400 naming the rule broken.
pub fn check_rule(password: &str) -> Result<(), ApiError> {
    let bad = |message: String| ApiError::BadRequest { message, param: Some("password"), code: "invalid_value" };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(bad(format!("the password must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(bad(format!("the password must be at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

/// Hashes a password with a fresh random salt.
///
/// # Errors
///
/// A 400 when the password breaks the rule; a 500 if hashing fails.
pub async fn hash(password: String) -> Result<PasswordHash, ApiError> {
    check_rule(&password)?;
    let phc = tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|err| ApiError::Internal(err.into()))??;
    PasswordHash::parse(&phc).map_err(|err| ApiError::Internal(anyhow::anyhow!("argon2 output: {err}")))
}

fn hash_now(password: &str) -> Result<String, ApiError> {
    let mut salt = [0_u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|err| ApiError::Internal(anyhow::anyhow!("salt: {err}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|phc| phc.to_string())
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("argon2: {err}")))
}

/// Whether `password` matches `phc`. With no account (`None`), a dummy hash is verified instead,
/// so an unknown login takes as long to refuse as a wrong password.
///
/// # Errors
///
/// A 500 only if the blocking task fails.
pub async fn verify(password: String, phc: Option<PasswordHash>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let target = match &phc {
            Some(hash) => hash.as_str().to_owned(),
            None => dummy().to_owned(),
        };
        let matches = PhcString::new(&target)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
        matches && phc.is_some()
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))
}

/// A hash of a random password, made once per process.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(&crate::routes::admin::new_secret("")).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let one = hash("correct horse battery".to_owned()).await.unwrap();
        let two = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(one.as_str().starts_with("$argon2id$v=19$"));
        assert_ne!(one.as_str(), two.as_str());
        assert!(verify("correct horse battery".to_owned(), Some(one.clone())).await.unwrap());
        assert!(!verify("correct horse battery!".to_owned(), Some(one)).await.unwrap());
        assert!(!verify("correct horse battery".to_owned(), None).await.unwrap());
        assert!(hash("short".to_owned()).await.is_err());
        assert!(hash("x".repeat(MAX_PASSWORD_BYTES + 1)).await.is_err());
    }
}
