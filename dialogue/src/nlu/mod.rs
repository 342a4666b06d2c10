//! Rule-based language understanding: symptom concepts (with negation), yes/no, numbers,
//! durations, ages, temperatures, ratings, sex, who is answering, and pregnancy, in Mandarin and
//! English. Mandarin is matched on characters and, where that fails, on fuzzy pinyin, because
//! speech recognition writes symptom words as homophones.

pub mod fuzzy_pinyin;
pub mod numbers;

use protocol::{Lang, Sex};

use crate::kb::KnowledgeBase;
pub use numbers::DurationValue;

/// Minimum syllables for a pinyin (sound-alike) match: shorter recognisers would match noise.
const MIN_PINYIN_SYLLABLES: usize = 2;
/// How many tokens before an English concept a negator still applies.
const EN_NEGATION_WINDOW: usize = 6;

/// A concept found in an utterance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConceptHit {
    /// Concept id.
    pub concept: String,
    /// Denied ("没有发烧", "no fever").
    pub negated: bool,
    /// Matched only by sound (pinyin), not by characters.
    pub by_sound: bool,
}

/// Yes, no, or don't know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YesNo {
    /// Affirmative.
    Yes,
    /// Negative.
    No,
    /// "Don't know", "not sure".
    Unknown,
}

/// Minimum dictionary frequency (jieba) above which a sound-only match is rejected: the span is then
/// a common word of its own (手上 is "on the hand", not 受伤 "injured").
const COMMON_WORD_FREQ: usize = 200;
/// Words a site character is part of without meaning the body site.
const ZH_SITE_EXCLUSIONS: &[&str] = &[
    "骨头",
    "里头",
    "外头",
    "上头",
    "前头",
    "后头",
    "舌头",
    "指头",
    "念头",
    "馒头",
    "枕头",
    "眉头",
    "石头",
    "奶头",
    "心头",
    "个头",
    "回头",
    "手指头",
    "脚趾头",
    "背包",
    "腰包",
    "眼泪",
];
/// English words skipped between the words of a phrase ("throat feels tight", "heart has been racing").
const EN_FILLERS: &[&str] = &[
    "is",
    "are",
    "am",
    "was",
    "were",
    "be",
    "been",
    "being",
    "feels",
    "feel",
    "felt",
    "feeling",
    "gets",
    "getting",
    "got",
    "get",
    "has",
    "have",
    "had",
    "very",
    "really",
    "so",
    "quite",
    "a",
    "bit",
    "little",
    "all",
    "kind",
    "sort",
    "pretty",
    "too",
    "just",
    "also",
    "totally",
    "completely",
    "keeps",
    "keep",
    "started",
    "starting",
    "constantly",
    "look",
    "looks",
    "looking",
    "turned",
    "turning",
    "gone",
    "going",
    "become",
    "became",
    "much",
    "even",
    "quite",
];
/// At most this many filler words between two words of a phrase.
const EN_MAX_FILLERS: usize = 3;
/// Determiners that make an English site word a body part ("my back", not "came back").
const EN_SITE_DETERMINERS: &[&str] = &[
    "my", "his", "her", "the", "your", "their", "our", "lower", "upper", "left", "right", "middle", "both",
    "sore",
];
/// How far a feeling word may be from its site.
const SITE_WINDOW: usize = 6;

/// Degree words and particles skipped inside a Mandarin phrase ("脖子很硬" = 脖子硬, "心跳得很快" = 心跳快,
/// "大便是黑的" = 大便黑).
const ZH_FILLERS: &[&str] = &[
    "非常", "特别", "有点", "有些", "比较", "一直", "老是", "总是", "很", "太", "挺", "是", "的", "得", "也",
    "都", "还", "好", "更",
];
/// Grammatical particles: they carry no sound of a symptom word.
const ZH_PARTICLES: &str = "了的得地着过吗呢吧啊呀么";
/// At most this many filler words inside one phrase.
const ZH_MAX_FILLERS: usize = 2;

/// A Mandarin recogniser: parts separated by gaps of up to [`ZH_GAP_CHARS`] characters (`开~药`).
struct ZhPattern {
    concept: usize,
    parts: Vec<Vec<char>>,
    readings: Vec<Vec<String>>,
}

const ZH_GAP_CHARS: usize = 4;
const EN_GAP_TOKENS: usize = 3;

struct EnPattern {
    concept: usize,
    tokens: Vec<EnToken>,
}

enum EnToken {
    Exact(String),
    Prefix(String),
    Gap,
}

impl EnToken {
    fn matches(&self, word: &str) -> bool {
        match self {
            Self::Exact(w) => w == word || stem(w) == stem(word),
            Self::Prefix(p) => word.starts_with(p.as_str()),
            Self::Gap => true,
        }
    }
}

/// A light English stemmer for matching (racing/races/race -> rac, burns/burning -> burn).
fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    for suffix in ["ing", "ed", "es", "s"] {
        let min = if suffix == "s" { 4 } else { 5 };
        if w.len() >= min && w.ends_with(suffix) && !(suffix == "s" && w.ends_with("ss")) {
            w.truncate(w.len() - suffix.len());
            break;
        }
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    // spinning -> spinn -> spin
    let b = w.as_bytes();
    if b.len() > 3
        && b[b.len() - 1] == b[b.len() - 2]
        && !matches!(b[b.len() - 1], b'l' | b's' | b'z' | b'e' | b'o')
    {
        w.pop();
    }
    w
}

struct SiteWords {
    concept: usize,
    feeling: crate::kb::Feeling,
    zh: Vec<Vec<char>>,
    en: Vec<String>,
}

/// The concepts that a blood-pressure reading of 140/90 or more, and of 180/110 or more, is recorded
/// as (concepts.toml).
const BP_RAISED_CONCEPT: &str = "bp_high_now";
const BP_CRISIS_CONCEPT: &str = "bp_180";

/// The matcher, compiled once from the knowledge base.
pub struct Analyzer {
    concept_ids: Vec<String>,
    /// The concepts a raised and a crisis-level blood-pressure reading stand for, found by number.
    bp_concepts: (Option<usize>, Option<usize>),
    zh: Vec<ZhPattern>,
    en: Vec<EnPattern>,
    sites: Vec<SiteWords>,
    /// Per concept: whether a red-flag rule looks at it (a sound-alike match needs more evidence).
    alarm: Vec<bool>,
    dictionary: jieba_rs::Jieba,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("zh_patterns", &self.zh.len())
            .field("en_patterns", &self.en.len())
            .finish()
    }
}

/// A normalised utterance.
#[derive(Clone, Debug)]
pub struct Utterance {
    /// Original text.
    pub raw: String,
    /// Characters, full-width forms folded, lower case.
    pub chars: Vec<char>,
    /// English tokens (lower case, apostrophes removed, punctuation as separate "," or "." tokens).
    pub tokens: Vec<String>,
}

impl Utterance {
    /// Normalises `text`.
    pub fn new(text: &str) -> Self {
        let folded: String = text.chars().map(fold_width).collect::<String>().to_lowercase();
        let chars = unreduplicated(&folded.chars().collect::<Vec<_>>());
        let mut tokens = Vec::new();
        let mut word = String::new();
        for c in folded.chars() {
            if c.is_ascii_alphanumeric()
                || (c == '.' && word.chars().all(|w| w.is_ascii_digit()) && !word.is_empty())
            {
                word.push(c);
            } else if c == '\'' || c == '’' {
                // don't -> dont
            } else {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word).trim_end_matches('.').to_owned());
                }
                if matches!(c, ',' | '.' | ';' | '!' | '?' | '，' | '。' | '；' | '！' | '？') {
                    tokens.push(",".to_owned());
                }
            }
        }
        if !word.is_empty() {
            tokens.push(word.trim_end_matches('.').to_owned());
        }
        Self { raw: text.to_owned(), chars, tokens }
    }

    /// Tokens as `&str`.
    pub fn token_refs(&self) -> Vec<&str> {
        self.tokens.iter().map(String::as_str).collect()
    }

    /// Whether the text contains Han characters.
    pub fn has_han(&self) -> bool {
        self.chars.iter().any(|c| is_han(*c))
    }

    /// The text as one string (normalised).
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }
}

