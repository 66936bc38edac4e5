//! Unit tests of the PyPI ecosystem (metadata, tags, index, wheelhouse, wheel cache).

use std::path::{Path, PathBuf};

use crate::RegistryError;

use super::*;
use crate::testutil::{serve, sha256_hex, tar_gz, zip_bytes, Routes};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const PKG_INFO: &str = "Metadata-Version: 2.1\nName: Evil_Pkg.Name\nVersion: 1.2.3\nSummary: a\n  multi-line summary\nRequires-Python: >=3.7\nRequires-Dist: requests>=2\nRequires-Dist: colorama; extra == \"color\"\n\nLong description\nName: not-a-header\n";

fn wheel(name: &str, version: &str, requires: &[&str], extra: &[(&str, &str)]) -> Vec<u8> {
    let di = format!("{}-{version}.dist-info", name.replace('-', "_"));
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{di}/METADATA"), meta.into_bytes()),
        (format!("{di}/WHEEL"), wheel.as_bytes().to_vec()),
    ];
    for (p, b) in extra {
        files.push((p.to_string(), b.as_bytes().to_vec()));
    }
    let mut record: String = files.iter().map(|(p, _)| format!("{p},,\n")).collect();
    record.push_str(&format!("{di}/RECORD,,\n"));
    files.push((format!("{di}/RECORD"), record.into_bytes()));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    zip_bytes(&refs, None)
}

#[test]
fn normalizes_names_per_pep_503() {
    assert_eq!(normalize_name("Evil_Pkg.Name"), "evil-pkg-name");
    assert_eq!(normalize_name("a--__..b"), "a-b");
    assert_eq!(normalize_name("Requests"), "requests");
}

#[test]
fn parses_specs_only_with_the_prefix() {
    assert_eq!(
        parse_spec("pypi:requests==2.31.0"),
        Some(("requests".into(), Some("2.31.0".into())))
    );
    assert_eq!(parse_spec("pypi:Foo_Bar"), Some(("Foo_Bar".into(), None)));
    assert_eq!(parse_spec("requests==2.31.0"), None);
    assert_eq!(parse_spec("pypi:"), None);
    assert_eq!(parse_spec("pypi:a b==1"), None);
    assert_eq!(parse_spec("pypi:x==1; rm -rf"), None);
    assert_eq!(parse_spec("pypi:-x==1"), None);
}

#[test]
fn email_headers_keep_repeats_and_continuations_and_stop_at_body() {
    let h = parse_email_headers(PKG_INFO);
    assert_eq!(h["requires-dist"].len(), 2);
    assert_eq!(h["summary"][0], "a\nmulti-line summary");
    assert_eq!(h["name"], vec!["Evil_Pkg.Name".to_string()]);
}

#[test]
fn reads_sdist_tar_gz_metadata_and_pyproject_build_system() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tar_gz(&[
        ("evil_pkg-1.2.3/PKG-INFO", PKG_INFO),
        ("evil_pkg-1.2.3/setup.py", "from setuptools import setup\nsetup()\n"),
        (
            "evil_pkg-1.2.3/pyproject.toml",
            "[build-system]\nrequires = [\"hatchling>=1.5\", \"hatch-vcs\"]\nbuild-backend = \"hatchling.build\"\n",
        ),
        ("evil_pkg-1.2.3/evil/__init__.py", ""),
        ("evil_pkg-1.2.3/tests/__init__.py", ""),
        ("evil_pkg-1.2.3/helper.py", ""),
    ]);
    let p = write(dir.path(), "evil_pkg-1.2.3.tar.gz", &bytes);
    let m = read_metadata(&p).unwrap();
    assert_eq!(m.name, "Evil_Pkg.Name");
    assert_eq!(m.normalized_name, "evil-pkg-name");
    assert_eq!(m.version, "1.2.3");
    assert_eq!(m.requires_python.as_deref(), Some(">=3.7"));
    assert_eq!(
        m.requires_dist,
        vec!["requests>=2", "colorama; extra == \"color\""]
    );
    assert_eq!(m.build_requires, vec!["hatchling>=1.5", "hatch-vcs"]);
    assert_eq!(m.build_backend.as_deref(), Some("hatchling.build"));
    assert!(m.has_setup_py && m.has_pyproject);
    assert_eq!(m.kind, ArtifactKind::SdistTarGz);
    assert_eq!(m.top_level, vec!["evil", "helper"]);
    assert!(!m.metadata_from_file_name);
}

#[test]
fn setup_py_without_build_system_gets_pips_default_and_egg_info_top_level() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tar_gz(&[
        (
            "x-0.1/PKG-INFO",
            "Metadata-Version: 1.0\nName: x\nVersion: 0.1\n",
        ),
        ("x-0.1/setup.py", "setup()"),
        ("x-0.1/pyproject.toml", "[tool.black]\nline-length = 1\n"),
        ("x-0.1/x.egg-info/top_level.txt", "xmod\n../bad\n"),
        (
            "x-0.1/x.egg-info/requires.txt",
            "six\nidna>=2\n\n[dev]\npytest\n",
        ),
    ]);
    let p = write(dir.path(), "x-0.1.tar.gz", &bytes);
    let m = read_metadata(&p).unwrap();
    assert_eq!(m.build_requires, vec!["setuptools>=40.8.0", "wheel"]);
    assert_eq!(m.top_level, vec!["xmod"]);
    assert_eq!(m.requires_dist, vec!["six", "idna>=2"]);
}

