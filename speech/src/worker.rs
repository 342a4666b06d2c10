//! The speech worker: audio source -> voice activity -> endpointing -> recognition, on two threads
//! joined by bounded channels.
//!
//! ```text
//! source ─► [front thread: VAD, endpointing, commands] ─final (cap 4)──► [recognition thread]
//!                                │                    └─partial (cap 1, dropped when busy)─┘
//!                                └──────────────── SpeechEvent (cap 64) ◄──────────────────┘
//! ```
//! The front thread never waits for recognition, so audio keeps flowing while a decode runs. A
//! final decode supersedes a partial one in flight (it is cancelled through whisper's abort hook).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select};
use protocol::{Lang, PatientText};

use crate::asr::{AsrError, DecodeOptions, Recognizer, Transcript};
use crate::endpoint::{EndpointConfig, EndpointEvent, Endpointer, Expectation};
use crate::source::{AudioSource, SourceError};
use crate::vad::{FRAME_MS, FRAME_SAMPLES, Vad};

/// Capacity of the event channel (consumers drain it continuously; level events are dropped when
/// it is full, nothing else is).
const EVENT_CAPACITY: usize = 64;
/// Frames of audio before the interrupting speech kept on barge-in.
const PREROLL_FRAMES: usize = 10;
/// Input-level events per second (for the "listening" indicator).
const LEVEL_EVENTS_PER_S: u64 = 10;
/// Silence after which the utterance so far is decoded speculatively: if the patient does not go
/// on, the transcript is ready the moment the end-of-turn delay expires.
const SPECULATE_AFTER_SILENCE_MS: u64 = 250;

/// Settings of the speech worker.
#[derive(Clone, Debug)]
pub struct SpeechConfig {
    /// Endpointing.
    pub endpoint: EndpointConfig,
    /// Speech time between partial transcripts.
    pub partial_interval_ms: u32,
    /// Session language.
    pub lang: Lang,
    /// Barge-in: while muted (the kiosk is speaking), this much sustained speech interrupts the
    /// kiosk and starts the patient's turn. `None` (the default) keeps the microphone fully
    /// gated, which is right for open speakers without echo cancellation: the kiosk's own voice
    /// would otherwise interrupt itself.
    pub barge_in_ms: Option<u32>,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            partial_interval_ms: 1_000,
            lang: Lang::Zh,
            barge_in_ms: None,
        }
    }
}

/// Commands to the worker.
#[derive(Clone, Debug)]
pub enum SpeechCommand {
    /// Recognise in this language from now on.
    SetLang(Lang),
    /// What the next answer is expected to be.
    Expect(Expectation),
    /// Elderly mode on or off.
    Elderly(bool),
    /// Ignore the microphone (the kiosk is speaking), or listen again.
    Mute(bool),
    /// Drop anything in progress (new session).
    Reset,
}

/// Timing of one turn, in milliseconds of wall time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TurnTiming {
    /// Length of the utterance.
    pub speech_ms: u64,
    /// End-of-turn delay used (silence after the last speech).
    pub end_delay_ms: u64,
    /// From the end of the turn to the final transcript (the recognition latency).
    pub final_latency_ms: u64,
}

/// What the worker reports.
#[derive(Clone, Debug)]
pub enum SpeechEvent {
    /// Input level (RMS, 0-1) while listening, ~10 per second.
    Level(f32),
    /// The patient started speaking.
    SpeechStarted,
    /// What was understood so far.
    Partial(PatientText),
    /// The turn is over: the final transcript.
    Final(Transcript, TurnTiming),
    /// Sound that was not speech (or that recognition found empty) was ignored.
    Ignored,
    /// The source ended (file sources).
    SourceEnded,
    /// The patient talked over the kiosk (barge-in is enabled): stop speaking; the turn has begun.
    BargeIn,
    /// Something failed; the session continues without voice until it recovers.
    Failed(String),
    /// The audio device changed state (missing, retrying, working again); for the staff status
    /// screen. Listening continues.
    Device(String),
}

