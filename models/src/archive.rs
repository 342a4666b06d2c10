//! Reading members out of package files: wheels are zip files, sdists and npm packages gzipped tars.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::Error;

/// A downloaded package file.
#[derive(Debug)]
pub(crate) struct Archive {
    pin: String,
    path: PathBuf,
}

impl Archive {
    pub(crate) fn new(pin: &str, path: &Path) -> Self {
        Self { pin: pin.to_owned(), path: path.to_owned() }
    }

    fn fail(&self, detail: impl ToString) -> Error {
        Error::Archive { pin: self.pin.clone(), path: self.path.clone(), detail: detail.to_string() }
    }

    fn open(&self) -> Result<File, Error> {
        File::open(&self.path).map_err(|e| Error::io("cannot open package", &self.path, e))
    }

    fn is_tar_gz(&self) -> bool {
        let name = self.path.to_string_lossy();
        name.ends_with(".tar.gz") || name.ends_with(".tgz")
    }

    /// Streams `member` into `out`, returning the bytes copied. Errors from `out` are returned as
    /// they are (so a full disk is reported as such, not as a broken archive).
    pub(crate) fn copy_member(&self, member: &str, out: &mut dyn Write) -> Result<u64, CopyError> {
        if self.is_tar_gz() {
            let gz = flate2::read::GzDecoder::new(BufReader::new(self.open()?));
            let mut tar = tar::Archive::new(gz);
            let entries = tar.entries().map_err(|e| self.fail(e))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| self.fail(e))?;
                let is_member = entry.path().map(|p| p == Path::new(member)).unwrap_or(false);
                if is_member {
                    return copy(&mut entry, out).map_err(|e| self.classify(e));
                }
            }
            Err(self.fail(format!("no member {member}")).into())
        } else {
            let mut zip = zip::ZipArchive::new(BufReader::new(self.open()?))
                .map_err(|e| self.fail(format!("not a zip archive ({e})")))?;
            let mut entry =
                zip.by_name(member).map_err(|e| self.fail(format!("no member {member} ({e})")))?;
            copy(&mut entry, out).map_err(|e| self.classify(e))
        }
    }

    /// Reads `member` into memory.
    pub(crate) fn read_member(&self, member: &str) -> Result<Vec<u8>, Error> {
        let mut buf = Vec::new();
        self.copy_member(member, &mut buf).map_err(|e| match e {
            CopyError::Read(e) => e,
            CopyError::Write(e) => Error::io("cannot buffer member of", &self.path, e),
        })?;
        Ok(buf)
    }

    fn classify(&self, e: CopyFailure) -> CopyError {
        match e {
            CopyFailure::Read(e) => CopyError::Read(self.fail(format!("corrupt data ({e})"))),
            CopyFailure::Write(e) => CopyError::Write(e),
        }
    }
}

/// Why a member copy failed: the archive (read side) or the destination (write side).
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The package is unreadable or lacks the member.
    Read(Error),
    /// The destination refused the bytes.
    Write(std::io::Error),
}

impl From<Error> for CopyError {
    fn from(e: Error) -> Self {
        Self::Read(e)
    }
}

enum CopyFailure {
    Read(std::io::Error),
    Write(std::io::Error),
}

fn copy(reader: &mut dyn Read, out: &mut dyn Write) -> Result<u64, CopyFailure> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyFailure::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(CopyFailure::Write)?;
        total += n as u64;
    }
}
