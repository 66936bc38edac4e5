//! Lockfile audit over fixtures of every supported format: each finding code must
//! appear where the fixture plants it (with the entry's line) and nowhere else.

use std::io::Write;
use std::path::PathBuf;

use airlock_events::Severity;
use airlock_static::audit::{audit_path, codes, AuditError, AuditOptions, AuditReport, OsvDb};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn opts() -> AuditOptions {
    AuditOptions {
        registry: None,
        osv: Some(OsvDb::load(&fixtures().join("osv")).expect("osv")),
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
    let db = OsvDb::load(&zip_path).expect("zip");
    assert_eq!(db.records, 2);
    assert_eq!(
        db.lookup(airlock_events::Ecosystem::Npm, "evil-pkg", "6.6.6")
            .len(),
        1
    );
    assert!(db
        .lookup(airlock_events::Ecosystem::Npm, "evil-pkg", "6.6.7")
        .is_empty());
    assert!(db
        .lookup(airlock_events::Ecosystem::Pypi, "evil-pkgx", "9.0")
        .is_empty());
    assert_eq!(
        db.lookup(airlock_events::Ecosystem::Pypi, "EvilPkg", "9.0")
            .len(),
        1,
        "PyPI names are case-insensitive"
    );
    assert_eq!(
        db.lookup(airlock_events::Ecosystem::Pypi, "evilpkg", "9.0")
            .len(),
        1
    );

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
