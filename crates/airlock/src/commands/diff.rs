//! `airlock diff OLD NEW`: what a release changed, read without running or unpacking
//! anything — new install scripts, new or changed obfuscated files, new endpoints, new
//! dependencies, and (for two registry versions) a maintainer change or a publish
//! without provenance after releases with it. The chalk/debug 2025 compromise was a
//! patch release whose entry file gained an obfuscated browser-only payload; this is the
//! view that shows it. The new version's static signals and the diff signals are then
//! judged by the rules (`rules/static/`), like a scan's static phase. Only the command
//! line and the rendering live here: the registry history is
//! `airlock_ecosystem::npm::packument`, the comparison `airlock_static::diff`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use airlock_ecosystem::npm;
use airlock_ecosystem::npm::packument::{fetch_meta, previous_version, PackageMeta};
use airlock_static::diff::{self, DiffSummary};
use airlock_static::{PackageFile, ScanOptions};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde_json::{json, Value};

use crate::FailOn;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Human,
    Json,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The earlier version: a .tgz/sdist/wheel, a package directory, or name@version.
    /// Alone, a name@version is compared with the version published before it.
    pub old: String,
    /// The later version, given the same ways.
    pub new: Option<String>,
    /// npm registry for name@version (tarballs are integrity-checked; the packument
    /// gives maintainers and provenance).
    #[arg(long, env = "AIRLOCK_NPM_REGISTRY", default_value = npm::DEFAULT_REGISTRY)]
    pub registry: String,
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
    /// Write the report here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Exit 1 when the static verdict of the new version (its own signals plus the diff)
    /// is at or above this level.
    #[arg(long, value_enum, default_value_t = FailOn::Malicious)]
    pub fail_on: FailOn,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

/// One side of the diff.
#[derive(Debug, Clone, PartialEq)]
enum Side {
    Local(PathBuf),
    Registry { name: String, version: String },
}

impl Side {
    fn classify(arg: &str) -> Result<Side> {
        let path = Path::new(arg);
        if path.exists() {
            return Ok(Side::Local(path.to_path_buf()));
        }
        let looks_like_path = arg.contains(std::path::MAIN_SEPARATOR) && !arg.starts_with('@')
            || [".tgz", ".tar.gz", ".whl", ".zip"]
                .iter()
                .any(|e| arg.ends_with(e));
        if looks_like_path {
            bail!("{arg}: no such file or directory");
        }
        match npm::parse_spec(arg.strip_prefix("npm:").unwrap_or(arg)) {
            Some((name, version)) => Ok(Side::Registry { name, version }),
            None => bail!("{arg}: not a file, a directory, or an npm name@version"),
        }
    }
}

/// A side read into memory.
struct Loaded {
    label: String,
    name: String,
    version: String,
    files: Vec<PackageFile>,
}

pub fn run(args: DiffArgs) -> u8 {
    match diff_cmd(&args) {
        Ok(code) => code,
        Err(e) => {
            crate::commands::print_error(&e);
            2
        }
    }
}

