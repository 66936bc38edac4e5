//! Lockfile audit over fixtures of every supported format: each finding code must
//! appear where the fixture plants it (with the entry's line) and nowhere else.

use std::io::Write;
use std::path::PathBuf;

use airlock_ecosystem::lockfiles::{audit_path, osv_db};
use airlock_ecosystem::{npm, pypi};
use airlock_events::Severity;
use airlock_static::audit::{codes, AuditError, AuditOptions, AuditReport};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn opts() -> AuditOptions {
    AuditOptions {
        registry: None,
        osv: Some(osv_db(&fixtures().join("osv")).expect("osv")),
    }
}

fn audit(rel: &str) -> AuditReport {
    audit_path(&fixtures().join("lockfiles").join(rel), &opts()).expect("audit")
}

/// (code, package, line) triples, sorted.
fn triples(r: &AuditReport) -> Vec<(String, String, u32)> {
    let mut v: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.package.clone(), f.line.unwrap_or(0)))
        .collect();
    v.sort();
    v
}

fn t(code: &str, pkg: &str, line: u32) -> (String, String, u32) {
    (code.to_string(), pkg.to_string(), line)
}

fn sorted(mut v: Vec<(String, String, u32)>) -> Vec<(String, String, u32)> {
    v.sort();
    v
}

#[test]
fn package_lock_v3() {
    let r = audit("npm-v3");
    assert_eq!(r.packages, 13);
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::KNOWN_MALICIOUS, "evil-pkg", 61),
            t(codes::FOREIGN_REGISTRY, "foreign", 56),
            t(codes::GIT_DEPENDENCY, "gitdep", 24),
            t(codes::GIT_REF_NOT_TAG, "gitdep", 24),
            t(codes::MISSING_INTEGRITY, "noint", 47),
            t(codes::GIT_DEPENDENCY, "optgit", 32),
            t(codes::GIT_REF_NOT_TAG, "optgit", 32),
            t(codes::OPTIONAL_GIT_DEPENDENCY, "optgit", 32),
            t(codes::INSECURE_HTTP, "plain", 42),
            t(codes::GIT_DEPENDENCY, "tagged", 28),
            t(codes::NON_REGISTRY_TARBALL, "tarball", 37),
            t(codes::WEAK_INTEGRITY_SHA1, "weak", 51),
        ])
    );
    let mal = r
        .findings
        .iter()
        .find(|f| f.code == codes::KNOWN_MALICIOUS)
        .expect("mal");
    assert_eq!(mal.severity, Severity::Critical);
    assert_eq!(mal.version.as_deref(), Some("6.6.6"));
    assert!(mal.message.contains("MAL-2025-0001"));
}

#[test]
fn configured_registry_changes_foreign() {
    let o = AuditOptions {
        registry: Some("https://npm.mirror.example/".into()),
        osv: None,
    };
    let r = audit_path(&fixtures().join("lockfiles/npm-v3/package-lock.json"), &o).expect("audit");
    let foreign: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == codes::FOREIGN_REGISTRY)
        .map(|f| f.package.as_str())
        .collect();
    // Now the public registry is the foreign one, and the mirror is fine.
    assert!(
        foreign.contains(&"good") && foreign.contains(&"evil-pkg"),
        "{foreign:?}"
    );
    assert!(!foreign.contains(&"foreign"));
    assert_eq!(r.count(codes::KNOWN_MALICIOUS), 0, "no OSV database given");
}

#[test]
fn shrinkwrap_v1() {
    let r = audit("npm-v1");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::GIT_DEPENDENCY, "gitdep", 19),
            t(codes::GIT_REF_NOT_TAG, "gitdep", 19),
            t(codes::WEAK_INTEGRITY_SHA1, "inner", 12),
            t(codes::MISSING_INTEGRITY, "noint", 23),
        ])
    );
}

#[test]
fn yarn_classic() {
    let r = audit("yarn-v1");
    assert_eq!(r.packages, 6);
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::WEAK_INTEGRITY_SHA1, "old", 10),
            t(codes::GIT_DEPENDENCY, "gitdep", 14),
            t(codes::GIT_REF_NOT_TAG, "gitdep", 14),
            t(codes::GIT_DEPENDENCY, "optgit", 25),
            t(codes::GIT_REF_NOT_TAG, "optgit", 25),
            t(codes::OPTIONAL_GIT_DEPENDENCY, "optgit", 25),
            t(codes::INSECURE_HTTP, "@scope/pkg", 29),
        ])
    );
}

