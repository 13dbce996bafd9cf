//! Sessions and sign-in failures, both in the store (shared by replicas).
//!
//! A session is a random 256-bit token held in an `HttpOnly`, `SameSite=Strict` cookie (and
//! `Secure`, named `__Host-…`, when the gateway is served over https); the store keeps only its
//! SHA-256, with the login it belongs to, its CSRF token and its expiry, in its `sessions` table.
//! So a session started on one replica is valid on every replica sharing the database, a
//! sign-out ends it everywhere, and a restart signs no one out. Sessions are not events: they
//! never reach the log. A session also holds a stamp of its account's password (a digest of its
//! hash) from sign-in: once the password changes, by whatever route and on whichever replica,
//! every session started before no longer matches and ends at its next request, except the one
//! that made the change through the portal, which is re-stamped.
//!
//! Sign-in failures are counted per login name (known or not, so a lockout says nothing about
//! whether an account exists): after [`MAX_FAILURES`] in a row the login is locked for
//! [`LOCKOUT_MILLIS`], whatever password comes next. The count is kept in the store, so it adds
//! up across replicas: behind a load balancer an attacker still gets [`MAX_FAILURES`] guesses
//! per lockout period, not one batch per replica.

use std::sync::Arc;

use portcullis_core::account::{LoginName, PasswordHash};
use portcullis_core::{SecretHash, Timestamp};
use portcullis_store::{LockoutPolicy, SessionRecord, SessionStore};

use crate::error::ApiError;
use crate::routes::admin::new_secret;

/// How long a session lasts after sign-in, whatever happens in between: a working day.
pub const SESSION_LIFETIME_MILLIS: i64 = 8 * 3_600_000;

/// Failed sign-ins in a row that lock a login.
pub const MAX_FAILURES: u32 = 5;

/// How long a locked login stays locked.
pub const LOCKOUT_MILLIS: i64 = 15 * 60_000;

/// The lockout the store applies.
const LOCKOUT: LockoutPolicy = LockoutPolicy { max_failures: MAX_FAILURES, lock_millis: LOCKOUT_MILLIS };

/// One signed-in session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The account signed in.
    pub login: LoginName,
    /// The token every form of this session carries (checked on every POST).
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
    /// [`password_stamp`] of the account's password when the session started.
    pub password_stamp: String,
}

/// What a session keeps of its account's password: the SHA-256 of its argon2id hash (so not
/// even the hash is copied into the sessions table).
pub fn password_stamp(hash: &PasswordHash) -> String {
    SecretHash::of_secret(hash.as_str()).to_hex()
}

/// What the store keeps of a session's token, and finds it by: its SHA-256, never the token.
/// Handlers hold this rather than the cookie's token, so the secret itself stays in the request
/// headers it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    /// The key of a cookie's token.
    pub fn of(token: &str) -> Self {
        Self(SecretHash::of_secret(token).to_hex())
    }
}

/// Sessions and sign-in failures, in the store.
pub struct Sessions {
    store: Arc<SessionStore>,
}

/// A lock's end, when a login is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    /// When sign-ins for the login are accepted again.
    pub until: Timestamp,
}

impl Sessions {
    /// Sessions kept in `store`.
    pub fn new(store: SessionStore) -> Self {
        Self { store: Arc::new(store) }
    }

    /// Starts a session for an account whose password hash is `password`; returns the token for
    /// the cookie (the only copy) and the session.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn start(
        &self,
        login: LoginName,
        password: &PasswordHash,
        now: Timestamp,
    ) -> Result<(String, Session), ApiError> {
        let token = new_secret("");
        let session = Session {
            login,
            csrf: new_secret(""),
            expires_at: now.plus_millis(SESSION_LIFETIME_MILLIS),
            password_stamp: password_stamp(password),
        };
        let record = SessionRecord {
            login: session.login.as_str().to_owned(),
            csrf: session.csrf.clone(),
            expires_at: session.expires_at,
            password_stamp: session.password_stamp.clone(),
        };
        let SessionKey(hash) = SessionKey::of(&token);
        self.blocking(move |store| store.insert(&hash, &record, now)).await?;
        Ok((token, session))
    }

    /// The live session under `key`, if any.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn get(&self, key: &SessionKey, now: Timestamp) -> Result<Option<Session>, ApiError> {
        let hash = key.0.clone();
        let record = self.blocking(move |store| store.get(&hash, now)).await?;
        Ok(record.and_then(|record| {
            // A login that no longer parses (never written by this code) is no session.
            let login = LoginName::parse(&record.login).ok()?;
            Some(Session {
                login,
                csrf: record.csrf,
                expires_at: record.expires_at,
                password_stamp: record.password_stamp,
            })
        }))
    }

    /// Keeps a session valid across its own holder's password change: stamps it with the new
    /// password hash.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn restamp(&self, key: &SessionKey, password: &PasswordHash) -> Result<(), ApiError> {
        let hash = key.0.clone();
        let stamp = password_stamp(password);
        self.blocking(move |store| store.restamp(&hash, &stamp)).await
    }

    /// Ends a session (sign-out), on every replica.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn end(&self, key: &SessionKey) -> Result<(), ApiError> {
        let hash = key.0.clone();
        self.blocking(move |store| store.remove(&hash)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SessionStore) -> Result<T, portcullis_store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|err| ApiError::Internal(err.into()))?
            .map_err(|err| ApiError::Internal(err.into()))
    }

    /// Whether a login is locked now.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn locked(&self, login: &str, now: Timestamp) -> Result<Option<Locked>, ApiError> {
        let login = login.to_owned();
        let until = self.blocking(move |store| store.locked_until(&login, now)).await?;
        Ok(until.map(|until| Locked { until }))
    }

    /// Counts a failed sign-in; returns the lock when the login is locked after it.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn failed(&self, login: &str, now: Timestamp) -> Result<Option<Locked>, ApiError> {
        let login = login.to_owned();
        let until = self.blocking(move |store| store.record_failure(&login, now, LOCKOUT)).await?;
        Ok(until.map(|until| Locked { until }))
    }

    /// Clears a login's failures after a successful sign-in.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn succeeded(&self, login: &str) -> Result<(), ApiError> {
        let login = login.to_owned();
        self.blocking(move |store| store.clear_failures(&login)).await
    }
}

