//! Folding one event at a time into the [`Builder`]'s state: phases, processes, notable
//! commands, DNS, connections, HTTP, TLS, canaries, files and limits, each list capped.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use airlock_events::{Event, EventKind, FsChangeKind, Outcome, ProcRef};

use crate::text::{basename, join_argv, truncate, Redactor};

use super::*;

impl Builder<'_> {
    pub(super) fn event(&mut self, ev: &Event) {
        self.events += 1;
        if self.wanted.contains(&ev.seq) {
            if let Some((path, line)) = ev.kind.file() {
                self.found.insert(ev.seq, (self.redact.own(path), line));
            }
        }
        if let Some(p) = &ev.proc {
            self.touch_proc(p, &ev.phase);
        }
        if self.list_full(&ev.kind) {
            return;
        }
        let r = &self.redact;
        match &ev.kind {
            EventKind::PhaseStart { name, command } => {
                self.phase_commands.insert(join_argv(command));
                self.phases.push(PhaseSummary {
                    name: name.clone(),
                    status: PhaseState::Unfinished,
                    exit_code: None,
                    duration_ms: None,
                    command: command.iter().map(|c| r.own(c)).collect(),
                    output_tail: String::new(),
                    output_bytes: 0,
                });
            }
            EventKind::PhaseEnd {
                name,
                status,
                exit_code,
                duration_ms,
                output_tail,
                output_bytes,
            } => {
                let tail = r.own(output_tail);
                let existing = self
                    .phases
                    .iter_mut()
                    .rev()
                    .find(|p| &p.name == name && p.status == PhaseState::Unfinished);
                let summary = PhaseSummary {
                    name: name.clone(),
                    status: (*status).into(),
                    exit_code: *exit_code,
                    duration_ms: Some(*duration_ms),
                    command: existing
                        .as_ref()
                        .map(|p| p.command.clone())
                        .unwrap_or_default(),
                    output_tail: tail,
                    output_bytes: *output_bytes,
                };
                match existing {
                    Some(p) => *p = summary,
                    None => self.phases.push(summary),
                }
            }
            EventKind::LimitHit { limit, detail } => self.limits.push(LimitSummary {
                seq: ev.seq,
                phase: ev.phase.clone(),
                limit: limit.clone(),
                detail: r.own(detail),
            }),
            EventKind::ProcessStart { pid, ppid } => self.start_proc(*pid, *ppid, &ev.phase),
            EventKind::ProcessExec {
                path,
                argv,
                outcome,
                ..
            } => {
                if let Some(p) = &ev.proc {
                    if !matches!(outcome, Outcome::Err(_)) {
                        self.exec_proc(ev, p, path, argv);
                    }
                }
            }
            EventKind::ProcessExit { code, signal } => {
                if let Some(i) = ev.proc.as_ref().and_then(|p| self.proc_index.get(&p.pid)) {
                    let i = *i;
                    if let Some(n) = self.procs.get_mut(i) {
                        n.exit_code = *code;
                        n.signal = signal.clone();
                    }
                    self.exited.insert(i);
                }
            }
            EventKind::FileOpen {
                path,
                write: true,
                outcome: Outcome::Ok,
                ..
            }
            | EventKind::FileWrite { path, .. } => {
                self.written_paths.insert(path_hash(path));
            }
            EventKind::FsChange {
                path,
                change,
                sha256,
                size,
                in_package,
                ..
            } => {
                if *change != FsChangeKind::Deleted {
                    self.written_paths.insert(path_hash(path));
                }
                if !in_package {
                    if self.files.len() < MAX_FILES {
                        self.files.push(FileChange {
                            path: r.own(path),
                            change: *change,
                            sha256: sha256.clone(),
                            size: *size,
                            phase: ev.phase.clone(),
                        });
                    } else {
                        self.files_omitted += 1;
                    }
                }
            }
            EventKind::NetConnect {
                family,
                addr,
                port,
                name,
                outcome,
            } if family == "AF_INET" || family == "AF_INET6" => {
                let key = (addr.clone(), *port);
                if let Some(&i) = self.attempt_index.get(&key) {
                    if let Some(a) = self.network.connect_attempts.get_mut(i) {
                        a.count += 1;
                    }
                } else if self.network.connect_attempts.len() < MAX_NETWORK_ITEMS {
                    let process = ev.proc.as_ref().map(|p| proc_label(r, p));
                    self.attempt_index
                        .insert(key, self.network.connect_attempts.len());
                    self.network.connect_attempts.push(ConnectAttempt {
                        family: family.clone(),
                        addr: addr.clone(),
                        port: *port,
                        name: name.as_deref().map(|n| r.own(n)),
                        outcome: outcome_str(outcome),
                        count: 1,
                        process,
                    });
                } else {
                    *self.network_omitted.entry("connect attempts").or_default() += 1;
                }
            }
            EventKind::NetSendto { dns: Some(q), .. } => {
                self.syscall_dns_queries += 1;
                let (name, qtype) = (r.own(&q.name), q.qtype.clone());
                add_dns(
                    &mut self.syscall_dns,
                    &mut self.syscall_dns_index,
                    name,
                    qtype,
                    &[],
                    None,
                    &mut self.network_omitted,
                );
            }
            EventKind::DnsQuery {
                name,
                qtype,
                answers,
                rcode,
            } => {
                self.dns_sink_queries += 1;
                add_dns(
                    &mut self.dns,
                    &mut self.dns_index,
                    r.own(name),
                    qtype.clone(),
                    answers,
                    rcode.clone(),
                    &mut self.network_omitted,
                );
            }
            EventKind::NetConnection {
                conn_id,
                dst_addr,
                dst_port,
                name,
                protocol,
                bytes_sent,
                bytes_received,
                end,
                ..
            } => {
                self.connections_total += 1;
                if self.network.connections.len() < MAX_NETWORK_ITEMS {
                    self.network.connections.push(ConnectionEntry {
                        conn_id: *conn_id,
                        addr: dst_addr.clone(),
                        port: *dst_port,
                        name: name.as_deref().map(|n| r.own(n)),
                        protocol: protocol.clone(),
                        bytes_sent: *bytes_sent,
                        bytes_received: *bytes_received,
                        end: end.clone(),
                    });
                } else {
                    *self.network_omitted.entry("connections").or_default() += 1;
                }
            }
            EventKind::TlsHandshake {
                conn_id,
                sni,
                alpn,
                ok,
                error,
            } => {
                if self.network.tls.len() < MAX_NETWORK_ITEMS {
                    self.network.tls.push(TlsEntry {
                        conn_id: *conn_id,
                        sni: sni.as_deref().map(|s| r.own(s)),
                        alpn: alpn.clone(),
                        ok: *ok,
                        error: error.clone(),
                    });
                } else {
                    *self.network_omitted.entry("TLS handshakes").or_default() += 1;
                }
            }
            EventKind::HttpRequest {
                conn_id,
                method,
                url,
                host,
                headers,
                body,
                body_bytes,
                tls,
                response_status,
                ..
            } => {
                self.http_total += 1;
                if self.network.http.len() < MAX_NETWORK_ITEMS {
                    // Judge the cut on the captured bytes, before redaction changes lengths.
                    let body_truncated = body.chars().count() > BODY_PREVIEW_CHARS
                        || (body.len() as u64) < *body_bytes;
                    let preview = truncate(&r.own(body), BODY_PREVIEW_CHARS);
                    self.network.http.push(HttpEntry {
                        seq: ev.seq,
                        conn_id: *conn_id,
                        method: r.own(method),
                        url: r.own(url),
                        host: r.own(host),
                        status: *response_status,
                        tls: *tls,
                        headers: headers.iter().map(|(k, v)| (r.own(k), r.own(v))).collect(),
                        body_bytes: *body_bytes,
                        body_preview: preview,
                        body_truncated,
                    });
                } else {
                    *self.network_omitted.entry("HTTP requests").or_default() += 1;
                }
            }
            EventKind::NetData {
                conn_id,
                dst_addr,
                dst_port,
                printable,
                bytes,
                ..
            } => {
                if self.network.raw.len() < MAX_NETWORK_ITEMS {
                    self.network.raw.push(RawEntry {
                        conn_id: *conn_id,
                        addr: dst_addr.clone(),
                        port: *dst_port,
                        bytes: *bytes,
                        preview: truncate(&r.own(printable), 256),
                    });
                } else {
                    *self.network_omitted.entry("raw data records").or_default() += 1;
                }
            }
            EventKind::SecretRead {
                canary_id,
                path,
                via,
            } => {
                if self.canaries.read.len() < MAX_CANARY_READS {
                    self.canaries.read.push(CanaryRead {
                        seq: ev.seq,
                        canary_id: canary_id.clone(),
                        path: r.own(path),
                        via: via.clone(),
                        process: ev.proc.as_ref().map(|p| proc_label(r, p)),
                    });
                } else {
                    self.canary_reads_omitted += 1;
                }
            }
            EventKind::CanaryLeaked {
                canary_id,
                kind,
                encoding,
                destination,
                carrier_seq,
            } => {
                self.canaries.leaked.push(LeakedCanary {
                    seq: ev.seq,
                    canary_id: canary_id.clone(),
                    kind: kind.clone(),
                    encoding: encoding.clone(),
                    destination: r.own(destination),
                    carrier_seq: *carrier_seq,
                });
            }
            EventKind::Note { message } => self.notes.push(r.own(message)),
            _ => {}
        }
    }

    /// Counts a process past [`MAX_TRACKED_PROCESSES`] (once per pid).
    fn untracked(&mut self, pid: u32) {
        if self.untracked_pids.insert(pid) {
            self.procs_untracked += 1;
        }
    }

    /// Whether the capped list this event would join is full (it is then counted).
    fn list_full(&mut self, kind: &EventKind) -> bool {
        let (len, what) = match kind {
            EventKind::LimitHit { .. } => (self.limits.len(), "limit hits"),
            EventKind::Note { .. } => (self.notes.len(), "trace notes"),
            EventKind::CanaryLeaked { .. } => (self.canaries.leaked.len(), "leaked canaries"),
            _ => return false,
        };
        if len < MAX_LIST_ITEMS {
            return false;
        }
        *self.lists_omitted.entry(what).or_default() += 1;
        true
    }

    /// Makes sure the process an event is attributed to has a node.
    fn touch_proc(&mut self, p: &ProcRef, phase: &str) {
        let idx = match self.proc_index.get(&p.pid) {
            Some(&i) => i,
            None if self.procs.len() >= MAX_TRACKED_PROCESSES => {
                self.untracked(p.pid);
                return;
            }
            None => {
                let argv = p
                    .chain
                    .last()
                    .map(|c| self.redact.own(c))
                    .unwrap_or_default();
                self.new_proc(
                    p.pid,
                    p.ppid,
                    self.redact.own(&p.exe),
                    truncate(&argv, ARGV_CHARS),
                    phase,
                )
            }
        };
        if let Some(n) = self.procs.get_mut(idx) {
            if n.lifecycle.is_none() {
                n.lifecycle = p.lifecycle.clone();
            }
            if n.ppid.is_none() {
                n.ppid = p.ppid;
            }
            if n.exe.is_empty() {
                n.exe = self.redact.own(&p.exe);
            }
        }
    }

    fn new_proc(
        &mut self,
        pid: u32,
        ppid: Option<u32>,
        exe: String,
        argv: String,
        phase: &str,
    ) -> usize {
        let parent = ppid
            .and_then(|pp| self.proc_index.get(&pp))
            .and_then(|&i| self.procs.get(i));
        let lifecycle = parent.and_then(|p| p.lifecycle.clone());
        let (exe, argv) = match parent {
            Some(p) if exe.is_empty() => (
                p.exe.clone(),
                if argv.is_empty() {
                    p.argv.clone()
                } else {
                    argv
                },
            ),
            _ => (exe, argv),
        };
        let i = self.procs.len();
        self.procs.push(ProcessNode {
            pid,
            ppid,
            exe,
            argv,
            lifecycle,
            phase: phase.to_string(),
            exit_code: None,
            signal: None,
            children: Vec::new(),
        });
        self.proc_index.insert(pid, i);
        i
    }

    fn start_proc(&mut self, pid: u32, ppid: u32, phase: &str) {
        match self.proc_index.get(&pid) {
            // Seen before (an event of the child came first): just learn the parent.
            Some(&i) if !self.exited.contains(&i) => {
                if let Some(n) = self.procs.get_mut(i) {
                    n.ppid = Some(ppid);
                }
            }
            _ if self.procs.len() >= MAX_TRACKED_PROCESSES => self.untracked(pid),
            // New, or a pid reused after its previous owner exited.
            _ => {
                self.new_proc(pid, Some(ppid), String::new(), String::new(), phase);
            }
        }
    }

    fn exec_proc(&mut self, ev: &Event, p: &ProcRef, path: &str, argv: &[String]) {
        let command = truncate(&self.redact.own(&join_argv(argv)), ARGV_CHARS);
        if let Some(n) = self
            .proc_index
            .get(&p.pid)
            .and_then(|&i| self.procs.get_mut(i))
        {
            n.exe = self.redact.own(basename(path));
            n.argv = command.clone();
        }
        let harness = self.phase_commands.contains(&join_argv(argv));
        if !harness && (p.lifecycle.is_some() || ev.phase == "import") {
            if let Some(&i) = self.notable_index.get(&command) {
                if let Some(c) = self.notable.get_mut(i) {
                    c.count += 1;
                }
            } else if self.notable.len() < MAX_NOTABLE_COMMANDS {
                self.notable_index
                    .insert(command.clone(), self.notable.len());
                self.notable.push(NotableCommand {
                    command,
                    lifecycle: p.lifecycle.clone(),
                    phase: ev.phase.clone(),
                    count: 1,
                    seq: ev.seq,
                });
            } else {
                self.notable_omitted += 1;
            }
        }
    }
}

