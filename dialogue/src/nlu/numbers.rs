//! Numbers, durations, ages, temperatures and 0-10 ratings in Mandarin and English, in digits,
//! Chinese numerals (三十八点五, 两, 半) and English words (seven, a couple of).

/// Hours in a day, week, month and year (months and years approximate).
const HOURS_PER_DAY: f64 = 24.0;
const HOURS_PER_WEEK: f64 = 168.0;
const HOURS_PER_MONTH: f64 = 730.5;
const HOURS_PER_YEAR: f64 = 8766.0;

fn zh_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn is_numeral_char(c: char) -> bool {
    c.is_ascii_digit() || zh_digit(c).is_some() || matches!(c, '十' | '百' | '千' | '万' | '拾' | '佰')
}

/// Parses a Chinese numeral string (十二, 一百零五, 两千, 三十八) into a value.
fn parse_zh_integer(s: &[char]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    // All digits (一二〇 style or ASCII): read positionally.
    if s.iter().all(|c| zh_digit(*c).is_some() || c.is_ascii_digit()) {
        let mut v = 0f64;
        for c in s {
            let d = zh_digit(*c).or_else(|| c.to_digit(10))?;
            v = v * 10.0 + f64::from(d);
        }
        return Some(v);
    }
    let mut total = 0f64;
    let mut section = 0f64;
    let mut digit: Option<f64> = None;
    // The unit just read: a lone digit after it is one tenth of it (一百八 = 180, 两千五 = 2500; 一百零八
    // = 108 says its zero).
    let mut last_unit: Option<f64> = None;
    for &c in s {
        if let Some(d) = zh_digit(c).or_else(|| c.to_digit(10)) {
            if c == '零' || c == '〇' {
                last_unit = None;
            }
            digit = Some(digit.unwrap_or(0.0) * 10.0 + f64::from(d));
            continue;
        }
        let unit = match c {
            '十' | '拾' => 10.0,
            '百' | '佰' => 100.0,
            '千' => 1000.0,
            '万' => {
                section += digit.take().unwrap_or(0.0);
                total += section.max(1.0) * 10_000.0;
                section = 0.0;
                continue;
            }
            _ => return None,
        };
        section += digit.take().unwrap_or(1.0) * unit;
        last_unit = Some(unit);
    }
    let tail = match (digit, last_unit) {
        (Some(d), Some(unit)) if unit >= 100.0 && d < 10.0 => d * unit / 10.0,
        (d, _) => d.unwrap_or(0.0),
    };
    Some(total + section + tail)
}

/// A blood-pressure reading named in the text, as far as it is given.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BloodPressure {
    /// The upper number (高压, systolic).
    pub systolic: Option<f64>,
    /// The lower number (低压, diastolic).
    pub diastolic: Option<f64>,
}

impl BloodPressure {
    /// 140/90 or more: raised (中国高血压防治指南 2018).
    pub fn is_raised(self) -> bool {
        self.systolic.is_some_and(|s| s >= 140.0) || self.diastolic.is_some_and(|d| d >= 90.0)
    }

    /// 180/110 or more: a hypertensive urgency or emergency (中国高血压防治指南 2018).
    pub fn is_crisis(self) -> bool {
        self.systolic.is_some_and(|s| s >= 180.0) || self.diastolic.is_some_and(|d| d >= 110.0)
    }
}

/// A blood-pressure reading: "210 over 120", "180/100", "血压一百九", "高压两百，低压一百二". A number
/// counts only after a blood-pressure word or as a pair (over, /, 比), so weights and ages do not.
pub fn blood_pressure(chars: &[char], en_tokens: &[&str]) -> Option<BloodPressure> {
    let mut bp = BloodPressure::default();
    let plausible_sys = |v: f64| (60.0..=300.0).contains(&v);
    let plausible_dia = |v: f64| (30.0..=200.0).contains(&v);
    // Mandarin and digits between Han text.
    let hits = find_numbers(chars);
    for (k, hit) in hits.iter().enumerate() {
        let before: String = chars[hit.start.saturating_sub(6)..hit.start].iter().collect();
        let upper = ["血压", "高压", "收缩压", "上压"].iter().any(|w| before.contains(w));
        let lower = ["低压", "舒张压", "下压"].iter().any(|w| before.contains(w));
        if lower && plausible_dia(hit.value) {
            bp.diastolic.get_or_insert(hit.value);
        } else if upper && plausible_sys(hit.value) {
            bp.systolic.get_or_insert(hit.value);
        }
        // A pair: 180/100, 一百八比一百一, 180到100 is not one (a range).
        if let Some(next) = hits.get(k + 1) {
            let between: String = chars[hit.end..next.start].iter().collect();
            if matches!(between.trim(), "/" | "比" | "／")
                && plausible_sys(hit.value)
                && plausible_dia(next.value)
                && next.value < hit.value
            {
                bp.systolic.get_or_insert(hit.value);
                bp.diastolic.get_or_insert(next.value);
            }
        }
    }
    // English: "210 over 120", "blood pressure of 185", "the top number was 190".
    let mut i = 0;
    while i < en_tokens.len() {
        let Some((v, n)) = en_number_at(en_tokens, i) else {
            i += 1;
            continue;
        };
        let window = &en_tokens[i.saturating_sub(6)..i];
        let said = |w: &str| window.contains(&w);
        if en_tokens.get(i + n) == Some(&"over")
            && let Some((d, _)) = en_number_at(en_tokens, i + n + 1)
            && plausible_sys(v)
            && plausible_dia(d)
            && d < v
        {
            bp.systolic.get_or_insert(v);
            bp.diastolic.get_or_insert(d);
        } else if (said("diastolic") || said("bottom") || said("lower")) && plausible_dia(v) {
            bp.diastolic.get_or_insert(v);
        } else if (said("pressure") || said("bp") || said("systolic") || said("top") || said("upper"))
            && plausible_sys(v)
        {
            bp.systolic.get_or_insert(v);
        }
        i += n;
    }
    (bp != BloodPressure::default()).then_some(bp)
}