/// Whether `c` is a Han (Chinese) character.
pub fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// Characters whose doubling is the spoken form of a feeling word: 头晕晕的 = 头晕, 胀胀的 = 胀,
/// 嗓子痒痒 = 嗓子痒.
const ZH_DOUBLED_FEELINGS: &str = "晕胀涨麻酸痒疼痛红肿干黄热烫凉冷闷沉木刺辣苦硬软烧晃抖颤虚紧堵慌累乏困僵";
/// Characters whose doubled forms are words of their own (宝宝 is an infant, 天天 is every day),
/// never collapsed in the AABB pattern.
const ZH_DOUBLED_WORDS: &str = "宝妈爸哥姐弟妹爷奶婆公姥舅叔伯娃姑姨天年月日夜时次顿人个";

/// Spoken Mandarin doubles words; the vocabulary lists them once. AABB becomes AB (含含糊糊 =
/// 含糊, 昏昏沉沉 = 昏沉, 反反复复 = 反复) and a doubled feeling character becomes one (晕晕的 =
/// 晕的). Applied alike to utterances and recognisers.
fn unreduplicated(chars: &[char]) -> Vec<char> {
    let word = |c: char| is_han(c) && !ZH_DOUBLED_WORDS.contains(c);
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match chars.get(i + 1..i + 4) {
            Some(&[a, b, b2]) if a == c && b == b2 && b != c && word(c) && word(b) => {
                out.extend([c, b]);
                i += 4;
                continue;
            }
            _ => {}
        }
        if chars.get(i + 1) == Some(&c) && ZH_DOUBLED_FEELINGS.contains(c) {
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Full-width ASCII to half-width; ideographic space to space.
fn fold_width(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' if !matches!(c, '，' | '。' | '；' | '！' | '？' | '：') => {
            char::from_u32(c as u32 - 0xfee0).unwrap_or(c)
        }
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// English normalisation of a recogniser or utterance: lower case, apostrophes dropped.
fn en_words(text: &str) -> Vec<String> {
    Utterance::new(text).tokens.into_iter().filter(|t| t != ",").collect()
}

impl Analyzer {
    /// Compiles every recogniser in the vocabulary.
    pub fn new(kb: &KnowledgeBase) -> Self {
        let mut zh = Vec::new();
        let mut en = Vec::new();
        for (idx, concept) in kb.concepts.iter().enumerate() {
            for phrase in &concept.zh {
                let parts: Vec<Vec<char>> = phrase
                    .split('~')
                    .map(|p| unreduplicated(&p.chars().map(fold_width).collect::<Vec<_>>()))
                    .collect();
                // The recogniser's own characters count with their main reading only; the
                // utterance's with their common readings (弹 may be heard for 痰).
                let readings = if parts.len() == 1 {
                    parts[0]
                        .iter()
                        .map(|c| fuzzy_pinyin::readings(*c).into_iter().take(1).collect())
                        .collect()
                } else {
                    Vec::new()
                };
                zh.push(ZhPattern { concept: idx, parts, readings });
            }
            for phrase in &concept.en {
                let mut tokens = Vec::new();
                for w in phrase.split_whitespace() {
                    if w == "~" {
                        tokens.push(EnToken::Gap);
                        continue;
                    }
                    let prefix = w.ends_with('*');
                    for t in en_words(w.trim_end_matches('*')) {
                        tokens.push(if prefix { EnToken::Prefix(t) } else { EnToken::Exact(t) });
                    }
                }
                if !tokens.is_empty() {
                    en.push(EnPattern { concept: idx, tokens });
                }
            }
        }
        // Longer phrases first, so the most specific match claims the text.
        zh.sort_by_key(|p| std::cmp::Reverse(p.parts.iter().map(Vec::len).sum::<usize>()));
        en.sort_by_key(|p| std::cmp::Reverse(p.tokens.len()));
        let index = |id: &str| kb.concepts.iter().position(|c| c.id == id).unwrap_or(0);
        let sites = kb
            .sites
            .iter()
            .map(|s| SiteWords {
                concept: index(&s.concept),
                feeling: s.feeling,
                zh: s.zh.iter().map(|w| w.chars().collect()).collect(),
                en: s.en.iter().map(|w| stem(w)).collect(),
            })
            .collect();
        Self {
            concept_ids: kb.concepts.iter().map(|c| c.id.clone()).collect(),
            bp_concepts: (
                kb.concepts.iter().position(|c| c.id == BP_RAISED_CONCEPT),
                kb.concepts.iter().position(|c| c.id == BP_CRISIS_CONCEPT),
            ),
            alarm: {
                let watched = kb.red_flag_concepts();
                kb.concepts.iter().map(|c| watched.contains(c.id.as_str())).collect()
            },
            zh,
            en,
            sites,
            dictionary: jieba_rs::Jieba::new(),
        }
    }

    /// Where a Mandarin phrase matches at `start` with filler words allowed between its characters.
    fn zh_part_at(part: &[char], chars: &[char], start: usize) -> Option<usize> {
        let mut pos = start;
        let mut fillers = 0;
        for (k, c) in part.iter().enumerate() {
            if k > 0 && chars.get(pos) != Some(c) {
                // Skip one filler word, if that is what stands here.
                if fillers < ZH_MAX_FILLERS
                    && let Some(f) = ZH_FILLERS.iter().find(|f| {
                        let fc: Vec<char> = f.chars().collect();
                        chars.get(pos..pos + fc.len()) == Some(&fc[..])
                    })
                {
                    pos += f.chars().count();
                    fillers += 1;
                }
            }
            if chars.get(pos) != Some(c) {
                return None;
            }
            pos += 1;
        }
        Some(pos)
    }

    /// Where a Mandarin pattern matches exactly at `start`: its end.
    fn zh_exact_at(p: &ZhPattern, chars: &[char], start: usize) -> Option<usize> {
        let mut pos = start;
        for (k, part) in p.parts.iter().enumerate() {
            pos = if k == 0 {
                Self::zh_part_at(part, chars, pos)?
            } else {
                let q = (pos..=pos + ZH_GAP_CHARS).find(|&q| {
                    chars.get(q..q + part.len()) == Some(&part[..])
                        && !chars[pos..q].iter().any(|c| is_clause_break(*c))
                })?;
                q + part.len()
            };
        }
        Some(pos)
    }

    /// Whether an English pattern matches at `start`: its end. Fillers may sit between words.
    fn en_at(p: &EnPattern, tokens: &[&str], start: usize) -> Option<usize> {
        let mut pos = start;
        let mut matched = 0;
        for (k, t) in p.tokens.iter().enumerate() {
            match t {
                EnToken::Gap => {
                    // The gap is resolved by the next token: try the shortest gap that works.
                    let next = p.tokens.get(k + 1)?;
                    let q = (pos..=pos + EN_GAP_TOKENS)
                        .find(|&q| tokens.get(q).is_some_and(|w| *w != "," && next.matches(w)))?;
                    if tokens[pos..q].contains(&",") {
                        return None;
                    }
                    pos = q;
                }
                _ => {
                    if k > 0 && !matches!(p.tokens[k - 1], EnToken::Gap) {
                        let mut skipped = 0;
                        while skipped < EN_MAX_FILLERS
                            && tokens.get(pos).is_some_and(|w| EN_FILLERS.contains(w) && !t.matches(w))
                        {
                            pos += 1;
                            skipped += 1;
                        }
                    }
                    if !tokens.get(pos).is_some_and(|w| t.matches(w)) {
                        // A filler word in the phrase itself is optional ("lips are blue" matches
                        // "lips look a bit blue").
                        if k > 0 && matches!(t, EnToken::Exact(w) if EN_FILLERS.contains(&w.as_str())) {
                            continue;
                        }
                        return None;
                    }
                    matched += 1;
                    pos += 1;
                }
            }
        }
        // A phrase never shrinks to one word by dropping its optional words ("bleeding badly").
        (matched >= p.tokens.len().min(2)).then_some(pos)
    }

    /// Concepts mentioned in `u`, each once (a denial wins over a mention only when every mention
    /// is denied).
    pub fn concepts(&self, u: &Utterance) -> Vec<ConceptHit> {
        let mut hits: Vec<ConceptHit> = Vec::new();
        let push = |hits: &mut Vec<ConceptHit>, concept: usize, negated: bool, by_sound: bool| {
            let id = &self.concept_ids[concept];
            match hits.iter_mut().find(|h| &h.concept == id) {
                Some(h) => {
                    h.negated &= negated;
                    h.by_sound &= by_sound;
                }
                None => hits.push(ConceptHit { concept: id.clone(), negated, by_sound }),
            }
        };
        if u.has_han() {
            let readings: Vec<Vec<String>> = u.chars.iter().map(|c| fuzzy_pinyin::readings(*c)).collect();
            let mut claimed = vec![false; u.chars.len()];
            let text = u.text();
            let mut boundaries = vec![0usize];
            for token in self.dictionary.cut(&text, true) {
                boundaries.push(token.end);
            }
            // Exact characters first, then sound-alike matches over what is left.
            for p in &self.zh {
                let gapped = p.parts.len() > 1;
                for start in 0..u.chars.len() {
                    if claimed[start] && !gapped {
                        continue;
                    }
                    let Some(end) = Self::zh_exact_at(p, &u.chars, start) else { continue };
                    if inside_other_word(&u.chars, start) {
                        continue;
                    }
                    // A gapped pattern (开~药) spans other words; it neither needs nor takes the span.
                    if gapped {
                        push(&mut hits, p.concept, zh_negated(&u.chars, start, end), false);
                    } else if !claimed[start..end].iter().any(|c| *c) {
                        claimed[start..end].iter_mut().for_each(|c| *c = true);
                        push(&mut hits, p.concept, zh_negated(&u.chars, start, end), false);
                    }
                }
            }
            // One syllable is too little evidence: particles do not count (弯了 is never heard in 完了).
            let syllables = |part: &[char]| part.iter().filter(|c| !ZH_PARTICLES.contains(**c)).count();
            for p in self
                .zh
                .iter()
                .filter(|p| p.parts.len() == 1 && syllables(&p.parts[0]) >= MIN_PINYIN_SYLLABLES)
            {
                let pc = &p.parts[0];
                let n = pc.len();
                if n > u.chars.len() {
                    continue;
                }
                for start in 0..=u.chars.len() - n {
                    if claimed[start..start + n].iter().any(|c| *c) {
                        continue;
                    }
                    let sounds = (0..n).all(|k| {
                        pc[k] == u.chars[start + k]
                            || (!p.readings[k].is_empty()
                                && fuzzy_pinyin::sounds_alike(&p.readings[k], &readings[start + k]))
                    });
                    if !sounds {
                        continue;
                    }
                    // A number is heard as a number: 四岁 (si sui) is an age, never 嗜睡 (shi shui).
                    if (0..n).any(|k| pc[k] != u.chars[start + k] && is_numeral(u.chars[start + k])) {
                        continue;
                    }
                    if inside_other_word(&u.chars, start) {
                        continue;
                    }
                    let anchored = (0..n).any(|k| pc[k] == u.chars[start + k]);
                    let span: String = u.chars[start..start + n].iter().collect();
                    let common_word = self.dictionary.has_word(&span)
                        && self.dictionary.suggest_freq(&span) >= COMMON_WORD_FREQ;
                    let aligned = boundaries.contains(&start) && boundaries.contains(&(start + n));
                    let one_word = aligned && !boundaries.iter().any(|b| *b > start && *b < start + n);
                    // A common word was heard as itself: 大便 (da bian, or da pian) is not 大片.
                    // Without a single matching character, only a span that is a word of its own
                    // may stand for a mis-heard symptom word: not two halves of neighbouring words
                    // (近觉 in 最近觉得); and for a sign a red-flag rule looks at, one word, not
                    // two (是水 in 拉的都是水 is not 嗜睡, which would stop the interview).
                    let enough = if self.alarm[p.concept] { one_word } else { aligned };
                    if common_word || (!anchored && !enough) {
                        continue;
                    }
                    claimed[start..start + n].iter_mut().for_each(|c| *c = true);
                    push(&mut hits, p.concept, zh_negated(&u.chars, start, start + n), true);
                }
            }
            self.zh_sites(u, &claimed, &mut hits, &push);
        }
        let tokens = u.token_refs();
        if tokens.iter().any(|t| t.chars().any(|c| c.is_ascii_alphabetic())) {
            let mut claimed = vec![false; tokens.len()];
            for p in &self.en {
                // As in Mandarin, a gapped pattern ("pregnant ~ bleeding") spans other words; it
                // neither needs nor takes the span, so "pregnant" is still a finding of its own.
                let gapped = p.tokens.iter().any(|t| matches!(t, EnToken::Gap));
                for start in 0..tokens.len() {
                    if claimed[start] && !gapped {
                        continue;
                    }
                    let Some(end) = Self::en_at(p, &tokens, start) else { continue };
                    if gapped {
                        push(&mut hits, p.concept, en_negated(&tokens, start), false);
                    } else if !claimed[start..end].iter().any(|c| *c) {
                        claimed[start..end].iter_mut().for_each(|c| *c = true);
                        push(&mut hits, p.concept, en_negated(&tokens, start), false);
                    }
                }
            }
            self.en_sites(&tokens, &claimed, &mut hits, &push);
        }
        if let Some(bp) = numbers::blood_pressure(&u.chars, &tokens) {
            let (raised, crisis) = self.bp_concepts;
            if let Some(concept) = raised.filter(|_| bp.is_raised()) {
                push(&mut hits, concept, false, false);
            }
            if let Some(concept) = crisis.filter(|_| bp.is_crisis()) {
                push(&mut hits, concept, false, false);
            }
        }
        hits
    }

    fn zh_sites(
        &self,
        u: &Utterance,
        claimed: &[bool],
        hits: &mut Vec<ConceptHit>,
        push: &impl Fn(&mut Vec<ConceptHit>, usize, bool, bool),
    ) {
        for site in &self.sites {
            if hits.iter().any(|h| h.concept == self.concept_ids[site.concept]) {
                continue;
            }
            let feelings: &[&str] = match site.feeling {
                crate::kb::Feeling::Pain => {
                    &["疼", "痛", "不舒服", "不太舒服", "难受", "不适", "酸", "辣", "灼"]
                }
                crate::kb::Feeling::Tight => &["闷", "发紧", "紧", "压"],
                crate::kb::Feeling::Swollen => &["肿"],
                // Not a bare 麻: 麻烦 is trouble.
                crate::kb::Feeling::Numb => {
                    &["麻了", "发麻", "麻木", "麻得", "麻的", "麻酥", "发木", "木了", "没知觉", "没感觉"]
                }
                crate::kb::Feeling::Rigid => &[
                    "硬得像",
                    "像木板",
                    "像板",
                    "板一样",
                    "硬邦邦",
                    "碰都不能碰",
                    "碰都碰不得",
                    "摸都不让摸",
                ],
            };
            'words: for word in &site.zh {
                let n = word.len();
                for start in 0..u.chars.len().saturating_sub(n - 1) {
                    if u.chars[start..start + n] != word[..] || claimed[start..start + n].iter().any(|c| *c) {
                        continue;
                    }
                    if inside_other_word(&u.chars, start) {
                        continue;
                    }
                    let window_end = (start + n + SITE_WINDOW + 2).min(u.chars.len());
                    let window: Vec<char> = u.chars[start + n..window_end]
                        .iter()
                        .take_while(|c| !is_clause_break(**c))
                        .copied()
                        .collect();
                    let free_feeling_at = |from: usize, window: &[char]| {
                        feelings.iter().any(|f| {
                            let fc: Vec<char> = f.chars().collect();
                            (0..window.len()).any(|i| {
                                window.get(i..i + fc.len()) == Some(&fc[..])
                                    && !claimed[from + i..from + i + fc.len()].iter().any(|c| *c)
                            })
                        })
                    };
                    // Spoken Mandarin carries its topic over a comma: in "手腕戳了，现在肿着" the
                    // swelling is the wrist's. The next clause counts when it names no body part
                    // of its own, and the site's clause names no symptom ("腰上长了一圈小水泡，
                    // 火烧一样疼" is the blisters' pain).
                    let next_clause = || {
                        let brk = start + n + window.len();
                        if !u.chars.get(brk).is_some_and(|c| matches!(c, '，' | ',')) {
                            return false;
                        }
                        let own =
                            u.chars[..start].iter().rposition(|c| is_clause_break(*c)).map_or(0, |i| i + 1);
                        if claimed[own..brk].iter().any(|c| *c) {
                            return false;
                        }
                        let from = brk + 1;
                        let clause: Vec<char> = u.chars[from..]
                            .iter()
                            .take_while(|c| !is_clause_break(**c))
                            .take(SITE_WINDOW + 2)
                            .copied()
                            .collect();
                        let names_a_site =
                            self.sites.iter().flat_map(|s| &s.zh).any(|w| {
                                (0..clause.len()).any(|i| clause.get(i..i + w.len()) == Some(&w[..]))
                            });
                        !names_a_site && free_feeling_at(from, &clause)
                    };
                    if free_feeling_at(start + n, &window) || next_clause() {
                        push(hits, site.concept, zh_negated(&u.chars, start, start + n), false);
                        break 'words;
                    }
                }
            }
        }
    }

    fn en_sites(
        &self,
        tokens: &[&str],
        claimed: &[bool],
        hits: &mut Vec<ConceptHit>,
        push: &impl Fn(&mut Vec<ConceptHit>, usize, bool, bool),
    ) {
        let stems: Vec<String> = tokens.iter().map(|t| stem(t)).collect();
        for site in &self.sites {
            if hits.iter().any(|h| h.concept == self.concept_ids[site.concept]) {
                continue;
            }
            let feelings: &[&str] = match site.feeling {
                crate::kb::Feeling::Pain => &[
                    "pain",
                    "painful",
                    "hurt",
                    "ach",
                    "achy",
                    "sor",
                    "cramp",
                    "tender",
                    "burn",
                    "sting",
                    "throb",
                    "agony",
                    "excruciat",
                ],
                crate::kb::Feeling::Tight => {
                    &["tight", "tightnes", "heavy", "heavines", "pressur", "squeez", "crush"]
                }
                crate::kb::Feeling::Swollen => &["swollen", "swell", "puffy"],
                crate::kb::Feeling::Numb => &["numb", "numbnes", "tingl", "tingly", "dead"],
                crate::kb::Feeling::Rigid => &["rigid"],
            };
            'tokens: for (j, s) in stems.iter().enumerate() {
                // "at the back (of)" says where, not the back: "a tooth at the back", "at the back
                // of my head".
                if !site.en.contains(s) || (j >= 2 && tokens[j - 2] == "at" && tokens[j - 1] == "the") {
                    continue;
                }
                let determined = (1..=2).any(|d| j >= d && EN_SITE_DETERMINERS.contains(&tokens[j - d]));
                let lo = j.saturating_sub(SITE_WINDOW);
                let hi = (j + SITE_WINDOW + 1).min(tokens.len());
                for k in lo..hi {
                    if k == j || claimed[k] || claimed[j] || !feelings.contains(&stems[k].as_str()) {
                        continue;
                    }
                    let (a, b) = (k.min(j), k.max(j));
                    if tokens[a..b].contains(&",") {
                        continue;
                    }
                    if determined || b - a == 1 {
                        push(hits, site.concept, en_negated(tokens, a), false);
                        break 'tokens;
                    }
                }
            }
        }
    }
}

