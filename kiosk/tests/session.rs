//! The session state machine on the real intake engine, driven by transcripts alone (what the
//! speech worker would deliver), with fake ports: the whole flow can be done by voice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogue::{Engine, InterviewConfig, KnowledgeBase};
use kiosk::config::Timeouts;
use kiosk::session::{Alert, ConsentStep, Ports, Screen, Session, SessionConfig, UiAction};
use protocol::{ConditionCard, Lang, PatientText};
use speech::asr::Transcript;
use speech::voice::VoiceEvent;
use speech::worker::{SpeechCommand, SpeechEvent, TurnTiming};

#[derive(Default)]
struct FakePorts {
    said: Vec<(String, bool, bool)>,
    commands: Vec<SpeechCommand>,
    alerts: Vec<Alert>,
    cards: Vec<ConditionCard>,
    fail_store: bool,
    next: u64,
    stories: Vec<(u64, String)>,
    ended: Vec<u64>,
    /// Narrative requests (session, facts) when a model is there to take them.
    narratives: Option<Vec<(u64, Vec<String>)>>,
    stopped: Vec<u64>,
    /// What the station was shown of drafts written after their card was sent.
    progress: Vec<(String, String)>,
    /// 现病史 drafted after their card was sent, stored to follow it.
    amended: Vec<store::DraftedHpi>,
}

impl Ports for FakePorts {
    fn say(&mut self, text: &str, _lang: Lang, elderly: bool, private: bool) -> u64 {
        self.said.push((text.to_owned(), elderly, private));
        self.next += 1;
        self.next
    }
    fn stop_voice(&mut self) {}
    fn warm(&mut self, _prompts: Vec<(String, Lang, bool)>) {}
    fn speech(&mut self, command: SpeechCommand) {
        self.commands.push(command);
    }
    fn alert(&mut self, alert: Alert) {
        self.alerts.push(alert);
    }
    fn submit(&mut self, card: &ConditionCard) -> anyhow::Result<String> {
        anyhow::ensure!(!self.fail_store, "disk full");
        self.cards.push(card.clone());
        Ok(format!("A{:03}", self.cards.len()))
    }
    fn read_story(&mut self, session: u64, story: &str, _lang: Lang) {
        self.stories.push((session, story.to_owned()));
    }
    fn end_story(&mut self, session: u64) {
        self.ended.push(session);
    }
    fn draft_narrative(&mut self, session: u64, facts: &[String], _lang: Lang) -> bool {
        self.narratives.as_mut().map(|n| n.push((session, facts.to_vec()))).is_some()
    }
    fn stop_narrative(&mut self, session: u64) {
        self.stopped.push(session);
    }
    fn draft_progress(&mut self, card_id: &str, _lang: Lang, text: &str) {
        self.progress.push((card_id.to_owned(), text.to_owned()));
    }
    fn amend_hpi(&mut self, drafted: &store::DraftedHpi) -> anyhow::Result<()> {
        anyhow::ensure!(!self.fail_store, "disk full");
        self.amended.push(drafted.clone());
        Ok(())
    }
}

fn session(timeouts: Timeouts) -> (Session, FakePorts, Instant) {
    session_with(timeouts, &[Lang::Zh])
}

/// A session whose model (if the ports have one) drafts the narrative in `narrative_languages`.
fn session_with(timeouts: Timeouts, narrative_languages: &[Lang]) -> (Session, FakePorts, Instant) {
    let env = kiosk::config::Env { home: Some("/nonexistent".into()), ..kiosk::config::Env::default() };
    let config = kiosk::config::Config::from_toml(None, "-", &env).expect("defaults");
    let kb = Arc::new(KnowledgeBase::embedded().expect("kb"));
    let engine = Arc::new(Engine::new(kb, InterviewConfig::default()));
    let now = Instant::now();
    let config = SessionConfig {
        timeouts,
        narrative_languages: narrative_languages.to_vec(),
        ..SessionConfig::from_config(&config)
    };
    let mut s = Session::new(engine, config, now);
    let mut ports = FakePorts::default();
    s.greet(&mut ports);
    (s, ports, now)
}

fn transcript(text: &str) -> SpeechEvent {
    let t = Transcript {
        text: PatientText::new(text),
        lang: Lang::Zh,
        confidence: 0.9,
        no_speech_prob: 0.0,
        audio_s: 2.0,
        compute_ms: 300,
        filtered: false,
    };
    SpeechEvent::Final(t, TurnTiming { speech_ms: 2000, end_delay_ms: 900, final_latency_ms: 300 })
}

