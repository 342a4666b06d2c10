//! Versioned schema migrations, kept in `PRAGMA user_version`. Each step runs in one transaction;
//! steps are only ever added, never edited.

use std::path::Path;

use rusqlite::Connection;

use crate::{Result, StoreError};

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: cards, their versions, and the append-only audit log.
    "CREATE TABLE cards (
        card_id         TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        version         INTEGER NOT NULL,
        level           INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),
        department      TEXT NOT NULL,
        red_flag        INTEGER NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('waiting', 'approved', 'seen')),
        received_ms     INTEGER NOT NULL,
        card_json       TEXT NOT NULL
     );
     CREATE INDEX cards_queue ON cards (status, level, received_ms);
     CREATE TABLE card_versions (
        card_id   TEXT NOT NULL REFERENCES cards (card_id),
        version   INTEGER NOT NULL,
        at_ms     INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        card_json TEXT NOT NULL,
        PRIMARY KEY (card_id, version)
     );
     CREATE TABLE audit (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms   INTEGER NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        card_id TEXT NOT NULL,
        detail  TEXT NOT NULL
     );
     CREATE INDEX audit_card ON audit (card_id, seq);
     CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
     CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 2: why each staff version was made.
    "ALTER TABLE card_versions ADD COLUMN reason TEXT;",
    // 3: staff accounts, their sessions, and kiosk device tokens (hashes only).
    "CREATE TABLE accounts (
        name            TEXT PRIMARY KEY,
        role            TEXT NOT NULL CHECK (role IN ('nurse', 'admin')),
        password_hash   TEXT NOT NULL,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        name       TEXT NOT NULL REFERENCES accounts (name),
        expires_ms INTEGER NOT NULL
     );
     CREATE TABLE devices (
        device_id  TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE
     );",
    // 4: staff alerts raised by kiosks, kept until a nurse acknowledges them.
    "CREATE TABLE alerts (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_key TEXT NOT NULL UNIQUE,
        at_ms     INTEGER NOT NULL,
        source    TEXT NOT NULL,
        kind      TEXT NOT NULL CHECK (kind IN ('red_flag', 'call_staff', 'worker_failed', 'store_failed')),
        card_id   TEXT,
        level     INTEGER CHECK (level BETWEEN 1 AND 4),
        detail    TEXT NOT NULL,
        acked_by  TEXT,
        acked_ms  INTEGER
     );
     CREATE INDEX alerts_open ON alerts (acked_by, seq);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`]; refuses a newer one.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew { path: path.to_owned(), found });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "card store migrated");
    }
    Ok(())
}
