//! Mandarin front end for the neural voice: text -> Kokoro phonemes.
//!
//! Numbers are read out first (38.5 -> 三十八点五, 2天 -> 两天), punctuation is folded to `, . ? !`,
//! jieba splits words, each word is read from the phrase dictionary (`speech/data/zh_phrases.toml`:
//! polyphones such as 银行, 觉得, 还是 and neutral tones such as 舒服, 咳嗽) or character by
//! character, and each syllable becomes IPA with Kokoro v1.0's tone arrows after its vowel (before a
//! final -n/-ŋ): tone 1 `→`, 2 `↗`, 3 `↓`, 4 `↘`, neutral none.

use std::collections::HashMap;

use pinyin::ToPinyin;
use serde::Deserialize;

const PHRASES: &str = include_str!("../../data/zh_phrases.toml");

/// Characters read with the neutral tone when they stand alone as particles.
const NEUTRAL_PARTICLES: &[char] = &['了', '吗', '呢', '吧', '啊', '的', '地', '着', '过', '么', '呀', '嘛'];
/// Measure words before which 2 is read 两.
const MEASURE_WORDS: &[char] = &[
    '个', '天', '周', '次', '岁', '小', '分', '点', '位', '种', '年', '月', '星', '片', '粒', '条', '斤',
    '层',
];

#[derive(Deserialize)]
struct PhraseFile {
    phrases: HashMap<String, String>,
}

/// The Mandarin grapheme-to-phoneme converter.
pub struct ZhFrontend {
    jieba: jieba_rs::Jieba,
    phrases: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for ZhFrontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZhFrontend").field("phrases", &self.phrases.len()).finish()
    }
}

impl Default for ZhFrontend {
    fn default() -> Self {
        let file: PhraseFile = toml::from_str(PHRASES).unwrap_or(PhraseFile { phrases: HashMap::new() });
        let mut jieba = jieba_rs::Jieba::new();
        let phrases: HashMap<String, Vec<String>> = file
            .phrases
            .into_iter()
            .map(|(w, p)| {
                // Make sure jieba keeps the phrase whole.
                jieba.add_word(&w, Some(100_000), None);
                (w, p.split_whitespace().map(str::to_owned).collect())
            })
            .collect();
        Self { jieba, phrases }
    }
}

/// A pinyin syllable with its tone (1-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syllable {
    /// Toneless pinyin, `v` for ü.
    pub pinyin: String,
    /// 1-4, 5 for neutral.
    pub tone: u8,
}

