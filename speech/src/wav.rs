//! WAV files in and out (the test fixtures, `kiosk transcribe FILE.wav`, recordings for review).

use std::path::{Path, PathBuf};

/// Why a WAV file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// Not a readable WAV file.
    #[error("{path} is not a readable WAV file: {detail}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// Readable but not usable.
    #[error("{path}: {detail}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
}

/// Decoded audio: mono f32 samples in [-1, 1].
#[derive(Clone, Debug)]
pub struct Audio {
    /// Samples.
    pub samples: Vec<f32>,
    /// Sample rate.
    pub sample_rate_hz: u32,
}

/// Reads a WAV file (PCM 8/16/24/32-bit or float), mixing channels down to mono.
pub fn read_wav(path: &Path) -> Result<Audio, WavError> {
    let unreadable = |e: hound::Error| WavError::Unreadable { path: path.to_owned(), detail: e.to_string() };
    let mut reader = hound::WavReader::open(path).map_err(unreadable)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(WavError::Unsupported {
            path: path.to_owned(),
            detail: "header declares no channels or no sample rate".into(),
        });
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            reader.samples::<f32>().collect::<Result<_, _>>().map_err(unreadable)?
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(unreadable)?
        }
    };
    let channels = usize::from(spec.channels);
    let samples =
        interleaved.chunks(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect();
    Ok(Audio { samples, sample_rate_hz: spec.sample_rate })
}

/// Writes mono f32 samples as 16-bit PCM.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate_hz: u32) -> Result<(), WavError> {
    let fail = |e: hound::Error| WavError::Unreadable { path: path.to_owned(), detail: e.to_string() };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: sample_rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(fail)?;
    for s in samples {
        writer.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16).map_err(fail)?;
    }
    writer.finalize().map_err(fail)
}
