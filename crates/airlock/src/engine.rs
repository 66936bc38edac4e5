//! The analysis pipeline for one artifact: fetch and check it, resolve its dependencies
//! on the host without running anything, run the phases in the sandbox under the tracer,
//! and assemble the trace (header, events in time order, footer). This is the only place
//! that ties the orchestrator, the recorder and the registry together; judging happens
//! after, on the trace alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_ecosystem::npm;
use airlock_events::{
    Event, EventKind, FsChangeKind, PackageRef, PhaseStatus, Source, Trace, TraceFooter,
    TraceHeader, SCHEMA_VERSION,
};
use airlock_recorder::{fsdiff, RecorderConfig};
use airlock_sandbox::{
    NetworkSpec, PhaseOutcome, PhaseSpec, Sandbox, SandboxConfig, SandboxError, SinkContainer,
    SinkSpec, Tracker, UserSpec,
};
use anyhow::{Context, Result};
use sha2::Digest;

pub use airlock_ecosystem::artifact::{fetch, Artifact, Input, Kind, Sources};

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub registry: String,
    /// PyPI index (for `pypi:` inputs and Python dependencies).
    pub pypi_index: String,
    pub phase_timeout: Duration,
    /// Skip the import phase.
    pub no_import: bool,
    /// Run with `--network none` instead of the network sink (loopback only).
    pub no_network: bool,
    /// The persona whose bait (canary credentials, CI or laptop environment) is planted;
    /// `None` plants nothing.
    pub persona: Option<airlock_bait::Persona>,
    /// Clock speed-up for the package's processes (libfaketime), so payloads that wait
    /// before acting act within the phase limit; 1 disables it.
    pub time_speedup: u32,
    /// The benchmark baseline: the same image and the same offline install, with no
    /// tracer, no sink, no bait, no speed-up and no static pass. Not an analysis.
    pub bare: bool,
    pub image: Option<String>,
}

impl ScanOptions {
    /// Where registry inputs are fetched from.
    pub fn sources(&self) -> Sources {
        Sources {
            npm_registry: self.registry.clone(),
            pypi_index: self.pypi_index.clone(),
        }
    }
}

/// Where things are inside the sandbox for one run.
struct Layout {
    user: UserSpec,
    /// The project the package is installed into (the persona's workspace).
    project: String,
    /// The package's own directory (changes below it are its own files).
    package_dir: String,
}

impl Layout {
    fn snapshot_roots(&self) -> Vec<&str> {
        vec![
            self.user.home.as_str(),
            "/work",
            "/tmp",
            "/var/tmp",
            "/dev/shm",
        ]
    }
}

/// Files the package wrote outside its own directory are searched for canaries (a
/// stealer that stages before sending); these bound that work.
const STAGED_FILE_MAX: u64 = 1 << 20;
const STAGED_FILES_MAX: usize = 200;
/// Events kept per phase before the rest are summarised (airlock_recorder::budget):
/// past it only the events verdicts are made of are kept; past twice it they are lost
/// and the trace is marked incomplete.
const MAX_EVENTS_PER_PHASE: usize = 400_000;

