//! A capped, redacted, one-line-per-event timeline of a trace, for the HTML report. Kept
//! out of [`crate::Report`] so the JSON report stays small; built from the same events.

use airlock_events::{Event, EventKind, Outcome, TraceHeader};
use serde::{Deserialize, Serialize};

use crate::text::{join_argv, truncate, Redactor};

/// Events shown in a timeline unless the caller asks otherwise.
pub const DEFAULT_TIMELINE_CAP: usize = 2000;

/// Characters of one summary line.
const SUMMARY_CHARS: usize = 240;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Timeline {
    pub entries: Vec<TimelineEntry>,
    /// Events in the trace.
    pub total: u64,
    /// Events left out by the cap.
    pub omitted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub seq: u64,
    /// Milliseconds since the run started.
    pub t_ms: i64,
    pub phase: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `exe[pid]` of the process, when attributed.
    pub process: Option<String>,
    pub lifecycle: Option<String>,
    pub summary: String,
}

impl Timeline {
    /// The first `cap` events, summarised, with canary values replaced.
    pub fn build<'e>(
        header: &TraceHeader,
        events: impl IntoIterator<Item = &'e Event>,
        cap: usize,
    ) -> Timeline {
        let mut b = TimelineBuilder::new(header, cap);
        for ev in events {
            b.event(ev);
        }
        b.finish()
    }
}

/// Builds a [`Timeline`] one event at a time, for callers that stream a trace.
pub struct TimelineBuilder {
    redact: Redactor,
    started_at: f64,
    cap: usize,
    t: Timeline,
}

impl TimelineBuilder {
    pub fn new(header: &TraceHeader, cap: usize) -> TimelineBuilder {
        TimelineBuilder {
            redact: Redactor::new(&header.canaries),
            started_at: header.started_at,
            cap,
            t: Timeline::default(),
        }
    }

    /// Adds the next event (in trace order); past the cap it is only counted.
    pub fn event(&mut self, ev: &Event) {
        let (t, redact) = (&mut self.t, &self.redact);
        t.total += 1;
        if t.entries.len() >= self.cap {
            t.omitted += 1;
            return;
        }
        t.entries.push(TimelineEntry {
            seq: ev.seq,
            t_ms: ((ev.ts - self.started_at) * 1000.0).round() as i64,
            phase: ev.phase.clone(),
            event_type: ev.kind.type_name().to_string(),
            process: ev
                .proc
                .as_ref()
                .map(|p| format!("{}[{}]", redact.apply(&p.exe), p.pid)),
            lifecycle: ev.proc.as_ref().and_then(|p| p.lifecycle.clone()),
            summary: truncate(&redact.own(&summarize_event(&ev.kind)), SUMMARY_CHARS),
        });
    }

    pub fn finish(self) -> Timeline {
        self.t
    }
}

fn oc(o: &Outcome) -> String {
    match o {
        Outcome::Ok => String::new(),
        Outcome::Err(e) => format!(" = {e}"),
        Outcome::Unknown => " = ?".into(),
    }
}

