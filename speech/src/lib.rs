//! Audio in and out: capture, resampling, voice activity and endpointing, recognition (whisper),
//! synthesis and playback. Workers are driven through bounded crossbeam channels.

pub mod asr;
pub mod bench;
pub mod device;
pub mod endpoint;
pub mod resample;
pub mod score;
pub mod source;
pub mod tts;
pub mod vad;
pub mod voice;
pub mod wav;
pub mod worker;
