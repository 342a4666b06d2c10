//! The FHIR R4 export, checked by two independent validators: the `fhir.resources` models and the
//! official R4 JSON schema (installed by `deploy/test-tools.sh`). Each catches errors the other
//! misses, so both must pass, and the broken bundles below show that each one is needed.

mod common;

use std::path::PathBuf;
use std::process::Command;

use dialogue::eval::run_case;
use dialogue::render::fhir;
use serde_json::Value;

fn tools() -> PathBuf {
    let dir = std::env::var_os("KIOSK_TEST_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/kiosk/test-tools")
    });
    assert!(
        dir.join("fhir.schema.json").exists() && dir.join("venv/bin/python").exists(),
        "FHIR validators missing in {}: run deploy/test-tools.sh (deploy/test.sh does)",
        dir.display()
    );
    dir
}

/// Runs both validators on each bundle; returns (fhir.resources errors, schema errors) per bundle.
fn validate(bundles: &[Value]) -> Vec<(Vec<String>, Vec<String>)> {
    let tools = tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, b) in bundles.iter().enumerate() {
        let path = dir.path().join(format!("bundle-{i}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(b).expect("json")).expect("write");
        files.push(path);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fhir/validate.py");
    let out = Command::new(tools.join("venv/bin/python"))
        .arg(script)
        .arg(tools.join("fhir.schema.json"))
        .args(&files)
        .output()
        .expect("validator runs");
    assert!(out.status.success(), "validator failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("validator output");
            let list = |k: &str| {
                v[k].as_array()
                    .map(|a| a.iter().map(|e| e.as_str().unwrap_or_default().to_owned()).collect())
                    .unwrap_or_default()
            };
            (list("fhir_resources"), list("json_schema"))
        })
        .collect()
}

fn sample_bundles() -> Vec<Value> {
    let engine = common::engine();
    let cases = common::cases("intake_cases.jsonl");
    // A red flag (stops early), a complete routine card, a child, a pregnant patient, a proxy.
    let ids = ["cp-acs-zh", "reflux-en", "child-fever-mild-en", "preg-bleed-en", "stroke-en", "back-mild-en"];
    ids.iter()
        .map(|id| {
            let case = cases.iter().find(|c| c.id == *id).expect("case exists");
            let run = run_case(&engine, case);
            let card = run.card.expect("card");
            let (mut interview, _) = engine.start(case.lang, &card.card_id, 1_795_900_461_000);
            // Re-run to collect the transcript for the QuestionnaireResponse.
            let mut reply = interview.current_question().cloned();
            for _ in 0..60 {
                let Some(q) = reply else { break };
                let answer = dialogue::eval::simulated_answer(case, &q);
                let r = interview.handle(dialogue::Input::Text(answer.into()), 1000);
                reply = r.question;
            }
            let card = interview.card();
            fhir::bundle(&card, &engine.kb, interview.exchanges())
        })
        .collect()
}

#[test]
fn cards_export_as_valid_fhir_r4_bundles() {
    let bundles = sample_bundles();
    for (i, (models, schema)) in validate(&bundles).into_iter().enumerate() {
        assert!(models.is_empty(), "bundle {i}: fhir.resources: {models:?}");
        assert!(schema.is_empty(), "bundle {i}: JSON schema: {schema:?}");
    }
    let rf = &bundles[0];
    let flags: Vec<&Value> = rf["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Flag")
        .collect();
    assert!(!flags.is_empty(), "a red flag becomes a Flag");
    let encounter = rf["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Encounter")
        .expect("encounter");
    assert_eq!(encounter["resource"]["priority"]["coding"][0]["code"], "EM");
}

#[test]
fn each_validator_catches_what_the_other_misses() {
    let good = sample_bundles().remove(1);
    let observation_idx = good["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Observation")
        .expect("observation");
    let mut no_status = good.clone();
    no_status["entry"][observation_idx]["resource"].as_object_mut().expect("object").remove("status");
    let mut bad_code = good.clone();
    bad_code["entry"][observation_idx]["resource"]["status"] = Value::from("done");
    let mut unknown_field = good.clone();
    unknown_field["entry"][0]["resource"]["favouriteColour"] = Value::from("blue");
    let results = validate(&[no_status, bad_code, unknown_field]);
    // A required element missing: the models catch it; the schema cannot (a primitive may be
    // replaced by its `_status` extension).
    assert!(!results[0].0.is_empty(), "fhir.resources catches a missing required status");
    assert!(results[0].1.is_empty(), "the JSON schema does not require primitives");
    // A code outside its value set: the schema's enum catches it; the models only check the type.
    assert!(!results[1].1.is_empty(), "the JSON schema catches an invalid status code");
    assert!(results[1].0.is_empty(), "fhir.resources accepts any well-formed code");
    // Both reject unknown elements.
    assert!(!results[2].0.is_empty() && !results[2].1.is_empty());
}
