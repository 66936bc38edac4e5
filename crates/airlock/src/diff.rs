//! `airlock diff OLD NEW`: what a release changed, read without running or unpacking
//! anything — new install scripts, new or changed obfuscated files, new endpoints, new
//! dependencies, and (for two registry versions) a maintainer change or a publish
//! without provenance after releases with it. The chalk/debug 2025 compromise was a
//! patch release whose entry file gained an obfuscated browser-only payload; this is the
//! view that shows it. The new version's static signals and the diff signals are then
//! judged by the rules (`rules/static/`), like a scan's static phase.
//!
//! Also home of [`previous_version_signals`], the automatic comparison `scan` makes for
//! a `name@version` with the highest version published below it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use airlock_ecosystem::npm;
use airlock_events::{Ecosystem, Event, PackageRef, Record, TraceFooter, TraceHeader};
use airlock_static::diff::{self, DiffSummary, RegistryMeta};
use airlock_static::{PackageFile, ScanOptions};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::Deserialize;
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
    /// Rules directory (default: $AIRLOCK_RULES, else the source tree's rules/).
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
            eprintln!("airlock: error: {e:#}");
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
                    eprintln!("airlock: warning: no registry metadata for {a}: {e:#}");
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
    let eco = if n.files.iter().any(|f| f.rel == "package.json") {
        Ecosystem::Npm
    } else {
        Ecosystem::Pypi
    };
    let j = judge_static(&rules, &n.name, &n.version, eco, events);
    let text = match args.format {
        DiffFormat::Human => render_human(&o, &n, &d, &j, color(args)),
        DiffFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json_value(&o, &n, &d, &j))?
        ),
    };
    crate::scan::emit(&text, args.output.as_deref())?;
    Ok(crate::scan::exit_code(j.verdict, args.fail_on))
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

/// Judges static events alone: the trace of a run whose only phase is `static`.
fn judge_static(
    rules: &airlock_rules::Ruleset,
    name: &str,
    version: &str,
    eco: Ecosystem,
    events: Vec<Event>,
) -> airlock_rules::Judgement {
    let header = TraceHeader {
        schema_version: airlock_events::SCHEMA_VERSION,
        run_id: "diff".into(),
        started_at: airlock_events::now(),
        package: PackageRef {
            ecosystem: Some(eco),
            name: name.to_string(),
            version: version.to_string(),
            sha256: None,
            integrity: None,
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        image: None,
        persona: None,
        home: None,
        package_dir: None,
        canaries: vec![],
        notes: Default::default(),
    };
    let n = events.len() as u64;
    let mut records: Vec<Record> = events
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.seq = i as u64;
            Record::Event(e)
        })
        .collect();
    records.push(Record::Footer(TraceFooter {
        events: n,
        ended_at: airlock_events::now(),
        complete: true,
        gaps: vec![],
    }));
    rules.judge(&header, records)
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

// ---------------------------------------------------------------------------------------
// Registry metadata

#[derive(Deserialize)]
struct Packument {
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<String, VersionMeta>,
}

