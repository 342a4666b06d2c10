//! One patient's session, from the welcome screen to the hand-off, as a state machine without
//! threads, audio or egui: the orchestrator feeds it touches, transcripts, voice events and clock
//! ticks, and it drives the voice, the speech worker, the card store and staff alerts through
//! [`Ports`]. The screen is a [`View`] snapshot the UI draws.
//!
//! Everything a patient can do by touch can be done by voice: the language is chosen by speaking,
//! consent is a spoken yes/no, every question takes a spoken answer, "say that again", "call a
//! nurse" and "large text / slower" work on every screen, and "need more time?" is answered by
//! voice too.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialogue::card::ReviewLine;
use dialogue::nlu::{Utterance, YesNo};
use dialogue::{Engine, Expect, Input, Interview, Phase, Question, Reply, Touch};
use protocol::{ConditionCard, Lang, PatientText};
use speech::endpoint::Expectation;
use speech::voice::VoiceEvent;
use speech::worker::{SpeechCommand, SpeechEvent};
use ui_assets::{Strings, UiLang};

use crate::config::{Config, Timeouts};

/// Longest draft shown while it is written (a runaway draft is refused by the check anyway).
const MAX_DRAFT_CHARS: usize = 1200;

/// How long the "declined" screen stays.
const DECLINED_SCREEN: Duration = Duration::from_secs(20);

/// What the session drives. The orchestrator implements it with the real voice, speech worker,
/// store and alert channel; tests with fakes.
pub trait Ports {
    /// Says `text` (interrupting anything being said); `private` texts hold patient information
    /// and are never cached. Returns the request id.
    fn say(&mut self, text: &str, lang: Lang, elderly: bool, private: bool) -> u64;
    /// Stops speaking.
    fn stop_voice(&mut self);
    /// A command to the speech worker (if there is one).
    fn speech(&mut self, command: SpeechCommand);
    /// Prepares fixed prompts in the background while the kiosk is idle; an empty list stops.
    fn warm(&mut self, prompts: Vec<(String, Lang, bool)>);
    /// Tells staff (station, staff screen, log).
    fn alert(&mut self, alert: Alert);
    /// Stores the card durably (and queues it for the station). Only after `Ok` is the patient
    /// told it was sent. Returns the patient's queue number.
    fn submit(&mut self, card: &ConditionCard) -> anyhow::Result<String>;
    /// Asks the language model (if there is one) to read the patient's opening story in the
    /// background; its reading comes back through [`Session::on_story`]. `session` is the
    /// session's generation, so a late answer for a wiped session is dropped.
    fn read_story(&mut self, _session: u64, _story: &str, _lang: Lang) {}
    /// Stops any language-model work for the session (wiped, or finished).
    fn end_story(&mut self, _session: u64) {}
    /// Asks the language model (if there is one) to draft the 现病史 / HPI from the card's
    /// `facts`; the text streams back through [`Session::on_narrative_text`] and ends with
    /// [`Session::on_narrative`]. `false` when there is no model to draft it.
    fn draft_narrative(&mut self, _session: u64, _facts: &[String], _lang: Lang) -> bool {
        false
    }
    /// Stops a narrative being drafted (over its time budget, or the card was sent).
    fn stop_narrative(&mut self, _session: u64) {}
    /// The 现病史 still being drafted for a card already sent, so far (the nurse station shows it
    /// live; best effort, never stored).
    fn draft_progress(&mut self, _card_id: &str, _lang: Lang, _text: &str) {}
    /// Stores, durably, a 现病史 drafted and checked after its card was sent; it goes to the
    /// station behind the card and lands there as an audited kiosk version of the card, unless a
    /// nurse has edited the card meanwhile.
    fn amend_hpi(&mut self, drafted: &store::DraftedHpi) -> anyhow::Result<()>;
}

/// A staff alert. Carries no patient words: the card (in the store) has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alert {
    /// A red flag stopped the interview.
    RedFlag {
        /// Card id.
        card_id: String,
        /// Rule id.
        rule_id: String,
        /// Triage level (1 or 2).
        level: u8,
    },
    /// The patient pressed (or asked for) "call a nurse".
    CallStaff {
        /// Card id of the session, if an interview had started.
        card_id: Option<String>,
    },
    /// A worker failed; the patient sees "please ask staff".
    WorkerFailed {
        /// Which part, for the staff screen.
        what: String,
    },
    /// The card could not be stored.
    StoreFailed {
        /// Card id.
        card_id: String,
    },
}

/// Which consent is being asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentStep {
    /// That an AI asks the questions.
    Ai,
    /// That the health data is stored.
    Data,
}

/// What the hand-off screen shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Handoff {
    /// The patient's number.
    pub number: String,
    /// Department name.
    pub department: String,
    /// Where it is.
    pub location: Option<String>,
    /// Triage level.
    pub level: u8,
    /// Card id (in the QR code).
    pub card_id: String,
    /// Advice for the patient (from the triage rules).
    pub advice: Option<String>,
}

/// Which screen is up.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    /// Choose a language, or just speak.
    Welcome,
    /// The consent notices.
    Consent(ConsentStep),
    /// Consent declined: go to the triage desk.
    Declined,
    /// Questions.
    Interview,
    /// The card read back for confirmation.
    ReadBack,
    /// One line of the card being corrected.
    Correcting {
        /// Field id.
        field: String,
        /// Its label.
        label: String,
    },
    /// The card was stored and sent.
    Handoff(Handoff),
    /// A red flag: what to do now.
    Emergency {
        /// Instructions, spoken and shown.
        instructions: Vec<String>,
    },
    /// Something failed: please ask staff. The session is kept.
    AskStaff,
}