/// The cookie attributes and names for a gateway served at `public_base_url`.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    /// Whether cookies are `Secure` (and named `__Host-…`): when served over https.
    pub secure: bool,
}

impl CookiePolicy {
    /// The policy for a public base URL.
    pub fn for_base_url(public_base_url: &str) -> Self {
        Self { secure: public_base_url.starts_with("https://") }
    }

    /// The session cookie's name.
    pub fn session_name(self) -> &'static str {
        if self.secure { "__Host-portcullis_session" } else { "portcullis_session" }
    }

    /// The sign-in form's CSRF cookie's name (before there is a session).
    pub fn login_name(self) -> &'static str {
        if self.secure { "__Host-portcullis_login" } else { "portcullis_login" }
    }

    /// A `Set-Cookie` value.
    pub fn set(self, name: &str, value: &str, max_age_secs: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear(self, name: &str) -> String {
        self.set(name, "", 0)
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Compares two secrets in time that does not depend on where they first differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(name: &str) -> LoginName {
        LoginName::parse(name).unwrap()
    }

    fn phc() -> PasswordHash {
        PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").unwrap()
    }

    fn sessions() -> (tempfile::TempDir, Sessions) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(portcullis_store::SqliteStore::open(&path).unwrap());
        let sessions = Sessions::new(SessionStore::open(&path).unwrap());
        (dir, sessions)
    }

    #[tokio::test]
    async fn sessions_expire_and_end() {
        let (_dir, sessions) = sessions();
        let now = Timestamp::from_millis(1_000_000);
        let (token, session) = sessions.start(login("acme-ops"), &phc(), now).await.unwrap();
        let key = SessionKey::of(&token);
        assert_eq!(sessions.get(&key, now).await.unwrap().map(|s| s.login), Some(login("acme-ops")));
        assert_ne!(session.csrf, token);
        // The store is keyed by the token's hash: the token itself finds nothing.
        assert_ne!(key.0, token);
        assert!(sessions.get(&SessionKey(token.clone()), now).await.unwrap().is_none());
        assert!(sessions.get(&SessionKey::of("nonsense"), now).await.unwrap().is_none());
        assert!(sessions.get(&key, now.plus_millis(SESSION_LIFETIME_MILLIS)).await.unwrap().is_none());
        let (token, _) = sessions.start(login("acme-ops"), &phc(), now).await.unwrap();
        let key = SessionKey::of(&token);
        sessions.end(&key).await.unwrap();
        assert!(sessions.get(&key, now).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn five_failures_lock_a_login_for_a_while() {
        let (_dir, sessions) = sessions();
        let now = Timestamp::from_millis(1_000_000);
        for _ in 1..MAX_FAILURES {
            assert_eq!(sessions.failed("who", now).await.unwrap(), None);
            assert_eq!(sessions.locked("who", now).await.unwrap(), None);
        }
        let until = now.plus_millis(LOCKOUT_MILLIS);
        assert_eq!(sessions.failed("who", now).await.unwrap(), Some(Locked { until }));
        assert_eq!(sessions.locked("who", now.plus_millis(LOCKOUT_MILLIS - 1)).await.unwrap(), Some(Locked { until }));
        assert_eq!(sessions.locked("other", now).await.unwrap(), None);
        assert_eq!(sessions.locked("who", until).await.unwrap(), None);
        // After the lock, one failure does not lock again at once.
        assert_eq!(sessions.failed("who", until).await.unwrap(), None);
        sessions.succeeded("who").await.unwrap();
        assert_eq!(sessions.locked("who", until).await.unwrap(), None);
    }

    #[test]
    fn cookies() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, "a=1; portcullis_session=tok; b=".parse().unwrap());
        assert_eq!(cookie(&headers, "portcullis_session"), Some("tok"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(cookie(&headers, "c"), None);
        let secure = CookiePolicy::for_base_url("https://gate.example");
        assert_eq!(secure.session_name(), "__Host-portcullis_session");
        assert_eq!(secure.set("n", "v", 60), "n=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
        assert!(!CookiePolicy::for_base_url("http://127.0.0.1:8080").set("n", "v", 1).contains("Secure"));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
