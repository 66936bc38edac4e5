//! `requirements*.txt`, read line by line (continuations joined): what it pins, hashes
//! and which indexes it names.

use std::path::Path;

use airlock_events::Severity;

use super::checks::{host_of, Ctx};
use super::{codes, AuditFinding, OsvDb, RegistryFacts};
use crate::lockfile::LockedPackage as Entry;

/// Audits a requirements file: index options, unpinned and unhashed requirements, URL
/// and git requirements (through the common checks); `(requirements read, findings)`.
pub(super) fn requirements(
    path: &Path,
    text: &str,
    eco: &RegistryFacts,
    registry: Option<&str>,
    osv: Option<&OsvDb>,
) -> (usize, Vec<AuditFinding>) {
    // Join continuation lines, remembering where each logical line starts.
    let mut logical: Vec<(u32, String)> = Vec::new();
    let mut cur: Option<(u32, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or(raw);
        let (content, cont) = match line.trim_end().strip_suffix('\\') {
            Some(c) => (c, true),
            None => (line, false),
        };
        let entry = cur.get_or_insert((i as u32 + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(content.trim());
        if !cont {
            if let Some(done) = cur.take() {
                logical.push(done);
            }
        }
    }
    if let Some(done) = cur {
        logical.push(done);
    }
    let hash_mode = logical
        .iter()
        .any(|(_, l)| l.contains("--hash") || l.contains("--require-hashes"));
    let mut ctx = Ctx {
        lockfile: path,
        eco,
        registry_host: registry.map(str::to_string),
        osv,
        out: Vec::new(),
    };
    let mut n = 0;
    for (line, l) in &logical {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut e = Entry {
            line: Some(*line),
            ..Default::default()
        };
        if let Some(rest) = t
            .strip_prefix("--index-url")
            .or_else(|| t.strip_prefix("-i "))
            .or_else(|| t.strip_prefix("--extra-index-url"))
        {
            let url = rest.trim_start_matches('=').trim();
            e.name = "(index)".into();
            if url.starts_with("http://") {
                ctx.push(
                    codes::INSECURE_HTTP,
                    Severity::High,
                    &e,
                    format!("package index over plain http: {url}"),
                );
            }
            if let Some(h) = host_of(url) {
                if !ctx.registry_ok(&h) {
                    let extra = t.starts_with("--extra-index-url");
                    ctx.push(
                        codes::FOREIGN_REGISTRY,
                        if extra {
                            Severity::High
                        } else {
                            Severity::Medium
                        },
                        &e,
                        format!(
                            "{} {url}{}",
                            if extra { "extra index" } else { "index" },
                            if extra {
                                " (dependency confusion risk)"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
            continue;
        }
        if t.starts_with('-') && !t.starts_with("-e") {
            continue;
        }
        n += 1;
        let req = t.trim_start_matches("-e").trim();
        let spec = req.split(" --").next().unwrap_or(req).trim();
        let hashed = req.contains("--hash");
        let (name, url) = if let Some((n, u)) = spec.split_once(" @ ") {
            (n.trim().to_string(), Some(u.trim().to_string()))
        } else if spec.contains("://") || spec.starts_with("git+") {
            let egg = spec.split("#egg=").nth(1).unwrap_or(spec).to_string();
            (egg, Some(spec.to_string()))
        } else {
            let end = spec
                .find(|c: char| "=<>!~;[ ".contains(c))
                .unwrap_or(spec.len());
            (spec[..end].to_string(), None)
        };
        e.name = name;
        if let Some(u) = url {
            let local = u.starts_with("file:") || u.starts_with('.') || u.starts_with('/');
            e.local = local;
            e.resolved = Some(u.clone());
            e.spec = Some(u);
            e.integrity = hashed.then(|| "sha256-present".to_string());
            if !local {
                // URL and git requirements: reuse the common checks, minus integrity for git.
                let before = ctx.out.len();
                ctx.check(&e);
                if !hash_mode {
                    let mut k = before;
                    while k < ctx.out.len() {
                        if ctx.out[k].code == codes::MISSING_INTEGRITY {
                            ctx.out.remove(k);
                        } else {
                            k += 1;
                        }
                    }
                }
            }
            continue;
        }
        let pinned = spec.split(';').next().unwrap_or(spec);
        let version = pinned
            .split_once("===")
            .or_else(|| pinned.split_once("=="))
            .map(|(_, v)| v.trim().to_string());
        e.version = version.clone().filter(|v| !v.contains('*'));
        if e.version.is_none() {
            ctx.push(
                codes::UNPINNED_REQUIREMENT,
                if hash_mode {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                &e,
                format!("{} is not pinned to one version: {spec}", e.name),
            );
        }
        if hash_mode && !hashed {
            ctx.push(
                codes::MISSING_HASH,
                Severity::Medium,
                &e,
                format!("{} has no --hash although the file uses hashes", e.name),
            );
        }
        if let (Some(db), Some(v)) = (osv, &e.version) {
            for (id, summary) in db.lookup(eco, &e.name, v) {
                ctx.push(
                    codes::KNOWN_MALICIOUS,
                    Severity::Critical,
                    &e,
                    format!("{}=={v} is listed in {id}: {summary}", e.name),
                );
            }
        }
    }
    (n, ctx.out)
}