#[test]
fn yarn_berry() {
    let r = audit("yarn-berry");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::MISSING_INTEGRITY, "nochk", 15),
            t(codes::GIT_DEPENDENCY, "gitdep", 21),
            t(codes::GIT_REF_NOT_TAG, "gitdep", 21),
            t(codes::NON_REGISTRY_TARBALL, "tarball", 27),
        ])
    );
}

#[test]
fn pnpm_v9() {
    let r = audit("pnpm");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::WEAK_INTEGRITY_SHA1, "weak", 19),
            t(codes::NON_REGISTRY_TARBALL, "tarball", 22),
            t(codes::MISSING_INTEGRITY, "tarball", 22),
            t(codes::GIT_DEPENDENCY, "optgit", 26),
            t(codes::GIT_REF_NOT_TAG, "optgit", 26),
            t(codes::OPTIONAL_GIT_DEPENDENCY, "optgit", 26),
            t(codes::KNOWN_MALICIOUS, "evil-pkg", 30),
        ])
    );
    let tb = r
        .findings
        .iter()
        .find(|f| f.package == "tarball")
        .expect("tarball");
    assert_eq!(tb.version.as_deref(), Some("2.0.0"));
}

#[test]
fn requirements_with_hashes() {
    let r = audit("requirements");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::FOREIGN_REGISTRY, "(index)", 2),
            t(codes::UNPINNED_REQUIREMENT, "flask", 5),
            t(codes::MISSING_HASH, "flask", 5),
            t(codes::MISSING_HASH, "django", 6),
            t(codes::GIT_DEPENDENCY, "repo", 7),
            t(codes::GIT_REF_NOT_TAG, "repo", 7),
            t(codes::KNOWN_MALICIOUS, "evilpkg", 8),
        ])
    );
    // requests spans lines 3-4 with its hash on the continuation line: clean.
    assert!(!r.findings.iter().any(|f| f.package == "requests"));
}

#[test]
fn requirements_without_hashes() {
    let r = audit("requirements/requirements-dev.txt");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::UNPINNED_REQUIREMENT, "pytest", 1),
            t(codes::INSECURE_HTTP, "http://files.example/x-1.0.tar.gz", 3),
            t(
                codes::NON_REGISTRY_TARBALL,
                "http://files.example/x-1.0.tar.gz",
                3
            ),
        ])
    );
    assert_eq!(r.count(codes::MISSING_HASH), 0);
    assert_eq!(r.findings[0].severity, Severity::Low);
}

#[test]
fn poetry_lock() {
    let r = audit("poetry");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::GIT_DEPENDENCY, "gitpkg", 13),
            t(codes::GIT_REF_NOT_TAG, "gitpkg", 13),
            t(codes::OPTIONAL_GIT_DEPENDENCY, "gitpkg", 13),
            t(codes::MISSING_INTEGRITY, "nohash", 27),
            t(codes::FOREIGN_REGISTRY, "private", 35),
            t(codes::KNOWN_MALICIOUS, "Evil_Pkg", 50),
            t(codes::WEAK_INTEGRITY_SHA1, "Evil_Pkg", 50),
        ])
    );
}

#[test]
fn uv_lock() {
    let r = audit("uv");
    assert_eq!(
        triples(&r),
        sorted(vec![
            t(codes::GIT_DEPENDENCY, "gitpkg", 10),
            t(codes::GIT_REF_NOT_TAG, "gitpkg", 10),
            t(codes::GIT_DEPENDENCY, "tagged", 15),
            t(codes::INSECURE_HTTP, "direct", 20),
            t(codes::NON_REGISTRY_TARBALL, "direct", 20),
            t(codes::MISSING_INTEGRITY, "direct", 20),
            t(codes::MISSING_INTEGRITY, "nohash", 25),
        ])
    );
}

