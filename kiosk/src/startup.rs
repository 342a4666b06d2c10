//! Start-up checks: the kiosk refuses to start without its speech-recognition model and starts
//! degraded (and says so) when an optional model is missing or corrupt.

use std::fmt::Write as _;

use models::{Catalog, ModelStatus};

use crate::config::Config;

/// A required model is missing or corrupt: the kiosk must not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot start: required model `{model}` ({role}) is not usable: {problem}.\n\
     Fix: run `kiosk models install {model}` (offline: `kiosk models install {model} --from DIR`), \
     then `kiosk models verify`."
)]
pub struct MissingRequiredModel {
    /// Model name.
    pub model: String,
    /// What it does.
    pub role: String,
    /// The file and what is wrong with it.
    pub problem: String,
}

/// An optional model that is not usable, and what the kiosk does without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degradation {
    /// Model name.
    pub model: String,
    /// The file and what is wrong with it.
    pub problem: String,
    /// What the kiosk does instead.
    pub fallback: &'static str,
}

/// Model health at start-up.
#[derive(Clone, Debug)]
pub struct ModelHealth {
    /// Per-model results, in catalog order.
    pub statuses: Vec<ModelStatus>,
    /// Optional models the kiosk runs without.
    pub degraded: Vec<Degradation>,
}

impl ModelHealth {
    /// Whether a model is installed and intact.
    pub fn is_usable(&self, name: &str) -> bool {
        self.statuses.iter().any(|s| s.name == name && s.is_ok())
    }

    /// A multi-line summary for the log and the staff status screen.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for status in &self.statuses {
            let state = if status.is_ok() {
                "OK"
            } else if status.required {
                "MISSING (required)"
            } else {
                "unavailable"
            };
            let _ = writeln!(out, "{:<14} {state}", status.name);
        }
        for d in &self.degraded {
            let _ = writeln!(out, "degraded: {} — {}; {}", d.model, d.problem, d.fallback);
        }
        out
    }
}

/// What the kiosk does without each optional model.
fn fallback_for(model: &str) -> &'static str {
    match model {
        "qwen2.5-0.5b" => "free-text extraction and narrative drafting are off (rules and embeddings only)",
        "minilm-l6" | "e5-small" => "semantic matching is off (rule-based understanding only)",
        "kokoro" | "onnxruntime" => "the neural voice is off (espeak-ng voice instead)",
        _ => "the feature it serves is off",
    }
}

/// Verifies every model in the catalog. Errors when a required one is unusable.
pub fn check_models(config: &Config, catalog: &Catalog) -> Result<ModelHealth, anyhow::Error> {
    let statuses = models::verify(catalog, &config.models_dir, &[])?;
    if let Some(bad) = statuses.iter().find(|s| s.required && !s.is_ok()) {
        return Err(MissingRequiredModel {
            model: bad.name.clone(),
            role: bad.role.clone(),
            problem: bad.problem().unwrap_or_default(),
        }
        .into());
    }
    let degraded = statuses
        .iter()
        .filter(|s| !s.is_ok())
        .map(|s| Degradation {
            model: s.name.clone(),
            problem: s.problem().unwrap_or_default(),
            fallback: fallback_for(&s.name),
        })
        .collect::<Vec<_>>();
    for d in &degraded {
        tracing::warn!(model = %d.model, problem = %d.problem, fallback = d.fallback, "starting degraded");
    }
    Ok(ModelHealth { statuses, degraded })
}
