//! The project's evaluation cases through the real engine with the simulated patient. The build
//! fails if any red-flag case is missed or any emergency is under-triaged; the other figures are
//! printed (and reported by `kiosk eval`), not asserted.

mod common;

use dialogue::eval::evaluate;
use protocol::Disposition;

#[test]
fn no_red_flag_missed_and_no_emergency_under_triaged() {
    let engine = common::engine();
    for file in ["intake_cases.jsonl", "vignette_cases.jsonl"] {
        let cases = common::cases(file);
        let report = evaluate(&engine, &cases);
        eprintln!("{file}\n{}", report.summary());
        let mut failures = Vec::new();
        for run in &report.cases {
            if run.gold.red_flag && run.result.red_flags.is_empty() {
                failures.push(format!("{}: red flag missed", run.id));
            }
            if run.gold.disposition == Disposition::Emergency
                && run.result.disposition != Disposition::Emergency
            {
                failures.push(format!("{}: emergency triaged as {}", run.id, run.result.disposition.code()));
            }
        }
        assert!(failures.is_empty(), "{file}: {failures:#?}");
    }
}

#[test]
fn the_case_set_covers_every_protocol_red_flag_and_both_languages() {
    let engine = common::engine();
    let cases = common::cases("intake_cases.jsonl");
    assert!(cases.len() >= 100);
    let report = evaluate(&engine, &cases);
    let protocols: std::collections::BTreeSet<&str> =
        report.cases.iter().map(|r| r.result.protocol.as_str()).collect();
    for p in &engine.kb.protocols {
        if p.id != "general" && p.id != "leg_swelling" {
            assert!(protocols.contains(p.id.as_str()), "no case runs protocol {}", p.id);
        }
    }
    let fired: std::collections::BTreeSet<&str> =
        report.cases.iter().flat_map(|r| r.result.red_flags.iter().map(String::as_str)).collect();
    for rf in &engine.kb.red_flags {
        if rf.id != "RF-SEPSIS-SUSPECTED" {
            assert!(fired.contains(rf.id.as_str()), "no case fires {}", rf.id);
        }
    }
    assert!(cases.iter().filter(|c| c.lang == protocol::Lang::Zh).count() >= 40);
    assert!(cases.iter().any(|c| c.pregnant == Some(true)));
    assert!(cases.iter().any(|c| c.age_years < 14.0));
}

/// One line of `red_flag_openings.jsonl`.
#[derive(serde::Deserialize)]
struct RedFlagOpening {
    id: String,
    lang: protocol::Lang,
    text: String,
    answers: Vec<String>,
    red_flag: Option<String>,
}

#[test]
fn warning_signs_in_everyday_words_fire_their_rule_and_look_alikes_fire_none() {
    let engine = common::engine();
    let path = format!("{}/cases/red_flag_openings.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("case file");
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: RedFlagOpening = serde_json::from_str(line).expect("case parses");
        n += 1;
        let (mut interview, _) = engine.start(case.lang, &case.id, 0);
        let say = |t: &str| dialogue::Input::Text(protocol::PatientText::new(t));
        let mut reply = interview.handle(say(&case.text), 1_000);
        for (k, answer) in case.answers.iter().enumerate() {
            if reply.alert.is_some() {
                break;
            }
            reply = interview.handle(say(answer), 2_000 + k as u64 * 1_000);
        }
        let fired = reply.alert.map(|a| a.rule_id);
        if fired != case.red_flag {
            failures
                .push(format!("{} {:?}: expected {:?}, fired {fired:?}", case.id, case.text, case.red_flag));
        }
    }
    assert!(n >= 80, "{n} cases");
    assert!(failures.is_empty(), "{failures:#?}");
}
