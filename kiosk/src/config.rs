//! Configuration: TOML read into raw structs (the embedded defaults overlaid with the site's file),
//! then validated into a typed [`Config`]. Errors name the key and the fix.

use std::path::{Path, PathBuf};

use protocol::Lang;
use serde::Deserialize;

/// The embedded defaults (also the sample file in `deploy/`).
pub const DEFAULT_CONFIG: &str = include_str!("../../deploy/kiosk.toml");

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "KIOSK_CONFIG";
/// Environment variable overriding `models.dir`.
pub const MODELS_DIR_ENV: &str = "KIOSK_MODELS_DIR";
/// Environment variable overriding `store.dir`.
pub const DATA_DIR_ENV: &str = "KIOSK_DATA_DIR";

/// A configuration problem, naming the key (or file) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("config file {origin} is invalid: {detail}")]
    Syntax {
        /// Which file.
        origin: String,
        /// The parser's message (it names the key and line).
        detail: String,
    },
    /// A value is out of range.
    #[error("config key `{key}` {problem}; {fix}")]
    Invalid {
        /// Dotted key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: &'static str,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    kiosk: RawKiosk,
    models: RawModels,
    store: RawStore,
    speech: RawSpeech,
    understanding: RawUnderstanding,
    session: RawSession,
    station: RawStation,
    departments: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    inactivity_s: i64,
    warning_s: i64,
    handoff_s: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStation {
    url: String,
    token_file: String,
    ca_file: String,
    tls_cert: String,
    tls_key: String,
    response_minutes: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnderstanding {
    semantic: String,
    semantic_threshold: f64,
    language_model: String,
    language_model_threads: i64,
    narrative_budget_s: i64,
    narrative_languages: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKiosk {
    hospital_name: String,
    kiosk_id: String,
    languages: Vec<String>,
    default_language: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModels {
    dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    dir: String,
    retention_days: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpeech {
    asr_threads: i64,
    input_device: String,
    output_device: String,
    echo_tail_ms: i64,
    barge_in_ms: i64,
    endpoint: RawEndpoint,
    voice: RawVoice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoice {
    backend: String,
    zh_voice: String,
    en_voice: String,
    speed: f64,
    elderly_speed: f64,
    volume: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    vad_threshold: f64,
    pre_roll_ms: i64,
    end_short_ms: i64,
    end_story_ms: i64,
    elderly_end_short_ms: i64,
    elderly_end_story_ms: i64,
    max_utterance_ms: i64,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Hospital name for screens and slips.
    pub hospital_name: String,
    /// This kiosk's id.
    pub kiosk_id: String,
    /// Offered languages, in order.
    pub languages: Vec<Lang>,
    /// Language before the patient chooses.
    pub default_language: Lang,
    /// Models directory (resolved: config, environment, default).
    pub models_dir: PathBuf,
    /// Data directory for cards, outbox, audit log.
    pub data_dir: PathBuf,
    /// Cards older than this are purged (the audit trail stays).
    pub retention_days: u32,
    /// Speech-recognition threads.
    pub asr_threads: usize,
    /// Endpointing.
    pub endpoint: speech::endpoint::EndpointConfig,
    /// Microphone by name (`None`: the system default).
    pub input_device: Option<String>,
    /// Speaker by name (`None`: the system default).
    pub output_device: Option<String>,
    /// Echo gating.
    pub echo: speech::voice::EchoConfig,
    /// Sustained speech that interrupts the kiosk (`None`: barge-in off).
    pub barge_in_ms: Option<u32>,
    /// Voices, rate and volume.
    pub voice: speech::tts::VoiceConfig,
    /// Which voice speaks.
    pub voice_backend: VoiceBackend,
    /// Sentence-embedding model behind the rules.
    pub semantic: SemanticModel,
    /// Similarity at or above which the semantic matcher's concept is accepted.
    pub semantic_threshold: f32,
    /// Whether the language model reads opening stories.
    pub language_model: bool,
    /// Its threads.
    pub language_model_threads: usize,
    /// How long the language model may take to draft the 现病史 at the read-back; `None`: it
    /// does not draft (the deterministic text is used).
    pub narrative_budget: Option<std::time::Duration>,
    /// Interview languages in which the model drafts the 现病史 (elsewhere the deterministic text).
    pub narrative_languages: Vec<Lang>,
    /// Session timeouts.
    pub timeouts: Timeouts,
    /// Where each department is, in Mandarin and English (shown and spoken at hand-off).
    pub locations: std::collections::BTreeMap<protocol::Department, [String; 2]>,
    /// The nurse station link (`[station]`).
    pub station: Station,
}

/// The nurse station (`[station]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Station {
    /// The station service's base URL (`None`: a standalone kiosk).
    pub url: Option<String>,
    /// File with this kiosk's device token.
    pub token_file: Option<PathBuf>,
    /// The station CA certificate to trust for HTTPS (`None`: the public web roots).
    pub ca_file: Option<PathBuf>,
    /// `kiosk serve`'s certificate and key (`None`: plain HTTP).
    pub tls: Option<service::tls::TlsFiles>,
    /// Minutes within which a card of level 1, 2, 3, 4 should be seen.
    pub response_minutes: [u32; 4],
}

impl Default for Station {
    fn default() -> Self {
        Self { url: None, token_file: None, ca_file: None, tls: None, response_minutes: [0, 10, 30, 240] }
    }
}

/// Session timeouts (`[session]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Without a touch or a word for this long, the kiosk asks "do you need more time?".
    pub inactivity: std::time::Duration,
    /// Time to answer that before everything is wiped (at least 20 s).
    pub warning: std::time::Duration,
    /// How long the hand-off screen stays before it is wiped for the next patient.
    pub handoff: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            inactivity: std::time::Duration::from_secs(90),
            warning: std::time::Duration::from_secs(30),
            handoff: std::time::Duration::from_secs(60),
        }
    }
}

/// The sentence-embedding model behind the rules (`understanding.semantic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemanticModel {
    /// multilingual-e5-small (Mandarin and English).
    E5,
    /// all-MiniLM-L6-v2 (English only: for an English-only site).
    MiniLm,
    /// Rules only.
    Off,
}

/// Which voice speaks (`speech.voice.backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceBackend {
    /// The Kokoro neural voice, espeak-ng when it is missing or fails.
    Kokoro,
    /// espeak-ng only (fast, robotic).
    Espeak,
    /// speech-dispatcher, the desktop speech service (its own synthesiser and audio output).
    System,
}

