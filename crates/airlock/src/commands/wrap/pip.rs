//! `airlock pip install ...`: pip resolves the requirements with `--dry-run --report`
//! restricted to wheels (`--only-binary=:all:`, so no `setup.py` or build backend runs
//! on the host), every file of the report is looked up or analyzed, and only a clean
//! set is installed — by the real pip, from a generated requirements file that pins
//! each distribution to its version and sha256 (`--require-hashes --no-deps`), so pip
//! installs exactly the files analyzed. Other pip commands run unchanged.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock_ecosystem::pypi::normalize_name;
use airlock_events::Ecosystem;
use airlock_sandbox::Tracker;
use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{Candidate, Checker, Decision, PipArgs, Summary};
use airlock_ecosystem::Input;

/// pip flags whose value is the next argument.
const VALUE_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--trusted-host",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "--report",
    "--no-binary",
    "--only-binary",
    "--python",
    "--config-settings",
    "-C",
    "--global-option",
    "--root-user-action",
    "--keyring-provider",
];

/// Flags that only shape resolution input (they are replaced by the pinned file).
const INPUT_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "--report",
    "--no-binary",
    "--only-binary",
];

#[derive(Debug, Default)]
struct Parsed {
    flags: Vec<String>,
    positionals: Vec<String>,
}

fn parse(args: &[String]) -> Parsed {
    let mut p = Parsed::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a.starts_with('-') && a.len() > 1 {
            p.flags.push(a.clone());
            if VALUE_FLAGS.contains(&a.as_str()) {
                if let Some(v) = it.next() {
                    p.flags.push(v.clone());
                }
            }
        } else {
            p.positionals.push(a.clone());
        }
    }
    p
}

impl Parsed {
    fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|f| {
            names
                .iter()
                .any(|n| f == n || f.starts_with(&format!("{n}=")))
        })
    }

    /// Flags without the named ones and their values.
    fn without(&self, names: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.flags.len() {
            let f = &self.flags[i];
            if names.contains(&f.as_str()) {
                i += if VALUE_FLAGS.contains(&f.as_str()) {
                    2
                } else {
                    1
                };
                continue;
            }
            if !names.iter().any(|n| f.starts_with(&format!("{n}="))) {
                out.push(f.clone());
            }
            i += 1;
        }
        out
    }
}

/// The parts of pip's installation report (`--report`, format version 1) used here.
#[derive(Debug, Deserialize)]
pub struct Report {
    #[serde(default)]
    pub install: Vec<ReportItem>,
}

#[derive(Debug, Deserialize)]
pub struct ReportItem {
    pub download_info: DownloadInfo,
    #[serde(default)]
    pub requested: bool,
    pub metadata: ItemMeta,
}

#[derive(Debug, Deserialize)]
pub struct DownloadInfo {
    pub url: String,
    #[serde(default)]
    pub archive_info: Option<ArchiveInfo>,
}

#[derive(Debug, Deserialize)]
pub struct ArchiveInfo {
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub hashes: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct ItemMeta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub requires_dist: Vec<String>,
}

impl ReportItem {
    fn sha256(&self) -> Option<String> {
        let a = self.download_info.archive_info.as_ref()?;
        a.hashes.get("sha256").cloned().or_else(|| {
            a.hash
                .as_deref()
                .and_then(|h| h.strip_prefix("sha256="))
                .map(String::from)
        })
    }
}

/// The project name at the start of a requirement string.
fn req_name(req: &str) -> String {
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(req.len());
    normalize_name(&req[..end])
}

