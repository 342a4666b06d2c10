//! What the kiosk's screens are made of, embedded in the binary so the kiosk never depends on the
//! system's fonts or on files next to it: the CJK font, the words of every screen in each language
//! (`i18n/*.toml`, one file per language), and the colour palette. No egui here: the `kiosk`
//! crate turns these into egui fonts and styles.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Noto Sans CJK SC, cut down to GB 2312 plus every character the project uses (see
/// `fonts/subset.py`; SIL Open Font License, `fonts/OFL.txt`).
pub const CJK_FONT: &[u8] = include_bytes!("../fonts/NotoSansSC-Kiosk.otf");

/// The name the font is registered under.
pub const CJK_FONT_NAME: &str = "NotoSansSC-Kiosk";

/// Noto Emoji (monochrome; as shipped in egui's `epaint_default_fonts`, SIL Open Font License):
/// the pain faces and the symbols on buttons (microphone, speaker, ticks).
pub const EMOJI_FONT: &[u8] = include_bytes!("../fonts/NotoEmoji-Regular.ttf");

/// The name the emoji font is registered under.
pub const EMOJI_FONT_NAME: &str = "NotoEmoji-Regular";

const ZH: &str = include_str!("../i18n/zh.toml");
const EN: &str = include_str!("../i18n/en.toml");

/// A screen language. Mirrors `protocol::Lang` without depending on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UiLang {
    /// Mandarin.
    Zh,
    /// English.
    En,
}

/// The words of one language.
#[derive(Debug)]
pub struct Strings {
    map: BTreeMap<String, String>,
}

impl Strings {
    fn parse(source: &str, name: &str) -> Self {
        let table: toml::Table = match toml::from_str(source) {
            Ok(t) => t,
            // Embedded at build time and checked by the tests: this cannot fail in a release.
            Err(e) => panic!("ui-assets/i18n/{name}.toml does not parse: {e}"),
        };
        let map = table
            .into_iter()
            .filter_map(|(k, v)| match v {
                toml::Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect();
        Self { map }
    }

    /// The text for `key`; an unknown key shows itself (visible in review, never a crash).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.map.get(key).map_or(key, String::as_str)
    }

    /// The text for `key` with `{name}` placeholders filled in.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut s = self.get(key).to_owned();
        for (name, value) in values {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// All keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// The words of `lang`.
pub fn strings(lang: UiLang) -> &'static Strings {
    static ZH_STRINGS: OnceLock<Strings> = OnceLock::new();
    static EN_STRINGS: OnceLock<Strings> = OnceLock::new();
    match lang {
        UiLang::Zh => ZH_STRINGS.get_or_init(|| Strings::parse(ZH, "zh")),
        UiLang::En => EN_STRINGS.get_or_init(|| Strings::parse(EN, "en")),
    }
}

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// WCAG relative luminance.
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// WCAG contrast ratio with `other` (1 to 21).
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (hi, lo) = if a > b { (a, b) } else { (b, a) };
        (hi + 0.05) / (lo + 0.05)
    }
}

/// The kiosk's colours: every text colour is at least 4.5:1 against the background it is drawn
/// on (checked by a test), and no meaning is carried by colour alone (every coloured element also
/// has words or a symbol).
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    /// Screen background.
    pub background: Rgb,
    /// Main text.
    pub text: Rgb,
    /// Secondary text (hints).
    pub muted: Rgb,
    /// Panels (cards, the question box).
    pub panel: Rgb,
    /// Ordinary buttons.
    pub button: Rgb,
    /// Text on ordinary buttons.
    pub button_text: Rgb,
    /// The main action (agree, send).
    pub primary: Rgb,
    /// Text on the main action.
    pub primary_text: Rgb,
    /// Emergency screen background.
    pub danger: Rgb,
    /// Text on the emergency screen.
    pub danger_text: Rgb,
    /// "Call a nurse" button.
    pub staff: Rgb,
    /// Text on the "call a nurse" button.
    pub staff_text: Rgb,
    /// The listening indicator and focus rings.
    pub accent: Rgb,
}

/// The palette.
pub const PALETTE: Palette = Palette {
    background: Rgb(0xF7, 0xF9, 0xFC),
    text: Rgb(0x10, 0x1A, 0x2B),
    muted: Rgb(0x44, 0x50, 0x63),
    panel: Rgb(0xFF, 0xFF, 0xFF),
    button: Rgb(0xE3, 0xEA, 0xF4),
    button_text: Rgb(0x10, 0x1A, 0x2B),
    primary: Rgb(0x0B, 0x57, 0x9E),
    primary_text: Rgb(0xFF, 0xFF, 0xFF),
    danger: Rgb(0xA3, 0x12, 0x12),
    danger_text: Rgb(0xFF, 0xFF, 0xFF),
    staff: Rgb(0x8A, 0x3B, 0x00),
    staff_text: Rgb(0xFF, 0xFF, 0xFF),
    accent: Rgb(0x0B, 0x6E, 0x4F),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_every_language() {
        let zh: Vec<&str> = strings(UiLang::Zh).keys().collect();
        let en: Vec<&str> = strings(UiLang::En).keys().collect();
        let only_zh: Vec<&&str> = zh.iter().filter(|k| !en.contains(k)).collect();
        let only_en: Vec<&&str> = en.iter().filter(|k| !zh.contains(k)).collect();
        assert!(only_zh.is_empty() && only_en.is_empty(), "zh only {only_zh:?}; en only {only_en:?}");
        assert!(zh.len() > 50);
    }

    #[test]
    fn placeholders_match_between_languages() {
        let names = |s: &str| {
            let mut v: Vec<String> =
                s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned())).collect();
            v.sort();
            v
        };
        for key in strings(UiLang::Zh).keys() {
            assert_eq!(
                names(strings(UiLang::Zh).get(key)),
                names(strings(UiLang::En).get(key)),
                "placeholders of {key}"
            );
        }
        assert!(strings(UiLang::En).fill("timeout_seconds", &[("seconds", "20")]).contains("20"));
    }

    #[test]
    fn text_colours_have_at_least_4_5_to_1_contrast() {
        let p = PALETTE;
        for (name, fg, bg) in [
            ("text", p.text, p.background),
            ("text on panel", p.text, p.panel),
            ("muted", p.muted, p.background),
            ("muted on panel", p.muted, p.panel),
            ("button", p.button_text, p.button),
            ("primary", p.primary_text, p.primary),
            ("danger", p.danger_text, p.danger),
            ("staff", p.staff_text, p.staff),
            ("accent", p.accent, p.background),
            ("accent on panel", p.accent, p.panel),
        ] {
            let c = fg.contrast(bg);
            assert!(c >= 4.5, "{name}: {c:.2}:1");
        }
        assert!((Rgb(0, 0, 0).contrast(Rgb(255, 255, 255)) - 21.0).abs() < 1e-9);
    }

    #[test]
    fn the_font_covers_every_character_on_the_screens() {
        // The font's cmap is read by the kiosk crate's test with egui; here: it is the OTF we made.
        assert_eq!(&CJK_FONT[..4], b"OTTO");
        assert!(CJK_FONT.len() > 1_000_000);
    }
}