/// Says `text` after the kiosk has finished speaking.
fn speak(s: &mut Session, ports: &mut FakePorts, now: Instant, text: &str) {
    s.on_voice(VoiceEvent::Finished { id: ports.next }, now);
    s.on_speech(transcript(text), now, ports);
}

#[test]
fn a_whole_interview_by_voice_alone_in_mandarin() {
    let (mut s, mut ports, now) = session(Timeouts::default());
    assert_eq!(*s.screen(), Screen::Welcome);
    speak(&mut s, &mut ports, now, "你好，我要看病");
    assert_eq!(*s.screen(), Screen::Consent(ConsentStep::Ai));
    speak(&mut s, &mut ports, now, "请再说一遍");
    assert_eq!(*s.screen(), Screen::Consent(ConsentStep::Ai), "repeat keeps the screen");
    let (a, b) = (&ports.said[ports.said.len() - 2].0, &ports.said[ports.said.len() - 1].0);
    assert_eq!(a, b, "the consent notice is said again");
    speak(&mut s, &mut ports, now, "同意");
    speak(&mut s, &mut ports, now, "可以，同意");
    assert_eq!(*s.screen(), Screen::Interview);
    // Elderly mode on request: slower speech from now on, longer end-of-turn waits.
    speak(&mut s, &mut ports, now, "说慢一点");
    assert!(ports.commands.iter().any(|c| matches!(c, SpeechCommand::Elderly(true))));
    assert!(ports.said.last().is_some_and(|(_, elderly, _)| *elderly));
    let answers = [
        "我肚子疼，从昨天晚上开始的",
        "右下腹",
        "一阵一阵的绞痛",
        "六分",
        "没有",
        "没有",
        "没有",
        "没有",
        "没有",
        "三十五岁",
        "女",
        "没有",
        "没有",
        "没有",
        "没有",
        "没有",
        "没有",
    ];
    let mut i = 0;
    while matches!(s.screen(), Screen::Interview) && i < 40 {
        let text = answers.get(i).copied().unwrap_or("没有");
        speak(&mut s, &mut ports, now, text);
        i += 1;
    }
    assert_eq!(*s.screen(), Screen::ReadBack, "{:?}", s.view(now).question);
    assert!(ports.said.last().is_some_and(|(_, _, private)| *private), "the read-back is private");
    speak(&mut s, &mut ports, now, "对的");
    let Screen::Handoff(h) = s.screen().clone() else { panic!("{:?}", s.screen()) };
    assert_eq!(ports.cards.len(), 1);
    assert_eq!(h.card_id, ports.cards[0].card_id);
    assert!(ports.cards[0].chief_complaint.zh.contains("腹"), "{:?}", ports.cards[0].chief_complaint);
    // Every question was spoken.
    assert!(ports.said.len() > i);
}

#[test]
fn a_red_flag_by_voice_stops_the_interview_and_alerts_staff() {
    let (mut s, mut ports, now) = session(Timeouts::default());
    s.on_ui(UiAction::ChooseLanguage(Lang::En), now, &mut ports);
    speak(&mut s, &mut ports, now, "yes");
    speak(&mut s, &mut ports, now, "yes I agree");
    assert_eq!(*s.screen(), Screen::Interview);
    speak(&mut s, &mut ports, now, "I have crushing chest pain and I'm sweating all over");
    assert!(matches!(s.screen(), Screen::Emergency { .. }), "{:?}", s.screen());
    assert!(
        ports
            .alerts
            .iter()
            .any(|a| matches!(a, Alert::RedFlag { rule_id, level: 1 | 2, .. } if rule_id == "RF-CHEST-ACS")),
        "{:?}",
        ports.alerts
    );
    assert_eq!(ports.cards.len(), 1, "the emergency card goes to the station");
}

#[test]
fn a_card_that_cannot_be_stored_is_never_announced_as_sent() {
    let (mut s, mut ports, now) = session(Timeouts::default());
    ports.fail_store = true;
    s.on_ui(UiAction::ChooseLanguage(Lang::En), now, &mut ports);
    s.on_ui(UiAction::Consent(true), now, &mut ports);
    s.on_ui(UiAction::Consent(true), now, &mut ports);
    let mut n = 0;
    while *s.screen() == Screen::Interview && n < 40 {
        speak(&mut s, &mut ports, now, if n == 0 { "I have a sore throat" } else { "no" });
        n += 1;
    }
    speak(&mut s, &mut ports, now, "yes");
    assert_eq!(*s.screen(), Screen::ReadBack, "still at the read-back");
    assert!(s.view(now).notice.is_some_and(|n| n.contains("could not be saved")));
    assert!(ports.alerts.iter().any(|a| matches!(a, Alert::StoreFailed { .. })));
    // Once the store works again, confirming sends it.
    ports.fail_store = false;
    speak(&mut s, &mut ports, now, "yes");
    assert!(matches!(s.screen(), Screen::Handoff(_)), "{:?}", s.screen());
}

