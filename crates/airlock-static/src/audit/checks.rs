//! The checks every lockfile entry goes through, whatever its format: known-malicious
//! versions, git sources and refs, plain http, tarballs from outside the registry, and
//! missing or weak integrity.

use std::path::Path;

use airlock_events::Severity;

use super::{codes, AuditFinding, OsvDb, RegistryFacts};
use crate::lockfile::{is_git, LockedPackage as Entry};

/// The checks of one lockfile, and the findings so far.
pub(super) struct Ctx<'a> {
    pub(super) lockfile: &'a Path,
    /// The registry the lockfile's ecosystem trusts by default, and its URL shapes.
    pub(super) eco: &'a RegistryFacts,
    /// The registry configured instead (`--registry`), by host.
    pub(super) registry_host: Option<String>,
    pub(super) osv: Option<&'a OsvDb>,
    pub(super) out: Vec<AuditFinding>,
}

pub(super) fn host_of(url: &str) -> Option<String> {
    crate::code::url_host(url)
}

/// A git ref that names a release: `v1.2.3`, `1.2`, `semver:^1`, `tag=…`.
pub(super) fn ref_is_tag(r: &str) -> bool {
    let r = r.trim_start_matches("tag=").trim_start_matches("tag:");
    if r.starts_with("semver:") {
        return true;
    }
    let r = r.trim_start_matches('v');
    let mut parts = r.split('.');
    parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts.next().is_some()
}

pub(super) fn git_ref(s: &str) -> Option<&str> {
    let s = s.split("#egg=").next().unwrap_or(s);
    if let Some((_, path)) = s.split_once("codeload.github.com/") {
        return path.rsplit('/').next();
    }
    let query = s.split_once('?').map(|(_, q)| q);
    let kv =
        |key: &str| query.and_then(|q| q.split(['&', '#']).find_map(|kv| kv.strip_prefix(key)));
    if let Some(t) = kv("tag=") {
        return Some(t);
    }
    if let Some((_, r)) = s.split_once('#') {
        return Some(r.trim_start_matches("commit=").trim_start_matches("tag="));
    }
    if let Some(t) = kv("rev=").or_else(|| kv("branch=")) {
        return Some(t);
    }
    // pip style: git+https://host/repo.git@ref
    let after_scheme = s.split_once("://").map(|x| x.1).unwrap_or(s);
    after_scheme
        .rsplit_once('@')
        .map(|x| x.1)
        .filter(|r| !r.contains('/'))
}

impl Ctx<'_> {
    pub(super) fn push(&mut self, code: &str, severity: Severity, e: &Entry, message: String) {
        self.out.push(AuditFinding {
            code: code.to_string(),
            severity,
            lockfile: self.lockfile.to_path_buf(),
            line: e.line,
            package: e.name.clone(),
            version: e.version.clone(),
            message,
        });
    }

    pub(super) fn registry_ok(&self, host: &str) -> bool {
        match &self.registry_host {
            Some(h) => {
                host == h
                    || self
                        .eco
                        .file_hosts
                        .iter()
                        .any(|(registry, files)| h == registry && host == *files)
            }
            None => self.eco.default_hosts.contains(&host),
        }
    }

    pub(super) fn check(&mut self, e: &Entry) {
        if let (Some(db), Some(v)) = (self.osv, &e.version) {
            for (id, summary) in db.lookup(self.eco, &e.name, v) {
                self.push(
                    codes::KNOWN_MALICIOUS,
                    Severity::Critical,
                    e,
                    format!("{}@{v} is listed in {id}: {summary}", e.name),
                );
            }
        }
        if e.local {
            return;
        }
        let source = e
            .resolved
            .clone()
            .or_else(|| e.spec.clone())
            .unwrap_or_default();
        let git = is_git(&source) || e.spec.as_deref().is_some_and(is_git);
        if git {
            let spec = e.spec.as_deref().filter(|s| is_git(s)).unwrap_or(&source);
            self.push(
                codes::GIT_DEPENDENCY,
                Severity::Medium,
                e,
                format!("{} comes from git: {spec}", e.name),
            );
            match git_ref(spec) {
                Some(r) if ref_is_tag(r) => {}
                r => self.push(
                    codes::GIT_REF_NOT_TAG,
                    Severity::Medium,
                    e,
                    format!(
                        "{} pins git ref {} which is not a release tag",
                        e.name,
                        r.unwrap_or("(none: default branch)")
                    ),
                ),
            }
            if e.optional {
                self.push(
                    codes::OPTIONAL_GIT_DEPENDENCY,
                    Severity::High,
                    e,
                    format!("optional dependency {} comes from git ({spec}); install errors there are silent", e.name),
                );
            }
        }
        if source.to_ascii_lowercase().starts_with("http://") {
            self.push(
                codes::INSECURE_HTTP,
                Severity::High,
                e,
                format!("{} is fetched over plain http: {source}", e.name),
            );
        }
        if !git && (source.starts_with("http://") || source.starts_with("https://")) {
            if let Some(host) = host_of(&source) {
                let registry_shaped = self
                    .eco
                    .registry_url_markers
                    .iter()
                    .any(|m| source.contains(m));
                if !self.registry_ok(&host) {
                    if registry_shaped {
                        self.push(
                            codes::FOREIGN_REGISTRY,
                            Severity::Medium,
                            e,
                            format!(
                                "{} comes from registry {host}, not the configured one",
                                e.name
                            ),
                        );
                    } else {
                        self.push(
                            codes::NON_REGISTRY_TARBALL,
                            Severity::Medium,
                            e,
                            format!("{} is a tarball from {source}", e.name),
                        );
                    }
                }
            }
        }
        if !git {
            match e.integrity.as_deref() {
                None | Some("") => self.push(
                    codes::MISSING_INTEGRITY,
                    Severity::Medium,
                    e,
                    format!("{} has no integrity hash", e.name),
                ),
                Some(i) => {
                    let strong = i.split_whitespace().any(|h| {
                        let l = h.to_ascii_lowercase();
                        l.starts_with("sha512")
                            || l.starts_with("sha384")
                            || l.starts_with("sha256")
                            || (l.len() >= 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
                    });
                    if !strong {
                        self.push(
                            codes::WEAK_INTEGRITY_SHA1,
                            Severity::Low,
                            e,
                            format!(
                                "{} is only protected by a weak hash ({})",
                                e.name,
                                crate::text::clip(i, 30)
                            ),
                        );
                    }
                }
            }
        }
    }
}
