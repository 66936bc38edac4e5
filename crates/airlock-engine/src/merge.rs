//! The other producers' events, merged into the recorder's: the in-process hooks' lines
//! (attributed to the process strace saw with that pid and to the phase their time falls
//! in, their sped-up clock undone) and the network sink's record (each event in the
//! phase its time falls in, connections named by the DNS answers that led to them).

use std::path::Path;

use airlock_events::{Event, EventKind, Source};

use crate::sandbox::Sandbox;

/// Where the hooks write (a FIFO) and where its root reader keeps the lines.
pub const HOOK_FIFO: &str = "/run/log/dev-log";
pub const HOOK_LOG: &str = "/run/log/journal/hooks.jsonl";

/// Reads the hook lines, attributes each to the process strace saw with that pid, and
/// to the phase its time falls in. Hooks are a second opinion: losing them loses no
/// strace evidence, so failures are logged, not fatal.
///
/// Hooks stamp lines with the package's clock, which libfaketime runs `speedup` times
/// faster from the start of the phase; that is undone here.
pub async fn collect_hooks<S: Sandbox>(
    sandbox: &S,
    work: &Path,
    events: &mut Vec<Event>,
    speedup: u32,
) {
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
    // pid → when the tracer first saw it act: a hook line of that process cannot be older.
    // (Each process's sped-up clock starts with the process, not with the phase, so
    // undoing the speed-up from the phase start places a late child's lines too early —
    // before its own exec, where attribution would take them for its parent's.)
    let mut first_seen: std::collections::HashMap<u32, f64> = Default::default();
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
        if let (Some(p), Source::Strace | Source::Ebpf) = (&e.proc, e.source) {
            let first = first_seen.entry(p.pid).or_insert(e.ts);
            if e.ts < *first {
                *first = e.ts;
            }
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
        let mut ts = real(phase.1).min(phase.2);
        if let Some(first) = first_seen.get(&rec.pid) {
            if known.is_some() && ts <= *first {
                ts = *first + 1e-6;
            }
        }
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

/// Adds the sink's record to the trace: each event gets the phase its time falls in, and
/// `net.connect` events to the sink's fake addresses get the name that resolved to them.
pub fn merge_sink_events(file: &Path, events: &mut Vec<Event>, gaps: &mut Vec<String>) {
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