#[test]
fn hand_made_sdist_without_pkg_info_falls_back_to_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tar_gz(&[
        ("Typo-1.0.0/setup.py", "setup()"),
        ("Typo-1.0.0/typo.py", ""),
    ]);
    let p = write(dir.path(), "Typo-1.0.0.tar.gz", &bytes);
    let m = read_metadata(&p).unwrap();
    assert!(m.metadata_from_file_name);
    assert_eq!((m.name.as_str(), m.version.as_str()), ("Typo", "1.0.0"));
    assert_eq!(m.top_level, vec!["typo"]);
}

#[test]
fn sdist_zip_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = zip_bytes(
        &[
            ("z-2.0/PKG-INFO", b"Name: z\nVersion: 2.0\n"),
            ("z-2.0/setup.py", b"setup()"),
        ],
        None,
    );
    let p = write(dir.path(), "z-2.0.zip", &bytes);
    let m = read_metadata(&p).unwrap();
    assert_eq!((m.name.as_str(), m.kind), ("z", ArtifactKind::SdistZip));
}

#[test]
fn reads_wheel_metadata_top_level_from_record_and_pth_files() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wheel(
        "good-pkg",
        "3.0",
        &["attrs>=20", "pytest; extra == \"test\""],
        &[
            ("goodpkg/__init__.py", ""),
            ("single.py", ""),
            ("_speed.cpython-311-x86_64-linux-gnu.so", ""),
            ("zzz-hook.pth", "import os"),
        ],
    );
    let p = write(dir.path(), "good_pkg-3.0-py3-none-any.whl", &bytes);
    let m = read_metadata(&p).unwrap();
    assert_eq!(m.kind, ArtifactKind::Wheel);
    assert_eq!(m.normalized_name, "good-pkg");
    assert_eq!(m.requires_dist.len(), 2);
    assert_eq!(m.top_level, vec!["goodpkg", "single", "_speed"]);
    assert_eq!(m.pth_files, vec!["zzz-hook.pth"]);
    assert!(m.build_requires.is_empty());
}

#[test]
fn the_bytes_decide_the_kind_not_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wheel("odd", "0.1", &[], &[("odd/__init__.py", "")]);
    let p = write(dir.path(), "odd-0.1-py3-none-any.tar.gz", &bytes);
    let m = read_metadata(&p).unwrap();
    assert_eq!(m.kind, ArtifactKind::Wheel);
    assert_eq!(m.top_level, vec!["odd"]);
    assert_eq!(
        install_file_name("odd-0.1-py3-none-any.tar.gz", &m),
        "odd-0.1-py3-none-any.whl"
    );
    assert_eq!(
        install_file_name("odd-0.1.tar.gz", &m),
        "odd-0.1-py3-none-any.whl"
    );

    let bytes = tar_gz(&[
        ("t-1/PKG-INFO", "Name: t\nVersion: 1\n"),
        ("t-1/setup.py", ""),
    ]);
    let p = write(dir.path(), "t-1.zip", &bytes);
    let m = read_metadata(&p).unwrap();
    assert_eq!(m.kind, ArtifactKind::SdistTarGz);
    assert_eq!(install_file_name("t-1.zip", &m), "t-1.tar.gz");
    assert_eq!(install_file_name("t-1.tar.gz", &m), "t-1.tar.gz");
}

#[test]
fn corrupt_empty_and_traversal_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad-1.0.tar.gz", b"this is not gzip");
    let e = read_metadata(&p).unwrap_err().to_string();
    assert!(e.contains("bad-1.0.tar.gz") && e.contains("corrupt"), "{e}");

    let p = write(dir.path(), "bad-1.0-py3-none-any.whl", b"PK\x03\x04garbage");
    let e = read_metadata(&p).unwrap_err().to_string();
    assert!(e.contains("corrupt zip"), "{e}");

    // A zip with no dist-info at all.
    let p = write(
        dir.path(),
        "nometa-1-py3-none-any.whl",
        &zip_bytes(&[("nometa/__init__.py", b"")], None),
    );
    assert!(matches!(
        read_metadata(&p),
        Err(RegistryError::NoMetadata { .. })
    ));

    let bytes = tar_gz(&[("x/readme.txt", "hi")]);
    let p = write(dir.path(), "x.tar.gz", &bytes);
    assert!(matches!(
        read_metadata(&p),
        Err(RegistryError::NoMetadata { .. })
    ));

    let bytes = tar_gz(&[
        ("x-1/PKG-INFO", "Name: x\nVersion: 1\n"),
        ("x-1/../../etc/evil", "x"),
    ]);
    let p = write(dir.path(), "x-1.tar.gz", &bytes);
    match read_metadata(&p) {
        Err(RegistryError::UnsafeEntry { entry, .. }) => {
            assert_eq!(entry, "x-1/../../etc/evil")
        }
        other => panic!("expected UnsafeEntry, got {other:?}"),
    }
    let bytes = zip_bytes(&[("/abs/PKG-INFO", b"Name: x\nVersion: 1\n")], None);
    let p = write(dir.path(), "x-1.zip", &bytes);
    assert!(matches!(
        read_metadata(&p),
        Err(RegistryError::UnsafeEntry { .. })
    ));
}

