//! Errors of the embedding models. Every message names the file at fault and what fixes it.

use std::path::PathBuf;

/// Anything that can go wrong loading or running an embedding model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file or directory is not there.
    #[error("embedding model {path} is missing; install it with `kiosk models install {model}`")]
    Missing {
        /// What was looked for.
        path: PathBuf,
        /// Catalog name of the model.
        model: &'static str,
    },

    /// The file is there but cannot be read.
    #[error("cannot read embedding model {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// The file is not what it should be (truncated, wrong format, damaged).
    #[error(
        "embedding model {path} is damaged or not a {format} file ({detail}); reinstall it with \
         `kiosk models install {model}` (a damaged file fails its hash and is replaced)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Expected format.
        format: &'static str,
        /// Catalog name of the model.
        model: &'static str,
        /// What is wrong.
        detail: String,
    },

    /// The tensor library failed while running the model.
    #[error("embedding model failed: {0}")]
    Candle(#[from] candle_core::Error),

    /// The tokenizer failed.
    #[error("embedding tokenizer failed: {0}")]
    Tokenizer(String),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
