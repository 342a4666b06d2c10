//! Interview behaviour: touch-only and voice-only paths, repeats, proxies, corrections after the
//! read-back, red-flag interrupts, and hostile input.

mod common;

use dialogue::{Input, Phase, Reply, Touch};
use protocol::{AnswerSource, Disposition, Lang, PatientText, QuestionKind, Respondent, Sex, Slot};

fn say(text: &str) -> Input {
    Input::Text(PatientText::new(text))
}

#[test]
fn red_flag_in_the_opening_stops_the_interview_at_once() {
    let engine = common::engine();
    let (mut interview, _) = engine.start(Lang::En, "t1", 0);
    let reply = interview.handle(say("I have crushing chest pain and I'm drenched in sweat"), 1_000);
    assert_eq!(reply.phase, Phase::Emergency);
    assert!(reply.question.is_none(), "no more questions");
    let alert = reply.alert.expect("staff alerted");
    assert_eq!(alert.rule_id, "RF-CHEST-ACS");
    assert!(reply.say.iter().any(|s| s.contains("ECG")), "instruction spoken: {:?}", reply.say);
    // Nothing the patient says afterwards changes the outcome.
    let after = interview.handle(say("actually I feel fine now"), 2_000);
    assert_eq!(after.phase, Phase::Emergency);
    let card = interview.card();
    assert_eq!(card.triage.disposition, Disposition::Emergency);
    assert_eq!(card.red_flags[0].rule_id, "RF-CHEST-ACS");
    assert!(card.red_flags[0].evidence.contains(&"sweating".to_owned()));
}

#[test]
fn a_warning_sign_in_an_opening_that_names_no_complaint_still_stops_the_interview() {
    // No protocol is recognised here, so the kiosk would ask for more; the red flag comes first.
    let engine = common::engine();
    for (lang, text, rule) in [
        (Lang::En, "I took a whole bottle of pills", "RF-POISONING"),
        (Lang::Zh, "他喝了半瓶农药", "RF-POISONING"),
        (Lang::En, "grandma is really drowsy and we can't wake her properly", "RF-ALTERED-CONSCIOUSNESS"),
    ] {
        let (mut interview, _) = engine.start(lang, "t0", 0);
        let reply = interview.handle(say(text), 1_000);
        assert_eq!(reply.phase, Phase::Emergency, "{text}");
        assert_eq!(reply.alert.map(|a| a.rule_id).as_deref(), Some(rule), "{text}");
    }
}

/// Answers every question by touch only; the interview must finish with a card.
#[test]
fn the_whole_interview_can_be_done_by_touch() {
    let engine = common::engine();
    let (mut interview, first) = engine.start(Lang::Zh, "t2", 0);
    let mut reply = interview.handle(Input::Touch(Touch::Option("头痛".into())), 1_000);
    let _ = first;
    let mut n = 0;
    while let Some(q) = reply.question.clone() {
        n += 1;
        assert!(n < 40, "interview does not end");
        let touch = match q.kind {
            QuestionKind::Age => Touch::AgeYears(34.0),
            QuestionKind::Sex => Touch::Sex(Sex::Male),
            QuestionKind::Severity => Touch::Rating(3),
            QuestionKind::Onset | QuestionKind::Duration => Touch::DurationHours(48.0),
            QuestionKind::Symptom | QuestionKind::Pregnancy => Touch::No,
            QuestionKind::Confirm => Touch::Yes,
            _ => Touch::DontKnow,
        };
        reply = interview.handle(Input::Touch(touch), 1_000 + n * 1_000);
    }
    assert_eq!(reply.phase, Phase::Complete);
    let card = interview.card();
    assert!(card.confirmed);
    assert_eq!(card.chief_complaint.protocol_id, "headache");
    assert_eq!(card.slot(Slot::Severity).and_then(|s| s.value), Some(3.0));
    assert_eq!(card.slot(Slot::Severity).map(|s| s.provenance.source), Some(AnswerSource::Touch));
    assert_eq!(card.patient.age.map(|a| a.years().round()), Some(34.0));
    assert!(card.chief_complaint.zh.starts_with("头痛"), "{}", card.chief_complaint.zh);
    assert!(card.chief_complaint.zh.chars().count() <= 20);
    assert!(card.negatives().count() >= 2, "pertinent negatives recorded");
}

