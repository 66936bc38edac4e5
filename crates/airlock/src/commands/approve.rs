//! `airlock approve`: decides which dependency install scripts a project lets its package
//! manager run, with evidence. It reads the lockfile's packages with install scripts,
//! takes each one's verdict from the store or analyzes it in the sandbox (the wrappers'
//! checker: same pipeline, same store, same project waivers), and writes the package
//! manager's own approval setting (npm 12 `allowScripts`, pnpm `allowBuilds`, Bun
//! `trustedDependencies`, yarn `dependenciesMeta`): benign → allowed, malicious →
//! denied, anything else left to a human with a one-line summary. `--check` writes
//! nothing and exits 1 when the setting no longer matches the current verdicts.

use std::path::{Path, PathBuf};

use airlock_ecosystem::approve::{self, Approval, Decision, Document, Manager};
use airlock_events::Verdict;
use airlock_sandbox::Tracker;
use anyhow::{Context, Result};
use serde::Serialize;

use crate::commands::safe;
use crate::commands::wrap::{Checked, Checker, From as Source, WrapOptions};
use crate::store_glue::StoreArgs;
use crate::FailOn;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ManagerArg {
    Npm,
    Pnpm,
    Bun,
    Yarn,
}

impl ManagerArg {
    fn manager(self) -> Manager {
        match self {
            ManagerArg::Npm => Manager::Npm,
            ManagerArg::Pnpm => Manager::Pnpm,
            ManagerArg::Bun => Manager::Bun,
            ManagerArg::Yarn => Manager::Yarn,
        }
    }
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The project directory (with package.json and its lockfile).
    #[arg(default_value = ".")]
    pub project: PathBuf,
    /// Write nothing; exit 1 when an approval no longer matches the current verdict (a
    /// new version, a new finding), 0 when every one matches.
    #[arg(long)]
    pub check: bool,
    /// Whose setting to write (default: the package manager of the project's lockfile).
    #[arg(long, value_enum)]
    pub manager: Option<ManagerArg>,
    /// One JSON object on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Use cached verdicts only: a package without one stays undecided.
    #[arg(long)]
    pub offline: bool,
    /// Sandboxes run at once (default: the number of CPUs).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Registry of lockfile entries that name none (default: $AIRLOCK_NPM_REGISTRY, else
    /// the project's own setting — `registry=` in its .npmrc, `npmRegistryServer` in its
    /// .yarnrc.yml — else the user's ~/.npmrc, else the public registry).
    #[arg(long, env = "AIRLOCK_NPM_REGISTRY")]
    pub registry: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub sandbox: crate::commands::sandbox_args::SandboxArgs,
    #[command(flatten)]
    pub waivers: crate::judging::WaiverArgs,
    #[command(flatten)]
    pub release_age: crate::commands::wrap::ReleaseAgeArgs,
}

/// One package with install scripts, its verdict and what that decides.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    integrity: Option<String>,
    path: Vec<String>,
    verdict: Verdict,
    from: Source,
    decision: Decision,
    /// What the project's setting decides now (before writing, with `--check`).
    configured: Decision,
    matches: bool,
    reason: String,
    findings: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    waived: Vec<String>,
    /// Where the full report is.
    report: String,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    schema_version: &'static str,
    manager: Manager,
    config_file: String,
    check: bool,
    written: bool,
    exit_code: u8,
    packages: &'a [Row],
    warnings: &'a [String],
}

pub async fn run(args: ApproveArgs) -> u8 {
    let tracker = Tracker::new();
    let work = approve(args, tracker.clone());
    match airlock_sandbox::until_signal(&tracker, work).await {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            crate::commands::print_error(&e);
            2
        }
        Err(signal) => {
            eprintln!("airlock: {signal}: stopped; the sandboxes are removed, nothing was written");
            signal.exit_code()
        }
    }
}

/// Why a package got its decision, in one line.
fn reason(ch: &Checked) -> String {
    let head = match ch.from {
        Source::Cache => format!("{} (verdict store)", ch.verdict.as_str()),
        Source::Analysis => format!("{} (analyzed now)", ch.verdict.as_str()),
        Source::None => ch.verdict.as_str().to_string(),
    };
    match (ch.findings.first(), &ch.error) {
        (_, Some(e)) => format!("{head}: {e}"),
        (Some(f), None) if ch.verdict != Verdict::Benign => format!("{head}: {f}"),
        _ if ch.verdict == Verdict::Benign && !ch.waived.is_empty() => {
            format!("{head}, with {} waived finding(s)", ch.waived.len())
        }
        _ => head,
    }
}

