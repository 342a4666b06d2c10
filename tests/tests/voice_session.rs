//! Whole interviews by voice alone, through the real pipeline: the patient's answers are
//! synthesised with a Kokoro voice different from the kiosk's and fed through the speech worker
//! in real time with realistic pauses (only after the kiosk has finished speaking, which it does
//! with its own Kokoro voice into a simulated speaker), recognised by whisper, understood by the
//! intake engine (with the language model reading the story and drafting the 现病史 beside it),
//! and end in a card in the SQLite store that matches the scripted facts.

use std::sync::OnceLock;
use std::time::Duration;

use kiosk::session::Screen;
use kiosk::simulate::{Script, SimKit, SimReport};
use protocol::ConditionCard;
use protocol::Sex;

fn config(data: &std::path::Path) -> kiosk::config::Config {
    let env = kiosk::config::Env {
        models_dir: Some(kiosk_tests::models_dir()),
        data_dir: Some(data.to_owned()),
        ..kiosk::config::Env::from_process()
    };
    kiosk::config::Config::from_toml(None, "-", &env).expect("defaults")
}

fn kit() -> &'static SimKit {
    static KIT: OnceLock<SimKit> = OnceLock::new();
    KIT.get_or_init(|| {
        let data = tempfile::tempdir().expect("tempdir");
        SimKit::load(&config(data.path())).expect("voices, whisper and engine load")
    })
}

/// One simulated session at a time: they share the two cores with real-time audio.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The kiosk's voice plays at twice real time here (timing is measured by `kiosk bench session`
/// at real time); the patient still waits for it to finish.
const SPEAKER_SPEED: f64 = 2.0;

fn s(text: &str) -> String {
    text.to_owned()
}

/// Runs `script` (one session at a time) and checks it reached the hand-off with a stored card.
fn run_to_handoff(script: &Script, limit_s: u64) -> (SimReport, ConditionCard) {
    let _one = exclusive();
    let data = tempfile::tempdir().expect("tempdir");
    let mut report = kit()
        .run(&config(data.path()), script, SPEAKER_SPEED, Duration::from_secs(limit_s), None)
        .expect("session runs");
    assert!(
        matches!(report.screen, Screen::Handoff(_)),
        "ended at {:?}; kiosk said {:#?}; heard {:#?}",
        report.screen,
        report.kiosk_said,
        report.heard
    );
    let card = report.card.take().expect("the card is stored");
    // The installed language model reads the story and drafts the 现病史 beside the interview,
    // as on a kiosk: the interview must reach its card all the same.
    assert!(report.with_model, "the language model is installed and runs beside the session");
    eprintln!(
        "language model: narrative streamed {}, followed the card {}, on the card {}",
        report.narrative_streamed,
        report.narrative_followed,
        card.hpi_drafted.is_some()
    );
    (report, card)
}

fn mandarin(opening: Vec<String>) -> Script {
    Script { opening, ..SimKit::mandarin_script() }
}

#[test]
fn a_whole_interview_by_voice_in_mandarin() {
    let script = mandarin(vec![s("我肚子疼，从昨天晚上开始一直疼。")]);
    let (report, card) = run_to_handoff(&script, 300);
    assert!(card.chief_complaint.zh.contains("腹"), "{:?}", card.chief_complaint);
    let age_years = card.patient.age.map(|a| a.days / 365.25);
    assert!(age_years.is_some_and(|y| (34.0..36.5).contains(&y)), "{:?}", card.patient.age);
    assert_eq!(card.patient.sex, Some(Sex::Female), "heard {:#?}", report.heard);
    assert!(!report.response_ms.is_empty());
    eprintln!("mandarin: response latency ms {:?}", report.response_ms);
}

#[test]
fn a_whole_interview_by_voice_in_english() {
    let script = SimKit::english_script();
    let (report, card) = run_to_handoff(&script, 300);
    let cc = card.chief_complaint.en.to_lowercase();
    assert!(cc.contains("cough") || cc.contains("fever"), "{:?}", card.chief_complaint);
    let age_years = card.patient.age.map(|a| a.days / 365.25);
    assert!(age_years.is_some_and(|y| (41.0..43.5).contains(&y)), "{:?}", card.patient.age);
    assert_eq!(card.patient.sex, Some(Sex::Male), "heard {:#?}", report.heard);
    eprintln!("english: response latency ms {:?}", report.response_ms);
}

#[test]
fn an_elderly_patient_speaking_slowly_with_pauses_finishes_by_voice() {
    let mut script = mandarin(vec![s("我头疼，"), s("已经三天了。")]);
    script.pause_ms = 1_500;
    script.slow = true;
    script.duration = s("三天前开始的。");
    script.ask_elderly = Some(s("请说慢一点。"));
    script.ask_repeat = Some(s("请再说一遍。"));
    let (report, card) = run_to_handoff(&script, 360);
    assert!(report.elderly, "elderly mode was switched on by voice");
    assert!(
        report.kiosk_said.iter().any(|t| t.contains("我再说一遍")),
        "the question was repeated: {:#?}",
        report.kiosk_said
    );
    assert!(card.chief_complaint.zh.contains("头痛"), "{:?}", card.chief_complaint);
    // The opening story was one turn despite the 1.5 s pause inside it.
    let opening: Vec<String> = card
        .findings
        .iter()
        .filter(|f| f.provenance.question_id.starts_with("opening"))
        .map(|f| f.provenance.answer.expose().to_owned())
        .collect();
    assert!(
        opening.iter().any(|a| a.contains('头') && (a.contains("三天") || a.contains("3天"))),
        "the pause split the answer: {opening:?}"
    );
    eprintln!("elderly: response latency ms {:?}", report.response_ms);
}
