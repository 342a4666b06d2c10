//! espeak-ng, the instant fallback voice: robotic but always there (a Debian package). Mandarin is
//! read from tone-numbered pinyin with the `cmn-latn-pinyin` voice, because on Debian 12 the `cmn`
//! voice reads tone digits aloud in English.

use std::process::Command;

use protocol::Lang;

use super::{Pcm, TtsError, zh::ZhFrontend};

/// espeak-ng's default speaking rate, words per minute.
const BASE_WPM: f32 = 165.0;

/// Synthesises one sentence with espeak-ng.
pub fn speak(text: &str, lang: Lang, speed: f32, zh: &ZhFrontend) -> Result<Pcm, TtsError> {
    let (voice, input) = match lang {
        Lang::Zh => ("cmn-latn-pinyin", zh.pinyin_text(text)),
        Lang::En => ("en-us", text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()),
    };
    let wpm = (BASE_WPM * speed.clamp(0.5, 2.0)).round() as u32;
    let output = Command::new("espeak-ng")
        .args(["--stdout", "-v", voice, "-s", &wpm.to_string(), "--", &input])
        .output()
        .map_err(|e| {
            TtsError::Synthesis(format!(
                "espeak-ng could not be run ({e}); install it with `apt-get install espeak-ng`"
            ))
        })?;
    if !output.status.success() {
        return Err(TtsError::Synthesis(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse_streamed_wav(&output.stdout)
        .ok_or_else(|| TtsError::Synthesis("espeak-ng produced no audio".into()))
}

/// Reads espeak-ng's streamed WAV: 16-bit mono PCM whose header declares an unknown length (so a
/// strict WAV reader refuses it); the samples run from the `data` chunk to the end.
fn parse_streamed_wav(bytes: &[u8]) -> Option<Pcm> {
    if bytes.len() < 44 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let rate_hz = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    let data = bytes.windows(4).position(|w| w == b"data")? + 8;
    let samples = bytes
        .get(data..)?
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / f32::from(i16::MAX))
        .collect();
    Some(Pcm { samples, rate_hz })
}