#[test]
fn say_that_again_repeats_without_advancing() {
    let engine = common::engine();
    let (mut interview, _) = engine.start(Lang::En, "t3", 0);
    let r1 = interview.handle(say("I've had a sore throat for two days"), 1_000);
    let q1 = r1.question.expect("question");
    let again = interview.handle(Input::Repeat, 2_000);
    assert_eq!(again.question.as_ref(), Some(&q1), "same question again");
    assert!(again.say[0].contains("again"), "{:?}", again.say);
    assert_eq!(interview.n_questions(), 1, "a repeat is not a new question");
}

#[test]
fn a_parent_answers_for_a_child_and_the_rules_use_the_childs_age() {
    let engine = common::engine();
    let (mut interview, _) = engine.start(Lang::Zh, "t4", 0);
    let reply = interview.handle(say("我儿子两个月大，发烧了"), 1_000);
    // The child's age (two months) and a fever: the infant rule fires at once.
    assert_eq!(reply.phase, Phase::Emergency, "{:?}", reply.question);
    let card = interview.card();
    assert_eq!(card.red_flags[0].rule_id, "RF-INFANT-FEVER");
    assert_eq!(card.respondent, Respondent::Proxy { relation: "儿子".into() });
    assert_eq!(card.patient.sex, Some(Sex::Male));

    // A baby's age told in weeks, and a sign the infant protocol screens for (sleepy): still the
    // feverish infant, not a tired patient.
    let (mut interview, _) = engine.start(Lang::En, "t4b", 0);
    let reply = interview.handle(say("my baby is only five weeks, she feels warm and is very sleepy"), 1_000);
    assert_eq!(reply.phase, Phase::Emergency, "{:?}", reply.question);
    assert!(interview.facts().present.contains("cc:fever_infant"), "{:?}", interview.facts().present);

    let (mut interview, _) = engine.start(Lang::En, "t5", 0);
    let reply = interview.handle(say("My mother is 80 and she has had a cough for a week"), 1_000);
    let q = reply.question.expect("question");
    assert_ne!(q.kind, QuestionKind::Age, "age given in the opening is not asked again");
    assert_ne!(q.kind, QuestionKind::Sex, "sex follows from 'mother'");
}

/// Runs the interview with scripted answers per question kind until the read-back.
fn to_read_back(
    lang: Lang,
    opening: &str,
    answer: impl Fn(QuestionKind) -> &'static str,
) -> (dialogue::Interview, Reply) {
    let engine = common::engine();
    let (mut interview, _) = engine.start(lang, "t6", 0);
    let mut reply = interview.handle(say(opening), 1_000);
    for n in 0..40u64 {
        let q = reply.question.clone().expect("question");
        if q.kind == QuestionKind::Confirm {
            return (interview, reply);
        }
        reply = interview.handle(say(answer(q.kind)), 2_000 + n * 1_000);
    }
    panic!("no read-back");
}

#[test]
fn corrections_after_read_back_are_applied_recorded_and_read_back_again() {
    let (mut interview, reply) = to_read_back(Lang::Zh, "腰疼", |k| match k {
        QuestionKind::Age => "40岁",
        QuestionKind::Sex => "男",
        QuestionKind::Onset => "三天前",
        QuestionKind::Severity => "4分",
        QuestionKind::Symptom => "没有",
        _ => "不知道",
    });
    assert!(reply.say.iter().any(|s| s.contains("复述")), "read back: {:?}", reply.say);
    assert_eq!(interview.card().triage.disposition, Disposition::SelfCare);
    // "No: it started five days ago, and it is 7 out of 10" -> duration corrected.
    let reply = interview.handle(say("不对，是五天前开始的"), 30_000);
    assert_eq!(reply.question.as_ref().map(|q| q.kind), Some(QuestionKind::Confirm), "read back again");
    let card = interview.card();
    assert_eq!(card.slot(Slot::Duration).and_then(|s| s.value), Some(120.0));
    assert_eq!(card.corrections.len(), 1);
    assert_eq!(card.corrections[0].field, "slot:duration");
    // A correction to the severity raises the level: triage is recomputed.
    let _ = interview.handle(Input::Correct { field: "slot:severity".into(), text: "8分".into() }, 31_000);
    let card = interview.card();
    assert_eq!(card.triage.disposition, Disposition::Urgent, "severe pain is urgent");
    assert_eq!(card.corrections.len(), 2);
    let done = interview.handle(say("对"), 32_000);
    assert_eq!(done.phase, Phase::Complete);
    assert!(interview.card().confirmed);
}