/// Whether `chars[start]` is the second character of a word that is not about the body (the 头 of
/// 骨头疼 "bone pain" is not the 头 of 头疼 "headache").
fn inside_other_word(chars: &[char], start: usize) -> bool {
    ZH_SITE_EXCLUSIONS.iter().any(|x| {
        let xc: Vec<char> = x.chars().collect();
        (1..xc.len())
            .any(|off| start >= off && chars.get(start - off..start - off + xc.len()) == Some(&xc[..]))
    })
}

/// A digit or a Mandarin numeral character.
fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || "零一二两三四五六七八九十百千万半几".contains(c)
}

fn is_clause_break(c: char) -> bool {
    matches!(c, '，' | ',' | '。' | '.' | '；' | ';' | '！' | '!' | '？' | '?')
}

/// Mandarin clause boundaries: punctuation and contrastive conjunctions.
fn zh_clause_start(chars: &[char], before: usize) -> usize {
    const BREAKS: &[&str] = &["但是", "可是", "不过", "就是", "只是", "但", "而且", "还有", "另外"];
    let mut start = 0;
    for i in (0..before).rev() {
        if matches!(chars[i], '，' | ',' | '。' | '.' | '；' | ';' | '！' | '!' | '？' | '?' | ' ') {
            start = i + 1;
            break;
        }
    }
    let clause: String = chars[start..before].iter().collect();
    let mut offset = 0;
    for b in BREAKS {
        if let Some(pos) = clause.rfind(b) {
            let after = clause[..pos].chars().count() + b.chars().count();
            offset = offset.max(after);
        }
    }
    start + offset
}