/// For every item, the chain of names from the requested ones that pulls it in.
pub fn paths(items: &[ReportItem]) -> Vec<Vec<String>> {
    let idx: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (normalize_name(&it.metadata.name), i))
        .collect();
    let mut parent: Vec<Option<Option<usize>>> = vec![None; items.len()];
    let mut q = VecDeque::new();
    for (i, it) in items.iter().enumerate() {
        if it.requested {
            parent[i] = Some(None);
            q.push_back(i);
        }
    }
    while let Some(i) = q.pop_front() {
        for r in &items[i].metadata.requires_dist {
            if let Some(&j) = idx.get(&req_name(r)) {
                if parent[j].is_none() {
                    parent[j] = Some(Some(i));
                    q.push_back(j);
                }
            }
        }
    }
    (0..items.len())
        .map(|i| {
            let mut chain = Vec::new();
            let mut cur = Some(i);
            while let Some(c) = cur {
                chain.push(items[c].metadata.name.clone());
                cur = parent[c].flatten();
                if chain.len() > items.len() {
                    break;
                }
            }
            chain.push("(requirements)".into());
            chain.reverse();
            chain
        })
        .collect()
}

pub async fn run(args: PipArgs, tracker: Tracker) -> Result<u8> {
    let pip: Vec<String> = match &args.opts.real {
        Some(r) => vec![r.clone()],
        None => vec!["python3".into(), "-m".into(), "pip".into()],
    };
    let all = parse(&args.args);
    let cmd = all.positionals.first().cloned().unwrap_or_default();
    if cmd != "install" {
        return pass(&pip, &args.args);
    }
    let mut rest = args.args.clone();
    if let Some(pos) = rest.iter().position(|a| *a == cmd) {
        rest.remove(pos);
    }
    let p = parse(&rest);
    if p.has(&["--dry-run"]) {
        return pass(&pip, &args.args);
    }
    if p.has(&["-e", "--editable"]) {
        eprintln!("airlock: refusing `pip install -e`: building a local project runs its code on the host");
        return Ok(2);
    }
    for r in &p.positionals {
        if r.contains('/')
            || r.contains("://")
            || r.ends_with(".whl")
            || r.ends_with(".tar.gz")
            || r.ends_with(".zip")
            || r == "."
        {
            eprintln!(
                "airlock: refusing `{r}`: the wrapper installs named requirements from an index \
                 (scan local files with `airlock scan` first)"
            );
            return Ok(2);
        }
    }
    install(&args, &pip, &p, tracker).await
}

fn pass(pip: &[String], args: &[String]) -> Result<u8> {
    let st = Command::new(&pip[0])
        .args(&pip[1..])
        .args(args)
        .status()
        .with_context(|| format!("running {}", pip.join(" ")))?;
    Ok(st.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(2))
}