/// The Mandarin Kokoro voices the installer provides.
pub const ZH_VOICES: [&str; 3] = ["zf_xiaobei", "zf_xiaoyi", "zm_yunjian"];
/// The English Kokoro voices the installer provides.
pub const EN_VOICES: [&str; 3] = ["af_heart", "am_michael", "bf_emma"];

/// Where the configuration came from, for the start-up log.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// The site file that was overlaid on the defaults, if any.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Loads the embedded defaults overlaid with `file` (or `$KIOSK_CONFIG`), then validates.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let env_file = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(env_file);
        let site = match &file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?,
            ),
            None => None,
        };
        let origin =
            file.as_ref().map_or_else(|| "(embedded defaults)".to_owned(), |p| p.display().to_string());
        let config = Self::from_toml(site.as_deref(), &origin, &Env::from_process())?;
        Ok(Loaded { config, file })
    }

    /// Parses the defaults overlaid with `site` (TOML text) and validates, resolving directories
    /// against `env`.
    pub fn from_toml(site: Option<&str>, origin: &str, env: &Env) -> Result<Self, ConfigError> {
        let mut merged: toml::Table = DEFAULT_CONFIG.parse().map_err(|e: toml::de::Error| {
            ConfigError::Syntax { origin: "(embedded defaults)".into(), detail: e.to_string() }
        })?;
        if let Some(site) = site {
            let overlay: toml::Table = site.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
                origin: origin.into(),
                detail: e.to_string(),
            })?;
            merge(&mut merged, overlay);
        }
        let raw: RawConfig = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Syntax { origin: origin.into(), detail: e.to_string() }
        })?;
        Self::validate(raw, env)
    }

    fn validate(raw: RawConfig, env: &Env) -> Result<Self, ConfigError> {
        let languages = raw
            .kiosk
            .languages
            .iter()
            .map(|l| parse_language(l, "kiosk.languages"))
            .collect::<Result<Vec<_>, _>>()?;
        if languages.is_empty() {
            return Err(ConfigError::Invalid {
                key: "kiosk.languages",
                problem: "is empty".into(),
                fix: "list at least one of \"zh\", \"en\"",
            });
        }
        let default_language = parse_language(&raw.kiosk.default_language, "kiosk.default_language")?;
        if !languages.contains(&default_language) {
            return Err(ConfigError::Invalid {
                key: "kiosk.default_language",
                problem: format!("is {:?} but kiosk.languages does not offer it", raw.kiosk.default_language),
                fix: "choose one of the offered languages",
            });
        }
        if raw.kiosk.kiosk_id.trim().is_empty() || raw.kiosk.kiosk_id.len() > 64 {
            return Err(ConfigError::Invalid {
                key: "kiosk.kiosk_id",
                problem: "must be 1 to 64 characters".into(),
                fix: "set a short name such as \"lobby-1\"",
            });
        }
        let asr_threads = match raw.speech.asr_threads {
            n @ 1..=16 => n as usize,
            n => {
                return Err(ConfigError::Invalid {
                    key: "speech.asr_threads",
                    problem: format!("is {n}"),
                    fix: "use 1 to 16, at most the number of cores (2 on a 2-core kiosk)",
                });
            }
        };
        let endpoint = validate_endpoint(&raw.speech.endpoint)?;
        let voice = validate_voice(&raw.speech.voice)?;
        let voice_backend = match raw.speech.voice.backend.as_str() {
            "kokoro" => VoiceBackend::Kokoro,
            "espeak" => VoiceBackend::Espeak,
            "system" => VoiceBackend::System,
            other => {
                return Err(ConfigError::Invalid {
                    key: "speech.voice.backend",
                    problem: format!("is {other:?}"),
                    fix: "use \"kokoro\" (neural, default), \"espeak\" or \"system\" (speech-dispatcher)",
                });
            }
        };
        let echo_tail_ms = ms_in(
            raw.speech.echo_tail_ms,
            "speech.echo_tail_ms",
            0..=2_000,
            "use 0 to 2000 ms (default 300)",
        )?;
        let barge_in_ms = match raw.speech.barge_in_ms {
            0 => None,
            ms => Some(ms_in(
                ms,
                "speech.barge_in_ms",
                300..=5_000,
                "use 0 (off) or 300 to 5000 ms of sustained speech",
            )?),
        };
        let device = |name: &str| (!name.trim().is_empty()).then(|| name.trim().to_owned());
        let semantic = match raw.understanding.semantic.as_str() {
            "e5" => SemanticModel::E5,
            "minilm" => SemanticModel::MiniLm,
            "off" => SemanticModel::Off,
            other => {
                return Err(ConfigError::Invalid {
                    key: "understanding.semantic",
                    problem: format!("is {other:?}"),
                    fix: "use \"e5\" (Mandarin and English), \"minilm\" (English only) or \"off\"",
                });
            }
        };
        let retention_days = u32::try_from(raw.store.retention_days)
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or(ConfigError::Invalid {
                key: "store.retention_days",
                problem: format!("is {}", raw.store.retention_days),
                fix: "use a number of days from 1 to 3650 (the hospital's retention policy)",
            })?;
        let semantic_threshold = raw.understanding.semantic_threshold;
        if !(0.3..=0.99).contains(&semantic_threshold) {
            return Err(ConfigError::Invalid {
                key: "understanding.semantic_threshold",
                problem: format!("is {semantic_threshold}"),
                fix: "use a similarity between 0.3 and 0.99 (calibrated default 0.45)",
            });
        }
        let secs =
            |value: i64, key: &'static str, range: std::ops::RangeInclusive<i64>, fix: &'static str| {
                if range.contains(&value) {
                    Ok(std::time::Duration::from_secs(value as u64))
                } else {
                    Err(ConfigError::Invalid { key, problem: format!("is {value}"), fix })
                }
            };
        let timeouts = Timeouts {
            inactivity: secs(
                raw.session.inactivity_s,
                "session.inactivity_s",
                20..=900,
                "use 20 to 900 seconds (default 90)",
            )?,
            warning: secs(
                raw.session.warning_s,
                "session.warning_s",
                20..=300,
                "use 20 to 300 seconds: patients need at least 20 s to answer \"need more time?\"",
            )?,
            handoff: secs(raw.session.handoff_s, "session.handoff_s", 10..=600, "use 10 to 600 seconds")?,
        };
        let mut locations = std::collections::BTreeMap::new();
        for (code, names) in raw.departments {
            let Some(department) = protocol::Department::from_code(&code) else {
                return Err(ConfigError::Invalid {
                    key: "departments",
                    problem: format!("names an unknown department {code:?}"),
                    fix: "use the department codes listed in deploy/kiosk.toml",
                });
            };
            let [zh, en] = <[String; 2]>::try_from(names).map_err(|_| ConfigError::Invalid {
                key: "departments",
                problem: format!("entry {code:?} is not [\"中文\", \"English\"]"),
                fix: "give each department two strings: where it is in Mandarin, then in English",
            })?;
            locations.insert(department, [zh, en]);
        }
        let language_model = match raw.understanding.language_model.as_str() {
            "qwen" => true,
            "off" => false,
            other => {
                return Err(ConfigError::Invalid {
                    key: "understanding.language_model",
                    problem: format!("is {other:?}"),
                    fix: "use \"qwen\" (the installed Qwen2.5-0.5B) or \"off\"",
                });
            }
        };
        let language_model_threads = match raw.understanding.language_model_threads {
            n @ 1..=16 => n as usize,
            n => {
                return Err(ConfigError::Invalid {
                    key: "understanding.language_model_threads",
                    problem: format!("is {n}"),
                    fix: "use 1 to 16, fewer than the kiosk's cores (1 on a 2-core kiosk)",
                });
            }
        };
        let narrative_budget = match raw.understanding.narrative_budget_s {
            0 => None,
            n @ 1..=120 => Some(std::time::Duration::from_secs(n as u64)),
            n => {
                return Err(ConfigError::Invalid {
                    key: "understanding.narrative_budget_s",
                    problem: format!("is {n}"),
                    fix: "use 0 (no drafted narrative) or 1 to 120 seconds",
                });
            }
        };
        let mut narrative_languages = Vec::new();
        for code in &raw.understanding.narrative_languages {
            let Some(lang) = Lang::from_code(code) else {
                return Err(ConfigError::Invalid {
                    key: "understanding.narrative_languages",
                    problem: format!("{code:?} is not a language"),
                    fix: "list \"zh\", \"en\", both or neither",
                });
            };
            narrative_languages.push(lang);
        }
        let station = validate_station(raw.station)?;
        let models_dir =
            resolve_dir(&raw.models.dir, env.models_dir.as_deref(), env, "models", "models.dir")?;
        let data_dir = resolve_dir(&raw.store.dir, env.data_dir.as_deref(), env, "data", "store.dir")?;
        Ok(Self {
            hospital_name: raw.kiosk.hospital_name,
            kiosk_id: raw.kiosk.kiosk_id,
            languages,
            default_language,
            models_dir,
            data_dir,
            retention_days,
            asr_threads,
            endpoint,
            input_device: device(&raw.speech.input_device),
            output_device: device(&raw.speech.output_device),
            echo: speech::voice::EchoConfig {
                tail: std::time::Duration::from_millis(u64::from(echo_tail_ms)),
            },
            barge_in_ms,
            voice,
            voice_backend,
            semantic,
            semantic_threshold: semantic_threshold as f32,
            timeouts,
            locations,
            station,
            language_model,
            language_model_threads,
            narrative_budget,
            narrative_languages,
        })
    }
}