/// Identifies an utterance and the point where its speech (so far) ended.
type EndKey = (u64, u64);

enum Job {
    Partial { audio: Vec<f32>, lang: Lang, cancel: Arc<AtomicBool>, expect_short: bool },
    Speculative { key: EndKey, audio: Vec<f32>, lang: Lang, cancel: Arc<AtomicBool> },
    Final { key: EndKey, audio: Vec<f32>, lang: Lang, ended: Instant, speech_ms: u64, end_delay_ms: u64 },
}

/// Handle to the running worker. Dropping it stops the threads.
#[derive(Debug)]
pub struct SpeechWorker {
    commands: Sender<SpeechCommand>,
    events: Receiver<SpeechEvent>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl SpeechWorker {
    /// Starts the worker on `source`.
    pub fn spawn(
        source: Box<dyn AudioSource>,
        recognizer: Arc<Recognizer>,
        config: SpeechConfig,
    ) -> std::io::Result<Self> {
        let (command_tx, command_rx) = bounded::<SpeechCommand>(16);
        let (event_tx, event_rx) = bounded::<SpeechEvent>(EVENT_CAPACITY);
        let (final_tx, final_rx) = bounded::<Job>(4);
        let (partial_tx, partial_rx) = bounded::<Job>(1);
        let (spec_tx, spec_rx) = bounded::<Job>(1);
        let (hint_tx, hint_rx) = bounded::<bool>(4);
        let stop = Arc::new(AtomicBool::new(false));

        let asr_events = event_tx.clone();
        let asr_thread = std::thread::Builder::new().name("speech-asr".into()).spawn(move || {
            recognition_loop(&recognizer, &final_rx, &spec_rx, &partial_rx, &asr_events, &hint_tx);
        })?;
        let front_stop = Arc::clone(&stop);
        let front_thread = std::thread::Builder::new().name("speech-front".into()).spawn(move || {
            let mut front = Front {
                source,
                vad: Vad::default(),
                endpointer: Endpointer::new(config.endpoint.clone()),
                lang: config.lang,
                muted: false,
                barge_in_frames: config.barge_in_ms.map(|ms| ms.div_ceil(FRAME_MS).max(1) as usize),
                muted_frames: std::collections::VecDeque::new(),
                muted_voiced: 0,
                partial_interval_samples: u64::from(config.partial_interval_ms) * 16,
                last_partial_at: 0,
                events: event_tx,
                final_tx,
                partial_tx,
                partial_cancel: None,
                spec_tx,
                spec: None,
                utterance: 0,
                expect_short: false,
            };
            front.run(&command_rx, &hint_rx, &front_stop);
        })?;
        Ok(Self { commands: command_tx, events: event_rx, stop, threads: vec![front_thread, asr_thread] })
    }

    /// Sends a command (never blocks: a full queue drops the command and says so).
    pub fn send(&self, command: SpeechCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// The event stream.
    pub fn events(&self) -> &Receiver<SpeechEvent> {
        &self.events
    }
}

impl Drop for SpeechWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

struct Front {
    source: Box<dyn AudioSource>,
    vad: Vad,
    endpointer: Endpointer,
    lang: Lang,
    muted: bool,
    /// Barge-in: voiced frames in a row (while muted) that interrupt the kiosk.
    barge_in_frames: Option<usize>,
    /// Barge-in: recent frames heard while muted (the interrupting speech's start) and how many
    /// of the latest were voiced in a row.
    muted_frames: std::collections::VecDeque<Vec<f32>>,
    muted_voiced: usize,
    partial_interval_samples: u64,
    last_partial_at: u64,
    events: Sender<SpeechEvent>,
    final_tx: Sender<Job>,
    partial_tx: Sender<Job>,
    /// Cancel flag of the latest partial decode (each decode has its own, so cancelling one can
    /// never be undone by the next).
    partial_cancel: Option<Arc<AtomicBool>>,
    spec_tx: Sender<Job>,
    /// The speculative decode in flight: its end point and cancel flag.
    spec: Option<(EndKey, Arc<AtomicBool>)>,
    /// Utterance counter.
    utterance: u64,
    expect_short: bool,
}

impl Front {
    fn run(&mut self, commands: &Receiver<SpeechCommand>, hints: &Receiver<bool>, stop: &AtomicBool) {
        let mut pending: Vec<f32> = Vec::new();
        let mut level_sum = 0f32;
        let mut level_n = 0usize;
        let level_every = 16_000 / LEVEL_EVENTS_PER_S as usize;
        while !stop.load(Ordering::Relaxed) {
            while let Ok(command) = commands.try_recv() {
                self.command(command);
            }
            while let Ok(complete) = hints.try_recv() {
                self.endpointer.set_complete_hint(complete);
            }
            let chunk = match self.source.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    if let Some(EndpointEvent::Ended(u)) = self.endpointer.end_of_stream() {
                        self.submit_final(u.samples, u.ended_sample - u.start_sample, 0);
                    }
                    let _ = self.events.send(SpeechEvent::SourceEnded);
                    return;
                }
                Err(SourceError::Device(e)) => {
                    let _ = self.events.send(SpeechEvent::Failed(format!("audio input failed: {e}")));
                    return;
                }
                Err(e) => {
                    let _ = self.events.send(SpeechEvent::Failed(e.to_string()));
                    return;
                }
            };
            for status in self.source.status() {
                let _ = self.events.send(SpeechEvent::Device(status));
            }
            if self.muted {
                self.listen_for_barge_in(&chunk, &mut pending);
                continue;
            }
            for s in &chunk {
                level_sum += s * s;
                level_n += 1;
                if level_n >= level_every {
                    let rms = (level_sum / level_n as f32).sqrt().min(1.0);
                    let _ = self.events.try_send(SpeechEvent::Level(rms));
                    level_sum = 0.0;
                    level_n = 0;
                }
            }
            pending.extend_from_slice(&chunk);
            while pending.len() >= FRAME_SAMPLES {
                let frame: Vec<f32> = pending.drain(..FRAME_SAMPLES).collect();
                self.process_frame(&frame);
            }
        }
    }