impl ZhFrontend {
    /// Pinyin with tone numbers, words separated by spaces and punctuation kept (for espeak-ng's
    /// `cmn-latn-pinyin` voice).
    pub fn pinyin_text(&self, text: &str) -> String {
        self.words(text)
            .into_iter()
            .map(|w| match w {
                Word::Syllables(s) => s
                    .iter()
                    .map(|s| format!("{}{}", s.pinyin.replace('v', "u:"), s.tone))
                    .collect::<Vec<_>>()
                    .join(" "),
                Word::Punct(p) => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Kokoro phonemes for `text`.
    pub fn phonemes(&self, text: &str) -> String {
        let mut out = String::new();
        for w in self.words(text) {
            match w {
                Word::Syllables(syllables) => {
                    if !out.is_empty() && !out.ends_with(' ') {
                        out.push(' ');
                    }
                    for s in syllables {
                        out.push_str(&syllable_ipa(&s));
                    }
                }
                Word::Punct(p) => {
                    let trimmed = out.trim_end().len();
                    out.truncate(trimmed);
                    out.push(p);
                    out.push(' ');
                }
            }
        }
        out.trim().to_owned()
    }

    fn words(&self, text: &str) -> Vec<Word> {
        let normalized = normalize(text);
        let mut words = Vec::new();
        for token in self.jieba.cut(&normalized, true) {
            let w = token.word;
            if let Some(p) =
                w.chars().next().filter(|c| w.chars().count() == 1 && matches!(c, ',' | '.' | '?' | '!'))
            {
                words.push(Word::Punct(p));
                continue;
            }
            if let Some(readings) = self.phrases.get(w) {
                words.push(Word::Syllables(readings.iter().filter_map(|r| parse_syllable(r)).collect()));
                continue;
            }
            let chars: Vec<char> = w.chars().filter(|c| is_han(*c)).collect();
            if chars.is_empty() {
                continue;
            }
            let n = chars.len();
            let syllables = chars
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let mut s = char_syllable(*c)?;
                    // Particles and the noun suffixes 子 and 头 lose their tone.
                    if (n == 1 && NEUTRAL_PARTICLES.contains(c))
                        || (i == n - 1 && n > 1 && (*c == '子' || *c == '们'))
                    {
                        s.tone = 5;
                    }
                    Some(s)
                })
                .collect::<Vec<_>>();
            if !syllables.is_empty() {
                words.push(Word::Syllables(syllables));
            }
        }
        words
    }
}

enum Word {
    Syllables(Vec<Syllable>),
    Punct(char),
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn char_syllable(c: char) -> Option<Syllable> {
    let p = c.to_pinyin()?;
    parse_syllable(p.with_tone_num_end())
}

/// "hao3" -> (hao, 3); "le" -> (le, 5); "lü4" / "lv4" -> (lv, 4).
fn parse_syllable(s: &str) -> Option<Syllable> {
    let s = s.trim().replace('ü', "v").replace("u:", "v");
    let (body, tone) = match s.chars().last()? {
        d @ '0'..='5' => (&s[..s.len() - 1], d.to_digit(10).map_or(5, |t| if t == 0 { 5 } else { t as u8 })),
        _ => (&s[..], 5),
    };
    (!body.is_empty()).then(|| Syllable { pinyin: body.to_owned(), tone })
}

/// Numbers read out, full-width punctuation folded, Latin letters and symbols dropped.
pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let int: String = chars[start..i].iter().collect();
            let value: u64 = int.parse().unwrap_or(0);
            let mut reading = if value == 2 && chars.get(i).is_some_and(|n| MEASURE_WORDS.contains(n)) {
                "两".to_owned()
            } else {
                crate::score::number_chars_zh(value)
            };
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                reading.push('点');
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    reading.push(
                        crate::score::number_chars_zh(u64::from(chars[i].to_digit(10).unwrap_or(0)))
                            .chars()
                            .next()
                            .unwrap_or('零'),
                    );
                    i += 1;
                }
            }
            out.push_str(&reading);
            continue;
        }
        match c {
            '，' | '、' | '：' | '；' | ',' | ';' | ':' => out.push(','),
            '。' | '.' => out.push('.'),
            '？' | '?' => out.push('?'),
            '！' | '!' => out.push('!'),
            '-' | '~' | '～' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => out.push('到'),
            '%' => out.push_str("百分之"),
            c if is_han(c) => out.push(c),
            _ => {}
        }
        i += 1;
    }
    out
}

const INITIALS: &[(&str, &str)] = &[
    ("zh", "ʈʂ"),
    ("ch", "ʈʂʰ"),
    ("sh", "ʂ"),
    ("b", "p"),
    ("p", "pʰ"),
    ("m", "m"),
    ("f", "f"),
    ("d", "t"),
    ("t", "tʰ"),
    ("n", "n"),
    ("l", "l"),
    ("g", "k"),
    ("k", "kʰ"),
    ("h", "x"),
    ("j", "ʨ"),
    ("q", "ʨʰ"),
    ("x", "ɕ"),
    ("r", "ɻ"),
    ("z", "ʦ"),
    ("c", "ʦʰ"),
    ("s", "s"),
];

