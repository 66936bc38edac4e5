//! `airlock pip install ...`: pip resolves the requirements with `--dry-run --report`
//! restricted to wheels (`--only-binary=:all:`, so no `setup.py` or build backend runs
//! on the host), every file of the report is looked up or analyzed, and only a clean
//! set is installed — by the real pip, from a generated requirements file that pins
//! each distribution to its version and sha256 (`--require-hashes --no-deps`), so pip
//! installs exactly the files analyzed. Other pip commands run unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock_ecosystem::pypi::{pinned_requirements, InstallReport, ReportItem};
use airlock_events::Ecosystem;
use airlock_sandbox::Tracker;
use anyhow::{Context, Result};

use super::argv::Argv;
use super::{Candidate, Checker, Decision, PipArgs, Summary};

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
    "--uploaded-prior-to",
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

/// pip's command line.
type Parsed = Argv;

fn parse(args: &[String]) -> Parsed {
    Argv::parse(args, VALUE_FLAGS, false)
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
    if p.has_any_form(&["--dry-run"]) {
        return pass(&pip, &args.args);
    }
    if p.has_any_form(&["-e", "--editable"]) {
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
    let run_pip = |argv: Vec<String>| {
        let bin = pip[0].clone();
        tokio::task::spawn_blocking(move || {
            Command::new(&bin)
                .args(&argv)
                .env("PIP_NO_INPUT", "1")
                .stdin(Stdio::null())
                .output()
        })
    };
    // The release-age gate: pip 26 and later pick only files uploaded before the cutoff
    // (`--uploaded-prior-to`). Indexes without upload times (PEP 700) make pip refuse
    // every file then, and a requirement with nothing old enough fails the same way: the
    // resolution is made again without the cutoff, and the check after it names
    // whatever is too young.
    let cutoff = opts
        .release_age
        .gate()
        .and_then(|g| uploaded_prior_to(pip, p, &g));
    let mut out = match &cutoff {
        Some(c) => {
            let mut with = resolve.clone();
            with.push(format!("--uploaded-prior-to={c}"));
            run_pip(with).await?
        }
        None => run_pip(resolve.clone()).await?,
    }
    .with_context(|| format!("running {}", pip.join(" ")))?;
    if !out.status.success() && cutoff.is_some() {
        tracing::info!("pip found nothing uploaded before the --min-age cutoff; resolving again");
        out = run_pip(resolve)
            .await?
            .with_context(|| format!("running {}", pip.join(" ")))?;
    }
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
    let report: InstallReport =
        serde_json::from_str(&text).context("parsing pip's installation report")?;
    if report.install.is_empty() {
        eprintln!("airlock: nothing to install (pip says every requirement is already satisfied)");
        return pass(pip, &args.args);
    }
    // airlock's own downloads trust what pip was told to trust.
    trust_pip_cert(pip, p)?;
    // 2. Look up or analyze every file.
    let cands: Vec<Candidate> = report.pinned()?;
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
        Decision::Pending => {
            eprintln!(
                "airlock: distributions younger than --min-age are pending, so nothing was \
                 installed"
            );
            summary(decision, false, 1, None);
            return Ok(1);
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

/// The `--uploaded-prior-to` the resolution gets for the gate (to the second, UTC): when
/// this pip knows the option (26 and later) and the user set none of their own (flag,
/// `PIP_UPLOADED_PRIOR_TO`), which then stands; the check after the resolution enforces
/// the gate either way.
fn uploaded_prior_to(
    pip: &[String],
    p: &Parsed,
    gate: &airlock_ecosystem::release_age::ReleaseGate,
) -> Option<String> {
    use airlock_ecosystem::release_age::Timestamp;
    if p.has_any_form(&["--uploaded-prior-to"])
        || std::env::var_os("PIP_UPLOADED_PRIOR_TO").is_some_and(|v| !v.is_empty())
    {
        return None;
    }
    let help = Command::new(&pip[0])
        .args(&pip[1..])
        .args(["install", "--help"])
        .env("PIP_NO_INPUT", "1")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !String::from_utf8_lossy(&help.stdout).contains("--uploaded-prior-to") {
        return None;
    }
    let c = gate.cutoff();
    Timestamp::from_second(c.as_second())
        .ok()
        .map(|t| t.to_string())
}

fn write_pinned(path: &Path, items: &[ReportItem]) -> Result<()> {
    std::fs::write(path, pinned_requirements(items))
        .with_context(|| format!("writing {}", path.display()))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