fn diff_cmd(args: &DiffArgs) -> Result<u8> {
    let first = Side::classify(&args.old)?;
    let mut pm: Option<PackageMeta> = None;
    let (old, new) = match &args.new {
        Some(n) => (first, Side::classify(n)?),
        None => {
            let Side::Registry { name, version } = first else {
                bail!(
                    "{}: with one argument, give name@version (it is compared with the \
                     version published before it)",
                    args.old
                );
            };
            let meta = fetch_meta(&args.registry, &name)?;
            let version = meta.dist_tags.get(&version).cloned().unwrap_or(version);
            let Some(prev) = previous_version(&meta.versions, &version) else {
                bail!("{name}@{version}: no earlier version is published");
            };
            let old = Side::Registry {
                name: name.clone(),
                version: prev.to_string(),
            };
            pm = Some(meta);
            (old, Side::Registry { name, version })
        }
    };
    let rules = crate::judging::load_rules(args.rules.as_deref())?;
    let work = tempfile::Builder::new()
        .prefix("airlock-diff-")
        .tempdir()
        .context("creating a temporary directory")?;
    let opts = ScanOptions::default();
    let o = load(&old, &args.registry, work.path(), &opts)?;
    let n = load(&new, &args.registry, work.path(), &opts)?;
    // Registry facts only mean something when both sides are versions of one package.
    let meta = match (&old, &new, pm) {
        (_, _, Some(m)) => Some(m.meta),
        (Side::Registry { name: a, .. }, Side::Registry { name: b, .. }, None) if a == b => {
            match fetch_meta(&args.registry, a) {
                Ok(m) => Some(m.meta),
                Err(e) => {
                    eprintln!(
                        "airlock: warning: no registry metadata for {}",
                        crate::commands::safe(&format!("{a}: {e:#}"))
                    );
                    None
                }
            }
        }
        _ => None,
    };
    let d = diff::diff_files(
        &o.files,
        &n.files,
        &opts,
        meta.as_ref()
            .map(|m| (m, o.version.as_str(), n.version.as_str())),
    );
    let new_scan = airlock_static::scan_files(&n.files, &opts, std::time::Instant::now());
    let mut events = new_scan.events(airlock_events::now());
    events.extend(d.signals.iter().map(|s| s.to_event(airlock_events::now())));
    let rels: Vec<&str> = n.files.iter().map(|f| f.rel.as_str()).collect();
    let eco = airlock_ecosystem::for_package_files(&rels).id();
    let j = rules.judge_static(&n.name, eco, events);
    let text = match args.format {
        DiffFormat::Human => render_human(&o, &n, &d, &j, color(args)),
        DiffFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json_value(&o, &n, &d, &j))?
        ),
    };
    crate::commands::scan::emit(&text, args.output.as_deref())?;
    Ok(crate::commands::scan::exit_code(j.verdict, args.fail_on))
}

fn color(args: &DiffArgs) -> bool {
    args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
}

