//! The SQLite store on real files: durability across reopening, idempotent resubmission, the
//! queue's order, the append-only audit log, and damaged or newer databases.

use std::sync::Arc;

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use protocol::ConditionCard;
use store::{Actor, Amended, CardStore, Change, DraftedHpi, SqliteStore, StoreError, Submitted};

/// Real cards from the engine, one per intake case.
fn cards(n: usize) -> Vec<ConditionCard> {
    let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
    dialogue::eval::intake_cards(&Arc::new(Engine::new(kb, InterviewConfig::default())), n)
}

fn kiosk() -> Actor {
    Actor::Kiosk("lobby-1".into())
}

#[test]
fn a_stored_card_survives_reopening_and_is_never_duplicated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cards.sqlite");
    let card = cards(1).remove(0);
    {
        let mut store = SqliteStore::open(&path).expect("opens");
        assert_eq!(store.submit(&card, "key-1", &kiosk(), 1_000).expect("submits"), Submitted::New);
        assert_eq!(store.submit(&card, "key-1", &kiosk(), 2_000).expect("resubmits"), Submitted::Duplicate);
    }
    let mut store = SqliteStore::open(&path).expect("reopens");
    assert_eq!(store.queue().expect("queue").len(), 1, "one card, not two");
    let stored =
        store.card(&card.card_id, &Actor::Staff("nurse-li".into()), 3_000).expect("reads").expect("found");
    assert_eq!(stored.card, card);
    assert_eq!(stored.version, 1);
    let audit = store.audit(&card.card_id).expect("audit");
    let actions: Vec<(&str, &str)> = audit.iter().map(|a| (a.actor.as_str(), a.action.as_str())).collect();
    assert_eq!(
        actions,
        vec![("kiosk:lobby-1", "submit"), ("kiosk:lobby-1", "resubmit"), ("staff:nurse-li", "read")]
    );
    // A key reused for another card is refused, not silently accepted.
    let other = cards(2).remove(1);
    assert!(matches!(store.submit(&other, "key-1", &kiosk(), 4_000), Err(StoreError::KeyReused { .. })));
}

#[test]
fn the_queue_is_ordered_by_level_then_waiting_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("opens");
    let all = cards(140);
    for (i, card) in all.iter().enumerate() {
        store.submit(card, &format!("k{i}"), &kiosk(), 10_000 - i as u64 * 10).expect("submits");
    }
    let queue = store.queue().expect("queue");
    assert_eq!(queue.len(), all.len());
    assert!(queue.iter().any(|e| e.level <= 2) && queue.iter().any(|e| e.level >= 3), "mixed levels");
    for pair in queue.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.level < b.level || (a.level == b.level && a.received_ms <= b.received_ms),
            "{a:?} before {b:?}"
        );
    }
}

#[test]
fn the_audit_log_is_append_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cards.sqlite");
    let card = cards(1).remove(0);
    SqliteStore::open(&path).expect("opens").submit(&card, "k", &kiosk(), 1).expect("submits");
    // Even with direct access to the file, the log cannot be rewritten.
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let err = conn.execute("UPDATE audit SET actor = 'someone-else'", []).expect_err("update refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn.execute("DELETE FROM audit", []).expect_err("delete refused");
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn damaged_and_newer_databases_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, b"this is not a database, just some text that is long enough").expect("write");
    let err = SqliteStore::open(&garbage).expect_err("garbage").to_string();
    assert!(err.contains("garbage.sqlite") && err.contains("move it aside"), "{err}");

    let newer = dir.path().join("newer.sqlite");
    SqliteStore::open(&newer).expect("creates");
    rusqlite::Connection::open(&newer).expect("raw").pragma_update(None, "user_version", 99).expect("bump");
    let err = SqliteStore::open(&newer).expect_err("newer").to_string();
    assert!(err.contains("schema version 99") && err.contains("newer kiosk build"), "{err}");
    let store = SqliteStore::open(&dir.path().join("fresh.sqlite")).expect("fresh");
    assert_eq!(store.schema_version().expect("version"), store::SCHEMA_VERSION);
}