/// Whether the concept at `start..end` is denied: a negator earlier in its clause (没有发烧, 不咳嗽,
/// 否认胸痛), not cancelled by an affirmative after it (没有发烧，有咳嗽 is split by the comma), or
/// a negator straight after it (出汗没有).
fn zh_negated(chars: &[char], start: usize, end: usize) -> bool {
    let clause_start = zh_clause_start(chars, start);
    let before: String = chars[clause_start..start].iter().collect();
    // Uncertainty is not denial: 不知道有没有发烧, 不清楚.
    if ["不知道", "不清楚", "不确定", "说不清", "不太清楚", "有没有"].iter().any(|u| before.contains(u))
    {
        return false;
    }
    const NEGATORS: &[&str] = &["没有", "没", "无", "不", "否认", "未", "从不", "从来没"];
    // Words that contain 不/没/无 but do not deny what follows.
    const NOT_NEGATORS: &[&str] = &[
        "不舒服",
        "不好",
        "不行",
        "不停",
        "不了",
        "不住",
        "受不了",
        "不少",
        "无力",
        "不对劲",
        "不得了",
        "了不起",
        "没事",
    ];
    let mut cleaned = before.clone();
    for w in NOT_NEGATORS {
        cleaned = cleaned.replace(w, "");
    }
    if NEGATORS.iter().any(|n| cleaned.contains(n)) {
        // An affirmative between the negator and the concept resets it: 没发烧但是有咳嗽 is split
        // above; 不知道 handled; 有 right before the concept after a negator ("没有...有") is rare.
        return true;
    }
    let after: String = chars[end..chars.len().min(end + 3)].iter().collect();
    if after.starts_with("没有") || after.starts_with("没") && !after.starts_with("没事") {
        return true;
    }
    // The record's own style: 过敏史：无。 发热：无， (but not 无力, 无法).
    let rest: String =
        chars[end..].iter().skip_while(|c| matches!(c, '史' | '：' | ':' | ' ')).take(2).collect();
    let mut rest = rest.chars();
    rest.next() == Some('无') && rest.next().is_none_or(|c| !is_han(c))
}

/// English negation: a negator earlier in the clause within a few words, not cancelled by an
/// affirmative ("I don't have a fever, I have a cough"; "no fever or chills").
fn en_negated(tokens: &[&str], start: usize) -> bool {
    const NEGATORS: &[&str] = &[
        "no", "not", "never", "without", "denies", "deny", "dont", "doesnt", "didnt", "havent", "hasnt",
        "isnt", "arent", "wasnt", "werent", "none", "nor", "neither", "nope", "nothing",
    ];
    const BREAKS: &[&str] = &[",", "but", "although", "though", "however", "except", "and i", "yet"];
    const AFFIRM: &[&str] = &["have", "has", "got", "is", "am", "feel", "feels"];
    let mut i = start;
    // The window restarts at each list comma: "denies palpitations, shortness of breath, sweating".
    let mut anchor = start;
    let mut seen_affirm = false;
    while i > 0 && anchor - i < EN_NEGATION_WINDOW {
        i -= 1;
        let t = tokens[i];
        if BREAKS.contains(&t) && t != "," {
            return false;
        }
        if t == "," {
            // "no fever, cough or chills" keeps the denial across a list comma when the word after
            // the comma is the concept itself or a list word; a new clause ("..., i have") stops it.
            let next = tokens.get(i + 1).copied().unwrap_or("");
            if matches!(
                next,
                "i" | "im"
                    | "ive"
                    | "id"
                    | "it"
                    | "its"
                    | "but"
                    | "and"
                    | "my"
                    | "the"
                    | "he"
                    | "hes"
                    | "she"
                    | "shes"
                    | "there"
                    | "we"
                    | "weve"
                    | "they"
                    | "theyve"
                    | "you"
                    | "so"
            ) {
                return false;
            }
            anchor = i;
            continue;
        }
        if NEGATORS.contains(&t) {
            // "don't know" is uncertainty, not denial.
            if tokens.get(i + 1).is_some_and(|n| matches!(*n, "know" | "sure" | "remember" | "think")) {
                return false;
            }
            // "I do not have a fever": the affirmative after "not" is still denied.
            return !seen_affirm
                || matches!(t, "dont" | "doesnt" | "didnt" | "havent" | "hasnt")
                || matches!(t, "not" | "never")
                    && tokens.get(i + 1).is_some_and(|n| matches!(*n, "have" | "has" | "got" | "had"));
        }
        if AFFIRM.contains(&t) {
            seen_affirm = true;
        }
        if matches!(t, "not") {
            return true;
        }
    }
    false
}