#[test]
fn inactivity_asks_then_wipes_everything() {
    let t = Timeouts {
        inactivity: Duration::from_secs(60),
        warning: Duration::from_secs(20),
        handoff: Duration::from_secs(30),
    };
    let (mut s, mut ports, start) = session(t);
    s.on_ui(UiAction::ChooseLanguage(Lang::Zh), start, &mut ports);
    s.on_ui(UiAction::Consent(true), start, &mut ports);
    s.on_ui(UiAction::Consent(true), start, &mut ports);
    speak(&mut s, &mut ports, start, "我头疼得厉害");
    assert!(s.holds_patient_data());
    s.on_voice(VoiceEvent::Finished { id: ports.next }, start);
    // Not yet.
    s.tick(start + Duration::from_secs(59), &mut ports);
    assert!(s.view(start).timeout_left_s.is_none());
    // "Need more time?", spoken, with at least 20 s to answer.
    s.tick(start + Duration::from_secs(61), &mut ports);
    assert_eq!(s.view(start + Duration::from_secs(61)).timeout_left_s, Some(20));
    assert!(ports.said.last().is_some_and(|(t, _, _)| t.contains("更多时间")));
    // Answered by voice: the session goes on.
    s.on_voice(VoiceEvent::Finished { id: ports.next }, start + Duration::from_secs(62));
    s.on_speech(transcript("需要"), start + Duration::from_secs(65), &mut ports);
    assert!(s.view(start).timeout_left_s.is_none());
    assert_eq!(*s.screen(), Screen::Interview);
    // Later, unanswered: wiped.
    s.on_voice(VoiceEvent::Finished { id: ports.next }, start + Duration::from_secs(66));
    s.tick(start + Duration::from_secs(130), &mut ports);
    s.tick(start + Duration::from_secs(151), &mut ports);
    assert_eq!(*s.screen(), Screen::Welcome);
    assert!(!s.holds_patient_data());
    assert!(s.interview().is_none());
    assert!(s.view(start).patient_texts().is_empty());
    assert!(ports.commands.iter().any(|c| matches!(c, SpeechCommand::Reset)));
    assert!(ports.cards.is_empty(), "nothing was confirmed, nothing stored");
}

#[test]
fn the_handoff_is_wiped_for_the_next_patient() {
    let t = Timeouts { handoff: Duration::from_secs(30), ..Timeouts::default() };
    let (mut s, mut ports, now) = session(t);
    s.on_ui(UiAction::ChooseLanguage(Lang::En), now, &mut ports);
    s.on_ui(UiAction::Consent(true), now, &mut ports);
    s.on_ui(UiAction::Consent(true), now, &mut ports);
    let mut n = 0;
    while *s.screen() == Screen::Interview && n < 40 {
        speak(&mut s, &mut ports, now, if n == 0 { "I have a rash on my arm" } else { "no" });
        n += 1;
    }
    speak(&mut s, &mut ports, now, "yes that's right");
    assert!(matches!(s.screen(), Screen::Handoff(_)));
    s.tick(now + Duration::from_secs(31), &mut ports);
    assert_eq!(*s.screen(), Screen::Welcome);
    assert!(!s.holds_patient_data());
}

#[test]
fn the_opening_story_goes_to_the_model_and_its_reading_fills_slots_not_yet_asked() {
    use protocol::{AnswerSource, Slot};
    let (mut s, mut ports, now) = session(Timeouts::default());
    speak(&mut s, &mut ports, now, "你好");
    speak(&mut s, &mut ports, now, "同意");
    speak(&mut s, &mut ports, now, "同意");
    assert_eq!(*s.screen(), Screen::Interview);
    let story = "昨天换了新的洗衣液以后两条胳膊上起了红疹子，特别痒";
    speak(&mut s, &mut ports, now, story);
    assert_eq!(
        ports.stories,
        vec![(s.generation(), story.to_owned())],
        "the story is sent once, after the opening"
    );
    // The model's reading arrives while the interview goes on; a late one for an old session is dropped.
    let reading =
        vec![(Slot::Location, "两条胳膊上".to_owned(), None), (Slot::Severity, "9".to_owned(), Some(9.0))];
    s.on_story(s.generation() + 1, &reading);
    let before = s.interview().expect("interview").card();
    assert!(before.slot(Slot::Location).is_none_or(|e| e.provenance.source != AnswerSource::Model));
    s.on_story(s.generation(), &reading);
    let card = s.interview().expect("interview").card();
    let location = card.slot(Slot::Location).expect("location from the story");
    if before.slot(Slot::Location).is_none() {
        assert_eq!(location.provenance.source, AnswerSource::Model);
    }
    assert!(
        card.slot(Slot::Severity).is_none_or(|e| e.provenance.source != AnswerSource::Model),
        "severity never comes from the model"
    );
    // Wiping the session stops the model's work for it.
    let generation = s.generation();
    s.wipe(now, &mut ports);
    assert_eq!(ports.ended, vec![generation]);
}

