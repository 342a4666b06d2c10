//! The session's own thread: one loop that `select!`s over touches from the UI, the speech
//! worker's transcripts, the voice's events and a clock, drives the [`Session`], and sends the
//! UI a fresh [`View`] (waking it) whenever the screen changes. Every channel is bounded.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded, never, select, tick};
use protocol::{ConditionCard, Lang};
use speech::voice::Speaks;
use speech::worker::{SpeechCommand, SpeechEvent, SpeechWorker};
use store::{Actor, CardStore, SqliteStore};

use crate::session::{Alert, Ports, Session, UiAction, View};

/// Clock resolution of the session (timeouts, countdown).
const TICK: Duration = Duration::from_millis(250);
/// Touches queued from the UI at most.
const ACTION_CAPACITY: usize = 32;
/// Views queued to the UI at most (it keeps only the newest).
const VIEW_CAPACITY: usize = 8;

/// Where a finished card goes.
pub trait CardSink: Send {
    /// Commits the card durably; returns the patient's queue number.
    fn submit(&mut self, card: &ConditionCard) -> anyhow::Result<String>;
    /// Commits, durably, a 现病史 drafted after its card was committed (it follows the card).
    fn amend_hpi(&mut self, drafted: &store::DraftedHpi) -> anyhow::Result<()>;
    /// The 现病史 being drafted for a committed card, so far, for the station to show live; best
    /// effort (dropped when the link is busy or down).
    fn draft_progress(&mut self, _card_id: &str, _lang: Lang, _text: &str) {}
}

/// Queue numbers for the hand-off slip: a letter per kiosk (so two kiosks never give the same
/// number) and a count that starts again each day.
#[derive(Debug)]
pub struct Numbering {
    prefix: char,
    day: u64,
    count: u32,
}

impl Numbering {
    /// Numbers for `kiosk_id`.
    pub fn new(kiosk_id: &str) -> Self {
        let letter = kiosk_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 26;
        Self { prefix: char::from(b'A' + letter as u8), day: 0, count: 0 }
    }

    /// The next number (like `A012`) at `at_ms`.
    pub fn next(&mut self, at_ms: u64) -> String {
        let day = at_ms / 86_400_000;
        if day != self.day {
            self.day = day;
            self.count = 0;
        }
        self.count += 1;
        format!("{}{:03}", self.prefix, self.count)
    }
}

/// A standalone kiosk's own SQLite store (a `kiosk serve` on the same machine serves it to the
/// nurse station; a late-drafted 现病史 appears there when it lands, not while it is written).
#[derive(Debug)]
pub struct StoreSink {
    store: SqliteStore,
    kiosk: Actor,
    numbers: Numbering,
}

impl StoreSink {
    /// Opens the store at `path` for `kiosk_id`.
    pub fn open(path: &Path, kiosk_id: &str) -> anyhow::Result<Self> {
        let store = SqliteStore::open(path)?;
        Ok(Self { store, kiosk: Actor::Kiosk(kiosk_id.to_owned()), numbers: Numbering::new(kiosk_id) })
    }
}

/// Unix time, ms.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl CardSink for StoreSink {
    fn submit(&mut self, card: &ConditionCard) -> anyhow::Result<String> {
        let at = unix_ms();
        let number = self.numbers.next(at);
        let card = ConditionCard { queue_number: Some(number.clone()), ..card.clone() };
        // The card id is the idempotency key: a retry never makes a second card.
        self.store.submit(&card, &card.card_id, &self.kiosk, at)?;
        Ok(number)
    }

    fn amend_hpi(&mut self, drafted: &store::DraftedHpi) -> anyhow::Result<()> {
        let amended = self.store.amend_hpi(drafted, &self.kiosk, unix_ms())?;
        store::outbox::log_amended(&drafted.card_id, &amended);
        Ok(())
    }
}

/// What the orchestrator drives.
pub struct Parts {
    /// The session (at the welcome screen).
    pub session: Session,
    /// The voice.
    pub voice: Box<dyn Speaks>,
    /// The speech worker; `None` runs touch only.
    pub speech: Option<Arc<SpeechWorker>>,
    /// Where cards go.
    pub sink: Box<dyn CardSink>,
    /// Where staff alerts go (bounded; a full queue drops with a log line, the store has the
    /// card).
    pub alerts: Sender<Alert>,
    /// The language model reading stories in the background (`None`: rules and embeddings only).
    pub assist: Option<crate::assist::Assist>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").field("session", &self.session).finish_non_exhaustive()
    }
}

struct LivePorts<'a> {
    voice: &'a dyn Speaks,
    speech: Option<&'a SpeechWorker>,
    sink: &'a mut dyn CardSink,
    alerts: &'a Sender<Alert>,
    assist: Option<&'a mut crate::assist::Assist>,
}