/// A number found in text, with its character span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumberHit {
    /// Value.
    pub value: f64,
    /// Start (char index).
    pub start: usize,
    /// End (char index, exclusive).
    pub end: usize,
}

/// Every number in `chars`: digits (38.5), Chinese numerals (三十八点五), 半 alone (0.5).
pub fn find_numbers(chars: &[char]) -> Vec<NumberHit> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '半' && !chars.get(i + 1).is_some_and(|n| is_numeral_char(*n)) {
            out.push(NumberHit { value: 0.5, start: i, end: i + 1 });
            i += 1;
            continue;
        }
        if !is_numeral_char(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_numeral_char(chars[i]) {
            i += 1;
        }
        let run = &chars[start..i];
        // 两三天, 三四个小时, 七八分: two adjacent Chinese digits mean "two or three".
        let range = match run {
            [a, b] => zh_digit(*a).zip(zh_digit(*b)).filter(|(x, y)| *y == *x + 1 || (*x == 2 && *y == 3)),
            _ => None,
        };
        let Some(mut value) = range.map(|(x, _)| f64::from(x) + 0.5).or_else(|| parse_zh_integer(run)) else {
            continue;
        };
        // Decimal part: 38.5, 三十八点五
        if i + 1 < chars.len() && matches!(chars[i], '.' | '点' | '．') && is_numeral_char(chars[i + 1]) {
            let frac_start = i + 1;
            let mut j = frac_start;
            while j < chars.len() && (chars[j].is_ascii_digit() || zh_digit(chars[j]).is_some()) {
                j += 1;
            }
            let digits: String = chars[frac_start..j]
                .iter()
                .filter_map(|c| zh_digit(*c).or_else(|| c.to_digit(10)))
                .map(|d| char::from_digit(d, 10).unwrap_or('0'))
                .collect();
            if let Ok(frac) = format!("0.{digits}").parse::<f64>() {
                value += frac;
                i = j;
            }
        }
        // 一个半 (one and a half): the 个半 belongs to the number.
        if chars.get(i) == Some(&'个') && chars.get(i + 1) == Some(&'半') {
            value += 0.5;
            i += 2;
        }
        out.push(NumberHit { value, start, end: i });
    }
    out
}

/// English number words.
pub fn en_number_word(word: &str) -> Option<f64> {
    Some(match word {
        "zero" | "none" => 0.0,
        "a" | "an" | "one" | "single" => 1.0,
        "two" | "couple" => 2.0,
        "three" | "few" => 3.0,
        "four" | "several" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "eleven" => 11.0,
        "twelve" => 12.0,
        "thirteen" => 13.0,
        "fourteen" => 14.0,
        "fifteen" => 15.0,
        "sixteen" => 16.0,
        "seventeen" => 17.0,
        "eighteen" => 18.0,
        "nineteen" => 19.0,
        "twenty" => 20.0,
        "thirty" => 30.0,
        "forty" => 40.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "seventy" => 70.0,
        "eighty" => 80.0,
        "ninety" => 90.0,
        "half" => 0.5,
        _ => return None,
    })
}

