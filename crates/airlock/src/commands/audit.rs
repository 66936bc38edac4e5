//! `airlock audit [PATH]`: what the lockfiles of a project say about where its code
//! comes from, before anything is installed. Finds every lockfile under PATH, runs
//! `airlock_static::audit` on each (git refs, foreign tarballs, `http:`, weak or missing
//! integrity, unpinned requirements, versions a local OSV export calls malicious) and
//! prints a table, JSON, or SARIF whose results point at the lockfile line. Nothing is
//! fetched: the OSV database is a local export the user points at.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use airlock_events::Severity;
use airlock_static::audit::{self, AuditFinding, AuditOptions, AuditReport};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde_json::{json, Value};

/// Output formats of `audit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Human,
    Json,
    Sarif,
}

/// The lowest severity that makes `audit` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditFailOn {
    Low,
    Medium,
    High,
}

impl AuditFailOn {
    fn threshold(self) -> Severity {
        match self {
            AuditFailOn::Low => Severity::Low,
            AuditFailOn::Medium => Severity::Medium,
            AuditFailOn::High => Severity::High,
        }
    }
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// A lockfile, or a directory searched for lockfiles (default: the current one).
    pub path: Option<PathBuf>,
    /// The registry the project is meant to use; tarballs elsewhere are reported.
    #[arg(long, env = "AIRLOCK_NPM_REGISTRY")]
    pub registry: Option<String>,
    /// A local OSV export (a directory of OSV JSON files or a zip such as OSV's
    /// `npm/all.zip`); versions it lists as affected are reported. Never fetched.
    #[arg(long, value_name = "DIR|ZIP")]
    pub osv: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    pub format: AuditFormat,
    /// Write the report here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = AuditFailOn::High)]
    pub fail_on: AuditFailOn,
}

/// Directories never searched for lockfiles: installed trees, VCS data, build output.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    ".git",
    ".hg",
    ".svn",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    "site-packages",
    ".tox",
    ".nox",
];

/// How deep below PATH lockfiles are looked for (monorepos keep them a few levels down).
const MAX_DEPTH: usize = 8;

pub fn run(args: AuditArgs) -> u8 {
    match audit_cmd(&args) {
        Ok(code) => code,
        Err(e) => {
            crate::commands::print_error(&e);
            2
        }
    }
}

fn audit_cmd(args: &AuditArgs) -> Result<u8> {
    let root = match &args.path {
        Some(p) => p.clone(),
        None => std::env::current_dir().context("the current directory")?,
    };
    let osv = match &args.osv {
        Some(p) => {
            let db = airlock_ecosystem::lockfiles::osv_db(p)?;
            tracing::info!(records = db.records, path = %p.display(), "OSV export loaded");
            Some(db)
        }
        None => None,
    };
    let opts = AuditOptions {
        registry: args.registry.clone(),
        osv,
    };
    let report = audit_tree(&root, &opts)?;
    let text = match args.format {
        AuditFormat::Human => render_human(&report, color(args)),
        AuditFormat::Json => format!("{}\n", serde_json::to_string_pretty(&json_value(&report))?),
        AuditFormat::Sarif => format!("{}\n", serde_json::to_string_pretty(&sarif_value(&report))?),
    };
    crate::commands::scan::emit(&text, args.output.as_deref())?;
    let threshold = args.fail_on.threshold();
    Ok(u8::from(
        report.findings.iter().any(|f| f.severity >= threshold),
    ))
}

fn color(args: &AuditArgs) -> bool {
    args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
}

/// Audits `path`: one lockfile, or every lockfile found under a directory.
pub fn audit_tree(path: &Path, opts: &AuditOptions) -> Result<AuditReport> {
    if path.is_file() {
        return Ok(airlock_ecosystem::lockfiles::audit_path(path, opts)?);
    }
    if !path.is_dir() {
        bail!("{}: no such file or directory", path.display());
    }
    let files = find_lockfiles(path)?;
    if files.is_empty() {
        bail!(
            "{}: no lockfile found (looked for {}, requirements*.txt)",
            path.display(),
            airlock_ecosystem::lockfiles::lockfile_names().join(", ")
        );
    }
    let mut report = AuditReport::default();
    for f in files {
        let r = airlock_ecosystem::lockfiles::audit_path(&f, opts)?;
        report.packages += r.packages;
        report.findings.extend(r.findings);
        report.lockfiles.extend(r.lockfiles);
    }
    Ok(report)
}

fn is_lockfile(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    airlock_ecosystem::lockfiles::lockfile_names().contains(&lower.as_str())
        || (lower.starts_with("requirements") && lower.ends_with(".txt"))
}

