//! The touch screen, headless (egui_kittest), on the real session thread, intake engine and
//! SQLite store; only the voice is a fake that "speaks" instantly and records what it said.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use dialogue::{Engine, Expect, InterviewConfig, KnowledgeBase};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use kiosk::app::KioskApp;
use kiosk::config::Timeouts;
use kiosk::orchestrator::{Orchestrator, Parts, StoreSink};
use kiosk::session::{Alert, Screen, Session, SessionConfig, View};
use protocol::Lang;
use speech::voice::{Speaks, VoiceEvent};
use store::CardStore as _;

/// What the fake voice said, and whether privately.
type Said = Arc<Mutex<Vec<(String, bool)>>>;

/// A voice that finishes at once and remembers what it said.
struct FakeVoice {
    said: Said,
    next: std::sync::atomic::AtomicU64,
    tx: Sender<VoiceEvent>,
    rx: Receiver<VoiceEvent>,
}

impl FakeVoice {
    fn new() -> (Self, Said) {
        let (tx, rx) = bounded(1024);
        let said = Arc::new(Mutex::new(Vec::new()));
        (Self { said: Arc::clone(&said), next: 1.into(), tx, rx }, said)
    }
    fn speak(&self, text: &str, private: bool) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.said.lock().expect("lock").push((text.to_owned(), private));
        let _ = self.tx.try_send(VoiceEvent::Started { id, first_audio_ms: 0 });
        let _ = self.tx.try_send(VoiceEvent::Finished { id });
        id
    }
}

impl Speaks for FakeVoice {
    fn say(&self, text: &str, _lang: Lang, _elderly: bool) -> u64 {
        self.speak(text, false)
    }
    fn say_private(&self, text: &str, _lang: Lang, _elderly: bool) -> u64 {
        self.speak(text, true)
    }
    fn stop(&self) {}
    fn events(&self) -> &Receiver<VoiceEvent> {
        &self.rx
    }
}

struct Kiosk {
    harness: Harness<'static, KioskApp>,
    alerts: Receiver<Alert>,
    said: Said,
    data: tempfile::TempDir,
    _orchestrator: Orchestrator,
}

fn session_config(timeouts: Timeouts) -> SessionConfig {
    let env = kiosk::config::Env { home: Some("/nonexistent".into()), ..kiosk::config::Env::default() };
    let config = kiosk::config::Config::from_toml(None, "-", &env).expect("defaults");
    SessionConfig { timeouts, ..SessionConfig::from_config(&config) }
}

fn kiosk_with(timeouts: Timeouts) -> Kiosk {
    let data = tempfile::tempdir().expect("tempdir");
    let kb = Arc::new(KnowledgeBase::embedded().expect("knowledge base"));
    let engine = Arc::new(Engine::new(kb, InterviewConfig::default()));
    let sink = StoreSink::open(&data.path().join("cards.sqlite"), "lobby-1").expect("store");
    let (voice, said) = FakeVoice::new();
    let (alert_tx, alerts) = bounded(64);
    let parts = Parts {
        session: Session::new(engine, session_config(timeouts), Instant::now()),
        voice: Box::new(voice),
        speech: None,
        sink: Box::new(sink),
        alerts: alert_tx,
        assist: None,
    };
    let orchestrator = Orchestrator::spawn(parts, || {}).expect("session thread");
    let app =
        KioskApp::new(orchestrator.actions.clone(), orchestrator.views.clone(), orchestrator.first.clone());
    let harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        // The test harness panics on a character no font can draw: every word on every screen
        // these tests visit is covered by the embedded fonts.
        .with_context_setup(kiosk::app::install_fonts)
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    Kiosk { harness, alerts, said, data, _orchestrator: orchestrator }
}

fn kiosk() -> Kiosk {
    kiosk_with(Timeouts::default())
}

impl Kiosk {
    fn view(&self) -> View {
        self.harness.state().view().clone()
    }