/// A number at `tokens[i..]`: "38.5", "twenty five", "a couple of", "ninety nine". Returns the
/// value and the number of tokens used.
pub fn en_number_at(tokens: &[&str], i: usize) -> Option<(f64, usize)> {
    let t = *tokens.get(i)?;
    if let Ok(v) = t.parse::<f64>() {
        return Some((v, 1));
    }
    // "a couple of", "a few"
    if t == "a" && matches!(tokens.get(i + 1).copied(), Some("couple" | "few")) {
        let v = en_number_word(tokens[i + 1])?;
        let skip = if tokens.get(i + 2) == Some(&"of") { 3 } else { 2 };
        return Some((v, skip));
    }
    let v = en_number_word(t)?;
    // twenty five, one hundred
    if v >= 20.0
        && v.fract() == 0.0
        && (v as u32).is_multiple_of(10)
        && let Some(next) =
            tokens.get(i + 1).and_then(|n| en_number_word(n)).filter(|n| *n >= 1.0 && *n < 10.0)
    {
        return Some((v + next, 2));
    }
    if tokens.get(i + 1) == Some(&"hundred") {
        // "one hundred and ninety" (British) as well as "one hundred ninety".
        let and = usize::from(tokens.get(i + 2) == Some(&"and"));
        let rest = en_number_at(tokens, i + 2 + and).filter(|(r, _)| *r < 100.0);
        return Some(match rest {
            Some((r, n)) => (v * 100.0 + r, 2 + and + n),
            None => (v * 100.0, 2),
        });
    }
    if matches!(t, "couple" | "few" | "several") && tokens.get(i + 1) == Some(&"of") {
        return Some((v, 2));
    }
    Some((v, 1))
}

/// A duration: hours since onset, or how long something has lasted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationValue {
    /// Hours.
    pub hours: f64,
}

impl DurationValue {
    /// Short description ("3天" / "3 days").
    pub fn describe(self) -> (String, String) {
        describe_hours(self.hours)
    }
}

/// "2小时" / "2 hours", "3天" / "3 days", rounding to the natural unit.
pub fn describe_hours(hours: f64) -> (String, String) {
    let plural = |n: f64, unit: &str| {
        if (n - 1.0).abs() < 1e-9 { format!("1 {unit}") } else { format!("{} {unit}s", fmt_num(n)) }
    };
    if hours < 1.0 {
        let m = (hours * 60.0).round().max(1.0);
        (format!("{}分钟", fmt_num(m)), plural(m, "minute"))
    } else if hours < 48.0 {
        let h = (hours * 2.0).round() / 2.0;
        (format!("{}小时", fmt_num(h)), plural(h, "hour"))
    } else if hours < 14.0 * HOURS_PER_DAY {
        let d = (hours / HOURS_PER_DAY * 2.0).round() / 2.0;
        (format!("{}天", fmt_num(d)), plural(d, "day"))
    } else if hours < 8.0 * HOURS_PER_WEEK {
        let w = (hours / HOURS_PER_WEEK * 2.0).round() / 2.0;
        (format!("{}周", fmt_num(w)), plural(w, "week"))
    } else if hours < 12.0 * HOURS_PER_MONTH {
        let m = (hours / HOURS_PER_MONTH * 2.0).round() / 2.0;
        (format!("{}个月", fmt_num(m)), plural(m, "month"))
    } else {
        let y = (hours / HOURS_PER_YEAR * 2.0).round() / 2.0;
        (format!("{}年", fmt_num(y)), plural(y, "year"))
    }
}

/// 3 -> "3", 2.5 -> "2.5".
pub fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.1}") }
}

/// Mandarin duration units (longest first) and their hours.
const ZH_UNITS: &[(&str, f64)] = &[
    ("个小时", 1.0),
    ("个钟头", 1.0),
    ("个星期", HOURS_PER_WEEK),
    ("个礼拜", HOURS_PER_WEEK),
    ("个多月", HOURS_PER_MONTH),
    ("个月", HOURS_PER_MONTH),
    ("多小时", 1.0),
    ("多天", HOURS_PER_DAY),
    ("多年", HOURS_PER_YEAR),
    ("分钟", 1.0 / 60.0),
    ("小时", 1.0),
    ("钟头", 1.0),
    ("星期", HOURS_PER_WEEK),
    ("礼拜", HOURS_PER_WEEK),
    ("秒", 1.0 / 3600.0),
    ("天", HOURS_PER_DAY),
    ("日", HOURS_PER_DAY),
    ("晚", HOURS_PER_DAY),
    ("周", HOURS_PER_WEEK),
    ("月", HOURS_PER_MONTH),
    ("年", HOURS_PER_YEAR),
];