#[test]
fn a_correction_that_reveals_a_red_flag_interrupts() {
    let (mut interview, _) = to_read_back(Lang::En, "My back hurts", |k| match k {
        QuestionKind::Age => "45",
        QuestionKind::Sex => "male",
        QuestionKind::Severity => "5",
        QuestionKind::Symptom => "no",
        _ => "I don't know",
    });
    let reply = interview.handle(say("No, I forgot: I can't control my bladder since yesterday"), 40_000);
    assert_eq!(reply.phase, Phase::Emergency);
    assert_eq!(reply.alert.map(|a| a.rule_id), Some("RF-CAUDA-EQUINA".into()));
}

#[test]
fn which_part_to_change_is_asked_when_not_said() {
    let (mut interview, _) = to_read_back(Lang::En, "I have a rash on my arm", |k| match k {
        QuestionKind::Age => "30",
        QuestionKind::Sex => "female",
        QuestionKind::Pregnancy => "no",
        _ => "I don't know",
    });
    let reply = interview.handle(say("no"), 40_000);
    let q = reply.question.expect("asks which part");
    assert_eq!(q.kind, QuestionKind::Other);
    let reply = interview.handle(say("the age"), 41_000);
    assert_eq!(reply.question.map(|q| q.kind), Some(QuestionKind::Age));
    let reply = interview.handle(say("31"), 42_000);
    assert_eq!(reply.question.map(|q| q.kind), Some(QuestionKind::Confirm));
    assert_eq!(interview.card().patient.age.map(|a| a.years().round()), Some(31.0));
}

#[test]
fn hostile_or_meaningless_input_never_breaks_the_interview() {
    let engine = common::engine();
    let long = "疼".repeat(20_000);
    let inputs = [
        "",
        "   ",
        "'; DROP TABLE cards; --",
        "<script>alert(1)</script>",
        "\u{0}\u{1}\u{7f}\u{202e}",
        "🙂🙂🙂",
        "Bonjour, j'ai mal",
        long.as_str(),
        "999999999999999999999999999 years old",
        "-5",
    ];
    for lang in [Lang::Zh, Lang::En] {
        let (mut interview, _) = engine.start(lang, "t7", 0);
        let mut at = 0;
        for text in inputs.iter().cycle().take(60) {
            at += 1_000;
            let reply = interview.handle(say(text), at);
            if reply.question.is_none() {
                break;
            }
        }
        let card = interview.card();
        assert!(card.patient.age.is_none_or(|a| a.years() < 130.0), "absurd ages rejected");
        assert!((0.0..=1.0).contains(&card.completeness));
    }
}

#[test]
fn every_question_exists_in_both_languages() {
    let engine = common::engine();
    let kb = &engine.kb;
    for c in kb.concepts.iter().filter_map(|c| c.ask.as_ref()) {
        assert!(!c.zh.trim().is_empty() && !c.en.trim().is_empty());
        assert!(c.zh.chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)), "{} is Mandarin", c.zh);
    }
    for p in &kb.protocols {
        for t in p.slot_questions.values() {
            assert!(!t.zh.trim().is_empty() && !t.en.trim().is_empty(), "{}", p.id);
        }
        assert!(!p.name.zh.is_empty() && !p.name.en.is_empty());
    }
}

#[test]
fn poor_sleep_from_another_complaint_does_not_choose_the_mood_protocol() {
    let engine = common::engine();
    for (lang, text, want) in [
        (Lang::Zh, "牙疼得晚上睡不着", "cc:toothache"),
        (Lang::Zh, "夜里咳得睡不着", "cc:cough"),
        (Lang::Zh, "最近老是失眠", "cc:low_mood_anxiety"),
        (Lang::En, "my back hurts so much I can't sleep", "cc:back_pain"),
    ] {
        let (mut interview, _) = engine.start(lang, "sleep", 0);
        interview.handle(say(text), 1_000);
        let facts = interview.facts();
        assert!(facts.present.contains(want), "{text}: {facts:?}");
        assert!(facts.present.contains("insomnia"), "{text}: poor sleep recorded too");
    }
}