#[test]
fn osv_from_zip_and_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let zip_path = tmp.path().join("all.zip");
    {
        let f = std::fs::File::create(&zip_path).expect("create");
        let mut w = zip::ZipWriter::new(f);
        for name in ["MAL-2025-0001.json", "MAL-2025-0002.json"] {
            w.start_file(name, zip::write::SimpleFileOptions::default())
                .expect("start");
            w.write_all(&std::fs::read(fixtures().join("osv").join(name)).expect("read"))
                .expect("write");
        }
        w.finish().expect("finish");
    }
    let db = osv_db(&zip_path).expect("zip");
    assert_eq!(db.records, 2);
    assert_eq!(db.lookup(&npm::REGISTRY, "evil-pkg", "6.6.6").len(), 1);
    assert!(db.lookup(&npm::REGISTRY, "evil-pkg", "6.6.7").is_empty());
    assert!(db.lookup(&pypi::REGISTRY, "evil-pkgx", "9.0").is_empty());
    assert_eq!(
        db.lookup(&pypi::REGISTRY, "EvilPkg", "9.0").len(),
        1,
        "PyPI names are case-insensitive"
    );
    assert_eq!(db.lookup(&pypi::REGISTRY, "evilpkg", "9.0").len(), 1);

    let empty = tempfile::tempdir().expect("tmp");
    assert!(matches!(
        audit_path(empty.path(), &AuditOptions::default()),
        Err(AuditError::NoLockfile { .. })
    ));
    let bad = empty.path().join("package-lock.json");
    std::fs::write(&bad, "{ not json").expect("write");
    match audit_path(&bad, &AuditOptions::default()) {
        Err(AuditError::Parse { path, .. }) => assert_eq!(path, bad),
        other => panic!("{other:?}"),
    }
    let odd = empty.path().join("Gemfile.lock");
    std::fs::write(&odd, "x").expect("write");
    assert!(matches!(
        audit_path(&odd, &AuditOptions::default()),
        Err(AuditError::UnknownFormat { .. })
    ));
}

/// Audits `text` as a lockfile named `name` (the name picks the format).
fn audit_str(name: &str, text: &str) -> Vec<(String, String, u32)> {
    let (_, findings) = airlock_ecosystem::lockfiles::audit_text(
        std::path::Path::new(name),
        text,
        &AuditOptions::default(),
    )
    .expect("audit");
    let mut v: Vec<_> = findings
        .iter()
        .map(|f| (f.code.clone(), f.package.clone(), f.line.unwrap_or(0)))
        .collect();
    v.sort();
    v
}

/// Issue 19: a `__metadata:` block on top of yarn v1 entries made the parser read
/// every field as berry `key: value`, dropping the v1 `resolved` line: the `http:`
/// tarball went unreported. Now each line is read in its own syntax, and the mix is a
/// finding of its own.
#[test]
fn yarn_v1_with_metadata_block_still_shows_its_http_tarball() {
    let text = "# yarn lockfile v1\n\n__metadata:\n  version: 6\n  cacheKey: 8\n\nevil@^1.0.0:\n  version \"1.0.0\"\n  resolved \"http://evil.example/evil-1.0.0.tgz\"\n  integrity sha512-AAAA\n";
    let f = audit_str("yarn.lock", text);
    assert!(f.contains(&t(codes::INSECURE_HTTP, "evil", 7)), "{f:?}");
    assert!(
        f.contains(&t(codes::NON_REGISTRY_TARBALL, "evil", 7)),
        "{f:?}"
    );
    assert!(
        f.iter().any(|x| x.0 == codes::LOCKFILE_NOT_UNDERSTOOD),
        "{f:?}"
    );
}

#[test]
fn yarn_lines_of_neither_syntax_and_repeated_fields_are_findings() {
    let text = "# yarn lockfile v1\n\na@^1.0.0:\n  version \"1.0.0\"\n  resolved \"https://registry.yarnpkg.com/a/-/a-1.0.0.tgz\"\n  resolved \"http://evil.example/a.tgz\"\n  integrity sha512-AAAA\n  \tgarbage\n";
    let f = audit_str("yarn.lock", text);
    assert!(f.contains(&t(codes::INSECURE_HTTP, "a", 3)), "{f:?}");
    assert_eq!(
        f.iter()
            .filter(|x| x.0 == codes::LOCKFILE_NOT_UNDERSTOOD)
            .count(),
        2,
        "{f:?}"
    );
}

