//! Verifying installed models by re-hashing every file, and the start-up check the kiosk runs.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::catalog::{Catalog, FileSpec, ModelSpec};
use crate::install::sha256_file;

/// State of one installed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Present with the pinned size and hash.
    Ok,
    /// Not there.
    Missing,
    /// Present but the wrong size (truncated, or another file).
    WrongSize {
        /// Pinned size.
        expected: u64,
        /// Found size.
        actual: u64,
    },
    /// Present, right size, wrong content.
    Corrupt {
        /// sha256 found.
        actual_sha256: String,
    },
    /// Could not be read.
    Unreadable {
        /// The OS error.
        detail: String,
    },
}

/// One file's verification result.
#[derive(Clone, Debug)]
pub struct FileStatus {
    /// Path relative to the models directory.
    pub rel_path: String,
    /// Absolute path.
    pub path: PathBuf,
    /// Pinned sha256.
    pub expected_sha256: String,
    /// What was found.
    pub state: FileState,
}

/// One model's verification result.
#[derive(Clone, Debug)]
pub struct ModelStatus {
    /// Model name.
    pub name: String,
    /// Whether the kiosk needs it to start.
    pub required: bool,
    /// What it is for.
    pub role: String,
    /// Per-file results.
    pub files: Vec<FileStatus>,
}

impl ModelStatus {
    /// Every file is present and matches its pin.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|f| f.state == FileState::Ok)
    }

    /// The first problem, described for people (`None` when the model is fine).
    pub fn problem(&self) -> Option<String> {
        self.files.iter().find(|f| f.state != FileState::Ok).map(FileStatus::describe)
    }
}

impl FileStatus {
    /// A one-line description naming the file.
    pub fn describe(&self) -> String {
        let path = self.path.display();
        match &self.state {
            FileState::Ok => format!("{path}: OK"),
            FileState::Missing => format!("{path} is missing"),
            FileState::WrongSize { expected, actual } => {
                format!("{path} has {actual} bytes, expected {expected} (truncated or replaced)")
            }
            FileState::Corrupt { actual_sha256 } => {
                format!("{path} is corrupt: sha256 {actual_sha256}, expected {}", self.expected_sha256)
            }
            FileState::Unreadable { detail } => format!("{path} cannot be read: {detail}"),
        }
    }
}

/// Re-hashes every file of the selected models (all when `names` is empty). Models are checked in
/// parallel; the result keeps catalog order.
pub fn verify(catalog: &Catalog, models_dir: &Path, names: &[String]) -> Result<Vec<ModelStatus>, Error> {
    let models = catalog.select(names)?;
    Ok(std::thread::scope(|scope| {
        let handles: Vec<_> =
            models.iter().map(|model| scope.spawn(move || verify_model(model, models_dir))).collect();
        handles
            .into_iter()
            .zip(&models)
            .map(|(h, model)| h.join().unwrap_or_else(|_| panicked(model, models_dir)))
            .collect()
    }))
}

fn verify_model(model: &ModelSpec, dir: &Path) -> ModelStatus {
    ModelStatus {
        name: model.name.clone(),
        required: model.required,
        role: model.role.clone(),
        files: model.files.iter().map(|f| verify_file(f, dir)).collect(),
    }
}

fn verify_file(file: &FileSpec, dir: &Path) -> FileStatus {
    let path = dir.join(&file.path);
    let state = match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
        Err(e) => FileState::Unreadable { detail: e.to_string() },
        Ok(meta) if meta.len() != file.bytes => {
            FileState::WrongSize { expected: file.bytes, actual: meta.len() }
        }
        Ok(_) => match sha256_file(&path) {
            Ok(sha) if sha == file.sha256 => FileState::Ok,
            Ok(sha) => FileState::Corrupt { actual_sha256: sha },
            Err(e) => FileState::Unreadable { detail: e.to_string() },
        },
    };
    FileStatus { rel_path: file.path.clone(), path, expected_sha256: file.sha256.clone(), state }
}

fn panicked(model: &ModelSpec, dir: &Path) -> ModelStatus {
    let mut status = verify_model(&ModelSpec { files: Vec::new(), ..model.clone() }, dir);
    status.files = model
        .files
        .iter()
        .map(|f| FileStatus {
            rel_path: f.path.clone(),
            path: dir.join(&f.path),
            expected_sha256: f.sha256.clone(),
            state: FileState::Unreadable { detail: "verification thread panicked".into() },
        })
        .collect();
    status
}
