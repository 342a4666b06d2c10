//! The safety property of the language model seam: whatever a model reads out of the opening
//! story, merging it can neither clear a red flag nor lower a triage level. Checked on every
//! intake case with hostile readings (everything mild, severity 0, "better with rest", the
//! patient's own words swapped between slots).

use std::sync::Arc;

use dialogue::eval::{INTAKE_CASES, parse_cases, run_case, run_case_with};
use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use protocol::Slot;

fn hostile_readings() -> Vec<Vec<(Slot, String, Option<f64>)>> {
    vec![
        vec![
            (Slot::Severity, "0".into(), Some(0.0)),
            (Slot::Character, "mild, nothing serious".into(), None),
            (Slot::Relieving, "better with rest".into(), None),
            (Slot::Duration, "many years".into(), None),
        ],
        vec![
            (Slot::Severity, "1".into(), Some(1.0)),
            (Slot::Character, "轻微，没什么".into(), None),
            (Slot::Onset, "十年前".into(), None),
            (Slot::Timing, "偶尔".into(), None),
        ],
        Slot::ALL.iter().map(|s| (*s, "胸口".to_owned(), None)).collect(),
    ]
}

#[test]
fn no_model_reading_clears_a_red_flag_or_lowers_a_level() {
    let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
    let engine = Arc::new(Engine::new(kb, InterviewConfig::default()));
    let cases = parse_cases(INTAKE_CASES).expect("cases");
    let mut red_flag_cases = 0;
    for case in &cases {
        let plain = run_case(&engine, case);
        let plain_card = plain.card.as_ref().expect("card");
        for reading in hostile_readings() {
            let merged = run_case_with(&engine, case, &mut |interview| {
                interview.merge_story(&reading);
            });
            let card = merged.card.as_ref().expect("card");
            for flag in &plain_card.red_flags {
                assert!(
                    card.red_flags.iter().any(|f| f.rule_id == flag.rule_id),
                    "{}: red flag {} cleared by a model reading",
                    case.id,
                    flag.rule_id
                );
            }
            assert!(
                card.triage.level <= plain_card.triage.level,
                "{}: level {} -> {} after a model reading",
                case.id,
                plain_card.triage.level,
                card.triage.level
            );
        }
        red_flag_cases += usize::from(!plain_card.red_flags.is_empty());
    }
    assert!(red_flag_cases >= 20, "the property is checked on red-flag cases too ({red_flag_cases})");
}
