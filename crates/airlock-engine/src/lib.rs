//! airlock-engine: carries out an ecosystem's install plan in a sandbox and assembles the
//! trace. For one artifact: the persona's bait, the network sink and the host-side
//! preparation (started at once, with the caller's static pass), the plan from the
//! ecosystem, the phases in the sandbox, then the recorder's, the sink's and the hooks'
//! events merged into one ordered trace with the canary search over everything the sink
//! captured. It never judges; it knows no ecosystem (only [`airlock_ecosystem`]'s seam)
//! and no container engine (only the [`Sandbox`] traits).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod fschanges;
pub mod merge;
pub mod order;
pub mod persona;
pub mod phases;
pub mod record;
pub mod sandbox;
pub mod sink_inputs;
pub mod staging;
#[cfg(test)]
mod start_tests;
#[cfg(test)]
mod tests;
pub mod timing;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use airlock_ecosystem::{Artifact, PlanContext, Sources};
use airlock_events::{
    Event, EventKind, PackageRef, Source, Trace, TraceFooter, TraceHeader, SCHEMA_VERSION,
};
use sha2::Digest;

pub use airlock_bpf::RecorderChoice;
pub use sandbox::{
    Backend, BackendError, ExecResult, Network, PhaseRequest, PhaseResult, Sandbox, SandboxRequest,
    Sink, SinkRequest, User,
};

