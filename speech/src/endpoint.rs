//! Endpointing: turning frame-level voice activity into utterances, in sample time (no clock), so
//! every decision is testable.
//!
//! - **Pre-roll**: the audio before speech onset is kept, so the first syllable is never lost.
//! - **Onset**: a few voiced frames in a row start an utterance (a click does not).
//! - **Adaptive end of turn**: the silence that ends a turn depends on what is expected. A yes/no or
//!   a number ends quickly; a story waits longer; elderly mode waits long enough that pauses of 1.5 s
//!   inside an answer do not end it. When a partial transcript already reads as a complete short
//!   answer, the short delay applies.
//! - **Maximum length**: a turn is cut at `max_utterance_ms`.

use std::collections::VecDeque;

use crate::vad::{FRAME_MS, FRAME_SAMPLES};

/// Samples per millisecond at 16 kHz.
const SAMPLES_PER_MS: u64 = 16;
/// Audio kept after the last voiced frame (word endings are quiet).
const TAIL_MS: u64 = 240;

/// What kind of answer the interview expects next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expectation {
    /// Yes/no, a number, an age: short answers.
    Short,
    /// Free text: a story, a description.
    #[default]
    Story,
}

/// Endpointing settings (config keys under `[speech.endpoint]`).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointConfig {
    /// VAD probability above which a frame counts as speech.
    pub threshold: f32,
    /// Voiced time in a row that starts an utterance.
    pub onset_ms: u32,
    /// Audio kept from before the onset.
    pub pre_roll_ms: u32,
    /// Voiced time below which an utterance is dropped as noise.
    pub min_speech_ms: u32,
    /// Longest utterance.
    pub max_utterance_ms: u32,
    /// Silence that ends a short answer.
    pub end_short_ms: u32,
    /// Silence that ends a story.
    pub end_story_ms: u32,
    /// Silence that ends a short answer in elderly mode.
    pub elderly_end_short_ms: u32,
    /// Silence that ends a story in elderly mode (above 1.5 s so pauses do not split answers).
    pub elderly_end_story_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            onset_ms: 64,
            pre_roll_ms: 320,
            min_speech_ms: 128,
            max_utterance_ms: 30_000,
            end_short_ms: 480,
            end_story_ms: 900,
            elderly_end_short_ms: 1_100,
            elderly_end_story_ms: 2_000,
        }
    }
}

/// A finished utterance.
#[derive(Clone, Debug, PartialEq)]
pub struct Utterance {
    /// 16 kHz mono samples, pre-roll included.
    pub samples: Vec<f32>,
    /// Sample index (since the stream began) where the kept audio starts.
    pub start_sample: u64,
    /// Sample index where speech last ended (end of speech).
    pub end_of_speech_sample: u64,
    /// Sample index where the turn was declared over (end of speech + end-of-turn delay).
    pub ended_sample: u64,
    /// Why it ended.
    pub reason: EndReason,
}

impl Utterance {
    /// Length in seconds.
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / 16_000.0
    }

    /// Milliseconds from end of speech to the end of the turn (the end-of-turn delay used).
    pub fn end_delay_ms(&self) -> u64 {
        (self.ended_sample - self.end_of_speech_sample) / SAMPLES_PER_MS
    }
}

/// Why an utterance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Silence after speech.
    Silence,
    /// The maximum length was reached.
    MaxLength,
    /// The stream ended.
    EndOfStream,
}

/// What one frame changed.
#[derive(Clone, Debug, PartialEq)]
pub enum EndpointEvent {
    /// Speech began (sample index of the onset).
    Started {
        /// Onset sample.
        at_sample: u64,
    },
    /// A turn is complete.
    Ended(Utterance),
    /// Something voiced but too short to be speech was dropped.
    Discarded,
}

#[derive(Debug)]
enum State {
    Idle { voiced_run: u32 },
    Speaking { start_sample: u64, last_voiced_end: u64, voiced_frames: u32 },
}

/// The endpointing state machine.
#[derive(Debug)]
pub struct Endpointer {
    config: EndpointConfig,
    elderly: bool,
    expectation: Expectation,
    complete_hint: bool,
    state: State,
    pre_roll: VecDeque<f32>,
    buffer: Vec<f32>,
    samples_seen: u64,
}

impl Endpointer {
    /// Its settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// A new endpointer.
    pub fn new(config: EndpointConfig) -> Self {
        Self {
            config,
            elderly: false,
            expectation: Expectation::Story,
            complete_hint: false,
            state: State::Idle { voiced_run: 0 },
            pre_roll: VecDeque::new(),
            buffer: Vec::new(),
            samples_seen: 0,
        }
    }

    /// Elderly mode: longer end-of-turn delays.
    pub fn set_elderly(&mut self, elderly: bool) {
        self.elderly = elderly;
    }

