//! `airlock npm ...`: install-like npm commands are checked before anything runs.
//! package.json and the lockfile are copied into a scratch directory where npm resolves
//! the tree with `--package-lock-only --ignore-scripts` (no package code runs, the
//! project is untouched); every registry artifact of the resulting lockfile is looked
//! up or analyzed; only a clean tree goes on, and then the real `npm ci` runs in the
//! project against that very lockfile, so npm installs exactly the analyzed bytes and
//! checks their integrity. Other npm commands run unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock_events::{Ecosystem, Verdict};
use airlock_sandbox::Tracker;
use anyhow::{Context, Result};

use super::argv::Argv;
use super::lockfile::Lockfile;
use super::{Candidate, Checker, Decision, NpmArgs, Summary};

/// What the wrapper does with an npm command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `npm install` and its aliases: resolve, check, then `npm ci` the result.
    Install,
    /// `npm ci`: check the lockfile as it is, then `npm ci`.
    Ci,
    /// Installs that cannot be pinned to an analyzed lockfile.
    Refused(&'static str),
    /// Anything else runs as is.
    Pass,
}

fn classify(cmd: &str) -> Kind {
    match cmd {
        "install" | "i" | "in" | "ins" | "inst" | "insta" | "instal" | "isnt" | "isnta"
        | "isntal" | "isntall" | "add" => Kind::Install,
        "ci" | "clean-install" | "ic" | "install-clean" | "isntall-clean" => Kind::Ci,
        "update" | "up" | "upgrade" | "udpate" => Kind::Refused(
            "`npm update` picks new versions while it installs; run `airlock npm install \
             <pkg>@<version>` for what you want to update",
        ),
        "install-test" | "it" | "install-ci-test" | "cit" => {
            Kind::Refused("run `airlock npm install` (or `ci`), then `npm test`")
        }
        "exec" | "x" => Kind::Refused(
            "`npm exec` fetches and runs packages in one go; `airlock npm install` them first",
        ),
        _ => Kind::Pass,
    }
}

/// npm flags that take the next argument as their value (when not written `--k=v`).
const VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--cache",
    "--userconfig",
    "--globalconfig",
    "--prefix",
    "-C",
    "--omit",
    "--include",
    "--install-strategy",
    "--loglevel",
    "--save-prefix",
    "--tag",
    "--workspace",
    "-w",
    "--before",
    "--otp",
    "--scope",
    "--script-shell",
    "--fetch-retries",
    "--fetch-timeout",
    "--fetch-retry-mintimeout",
    "--fetch-retry-maxtimeout",
    "--cafile",
    "--ca",
    "--cert",
    "--key",
    "--proxy",
    "--https-proxy",
    "--noproxy",
    "--node-options",
    "--location",
    "--lockfile-version",
    "--maxsockets",
    "--umask",
    "--cpu",
    "--os",
    "--libc",
    "--only",
    "--also",
    "--auth-type",
    "--replace-registry-host",
    "--userconfig",
];

/// npm's command line (everything after `--` is positional).
type Parsed = Argv;

fn parse(args: &[String]) -> Parsed {
    Argv::parse(args, VALUE_FLAGS, true)
}

/// npm's `--omit` kinds in effect (flags, then npm's environment defaults).
fn omit(p: &Parsed) -> Vec<String> {
    let mut omit: Vec<String> = p
        .values("--omit")
        .iter()
        .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
        .collect();
    if p.has(&["--production"]) || p.value(&["--only"]).is_some_and(|v| v.starts_with("prod")) {
        omit.push("dev".into());
    }
    if omit.is_empty() && p.values("--include").is_empty() {
        if let Ok(v) = std::env::var("npm_config_omit") {
            omit.extend(v.split(',').map(|s| s.trim().to_string()));
        } else if std::env::var("NODE_ENV").is_ok_and(|v| v == "production") {
            omit.push("dev".into());
        }
    }
    let include = p.values("--include");
    omit.retain(|o| !include.contains(o));
    omit
}

