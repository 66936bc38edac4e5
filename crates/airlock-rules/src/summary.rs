//! One-line human summaries of events, used as finding evidence so a reader can check a
//! finding in seconds without opening the trace.

use airlock_events::{Event, EventKind};

fn cut(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A one-line description of what the event shows.
pub fn summarize(ev: &Event) -> String {
    let out = |o: &airlock_events::Outcome| match o {
        airlock_events::Outcome::Ok => String::new(),
        airlock_events::Outcome::Err(e) => format!(" = {e}"),
        airlock_events::Outcome::Unknown => " = ?".to_string(),
    };
    match &ev.kind {
        EventKind::PhaseStart { name, command } => {
            format!("phase {name} started: {}", cut(&command.join(" "), 120))
        }
        EventKind::PhaseEnd {
            name,
            status,
            exit_code,
            ..
        } => match exit_code {
            Some(c) => format!("phase {name} ended: {status} (exit {c})"),
            None => format!("phase {name} ended: {status}"),
        },
        EventKind::LimitHit { limit, detail } => format!("limit hit: {limit} ({detail})"),
        EventKind::ProcessStart { pid, ppid } => format!("process {pid} started by {ppid}"),
        EventKind::ProcessExec {
            path,
            argv,
            outcome,
            ..
        } => {
            format!("exec {path}: {}{}", cut(&argv.join(" "), 200), out(outcome))
        }
        EventKind::ProcessExit { code, signal } => match (code, signal) {
            (_, Some(s)) => format!("exit by signal {s}"),
            (Some(c), None) => format!("exit {c}"),
            _ => "exit".into(),
        },
        EventKind::ProcessAccess {
            target_pid,
            how,
            outcome,
        } => {
            format!("access process {target_pid} via {how}{}", out(outcome))
        }
        EventKind::FileOpen {
            path,
            flags,
            outcome,
            ..
        } => format!("open {path} ({flags}){}", out(outcome)),
        EventKind::FileWrite { path, bytes } => format!("write {bytes} bytes to {path}"),
        EventKind::FileUnlink { path, outcome } => format!("delete {path}{}", out(outcome)),
        EventKind::FileRename { from, to, outcome } => {
            format!("rename {from} → {to}{}", out(outcome))
        }
        EventKind::FileChmod {
            path,
            mode,
            outcome,
        } => format!("chmod {mode:o} {path}{}", out(outcome)),
        EventKind::FileSymlink {
            target,
            link,
            outcome,
        } => format!("symlink {link} → {target}{}", out(outcome)),
        EventKind::FileMkdir { path, outcome } => format!("mkdir {path}{}", out(outcome)),
        EventKind::FsChange { path, change, .. } => format!("{change:?} {path}").to_lowercase(),
        EventKind::NetSocket {
            family, socktype, ..
        } => format!("socket {family} {socktype}"),
        EventKind::NetConnect {
            addr,
            port,
            name,
            outcome,
            ..
        } => match name {
            Some(n) => format!("connect {addr}:{port} ({n}){}", out(outcome)),
            None => format!("connect {addr}:{port}{}", out(outcome)),
        },
        EventKind::NetBind { addr, port, .. } => format!("bind {addr}:{port}"),
        EventKind::NetListen { fd } => format!("listen on fd {fd}"),
        EventKind::NetSendto {
            addr,
            port,
            bytes,
            dns,
            ..
        } => match dns {
            Some(q) => format!("DNS {} {} via {addr}:{port}", q.qtype, q.name),
            None => format!("send {bytes} bytes to {addr}:{port}"),
        },
        EventKind::NetSocketDup { socket, target_fd } => {
            format!("dup socket {socket} onto fd {target_fd}")
        }
        EventKind::DnsQuery { name, qtype, .. } => format!("DNS query {qtype} {name}"),
        EventKind::NetConnection {
            dst_addr,
            dst_port,
            name,
            protocol,
            bytes_sent,
            ..
        } => format!(
            "{protocol} connection to {dst_addr}:{dst_port}{} ({bytes_sent} bytes sent)",
            name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
        ),
        EventKind::TlsHandshake { sni, .. } => {
            format!("TLS handshake, SNI {}", sni.as_deref().unwrap_or("-"))
        }
        EventKind::HttpRequest {
            method,
            url,
            body,
            body_bytes,
            ..
        } => {
            if body.is_empty() {
                format!("{method} {}", cut(url, 200))
            } else {
                format!(
                    "{method} {} ({body_bytes} bytes: {})",
                    cut(url, 160),
                    cut(body, 80)
                )
            }
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
                cut(printable, 100)
            )
        }
        EventKind::SecretRead {
            canary_id,
            path,
            via,
        } => match canary_id {
            Some(c) => format!("read secret {path} (canary {c}) via {via}"),
            None => format!("read secret {path} via {via}"),
        },
        EventKind::CanaryLeaked {
            canary_id,
            kind,
            encoding,
            destination,
            ..
        } => {
            format!("canary {canary_id} ({kind}) sent {encoding} to {destination}")
        }
        EventKind::Probe { what, path } => format!("probe {what}: {path}"),
        EventKind::Hook {
            runtime,
            event,
            args,
        } => {
            format!("{runtime} hook {event} {}", cut(&args.to_string(), 160))
        }
        EventKind::StaticSignal {
            signal,
            file,
            line,
            detail,
            ..
        } => match line {
            Some(l) => format!("static {signal} at {file}:{l}: {}", cut(detail, 120)),
            None => format!("static {signal} in {file}: {}", cut(detail, 120)),
        },
        EventKind::Note { message } => cut(message, 200),
    }
}
