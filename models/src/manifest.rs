//! The manifest: what is installed, with size, hash, licence and source packages, as JSON beside
//! the models so that staff (and `kiosk models list`) can see exactly what runs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::catalog::{Catalog, FileSpec, ModelSpec};

/// File name of the manifest inside the models directory.
pub const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_VERSION: u32 = 1;

/// Installed files.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version.
    pub manifest_version: u32,
    /// One entry per installed file, sorted by path.
    pub files: Vec<ManifestEntry>,
}

/// One installed file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Model name.
    pub model: String,
    /// Path relative to the models directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256, lower-case hex.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// Registry packages it came from (`name==version`), or a note for derived files.
    pub source_packages: Vec<String>,
    /// When it was installed (Unix seconds).
    pub installed_unix_s: u64,
}

impl ManifestEntry {
    /// An entry for a file just built from its catalog source.
    pub(crate) fn new(catalog: &Catalog, model: &ModelSpec, file: &FileSpec, now: u64) -> Self {
        let mut packages: Vec<String> = file
            .source
            .members()
            .iter()
            .filter_map(|m| catalog.package(&m.package).map(|p| p.pin()))
            .collect();
        packages.dedup();
        if packages.is_empty() {
            packages.push("derived from another installed file".into());
        }
        Self::with_sources(model, file, packages, now)
    }

    /// An entry for a file found already in place with the pinned hash (the manifest was lost).
    pub(crate) fn from_existing(model: &ModelSpec, file: &FileSpec, now: u64) -> Self {
        Self::with_sources(model, file, vec!["found in place, hash verified".into()], now)
    }

    fn with_sources(model: &ModelSpec, file: &FileSpec, source_packages: Vec<String>, now: u64) -> Self {
        Self {
            model: model.name.clone(),
            path: file.path.clone(),
            bytes: file.bytes,
            sha256: file.sha256.clone(),
            licence: model.licence.clone(),
            source_packages,
            installed_unix_s: now,
        }
    }
}

impl Manifest {
    /// Reads the manifest; a missing or unreadable one is treated as empty (files are then hashed
    /// and adopted, never trusted blindly).
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(MANIFEST_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else { return Self::default() };
        match serde_json::from_str::<Self>(&text) {
            Ok(manifest) => manifest,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable model manifest");
                Self::default()
            }
        }
    }

    /// The entry for `path`.
    pub fn entry(&self, path: &str) -> Option<&ManifestEntry> {
        self.files.iter().find(|e| e.path == path)
    }

    pub(crate) fn record(&mut self, entry: ManifestEntry) {
        self.files.retain(|e| e.path != entry.path);
        self.files.push(entry);
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// Writes the manifest atomically (temporary file, then rename).
    pub(crate) fn save(&mut self, dir: &Path) -> Result<(), Error> {
        self.manifest_version = MANIFEST_VERSION;
        let path = dir.join(MANIFEST_FILE);
        let tmp = crate::install::partial_path(&path);
        let text =
            serde_json::to_string_pretty(self).map_err(|e| Error::Catalog { detail: e.to_string() })?;
        std::fs::write(&tmp, text).map_err(|e| Error::io("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("cannot rename into place", &path, e))?;
        crate::install::sync_dir(dir);
        Ok(())
    }
}