fn ms_in(
    value: i64,
    key: &'static str,
    range: std::ops::RangeInclusive<u32>,
    fix: &'static str,
) -> Result<u32, ConfigError> {
    u32::try_from(value).ok().filter(|v| range.contains(v)).ok_or(ConfigError::Invalid {
        key,
        problem: format!("is {value}"),
        fix,
    })
}

fn validate_station(raw: RawStation) -> Result<Station, ConfigError> {
    let url = raw.url.trim().trim_end_matches('/').to_owned();
    let url = if url.is_empty() {
        None
    } else {
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
            return Err(ConfigError::Invalid {
                key: "station.url",
                problem: format!("is {:?}", raw.url),
                fix: "use the station service's address, like \"http://10.20.0.5:8440\", or \"\" for a standalone kiosk",
            });
        }
        Some(url)
    };
    let path = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
    let token_file = path(&raw.token_file);
    let ca_file = path(&raw.ca_file);
    let tls = match (path(&raw.tls_cert), path(&raw.tls_key)) {
        (Some(cert), Some(key)) => Some(service::tls::TlsFiles { cert, key }),
        (None, None) => None,
        _ => {
            return Err(ConfigError::Invalid {
                key: "station.tls_cert",
                problem: "and `station.tls_key` must be set together".into(),
                fix: "give both the certificate and its key (`kiosk certs` makes them), or neither",
            });
        }
    };
    let minutes: [i64; 4] = raw.response_minutes.try_into().map_err(|v: Vec<i64>| ConfigError::Invalid {
        key: "station.response_minutes",
        problem: format!("has {} values", v.len()),
        fix: "give four numbers of minutes, for levels 1 to 4 (default [0, 10, 30, 240])",
    })?;
    let ordered = minutes.windows(2).all(|w| w[0] <= w[1]);
    if !ordered || minutes.iter().any(|m| !(0..=1440).contains(m)) {
        return Err(ConfigError::Invalid {
            key: "station.response_minutes",
            problem: format!("is {minutes:?}"),
            fix: "use 0 to 1440 minutes, never shorter for a less urgent level (default [0, 10, 30, 240])",
        });
    }
    Ok(Station { url, token_file, ca_file, tls, response_minutes: minutes.map(|m| m as u32) })
}

