//! Toneless, accent-tolerant pinyin for matching Mandarin recognition output.
//!
//! whisper writes spoken symptom words as homophones (疼 -> 腾, 痰 -> 弹, 咳嗽 -> 可受). Matching on
//! toneless pinyin, with the confusions of southern accents folded together (zh/z, ch/c, sh/s,
//! -ng/-n), recovers them; exact character matches are still tried first.

use pinyin::ToPinyinMulti;

/// Readings kept per character.
const MAX_READINGS: usize = 2;

/// The common fuzzy readings of `c` (heteronyms included); empty for non-Han characters.
pub fn readings(c: char) -> Vec<String> {
    let Some(multi) = c.to_pinyin_multi() else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    // The two most common readings: rarer ones (怀 "fu", 不 "fu") would make unrelated words sound
    // alike.
    for i in 0..multi.count().min(MAX_READINGS) {
        let r = fold(multi.get(i).plain());
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// zh/ch/sh -> z/c/s, -ng -> -n (after e and i), as Mandarin speakers from the south merge them.
fn fold(syllable: &str) -> String {
    let mut s = syllable.to_owned();
    for (from, to) in [("zh", "z"), ("ch", "c"), ("sh", "s")] {
        if let Some(rest) = s.strip_prefix(from) {
            s = format!("{to}{rest}");
        }
    }
    if let Some(stem) = s.strip_suffix("eng") {
        s = format!("{stem}en");
    } else if let Some(stem) = s.strip_suffix("ing") {
        s = format!("{stem}in");
    }
    s
}

/// Whether two characters share a fuzzy reading.
pub fn sounds_alike(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognition_homophones_sound_alike() {
        for (said, heard) in
            [('疼', '腾'), ('痰', '弹'), ('嗽', '受'), ('咳', '可'), ('晕', '云'), ('胸', '凶')]
        {
            assert!(sounds_alike(&readings(said), &readings(heard)), "{said} ~ {heard}");
        }
        assert!(!sounds_alike(&readings('疼'), &readings('头')));
        assert!(readings('a').is_empty());
    }
}