fn add_dns(
    list: &mut Vec<DnsEntry>,
    index: &mut HashMap<(String, String), usize>,
    name: String,
    qtype: String,
    answers: &[String],
    rcode: Option<String>,
    omitted: &mut BTreeMap<&'static str, u64>,
) {
    let key = (name.to_ascii_lowercase(), qtype.clone());
    if let Some(&i) = index.get(&key) {
        if let Some(d) = list.get_mut(i) {
            d.count += 1;
            for a in answers {
                if !d.answers.contains(a) {
                    d.answers.push(a.clone());
                }
            }
        }
    } else if list.len() < MAX_NETWORK_ITEMS {
        index.insert(key, list.len());
        list.push(DnsEntry {
            name,
            qtype,
            answers: answers.to_vec(),
            rcode,
            count: 1,
        });
    } else {
        *omitted.entry("DNS names").or_default() += 1;
    }
}

/// A written path's fingerprint: only the number of distinct paths is reported, so the
/// paths themselves are not kept.
fn path_hash(path: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// `a → b → c`, or `exe [pid]` when the chain is unknown.
fn proc_label(r: &Redactor, p: &ProcRef) -> String {
    if p.chain.is_empty() {
        format!("{} [{}]", r.apply(&p.exe), p.pid)
    } else {
        r.own(&p.chain.join(" → "))
    }
}

fn outcome_str(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Err(e) => e.clone(),
        Outcome::Unknown => "unknown".into(),
    }
}