/// Mandarin relative times and vague durations.
const ZH_PHRASES: &[(&str, f64)] = &[
    ("大前天", 72.0),
    ("前天", 48.0),
    ("昨天晚上", 18.0),
    ("昨晚", 18.0),
    ("昨天", 24.0),
    ("昨儿", 24.0),
    ("今天早上", 6.0),
    ("今早", 6.0),
    ("今天上午", 5.0),
    ("今天下午", 2.0),
    ("今天", 6.0),
    ("早上", 6.0),
    ("刚才", 0.5),
    ("刚刚", 0.5),
    ("一会儿", 0.5),
    ("上周", HOURS_PER_WEEK),
    ("上个星期", HOURS_PER_WEEK),
    ("上个礼拜", HOURS_PER_WEEK),
    ("上个月", HOURS_PER_MONTH),
    ("去年", HOURS_PER_YEAR),
    ("好几天", 96.0),
    ("这几天", 72.0),
    ("几天", 72.0),
    ("几个小时", 3.0),
    ("几个月", 3.0 * HOURS_PER_MONTH),
    ("几年", 3.0 * HOURS_PER_YEAR),
    ("半天", 12.0),
];

/// Finds a duration in Mandarin text.
pub fn zh_duration(text: &str) -> Option<DurationValue> {
    let chars: Vec<char> = text.chars().collect();
    for hit in find_numbers(&chars) {
        let rest: String = chars[hit.end..].iter().collect();
        let rest = rest.trim_start_matches(['个', ' ']).to_owned();
        let rest_full: String = chars[hit.end..].iter().collect();
        for (unit, hours) in ZH_UNITS {
            if rest_full.starts_with(unit) || rest.starts_with(unit.trim_start_matches('个')) {
                // "7分" is a score, not minutes: only 分钟 counts.
                let mut value = hit.value;
                if unit.contains('多') || rest_full.starts_with("个多") {
                    value += 0.5;
                }
                let half = if rest_full.starts_with(&format!("{unit}半")) { 0.5 } else { 0.0 };
                return Some(DurationValue { hours: (value + half) * hours });
            }
        }
    }
    ZH_PHRASES.iter().find(|(p, _)| text.contains(p)).map(|(_, hours)| DurationValue { hours: *hours })
}

/// English units and their hours.
fn en_unit(token: &str) -> Option<f64> {
    let t = token.trim_end_matches('s');
    Some(match t {
        "second" | "sec" => 1.0 / 3600.0,
        "minute" | "min" => 1.0 / 60.0,
        "hour" | "hr" => 1.0,
        "day" | "night" => HOURS_PER_DAY,
        "week" | "wk" => HOURS_PER_WEEK,
        "month" => HOURS_PER_MONTH,
        "year" | "yr" => HOURS_PER_YEAR,
        "fortnight" => 2.0 * HOURS_PER_WEEK,
        _ => return None,
    })
}

const EN_PHRASES: &[(&str, f64)] = &[
    ("day before yesterday", 48.0),
    ("last night", 12.0),
    ("yesterday", 24.0),
    ("this morning", 6.0),
    ("this afternoon", 2.0),
    ("this evening", 1.0),
    ("tonight", 1.0),
    ("earlier today", 4.0),
    ("today", 6.0),
    ("just now", 0.5),
    ("a moment ago", 0.2),
    ("few minutes ago", 0.1),
    ("last week", HOURS_PER_WEEK),
    ("last month", HOURS_PER_MONTH),
    ("last year", HOURS_PER_YEAR),
    ("half an hour", 0.5),
    ("half a day", 12.0),
    ("half a month", HOURS_PER_MONTH / 2.0),
    ("half a year", HOURS_PER_YEAR / 2.0),
    ("an hour and a half", 1.5),
    ("overnight", 12.0),
    ("since monday", 72.0),
    ("since the weekend", 72.0),
    ("few days", 72.0),
    ("couple of days", 48.0),
    ("couple days", 48.0),
    ("several days", 96.0),
    ("few weeks", 3.0 * HOURS_PER_WEEK),
    ("couple of weeks", 2.0 * HOURS_PER_WEEK),
    ("few months", 3.0 * HOURS_PER_MONTH),
];

/// Finds a duration in English text (tokens already normalised to lower case).
pub fn en_duration(tokens: &[&str]) -> Option<DurationValue> {
    let joined = format!(" {} ", tokens.join(" "));
    for (phrase, hours) in EN_PHRASES {
        if joined.contains(&format!(" {phrase} ")) {
            return Some(DurationValue { hours: *hours });
        }
    }
    let mut i = 0;
    while i < tokens.len() {
        if let Some((value, used)) = en_number_at(tokens, i) {
            let mut j = i + used;
            // "2 and a half days", "a day and a half"
            let mut extra = 0.0;
            if tokens.get(j..j + 3) == Some(&["and", "a", "half"]) {
                extra = 0.5;
                j += 3;
            }
            if let Some(hours) = tokens.get(j).and_then(|u| en_unit(u)) {
                if tokens.get(j + 1..j + 4) == Some(&["and", "a", "half"]) {
                    extra = 0.5;
                }
                return Some(DurationValue { hours: (value + extra) * hours });
            }
            i += used;
        } else {
            i += 1;
        }
    }
    None
}