#[test]
fn wheel_ranking_matches_a_cpython_311_manylinux_box() {
    let py311 = crate::runtime::PythonRuntime {
        version: "3.11".into(),
        interpreter: "python3.11".into(),
        glibc: "2.36".into(),
    };
    let r = |f: &str| wheel_rank(f, &py311);
    assert!(r("a-1-py3-none-any.whl").is_some());
    assert!(r("a-1-py2.py3-none-any.whl").is_some());
    assert!(r("a-1-py2-none-any.whl").is_none());
    assert!(r("a-1-cp310-cp310-manylinux2014_x86_64.whl").is_none());
    assert!(r("a-1-cp311-cp311-win_amd64.whl").is_none());
    assert!(r("a-1-cp311-cp311-macosx_11_0_arm64.whl").is_none());
    assert!(r("a-1-cp311-cp311-manylinux_2_17_aarch64.whl").is_none());
    assert!(r("a-1-cp311-cp311-manylinux_2_39_x86_64.whl").is_none());
    assert!(r("a-1-cp312-abi3-manylinux2014_x86_64.whl").is_none());
    let native = r("a-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
    let abi3 = r("a-1-cp38-abi3-manylinux2014_x86_64.whl").unwrap();
    let pure = r("a-1-py3-none-any.whl").unwrap();
    assert!(native > abi3 && abi3 > pure);
}

/// The image's Python (3.13 on glibc 2.41, the default target): cp313 wheels and newer
/// manylinux tags fit, cp311-only ones do not; abi3 from older CPythons still does.
#[test]
fn wheel_ranking_follows_the_selected_python() {
    let py = crate::runtime::PythonRuntime::default();
    let r = |f: &str| wheel_rank(f, &py);
    assert!(r("a-1-cp311-cp311-manylinux2014_x86_64.whl").is_none());
    assert!(r("a-1-cp313-cp313-manylinux_2_39_x86_64.whl").is_some());
    assert!(r("a-1-cp313-cp313-manylinux_2_42_x86_64.whl").is_none());
    assert!(r("a-1-cp312-abi3-manylinux2014_x86_64.whl").is_some());
    assert!(r("a-1-cp314-abi3-manylinux2014_x86_64.whl").is_none());
    let native = r("a-1-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
    let abi3 = r("a-1-cp38-abi3-manylinux2014_x86_64.whl").unwrap();
    assert!(native > abi3);
}

fn release_file(name: &str, base: &str, sha: &str) -> serde_json::Value {
    serde_json::json!({
        "filename": name, "url": format!("{base}/files/{name}"),
        "packagetype": if name.ends_with(".whl") { "bdist_wheel" } else { "sdist" },
        "digests": {"sha256": sha}, "upload_time_iso_8601": "2024-01-01T00:00:00Z"
    })
}

#[test]
fn fetch_picks_the_wheel_pip_would_and_verifies_sha256() {
    let whl = wheel("demo", "1.0", &[], &[("demo.py", "")]);
    let sdist = tar_gz(&[
        ("demo-1.0/PKG-INFO", "Name: demo\nVersion: 1.0\n"),
        ("demo-1.0/setup.py", ""),
    ]);
    let mut routes = Routes::new();
    routes.insert(
        "/files/demo-1.0-py3-none-any.whl".into(),
        (200, "application/octet-stream", whl.clone()),
    );
    routes.insert(
        "/files/demo-1.0-cp311-cp311-win_amd64.whl".into(),
        (200, "application/octet-stream", b"x".to_vec()),
    );
    routes.insert(
        "/files/demo-1.0.tar.gz".into(),
        (200, "application/octet-stream", sdist.clone()),
    );
    let shared = std::sync::Arc::new(std::sync::Mutex::new(routes));
    let (base, log) = serve_dynamic(shared.clone());
    let doc = serde_json::json!({
        "info": {"version": "1.0"},
        "urls": [
            release_file("demo-1.0.tar.gz", &base, &sha256_hex(&sdist)),
            release_file("demo-1.0-cp311-cp311-win_amd64.whl", &base, &sha256_hex(b"x")),
            release_file("demo-1.0-py3-none-any.whl", &base, &sha256_hex(&whl)),
        ]
    });
    shared.lock().unwrap().insert(
        "/pypi/demo/1.0/json".into(),
        (200, "application/json", doc.to_string().into_bytes()),
    );
    let dir = tempfile::tempdir().unwrap();
    let f = fetch(&base, "demo", Some("1.0"), dir.path(), &Default::default()).unwrap();
    assert_eq!(f.file_name, "demo-1.0-py3-none-any.whl");
    assert_eq!(f.kind, ArtifactKind::Wheel);
    assert_eq!(f.sha256, sha256_hex(&whl));
    assert_eq!(std::fs::read(&f.path).unwrap(), whl);
    assert!(log.lock().unwrap().iter().all(|p| !p.contains("win_amd64")));

    // Tampered bytes: the digest no longer matches.
    shared.lock().unwrap().insert(
        "/files/demo-1.0-py3-none-any.whl".into(),
        (200, "application/octet-stream", b"tampered".to_vec()),
    );
    let e = fetch(&base, "demo", Some("1.0"), dir.path(), &Default::default()).unwrap_err();
    assert!(matches!(e, RegistryError::Integrity { .. }), "{e}");
    assert!(e.to_string().contains("sha256 mismatch"), "{e}");
}

#[test]
fn fetch_falls_back_to_the_sdist_and_reports_missing_versions() {
    let sdist = tar_gz(&[
        ("only-2.0/PKG-INFO", "Name: only\nVersion: 2.0\n"),
        ("only-2.0/setup.py", ""),
    ]);
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Routes::new()));
    let (base, _log) = serve_dynamic(shared.clone());
    {
        let mut r = shared.lock().unwrap();
        r.insert(
            "/files/only-2.0.tar.gz".into(),
            (200, "application/octet-stream", sdist.clone()),
        );
        let files = serde_json::json!([
            release_file("only-2.0-cp39-cp39-manylinux2014_x86_64.whl", &base, "00"),
            release_file("only-2.0.tar.gz", &base, &sha256_hex(&sdist)),
        ]);
        let latest = serde_json::json!({"info": {"version": "2.0"}, "urls": files});
        r.insert(
            "/pypi/only/json".into(),
            (200, "application/json", {
                let mut d = latest.clone();
                d["releases"] = serde_json::json!({"1.0": [], "2.0": files});
                d.to_string().into_bytes()
            }),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let f = fetch(&base, "only", None, dir.path(), &Default::default()).unwrap();
    assert_eq!(
        (f.file_name.as_str(), f.version.as_str()),
        ("only-2.0.tar.gz", "2.0")
    );
    assert_eq!(f.kind, ArtifactKind::SdistTarGz);

    // No per-version document on this index: the project document's releases serve.
    let f = fetch(&base, "only", Some("2.0"), dir.path(), &Default::default()).unwrap();
    assert_eq!(f.file_name, "only-2.0.tar.gz");
    let e = fetch(&base, "only", Some("1.0"), dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("version 1.0 of PyPI project only"), "{e}");
    let e = fetch(&base, "only", Some("9.9"), dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("version 9.9 of PyPI project only") && e.contains("2.0"),
        "{e}"
    );
    let e = fetch(&base, "nope", Some("1"), dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("PyPI project nope does not exist"), "{e}");
}

#[test]
fn file_urls_are_resolved_against_the_document_that_lists_them() {
    let base = "https://pypi.org/pypi/numpy/json";
    let r = |href: &str| resolve_file_url(base, href);
    assert_eq!(
        r("../../packages/ab/cd/numpy-2.4.6.tar.gz#sha256=00").unwrap(),
        "https://pypi.org/packages/ab/cd/numpy-2.4.6.tar.gz"
    );
    assert_eq!(
        r("https://files.pythonhosted.org/packages/x.whl").unwrap(),
        "https://files.pythonhosted.org/packages/x.whl"
    );
    assert_eq!(
        r("//mirror.example/x.whl").unwrap(),
        "https://mirror.example/x.whl"
    );
    assert_eq!(r("/files/x.whl").unwrap(), "https://pypi.org/files/x.whl");
    assert!(r("file:///etc/passwd").is_err());
    assert!(resolve_file_url("not a url", "x.whl").is_err());
}

/// The index lists files relative to its JSON documents (pypi.org behind some
/// proxies, mirrors): both the per-version document and the project document.
#[test]
fn fetch_resolves_relative_file_urls() {
    let whl = wheel("demo", "1.0", &[], &[("demo.py", "")]);
    let sdist = tar_gz(&[
        ("demo-1.0/PKG-INFO", "Name: demo\nVersion: 1.0\n"),
        ("demo-1.0/setup.py", ""),
    ]);
    let file = |name: &str, href: &str, bytes: &[u8]| {
        serde_json::json!({
            "filename": name, "url": format!("{href}#sha256={}", sha256_hex(bytes)),
            "digests": {"sha256": sha256_hex(bytes)},
        })
    };
    let mut routes = Routes::new();
    routes.insert(
        "/packages/ab/cd/demo-1.0-py3-none-any.whl".into(),
        (200, "application/octet-stream", whl.clone()),
    );
    routes.insert(
        "/packages/ef/01/demo-1.0.tar.gz".into(),
        (200, "application/octet-stream", sdist.clone()),
    );
    // Per-version document: /pypi/demo/1.0/json, so three levels up is the root.
    let release = serde_json::json!({
        "info": {"version": "1.0"},
        "urls": [file("demo-1.0-py3-none-any.whl", "../../../packages/ab/cd/demo-1.0-py3-none-any.whl", &whl)],
    });
    routes.insert(
        "/pypi/demo/1.0/json".into(),
        (200, "application/json", release.to_string().into_bytes()),
    );
    // Project document only (the version document 404s), two levels up.
    let project = serde_json::json!({
        "info": {"version": "1.0"},
        "releases": {"1.0": [file("demo-1.0.tar.gz", "../../packages/ef/01/demo-1.0.tar.gz", &sdist)]},
    });
    routes.insert(
        "/pypi/other/json".into(),
        (200, "application/json", project.to_string().into_bytes()),
    );
    let (base, log) = serve(routes);
    let dir = tempfile::tempdir().unwrap();
    let f = fetch(&base, "demo", Some("1.0"), dir.path(), &Default::default()).unwrap();
    assert_eq!(f.file_name, "demo-1.0-py3-none-any.whl");
    assert_eq!(std::fs::read(&f.path).unwrap(), whl);
    let f = fetch(&base, "other", Some("1.0"), dir.path(), &Default::default()).unwrap();
    assert_eq!(f.file_name, "demo-1.0.tar.gz");
    assert_eq!(f.sha256, sha256_hex(&sdist));
    let log = log.lock().unwrap();
    assert!(
        log.contains(&"/packages/ab/cd/demo-1.0-py3-none-any.whl".to_string())
            && log.contains(&"/packages/ef/01/demo-1.0.tar.gz".to_string()),
        "{log:?}"
    );
}

/// Like [`serve`] but with routes that may change after the server started.
fn serve_dynamic(
    routes: std::sync::Arc<std::sync::Mutex<Routes>>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf);
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
            log2.lock().unwrap().push(path.clone());
            let (status, ctype, body) = routes.lock().unwrap().get(&path).cloned().unwrap_or((
                404,
                "text/plain",
                b"not found".to_vec(),
            ));
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (base, log)
}

#[test]
fn refuses_options_urls_and_extras_in_requirements() {
    assert_eq!(
        refuse_requirement("requests>=2.0,<3; python_version >= \"3\""),
        None
    );
    assert_eq!(refuse_requirement("Foo[bar,baz] (>=1.0)"), None);
    assert!(refuse_requirement("--index-url=http://evil/").is_some());
    assert!(refuse_requirement("-r /etc/passwd").is_some());
    assert!(refuse_requirement("foo @ https://evil.example/foo.whl").is_some());
    assert!(refuse_requirement("foo @ file:///etc/passwd").is_some());
    assert_eq!(
        refuse_requirement("x; extra == \"dev\""),
        Some("only for an extra")
    );
    assert!(refuse_requirement("a\n--extra-index-url x").is_some());
}

/// pip itself, against a loopback simple index (HTML pages with relative file URLs,
/// as mirrors serve them): transitive wheels land in the wheelhouse, a requirement
/// with only an sdist is listed as missing (and never built), and a URL requirement
/// is refused without a request.
/// A loopback simple index (HTML pages, relative file URLs) with `dep-a` (needs
/// `dep-b`), `dep-b`, `setuptools`, `wheel` as wheels and `nowheel` as an sdist only.
fn loopback_simple_index() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let dep_a = wheel("dep-a", "1.0", &["dep-b>=1"], &[("dep_a.py", "")]);
    let dep_b = wheel("dep-b", "1.1", &[], &[("dep_b.py", "")]);
    let setuptools = wheel("setuptools", "69.0", &[], &[("setuptools/__init__.py", "")]);
    let wheel_w = wheel("wheel", "0.42", &[], &[("wheel/__init__.py", "")]);
    let sdist_only = tar_gz(&[("nowheel-1.0/setup.py", "raise SystemExit('must never run')")]);
    let mut routes = Routes::new();
    let project = |routes: &mut Routes, name: &str, file: &str, bytes: &[u8]| {
        routes.insert(
            format!("/files/{file}"),
            (200, "application/octet-stream", bytes.to_vec()),
        );
        let html = format!(
            "<!DOCTYPE html><html><body><a href=\"../../files/{file}#sha256={}\">{file}</a></body></html>",
            sha256_hex(bytes)
        );
        routes.insert(
            format!("/simple/{name}/"),
            (200, "text/html", html.into_bytes()),
        );
    };
    project(&mut routes, "dep-a", "dep_a-1.0-py3-none-any.whl", &dep_a);
    project(&mut routes, "dep-b", "dep_b-1.1-py3-none-any.whl", &dep_b);
    project(
        &mut routes,
        "setuptools",
        "setuptools-69.0-py3-none-any.whl",
        &setuptools,
    );
    project(
        &mut routes,
        "wheel",
        "wheel-0.42-py3-none-any.whl",
        &wheel_w,
    );
    project(&mut routes, "nowheel", "nowheel-1.0.tar.gz", &sdist_only);
    serve(routes)
}

