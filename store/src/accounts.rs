//! Staff accounts and kiosk devices: argon2id password hashes, lockout after repeated failures,
//! sessions that expire, and per-device kiosk tokens that can only submit. Tokens are random
//! 256-bit values handed out once; only their SHA-256 is stored. Sign-ins, failures and lockouts
//! go to the audit log (card id `-`), without passwords.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::{Actor, Result, SqliteStore, StoreError};

/// A staff role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reviews, edits and approves cards.
    Nurse,
    /// Also manages accounts and devices.
    Admin,
}

impl Role {
    fn code(self) -> &'static str {
        match self {
            Self::Nurse => "nurse",
            Self::Admin => "admin",
        }
    }
}

/// Account rules (from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failed sign-ins in a row before the account locks.
    pub max_failures: u32,
    /// How long a lockout lasts, ms.
    pub lockout_ms: u64,
    /// How long a session lasts without renewal, ms.
    pub session_ms: u64,
    /// Shortest password.
    pub min_password_chars: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self { max_failures: 5, lockout_ms: 15 * 60_000, session_ms: 8 * 60 * 60_000, min_password_chars: 10 }
    }
}

/// A signed-in staff member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The bearer token (shown once; only its hash is stored).
    pub token: String,
    /// Account.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Expiry, Unix ms.
    pub expires_ms: u64,
}

/// Why a sign-in or token was refused. Deliberately vague to the caller about which part was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown account or wrong password.
    #[error("wrong account name or password")]
    BadCredentials,
    /// Too many failures.
    #[error(
        "account locked after repeated failed sign-ins; try again in {minutes} min or ask an administrator"
    )]
    Locked {
        /// Minutes left.
        minutes: u64,
    },
    /// The session is unknown or has expired.
    #[error("session expired; sign in again")]
    SessionExpired,
    /// The device token is unknown.
    #[error("unknown kiosk device token")]
    UnknownDevice,
    /// The password is too short.
    #[error("password too short: use at least {0} characters")]
    WeakPassword(usize),
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::InvalidChange {
        card_id: "-".into(),
        detail: format!("no randomness: {e}"),
    })?;
    Ok(bytes)
}

fn token() -> Result<String> {
    Ok(random::<32>()?.iter().map(|b| format!("{b:02x}")).collect())
}

fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

impl SqliteStore {
    fn account_event(&mut self, at_ms: u64, by: &Actor, action: &str, detail: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::log(&tx, at_ms, by, action, "-", detail)?;
        tx.commit()?;
        Ok(())
    }

    /// Creates (or replaces the password of) a staff account.
    pub fn set_account(
        &mut self,
        name: &str,
        role: Role,
        password: &str,
        policy: &Policy,
        by: &Actor,
        at_ms: u64,
    ) -> Result<std::result::Result<(), AuthError>> {
        if password.chars().count() < policy.min_password_chars {
            return Ok(Err(AuthError::WeakPassword(policy.min_password_chars)));
        }
        let salt = SaltString::encode_b64(&random::<16>()?)
            .map_err(|e| StoreError::InvalidChange { card_id: "-".into(), detail: e.to_string() })?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| StoreError::InvalidChange { card_id: "-".into(), detail: e.to_string() })?
            .to_string();
        self.conn.execute(
            "INSERT INTO accounts (name, role, password_hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET role = ?2, password_hash = ?3, failed_attempts = 0, locked_until_ms = 0",
            params![name, role.code(), hash],
        )?;
        self.account_event(at_ms, by, "account_set", &format!("{name} ({})", role.code()))?;
        Ok(Ok(()))
    }

    /// Signs `name` in. Failures count towards a lockout; success resets the count.
    pub fn sign_in(
        &mut self,
        name: &str,
        password: &str,
        policy: &Policy,
        at_ms: u64,
    ) -> Result<std::result::Result<Session, AuthError>> {
        let row: Option<(String, String, u32, i64)> = self
            .conn
            .query_row(
                "SELECT role, password_hash, failed_attempts, locked_until_ms FROM accounts WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let who = Actor::Staff(name.to_owned());
        let Some((role, hash, failures, locked_until)) = row else {
            self.account_event(at_ms, &who, "sign_in_failed", "unknown account")?;
            return Ok(Err(AuthError::BadCredentials));
        };
        if (locked_until as u64) > at_ms {
            let minutes = ((locked_until as u64 - at_ms) / 60_000).max(1);
            self.account_event(at_ms, &who, "sign_in_refused", "locked")?;
            return Ok(Err(AuthError::Locked { minutes }));
        }
        let ok = PasswordHash::new(&hash)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
        if !ok {
            let failures = failures + 1;
            let lock = failures >= policy.max_failures;
            let until = if lock { at_ms + policy.lockout_ms } else { 0 };
            self.conn.execute(
                "UPDATE accounts SET failed_attempts = ?2, locked_until_ms = ?3 WHERE name = ?1",
                params![name, if lock { 0 } else { failures }, until as i64],
            )?;
            self.account_event(
                at_ms,
                &who,
                if lock { "locked_out" } else { "sign_in_failed" },
                "wrong password",
            )?;
            return Ok(Err(AuthError::BadCredentials));
        }
        self.conn.execute(
            "UPDATE accounts SET failed_attempts = 0, locked_until_ms = 0 WHERE name = ?1",
            [name],
        )?;
        let token = token()?;
        let expires_ms = at_ms + policy.session_ms;
        self.conn.execute(
            "INSERT INTO sessions (token_hash, name, expires_ms) VALUES (?1, ?2, ?3)",
            params![token_hash(&token), name, expires_ms as i64],
        )?;
        self.account_event(at_ms, &who, "sign_in", "")?;
        let role = if role == "admin" { Role::Admin } else { Role::Nurse };
        Ok(Ok(Session { token, name: name.to_owned(), role, expires_ms }))
    }

    /// The staff member behind a session token, if the session is live.
    pub fn session(&self, token: &str, at_ms: u64) -> Result<std::result::Result<(String, Role), AuthError>> {
        let row: Option<(String, i64, String)> = self
            .conn
            .query_row(
                "SELECT s.name, s.expires_ms, a.role FROM sessions s JOIN accounts a ON a.name = s.name
                 WHERE s.token_hash = ?1",
                [token_hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            Some((name, expires, role)) if expires as u64 > at_ms => {
                Ok((name, if role == "admin" { Role::Admin } else { Role::Nurse }))
            }
            _ => Err(AuthError::SessionExpired),
        })
    }

    /// Ends a session.
    pub fn sign_out(&mut self, token: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash(token)])?;
        Ok(())
    }

    /// Registers a kiosk and returns its token (shown once).
    pub fn register_device(&mut self, device_id: &str, by: &Actor, at_ms: u64) -> Result<String> {
        let token = token()?;
        self.conn.execute(
            "INSERT INTO devices (device_id, token_hash) VALUES (?1, ?2)
             ON CONFLICT (device_id) DO UPDATE SET token_hash = ?2",
            params![device_id, token_hash(&token)],
        )?;
        self.account_event(at_ms, by, "device_registered", device_id)?;
        Ok(token)
    }

    /// The kiosk a device token belongs to. A kiosk can only submit: it gets an [`Actor::Kiosk`],
    /// which the service accepts for `submit` alone.
    pub fn device(&self, token: &str) -> Result<std::result::Result<Actor, AuthError>> {
        let id: Option<String> = self
            .conn
            .query_row("SELECT device_id FROM devices WHERE token_hash = ?1", [token_hash(token)], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(id.map(Actor::Kiosk).ok_or(AuthError::UnknownDevice))
    }
}
