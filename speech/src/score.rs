//! Recognition accuracy: word error rate (English) and character error rate (Mandarin), after the
//! normalisation the benchmark and tests share.

/// English normalisation: lower case, punctuation removed, digits spelled out ("10" = "ten").
pub fn normalize_en(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '\'' { c.to_ascii_lowercase() } else { ' ' })
        .collect();
    cleaned
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .flat_map(|w| match w.parse::<u64>() {
            Ok(n) => number_words_en(n).split(' ').map(str::to_owned).collect::<Vec<_>>(),
            Err(_) => vec![w],
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Mandarin normalisation: CJK characters and digits only (punctuation and spaces removed), Arabic
/// numerals read out as Chinese numerals, a few common Traditional forms mapped to Simplified.
pub fn normalize_zh(text: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut Vec<char>| {
        if !digits.is_empty() {
            match digits.parse::<u64>() {
                Ok(n) => out.extend(number_chars_zh(n).chars()),
                Err(_) => out.extend(digits.chars()),
            }
            digits.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        if c.is_alphanumeric() {
            out.push(to_simplified(c).to_ascii_lowercase());
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// Levenshtein distance between token sequences.
pub fn edit_distance<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut cur = vec![0; hypothesis.len() + 1];
    for (i, r) in reference.iter().enumerate() {
        cur[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = prev[j] + usize::from(r != h);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[hypothesis.len()]
}

/// Word error rate of `hypothesis` against `reference` (English normalisation).
pub fn wer(reference: &str, hypothesis: &str) -> f32 {
    let r = normalize_en(reference);
    let h = normalize_en(hypothesis);
    edit_distance(&r, &h) as f32 / r.len().max(1) as f32
}

/// Character error rate of `hypothesis` against `reference` (Mandarin normalisation).
pub fn cer(reference: &str, hypothesis: &str) -> f32 {
    let r = normalize_zh(reference);
    let h = normalize_zh(hypothesis);
    edit_distance(&r, &h) as f32 / r.len().max(1) as f32
}

const EN_ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const EN_TENS: [&str; 10] =
    ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// 0..=999_999 in English words; larger numbers digit by digit.
pub fn number_words_en(n: u64) -> String {
    match n {
        0..=19 => EN_ONES[n as usize].to_owned(),
        20..=99 => {
            let tens = EN_TENS[(n / 10) as usize];
            if n.is_multiple_of(10) {
                tens.to_owned()
            } else {
                format!("{tens} {}", EN_ONES[(n % 10) as usize])
            }
        }
        100..=999 => {
            let rest = n % 100;
            let head = format!("{} hundred", EN_ONES[(n / 100) as usize]);
            if rest == 0 { head } else { format!("{head} {}", number_words_en(rest)) }
        }
        1000..=999_999 => {
            let rest = n % 1000;
            let head = format!("{} thousand", number_words_en(n / 1000));
            if rest == 0 { head } else { format!("{head} {}", number_words_en(rest)) }
        }
        _ => n
            .to_string()
            .chars()
            .map(|d| EN_ONES[d.to_digit(10).unwrap_or(0) as usize])
            .collect::<Vec<_>>()
            .join(" "),
    }
}

const ZH_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// 0..=99_999_999 as Chinese numerals (一百二十, 两 is not used); larger digit by digit.
pub fn number_chars_zh(n: u64) -> String {
    if n >= 100_000_000 {
        return n.to_string().chars().map(|d| ZH_DIGITS[d.to_digit(10).unwrap_or(0) as usize]).collect();
    }
    if n >= 10_000 {
        let high = number_chars_zh(n / 10_000);
        let low = n % 10_000;
        return match low {
            0 => format!("{high}万"),
            1..=999 => format!("{high}万零{}", number_chars_zh(low)),
            _ => format!("{high}万{}", number_chars_zh(low)),
        };
    }
    if n == 0 {
        return "零".into();
    }
    let units = [(1000, '千'), (100, '百'), (10, '十')];
    let mut out = String::new();
    let mut rest = n;
    let mut zero_pending = false;
    for (value, unit) in units {
        let d = rest / value;
        rest %= value;
        if d > 0 {
            if zero_pending {
                out.push('零');
                zero_pending = false;
            }
            // 十二, not 一十二, when ten leads.
            if !(value == 10 && d == 1 && out.is_empty()) {
                out.push(ZH_DIGITS[d as usize]);
            }
            out.push(unit);
        } else if !out.is_empty() && rest > 0 {
            zero_pending = true;
        }
    }
    if rest > 0 {
        if zero_pending {
            out.push('零');
        }
        out.push(ZH_DIGITS[rest as usize]);
    }
    out
}

/// Traditional -> Simplified for characters whisper commonly emits in Traditional form.
fn to_simplified(c: char) -> char {
    const PAIRS: &[(char, char)] = &[
        ('體', '体'),
        ('醫', '医'),
        ('療', '疗'),
        ('頭', '头'),
        ('痠', '酸'),
        ('藥', '药'),
        ('過', '过'),
        ('現', '现'),
        ('發', '发'),
        ('燒', '烧'),
        ('嘔', '呕'),
        ('腫', '肿'),
        ('氣', '气'),
        ('嚨', '咙'),
        ('說', '说'),
        ('話', '话'),
        ('這', '这'),
        ('個', '个'),
        ('們', '们'),
        ('會', '会'),
        ('來', '来'),
        ('時', '时'),
        ('間', '间'),
        ('為', '为'),
        ('與', '与'),
        ('對', '对'),
        ('認', '认'),
        ('滯', '滞'),
        ('線', '线'),
        ('雖', '虽'),
        ('處', '处'),
        ('調', '调'),
        ('廣', '广'),
        ('場', '场'),
        ('產', '产'),
        ('協', '协'),
        ('歡', '欢'),
        ('驗', '验'),
        ('達', '达'),
        ('識', '识'),
        ('別', '别'),
        ('帶', '带'),
        ('給', '给'),
        ('經', '经'),
        ('嗎', '吗'),
        ('開', '开'),
        ('關', '关'),
        ('還', '还'),
        ('幾', '几'),
        ('隻', '只'),
        ('麼', '么'),
        ('沒', '没'),
        ('厲', '厉'),
        ('難', '难'),
        ('車', '车'),
        ('傷', '伤'),
        ('歲', '岁'),
        ('兒', '儿'),
        ('嬰', '婴'),
        ('懷', '怀'),
        ('壓', '压'),
        ('悶', '闷'),
        ('暈', '晕'),
        ('腦', '脑'),
        ('臟', '脏'),
        ('腸', '肠'),
        ('膚', '肤'),
        ('癢', '痒'),
        ('紅', '红'),
        ('濕', '湿'),
        ('熱', '热'),
        ('齒', '齿'),
        ('視', '视'),
        ('聽', '听'),
        ('見', '见'),
        ('覺', '觉'),
        ('從', '从'),
        ('後', '后'),
        ('裡', '里'),
        ('裏', '里'),
        ('東', '东'),
        ('況', '况'),
        ('動', '动'),
        ('運', '运'),
        ('實', '实'),
        ('學', '学'),
        ('問', '问'),
        ('題', '题'),
        ('長', '长'),
        ('門', '门'),
        ('診', '诊'),
        ('號', '号'),
        ('護', '护'),
        ('邊', '边'),
        ('請', '请'),
    ];
    PAIRS.iter().find(|(t, _)| *t == c).map_or(c, |(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wer_normalises_case_punctuation_and_numbers() {
        assert_eq!(wer("Ask not what your country can do", "ask not, what your country can do!"), 0.0);
        assert_eq!(wer("I am ten years old", "I am 10 years old"), 0.0);
        assert!((wer("a b c d", "a x c") - 0.5).abs() < 1e-6);
        assert_eq!(wer("", ""), 0.0);
    }

    #[test]
    fn cer_ignores_punctuation_and_maps_numbers_and_traditional() {
        assert_eq!(cer("头疼三天了", "頭疼3天了。"), 0.0);
        assert!((cer("甚至出现", "甚至出線") - 0.25).abs() < 1e-6);
    }

    #[test]
    fn chinese_numerals() {
        for (n, s) in [
            (0, "零"),
            (7, "七"),
            (10, "十"),
            (12, "十二"),
            (20, "二十"),
            (105, "一百零五"),
            (120, "一百二十"),
            (1001, "一千零一"),
            (38_500, "三万八千五百"),
        ] {
            assert_eq!(number_chars_zh(n), s, "{n}");
        }
    }

    #[test]
    fn english_numbers() {
        assert_eq!(number_words_en(38), "thirty eight");
        assert_eq!(number_words_en(120), "one hundred twenty");
        assert_eq!(number_words_en(2024), "two thousand twenty four");
    }
}
