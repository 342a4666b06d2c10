//! Audio sources that feed the speech pipeline with 16 kHz mono chunks: WAV files and in-memory
//! buffers (tests, `kiosk transcribe`, benchmarks) and, through the same trait, the microphone.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::resample;
use crate::wav::{WavError, read_wav};

/// Samples per chunk handed to the pipeline (20 ms at 16 kHz).
pub const CHUNK_SAMPLES: usize = 320;

/// Why a source stopped working.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file could not be used.
    #[error(transparent)]
    Wav(#[from] WavError),
    /// The input could not be resampled.
    #[error(transparent)]
    Resample(#[from] resample::ResampleError),
    /// The audio device failed or disappeared.
    #[error("audio input failed: {0}")]
    Device(String),
}

/// A stream of 16 kHz mono audio.
pub trait AudioSource: Send {
    /// The next chunk; `Ok(None)` at the end of the stream.
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, SourceError>;

    /// Device trouble or recovery since the last call, for people (nothing for files).
    fn status(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Whether a buffered source delivers audio at the speed it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// One second of audio per second of wall time, like a microphone.
    RealTime,
    /// As fast as the consumer takes it.
    Fast,
}

/// Audio from memory (already 16 kHz mono).
#[derive(Debug)]
pub struct MemorySource {
    samples: Vec<f32>,
    pos: usize,
    pacing: Pacing,
    started: Option<Instant>,
}

impl MemorySource {
    /// A source over `samples` (16 kHz mono).
    pub fn new(samples: Vec<f32>, pacing: Pacing) -> Self {
        Self { samples, pos: 0, pacing, started: None }
    }

    /// A source over a WAV file, resampled to 16 kHz mono.
    pub fn from_wav(path: &Path, pacing: Pacing) -> Result<Self, SourceError> {
        let audio = read_wav(path)?;
        let samples = resample::to_16k(&audio.samples, audio.sample_rate_hz)?;
        Ok(Self::new(samples, pacing))
    }

    /// Appends silence (so the endpointer sees the end of a turn).
    pub fn with_trailing_silence(mut self, ms: u32) -> Self {
        self.samples.extend(std::iter::repeat_n(0.0, ms as usize * 16));
        self
    }
}

impl AudioSource for MemorySource {
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        if self.pos >= self.samples.len() {
            return Ok(None);
        }
        if self.pacing == Pacing::RealTime {
            let started = *self.started.get_or_insert_with(Instant::now);
            let due = started + Duration::from_micros(self.pos as u64 * 1_000_000 / 16_000);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let end = (self.pos + CHUNK_SAMPLES).min(self.samples.len());
        let chunk = self.samples[self.pos..end].to_vec();
        self.pos = end;
        Ok(Some(chunk))
    }
}