    fn process_frame(&mut self, frame: &[f32]) {
        let score = self.vad.score(frame);
        match self.endpointer.push_frame(frame, score) {
            Some(EndpointEvent::Started { .. }) => {
                self.utterance += 1;
                self.last_partial_at = self.endpointer.samples_seen();
                let _ = self.events.send(SpeechEvent::SpeechStarted);
            }
            Some(EndpointEvent::Ended(u)) => {
                let speech_samples = u.end_of_speech_sample - u.start_sample;
                let end_delay_ms = u.end_delay_ms();
                let key = (self.utterance, u.end_of_speech_sample);
                self.submit_final_keyed(key, u.samples, speech_samples, end_delay_ms);
            }
            Some(EndpointEvent::Discarded) => {
                let _ = self.events.send(SpeechEvent::Ignored);
            }
            None => {
                self.maybe_speculate();
                self.maybe_partial();
            }
        }
    }

    /// While the kiosk speaks: with barge-in enabled, sustained speech unmutes and becomes the
    /// start of the patient's turn (the frames heard so far are replayed into the endpointer, so
    /// the first syllable is kept). Without it, the audio is dropped.
    fn listen_for_barge_in(&mut self, chunk: &[f32], pending: &mut Vec<f32>) {
        let Some(needed) = self.barge_in_frames else {
            return;
        };
        pending.extend_from_slice(chunk);
        while pending.len() >= FRAME_SAMPLES {
            let frame: Vec<f32> = pending.drain(..FRAME_SAMPLES).collect();
            let voiced = self.vad.score(&frame) >= self.endpointer.config().threshold;
            self.muted_voiced = if voiced { self.muted_voiced + 1 } else { 0 };
            self.muted_frames.push_back(frame);
            // Keep the interrupting speech plus a little pre-roll.
            while self.muted_frames.len() > needed + PREROLL_FRAMES {
                self.muted_frames.pop_front();
            }
            if self.muted_voiced >= needed {
                let _ = self.events.send(SpeechEvent::BargeIn);
                self.muted = false;
                self.muted_voiced = 0;
                self.vad.reset();
                let frames: Vec<Vec<f32>> = self.muted_frames.drain(..).collect();
                for frame in frames {
                    self.process_frame(&frame);
                }
                return;
            }
        }
    }

