//! What each traced call becomes: the dispatch from a syscall's name and arguments to
//! the events of the module doc, with the exec, open, probe and datagram cases.

use std::collections::BTreeMap;

use airlock_events::{Event, EventKind, Outcome};

use crate::dns;
use crate::lexer::Value;

use super::*;

impl Recorder {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dispatch(
        &mut self,
        name: &str,
        tgid: u32,
        ts: f64,
        args: &[Value],
        ret: &Ret,
        text: &str,
        out: &mut Vec<Event>,
    ) {
        let s = |i: usize| args.get(i).and_then(Value::text).unwrap_or_default();
        match name {
            "execve" => self.exec(
                tgid,
                ts,
                None,
                args.first(),
                args.get(1),
                args.get(2),
                ret,
                out,
            ),
            "execveat" => self.exec(
                tgid,
                ts,
                args.first(),
                args.get(1),
                args.get(2),
                args.get(3),
                ret,
                out,
            ),
            "fork" | "vfork" | "clone" | "clone3" => {
                if let Some(child) = ret
                    .num
                    .filter(|n| *n > 0)
                    .and_then(|n| u32::try_from(n).ok())
                {
                    if self.procs.contains_key(&child) || self.thread_of.contains_key(&child) {
                        return; // adopted earlier, when the child spoke first
                    }
                    if text.contains("CLONE_THREAD") {
                        self.thread_of.insert(child, tgid);
                    } else {
                        self.spawn(tgid, child, ts, out);
                    }
                }
            }
            "chdir" if ret.outcome.is_ok() => {
                let p = self.resolve(tgid, None, &s(0));
                if let Some(proc) = self.procs.get_mut(&tgid) {
                    proc.cwd = Some(p);
                }
            }
            "fchdir" if ret.outcome.is_ok() => {
                if let Some(a) = args
                    .first()
                    .and_then(Value::annotation)
                    .filter(|a| a.starts_with('/'))
                {
                    let a = a.to_string();
                    if let Some(proc) = self.procs.get_mut(&tgid) {
                        proc.cwd = Some(a);
                    }
                }
            }
            "open" => self.open(tgid, ts, None, &s(0), &s(1), ret, out),
            "creat" => self.open(tgid, ts, None, &s(0), "O_WRONLY|O_CREAT|O_TRUNC", ret, out),
            "openat" => self.open(tgid, ts, args.first(), &s(1), &s(2), ret, out),
            "openat2" => {
                let flags = args
                    .get(2)
                    .and_then(|v| v.field("flags"))
                    .and_then(Value::text)
                    .unwrap_or_default();
                self.open(tgid, ts, args.first(), &s(1), &flags, ret, out)
            }
            "access" => self.probe(tgid, ts, None, &s(0), out),
            "faccessat" | "faccessat2" => self.probe(tgid, ts, args.first(), &s(1), out),
            "unlink" => {
                let path = self.resolve(tgid, None, &s(0));
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileUnlink {
                        path,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "unlinkat" => {
                let path = self.resolve(tgid, args.first(), &s(1));
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileUnlink {
                        path,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "rename" => {
                let from = self.resolve(tgid, None, &s(0));
                let to = self.resolve(tgid, None, &s(1));
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileRename {
                        from,
                        to,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "renameat" | "renameat2" => {
                let from = self.resolve(tgid, args.first(), &s(1));
                let to = self.resolve(tgid, args.get(2), &s(3));
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileRename {
                        from,
                        to,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "chmod" | "fchmodat" | "fchmod" => {
                let (path, mode) = match name {
                    "chmod" => (self.resolve(tgid, None, &s(0)), args.get(1)),
                    "fchmodat" => (self.resolve(tgid, args.first(), &s(1)), args.get(2)),
                    _ => (
                        args.first()
                            .and_then(Value::annotation)
                            .map(str::to_string)
                            .unwrap_or_else(|| s(0)),
                        args.get(1),
                    ),
                };
                let mode = mode
                    .and_then(Value::int)
                    .and_then(|m| u32::try_from(m).ok())
                    .unwrap_or(0);
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileChmod {
                        path,
                        mode,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "symlink" | "symlinkat" => {
                let target = s(0);
                let link = if name == "symlink" {
                    self.resolve(tgid, None, &s(1))
                } else {
                    self.resolve(tgid, args.get(1), &s(2))
                };
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileSymlink {
                        target,
                        link,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "mkdir" | "mkdirat" => {
                let path = if name == "mkdir" {
                    self.resolve(tgid, None, &s(0))
                } else {
                    self.resolve(tgid, args.first(), &s(1))
                };
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::FileMkdir {
                        path,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "socket" => {
                let socktype = s(1)
                    .split('|')
                    .filter(|f| *f != "SOCK_CLOEXEC" && *f != "SOCK_NONBLOCK")
                    .collect::<Vec<_>>()
                    .join("|");
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::NetSocket {
                        family: s(0),
                        socktype,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "connect" | "bind" => {
                let Some((family, addr, port)) = args.get(1).and_then(sockaddr) else {
                    return;
                };
                if family == "AF_UNSPEC" {
                    return;
                }
                let mut outcome = ret.outcome.clone();
                if name == "connect" && outcome == Outcome::Err("EINPROGRESS".into()) {
                    // A non-blocking connect that was started: the attempt is under way.
                    outcome = Outcome::Ok;
                }
                let kind = if name == "connect" {
                    EventKind::NetConnect {
                        family,
                        addr,
                        port,
                        name: None,
                        outcome,
                    }
                } else {
                    EventKind::NetBind {
                        family,
                        addr,
                        port,
                        outcome,
                    }
                };
                self.emit(out, ts, tgid, kind);
            }
            "listen" => {
                let fd = args
                    .first()
                    .and_then(Value::int)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(-1);
                self.emit(out, ts, tgid, EventKind::NetListen { fd });
            }
            "sendto" => {
                let dest = args
                    .get(4)
                    .and_then(sockaddr)
                    .or_else(|| args.first().and_then(udp_peer));
                let bytes = ret
                    .num
                    .filter(|n| *n >= 0)
                    .or_else(|| args.get(2).and_then(Value::int));
                self.sendto(
                    tgid,
                    ts,
                    dest,
                    args.get(1).and_then(Value::bytes),
                    bytes,
                    out,
                );
            }
            "sendmsg" => {
                let Some(msg) = args.get(1) else { return };
                let dest = msg
                    .field("msg_name")
                    .and_then(sockaddr)
                    .or_else(|| args.first().and_then(udp_peer));
                let buf = msg.field("iov_base").and_then(Value::bytes);
                self.sendto(tgid, ts, dest, buf, ret.num.filter(|n| *n >= 0), out);
            }
            "sendmmsg" => {
                let Some(Value::Array(msgs)) = args.get(1) else {
                    return;
                };
                for m in msgs {
                    let dest = m
                        .field("msg_name")
                        .and_then(sockaddr)
                        .or_else(|| args.first().and_then(udp_peer));
                    let buf = m.field("iov_base").and_then(Value::bytes);
                    let bytes = m.field("msg_len").and_then(Value::int);
                    self.sendto(tgid, ts, dest.clone(), buf, bytes, out);
                }
            }
            "dup2" | "dup3" if ret.outcome.is_ok() => {
                let target = args.get(1).and_then(Value::int).unwrap_or(-1);
                let sock = args
                    .first()
                    .and_then(Value::annotation)
                    .filter(|a| is_inet_socket(a));
                if let (Some(sock), 0..=2) = (sock, target) {
                    let kind = EventKind::NetSocketDup {
                        socket: sock.to_string(),
                        target_fd: target as i32,
                    };
                    self.emit(out, ts, tgid, kind);
                }
            }
            "ptrace" => {
                let req = s(0);
                let target = if req == "PTRACE_TRACEME" {
                    self.procs.get(&tgid).and_then(|p| p.ppid).unwrap_or(0)
                } else {
                    args.get(1)
                        .and_then(Value::int)
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0)
                };
                let how = req.to_ascii_lowercase().replace('_', "-");
                self.emit(
                    out,
                    ts,
                    tgid,
                    EventKind::ProcessAccess {
                        target_pid: target,
                        how,
                        outcome: ret.outcome.clone(),
                    },
                );
            }
            "process_vm_readv" | "process_vm_writev" => {
                let target = args
                    .first()
                    .and_then(Value::int)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
                let kind = EventKind::ProcessAccess {
                    target_pid: target,
                    how: name.into(),
                    outcome: ret.outcome.clone(),
                };
                self.emit(out, ts, tgid, kind);
                if name == "process_vm_readv" && ret.outcome.is_ok() {
                    let path = format!("/proc/{target}/mem");
                    self.emit(
                        out,
                        ts,
                        tgid,
                        EventKind::SecretRead {
                            canary_id: None,
                            path,
                            via: name.into(),
                        },
                    );
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn exec(
        &mut self,
        tgid: u32,
        ts: f64,
        dirfd: Option<&Value>,
        path: Option<&Value>,
        argv: Option<&Value>,
        envp: Option<&Value>,
        ret: &Ret,
        out: &mut Vec<Event>,
    ) {
        let raw_path = path.and_then(Value::text).unwrap_or_default();
        let path = self.resolve(tgid, dirfd, &raw_path);
        let argv: Vec<String> = match argv {
            Some(Value::Array(items)) => {
                items.iter().filter_map(|v| v.bytes()).map(lossy).collect()
            }
            _ => Vec::new(),
        };
        let mut env = BTreeMap::new();
        let mut env_count = 0u32;
        let mut lifecycle_env = None;
        if let Some(Value::Array(items)) = envp {
            for item in items {
                let Some(b) = item.bytes() else { continue };
                env_count += 1;
                let kv = lossy(b);
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                if k == "npm_lifecycle_event" && !v.is_empty() {
                    lifecycle_env = Some(v.to_string());
                }
                if SELECTED_ENV.contains(&k) {
                    env.insert(k.to_string(), cut(v, ENV_VALUE_MAX));
                }
            }
        }
        if ret.outcome.is_ok() {
            let exe = basename(&path).to_string();
            let desc = describe(&argv, &exe);
            let pip_hook = exe.starts_with("python")
                && argv
                    .iter()
                    .skip(1)
                    .any(|a| a.contains("_in_process.py") || a.contains("setup.py"));
            if let Some(p) = self.procs.get_mut(&tgid) {
                p.exe = exe;
                if let Some(l) = lifecycle_env {
                    p.lifecycle = Some(l);
                } else if pip_hook {
                    p.lifecycle = Some("setup.py".into());
                }
                if p.own_entry && !p.chain.is_empty() {
                    p.chain.pop();
                }
                p.chain.push(desc);
                if p.chain.len() > CHAIN_MAX {
                    let extra = p.chain.len() - CHAIN_MAX;
                    p.chain.drain(..extra);
                }
                p.own_entry = true;
            }
        }
        let cwd = self.procs.get(&tgid).and_then(|p| p.cwd.clone());
        let kind = EventKind::ProcessExec {
            path,
            argv,
            cwd,
            env,
            env_count,
            outcome: ret.outcome.clone(),
        };
        self.emit(out, ts, tgid, kind);
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        tgid: u32,
        ts: f64,
        dirfd: Option<&Value>,
        raw: &str,
        flags: &str,
        ret: &Ret,
        out: &mut Vec<Event>,
    ) {
        let path = self.resolve(tgid, dirfd, raw);
        let has = |f: &str| flags.split('|').any(|x| x == f);
        let write = has("O_WRONLY") || has("O_RDWR");
        let create = has("O_CREAT");
        let kind = EventKind::FileOpen {
            path: path.clone(),
            flags: flags.to_string(),
            write,
            create,
            outcome: ret.outcome.clone(),
        };
        self.emit(out, ts, tgid, kind);
        let reads = !has("O_WRONLY");
        if ret.outcome.is_ok() && reads {
            let resolved = ret.value.as_ref().and_then(Value::annotation);
            let canary = self
                .canaries
                .get(&path)
                .or_else(|| resolved.and_then(|r| self.canaries.get(r)));
            if let Some(id) = canary {
                let kind = EventKind::SecretRead {
                    canary_id: Some(id.clone()),
                    path: path.clone(),
                    via: "open".into(),
                };
                self.emit(out, ts, tgid, kind);
            }
        }
        if let Some((target, what)) = proc_target(&path) {
            let same = target == tgid || self.thread_of.get(&target) == Some(&tgid);
            if !same {
                let how = format!("proc-{what}");
                let kind = EventKind::ProcessAccess {
                    target_pid: target,
                    how: how.clone(),
                    outcome: ret.outcome.clone(),
                };
                self.emit(out, ts, tgid, kind);
                if ret.outcome.is_ok() && (what == "mem" || what == "environ") {
                    self.emit(
                        out,
                        ts,
                        tgid,
                        EventKind::SecretRead {
                            canary_id: None,
                            path: path.clone(),
                            via: how,
                        },
                    );
                }
            }
        }
        self.probe_path(tgid, ts, &path, out);
    }

    fn probe(
        &mut self,
        tgid: u32,
        ts: f64,
        dirfd: Option<&Value>,
        raw: &str,
        out: &mut Vec<Event>,
    ) {
        let path = self.resolve(tgid, dirfd, raw);
        self.probe_path(tgid, ts, &path, out);
    }

    fn probe_path(&self, tgid: u32, ts: f64, path: &str, out: &mut Vec<Event>) {
        if let Some(p) = self.cfg.probes.iter().find(|p| p.matches(path)) {
            self.emit(
                out,
                ts,
                tgid,
                EventKind::Probe {
                    what: p.what.clone(),
                    path: path.to_string(),
                },
            );
        }
    }

    fn sendto(
        &self,
        tgid: u32,
        ts: f64,
        dest: Option<(String, String, u16)>,
        buf: Option<&[u8]>,
        bytes: Option<i64>,
        out: &mut Vec<Event>,
    ) {
        let Some((family, addr, port)) = dest else {
            return;
        };
        if family != "AF_INET" && family != "AF_INET6" {
            return;
        }
        let dns = if port == 53 {
            buf.and_then(dns::parse_question)
        } else {
            None
        };
        let bytes = bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0);
        self.emit(
            out,
            ts,
            tgid,
            EventKind::NetSendto {
                family,
                addr,
                port,
                bytes,
                dns,
            },
        );
    }
}
