//! Evidence documents, stored by SHA-256.
//!
//! Its own connection (SQLite: WAL, `synchronous = FULL`; PostgreSQL: a committed insert), so an
//! upload never queues behind the governance writer and an acknowledged upload survives a crash. Storing is idempotent: the same
//! bytes always have the same address, and a second upload of them changes nothing.

use std::path::Path;

use portcullis_core::Timestamp;
use rusqlite::{OptionalExtension, params};
use sha2::Digest;

use crate::StoreError;

/// A stored document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceDocument {
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
    /// Its media type as uploaded (e.g. `application/pdf`).
    pub media_type: String,
    /// The document.
    pub bytes: Vec<u8>,
}

/// The evidence table of the database.
pub struct EvidenceStore {
    db: crate::Db,
}

impl EvidenceStore {
    /// Opens a connection to a database whose migrations have run (open the [`crate::SqliteStore`]
    /// first).
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { db: crate::Db::sqlite(path)? })
    }

    /// The evidence table of a PostgreSQL store; it connects on first use and again after a
    /// lost connection.
    pub fn open_postgres(location: &crate::postgres::PgLocation) -> Self {
        Self { db: crate::Db::postgres(location) }
    }

    /// Stores a document; returns its digest and whether it was new.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn put(
        &self,
        media_type: &str,
        bytes: &[u8],
        uploaded_at: Timestamp,
        uploaded_by: &str,
    ) -> Result<(String, bool), StoreError> {
        let sha256 = portcullis_core::ids::hex(&sha2::Sha256::digest(bytes));
        let inserted = self.db.with(
            |connection| {
                Ok(connection.execute(
                    "INSERT OR IGNORE INTO evidence (sha256, media_type, bytes, uploaded_at, uploaded_by)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![sha256, media_type, bytes, uploaded_at.as_millis(), uploaded_by],
                )? as u64)
            },
            |client| {
                Ok(client.execute(
                    "INSERT INTO evidence (sha256, media_type, bytes, uploaded_at, uploaded_by)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                    &[&sha256, &media_type, &bytes, &uploaded_at.as_millis(), &uploaded_by],
                )?)
            },
        )?;
        Ok((sha256, inserted == 1))
    }

    /// A document by digest.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn get(&self, sha256: &str) -> Result<Option<EvidenceDocument>, StoreError> {
        self.db.with(
            |connection| {
                Ok(connection
                    .query_row("SELECT media_type, bytes FROM evidence WHERE sha256 = ?1", params![sha256], |row| {
                        Ok(EvidenceDocument { sha256: sha256.to_owned(), media_type: row.get(0)?, bytes: row.get(1)? })
                    })
                    .optional()?)
            },
            |client| {
                let row = client.query_opt("SELECT media_type, bytes FROM evidence WHERE sha256 = $1", &[&sha256])?;
                Ok(row
                    .map(|row| {
                        Ok::<_, postgres::Error>(EvidenceDocument {
                            sha256: sha256.to_owned(),
                            media_type: row.try_get(0)?,
                            bytes: row.try_get(1)?,
                        })
                    })
                    .transpose()?)
            },
        )
    }

    /// Whether a document is stored.
    ///
    /// # Errors
    ///
    /// Fails when the database does.
    pub fn contains(&self, sha256: &str) -> Result<bool, StoreError> {
        self.db.with(
            |connection| {
                Ok(connection
                    .query_row("SELECT 1 FROM evidence WHERE sha256 = ?1", params![sha256], |_| Ok(()))
                    .optional()?
                    .is_some())
            },
            |client| Ok(client.query_opt("SELECT 1 FROM evidence WHERE sha256 = $1", &[&sha256])?.is_some()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let _store = crate::SqliteStore::open(&path).unwrap();
        let evidence = EvidenceStore::open(&path).unwrap();
        let (digest, new) = evidence.put("text/plain", b"hello", Timestamp::from_millis(1), "bis/j.doe").unwrap();
        assert_eq!(digest, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(new);
        let (again, new) = evidence.put("text/plain", b"hello", Timestamp::from_millis(2), "x").unwrap();
        assert_eq!((again.as_str(), new), (digest.as_str(), false));
        let document = evidence.get(&digest).unwrap().unwrap();
        assert_eq!(document.bytes, b"hello");
        assert!(evidence.contains(&digest).unwrap());
        assert!(evidence.get(&"0".repeat(64)).unwrap().is_none());
    }
}
