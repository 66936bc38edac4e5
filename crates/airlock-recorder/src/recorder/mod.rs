//! The streaming strace parser and process model: lines in, [`airlock_events::Event`]s
//! out. It keeps only a process table (live processes) and at most one half-finished
//! call per thread, so memory stays bounded however long the trace is.
//!
//! What each traced call becomes (all with `source: strace`, `proc` = the acting
//! process; threads are folded into their thread group):
//! - `execve`/`execveat` → `process.exec` (path resolved against cwd/dirfd; for
//!   `execveat(fd, "", AT_EMPTY_PATH)` the fd's path, e.g. `/memfd:x (deleted)`).
//! - `fork`/`vfork`/`clone`/`clone3` without `CLONE_THREAD` → `process.start`;
//!   `+++ exited with N +++` / `+++ killed by SIG +++` → `process.exit`.
//! - `open*`/`creat` → `file.open` (+ `secret.read` for a read-open of a canary file,
//!   + `process.access`/`secret.read` for another process's `/proc/N/...`, + `probe`).
//! - `access`/`faccessat*` → `probe` only, when the path is a probe path.
//! - `unlink*`, `rename*`, `chmod`/`fchmod*`, `symlink*`, `mkdir*` → the `file.*` events.
//! - `socket`, `connect` (`EINPROGRESS` counts as `ok`: the attempt is under way),
//!   `bind`, `listen` → `net.*`; `sendto`/`sendmsg`/`sendmmsg` to a datagram peer →
//!   `net.sendto` with the DNS question decoded for port 53 (TCP sends are left to the
//!   sink); `dup2`/`dup3` of a TCP/UDP socket onto fd 0-2 → `net.socket_dup` (UNIX
//!   socketpairs are how child_process wires stdio, so they are not reported).
//! - `ptrace`, `process_vm_readv`/`writev` → `process.access` (+ `secret.read` for a
//!   successful `process_vm_readv`).
//! - A trace cut mid-line or with calls still unfinished → a final `note` event, and
//!   [`RecorderStats::truncated`]/`pending_at_end`; unfinished calls are emitted with
//!   outcome `unknown`.
//! - Repetitive path lookups past the first [`crate::fold::KEEP_FIRST`] of one shape are
//!   counted, not recorded one by one ([`crate::fold`]); each group, and each
//!   `# airlock-fold` line of a trace folded on its way out of the container, becomes one
//!   summary event: `limit.hit` `syscall-flood` from [`FLOOD_EVENT_MIN`] calls up, a
//!   `note` below.

use std::collections::HashMap;

use airlock_events::{Event, EventKind, Outcome, ProcRef, Source};

use crate::fold::{Folded, LineFolder, FOLD_PREFIX};
use crate::lexer::{Lexer, Value};

/// Folded calls of one shape from which the summary is a `limit.hit` (`syscall-flood`)
/// rather than a `note`: ordinary installs stay far below it.
pub const FLOOD_EVENT_MIN: u64 = 10_000;
/// Folded calls of one shape from which the group gets its own summary event; smaller
/// groups (a build probing a few hundred paths) are summed into one `note` at the end.
pub const FOLD_NOTE_MIN: u64 = 1_000;

/// Longest chain entry, in characters.
pub const CHAIN_ENTRY_MAX: usize = 80;
/// Most chain entries kept (the last ones).
pub const CHAIN_MAX: usize = 8;
/// Longest environment value kept in `process.exec` events.
const ENV_VALUE_MAX: usize = 512;

/// Environment variables copied into `process.exec` events (values cut to 512 chars):
/// npm lifecycle context, CI markers, and variables that change how runtimes load code.
pub const SELECTED_ENV: &[&str] = &[
    "npm_lifecycle_event",
    "npm_lifecycle_script",
    "npm_package_name",
    "npm_package_version",
    "npm_package_json",
    "npm_command",
    "npm_config_user_agent",
    "npm_config_registry",
    "INIT_CWD",
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_NUMBER",
    "GITHUB_ACTIONS",
    "GITHUB_WORKFLOW",
    "GITHUB_REPOSITORY",
    "GITLAB_CI",
    "TRAVIS",
    "CIRCLECI",
    "JENKINS_URL",
    "BUILDKITE",
    "TF_BUILD",
    "CODEBUILD_BUILD_ID",
    "BITBUCKET_BUILD_NUMBER",
    "TEAMCITY_VERSION",
    "RUNNER_OS",
    "HOME",
    "USER",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PIP_INDEX_URL",
];

