//! The durable card store.
//!
//! A card is committed (SQLite, write-ahead log, `synchronous = FULL`: on disk when `submit`
//! returns) before the kiosk tells the patient it was sent. Submissions carry an idempotency key:
//! sending the same card again (a retry after a lost acknowledgement) never makes a second card.
//! Every read and change of a card is written to an append-only audit log (who, when, what),
//! enforced by triggers. The schema is versioned; a database from a newer build is refused rather
//! than misread. Logs carry card ids and counts, never patient text.

pub mod accounts;
pub mod alerts;
pub mod outbox;
mod schema;

use std::path::{Path, PathBuf};

use protocol::ConditionCard;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use schema::SCHEMA_VERSION;

/// What can go wrong with the store. Messages name the file and what fixes it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be opened or is not a database.
    #[error(
        "card store {path} cannot be opened: {detail}. If the file is damaged, move it aside \
         (cards already handed to the nurse station are kept there) and start the kiosk again \
         to create a new one"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's words.
        detail: String,
    },
    /// The database was written by a newer build.
    #[error(
        "card store {path} has schema version {found}, this build knows up to {SCHEMA_VERSION}; \
         install the newer kiosk build (the store is never downgraded)"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
    },
    /// A query failed.
    #[error("card store query failed: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored card does not parse (a defect or tampering).
    #[error("stored card {card_id} does not parse: {detail}")]
    BadCard {
        /// The card.
        card_id: String,
        /// What is wrong.
        detail: String,
    },
    /// The card changed since the editor read it.
    #[error(
        "card {card_id} was changed by someone else (now version {current}, you edited version \
         {expected}); reopen it and make the change again"
    )]
    Conflict {
        /// The card.
        card_id: String,
        /// Version the editor saw.
        expected: u32,
        /// Version now.
        current: u32,
    },
    /// No such card.
    #[error("no card {0}")]
    NotFound(String),
    /// No such alert.
    #[error("no alert {0}")]
    NoAlert(u64),
    /// The change itself is not valid.
    #[error("invalid change to card {card_id}: {detail}")]
    InvalidChange {
        /// The card.
        card_id: String,
        /// What is wrong.
        detail: String,
    },
    /// The idempotency key was used for another card.
    #[error("idempotency key reused for a different card (stored {stored}, submitted {submitted})")]
    KeyReused {
        /// Card stored under the key.
        stored: String,
        /// Card submitted now.
        submitted: String,
    },
}

/// Result with [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;

/// Who acts on a card, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A kiosk, by device id.
    Kiosk(String),
    /// A signed-in nurse or administrator, by account name.
    Staff(String),
    /// The store itself (retention purge).
    System,
}

impl Actor {
    /// The audit log's name for this actor (`kiosk:ID`, `staff:NAME`, `system`).
    pub fn label(&self) -> String {
        match self {
            Self::Kiosk(id) => format!("kiosk:{id}"),
            Self::Staff(name) => format!("staff:{name}"),
            Self::System => "system".into(),
        }
    }
}

/// Outcome of a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Stored now.
    New,
    /// Already stored under this key: nothing changed.
    Duplicate,
}

/// A stored card with its bookkeeping.
#[derive(Clone, Debug)]
pub struct StoredCard {
    /// The card as it stands (latest version).
    pub card: ConditionCard,
    /// Version, 1 for the kiosk's submission, +1 per staff change.
    pub version: u32,
    /// When the kiosk's submission was stored, Unix ms.
    pub received_ms: u64,
    /// Workflow state.
    pub status: Status,
}

/// Where a card is in the nurse station's workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a nurse.
    Waiting,
    /// Approved by a nurse.
    Approved,
    /// The patient has been seen.
    Seen,
}

impl Status {
    /// The stored word.
    pub fn code(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Approved => "approved",
            Self::Seen => "seen",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "approved" => Self::Approved,
            "seen" => Self::Seen,
            _ => Self::Waiting,
        }
    }
}