    fn command(&mut self, command: SpeechCommand) {
        match command {
            SpeechCommand::SetLang(lang) => self.lang = lang,
            SpeechCommand::Expect(e) => {
                self.expect_short = e == Expectation::Short;
                self.endpointer.set_expectation(e);
            }
            SpeechCommand::Elderly(on) => self.endpointer.set_elderly(on),
            SpeechCommand::Mute(on) => {
                self.muted = on;
                self.muted_frames.clear();
                self.muted_voiced = 0;
                if on {
                    // Whatever was being heard is the kiosk's own voice or is superseded.
                    self.endpointer.reset();
                    self.vad.reset();
                }
            }
            SpeechCommand::Reset => {
                self.endpointer.reset();
                self.vad.reset();
            }
        }
    }

    /// Starts (or, when the patient went on, cancels) a speculative decode of the utterance so far.
    fn maybe_speculate(&mut self) {
        let Some((end, audio)) = self.endpointer.pending_end() else { return };
        let key = (self.utterance, end);
        let silent = self.endpointer.silence_ms() >= SPECULATE_AFTER_SILENCE_MS;
        match &self.spec {
            Some((k, cancel)) if *k != key => {
                // Speech resumed after the speculation: it is stale.
                cancel.store(true, Ordering::Relaxed);
                self.spec = None;
            }
            Some(_) => return,
            None => {}
        }
        if !silent || self.spec.is_some() {
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(previous) = self.partial_cancel.take() {
            previous.store(true, Ordering::Relaxed);
        }
        let job =
            Job::Speculative { key, audio: audio.to_vec(), lang: self.lang, cancel: Arc::clone(&cancel) };
        if self.spec_tx.try_send(job).is_ok() {
            self.spec = Some((key, cancel));
        }
    }

    fn maybe_partial(&mut self) {
        if !self.endpointer.is_speaking() || self.endpointer.silence_ms() > 0 {
            return;
        }
        let now = self.endpointer.samples_seen();
        if now - self.last_partial_at < self.partial_interval_samples {
            return;
        }
        self.last_partial_at = now;
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(previous) = self.partial_cancel.replace(Arc::clone(&cancel)) {
            previous.store(true, Ordering::Relaxed);
        }
        let job = Job::Partial {
            audio: self.endpointer.current_audio().to_vec(),
            lang: self.lang,
            cancel,
            expect_short: self.expect_short,
        };
        // Recognition busy: skip this partial, the next one will carry more audio anyway.
        if let Err(TrySendError::Disconnected(_)) = self.partial_tx.try_send(job) {
            let _ = self.events.send(SpeechEvent::Failed("speech recognition stopped".into()));
        }
    }

    fn submit_final(&mut self, audio: Vec<f32>, speech_samples: u64, end_delay_ms: u64) {
        self.submit_final_keyed((self.utterance, u64::MAX), audio, speech_samples, end_delay_ms);
    }

    fn submit_final_keyed(&mut self, key: EndKey, audio: Vec<f32>, speech_samples: u64, end_delay_ms: u64) {
        if let Some(cancel) = self.partial_cancel.take() {
            cancel.store(true, Ordering::Relaxed);
        }
        if let Some((k, cancel)) = self.spec.take()
            && k != key
        {
            cancel.store(true, Ordering::Relaxed);
        }
        let job = Job::Final {
            key,
            audio,
            lang: self.lang,
            ended: Instant::now(),
            speech_ms: speech_samples / 16,
            end_delay_ms,
        };
        if self.final_tx.send(job).is_err() {
            let _ = self.events.send(SpeechEvent::Failed("speech recognition stopped".into()));
        }
    }
}

fn recognition_loop(
    recognizer: &Recognizer,
    finals: &Receiver<Job>,
    speculative: &Receiver<Job>,
    partials: &Receiver<Job>,
    events: &Sender<SpeechEvent>,
    hints: &Sender<bool>,
) {
    // The latest speculative result: the final of the same utterance and end point reuses it.
    let mut cached: Option<(EndKey, Result<Transcript, AsrError>)> = None;
    loop {
        // Finals first, then speculation, then partials.
        let job = match finals.try_recv().or_else(|_| speculative.try_recv()) {
            Ok(job) => job,
            Err(_) => select! {
                recv(finals) -> job => match job { Ok(j) => j, Err(_) => return },
                recv(speculative) -> job => match job { Ok(j) => j, Err(_) => return },
                recv(partials) -> job => match job { Ok(j) => j, Err(_) => return },
            },
        };
        match job {
            Job::Final { key, audio, lang, ended, speech_ms, end_delay_ms } => {
                let result = match cached.take() {
                    Some((k, result)) if k == key => result,
                    _ => recognizer.transcribe(&audio, lang),
                };
                match result {
                    Ok(t) if t.text.is_empty() => {
                        let _ = events.send(SpeechEvent::Ignored);
                    }
                    Ok(t) => {
                        let timing = TurnTiming {
                            speech_ms,
                            end_delay_ms,
                            final_latency_ms: ended.elapsed().as_millis() as u64,
                        };
                        if events.send(SpeechEvent::Final(t, timing)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = events.send(SpeechEvent::Failed(e.to_string()));
                    }
                }
            }
            Job::Speculative { key, audio, lang, cancel } => {
                if cancel.load(Ordering::Relaxed) {
                    continue;
                }
                let options = DecodeOptions { cancel: Some(cancel), ..DecodeOptions::default() };
                match recognizer.transcribe_with(&audio, lang, &options) {
                    Err(AsrError::Cancelled) => {}
                    result => {
                        // The speculative transcript is also the best partial to show.
                        if let Ok(t) = &result
                            && !t.text.is_empty()
                        {
                            let _ = events.try_send(SpeechEvent::Partial(t.text.clone()));
                        }
                        cached = Some((key, result));
                    }
                }
            }
            Job::Partial { audio, lang, cancel, expect_short } => {
                if cancel.load(Ordering::Relaxed) {
                    continue;
                }
                let options = DecodeOptions { cancel: Some(cancel), ..DecodeOptions::default() };
                match recognizer.transcribe_with(&audio, lang, &options) {
                    Ok(t) if !t.text.is_empty() => {
                        let _ = hints.try_send(expect_short && looks_complete(t.text.expose()));
                        let _ = events.try_send(SpeechEvent::Partial(t.text));
                    }
                    Ok(_) | Err(AsrError::Cancelled) => {}
                    Err(e) => {
                        let _ = events.send(SpeechEvent::Failed(e.to_string()));
                    }
                }
            }
        }
    }
}

/// Whether a partial transcript reads as a complete short answer: a yes/no word, a number or a
/// duration, a few characters or words.
pub fn looks_complete(text: &str) -> bool {
    let t = text.trim().trim_end_matches(['。', '.', '!', '！', '?', '？', ',', '，']);
    if t.is_empty() {
        return false;
    }
    let han = t.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    let words = t.split_whitespace().count();
    (han > 0 && han <= 6) || (han == 0 && words <= 3)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_answers_look_complete() {
        for t in ["是的", "没有。", "三天", "Yes.", "no", "about two days", "7"] {
            assert!(super::looks_complete(t), "{t}");
        }
        for t in
            ["", "我胸口疼了两个小时，还出了很多汗", "it started yesterday when I was walking up the stairs"]
        {
            assert!(!super::looks_complete(t), "{t}");
        }
    }
}