/// An English interview up to the read-back, with a model to draft the narrative.
fn at_read_back() -> (Session, FakePorts, Instant) {
    read_back_in_english(&[Lang::Zh, Lang::En], true)
}

/// The English interview up to the read-back, drafting in `narrative_languages` if there is a
/// `model`.
fn read_back_in_english(narrative_languages: &[Lang], model: bool) -> (Session, FakePorts, Instant) {
    let (mut s, mut ports, now) = session_with(Timeouts::default(), narrative_languages);
    ports.narratives = model.then(Vec::new);
    s.on_ui(UiAction::ChooseLanguage(Lang::En), now, &mut ports);
    s.on_ui(UiAction::Consent(true), now, &mut ports);
    s.on_ui(UiAction::Consent(true), now, &mut ports);
    let mut n = 0;
    while *s.screen() == Screen::Interview && n < 40 {
        let answer =
            if n == 0 { "I have had a headache since yesterday, at the back of my head" } else { "no" };
        speak(&mut s, &mut ports, now, answer);
        n += 1;
    }
    assert_eq!(*s.screen(), Screen::ReadBack);
    (s, ports, now)
}

#[test]
fn the_narrative_streams_onto_the_read_back_and_goes_on_the_card_only_when_it_passes_the_check() {
    let (mut s, mut ports, now) = at_read_back();
    let requests = ports.narratives.clone().expect("model");
    assert_eq!(requests.len(), 1, "one draft is asked for at the read-back");
    let (generation, facts) = requests[0].clone();
    assert_eq!(generation, s.generation());
    assert!(facts.iter().any(|f| f.starts_with("Chief complaint: ")), "{facts:?}");
    let card = s.interview().expect("interview").card();
    let view = s.view(now).narrative.expect("the summary is on the read-back");
    assert!(view.writing && view.text.is_empty() && !view.drafted);

    // It streams in; text for another session is not shown.
    s.on_narrative_text(generation + 1, "Nothing to do with this patient.", &mut ports);
    s.on_narrative_text(generation, "The patient ", &mut ports);
    s.on_narrative_text(generation, "presents", &mut ports);
    assert_eq!(s.view(now).narrative.expect("summary").text, "The patient presents");
    assert!(s.view(now).patient_texts().iter().any(|t| t == "The patient presents"));

    // A draft naming a symptom the card does not hold is refused: the deterministic text stays.
    s.on_narrative(
        generation,
        Some(format!(
            "The patient presents with {} and a high fever.",
            card.chief_complaint.en.to_lowercase()
        )),
        &mut ports,
    );
    let view = s.view(now).narrative.expect("summary");
    assert!(!view.writing && !view.drafted);
    assert_eq!(view.text, card.hpi.en);
    assert_eq!(s.interview().expect("interview").card().hpi_drafted, None);

    // Asked again (the read-back is repeated with the same facts): a faithful draft goes on the card.
    speak(&mut s, &mut ports, now, "say that again");
    assert_eq!(ports.narratives.as_ref().map(Vec::len), Some(2));
    let faithful = format!("The patient presents with {}.", card.chief_complaint.en.to_lowercase());
    s.on_narrative(generation, Some(faithful.clone()), &mut ports);
    let view = s.view(now).narrative.expect("summary");
    assert!(view.drafted && view.text == faithful, "{view:?}");
    speak(&mut s, &mut ports, now, "yes that's right");
    assert!(matches!(s.screen(), Screen::Handoff(_)));
    let sent = ports.cards.last().expect("card sent");
    assert_eq!(sent.hpi.en, faithful);
    assert_eq!(sent.hpi_drafted, Some(Lang::En));
    assert_eq!(sent.hpi.zh, dialogue::card::hpi(sent).zh, "the other language keeps the deterministic text");
    // A late answer after the card was sent changes nothing.
    s.on_narrative(generation, Some("The patient is fine.".into()), &mut ports);
    assert_eq!(ports.cards.len(), 1);
    assert!(ports.amended.is_empty(), "the card went with its checked draft: nothing follows it");
}