/// Runs the sandbox phases for an npm artifact and returns the trace. Sandbox failures
/// after the container exists become an incomplete trace with the error noted, not a
/// lost run; failures before (no engine, no image) are errors.
pub async fn analyze_artifact(
    docker: &airlock_sandbox::Docker,
    tracker: &Tracker,
    artifact: &Artifact,
    opts: &ScanOptions,
    work: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Trace, Option<String>)> {
    let (name, version) = (&artifact.name, &artifact.version);
    let site_packages = |ws: &str| format!("{ws}/.venv/lib/python3.11/site-packages");
    let own_dir = |ws: &str| match &artifact.kind {
        Kind::Npm(m) => format!("{ws}/node_modules/{}", m.name),
        Kind::Pypi { meta, .. } => format!(
            "{}/{}",
            site_packages(ws),
            meta.top_level
                .first()
                .cloned()
                .unwrap_or_else(|| meta.normalized_name.replace('-', "_"))
        ),
    };
    let run_id = new_run_id();
    let bait = opts.persona.filter(|_| !opts.bare).map(|persona| {
        airlock_bait::plan(
            persona,
            &airlock_bait::PlanOptions::new(
                "https://pipelinesghubeus22.actions.githubusercontent.com",
            ),
        )
    });
    let layout = match &bait {
        Some(plan) => {
            let uid = if plan.user == "sam" { 1002 } else { 1001 };
            Layout {
                user: UserSpec {
                    name: plan.user.clone(),
                    uid,
                    gid: uid,
                    home: plan.home.clone(),
                },
                project: plan.workspace.clone(),
                package_dir: own_dir(&plan.workspace),
            }
        }
        None => Layout {
            user: UserSpec::default(),
            project: "/work/project".into(),
            package_dir: own_dir("/work/project"),
        },
    };
    let user = layout.user.clone();
    let package_dir = layout.package_dir.clone();
    let mut header = TraceHeader {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        started_at: airlock_events::now(),
        package: PackageRef {
            ecosystem: Some(artifact.ecosystem()),
            name: name.clone(),
            version: version.clone(),
            sha256: Some(artifact.sha256.clone()),
            integrity: artifact.integrity.clone(),
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        image: None,
        persona: bait.as_ref().map(|b| b.persona.to_string()),
        home: Some(user.home.clone()),
        package_dir: Some(package_dir.clone()),
        canaries: bait
            .as_ref()
            .map(|b| b.canaries.clone())
            .unwrap_or_default(),
        notes: bait.as_ref().map(|b| b.notes.clone()).unwrap_or_default(),
    };

    // Where the time goes (for the benchmark breakdown), in milliseconds.
    let mut timing = Timing::default();
    if opts.time_speedup > 1 && !opts.bare {
        header.notes.insert(
            "time_acceleration".into(),
            format!("x{} (libfaketime)", opts.time_speedup),
        );
    }
    let image = match &opts.image {
        Some(i) => i.clone(),
        None => airlock_sandbox::ensure_image(docker).await?,
    };
    header.image = Some(image.clone());
    let hostname = bait
        .as_ref()
        .map(|b| b.hostname.clone())
        .unwrap_or_else(|| "build-01".into());
    let mut binds = Vec::new();
    let sink_spec = if opts.no_network || opts.bare {
        header
            .notes
            .insert("network".into(), "none (loopback only)".into());
        None
    } else {
        let net = prepare_sink_inputs(&run_id, work, bait.as_ref())?;
        binds.push(format!(
            "{}:/etc/ssl/certs/ca-certificates.crt:ro",
            net.bundle.display()
        ));
        header.notes.insert(
            "network".into(),
            "simulated by the sink (nothing leaves the host)".into(),
        );
        Some(SinkSpec {
            run_id: run_id.clone(),
            image: image.clone(),
            binary: sink_binary()?,
            input_dir: net.input_dir,
            output_dir: net.output_dir,
            hostname: hostname.clone(),
        })
    };

    // Three independent starts at once: dependency resolution on the host, the static
    // pass (the archive read in memory; nothing is unpacked on the host), and the sink.
    progress("resolving dependencies on the host (no scripts run); starting the network sink");
    let t_prepare = std::time::Instant::now();
    let resolve = {
        let (artifact, opts, w) = (artifact.clone(), opts.clone(), work.join("prep"));
        tokio::task::spawn_blocking(move || {
            let r = prepare(&artifact, &opts, &w);
            (r, t_prepare.elapsed().as_millis())
        })
    };
    let statics = {
        let (tgz, bare) = (artifact.path.clone(), opts.bare);
        // A version fetched from the npm registry is also compared with the version
        // published before it (new install scripts, obfuscated files, endpoints,
        // maintainers, provenance): the chalk/debug shape.
        let previous = match (&artifact.kind, &artifact.integrity) {
            (Kind::Npm(m), Some(_)) if !bare => {
                Some((opts.registry.clone(), m.name.clone(), m.version.clone()))
            }
            _ => None,
        };
        let ts = airlock_events::now();
        tokio::task::spawn_blocking(move || {
            if bare {
                return Ok::<_, airlock_static::StaticError>(Vec::new());
            }
            let mut events =
                airlock_static::scan_archive(&tgz, &airlock_static::ScanOptions::default())
                    .map(|r| r.events(ts))?;
            if let Some((registry, name, version)) = previous {
                match crate::diff::previous_version_signals(&registry, &name, &version, &tgz) {
                    Ok(more) => events.extend(more),
                    Err(e) => events.push(Event::new(
                        ts,
                        "static",
                        Source::Static,
                        EventKind::Note {
                            message: format!("no comparison with the previous version: {e:#}"),
                        },
                    )),
                }
            }
            Ok(events)
        })
    };
    let sink_start = async {
        match &sink_spec {
            Some(spec) => {
                let t = std::time::Instant::now();
                let s = SinkContainer::start(docker, spec, tracker).await;
                Some((s, t.elapsed().as_millis()))
            }
            None => None,
        }
    };
    let (resolved, static_events, sink) = tokio::join!(resolve, statics, sink_start);
    let sink = match sink {
        Some((Ok(s), ms)) => {
            timing.0.push(("sink_start", ms));
            Some(s)
        }
        Some((Err(e), _)) => return Err(e.into()),
        None => None,
    };
    let prepared = match resolved {
        Ok((Ok(p), ms)) => {
            timing.0.push(("host_resolve", ms));
            p
        }
        Ok((Err(e), _)) => {
            if let Some(s) = sink {
                s.stop().await;
            }
            return Err(e);
        }
        Err(e) => {
            if let Some(s) = sink {
                s.stop().await;
            }
            return Err(anyhow::anyhow!("resolver task: {e}"));
        }
    };
    header
        .notes
        .insert("dependencies".into(), prepared.dependencies().to_string());
    if let Prepared::Pypi { wheelhouse, .. } = &prepared {
        if !wheelhouse.missing.is_empty() {
            header
                .notes
                .insert("dependencies_missing".into(), wheelhouse.missing.join(", "));
        }
    }
    let static_events = match static_events.context("static pass task")? {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(error = %e, "static pass failed");
            vec![Event::new(
                airlock_events::now(),
                "static",
                Source::Static,
                EventKind::Note {
                    message: format!("static pass failed: {e}"),
                },
            )]
        }
    };
    let mut events = static_events;
    let mut gaps = Vec::new();
    progress("starting the sandbox");
    let cfg = SandboxConfig {
        run_id: run_id.clone(),
        image,
        limits: Default::default(),
        user: user.clone(),
        network: match &sink {
            Some(s) => NetworkSpec::Container(s.id().to_string()),
            None => NetworkSpec::None,
        },
        hostname,
        binds,
    };
    let t = std::time::Instant::now();
    let result = match Sandbox::create(docker, cfg, tracker).await {
        Ok(sandbox) => {
            timing.add("sandbox_create", t);
            let run = Run {
                sandbox: &sandbox,
                layout: &layout,
                bait: bait.as_ref(),
                header: &header,
            };
            let r = run_phases(
                &run,
                artifact,
                &prepared,
                opts,
                work,
                &mut events,
                &mut gaps,
                progress,
            )
            .await;
            progress("removing the sandbox");
            let t = std::time::Instant::now();
            sandbox.destroy().await;
            timing.add("cleanup", t);
            r
        }
        Err(e) => Err(e.into()),
    };
    if let Some(sink) = sink {
        let file = sink.events_file.clone();
        let t = std::time::Instant::now();
        sink.stop().await;
        timing.add("sink_stop", t);
        merge_sink_events(&file, &mut events, &mut gaps);
    }
    // Proof of theft: every canary, in every encoding, in everything the sink captured.
    if !header.canaries.is_empty() {
        let searcher = airlock_bait::LeakSearcher::new(&header.canaries);
        let leaks = searcher.scan_events(events.iter());
        events.extend(leaks);
    }
    let error = match result {
        Ok(()) => None,
        Err(e) => {
            let msg = format!("{e:#}");
            gaps.push(format!("run aborted: {msg}"));
            events.push(Event::new(
                airlock_events::now(),
                "run",
                Source::Sandbox,
                EventKind::Note {
                    message: format!("sandbox error: {msg}"),
                },
            ));
            Some(msg)
        }
    };
    // Events from different producers, in time order (stable: a producer's own order
    // is kept for equal timestamps).
    events.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    for (i, e) in events.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    let footer = TraceFooter {
        events: events.len() as u64,
        ended_at: airlock_events::now(),
        complete: gaps.is_empty(),
        gaps,
    };
    for (k, v) in timing.0 {
        header.notes.insert(format!("timing.{k}_ms"), v.to_string());
    }
    Ok((
        Trace {
            header,
            events,
            footer: Some(footer),
        },
        error,
    ))
}

