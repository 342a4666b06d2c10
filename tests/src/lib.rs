//! Shared helpers for the end-to-end tests: where the installed models and the fixtures are.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use speech::asr::{AsrConfig, Recognizer};

/// The models directory the kiosk itself would use (KIOSK_MODELS_DIR, config, default).
///
/// The test command (`deploy/test.sh`) installs the models first; a test run without them fails
/// with this message rather than skipping.
pub fn models_dir() -> PathBuf {
    let config = kiosk::config::Config::load(None).expect("kiosk configuration loads");
    let dir = config.config.models_dir;
    assert!(
        dir.join(models::MANIFEST_FILE).exists(),
        "no models installed in {}; run `deploy/test.sh` (or `kiosk models install`) first",
        dir.display()
    );
    dir
}

/// `tests/fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// One row of `fixtures/audio/manifest.tsv`.
#[derive(Clone, Debug)]
pub struct Clip {
    /// WAV path.
    pub path: PathBuf,
    /// `en` or `zh`.
    pub language: String,
    /// Reference transcript.
    pub transcript: String,
}

/// The recorded clips with their reference transcripts.
pub fn clips() -> Vec<Clip> {
    let dir = fixtures_dir().join("audio");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("audio manifest");
    manifest
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Clip {
                path: dir.join(fields[0]),
                language: fields[1].to_owned(),
                transcript: fields[3].to_owned(),
            }
        })
        .collect()
}

/// The installed whisper model, loaded once per test binary (2 threads, as on the kiosk).
pub fn recognizer() -> Arc<Recognizer> {
    static R: OnceLock<Arc<Recognizer>> = OnceLock::new();
    R.get_or_init(|| {
        let model_path = Recognizer::default_model_path(&models_dir());
        Arc::new(Recognizer::load(&AsrConfig { model_path, threads: 2 }).expect("whisper loads"))
    })
    .clone()
}
