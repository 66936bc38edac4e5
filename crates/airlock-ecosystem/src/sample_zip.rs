//! Malware sample zips, the way researchers exchange them: a zip, usually encrypted
//! (ZipCrypto or AES) with the customary password `infected`, holding one or more
//! package artifacts. This module lists the entries that are packages and copies each
//! one, byte for byte, into a directory — never unpacking an artifact itself and never
//! running anything.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::RegistryError;

/// The password tried when a zip is encrypted and none was given.
pub const DEFAULT_PASSWORD: &str = "infected";

/// Largest single entry copied out (uncompressed).
const MAX_ENTRY: u64 = 512 << 20;

/// What a package entry of a sample zip is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleKind {
    /// `.whl`
    PyWheel,
    /// `.tar.gz` (or `.tar.bz2`) sdist.
    PySdistTarGz,
    /// `.zip` sdist.
    PySdistZip,
    /// `.tgz` npm tarball.
    NpmTarball,
}

impl SampleKind {
    /// The kind an entry's file name implies. `.tgz` is npm's tarball name (`npm pack`
    /// writes it); `.tar.gz` is Python's sdist name.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".whl") {
            Some(SampleKind::PyWheel)
        } else if lower.ends_with(".tar.gz") || lower.ends_with(".tar.bz2") {
            Some(SampleKind::PySdistTarGz)
        } else if lower.ends_with(".tgz") {
            Some(SampleKind::NpmTarball)
        } else if lower.ends_with(".zip") {
            Some(SampleKind::PySdistZip)
        } else {
            None
        }
    }

    pub fn ecosystem(self) -> airlock_events::Ecosystem {
        match self {
            SampleKind::NpmTarball => airlock_events::Ecosystem::Npm,
            _ => airlock_events::Ecosystem::Pypi,
        }
    }
}

/// A package entry of a sample zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEntry {
    /// Index in the zip's central directory.
    pub index: usize,
    /// Path inside the zip, as stored.
    pub name: String,
    /// Last path component (the artifact's file name, which pip and npm rely on).
    pub file_name: String,
    pub kind: SampleKind,
    /// Uncompressed size the zip declares.
    pub size: u64,
    pub encrypted: bool,
}

/// The listing of a sample zip.
#[derive(Debug, Clone)]
pub struct SampleZip {
    pub path: PathBuf,
    /// True when any entry is encrypted.
    pub encrypted: bool,
    /// Package entries, in zip order.
    pub entries: Vec<SampleEntry>,
    /// Number of entries that are not packages (READMEs, directories, ...).
    pub skipped: usize,
}

/// One entry copied out of a sample zip.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub entry: SampleEntry,
    /// Where the bytes now are: `<dest>/<index>/<file_name>`.
    pub path: PathBuf,
    pub sha256: String,
}

fn open_archive(path: &Path) -> Result<zip::ZipArchive<Cursor<Vec<u8>>>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| RegistryError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| RegistryError::NotZip {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// True when the file at `path` starts like a zip (local header or empty archive).
pub fn looks_like_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06")
}

/// Lists the package entries of the zip at `path` (no password needed: names are not
/// encrypted). Fails when it is not a zip or holds no package.
pub fn list(path: &Path) -> Result<SampleZip, RegistryError> {
    let mut zip = open_archive(path)?;
    list_archive(&mut zip, path)
}

fn list_archive(
    zip: &mut zip::ZipArchive<Cursor<Vec<u8>>>,
    path: &Path,
) -> Result<SampleZip, RegistryError> {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let mut encrypted = false;
    for index in 0..zip.len() {
        let f = zip.by_index_raw(index).map_err(|e| RegistryError::NotZip {
            path: path.to_path_buf(),
            message: format!("entry #{index}: {e}"),
        })?;
        encrypted |= f.encrypted();
        let name = String::from_utf8_lossy(f.name_raw()).to_string();
        let file_name = name.rsplit(['/', '\\']).next().unwrap_or("").to_string();
        let kind = (!f.is_dir())
            .then(|| SampleKind::from_file_name(&file_name))
            .flatten();
        match kind {
            Some(kind) if !file_name.starts_with('.') => entries.push(SampleEntry {
                index,
                file_name,
                kind,
                size: f.size(),
                encrypted: f.encrypted(),
                name,
            }),
            _ => skipped.push(name),
        }
    }
    if entries.is_empty() {
        let mut shown: Vec<&str> = skipped.iter().map(String::as_str).take(10).collect();
        if shown.is_empty() {
            shown.push("none");
        }
        return Err(RegistryError::NoPackage {
            path: path.to_path_buf(),
            entries: shown.join(", "),
        });
    }
    Ok(SampleZip {
        path: path.to_path_buf(),
        encrypted,
        skipped: skipped.len(),
        entries,
    })
}