/// A confirmation anywhere in the answer ("你对的没错" with a misheard first word, "yes, that's
/// all correct"), when nothing in it asks for a change.
pub fn affirms(u: &Utterance) -> bool {
    let text = u.text();
    let tokens = u.token_refs();
    const ZH_NEG: &[&str] = &["不对", "不是", "错了", "不正确", "有错", "要改", "修改", "改一下", "不行"];
    const EN_NEG: &[&str] = &["no", "not", "wrong", "incorrect", "change", "isnt", "thats not"];
    const ZH_POS: &[&str] = &["对的", "对", "没错", "正确", "是的", "没问题", "可以"];
    const EN_POS: &[&str] = &["yes", "yeah", "yep", "right", "correct", "fine"];
    let negated = ZH_NEG.iter().any(|w| text.contains(w)) || tokens.iter().any(|t| EN_NEG.contains(t));
    let affirmed = ZH_POS.iter().any(|w| text.contains(w)) || tokens.iter().any(|t| EN_POS.contains(t));
    affirmed && !negated
}

/// Yes, no or don't know, from the start of an answer.
pub fn yes_no(u: &Utterance) -> Option<YesNo> {
    let text = u.text();
    let text = text.trim_start_matches(|c: char| !c.is_alphanumeric() && !is_han(c));
    const ZH_UNKNOWN: &[&str] = &[
        "不知道",
        "不清楚",
        "不太清楚",
        "说不清",
        "不确定",
        "没注意",
        "记不清",
        "不记得",
        "不太确定",
        "不好说",
    ];
    const ZH_NO: &[&str] =
        &["没有", "没", "不是", "不会", "不", "无", "否", "从来没有", "一点也没有", "都没有"];
    const ZH_YES: &[&str] = &[
        "有",
        "是",
        "对",
        "嗯",
        "会",
        "好",
        "确实",
        "没错",
        "肯定",
        "可能有",
        "有点",
        "有一点",
        "疼",
        "当然",
        "行",
        "可以",
    ];
    if ZH_UNKNOWN.iter().any(|w| text.contains(w)) {
        return Some(YesNo::Unknown);
    }
    if ZH_NO.iter().any(|w| text.starts_with(w)) && !text.starts_with("没错") && !text.starts_with("不错")
    {
        return Some(YesNo::No);
    }
    if ZH_YES.iter().any(|w| text.starts_with(w)) || text.starts_with("没错") {
        return Some(YesNo::Yes);
    }
    let tokens = u.token_refs();
    let joined = format!(" {} ", tokens.iter().filter(|t| **t != ",").copied().collect::<Vec<_>>().join(" "));
    const EN_UNKNOWN: &[&str] = &[
        " not sure ",
        " dont know ",
        " unsure ",
        " no idea ",
        " cant say ",
        " dont remember ",
        " not certain ",
        " maybe ",
        " cant remember ",
        " i dont really know ",
    ];
    if EN_UNKNOWN.iter().any(|w| joined.contains(w)) {
        return Some(YesNo::Unknown);
    }
    let first = tokens.iter().copied().find(|t| *t != ",").unwrap_or("");
    let first_two = joined.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    const EN_NO: &[&str] = &["no", "nope", "nah", "never", "none", "negative", "neither"];
    const EN_NO_2: &[&str] = &[
        "not really",
        "i dont",
        "i havent",
        "i am not",
        "im not",
        "it doesnt",
        "it isnt",
        "i didnt",
        "not at",
        "i wasnt",
        "she doesnt",
        "he doesnt",
        "she hasnt",
        "he hasnt",
        "there isnt",
        "it wasnt",
    ];
    if EN_NO.contains(&first)
        || EN_NO_2.iter().any(|w| first_two.starts_with(w) || joined.starts_with(&format!(" {w} ")))
    {
        return Some(YesNo::No);
    }
    const EN_YES: &[&str] = &[
        "yes",
        "yeah",
        "yep",
        "yup",
        "yea",
        "sure",
        "correct",
        "right",
        "definitely",
        "absolutely",
        "indeed",
        "ok",
        "okay",
        "affirmative",
        "uh",
        "mhm",
        "true",
        "exactly",
    ];
    const EN_YES_2: &[&str] = &[
        "i do",
        "i have",
        "i am",
        "im",
        "it does",
        "it is",
        "a little",
        "a bit",
        "i did",
        "i was",
        "she does",
        "he does",
        "she has",
        "he has",
        "there is",
        "that is",
        "thats right",
        "i think so",
        "it has",
        "i guess",
    ];
    if EN_YES.contains(&first) || EN_YES_2.iter().any(|w| joined.starts_with(&format!(" {w} "))) {
        return Some(YesNo::Yes);
    }
    None
}

/// Sex from an answer to "male or female?" (`direct`) or from words about the patient.
pub fn sex(u: &Utterance, direct: bool) -> Option<Sex> {
    let text = u.text();
    let tokens = u.token_refs();
    let has = |w: &[&str]| tokens.iter().any(|t| w.contains(t));
    const ZH_F_PROXY: &[&str] = &[
        "女儿",
        "闺女",
        "妈妈",
        "母亲",
        "我妈",
        "老婆",
        "妻子",
        "媳妇",
        "奶奶",
        "外婆",
        "姥姥",
        "姐姐",
        "妹妹",
        "孙女",
        "外孙女",
        "女孩",
        "女宝",
    ];
    const ZH_M_PROXY: &[&str] = &[
        "儿子", "爸爸", "父亲", "我爸", "老公", "丈夫", "爷爷", "外公", "姥爷", "哥哥", "弟弟", "孙子",
        "外孙", "男孩", "男宝",
    ];
    let zh_f = ZH_F_PROXY.iter().any(|w| text.contains(w))
        || (direct && (text.contains('女') || text.contains('她')));
    let zh_m = ZH_M_PROXY.iter().any(|w| text.contains(w))
        || (direct && (text.contains('男') || text.contains('他')));
    const EN_F: &[&str] = &[
        "female",
        "woman",
        "girl",
        "daughter",
        "mother",
        "mom",
        "mum",
        "wife",
        "grandmother",
        "grandma",
        "sister",
        "lady",
        "granddaughter",
    ];
    const EN_M: &[&str] = &[
        "male",
        "man",
        "boy",
        "son",
        "father",
        "dad",
        "husband",
        "grandfather",
        "grandpa",
        "brother",
        "gentleman",
        "grandson",
    ];
    let en_f = has(EN_F) || (direct && has(&["she", "her", "f"]));
    // "Male." alone is often heard as "Mail." by speech recognition.
    let en_m = has(EN_M) || (direct && has(&["he", "him", "his", "m", "mail", "males"]));
    match (zh_f || en_f, zh_m || en_m) {
        (true, false) => Some(Sex::Female),
        (false, true) => Some(Sex::Male),
        _ => None,
    }
}

/// Someone answering for the patient: the relation word ("儿子", "my son").
pub fn proxy_relation(u: &Utterance) -> Option<String> {
    let text = u.text();
    const ZH: &[&str] = &[
        "我儿子",
        "我女儿",
        "我孩子",
        "我家孩子",
        "孩子",
        "宝宝",
        "我妈",
        "我爸",
        "我母亲",
        "我父亲",
        "我老婆",
        "我老公",
        "我爱人",
        "我妻子",
        "我丈夫",
        "我爷爷",
        "我奶奶",
        "我外公",
        "我外婆",
        "我姥姥",
        "我姥爷",
        "我孙子",
        "我孙女",
        "我闺女",
        "我家老人",
        "我朋友",
        "我同事",
    ];
    if let Some(w) = ZH.iter().find(|w| text.contains(*w)) {
        return Some(w.trim_start_matches('我').to_owned());
    }
    let tokens = u.token_refs();
    const EN: &[&str] = &[
        "son",
        "daughter",
        "child",
        "kid",
        "baby",
        "mother",
        "mom",
        "mum",
        "father",
        "dad",
        "wife",
        "husband",
        "grandmother",
        "grandma",
        "grandfather",
        "grandpa",
        "partner",
        "friend",
        "grandson",
        "granddaughter",
        "boy",
        "girl",
        "toddler",
        "infant",
        "newborn",
    ];
    for (i, t) in tokens.iter().enumerate() {
        if matches!(*t, "my" | "our")
            && let Some(rel) = tokens.get(i + 1).filter(|r| EN.contains(*r))
        {
            return Some((*rel).to_owned());
        }
    }
    None
}