fn validate_voice(raw: &RawVoice) -> Result<speech::tts::VoiceConfig, ConfigError> {
    let voice_name = |name: &str, key: &'static str, offered: &[&str], fix: &'static str| {
        if offered.contains(&name) {
            Ok(name.to_owned())
        } else {
            Err(ConfigError::Invalid {
                key,
                problem: format!("is {name:?}, not an installed voice for this language"),
                fix,
            })
        }
    };
    let rate = |value: f64, key: &'static str| {
        if (0.5..=1.5).contains(&value) {
            Ok(value as f32)
        } else {
            Err(ConfigError::Invalid {
                key,
                problem: format!("is {value}"),
                fix: "use 0.5 to 1.5 (1.0 is normal speed)",
            })
        }
    };
    let volume = if (0.05..=1.0).contains(&raw.volume) {
        raw.volume as f32
    } else {
        return Err(ConfigError::Invalid {
            key: "speech.voice.volume",
            problem: format!("is {}", raw.volume),
            fix: "use 0.05 to 1.0 (the kiosk must stay audible; turn the speaker down instead)",
        });
    };
    Ok(speech::tts::VoiceConfig {
        zh_voice: voice_name(
            &raw.zh_voice,
            "speech.voice.zh_voice",
            &ZH_VOICES,
            "use one of \"zf_xiaobei\", \"zf_xiaoyi\", \"zm_yunjian\"",
        )?,
        en_voice: voice_name(
            &raw.en_voice,
            "speech.voice.en_voice",
            &EN_VOICES,
            "use one of \"af_heart\", \"am_michael\", \"bf_emma\"",
        )?,
        speed: rate(raw.speed, "speech.voice.speed")?,
        elderly_speed: rate(raw.elderly_speed, "speech.voice.elderly_speed")?,
        volume,
    })
}