/// One line of the nurse station's queue (no patient text: the station opens the card).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Card id.
    pub card_id: String,
    /// Pre-triage level, 1 (most urgent) to 4.
    pub level: u8,
    /// Department code.
    pub department: String,
    /// Received, Unix ms.
    pub received_ms: u64,
    /// Whether a red flag fired.
    pub red_flag: bool,
    /// Workflow state.
    pub status: Status,
    /// The number on the patient's slip, if the kiosk gave one.
    #[serde(default)]
    pub queue_number: Option<String>,
    /// The complaint's protocol id (`chest_pain`): what kind of complaint, not the patient's words.
    #[serde(default)]
    pub complaint: String,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, Unix ms.
    pub at_ms: u64,
    /// Who (`kiosk:ID`, `staff:NAME`, `system`).
    pub actor: String,
    /// What (`submit`, `read`, `edit`, ...).
    pub action: String,
    /// Card id.
    pub card_id: String,
    /// Details without patient text (field names, versions, reasons codes).
    pub detail: String,
}

/// A change a nurse makes to a card. Every change needs a reason (kept in the card's version
/// history), except approving and marking seen.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Set the pre-triage level (1-4).
    Level {
        /// New level.
        level: u8,
        /// Why.
        reason: String,
    },
    /// Send to another department.
    Department {
        /// New department.
        department: protocol::Department,
        /// Why.
        reason: String,
    },
    /// Replace the text of a field: `slot:<slot code>`, `history`, `medications`, `allergies`,
    /// `hpi`.
    Field {
        /// Field id.
        field: String,
        /// New text.
        text: String,
        /// Why.
        reason: String,
    },
    /// Approve the card.
    Approve,
    /// The patient has been seen.
    Seen,
}

impl Change {
    /// Audit wording: what changed, without the patient's words.
    fn audit_detail(&self) -> String {
        match self {
            Self::Level { level, .. } => format!("level -> {level}"),
            Self::Department { department, .. } => format!("department -> {}", department.code()),
            Self::Field { field, .. } => format!("field {field} edited"),
            Self::Approve => "approved".into(),
            Self::Seen => "marked seen".into(),
        }
    }

    fn action(&self) -> &'static str {
        match self {
            Self::Level { .. } => "change_level",
            Self::Department { .. } => "change_department",
            Self::Field { .. } => "edit",
            Self::Approve => "approve",
            Self::Seen => "seen",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Level { reason, .. } | Self::Department { reason, .. } | Self::Field { reason, .. } => {
                Some(reason)
            }
            Self::Approve | Self::Seen => None,
        }
    }

    /// Applies the change to `card`; the status it leads to, if it changes the status.
    fn apply(&self, card: &mut ConditionCard, at_ms: u64) -> std::result::Result<Option<Status>, String> {
        use protocol::{AnswerSource, PatientText, Provenance};
        let provenance = |field: &str, text: &str| Provenance {
            turn: 0,
            question_id: field.to_owned(),
            answer: PatientText::new(text),
            at_ms,
            source: AnswerSource::Staff,
        };
        match self {
            Self::Level { level, .. } => {
                if !(1..=4).contains(level) {
                    return Err(format!("level {level} is not 1 to 4"));
                }
                card.triage.level = *level;
            }
            Self::Department { department, .. } => card.triage.department = *department,
            Self::Field { field, text, .. } => {
                let new = PatientText::new(text.clone());
                let entry = || protocol::HistoryEntry {
                    text: new.clone(),
                    denied: false,
                    provenance: provenance(field, text),
                };
                match field.as_str() {
                    "history" => card.history = Some(entry()),
                    "medications" => card.medications = Some(entry()),
                    "allergies" => card.allergies = Some(entry()),
                    "hpi" => {
                        card.hpi = protocol::Bilingual::new(text.clone(), text.clone());
                        // The nurse's words now, not the model's draft.
                        card.hpi_drafted = None;
                    }
                    other => {
                        let Some(code) = other.strip_prefix("slot:") else {
                            return Err(format!("unknown field {other:?}"));
                        };
                        let Some(slot) = protocol::Slot::ALL.into_iter().find(|s| s.code() == code) else {
                            return Err(format!("unknown slot {code:?}"));
                        };
                        let value =
                            SlotValue { slot, text: new.clone(), provenance: provenance(field, text) };
                        value.put(card);
                    }
                }
            }
            Self::Approve => return Ok(Some(Status::Approved)),
            Self::Seen => return Ok(Some(Status::Seen)),
        }
        Ok(None)
    }
}

struct SlotValue {
    slot: protocol::Slot,
    text: protocol::PatientText,
    provenance: protocol::Provenance,
}