/// What the UI draws: a snapshot of the session.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Session number: the UI clears its own buffers (typed text) when it changes.
    pub generation: u64,
    /// The screen.
    pub screen: Screen,
    /// Screen language.
    pub lang: Lang,
    /// Large text, slower speech, longer waits.
    pub elderly: bool,
    /// Hospital name.
    pub hospital: String,
    /// Languages on the welcome screen.
    pub languages: Vec<Lang>,
    /// Retention, for the consent notice.
    pub retention_days: u32,
    /// Sentences said before the question ("sorry, I did not understand").
    pub said: Vec<String>,
    /// The question on screen.
    pub question: Option<Question>,
    /// The card's lines (read-back).
    pub review: Vec<ReviewLine>,
    /// The microphone is listening for an answer.
    pub listening: bool,
    /// The kiosk is speaking.
    pub speaking: bool,
    /// Input level, 0-1.
    pub level: f32,
    /// What is being understood while the patient speaks.
    pub partial: Option<String>,
    /// What was understood from the last answer.
    pub heard: Option<String>,
    /// The microphone works.
    pub mic_ok: bool,
    /// Staff have been called.
    pub staff_called: bool,
    /// "Need more time?" is up, with this many seconds left.
    pub timeout_left_s: Option<u32>,
    /// A notice for the patient (the card could not be stored).
    pub notice: Option<String>,
    /// The 现病史 / HPI on the read-back: what the doctor will read.
    pub narrative: Option<NarrativeView>,
    /// A 现病史 for a card already sent is still being drafted (only that; the text goes to the
    /// station, never onto this screen).
    pub late_draft: bool,
}

/// The 现病史 / HPI paragraph as the read-back shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NarrativeView {
    /// The text (while `writing`, the draft so far).
    pub text: String,
    /// The language model is still writing it (not yet checked).
    pub writing: bool,
    /// Written by the language model and checked against the card (else the deterministic text).
    pub drafted: bool,
}

impl View {
    /// Every piece of patient information this view holds, for the wipe test.
    pub fn patient_texts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        out.extend(self.partial.iter().cloned());
        out.extend(self.heard.iter().cloned());
        out.extend(self.review.iter().map(|l| l.value.clone()));
        out.extend(self.narrative.iter().map(|n| n.text.clone()));
        if let Screen::Handoff(h) = &self.screen {
            out.push(h.card_id.clone());
            out.push(h.department.clone());
        }
        out
    }
}

/// What a touch on the screen means.
#[derive(Clone, Debug, PartialEq)]
pub enum UiAction {
    /// A language button.
    ChooseLanguage(Lang),
    /// The large-text / voice mode switch.
    ToggleElderly,
    /// Agree or decline the consent on screen.
    Consent(bool),
    /// An answer button.
    Answer(Touch),
    /// Typed text.
    Text(String),
    /// "Say that again".
    Repeat,
    /// "Call a nurse".
    CallStaff,
    /// A line of the read-back touched.
    StartCorrection {
        /// Field id.
        field: String,
        /// Its label.
        label: String,
    },
    /// Correction cancelled.
    CancelCorrection,
    /// "Need more time? Yes".
    MoreTime,
    /// Done / End / Start over.
    EndSession,
    /// Staff resume the session after "please ask staff".
    StaffResume,
    /// Any other touch (keeps the session alive).
    Activity,
}

/// Settings the session needs from the configuration.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Hospital name.
    pub hospital: String,
    /// Kiosk id (card ids).
    pub kiosk_id: String,
    /// Offered languages.
    pub languages: Vec<Lang>,
    /// Language before the patient chooses.
    pub default_language: Lang,
    /// Retention in days (consent notice).
    pub retention_days: u32,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Department locations, `[zh, en]`.
    pub locations: std::collections::BTreeMap<protocol::Department, [String; 2]>,
    /// How long the language model may draft the 现病史; `None`: never.
    pub narrative_budget: Option<Duration>,
    /// Interview languages in which it drafts.
    pub narrative_languages: Vec<Lang>,
}

impl SessionConfig {
    /// From the kiosk configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            hospital: config.hospital_name.clone(),
            kiosk_id: config.kiosk_id.clone(),
            languages: config.languages.clone(),
            default_language: config.default_language,
            retention_days: config.retention_days,
            timeouts: config.timeouts,
            locations: config.locations.clone(),
            narrative_budget: config.narrative_budget,
            narrative_languages: config.narrative_languages.clone(),
        }
    }
}

/// The strings of `lang`.
pub fn strings(lang: Lang) -> &'static Strings {
    ui_assets::strings(match lang {
        Lang::Zh => UiLang::Zh,
        Lang::En => UiLang::En,
    })
}

/// A request the patient makes by voice on any screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceRequest {
    /// "Say that again".
    Repeat,
    /// "Call a nurse".
    CallStaff,
    /// "Large text / speak slowly".
    Elderly,
}

/// Recognises a spoken request. Only whole phrases count, so an answer that merely contains a
/// word ("a repeat prescription") is not taken for one.
pub fn voice_request(text: &str) -> Option<VoiceRequest> {
    let t = text.to_lowercase();
    let t = t.trim();
    let any = |phrases: &[&str]| phrases.iter().any(|p| t.contains(p));
    if any(&[
        "再说一遍",
        "再说一次",
        "再讲一遍",
        "重复一遍",
        "重复一下",
        "没听清",
        "你说什么",
        "say that again",
        "say it again",
        "repeat that",
        "repeat the question",
        "please repeat",
        "can you repeat",
        "could you repeat",
        "pardon",
        "come again",
        "what did you say",
        "didn't catch",
    ]) {
        return Some(VoiceRequest::Repeat);
    }
    if any(&[
        "呼叫护士",
        "叫护士",
        "找护士",
        "叫个护士",
        "叫一下护士",
        "call a nurse",
        "call the nurse",
        "call staff",
        "call a member of staff",
        "get a nurse",
        "i need a nurse",
        "i want a nurse",
    ]) {
        return Some(VoiceRequest::CallStaff);
    }
    if any(&[
        "大字",
        "老年模式",
        "说慢一点",
        "说慢点",
        "慢一点说",
        "慢点说",
        "语音模式",
        "large text",
        "bigger text",
        "speak slowly",
        "speak more slowly",
        "slower please",
        "elderly mode",
        "voice mode",
    ]) {
        return Some(VoiceRequest::Elderly);
    }
    None
}