    /// Steps frames until `done` holds for the view on screen.
    fn wait(&mut self, what: &str, done: impl Fn(&View) -> bool) {
        let start = Instant::now();
        loop {
            self.harness.step();
            if done(self.harness.state().view()) {
                self.harness.step();
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}: {:#?}",
                self.view()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn click(&mut self, label: &str) {
        self.harness.get_by_label(label).scroll_to_me();
        self.harness.step();
        self.harness.get_by_label(label).click();
        self.harness.step();
    }

    /// Clicks `label` and waits until the view changes.
    fn tap(&mut self, label: &str) {
        let before = self.view();
        self.click(label);
        self.wait(label, |v| *v != before);
    }

    fn start(&mut self, language: &str, agree: &str) {
        self.wait("welcome", |v| v.screen == Screen::Welcome);
        self.tap(language);
        self.wait("consent", |v| matches!(v.screen, Screen::Consent(_)));
        self.tap(agree);
        self.tap(agree);
        self.wait("interview", |v| v.screen == Screen::Interview);
    }
}

#[test]
fn the_whole_interview_by_touch_ends_in_a_stored_card_and_a_handoff() {
    let mut k = kiosk();
    k.start("English", "✔ I agree");
    let mut answered = 0;
    while k.view().screen == Screen::Interview {
        let q = k.view().question.expect("a question");
        match q.expect {
            Expect::FreeText if q.id.starts_with("opening") => k.tap("Chest"),
            Expect::YesNo | Expect::FreeText => k.tap("✖ No"),
            Expect::Confirm => k.tap("✔ Yes"),
            Expect::Rating => {
                k.harness.get_by(|n| n.label().is_some_and(|l| l.starts_with("3\n"))).click();
                let before = k.view();
                k.wait("rating", |v| *v != before);
            }
            Expect::Age => {
                k.click("4");
                k.click("5");
                assert_eq!(k.harness.state().typed().1, "45");
                k.tap("✔ years");
            }
            Expect::Sex => k.tap("Male"),
            Expect::Duration => k.tap("Two or three days"),
            Expect::Temperature => k.tap("Don't know"),
        }
        answered += 1;
        assert!(answered < 40, "the interview does not end: {:#?}", k.view());
    }
    assert_eq!(k.view().screen, Screen::ReadBack, "{:#?}", k.view());
    let review = k.view().review;
    assert!(
        review.iter().any(|l| l.label == "Main problem" && l.value.to_lowercase().contains("chest")),
        "{review:?}"
    );
    assert!(review.iter().any(|l| l.field == "age" && l.value.contains("45")), "{review:?}");
    // What the doctor will read is on the screen too (the deterministic text: no model here).
    k.harness.get_by_label("Summary for the doctor");
    let summary = k.view().narrative.expect("the summary");
    assert!(!summary.drafted && summary.text.contains("45-year-old"), "{summary:?}");
    k.harness.get_by_label(&summary.text);
    // The read-back quotes the patient: spoken privately (never cached).
    assert!(k.said.lock().expect("lock").last().is_some_and(|(_, private)| *private));
    k.tap("✔ Yes, send it to the nurse");
    let Screen::Handoff(h) = k.view().screen else { panic!("no hand-off: {:#?}", k.view()) };
    k.harness.get_by_label("✔ Your card has been sent");
    k.harness.get_by_label(&h.number);
    k.harness.get_by_label("QR");
    // Stored before the patient was told.
    let store = store::SqliteStore::open(&k.data.path().join("cards.sqlite")).expect("store");
    let queue = store.queue().expect("queue");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].card_id, h.card_id);
    // Every question was spoken.
    let said = k.said.lock().expect("lock").clone();
    assert!(said.len() >= answered, "{} spoken for {answered} answers", said.len());
    k.tap("Done");
    assert_eq!(k.view().screen, Screen::Welcome);
    assert!(k.view().patient_texts().is_empty());
}

#[test]
fn a_red_flag_answer_shows_the_emergency_screen_and_alerts_staff() {
    let mut k = kiosk();
    k.start("中文", "✔ 同意");
    let edit = k.harness.get_by_label("也可以在这里输入");
    edit.focus();
    edit.type_text("突然一边手脚没力气，说话也说不清楚了");
    k.harness.step();
    k.tap("确定");
    k.wait("emergency", |v| matches!(v.screen, Screen::Emergency { .. }));
    k.harness.get_by_label("⚠ 请立即告诉身边的工作人员");
    k.harness.get_by_label("☎ 已经通知护士，护士马上就到。");
    let alert = k.alerts.recv_timeout(Duration::from_secs(2)).expect("a staff alert");
    assert!(matches!(alert, Alert::RedFlag { level: 1 | 2, .. }), "{alert:?}");
    // The emergency card is in the store, at the top of the queue.
    let store = store::SqliteStore::open(&k.data.path().join("cards.sqlite")).expect("store");
    assert!(store.queue().expect("queue")[0].level <= 2);
}

#[test]
fn every_interactive_widget_has_an_accessible_label() {
    let mut k = kiosk();
    let mut screens = 0;
    let mut check = |k: &mut Kiosk| {
        k.harness.step();
        let unlabeled: Vec<String> = k
            .harness
            .query_all_by(|n| {
                matches!(
                    n.role(),
                    egui::accesskit::Role::Button
                        | egui::accesskit::Role::TextInput
                        | egui::accesskit::Role::CheckBox
                )
            })
            .filter(|n| n.accesskit_node().label().is_none_or(|l| l.trim().is_empty()))
            .map(|n| format!("{:?}", n.accesskit_node().role()))
            .collect();
        assert!(unlabeled.is_empty(), "unlabelled widgets on {:?}: {unlabeled:?}", k.view().screen);
        screens += 1;
    };
    k.wait("welcome", |v| v.screen == Screen::Welcome);
    check(&mut k);
    k.tap("English");
    check(&mut k);
    k.tap("✔ I agree");
    k.tap("✔ I agree");
    k.wait("interview", |v| v.screen == Screen::Interview);
    check(&mut k);
    k.tap("Chest");
    check(&mut k);
    k.tap("👓 Large text & voice");
    assert!(k.view().elderly);
    check(&mut k);
    assert_eq!(screens, 5);
}

#[test]
fn the_inactivity_wipe_leaves_no_patient_data_on_screen() {
    let mut k = kiosk_with(Timeouts {
        inactivity: Duration::from_millis(600),
        warning: Duration::from_millis(900),
        handoff: Duration::from_secs(60),
    });
    k.start("English", "✔ I agree");
    // An answer the kiosk does not understand: it asks the opening question again.
    let edit = k.harness.get_by_label("Or type here");
    edit.focus();
    edit.type_text("blah blah chest");
    k.harness.step();
    k.tap("OK");
    assert!(k.view().heard.is_some());
    assert!(k.view().question.is_some_and(|q| q.id.starts_with("opening")), "{:#?}", k.view());
    // Something typed and not sent is on screen too.
    let edit = k.harness.get_by_label("Or type here");
    edit.focus();
    edit.type_text("private words");
    k.harness.step();
    assert_eq!(k.harness.state().typed().0, "private words");
    // "Need more time?" comes up, then, unanswered, the wipe.
    k.wait("warning", |v| v.timeout_left_s.is_some());
    k.harness.get_by_label("Do you need more time?");
    k.wait("wipe", |v| v.screen == Screen::Welcome);
    let view = k.view();
    assert!(view.patient_texts().is_empty(), "{view:#?}");
    assert!(view.question.is_none() && view.review.is_empty() && view.said.is_empty());
    assert_eq!(k.harness.state().typed(), ("", ""));
    assert!(k.harness.query_by_label_contains("chest").is_none());
    assert!(k.harness.query_by_label_contains("private").is_none());
}

#[test]
fn more_time_keeps_the_session() {
    let mut k = kiosk_with(Timeouts {
        inactivity: Duration::from_millis(500),
        warning: Duration::from_secs(30),
        handoff: Duration::from_secs(60),
    });
    k.start("English", "✔ I agree");
    k.wait("warning", |v| v.timeout_left_s.is_some());
    k.tap("Yes, I need more time");
    assert_eq!(k.view().screen, Screen::Interview);
    assert!(k.view().timeout_left_s.is_none());
}

#[test]
fn declining_consent_sends_the_patient_to_the_desk_and_stores_nothing() {
    let mut k = kiosk();
    k.wait("welcome", |v| v.screen == Screen::Welcome);
    k.tap("English");
    k.tap("✖ No");
    assert_eq!(k.view().screen, Screen::Declined);
    k.harness.get_by_label("That's fine. Please go to the triage desk; a nurse will register you in person.");
    let store = store::SqliteStore::open(&k.data.path().join("cards.sqlite")).expect("store");
    assert!(store.queue().expect("queue").is_empty());
}

#[test]
fn call_staff_works_on_every_screen() {
    let mut k = kiosk();
    k.wait("welcome", |v| v.screen == Screen::Welcome);
    k.tap("☎ 呼叫护士");
    assert!(k.view().staff_called);
    assert!(matches!(k.alerts.recv_timeout(Duration::from_secs(2)), Ok(Alert::CallStaff { card_id: None })));
}