impl SlotValue {
    fn put(self, card: &mut ConditionCard) {
        match card.slots.iter_mut().find(|e| e.slot == self.slot) {
            Some(e) => {
                e.text = self.text;
                e.value = None;
                e.provenance = self.provenance;
            }
            None => card.slots.push(protocol::SlotEntry {
                slot: self.slot,
                text: self.text,
                value: None,
                provenance: self.provenance,
            }),
        }
    }
}

/// A 现病史 / HPI the kiosk's language model finished after the card was sent (the patient
/// confirmed before the draft was done), already checked by the kiosk against the card's facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftedHpi {
    /// The card it belongs to.
    pub card_id: String,
    /// The language it is written in (the other language keeps its text).
    pub lang: protocol::Lang,
    /// The text.
    pub text: String,
}

/// Longest drafted 现病史 accepted, in characters.
pub const MAX_DRAFTED_HPI_CHARS: usize = 2000;

/// What became of a [`DraftedHpi`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Amended {
    /// It is on the card now, as this version.
    Applied(u32),
    /// The card already carries it (a redelivery): nothing changed.
    Already,
    /// Not applied, and never will be (the reason, without patient words): a nurse has edited
    /// the card, or it has left the waiting queue. The card keeps its text.
    Refused(&'static str),
}

/// The storage seam: the SQLite store, or another a site needs.
pub trait CardStore: Send {
    /// Stores `card` under `idempotency_key` unless that key is already stored.
    fn submit(
        &mut self,
        card: &ConditionCard,
        idempotency_key: &str,
        by: &Actor,
        at_ms: u64,
    ) -> Result<Submitted>;
    /// The card `card_id` (the read is audited).
    fn card(&mut self, card_id: &str, by: &Actor, at_ms: u64) -> Result<Option<StoredCard>>;
    /// Cards not yet seen, by level then waiting time.
    fn queue(&self) -> Result<Vec<QueueEntry>>;
    /// The audit log of `card_id`, oldest first.
    fn audit(&self, card_id: &str) -> Result<Vec<AuditEntry>>;
    /// A nurse's change to the card at `expected_version`; returns the new version. Refused when
    /// the card changed since (another nurse), or when a change needing a reason has none.
    fn change(
        &mut self,
        card_id: &str,
        expected_version: u32,
        change: &Change,
        by: &Actor,
        at_ms: u64,
    ) -> Result<u32>;
    /// Puts the kiosk's late-drafted 现病史 on the card as a new version (audited as the kiosk's),
    /// unless a nurse has edited the card or it is no longer waiting: a nurse's words always win.
    fn amend_hpi(&mut self, drafted: &DraftedHpi, by: &Actor, at_ms: u64) -> Result<Amended>;
}

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |e: rusqlite::Error| StoreError::Open { path: path.to_owned(), detail: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Open { path: path.to_owned(), detail: e.to_string() })?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        // WAL with full sync: a commit is on disk when it returns, readers never block the writer.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        let mut store = Self { conn, path: path.to_owned() };
        schema::migrate(&mut store.conn, path).map_err(|e| match e {
            StoreError::Sql(e) => open_err(e),
            other => other,
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Retention: deletes cards (and their versions) received before `cutoff_ms`; the audit log
    /// keeps one `purge` record per card (no patient text is in it). Returns how many went.
    pub fn purge(&mut self, cutoff_ms: u64, at_ms: u64) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let ids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT card_id FROM cards WHERE received_ms < ?1")?;
            stmt.query_map([cutoff_ms as i64], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        for id in &ids {
            tx.execute("DELETE FROM card_versions WHERE card_id = ?1", [id])?;
            tx.execute("DELETE FROM cards WHERE card_id = ?1", [id])?;
            Self::log(&tx, at_ms, &Actor::System, "purge", id, "retention period over")?;
        }
        tx.commit()?;
        if !ids.is_empty() {
            tracing::info!(cards = ids.len(), "cards purged after the retention period");
        }
        Ok(ids.len())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn log(
        tx: &rusqlite::Transaction<'_>,
        at_ms: u64,
        by: &Actor,
        action: &str,
        card_id: &str,
        detail: &str,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO audit (at_ms, actor, action, card_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at_ms as i64, by.label(), action, card_id, detail],
        )?;
        Ok(())
    }

    /// Writes `card` as `version` (the card, its version row, the audit line `detail`).
    fn put_version(
        tx: &rusqlite::Transaction<'_>,
        card: &ConditionCard,
        version: u32,
        new: &NewVersion<'_>,
        detail: &str,
    ) -> Result<()> {
        let card_id = card.card_id.as_str();
        let json = serde_json::to_string(card)
            .map_err(|e| StoreError::BadCard { card_id: card_id.to_owned(), detail: e.to_string() })?;
        tx.execute(
            "UPDATE cards SET card_json = ?2, version = ?3, level = ?4, department = ?5,
                status = COALESCE(?6, status) WHERE card_id = ?1",
            params![
                card_id,
                json,
                version,
                card.triage.level,
                card.triage.department.code(),
                new.status.map(Status::code)
            ],
        )?;
        tx.execute(
            "INSERT INTO card_versions (card_id, version, at_ms, actor, card_json, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![card_id, version, new.at_ms as i64, new.by.label(), json, new.reason],
        )?;
        Self::log(tx, new.at_ms, new.by, new.action, card_id, detail)
    }
}

/// Who makes a new version of a card, and why.
struct NewVersion<'a> {
    /// The status it leads to, if it changes it.
    status: Option<Status>,
    by: &'a Actor,
    at_ms: u64,
    /// The nurse's reason.
    reason: Option<&'a str>,
    /// The audit action.
    action: &'a str,
}

