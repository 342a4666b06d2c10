//! Frame-level voice activity detection with earshot (a small network compiled into the crate):
//! 16 ms frames of 256 samples at 16 kHz, a speech probability per frame.

/// Samples per VAD frame at 16 kHz (16 ms).
pub const FRAME_SAMPLES: usize = 256;
/// Duration of one frame in milliseconds.
pub const FRAME_MS: u32 = 16;

/// Speech probability per frame.
pub struct Vad {
    detector: Box<earshot::Detector>,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vad")
    }
}

impl Default for Vad {
    fn default() -> Self {
        Self { detector: earshot::Detector::default_boxed() }
    }
}

impl Vad {
    /// Probability (0-1) that `frame` (exactly [`FRAME_SAMPLES`] samples) holds speech.
    pub fn score(&mut self, frame: &[f32]) -> f32 {
        debug_assert_eq!(frame.len(), FRAME_SAMPLES);
        // earshot expects samples in [-1, 1]; clipping input must not poison its state.
        let mut clean = [0f32; FRAME_SAMPLES];
        for (c, s) in clean.iter_mut().zip(frame) {
            *c = if s.is_finite() { s.clamp(-1.0, 1.0) } else { 0.0 };
        }
        self.detector.predict_f32(&clean)
    }

    /// Forgets the running state (new session).
    pub fn reset(&mut self) {
        self.detector.reset();
    }
}