fn validate_endpoint(raw: &RawEndpoint) -> Result<speech::endpoint::EndpointConfig, ConfigError> {
    if !(0.05..=0.95).contains(&raw.vad_threshold) {
        return Err(ConfigError::Invalid {
            key: "speech.endpoint.vad_threshold",
            problem: format!("is {}", raw.vad_threshold),
            fix: "use 0.05 to 0.95 (0.5 is the tested default)",
        });
    }
    let elderly_end_story_ms = ms_in(
        raw.elderly_end_story_ms,
        "speech.endpoint.elderly_end_story_ms",
        1_600..=6_000,
        "use 1600 to 6000 ms: it must stay above the 1.5 s pauses of elderly speakers",
    )?;
    Ok(speech::endpoint::EndpointConfig {
        threshold: raw.vad_threshold as f32,
        pre_roll_ms: ms_in(raw.pre_roll_ms, "speech.endpoint.pre_roll_ms", 0..=2_000, "use 0 to 2000 ms")?,
        end_short_ms: ms_in(
            raw.end_short_ms,
            "speech.endpoint.end_short_ms",
            200..=3_000,
            "use 200 to 3000 ms",
        )?,
        end_story_ms: ms_in(
            raw.end_story_ms,
            "speech.endpoint.end_story_ms",
            300..=5_000,
            "use 300 to 5000 ms",
        )?,
        elderly_end_short_ms: ms_in(
            raw.elderly_end_short_ms,
            "speech.endpoint.elderly_end_short_ms",
            300..=5_000,
            "use 300 to 5000 ms",
        )?,
        elderly_end_story_ms,
        max_utterance_ms: ms_in(
            raw.max_utterance_ms,
            "speech.endpoint.max_utterance_ms",
            3_000..=120_000,
            "use 3000 to 120000 ms",
        )?,
        ..speech::endpoint::EndpointConfig::default()
    })
}