#[test]
fn berry_lockfile_reads_cleanly() {
    let text = "__metadata:\n  version: 6\n  cacheKey: 8\n\n\"left-pad@npm:^1.3.0\":\n  version: 1.3.0\n  resolution: \"left-pad@npm:1.3.0\"\n  checksum: 2a5b3c\n  languageName: node\n  linkType: hard\n\n\"evil@https://evil.example/evil.tgz\":\n  version: 1.0.0\n  resolution: \"evil@https://evil.example/evil.tgz\"\n  dependencies:\n    left-pad: ^1.3.0\n  checksum: 9f9f\n  languageName: node\n  linkType: hard\n";
    let f = audit_str("yarn.lock", text);
    assert!(
        !f.iter().any(|x| x.0 == codes::LOCKFILE_NOT_UNDERSTOOD),
        "{f:?}"
    );
    assert!(
        f.contains(&t(codes::NON_REGISTRY_TARBALL, "evil", 12)),
        "{f:?}"
    );
}

/// pnpm: a resolution written as a YAML block (valid YAML pnpm reads) was skipped,
/// and an entry written as a flow map disappeared.
#[test]
fn pnpm_block_resolution_and_unreadable_entries() {
    let text = "lockfileVersion: '9.0'\n\npackages:\n\n  evil@1.0.0:\n    resolution:\n      tarball: http://evil.example/evil-1.0.0.tgz\n      integrity: sha512-AAAA\n\n  other@1.0.0: {resolution: {tarball: http://evil.example/o.tgz}}\n\n  bare@1.0.0:\n    engines: {node: '>=8'}\n";
    let f = audit_str("pnpm-lock.yaml", text);
    assert!(f.contains(&t(codes::INSECURE_HTTP, "evil", 5)), "{f:?}");
    assert!(
        f.contains(&t(codes::LOCKFILE_NOT_UNDERSTOOD, "", 10)),
        "{f:?}"
    );
    assert!(
        f.contains(&t(codes::LOCKFILE_NOT_UNDERSTOOD, "bare", 12)),
        "{f:?}"
    );
}

/// package-lock v2 keeps npm 6's tree next to the `packages` map; an entry only the
/// tree has is installed by npm 6 and was never checked.
#[test]
fn package_lock_v2_tree_only_entry_is_checked() {
    let text = r#"{
  "lockfileVersion": 2,
  "packages": {
    "": { "dependencies": { "a": "^1" } },
    "node_modules/a": { "version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-A" }
  },
  "dependencies": {
    "a": { "version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-A" },
    "hidden": { "version": "1.0.0", "resolved": "http://evil.example/hidden.tgz", "integrity": "sha512-H" }
  }
}"#;
    let f = audit_str("package-lock.json", text);
    assert!(f.contains(&t(codes::INSECURE_HTTP, "hidden", 9)), "{f:?}");
    assert!(
        f.contains(&t(codes::LOCKFILE_NOT_UNDERSTOOD, "hidden", 9)),
        "{f:?}"
    );
    // `resolved` of the wrong type is not silently dropped.
    let f = audit_str(
        "package-lock.json",
        r#"{"lockfileVersion": 3, "packages": {"node_modules/x": {"version": "1.0.0", "resolved": ["http://e/x.tgz"]}}}"#,
    );
    assert!(
        f.iter().any(|x| x.0 == codes::LOCKFILE_NOT_UNDERSTOOD),
        "{f:?}"
    );
}

/// The seam reads each ecosystem's own lockfiles and no other's.
#[test]
fn each_ecosystem_reads_its_own_lockfiles() {
    use airlock_ecosystem::PackageEcosystem;
    let lock = fixtures().join("lockfiles/npm-v3/package-lock.json");
    let text = std::fs::read_to_string(&lock).expect("read");
    let (entries, problems) = npm::NPM
        .read_lockfile(&lock, &text)
        .expect("npm's lockfile")
        .expect("parsed");
    assert!(!entries.is_empty());
    assert!(problems.is_empty(), "{problems:?}");
    assert!(pypi::PYPI.read_lockfile(&lock, &text).is_none());
    let poetry = fixtures().join("lockfiles/poetry/poetry.lock");
    let text = std::fs::read_to_string(&poetry).expect("read");
    assert!(npm::NPM.read_lockfile(&poetry, &text).is_none());
    let (entries, _) = pypi::PYPI
        .read_lockfile(&poetry, &text)
        .expect("PyPI's lockfile")
        .expect("parsed");
    assert!(!entries.is_empty());
}