fn sdist_meta(requires_dist: &[&str]) -> PyMeta {
    PyMeta {
        name: "target".into(),
        normalized_name: "target".into(),
        version: "1".into(),
        requires_dist: requires_dist.iter().map(|r| r.to_string()).collect(),
        requires_python: None,
        build_requires: default_build_requires(),
        build_backend: None,
        top_level: vec![],
        pth_files: vec![],
        has_setup_py: true,
        has_pyproject: false,
        kind: ArtifactKind::SdistTarGz,
        metadata_from_file_name: false,
    }
}

fn wheel_names(wh: &Wheelhouse) -> Vec<String> {
    wh.files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect()
}

#[test]
fn prepare_wheelhouse_downloads_wheels_only_with_pip() {
    let (base, log) = loopback_simple_index();

    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let meta = sdist_meta(&[
        "dep-a",
        "nowheel",
        "evil @ http://127.0.0.1:9/evil.whl",
        "pytest; extra == \"test\"",
        "Target>=0",
    ]);
    let opts = WheelhouseOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        python: None,
        wheel_cache: None,
        target: Default::default(),
    };
    let wh = prepare_wheelhouse(
        Path::new("target-1.tar.gz"),
        &meta,
        &base,
        work.path(),
        &opts,
    )
    .unwrap();
    assert_eq!(
        wheel_names(&wh),
        vec![
            "dep_a-1.0-py3-none-any.whl",
            "dep_b-1.1-py3-none-any.whl",
            "setuptools-69.0-py3-none-any.whl",
            "wheel-0.42-py3-none-any.whl",
        ]
    );
    assert_eq!(wh.missing.len(), 2, "{:?}", wh.missing);
    assert!(
        wh.missing.iter().any(|m| m.starts_with("nowheel")),
        "{:?}",
        wh.missing
    );
    assert!(
        wh.missing.iter().any(|m| m.starts_with("evil @")),
        "{:?}",
        wh.missing
    );
    let log = log.lock().unwrap();
    assert!(
        !log.iter().any(|p| p.contains("nowheel-1.0.tar.gz")
            || p.contains("pytest")
            || p.contains("target")),
        "{log:?}"
    );
}

