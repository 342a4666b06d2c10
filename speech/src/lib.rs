//! Audio in and out: capture, resampling, voice activity and endpointing, recognition (whisper),
//! synthesis and playback. Workers are driven through bounded crossbeam channels.

pub mod asr;
pub mod score;
pub mod wav;