/// One run's fixed context.
struct Run<'a> {
    sandbox: &'a Sandbox,
    layout: &'a Layout,
    bait: Option<&'a airlock_bait::BaitPlan>,
    header: &'a TraceHeader,
}

#[allow(clippy::too_many_arguments)]
async fn run_phases(
    run: &Run<'_>,
    artifact: &Artifact,
    prepared: &Prepared,
    opts: &ScanOptions,
    work: &Path,
    events: &mut Vec<Event>,
    gaps: &mut Vec<String>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<()> {
    let (sandbox, layout, header) = (run.sandbox, run.layout, run.header);
    let user = &sandbox.config().user;
    let owner = format!("{}:{}", user.uid, user.gid);
    // Everything the user's side holds before the install — the home skeleton, the bait,
    // the offline caches, the project — goes in as one tar stream (one exec).
    let mut staging = Staging::new();
    home_skeleton(&mut staging, &user.home)?;
    if let Some(plan) = run.bait {
        bait_files(&mut staging, plan)?;
    }
    let grace = (2000 * opts.time_speedup.max(1)).to_string();
    let phases: Vec<(&str, Vec<String>)> = match prepared {
        Prepared::Npm(p) => {
            // The project (package.json, lockfile, target tarball) and the offline cache.
            // `npm --cache DIR` keeps its content in DIR/_cacache: DIR is ~/.npm.
            staging.tree(&format!("{}/.npm", user.home), &p.cache_dir)?;
            staging.tree(&layout.project, &p.project_dir)?;
            sandbox.upload_tar("/", staging.finish()?, &owner).await?;
            let name = &artifact.name;
            vec![
                (
                    "install",
                    vec![
                        "sh".into(),
                        "-c".into(),
                        format!(
                            "npm ci --offline --ignore-scripts --no-audit --no-fund && npm rebuild {} --foreground-scripts",
                            shell_quote(name)
                        ),
                    ],
                ),
                (
                    "import",
                    // Settling time after the import is on the package's (sped-up) clock:
                    // about two seconds of real time.
                    vec!["node".into(), "/opt/airlock/bin/import-npm.js".into(), name.clone(), grace],
                ),
            ]
        }
        Prepared::Pypi {
            wheelhouse,
            install_name,
            top_level,
        } => {
            // The artifact into the project, the wheelhouse next to it, and a virtual
            // environment (made before tracing starts: it is the user's, not the
            // package's) with the audit hook in its site-packages.
            let wh = format!("{}/.cache/wheelhouse", user.home);
            staging.tree(&wh, &wheelhouse.dir)?;
            staging.host_file(
                &format!("{}/{install_name}", layout.project),
                &artifact.path,
            )?;
            sandbox.upload_tar("/", staging.finish()?, &owner).await?;
            let venv = format!("{}/.venv", layout.project);
            let (code, out) = sandbox
                .exec(&["python3", "-m", "venv", &venv], &owner, None, 16 << 10)
                .await?;
            if code != Some(0) {
                anyhow::bail!("creating the virtual environment failed: {}", out.tail(5));
            }
            let site = format!("{venv}/lib/python3.11/site-packages/");
            sandbox
                .exec(
                    &["cp", "/opt/airlock/python/airlock-hook.pth", &site],
                    &owner,
                    None,
                    4096,
                )
                .await?;
            // The dependencies the host could get as wheels (one per project), installed
            // before tracing starts, like the venv: a wheel runs no code at install, and
            // the install phase's record is then the artifact's alone. Best effort.
            // (Never the artifact's own project: a seed wheel of it, say setuptools when
            // setuptools is scanned, would make pip skip the artifact as installed.)
            // (PEP 503 names: case, `-`, `_` and `.` do not matter.)
            let norm = |n: &str| n.to_ascii_lowercase().replace(['_', '.'], "-");
            let own = norm(&artifact.name);
            let deps: Vec<String> = wheel_choice(&wheelhouse.files)
                .into_iter()
                .filter(|f| norm(f.split('-').next().unwrap_or_default()) != own)
                .map(|f| format!("{wh}/{f}"))
                .collect();
            if !deps.is_empty() {
                let pip = format!("{venv}/bin/pip");
                let mut argv = vec![
                    pip.as_str(),
                    "install",
                    "--no-index",
                    "--no-deps",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                    "-q",
                ];
                argv.extend(deps.iter().map(String::as_str));
                let (code, out) = sandbox.exec(&argv, &owner, None, 16 << 10).await?;
                if code != Some(0) {
                    tracing::warn!("installing the dependency wheels failed: {}", out.tail(5));
                }
            }
            // certifi (which requests uses) and pip's vendored copy carry their own CA
            // bundles; they get the system bundle, which trusts the sink's CA, so a
            // payload's HTTPS download completes into the sink like curl's does.
            sandbox
                .exec(
                    &[
                        "sh",
                        "-c",
                        "find \"$1\" -name cacert.pem -path '*certifi*' | while read -r f; do cat /etc/ssl/certs/ca-certificates.crt > \"$f\"; done",
                        "ca",
                        &venv,
                    ],
                    &owner,
                    None,
                    4096,
                )
                .await?;
            // Where the install phase unpacks an sdist whose pip install failed (the
            // name pip itself gives its build directories).
            let src = "/tmp/pip-req-build-src".to_string();
            let mut import = vec![
                format!("{venv}/bin/python"),
                "/opt/airlock/bin/import-py.py".into(),
                "--path".into(),
                format!("{src}/root"),
                artifact.name.clone(),
                grace,
            ];
            import.extend(top_level.iter().cloned());
            vec![
                (
                    "install",
                    // The artifact without dependency resolution and without build
                    // isolation, so a missing dependency or an undeclared build-time
                    // import cannot stop its setup.py from running. When pip fails on
                    // an sdist, its setup.py runs once more the way `python setup.py
                    // install` runs it (as `__main__`, with `__builtins__` a module), and
                    // the tree stays unpacked for the import phase. It installs flat, the way
                    // pip's legacy install did (no egg, no easy-install.pth): easy_install's
                    // own writes into site-packages would read as the package's.
                    vec![
                        "sh".into(),
                        "-c".into(),
                        format!(
                            "py=\"$1\"; wh=\"$2\"; art=\"$3\"; src=\"$4\"; \
                             \"$py\" -m pip install --no-index --find-links \"$wh\" --no-deps --no-build-isolation --use-pep517 --no-cache-dir --disable-pip-version-check \"./$art\" && exit 0; \
                             rc=$?; case \"$art\" in *.whl) exit $rc;; esac; \
                             root=$(\"$py\" /opt/airlock/bin/import-py.py --unpack \"./$art\" \"$src/tree\") || exit $rc; \
                             ln -sfn \"$root\" \"$src/root\"; \
                             [ -f \"$root/setup.py\" ] || exit $rc; \
                             echo \"pip failed ($rc); running setup.py install directly\" >&2; \
                             cd \"$root\" && \"$py\" setup.py -q install --single-version-externally-managed --record \"$src/installed-files.txt\" && exit 0; exit $rc"
                        ),
                        "pip-install".into(),
                        format!("{venv}/bin/python"),
                        wh.clone(),
                        install_name.clone(),
                        src,
                    ],
                ),
                ("import", import),
            ]
        }
    };
    let phases: Vec<(&str, Vec<String>)> = phases
        .into_iter()
        .filter(|(p, _)| !(opts.no_import && *p == "import"))
        .collect();

    let mut env = base_env(user);
    if let Prepared::Pypi { .. } = prepared {
        // As in an activated virtual environment (how people work with one): the
        // scripts a distribution installs are on PATH, so a payload that runs its own
        // console script (`os.system('tool')`) reaches it.
        let venv = format!("{}/.venv", layout.project);
        for (k, v) in env.iter_mut() {
            if k == "PATH" {
                *v = format!("{venv}/bin:{v}");
            }
        }
        env.push(("VIRTUAL_ENV".into(), venv));
    }
    if let Some(plan) = run.bait {
        for (k, v) in &plan.env {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        if let Some(decoy) = &plan.decoy {
            let argv: Vec<&str> = decoy.argv.iter().map(String::as_str).collect();
            sandbox
                .exec(&["mkdir", "-p", &decoy.cwd], &owner, None, 4096)
                .await?;
            sandbox.spawn(&argv, &owner, &decoy.env, &decoy.cwd).await?;
        }
    }
    // In-process hooks (python audit hook, node preload) write JSON lines to a FIFO whose
    // reader is root: the package can add lines but not read, truncate or delete them.
    if !opts.bare {
        sandbox
            .spawn(
                &[
                    "sh",
                    "-c",
                    &format!(
                        "mkdir -p {d} && chmod 0755 {d} && mkfifo -m 0622 {HOOK_FIFO} && exec cat 0<>{HOOK_FIFO} >>{HOOK_LOG}",
                        d = HOOK_FIFO.rsplit_once('/').map(|(d, _)| d).unwrap_or("/run")
                    ),
                ],
                "0:0",
                &[],
                "/",
            )
            .await?;
        env.push(("AIRLOCK_HOOK_PATH".into(), HOOK_FIFO.into()));
        env.push((
            "NODE_OPTIONS".into(),
            "--require /opt/airlock/node/preload.js".into(),
        ));
        env.push(("PYTHONPATH".into(), "/opt/airlock/python".into()));
    }
    let roots = layout.snapshot_roots();
    let mut staged_budget = STAGED_FILES_MAX;
    let searcher =
        (!header.canaries.is_empty()).then(|| airlock_bait::LeakSearcher::new(&header.canaries));
    let mut before = fsdiff::Snapshot::parse(&sandbox.snapshot(&roots).await?);
    let mut stop: Option<String> = None;
    for (phase, argv) in phases {
        if let Some(why) = &stop {
            events.push(Event::new(
                airlock_events::now(),
                phase,
                Source::Sandbox,
                EventKind::PhaseEnd {
                    name: phase.into(),
                    status: PhaseStatus::Skipped,
                    exit_code: None,
                    duration_ms: 0,
                    output_tail: why.clone(),
                    output_bytes: 0,
                },
            ));
            continue;
        }
        progress(&format!("{phase} phase"));
        let trace_file = Sandbox::trace_file_for(phase);
        let spec = PhaseSpec {
            name: phase.into(),
            argv: with_speedup(argv.clone(), if opts.bare { 1 } else { opts.time_speedup }),
            cwd: layout.project.clone(),
            env: env.clone(),
            timeout: opts.phase_timeout,
            tracer: (!opts.bare).then(|| airlock_recorder::strace_args(&trace_file)),
            trace_file: (!opts.bare).then_some(trace_file),
        };
        let t_start = airlock_events::now();
        events.push(Event::new(
            t_start,
            phase,
            Source::Sandbox,
            EventKind::PhaseStart {
                name: phase.into(),
                command: argv.clone(),
            },
        ));
        let outcome = sandbox.run_phase(&spec, work).await?;
        record_trace(&outcome, header, &layout.project, phase, events, gaps)?;
        let after = fsdiff::Snapshot::parse(&sandbox.snapshot(&roots).await?);
        let deltas = fsdiff::diff(&before, &after);
        let to_hash: Vec<String> = fsdiff::paths_to_hash(&deltas)
            .into_iter()
            .filter(|p| {
                !header
                    .package_dir
                    .as_deref()
                    .is_some_and(|d| fsdiff::is_under(p, d))
            })
            .map(String::from)
            .collect();
        let hashes = sandbox.hash_files(&to_hash).await?;
        let t_end = airlock_events::now();
        let mut changes = fsdiff::fs_events(
            &deltas,
            &hashes,
            header.package_dir.as_deref(),
            phase,
            t_end,
        );
        changes.retain(|e| !is_faketime_file(&e.kind));
        if let Some(searcher) = &searcher {
            // A stealer may stage what it takes in a file before (or instead of) sending.
            let npm_own = format!("{}/.npm", user.home);
            let staged: Vec<String> = changes
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::FsChange {
                        path,
                        change,
                        size: Some(size),
                        in_package: false,
                        ..
                    } if *change != FsChangeKind::Deleted
                        && *size > 0
                        && !fsdiff::is_under(path, &npm_own) =>
                    {
                        Some(path.clone())
                    }
                    _ => None,
                })
                .take(staged_budget)
                .collect();
            staged_budget -= staged.len();
            for (path, bytes) in sandbox.read_files(&staged, STAGED_FILE_MAX).await? {
                events.extend(searcher.scan_file(&path, &bytes, phase, t_end));
            }
        }
        events.extend(changes);
        before = after;
        for (limit, detail) in &outcome.limits_hit {
            events.push(Event::new(
                t_end,
                phase,
                Source::Sandbox,
                EventKind::LimitHit {
                    limit: limit.clone(),
                    detail: detail.clone(),
                },
            ));
        }
        let status = if outcome.timed_out {
            PhaseStatus::TimedOut
        } else if outcome.exit_code == Some(0) {
            PhaseStatus::Ok
        } else {
            PhaseStatus::Failed
        };
        if outcome.timed_out {
            gaps.push(format!(
                "{phase} phase timed out after {} s",
                opts.phase_timeout.as_secs()
            ));
            stop = Some(format!("not run: the {phase} phase timed out"));
        } else if phase == "install"
            && status == PhaseStatus::Failed
            && matches!(prepared, Prepared::Npm(_))
        {
            // (A Python import phase still runs: it imports the unpacked sdist.)
            stop = Some("not run: the install phase failed".into());
        }
        events.push(Event::new(
            t_end,
            phase,
            Source::Sandbox,
            EventKind::PhaseEnd {
                name: phase.into(),
                status,
                exit_code: if outcome.timed_out {
                    None
                } else {
                    outcome.exit_code
                },
                duration_ms: outcome.duration_ms,
                output_tail: outcome.output.tail(30),
                output_bytes: outcome.output.total_bytes,
            },
        ));
    }
    if !opts.bare {
        collect_hooks(sandbox, work, events, opts.time_speedup.max(1)).await;
    }
    Ok(())
}