/// Which language a spoken word at the welcome screen chooses.
fn spoken_language(text: &str, offered: &[Lang]) -> Option<Lang> {
    let t = text.to_lowercase();
    let wanted = if t.contains("english") || t.contains("英文") || t.contains("英语") {
        Some(Lang::En)
    } else if t.contains("中文") || t.contains("普通话") || t.contains("chinese") || t.contains("mandarin")
    {
        Some(Lang::Zh)
    } else {
        let han = t.chars().filter(|c| dialogue::nlu::is_han(*c)).count();
        let latin = t.chars().filter(char::is_ascii_alphabetic).count();
        if han > 0 {
            Some(Lang::Zh)
        } else if latin >= 2 {
            Some(Lang::En)
        } else {
            None
        }
    };
    wanted.filter(|l| offered.contains(l))
}

/// A spoken yes or no (consent, "need more time?").
fn spoken_yes_no(text: &str) -> Option<bool> {
    let t = text.to_lowercase();
    if ["不同意", "不要", "不用", "don't agree", "do not agree", "disagree"].iter().any(|w| t.contains(w))
    {
        return Some(false);
    }
    if ["同意", "可以", "需要", "agree", "okay"].iter().any(|w| t.contains(w)) {
        return Some(true);
    }
    match dialogue::nlu::yes_no(&Utterance::new(text)) {
        Some(YesNo::Yes) => Some(true),
        Some(YesNo::No) => Some(false),
        _ => None,
    }
}

fn expectation(expect: Expect) -> Expectation {
    match expect {
        Expect::FreeText => Expectation::Story,
        _ => Expectation::Short,
    }
}

/// The session.
pub struct Session {
    engine: Arc<Engine>,
    config: SessionConfig,
    generation: u64,
    screen: Screen,
    /// The screen to go back to after "please ask staff".
    before_staff: Option<Screen>,
    lang: Lang,
    elderly: bool,
    interview: Option<Interview>,
    started: Instant,
    said: Vec<String>,
    question: Option<Question>,
    review: Vec<ReviewLine>,
    /// Request id of what the kiosk is saying, and whether it is the last thing before listening.
    speaking: Option<u64>,
    last_spoken: Option<(String, bool)>,
    level: f32,
    partial: Option<String>,
    heard: Option<String>,
    mic_ok: bool,
    staff_called: bool,
    last_activity: Instant,
    warning_until: Option<Instant>,
    screen_since: Instant,
    notice: Option<String>,
    submitted: bool,
    /// The 现病史 on the read-back: the card's, or the draft being written.
    narrative: Option<NarrativeView>,
    /// A draft being written: the facts it is drafted from, and since when.
    drafting: Option<(Vec<String>, Instant)>,
    /// A draft still being written when the patient confirmed: it goes on after the card was
    /// sent (and after the wipe), streams to the station, and follows the card there once it
    /// passes the check. It holds the card until then, at most the narrative's time budget.
    late: Option<LateDraft>,
}

/// A 现病史 still being drafted for a card already sent.
struct LateDraft {
    /// The session generation the model works for.
    generation: u64,
    /// The card as sent (its 现病史 the deterministic one).
    card: ConditionCard,
    lang: Lang,
    since: Instant,
    text: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("lang", &self.lang)
            .field("elderly", &self.elderly)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session at the welcome screen.
    pub fn new(engine: Arc<Engine>, config: SessionConfig, now: Instant) -> Self {
        let lang = config.default_language;
        Self {
            engine,
            config,
            generation: 0,
            screen: Screen::Welcome,
            before_staff: None,
            lang,
            elderly: false,
            interview: None,
            started: now,
            said: Vec::new(),
            question: None,
            review: Vec::new(),
            speaking: None,
            last_spoken: None,
            level: 0.0,
            partial: None,
            heard: None,
            mic_ok: true,
            staff_called: false,
            last_activity: now,
            warning_until: None,
            screen_since: now,
            notice: None,
            submitted: false,
            narrative: None,
            drafting: None,
            late: None,
        }
    }

    /// Every fixed sentence this kiosk says, for the voice to prepare while idle: the screens'
    /// spoken texts and the engine's questions, in each offered language, at the normal rate
    /// (last, so they are made first) and the elderly rate.
    pub fn prompts(&self) -> Vec<(String, Lang, bool)> {
        let mut out = Vec::new();
        for elderly in [true, false] {
            for &lang in &self.config.languages {
                let s = strings(lang);
                let days = self.config.retention_days.to_string();
                let mut texts: Vec<String> = [
                    "welcome_spoken",
                    "consent_ai",
                    "consent_ai_q",
                    "consent_data_q",
                    "declined",
                    "timeout_question",
                    "staff_called",
                    "emergency_alerted",
                    "elderly_spoken",
                ]
                .iter()
                .map(|k| s.get(k).to_owned())
                .collect();
                texts.push(s.fill("consent_data", &[("days", &days)]));
                // The fixed first sentences of texts that are otherwise private.
                texts.push(dialogue::card::read_back_opening(lang).to_owned());
                if let Some(first) = speech::tts::split_sentences(s.get("handoff_spoken")).first() {
                    texts.push(first.clone());
                }
                texts.extend(self.engine.kb.spoken_prompts(lang));
                out.extend(texts.into_iter().map(|t| (t, lang, elderly)));
            }
        }
        out
    }

