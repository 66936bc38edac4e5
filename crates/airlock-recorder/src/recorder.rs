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

use std::collections::{BTreeMap, HashMap};

use airlock_events::{Event, EventKind, Outcome, ProcRef, Source};

use crate::dns;
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
                Source::Strace,
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
                Source::Strace,
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
        let event = Event::new(f.first_ts, &self.cfg.phase, Source::Strace, kind);
        let proc = match (self.procs.contains_key(&tgid), self.exited.get(&tgid)) {
            (false, Some(p)) => p.clone(),
            _ => self.proc_ref(tgid),
        };
        out.push(event.with_proc(proc));
    }

    fn emit(&self, out: &mut Vec<Event>, ts: f64, tgid: u32, kind: EventKind) {
        out.push(
            Event::new(ts, &self.cfg.phase, Source::Strace, kind).with_proc(self.proc_ref(tgid)),
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

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
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

/// Splits `PID TS body` (the pid is absent when only one process was traced).
pub(crate) fn split_prefix(line: &str) -> Option<(u32, f64, &str)> {
    let line = line.trim_start();
    let (first, rest) = line.split_once(' ')?;
    let (pid, ts_and_body) = if first.bytes().all(|b| b.is_ascii_digit()) {
        (first.parse::<u32>().ok()?, rest.trim_start())
    } else {
        (0, line)
    };
    let (ts, body) = ts_and_body.split_once(' ')?;
    if !ts.contains('.') {
        return None;
    }
    Some((pid, ts.parse::<f64>().ok()?, body))
}

fn parse_ret(result: Option<&str>) -> Ret {
    let Some(text) = result else {
        return Ret {
            outcome: Outcome::Unknown,
            num: None,
            value: None,
        };
    };
    let mut lx = Lexer::new(text);
    let value = lx.value();
    if matches!(&value, Value::Atom(a) if a == "?") {
        return Ret {
            outcome: Outcome::Unknown,
            num: None,
            value: None,
        };
    }
    let num = value.int();
    if num.is_some_and(|n| n < 0) {
        let errno = lx
            .rest()
            .split_whitespace()
            .next()
            .filter(|e| e.starts_with('E'))
            .unwrap_or("EUNKNOWN");
        return Ret {
            outcome: Outcome::Err(errno.to_string()),
            num,
            value: None,
        };
    }
    Ret {
        outcome: Outcome::Ok,
        num,
        value: Some(value),
    }
}

fn is_fork_like(text: &str) -> bool {
    ["fork(", "vfork(", "clone(", "clone3("]
        .iter()
        .any(|p| text.starts_with(p))
}

/// Decodes a sockaddr struct into (family, address, port).
pub(crate) fn sockaddr(v: &Value) -> Option<(String, String, u16)> {
    let family = v.field("sa_family")?.text()?;
    let port = |f: &str| {
        v.field(f)
            .and_then(Value::int)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    };
    let (addr, port) = match family.as_str() {
        "AF_INET" => {
            let addr = v
                .call("inet_addr")
                .and_then(|a| a.first())
                .and_then(Value::text)
                .unwrap_or_default();
            (addr, port("sin_port"))
        }
        "AF_INET6" => {
            let addr = v
                .call("inet_pton")
                .and_then(|a| a.get(1))
                .and_then(Value::text)
                .unwrap_or_default();
            (addr, port("sin6_port"))
        }
        "AF_UNIX" => (
            v.field("sun_path")
                .and_then(Value::text)
                .unwrap_or_default(),
            0,
        ),
        _ => (String::new(), 0),
    };
    Some((family, addr, port))
}

/// The peer of a connected UDP socket from its `-yy` annotation
/// (`UDP:[10.0.0.2:40000->8.8.8.8:53]`, `UDPv6:[[::1]:5->[::1]:53]`).
fn udp_peer(fd: &Value) -> Option<(String, String, u16)> {
    let a = fd.annotation()?;
    let (family, inner) = if let Some(r) = a.strip_prefix("UDPv6:[") {
        ("AF_INET6", r)
    } else if let Some(r) = a.strip_prefix("UDP:[") {
        ("AF_INET", r)
    } else {
        return None;
    };
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    let (_, peer) = inner.split_once("->")?;
    let (host, port) = peer.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((family.to_string(), host.to_string(), port.parse().ok()?))
}

fn is_inet_socket(annotation: &str) -> bool {
    ["TCP:", "TCPv6:", "UDP:", "UDPv6:"]
        .iter()
        .any(|p| annotation.starts_with(p))
}

/// `/proc/<pid>/{mem,environ,maps,cmdline}` → (pid, what).
fn proc_target(path: &str) -> Option<(u32, &str)> {
    let rest = path.strip_prefix("/proc/")?;
    let (pid, what) = rest.split_once('/')?;
    let pid = pid.parse::<u32>().ok()?;
    matches!(what, "mem" | "environ" | "maps" | "cmdline").then_some((pid, what))
}

fn expand_home(path: &str, home: Option<&str>) -> String {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => format!("{}/{rest}", h.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Cuts to at most `max` characters, on a char boundary.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// One chain entry: the program's basename and its arguments, whitespace collapsed,
/// cut to [`CHAIN_ENTRY_MAX`] characters.
fn describe(argv: &[String], exe: &str) -> String {
    let first = argv
        .first()
        .map(|a| basename(a))
        .filter(|a| !a.is_empty())
        .unwrap_or(exe);
    let mut words = vec![first];
    words.extend(argv.iter().skip(1).flat_map(|a| a.split_whitespace()));
    cut(&words.join(" "), CHAIN_ENTRY_MAX)
}

/// Lexically normalizes an absolute path (`.`, `..`, duplicate slashes).
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(split_prefix("12 1.5 x(1) = 0"), Some((12, 1.5, "x(1) = 0")));
        assert_eq!(split_prefix("1.5 x(1) = 0"), Some((0, 1.5, "x(1) = 0")));
        assert_eq!(split_prefix("12"), None);
        assert_eq!(split_prefix("12 abc x"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(normalize("/a/./b/../c//d/"), "/a/c/d");
        assert_eq!(normalize("/.."), "/");
        assert_eq!(proc_target("/proc/12/environ"), Some((12, "environ")));
        assert_eq!(proc_target("/proc/self/environ"), None);
        assert_eq!(expand_home("~/.npmrc", Some("/home/u/")), "/home/u/.npmrc");
    }

    #[test]
    fn describe_cuts_and_collapses() {
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            "node\n  install.js".into(),
        ];
        assert_eq!(describe(&argv, "sh"), "sh -c node install.js");
        let long = vec!["x".to_string(), "é".repeat(200)];
        assert_eq!(describe(&long, "x").chars().count(), CHAIN_ENTRY_MAX);
    }

    #[test]
    fn udp_peers() {
        let v = Value::Fd {
            fd: "3".into(),
            annotation: "UDPv6:[[::1]:5->[::1]:53]".into(),
        };
        assert_eq!(udp_peer(&v), Some(("AF_INET6".into(), "::1".into(), 53)));
        let v = Value::Fd {
            fd: "3".into(),
            annotation: "UDP:[23943]".into(),
        };
        assert_eq!(udp_peer(&v), None);
    }
}
