//! Portal sign-in sessions, kept by the SHA-256 of their cookie token.
//!
//! In the store rather than in memory so that a session started on one replica is valid on every
//! replica behind the load balancer, a sign-out ends it everywhere, and a restart signs no one out.
//! Sessions are not events: they are not governance and never reach the public log.
//!
//! Failed sign-ins are counted here too, per login name, for the same reason: a lockout kept in
//! one replica's memory gave an attacker behind a load balancer N times the guesses.

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
    /// A digest of the account's password hash when the session started (the caller's): a
    /// session whose stamp no longer matches its account's password is over.
    pub password_stamp: String,
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
                    "INSERT INTO sessions (token_hash, login, csrf, expires_at, password_stamp) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![token_hash, session.login, session.csrf, expires_at, session.password_stamp],
                )?;
                Ok(())
            },
            |client| {
                client.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now.as_millis()])?;
                client.execute(
                    "INSERT INTO sessions (token_hash, login, csrf, expires_at, password_stamp) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&token_hash, &session.login, &session.csrf, &expires_at, &session.password_stamp],
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
                        "SELECT login, csrf, expires_at, password_stamp FROM sessions WHERE token_hash = ?1",
                        params![token_hash],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)?, row.get(3)?)),
                    )
                    .optional()?)
            },
            |client| {
                let row = client.query_opt(
                    "SELECT login, csrf, expires_at, password_stamp FROM sessions WHERE token_hash = $1",
                    &[&token_hash],
                )?;
                Ok(row
                    .map(|row| {
                        Ok::<_, postgres::Error>((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))
                    })
                    .transpose()?)
            },
        )?;
        Ok(found
            .map(|(login, csrf, expires_at, password_stamp)| SessionRecord {
                login,
                csrf,
                expires_at: Timestamp::from_millis(expires_at),
                password_stamp,
            })
            .filter(|session| session.expires_at > now))
    }

    /// Gives a session a new password stamp (its own holder changed the password and stays
    /// signed in). Does nothing when the session is gone.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn restamp(&self, token_hash: &str, password_stamp: &str) -> Result<(), StoreError> {
        self.db.with(
            |connection| {
                connection.execute(
                    "UPDATE sessions SET password_stamp = ?2 WHERE token_hash = ?1",
                    params![token_hash, password_stamp],
                )?;
                Ok(())
            },
            |client| {
                client.execute(
                    "UPDATE sessions SET password_stamp = $2 WHERE token_hash = $1",
                    &[&token_hash, &password_stamp],
                )?;
                Ok(())
            },
        )
    }

    /// Ends a session (sign-out, or its account was disabled or its password changed).
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

/// When failed sign-ins lock a login, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    /// Failures in a row that lock the login.
    pub max_failures: u32,
    /// How long the lock lasts; failures older than this (and not locked) are forgotten.
    pub lock_millis: i64,
}