#[derive(Deserialize)]
struct VersionMeta {
    #[serde(default)]
    maintainers: Vec<Person>,
    #[serde(default, rename = "_npmUser")]
    npm_user: Option<Person>,
    #[serde(default)]
    dist: Option<DistMeta>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Person {
    Object {
        #[serde(default)]
        name: Option<String>,
    },
    Text(String),
}

impl Person {
    fn name(&self) -> Option<String> {
        match self {
            Person::Object { name } => name.clone(),
            // "Name <email> (url)"
            Person::Text(s) => s.split('<').next().map(|n| n.trim().to_string()),
        }
        .filter(|n| !n.is_empty())
    }
}

#[derive(Deserialize)]
struct DistMeta {
    #[serde(default)]
    attestations: Option<Value>,
}

/// What the full packument says about a package's versions.
pub struct PackageMeta {
    pub meta: RegistryMeta,
    /// Every published version, oldest first.
    pub versions: Vec<String>,
    /// `latest`, `next`, ... → version.
    pub dist_tags: BTreeMap<String, String>,
}

/// Fetches the full packument (`Accept: application/json`: the abbreviated document
/// has neither maintainers nor publishers) and keeps maintainers and provenance per
/// version. A version's maintainers are its `maintainers` plus its publisher.
pub fn fetch_meta(registry: &str, name: &str) -> Result<PackageMeta> {
    let registry = registry.trim_end_matches('/');
    let url = format!("{registry}/{}", name.replace('/', "%2f"));
    let resp = airlock_ecosystem::http::client()
        .get(&url)
        .set("Accept", "application/json")
        .call()
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let doc: Packument = serde_json::from_reader(std::io::BufReader::new(resp.into_reader()))
        .with_context(|| format!("{url}: bad packument"))?;
    Ok(meta_from_packument(doc))
}

fn meta_from_packument(doc: Packument) -> PackageMeta {
    let mut meta = RegistryMeta::default();
    let mut versions = Vec::new();
    for (v, m) in doc.versions {
        let mut people: Vec<String> = m.maintainers.iter().filter_map(Person::name).collect();
        people.extend(m.npm_user.as_ref().and_then(Person::name));
        people.sort();
        people.dedup();
        if !people.is_empty() {
            meta.maintainers.insert(v.clone(), people);
        }
        let attested = m
            .dist
            .as_ref()
            .and_then(|d| d.attestations.as_ref())
            .is_some_and(|a| !a.is_null());
        meta.has_provenance.insert(v.clone(), attested);
        versions.push(v);
    }
    versions.sort_by(|a, b| airlock_static::audit::cmp_version(a, b));
    PackageMeta {
        meta,
        versions,
        dist_tags: doc.dist_tags,
    }
}

fn is_prerelease(v: &str) -> bool {
    v.split_once('+').map(|(a, _)| a).unwrap_or(v).contains('-')
}

/// The highest version published below `version`; prereleases only when `version` is
/// one.
pub fn previous_version<'a>(versions: &'a [String], version: &str) -> Option<&'a str> {
    let pre = is_prerelease(version);
    versions
        .iter()
        .filter(|v| pre || !is_prerelease(v))
        .filter(|v| airlock_static::audit::cmp_version(v, version) == std::cmp::Ordering::Less)
        .max_by(|a, b| airlock_static::audit::cmp_version(a, b))
        .map(String::as_str)
}

