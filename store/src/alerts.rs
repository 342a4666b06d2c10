//! Staff alerts raised by kiosks (a red flag, "call a nurse", a failed part): kept until a nurse
//! acknowledges them, raised once however often a kiosk resends them (each carries its own key),
//! and written to the audit log when raised and when acknowledged. An alert names a rule, a card
//! and a kiosk, never the patient's words.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Actor, Result, SqliteStore, StoreError};

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A red flag stopped the interview: the patient needs a nurse now.
    RedFlag,
    /// The patient asked for a nurse.
    CallStaff,
    /// A part of the kiosk failed; the patient sees "please ask staff".
    WorkerFailed,
    /// The kiosk could not store a card.
    StoreFailed,
}

impl AlertKind {
    /// The stored word.
    pub fn code(self) -> &'static str {
        match self {
            Self::RedFlag => "red_flag",
            Self::CallStaff => "call_staff",
            Self::WorkerFailed => "worker_failed",
            Self::StoreFailed => "store_failed",
        }
    }

    fn parse(code: &str) -> Self {
        match code {
            "red_flag" => Self::RedFlag,
            "call_staff" => Self::CallStaff,
            "store_failed" => Self::StoreFailed,
            _ => Self::WorkerFailed,
        }
    }
}

/// An alert as a kiosk raises it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAlert {
    /// Unique per alert (the kiosk's id, time and a counter): a resend is not a second alert.
    pub key: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The card of the session, if an interview had started.
    #[serde(default)]
    pub card_id: Option<String>,
    /// Triage level, for red flags.
    #[serde(default)]
    pub level: Option<u8>,
    /// A rule id or the failed part (never patient text).
    #[serde(default)]
    pub detail: String,
}

impl NewAlert {
    /// Checks lengths and ranges; the reason when the alert is refused.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.key.trim().is_empty() || self.key.len() > 200 {
            return Err("`key` must be 1-200 characters".into());
        }
        if self.card_id.as_ref().is_some_and(|c| c.trim().is_empty() || c.len() > 200) {
            return Err("`card_id` must be 1-200 characters".into());
        }
        if self.level.is_some_and(|l| !(1..=4).contains(&l)) {
            return Err("`level` must be 1-4".into());
        }
        if self.detail.len() > 200 {
            return Err("`detail` must be at most 200 characters".into());
        }
        Ok(())
    }
}

/// A stored alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// Sequence number (increasing).
    pub seq: u64,
    /// Raised, Unix ms (station clock).
    pub at_ms: u64,
    /// Who raised it (`kiosk:ID`).
    pub source: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The card, if any.
    pub card_id: Option<String>,
    /// Triage level, for red flags.
    pub level: Option<u8>,
    /// Rule id or failed part.
    pub detail: String,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When, Unix ms.
    pub acked_ms: Option<u64>,
}

impl SqliteStore {
    /// Raises `alert` from `by`; returns its sequence number (the existing one when this key was
    /// raised before).
    pub fn raise_alert(&mut self, alert: &NewAlert, by: &Actor, at_ms: u64) -> Result<u64> {
        alert.check().map_err(|detail| StoreError::InvalidChange { card_id: "-".into(), detail })?;
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row("SELECT seq FROM alerts WHERE alert_key = ?1", [&alert.key], |r| r.get(0))
            .optional()?;
        if let Some(seq) = existing {
            tx.commit()?;
            return Ok(seq as u64);
        }
        tx.execute(
            "INSERT INTO alerts (alert_key, at_ms, source, kind, card_id, level, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                alert.key,
                at_ms as i64,
                by.label(),
                alert.kind.code(),
                alert.card_id,
                alert.level,
                alert.detail
            ],
        )?;
        let seq = tx.last_insert_rowid();
        let card = alert.card_id.as_deref().unwrap_or("-");
        Self::log(
            &tx,
            at_ms,
            by,
            "alert",
            card,
            &format!("alert {seq}: {} {}", alert.kind.code(), alert.detail),
        )?;
        tx.commit()?;
        tracing::warn!(seq, kind = alert.kind.code(), source = %by.label(), "staff alert raised");
        Ok(seq as u64)
    }

    /// Alerts no nurse has acknowledged yet, oldest first.
    pub fn open_alerts(&self) -> Result<Vec<StoredAlert>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at_ms, source, kind, card_id, level, detail, acked_by, acked_ms FROM alerts
             WHERE acked_by IS NULL ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredAlert {
                seq: r.get::<_, i64>(0)? as u64,
                at_ms: r.get::<_, i64>(1)? as u64,
                source: r.get(2)?,
                kind: AlertKind::parse(&r.get::<_, String>(3)?),
                card_id: r.get(4)?,
                level: r.get(5)?,
                detail: r.get(6)?,
                acked_by: r.get(7)?,
                acked_ms: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A nurse acknowledges alert `seq` (audited). Acknowledging it twice changes nothing.
    pub fn ack_alert(&mut self, seq: u64, by: &Actor, at_ms: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        let row: Option<(Option<String>, Option<String>)> = tx
            .query_row("SELECT card_id, acked_by FROM alerts WHERE seq = ?1", [seq as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((card, acked)) = row else { return Err(StoreError::NoAlert(seq)) };
        if acked.is_none() {
            tx.execute(
                "UPDATE alerts SET acked_by = ?2, acked_ms = ?3 WHERE seq = ?1",
                params![seq as i64, by.label(), at_ms as i64],
            )?;
            Self::log(&tx, at_ms, by, "ack_alert", card.as_deref().unwrap_or("-"), &format!("alert {seq}"))?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CardStore as _;

    fn alert(key: &str) -> NewAlert {
        NewAlert {
            key: key.into(),
            kind: AlertKind::RedFlag,
            card_id: Some("card-1".into()),
            level: Some(1),
            detail: "rf.stroke".into(),
        }
    }

    #[test]
    fn an_alert_is_raised_once_kept_until_acknowledged_and_audited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite")).expect("store");
        let kiosk = Actor::Kiosk("lobby-1".into());
        let seq = store.raise_alert(&alert("lobby-1-1"), &kiosk, 10).expect("raise");
        assert_eq!(store.raise_alert(&alert("lobby-1-1"), &kiosk, 11).expect("again"), seq);
        let open = store.open_alerts().expect("open");
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].kind, open[0].source.as_str()), (AlertKind::RedFlag, "kiosk:lobby-1"));
        let nurse = Actor::Staff("li".into());
        store.ack_alert(seq, &nurse, 20).expect("ack");
        store.ack_alert(seq, &nurse, 21).expect("ack twice");
        assert!(store.open_alerts().expect("open").is_empty());
        let actions: Vec<String> =
            store.audit("card-1").expect("audit").into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["alert", "ack_alert"]);
        assert!(matches!(store.ack_alert(999, &nurse, 22), Err(StoreError::NoAlert(999))));
    }

    #[test]
    fn malformed_alerts_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite")).expect("store");
        let kiosk = Actor::Kiosk("k".into());
        let mut bad = alert("");
        assert!(store.raise_alert(&bad, &kiosk, 1).is_err());
        bad = NewAlert { level: Some(7), ..alert("k-2") };
        assert!(store.raise_alert(&bad, &kiosk, 1).is_err());
        assert!(store.open_alerts().expect("open").is_empty());
    }
}
