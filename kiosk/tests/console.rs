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
    let cards: Vec<_> = std::fs::read_dir(data.path().join("cards")).expect("card dir").flatten().collect();
    assert_eq!(cards.len(), 1, "{out}");
    let card: protocol::ConditionCard =
        serde_json::from_slice(&std::fs::read(cards[0].path()).expect("card file")).expect("card parses");
    assert_eq!(card.chief_complaint.protocol_id, "sore_throat");
    assert!(card.confirmed);
    assert!(out[sent..].contains("card file"), "{out}");
    assert!(!cards.iter().any(|c| c.file_name().to_string_lossy().ends_with(".partial")));
}