async fn approve(args: ApproveArgs, tracker: Tracker) -> Result<u8> {
    let project = args.project.clone();
    let manager = match args.manager {
        Some(m) => m.manager(),
        None => approve::detect_manager(&project).unwrap_or(Manager::Npm),
    };
    let registry = args
        .registry
        .clone()
        .or_else(|| project_registry(&project))
        .unwrap_or_else(|| airlock_ecosystem::npm::DEFAULT_REGISTRY.to_string())
        .trim_end_matches('/')
        .to_string();
    let scripted = {
        let (project, registry) = (project.clone(), registry.clone());
        tokio::task::spawn_blocking(move || approve::scripted(&project, &registry)).await??
    };
    let opts = WrapOptions {
        fail_on: FailOn::Malicious,
        allow_suspicious: false,
        concurrency: args.concurrency,
        offline: args.offline,
        json: args.json,
        osv: None,
        store: args.store.clone(),
        rules: args.rules.clone(),
        sandbox: args.sandbox.clone(),
        real: None,
        waivers: args.waivers.clone(),
        release_age: args.release_age.clone(),
    };
    let checked = if scripted.is_empty() {
        Vec::new()
    } else {
        let checker = Checker::new(
            &opts,
            tracker,
            airlock_ecosystem::pypi::DEFAULT_INDEX,
            &project,
        )?;
        checker.check(scripted.clone()).await?
    };

    let pj_path = project.join("package.json");
    let pj_text = std::fs::read_to_string(&pj_path)
        .with_context(|| format!("reading {}", pj_path.display()))?;
    let mut doc =
        Document::parse(&pj_text).with_context(|| format!("parsing {}", pj_path.display()))?;
    let ws_path = project.join("pnpm-workspace.yaml");
    let ws_text = std::fs::read_to_string(&ws_path).unwrap_or_default();

    let approvals: Vec<Approval> = checked
        .iter()
        .map(|ch| Approval {
            name: ch.name.clone(),
            version: ch.version.clone(),
            // A version younger than --min-age stays undecided, with the gate's reason.
            decision: match ch.gate_hold() {
                Some(_) => Decision::Undecided,
                None => Decision::from_verdict(ch.verdict),
            },
            reason: ch.gate_hold().unwrap_or_else(|| reason(ch)),
        })
        .collect();
    let mut rows: Vec<Row> = checked
        .iter()
        .zip(&approvals)
        .map(|(ch, a)| {
            let configured = approve::configured(manager, &doc, &ws_text, &ch.name, &ch.version);
            Row {
                name: ch.name.clone(),
                version: ch.version.clone(),
                integrity: ch.hash.clone(),
                path: ch.path.clone(),
                verdict: ch.verdict,
                from: ch.from,
                decision: a.decision,
                configured,
                matches: a.decision.satisfied_by(configured),
                reason: a.reason.clone(),
                findings: ch.findings.clone(),
                waived: ch.waived.clone(),
                report: format!("airlock cache show {}@{}", ch.name, ch.version),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    let errors = checked.iter().any(|c| c.verdict == Verdict::Error);

    let mut warnings = Vec::new();
    let mut written = false;
    let code;
    if args.check {
        code = if rows.iter().all(|r| r.matches) {
            if errors {
                2
            } else {
                0
            }
        } else {
            1
        };
    } else {
        let config_path = project.join(manager.config_file());
        let new_text = if manager == Manager::Pnpm {
            approve::config::apply_pnpm_workspace(&ws_text, &approvals)
        } else {
            warnings = approve::config::apply_package_json(&mut doc, manager, &approvals);
            doc.render()
        };
        let old_text = if manager == Manager::Pnpm {
            &ws_text
        } else {
            &pj_text
        };
        if &new_text != old_text && (!approvals.is_empty() || config_path.exists()) {
            write_atomic(&config_path, &new_text)?;
            written = true;
            if manager == Manager::Yarn && project.join("yarn.lock").is_file() {
                // Seen with yarn 4.18: the workspace's dependenciesMeta is part of
                // yarn.lock, so `yarn install --immutable` refuses until it is recorded.
                warnings.push(
                    "yarn 4 records dependenciesMeta in yarn.lock: run `yarn install` once and commit yarn.lock (`--immutable` installs fail until then)".into(),
                );
            }
        }
        // What the setting says now.
        let doc = Document::parse(&new_text).unwrap_or(doc);
        for r in &mut rows {
            r.configured = match manager {
                Manager::Pnpm => approve::configured(manager, &doc, &new_text, &r.name, &r.version),
                _ => approve::configured(manager, &doc, &ws_text, &r.name, &r.version),
            };
            r.matches = r.decision.satisfied_by(r.configured);
        }
        code = if errors { 2 } else { 0 };
    }

    let config_file = match manager {
        Manager::Npm => "package.json#allowScripts",
        Manager::Pnpm => "pnpm-workspace.yaml#allowBuilds",
        Manager::Bun => "package.json#trustedDependencies",
        Manager::Yarn => "package.json#dependenciesMeta",
    };
    if args.json {
        let s = Summary {
            schema_version: "1",
            manager,
            config_file: config_file.to_string(),
            check: args.check,
            written,
            exit_code: code,
            packages: &rows,
            warnings: &warnings,
        };
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_human(&rows, &warnings, manager, config_file, args.check, written);
    }
    Ok(code)
}

/// The registry the project's package manager would use for entries its lockfile does
/// not pin to a URL (pnpm and yarn 4 write none for the default registry): the
/// project's `.npmrc` (npm, pnpm, Bun), its `.yarnrc.yml`, then the user's `~/.npmrc`.
fn project_registry(project: &Path) -> Option<String> {
    let setting = |path: PathBuf, key: &str, sep: char| -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(sep)?;
            let v = v.trim().trim_matches('"').trim_matches('\'');
            (k.trim() == key && (v.starts_with("http://") || v.starts_with("https://")))
                .then(|| v.to_string())
        })
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    setting(project.join(".npmrc"), "registry", '=')
        .or_else(|| setting(project.join(".yarnrc.yml"), "npmRegistryServer", ':'))
        .or_else(|| home.and_then(|h| setting(h.join(".npmrc"), "registry", '=')))
}

fn print_human(
    rows: &[Row],
    warnings: &[String],
    manager: Manager,
    config_file: &str,
    check: bool,
    written: bool,
) {
    if rows.is_empty() {
        println!("airlock: no package in the lockfile has install scripts; nothing to approve");
        return;
    }
    for r in rows {
        let spec = safe(&format!("{}@{}", r.name, r.version));
        let label = if check {
            if r.matches {
                "ok".to_string()
            } else {
                format!(
                    "MISMATCH ({} now, should be {})",
                    r.configured.as_str(),
                    r.decision.as_str()
                )
            }
        } else {
            r.decision.as_str().to_string()
        };
        println!("{label:<10} {spec}  {}", safe(&r.reason));
        if r.decision != Decision::Allow {
            for f in r.findings.iter().skip(1) {
                println!("{:<10}   - {}", "", safe(f));
            }
            if r.decision == Decision::Undecided {
                println!("{:<10}   decide by hand; evidence: {}", "", safe(&r.report));
            }
        }
        if !r.path.is_empty() {
            println!("{:<10}   via {}", "", safe(&r.path.join(" > ")));
        }
    }
    for w in warnings {
        eprintln!("airlock: warning: {}", safe(w));
    }
    let n = |d: Decision| rows.iter().filter(|r| r.decision == d).count();
    let counts = format!(
        "{} allowed, {} denied, {} undecided",
        n(Decision::Allow),
        n(Decision::Deny),
        n(Decision::Undecided)
    );
    if check {
        let bad = rows.iter().filter(|r| !r.matches).count();
        if bad == 0 {
            println!("airlock: {config_file} matches every current verdict ({counts})");
        } else {
            println!(
                "airlock: {bad} approval(s) in {config_file} no longer match the current verdicts; run `airlock approve` ({} for {})",
                counts,
                manager.as_str()
            );
        }
    } else if written {
        println!("airlock: wrote {config_file} ({counts})");
    } else {
        println!("airlock: {config_file} already says this ({counts})");
    }
}

/// Writes `text` to `path` through a temporary file in the same directory.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing next to {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_own_registry_setting_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".yarnrc.yml"),
            "enableTelemetry: false\nnpmRegistryServer: \"http://127.0.0.1:4873\"\n",
        )
        .unwrap();
        assert_eq!(
            project_registry(dir.path()).as_deref(),
            Some("http://127.0.0.1:4873")
        );
        // .npmrc wins (pnpm and Bun read it); a value that is no URL is ignored.
        std::fs::write(
            dir.path().join(".npmrc"),
            "; comment\nregistry = https://npm.corp.example/\n",
        )
        .unwrap();
        assert_eq!(
            project_registry(dir.path()).as_deref(),
            Some("https://npm.corp.example/")
        );
        std::fs::write(dir.path().join(".npmrc"), "registry=${REG}\n").unwrap();
        assert_eq!(
            project_registry(dir.path()).as_deref(),
            Some("http://127.0.0.1:4873")
        );
    }
}