/// Where the hooks write (a FIFO) and where its root reader keeps the lines.
const HOOK_FIFO: &str = "/run/log/dev-log";
const HOOK_LOG: &str = "/airlock/out/hooks.jsonl";

/// Reads the hook lines, attributes each to the process strace saw with that pid, and
/// to the phase its time falls in. Hooks are a second opinion: losing them loses no
/// strace evidence, so failures are logged, not fatal.
///
/// Hooks stamp lines with the package's clock, which libfaketime runs `speedup` times
/// faster from the start of the phase; that is undone here.
async fn collect_hooks(sandbox: &Sandbox, work: &Path, events: &mut Vec<Event>, speedup: u32) {
    let dest = work.join("hooks.jsonl");
    if let Err(e) = sandbox.copy_out(HOOK_LOG, &dest).await {
        tracing::warn!(error = %e, "hook lines not collected");
        return;
    }
    let Ok(text) = std::fs::read_to_string(&dest) else {
        return;
    };
    let mut windows: Vec<(String, f64, f64)> = Vec::new();
    // pid → (last time seen, process, phase) from the tracer: a hook line's phase is its
    // process's (pids are not reused within a run); its own clock is sped up.
    let mut procs: std::collections::HashMap<u32, (f64, airlock_events::ProcRef, String)> =
        Default::default();
    for e in events.iter() {
        match &e.kind {
            EventKind::PhaseStart { name, .. } => windows.push((name.clone(), e.ts, f64::INFINITY)),
            EventKind::PhaseEnd { name, .. } => {
                if let Some(w) = windows.iter_mut().rev().find(|w| &w.0 == name) {
                    w.2 = e.ts;
                }
            }
            _ => {}
        }
        if let (Some(p), Source::Strace) = (&e.proc, e.source) {
            let entry = procs
                .entry(p.pid)
                .or_insert((e.ts, p.clone(), e.phase.clone()));
            if e.ts >= entry.0 {
                *entry = (e.ts, p.clone(), e.phase.clone());
            }
        }
    }
    let mut added = 0usize;
    for line in text.lines().take(200_000) {
        let Some(rec) = airlock_recorder::hooks::parse_hook_record(line) else {
            continue;
        };
        let real = |start: f64| start + (rec.ts - start) / f64::from(speedup);
        let known = procs.get(&rec.pid);
        let phase = match known {
            Some((_, _, ph)) => windows.iter().rev().find(|w| &w.0 == ph),
            // Latest phase first: each phase's clock starts anew with its first process.
            None => windows.iter().rev().find(|w| {
                let t = real(w.1);
                t >= w.1 - 0.05 && t <= w.2 + 0.5
            }),
        };
        let Some(phase) = phase else { continue };
        // The hook's own loader (the .pth line) compiles a string: that is us.
        if let EventKind::Hook { args, .. } = &rec.kind {
            if args
                .get("preview")
                .and_then(|p| p.as_str())
                .is_some_and(|p| p.contains("'airlock_audit'"))
            {
                continue;
            }
        }
        let ts = real(phase.1).min(phase.2);
        let mut ev = Event::new(ts, phase.0.clone(), Source::Hook, rec.kind);
        ev.proc = known
            .map(|(_, p, _)| p.clone())
            .or(Some(airlock_events::ProcRef {
                pid: rec.pid,
                ..Default::default()
            }));
        events.push(ev);
        added += 1;
    }
    tracing::debug!(added, "hook events");
}