    /// Greets (spoken) at the welcome screen and starts preparing the prompts.
    pub fn greet(&mut self, ports: &mut dyn Ports) {
        ports.warm(self.prompts());
        ports.speech(SpeechCommand::SetLang(self.lang));
        ports.speech(SpeechCommand::Expect(Expectation::Short));
        let text = strings(self.lang).get("welcome_spoken").to_owned();
        self.speak(ports, text, false);
    }

    /// The screen as the UI draws it.
    pub fn view(&self, now: Instant) -> View {
        let accepts_speech = !matches!(self.screen, Screen::Handoff(_) | Screen::Declined);
        View {
            generation: self.generation,
            screen: self.screen.clone(),
            lang: self.lang,
            elderly: self.elderly,
            hospital: self.config.hospital.clone(),
            languages: self.config.languages.clone(),
            retention_days: self.config.retention_days,
            said: self.said.clone(),
            question: self.question.clone(),
            review: self.review.clone(),
            listening: self.mic_ok && self.speaking.is_none() && accepts_speech,
            speaking: self.speaking.is_some(),
            level: self.level,
            partial: self.partial.clone(),
            heard: self.heard.clone(),
            mic_ok: self.mic_ok,
            staff_called: self.staff_called,
            timeout_left_s: self
                .warning_until
                .map(|until| until.saturating_duration_since(now).as_secs_f32().ceil() as u32),
            notice: self.notice.clone(),
            narrative: if matches!(self.screen, Screen::ReadBack | Screen::Correcting { .. }) {
                self.narrative.clone()
            } else {
                None
            },
            late_draft: self.late.is_some(),
        }
    }

    /// Whether an interview (patient data) is held.
    pub fn holds_patient_data(&self) -> bool {
        self.interview.is_some()
            || !self.review.is_empty()
            || self.heard.is_some()
            || self.partial.is_some()
            || matches!(self.screen, Screen::Handoff(_) | Screen::Emergency { .. })
    }

    /// The screen.
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The interview, if one is running.
    pub fn interview(&self) -> Option<&Interview> {
        self.interview.as_ref()
    }

    /// A touch.
    pub fn on_ui(&mut self, action: UiAction, now: Instant, ports: &mut dyn Ports) {
        self.last_activity = now;
        if self.warning_until.take().is_some() && matches!(action, UiAction::MoreTime | UiAction::Activity) {
            self.respeak(ports);
            return;
        }
        match action {
            UiAction::ChooseLanguage(lang) => {
                if self.screen == Screen::Welcome {
                    self.choose_language(lang, now, ports);
                }
            }
            UiAction::ToggleElderly => self.set_elderly(!self.elderly, ports),
            UiAction::Consent(agreed) => self.consent(agreed, now, ports),
            UiAction::Answer(touch) => self.answer(Input::Touch(touch), now, ports),
            UiAction::Text(text) => {
                let text = text.trim().to_owned();
                if text.is_empty() {
                    return;
                }
                self.heard = Some(text.clone());
                match self.screen.clone() {
                    Screen::Correcting { field, .. } => {
                        self.answer(Input::Correct { field, text: PatientText::new(text) }, now, ports);
                    }
                    _ => self.answer(Input::Text(PatientText::new(text)), now, ports),
                }
            }
            UiAction::Repeat => self.repeat(now, ports),
            UiAction::CallStaff => self.call_staff(ports),
            UiAction::StartCorrection { field, label } => {
                if self.screen == Screen::ReadBack && !field.is_empty() {
                    let prompt = format!("{}{}", label, strings(self.lang).get("correcting"));
                    self.screen = Screen::Correcting { field, label };
                    self.speak(ports, prompt, false);
                }
            }
            UiAction::CancelCorrection => {
                if matches!(self.screen, Screen::Correcting { .. }) {
                    self.screen = Screen::ReadBack;
                }
            }
            UiAction::MoreTime | UiAction::Activity => {}
            UiAction::EndSession => self.wipe(now, ports),
            UiAction::StaffResume => {
                if self.screen == Screen::AskStaff {
                    self.screen = self.before_staff.take().unwrap_or(Screen::Welcome);
                    self.respeak(ports);
                }
            }
        }
    }

    /// Something from the speech worker.
    pub fn on_speech(&mut self, event: SpeechEvent, now: Instant, ports: &mut dyn Ports) {
        match event {
            SpeechEvent::Level(level) => self.level = level,
            SpeechEvent::SpeechStarted => {
                self.last_activity = now;
                self.mic_ok = true;
            }
            SpeechEvent::Partial(text) => {
                self.last_activity = now;
                self.partial = Some(text.expose().to_owned());
            }
            SpeechEvent::Final(transcript, _timing) => {
                self.last_activity = now;
                self.partial = None;
                let text = transcript.text.expose().trim().to_owned();
                if text.is_empty() {
                    return;
                }
                self.on_words(text, now, ports);
            }
            SpeechEvent::Ignored => {
                self.partial = None;
            }
            SpeechEvent::SourceEnded | SpeechEvent::BargeIn => {}
            SpeechEvent::Failed(_) => {
                // Recognition failed: the patient can still tap. The reason goes to the log, not
                // the screen.
                self.partial = None;
                self.mic_ok = false;
                tracing::warn!("speech recognition failed; touch input continues");
            }
            SpeechEvent::Device(status) => {
                self.mic_ok = !status.contains("unavailable") && !status.contains("lost");
                tracing::info!(%status, "microphone");
            }
        }
    }

    /// Something from the voice.
    pub fn on_voice(&mut self, event: VoiceEvent, now: Instant) {
        match event {
            VoiceEvent::Started { .. } => {}
            VoiceEvent::Finished { id } | VoiceEvent::Failed { id, .. } => {
                if self.speaking == Some(id) {
                    self.speaking = None;
                    // The inactivity clock starts when the kiosk has finished talking.
                    self.last_activity = now;
                }
            }
        }
    }