/// Copies every package entry of the zip at `path` into `dest/<index>/<file_name>`,
/// decrypting with `password` (or [`DEFAULT_PASSWORD`] when the zip is encrypted and
/// none was given). Bytes only: the artifacts are not unpacked. A wrong password is
/// reported as such ([`RegistryError::ZipPassword`]).
pub fn extract(
    path: &Path,
    password: Option<&str>,
    dest: &Path,
) -> Result<Vec<Extracted>, RegistryError> {
    let mut zip = open_archive(path)?;
    let listing = list_archive(&mut zip, path)?;
    let password = password.unwrap_or(DEFAULT_PASSWORD);
    let mut out = Vec::new();
    for entry in listing.entries {
        let bytes = read_entry(&mut zip, &entry, password, path)?;
        let dir = dest.join(format!("{:04}", entry.index));
        std::fs::create_dir_all(&dir).map_err(|e| RegistryError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let file = dir.join(&entry.file_name);
        std::fs::write(&file, &bytes).map_err(|e| RegistryError::Io {
            path: file.clone(),
            source: e,
        })?;
        out.push(Extracted {
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            path: file,
            entry,
        });
    }
    Ok(out)
}

/// [`extract`] into a fresh temporary directory, removed when the returned guard drops.
pub fn extract_to_temp(
    path: &Path,
    password: Option<&str>,
) -> Result<(tempfile::TempDir, Vec<Extracted>), RegistryError> {
    let dir = tempfile::Builder::new()
        .prefix("airlock-sample-")
        .tempdir()
        .map_err(|e| RegistryError::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
    let got = extract(path, password, dir.path())?;
    Ok((dir, got))
}

fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<Vec<u8>>>,
    entry: &SampleEntry,
    password: &str,
    path: &Path,
) -> Result<Vec<u8>, RegistryError> {
    let wrong = || RegistryError::ZipPassword {
        path: path.to_path_buf(),
        password: password.to_string(),
    };
    let f = if entry.encrypted {
        zip.by_index_decrypt(entry.index, password.as_bytes())
    } else {
        zip.by_index(entry.index)
    };
    let f = match f {
        Ok(f) => f,
        Err(zip::result::ZipError::InvalidPassword) => return Err(wrong()),
        Err(e) => {
            return Err(RegistryError::BadArtifact {
                path: path.to_path_buf(),
                message: format!("entry {}: {e}", entry.name),
            })
        }
    };
    let mut bytes = Vec::new();
    let res = f.take(MAX_ENTRY + 1).read_to_end(&mut bytes);
    match res {
        // ZipCrypto's header check lets 1 wrong password in 256 through; the CRC (or
        // AES's HMAC) then fails on read.
        Err(_) if entry.encrypted => Err(wrong()),
        Err(e) => Err(RegistryError::BadArtifact {
            path: path.to_path_buf(),
            message: format!("entry {}: {e}", entry.name),
        }),
        Ok(_) if bytes.len() as u64 > MAX_ENTRY => Err(RegistryError::BadArtifact {
            path: path.to_path_buf(),
            message: format!("entry {} is larger than 512 MiB", entry.name),
        }),
        Ok(_) => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::zip_bytes;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    const SDIST: &[u8] = b"\x1f\x8bfake sdist bytes";
    const WHEEL: &[u8] = b"PK\x03\x04fake wheel bytes";
    const NPM: &[u8] = b"\x1f\x8bfake npm bytes";

    fn sample(password: Option<(&str, bool)>) -> Vec<u8> {
        zip_bytes(
            &[
                ("README.txt", b"handle with care"),
                ("evil/1.0/evil-1.0.tar.gz", SDIST),
                ("evil/1.0/evil-1.0-py3-none-any.whl", WHEEL),
                ("npm/bad-2.0.0.tgz", NPM),
            ],
            password,
        )
    }

    fn check(got: &[Extracted]) {
        let kinds: Vec<(SampleKind, &str)> = got
            .iter()
            .map(|e| (e.entry.kind, e.entry.file_name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (SampleKind::PySdistTarGz, "evil-1.0.tar.gz"),
                (SampleKind::PyWheel, "evil-1.0-py3-none-any.whl"),
                (SampleKind::NpmTarball, "bad-2.0.0.tgz"),
            ]
        );
        for (e, want) in got.iter().zip([SDIST, WHEEL, NPM]) {
            assert_eq!(std::fs::read(&e.path).unwrap(), want);
            assert_eq!(e.sha256, crate::testutil::sha256_hex(want));
            assert_eq!(e.path.file_name().unwrap(), e.entry.file_name.as_str());
        }
    }

    #[test]
    fn plain_zip_lists_and_extracts_packages_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.zip", &sample(None));
        let l = list(&p).unwrap();
        assert!(!l.encrypted);
        assert_eq!(l.entries.len(), 3);
        assert_eq!(l.skipped, 1);
        let out = tempfile::tempdir().unwrap();
        check(&extract(&p, None, out.path()).unwrap());
    }

    #[test]
    fn zipcrypto_and_aes_zips_open_with_the_default_password() {
        for aes in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = write(dir.path(), "s.zip", &sample(Some(("infected", aes))));
            assert!(list(&p).unwrap().encrypted);
            let (tmp, got) = extract_to_temp(&p, None).unwrap();
            check(&got);
            let kept = tmp.path().to_path_buf();
            drop(tmp);
            assert!(!kept.exists(), "temp dir must be removed");
        }
    }

    #[test]
    fn explicit_password_and_wrong_password() {
        for aes in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = write(dir.path(), "s.zip", &sample(Some(("s3cret", aes))));
            let out = tempfile::tempdir().unwrap();
            check(&extract(&p, Some("s3cret"), out.path()).unwrap());
            let e = extract(&p, None, out.path()).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: the zip is encrypted and the password `infected` is wrong",
                    p.display()
                ),
                "aes={aes}"
            );
            // Many wrong passwords: ZipCrypto's 1-in-256 header pass must still fail.
            for i in 0..300 {
                let pw = format!("wrong{i}");
                match extract(&p, Some(&pw), out.path()) {
                    Err(RegistryError::ZipPassword { password, .. }) => assert_eq!(password, pw),
                    other => panic!("aes={aes} pw={pw}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn not_a_zip_and_no_package() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "x.zip", b"just text");
        assert!(!looks_like_zip(&p));
        let e = list(&p).unwrap_err().to_string();
        assert!(e.contains("x.zip: not a zip archive"), "{e}");
        let p = write(
            dir.path(),
            "y.zip",
            &zip_bytes(
                &[("notes.txt", b"x"), ("a/b.py", b"")],
                Some(("infected", true)),
            ),
        );
        assert!(looks_like_zip(&p));
        let e = extract(&p, None, dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("y.zip: no package inside") && e.contains("notes.txt"),
            "{e}"
        );
    }

    #[test]
    fn hostile_entry_names_land_inside_dest() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "h.zip",
            &zip_bytes(&[("../../../tmp/escape-1.0.tar.gz", SDIST)], None),
        );
        let out = tempfile::tempdir().unwrap();
        let got = extract(&p, None, out.path()).unwrap();
        assert_eq!(
            got[0].path,
            out.path().join("0000").join("escape-1.0.tar.gz")
        );
        assert_eq!(got[0].entry.name, "../../../tmp/escape-1.0.tar.gz");
    }

    /// Opens the real corpus (bytes only — nothing is unpacked further or run) and
    /// reports how many package entries decrypt.
    #[test]
    #[ignore = "reads the real malware corpus zip"]
    fn real_corpus_entries_open() {
        let zip = Path::new("/work/shared/corpus/pypi-malicious-dev/samples.zip");
        let l = list(zip).unwrap();
        let (_tmp, got) = extract_to_temp(zip, None).unwrap();
        let mut metadata_ok = 0;
        let mut errors = Vec::new();
        for e in &got {
            match crate::pypi::read_metadata(&e.path) {
                Ok(_) => metadata_ok += 1,
                Err(err) => errors.push(err.to_string()),
            }
        }
        eprintln!(
            "corpus: {} package entries ({} skipped), {} extracted, {} with readable metadata",
            l.entries.len(),
            l.skipped,
            got.len(),
            metadata_ok
        );
        for e in errors.iter().take(20) {
            eprintln!("  {e}");
        }
        assert_eq!(got.len(), l.entries.len());
        assert!(metadata_ok * 10 >= got.len() * 9, "{errors:?}");
    }
}