/// Pregnancy from an answer to "could you be pregnant?" or words in any answer.
pub fn pregnancy(u: &Utterance, hits: &[ConceptHit], direct: bool) -> Option<bool> {
    if let Some(hit) = hits.iter().find(|h| h.concept == "pregnant") {
        return Some(!hit.negated);
    }
    if !direct {
        return None;
    }
    let text = u.text();
    if ["不可能", "不会", "没怀", "没有怀"].iter().any(|w| text.contains(w)) {
        return Some(false);
    }
    match yes_no(u) {
        Some(YesNo::Yes) => Some(true),
        Some(YesNo::No) => Some(false),
        _ => {
            let tokens = u.token_refs();
            if tokens.iter().any(|t| matches!(*t, "impossible" | "menopause" | "postmenopausal"))
                || text.contains("绝经")
            {
                Some(false)
            } else {
                None
            }
        }
    }
}

/// A duration anywhere in the utterance.
pub fn duration(u: &Utterance) -> Option<DurationValue> {
    if u.has_han()
        && let Some(d) = numbers::zh_duration(&u.text())
    {
        return Some(d);
    }
    numbers::en_duration(&u.token_refs())
}

/// An age in days.
pub fn age_days(u: &Utterance, expecting: bool) -> Option<f64> {
    let tokens = u.token_refs();
    numbers::zh_age(&u.text(), expecting && u.has_han())
        .or_else(|| numbers::en_age(&tokens, expecting))
        .or_else(|| if expecting { numbers::zh_age(&u.text(), true) } else { None })
        .filter(|d| (0.0..=130.0 * 365.25).contains(d))
}

/// A temperature in Celsius.
pub fn temperature(u: &Utterance, expecting: bool) -> Option<f32> {
    numbers::temperature(&u.chars, &u.token_refs(), expecting)
}

/// A 0-10 rating.
pub fn rating(u: &Utterance, expecting: bool) -> Option<u8> {
    numbers::rating(&u.chars, &u.token_refs(), expecting)
}

/// Whether an answer says "nothing" (for history, medications, allergies: 否认).
pub fn denies_all(u: &Utterance) -> bool {
    let text = u.text();
    let t = text.trim().trim_end_matches(['。', '.', '!', '！']);
    const ZH: &[&str] = &[
        "没有",
        "没",
        "无",
        "都没有",
        "没什么",
        "没啥",
        "不吃",
        "没吃",
        "没有过敏",
        "没过敏",
        "否认",
        "健康",
        "一直很健康",
        "身体挺好",
    ];
    const EN: &[&str] = &[
        "none",
        "no",
        "nothing",
        "nope",
        "no medicines",
        "no medication",
        "not taking anything",
        "no allergies",
        "none that i know of",
        "no known allergies",
        "healthy",
        "nothing regular",
        "no i dont",
        "no i havent",
        "no none",
    ];
    if ZH.iter().any(|w| t == *w || t.starts_with(&format!("{w}，")) || t.starts_with(&format!("{w},"))) {
        return true;
    }
    let joined = u.token_refs().into_iter().filter(|t| *t != ",").collect::<Vec<_>>().join(" ");
    EN.iter().any(|w| joined == *w || joined.starts_with(&format!("{w} "))) && !joined.contains(" but ")
        || (matches!(yes_no(u), Some(YesNo::No)) && u.tokens.len() <= 3 && u.chars.len() <= 12)
}

/// Pain character words volunteered in an opening ("crushing chest pain", "胸口压榨样疼").
pub fn character_words(u: &Utterance, lang: Lang) -> Option<String> {
    const ZH: &[&str] = &[
        "压榨样",
        "压着疼",
        "闷痛",
        "刺痛",
        "针扎样",
        "烧灼样",
        "火辣辣",
        "绞痛",
        "胀痛",
        "隐痛",
        "钝痛",
        "撕裂样",
        "跳痛",
        "酸痛",
        "刀割样",
        "抽痛",
        "像压了块石头",
        "像压了石头",
    ];
    const EN: &[&str] = &[
        "crushing",
        "pressure",
        "squeezing",
        "sharp",
        "stabbing",
        "burning",
        "dull",
        "aching",
        "achy",
        "cramping",
        "cramp",
        "throbbing",
        "pounding",
        "tearing",
        "shooting",
        "tight",
        "heavy",
        "colicky",
        "gnawing",
    ];
    let _ = lang;
    let text = u.text();
    if let Some(w) = ZH.iter().find(|w| text.contains(*w)) {
        return Some((*w).to_owned());
    }
    let tokens = u.token_refs();
    tokens.iter().find(|t| EN.contains(*t)).map(|t| (*t).to_owned())
}

/// Where a symptom is, when an opening says so ("右下腹疼", "pain in my lower right side").
pub fn location_words(u: &Utterance) -> Option<String> {
    const ZH_SIDES: &[&str] = &[
        "左下腹",
        "右下腹",
        "左上腹",
        "右上腹",
        "上腹部",
        "下腹部",
        "上腹",
        "下腹",
        "肚脐周围",
        "小肚子",
        "心窝",
        "胸口正中",
        "胸骨后",
        "左胸",
        "右胸",
        "后背",
        "腰部",
        "左侧",
        "右侧",
        "左边",
        "右边",
        "前额",
        "太阳穴",
        "后脑勺",
        "头顶",
        "左眼",
        "右眼",
        "左耳",
        "右耳",
        "左膝",
        "右膝",
        "左脚",
        "右脚",
        "左手",
        "右手",
    ];
    let text = u.text();
    if let Some(w) = ZH_SIDES.iter().find(|w| text.contains(*w)) {
        return Some((*w).to_owned());
    }
    let tokens = u.token_refs();
    const EN_SIDES: &[&str] =
        &["left", "right", "upper", "lower", "middle", "centre", "center", "behind", "front", "back"];
    const EN_PARTS: &[&str] = &[
        "side", "chest", "abdomen", "belly", "stomach", "tummy", "head", "forehead", "temple", "eye", "ear",
        "knee", "ankle", "wrist", "shoulder", "hip", "foot", "leg", "arm", "quadrant",
    ];
    for (i, t) in tokens.iter().enumerate() {
        if EN_SIDES.contains(t) {
            let window: Vec<&str> = tokens[i..tokens.len().min(i + 4)].to_vec();
            if let Some(part) = window.iter().skip(1).find(|w| EN_PARTS.contains(*w)) {
                let end = window.iter().position(|w| w == part).unwrap_or(0);
                return Some(window[..=end].join(" "));
            }
        }
    }
    None
}