    /// What the next answer is expected to be.
    pub fn set_expectation(&mut self, expectation: Expectation) {
        self.expectation = expectation;
    }

    /// A partial transcript reads as a complete short answer ("yes", "三天", a number): the turn may
    /// end after the short delay.
    pub fn set_complete_hint(&mut self, complete: bool) {
        self.complete_hint = complete;
    }

    /// Whether an utterance is in progress.
    pub fn is_speaking(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// The audio of the utterance in progress (for partial transcripts).
    pub fn current_audio(&self) -> &[f32] {
        &self.buffer
    }

    /// Samples processed since the stream began.
    pub fn samples_seen(&self) -> u64 {
        self.samples_seen
    }

    /// While speaking: the sample where voice last ended, and the audio the utterance would hold if
    /// the turn ended there (what a speculative decode should see).
    pub fn pending_end(&self) -> Option<(u64, &[f32])> {
        match self.state {
            State::Speaking { start_sample, last_voiced_end, voiced_frames }
                if voiced_frames * FRAME_MS >= self.config.min_speech_ms =>
            {
                let keep = ((last_voiced_end - start_sample) + TAIL_MS * SAMPLES_PER_MS) as usize;
                (self.buffer.len() >= keep).then(|| (last_voiced_end, &self.buffer[..keep]))
            }
            _ => None,
        }
    }

    /// Milliseconds of silence since voice last ended (0 when idle or voiced).
    pub fn silence_ms(&self) -> u64 {
        match self.state {
            State::Speaking { last_voiced_end, .. } => (self.samples_seen - last_voiced_end) / SAMPLES_PER_MS,
            State::Idle { .. } => 0,
        }
    }

    /// The silence that ends the current turn.
    pub fn end_delay_ms(&self) -> u32 {
        let short = self.expectation == Expectation::Short || self.complete_hint;
        match (self.elderly, short) {
            (false, true) => self.config.end_short_ms,
            (false, false) => self.config.end_story_ms,
            (true, true) => self.config.elderly_end_short_ms,
            (true, false) => self.config.elderly_end_story_ms,
        }
    }

    /// Drops any utterance in progress (the kiosk started speaking, or the session reset).
    pub fn reset(&mut self) {
        self.state = State::Idle { voiced_run: 0 };
        self.buffer.clear();
        self.pre_roll.clear();
        self.complete_hint = false;
    }

    /// Feeds one frame ([`FRAME_SAMPLES`] samples) with its VAD score.
    pub fn push_frame(&mut self, frame: &[f32], score: f32) -> Option<EndpointEvent> {
        let frame_start = self.samples_seen;
        self.samples_seen += frame.len() as u64;
        let voiced = score >= self.config.threshold;
        let onset_frames = self.config.onset_ms.div_ceil(FRAME_MS).max(1);
        match &mut self.state {
            State::Idle { voiced_run } => {
                self.pre_roll.extend(frame.iter().copied());
                // Pre-roll counts from the onset: the onset frames themselves plus `pre_roll_ms`.
                let keep = self.config.pre_roll_ms as usize * SAMPLES_PER_MS as usize
                    + FRAME_SAMPLES * onset_frames as usize;
                while self.pre_roll.len() > keep {
                    self.pre_roll.pop_front();
                }
                *voiced_run = if voiced { *voiced_run + 1 } else { 0 };
                if *voiced_run >= onset_frames {
                    let start_sample = self.samples_seen - self.pre_roll.len() as u64;
                    self.buffer = self.pre_roll.drain(..).collect();
                    self.state = State::Speaking {
                        start_sample,
                        last_voiced_end: self.samples_seen,
                        voiced_frames: onset_frames,
                    };
                    self.complete_hint = false;
                    let onset =
                        frame_start + frame.len() as u64 - u64::from(onset_frames) * FRAME_SAMPLES as u64;
                    return Some(EndpointEvent::Started { at_sample: onset });
                }
                None
            }
            State::Speaking { start_sample, last_voiced_end, voiced_frames } => {
                self.buffer.extend_from_slice(frame);
                if voiced {
                    *last_voiced_end = self.samples_seen;
                    *voiced_frames += 1;
                }
                let (start, end_of_speech, voiced_frames) = (*start_sample, *last_voiced_end, *voiced_frames);
                let silence_ms = (self.samples_seen - end_of_speech) / SAMPLES_PER_MS;
                let length_ms = (self.samples_seen - start) / SAMPLES_PER_MS;
                let reason = if length_ms >= u64::from(self.config.max_utterance_ms) {
                    Some(EndReason::MaxLength)
                } else if silence_ms >= u64::from(self.end_delay_ms()) {
                    Some(EndReason::Silence)
                } else {
                    None
                };
                reason.map(|r| self.finish(start, end_of_speech, voiced_frames, r))
            }
        }
    }

    /// Ends the stream: an utterance in progress is returned as it is.
    pub fn end_of_stream(&mut self) -> Option<EndpointEvent> {
        match self.state {
            State::Speaking { start_sample, last_voiced_end, voiced_frames } => {
                Some(self.finish(start_sample, last_voiced_end, voiced_frames, EndReason::EndOfStream))
            }
            State::Idle { .. } => None,
        }
    }

    fn finish(
        &mut self,
        start: u64,
        end_of_speech: u64,
        voiced_frames: u32,
        reason: EndReason,
    ) -> EndpointEvent {
        let samples = std::mem::take(&mut self.buffer);
        self.state = State::Idle { voiced_run: 0 };
        self.pre_roll.clear();
        self.complete_hint = false;
        if voiced_frames * FRAME_MS < self.config.min_speech_ms {
            return EndpointEvent::Discarded;
        }
        // Keep a little audio after the last voiced frame (word endings are quiet), not the
        // whole end-of-turn silence.
        let tail = (end_of_speech - start + TAIL_MS * SAMPLES_PER_MS) as usize;
        let mut samples = samples;
        samples.truncate(tail.min(samples.len()));
        EndpointEvent::Ended(Utterance {
            samples,
            start_sample: start,
            end_of_speech_sample: end_of_speech,
            ended_sample: self.samples_seen,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a schedule of (milliseconds, voiced) through the endpointer with synthetic scores.
    fn run(ep: &mut Endpointer, schedule: &[(u32, bool)]) -> Vec<EndpointEvent> {
        let mut events = Vec::new();
        let frame = [0.1f32; FRAME_SAMPLES];
        for &(ms, voiced) in schedule {
            for _ in 0..ms / FRAME_MS {
                if let Some(e) = ep.push_frame(&frame, if voiced { 0.9 } else { 0.05 }) {
                    events.push(e);
                }
            }
        }
        events
    }

    fn ended(events: &[EndpointEvent]) -> Vec<&Utterance> {
        events.iter().filter_map(|e| if let EndpointEvent::Ended(u) = e { Some(u) } else { None }).collect()
    }

    #[test]
    fn a_short_yes_ends_the_turn_quickly() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        ep.set_expectation(Expectation::Short);
        let events = run(&mut ep, &[(800, false), (320, true), (2_000, false)]);
        let u = ended(&events);
        assert_eq!(u.len(), 1);
        assert!(u[0].end_delay_ms() <= 500, "ended {} ms after speech", u[0].end_delay_ms());
    }

    #[test]
    fn pre_roll_keeps_the_first_syllable() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let events = run(&mut ep, &[(1_000, false), (480, true), (1_500, false)]);
        let u = ended(&events)[0];
        // Speech began at 1000 ms; the kept audio starts pre-roll earlier.
        assert!(u.start_sample <= 1_000 * 16 - 300 * 16, "start {}", u.start_sample);
        assert!(matches!(events[0], EndpointEvent::Started { .. }));
    }

    #[test]
    fn pauses_of_one_and_a_half_seconds_do_not_split_an_answer_in_elderly_mode() {
        let speech = [
            (400, false),
            (1_200, true),
            (1_500, false),
            (900, true),
            (1_500, false),
            (700, true),
            (3_000, false),
        ];
        let mut ep = Endpointer::new(EndpointConfig::default());
        ep.set_elderly(true);
        let events = run(&mut ep, &speech);
        let u = ended(&events);
        assert_eq!(u.len(), 1, "one answer despite two 1.5 s pauses");
        assert!(u[0].seconds() > 5.5, "whole answer kept: {} s", u[0].seconds());
        // The same pauses end the turn for a fast speaker telling a story.
        let mut ep = Endpointer::new(EndpointConfig::default());
        assert_eq!(ended(&run(&mut ep, &speech)).len(), 3);
    }

    #[test]
    fn a_complete_short_answer_hint_shortens_the_wait() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        run(&mut ep, &[(200, false), (400, true)]);
        assert_eq!(ep.end_delay_ms(), EndpointConfig::default().end_story_ms);
        ep.set_complete_hint(true);
        assert_eq!(ep.end_delay_ms(), EndpointConfig::default().end_short_ms);
    }

    #[test]
    fn clicks_are_ignored_and_long_speech_is_cut() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let events = run(&mut ep, &[(500, false), (32, true), (1_000, false)]);
        assert!(ended(&events).is_empty(), "a 32 ms click is not speech");
        let mut ep = Endpointer::new(EndpointConfig { max_utterance_ms: 5_000, ..EndpointConfig::default() });
        let events = run(&mut ep, &[(200, false), (12_000, true)]);
        let u = ended(&events);
        assert!(!u.is_empty() && u[0].reason == EndReason::MaxLength);
        assert!(u[0].seconds() <= 5.5);
    }
}