pub async fn run(args: NpmArgs, tracker: Tracker) -> Result<u8> {
    let npm = args.opts.real.clone().unwrap_or_else(|| "npm".into());
    let all = parse(&args.args);
    let Some(cmd) = all.positionals.first().cloned() else {
        return pass(&npm, &args.args);
    };
    // The command's own arguments: everything but the command word itself.
    let mut rest = args.args.clone();
    if let Some(pos) = rest.iter().position(|a| *a == cmd) {
        rest.remove(pos);
    }
    let kind = classify(&cmd);
    let p = parse(&rest);
    let kind = match kind {
        Kind::Install | Kind::Ci
            if p.has(&["--dry-run", "--package-lock-only"])
                || p.value(&["--dry-run", "--package-lock-only"])
                    .is_some_and(|v| v == "true") =>
        {
            // npm runs no package code for these.
            Kind::Pass
        }
        Kind::Install | Kind::Ci
            if p.has(&["-g", "--global"])
                || p.value(&["--location"]).is_some_and(|v| v == "global") =>
        {
            Kind::Refused("global installs are not wrapped yet: install into a project instead")
        }
        Kind::Install
            if p.has(&["--no-save", "--no-package-lock"])
                || p.value(&["--save", "--package-lock"])
                    .is_some_and(|v| v == "false") =>
        {
            Kind::Refused(
                "the wrapper pins the install to an analyzed lockfile, so it needs \
                 package-lock.json to be written (drop --no-save / --no-package-lock)",
            )
        }
        k => k,
    };
    match kind {
        Kind::Pass => pass(&npm, &args.args),
        Kind::Refused(why) => {
            eprintln!("airlock: refusing `npm {cmd}`: {why}");
            Ok(2)
        }
        Kind::Install | Kind::Ci => install(&args, &npm, &cmd, kind, &p, tracker).await,
    }
}

/// Runs npm unchanged and returns its exit status.
fn pass(npm: &str, args: &[String]) -> Result<u8> {
    let st = Command::new(npm)
        .args(args)
        .status()
        .with_context(|| format!("running {npm}"))?;
    Ok(st.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(2))
}

use airlock_ecosystem::npm::PROJECT_LOCKFILES as LOCKFILES;