/// Timing words ("一阵一阵", "comes and goes", "all the time").
pub fn timing_words(u: &Utterance) -> Option<String> {
    const ZH: &[&str] = &["一阵一阵", "阵发", "时好时坏", "一直", "持续", "断断续续", "反复"];
    const EN: &[&str] = &[
        "comes and goes",
        "on and off",
        "all the time",
        "constant",
        "constantly",
        "intermittent",
        "off and on",
        "every few minutes",
        "waves",
    ];
    let text = u.text();
    if let Some(w) = ZH.iter().find(|w| text.contains(*w)) {
        return Some((*w).to_owned());
    }
    let joined = format!(" {} ", u.token_refs().join(" "));
    EN.iter().find(|w| joined.contains(&format!(" {w} "))).map(|w| (*w).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> (Analyzer, KnowledgeBase) {
        let kb = KnowledgeBase::embedded().expect("kb");
        (Analyzer::new(&kb), kb)
    }

    fn found(a: &Analyzer, text: &str) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> =
            a.concepts(&Utterance::new(text)).into_iter().map(|h| (h.concept, h.negated)).collect();
        v.sort();
        v
    }

    fn has(a: &Analyzer, text: &str, concept: &str, negated: bool) -> bool {
        found(a, text).contains(&(concept.to_owned(), negated))
    }

    #[test]
    fn mandarin_concepts_and_negation() {
        let (a, _) = analyzer();
        assert!(has(&a, "胸口疼了两个小时，出了一身冷汗", "chest_pain", false));
        assert!(has(&a, "胸口疼了两个小时，出了一身冷汗", "sweating", false));
        assert!(has(&a, "没有发烧，但是咳嗽", "fever", true));
        assert!(has(&a, "没有发烧，但是咳嗽", "cough", false));
        assert!(has(&a, "不发烧也不咳嗽", "cough", true));
        assert!(has(&a, "否认胸痛", "chest_pain", true));
        assert!(has(&a, "出汗没有", "sweating", true));
        assert!(has(&a, "我肚子不舒服，有点恶心", "nausea", false));
        assert!(has(&a, "不知道有没有发烧", "fever", false));
    }

    #[test]
    fn recognition_homophones_match_by_sound() {
        let (a, _) = analyzer();
        assert!(has(&a, "我头腾了三天", "headache", false), "疼 -> 腾");
        assert!(has(&a, "一直可受", "cough", false), "咳嗽 -> 可受");
        assert!(has(&a, "有弹，黄色的", "sputum", false), "痰 -> 弹");
        let hits = a.concepts(&Utterance::new("我头腾了三天"));
        assert!(hits.iter().any(|h| h.concept == "headache" && h.by_sound));
    }

    #[test]
    fn english_concepts_and_negation() {
        let (a, _) = analyzer();
        assert!(has(&a, "I've had crushing chest pain and I'm sweating", "chest_pain", false));
        assert!(has(&a, "I've had crushing chest pain and I'm sweating", "sweating", false));
        assert!(has(&a, "No fever, cough or chills", "cough", true));
        assert!(has(&a, "No fever, cough or chills", "chills", true));
        assert!(has(&a, "I don't have a fever, I have a cough", "fever", true));
        assert!(has(&a, "I don't have a fever, I have a cough", "cough", false));
        assert!(has(&a, "I'm not feeling well and have been vomiting", "vomiting", false));
        assert!(has(&a, "she has been vomiting but no diarrhea", "diarrhoea", true));
        assert!(has(&a, "I can't breathe", "shortness_of_breath", false));
        assert!(has(&a, "I don't know if I had a fever", "fever", false));
        assert!(has(&a, "He does not have shortness of breath or sweating", "sweating", true));
        assert!(has(&a, "既往史无，过敏史无。", "allergic_reaction", true));
        assert!(has(&a, "发热：无", "fever", true));
        assert!(!has(&a, "发热无力", "fever", true));
        assert!(has(&a, "Denies palpitations, shortness of breath, sweating", "sweating", true));
    }

    #[test]
    fn yes_no_variants() {
        let cases = [
            ("有，出汗", YesNo::Yes),
            ("有一点", YesNo::Yes),
            ("是的", YesNo::Yes),
            ("没有", YesNo::No),
            ("不是", YesNo::No),
            ("不太清楚", YesNo::Unknown),
            ("不知道", YesNo::Unknown),
            ("Yes, I have been sweating", YesNo::Yes),
            ("yeah a bit", YesNo::Yes),
            ("No, not at all", YesNo::No),
            ("I don't think so", YesNo::No),
            ("I'm not sure", YesNo::Unknown),
            ("Nope", YesNo::No),
            ("I do", YesNo::Yes),
            ("没错", YesNo::Yes),
        ];
        for (text, want) in cases {
            assert_eq!(yes_no(&Utterance::new(text)), Some(want), "{text}");
        }
    }

    #[test]
    fn who_and_what() {
        let u = Utterance::new("My son is two and has had a fever since yesterday");
        assert_eq!(proxy_relation(&u).as_deref(), Some("son"));
        assert_eq!(sex(&u, false), Some(Sex::Male));
        assert_eq!(age_days(&u, false).map(|d| (d / 365.25).round()), Some(2.0));
        assert_eq!(duration(&u).map(|d| d.hours), Some(24.0));
        let u = Utterance::new("我女儿三个月大，发烧了");
        assert_eq!(proxy_relation(&u).as_deref(), Some("女儿"));
        assert_eq!(sex(&u, false), Some(Sex::Female));
        assert_eq!(age_days(&u, false).map(|d| (d / 30.44).round()), Some(3.0));
        assert_eq!(sex(&Utterance::new("女"), true), Some(Sex::Female));
        assert_eq!(sex(&Utterance::new("male"), true), Some(Sex::Male));
        assert_eq!(sex(&Utterance::new("female"), true), Some(Sex::Female));
        assert!(denies_all(&Utterance::new("没有")));
        assert!(denies_all(&Utterance::new("None")));
        assert!(!denies_all(&Utterance::new("高血压，吃氨氯地平")));
    }

    #[test]
    fn free_phrasing_by_site_stem_gap_and_filler() {
        let (a, _) = analyzer();
        assert!(has(&a, "my stomach really hurts", "abdominal_pain", false));
        assert!(has(&a, "I have bad pain low in my tummy", "abdominal_pain", false));
        assert!(has(&a, "头有点胀痛", "headache", false));
        assert!(has(&a, "一走路胸口就闷", "chest_tightness", false));
        assert!(has(&a, "my lips are swollen and my throat feels tight", "throat_swelling", false));
        assert!(has(&a, "my heart has been racing", "palpitations", false));
        assert!(has(&a, "it burns when I pee", "dysuria", false));
        assert!(has(&a, "I splashed bleach in my eye", "eye_injury", false));
        assert!(has(&a, "我来开降压药", "medication_refill", false));
        assert!(has(&a, "头痛得很厉害，脖子很硬", "stiff_neck", false));
        assert!(has(&a, "大便是黑的", "black_stool", false));
        assert!(has(&a, "the room spins when I roll over", "dizziness", false));
        assert!(has(&a, "my lips look a bit blue", "cyanosis", false));
        assert!(
            !has(&a, "I'm 12 weeks pregnant and I'm bleeding.", "heavy_bleeding", false),
            "bleeding alone is not heavy"
        );
        assert!(has(&a, "我最近觉得没有活下去的必要了", "suicidal_thoughts", false));
        assert!(!has(&a, "小腿红肿发热", "leg_swelling", false), "红肿 is inflammation, not oedema");
        assert!(!has(&a, "骨头疼", "headache", false), "骨头 is bone, not head");
        assert!(!has(&a, "I came back home and the pain started", "back_pain", false));
        assert!(!has(&a, "a tooth at the back is throbbing", "back_pain", false), "where, not the back");
        assert!(has(&a, "a tooth at the back is throbbing", "toothache", false));
        assert!(has(&a, "I have a pain in the back", "back_pain", false));
    }

    #[test]
    fn everyday_words_for_common_symptoms() {
        let (a, _) = analyzer();
        for (text, concept) in [
            ("I've been chucking up since breakfast", "vomiting"),
            ("I keep retching", "nausea"),
            ("he has the trots", "diarrhoea"),
            ("I can't go number two", "constipation"),
            ("my face went floppy on one side", "face_droop"),
            ("I'm parched all the time", "polydipsia"),
            ("I keeled over in the kitchen", "fainting"),
            ("it stings when I wee", "dysuria"),
            ("a barking cough at night", "cough"),
            ("吐个不停", "vomiting"),
            ("三天没上大号了", "constipation"),
            ("开水不小心泼到脚上", "burn"),
            ("后槽牙疼了两天", "toothache"),
            ("刚才眼前一黑", "fainting"),
            ("整夜睡不着", "insomnia"),
            ("老是渴得厉害", "polydipsia"),
            ("他从楼梯上摔下来了", "fall"),
            ("他嘴角突然歪了", "face_droop"),
            ("his mouth suddenly went crooked", "face_droop"),
            ("说话含含糊糊的", "speech_difficulty"),
            ("her words came out all mushy", "speech_difficulty"),
            ("脑袋昏昏沉沉的", "dizziness"),
            ("头晕晕的", "dizziness"),
            ("一起来就晕晕乎乎", "dizziness"),
        ] {
            assert!(has(&a, text, concept, false), "{text} -> {concept}");
        }
        // A burn is an injury, not a burning feeling.
        assert!(has(&a, "I burned my finger on the kettle", "burn", false));
        assert!(has(&a, "she has burns on her arm", "burn", false));
        assert!(has(&a, "the baby was scalded by hot tea", "burn", false));
        assert!(!has(&a, "I'm going to the loo every hour and it burns", "burn", false));
        assert!(!has(&a, "I get a burning feeling in my chest after meals", "burn", false));
        // A hard, tender belly is a surgical sign; being afraid to move an arm is not.
        assert!(has(&a, "肚子硬得像板，碰一下都疼", "rigid_abdomen", false));
        assert!(!has(&a, "从梯子上摔下来，胳膊不敢动", "rigid_abdomen", false));
        assert!(!has(&a, "I hurt my back and can't stand up straight", "rigid_abdomen", false));
        // Words that look alike but say something else.
        assert!(!has(&a, "my bandage is soaked through", "sweating", false));
        assert!(!has(&a, "my nose is bunged up", "constipation", false));
        assert!(!has(&a, "腿没知觉了", "fainting", false));
        // An itch or a scratch at the throat or the eye belongs to that organ, not to the skin.
        assert!(has(&a, "晚上嗓子一痒就咳", "cough", false));
        assert!(has(&a, "嗓子有点痒", "cough", false));
        assert!(!has(&a, "嗓子有点痒", "itching", false));
        assert!(has(&a, "I've had a tickly throat for a week", "cough", false));
        assert!(has(&a, "my eyes feel gritty", "eye_pain", false));
        // Pain on swallowing told as a comparison is a sore throat.
        assert!(has(&a, "it's like swallowing knives", "sore_throat", false));
        assert!(has(&a, "I rolled my ankle playing football", "joint_pain", false));
        // Doubled words that are words of their own stay whole.
        assert!(has(&a, "宝宝发烧了", "fever", false));
        assert_eq!(Utterance::new("宝宝爸爸说他天天头晕晕的").text(), "宝宝爸爸说他天天头晕的");
        assert_eq!(Utterance::new("说话含含糊糊，反反复复").text(), "说话含糊，反复");
    }

    #[test]
    fn colloquial_fever_fits_and_idioms() {
        let (a, _) = analyzer();
        // 烧 alone is how parents speak of a fever; a burn needs an object.
        assert!(has(&a, "孩子半夜又烧起来了", "fever", false));
        assert!(has(&a, "烧到三十九度多", "fever", false));
        assert!(has(&a, "这两天一直烧", "fever", false));
        assert!(!has(&a, "手被火烧伤了", "fever", false));
        // A fit told by what was seen.
        assert!(has(&a, "他突然倒地翻白眼", "seizure", false));
        assert!(has(&a, "女儿手脚一直在抽", "seizure", false));
        assert!(has(&a, "they found him shaking on the floor", "seizure", false));
        assert!(has(&a, "he bit his tongue and wet himself", "seizure", false));
        assert!(!has(&a, "我刚抽完血", "seizure", false));
        // Eyes rolling up are no stomach turning, and 堵得慌 (feeling oppressed) is no racing heart.
        assert!(!has(&a, "眼睛往上翻", "nausea", false));
        assert!(has(&a, "胃里一阵一阵往上翻", "nausea", false));
        assert!(!has(&a, "心里堵得慌", "palpitations", false));
        assert!(has(&a, "心里有点慌", "palpitations", false));
        assert!(has(&a, "最近老想哭", "low_mood", false));
        // A burning stomach is a stomach complaint; period pain told with the belly between.
        assert!(has(&a, "胃里火辣辣的", "abdominal_pain", false));
        assert!(has(&a, "一来例假肚子就绞着疼", "period_pain", false));
        assert!(has(&a, "his skin has gone a bit yellow", "jaundice", false));
        assert!(has(&a, "I keep straining on the toilet", "constipation", false));
        // Sound-alike matching is for symptom words: 老是 + 可 is not 老是渴, and leaves 可受 (咳嗽).
        assert!(has(&a, "晚上老是可受", "cough", false));
        assert!(!has(&a, "晚上老是可受", "polydipsia", false));
        assert!(has(&a, "最近老是很渴", "polydipsia", false));
        // British "water" is urine; only broken waters are waters.
        assert!(has(&a, "my water smells awful", "cloudy_urine", false));
        assert!(!has(&a, "my water smells awful", "waters_broken", false));
        assert!(has(&a, "I think my waters have gone", "waters_broken", false));
        assert!(has(&a, "we're expecting our second", "pregnant", false));
        assert!(has(&a, "腹股沟那里鼓了个包", "lump", false));
        assert!(has(&a, "I think I've got a hernia", "lump", false));
        assert!(has(&a, "他有羊角风", "epilepsy_history", false));
        assert!(has(&a, "she keeps repeating herself", "memory_loss", false));
        // A limb that has gone numb, told by the limb; 麻烦 is trouble, not numbness.
        assert!(has(&a, "右边胳膊麻了一天了", "numbness", false));
        assert!(has(&a, "the side of my leg is numb", "numbness", false));
        assert!(!has(&a, "手续太麻烦了", "numbness", false));
        // The topic carries over a comma, unless the next clause names its own body part or the
        // site's clause already named a symptom.
        assert!(has(&a, "打球把手腕戳了，现在肿着", "joint_pain", false));
        assert!(has(&a, "我这个肩膀啊，疼得抬不起来", "joint_pain", false));
        assert!(!has(&a, "腰扭了，腿也疼", "joint_pain", false));
        assert!(!has(&a, "腰上长了一圈小水泡，火烧一样疼", "back_pain", false));
        // A fever that comes back is not a burn (烧上来 sounds like 烧伤).
        assert!(has(&a, "吃了药又烧上来了", "fever", false));
        assert!(!has(&a, "吃了药又烧上来了", "burn", false));
    }

    #[test]
    fn common_words_do_not_match_by_sound() {
        let (a, _) = analyzer();
        assert!(!has(&a, "手上起红疹", "injury", false), "手上 is a word, not 受伤");
        assert!(!has(&a, "腰扭了，疼得动不了", "pregnant", false), "rare readings do not count");
        assert!(!has(&a, "从肚脐周围转到右下腹了", "pregnant", false), "腹 is not 怀");
        assert!(!has(&a, "我最近觉得没有活下去的必要了", "seizure", false), "近觉 straddles two words");
        assert!(!has(&a, "降糖药快吃完了，来开点", "deformity", false), "完了 is not 弯了");
        assert!(!has(&a, "孩子四岁，咳嗽三天", "confusion", false), "四岁 is an age, not 嗜睡");
        assert!(!has(&a, "一天跑了七八趟厕所，拉的都是水", "confusion", false), "是水 is two words");
        assert!(!has(&a, "好几天没解大便了", "burn_large", false), "大便 is a common word, not 大片");
        assert!(has(&a, "孩子一直嗜睡", "confusion", false));
        assert!(has(&a, "My daughter is not herself and has a temperature.", "fever", false));
    }

    #[test]
    fn volunteered_details() {
        assert_eq!(
            location_words(&Utterance::new("pain in my lower right side")).as_deref(),
            Some("lower right side")
        );
        assert_eq!(location_words(&Utterance::new("右下腹疼")).as_deref(), Some("右下腹"));
        assert_eq!(
            character_words(&Utterance::new("crushing chest pain"), Lang::En).as_deref(),
            Some("crushing")
        );
        assert_eq!(timing_words(&Utterance::new("it comes and goes")).as_deref(), Some("comes and goes"));
    }
}

#[cfg(test)]
mod affirm_tests {
    use super::*;

    #[test]
    fn confirmations_are_found_anywhere_unless_something_asks_for_a_change() {
        for yes in ["你对的没错。", "嗯，都对", "Yes, that's all correct.", "that's right"] {
            assert!(affirms(&Utterance::new(yes)), "{yes}");
        }
        for no in ["不对，时间错了", "年龄要改一下", "No, that's wrong.", "not right", "yesterday it started"]
        {
            assert!(!affirms(&Utterance::new(no)), "{no}");
        }
    }

    #[test]
    fn a_misheard_male_is_still_male() {
        assert_eq!(sex(&Utterance::new("Mail."), true), Some(Sex::Male));
        assert_eq!(sex(&Utterance::new("Female."), true), Some(Sex::Female));
    }
}