/// A path (exact, or a prefix when it ends with `/`) whose access marks sandbox or
/// analysis awareness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePath {
    pub path: String,
    /// What the package was probing for: `container`, `vm`, `debugger`, `docker-socket`.
    pub what: String,
}

impl ProbePath {
    pub fn new(path: &str, what: &str) -> Self {
        ProbePath {
            path: path.into(),
            what: what.into(),
        }
    }

    fn matches(&self, path: &str) -> bool {
        if self.path.ends_with('/') {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

/// The default probe list. Chosen for being read by evasive malware and (almost) never
/// by npm, node, pip or python during a normal install:
/// `/.dockerenv`, `/run/.containerenv`, `/proc/1/cgroup`,
/// `/proc/1/sched`, `/proc/1/mountinfo`, `/proc/self/mountinfo` (container);
/// `/sys/class/dmi/id/`, `/sys/devices/virtual/dmi/id/`, `/sys/hypervisor/` (vm);
/// `/proc/self/status` (debugger, `TracerPid`); `/var/run/docker.sock`,
/// `/run/docker.sock` (docker-socket). Left out: `/proc/cpuinfo` and `/proc/meminfo`,
/// which libuv's `os.cpus()`/`os.totalmem()` read in ordinary tools, and
/// `/proc/self/cgroup`, which node reads at startup to size its heap.
pub fn default_probes() -> Vec<ProbePath> {
    [
        ("/.dockerenv", "container"),
        ("/run/.containerenv", "container"),
        ("/proc/1/cgroup", "container"),
        ("/proc/1/sched", "container"),
        ("/proc/1/mountinfo", "container"),
        ("/proc/self/mountinfo", "container"),
        ("/sys/class/dmi/id/", "vm"),
        ("/sys/devices/virtual/dmi/id/", "vm"),
        ("/sys/hypervisor/", "vm"),
        ("/proc/self/status", "debugger"),
        ("/var/run/docker.sock", "docker-socket"),
        ("/run/docker.sock", "docker-socket"),
    ]
    .iter()
    .map(|(p, w)| ProbePath::new(p, w))
    .collect()
}

/// What the caller tells the recorder about the run.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Phase name put on every event (`install`, `import`, ...).
    pub phase: String,
    /// Home directory of the sandbox user; canary paths may start with `~/`.
    pub home: Option<String>,
    /// Working directory of the traced command (the first process), if known. Later
    /// `AT_FDCWD</dir>` annotations correct it anyway.
    pub initial_cwd: Option<String>,
    /// Canary files: path → canary id. A successful read-open emits `secret.read`.
    pub canaries: HashMap<String, String>,
    /// Paths whose open or access emits `probe`.
    pub probes: Vec<ProbePath>,
    /// Lines of one shape kept before the rest are folded into a count ([`crate::fold`]);
    /// `None` keeps every line.
    pub fold_after: Option<u32>,
    /// Put on every event: `strace` (default) or `ebpf` when the calls come from the
    /// kernel-side recorder through [`Recorder::feed_call`].
    pub source: Source,
}

impl RecorderConfig {
    /// A config for `phase` with the default probes and no canaries.
    pub fn new(phase: &str) -> Self {
        RecorderConfig {
            phase: phase.into(),
            home: None,
            initial_cwd: None,
            canaries: HashMap::new(),
            probes: default_probes(),
            fold_after: Some(crate::fold::KEEP_FIRST),
            source: Source::Strace,
        }
    }
}

/// Counters about one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecorderStats {
    pub lines: u64,
    /// Lines that were not understood (or were cut short).
    pub unparsed: u64,
    pub events: u64,
    /// The trace ended in the middle of a line (disk full, killed strace).
    pub truncated: bool,
    /// Calls still waiting for their `resumed` half when the trace ended.
    pub pending_at_end: usize,
    /// Processes (not threads) seen.
    pub processes: u64,
    /// Calls counted in summary events instead of recorded one by one (here and, from
    /// `# airlock-fold` lines, where the trace left the container).
    pub folded: u64,
}

#[derive(Debug, Clone, Default)]
struct Proc {
    ppid: Option<u32>,
    exe: String,
    cwd: Option<String>,
    lifecycle: Option<String>,
    chain: Vec<String>,
    /// True once this process exec'd: the last chain entry is its own.
    own_entry: bool,
}

#[derive(Debug)]
struct Pending {
    ts: f64,
    text: String,
}

/// The result part of a syscall line.
struct Ret {
    outcome: Outcome,
    num: Option<i64>,
    value: Option<Value>,
}

/// Streaming strace parser. Feed it lines in order; call [`Recorder::finish`] at the end.
pub struct Recorder {
    cfg: RecorderConfig,
    canaries: HashMap<String, String>,
    procs: HashMap<u32, Proc>,
    /// Thread id → thread group id, for threads other than the leader.
    thread_of: HashMap<u32, u32>,
    pending: HashMap<u32, Pending>,
    stats: RecorderStats,
    last_line_bad: bool,
    last_ts: f64,
    folder: Option<LineFolder>,
    /// Processes that exited, so summaries written at the end still name who acted
    /// (bounded: cleared when full).
    exited: HashMap<u32, ProcRef>,
    /// Groups below [`FOLD_NOTE_MIN`]: how many, how many calls, first time.
    small_folds: (u64, u64, f64),
}

/// Exited processes remembered for summary events.
const EXITED_MAX: usize = 50_000;

impl Recorder {
    pub fn new(cfg: RecorderConfig) -> Self {
        let canaries = cfg
            .canaries
            .iter()
            .map(|(p, id)| (expand_home(p, cfg.home.as_deref()), id.clone()))
            .collect();
        Recorder {
            canaries,
            procs: HashMap::new(),
            thread_of: HashMap::new(),
            pending: HashMap::new(),
            stats: RecorderStats::default(),
            last_line_bad: false,
            last_ts: 0.0,
            folder: cfg
                .fold_after
                .map(|k| LineFolder::new(k, crate::fold::MAX_KEYS)),
            exited: HashMap::new(),
            small_folds: (0, 0, 0.0),
            cfg,
        }
    }

