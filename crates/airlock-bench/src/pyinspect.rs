//! Which `setup.py` a PyPI artifact carries, read in memory and never executed: the
//! malware corpus is full of near-identical typosquats, so recall is also reported per
//! distinct `setup.py` (its sha256). Wheels have no `setup.py`; they are keyed by the
//! hash of their Python sources instead.
//!
//! Also whether an artifact is an *inert placeholder* ([`inert`]): nothing in it can run
//! at install or import, so no behavioural analysis can ever prove it malicious; the
//! evaluation counts those apart (issue 15, "inert name placeholders counted apart").

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
    let Some(members) = members else {
        return "unreadable".into();
    };
    let mut members: Vec<(String, Vec<u8>)> = members
        .into_iter()
        .filter_map(|(p, c)| Some((p, c?)))
        .collect();
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

/// Every file of the archive, with its content when [`interesting`].
type Members = Vec<(String, Option<Vec<u8>>)>;

/// File extensions of things that run: code, native libraries, scripts, executables.
const RUNNABLE: &[&str] = &[
    ".py", ".pyw", ".pth", ".pyc", ".so", ".pyd", ".dll", ".dylib", ".exe", ".scr", ".bat", ".cmd",
    ".ps1", ".vbs", ".sh", ".js", ".mjs", ".cjs", ".jar", ".bin", ".elf", ".msi",
];

/// What a `setup.py` may contain and still do nothing but declare metadata: any of
/// these tokens is an act (a process, the network, decoding, dynamic code, a custom
/// command, native calls, threads, the registry).
const SETUP_ACTS: &[&str] = &[
    "subprocess",
    "os.system",
    "os.popen",
    "os.exec",
    "os.spawn",
    "startfile",
    "socket",
    "urllib",
    "requests",
    "http.client",
    "httpx",
    "aiohttp",
    "base64",
    "b64decode",
    "zlib",
    "marshal",
    "codecs.decode",
    "exec(",
    "eval(",
    "compile(",
    "__import__",
    "importlib",
    "ctypes",
    "cmdclass",
    "threading",
    "winreg",
    "platform.",
    "sys.platform",
    "os.name",
    "getenv",
    "environ",
    "expanduser",
    "Path.home",
    "write(",
    "shutil",
    "pty",
    "webbrowser",
    "smtplib",
    "ftplib",
    "telnet",
    "pickle",
    "Popen",
    "getattr(",
    "chr(",
    "bytes.fromhex",
    "Fernet",
    "AES",
];

/// Whether an artifact is an inert placeholder: its archive holds no file that could
/// run (no Python module besides a root `setup.py`, no `.pth`, no native library,
/// script or executable), and its `setup.py`, if any, only declares metadata (none of
/// [`SETUP_ACTS`] outside comments: reading its README is not an act, writing a file,
/// reading the environment or the home directory is).
/// Unreadable archives are not inert.
pub fn inert(bytes: &[u8]) -> bool {
    let members = if bytes.starts_with(b"PK") {
        zip_members(bytes)
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        tar_gz_members(bytes)
    } else {
        None
    };
    let Some(members) = members else {
        return false;
    };
    for (path, content) in &members {
        let lower = path.to_ascii_lowercase();
        let name = lower.rsplit('/').next().unwrap_or(&lower);
        let in_metadata = lower.contains(".dist-info/") || lower.contains(".egg-info/");
        if name == "setup.py" && depth(path) <= 1 {
            let text = String::from_utf8_lossy(content.as_deref().unwrap_or_default());
            let code: String = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            if SETUP_ACTS.iter().any(|t| code.contains(t)) {
                return false;
            }
            continue;
        }
        if in_metadata {
            continue;
        }
        let empty_module = (name.ends_with(".py") || name.ends_with(".pyw"))
            && content.as_deref().is_some_and(declares_only);
        if !empty_module && RUNNABLE.iter().any(|e| name.ends_with(e)) {
            return false;
        }
    }
    true
}

