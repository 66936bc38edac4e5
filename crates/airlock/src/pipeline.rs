//! One analysis, start to finish, as every frontend needs it (`scan`, the install
//! wrappers, the service): fetch and check the input, run it in the sandbox, judge the
//! trace, build the report. Frontends decide what to do with the verdict; this module
//! never prints a report.

use airlock_events::{PackageRef, Trace, Verdict};
use airlock_report::Report;
use airlock_rules::Ruleset;
use airlock_sandbox::{Docker, Tracker};
use anyhow::{Context, Result};

use airlock_ecosystem::{Artifact, Input};
use airlock_engine::ScanOptions;
use airlock_events::{Event, EventKind, Source};
use airlock_sandbox::{DockerBackend, SandboxError};

use crate::judging;

/// The result of analyzing one input.
pub struct Analyzed {
    /// What was analyzed (ecosystem, name, version, sha256, integrity).
    pub package: PackageRef,
    pub trace: Trace,
    pub report: Report,
    pub verdict: Verdict,
    /// A sandbox error that cut the run short (the verdict is then `error` unless the
    /// part that ran already proved the package malicious).
    pub error: Option<String>,
}

/// Fetches, runs and judges one input. `progress` receives short human steps.
pub async fn analyze(
    docker: &Docker,
    tracker: &Tracker,
    input: &Input,
    opts: &ScanOptions,
    rules: &Ruleset,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Analyzed> {
    // 0700, named after this process so a later airlock can remove it if we are killed.
    let work = airlock_sandbox::create_work_dir().context("creating a work directory")?;
    let artifact = {
        let (input, opts, dir) = (input.clone(), opts.clone(), work.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            airlock_ecosystem::artifact::fetch(&input, &opts.sources(), &dir)
        })
        .await??
    };
    let backend = DockerBackend { docker, tracker };
    let statics = static_pass(&artifact, opts);
    let (trace, error) =
        airlock_engine::analyze_artifact(&backend, &artifact, opts, work.path(), statics, progress)
            .await?;
    let (report, verdict) = judging::judge(rules, &trace, error.as_deref());
    Ok(Analyzed {
        package: trace.header.package.clone(),
        trace,
        report,
        verdict,
        error,
    })
}

/// The static pass (the archive read in memory; nothing is unpacked on the host), run on
/// a blocking thread while the engine prepares the sandbox. A version fetched from the
/// npm registry is also compared with the version published before it (new install
/// scripts, obfuscated files, endpoints, maintainers, provenance): the chalk/debug shape.
fn static_pass(
    artifact: &Artifact,
    opts: &ScanOptions,
) -> impl std::future::Future<Output = Vec<Event>> + Send {
    let (tgz, bare) = (artifact.path.clone(), opts.bare);
    let (history, sources) = (artifact.clone(), opts.sources());
    let ts = airlock_events::now();
    let task = tokio::task::spawn_blocking(move || {
        if bare {
            return Ok::<_, airlock_static::StaticError>(Vec::new());
        }
        let mut events =
            airlock_static::scan_archive(&tgz, &airlock_static::ScanOptions::default())
                .map(|r| r.events(ts))?;
        match airlock_ecosystem::for_artifact(&history).history_signals(&history, &sources) {
            Ok(more) => events.extend(more),
            Err(e) => events.push(note(
                ts,
                format!("no comparison with the previous version: {e:#}"),
            )),
        }
        Ok(events)
    });
    async move {
        match task.await {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "static pass failed");
                vec![note(
                    airlock_events::now(),
                    format!("static pass failed: {e}"),
                )]
            }
            Err(e) => vec![note(
                airlock_events::now(),
                format!("static pass failed: {e}"),
            )],
        }
    }
}

fn note(ts: f64, message: String) -> Event {
    Event::new(ts, "static", Source::Static, EventKind::Note { message })
}

/// Writes a trace as JSON Lines to `path`.
pub fn write_trace(trace: &Trace, path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    trace.write(&mut w)?;
    w.flush()?;
    Ok(())
}

/// True for sandbox errors that mean "no engine" (exit 2 with setup advice).
pub fn is_engine_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<SandboxError>(),
            Some(SandboxError::EngineUnavailable(_))
        )
    })
}