    /// Parses one line of `strace -f -ttt -yy` output (with or without its newline).
    pub fn feed_line(&mut self, line: &str, out: &mut Vec<Event>) {
        let before = out.len();
        self.stats.lines += 1;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return;
        }
        if line.starts_with(FOLD_PREFIX) {
            if let Some(f) = Folded::parse(line) {
                self.summary(&f, out);
                self.stats.events += (out.len() - before) as u64;
            } else {
                self.stats.unparsed += 1;
            }
            return;
        }
        if let Some(folder) = &mut self.folder {
            if !folder.admit(line) {
                return;
            }
        }
        let ok = self.line(line, out);
        if !ok {
            self.stats.unparsed += 1;
        }
        self.last_line_bad = !ok;
        self.stats.events += (out.len() - before) as u64;
    }

    /// Processes and threads currently in the table (memory stays proportional to this).
    pub fn live(&self) -> usize {
        self.procs.len() + self.thread_of.len()
    }

    /// Calls waiting for their `resumed` half.
    pub fn pending_calls(&self) -> usize {
        self.pending.len()
    }

    /// Marks the trace as cut short (the caller saw the last line end without newline).
    pub fn mark_truncated(&mut self) {
        self.stats.truncated = true;
    }

    /// Flushes calls left unfinished (their outcome is unknown), notes a truncated
    /// trace, and returns the counters.
    pub fn finish(mut self, out: &mut Vec<Event>) -> RecorderStats {
        let before = out.len();
        if self.last_line_bad {
            self.stats.truncated = true;
        }
        if let Some(folder) = self.folder.take() {
            for f in folder.folded() {
                self.summary(&f, out);
            }
        }
        let (groups, calls, first) = self.small_folds;
        if groups > 0 {
            let message = format!(
                "{calls} more calls in {groups} group(s) of repeated calls (same syscall, \
                 result and path shape, under {FOLD_NOTE_MIN} each) were counted, not \
                 recorded one by one"
            );
            out.push(Event::new(
                first,
                &self.cfg.phase,
                self.cfg.source,
                EventKind::Note { message },
            ));
        }
        let mut pending: Vec<(u32, Pending)> = self.pending.drain().collect();
        pending.sort_by_key(|(pid, _)| *pid);
        self.stats.pending_at_end = pending.len();
        for (pid, p) in pending {
            self.call(pid, p.ts, &p.text, out);
        }
        if self.stats.truncated || self.stats.pending_at_end > 0 {
            let message = format!(
                "strace trace incomplete: {}{} call(s) unfinished at the end",
                if self.stats.truncated {
                    "last line cut short; "
                } else {
                    ""
                },
                self.stats.pending_at_end
            );
            out.push(Event::new(
                self.last_ts,
                &self.cfg.phase,
                self.cfg.source,
                EventKind::Note { message },
            ));
        }
        self.stats.events += (out.len() - before) as u64;
        self.stats
    }