fn parse_language(value: &str, key: &'static str) -> Result<Lang, ConfigError> {
    match value {
        "zh" => Ok(Lang::Zh),
        "en" => Ok(Lang::En),
        other => Err(ConfigError::Invalid {
            key,
            problem: format!("contains unknown language {other:?}"),
            fix: "use \"zh\" (Mandarin) or \"en\" (English)",
        }),
    }
}

/// Environment inputs to directory resolution (injectable for tests).
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `$KIOSK_MODELS_DIR`.
    pub models_dir: Option<PathBuf>,
    /// `$KIOSK_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self {
            models_dir: var(MODELS_DIR_ENV),
            data_dir: var(DATA_DIR_ENV),
            xdg_data_home: var("XDG_DATA_HOME"),
            home: var("HOME"),
        }
    }
}

/// Precedence: environment variable, then the config key, then `$XDG_DATA_HOME/kiosk/<leaf>`.
fn resolve_dir(
    config_value: &str,
    env_value: Option<&Path>,
    env: &Env,
    leaf: &str,
    key: &'static str,
) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = env_value {
        return Ok(dir.to_owned());
    }
    if !config_value.is_empty() {
        let path = PathBuf::from(config_value);
        if !path.is_absolute() {
            return Err(ConfigError::Invalid {
                key,
                problem: format!("is the relative path {config_value:?}"),
                fix: "use an absolute path (the kiosk may be started from any directory)",
            });
        }
        return Ok(path);
    }
    let base =
        env.xdg_data_home.clone().or_else(|| env.home.as_ref().map(|h| h.join(".local/share"))).ok_or(
            ConfigError::Invalid {
                key,
                problem: "is empty and neither XDG_DATA_HOME nor HOME is set".into(),
                fix: "set it to an absolute path",
            },
        )?;
    Ok(base.join("kiosk").join(leaf))
}