#[test]
fn nurse_changes_are_versioned_audited_and_guarded() {
    use store::{Change, Status};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("opens");
    let card = cards(1).remove(0);
    store.submit(&card, "k", &kiosk(), 1_000).expect("submits");
    let nurse = Actor::Staff("nurse-wang".into());
    let v2 = store
        .change(&card.card_id, 1, &Change::Level { level: 2, reason: "looks unwell".into() }, &nurse, 2_000)
        .expect("level changed");
    assert_eq!(v2, 2);
    let edit = Change::Field {
        field: "slot:onset".into(),
        text: "三天前".into(),
        reason: "patient clarified".into(),
    };
    let v3 = store.change(&card.card_id, 2, &edit, &nurse, 3_000).expect("edited");
    // A second nurse still looking at version 2 cannot overwrite version 3.
    let stale = Change::Department { department: protocol::Department::Neurology, reason: "r".into() };
    let err =
        store.change(&card.card_id, 2, &stale, &Actor::Staff("nurse-zhao".into()), 3_500).expect_err("stale");
    assert!(matches!(err, StoreError::Conflict { current: 3, .. }), "{err}");
    // Changes need a reason; levels are 1 to 4.
    let err = store
        .change(&card.card_id, v3, &Change::Level { level: 1, reason: " ".into() }, &nurse, 4_000)
        .expect_err("no reason");
    assert!(err.to_string().contains("reason"), "{err}");
    let err = store
        .change(&card.card_id, v3, &Change::Level { level: 7, reason: "x".into() }, &nurse, 4_000)
        .expect_err("bad level");
    assert!(err.to_string().contains("not 1 to 4"), "{err}");
    let v4 = store.change(&card.card_id, v3, &Change::Approve, &nurse, 5_000).expect("approved");

    let stored = store.card(&card.card_id, &nurse, 6_000).expect("reads").expect("found");
    assert_eq!((stored.version, stored.status, stored.card.triage.level), (v4, Status::Approved, 2));
    let onset = stored.card.slots.iter().find(|s| s.slot == protocol::Slot::Onset).expect("onset");
    assert_eq!(onset.text.expose(), "三天前");
    assert_eq!(onset.provenance.source, protocol::AnswerSource::Staff);
    assert_eq!(store.queue().expect("queue")[0].level, 2);

    let audit = store.audit(&card.card_id).expect("audit");
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, vec!["submit", "change_level", "edit", "approve", "read"]);
    // The audit log names the field, never the patient's words.
    assert!(audit.iter().all(|a| !a.detail.contains("三天前")));
    store.change(&card.card_id, v4, &Change::Seen, &nurse, 7_000).expect("seen");
    assert!(store.queue().expect("queue").is_empty(), "seen cards leave the queue");
}

/// Fails every delivery after `ok` successes, like a link that drops.
struct Flaky {
    ok: usize,
    delivered: Vec<String>,
}

impl store::outbox::Deliver for Flaky {
    fn deliver(&mut self, card: &ConditionCard, _key: &str) -> Result<(), String> {
        if self.delivered.len() >= self.ok {
            return Err("connection refused".into());
        }
        self.delivered.push(card.card_id.clone());
        Ok(())
    }
    fn amend(&mut self, drafted: &DraftedHpi) -> Result<(), String> {
        if self.delivered.len() >= self.ok {
            return Err("connection refused".into());
        }
        self.delivered.push(format!("hpi:{}", drafted.card_id));
        Ok(())
    }
}