    /// The clock: inactivity warning and wipe, hand-off timeout, the narrative's time budget.
    pub fn tick(&mut self, now: Instant, ports: &mut dyn Ports) {
        let t = self.config.timeouts;
        if let (Some((_, since)), Some(budget)) = (&self.drafting, self.config.narrative_budget)
            && now.duration_since(*since) >= budget
        {
            tracing::info!("narrative draft over its time budget; the deterministic text stands");
            self.stop_narrative(ports);
        }
        if let (Some(late), Some(budget)) = (&self.late, self.config.narrative_budget)
            && now.duration_since(late.since) >= budget
        {
            tracing::info!("late narrative draft over its time budget; the card keeps its text");
            ports.stop_narrative(late.generation);
            self.end_late(ports);
        }
        match &self.screen {
            Screen::Welcome => {}
            Screen::Handoff(_) => {
                if now.duration_since(self.screen_since) >= t.handoff {
                    self.wipe(now, ports);
                }
            }
            Screen::Declined => {
                if now.duration_since(self.screen_since) >= DECLINED_SCREEN {
                    self.wipe(now, ports);
                }
            }
            _ => {
                if let Some(until) = self.warning_until {
                    if now >= until {
                        tracing::info!("session wiped after inactivity");
                        self.wipe(now, ports);
                    }
                } else if self.speaking.is_none() && now.duration_since(self.last_activity) >= t.inactivity {
                    self.warning_until = Some(now + t.warning);
                    let text = strings(self.lang).get("timeout_question").to_owned();
                    self.speak(ports, text, false);
                }
            }
        }
    }

    fn on_words(&mut self, text: String, now: Instant, ports: &mut dyn Ports) {
        if self.warning_until.is_some() {
            // Any answer shows the patient is there; "no" ends the session.
            self.warning_until = None;
            if spoken_yes_no(&text) == Some(false) {
                self.wipe(now, ports);
            } else {
                self.respeak(ports);
            }
            return;
        }
        match voice_request(&text) {
            Some(VoiceRequest::Repeat) => return self.repeat(now, ports),
            Some(VoiceRequest::CallStaff) => return self.call_staff(ports),
            Some(VoiceRequest::Elderly) => return self.set_elderly(true, ports),
            None => {}
        }
        match self.screen.clone() {
            Screen::Welcome => {
                let lang = spoken_language(&text, &self.config.languages).unwrap_or(self.lang);
                self.choose_language(lang, now, ports);
            }
            Screen::Consent(_) => {
                if let Some(agreed) = spoken_yes_no(&text) {
                    self.consent(agreed, now, ports);
                } else {
                    self.respeak(ports);
                }
            }
            Screen::Interview | Screen::ReadBack => {
                self.heard = Some(text.clone());
                self.answer(Input::Text(PatientText::new(text)), now, ports);
            }
            Screen::Correcting { field, .. } => {
                self.heard = Some(text.clone());
                self.answer(Input::Correct { field, text: PatientText::new(text) }, now, ports);
            }
            Screen::Handoff(_) | Screen::Declined | Screen::Emergency { .. } | Screen::AskStaff => {}
        }
    }

    fn choose_language(&mut self, lang: Lang, now: Instant, ports: &mut dyn Ports) {
        // A patient is here: the cores are for recognition, not for preparing prompts.
        ports.warm(Vec::new());
        self.lang = lang;
        ports.speech(SpeechCommand::SetLang(lang));
        self.set_screen(Screen::Consent(ConsentStep::Ai), now);
        self.speak_consent(ports);
    }

    fn speak_consent(&mut self, ports: &mut dyn Ports) {
        let s = strings(self.lang);
        let days = self.config.retention_days.to_string();
        let text = match self.screen {
            Screen::Consent(ConsentStep::Ai) => format!("{} {}", s.get("consent_ai"), s.get("consent_ai_q")),
            _ => format!("{} {}", s.fill("consent_data", &[("days", &days)]), s.get("consent_data_q")),
        };
        ports.speech(SpeechCommand::Expect(Expectation::Short));
        self.speak(ports, text, false);
    }

    fn consent(&mut self, agreed: bool, now: Instant, ports: &mut dyn Ports) {
        let Screen::Consent(step) = self.screen else { return };
        if !agreed {
            self.set_screen(Screen::Declined, now);
            let text = strings(self.lang).get("declined").to_owned();
            self.speak(ports, text, false);
            return;
        }
        match step {
            ConsentStep::Ai => {
                self.set_screen(Screen::Consent(ConsentStep::Data), now);
                self.speak_consent(ports);
            }
            ConsentStep::Data => self.start_interview(now, ports),
        }
    }

    fn start_interview(&mut self, now: Instant, ports: &mut dyn Ports) {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let card_id = format!("{}-{unix_ms:x}-{}", self.config.kiosk_id, self.generation);
        self.started = now;
        let engine = Arc::clone(&self.engine);
        let lang = self.lang;
        match std::panic::catch_unwind(AssertUnwindSafe(|| engine.start(lang, &card_id, unix_ms))) {
            Ok((interview, reply)) => {
                self.interview = Some(interview);
                self.apply(reply, now, ports);
            }
            Err(_) => self.worker_failed("dialogue engine", ports),
        }
    }