/// Lockfiles under `root`, sorted; in a directory with `npm-shrinkwrap.json` the
/// `package-lock.json` beside it is ignored, as npm does. Symlinks are not followed.
pub fn find_lockfiles(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        let mut here = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let ft = entry
                .file_type()
                .with_context(|| format!("reading {}", entry.path().display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                if depth < MAX_DEPTH && !SKIP_DIRS.contains(&name.as_str()) {
                    stack.push((entry.path(), depth + 1));
                }
            } else if ft.is_file() && is_lockfile(&name) {
                here.push(entry.path());
            }
        }
        if here.iter().any(|p| p.ends_with("npm-shrinkwrap.json")) {
            here.retain(|p| !p.ends_with("package-lock.json"));
        }
        out.extend(here);
    }
    out.sort();
    Ok(out)
}

/// The lockfile path as shown and as a SARIF URI: relative to the current directory
/// when it is below it, with `/` separators.
fn display_path(p: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf());
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(String::from).unwrap_or(s)
}

fn sorted(report: &AuditReport) -> Vec<&AuditFinding> {
    let mut v: Vec<&AuditFinding> = report.findings.iter().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.lockfile.cmp(&b.lockfile))
            .then_with(|| a.line.cmp(&b.line))
            .then_with(|| a.code.cmp(&b.code))
    });
    v
}

fn counts(report: &AuditReport) -> Vec<(Severity, usize)> {
    [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ]
    .into_iter()
    .map(|s| {
        (
            s,
            report.findings.iter().filter(|f| f.severity == s).count(),
        )
    })
    .filter(|(_, n)| *n > 0)
    .collect()
}

fn package_label(f: &AuditFinding) -> String {
    match &f.version {
        Some(v) => format!("{}@{v}", f.package),
        None => f.package.clone(),
    }
}

