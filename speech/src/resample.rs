//! Resampling to the 16 kHz mono that voice activity detection and recognition use, once, at the
//! edge of the pipeline.

use rubato::{FftFixedIn, Resampler as _};

/// Sample rate of everything after the edge.
pub const TARGET_RATE_HZ: u32 = 16_000;
/// Input block size for the FFT resampler.
const CHUNK_FRAMES: usize = 1024;

/// A resampler construction failure (unsupported rate).
#[derive(Debug, thiserror::Error)]
#[error("cannot resample from {rate_hz} Hz to 16 kHz: {detail}")]
pub struct ResampleError {
    /// The input rate.
    pub rate_hz: u32,
    /// Why.
    pub detail: String,
}

/// Streaming resampler from any rate to 16 kHz (a pass-through at 16 kHz).
pub struct StreamResampler {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler").field("passthrough", &self.inner.is_none()).finish()
    }
}

impl StreamResampler {
    /// A resampler from `rate_hz`.
    pub fn new(rate_hz: u32) -> Result<Self, ResampleError> {
        if rate_hz == TARGET_RATE_HZ {
            return Ok(Self { inner: None, pending: Vec::new() });
        }
        if !(4_000..=384_000).contains(&rate_hz) {
            return Err(ResampleError { rate_hz, detail: "rate outside 4-384 kHz".into() });
        }
        let inner = FftFixedIn::new(rate_hz as usize, TARGET_RATE_HZ as usize, CHUNK_FRAMES, 2, 1)
            .map_err(|e| ResampleError { rate_hz, detail: e.to_string() })?;
        Ok(Self { inner: Some(inner), pending: Vec::new() })
    }

    /// Feeds mono samples; appends resampled output to `out`.
    pub fn push(&mut self, mono: &[f32], out: &mut Vec<f32>) {
        let Some(inner) = &mut self.inner else {
            out.extend_from_slice(mono);
            return;
        };
        self.pending.extend_from_slice(mono);
        while self.pending.len() >= CHUNK_FRAMES {
            let block: Vec<f32> = self.pending.drain(..CHUNK_FRAMES).collect();
            if let Ok(res) = inner.process(&[block], None) {
                out.extend_from_slice(&res[0]);
            }
        }
    }

    /// Flushes what is buffered (end of stream).
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let Some(inner) = &mut self.inner else { return };
        if self.pending.is_empty() {
            return;
        }
        let block = std::mem::take(&mut self.pending);
        if let Ok(res) = inner.process_partial(Some(&[block]), None) {
            out.extend_from_slice(&res[0]);
        }
    }
}

/// Resamples a whole buffer to 16 kHz.
pub fn to_16k(samples: &[f32], rate_hz: u32) -> Result<Vec<f32>, ResampleError> {
    let mut r = StreamResampler::new(rate_hz)?;
    let mut out =
        Vec::with_capacity(samples.len() * TARGET_RATE_HZ as usize / rate_hz.max(1) as usize + CHUNK_FRAMES);
    r.push(samples, &mut out);
    r.flush(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    /// Dominant frequency by zero crossings.
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let crossings = samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        crossings as f32 * rate as f32 / samples.len() as f32
    }

    #[test]
    fn resampling_keeps_pitch_and_duration() {
        for rate in [8_000, 22_050, 24_000, 44_100, 48_000] {
            let out = to_16k(&tone(rate, 440.0, 2.0), rate).expect("resample");
            let secs = out.len() as f32 / 16_000.0;
            assert!((secs - 2.0).abs() < 0.1, "{rate}: {secs}s");
            let f = frequency(&out[1600..out.len() - 1600], 16_000);
            assert!((f - 440.0).abs() < 5.0, "{rate}: {f} Hz");
        }
        assert!(StreamResampler::new(1).is_err());
    }
}