#[test]
fn a_slow_draft_is_stopped_at_its_budget_and_the_card_goes_with_the_deterministic_text() {
    let (mut s, mut ports, now) = at_read_back();
    let generation = s.generation();
    s.on_narrative_text(generation, "The patient", &mut ports);
    s.tick(now + Duration::from_secs(30), &mut ports);
    assert!(s.view(now).narrative.expect("summary").writing, "within the budget it keeps writing");
    s.tick(now + Duration::from_secs(46), &mut ports);
    assert_eq!(ports.stopped, vec![generation], "stopped at the budget (45 s by default)");
    let view = s.view(now).narrative.expect("summary");
    assert!(!view.writing && !view.drafted);
}

#[test]
fn a_draft_still_written_at_confirmation_follows_the_card_to_the_station() {
    // Confirming while a draft is written sends the card at once, with the deterministic text.
    let (mut s, mut ports, now) = at_read_back();
    let generation = s.generation();
    speak(&mut s, &mut ports, now, "yes that's right");
    assert!(matches!(s.screen(), Screen::Handoff(_)));
    assert!(ports.stopped.is_empty(), "the draft goes on after the hand-off");
    let sent = ports.cards.last().expect("card sent").clone();
    assert_eq!(sent.hpi_drafted, None);
    assert_eq!(sent.hpi, dialogue::card::hpi(&sent));

    // It streams to the station, also after the session is wiped (the next patient may begin).
    s.on_narrative_text(generation, "The patient ", &mut ports);
    s.wipe(now, &mut ports);
    assert!(!s.holds_patient_data());
    assert!(!ports.ended.contains(&generation), "the model keeps the conversation it is drafting in");
    s.on_narrative_text(generation, "presents", &mut ports);
    assert_eq!(
        ports.progress,
        vec![
            (sent.card_id.clone(), "The patient ".into()),
            (sent.card_id.clone(), "The patient presents".into())
        ]
    );
    assert!(s.view(now).narrative.is_none(), "the next patient's screen shows none of it");

    // Finished and checked against the card as sent, it is stored to follow the card.
    let faithful = format!("The patient presents with {}.", sent.chief_complaint.en.to_lowercase());
    s.on_narrative(generation, Some(faithful.clone()), &mut ports);
    assert_eq!(ports.amended.len(), 1);
    let drafted = &ports.amended[0];
    assert_eq!(
        (drafted.card_id.as_str(), drafted.lang, drafted.text.as_str()),
        (sent.card_id.as_str(), Lang::En, faithful.as_str())
    );
    assert!(ports.ended.contains(&generation), "then the model forgets the conversation");
    // Nothing more for that card.
    s.on_narrative(generation, Some(faithful), &mut ports);
    assert_eq!(ports.amended.len(), 1);

    // A late draft that fails the check is dropped: the card keeps its text.
    let (mut s, mut ports, now) = at_read_back();
    let generation = s.generation();
    speak(&mut s, &mut ports, now, "yes that's right");
    s.on_narrative(generation, Some("The patient has a high fever and a rash.".into()), &mut ports);
    assert!(ports.amended.is_empty());

    // And one over its time budget is stopped, also after the wipe.
    let (mut s, mut ports, now) = at_read_back();
    let generation = s.generation();
    speak(&mut s, &mut ports, now, "yes that's right");
    s.wipe(now, &mut ports);
    s.tick(now + Duration::from_secs(46), &mut ports);
    assert_eq!(ports.stopped, vec![generation]);
    assert!(ports.ended.contains(&generation));
    s.on_narrative(generation, Some("The patient presents.".into()), &mut ports);
    assert!(ports.amended.is_empty(), "a draft after its budget is not used");
}

#[test]
fn no_draft_is_asked_for_in_a_language_not_configured_for_it() {
    let (s, ports, now) = read_back_in_english(&[Lang::Zh], true);
    assert_eq!(ports.narratives, Some(Vec::new()));
    let view = s.view(now).narrative.expect("summary");
    assert!(!view.writing && !view.drafted);
}

#[test]
fn without_a_model_the_read_back_shows_the_deterministic_summary() {
    let (mut s, mut ports, now) = at_read_back();
    let (plain, _, _) = read_back_in_english(&[Lang::Zh, Lang::En], false);
    let view = plain.view(now).narrative.expect("summary");
    assert!(!view.writing && !view.drafted);
    assert_eq!(view.text, plain.interview().expect("interview").card().hpi.en);
    // Wiping drops the draft with everything else.
    s.wipe(now, &mut ports);
    assert!(s.view(now).narrative.is_none() && !s.holds_patient_data());
}
