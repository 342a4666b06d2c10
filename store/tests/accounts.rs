//! Staff accounts and kiosk devices on a real SQLite file: argon2id passwords, lockout, session
//! expiry, device tokens, and the audit of sign-ins.

use store::accounts::{AuthError, Policy, Role};
use store::{Actor, SqliteStore};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("opens");
    (dir, store)
}

#[test]
fn sign_in_works_and_sessions_expire() {
    let (_dir, mut store) = store();
    let policy = Policy { session_ms: 60_000, ..Policy::default() };
    let admin = Actor::Staff("admin".into());
    store
        .set_account("nurse-li", Role::Nurse, "correct horse battery", &policy, &admin, 0)
        .expect("db")
        .expect("set");
    assert_eq!(
        store.set_account("nurse-wu", Role::Nurse, "short", &policy, &admin, 0).expect("db"),
        Err(AuthError::WeakPassword(10))
    );
    let session =
        store.sign_in("nurse-li", "correct horse battery", &policy, 1_000).expect("db").expect("signed in");
    assert_eq!(session.token.len(), 64);
    assert_eq!(store.session(&session.token, 2_000).expect("db"), Ok(("nurse-li".into(), Role::Nurse)));
    assert_eq!(store.session(&session.token, 61_001).expect("db"), Err(AuthError::SessionExpired));
    assert_eq!(store.session("forged-token", 2_000).expect("db"), Err(AuthError::SessionExpired));
    store.sign_out(&session.token).expect("signs out");
    assert_eq!(store.session(&session.token, 2_000).expect("db"), Err(AuthError::SessionExpired));
    // The password is stored as an argon2id hash, never as text.
    let raw = rusqlite::Connection::open(store.path()).expect("raw");
    let hash: String = raw
        .query_row("SELECT password_hash FROM accounts WHERE name = 'nurse-li'", [], |r| r.get(0))
        .expect("hash");
    assert!(hash.starts_with("$argon2id$") && !hash.contains("horse"), "{hash}");
}

#[test]
fn repeated_failures_lock_the_account() {
    let (_dir, mut store) = store();
    let policy = Policy { max_failures: 3, lockout_ms: 600_000, ..Policy::default() };
    let admin = Actor::Staff("admin".into());
    store
        .set_account("nurse-li", Role::Nurse, "correct horse battery", &policy, &admin, 0)
        .expect("db")
        .expect("set");
    for t in 1..=3 {
        assert_eq!(
            store.sign_in("nurse-li", "guess", &policy, t).expect("db"),
            Err(AuthError::BadCredentials)
        );
    }
    // Locked: even the right password is refused until the lockout ends.
    let locked = store.sign_in("nurse-li", "correct horse battery", &policy, 10).expect("db");
    assert_eq!(locked, Err(AuthError::Locked { minutes: 9 }));
    assert!(store.sign_in("nurse-li", "correct horse battery", &policy, 600_011).expect("db").is_ok());
    assert_eq!(store.sign_in("nobody", "x", &policy, 1).expect("db"), Err(AuthError::BadCredentials));
    // Every attempt is audited without the password.
    let raw = rusqlite::Connection::open(store.path()).expect("raw");
    let mut stmt =
        raw.prepare("SELECT action, detail FROM audit WHERE card_id = '-' ORDER BY seq").expect("sql");
    let rows: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").flatten().collect();
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "account_set",
            "sign_in_failed",
            "sign_in_failed",
            "locked_out",
            "sign_in_refused",
            "sign_in",
            "sign_in_failed"
        ]
    );
    assert!(rows.iter().all(|(_, d)| !d.contains("horse") && !d.contains("guess")));
}

#[test]
fn kiosk_tokens_identify_only_their_device() {
    let (_dir, mut store) = store();
    let admin = Actor::Staff("admin".into());
    let token = store.register_device("lobby-1", &admin, 0).expect("registers");
    assert_eq!(store.device(&token).expect("db"), Ok(Actor::Kiosk("lobby-1".into())));
    assert_eq!(store.device("not-a-token").expect("db"), Err(AuthError::UnknownDevice));
    // A kiosk token is not a staff session.
    assert_eq!(store.session(&token, 0).expect("db"), Err(AuthError::SessionExpired));
    // Re-registering replaces the token: the old one stops working.
    let new = store.register_device("lobby-1", &admin, 1).expect("re-registers");
    assert_eq!(store.device(&token).expect("db"), Err(AuthError::UnknownDevice));
    assert_eq!(store.device(&new).expect("db"), Ok(Actor::Kiosk("lobby-1".into())));
}