    /// Handles one non-empty line; false when it was not understood.
    fn line(&mut self, line: &str, out: &mut Vec<Event>) -> bool {
        let Some((pid, ts, body)) = split_prefix(line) else {
            return false;
        };
        self.last_ts = ts;
        if let Some(rest) = body.strip_prefix("+++ ") {
            return self.exit(pid, ts, rest, out);
        }
        if body.starts_with("--- ") {
            return true;
        }
        if let Some(rest) = body.strip_prefix("<... ") {
            let Some(end) = rest.find(" resumed>") else {
                return false;
            };
            let name = &rest[..end];
            let tail = &rest[end + " resumed>".len()..];
            let Some(p) = self.pending.remove(&pid) else {
                return false;
            };
            if !p.text.starts_with(name) {
                return false;
            }
            let text = format!("{}{}", p.text, tail);
            return self.call(pid, ts, &text, out);
        }
        if let Some(head) = body.strip_suffix(" <unfinished ...>") {
            // Make sure an unseen child is adopted before its parent's clone resumes.
            self.tgid(pid, ts, out);
            self.pending.insert(
                pid,
                Pending {
                    ts,
                    text: head.to_string(),
                },
            );
            return true;
        }
        self.call(pid, ts, body, out)
    }

    /// The thread group of `pid`, creating a process entry for a pid seen for the first
    /// time. A new pid whose parent is still inside fork/vfork/clone (the child often
    /// runs before the parent's call returns) is adopted by that parent.
    fn tgid(&mut self, pid: u32, ts: f64, out: &mut Vec<Event>) -> u32 {
        if let Some(&t) = self.thread_of.get(&pid) {
            return t;
        }
        if self.procs.contains_key(&pid) {
            return pid;
        }
        let parent = self
            .pending
            .iter()
            .filter(|(p, pend)| **p != pid && is_fork_like(&pend.text))
            .max_by(|a, b| a.1.ts.total_cmp(&b.1.ts))
            .map(|(p, pend)| (*p, pend.text.contains("CLONE_THREAD")));
        match parent {
            Some((ptid, true)) => {
                let ptgid = self.thread_of.get(&ptid).copied().unwrap_or(ptid);
                self.thread_of.insert(pid, ptgid);
                ptgid
            }
            Some((ptid, false)) => {
                let ptgid = self.thread_of.get(&ptid).copied().unwrap_or(ptid);
                self.spawn(ptgid, pid, ts, out);
                pid
            }
            None => {
                let cwd = if self.stats.processes == 0 {
                    self.cfg.initial_cwd.clone()
                } else {
                    None
                };
                self.stats.processes += 1;
                self.procs.insert(
                    pid,
                    Proc {
                        cwd,
                        ..Proc::default()
                    },
                );
                pid
            }
        }
    }

    /// Records a new child process of `ptgid` and emits `process.start`.
    fn spawn(&mut self, ptgid: u32, child: u32, ts: f64, out: &mut Vec<Event>) {
        let parent = self.procs.get(&ptgid).cloned().unwrap_or_default();
        let proc = Proc {
            ppid: Some(ptgid),
            own_entry: false,
            ..parent
        };
        self.procs.insert(child, proc);
        self.stats.processes += 1;
        self.emit(
            out,
            ts,
            ptgid,
            EventKind::ProcessStart {
                pid: child,
                ppid: ptgid,
            },
        );
    }

    fn proc_ref(&self, tgid: u32) -> ProcRef {
        match self.procs.get(&tgid) {
            Some(p) => ProcRef {
                pid: tgid,
                ppid: p.ppid,
                exe: p.exe.clone(),
                lifecycle: p.lifecycle.clone(),
                chain: p.chain.clone(),
            },
            None => ProcRef {
                pid: tgid,
                ..ProcRef::default()
            },
        }
    }