#[test]
fn a_late_drafted_hpi_lands_once_audited_and_never_over_a_nurses_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("opens");
    let mut all = cards(3);
    for (i, card) in all.iter().enumerate() {
        store.submit(card, &card.card_id, &kiosk(), 1_000 + i as u64).expect("submits");
    }
    let nurse = Actor::Staff("nurse-li".into());
    let card = all.remove(0);
    let lang = card.language;
    let drafted =
        DraftedHpi { card_id: card.card_id.clone(), lang, text: "  患者三天前起头痛。 ".into() };
    assert_eq!(store.amend_hpi(&drafted, &kiosk(), 2_000).expect("amends"), Amended::Applied(2));
    assert_eq!(store.amend_hpi(&drafted, &kiosk(), 2_100).expect("again"), Amended::Already, "redelivery");
    let stored = store.card(&card.card_id, &nurse, 2_200).expect("reads").expect("found");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.card.hpi.get(lang), "患者三天前起头痛。");
    assert_eq!(stored.card.hpi_drafted, Some(lang));
    let other = if lang == protocol::Lang::Zh { protocol::Lang::En } else { protocol::Lang::Zh };
    assert_eq!(stored.card.hpi.get(other), card.hpi.get(other), "the other language keeps its text");
    let stored_card = ConditionCard { hpi: card.hpi.clone(), hpi_drafted: None, ..stored.card };
    assert_eq!(stored_card, card, "nothing but the 现病史 changed");
    let audit = store.audit(&card.card_id).expect("audit");
    let line = audit.iter().find(|a| a.action == "draft_hpi").expect("audited");
    assert_eq!(line.actor, "kiosk:lobby-1");
    assert!(!line.detail.contains("头痛"), "no patient words in the audit: {}", line.detail);

    // After a nurse's edit the nurse's words stand.
    let edited = all.remove(0);
    store
        .change(
            &edited.card_id,
            1,
            &Change::Field {
                field: "allergies".into(),
                text: "青霉素".into(),
                reason: "told at the desk".into(),
            },
            &nurse,
            3_000,
        )
        .expect("edits");
    let drafted =
        DraftedHpi { card_id: edited.card_id.clone(), lang: edited.language, text: "患者头痛。".into() };
    assert_eq!(
        store.amend_hpi(&drafted, &kiosk(), 3_100).expect("answers"),
        Amended::Refused("a nurse has edited the card")
    );
    // Nor on a card the nurse has approved.
    let approved = all.remove(0);
    store.change(&approved.card_id, 1, &Change::Approve, &nurse, 3_200).expect("approves");
    let drafted =
        DraftedHpi {
            card_id: approved.card_id.clone(), lang: approved.language, text: "患者头痛。".into()
        };
    assert!(matches!(store.amend_hpi(&drafted, &kiosk(), 3_300), Ok(Amended::Refused(_))));
    let audit = store.audit(&approved.card_id).expect("audit");
    assert_eq!(audit.last().map(|a| a.action.as_str()), Some("draft_hpi_refused"));
    // Unknown cards and empty or oversized texts are errors.
    let ghost = DraftedHpi { card_id: "nope".into(), lang, text: "x".into() };
    assert!(matches!(store.amend_hpi(&ghost, &kiosk(), 4_000), Err(StoreError::NotFound(_))));
    let empty = DraftedHpi { card_id: card.card_id.clone(), lang, text: " ".into() };
    assert!(matches!(store.amend_hpi(&empty, &kiosk(), 4_000), Err(StoreError::InvalidChange { .. })));
    let long = DraftedHpi { card_id: card.card_id.clone(), lang, text: "头".repeat(2001) };
    assert!(matches!(store.amend_hpi(&long, &kiosk(), 4_000), Err(StoreError::InvalidChange { .. })));
}