/// Final -> (vowel part, nasal coda).
fn final_ipa(initial: &str, fin: &str) -> (String, &'static str) {
    let palatal = matches!(initial, "j" | "q" | "x");
    let (v, coda) = match fin {
        "a" => ("a", ""),
        "o" => (if matches!(initial, "b" | "p" | "m" | "f") { "wo" } else { "o" }, ""),
        "e" => ("ɤ", ""),
        "ai" => ("ai", ""),
        "ei" => ("ei", ""),
        "ao" => ("au", ""),
        "ou" => ("ou", ""),
        "an" => ("a", "n"),
        "en" => ("ə", "n"),
        "ang" => ("a", "ŋ"),
        "eng" => ("ə", "ŋ"),
        "ong" => ("ʊ", "ŋ"),
        "er" => ("ɚ", ""),
        "i" if matches!(initial, "z" | "c" | "s") => ("ɹ", ""),
        "i" if matches!(initial, "zh" | "ch" | "sh" | "r") => ("ɻ", ""),
        "i" => ("i", ""),
        "ia" => ("ja", ""),
        "ie" => ("jɛ", ""),
        "iao" => ("jau", ""),
        "iu" | "iou" => ("jou", ""),
        "ian" => ("jɛ", "n"),
        "in" => ("i", "n"),
        "iang" => ("ja", "ŋ"),
        "ing" => ("i", "ŋ"),
        "iong" => ("jʊ", "ŋ"),
        "u" if palatal => ("y", ""),
        "ue" | "ve" => ("ɥɛ", ""),
        "uan" if palatal => ("ɥɛ", "n"),
        "un" if palatal => ("y", "n"),
        "v" => ("y", ""),
        "van" => ("ɥɛ", "n"),
        "vn" => ("y", "n"),
        "u" => ("u", ""),
        "ua" => ("wa", ""),
        "uo" => ("wo", ""),
        "uai" => ("wai", ""),
        "ui" | "uei" => ("wei", ""),
        "uan" => ("wa", "n"),
        "un" | "uen" => ("wə", "n"),
        "uang" => ("wa", "ŋ"),
        "ueng" => ("wə", "ŋ"),
        other => return (other.to_owned(), ""),
    };
    (v.to_owned(), coda)
}

/// Zero-initial syllables written with y/w.
fn zero_initial(p: &str) -> Option<(&'static str, &'static str)> {
    Some(match p {
        "yi" => ("i", ""),
        "ya" => ("ja", ""),
        "ye" => ("jɛ", ""),
        "yao" => ("jau", ""),
        "you" => ("jou", ""),
        "yan" => ("jɛ", "n"),
        "yin" => ("i", "n"),
        "yang" => ("ja", "ŋ"),
        "ying" => ("i", "ŋ"),
        "yong" => ("jʊ", "ŋ"),
        "yu" => ("y", ""),
        "yue" => ("ɥɛ", ""),
        "yuan" => ("ɥɛ", "n"),
        "yun" => ("y", "n"),
        "wu" => ("u", ""),
        "wa" => ("wa", ""),
        "wo" => ("wo", ""),
        "wai" => ("wai", ""),
        "wei" => ("wei", ""),
        "wan" => ("wa", "n"),
        "wen" => ("wə", "n"),
        "wang" => ("wa", "ŋ"),
        "weng" => ("wə", "ŋ"),
        // Bare finals (a, o, e, an, er, ...) are read by `final_ipa` with no initial.
        _ => return None,
    })
}

/// One syllable in Kokoro's IPA with its tone arrow.
pub fn syllable_ipa(s: &Syllable) -> String {
    let tone = match s.tone {
        1 => "→",
        2 => "↗",
        3 => "↓",
        4 => "↘",
        _ => "",
    };
    if let Some((v, coda)) = zero_initial(&s.pinyin) {
        return format!("{v}{tone}{coda}");
    }
    let (initial, ipa_initial) =
        INITIALS.iter().find(|(p, _)| s.pinyin.starts_with(p)).map_or(("", ""), |(p, i)| (*p, *i));
    let (v, coda) = final_ipa(initial, &s.pinyin[initial.len()..]);
    format!("{ipa_initial}{v}{tone}{coda}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sentence_is_phonemised_as_kokoro_expects() {
        let fe = ZhFrontend::default();
        // The example from the model notes (shared/MODELS.md).
        let got = fe.phonemes("您好，请问您哪里不舒服？头疼几天了？");
        assert_eq!(got, "ni↗nxau↓, ʨʰi↓ŋwə↘n ni↗n na↓li↓ pu↘ʂu→fu? tʰou↗tʰə↗ŋ ʨi↓tʰjɛ→n lɤ?", "{got}");
    }

    #[test]
    fn numbers_are_read_out() {
        assert_eq!(normalize("体温38.5度"), "体温三十八点五度");
        assert_eq!(normalize("疼了2天，打120"), "疼了两天,打一百二十");
        assert_eq!(normalize("0-10分"), "零到十分");
    }

    #[test]
    fn polyphones_follow_the_phrase_dictionary() {
        let fe = ZhFrontend::default();
        assert!(fe.pinyin_text("我去银行").contains("yin2 hang2"));
        assert!(fe.pinyin_text("您觉得怎么样").contains("jue2 de5"));
        assert!(fe.pinyin_text("还是疼").contains("hai2 shi4"));
        assert!(fe.pinyin_text("重新说").contains("chong2 xin1"));
    }
}