fn parse_card(card_id: &str, json: &str) -> Result<ConditionCard> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::BadCard { card_id: card_id.to_owned(), detail: e.to_string() })
}

impl CardStore for SqliteStore {
    fn submit(
        &mut self,
        card: &ConditionCard,
        idempotency_key: &str,
        by: &Actor,
        at_ms: u64,
    ) -> Result<Submitted> {
        let tx = self.conn.transaction()?;
        let existing: Option<String> = tx
            .query_row("SELECT card_id FROM cards WHERE idempotency_key = ?1", [idempotency_key], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(stored) = existing {
            if stored != card.card_id {
                return Err(StoreError::KeyReused { stored, submitted: card.card_id.clone() });
            }
            Self::log(&tx, at_ms, by, "resubmit", &card.card_id, "duplicate ignored")?;
            tx.commit()?;
            return Ok(Submitted::Duplicate);
        }
        let json = serde_json::to_string(card)
            .map_err(|e| StoreError::BadCard { card_id: card.card_id.clone(), detail: e.to_string() })?;
        tx.execute(
            "INSERT INTO cards (card_id, idempotency_key, version, level, department, red_flag, status, received_ms, card_json)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, 'waiting', ?6, ?7)",
            params![
                card.card_id,
                idempotency_key,
                card.triage.level,
                card.triage.department.code(),
                !card.red_flags.is_empty(),
                at_ms as i64,
                json
            ],
        )?;
        tx.execute(
            "INSERT INTO card_versions (card_id, version, at_ms, actor, card_json) VALUES (?1, 1, ?2, ?3, ?4)",
            params![card.card_id, at_ms as i64, by.label(), json],
        )?;
        Self::log(
            &tx,
            at_ms,
            by,
            "submit",
            &card.card_id,
            &format!("version 1, level {}", card.triage.level),
        )?;
        tx.commit()?;
        tracing::info!(card = %card.card_id, level = card.triage.level, "card stored");
        Ok(Submitted::New)
    }

    fn card(&mut self, card_id: &str, by: &Actor, at_ms: u64) -> Result<Option<StoredCard>> {
        let tx = self.conn.transaction()?;
        let row: Option<(String, u32, i64, String)> = tx
            .query_row(
                "SELECT card_json, version, received_ms, status FROM cards WHERE card_id = ?1",
                [card_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((json, version, received_ms, status)) = row else {
            tx.commit()?;
            return Ok(None);
        };
        Self::log(&tx, at_ms, by, "read", card_id, &format!("version {version}"))?;
        tx.commit()?;
        let card = parse_card(card_id, &json)?;
        Ok(Some(StoredCard {
            card,
            version,
            received_ms: received_ms as u64,
            status: Status::parse(&status),
        }))
    }

    fn queue(&self) -> Result<Vec<QueueEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT card_id, level, department, received_ms, red_flag, status, card_json FROM cards
             WHERE status != 'seen' ORDER BY level ASC, received_ms ASC, card_id ASC",
        )?;
        let rows = stmt.query_map([], |r| {
            let json: String = r.get(6)?;
            let card: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
            Ok(QueueEntry {
                queue_number: card["queue_number"].as_str().map(str::to_owned),
                complaint: card["chief_complaint"]["protocol_id"].as_str().unwrap_or_default().to_owned(),
                card_id: r.get(0)?,
                level: r.get(1)?,
                department: r.get(2)?,
                received_ms: r.get::<_, i64>(3)? as u64,
                red_flag: r.get(4)?,
                status: Status::parse(&r.get::<_, String>(5)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn change(
        &mut self,
        card_id: &str,
        expected_version: u32,
        change: &Change,
        by: &Actor,
        at_ms: u64,
    ) -> Result<u32> {
        if change.reason().is_some_and(|r| r.trim().is_empty()) {
            return Err(StoreError::InvalidChange {
                card_id: card_id.to_owned(),
                detail: "a reason is required".into(),
            });
        }
        let tx = self.conn.transaction()?;
        let row: Option<(String, u32)> = tx
            .query_row("SELECT card_json, version FROM cards WHERE card_id = ?1", [card_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((json, current)) = row else { return Err(StoreError::NotFound(card_id.to_owned())) };
        if current != expected_version {
            return Err(StoreError::Conflict {
                card_id: card_id.to_owned(),
                expected: expected_version,
                current,
            });
        }
        let mut card = parse_card(card_id, &json)?;
        let status = change
            .apply(&mut card, at_ms)
            .map_err(|detail| StoreError::InvalidChange { card_id: card_id.to_owned(), detail })?;
        let version = current + 1;
        let action = NewVersion { status, by, at_ms, reason: change.reason(), action: change.action() };
        Self::put_version(&tx, &card, version, &action, &change.audit_detail())?;
        tx.commit()?;
        tracing::info!(card = %card_id, version, action = change.action(), "card changed");
        Ok(version)
    }

    fn amend_hpi(&mut self, drafted: &DraftedHpi, by: &Actor, at_ms: u64) -> Result<Amended> {
        let card_id = drafted.card_id.as_str();
        let text = drafted.text.trim();
        if text.is_empty() || text.chars().count() > MAX_DRAFTED_HPI_CHARS {
            return Err(StoreError::InvalidChange {
                card_id: card_id.to_owned(),
                detail: format!("a drafted 现病史 must be 1 to {MAX_DRAFTED_HPI_CHARS} characters"),
            });
        }
        let tx = self.conn.transaction()?;
        let row: Option<(String, u32, String)> = tx
            .query_row("SELECT card_json, version, status FROM cards WHERE card_id = ?1", [card_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((json, current, status)) = row else { return Err(StoreError::NotFound(card_id.to_owned())) };
        let mut card = parse_card(card_id, &json)?;
        let lang = drafted.lang;
        if card.hpi_drafted == Some(lang) && card.hpi.get(lang) == text {
            return Ok(Amended::Already);
        }
        let edited: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM audit WHERE card_id = ?1 AND action = 'edit')",
            [card_id],
            |r| r.get(0),
        )?;
        let refusal = if Status::parse(&status) != Status::Waiting {
            Some("the card has left the waiting queue")
        } else if edited {
            Some("a nurse has edited the card")
        } else if card.hpi_drafted.is_some() {
            Some("the card already carries a drafted 现病史")
        } else {
            None
        };
        if let Some(why) = refusal {
            Self::log(&tx, at_ms, by, "draft_hpi_refused", card_id, why)?;
            tx.commit()?;
            return Ok(Amended::Refused(why));
        }
        match lang {
            protocol::Lang::Zh => card.hpi.zh = text.to_owned(),
            protocol::Lang::En => card.hpi.en = text.to_owned(),
        }
        card.hpi_drafted = Some(lang);
        let version = current + 1;
        let action = NewVersion { status: None, by, at_ms, reason: None, action: "draft_hpi" };
        let detail = format!(
            "version {version}: field hpi ({}) drafted by the kiosk's language model, checked against the card",
            lang.code()
        );
        Self::put_version(&tx, &card, version, &action, &detail)?;
        tx.commit()?;
        tracing::info!(card = %card_id, version, "drafted 现病史 put on the card");
        Ok(Amended::Applied(version))
    }

    fn audit(&self, card_id: &str) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, actor, action, card_id, detail FROM audit WHERE card_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([card_id], |r| {
            Ok(AuditEntry {
                at_ms: r.get::<_, i64>(0)? as u64,
                actor: r.get(1)?,
                action: r.get(2)?,
                card_id: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
