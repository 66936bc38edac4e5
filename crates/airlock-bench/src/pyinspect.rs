//! Which `setup.py` a PyPI artifact carries, read in memory and never executed: the
//! malware corpus is full of near-identical typosquats, so recall is also reported per
//! distinct `setup.py` (its sha256). Wheels have no `setup.py`; they are keyed by the
//! hash of their Python sources instead.

use std::io::{Cursor, Read};

use sha2::{Digest, Sha256};

/// Largest member read out of an artifact.
const MAX_MEMBER: u64 = 8 << 20;

/// The grouping key of an artifact: `setup.py:<sha256>` for an sdist with a root
/// `setup.py`, `pyproject.toml:<sha256>` for one without, `wheel-py:<sha256>` over a
/// wheel's `.py` files (name and content, sorted), or `unreadable`.
pub fn group_key(bytes: &[u8]) -> String {
    let members = if bytes.starts_with(b"PK") {
        zip_members(bytes)
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        tar_gz_members(bytes)
    } else {
        None
    };
    let Some(mut members) = members else {
        return "unreadable".into();
    };
    members.sort_by(|a, b| a.0.cmp(&b.0));
    for wanted in ["setup.py", "pyproject.toml"] {
        let best = members
            .iter()
            .filter(|(p, _)| p.rsplit('/').next() == Some(wanted) && depth(p) <= 1)
            .min_by_key(|(p, _)| depth(p));
        if let Some((_, content)) = best {
            return format!("{wanted}:{}", hex::encode(Sha256::digest(content)));
        }
    }
    let mut h = Sha256::new();
    let mut any = false;
    for (p, content) in &members {
        if p.ends_with(".py") && !p.contains(".dist-info/") {
            h.update(p.as_bytes());
            h.update([0]);
            h.update(content);
            any = true;
        }
    }
    if any {
        format!("wheel-py:{}", hex::encode(h.finalize()))
    } else {
        "no-python".into()
    }
}

/// Directory depth of a member path (`a/setup.py` → 1).
fn depth(p: &str) -> usize {
    p.trim_start_matches("./").matches('/').count()
}

/// Members worth hashing: `setup.py`, `pyproject.toml` and `.py` files.
fn interesting(path: &str) -> bool {
    path.ends_with(".py") || path.ends_with("pyproject.toml")
}

fn tar_gz_members(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let gz = flate2::read::GzDecoder::new(Cursor::new(bytes));
    let mut ar = tar::Archive::new(gz);
    let mut out = Vec::new();
    for entry in ar.entries().ok()? {
        let Ok(entry) = entry else { break };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = match entry.path() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(_) => continue,
        };
        if !interesting(&path) {
            continue;
        }
        let mut content = Vec::new();
        if entry.take(MAX_MEMBER).read_to_end(&mut content).is_err() {
            break;
        }
        out.push((path.trim_start_matches("./").to_string(), content));
    }
    Some(out)
}

fn zip_members(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(f) = zip.by_index(i) else { continue };
        if f.is_dir() {
            continue;
        }
        let path = String::from_utf8_lossy(f.name_raw()).into_owned();
        if !interesting(&path) {
            continue;
        }
        let mut content = Vec::new();
        if f.take(MAX_MEMBER).read_to_end(&mut content).is_err() {
            continue;
        }
        out.push((path, content));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, c) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, p, *c).unwrap();
        }
        let raw = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn same_setup_py_same_key_whatever_the_name() {
        let a = tar_gz(&[
            ("evil-1.0/setup.py", b"print(1)"),
            ("evil-1.0/evil/__init__.py", b""),
        ]);
        let b = tar_gz(&[
            ("other-2.0/setup.py", b"print(1)"),
            ("other-2.0/README", b"x"),
        ]);
        let c = tar_gz(&[("other-2.0/setup.py", b"print(2)")]);
        assert_eq!(group_key(&a), group_key(&b));
        assert_ne!(group_key(&a), group_key(&c));
        assert!(group_key(&a).starts_with("setup.py:"));
    }

    #[test]
    fn nested_setup_py_is_not_the_root_one() {
        let a = tar_gz(&[
            ("p-1/tests/deep/setup.py", b"x"),
            ("p-1/pyproject.toml", b"[x]"),
        ]);
        assert!(group_key(&a).starts_with("pyproject.toml:"));
    }

    #[test]
    fn garbage_is_unreadable() {
        assert_eq!(group_key(b"hello"), "unreadable");
    }
}