const ALL_FOUR: [&str; 4] = [
    "dep_a-1.0-py3-none-any.whl",
    "dep_b-1.1-py3-none-any.whl",
    "setuptools-69.0-py3-none-any.whl",
    "wheel-0.42-py3-none-any.whl",
];

/// Options whose pip cannot even start: a wheelhouse made with them came from the
/// wheel cache alone.
fn no_pip(cache: &WheelCache, pip_cache: &Path) -> WheelhouseOptions {
    WheelhouseOptions {
        cache_dir: Some(pip_cache.to_path_buf()),
        python: Some("/nonexistent/python3".into()),
        wheel_cache: Some(cache.clone()),
        target: Default::default(),
    }
}

#[test]
fn wheel_cache_hit_runs_no_pip_and_makes_no_request() {
    let (base, log) = loopback_simple_index();
    let cache_dir = tempfile::tempdir().unwrap();
    let pip_cache = tempfile::tempdir().unwrap();
    let cache = WheelCache::at(cache_dir.path());
    let meta = sdist_meta(&["dep-a"]);
    let opts = WheelhouseOptions {
        cache_dir: Some(pip_cache.path().to_path_buf()),
        python: None,
        wheel_cache: Some(cache.clone()),
        target: Default::default(),
    };
    let target = Path::new("target-1.tar.gz");
    let cold = tempfile::tempdir().unwrap();
    let wh = prepare_wheelhouse(target, &meta, &base, cold.path(), &opts).unwrap();
    assert_eq!(wheel_names(&wh), ALL_FOUR);
    assert_eq!((wh.cached_sets, wh.pip_runs), (0, 2));
    assert!(wh.missing.is_empty(), "{:?}", wh.missing);
    // pip's own download directories are gone; only wheels are staged.
    assert_eq!(std::fs::read_dir(cold.path()).unwrap().count(), 1);

    let requests = log.lock().unwrap().len();
    let warm = tempfile::tempdir().unwrap();
    let wh = prepare_wheelhouse(
        target,
        &meta,
        &format!("{base}/"),
        warm.path(),
        &no_pip(&cache, pip_cache.path()),
    )
    .unwrap();
    assert_eq!(wheel_names(&wh), ALL_FOUR);
    assert_eq!((wh.cached_sets, wh.pip_runs), (2, 0));
    assert!(wh.missing.is_empty(), "{:?}", wh.missing);
    assert_eq!(log.lock().unwrap().len(), requests);
    for f in &wh.files {
        let (sha, _) = file_sha256(f).unwrap();
        assert!(cache_dir.path().join("blobs").join(sha).is_file());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{}", f.display());
        }
    }

    // The requirement order does not matter; another index does.
    let reordered = sdist_meta(&["dep-a", "setuptools"]);
    let mut swapped = reordered.clone();
    swapped.requires_dist.reverse();
    let o = opts.clone();
    prepare_wheelhouse(
        target,
        &reordered,
        &base,
        tempfile::tempdir().unwrap().path(),
        &o,
    )
    .unwrap();
    let wh = prepare_wheelhouse(
        target,
        &swapped,
        &base,
        tempfile::tempdir().unwrap().path(),
        &no_pip(&cache, pip_cache.path()),
    )
    .unwrap();
    assert_eq!((wh.cached_sets, wh.pip_runs), (2, 0));
    let wh = prepare_wheelhouse(
        target,
        &meta,
        "http://127.0.0.1:9",
        tempfile::tempdir().unwrap().path(),
        &no_pip(&cache, pip_cache.path()),
    )
    .unwrap();
    assert_eq!(wh.cached_sets, 0);
    assert!(!wh.missing.is_empty());
}