/// Why a run could not produce a trace.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The container side failed (the source is the backend's own error).
    #[error("{0}")]
    Sandbox(#[source] BackendError),
    /// Host-side preparation of the artifact's dependencies failed.
    #[error(transparent)]
    Prepare(#[from] airlock_ecosystem::RegistryError),
    /// An untraced set-up step the plan cannot do without failed.
    #[error("{0}")]
    Setup(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    HostIo(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The network sink's inputs could not be made.
    #[error("{0}")]
    Sink(String),
    /// A background task of the run died.
    #[error("{0}")]
    Task(String),
}

/// How to run one analysis. (`Default` is for tests: a real run sets every field.)
#[derive(Debug, Clone, Default)]
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
    /// `--os`: the persona passes besides Linux (`auto`: what the static pass saw).
    pub os: airlock_ecosystem::OsChoice,
    /// Limits of the exercise phase (per-call deadline, budget, virtual-time horizon).
    pub exercise: airlock_ecosystem::ExerciseLimits,
    /// `--node` / `--python`: the runtimes the phases run (the image's defaults when
    /// left at `Default`).
    pub runtimes: airlock_ecosystem::Runtimes,
    /// `--recorder`: eBPF on the host, strace inside, or `auto` (eBPF when it loads).
    pub recorder: RecorderChoice,
}

impl ScanOptions {
    /// Where registry inputs are fetched from.
    pub fn sources(&self) -> Sources {
        Sources {
            npm_registry: self.registry.clone(),
            pypi_index: self.pypi_index.clone(),
            python: self.runtimes.python.clone(),
        }
    }
}

/// What the eBPF recorder writes into a phase's gaps when its ring buffer overflowed.
const EBPF_LOSS: &str = "eBPF recorder lost";

/// Runs the sandbox phases for an artifact and returns the trace. Sandbox failures after
/// the container exists become an incomplete trace with the error noted, not a lost run;
/// failures before (no engine, no image) are errors. `statics` (the static pass, which
/// needs no sandbox) runs meanwhile; its events go into the trace.
///
/// The eBPF recorder cannot make the package wait for it: a flood of syscalls on a loaded
/// host fills its ring buffer and records are lost (counted, and the trace marked cut).
/// A flood is exactly how a payload would hide, so with the automatic recorder choice a
/// run that lost records is recorded again under strace, which stops the tracee until
/// each call is written and loses nothing; the header says so.
pub async fn analyze_artifact<B: Backend>(
    backend: &B,
    artifact: &Artifact,
    opts: &ScanOptions,
    work: &Path,
    statics: impl Future<Output = Vec<Event>> + Send,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Trace, Option<String>), EngineError> {
    let (trace, error) = analyze_once(backend, artifact, opts, work, statics, progress).await?;
    let lost = trace
        .footer
        .as_ref()
        .and_then(|f| f.gaps.iter().find(|g| g.contains(EBPF_LOSS)).cloned());
    let Some(lost) = lost.filter(|_| opts.recorder == RecorderChoice::Auto && !opts.bare) else {
        return Ok((trace, error));
    };
    progress("the eBPF recorder lost records (a syscall flood); recording again under strace");
    let statics: Vec<Event> = trace
        .events
        .iter()
        .filter(|e| e.source == Source::Static)
        .cloned()
        .collect();
    let mut again = opts.clone();
    again.recorder = RecorderChoice::Strace;
    let dir = work.join("strace-rerun");
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io {
        what: dir.display().to_string(),
        source,
    })?;
    let (mut trace, error) = analyze_once(
        backend,
        artifact,
        &again,
        &dir,
        std::future::ready(statics),
        progress,
    )
    .await?;
    trace.header.notes.insert(
        "recorder_fallback".into(),
        format!("recorded again under strace: {lost}"),
    );
    Ok((trace, error))
}

async fn analyze_once<B: Backend>(
    backend: &B,
    artifact: &Artifact,
    opts: &ScanOptions,
    work: &Path,
    statics: impl Future<Output = Vec<Event>> + Send,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Trace, Option<String>), EngineError> {
    let ecosystem = airlock_ecosystem::for_artifact(artifact);
    let run_id = new_run_id();
    let bait = opts.persona.filter(|_| !opts.bare).map(|persona| {
        airlock_bait::plan(
            persona,
            &airlock_bait::PlanOptions::new(
                "https://pipelinesghubeus22.actions.githubusercontent.com",
            ),
        )
    });
    let (user, project) = match &bait {
        Some(plan) => {
            let uid = if plan.user == "sam" { 1002 } else { 1001 };
            (
                User {
                    name: plan.user.clone(),
                    uid,
                    gid: uid,
                    home: plan.home.clone(),
                },
                plan.workspace.clone(),
            )
        }
        None => (
            User {
                name: "runner".into(),
                uid: 1001,
                gid: 1001,
                home: "/home/runner".into(),
            },
            "/work/project".to_string(),
        ),
    };
    let mut header = TraceHeader {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        started_at: airlock_events::now(),
        package: PackageRef {
            ecosystem: Some(artifact.ecosystem()),
            name: artifact.name.clone(),
            version: artifact.version.clone(),
            sha256: Some(artifact.sha256.clone()),
            integrity: artifact.integrity.clone(),
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        image: None,
        persona: bait.as_ref().map(|b| b.persona.to_string()),
        home: Some(user.home.clone()),
        package_dir: None,
        canaries: bait
            .as_ref()
            .map(|b| b.canaries.clone())
            .unwrap_or_default(),
        notes: bait.as_ref().map(|b| b.notes.clone()).unwrap_or_default(),
    };

    // Where the time goes (for the benchmark breakdown), in milliseconds.
    let t_engine = std::time::Instant::now();
    let mut timing = timing::Timing::default();
    if opts.time_speedup > 1 && !opts.bare {
        header.notes.insert(
            "time_acceleration".into(),
            format!("x{} (libfaketime)", opts.time_speedup),
        );
    }
    let image = match &opts.image {
        Some(i) => i.clone(),
        None => backend.ensure_image().await.map_err(EngineError::Sandbox)?,
    };
    header.image = Some(image.clone());
    let hostname = bait
        .as_ref()
        .map(|b| b.hostname.clone())
        .unwrap_or_else(|| "build-01".into());
    let mut binds = Vec::new();
    let sink_req = if opts.no_network || opts.bare {
        header
            .notes
            .insert("network".into(), "none (loopback only)".into());
        None
    } else {
        let net = sink_inputs::prepare_sink_inputs(&run_id, work, bait.as_ref())?;
        binds.push(format!(
            "{}:/etc/ssl/certs/ca-certificates.crt:ro",
            net.bundle.display()
        ));
        header.notes.insert(
            "network".into(),
            "simulated by the sink (nothing leaves the host)".into(),
        );
        Some(SinkRequest {
            run_id: run_id.clone(),
            image: image.clone(),
            binary: sink_inputs::sink_binary()?,
            input_dir: net.input_dir,
            output_dir: net.output_dir,
            hostname: hostname.clone(),
        })
    };

    // Everything at once: dependency resolution on the host, the static pass (the
    // caller's; nothing is unpacked on the host), and the containers — the sink, the
    // sandbox joined to its network namespace (loopback only until the sink's rules are
    // in place, so nothing can leave meanwhile), then the sink's readiness. The plan
    // needs only the first two; no phase runs before the sink is ready.
    progress("resolving dependencies on the host (no scripts run); starting the network sink and the sandbox");
    timing.add("setup", t_engine);
    let t_start = std::time::Instant::now();
    let resolve = {
        let (artifact, sources, w) = (artifact.clone(), opts.sources(), work.join("prep"));
        tokio::task::spawn_blocking(move || {
            let r = ecosystem.prepare(&artifact, &sources, &w);
            (r, t_start.elapsed().as_millis())
        })
    };
    let statics = async {
        let events = statics.await;
        (events, t_start.elapsed().as_millis())
    };
    // The recorder (issue 16): eBPF on the host when it loads and the backend's sandboxes
    // can be watched from there (--recorder / AIRLOCK_RECORDER), else strace inside.
    let kernel = if opts.bare || !backend.host_recording() {
        None
    } else {
        opts.recorder
            .start()
            .map_err(|e| EngineError::Sandbox(Box::new(e)))?
    };
    let recorder = match (&kernel, opts.bare) {
        (Some(_), _) => "ebpf",
        (None, true) => "none",
        (None, false) => "strace",
    };
    header.notes.insert("recorder".into(), recorder.into());
    let mut sandbox_req = SandboxRequest {
        run_id: run_id.clone(),
        image,
        user: user.clone(),
        network: Network::None,
        hostname,
        binds,
        ptrace: kernel.is_none(),
    };
    let containers = async {
        let sink = match &sink_req {
            Some(req) => Some(backend.start_sink(req).await?),
            None => None,
        };
        let sink_started = t_start.elapsed().as_millis();
        if let Some(s) = &sink {
            sandbox_req.network = Network::Sink(s.id().to_string());
        }
        let t = std::time::Instant::now();
        let created = backend.create(sandbox_req).await;
        let create_ms = t.elapsed().as_millis();
        let ready = match &sink {
            Some(s) => s.ready().await,
            None => Ok(()),
        };
        Ok::<_, BackendError>((sink, created, ready, sink_started, create_ms))
    };
    let (resolved, (static_events, static_ms), containers) =
        tokio::join!(resolve, statics, containers);
    timing.add("start", t_start);
    timing.overlap("static_pass", static_ms);
    let (sink, created) = match containers {
        Ok((sink, created, ready, sink_started, create_ms)) => {
            timing.overlap("sink_start", sink_started);
            timing.overlap("sandbox_create", create_ms);
            if let Err(e) = ready {
                abandon(created, sink).await;
                return Err(EngineError::Sandbox(e));
            }
            (sink, created)
        }
        Err(e) => return Err(EngineError::Sandbox(e)),
    };
    let prepared = match resolved {
        Ok((Ok(p), ms)) => {
            timing.overlap("host_resolve", ms);
            p
        }
        Ok((Err(e), _)) => {
            abandon(created, sink).await;
            return Err(e.into());
        }
        Err(e) => {
            abandon(created, sink).await;
            return Err(EngineError::Task(format!("resolver task: {e}")));
        }
    };
    header
        .notes
        .insert("dependencies".into(), prepared.dependencies().to_string());
    if !prepared.missing().is_empty() {
        header
            .notes
            .insert("dependencies_missing".into(), prepared.missing().join(", "));
    }
    let platform = persona::platform_hints(&static_events);
    let ctx = PlanContext {
        home: user.home.clone(),
        project: project.clone(),
        // About two seconds of real time on the package's sped-up clock.
        import_settle_ms: 2000 * u64::from(opts.time_speedup.max(1)),
        time_speedup: opts.time_speedup.max(1),
        os: opts.os,
        platform: platform.clone(),
        // The harness's own budget stays well inside the phase limit: an exercise phase
        // that runs into it would make the run `timed out`.
        exercise: airlock_ecosystem::ExerciseLimits {
            budget_ms: opts
                .exercise
                .budget_ms
                .min(opts.phase_timeout.as_millis() as u64 / 2),
            ..opts.exercise
        },
        runtimes: opts.runtimes.clone(),
    };
    let mut plan = match ecosystem.plan(artifact, &prepared, &ctx) {
        Ok(p) => p,
        Err(e) => {
            abandon(created, sink).await;
            return Err(e.into());
        }
    };
    if opts.no_import {
        plan = plan.without_phase("import").without_phase("exercise");
    }
    // The benchmark baseline is a plain install and import: calling the package's
    // functions is part of the analysis whose cost it measures.
    if opts.bare {
        plan = plan.without_phase("exercise");
    }
    let mut passes = vec!["linux".to_string()];
    for p in &plan.phases {
        let os = p.os().to_string();
        if !passes.contains(&os) {
            passes.push(os);
        }
    }
    header.notes.insert("os_passes".into(), passes.join(", "));
    for (os, why) in [("windows", &platform.windows), ("macos", &platform.macos)] {
        if !why.is_empty() {
            header
                .notes
                .insert(format!("static_targets.{os}"), why.join("; "));
        }
    }
    let mut events = static_events;
    let mut gaps = Vec::new();
    let result = match created {
        Ok(sandbox) => {
            let run = phases::Run {
                sandbox: &sandbox,
                user: &user,
                project: &project,
                bait: bait.as_ref(),
                opts,
                work,
                kernel: kernel.as_ref(),
            };
            let r = async {
                if let Some(k) = &kernel {
                    let id = sandbox.container_id().ok_or_else(|| {
                        EngineError::Setup("the sandbox has no container id to record".into())
                    })?;
                    k.watch_container(&id)
                        .map_err(|e| EngineError::Sandbox(Box::new(e)))?;
                }
                let t = std::time::Instant::now();
                let plan = phases::prepare(&run, plan).await?;
                timing.add("stage", t);
                if plan.unresolved() {
                    gaps.push(format!(
                        "the package's directory is unknown ({})",
                        plan.package_dir
                    ));
                } else {
                    header.package_dir = Some(plan.package_dir.clone());
                }
                for (name, version) in phases::probe_runtimes(&run, &plan).await? {
                    header.notes.insert(format!("runtime.{name}"), version);
                }
                let summaries = phases::run_phases_timed(
                    &run,
                    &plan,
                    &header,
                    &mut events,
                    &mut gaps,
                    progress,
                    &mut timing,
                )
                .await?;
                for (phase, s) in summaries {
                    header.notes.insert(
                        format!("exercise.{phase}"),
                        format!(
                            "found {}, called {}, raised {}, cut at the deadline {}",
                            s.found, s.called, s.raised, s.timed_out
                        ),
                    );
                    header.notes.insert(
                        format!("virtual_time.{phase}"),
                        format!("{:.0} s", s.virtual_secs),
                    );
                    if !s.calls.is_empty() {
                        header
                            .notes
                            .insert(format!("exercise_calls.{phase}"), s.calls.join(", "));
                    }
                    header
                        .canaries
                        .extend(persona::argument_canaries(&phase, &s));
                    if !s.hosts.is_empty() {
                        let note = airlock_events::attribution::EXERCISE_HOSTS_NOTE;
                        let mut hosts: Vec<String> = header
                            .notes
                            .get(note)
                            .map(|v| v.split(',').map(String::from).collect())
                            .unwrap_or_default();
                        for h in &s.hosts {
                            if !hosts.contains(h) && h.contains('.') && h.len() < 100 {
                                hosts.push(h.clone());
                            }
                        }
                        header.notes.insert(note.into(), hosts.join(","));
                    }
                }
                Ok(())
            }
            .await;
            progress("removing the sandbox");
            let t = std::time::Instant::now();
            sandbox.destroy().await;
            timing.add("cleanup", t);
            r
        }
        Err(e) => Err(EngineError::Sandbox(e)),
    };
    if let Some(sink) = sink {
        let file = sink.events_file();
        let t = std::time::Instant::now();
        sink.stop().await;
        timing.add("sink_stop", t);
        let t = std::time::Instant::now();
        merge::merge_sink_events(&file, &mut events, &mut gaps);
        timing.add("merge", t);
    }
    let t_merge = std::time::Instant::now();
    // Proof of theft: every canary, in every encoding, in everything the sink captured.
    // Each producer numbered its own events, so a leak names its carrier by position
    // here; `order_by_time` maps that position to the carrier's final seq.
    if !header.canaries.is_empty() {
        let searcher = airlock_bait::LeakSearcher::new(&header.canaries);
        let leaks = searcher.scan_positions(&events);
        events.extend(leaks);
    }
    let error = match result {
        Ok(()) => None,
        Err(e) => {
            let msg = error_chain(&e);
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
    // Events from different producers, in time order, numbered once.
    order::order_by_time(&mut events);
    timing.add("merge", t_merge);
    let footer = TraceFooter {
        events: events.len() as u64,
        ended_at: airlock_events::now(),
        complete: gaps.is_empty(),
        gaps,
    };
    timing.add_ms("total.engine", t_engine.elapsed().as_millis());
    header.notes.extend(timing.notes());
    Ok((
        Trace {
            header,
            events,
            footer: Some(footer),
        },
        error,
    ))
}

/// An error with its causes, `a: b: c` (as anyhow's `{:#}` prints it).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cur = s.source();
    }
    msg
}

/// Removes what a run that cannot go on created: the sandbox (when it was created) and
/// the sink.
async fn abandon<S: Sandbox, K: Sink>(sandbox: Result<S, BackendError>, sink: Option<K>) {
    if let Ok(sandbox) = sandbox {
        sandbox.destroy().await;
    }
    if let Some(sink) = sink {
        sink.stop().await;
    }
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
