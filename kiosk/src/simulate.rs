//! A simulated patient talking to the whole kiosk: the patient's answers are synthesised with a
//! Kokoro voice different from the kiosk's and fed through the speech worker in real time, with
//! realistic pauses, only after the kiosk has finished speaking; the kiosk's own voice (Kokoro)
//! plays into a simulated speaker that takes as long as the audio lasts. Everything between is the
//! real kiosk: endpointing, whisper, the intake engine, the session, the SQLite store.
//!
//! Used by the voice-only interview tests and by `kiosk bench session`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender, bounded};
use dialogue::{Expect, Question};
use protocol::{ConditionCard, Lang, QuestionKind};
use speech::source::{AudioSource, CHUNK_SAMPLES, SourceError};
use speech::tts::{Pcm, Synthesizer, VoiceConfig};
use speech::voice::{AudioSink, EchoConfig, Voice};
use store::CardStore as _;

use crate::config::Config;
use crate::orchestrator::{Orchestrator, Parts, StoreSink};
use crate::session::{ConsentStep, Screen, Session, SessionConfig, View};

/// Silence between the kiosk finishing and the patient starting to answer.
const ANSWER_GAP: Duration = Duration::from_millis(700);

#[derive(Debug, Default)]
struct SpeakerState {
    until: Option<Instant>,
    /// When each utterance started playing.
    starts: Vec<Instant>,
}

/// A speaker that "plays" audio without a sound card, taking as long as the audio lasts divided
/// by `speed` (1.0: real time).
#[derive(Debug)]
pub struct SimSpeaker {
    state: Mutex<SpeakerState>,
    speed: f64,
}

impl SimSpeaker {
    /// A speaker playing at `speed` times real time.
    pub fn new(speed: f64) -> Self {
        Self { state: Mutex::default(), speed: speed.max(0.1) }
    }
}

impl SimSpeaker {
    /// When each kiosk utterance started playing.
    pub fn starts(&self) -> Vec<Instant> {
        self.state.lock().map(|s| s.starts.clone()).unwrap_or_default()
    }
}

impl AudioSink for SimSpeaker {
    fn play(&self, pcm: &Pcm) -> Result<(), String> {
        let now = Instant::now();
        let mut s = self.state.lock().map_err(|_| "speaker lock".to_owned())?;
        let length =
            Duration::from_secs_f64(pcm.samples.len() as f64 / f64::from(pcm.rate_hz.max(1)) / self.speed);
        let start = match s.until {
            Some(until) if until > now => until,
            _ => {
                s.starts.push(now);
                now
            }
        };
        s.until = Some(start + length);
        Ok(())
    }
    fn is_playing(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.until.is_some_and(|u| u > Instant::now()))
    }
    fn stop(&self) {
        if let Ok(mut s) = self.state.lock() {
            let now = Instant::now();
            if s.until.is_some_and(|u| u > now) {
                s.until = Some(now);
            }
        }
    }
}

/// The patient's mouth: a real-time 16 kHz source of silence that speaks each queued utterance a
/// moment after it was queued (the driver queues an answer once the kiosk has finished speaking).
struct Mouth {
    queue: Receiver<(Vec<f32>, Instant)>,
    speaking: Option<(Vec<f32>, usize)>,
    waiting: Option<(Vec<f32>, Instant)>,
    ends: Sender<Instant>,
    started: Instant,
    emitted: u64,
}

impl AudioSource for Mouth {
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        let due = self.started + Duration::from_micros(self.emitted * 1_000_000 / 16_000);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        self.emitted += CHUNK_SAMPLES as u64;
        if self.speaking.is_none() {
            if self.waiting.is_none() {
                self.waiting = self.queue.try_recv().ok();
            }
            if let Some((audio, queued)) = self.waiting.take() {
                if queued.elapsed() >= ANSWER_GAP {
                    self.speaking = Some((audio, 0));
                } else {
                    self.waiting = Some((audio, queued));
                }
            }
        }
        let Some((audio, pos)) = self.speaking.as_mut() else {
            return Ok(Some(vec![0.0; CHUNK_SAMPLES]));
        };
        let end = (*pos + CHUNK_SAMPLES).min(audio.len());
        let mut chunk = audio[*pos..end].to_vec();
        chunk.resize(CHUNK_SAMPLES, 0.0);
        *pos = end;
        if end >= audio.len() {
            self.speaking = None;
            let _ = self.ends.try_send(Instant::now());
        }
        Ok(Some(chunk))
    }
}