/// Overlays `overlay` onto `base`, table by table.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env { home: Some("/home/k".into()), ..Env::default() }
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let config = Config::from_toml(None, "-", &env()).expect("defaults valid");
        assert_eq!(config.languages, vec![Lang::Zh, Lang::En]);
        assert_eq!(config.models_dir, PathBuf::from("/home/k/.local/share/kiosk/models"));
        assert_eq!(config.asr_threads, 2);
        // The file's values are the engine's tested defaults.
        assert_eq!(config.endpoint, speech::endpoint::EndpointConfig::default());
        assert_eq!(config.voice, speech::tts::VoiceConfig::default());
        assert_eq!(config.echo, speech::voice::EchoConfig::default());
        assert_eq!(config.barge_in_ms, None);
        assert_eq!(config.voice_backend, VoiceBackend::Kokoro);
        assert_eq!((config.input_device, config.output_device), (None, None));
        assert_eq!(config.station, Station::default(), "standalone unless a station is configured");
    }

    #[test]
    fn a_station_link_is_read() {
        let site = "[station]\nurl = \"https://station.local:8440/\"\ntoken_file = \"/etc/kiosk/token\"\n";
        let config = Config::from_toml(Some(site), "site", &env()).expect("valid");
        assert_eq!(config.station.url.as_deref(), Some("https://station.local:8440"));
        assert_eq!(config.station.token_file, Some(PathBuf::from("/etc/kiosk/token")));
    }

    #[test]
    fn site_file_overrides_only_its_keys() {
        let config =
            Config::from_toml(Some("[kiosk]\nkiosk_id = \"east-2\"\n"), "site.toml", &env()).expect("valid");
        assert_eq!(config.kiosk_id, "east-2");
        assert_eq!(config.default_language, Lang::Zh);
    }

    #[test]
    fn env_overrides_config_dir() {
        let overridden = Env { models_dir: Some("/srv/m".into()), ..env() };
        let config =
            Config::from_toml(Some("[models]\ndir = \"/opt/m\"\n"), "site", &overridden).expect("valid");
        assert_eq!(config.models_dir, PathBuf::from("/srv/m"));
        let config = Config::from_toml(Some("[models]\ndir = \"/opt/m\"\n"), "site", &env()).expect("valid");
        assert_eq!(config.models_dir, PathBuf::from("/opt/m"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            ("[kiosk]\nlanguages = [\"fr\"]\n", "kiosk.languages"),
            ("[kiosk]\ndefault_language = \"en\"\nlanguages = [\"zh\"]\n", "kiosk.default_language"),
            ("[speech]\nasr_threads = 0\n", "speech.asr_threads"),
            ("[speech.endpoint]\nelderly_end_story_ms = 1200\n", "speech.endpoint.elderly_end_story_ms"),
            ("[speech.endpoint]\nvad_threshold = 2.0\n", "speech.endpoint.vad_threshold"),
            ("[speech.voice]\nzh_voice = \"af_heart\"\n", "speech.voice.zh_voice"),
            ("[speech.voice]\nen_voice = \"nobody\"\n", "speech.voice.en_voice"),
            ("[speech.voice]\nelderly_speed = 0.1\n", "speech.voice.elderly_speed"),
            ("[speech.voice]\nvolume = 0\n", "speech.voice.volume"),
            ("[speech.voice]\nbackend = \"festival\"\n", "speech.voice.backend"),
            ("[speech]\nbarge_in_ms = 50\n", "speech.barge_in_ms"),
            ("[speech]\necho_tail_ms = -1\n", "speech.echo_tail_ms"),
            ("[models]\ndir = \"models\"\n", "models.dir"),
            ("[store]\nretention_days = 0\n", "store.retention_days"),
            ("[understanding]\nsemantic = \"bert\"\n", "understanding.semantic"),
            ("[understanding]\nsemantic_threshold = 1.5\n", "understanding.semantic_threshold"),
            ("[understanding]\nlanguage_model = \"gpt\"\n", "understanding.language_model"),
            ("[understanding]\nlanguage_model_threads = 0\n", "understanding.language_model_threads"),
            ("[understanding]\nnarrative_budget_s = -1\n", "understanding.narrative_budget_s"),
            ("[understanding]\nnarrative_languages = [\"fr\"]\n", "understanding.narrative_languages"),
            ("[speech]\nasr_thread = 2\n", "asr_thread"),
            ("[speech]\nasr_threads = \"two\"\n", "asr_threads"),
            ("[kiosk\n", "site"),
            ("[station]\nurl = \"10.0.0.5:8440\"\n", "station.url"),
            ("[station]\nurl = \"http://\"\n", "station.url"),
            ("[station]\nresponse_minutes = [0, 10, 30]\n", "station.response_minutes"),
            ("[station]\nresponse_minutes = [0, 30, 10, 240]\n", "station.response_minutes"),
            ("[station]\ntls_cert = \"/etc/kiosk/station.pem\"\n", "station.tls_cert"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(Some(text), "site", &env()).expect_err(text);
            assert!(err.to_string().contains(key), "{text:?} -> {err}");
        }
    }
}