#[test]
fn wheel_cache_misses_when_expired_or_a_blob_is_damaged() {
    let (base, _log) = loopback_simple_index();
    let cache_dir = tempfile::tempdir().unwrap();
    let pip_cache = tempfile::tempdir().unwrap();
    let cache = WheelCache::at(cache_dir.path());
    let meta = sdist_meta(&["dep-a"]);
    let target = Path::new("target-1.tar.gz");
    let opts = WheelhouseOptions {
        cache_dir: Some(pip_cache.path().to_path_buf()),
        python: None,
        wheel_cache: Some(cache.clone()),
        target: Default::default(),
    };
    let fill = |o: &WheelhouseOptions| {
        prepare_wheelhouse(target, &meta, &base, tempfile::tempdir().unwrap().path(), o)
    };
    fill(&opts).unwrap();

    // Expired: pip is needed again (and cannot run here).
    let expired = WheelCache {
        ttl: std::time::Duration::ZERO,
        ..cache.clone()
    };
    let wh = fill(&no_pip(&expired, pip_cache.path())).unwrap();
    assert_eq!(wh.cached_sets, 0);
    assert!(wh.pip_runs > 0 && !wh.missing.is_empty(), "{wh:?}");

    // A damaged blob (same size, other bytes) is a miss for the sets listing it.
    let runtime_reqs: Vec<String> = vec!["dep-a".into()];
    let hit = cache
        .lookup(&runtime_reqs, &base, &wheel_target(&Default::default()))
        .unwrap();
    let (_, blob) = hit.iter().find(|(f, _)| f.starts_with("dep_b")).unwrap();
    let mut bytes = std::fs::read(blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(blob, &bytes).unwrap();
    let e = cache
        .lookup(&runtime_reqs, &base, &wheel_target(&Default::default()))
        .unwrap_err();
    assert!(e.contains("hashes to"), "{e}");
    let wh = fill(&no_pip(&cache, pip_cache.path())).unwrap();
    assert_eq!(wh.cached_sets, 1, "the build set is intact: {wh:?}");
    assert!(wh.missing.iter().any(|m| m.starts_with("dep-a")), "{wh:?}");
    assert!(!wh
        .files
        .iter()
        .any(|f| f.to_string_lossy().contains("dep_b")));

    // pip repairs it, and the cache serves it again.
    let wh = fill(&opts).unwrap();
    assert_eq!((wh.cached_sets, wh.pip_runs), (1, 1));
    let wh = fill(&no_pip(&cache, pip_cache.path())).unwrap();
    assert_eq!(wheel_names(&wh), ALL_FOUR);
    assert_eq!((wh.cached_sets, wh.pip_runs), (2, 0));

    // An entry for another set under this key (a collision, a hand edit) is ignored.
    let entry = cache.entry_path(&runtime_reqs, &base, &wheel_target(&Default::default()));
    let text = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(&entry, text.replace("\"dep-a\"", "\"dep-z\"")).unwrap();
    assert!(cache
        .lookup(&runtime_reqs, &base, &wheel_target(&Default::default()))
        .is_err());
}

/// Two scans at once on a cold cache: both get their wheels, and what the cache
/// holds afterwards is whole and serves a third scan.
#[test]
fn wheel_cache_is_safe_for_concurrent_scans() {
    let (base, _log) = loopback_simple_index();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = WheelCache::at(cache_dir.path());
    let meta = sdist_meta(&["dep-a"]);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (base, meta, cache) = (base.clone(), meta.clone(), cache.clone());
            std::thread::spawn(move || {
                let pip_cache = tempfile::tempdir().unwrap();
                let work = tempfile::tempdir().unwrap();
                let opts = WheelhouseOptions {
                    cache_dir: Some(pip_cache.path().to_path_buf()),
                    python: None,
                    wheel_cache: Some(cache),
                    target: Default::default(),
                };
                let t = Path::new("target-1.tar.gz");
                wheel_names(&prepare_wheelhouse(t, &meta, &base, work.path(), &opts).unwrap())
            })
        })
        .collect();
    for r in runs {
        assert_eq!(r.join().unwrap(), ALL_FOUR);
    }
    let pip_cache = tempfile::tempdir().unwrap();
    let wh = prepare_wheelhouse(
        Path::new("target-1.tar.gz"),
        &meta,
        &base,
        tempfile::tempdir().unwrap().path(),
        &no_pip(&cache, pip_cache.path()),
    )
    .unwrap();
    assert_eq!(wheel_names(&wh), ALL_FOUR);
    let leftovers: Vec<_> = ["sets", "blobs"]
        .iter()
        .flat_map(|d| std::fs::read_dir(cache_dir.path().join(d)).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
#[ignore = "talks to the real PyPI"]
fn live_wheelhouse_for_an_sdist_with_runtime_deps() {
    let work = tempfile::tempdir().unwrap();
    let meta = PyMeta {
        name: "demo".into(),
        normalized_name: "demo".into(),
        version: "1".into(),
        requires_dist: vec![
            "requests>=2.31".into(),
            "numpy<2; python_version>='3.9'".into(),
        ],
        requires_python: None,
        build_requires: default_build_requires(),
        build_backend: None,
        top_level: vec![],
        pth_files: vec![],
        has_setup_py: true,
        has_pyproject: false,
        kind: ArtifactKind::SdistTarGz,
        metadata_from_file_name: false,
    };
    let wh = prepare_wheelhouse(
        Path::new("demo-1.tar.gz"),
        &meta,
        DEFAULT_INDEX,
        work.path(),
        &WheelhouseOptions::default(),
    )
    .unwrap();
    let names: Vec<String> = wh
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_lowercase())
        .collect();
    for want in [
        "requests-",
        "urllib3-",
        "idna-",
        "certifi-",
        "setuptools-",
        "wheel-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(want)),
            "{want} missing: {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("numpy-") && n.contains("cp311-cp311-manylinux")),
        "{names:?}"
    );
    assert!(wh.missing.is_empty(), "{:?}", wh.missing);
}