/// The terminal table: one finding a line, most severe first, then a summary.
pub fn render_human(report: &AuditReport, color: bool) -> String {
    let paint = |s: Severity, text: &str| -> String {
        if !color {
            return text.to_string();
        }
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            _ => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let rows: Vec<[String; 5]> = sorted(report)
        .into_iter()
        .map(|f| {
            [
                f.severity.to_string(),
                match f.line {
                    Some(l) => format!("{}:{l}", display_path(&f.lockfile)),
                    None => display_path(&f.lockfile),
                },
                f.code.clone(),
                package_label(f),
                f.message.clone(),
            ]
        })
        .collect();
    let mut out = String::new();
    if !rows.is_empty() {
        let head = ["SEVERITY", "LOCATION", "CODE", "PACKAGE", "MESSAGE"];
        let mut w = head.map(str::len);
        for r in &rows {
            for i in 0..4 {
                w[i] = w[i].max(r[i].chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            )
        };
        out.push_str(&line(head));
        out.push('\n');
        for (r, f) in rows.iter().zip(sorted(report)) {
            let text = line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
            out.push_str(&paint(f.severity, &text));
            out.push('\n');
        }
        out.push('\n');
    }
    let summary: Vec<String> = counts(report)
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    out.push_str(&format!(
        "{} lockfile{}, {} package{}: {}\n",
        report.lockfiles.len(),
        if report.lockfiles.len() == 1 { "" } else { "s" },
        report.packages,
        if report.packages == 1 { "" } else { "s" },
        if summary.is_empty() {
            "no findings".to_string()
        } else {
            format!(
                "{} finding{} ({})",
                report.findings.len(),
                if report.findings.len() == 1 { "" } else { "s" },
                summary.join(", ")
            )
        }
    ));
    for l in &report.lockfiles {
        out.push_str(&format!("  {}\n", display_path(l)));
    }
    out
}

/// Version of the `audit --format json` object; fields are added, never renamed.
pub const AUDIT_SCHEMA_VERSION: &str = "1";

/// The JSON report: lockfiles, package count, findings (most severe first), counts.
pub fn json_value(report: &AuditReport) -> Value {
    let findings: Vec<Value> = sorted(report)
        .into_iter()
        .map(|f| {
            json!({
                "code": f.code,
                "severity": f.severity,
                "lockfile": display_path(&f.lockfile),
                "line": f.line,
                "package": f.package,
                "version": f.version,
                "message": f.message,
            })
        })
        .collect();
    let by_severity: serde_json::Map<String, Value> = counts(report)
        .into_iter()
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    json!({
        "schema_version": AUDIT_SCHEMA_VERSION,
        "lockfiles": report.lockfiles.iter().map(|p| display_path(p)).collect::<Vec<_>>(),
        "packages": report.packages,
        "findings": findings,
        "counts": by_severity,
    })
}

/// What each finding code means, for SARIF rule descriptions.
fn code_description(code: &str) -> &'static str {
    use audit::codes::*;
    match code {
        GIT_DEPENDENCY => "Dependency installed from a git repository instead of the registry",
        GIT_REF_NOT_TAG => "Git dependency pinned to a branch or commit rather than a release tag",
        OPTIONAL_GIT_DEPENDENCY => {
            "Optional dependency from git (how Shai-Hulud spread: failures are silent)"
        }
        NON_REGISTRY_TARBALL => "Dependency tarball downloaded from outside the registry",
        INSECURE_HTTP => "Dependency fetched over plain http",
        MISSING_INTEGRITY => "No integrity hash: the bytes installed are not pinned",
        WEAK_INTEGRITY_SHA1 => "Only a sha1 integrity hash",
        FOREIGN_REGISTRY => "Resolved from a registry other than the configured one",
        UNPINNED_REQUIREMENT => "Python requirement not pinned to one version",
        MISSING_HASH => "Python requirement without --hash while others have one",
        KNOWN_MALICIOUS => "Version listed as malicious or vulnerable in the OSV export",
        _ => "Lockfile audit finding",
    }
}

/// The SARIF 2.1.0 log: one result per finding, located at the lockfile line.
pub fn sarif_value(report: &AuditReport) -> Value {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            json!({
                "id": c,
                "name": c,
                "shortDescription": { "text": code_description(c) },
                "helpUri": "https://github.com/airlock-scan/airlock/blob/main/crates/airlock-static/src/audit.rs",
            })
        })
        .collect();
    let results: Vec<Value> = sorted(report)
        .into_iter()
        .map(|f| {
            let mut region = json!({});
            if let Some(l) = f.line {
                region = json!({ "startLine": l });
            }
            let mut physical = json!({
                "artifactLocation": { "uri": display_path(&f.lockfile) },
            });
            if f.line.is_some() {
                physical["region"] = region;
            }
            json!({
                "ruleId": f.code,
                "ruleIndex": codes.iter().position(|c| *c == f.code).unwrap_or(0),
                "level": airlock_report::sarif::sarif_level(f.severity),
                "message": { "text": format!("{}: {}", package_label(f), f.message) },
                "locations": [{ "physicalLocation": physical }],
                "properties": {
                    "severity": f.severity,
                    "package": f.package,
                    "version": f.version,
                },
            })
        })
        .collect();
    airlock_report::sarif::sarif_log(env!("CARGO_PKG_VERSION"), rules, results, json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &str, severity: Severity, line: Option<u32>) -> AuditFinding {
        AuditFinding {
            code: code.into(),
            severity,
            lockfile: PathBuf::from("/nowhere/app/package-lock.json"),
            line,
            package: "evil".into(),
            version: Some("1.0.0".into()),
            message: "because".into(),
        }
    }

    fn report() -> AuditReport {
        AuditReport {
            lockfiles: vec![PathBuf::from("/nowhere/app/package-lock.json")],
            packages: 3,
            findings: vec![
                finding(audit::codes::WEAK_INTEGRITY_SHA1, Severity::Low, Some(9)),
                finding(audit::codes::KNOWN_MALICIOUS, Severity::Critical, Some(12)),
            ],
        }
    }

    #[test]
    fn human_table_sorts_by_severity_and_points_at_lines() {
        let text = render_human(&report(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SEVERITY"), "{text}");
        assert!(lines[1].starts_with("critical") && lines[1].contains("package-lock.json:12"));
        assert!(lines[2].starts_with("low") && lines[2].contains(":9"));
        assert!(
            text.contains("1 lockfile, 3 packages: 2 findings (1 critical, 1 low)"),
            "{text}"
        );
    }

    #[test]
    fn sarif_results_point_at_the_lockfile_line() {
        let v = sarif_value(&report());
        assert_eq!(v["version"], "2.1.0");
        let r = &v["runs"][0]["results"][0];
        assert_eq!(r["ruleId"], "known-malicious");
        assert_eq!(r["level"], "error");
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["region"]["startLine"], 12);
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("app/package-lock.json")));
        let rules = v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules");
        assert_eq!(rules.len(), 2);
        let idx = r["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(rules[idx]["id"], "known-malicious");
    }

    #[test]
    fn lockfile_search_skips_installed_trees_and_prefers_shrinkwrap() {
        let t = tempfile::tempdir().expect("tmp");
        let mk = |rel: &str| {
            let p = t.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, "{}").expect("write");
        };
        mk("package-lock.json");
        mk("npm-shrinkwrap.json");
        mk("node_modules/dep/package-lock.json");
        mk("svc/api/requirements-dev.txt");
        mk("svc/api/poetry.lock");
        mk("docs/requirements.in");
        let found: Vec<String> = find_lockfiles(t.path())
            .expect("find")
            .iter()
            .map(|p| {
                p.strip_prefix(t.path())
                    .expect("below")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            found,
            [
                "npm-shrinkwrap.json",
                "svc/api/poetry.lock",
                "svc/api/requirements-dev.txt"
            ]
        );
    }
}