async fn install(
    args: &NpmArgs,
    npm: &str,
    cmd: &str,
    kind: Kind,
    p: &Parsed,
    tracker: Tracker,
) -> Result<u8> {
    let opts = &args.opts;
    let project = match p.value(&["--prefix", "-C"]) {
        Some(d) => PathBuf::from(d),
        None => std::env::current_dir().context("the current directory")?,
    };
    let mut command = vec!["npm".to_string(), cmd.to_string()];
    command.extend(args.args.iter().skip_while(|a| *a != cmd).skip(1).cloned());
    let fail = |code: u8, e: String| -> u8 {
        if opts.json {
            super::print_summary(&Summary {
                schema_version: "1",
                ecosystem: Ecosystem::Npm,
                command: command.clone(),
                decision: Decision::Error,
                installed: false,
                exit_code: code,
                packages: &[],
                audit: Vec::new(),
                error: Some(e.clone()),
            });
        }
        eprintln!("airlock: error: {}", crate::commands::safe(&e.to_string()));
        code
    };
    // 1. Resolve in a scratch copy.
    // 0700: it holds a copy of the project's .npmrc.
    let scratch =
        airlock_sandbox::create_private_dir("npm").context("creating a scratch directory")?;
    let manifest = project.join("package.json");
    let had_manifest = manifest.is_file();
    if had_manifest {
        airlock_ecosystem::npm::check_project_manifest(&manifest, kind == Kind::Install)?;
    }
    for f in ["package.json", ".npmrc", LOCKFILES[0], LOCKFILES[1]] {
        let src = project.join(f);
        if src.is_file() {
            std::fs::copy(&src, scratch.path().join(f))
                .with_context(|| format!("copying {}", src.display()))?;
        }
    }
    if kind == Kind::Ci && !LOCKFILES.iter().any(|f| scratch.path().join(f).is_file()) {
        return Ok(fail(
            2,
            "`npm ci` needs package-lock.json or npm-shrinkwrap.json".into(),
        ));
    }
    // A lockfile that already pins the tree for this package.json is the resolution:
    // `npm ci` installs exactly it (and fails if it is out of sync), so npm need not
    // resolve again. Anything else (new specs, no lockfile, edited package.json) is
    // resolved in the scratch copy.
    let pinned = kind == Kind::Install
        && p.positionals.is_empty()
        && airlock_ecosystem::npm::lock_pins_manifest(scratch.path());
    if pinned {
        tracing::info!("the lockfile already pins the tree; no resolution needed");
    }
    // The release-age gate: npm itself picks versions old enough (`--before`); the
    // check after the resolution holds back whatever is still too young.
    let gate = opts.release_age.gate();
    if kind == Kind::Install && !pinned {
        let mut resolve_args = vec!["install".to_string()];
        resolve_args.extend(p.without(&[
            "--prefix",
            "-C",
            "--ignore-scripts",
            "--foreground-scripts",
        ]));
        resolve_args.extend(p.positionals.iter().cloned());
        resolve_args.extend(
            [
                "--package-lock-only",
                "--package-lock=true",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--update-notifier=false",
            ]
            .map(String::from),
        );
        if let Some(g) = &gate {
            if let Some(before) = resolution_cutoff(npm, scratch.path(), p, g) {
                resolve_args.push(format!("--before={before}"));
            }
        }
        let dir = scratch.path().to_path_buf();
        let npm_bin = npm.to_string();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(&npm_bin)
                .args(&resolve_args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
        })
        .await?
        .with_context(|| format!("running {npm}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            // npm found no version old enough for a requirement (a version or tag: "No
            // matching version found for x@1.2.0 with a date before …"; a range:
            // ENOVERSIONS "No versions available for x"): pending, not broken.
            let too_young = err.contains("with a date before") || err.contains("ENOVERSIONS");
            if let (Some(g), true) = (&gate, too_young) {
                let safe = crate::commands::safe;
                for l in err.lines().filter(|l| {
                    l.contains("with a date before") || l.contains("No versions available")
                }) {
                    eprintln!(
                        "airlock: PENDING: {}",
                        safe(l.trim_start_matches("npm error "))
                    );
                }
                eprintln!(
                    "airlock: no version old enough for --min-age {} satisfies the requirement \
                     above; nothing was installed (the project is unchanged)",
                    g.min_age
                );
                if opts.json {
                    super::print_summary(&Summary {
                        schema_version: "1",
                        ecosystem: Ecosystem::Npm,
                        command: command.clone(),
                        decision: Decision::Pending,
                        installed: false,
                        exit_code: 1,
                        packages: &[],
                        audit: Vec::new(),
                        error: Some(err.trim_end().to_string()),
                    });
                }
                return Ok(1);
            }
            return Ok(fail(
                2,
                format!(
                    "npm could not resolve the dependency tree:\n{}",
                    err.trim_end()
                ),
            ));
        }
    }
    let Some(lock_name) = LOCKFILES.iter().find(|f| scratch.path().join(f).is_file()) else {
        return Ok(fail(2, "npm wrote no lockfile".into()));
    };
    let lock_path = scratch.path().join(lock_name);
    let lock_text = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))?;
    let lock = match Lockfile::parse(&lock_text) {
        Ok(l) => l,
        Err(e) => return Ok(fail(2, format!("{lock_name}: {e:#}"))),
    };
    // airlock's own downloads trust what npm was told to trust.
    trust_npm_cafile(npm, scratch.path(), &project, p)?;
    // Entries without `resolved` come from the configured registry (per scope).
    let configured = if lock
        .entries
        .iter()
        .any(|e| e.is_from_registry() && e.registry().is_none())
    {
        Some(airlock_ecosystem::npm::NpmRegistries::from_npm_config(
            npm,
            scratch.path(),
        )?)
    } else {
        None
    };
    // 2. Audit the lockfile.
    let registry = airlock_ecosystem::npm::main_registry(&lock)
        .or_else(|| configured.as_ref().map(|c| c.default.clone()));
    let mut audit_opts = airlock_static::audit::AuditOptions {
        registry: registry.clone(),
        osv: None,
    };
    if let Some(osv) = &opts.osv {
        audit_opts.osv = Some(airlock_ecosystem::lockfiles::osv_db(osv)?);
    }
    let audit = airlock_ecosystem::lockfiles::audit_path(&lock_path, &audit_opts)?;
    let known_bad: Vec<_> = audit
        .findings
        .iter()
        .filter(|f| f.code == airlock_static::audit::codes::KNOWN_MALICIOUS)
        .collect();
    print_audit(&audit, lock_name);
    // 3. Look up or analyze every artifact.
    let cands: Vec<Candidate> =
        airlock_ecosystem::npm::pinned_artifacts(&lock, &omit(p), &|name: &str| {
            configured.as_ref().map(|c| c.for_package(name))
        });
    let checker = Checker::new(
        opts,
        tracker,
        airlock_ecosystem::pypi::DEFAULT_INDEX,
        &project,
    )?;
    let mut checked = checker.check(cands).await?;
    for f in &known_bad {
        if let Some(c) = checked
            .iter_mut()
            .find(|c| c.name == f.package && Some(&c.version) == f.version.as_ref())
        {
            c.verdict = Verdict::Malicious;
            c.findings
                .insert(0, format!("{} (lockfile audit): {}", f.code, f.message));
        }
    }
    super::report(&checked);
    let decision = super::decide(opts, &checked, 0);
    let audit_json: Vec<serde_json::Value> = audit
        .findings
        .iter()
        .filter_map(|f| serde_json::to_value(f).ok())
        .collect();
    let summary = |decision: Decision, installed: bool, code: u8, error: Option<String>| {
        if opts.json {
            super::print_summary(&Summary {
                schema_version: "1",
                ecosystem: Ecosystem::Npm,
                command: command.clone(),
                decision,
                installed,
                exit_code: code,
                packages: &checked,
                audit: audit_json.clone(),
                error,
            });
        }
    };
    match decision {
        Decision::Refused => {
            eprintln!(
                "airlock: nothing was installed; package.json, {} and node_modules are unchanged",
                lock_name
            );
            summary(decision, false, 1, None);
            return Ok(1);
        }
        Decision::Error => {
            eprintln!(
                "airlock: some packages could not be analyzed, so nothing was installed \
                 (the project is unchanged)"
            );
            summary(decision, false, 2, None);
            return Ok(2);
        }
        Decision::Pending => {
            eprintln!(
                "airlock: versions younger than --min-age are pending, so nothing was \
                 installed; package.json, {lock_name} and node_modules are unchanged"
            );
            summary(decision, false, 1, None);
            return Ok(1);
        }
        Decision::Clean | Decision::Accepted => {}
    }
    // 4. The real install, pinned to the analyzed lockfile.
    if kind == Kind::Install {
        copy_if_changed(&scratch.path().join("package.json"), &manifest)?;
        copy_if_changed(&lock_path, &project.join(lock_name))?;
    }
    let mut real = vec!["ci".to_string()];
    real.extend(p.flags.iter().cloned());
    if !opts.json {
        eprintln!("airlock: all clear; running npm ci with the analyzed {lock_name}");
    }
    let mut c = Command::new(npm);
    c.args(&real).current_dir(&project);
    if opts.json {
        c.stdout(std::io::stderr());
    }
    let st = c.status().with_context(|| format!("running {npm}"))?;
    if st.success() {
        summary(decision, true, 0, None);
        Ok(0)
    } else {
        let e = format!("npm ci failed ({st})");
        eprintln!("airlock: {e}");
        summary(decision, false, 2, Some(e));
        Ok(2)
    }
}

