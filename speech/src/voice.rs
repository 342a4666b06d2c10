//! The kiosk's voice: synthesis (the [`TtsWorker`]) feeding playback, with the microphone gated
//! while the kiosk speaks so that it never transcribes itself.
//!
//! The gate closes just before the first audio of an utterance is queued and opens again only after
//! the speaker has played everything plus a short tail (room echo and the device's own buffering).
//! With barge-in enabled the recogniser is not muted but told to require sustained speech, so a
//! patient who talks over a long question can still interrupt it while the kiosk's own voice,
//! which the microphone hears too, does not (see [`GateAction`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use protocol::Lang;

use crate::device::Player;
use crate::tts::Pcm;
use crate::tts::worker::{SpeakCommand, TtsEvent, TtsWorker};

/// Where synthesised audio goes: the speaker ([`Player`]) or, in tests, a recorder.
pub trait AudioSink: Send + Sync {
    /// Queues audio; may block while the device's buffer is full.
    fn play(&self, pcm: &Pcm) -> Result<(), String>;
    /// Whether queued audio is still playing.
    fn is_playing(&self) -> bool;
    /// Drops whatever is queued.
    fn stop(&self);
}

impl AudioSink for Player {
    fn play(&self, pcm: &Pcm) -> Result<(), String> {
        Player::play(self, pcm).map_err(|e| e.to_string())
    }
    fn is_playing(&self) -> bool {
        Player::is_playing(self)
    }
    fn stop(&self) {
        Player::stop(self);
    }
}

/// What the microphone gate is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateAction {
    /// The kiosk starts speaking.
    Close,
    /// The kiosk has finished (tail included).
    Open,
}

/// Echo settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoConfig {
    /// Extra time the microphone stays gated after the last sample has played.
    pub tail: Duration,
}

impl Default for EchoConfig {
    fn default() -> Self {
        Self { tail: Duration::from_millis(300) }
    }
}

/// What the voice reports.
#[derive(Clone, Debug, PartialEq)]
pub enum VoiceEvent {
    /// Request `id` started playing; its first audio took `first_audio_ms` to synthesise.
    Started {
        /// Request id.
        id: u64,
        /// Text-ready to first audio, milliseconds.
        first_audio_ms: u64,
    },
    /// Request `id` has played to the end (or was stopped) and the microphone is open again.
    Finished {
        /// Request id.
        id: u64,
    },
    /// Request `id` could not be spoken; the text stays on screen.
    Failed {
        /// Request id.
        id: u64,
        /// What went wrong, for the staff status screen.
        error: String,
    },
}

/// Handle to the voice. Dropping it stops synthesis and playback.
pub struct Voice {
    tts: TtsWorker,
    sink: Arc<dyn AudioSink>,
    next_id: AtomicU64,
    /// Chunks of requests below this id are stale (stopped or superseded) and are not played.
    current: Arc<AtomicU64>,
    events: Receiver<VoiceEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("current", &self.current.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Voice {
    /// Starts playback of what `tts` synthesises into `sink`, calling `gate` to close and open the
    /// microphone (normally `SpeechWorker::send(SpeechCommand::Mute(..))`).
    pub fn spawn(
        tts: TtsWorker,
        sink: Arc<dyn AudioSink>,
        echo: EchoConfig,
        gate: impl Fn(GateAction) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (event_tx, event_rx) = bounded(32);
        let current = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let playback = Playback {
            audio: tts.events().clone(),
            sink: Arc::clone(&sink),
            current: Arc::clone(&current),
            events: event_tx,
            echo,
            gate: Box::new(gate),
            speaking: None,
        };
        let stop2 = Arc::clone(&stop);
        let thread =
            std::thread::Builder::new().name("playback".into()).spawn(move || playback.run(&stop2))?;
        Ok(Self {
            tts,
            sink,
            next_id: AtomicU64::new(1),
            current,
            events: event_rx,
            stop,
            thread: Some(thread),
        })
    }

    /// Says `text`, interrupting anything still being said. Returns the request id. The audio
    /// is cached (the kiosk's fixed prompts repeat for every patient).
    pub fn say(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        self.request(text, lang, elderly, false)
    }

    /// Says a text holding patient information (the read-back of the card): never cached.
    pub fn say_private(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        self.request(text, lang, elderly, true)
    }

    fn request(&self, text: &str, lang: Lang, elderly: bool, private: bool) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.interrupt_before(id);
        self.tts.send(SpeakCommand::Say { id, text: text.to_owned(), lang, elderly, private });
        id
    }

    /// Stops speaking at once (a tap on the screen, barge-in, the end of the session).
    pub fn stop(&self) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.interrupt_before(id);
        self.tts.send(SpeakCommand::Stop);
    }