/// An age in days, from text that gives one ("35岁", "3个月", "2 years old", "aged 5").
/// With `expecting_age` a bare number is taken as years.
pub fn zh_age(text: &str, expecting_age: bool) -> Option<f64> {
    let chars: Vec<char> = text.chars().collect();
    let numbers = find_numbers(&chars);
    for hit in &numbers {
        let rest: String = chars[hit.end..].iter().collect();
        let before: String = chars[..hit.start].iter().collect();
        let v = hit.value;
        if rest.starts_with("岁") || rest.starts_with("周岁") {
            let half = if rest.starts_with("岁半") { 0.5 } else { 0.0 };
            return Some((v + half) * 365.25);
        }
        // "3个月大", "出生20天": without 大 or 出生 a number of months is a duration, not an age.
        let old = |unit: &str| ["", "多"].iter().any(|m| rest.starts_with(&format!("{unit}{m}大")));
        let born = names_a_child(&before)
            || ["出生", "生下来"].iter().any(|w| strip_age_links(&before).ends_with(w));
        for (units, days) in
            [(&["个月", "月"][..], 30.44), (&["周", "个星期", "星期"][..], 7.0), (&["天"][..], 1.0)]
        {
            for unit in units {
                if rest.starts_with(unit) && (expecting_age || old(unit) || born) {
                    return Some(v * days);
                }
            }
        }
    }
    if expecting_age
        && let Some(hit) = numbers.first()
        && (1.0..=120.0).contains(&hit.value)
    {
        return Some(hit.value * 365.25);
    }
    None
}

/// Words for a child, after which a number of months, weeks or days is an age ("宝宝才两个月",
/// "我女儿刚满三周"), not a duration ("孩子咳嗽两个月").
const ZH_CHILD_WORDS: &[&str] = &[
    "宝宝",
    "孩子",
    "婴儿",
    "小孩",
    "儿子",
    "女儿",
    "闺女",
    "娃",
    "宝贝",
    "孙子",
    "孙女",
    "小朋友",
    "新生儿",
];
/// Words that may stand between a child word and its age.
const ZH_AGE_LINKS: &[&str] = &[
    "刚刚",
    "刚满",
    "才满",
    "只有",
    "现在",
    "今年",
    "已经",
    "还不到",
    "不到",
    "差不多",
    "才",
    "刚",
    "满",
    "是",
    "快",
];

/// `before` without the linking words at its end ("宝宝才" -> "宝宝", "出生刚满" -> "出生").
fn strip_age_links(before: &str) -> &str {
    let mut rest = before.trim_end();
    for _ in 0..3 {
        match ZH_AGE_LINKS.iter().find(|w| rest.ends_with(*w)) {
            Some(w) => rest = &rest[..rest.len() - w.len()],
            None => break,
        }
    }
    rest
}

/// Whether `before` ends with a child word, allowing a few linking words ("宝宝才", "孩子刚满").
fn names_a_child(before: &str) -> bool {
    let rest = strip_age_links(before);
    ZH_CHILD_WORDS.iter().any(|w| rest.ends_with(w))
}

/// Words for a child, after which "is only six weeks" is an age.
const EN_CHILD_WORDS: &[&str] = &[
    "baby",
    "babys",
    "newborn",
    "infant",
    "son",
    "daughter",
    "child",
    "kid",
    "one",
    "boy",
    "girl",
    "grandson",
    "granddaughter",
    "he",
    "she",
    "hes",
    "shes",
];

/// Whether the number at `i` is a young child's age: "my baby is only six weeks", "she's just ten
/// days", not "the cough is two weeks".
fn en_child_age_at(tokens: &[&str], i: usize) -> bool {
    let links = ["is", "only", "just", "barely", "turned", "hes", "shes"];
    let mut j = i;
    while j > 0 && links.contains(&tokens[j - 1]) && i - j < 3 {
        j -= 1;
    }
    j < i && j > 0 && EN_CHILD_WORDS.contains(&tokens[j - 1]) || j < i && matches!(tokens[j], "hes" | "shes")
}

