//! The console front end through the real engine: a whole interview from typed answers ends in a
//! card stored on disk before the patient is told it was sent.

use kiosk::config::{Config, Env};
use kiosk::startup::ModelHealth;

#[test]
fn a_typed_interview_stores_the_card_before_saying_it_was_sent() {
    let data = tempfile::tempdir().expect("tempdir");
    let env = Env { data_dir: Some(data.path().to_owned()), home: Some("/home/k".into()), ..Env::default() };
    let config = Config::from_toml(None, "-", &env).expect("config");
    let health = ModelHealth { statuses: Vec::new(), degraded: Vec::new() };
    let script = "2\nI have had a sore throat for two days\n30\nmale\nno\nno\nno\n3\nI do not know\nno\nno\nnone\nnone\nnone\nyes\n\n";
    let mut out = Vec::new();
    kiosk::console::run(&config, &health, &mut script.as_bytes(), &mut out).expect("runs");
    let out = String::from_utf8(out).expect("utf-8");
    let sent = out.find("has been saved and sent").unwrap_or_else(|| panic!("never told it was sent: {out}"));
    use store::CardStore as _;
    let mut store = store::SqliteStore::open(&kiosk::console::store_path(data.path())).expect("store opens");
    let queue = store.queue().expect("queue");
    assert_eq!(queue.len(), 1, "{out}");
    let staff = store::Actor::Staff("test".into());
    let card = store.card(&queue[0].card_id, &staff, 0).expect("reads").expect("stored").card;
    assert_eq!(card.chief_complaint.protocol_id, "sore_throat");
    assert!(card.confirmed);
    assert!(out[sent..].contains(&card.card_id), "{out}");
}