/// A Python file that only declares: comments, docstrings, `pass`, and dunder metadata
/// (`__version__ = "1.0"`, `__all__ = [...]`) — the empty `__init__.py` of a name
/// placeholder. Any other statement (an import, a call, a definition) is code.
fn declares_only(src: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(src) else {
        return false;
    };
    let mut in_doc: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(q) = in_doc {
            if t.contains(q) {
                in_doc = None;
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') || t == "pass" {
            continue;
        }
        let quote = ["\"\"\"", "'''"].into_iter().find(|q| t.starts_with(q));
        if let Some(q) = quote {
            if !(t.len() >= 6 && t[3..].contains(q)) {
                in_doc = Some(q);
            }
            continue;
        }
        if (t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')) {
            continue;
        }
        let dunder = t.starts_with("__")
            && t.split_once('=').is_some_and(|(k, v)| {
                let (k, v) = (k.trim(), v.trim());
                let name_ok =
                    k.ends_with("__") && k.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
                let literal = v.starts_with(['"', '\'', '[', '('])
                    || v.chars().all(|c| c.is_ascii_digit() || c == '.');
                // A literal, not a call: no `name(` anywhere in the value.
                let call = v.char_indices().any(|(i, c)| {
                    c == '('
                        && i > 0
                        && v[..i].ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == ')')
                });
                name_ok && literal && !call
            });
        if !dunder {
            return false;
        }
    }
    true
}

fn tar_gz_members(bytes: &[u8]) -> Option<Members> {
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
        let path = path.trim_start_matches("./").to_string();
        if !interesting(&path) {
            out.push((path, None));
            continue;
        }
        let mut content = Vec::new();
        if entry.take(MAX_MEMBER).read_to_end(&mut content).is_err() {
            break;
        }
        out.push((path, Some(content)));
    }
    Some(out)
}

fn zip_members(bytes: &[u8]) -> Option<Members> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(f) = zip.by_index(i) else { continue };
        if f.is_dir() {
            continue;
        }
        let path = String::from_utf8_lossy(f.name_raw()).into_owned();
        if !interesting(&path) {
            out.push((path, None));
            continue;
        }
        let mut content = Vec::new();
        if f.take(MAX_MEMBER).read_to_end(&mut content).is_err() {
            continue;
        }
        out.push((path, Some(content)));
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
    fn inert_placeholders_and_active_packages() {
        // A name held with metadata only: setup() and nothing else.
        let placeholder = tar_gz(&[
            (
                "held-99.99.99/setup.py",
                b"from setuptools import setup\nsetup(name='held', version='99.99.99')  # open( in a comment\n",
            ),
            ("held-99.99.99/PKG-INFO", b"Name: held\n"),
            ("held-99.99.99/held.egg-info/SOURCES.txt", b"setup.py\n"),
        ]);
        assert!(inert(&placeholder));
        // A module to import: not inert, however empty its setup.py.
        let module = tar_gz(&[
            (
                "m-1/setup.py",
                b"from setuptools import setup\nsetup(name='m')\n",
            ),
            ("m-1/m/__init__.py", b"import os\nprint(os.getcwd())\n"),
        ]);
        assert!(!inert(&module));
        // An empty package (docstring, version, pass) is still a placeholder.
        let empty = tar_gz(&[
            ("m-1/setup.py", b"from setuptools import setup\nsetup(name='m')\n"),
            (
                "m-1/m/__init__.py",
                b"\"\"\"Reserved.\n\nNothing here.\"\"\"\n__version__ = '0.0.1'\n__all__ = []\npass\n",
            ),
            ("m-1/m/empty.py", b""),
        ]);
        assert!(inert(&empty));
        let defines = tar_gz(&[("m-1/m/__init__.py", b"def f():\n    return 1\n")]);
        assert!(!inert(&defines));
        let dunder_call = tar_gz(&[(
            "m-1/m/__init__.py",
            b"__x__ = __import__('os').system('id')\n",
        )]);
        assert!(!inert(&dunder_call));
        // setup.py that acts (a process, the network, a custom command).
        for body in [
            &b"import os\nos.system('id')\nsetup()"[..],
            b"from urllib.request import urlopen\nsetup()",
            b"setup(cmdclass={'install': X})",
        ] {
            let a = tar_gz(&[("a-1/setup.py", body)]);
            assert!(!inert(&a), "{}", String::from_utf8_lossy(body));
        }
        // A shipped executable or .pth is something that runs.
        let exe = tar_gz(&[
            ("e-1/setup.py", b"from setuptools import setup\nsetup()"),
            ("e-1/data/tool.exe", b"MZ"),
        ]);
        assert!(!inert(&exe));
        assert!(!inert(b"hello"));
    }

    #[test]
    fn garbage_is_unreadable() {
        assert_eq!(group_key(b"hello"), "unreadable");
    }
}
