//! Portal sign-in sessions, kept by the SHA-256 of their cookie token.
//!
//! In the store rather than in memory so that a session started on one replica is valid on every
//! replica behind the load balancer, a sign-out ends it everywhere, and a restart signs no one out.
//! Sessions are not events: they are not governance and never reach the public log.

use std::path::Path;

use portcullis_core::Timestamp;
use rusqlite::{OptionalExtension, params};

use crate::StoreError;

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The account's login name.
    pub login: String,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// The sessions table.
pub struct SessionStore {
    db: crate::Db,
}

impl SessionStore {
    /// Opens a connection to a SQLite database whose migrations have run.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { db: crate::Db::sqlite(path)? })
    }

    /// The sessions table of a PostgreSQL store.
    pub fn open_postgres(location: &crate::postgres::PgLocation) -> Self {
        Self { db: crate::Db::postgres(location) }
    }

    /// Stores a new session, first pruning the expired ones.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn insert(&self, token_hash: &str, session: &SessionRecord, now: Timestamp) -> Result<(), StoreError> {
        let expires_at = session.expires_at.as_millis();
        self.db.with(
            |connection| {
                connection.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now.as_millis()])?;
                connection.execute(
                    "INSERT INTO sessions (token_hash, login, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![token_hash, session.login, session.csrf, expires_at],
                )?;
                Ok(())
            },
            |client| {
                client.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now.as_millis()])?;
                client.execute(
                    "INSERT INTO sessions (token_hash, login, csrf, expires_at) VALUES ($1, $2, $3, $4)",
                    &[&token_hash, &session.login, &session.csrf, &expires_at],
                )?;
                Ok(())
            },
        )
    }

    /// The session of a token hash, if it exists and has not expired at `now`.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn get(&self, token_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>, StoreError> {
        let found = self.db.with(
            |connection| {
                Ok(connection
                    .query_row(
                        "SELECT login, csrf, expires_at FROM sessions WHERE token_hash = ?1",
                        params![token_hash],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)?)),
                    )
                    .optional()?)
            },
            |client| {
                let row = client
                    .query_opt("SELECT login, csrf, expires_at FROM sessions WHERE token_hash = $1", &[&token_hash])?;
                Ok(row
                    .map(|row| Ok::<_, postgres::Error>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                    .transpose()?)
            },
        )?;
        Ok(found
            .map(|(login, csrf, expires_at)| SessionRecord {
                login,
                csrf,
                expires_at: Timestamp::from_millis(expires_at),
            })
            .filter(|session| session.expires_at > now))
    }

    /// Ends a session (sign-out, or its account was disabled).
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn remove(&self, token_hash: &str) -> Result<(), StoreError> {
        self.db.with(
            |connection| {
                connection.execute("DELETE FROM sessions WHERE token_hash = ?1", params![token_hash])?;
                Ok(())
            },
            |client| {
                client.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_stored_expire_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let _store = crate::SqliteStore::open(&path).unwrap();
        let sessions = SessionStore::open(&path).unwrap();
        let now = Timestamp::from_millis(1_000);
        let record =
            SessionRecord { login: "acme-ops".to_owned(), csrf: "c".to_owned(), expires_at: now.plus_millis(10) };
        sessions.insert("h1", &record, now).unwrap();
        assert_eq!(sessions.get("h1", now).unwrap(), Some(record.clone()));
        assert_eq!(sessions.get("h1", now.plus_millis(10)).unwrap(), None);
        assert_eq!(sessions.get("h2", now).unwrap(), None);
        // Another connection (another replica) sees it; a sign-out ends it for all.
        let other = SessionStore::open(&path).unwrap();
        assert_eq!(other.get("h1", now).unwrap(), Some(record.clone()));
        other.remove("h1").unwrap();
        assert_eq!(sessions.get("h1", now).unwrap(), None);
        // Expired sessions are pruned when a new one starts.
        sessions.insert("h3", &record, now).unwrap();
        sessions.insert("h4", &record, now.plus_millis(20)).unwrap();
        assert_eq!(sessions.get("h3", Timestamp::from_millis(0)).unwrap(), None);
    }
}