/// The `--before` the scratch resolution gets: the gate's cutoff (to the second), unless
/// the user's own npm setting is as strict or stricter — `--before`/`--min-release-age`
/// on the command line, or `before`/`min-release-age` in npm's configuration, which a
/// `--before` on the command line would override. Then npm keeps its own; the check
/// after the resolution enforces the gate either way.
fn resolution_cutoff(
    npm: &str,
    dir: &Path,
    p: &Parsed,
    gate: &airlock_ecosystem::release_age::ReleaseGate,
) -> Option<String> {
    use airlock_ecosystem::release_age::{parse_time, SignedDuration, Timestamp};
    if p.has_any_form(&["--before", "--min-release-age"]) {
        return None;
    }
    let ours = gate.cutoff();
    let out = Command::new(npm)
        .args(["config", "get", "before", "min-release-age"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| match (k.trim(), v.trim()) {
            (_, "null" | "undefined" | "") => None,
            ("before", v) => parse_time(v),
            ("min-release-age", days) => {
                let days: f64 = days.parse().ok()?;
                let secs = (days * 86_400.0) as i64;
                gate.now.checked_sub(SignedDuration::from_secs(secs)).ok()
            }
            _ => None,
        })
        .min();
    if theirs.is_some_and(|t| t <= ours) {
        tracing::info!("npm's own before/min-release-age setting is as strict as --min-age");
        return None;
    }
    Timestamp::from_second(ours.as_second())
        .ok()
        .map(|t| t.to_string())
}

/// npm's own CA setting — `--cafile`, or `cafile` in any .npmrc npm reads for the
/// project — added to airlock's one HTTP client, so its downloads (and the host-side
/// dependency resolution) trust the same CA as npm (issue 19).
fn trust_npm_cafile(npm: &str, dir: &Path, project: &Path, p: &Parsed) -> Result<()> {
    let file = match p.value(&["--cafile"]) {
        Some(f) => f,
        None => {
            let out = Command::new(npm)
                .args(["config", "get", "cafile"])
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running {npm} config get cafile"))?;
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if v.is_empty() || v == "null" || v == "undefined" {
                return Ok(());
            }
            v
        }
    };
    let path = project.join(&file);
    let n = airlock_ecosystem::http::trust_extra_ca_files(&[path])
        .with_context(|| format!("npm's cafile {file}"))?;
    tracing::info!(cafile = %file, certificates = n, "trusting npm's CA setting");
    Ok(())
}

fn print_audit(audit: &airlock_static::audit::AuditReport, lock_name: &str) {
    let mut by_code =
        std::collections::BTreeMap::<&str, Vec<&airlock_static::audit::AuditFinding>>::new();
    for f in &audit.findings {
        by_code.entry(f.code.as_str()).or_default().push(f);
    }
    for (code, fs) in by_code {
        let first = fs[0];
        let more = if fs.len() > 1 {
            format!(" (and {} more)", fs.len() - 1)
        } else {
            String::new()
        };
        eprintln!(
            "airlock: {lock_name} audit: {code} [{}]: {}{more}",
            first.severity, first.message
        );
    }
}

/// Copies `src` over `dest` unless they already hold the same bytes (so an untouched
/// file keeps its timestamp).
fn copy_if_changed(src: &Path, dest: &Path) -> Result<()> {
    let new = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    if std::fs::read(dest).is_ok_and(|old| old == new) {
        return Ok(());
    }
    std::fs::write(dest, new).with_context(|| format!("writing {}", dest.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_flags_and_positionals() {
        let p = parse(&s(&[
            "lodash",
            "--registry",
            "http://r",
            "-D",
            "--omit=dev",
            "left-pad@1",
        ]));
        assert_eq!(p.positionals, s(&["lodash", "left-pad@1"]));
        assert_eq!(p.value(&["--registry"]).as_deref(), Some("http://r"));
        assert_eq!(omit(&p), s(&["dev"]));
        assert_eq!(p.without(&["--registry"]), s(&["-D", "--omit=dev"]));
        assert!(p.has(&["-D"]));
    }

    #[test]
    fn classifies_commands() {
        assert_eq!(classify("i"), Kind::Install);
        assert_eq!(classify("add"), Kind::Install);
        assert_eq!(classify("ci"), Kind::Ci);
        assert!(matches!(classify("update"), Kind::Refused(_)));
        assert_eq!(classify("run"), Kind::Pass);
        assert_eq!(classify("test"), Kind::Pass);
    }
}