/// One line a human can check, e.g. `connect 198.18.0.7:443 (evil.example)`. Not
/// redacted and not cut: callers do both.
pub fn summarize_event(kind: &EventKind) -> String {
    match kind {
        EventKind::PhaseStart { name, command } => {
            format!("phase {name} starts: {}", join_argv(command))
        }
        EventKind::PhaseEnd {
            name,
            status,
            exit_code,
            duration_ms,
            ..
        } => {
            let code = exit_code.map(|c| format!(", exit {c}")).unwrap_or_default();
            format!("phase {name} ends: {status}{code} after {duration_ms} ms")
        }
        EventKind::LimitHit { limit, detail } => format!("limit hit: {limit} ({detail})"),
        EventKind::ProcessStart { pid, ppid } => format!("process {pid} started by {ppid}"),
        EventKind::ProcessExec {
            path,
            argv,
            outcome,
            ..
        } => {
            format!("exec {path}: {}{}", join_argv(argv), oc(outcome))
        }
        EventKind::ProcessExit { code, signal } => match (code, signal) {
            (_, Some(s)) => format!("killed by {s}"),
            (Some(c), None) => format!("exit {c}"),
            (None, None) => "exit".into(),
        },
        EventKind::ProcessAccess {
            target_pid,
            how,
            outcome,
        } => {
            format!("access process {target_pid} via {how}{}", oc(outcome))
        }
        EventKind::FileOpen {
            path,
            flags,
            outcome,
            ..
        } => {
            format!("open {path} {flags}{}", oc(outcome))
        }
        EventKind::FileWrite { path, bytes } => format!("write {bytes} bytes to {path}"),
        EventKind::FileUnlink { path, outcome } => format!("unlink {path}{}", oc(outcome)),
        EventKind::FileRename { from, to, outcome } => {
            format!("rename {from} → {to}{}", oc(outcome))
        }
        EventKind::FileChmod {
            path,
            mode,
            outcome,
        } => {
            format!("chmod {mode:o} {path}{}", oc(outcome))
        }
        EventKind::FileSymlink {
            target,
            link,
            outcome,
        } => {
            format!("symlink {link} → {target}{}", oc(outcome))
        }
        EventKind::FileMkdir { path, outcome } => format!("mkdir {path}{}", oc(outcome)),
        EventKind::FsChange {
            path, change, size, ..
        } => {
            let size = size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
            format!("{change:?} {path}{size}").to_lowercase_first()
        }
        EventKind::NetSocket {
            family,
            socktype,
            outcome,
        } => {
            format!("socket {family} {socktype}{}", oc(outcome))
        }
        EventKind::NetConnect {
            addr,
            port,
            name,
            outcome,
            ..
        } => {
            let name = name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
            format!("connect {addr}:{port}{name}{}", oc(outcome))
        }
        EventKind::NetBind {
            addr,
            port,
            outcome,
            ..
        } => {
            format!("bind {addr}:{port}{}", oc(outcome))
        }
        EventKind::NetListen { fd } => format!("listen on fd {fd}"),
        EventKind::NetSendto {
            addr,
            port,
            bytes,
            dns,
            ..
        } => match dns {
            Some(q) => format!("DNS {} {} via {addr}:{port}", q.qtype, q.name),
            None => format!("sendto {addr}:{port} {bytes} bytes"),
        },
        EventKind::NetSocketDup { socket, target_fd } => {
            format!("dup socket {socket} onto fd {target_fd}")
        }
        EventKind::DnsQuery {
            name,
            qtype,
            answers,
            ..
        } => {
            if answers.is_empty() {
                format!("DNS {qtype} {name}")
            } else {
                format!("DNS {qtype} {name} → {}", answers.join(", "))
            }
        }
        EventKind::NetConnection {
            dst_addr,
            dst_port,
            name,
            protocol,
            bytes_sent,
            ..
        } => {
            let name = name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
            format!("{protocol} connection to {dst_addr}:{dst_port}{name}, {bytes_sent} bytes sent")
        }
        EventKind::TlsHandshake { sni, ok, error, .. } => {
            let sni = sni.as_deref().unwrap_or("(no SNI)");
            match (ok, error) {
                (true, _) => format!("TLS handshake {sni}"),
                (false, Some(e)) => format!("TLS handshake {sni} failed: {e}"),
                (false, None) => format!("TLS handshake {sni} failed"),
            }
        }
        EventKind::HttpRequest {
            method,
            url,
            body_bytes,
            response_status,
            ..
        } => {
            format!("{method} {url} ({body_bytes} bytes) → {response_status}")
        }
        EventKind::NetData {
            dst_addr,
            dst_port,
            printable,
            bytes,
            ..
        } => {
            format!(
                "{bytes} bytes to {dst_addr}:{dst_port}: {}",
                truncate(printable, 80)
            )
        }
        EventKind::SecretRead {
            canary_id,
            path,
            via,
        } => match canary_id {
            Some(id) => format!("read secret {path} via {via} (canary {id})"),
            None => format!("read secret {path} via {via}"),
        },
        EventKind::CanaryLeaked {
            canary_id,
            encoding,
            destination,
            ..
        } => {
            format!("canary {canary_id} leaked ({encoding}) to {destination}")
        }
        EventKind::Probe { what, path } => format!("probe {what}: {path}"),
        EventKind::Hook {
            runtime,
            event,
            args,
        } => {
            format!(
                "{runtime} hook {event} {}",
                truncate(&args.to_string(), 120)
            )
        }
        EventKind::StaticSignal {
            signal,
            file,
            line,
            detail,
            ..
        } => {
            let line = line.map(|l| format!(":{l}")).unwrap_or_default();
            format!("static {signal} in {file}{line}: {detail}")
        }
        EventKind::Note { message } => format!("note: {message}"),
    }
}

trait LowerFirst {
    fn to_lowercase_first(self) -> String;
}

impl LowerFirst for String {
    fn to_lowercase_first(self) -> String {
        let mut c = self.chars();
        match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect(),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use airlock_events::{Canary, PackageRef, ProcRef, Source};

    use super::*;

    fn header(value: &str) -> TraceHeader {
        TraceHeader {
            schema_version: 1,
            run_id: "r".into(),
            started_at: 100.0,
            package: PackageRef::default(),
            tool_version: "t".into(),
            image: None,
            persona: None,
            home: None,
            package_dir: None,
            canaries: vec![Canary {
                id: "tok".into(),
                kind: "npm_token".into(),
                location: "env:NPM_TOKEN".into(),
                value: value.into(),
            }],
            notes: Default::default(),
        }
    }

    #[test]
    fn caps_offsets_and_redacts() {
        let h = header("npm_ABCDEF123");
        let events: Vec<Event> = (0..5)
            .map(|i| {
                let mut e = Event::new(
                    100.5 + i as f64,
                    "install",
                    Source::Strace,
                    EventKind::ProcessExec {
                        path: "/usr/bin/curl".into(),
                        argv: vec!["curl".into(), "-d".into(), "npm_ABCDEF123".into()],
                        cwd: None,
                        env: Default::default(),
                        env_count: 0,
                        outcome: Outcome::Ok,
                    },
                )
                .with_proc(ProcRef {
                    pid: 7,
                    exe: "curl".into(),
                    ..Default::default()
                });
                e.seq = i;
                e
            })
            .collect();
        let t = Timeline::build(&h, &events, 3);
        assert_eq!((t.total, t.omitted, t.entries.len()), (5, 2, 3));
        assert_eq!(t.entries[1].t_ms, 1500);
        assert_eq!(
            t.entries[0].summary,
            "exec /usr/bin/curl: curl -d [canary:tok]"
        );
        assert_eq!(t.entries[0].process.as_deref(), Some("curl[7]"));
    }

    #[test]
    fn fs_change_summary_reads_naturally() {
        let s = summarize_event(&EventKind::FsChange {
            path: "/home/u/.bashrc".into(),
            change: airlock_events::FsChangeKind::Modified,
            sha256: None,
            size: Some(12),
            mode: None,
            in_package: false,
        });
        assert_eq!(s, "modified /home/u/.bashrc (12 bytes)");
    }
}