async fn install(args: &PipArgs, pip: &[String], p: &Parsed, tracker: Tracker) -> Result<u8> {
    let opts = &args.opts;
    let mut command = vec!["pip".to_string()];
    command.extend(args.args.iter().cloned());
    let scratch =
        airlock_sandbox::create_private_dir("pip").context("creating a scratch directory")?;
    let report_path = scratch.path().join("report.json");
    // 1. Resolve (wheels only: nothing is built or run).
    let mut resolve: Vec<String> = pip[1..].to_vec();
    resolve.extend(
        [
            "install",
            "--dry-run",
            "--quiet",
            "--only-binary=:all:",
            "--report",
        ]
        .map(String::from),
    );
    resolve.push(report_path.display().to_string());
    // The user's own flags shape the resolution (`--no-deps`, `--user`, `--target`,
    // `-U` ...), except those that would let pip build or report elsewhere.
    resolve.extend(p.without(&["--report", "--no-binary", "--only-binary"]));
    resolve.extend(p.positionals.iter().cloned());
    let out = {
        let bin = pip[0].clone();
        tokio::task::spawn_blocking(move || {
            Command::new(&bin)
                .args(&resolve)
                .env("PIP_NO_INPUT", "1")
                .stdin(Stdio::null())
                .output()
        })
        .await?
        .with_context(|| format!("running {}", pip.join(" ")))?
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "airlock: error: pip could not resolve the requirements as wheels:\n{}",
            err.trim_end()
        );
        if err.contains("No matching distribution") {
            eprintln!(
                "airlock: hint: a requirement may exist only as a source distribution; resolving \
                 it would run its build code on this machine. Analyze it with \
                 `airlock scan pypi:NAME==VERSION` first."
            );
        }
        return Ok(2);
    }
    let text = std::fs::read_to_string(&report_path)
        .with_context(|| format!("reading {}", report_path.display()))?;
    let report: Report =
        serde_json::from_str(&text).context("parsing pip's installation report")?;
    if report.install.is_empty() {
        eprintln!("airlock: nothing to install (pip says every requirement is already satisfied)");
        return pass(pip, &args.args);
    }
    // airlock's own downloads trust what pip was told to trust.
    trust_pip_cert(pip, p)?;
    // 2. Look up or analyze every file.
    let chains = paths(&report.install);
    let mut cands = Vec::new();
    for (it, path) in report.install.iter().zip(chains) {
        let Some(sha) = it.sha256() else {
            bail!(
                "{}: pip's report has no sha256 for {}",
                it.metadata.name,
                it.download_info.url
            );
        };
        cands.push(Candidate {
            ecosystem: Ecosystem::Pypi,
            name: it.metadata.name.clone(),
            version: it.metadata.version.clone(),
            hash: Some(sha),
            input: Input::Pypi {
                name: it.metadata.name.clone(),
                version: Some(it.metadata.version.clone()),
            },
            registry: None,
            path,
            unanalyzable: None,
            fetch_url: Some(it.download_info.url.clone()),
        });
    }
    let checker = Checker::new(opts, tracker, &args.pypi_index, &std::env::current_dir()?)?;
    let checked = checker.check(cands).await?;
    super::report(&checked);
    let decision = super::decide(opts, &checked, 0);
    let summary = |decision: Decision, installed: bool, code: u8, error: Option<String>| {
        if opts.json {
            super::print_summary(&Summary {
                schema_version: "1",
                ecosystem: Ecosystem::Pypi,
                command: command.clone(),
                decision,
                installed,
                exit_code: code,
                packages: &checked,
                audit: Vec::new(),
                error,
            });
        }
    };
    match decision {
        Decision::Refused => {
            eprintln!("airlock: nothing was installed");
            summary(decision, false, 1, None);
            return Ok(1);
        }
        Decision::Error => {
            eprintln!(
                "airlock: some distributions could not be analyzed, so nothing was installed"
            );
            summary(decision, false, 2, None);
            return Ok(2);
        }
        Decision::Clean | Decision::Accepted => {}
    }
    // 3. The real install, pinned by hash.
    let pinned = scratch.path().join("pinned-requirements.txt");
    write_pinned(&pinned, &report.install)?;
    let mut real: Vec<String> = pip[1..].to_vec();
    real.extend(
        [
            "install",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "-r",
        ]
        .map(String::from),
    );
    real.push(pinned.display().to_string());
    real.extend(p.without(INPUT_FLAGS));
    let mut c = Command::new(&pip[0]);
    c.args(&real);
    if opts.json {
        c.stdout(std::io::stderr());
    }
    let st = c
        .status()
        .with_context(|| format!("running {}", pip.join(" ")))?;
    if st.success() {
        summary(decision, true, 0, None);
        Ok(0)
    } else {
        let e = format!("pip install failed ({st})");
        eprintln!("airlock: {e}");
        summary(decision, false, 2, Some(e));
        Ok(2)
    }
}

