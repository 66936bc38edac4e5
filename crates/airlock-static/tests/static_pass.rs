//! Must-match and must-not-match assertions for the package static pass, over the
//! fixture packages in `tests/fixtures/`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use airlock_events::{EventKind, Source};
use airlock_static::{ids, scan_dir, ScanOptions, ScanReport, Signal};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scan(name: &str) -> ScanReport {
    scan_dir(&fixture(name), &ScanOptions::default()).expect("scan")
}

fn find<'a>(r: &'a ScanReport, id: &str) -> Vec<&'a Signal> {
    r.signals.iter().filter(|s| s.signal == id).collect()
}

fn assert_has(r: &ScanReport, id: &str, file: &str) {
    assert!(
        r.signals.iter().any(|s| s.signal == id && s.file == file),
        "expected {id} in {file}; got {:#?}",
        r.signals
    );
}

fn assert_none(r: &ScanReport, id: &str) {
    let hits = find(r, id);
    assert!(hits.is_empty(), "unexpected {id}: {hits:#?}");
}

/// Signals that alone would push a package toward suspicious.
const HIGH: &[&str] = &[
    ids::OBFUSCATED,
    ids::HEX_IDENTIFIERS,
    ids::STRING_ARRAY_ROTATION,
    ids::OBFUSCATOR_PATTERN,
    ids::DECODE_EVAL,
    ids::HIGH_ENTROPY,
    ids::LONG_LINE,
    ids::BASE64_BLOB,
    ids::EMBEDDED_EXECUTABLE,
    ids::ENDPOINT_EXFIL_SERVICE,
    ids::INSTALL_SCRIPT_DOWNLOADS,
    ids::INSTALL_SCRIPT_SHELL,
    ids::WALLET_REGEX,
    ids::WALLET_HOOK,
    ids::BIDI_CONTROL,
    ids::HOMOGLYPH_IDENTIFIER,
    ids::PTH_EXEC,
    ids::SETUP_CMDCLASS,
    ids::DYNAMIC_CODE,
];

#[test]
fn benign_native_addon_shows_only_manifest_facts() {
    let r = scan("benign-native");
    assert_has(&r, ids::INSTALL_SCRIPT, "package.json");
    assert_has(&r, ids::INSTALL_SCRIPT_NATIVE_BUILD, "package.json");
    assert_has(&r, ids::GYPFILE, "binding.gyp");
    assert_has(&r, ids::BIN_ENTRY, "package.json");
    let script = find(&r, ids::INSTALL_SCRIPT)[0];
    assert_eq!(script.line, Some(6));
    assert!(script.detail.contains("node-gyp rebuild"));
    for id in HIGH {
        assert_none(&r, id);
    }
    assert_none(&r, ids::INSTALL_SCRIPT_RUNS_FILE);
}

#[test]
fn minified_bundle_is_minified_not_obfuscated() {
    let r = scan("minified-bundle");
    let m = find(&r, ids::MINIFIED);
    assert_eq!(m.len(), 1, "{:#?}", r.signals);
    let entropy = m[0].value.expect("entropy value");
    assert!((4.0..5.6).contains(&entropy), "{entropy}");
    for id in HIGH {
        assert_none(&r, id);
    }
    assert_eq!(r.js_parsed, 1);
}

#[test]
fn obfuscated_dropper_is_caught() {
    let r = scan("obfuscated-dropper");
    for id in [
        ids::OBFUSCATED,
        ids::HEX_IDENTIFIERS,
        ids::STRING_ARRAY_ROTATION,
        ids::OBFUSCATOR_PATTERN,
        ids::DECODE_EVAL,
        ids::BASE64_BLOB,
        ids::ENDPOINT_IP,
    ] {
        assert_has(&r, id, "setup.js");
    }
    assert_has(&r, ids::INSTALL_SCRIPT_RUNS_FILE, "package.json");
    let runs = find(&r, ids::INSTALL_SCRIPT_RUNS_FILE)[0];
    assert!(runs.detail.contains("setup.js"), "{runs:?}");
    let ob = find(&r, ids::OBFUSCATED)[0];
    assert!(ob.value.unwrap_or(0.0) >= 3.0, "{ob:?}");
    let de = find(&r, ids::DECODE_EVAL)[0];
    assert_eq!(de.line, Some(7));
    assert_none(&r, ids::MINIFIED);
}

#[test]
fn pypi_setup_with_cmdclass_urllib_and_exec() {
    let r = scan("pypi-evil-setup");
    assert_has(&r, ids::SETUP_CMDCLASS, "setup.py");
    assert_has(&r, ids::DECODE_EVAL, "setup.py");
    assert_has(&r, ids::ENDPOINT_EXFIL_SERVICE, "setup.py");
    let net = find(&r, ids::SETUP_PY_CODE);
    assert!(
        net.iter().any(|s| s.detail.starts_with("network")),
        "{net:?}"
    );
    assert!(net.iter().any(|s| s.detail.starts_with("code")), "{net:?}");
}