/// The automatic comparison `scan` makes for `name@version`: fetches the packument and
/// the highest version published below `version` (integrity-checked, read in memory
/// like the scanned one), and returns the diff's signals as `static` events (phase
/// `static`, ids `diff-*`), each detail naming the version compared with. No previous
/// version (a first release) gives no events. Network errors are errors; the caller
/// decides whether a scan goes on without the comparison.
// Called from `engine.rs` by the orchestrator (the static phase of `scan name@version`).
#[allow(dead_code)]
pub fn previous_version_signals(
    registry: &str,
    name: &str,
    version: &str,
    new_tgz: &Path,
) -> Result<Vec<Event>> {
    let pm = fetch_meta(registry, name)?;
    let Some(prev) = previous_version(&pm.versions, version) else {
        return Ok(Vec::new());
    };
    let work = tempfile::Builder::new()
        .prefix("airlock-prev-")
        .tempdir()
        .context("creating a temporary directory")?;
    let f = npm::fetch(registry, name, prev, work.path())?;
    let opts = ScanOptions::default();
    let d = diff::diff_archives(&f.path, new_tgz, &opts, Some((&pm.meta, prev, version)))?;
    let ts = airlock_events::now();
    Ok(d.signals
        .into_iter()
        .map(|mut s| {
            s.detail = format!("{} (compared with {prev})", s.detail);
            s.to_event(ts)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_version_skips_prereleases_and_compares_numerically() {
        let v: Vec<String> = ["1.9.0", "1.10.0", "1.10.1-beta.1", "2.0.0", "1.2.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(previous_version(&v, "1.10.1"), Some("1.10.0"));
        assert_eq!(previous_version(&v, "2.0.0"), Some("1.10.0"));
        assert_eq!(previous_version(&v, "1.10.1-beta.2"), Some("1.10.1-beta.1"));
        assert_eq!(previous_version(&v, "1.2.0"), None);
    }

    #[test]
    fn packument_gives_maintainers_and_provenance_per_version() {
        let doc: Packument = serde_json::from_str(
            r#"{"versions":{
              "1.0.0":{"maintainers":[{"name":"alice","email":"a@x"}],"_npmUser":{"name":"alice"},
                       "dist":{"tarball":"t","attestations":{"url":"u","provenance":{}}}},
              "1.0.1":{"maintainers":["mallory <m@x>"],"dist":{"tarball":"t"}},
              "0.9.0":{}
            }}"#,
        )
        .expect("json");
        let pm = meta_from_packument(doc);
        assert_eq!(pm.versions, ["0.9.0", "1.0.0", "1.0.1"]);
        assert_eq!(pm.meta.maintainers["1.0.0"], ["alice"]);
        assert_eq!(pm.meta.maintainers["1.0.1"], ["mallory"]);
        assert!(!pm.meta.maintainers.contains_key("0.9.0"));
        assert!(pm.meta.has_provenance["1.0.0"]);
        assert!(!pm.meta.has_provenance["1.0.1"]);
    }

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

    type Routes = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

    /// A loopback npm registry answering from `routes` (404 otherwise), one request per
    /// connection; `routes` gets the base URL so the packument can name tarballs on it.
    fn registry(routes: impl FnOnce(&str) -> Vec<(String, Vec<u8>)>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let table: Routes = Default::default();
        *table.lock().expect("lock") = routes(&base);
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
                let req = String::from_utf8_lossy(&buf).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = table
                    .lock()
                    .ok()
                    .and_then(|t| t.iter().find(|(p, _)| *p == path).map(|(_, b)| b.clone()));
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        base
    }

    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, format!("package/{name}"), text.as_bytes())
                .expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gz")
    }

    /// `scan name@version`'s comparison: the previous version comes from the registry
    /// (loopback here, integrity-checked), the new tarball from the caller; maintainers
    /// and provenance from the full packument. Prereleases are never "previous".
    #[test]
    fn previous_version_signals_over_a_loopback_registry() {
        use sha1::Digest as _;
        let manifest =
            |v: &str| format!("{{\"name\":\"tinted\",\"version\":\"{v}\",\"main\":\"index.js\"}}");
        let old = tgz(&[
            ("package.json", &manifest("1.0.0")),
            ("index.js", "module.exports = 1;\n"),
        ]);
        let new = tgz(&[
            ("package.json", &manifest("1.1.0")),
            (
                "index.js",
                "module.exports = 1;\nfetch('https://c2.example/x');\n",
            ),
        ]);
        let dir = tempfile::tempdir().expect("tmp");
        let new_path = dir.path().join("tinted-1.1.0.tgz");
        std::fs::write(&new_path, &new).expect("write");
        let sha1 = hex::encode(sha1::Sha1::digest(&old));
        let base = registry(|base| {
            let packument = format!(
                r#"{{"name":"tinted","dist-tags":{{"latest":"1.1.0"}},"versions":{{
                  "0.9.0":{{"maintainers":[{{"name":"alice"}}],"dist":{{"tarball":"{base}/t-0.9.0.tgz"}}}},
                  "1.0.0":{{"maintainers":[{{"name":"alice"}}],"dist":{{"tarball":"{base}/t-1.0.0.tgz","shasum":"{sha1}","attestations":{{"url":"x"}}}}}},
                  "1.1.0":{{"maintainers":[{{"name":"alice"}}],"_npmUser":{{"name":"mallory"}},"dist":{{"tarball":"{base}/t-1.1.0.tgz"}}}},
                  "1.0.5-beta.1":{{"dist":{{"tarball":"{base}/none.tgz"}}}}
                }}}}"#
            );
            vec![
                ("/tinted".to_string(), packument.into_bytes()),
                ("/t-1.0.0.tgz".to_string(), old.clone()),
            ]
        });
        let events =
            previous_version_signals(&base, "tinted", "1.1.0", &new_path).expect("signals");
        let sig: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                airlock_events::EventKind::StaticSignal { signal, detail, .. } => {
                    Some((signal.clone(), detail.clone()))
                }
                _ => None,
            })
            .collect();
        let ids: Vec<&str> = sig.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            ids,
            [
                "diff-new-endpoint",
                "diff-maintainer-change",
                "diff-provenance-dropped"
            ],
            "{sig:?}"
        );
        assert!(
            sig.iter()
                .all(|(_, d)| d.ends_with("(compared with 1.0.0)")),
            "{sig:?}"
        );
        assert!(sig[1].1.contains("mallory"));
        assert!(events.iter().all(|e| e.phase == "static"));
        // A first release has nothing to compare with.
        let first = dir.path().join("first.tgz");
        std::fs::write(&first, tgz(&[("package.json", &manifest("0.9.0"))])).expect("write");
        assert!(previous_version_signals(&base, "tinted", "0.9.0", &first)
            .expect("none")
            .is_empty());
        // An unknown package is an error for the caller to report.
        assert!(previous_version_signals(&base, "nope", "1.0.0", &first).is_err());
    }
}