/// One thing the patient says: sentences with the pauses between them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Utterance {
    /// Sentences, said one after another.
    pub parts: Vec<String>,
    /// Silence between the parts.
    pub pause_ms: u32,
}

impl Utterance {
    fn one(text: &str) -> Self {
        Self { parts: vec![text.to_owned()], pause_ms: 0 }
    }
}

/// The facts a simulated patient answers from.
#[derive(Clone, Debug)]
pub struct Script {
    /// Language.
    pub lang: Lang,
    /// The opening story, in parts said with `pause_ms` between them.
    pub opening: Vec<String>,
    /// Pause inside answers (elderly speakers pause mid-sentence).
    pub pause_ms: u32,
    /// Answers to symptom questions by concept id; any other symptom question gets `no`.
    pub symptoms: Vec<(String, String)>,
    /// "No".
    pub no: String,
    /// Age.
    pub age: String,
    /// Sex.
    pub sex: String,
    /// Severity.
    pub severity: String,
    /// When it started / how long.
    pub duration: String,
    /// Temperature.
    pub temperature: String,
    /// History, medicines, allergies.
    pub history: String,
    /// "Yes, that's right" at the read-back.
    pub confirm: String,
    /// Choosing the language at the welcome screen.
    pub hello: String,
    /// Consent.
    pub agree: String,
    /// Asked at the first question: elderly mode ("speak slowly").
    pub ask_elderly: Option<String>,
    /// Asked at the second question before answering it ("say that again").
    pub ask_repeat: Option<String>,
    /// Speak slowly (the patient voice's elderly rate).
    pub slow: bool,
}

impl Script {
    fn answer(&self, q: &Question) -> Utterance {
        let split = |text: &str| Utterance { parts: vec![text.to_owned()], pause_ms: self.pause_ms };
        if q.id.starts_with("opening") {
            return Utterance { parts: self.opening.clone(), pause_ms: self.pause_ms };
        }
        if let Some(c) = &q.concept
            && let Some((_, a)) = self.symptoms.iter().find(|(id, _)| *id == c.id)
        {
            return split(a);
        }
        let text = match (q.expect, q.kind) {
            (Expect::Age, _) | (_, QuestionKind::Age) => &self.age,
            (Expect::Sex, _) | (_, QuestionKind::Sex) => &self.sex,
            (Expect::Rating, _) => &self.severity,
            (Expect::Temperature, _) => &self.temperature,
            (Expect::Duration, _) | (_, QuestionKind::Onset | QuestionKind::Duration) => &self.duration,
            (Expect::Confirm, _) => &self.confirm,
            (_, QuestionKind::History | QuestionKind::Medications | QuestionKind::Allergies) => &self.history,
            _ => &self.no,
        };
        Utterance::one(text)
    }

    /// Everything the patient may say, to synthesise before the session starts.
    fn utterances(&self) -> Vec<Utterance> {
        let mut v = vec![
            Utterance { parts: self.opening.clone(), pause_ms: self.pause_ms },
            Utterance::one(&self.no),
            Utterance::one(&self.age),
            Utterance::one(&self.sex),
            Utterance::one(&self.severity),
            Utterance::one(&self.duration),
            Utterance::one(&self.temperature),
            Utterance::one(&self.history),
            Utterance::one(&self.confirm),
            Utterance::one(&self.hello),
            Utterance::one(&self.agree),
        ];
        v.extend(
            self.symptoms.iter().map(|(_, a)| Utterance { parts: vec![a.clone()], pause_ms: self.pause_ms }),
        );
        v.extend(self.ask_elderly.iter().map(|t| Utterance::one(t)));
        v.extend(self.ask_repeat.iter().map(|t| Utterance::one(t)));
        v
    }
}

/// How a simulated session went.
#[derive(Debug)]
pub struct SimReport {
    /// The stored card, if the session reached the hand-off.
    pub card: Option<ConditionCard>,
    /// The last screen.
    pub screen: Screen,
    /// What the kiosk said (texts), in order.
    pub kiosk_said: Vec<String>,
    /// Per answer: end of the patient's speech to the first audio of the kiosk's reply, ms.
    pub response_ms: Vec<u64>,
    /// The session's views, in order (for checks on what was shown).
    pub views: usize,
    /// Elderly mode was on at the end.
    pub elderly: bool,
    /// What the kiosk understood from each answer (the final transcripts), in order.
    pub heard: Vec<String>,
    /// The language model ran beside the session.
    pub with_model: bool,
    /// Its 现病史 draft was seen streaming onto the read-back.
    pub narrative_streamed: bool,
    /// The draft was still being written when the patient confirmed, so it followed the card
    /// (the run waits for it, within `limit`, before reading the card).
    pub narrative_followed: bool,
}