    /// One summary event for a group of folded calls.
    fn summary(&mut self, f: &Folded, out: &mut Vec<Event>) {
        self.stats.folded += f.count;
        if f.count < FOLD_NOTE_MIN {
            let s = &mut self.small_folds;
            if s.0 == 0 || f.first_ts < s.2 {
                s.2 = f.first_ts;
            }
            s.0 += 1;
            s.1 += f.count;
            return;
        }
        let detail = format!(
            "{} more {} calls ({}) on paths shaped {} were counted, not recorded one by one \
             (first by pid {}, between {:.3} and {:.3})",
            f.count, f.syscall, f.result, f.shape, f.pid, f.first_ts, f.last_ts
        );
        let kind = if f.count >= FLOOD_EVENT_MIN {
            EventKind::LimitHit {
                limit: "syscall-flood".into(),
                detail,
            }
        } else {
            EventKind::Note { message: detail }
        };
        let tgid = self.thread_of.get(&f.pid).copied().unwrap_or(f.pid);
        let event = Event::new(f.first_ts, &self.cfg.phase, self.cfg.source, kind);
        let proc = match (self.procs.contains_key(&tgid), self.exited.get(&tgid)) {
            (false, Some(p)) => p.clone(),
            _ => self.proc_ref(tgid),
        };
        out.push(event.with_proc(proc));
    }

    fn emit(&self, out: &mut Vec<Event>, ts: f64, tgid: u32, kind: EventKind) {
        out.push(
            Event::new(ts, &self.cfg.phase, self.cfg.source, kind).with_proc(self.proc_ref(tgid)),
        );
    }

    /// `+++ exited with N +++`, `+++ killed by SIGX +++`, `+++ superseded by execve +++`.
    fn exit(&mut self, pid: u32, ts: f64, rest: &str, out: &mut Vec<Event>) -> bool {
        let rest = rest.trim_end_matches('+').trim();
        self.pending.remove(&pid);
        if self.thread_of.remove(&pid).is_some() {
            return true;
        }
        let (code, signal) = if let Some(n) = rest.strip_prefix("exited with ") {
            (n.trim().parse::<i32>().ok(), None)
        } else if let Some(s) = rest.strip_prefix("killed by ") {
            (None, s.split_whitespace().next().map(str::to_string))
        } else {
            return rest.starts_with("superseded");
        };
        if !self.procs.contains_key(&pid) {
            self.tgid(pid, ts, out);
        }
        self.emit(out, ts, pid, EventKind::ProcessExit { code, signal });
        if self.folder.is_some() {
            if self.exited.len() >= EXITED_MAX {
                self.exited.clear();
            }
            self.exited.insert(pid, self.proc_ref(pid));
        }
        self.procs.remove(&pid);
        true
    }

    /// A complete (or, at the end of a cut trace, partial) syscall: `name(args) = ret`.
    /// Returns false when the text has no result (cut short) or is not a call.
    fn call(&mut self, pid: u32, ts: f64, text: &str, out: &mut Vec<Event>) -> bool {
        let Some(open) = text.find('(') else {
            return false;
        };
        let name = &text[..open];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return false;
        }
        let tgid = self.tgid(pid, ts, out);
        let mut lx = Lexer::new(&text[open + 1..]);
        let (args, closed) = lx.list(b')');
        let rest = lx.rest().trim_start();
        let result = if closed { rest.strip_prefix('=') } else { None };
        let complete = result.is_some();
        let ret = parse_ret(result);
        self.refresh_cwd(tgid, &args);
        self.dispatch(name, tgid, ts, &args, &ret, text, out);
        complete
    }

    /// `-yy` prints `AT_FDCWD</current/dir>`: keep the process's cwd in step with it.
    fn refresh_cwd(&mut self, tgid: u32, args: &[Value]) {
        for a in args {
            if let Value::Fd { fd, annotation } = a {
                if fd == "AT_FDCWD" && annotation.starts_with('/') {
                    if let Some(p) = self.procs.get_mut(&tgid) {
                        if p.cwd.as_deref() != Some(annotation.as_str()) {
                            p.cwd = Some(annotation.clone());
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Resolves `path` against a dirfd argument (`AT_FDCWD`, an annotated fd) or the cwd.
    fn resolve(&self, tgid: u32, dirfd: Option<&Value>, path: &str) -> String {
        if path.starts_with('/') {
            return normalize(path);
        }
        let base = match dirfd {
            Some(Value::Fd { annotation, .. }) if annotation.starts_with('/') => {
                Some(annotation.clone())
            }
            Some(Value::Fd { fd, .. }) | Some(Value::Atom(fd)) if fd != "AT_FDCWD" => None,
            _ => self.procs.get(&tgid).and_then(|p| p.cwd.clone()),
        };
        match base {
            Some(b) if path.is_empty() => b,
            Some(b) => normalize(&format!("{b}/{path}")),
            None => path.to_string(),
        }
    }
}

mod calls;
mod kernel;
mod parse;

pub use kernel::CallResult;

use parse::*;
pub(crate) use parse::{basename, normalize, sockaddr, split_prefix};