/// English age ("67", "2 years old", "three months old", "a 5-year-old", "aged 40").
pub fn en_age(tokens: &[&str], expecting_age: bool) -> Option<f64> {
    let mut i = 0;
    while i < tokens.len() {
        if let Some((v, used)) = en_number_at(tokens, i) {
            let unit = tokens.get(i + used).copied().unwrap_or("");
            let next = tokens.get(i + used + 1).copied().unwrap_or("");
            let after_unit_old = next == "old";
            let prev = if i > 0 { tokens[i - 1] } else { "" };
            let factor = match unit.trim_end_matches('s') {
                "year" | "yr" => Some(365.25),
                "month" => Some(30.44),
                "week" => Some(7.0),
                "day" => Some(1.0),
                "yo" => Some(365.25),
                _ => None,
            };
            if let Some(f) = factor
                && (after_unit_old
                    || expecting_age
                    || unit == "yo"
                    || prev == "aged"
                    || prev == "age"
                    || (f < 365.0 && en_child_age_at(tokens, i)))
            {
                return Some(v * f);
            }
            if (prev == "aged" || prev == "age") && factor.is_none() && (1.0..=120.0).contains(&v) {
                return Some(v * 365.25);
            }
            // "he is two", "i am 67", "i'm 67": number right after a copula
            if factor.is_none()
                && matches!(prev, "is" | "am" | "im" | "was" | "turned")
                && (0.0..=120.0).contains(&v)
                && v >= 1.0
                && !matches!(unit, "out" | "degrees" | "degree" | "times" | "percent")
            {
                return Some(v * 365.25);
            }
            i += used;
        } else {
            i += 1;
        }
    }
    if expecting_age {
        for (i, _) in tokens.iter().enumerate() {
            if let Some((v, _)) = en_number_at(tokens, i)
                && (1.0..=120.0).contains(&v)
                && !matches!(tokens[i], "a" | "an")
            {
                return Some(v * 365.25);
            }
        }
    }
    None
}

/// A temperature in Celsius. `expecting` allows a bare number (34-43 C, or 93-110 F).
pub fn temperature(chars: &[char], en_tokens: &[&str], expecting: bool) -> Option<f32> {
    let text: String = chars.iter().collect();
    for hit in find_numbers(chars) {
        let rest: String = chars[hit.end..].iter().collect();
        let mut v = hit.value;
        if rest.starts_with('度') || rest.starts_with("°") || rest.starts_with("℃") {
            // 三十八度五 / 38度5
            let after: Vec<char> = rest.chars().skip(1).collect();
            if let Some(frac) = after.first().and_then(|c| zh_digit(*c).or_else(|| c.to_digit(10))) {
                v += f64::from(frac) / 10.0;
            }
            if (34.0..=43.0).contains(&v) {
                return Some(v as f32);
            }
            if (93.0..=110.0).contains(&v) {
                return Some(((v - 32.0) / 1.8) as f32);
            }
        }
    }
    let fahrenheit = en_tokens.iter().any(|t| matches!(*t, "f" | "fahrenheit")) || text.contains("°F");
    // "his temperature was 38.5", "temp of 39"
    let named = en_tokens.iter().any(|t| matches!(*t, "temperature" | "temp" | "fever" | "thermometer"));
    let candidates: Vec<f64> = en_tokens.iter().filter_map(|t| t.parse::<f64>().ok()).collect();
    for v in candidates {
        if fahrenheit && (93.0..=110.0).contains(&v) {
            return Some(((v - 32.0) / 1.8) as f32);
        }
        let degrees = en_tokens.iter().any(|t| t.starts_with("degree"));
        if (expecting || degrees || named) && (34.0..=43.0).contains(&v) {
            return Some(v as f32);
        }
        if expecting && (93.0..=110.0).contains(&v) {
            return Some(((v - 32.0) / 1.8) as f32);
        }
    }
    if expecting && let Some(hit) = find_numbers(chars).into_iter().find(|h| (34.0..=43.0).contains(&h.value))
    {
        return Some(hit.value as f32);
    }
    None
}

