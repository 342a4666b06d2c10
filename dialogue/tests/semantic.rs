//! How the engine uses a semantic matcher (a fake here; the real one is tested in
//! tests/tests/embed_real.rs): only where the rules found nothing, the best complaint chooses the
//! protocol, red-flag concepts need a clear match, and a denied symptom stays denied.

mod common;

use std::sync::Arc;

use dialogue::{Engine, Input, InterviewConfig, Phase, SemanticMatcher};
use protocol::{Lang, PatientText};

/// Answers every text with fixed scores.
struct Fixed(Vec<(&'static str, f32)>);

impl SemanticMatcher for Fixed {
    fn concepts(&self, _text: &str, _lang: Lang) -> Vec<(String, f32)> {
        self.0.iter().map(|(c, s)| ((*c).to_owned(), *s)).collect()
    }
    fn threshold(&self) -> f32 {
        0.5
    }
}

fn engine_with(scores: Vec<(&'static str, f32)>) -> Arc<Engine> {
    let kb = common::engine().kb.clone();
    Arc::new(Engine::new(kb, InterviewConfig::default()).with_semantic(Arc::new(Fixed(scores))))
}

fn opening(engine: &Arc<Engine>, text: &str) -> (dialogue::Interview, dialogue::Reply) {
    let (mut interview, _) = engine.start(Lang::En, "t", 0);
    let reply = interview.handle(Input::Text(PatientText::new(text)), 1_000);
    (interview, reply)
}

#[test]
fn the_best_complaint_chooses_the_protocol_when_the_rules_find_none() {
    // cyanosis names no complaint; the next concept does.
    let engine = engine_with(vec![("cyanosis", 0.58), ("breathless_at_rest", 0.55), ("headache", 0.51)]);
    let (interview, reply) = opening(&engine, "words the rules do not know");
    assert!(interview.facts().present.contains("cc:shortness_of_breath"), "{:?}", interview.facts());
    // Red-flag concepts below threshold + margin are not recorded, so no alarm: the protocol asks.
    assert!(reply.alert.is_none());
    assert!(!interview.facts().present.contains("cyanosis"));
    assert_ne!(reply.phase, Phase::Emergency);
}

#[test]
fn a_clear_red_flag_match_is_recorded() {
    let engine = engine_with(vec![("suicidal_thoughts", 0.9)]);
    let (_, reply) = opening(&engine, "words the rules do not know");
    assert!(reply.alert.is_some(), "a clearly meant red flag still raises the alarm");
}

#[test]
fn rules_win_where_they_are_sure() {
    // The matcher would say headache; the rules recognise chest pain and are not overridden.
    let engine = engine_with(vec![("headache", 0.95)]);
    let (interview, _) = opening(&engine, "I have chest pain");
    let facts = interview.facts();
    assert!(facts.present.contains("cc:chest_pain"));
    assert!(!facts.present.contains("headache"));
}

#[test]
fn below_the_threshold_nothing_is_taken() {
    let engine = engine_with(vec![("headache", 0.3)]);
    let (interview, _) = opening(&engine, "words the rules do not know");
    assert!(interview.facts().present.iter().all(|p| !p.starts_with("cc:")), "asked again instead");
}

#[test]
fn a_word_that_names_a_complaint_only_weakly_gives_way_to_a_clear_match() {
    // "can't sleep" is sure to be poor sleep but is the complaint only when nothing else is.
    let engine = engine_with(vec![("cough", 0.62)]);
    let (interview, _) = opening(&engine, "I cough so much I can't sleep");
    let facts = interview.facts();
    assert!(facts.present.contains("cc:cough"), "{facts:?}");
    assert!(facts.present.contains("insomnia"), "the poor sleep is still recorded");
    // A guess that is not clear leaves the complaint to the words.
    let engine = engine_with(vec![("cough", 0.52)]);
    let (interview, _) = opening(&engine, "I can't sleep");
    assert!(interview.facts().present.contains("cc:low_mood_anxiety"), "{:?}", interview.facts());
}

#[test]
fn the_matchers_weak_best_guess_is_not_passed_over_for_a_distant_runner_up() {
    // Poor sleep is by far the closest: a sure-complaint concept well below it does not win.
    let engine = engine_with(vec![("insomnia", 0.80), ("urinary_frequency", 0.56)]);
    let (interview, _) = opening(&engine, "words the rules do not know");
    assert!(interview.facts().present.contains("cc:low_mood_anxiety"), "{:?}", interview.facts());
    // Nearly as close, the sure one wins.
    let engine = engine_with(vec![("insomnia", 0.60), ("toothache", 0.58)]);
    let (interview, _) = opening(&engine, "words the rules do not know");
    assert!(interview.facts().present.contains("cc:toothache"), "{:?}", interview.facts());
}