fn load(side: &Side, registry: &str, work: &Path, opts: &ScanOptions) -> Result<Loaded> {
    let (label, path, fetched) = match side {
        Side::Local(p) => (p.display().to_string(), p.clone(), None),
        Side::Registry { name, version } => {
            let dir = work.join(format!("{name}@{version}").replace('/', "%2f"));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let f = npm::fetch(registry, name, version, &dir)?;
            (
                format!("{name}@{}", f.version),
                f.path,
                Some((name.clone(), f.version)),
            )
        }
    };
    let files = airlock_static::read_package(&path, opts)?;
    let (name, version) = match fetched {
        Some(nv) => nv,
        None => {
            let manifest: Value = files
                .iter()
                .find(|f| f.rel == "package.json")
                .and_then(|f| f.bytes.as_deref())
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let field = |k: &str| {
                manifest
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (field("name"), field("version"))
        }
    };
    Ok(Loaded {
        label,
        name,
        version,
        files,
    })
}

const MAX_LISTED: usize = 40;

fn size(n: Option<u64>) -> String {
    match n {
        Some(b) if b >= 10 * 1024 * 1024 => format!("{:.1} MiB", b as f64 / 1048576.0),
        Some(b) if b >= 10 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        Some(b) => format!("{b} B"),
        None => "-".into(),
    }
}

fn render_human(
    o: &Loaded,
    n: &Loaded,
    d: &DiffSummary,
    j: &airlock_rules::Judgement,
    color: bool,
) -> String {
    let bold = |s: &str| {
        if color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    out.push_str(&bold(&format!("{} → {}", o.label, n.label)));
    out.push('\n');
    out.push_str(&format!(
        "files: {} added, {} changed, {} removed\n",
        d.added.len(),
        d.changed.len(),
        d.removed.len()
    ));
    let mut listed = 0;
    for (mark, list) in [("+", &d.added), ("~", &d.changed), ("-", &d.removed)] {
        for c in list.iter() {
            listed += 1;
            if listed > MAX_LISTED {
                continue;
            }
            let sizes = match mark {
                "+" => size(c.new_size),
                "-" => size(c.old_size),
                _ => format!("{} → {}", size(c.old_size), size(c.new_size)),
            };
            out.push_str(&format!("  {mark} {} ({sizes})\n", c.path));
        }
    }
    if listed > MAX_LISTED {
        out.push_str(&format!("  … {} more\n", listed - MAX_LISTED));
    }
    let section = |out: &mut String, title: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        out.push_str(&bold(title));
        out.push('\n');
        for l in lines {
            out.push_str(&format!("  {l}\n"));
        }
    };
    let by_id = |id: &str| -> Vec<String> {
        d.signals
            .iter()
            .filter(|s| s.signal == id)
            .map(|s| match s.line {
                Some(l) if id == diff::diff_ids::NEW_ENDPOINT => {
                    format!("{} ({}:{l})", s.detail, s.file)
                }
                _ => s.detail.clone(),
            })
            .collect()
    };
    use diff::diff_ids::*;
    section(&mut out, "new install scripts:", by_id(NEW_INSTALL_SCRIPT));
    section(
        &mut out,
        "new or changed obfuscated files:",
        by_id(NEW_OBFUSCATED_FILE),
    );
    section(&mut out, "new endpoints:", by_id(NEW_ENDPOINT));
    section(&mut out, "new dependencies:", by_id(NEW_DEPENDENCY));
    section(&mut out, "maintainers:", by_id(MAINTAINER_CHANGE));
    section(&mut out, "provenance:", by_id(PROVENANCE_DROPPED));
    if d.signals.is_empty() {
        out.push_str("no new install scripts, obfuscation, endpoints or dependencies\n");
    }
    out.push_str(&format!(
        "{} {} (score {:.1}, static signals of {} and the diff)\n",
        bold("verdict:"),
        j.verdict,
        j.score + 0.0, // never "-0.0"
        n.label
    ));
    for f in &j.findings {
        out.push_str(&format!("  [{}] {}: {}\n", f.severity, f.rule, f.message));
    }
    out
}

/// Version of the `diff --format json` object; fields are added, never renamed.
pub const DIFF_SCHEMA_VERSION: &str = "1";

fn json_value(o: &Loaded, n: &Loaded, d: &DiffSummary, j: &airlock_rules::Judgement) -> Value {
    let side = |l: &Loaded| json!({ "input": l.label, "name": l.name, "version": l.version });
    let findings: Vec<Value> = j
        .findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule,
                "severity": f.severity,
                "confidence": f.confidence,
                "decisive": f.decisive,
                "message": f.message,
            })
        })
        .collect();
    json!({
        "schema_version": DIFF_SCHEMA_VERSION,
        "old": side(o),
        "new": side(n),
        "added": d.added,
        "changed": d.changed,
        "removed": d.removed,
        "new_install_scripts": d.new_install_scripts,
        "new_obfuscated_files": d.new_obfuscated_files,
        "new_endpoints": d.new_endpoints,
        "new_dependencies": d.new_dependencies,
        "maintainer_change": d.maintainer_change,
        "provenance_dropped": d.provenance_dropped,
        "signals": d.signals,
        "verdict": j.verdict,
        "score": j.score,
        "findings": findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_paths_or_registry_specs() {
        assert_eq!(
            Side::classify("chalk@5.6.1").expect("spec"),
            Side::Registry {
                name: "chalk".into(),
                version: "5.6.1".into()
            }
        );
        assert!(matches!(
            Side::classify("@scope/pkg@1.0.0").expect("scoped"),
            Side::Registry { .. }
        ));
        assert!(Side::classify("./missing-1.0.0.tgz").is_err());
        assert!(matches!(
            Side::classify(env!("CARGO_MANIFEST_DIR")).expect("dir"),
            Side::Local(_)
        ));
    }
}