    /// Synthesises these in the background to fill the cache (fixed prompts).
    pub fn warm(&self, prompts: Vec<(String, Lang, bool)>) {
        self.tts.send(SpeakCommand::Warm(prompts));
    }

    /// The event stream.
    pub fn events(&self) -> &Receiver<VoiceEvent> {
        &self.events
    }

    fn interrupt_before(&self, id: u64) {
        let previous = self.current.swap(id, Ordering::Relaxed);
        if previous != 0 {
            self.sink.stop();
        }
    }
}

impl Drop for Voice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.sink.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Playback {
    audio: Receiver<TtsEvent>,
    sink: Arc<dyn AudioSink>,
    current: Arc<AtomicU64>,
    events: Sender<VoiceEvent>,
    echo: EchoConfig,
    gate: Box<dyn Fn(GateAction) + Send>,
    /// The request playing, and whether all its audio has been queued.
    speaking: Option<(u64, bool)>,
}

impl Playback {
    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.audio.recv_timeout(Duration::from_millis(20)) {
                Ok(event) => self.on_event(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // A request that was stopped, or whose audio has all played: finish it.
            if let Some((id, complete)) = self.speaking {
                let stale = id < self.current.load(Ordering::Relaxed);
                if stale || (complete && !self.sink.is_playing()) {
                    self.finish(id);
                }
            }
        }
        if let Some((id, _)) = self.speaking {
            self.finish(id);
        }
    }

    fn on_event(&mut self, event: TtsEvent) {
        let current = self.current.load(Ordering::Relaxed);
        match event {
            TtsEvent::Audio { id, pcm, first, ready_ms } => {
                if id < current {
                    return; // stopped or superseded
                }
                if first || self.speaking.is_none() {
                    if let Some((old, _)) = self.speaking
                        && old != id
                    {
                        self.finish(old);
                    }
                    (self.gate)(GateAction::Close);
                    self.speaking = Some((id, false));
                    let _ = self.events.try_send(VoiceEvent::Started { id, first_audio_ms: ready_ms });
                }
                if let Err(error) = self.sink.play(&pcm) {
                    self.speaking = None;
                    (self.gate)(GateAction::Open);
                    let _ = self.events.try_send(VoiceEvent::Failed { id, error });
                }
            }
            TtsEvent::Done { id } => match self.speaking {
                Some((s, _)) if s == id => self.speaking = Some((id, true)),
                // Done without audio (empty text): nothing played.
                None if id >= current => {
                    let _ = self.events.try_send(VoiceEvent::Finished { id });
                }
                _ => {}
            },
            TtsEvent::Failed { id, error } => {
                if self.speaking.is_some_and(|(s, _)| s == id) {
                    self.finish(id);
                }
                if id >= current {
                    let _ = self.events.try_send(VoiceEvent::Failed { id, error });
                }
            }
        }
    }

    /// Waits out the echo tail, then opens the microphone.
    fn finish(&mut self, id: u64) {
        self.speaking = None;
        let until = Instant::now() + self.echo.tail;
        // While waiting, a new request may start (the gate then simply stays closed).
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        (self.gate)(GateAction::Open);
        let _ = self.events.try_send(VoiceEvent::Finished { id });
    }
}