/// The voices and recogniser, loaded once and shared by several simulated sessions.
pub struct SimKit {
    kiosk_tts: Arc<Synthesizer>,
    patient_tts: Synthesizer,
    recognizer: Arc<speech::asr::Recognizer>,
    engine: Arc<dialogue::Engine>,
}

impl std::fmt::Debug for SimKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimKit").finish_non_exhaustive()
    }
}

impl SimKit {
    /// Loads the kiosk's voice as configured, a different Kokoro voice for the patient
    /// (zm_yunjian, am_michael), whisper and the intake engine.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        use speech::tts::kokoro::{Kokoro, KokoroPaths};
        let paths = KokoroPaths::in_models_dir(&config.models_dir);
        let kiosk_voices = [config.voice.zh_voice.as_str(), config.voice.en_voice.as_str()];
        let kiosk = Kokoro::load(&paths, &kiosk_voices, 2).context("the kiosk's Kokoro voice")?;
        let patient_voices = ["zm_yunjian", "am_michael"];
        anyhow::ensure!(
            !patient_voices.iter().any(|v| kiosk_voices.contains(v)),
            "the simulated patient must not use the kiosk's own voice"
        );
        let patient = Kokoro::load(&paths, &patient_voices, 2).context("the patient's Kokoro voice")?;
        let patient_config = VoiceConfig {
            zh_voice: patient_voices[0].into(),
            en_voice: patient_voices[1].into(),
            speed: 1.0,
            elderly_speed: 0.8,
            volume: 0.9,
        };
        Ok(Self {
            // Like the kiosk, the voice keeps its fixed prompts on disk in the data directory.
            kiosk_tts: Arc::new(
                Synthesizer::new(Some(kiosk), config.voice.clone())
                    .with_disk_cache(config.data_dir.join("voice-cache")),
            ),
            patient_tts: Synthesizer::new(Some(patient), patient_config),
            recognizer: Arc::new(crate::speech_cmd::recognizer(config)?),
            engine: crate::window::engine(config)?,
        })
    }

    /// Synthesises the kiosk's fixed prompts now, as a kiosk that has been idle for a while has
    /// them in its cache. Returns the number of sentences made.
    pub fn warm(&self, config: &Config) -> anyhow::Result<usize> {
        let session =
            Session::new(Arc::clone(&self.engine), SessionConfig::from_config(config), Instant::now());
        let mut n = 0;
        for (text, lang, elderly) in session.prompts() {
            if elderly {
                continue;
            }
            for chunk in speech::tts::speaking_chunks(&text) {
                self.kiosk_tts.sentence(&chunk, lang, elderly)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn synthesize(&self, u: &Utterance, lang: Lang, slow: bool) -> anyhow::Result<Vec<f32>> {
        let mut out = Vec::new();
        for (i, part) in u.parts.iter().enumerate() {
            if i > 0 {
                out.extend(std::iter::repeat_n(0.0, u.pause_ms as usize * 16));
            }
            let pcm = self.patient_tts.sentence(part, lang, slow)?;
            out.extend(speech::resample::to_16k(&pcm.samples, pcm.rate_hz)?);
        }
        Ok(out)
    }

    /// A patient with stomach ache, answering in Mandarin.
    pub fn mandarin_script() -> Script {
        let s = |t: &str| t.to_owned();
        Script {
            lang: Lang::Zh,
            opening: vec![s("我肚子疼，从昨天晚上开始一直疼。")],
            pause_ms: 0,
            symptoms: Vec::new(),
            no: s("没有。"),
            age: s("我今年三十五岁。"),
            sex: s("女的。"),
            severity: s("大概六分。"),
            duration: s("昨天晚上开始的。"),
            temperature: s("没有量过。"),
            history: s("没有。"),
            confirm: s("对的，没错。"),
            hello: s("你好，我说中文。"),
            agree: s("我同意。"),
            ask_elderly: None,
            ask_repeat: None,
            slow: false,
        }
    }

    /// A patient with cough and fever, answering in English.
    pub fn english_script() -> Script {
        let s = |t: &str| t.to_owned();
        Script {
            lang: Lang::En,
            opening: vec![s("I've had a bad cough and a fever for three days.")],
            pause_ms: 0,
            symptoms: Vec::new(),
            no: s("No."),
            age: s("I'm forty two years old."),
            sex: s("I am a man."),
            severity: s("About five."),
            duration: s("Three days ago."),
            temperature: s("Thirty eight point five degrees."),
            history: s("None."),
            confirm: s("Yes, that's right."),
            hello: s("Hello, English please."),
            agree: s("Yes, I agree."),
            ask_elderly: None,
            ask_repeat: None,
            slow: false,
        }
    }

    /// Runs one whole session by voice alone: the patient chooses the language by speaking,
    /// consents, answers every question and confirms the read-back. `config.data_dir` receives
    /// the card store.
    ///
    /// The kiosk's voice "plays" at `speaker_speed` times real time (1.0 for timing
    /// measurements; faster only shortens the test, the patient still waits for the kiosk).
    pub fn run(
        &self,
        config: &Config,
        script: &Script,
        speaker_speed: f64,
        limit: Duration,
        tap: Option<Sender<Arc<View>>>,
    ) -> anyhow::Result<SimReport> {
        let mut audio: HashMap<Utterance, Vec<f32>> = HashMap::new();
        for u in script.utterances() {
            if let std::collections::hash_map::Entry::Vacant(e) = audio.entry(u) {
                let samples = self.synthesize(e.key(), script.lang, script.slow)?;
                e.insert(samples);
            }
        }
        let speaker = Arc::new(SimSpeaker::new(speaker_speed));
        let (say_tx, say_rx) = bounded::<(Vec<f32>, Instant)>(4);
        let (end_tx, end_rx) = bounded::<Instant>(64);
        let mouth = Mouth {
            queue: say_rx,
            speaking: None,
            waiting: None,
            ends: end_tx,
            started: Instant::now(),
            emitted: 0,
        };
        let speech_config = crate::window::speech_config(config);
        let worker = Arc::new(speech::worker::SpeechWorker::spawn(
            Box::new(mouth),
            Arc::clone(&self.recognizer),
            speech_config,
        )?);
        let synth: Arc<dyn speech::tts::Synthesize> = self.kiosk_tts.clone();
        let tts = speech::tts::worker::TtsWorker::spawn(synth)?;
        let sink: Arc<dyn AudioSink> = speaker.clone();
        let voice =
            Voice::spawn(tts, sink, EchoConfig::default(), crate::window::gate(Some(Arc::clone(&worker))))?;
        let said = Arc::new(Mutex::new(Vec::new()));
        let recording = RecordingVoice { inner: voice, said: Arc::clone(&said) };
        let store_path = crate::console::store_path(&config.data_dir);
        std::fs::create_dir_all(&config.data_dir)?;
        let sink = StoreSink::open(&store_path, &config.kiosk_id)?;
        let (alert_tx, _alerts) = bounded(64);
        let session =
            Session::new(Arc::clone(&self.engine), SessionConfig::from_config(config), Instant::now());
        // The language model as the kiosk runs it (when configured and installed), loaded and
        // with its instructions read, as on a kiosk that has been on for a while.
        let assist = crate::assist::Assist::load(config);
        if let Some(a) = &assist
            && !a.wait_ready(Duration::from_secs(300))
        {
            tracing::warn!("the language model was not ready after 300 s");
        }
        let with_model = assist.is_some();
        let mut narrative_streamed = false;
        let parts = Parts {
            session,
            voice: Box::new(recording),
            speech: Some(worker),
            sink: Box::new(sink),
            alerts: alert_tx,
            assist,
        };
        let orchestrator = Orchestrator::spawn(parts, || {})?;

        let start = Instant::now();
        let mut last_key = None;
        let mut view_count = 0;
        let mut questions = 0;
        let mut asked_repeat = false;
        let mut asked_elderly = false;
        let mut ends: Vec<Instant> = Vec::new();
        let mut last_view: Option<Arc<View>> = None;
        let mut heard: Vec<String> = Vec::new();
        let say = |u: &Utterance| -> anyhow::Result<()> {
            let samples = audio.get(u).cloned().context("utterance not synthesised")?;
            say_tx.send((samples, Instant::now()))?;
            Ok(())
        };
        loop {
            if start.elapsed() > limit {
                break;
            }
            ends.extend(end_rx.try_iter());
            let Ok(view) = orchestrator.views.recv_timeout(Duration::from_millis(100)) else { continue };
            view_count += 1;
            if let Some(tap) = &tap {
                let _ = tap.try_send(Arc::clone(&view));
            }
            narrative_streamed |= view.narrative.as_ref().is_some_and(|n| n.writing && !n.text.is_empty());
            if let Some(h) = &view.heard
                && heard.last() != Some(h)
            {
                heard.push(h.clone());
            }
            last_view = Some(Arc::clone(&view));
            if matches!(
                view.screen,
                Screen::Handoff(_) | Screen::Emergency { .. } | Screen::Declined | Screen::AskStaff
            ) {
                break;
            }
            // The patient answers once the kiosk has finished saying what is on screen.
            if view.speaking {
                continue;
            }
            let key = (
                format!("{:?}", std::mem::discriminant(&view.screen)),
                matches!(view.screen, Screen::Consent(ConsentStep::Data)),
                view.question.as_ref().map(|q| q.id.clone()),
                view.said.clone(),
                view.elderly,
            );
            if last_key.as_ref() == Some(&key) {
                continue;
            }
            last_key = Some(key);
            match &view.screen {
                Screen::Welcome => say(&Utterance::one(&script.hello))?,
                Screen::Consent(_) => say(&Utterance::one(&script.agree))?,
                Screen::Interview | Screen::ReadBack => {
                    let Some(q) = &view.question else { continue };
                    questions += 1;
                    if let (Some(text), false) = (&script.ask_elderly, asked_elderly) {
                        asked_elderly = true;
                        say(&Utterance::one(text))?;
                    } else if let (Some(text), false, true) =
                        (&script.ask_repeat, asked_repeat, questions >= 3)
                    {
                        asked_repeat = true;
                        say(&Utterance::one(text))?;
                    } else {
                        say(&script.answer(q))?;
                    }
                }
                _ => {}
            }
        }
        // Let the last reply start so its latency is measured.
        std::thread::sleep(Duration::from_millis(300));
        ends.extend(end_rx.try_iter());
        let screen = last_view.as_ref().map_or(Screen::Welcome, |v| v.screen.clone());
        let elderly = last_view.as_ref().is_some_and(|v| v.elderly);
        // A draft still being written follows the card: wait for it (the hand-off screen may
        // give way to the next patient's welcome meanwhile).
        let narrative_followed = last_view.as_ref().is_some_and(|v| v.late_draft);
        let mut drafting = narrative_followed;
        while drafting && start.elapsed() < limit {
            if let Ok(view) = orchestrator.views.recv_timeout(Duration::from_millis(100)) {
                drafting = view.late_draft;
            }
        }
        if drafting {
            tracing::warn!("the draft that followed the card did not finish within the run's limit");
        }
        let starts = speaker.starts();
        let response_ms = ends
            .iter()
            .filter_map(|end| {
                starts.iter().find(|s| *s > end).map(|s| s.duration_since(*end).as_millis() as u64)
            })
            .collect();
        drop(orchestrator);

        let card = if store_path.exists() {
            let mut store = store::SqliteStore::open(&store_path)?;
            let id = match &screen {
                Screen::Handoff(h) => Some(h.card_id.clone()),
                Screen::Emergency { .. } => store.queue()?.first().map(|e| e.card_id.clone()),
                _ => None,
            };
            match id {
                Some(id) => {
                    store.card(&id, &store::Actor::Kiosk(config.kiosk_id.clone()), 0)?.map(|c| c.card)
                }
                None => None,
            }
        } else {
            None
        };
        let kiosk_said = said.lock().map(|s| s.clone()).unwrap_or_default();
        Ok(SimReport {
            card,
            screen,
            kiosk_said,
            response_ms,
            views: view_count,
            elderly,
            heard,
            with_model,
            narrative_streamed,
            narrative_followed,
        })
    }
}

/// The kiosk's voice, remembering the texts it was asked to say.
struct RecordingVoice {
    inner: Voice,
    said: Arc<Mutex<Vec<String>>>,
}

impl speech::voice::Speaks for RecordingVoice {
    fn say(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        if let Ok(mut s) = self.said.lock() {
            s.push(text.to_owned());
        }
        self.inner.say(text, lang, elderly)
    }
    fn say_private(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        if let Ok(mut s) = self.said.lock() {
            s.push(text.to_owned());
        }
        self.inner.say_private(text, lang, elderly)
    }
    fn stop(&self) {
        self.inner.stop();
    }
    fn events(&self) -> &Receiver<speech::voice::VoiceEvent> {
        self.inner.events()
    }
    fn warm(&self, prompts: Vec<(String, Lang, bool)>) {
        self.inner.warm(prompts);
    }
}