fn write_pinned(path: &Path, items: &[ReportItem]) -> Result<()> {
    let mut text = String::new();
    for it in items {
        if let Some(sha) = it.sha256() {
            text.push_str(&format!(
                "{}=={} --hash=sha256:{sha}\n",
                it.metadata.name, it.metadata.version
            ));
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// pip's own CA setting — `--cert`, `PIP_CERT`, `cert` in pip's configuration files, or
/// `REQUESTS_CA_BUNDLE` — added to airlock's one HTTP client, so that its downloads
/// (and the host-side `pip download` of dependencies) trust the same CA as pip (issue 19:
/// behind a TLS-inspecting proxy every download failed with `UnknownIssuer`).
fn trust_pip_cert(pip: &[String], p: &Parsed) -> Result<()> {
    let Some(cert) = pip_cert(pip, p) else {
        return Ok(());
    };
    let n = airlock_ecosystem::http::trust_extra_ca_files(&[PathBuf::from(&cert)])
        .with_context(|| format!("pip's cert {cert}"))?;
    tracing::info!(%cert, certificates = n, "trusting pip's CA setting");
    Ok(())
}

fn pip_cert(pip: &[String], p: &Parsed) -> Option<String> {
    if let Some(i) = p.flags.iter().position(|f| f == "--cert") {
        if let Some(v) = p.flags.get(i + 1) {
            return Some(v.clone());
        }
    }
    if let Some(v) = p.flags.iter().find_map(|f| f.strip_prefix("--cert=")) {
        return Some(v.to_string());
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(v) = env("PIP_CERT") {
        return Some(v);
    }
    // `pip config list`: `global.cert='/etc/ssl/corp.pem'` (install.cert likewise).
    let out = Command::new(&pip[0])
        .args(&pip[1..])
        .args(["config", "list"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let listed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            matches!(k.trim(), "global.cert" | "install.cert" | "download.cert")
                .then(|| v.trim().trim_matches(['\'', '"']).to_string())
        })
        .filter(|v| !v.is_empty());
    listed.or_else(|| env("REQUESTS_CA_BUNDLE"))
}

/// Downloads a distribution pip resolved into `dir` and checks its sha256.
pub fn download(url: &str, sha256: &str, dir: &Path) -> Result<PathBuf> {
    use sha2::Digest;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("{url}: not an http(s) URL");
    }
    let file = url
        .split(['#', '?'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|f| !f.is_empty() && !f.contains(".."))
        .unwrap_or("dist");
    let bytes = airlock_ecosystem::http::download(url, 512 << 20, "distribution")
        .with_context(|| format!("downloading {url}"))?;
    let got = hex::encode(sha2::Sha256::digest(&bytes));
    if !got.eq_ignore_ascii_case(sha256) {
        bail!("{url}: sha256 is {got}, pip resolved {sha256}");
    }
    let path = dir.join(file);
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"version":"1","install":[
      {"download_info":{"url":"https://files.example/a-1.0-py3-none-any.whl",
        "archive_info":{"hash":"sha256=aa","hashes":{"sha256":"aa"}}},
       "requested":true,"metadata":{"name":"A","version":"1.0","requires_dist":["b-pkg>=1 ; python_version>'3'"]}},
      {"download_info":{"url":"https://files.example/b_pkg-2.0-py3-none-any.whl",
        "archive_info":{"hash":"sha256=bb"}},
       "requested":false,"metadata":{"name":"b_pkg","version":"2.0"}}
    ]}"#;

    #[test]
    fn report_paths_and_hashes() {
        let r: Report = serde_json::from_str(REPORT).unwrap();
        let p = paths(&r.install);
        assert_eq!(p[1], vec!["(requirements)", "A", "b_pkg"]);
        assert_eq!(r.install[1].sha256().as_deref(), Some("bb"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pinned.txt");
        write_pinned(&f, &r.install).unwrap();
        let t = std::fs::read_to_string(f).unwrap();
        assert!(t.contains("A==1.0 --hash=sha256:aa\n"));
    }

    #[test]
    fn flags_are_split() {
        let a: Vec<String> = [
            "-r",
            "req.txt",
            "-i",
            "http://x/simple",
            "--user",
            "requests",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = parse(&a);
        assert_eq!(p.positionals, vec!["requests"]);
        assert_eq!(
            p.without(INPUT_FLAGS),
            vec!["-i", "http://x/simple", "--user"]
        );
    }
}