#[test]
fn benign_pypi_is_quiet() {
    let r = scan("benign-pypi");
    assert!(r.signals.is_empty(), "{:#?}", r.signals);
}

#[test]
fn pth_that_execs() {
    let r = scan("pypi-pth");
    let p = find(&r, ids::PTH_EXEC);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].file, "src/zz_fixture.pth");
    assert_eq!(p[0].value, Some(1.0));
}

#[test]
fn trojan_source() {
    let r = scan("trojan-source");
    assert_has(&r, ids::BIDI_CONTROL, "index.js");
    assert_has(&r, ids::HOMOGLYPH_IDENTIFIER, "index.js");
    assert_eq!(find(&r, ids::BIDI_CONTROL)[0].line, Some(2));
}

#[test]
fn wallet_hijack_shape() {
    let r = scan("wallet-hijack");
    assert_has(&r, ids::WALLET_REGEX, "index.js");
    assert_has(&r, ids::WALLET_HOOK, "index.js");
    let w = find(&r, ids::WALLET_REGEX)[0];
    assert!(w.value.unwrap_or(0.0) >= 3.0, "{w:?}");
    assert_none(&r, ids::OBFUSCATED);
}

#[test]
fn size_cap_and_events() {
    let r = scan_dir(
        &fixture("minified-bundle"),
        &ScanOptions {
            max_file_bytes: 1024,
            ..Default::default()
        },
    )
    .expect("scan");
    let skipped = find(&r, ids::FILE_SKIPPED);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].file, "dist/lib.min.js");
    assert_none(&r, ids::MINIFIED);
    let events = scan("obfuscated-dropper").events(1.0);
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e.phase, "static");
        assert_eq!(e.source, Source::Static);
        assert_eq!(e.kind.type_name(), "static.signal");
        assert!(matches!(&e.kind, EventKind::StaticSignal { signal, .. } if !signal.is_empty()));
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("f");
    std::fs::write(&file, "x").expect("write");
    assert!(scan_dir(&file, &ScanOptions::default()).is_err());
}

#[test]
fn embedded_executable_in_package() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    elf.resize(256, 0);
    std::fs::create_dir_all(tmp.path().join("lib")).expect("mkdir");
    std::fs::write(tmp.path().join("lib/data.bin"), &elf).expect("write");
    std::fs::write(tmp.path().join("lib/readme.txt"), "ELF is a format").expect("write");
    let r = scan_dir(tmp.path(), &ScanOptions::default()).expect("scan");
    let e = find(&r, ids::EMBEDDED_EXECUTABLE);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].file, "lib/data.bin");
}

#[test]
fn archive_scan_matches_directory_scan() {
    // The same package, packed the way npm packs it, gives the same signals without
    // ever being unpacked on disk.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let pkg = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.is_dir() && p.join("package.json").exists() && p.to_string_lossy().contains("obfusc")
        })
        .expect("an obfuscated fixture package");
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("p.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tgz).unwrap(),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    b.append_dir_all("package", &pkg).unwrap();
    b.into_inner().unwrap().finish().unwrap();
    let opts = airlock_static::ScanOptions::default();
    let from_dir = airlock_static::scan_dir(&pkg, &opts).unwrap();
    let from_tgz = airlock_static::scan_archive(&tgz, &opts).unwrap();
    let key = |r: &airlock_static::ScanReport| {
        let mut v: Vec<(String, String, Option<u32>)> = r
            .signals
            .iter()
            .map(|s| (s.signal.clone(), s.file.clone(), s.line))
            .collect();
        v.sort();
        v
    };
    assert!(!from_dir.signals.is_empty());
    assert_eq!(key(&from_dir), key(&from_tgz));
    // Bytes already in memory (a decrypted sample-zip entry) give the same.
    let bytes = std::fs::read(&tgz).unwrap();
    let from_bytes = airlock_static::scan_archive_bytes(&bytes, &tgz, &opts).unwrap();
    assert_eq!(key(&from_dir), key(&from_bytes));
    let not_archive = tmp.path().join("x.bin");
    std::fs::write(&not_archive, b"plain").unwrap();
    assert!(airlock_static::scan_archive(&not_archive, &opts).is_err());
}