    fn answer(&mut self, input: Input, now: Instant, ports: &mut dyn Ports) {
        if !matches!(self.screen, Screen::Interview | Screen::ReadBack | Screen::Correcting { .. }) {
            return;
        }
        // The opening story, for the language model once the engine has taken it.
        let story = match (&input, self.question.as_ref()) {
            (Input::Text(text), Some(q)) if q.kind == protocol::QuestionKind::Opening => {
                Some(text.expose().to_owned())
            }
            _ => None,
        };
        let generation = self.generation;
        let lang = self.lang;
        let Some(interview) = self.interview.as_mut() else { return };
        let at_ms = now.duration_since(self.started).as_millis() as u64;
        // The engine works on a copy: if it fails, the session keeps every answer so far.
        let mut next = interview.clone();
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            let reply = next.handle(input, at_ms);
            (next, reply)
        })) {
            Ok((next, reply)) => {
                *interview = next;
                let opened = reply.phase == Phase::Interviewing
                    && reply.question.as_ref().is_some_and(|q| q.kind != protocol::QuestionKind::Opening);
                if let Some(story) = story.filter(|_| opened) {
                    ports.read_story(generation, &story, lang);
                }
                self.apply(reply, now, ports);
            }
            Err(_) => self.worker_failed("dialogue engine", ports),
        }
    }

    /// The language model's reading of the opening story of session `generation` (grounded slot
    /// values): merged into the interview, which fills slots not yet asked and asks again where
    /// the rules read the story differently. Late answers for another session are dropped.
    pub fn on_story(&mut self, generation: u64, slots: &[(protocol::Slot, String, Option<f64>)]) {
        if generation != self.generation || self.submitted {
            return;
        }
        let Some(interview) = self.interview.as_mut() else { return };
        let mut next = interview.clone();
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            let merge = next.merge_story(slots);
            (next, merge)
        })) {
            Ok((next, merge)) => {
                *interview = next;
                tracing::info!(
                    added = merge.added.len(),
                    disagreed = merge.disagreed.len(),
                    "story read by the model"
                );
            }
            Err(_) => tracing::error!("merging the model's reading failed; the rules' reading stands"),
        }
    }

    /// More of the 现病史 the language model is drafting for session `generation` (shown as it
    /// is written, marked as not yet checked).
    pub fn on_narrative_text(&mut self, generation: u64, text: &str, ports: &mut dyn Ports) {
        if let Some(late) = self.late.as_mut().filter(|l| l.generation == generation) {
            if late.text.chars().count() < MAX_DRAFT_CHARS {
                late.text.push_str(text);
                ports.draft_progress(&late.card.card_id, late.lang, &late.text);
            }
            return;
        }
        if generation != self.generation || self.drafting.is_none() {
            return;
        }
        if let Some(n) = self.narrative.as_mut().filter(|n| n.writing)
            && n.text.chars().count() < MAX_DRAFT_CHARS
        {
            n.text.push_str(text);
        }
    }

    /// The finished draft for session `generation` (`None`: the model failed): it goes on the
    /// card only if it passes the check against the card's present facts; otherwise the
    /// deterministic text stays.
    pub fn on_narrative(&mut self, generation: u64, draft: Option<String>, ports: &mut dyn Ports) {
        if self.late.as_ref().is_some_and(|l| l.generation == generation) {
            self.finish_late(draft, ports);
            return;
        }
        if generation != self.generation || self.submitted {
            return;
        }
        let Some((facts, since)) = self.drafting.take() else { return };
        let Some(interview) = self.interview.as_mut() else { return };
        if let Some(draft) = draft {
            match interview.set_narrative(facts, &draft, llm::narrative::example_phrases(self.lang)) {
                Ok(()) => tracing::info!(
                    ms = since.elapsed().as_millis() as u64,
                    "narrative checked and put on the card"
                ),
                // The kind only: the draft is patient information.
                Err(problem) => tracing::warn!(
                    problem = problem.kind(),
                    "drafted narrative refused; the deterministic text stands"
                ),
            }
        }
        if let Some(card) = self.interview.as_ref().map(Interview::card) {
            self.show_card_narrative(&card);
        }
    }

    /// The late draft is finished (`None`: the model failed): checked against the card as sent,
    /// and if it passes, stored to follow the card.
    fn finish_late(&mut self, draft: Option<String>, ports: &mut dyn Ports) {
        let Some(late) = self.late.as_ref() else { return };
        if let Some(draft) = draft {
            // The card as sent carries the deterministic 现病史 (`hand_over_draft`).
            let card = &late.card;
            let example = llm::narrative::example_phrases(late.lang);
            match dialogue::narrative::check(&draft, card, &self.engine, late.lang, example) {
                Ok(()) => {
                    let drafted = store::DraftedHpi {
                        card_id: card.card_id.clone(),
                        lang: late.lang,
                        text: draft.trim().to_owned(),
                    };
                    match ports.amend_hpi(&drafted) {
                        Ok(()) => tracing::info!(
                            ms = late.since.elapsed().as_millis() as u64,
                            "late narrative checked; it follows the card"
                        ),
                        Err(e) => {
                            tracing::error!(error = %e, "late narrative not stored; the card keeps its text")
                        }
                    }
                }
                Err(problem) => tracing::warn!(
                    problem = problem.kind(),
                    "late narrative refused; the card keeps its text"
                ),
            }
        }
        self.end_late(ports);
    }

    /// Forgets the late draft; the model forgets its conversation if the session has since been
    /// wiped (otherwise the wipe does that).
    fn end_late(&mut self, ports: &mut dyn Ports) {
        if let Some(late) = self.late.take()
            && late.generation != self.generation
        {
            ports.end_story(late.generation);
        }
    }

    /// Shows `card`'s own 现病史 (drafted and checked, or deterministic).
    fn show_card_narrative(&mut self, card: &ConditionCard) {
        self.narrative = Some(NarrativeView {
            text: card.hpi.get(self.lang).to_owned(),
            writing: false,
            drafted: card.hpi_drafted.is_some(),
        });
    }

    /// At the read-back of `card`: shows its 现病史 and, when it has no checked draft for its
    /// present facts, asks the language model for one (a draft already being written from the
    /// same facts goes on streaming).
    fn start_narrative(&mut self, card: &ConditionCard, now: Instant, ports: &mut dyn Ports) {
        let facts = dialogue::narrative::facts(card, self.lang);
        if self.drafting.as_ref().is_some_and(|(f, _)| *f == facts) {
            return;
        }
        if self.drafting.take().is_some() {
            // Drafted from facts that have since been corrected.
            ports.stop_narrative(self.generation);
        }
        self.show_card_narrative(card);
        let wanted = self.config.narrative_budget.is_some()
            && self.config.narrative_languages.contains(&self.lang)
            && card.hpi_drafted.is_none();
        if wanted && ports.draft_narrative(self.generation, &facts, self.lang) {
            self.drafting = Some((facts, now));
            if let Some(n) = self.narrative.as_mut() {
                n.writing = true;
                n.text.clear();
            }
        }
    }

    /// Stops a draft in progress (the deterministic text is shown).
    fn stop_narrative(&mut self, ports: &mut dyn Ports) {
        if self.drafting.take().is_some() {
            ports.stop_narrative(self.generation);
            if let Some(card) = self.interview.as_ref().map(Interview::card) {
                self.show_card_narrative(&card);
            }
        }
    }

    /// The session's generation (changes at every wipe).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn apply(&mut self, reply: Reply, now: Instant, ports: &mut dyn Ports) {
        let Some(interview) = self.interview.as_ref() else { return };
        self.notice = None;
        let card_id = interview.card().card_id;
        if let Some(alert) = &reply.alert {
            tracing::warn!(rule = %alert.rule_id, level = alert.level, "red flag: staff alerted");
            ports.alert(Alert::RedFlag {
                card_id: card_id.clone(),
                rule_id: alert.rule_id.clone(),
                level: alert.level,
            });
        }
        if !matches!(reply.phase, Phase::ReadBack | Phase::Interviewing | Phase::Complete) {
            // The card is about to be sent: it goes with what it holds now.
            self.stop_narrative(ports);
        }
        let Some(interview) = self.interview.as_ref() else { return };
        match reply.phase {
            Phase::Emergency => {
                let instructions = reply.say.clone();
                self.question = None;
                self.said.clear();
                self.set_screen(Screen::Emergency { instructions: instructions.clone() }, now);
                let mut text = instructions.join(" ");
                text.push(' ');
                text.push_str(strings(self.lang).get("emergency_alerted"));
                self.speak(ports, text, false);
                // The card goes to the station as well (level 1 or 2 at the top of the queue).
                self.submit(ports);
            }
            Phase::Complete => {
                self.question = None;
                match self.submit(ports) {
                    Some(number) => {
                        self.hand_over_draft(ports);
                        // Anything else drafting meant for this card is stopped.
                        self.stop_narrative(ports);
                        self.handoff(number, now, ports);
                    }
                    None => {
                        self.stop_narrative(ports);
                        // Not stored: the patient is not told it was sent.
                        self.notice = Some(strings(self.lang).get("store_failed").to_owned());
                        self.speak(ports, strings(self.lang).get("store_failed").to_owned(), false);
                    }
                }
            }
            Phase::ReadBack | Phase::Interviewing => {
                let readback = reply.phase == Phase::ReadBack;
                let card = readback.then(|| interview.card());
                self.review =
                    card.as_ref().map(|c| dialogue::card::review_lines(c, self.lang)).unwrap_or_default();
                self.said = reply.say.clone();
                self.question = reply.question.clone();
                self.set_screen(if readback { Screen::ReadBack } else { Screen::Interview }, now);
                if let Some(q) = &self.question {
                    ports.speech(SpeechCommand::Expect(expectation(q.expect)));
                }
                let mut text = reply.say.join(" ");
                if let Some(q) = &self.question {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(&q.text);
                }
                // The read-back and anything after it quote the patient: never cached.
                self.speak(ports, text, readback);
                if let Some(card) = &card {
                    self.start_narrative(card, now, ports);
                }
            }
        }
    }

    /// The card was sent while its 现病史 was still being drafted from the facts it holds: the
    /// draft goes on after the hand-off (see [`Session::on_narrative`]).
    fn hand_over_draft(&mut self, ports: &mut dyn Ports) {
        let Some(card) = self.interview.as_ref().map(Interview::card) else { return };
        let same_facts =
            self.drafting.as_ref().is_some_and(|(f, _)| *f == dialogue::narrative::facts(&card, self.lang));
        if !same_facts || card.hpi_drafted.is_some() {
            return;
        }
        let Some((_, since)) = self.drafting.take() else { return };
        tracing::info!("card sent while its narrative is drafted; the draft follows it");
        // A late draft of an earlier patient still running is over (the model works for this one).
        if let Some(old) = &self.late {
            ports.stop_narrative(old.generation);
            self.end_late(ports);
        }
        self.late = Some(LateDraft {
            generation: self.generation,
            card,
            lang: self.lang,
            since,
            text: String::new(),
        });
    }

    /// Stores the card once; returns the queue number.
    fn submit(&mut self, ports: &mut dyn Ports) -> Option<String> {
        let card = self.interview.as_ref()?.card();
        match ports.submit(&card) {
            Ok(number) => {
                self.submitted = true;
                Some(number)
            }
            Err(e) => {
                tracing::error!(error = %e, "card not stored");
                ports.alert(Alert::StoreFailed { card_id: card.card_id });
                None
            }
        }
    }

    fn handoff(&mut self, number: String, now: Instant, ports: &mut dyn Ports) {
        let Some(interview) = self.interview.as_ref() else { return };
        let card = interview.card();
        let kb = &self.engine.kb;
        let department = kb.department_name(card.triage.department).get(self.lang).to_owned();
        let location = self
            .config
            .locations
            .get(&card.triage.department)
            .map(|[zh, en]| if self.lang == Lang::Zh { zh.clone() } else { en.clone() });
        let advice = card.triage.advice.as_ref().map(|a| a.get(self.lang).to_owned());
        let s = strings(self.lang);
        let mut text = s.fill(
            "handoff_spoken",
            &[
                ("number", &number),
                ("department", &department),
                ("location", location.as_deref().unwrap_or("")),
            ],
        );
        if location.is_none() {
            text = text.replace("，。", "。").replace(", .", ".");
        }
        if let Some(a) = &advice {
            text.push(' ');
            text.push_str(a);
        }
        let handoff = Handoff {
            number,
            department,
            location,
            level: card.triage.level,
            card_id: card.card_id.clone(),
            advice,
        };
        // The interview itself is no longer needed: the card is in the store.
        self.interview = None;
        self.review.clear();
        self.heard = None;
        self.said.clear();
        self.set_screen(Screen::Handoff(handoff), now);
        self.speak(ports, text, true);
    }

    fn repeat(&mut self, now: Instant, ports: &mut dyn Ports) {
        if matches!(self.screen, Screen::Interview | Screen::ReadBack) && self.interview.is_some() {
            self.answer(Input::Repeat, now, ports);
        } else {
            self.respeak(ports);
        }
    }

    fn call_staff(&mut self, ports: &mut dyn Ports) {
        let card_id = self.interview.as_ref().map(|i| i.card().card_id);
        tracing::warn!("patient asked for staff");
        ports.alert(Alert::CallStaff { card_id });
        self.staff_called = true;
        let text = strings(self.lang).get("staff_called").to_owned();
        self.speak(ports, text, false);
    }

    fn set_elderly(&mut self, on: bool, ports: &mut dyn Ports) {
        self.elderly = on;
        ports.speech(SpeechCommand::Elderly(on));
        if on {
            let mut text = strings(self.lang).get("elderly_spoken").to_owned();
            if let Some((last, _)) = &self.last_spoken {
                text.push(' ');
                text.push_str(last);
            }
            let private = self.last_spoken.as_ref().is_some_and(|(_, p)| *p);
            self.speak(ports, text, private);
        } else {
            self.respeak(ports);
        }
    }

    fn worker_failed(&mut self, what: &str, ports: &mut dyn Ports) {
        tracing::error!(what, "worker failed; asking the patient to see staff");
        ports.alert(Alert::WorkerFailed { what: what.to_owned() });
        if self.screen != Screen::AskStaff {
            self.before_staff = Some(self.screen.clone());
        }
        self.screen = Screen::AskStaff;
        self.staff_called = true;
        let text = strings(self.lang).get("ask_staff_title").to_owned();
        self.speak(ports, text, false);
    }

    fn respeak(&mut self, ports: &mut dyn Ports) {
        if let Some((text, private)) = self.last_spoken.clone() {
            self.speak(ports, text, private);
        }
    }

    fn speak(&mut self, ports: &mut dyn Ports, text: String, private: bool) {
        if text.trim().is_empty() {
            return;
        }
        let id = ports.say(&text, self.lang, self.elderly, private);
        self.speaking = Some(id);
        self.last_spoken = Some((text, private));
    }

    fn set_screen(&mut self, screen: Screen, now: Instant) {
        if screen != self.screen {
            self.screen_since = now;
        }
        self.screen = screen;
    }

    /// Ends the session: everything about the patient is dropped and the welcome screen is back.
    pub fn wipe(&mut self, now: Instant, ports: &mut dyn Ports) {
        if let (Some(interview), false) = (&self.interview, self.submitted) {
            // Left before confirming: the answers are not kept (nothing was sent).
            tracing::info!(questions = interview.n_questions(), "session ended without a card");
        }
        ports.stop_voice();
        if self.late.as_ref().is_none_or(|l| l.generation != self.generation) {
            ports.end_story(self.generation);
        }
        ports.speech(SpeechCommand::Reset);
        ports.speech(SpeechCommand::Elderly(false));
        let generation = self.generation + 1;
        let late = self.late.take();
        *self = Session::new(Arc::clone(&self.engine), self.config.clone(), now);
        self.generation = generation;
        // The card is already sent; its late draft is the only thing kept, until it lands.
        self.late = late;
        ports.speech(SpeechCommand::SetLang(self.lang));
        ports.warm(self.prompts());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_requests_are_whole_phrases() {
        assert_eq!(voice_request("请再说一遍"), Some(VoiceRequest::Repeat));
        assert_eq!(voice_request("Could you say that again?"), Some(VoiceRequest::Repeat));
        assert_eq!(voice_request("I need a repeat prescription"), None);
        assert_eq!(voice_request("帮我叫护士"), Some(VoiceRequest::CallStaff));
        assert_eq!(voice_request("Please speak slowly"), Some(VoiceRequest::Elderly));
        assert_eq!(voice_request("我胸口疼"), None);
    }

    #[test]
    fn the_language_is_chosen_by_what_is_said() {
        let both = [Lang::Zh, Lang::En];
        assert_eq!(spoken_language("English please", &both), Some(Lang::En));
        assert_eq!(spoken_language("我要说中文", &both), Some(Lang::Zh));
        assert_eq!(spoken_language("hello", &both), Some(Lang::En));
        assert_eq!(spoken_language("你好", &both), Some(Lang::Zh));
        assert_eq!(spoken_language("English", &[Lang::Zh]), None);
    }

    #[test]
    fn consent_words() {
        assert_eq!(spoken_yes_no("我同意"), Some(true));
        assert_eq!(spoken_yes_no("不同意"), Some(false));
        assert_eq!(spoken_yes_no("Yes, I agree."), Some(true));
        assert_eq!(spoken_yes_no("No."), Some(false));
        assert_eq!(spoken_yes_no("嗯，好的"), Some(true));
    }
}
