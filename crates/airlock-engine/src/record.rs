//! From the recorder's raw output to trace events, for one phase: strace lines parsed
//! (bounded; a flood marks the trace incomplete instead of eating memory), our own
//! wrapper's and libfaketime's traces dropped, refused forks reported as a limit.

use airlock_events::{Event, EventKind, Source, TraceHeader};
use airlock_recorder::RecorderConfig;

use crate::sandbox::PhaseResult;
use crate::EngineError;

/// Events kept per phase before the rest are summarised (airlock_recorder::budget):
/// past it only the events verdicts are made of are kept; past twice it they are lost
/// and the trace is marked incomplete.
pub const MAX_EVENTS_PER_PHASE: usize = 400_000;

/// Parses one phase's strace output into events (bounded), noting limits and gaps.
pub fn record_trace(
    outcome: &PhaseResult,
    header: &TraceHeader,
    project: &str,
    phase: &str,
    events: &mut Vec<Event>,
    gaps: &mut Vec<String>,
) -> Result<(), EngineError> {
    let Some(path) = &outcome.trace_path else {
        return Ok(());
    };
    let cfg = recorder_config(header, project, phase);
    let file = std::fs::File::open(path).map_err(|source| EngineError::Io {
        what: format!("opening {}", path.display()),
        source,
    })?;
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
    .map_err(|source| EngineError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
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

/// The recorder's settings for one phase: home, first working directory, canary files.
pub fn recorder_config(header: &TraceHeader, project: &str, phase: &str) -> RecorderConfig {
    let mut cfg = RecorderConfig::new(phase);
    cfg.home = header.home.clone();
    cfg.initial_cwd = Some(project.into());
    for c in &header.canaries {
        if let Some(p) = c.location.strip_prefix("file:") {
            cfg.canaries.insert(p.to_string(), c.id.clone());
        }
    }
    cfg
}

/// The eBPF recorder's events of one phase (airlock_bpf), bounded like strace's, with
/// its losses and the phase's kills as gaps.
pub fn record_kernel(
    kernel: &airlock_bpf::Session,
    outcome: &PhaseResult,
    phase: &str,
    events: &mut Vec<Event>,
    gaps: &mut Vec<String>,
) -> Result<(), EngineError> {
    let taken = kernel
        .end_phase(phase)
        .map_err(|e| EngineError::Sandbox(Box::new(e)))?;
    let mut got = airlock_bpf::phase_events(taken, phase, MAX_EVENTS_PER_PHASE);
    got.events.retain(|e| !is_faketime_file(&e.kind));
    events.extend(got.events);
    gaps.extend(got.gaps);
    for (_, detail) in outcome
        .limits_hit
        .iter()
        .filter(|(l, _)| matches!(l.as_str(), "oom" | "killed"))
    {
        gaps.push(format!("{phase}: {detail}"));
    }
    Ok(())
}

/// libfaketime's shared-memory files (our clock speed-up, not the package's doing).
pub fn is_faketime_file(kind: &EventKind) -> bool {
    let path = match kind {
        EventKind::FsChange { path, .. }
        | EventKind::FileOpen { path, .. }
        | EventKind::FileUnlink { path, .. } => path,
        _ => return false,
    };
    is_faketime_path(path)
}

/// libfaketime's own shared-memory files (never hashed, never in the trace).
pub fn is_faketime_path(path: &str) -> bool {
    path.starts_with("/dev/shm/faketime_shm_") || path.starts_with("/dev/shm/sem.faketime_sem_")
}
