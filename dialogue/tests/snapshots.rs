//! Snapshots of a complete card and its FHIR bundle, ids and times redacted, so that a change to
//! the card's structure or wording shows up in review. `UPDATE_SNAPSHOTS=1` rewrites them.

mod common;

use dialogue::eval::run_case;
use serde_json::Value;

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let volatile = matches!(
                    k.as_str(),
                    "card_id"
                        | "id"
                        | "fullUrl"
                        | "reference"
                        | "at_ms"
                        | "elapsed_ms"
                        | "started_unix_ms"
                        | "timestamp"
                        | "authored"
                        | "effectiveDateTime"
                        | "start"
                );
                if volatile && !val.is_object() && !val.is_array() {
                    *val = Value::from("<redacted>");
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn check(name: &str, mut value: Value) {
    redact(&mut value);
    let text = serde_json::to_string_pretty(&value).expect("json") + "\n";
    let path = format!("{}/tests/snapshots/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() || !std::path::Path::new(&path).exists() {
        std::fs::write(&path, &text).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("snapshot");
    assert!(
        expected == text,
        "{name} changed; review and run with UPDATE_SNAPSHOTS=1 if intended\n--- got ---\n{text}"
    );
}

#[test]
fn card_and_fhir_snapshots() {
    let engine = common::engine();
    let cases = common::cases("intake_cases.jsonl");
    for id in ["reflux-en", "cp-acs-zh"] {
        let case = cases.iter().find(|c| c.id == id).expect("case");
        let run = run_case(&engine, case);
        let card = run.card.expect("card");
        check(&format!("card-{id}.json"), serde_json::to_value(&card).expect("card json"));
        check(&format!("fhir-{id}.json"), dialogue::render::fhir::bundle(&card, &engine.kb, &[]));
    }
}