/// Wall time of [`prepare_wheelhouse`] for a small sdist with the sandbox's seed
/// wheels (engine.rs `PYPI_SEED`): pip and wheel caches cold, pip's cache warm (what
/// every scan paid before the wheel cache), and the wheel cache warm.
#[test]
#[ignore = "talks to the real PyPI"]
fn live_wheel_cache_cold_vs_warm() {
    let seed = [
        "setuptools",
        "wheel",
        "requests",
        "urllib3",
        "certifi",
        "idna",
        "charset-normalizer",
        "six",
        "colorama",
        "psutil",
    ];
    let meta = sdist_meta(&seed);
    let pip_cache = tempfile::tempdir().unwrap();
    let time = |cache: &WheelCache| {
        let work = tempfile::tempdir().unwrap();
        let opts = WheelhouseOptions {
            cache_dir: Some(pip_cache.path().to_path_buf()),
            python: None,
            wheel_cache: Some(cache.clone()),
            target: Default::default(),
        };
        let t = std::time::Instant::now();
        let wh = prepare_wheelhouse(
            Path::new("target-1.tar.gz"),
            &meta,
            DEFAULT_INDEX,
            work.path(),
            &opts,
        )
        .unwrap();
        assert!(wh.missing.is_empty(), "{:?}", wh.missing);
        (t.elapsed(), wh.files.len(), wh.cached_sets, wh.pip_runs)
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cold = time(&WheelCache::at(a.path()));
    let pip_warm = time(&WheelCache::at(b.path()));
    let warm = time(&WheelCache::at(b.path()));
    eprintln!(
        "all cold:        {cold:?}\npip cache warm:  {pip_warm:?}\nwheel cache hit: {warm:?}"
    );
    assert_eq!((warm.2, warm.3), (2, 0));
}

#[test]
#[ignore = "talks to the real PyPI"]
fn live_pypi_fetch_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let f = fetch(
        DEFAULT_INDEX,
        "six",
        Some("1.16.0"),
        dir.path(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(f.file_name, "six-1.16.0-py2.py3-none-any.whl");
    let m = read_metadata(&f.path).unwrap();
    assert_eq!(m.top_level, vec!["six"]);
    let e = fetch(
        DEFAULT_INDEX,
        "six",
        Some("0.0.0.0.1"),
        dir.path(),
        &Default::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("recent"), "{e}");
}

/// `--os auto` with the static pass's Windows finding: a second exercise phase,
/// `exercise@windows`, whose harness answers as Windows and re-runs the sdist's setup.py.
#[test]
fn persona_pass_follows_the_static_finding() {
    use crate::plan::{OsChoice, PlanContext, PlatformHints, TargetOs};
    let prepared = plan::PreparedWheels {
        wheelhouse: Wheelhouse {
            dir: "/host/wh".into(),
            files: Vec::new(),
            missing: Vec::new(),
            cached_sets: 0,
            pip_runs: 0,
        },
        install_name: "evil-1.0.tar.gz".into(),
        top_level: vec!["evil".into()],
        normalized_name: "evil".into(),
    };
    let mut ctx = PlanContext {
        home: "/home/runner".into(),
        project: "/work/project".into(),
        import_settle_ms: 40_000,
        time_speedup: 20,
        ..Default::default()
    };
    let names = |ctx: &PlanContext| -> Vec<String> {
        plan::plan("evil", Path::new("/host/evil-1.0.tar.gz"), &prepared, ctx)
            .phases
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert_eq!(names(&ctx), ["install", "import", "exercise"]);
    ctx.platform = PlatformHints {
        windows: vec!["evil/__init__.py:3: sys.platform == 'win32'".into()],
        macos: Vec::new(),
    };
    assert_eq!(
        names(&ctx),
        ["install", "import", "exercise", "exercise@windows"]
    );
    let p = plan::plan("evil", Path::new("/host/evil-1.0.tar.gz"), &prepared, &ctx);
    let win = &p.phases[3];
    assert_eq!(win.os(), TargetOs::Windows);
    assert_eq!(win.base_name(), "exercise");
    let argv = win.argv.join(" ");
    assert!(argv.contains("--os windows"), "{argv}");
    assert!(
        argv.contains("--sdist /work/project/evil-1.0.tar.gz"),
        "{argv}"
    );
    assert!(argv.contains("--speedup 20"), "{argv}");
    ctx.os = OsChoice::Linux;
    assert_eq!(names(&ctx), ["install", "import", "exercise"]);
    ctx.os = OsChoice::Macos;
    assert_eq!(
        names(&ctx),
        ["install", "import", "exercise", "exercise@macos"]
    );
    assert_eq!(
        p.clone().without_phase("exercise").phases.len(),
        2,
        "--no-import drops every pass's exercise"
    );
}

/// A package below a custom package directory (`package_dir={"": "lib"}`) still has
/// its import name found, so the import and exercise phases import it.
#[test]
fn sdist_tree_top_level_finds_a_package_one_level_down() {
    let files: Vec<String> = [
        "p-1/setup.py",
        "p-1/lib/wallet_core/__init__.py",
        "p-1/lib/wallet_core/x.py",
        "p-1/tests/t/__init__.py",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        metadata::sdist_tree_top_level(&files, "p-1/"),
        ["wallet_core"]
    );
    let flat: Vec<String> = [
        "p-1/setup.py",
        "p-1/evil/__init__.py",
        "p-1/lib/other/__init__.py",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(metadata::sdist_tree_top_level(&flat, "p-1/"), ["evil"]);
}