struct SinkInputs {
    input_dir: PathBuf,
    output_dir: PathBuf,
    /// The system CA bundle plus the run's CA, mounted over the sandbox's bundle.
    bundle: PathBuf,
}

/// Writes the run CA, the bait config and the CA bundle the sandbox will trust.
fn prepare_sink_inputs(
    run_id: &str,
    work: &Path,
    bait: Option<&airlock_bait::BaitPlan>,
) -> Result<SinkInputs> {
    use std::os::unix::fs::PermissionsExt;
    let input_dir = work.join("sink-in");
    let output_dir = work.join("sink-out");
    std::fs::create_dir_all(&input_dir)?;
    std::fs::create_dir_all(&output_dir)?;
    // The work dir is 0700. The sink runs as root without CAP_DAC_OVERRIDE, in airlock's
    // group (airlock_sandbox::sink): when airlock is not root it reaches these through
    // the group, never through permissions for others.
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&input_dir, 0o750)?;
    mode(&output_dir, if is_root() { 0o700 } else { 0o770 })?;
    let ca = airlock_sink::generate_ca(run_id).context("generating the run CA")?;
    std::fs::write(input_dir.join("ca.pem"), &ca.cert_pem)?;
    mode(&input_dir.join("ca.pem"), 0o644)?;
    let key = input_dir.join("ca.key");
    std::fs::File::create(&key)?.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(&key, &ca.key_pem)?;
    mode(&key, if is_root() { 0o600 } else { 0o640 })?;
    if let Some(plan) = bait {
        // The metadata services hand out the plan's cloud canaries.
        let mut config = serde_json::to_value(&plan.imds)?;
        if let Some(o) = config.as_object_mut() {
            o.insert("aws_role".into(), "github-actions-runner".into());
        }
        std::fs::write(
            input_dir.join("bait.json"),
            serde_json::to_vec_pretty(&config)?,
        )?;
        mode(&input_dir.join("bait.json"), 0o640)?;
    }
    let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let bundle = input_dir.join("ca-bundle.crt");
    std::fs::write(&bundle, format!("{system}\n{}", ca.cert_pem))?;
    // Bind-mounted as the sandbox's CA bundle: the package's user reads it.
    mode(&bundle, 0o644)?;
    Ok(SinkInputs {
        input_dir,
        output_dir,
        bundle,
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The binary mounted into the sink container: `$AIRLOCK_SINK_BINARY`, else this one.
fn sink_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("AIRLOCK_SINK_BINARY") {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().context("locating the airlock binary for the sink")
}

/// Adds the sink's record to the trace: each event gets the phase its time falls in, and
/// `net.connect` events to the sink's fake addresses get the name that resolved to them.
fn merge_sink_events(file: &Path, events: &mut Vec<Event>, gaps: &mut Vec<String>) {
    let out = match airlock_sink::read_events(file) {
        Ok(o) => o,
        Err(e) => {
            gaps.push(format!("network record unreadable: {e}"));
            return;
        }
    };
    if out.truncated || out.footer.is_none() {
        gaps.push("network record cut short (the sink did not shut down cleanly)".into());
    }
    if let Some(f) = &out.footer {
        gaps.extend(f.gaps.iter().cloned());
    }
    // Phase windows from the orchestrator's own phase events.
    let mut windows: Vec<(String, f64, f64)> = Vec::new();
    for e in events.iter() {
        match &e.kind {
            EventKind::PhaseStart { name, .. } => windows.push((name.clone(), e.ts, f64::INFINITY)),
            EventKind::PhaseEnd { name, .. } => {
                if let Some(w) = windows.iter_mut().rev().find(|w| &w.0 == name) {
                    w.2 = e.ts;
                }
            }
            _ => {}
        }
    }
    let mut names: std::collections::HashMap<String, String> = Default::default();
    for mut e in out.events {
        // The sink's set-up log is long; the trace keeps its verdict, not every rule.
        if let EventKind::Note { message } = &mut e.kind {
            if let Some(rest) = message.strip_prefix("sink net setup:") {
                let ok = rest.lines().filter(|l| l.starts_with("[ok]")).count();
                let failed: Vec<&str> =
                    rest.lines().filter(|l| l.starts_with("[failed]")).collect();
                *message = format!(
                    "sink net setup: {ok} steps ok{}",
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!("; failed: {}", failed.join("; "))
                    }
                );
            }
        }
        if let EventKind::DnsQuery { name, answers, .. } = &e.kind {
            for a in answers {
                names.insert(a.clone(), name.clone());
            }
        }
        // The latest phase that had started: a payload that acts at the very start of the
        // import phase is still inside the install phase's half-second grace.
        if let Some(w) = windows
            .iter()
            .rev()
            .find(|w| e.ts >= w.1 && e.ts <= w.2 + 0.5)
        {
            e.phase = w.0.clone();
        }
        events.push(e);
    }
    for e in events.iter_mut() {
        if let EventKind::NetConnect { addr, name, .. } = &mut e.kind {
            if name.is_none() {
                *name = names.get(addr.as_str()).cloned();
            }
        }
    }
}

/// Parses one phase's strace output into events (bounded), noting limits and gaps.
fn record_trace(
    outcome: &PhaseOutcome,
    header: &TraceHeader,
    project: &str,
    phase: &str,
    events: &mut Vec<Event>,
    gaps: &mut Vec<String>,
) -> Result<()> {
    let Some(path) = &outcome.trace_path else {
        return Ok(());
    };
    let mut cfg = RecorderConfig::new(phase);
    cfg.home = header.home.clone();
    cfg.initial_cwd = Some(project.into());
    for c in &header.canaries {
        if let Some(p) = c.location.strip_prefix("file:") {
            cfg.canaries.insert(p.to_string(), c.id.clone());
        }
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rec = airlock_recorder::Recorder::new(cfg);
    let mut out = Vec::new();
    let mut fresh = Vec::new();
    let mut budget = airlock_recorder::budget::EventBudget::new(MAX_EVENTS_PER_PHASE);
    let mut fork_refused = 0u64;
    airlock_recorder::for_each_line(std::io::BufReader::new(file), |line, complete| {
        if !complete {
            rec.mark_truncated();
        }
        if line.contains("= -1 EAGAIN")
            && (line.contains(" clone") || line.contains(" fork") || line.contains(" vfork"))
        {
            fork_refused += 1;
        }
        rec.feed_line(line, &mut fresh);
        budget.admit(&mut fresh, &mut out);
    })
    .with_context(|| format!("reading {}", path.display()))?;
    let stats = rec.finish(&mut out);
    if let Some(e) = budget.summary_event(phase, out.last().map_or(0.0, |e| e.ts)) {
        out.push(e);
    }
    // The phase's first process is our own wrapper (setpriv dropping to the package's
    // user, then `env` for the clock speed-up); its events before it execs the phase
    // command are not the package's, nor are libfaketime's own files.
    let root = out.iter().find_map(|e| e.pid());
    out.retain(|e| {
        let wrapper = e.pid() == root
            && e.proc
                .as_ref()
                .is_some_and(|p| p.exe == "setpriv" || p.exe == "env");
        !wrapper && !is_faketime_file(&e.kind)
    });
    if fork_refused > 0 {
        out.push(Event::new(
            out.last().map(|e| e.ts).unwrap_or_else(airlock_events::now),
            phase,
            Source::Sandbox,
            EventKind::LimitHit {
                limit: "pids".into(),
                detail: format!(
                    "process limit reached: {fork_refused} fork/clone calls refused (EAGAIN)"
                ),
            },
        ));
    }
    if budget.dropped() > 0 {
        gaps.push(format!(
            "{phase}: {} events lost past twice the {MAX_EVENTS_PER_PHASE}-event cap",
            budget.dropped()
        ));
    }
    if stats.truncated {
        gaps.push(format!("{phase}: strace output cut short"));
    }
    // A cut trace, and a phase killed before it ended (OOM killer, SIGKILL), leave the run
    // not fully observed: the trace is incomplete, which never lets a package through.
    for (_, detail) in outcome
        .limits_hit
        .iter()
        .filter(|(l, _)| matches!(l.as_str(), "trace" | "oom" | "killed"))
    {
        gaps.push(format!("{phase}: {detail}"));
    }
    events.extend(out);
    Ok(())
}

fn base_env(user: &UserSpec) -> Vec<(String, String)> {
    let appdata = format!("{}/AppData/Roaming", user.home);
    let local = format!("{}/AppData/Local", user.home);
    [
        // Payloads written for Windows read these first and crash without them
        // (`os.environ["APPDATA"]`, `process.env.LOCALAPPDATA + ...`) before they reach
        // their download or theft; with them set, the attempt shows in the trace. Their
        // directories exist in the home skeleton.
        ("APPDATA", appdata.as_str()),
        ("LOCALAPPDATA", local.as_str()),
        ("USERPROFILE", user.home.as_str()),
        ("USERNAME", user.name.as_str()),
        ("HOME", user.home.as_str()),
        ("USER", user.name.as_str()),
        ("LOGNAME", user.name.as_str()),
        ("SHELL", "/bin/bash"),
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("LANG", "C.UTF-8"),
        ("TERM", "xterm-256color"),
        ("npm_config_update_notifier", "false"),
        ("npm_config_fund", "false"),
        ("npm_config_audit", "false"),
        ("npm_config_logs_max", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A tar stream of files placed at absolute paths, extracted at `/` as the package's
/// user (so every path must be somewhere that user may write: home, workspace, /work).
struct Staging(tar::Builder<Vec<u8>>);

impl Staging {
    fn new() -> Self {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        Staging(b)
    }

    fn rel(path: &str) -> &str {
        path.trim_start_matches('/')
    }

    fn file(&mut self, path: &str, content: &[u8], mode: u32) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        self.0.append_data(&mut h, Self::rel(path), content)?;
        Ok(())
    }

    fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        self.0
            .append_data(&mut h, format!("{}/", Self::rel(path)), std::io::empty())?;
        Ok(())
    }

    /// The host directory `dir`, placed at `path`.
    fn tree(&mut self, path: &str, dir: &Path) -> Result<()> {
        self.0
            .append_dir_all(Self::rel(path), dir)
            .with_context(|| format!("packing {}", dir.display()))
    }

    /// The host file `file`, placed at `path`.
    fn host_file(&mut self, path: &str, file: &Path) -> Result<()> {
        self.0
            .append_path_with_name(file, Self::rel(path))
            .with_context(|| format!("packing {}", file.display()))
    }

    fn finish(self) -> Result<Vec<u8>> {
        Ok(self.0.into_inner()?)
    }
}

/// A minimal, lived-in home directory.
fn home_skeleton(staging: &mut Staging, home: &str) -> Result<()> {
    let files: &[(&str, &str)] = &[
        (".bashrc", "# ~/.bashrc\n[ -z \"$PS1\" ] && return\nHISTCONTROL=ignoreboth\nalias ll='ls -alF'\n"),
        (".profile", "# ~/.profile\nif [ -n \"$BASH_VERSION\" ] && [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n"),
        (".gitconfig", "[user]\n\tname = runner\n\temail = runner@users.noreply.github.com\n[init]\n\tdefaultBranch = main\n"),
    ];
    for (name, content) in files {
        staging.file(&format!("{home}/{name}"), content.as_bytes(), 0o644)?;
    }
    for dir in [
        "AppData",
        "AppData/Roaming",
        "AppData/Local",
        "AppData/Local/Temp",
    ] {
        staging.dir(&format!("{home}/{dir}"), 0o755)?;
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn new_run_id() -> String {
    let mut h = sha2::Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(airlock_events::now().to_le_bytes());
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    h.update(buf);
    hex::encode(&h.finalize()[..6])
}

/// Writes a trace as JSON Lines to `path`.
pub fn write_trace(trace: &Trace, path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    trace.write(&mut w)?;
    w.flush()?;
    Ok(())
}

/// True for sandbox errors that mean "no engine" (exit 2 with setup advice).
pub fn is_engine_error(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<SandboxError>(),
        Some(SandboxError::EngineUnavailable(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }
}

/// The bait plan's directories and files (everything a persona plants lives below its
/// home directory; anything else is skipped with a warning).
fn bait_files(staging: &mut Staging, plan: &airlock_bait::BaitPlan) -> Result<()> {
    let under_home = |path: &str| fsdiff::is_under(path, &plan.home);
    for d in &plan.dirs {
        if !under_home(&d.path) {
            tracing::warn!(path = %d.path, "bait directory outside home skipped");
            continue;
        }
        staging.dir(&d.path, d.mode)?;
    }
    for f in &plan.files {
        if !under_home(&f.path) {
            tracing::warn!(path = %f.path, "bait file outside home skipped");
            continue;
        }
        staging.file(&f.path, &f.content, f.mode)?;
    }
    Ok(())
}

/// The phase command with the clock speed-up for the package's processes only: `env`
/// runs after setpriv dropped to the package's user, so libfaketime's shared state
/// belongs to that user, and the phase watchdog and the tracer keep real time.
fn with_speedup(argv: Vec<String>, speedup: u32) -> Vec<String> {
    if speedup <= 1 {
        return argv;
    }
    let mut v = vec![
        "env".to_string(),
        "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1".to_string(),
        format!("FAKETIME=+0 x{speedup}"),
        // File times stay real: faked stat() times put every file centuries into the
        // future and send make into an endless Makefile regeneration loop.
        "NO_FAKE_STAT=1".to_string(),
    ];
    v.extend(argv);
    v
}

/// libfaketime's shared-memory files (our clock speed-up, not the package's doing).
fn is_faketime_file(kind: &EventKind) -> bool {
    let path = match kind {
        EventKind::FsChange { path, .. }
        | EventKind::FileOpen { path, .. }
        | EventKind::FileUnlink { path, .. } => path,
        _ => return false,
    };
    path.starts_with("/dev/shm/faketime_shm_") || path.starts_with("/dev/shm/sem.faketime_sem_")
}

/// Wheels every PyPI run gets, whatever the artifact declares.
const PYPI_SEED: &[&str] = &[
    "setuptools",
    "wheel",
    "requests",
    "urllib3",
    "certifi",
    "idna",
    "charset-normalizer",
    "six",
    "colorama",
    "psutil",
];

/// What the host prepared for the offline install in the sandbox.
enum Prepared {
    Npm(npm::PreparedProject),
    Pypi {
        wheelhouse: airlock_ecosystem::pypi::Wheelhouse,
        install_name: String,
        top_level: Vec<String>,
    },
}

impl Prepared {
    fn dependencies(&self) -> usize {
        match self {
            Prepared::Npm(p) => p.dependencies,
            Prepared::Pypi { wheelhouse, .. } => wheelhouse.files.len(),
        }
    }
}

/// Resolves and downloads the artifact's dependencies on the host without running any
/// code: npm's lockfile-only resolution plus `npm cache add`, or pip's wheel-only
/// download of the build and runtime requirements.
fn prepare(artifact: &Artifact, opts: &ScanOptions, work: &Path) -> Result<Prepared> {
    Ok(match &artifact.kind {
        Kind::Npm(m) => Prepared::Npm(npm::prepare_project(
            &artifact.path,
            m,
            &opts.registry,
            work,
        )?),
        Kind::Pypi { meta, install_name } => {
            std::fs::create_dir_all(work)?;
            // Setup scripts import what they never declare (requests above all); these
            // common wheels let such a setup.py run to its payload.
            let mut seeded = meta.clone();
            seeded
                .requires_dist
                .extend(PYPI_SEED.iter().map(|s| s.to_string()));
            let wheelhouse = airlock_ecosystem::pypi::prepare_wheelhouse(
                &artifact.path,
                &seeded,
                &opts.pypi_index,
                work,
                &airlock_ecosystem::pypi::WheelhouseOptions {
                    // Sets resolved in the last day (the seed set above all) skip pip.
                    wheel_cache: airlock_ecosystem::pypi::WheelCache::user_default(),
                    ..Default::default()
                },
            )?;
            Prepared::Pypi {
                wheelhouse,
                install_name: install_name.clone(),
                top_level: meta.top_level.clone(),
            }
        }
    })
}

/// Wall time of the orchestration steps, for the benchmark breakdown.
#[derive(Default)]
struct Timing(Vec<(&'static str, u128)>);

impl Timing {
    fn add(&mut self, step: &'static str, since: std::time::Instant) {
        self.0.push((step, since.elapsed().as_millis()));
    }
}

/// One wheel per project (the newest by file name order), as file names: installing two
/// versions of one project in one pip call is an error.
fn wheel_choice(files: &[PathBuf]) -> Vec<String> {
    let mut by_project: std::collections::BTreeMap<String, String> = Default::default();
    for f in files {
        let Some(name) = f.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !name.ends_with(".whl") {
            continue;
        }
        let project = name
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .replace('_', "-");
        let keep = by_project
            .get(&project)
            .is_none_or(|old| natural_newer(&name, old));
        if keep {
            by_project.insert(project, name);
        }
    }
    by_project.into_values().collect()
}

/// Compares two wheel file names by their version field, numerically where possible.
fn natural_newer(a: &str, b: &str) -> bool {
    let version = |n: &str| -> Vec<u64> {
        n.split('-')
            .nth(1)
            .unwrap_or_default()
            .split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    version(a) > version(b)
}