#[test]
fn the_outbox_keeps_cards_until_acknowledged_and_never_duplicates() {
    use store::outbox::{LocalDelivery, Outbox};
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(&dir.path().join("outbox")).expect("outbox");
    let all = cards(3);
    for (i, card) in all.iter().enumerate() {
        outbox.put(card, 1_000 + i as u64).expect("put");
    }
    // A crash mid-write leaves a partial file: reopening clears it, the rest stays.
    std::fs::write(dir.path().join("outbox/.x.card.json.partial"), b"{").expect("partial");
    let outbox = Outbox::open(&dir.path().join("outbox")).expect("reopen");
    assert_eq!(outbox.pending().expect("pending"), 3);

    // The link drops after one card: one delivered (the oldest), two kept.
    let mut flaky = Flaky { ok: 1, delivered: Vec::new() };
    let drained = outbox.drain(&mut flaky).expect("drain");
    assert_eq!((drained.delivered, drained.remaining), (1, 2));
    assert_eq!(flaky.delivered, vec![all[0].card_id.clone()]);
    assert_eq!(drained.error.as_deref(), Some("connection refused"));

    // Restored: the rest drains into the store. A card delivered but not yet removed (crash
    // after the acknowledgement) is delivered again and stored once.
    outbox.put(&all[0], 999).expect("put again");
    let mut store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("store");
    store.submit(&all[0], &all[0].card_id, &kiosk(), 1).expect("first delivery reached the store");
    let mut local = LocalDelivery { store: &mut store, kiosk: kiosk(), now_ms: || 5_000 };
    let drained = outbox.drain(&mut local).expect("drain");
    assert_eq!((drained.delivered, drained.remaining, drained.error), (3, 0, None));
    assert_eq!(store.queue().expect("queue").len(), 3, "three cards, none twice");

    // A 现病史 drafted after its card was sent goes behind it, and lands once.
    let fresh = cards(4).remove(3);
    let drafted =
        DraftedHpi { card_id: fresh.card_id.clone(), lang: fresh.language, text: "患者头痛。".into() };
    outbox.put(&fresh, 6_000).expect("put");
    outbox.put_hpi(&drafted, 6_001).expect("put hpi");
    let mut flaky = Flaky { ok: 1, delivered: Vec::new() };
    assert_eq!(outbox.drain(&mut flaky).expect("drain").remaining, 1, "the link drops after the card");
    assert_eq!(flaky.delivered, vec![fresh.card_id.clone()]);
    let mut store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("store");
    store.submit(&fresh, &fresh.card_id, &kiosk(), 6_500).expect("the card reached the store");
    outbox.put_hpi(&drafted, 6_002).expect("a second copy (a crash before removal)");
    let mut local = LocalDelivery { store: &mut store, kiosk: kiosk(), now_ms: || 7_000 };
    assert_eq!(outbox.drain(&mut local).expect("drain").delivered, 2);
    let stored = store.card(&fresh.card_id, &kiosk(), 7_100).expect("reads").expect("found");
    assert_eq!((stored.version, stored.card.hpi.get(fresh.language)), (2, "患者头痛。"));
    // A damaged drafted file is set aside, not retried for ever.
    std::fs::write(dir.path().join("outbox/0000000000009000-x.hpi.json"), b"{").expect("damaged");
    let drained = outbox.drain(&mut flaky).expect("drain");
    assert_eq!((drained.delivered, drained.remaining), (0, 0));
    assert!(dir.path().join("outbox/0000000000009000-x.hpi.damaged").exists());
}

#[test]
fn retention_purges_old_cards_and_keeps_the_audit_trail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("cards.sqlite")).expect("opens");
    let all = cards(3);
    for (i, card) in all.iter().enumerate() {
        store.submit(card, &card.card_id, &kiosk(), 1_000 * (i as u64 + 1)).expect("submits");
    }
    assert_eq!(store.purge(2_500, 10_000).expect("purges"), 2);
    let left: Vec<String> = store.queue().expect("queue").into_iter().map(|e| e.card_id).collect();
    assert_eq!(left, vec![all[2].card_id.clone()]);
    let nurse = Actor::Staff("n".into());
    assert!(store.card(&all[0].card_id, &nurse, 11_000).expect("reads").is_none(), "gone");
    let audit = store.audit(&all[0].card_id).expect("audit");
    assert_eq!(audit.last().map(|a| a.action.as_str()), Some("purge"));
}