/// What the session needs from a voice, whichever backend speaks.
pub trait Speaks: Send + Sync {
    /// Says `text`, interrupting anything still being said. Returns the request id.
    fn say(&self, text: &str, lang: Lang, elderly: bool) -> u64;
    /// Says a text holding patient information, which no backend may keep.
    fn say_private(&self, text: &str, lang: Lang, elderly: bool) -> u64;
    /// Stops speaking at once.
    fn stop(&self);
    /// Started / finished / failed, per request.
    fn events(&self) -> &Receiver<VoiceEvent>;
    /// Prepares these fixed prompts in the background (no-op where nothing is cached); an empty
    /// list stops preparing.
    fn warm(&self, prompts: Vec<(String, Lang, bool)>) {
        let _ = prompts;
    }
}

impl Speaks for Voice {
    fn say(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        Voice::say(self, text, lang, elderly)
    }
    fn say_private(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        Voice::say_private(self, text, lang, elderly)
    }
    fn stop(&self) {
        Voice::stop(self);
    }
    fn events(&self) -> &Receiver<VoiceEvent> {
        Voice::events(self)
    }
    fn warm(&self, prompts: Vec<(String, Lang, bool)>) {
        Voice::warm(self, prompts);
    }
}

/// The system voice: speech-dispatcher (through the `tts` crate), which synthesises and plays on
/// its own (espeak-ng or whatever module the site configured). For sites that standardise on the
/// desktop speech stack; the kiosk's own voice is [`Voice`]. The microphone is gated from when
/// speech-dispatcher reports speaking until it stops, plus the echo tail.
pub struct SystemVoice {
    commands: Sender<SystemCommand>,
    events: Receiver<VoiceEvent>,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SystemVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemVoice").finish_non_exhaustive()
    }
}

enum SystemCommand {
    Say { id: u64, text: String, lang: Lang, elderly: bool },
    Stop,
}

impl SystemVoice {
    /// Connects to speech-dispatcher (started on demand by its client library). `speed` and
    /// `elderly_speed` are rates with 1.0 normal, `volume` 0-1.
    pub fn spawn(
        config: &crate::tts::VoiceConfig,
        echo: EchoConfig,
        gate: impl Fn(GateAction) + Send + 'static,
    ) -> Result<Self, String> {
        let (command_tx, command_rx) = bounded::<SystemCommand>(16);
        let (event_tx, event_rx) = bounded(32);
        let (ready_tx, ready_rx) = bounded::<Result<(), String>>(1);
        let config = config.clone();
        // `tts::Tts` is not `Send`: it lives on this thread.
        let thread = std::thread::Builder::new()
            .name("system-voice".into())
            .spawn(move || system_voice_thread(&config, echo, &gate, &command_rx, &event_tx, &ready_tx))
            .map_err(|e| e.to_string())?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Self {
                commands: command_tx,
                events: event_rx,
                next_id: AtomicU64::new(1),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("speech-dispatcher did not answer within 10 s".into()),
        }
    }
}

impl Speaks for SystemVoice {
    fn say(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.commands.try_send(SystemCommand::Say { id, text: text.to_owned(), lang, elderly });
        id
    }
    // speech-dispatcher keeps nothing it has said.
    fn say_private(&self, text: &str, lang: Lang, elderly: bool) -> u64 {
        self.say(text, lang, elderly)
    }
    fn stop(&self) {
        let _ = self.commands.try_send(SystemCommand::Stop);
    }
    fn events(&self) -> &Receiver<VoiceEvent> {
        &self.events
    }
}