impl SessionStore {
    /// When the login is locked at `now`, the end of its lock.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn locked_until(&self, login: &str, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let now = now.as_millis();
        let until: Option<i64> = self.db.with(
            |connection| {
                Ok(connection
                    .query_row(
                        "SELECT locked_until FROM sign_in_failures WHERE login = ?1 AND locked_until > ?2",
                        params![login, now],
                        |row| row.get(0),
                    )
                    .optional()?)
            },
            |client| {
                let row = client.query_opt(
                    "SELECT locked_until FROM sign_in_failures WHERE login = $1 AND locked_until > $2",
                    &[&login, &now],
                )?;
                Ok(row.map(|row| row.try_get(0)).transpose()?)
            },
        )?;
        Ok(until.map(Timestamp::from_millis))
    }

    /// Counts a failed sign-in for `login` at `now`, in one transaction whichever replica
    /// counts it; returns the end of the login's lock when it is locked after this failure.
    /// A lock that has run out starts the count again.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn record_failure(
        &self,
        login: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> Result<Option<Timestamp>, StoreError> {
        let now_ms = now.as_millis();
        let forget_before = now_ms.saturating_sub(policy.lock_millis);
        let lock_until = now_ms.saturating_add(policy.lock_millis);
        let max = i64::from(policy.max_failures);
        let until: Option<i64> = self.db.with(
            |connection| {
                let tx = connection.unchecked_transaction()?;
                tx.execute(
                    "DELETE FROM sign_in_failures
                     WHERE last_at <= ?1 AND (locked_until IS NULL OR locked_until <= ?2)",
                    params![forget_before, now_ms],
                )?;
                tx.execute(
                    "INSERT INTO sign_in_failures (login, failures, last_at, locked_until) VALUES (?1, 1, ?2, NULL)
                     ON CONFLICT (login) DO UPDATE SET
                       failures = CASE WHEN locked_until <= excluded.last_at THEN 1 ELSE failures + 1 END,
                       locked_until = CASE WHEN locked_until <= excluded.last_at THEN NULL ELSE locked_until END,
                       last_at = excluded.last_at",
                    params![login, now_ms],
                )?;
                tx.execute(
                    "UPDATE sign_in_failures SET locked_until = ?3
                     WHERE login = ?1 AND failures >= ?2 AND locked_until IS NULL",
                    params![login, max, lock_until],
                )?;
                let until = tx.query_row(
                    "SELECT locked_until FROM sign_in_failures WHERE login = ?1",
                    params![login],
                    |row| row.get(0),
                )?;
                tx.commit()?;
                Ok(until)
            },
            |client| {
                let mut tx = client.transaction()?;
                tx.execute(
                    "DELETE FROM sign_in_failures
                     WHERE last_at <= $1 AND (locked_until IS NULL OR locked_until <= $2)",
                    &[&forget_before, &now_ms],
                )?;
                // The upsert takes the row's lock, so replicas counting at once count in turn.
                tx.execute(
                    "INSERT INTO sign_in_failures AS f (login, failures, last_at, locked_until) VALUES ($1, 1, $2, NULL)
                     ON CONFLICT (login) DO UPDATE SET
                       failures = CASE WHEN f.locked_until <= excluded.last_at THEN 1 ELSE f.failures + 1 END,
                       locked_until = CASE WHEN f.locked_until <= excluded.last_at THEN NULL ELSE f.locked_until END,
                       last_at = excluded.last_at",
                    &[&login, &now_ms],
                )?;
                tx.execute(
                    "UPDATE sign_in_failures SET locked_until = $3
                     WHERE login = $1 AND failures >= $2 AND locked_until IS NULL",
                    &[&login, &max, &lock_until],
                )?;
                let row = tx.query_one("SELECT locked_until FROM sign_in_failures WHERE login = $1", &[&login])?;
                let until = row.try_get(0)?;
                tx.commit()?;
                Ok(until)
            },
        )?;
        Ok(until.filter(|until| *until > now_ms).map(Timestamp::from_millis))
    }

    /// Forgets a login's failures (after a successful sign-in).
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn clear_failures(&self, login: &str) -> Result<(), StoreError> {
        self.db.with(
            |connection| {
                connection.execute("DELETE FROM sign_in_failures WHERE login = ?1", params![login])?;
                Ok(())
            },
            |client| {
                client.execute("DELETE FROM sign_in_failures WHERE login = $1", &[&login])?;
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
        let record = SessionRecord {
            login: "acme-ops".to_owned(),
            csrf: "c".to_owned(),
            expires_at: now.plus_millis(10),
            password_stamp: "s1".to_owned(),
        };
        sessions.insert("h1", &record, now).unwrap();
        assert_eq!(sessions.get("h1", now).unwrap(), Some(record.clone()));
        // A new stamp is seen by every connection; restamping a session that is gone is a no-op.
        sessions.restamp("h1", "s2").unwrap();
        let restamped = SessionRecord { password_stamp: "s2".to_owned(), ..record.clone() };
        assert_eq!(SessionStore::open(&path).unwrap().get("h1", now).unwrap(), Some(restamped));
        sessions.restamp("h1", "s1").unwrap();
        sessions.restamp("gone", "s3").unwrap();
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
