//! English front end for the neural voice: espeak-ng's IPA with the replacements Kokoro's own
//! front ends make (`ʲ`->`j`, `r`->`ɹ`, `x`->`k`, `ɬ`->`l`), sentence punctuation kept.

use std::process::Command;

use super::TtsError;

/// Kokoro phonemes for an English sentence.
pub fn phonemes(text: &str) -> Result<String, TtsError> {
    // espeak-ng drops punctuation from IPA output; keep the sentence's final mark for prosody.
    let end = text.trim_end().chars().last().filter(|c| matches!(c, '.' | '?' | '!' | ',')).unwrap_or('.');
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let output = Command::new("espeak-ng")
        .args(["-q", "--ipa", "-v", "en-us", "--", &cleaned])
        .output()
        .map_err(|e| {
            TtsError::Frontend(format!(
                "espeak-ng could not be run ({e}); install it with `apt-get install espeak-ng`"
            ))
        })?;
    if !output.status.success() {
        return Err(TtsError::Frontend(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let ipa = String::from_utf8_lossy(&output.stdout);
    let mut out = ipa
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
        .replace('ʲ', "j")
        .replace('r', "ɹ")
        .replace('x', "k")
        .replace('ɬ', "l")
        .replace(['\u{200d}', '\u{200c}', '_'], "");
    out.push(end);
    Ok(out)
}
