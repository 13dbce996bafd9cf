//! Sign-in failures in a SQLite store, counted through two connections as two processes would
//! (PostgreSQL runs the same checks in `postgres.rs`).

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure with a message")]

mod common;

#[test]
fn sign_in_failures_add_up_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let _migrated = portcullis_store::SqliteStore::open(&path).unwrap();
    let a = portcullis_store::SessionStore::open(&path).unwrap();
    let b = portcullis_store::SessionStore::open(&path).unwrap();
    common::check_shared_lockout(&a, &b);
}