/// Files are analyzed in parallel, but the signals come out in scan order whatever the
/// number of threads, with the root manifest first.
#[test]
fn parallel_analysis_is_deterministic() {
    for name in [
        "obfuscated-dropper",
        "wallet-hijack",
        "pypi-evil-setup",
        "benign-native",
    ] {
        let one = scan_dir(
            &fixture(name),
            &ScanOptions {
                threads: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let many = scan_dir(
            &fixture(name),
            &ScanOptions {
                threads: 4,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(one.signals, many.signals, "{name}");
        assert_eq!(one.files_analyzed, many.files_analyzed);
        let manifest = ["package.json", "setup.py", "setup.cfg", "pyproject.toml"];
        if let Some(first_other) = one
            .signals
            .iter()
            .position(|s| !manifest.contains(&s.file.as_str()))
        {
            assert!(
                one.signals[first_other..]
                    .iter()
                    .all(|s| !manifest.contains(&s.file.as_str())),
                "{name}: manifest signals first: {:?}",
                one.signals
            );
        }
    }
}

/// A file over 1 MiB is analyzed as two jobs (text and syntax); the merged signals are
/// exactly what one sequential `analyze_file` gives.
#[test]
fn big_files_split_in_two_jobs_give_the_same_signals() {
    let tmp = tempfile::tempdir().unwrap();
    let mut src = String::from("'use strict';\nconst u = 'https://c2.example/x';\n");
    while src.len() < (3 << 19) {
        src.push_str("function f(a, b) { return a + b * 2; } // filler line\n");
    }
    src.push_str("eval(atob(process.env.P));\n");
    std::fs::write(tmp.path().join("big.js"), &src).unwrap();
    std::fs::write(tmp.path().join("package.json"), "{\"name\":\"big\"}").unwrap();
    let mut expected = Vec::new();
    airlock_static::analyze_file("big.js", src.as_bytes(), &mut expected);
    for threads in [1, 2, 4] {
        let r = scan_dir(
            tmp.path(),
            &ScanOptions {
                threads,
                ..Default::default()
            },
        )
        .unwrap();
        let got: Vec<&Signal> = r.signals.iter().filter(|s| s.file == "big.js").collect();
        assert_eq!(
            got,
            expected.iter().collect::<Vec<_>>(),
            "threads {threads}"
        );
        assert_eq!(r.js_parsed, 1);
        assert!(got.iter().any(|s| s.signal == ids::DECODE_EVAL));
    }
}

/// The obfuscated dropper's JavaScript, shipped inside a Python wheel (a web UI's
/// assets): pip and import never run it, so its code signals are set aside as one
/// `web-assets` summary; the same file in an npm package keeps them all.
#[test]
fn javascript_in_a_python_distribution_is_a_web_asset() {
    let js = std::fs::read(fixture("obfuscated-dropper").join("setup.js")).unwrap();
    let file = |rel: &str, bytes: Vec<u8>| airlock_static::PackageFile {
        rel: rel.into(),
        size: bytes.len() as u64,
        sha256: [0; 32],
        bytes: Some(bytes),
        signals: Vec::new(),
    };
    let wheel = vec![
        file("webui/__init__.py", b"import os\n".to_vec()),
        file("webui/static/js/main.chunk.js", js.clone()),
        file("webui-1.0.dist-info/METADATA", b"Name: webui\n".to_vec()),
    ];
    let opts = ScanOptions::default();
    let r = airlock_static::scan_files(&wheel, &opts, std::time::Instant::now());
    assert_none(&r, ids::DECODE_EVAL);
    assert_none(&r, ids::OBFUSCATED);
    let assets = find(&r, ids::WEB_ASSETS);
    assert_eq!(assets.len(), 1, "{:?}", r.signals);
    assert_eq!(assets[0].value, Some(1.0));
    assert!(assets[0].detail.contains("1 JavaScript file"), "{assets:?}");
    // An sdist is a Python distribution too; its Python code is still read.
    let sdist = vec![
        file("PKG-INFO", b"Name: webui\n".to_vec()),
        file(
            "setup.py",
            b"import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n".to_vec(),
        ),
        file("webui/static/app.js", js.clone()),
    ];
    let r = airlock_static::scan_files(&sdist, &opts, std::time::Instant::now());
    assert_has(&r, ids::DECODE_EVAL, "setup.py");
    assert!(find(&r, ids::DECODE_EVAL)
        .iter()
        .all(|s| s.file == "setup.py"));
    assert_eq!(find(&r, ids::WEB_ASSETS).len(), 1);
    // The same JavaScript in an npm package is the package's code.
    let npm = vec![
        file(
            "package.json",
            br#"{"name":"x","version":"1.0.0"}"#.to_vec(),
        ),
        file("setup.js", js),
    ];
    let r = airlock_static::scan_files(&npm, &opts, std::time::Instant::now());
    assert_has(&r, ids::DECODE_EVAL, "setup.js");
    assert_has(&r, ids::OBFUSCATED, "setup.js");
    assert_none(&r, ids::WEB_ASSETS);
}