impl Drop for SystemVoice {
    fn drop(&mut self) {
        let (dead, _) = bounded(0);
        self.commands = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn system_voice_thread(
    config: &crate::tts::VoiceConfig,
    echo: EchoConfig,
    gate: &dyn Fn(GateAction),
    commands: &Receiver<SystemCommand>,
    events: &Sender<VoiceEvent>,
    ready: &Sender<Result<(), String>>,
) {
    let mut tts = match tts::Tts::default() {
        Ok(t) => t,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "speech-dispatcher unavailable ({e}); install it with `apt-get install speech-dispatcher \
                 speech-dispatcher-espeak-ng`, or use the kiosk's own voice"
            )));
            return;
        }
    };
    // Voices by language, found once.
    let voices = tts.voices().unwrap_or_default();
    let voice_for = |lang: Lang| {
        let wanted = match lang {
            Lang::Zh => ["cmn", "zh"],
            Lang::En => ["en-US", "en"],
        };
        wanted.iter().find_map(|w| voices.iter().find(|v| v.language().as_str() == *w).cloned())
    };
    let zh_voice = voice_for(Lang::Zh);
    let en_voice = voice_for(Lang::En);
    let volume = tts.min_volume() + (tts.max_volume() - tts.min_volume()) * config.volume.clamp(0.0, 1.0);
    let _ = tts.set_volume(volume);
    let _ = ready.send(Ok(()));
    // Maps a 1.0-normal speed onto the backend's rate scale.
    let rate_for = |tts: &tts::Tts, speed: f32| {
        let (min, normal, max) = (tts.min_rate(), tts.normal_rate(), tts.max_rate());
        if speed >= 1.0 {
            normal + (max - normal) * (speed - 1.0).min(1.0)
        } else {
            normal - (normal - min) * (1.0 - speed)
        }
    };
    // (request id, requested at, has started)
    let mut speaking: Option<(u64, Instant, bool)> = None;
    loop {
        match commands.recv_timeout(Duration::from_millis(20)) {
            Ok(SystemCommand::Say { id, text, lang, elderly }) => {
                if let Some(v) = match lang {
                    Lang::Zh => &zh_voice,
                    Lang::En => &en_voice,
                } {
                    let _ = tts.set_voice(v);
                }
                let speed = if elderly { config.elderly_speed } else { config.speed };
                let _ = tts.set_rate(rate_for(&tts, speed));
                // A request superseded by this one is finished (interrupted).
                if let Some((old, _, _)) = speaking.take() {
                    let _ = events.try_send(VoiceEvent::Finished { id: old });
                }
                gate(GateAction::Close);
                match tts.speak(text, true) {
                    Ok(_) => speaking = Some((id, Instant::now(), false)),
                    Err(e) => {
                        gate(GateAction::Open);
                        let _ =
                            events.try_send(VoiceEvent::Failed { id, error: format!("system voice: {e}") });
                    }
                }
            }
            Ok(SystemCommand::Stop) => {
                let _ = tts.stop();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = tts.stop();
                if speaking.is_some() {
                    gate(GateAction::Open);
                }
                return;
            }
        }
        if let Some((id, asked, started)) = speaking {
            let now_speaking = tts.is_speaking().unwrap_or(false);
            if now_speaking && !started {
                let first_audio_ms = asked.elapsed().as_millis() as u64;
                let _ = events.try_send(VoiceEvent::Started { id, first_audio_ms });
                speaking = Some((id, asked, true));
            } else if !now_speaking && (started || asked.elapsed() > Duration::from_secs(5)) {
                // Finished (or never started: an empty text, or a stop before it began).
                std::thread::sleep(echo.tail);
                gate(GateAction::Open);
                let _ = events.try_send(VoiceEvent::Finished { id });
                speaking = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::tts::{Synthesizer, VoiceConfig};

    /// Plays in "real time" at 100x speed and records what it was given.
    #[derive(Default)]
    struct RecordingSink {
        played: Mutex<Vec<usize>>,
        busy_until: Mutex<Option<Instant>>,
    }

    impl AudioSink for RecordingSink {
        fn play(&self, pcm: &Pcm) -> Result<(), String> {
            self.played.lock().expect("sink lock").push(pcm.samples.len());
            let ms = pcm.samples.len() as u64 * 1000 / u64::from(pcm.rate_hz) / 100;
            let mut busy = self.busy_until.lock().expect("sink lock");
            let start = busy.map_or_else(Instant::now, |b| b.max(Instant::now()));
            *busy = Some(start + Duration::from_millis(ms));
            Ok(())
        }
        fn is_playing(&self) -> bool {
            self.busy_until.lock().expect("sink lock").is_some_and(|b| Instant::now() < b)
        }
        fn stop(&self) {
            *self.busy_until.lock().expect("sink lock") = None;
        }
    }

    /// A voice on the espeak-ng backend (installed by the setup script) and a recording sink.
    fn espeak_voice() -> (Voice, Arc<RecordingSink>, Receiver<GateAction>) {
        let synth = Synthesizer::new(None, VoiceConfig::default());
        let tts = TtsWorker::spawn(Arc::new(synth)).expect("tts starts");
        let sink = Arc::new(RecordingSink::default());
        let (gate_tx, gate_rx) = bounded(64);
        let echo = EchoConfig { tail: Duration::from_millis(50) };
        let voice = Voice::spawn(tts, sink.clone(), echo, move |a| {
            let _ = gate_tx.try_send(a);
        })
        .expect("voice starts");
        (voice, sink, gate_rx)
    }

    #[test]
    fn microphone_is_gated_from_first_audio_until_after_the_tail() {
        let (voice, sink, gate) = espeak_voice();
        let id = voice.say("Where does it hurt? Please answer slowly.", Lang::En, false);
        let started = voice.events().recv_timeout(Duration::from_secs(20)).expect("voice event");
        assert!(matches!(started, VoiceEvent::Started { id: i, .. } if i == id), "{started:?}");
        assert_eq!(gate.recv_timeout(Duration::from_secs(1)).expect("gate action"), GateAction::Close);
        let finished = voice.events().recv_timeout(Duration::from_secs(20)).expect("voice event");
        assert_eq!(finished, VoiceEvent::Finished { id });
        assert_eq!(gate.recv_timeout(Duration::from_secs(1)).expect("gate action"), GateAction::Open);
        assert!(!sink.is_playing(), "the gate opened while audio was still playing");
        assert!(sink.played.lock().expect("sink lock").len() >= 2, "both sentences played");
    }

    #[test]
    fn a_new_request_interrupts_the_old_one() {
        let (voice, _sink, gate) = espeak_voice();
        let first =
            voice.say("This is a long question. It has several sentences. It goes on.", Lang::En, false);
        let second = voice.say("请问哪里不舒服？", Lang::Zh, false);
        let mut finished = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !finished.contains(&second) && Instant::now() < deadline {
            if let Ok(VoiceEvent::Finished { id }) = voice.events().recv_timeout(Duration::from_secs(1)) {
                finished.push(id);
            }
        }
        assert!(finished.contains(&second), "{finished:?}");
        assert!(second > first);
        // Every close is followed by an open: the microphone never stays gated.
        let actions: Vec<GateAction> = gate.try_iter().collect();
        assert_eq!(actions.last(), Some(&GateAction::Open), "{actions:?}");
    }

    /// A synthesiser whose second sentence fails (a broken model mid-utterance).
    struct FailsOnSecond;

    impl crate::tts::Synthesize for FailsOnSecond {
        fn sentence(&self, text: &str, _: Lang, _: bool) -> Result<Pcm, crate::tts::TtsError> {
            if text.starts_with("Second") {
                Err(crate::tts::TtsError::Synthesis("model crashed".into()))
            } else {
                Ok(Pcm { samples: vec![0.1; 1_600], rate_hz: 16_000 })
            }
        }
    }

    #[test]
    fn a_synthesis_failure_is_reported_and_the_microphone_reopens() {
        let tts = TtsWorker::spawn(Arc::new(FailsOnSecond)).expect("tts starts");
        let (gate_tx, gate) = bounded(64);
        let echo = EchoConfig { tail: Duration::from_millis(10) };
        let voice = Voice::spawn(tts, Arc::new(RecordingSink::default()), echo, move |a| {
            let _ = gate_tx.try_send(a);
        })
        .expect("voice starts");
        let id = voice.say("First sentence. Second sentence.", Lang::En, false);
        let mut events = Vec::new();
        while !events.iter().any(|e| matches!(e, VoiceEvent::Failed { .. })) {
            events.push(voice.events().recv_timeout(Duration::from_secs(5)).expect("voice event"));
        }
        assert!(
            events
                .contains(&VoiceEvent::Failed { id, error: "speech synthesis failed: model crashed".into() }),
            "{events:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        let actions: Vec<GateAction> = gate.try_iter().collect();
        assert_eq!(actions.first(), Some(&GateAction::Close), "{actions:?}");
        assert_eq!(actions.last(), Some(&GateAction::Open), "{actions:?}");
    }
}
