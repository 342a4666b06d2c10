//! Getting package files: from a folder the hospital copied over (`--from DIR`), from the local
//! package cache, or from the registry with its ordinary client (`pip download`, `npm pack`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::catalog::{PackageSpec, Registry};

/// Platform tags for binary wheels: the kiosk runs on x86-64 Linux (glibc 2.28+), and the one
/// CPython-specific wheel (onnxruntime, which we only mine for its shared library) is taken for 3.11
/// whatever Python the installing machine has.
const WHEEL_TARGET_ARGS: &[&str] = &[
    "--only-binary=:all:",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--abi",
    "abi3",
    "--abi",
    "none",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "any",
];

/// How packages are fetched. The defaults use `python3 -m pip` and `npm` from `PATH`.
#[derive(Clone, Debug)]
pub struct Fetcher {
    /// Python interpreter that runs pip.
    pub python: String,
    /// npm client.
    pub npm: String,
    /// Extra environment for the clients (tests point them at an unreachable registry).
    pub env: Vec<(String, String)>,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self { python: "python3".into(), npm: "npm".into(), env: Vec::new() }
    }
}

/// Where package files are looked up, in order.
#[derive(Clone, Debug)]
pub struct PackageSource {
    /// A folder of already-downloaded package files (offline install). When set, nothing is
    /// downloaded: a package missing from it is an error.
    pub from_dir: Option<PathBuf>,
    /// Cache of downloaded packages (kept so that a second install is offline and instant).
    pub cache_dir: PathBuf,
    /// The registry clients.
    pub fetcher: Fetcher,
}

impl PackageSource {
    /// Finds or downloads `package`, returning its path.
    pub(crate) fn obtain(&self, package: &PackageSpec) -> Result<PathBuf, Error> {
        if let Some(dir) = &self.from_dir {
            return find_in(dir, package)?
                .ok_or_else(|| Error::PackageNotInFolder { pin: package.pin(), dir: dir.clone() });
        }
        if let Some(path) = find_in(&self.cache_dir, package)? {
            return Ok(path);
        }
        std::fs::create_dir_all(&self.cache_dir)
            .map_err(|e| Error::io("cannot create package cache", &self.cache_dir, e))?;
        self.fetcher.download(package, &self.cache_dir)?;
        find_in(&self.cache_dir, package)?.ok_or_else(|| Error::Download {
            pin: package.pin(),
            registry: registry_name(package.registry),
            detail: "the client reported success but left no package file".into(),
        })
    }
}

impl PackageSource {
    /// Deletes a cached download (one that failed its checksum) so the next run fetches it again.
    /// Files in `--from DIR` belong to the hospital and are never touched.
    pub(crate) fn forget(&self, package: &PackageSpec) {
        if self.from_dir.is_some() {
            return;
        }
        if let Ok(Some(path)) = find_in(&self.cache_dir, package) {
            tracing::warn!(package = %package.pin(), "deleting cached package that failed its checksum");
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Looks for the package's file in `dir` (not recursive).
fn find_in(dir: &Path, package: &PackageSpec) -> Result<Option<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let name = entry.file_name();
        if package.matches_file_name(&name.to_string_lossy()) {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

fn registry_name(registry: Registry) -> &'static str {
    match registry {
        Registry::Pypi | Registry::PypiSdist => "PyPI",
        Registry::Npm => "the npm registry",
    }
}

impl Fetcher {
    /// Downloads one package into `dest_dir` with the registry's own client.
    pub fn download(&self, package: &PackageSpec, dest_dir: &Path) -> Result<(), Error> {
        let pin = package.pin();
        let dest = dest_dir.to_string_lossy().into_owned();
        let (tool, mut cmd, hint) = match package.registry {
            Registry::Pypi | Registry::PypiSdist => {
                let mut cmd = Command::new(&self.python);
                cmd.args(["-m", "pip", "download", "--no-deps", "--no-input"]).args([
                    "--disable-pip-version-check",
                    "--progress-bar",
                    "off",
                    "-d",
                    &dest,
                ]);
                if package.registry == Registry::Pypi {
                    cmd.args(WHEEL_TARGET_ARGS);
                } else {
                    cmd.arg("--no-binary=:all:");
                }
                cmd.arg(&pin);
                (format!("{} -m pip", self.python), cmd, "install it with `apt-get install python3-pip`")
            }
            Registry::Npm => {
                let mut cmd = Command::new(&self.npm);
                cmd.args(["pack", &pin, "--pack-destination", &dest, "--silent"])
                    // `npm pack` must not pick up a package.json from wherever we happen to be.
                    .current_dir(dest_dir);
                (self.npm.clone(), cmd, "install it with `apt-get install npm`")
            }
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        tracing::info!(package = %pin, "downloading");
        let output = cmd.output().map_err(|e| Error::ToolMissing {
            tool: tool.clone(),
            pin: pin.clone(),
            detail: e.to_string(),
            hint,
        })?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No space left on device") {
            let free_mb = crate::install::available_bytes(dest_dir).unwrap_or(0) / 1_000_000;
            return Err(Error::DiskFull {
                path: dest_dir.to_owned(),
                detail: format!("{tool} ran out of space downloading {pin} ({free_mb} MB free)"),
            });
        }
        if stderr.contains("No module named pip") {
            return Err(Error::ToolMissing { tool, pin, detail: "pip is not installed".into(), hint });
        }
        Err(Error::Download {
            pin,
            registry: registry_name(package.registry),
            detail: summarize_client_error(&stderr, output.status.code()),
        })
    }
}

/// The client's most telling line: its `ERROR:` line if it printed one, else its last line.
fn summarize_client_error(stderr: &str, code: Option<i32>) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("ERROR") || l.starts_with("npm error") || l.starts_with("npm ERR"))
        .or(lines.last())
        .copied()
        .unwrap_or("no message");
    let code = code.map_or_else(|| "killed".to_owned(), |c| format!("exit code {c}"));
    format!("{line} ({code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_prefers_error_line() {
        let stderr = "WARNING: Retrying\nERROR: Could not find a version that satisfies x==1\nfoo\n";
        assert_eq!(
            summarize_client_error(stderr, Some(1)),
            "ERROR: Could not find a version that satisfies x==1 (exit code 1)"
        );
        assert_eq!(summarize_client_error("", None), "no message (killed)");
    }
}