impl Ports for LivePorts<'_> {
    fn say(&mut self, text: &str, lang: Lang, elderly: bool, private: bool) -> u64 {
        if private {
            self.voice.say_private(text, lang, elderly)
        } else {
            self.voice.say(text, lang, elderly)
        }
    }
    fn stop_voice(&mut self) {
        self.voice.stop();
    }
    fn warm(&mut self, prompts: Vec<(String, Lang, bool)>) {
        self.voice.warm(prompts);
    }
    fn speech(&mut self, command: SpeechCommand) {
        if let Some(s) = self.speech
            && !s.send(command)
        {
            tracing::warn!("speech worker queue full: command dropped");
        }
    }
    fn alert(&mut self, alert: Alert) {
        if self.alerts.try_send(alert).is_err() {
            tracing::error!("staff alert queue full or closed");
        }
    }
    fn submit(&mut self, card: &ConditionCard) -> anyhow::Result<String> {
        self.sink.submit(card)
    }
    fn read_story(&mut self, session: u64, story: &str, lang: Lang) {
        if let Some(a) = self.assist.as_deref_mut() {
            a.read_story(session, story, lang);
        }
    }
    fn end_story(&mut self, session: u64) {
        if let Some(a) = self.assist.as_deref_mut() {
            a.end(session);
        }
    }
    fn draft_narrative(&mut self, session: u64, facts: &[String], lang: Lang) -> bool {
        self.assist.as_deref_mut().is_some_and(|a| a.draft_narrative(session, facts, lang))
    }
    fn stop_narrative(&mut self, session: u64) {
        if let Some(a) = self.assist.as_deref_mut() {
            a.stop(session);
        }
    }
    fn draft_progress(&mut self, card_id: &str, lang: Lang, text: &str) {
        self.sink.draft_progress(card_id, lang, text);
    }
    fn amend_hpi(&mut self, drafted: &store::DraftedHpi) -> anyhow::Result<()> {
        self.sink.amend_hpi(drafted)
    }
}

/// The running orchestrator.
#[derive(Debug)]
pub struct Orchestrator {
    /// Touches to the session.
    pub actions: Sender<UiAction>,
    /// Views from the session.
    pub views: Receiver<Arc<View>>,
    /// The first view (the welcome screen).
    pub first: View,
    thread: Option<JoinHandle<()>>,
}

impl Orchestrator {
    /// Starts the session thread. `wake` is called after every new view (the UI's
    /// `request_repaint`).
    pub fn spawn(parts: Parts, wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (action_tx, action_rx) = bounded::<UiAction>(ACTION_CAPACITY);
        let (view_tx, view_rx) = bounded::<Arc<View>>(VIEW_CAPACITY);
        let first = parts.session.view(Instant::now());
        let thread = std::thread::Builder::new()
            .name("session".into())
            .spawn(move || run(parts, &action_rx, &view_tx, &wake))?;
        Ok(Self { actions: action_tx, views: view_rx, first, thread: Some(thread) })
    }

    /// Waits for the session thread to end (after the UI has dropped its side).
    pub fn join(mut self) {
        drop(self.actions);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut parts: Parts, actions: &Receiver<UiAction>, views: &Sender<Arc<View>>, wake: &dyn Fn()) {
    let voice_events = parts.voice.events().clone();
    let mut speech_events: Receiver<SpeechEvent> =
        parts.speech.as_ref().map_or_else(never, |s| s.events().clone());
    let clock = tick(TICK);
    let mut last: Option<View> = None;
    {
        let mut ports = LivePorts {
            voice: parts.voice.as_ref(),
            speech: parts.speech.as_deref(),
            sink: parts.sink.as_mut(),
            alerts: &parts.alerts,
            assist: parts.assist.as_mut(),
        };
        parts.session.greet(&mut ports);
    }

    loop {
        // The model request in flight has its own channel (a new one per request).
        let model_events: Receiver<llm::worker::LlmEvent> =
            parts.assist.as_ref().map_or_else(never, crate::assist::Assist::events);
        let mut ports = LivePorts {
            voice: parts.voice.as_ref(),
            speech: parts.speech.as_deref(),
            sink: parts.sink.as_mut(),
            alerts: &parts.alerts,
            assist: parts.assist.as_mut(),
        };
        let session = &mut parts.session;
        select! {
            recv(actions) -> action => match action {
                Ok(action) => session.on_ui(action, Instant::now(), &mut ports),
                // The window closed.
                Err(_) => break,
            },
            recv(speech_events) -> event => match event {
                Ok(event) => session.on_speech(event, Instant::now(), &mut ports),
                Err(_) => {
                    speech_events = never();
                    let failed = SpeechEvent::Failed("the speech worker stopped".into());
                    session.on_speech(failed, Instant::now(), &mut ports);
                }
            },
            recv(voice_events) -> event => {
                if let Ok(event) = event {
                    session.on_voice(event, Instant::now());
                }
            },
            recv(clock) -> _ => session.tick(Instant::now(), &mut ports),
            recv(model_events) -> event => {
                use crate::assist::Assisted;
                let assisted = ports.assist.as_deref_mut().and_then(|a| match event {
                    Ok(e) => a.finish(e),
                    // The worker dropped the request without an answer.
                    Err(_) => a.lost(),
                });
                match assisted {
                    Some(Assisted::Story(generation, slots)) => session.on_story(generation, &slots),
                    Some(Assisted::NarrativeText(generation, text)) => {
                        session.on_narrative_text(generation, &text, &mut ports);
                    }
                    Some(Assisted::Narrative(generation, draft)) => {
                        session.on_narrative(generation, draft, &mut ports);
                    }
                    None => {}
                }
            },
        }
        let view = session.view(Instant::now());
        if last.as_ref() != Some(&view) {
            match views.send_timeout(Arc::new(view.clone()), Duration::from_millis(200)) {
                Ok(()) => {}
                // The window closed.
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => break,
                Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => {
                    tracing::warn!("the screen is not taking views");
                }
            }
            last = Some(view);
            wake();
        }
    }
    parts.voice.stop();
}