/// A 0-10 rating: "7分", "七分", "7/10", "7 out of 10", "seven out of ten"; with `expecting`, any
/// number 0-10 or words ("很疼" = 7, "mild" = 3).
pub fn rating(chars: &[char], en_tokens: &[&str], expecting: bool) -> Option<u8> {
    for hit in find_numbers(chars) {
        let rest: String = chars[hit.end..].iter().collect();
        let explicit = rest.starts_with('分') && !rest.starts_with("分钟")
            || rest.starts_with("/10")
            || rest.starts_with("／10");
        if explicit && (0.0..=10.0).contains(&hit.value) {
            return Some(hit.value.round() as u8);
        }
    }
    for i in 0..en_tokens.len() {
        if let Some((v, used)) = en_number_at(en_tokens, i)
            && en_tokens.get(i + used..i + used + 2) == Some(&["out", "of"])
            && (0.0..=10.0).contains(&v)
        {
            return Some(v.round() as u8);
        }
    }
    if !expecting {
        return None;
    }
    if let Some(hit) =
        find_numbers(chars).into_iter().find(|h| (0.0..=10.0).contains(&h.value) && h.value.fract() == 0.0)
    {
        return Some(hit.value as u8);
    }
    for i in 0..en_tokens.len() {
        if en_tokens[i] == "a" {
            continue;
        }
        if let Some((v, _)) = en_number_at(en_tokens, i)
            && (0.0..=10.0).contains(&v)
            && v.fract() == 0.0
        {
            return Some(v as u8);
        }
    }
    let text: String = chars.iter().collect();
    const ZH_WORDS: &[(&str, u8)] = &[
        ("受不了", 9),
        ("剧烈", 9),
        ("非常疼", 8),
        ("特别疼", 8),
        ("疼得厉害", 8),
        ("非常严重", 8),
        ("很严重", 8),
        ("很疼", 7),
        ("比较疼", 6),
        ("挺疼", 6),
        ("一般", 5),
        ("中等", 5),
        ("不太疼", 3),
        ("有点", 3),
        ("一点", 3),
        ("轻微", 2),
        ("不疼", 0),
    ];
    if let Some((_, v)) = ZH_WORDS.iter().find(|(w, _)| text.contains(w)) {
        return Some(*v);
    }
    let joined = format!(" {} ", en_tokens.join(" "));
    const EN_WORDS: &[(&str, u8)] = &[
        (" unbearable ", 9),
        (" excruciating ", 9),
        (" worst ", 9),
        (" severe ", 8),
        (" terrible ", 8),
        (" really bad ", 8),
        (" very bad ", 8),
        (" quite bad ", 6),
        (" moderate ", 5),
        (" bad ", 6),
        (" not too bad ", 3),
        (" mild ", 3),
        (" slight ", 2),
        (" a little ", 3),
    ];
    EN_WORDS.iter().find(|(w, _)| joined.contains(w)).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn a_lone_digit_after_hundred_or_thousand_is_a_tenth_of_it() {
        for (text, value) in [
            ("一百八", 180.0),
            ("两百五", 250.0),
            ("三千五", 3500.0),
            ("一百零八", 108.0),
            ("一百二十", 120.0),
            ("十八", 18.0),
            ("一百", 100.0),
        ] {
            assert_eq!(parse_zh_integer(&chars(text)), Some(value), "{text}");
        }
    }

    #[test]
    fn blood_pressure_readings_are_found_only_where_a_reading_is_named() {
        let bp = |text: &str| {
            let u = crate::nlu::Utterance::new(text);
            blood_pressure(&u.chars, &u.token_refs())
        };
        let reading = |s, d| Some(BloodPressure { systolic: s, diastolic: d });
        assert_eq!(bp("My blood pressure is 210 over 120"), reading(Some(210.0), Some(120.0)));
        assert_eq!(bp("it was 150/95 this morning"), reading(Some(150.0), Some(95.0)));
        assert_eq!(bp("my bp was one hundred and ninety"), reading(Some(190.0), None));
        assert_eq!(bp("my bp was two hundred"), reading(Some(200.0), None));
        assert_eq!(bp("the bottom number was 115"), reading(None, Some(115.0)));
        assert_eq!(bp("今天早上量血压一百九"), reading(Some(190.0), None));
        assert_eq!(bp("高压两百，低压一百二"), reading(Some(200.0), Some(120.0)));
        assert_eq!(bp("量出来180/100"), reading(Some(180.0), Some(100.0)));
        // Numbers that are not a reading.
        assert_eq!(bp("我一百八十斤，头疼三天了"), None);
        assert_eq!(bp("I'm 72 and I weigh 190 pounds"), None);
        assert_eq!(bp("发烧三十九度"), None);
        assert!(bp("My blood pressure is 210 over 120").is_some_and(BloodPressure::is_crisis));
        assert!(!bp("it was 150/95 this morning").is_some_and(BloodPressure::is_crisis));
        assert!(bp("it was 150/95 this morning").is_some_and(BloodPressure::is_raised));
        assert!(!bp("血压130/80").is_some_and(BloodPressure::is_raised));
        assert!(bp("the bottom number was 115").is_some_and(BloodPressure::is_crisis));
    }

    #[test]
    fn chinese_numerals() {
        let cases = [
            ("十二", 12.0),
            ("一百零五", 105.0),
            ("三十八点五", 38.5),
            ("两千", 2000.0),
            ("二十", 20.0),
            ("120", 120.0),
            ("3.5", 3.5),
        ];
        for (text, value) in cases {
            let hits = find_numbers(&chars(text));
            assert_eq!(hits.len(), 1, "{text}");
            assert!((hits[0].value - value).abs() < 1e-9, "{text} -> {}", hits[0].value);
        }
    }

    #[test]
    fn mandarin_durations() {
        let cases = [
            ("三天", 72.0),
            ("半个月", HOURS_PER_MONTH / 2.0),
            ("两个小时", 2.0),
            ("一个半小时", 1.5),
            ("一周了", HOURS_PER_WEEK),
            ("3天前开始的", 72.0),
            ("昨天开始", 24.0),
            ("两三天", 60.0),
            ("一个多月", 1.5 * HOURS_PER_MONTH),
            ("半年", HOURS_PER_YEAR / 2.0),
            ("20分钟", 1.0 / 3.0),
        ];
        for (text, hours) in cases {
            let d = zh_duration(text).unwrap_or_else(|| panic!("{text}"));
            assert!((d.hours - hours).abs() < 1e-6, "{text}: {} != {hours}", d.hours);
        }
        assert_eq!(zh_duration("疼得7分"), None, "a score is not minutes");
    }

    #[test]
    fn english_durations() {
        let cases = [
            ("for 3 days", 72.0),
            ("two hours ago", 2.0),
            ("since yesterday", 24.0),
            ("about a week", HOURS_PER_WEEK),
            ("half a month", HOURS_PER_MONTH / 2.0),
            ("a couple of days", 48.0),
            ("30 minutes", 0.5),
            ("twenty five minutes", 25.0 / 60.0),
            ("a day and a half", 36.0),
        ];
        for (text, hours) in cases {
            let tokens: Vec<&str> = text.split(' ').collect();
            let d = en_duration(&tokens).unwrap_or_else(|| panic!("{text}"));
            assert!((d.hours - hours).abs() < 1e-6, "{text}: {} != {hours}", d.hours);
        }
    }

    #[test]
    fn ages() {
        assert_eq!(zh_age("35岁", false).map(|d| (d / 365.25).round()), Some(35.0));
        assert_eq!(zh_age("我儿子三岁半", false).map(|d| d / 365.25), Some(3.5));
        assert_eq!(zh_age("两个月", true).map(|d| (d / 30.44).round()), Some(2.0));
        // After a child word a number of months is an age; after a symptom it is a duration.
        assert_eq!(zh_age("宝宝才两个月，额头很烫", false).map(|d| (d / 30.44).round()), Some(2.0));
        assert_eq!(zh_age("我女儿刚满三周", false).map(|d| (d / 7.0).round()), Some(3.0));
        assert_eq!(zh_age("小家伙出生才一个月", false).map(|d| (d / 30.44).round()), Some(1.0));
        assert_eq!(zh_age("孩子咳嗽两个月了", false), None);
        assert_eq!(zh_age("我头疼两个月了", false), None);
        assert_eq!(zh_age("宝宝出生20天", false), Some(20.0));
        assert_eq!(zh_age("67", true).map(|d| (d / 365.25).round()), Some(67.0));
        assert_eq!(zh_age("疼了三天", false), None);
        assert_eq!(zh_age("一个星期没大便了", false), None, "大便 is not 大");
        let en = |s: &str, e| {
            en_age(&s.split(' ').collect::<Vec<_>>(), e).map(|d| (d / 365.25 * 10.0).round() / 10.0)
        };
        assert_eq!(en("my son is two", false), Some(2.0));
        assert_eq!(en("i am 67 years old", false), Some(67.0));
        assert_eq!(en_age(&["6", "weeks", "old"], false), Some(42.0));
        assert_eq!(en("35", true), Some(35.0));
        assert_eq!(en("pain is 7 out of 10", false), None);
        let days = |s: &str| en_age(&s.split(' ').collect::<Vec<_>>(), false);
        assert_eq!(days("my baby is only six weeks and feels hot"), Some(42.0));
        assert_eq!(days("shes just ten days"), Some(10.0));
        assert_eq!(days("the cough is two weeks"), None);
        assert_eq!(days("my son has had a cough for three weeks"), None);
        assert_eq!(days("it is only two days"), None);
    }

    #[test]
    fn temperatures() {
        let t = |s: &str, e| {
            let toks: Vec<&str> = s.split(' ').collect();
            temperature(&chars(s), &toks, e)
        };
        assert_eq!(t("38.5度", false), Some(38.5));
        assert_eq!(t("三十九度", false), Some(39.0));
        assert_eq!(t("三十八度五", false), Some(38.5));
        assert_eq!(t("39.2", true), Some(39.2));
        assert!((t("101 f", false).unwrap_or(0.0) - 38.33).abs() < 0.01);
        assert_eq!(t("39.2", false), None);
        assert_eq!(t("his temperature was 38.5", false), Some(38.5));
    }

    #[test]
    fn ratings() {
        let r = |s: &str, e| {
            let toks: Vec<&str> = s.split(' ').collect();
            rating(&chars(s), &toks, e)
        };
        assert_eq!(r("七分", false), Some(7));
        assert_eq!(r("大概8分吧", false), Some(8));
        assert_eq!(r("seven out of ten", false), Some(7));
        assert_eq!(r("6", true), Some(6));
        assert_eq!(r("6", false), None);
        assert_eq!(r("很疼", true), Some(7));
        assert_eq!(r("it is severe", true), Some(8));
        assert_eq!(r("疼了20分钟", true), None);
    }
}
