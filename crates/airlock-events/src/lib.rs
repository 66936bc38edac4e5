//! The airlock trace schema, shared by every producer (recorder, sink, static pass,
//! orchestrator) and every consumer (rules, reports, store).
//!
//! A trace is JSON Lines: the first line is a [`Record::Header`], then any number of
//! [`Record::Event`] lines in `seq` order, and the last line a [`Record::Footer`]. A trace
//! without a footer is incomplete (the run was cut short) and consumers must say so.
//! Every record carries `"record": "header"|"event"|"footer"`; an event carries
//! `"type"` (for example `"process.exec"`) and the fields of that type, flattened.
//!
//! Compatibility: within one [`SCHEMA_VERSION`] fields are only ever added, never renamed
//! or removed; consumers ignore fields they do not know. This crate depends on nothing
//! internal and holds only data types, so that rules can be tested on recorded traces
//! without Docker.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

pub mod attribution;
pub mod finding;
pub use finding::{
    Confidence, Evidence, Finding, FindingKind, Severity, Strength, Verdict, Waived,
};

/// Version of the trace schema written in every header.
pub const SCHEMA_VERSION: u32 = 1;

/// One line of a trace file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Header(TraceHeader),
    Event(Event),
    Footer(TraceFooter),
}

/// The package ecosystems airlock analyzes. The default is npm: records written before
/// airlock analyzed PyPI (jobs, stored package references) name no ecosystem.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    #[default]
    Npm,
    Pypi,
}

/// An ecosystem name airlock does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEcosystem(pub String);

impl fmt::Display for UnknownEcosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown ecosystem {:?}", self.0)
    }
}

impl std::error::Error for UnknownEcosystem {}

/// The inverse of `Display` (and of the serde name): `npm`, `pypi`.
impl std::str::FromStr for Ecosystem {
    type Err = UnknownEcosystem;
    fn from_str(s: &str) -> Result<Ecosystem, UnknownEcosystem> {
        match s {
            "npm" => Ok(Ecosystem::Npm),
            "pypi" => Ok(Ecosystem::Pypi),
            _ => Err(UnknownEcosystem(s.to_string())),
        }
    }
}

impl Ecosystem {
    /// How the ecosystem's own tools write a pinned version: `name@1.0.0` (npm),
    /// `name==1.0.0` (pip). Part of the schema, so stores and reports name an artifact
    /// the way its users type it.
    pub fn pinned(self, name: &str, version: &str) -> String {
        match self {
            Ecosystem::Npm => format!("{name}@{version}"),
            Ecosystem::Pypi => format!("{name}=={version}"),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
        })
    }
}

/// The artifact a run analyzed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageRef {
    pub ecosystem: Option<Ecosystem>,
    pub name: String,
    pub version: String,
    /// sha256 of the artifact (tarball, wheel, sdist) as analyzed, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The registry's integrity string (npm `sha512-…`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
}

/// A planted fake secret. Its value is unique per run, so finding it in outbound
/// traffic proves theft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// Stable id within the run, e.g. `npm-token`.
    pub id: String,
    /// What it imitates, e.g. `npm_token`, `aws_secret_access_key`, `ssh_private_key`.
    pub kind: String,
    /// Where it was planted: `env:NPM_TOKEN`, `file:/home/runner/.npmrc`, `process:<name>`.
    pub location: String,
    /// The secret value itself (or, for multi-line secrets, a distinctive line of it).
    pub value: String,
}

/// First line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceHeader {
    pub schema_version: u32,
    pub run_id: String,
    /// Unix seconds when the run started.
    pub started_at: f64,
    pub package: PackageRef,
    /// Version of the airlock that recorded the trace.
    pub tool_version: String,
    /// Sandbox image tag the run used, when a sandbox ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `ci` or `laptop`, when bait was planted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Home directory of the user the package ran as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Directory the package was unpacked or installed into inside the sandbox;
    /// file changes below it are the package's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_dir: Option<String>,
    #[serde(default)]
    pub canaries: Vec<Canary>,
    /// Free-form facts about the run (e.g. `time_acceleration: "x60"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
}

/// Last line of a complete trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceFooter {
    pub events: u64,
    /// Unix seconds when the run ended.
    pub ended_at: f64,
    /// False when some producer lost data (strace output cut, sink cap reached, ...).
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<String>,
}

/// Who produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The orchestrator itself (phase boundaries, limits).
    Sandbox,
    /// `strace -f` inside the sandbox.
    Strace,
    /// eBPF programs on the host, attached to the sandbox container's cgroup (the same
    /// event kinds as `strace`; which one recorded is in the header's `recorder` note).
    Ebpf,
    /// Filesystem diff after a phase.
    Fsdiff,
    /// The network sink.
    Sink,
    /// In-process hooks (python audit hook, node preload).
    Hook,
    /// Static analysis of the package's files.
    Static,
    /// Post-run analysis (canary search).
    Analysis,
}

/// The process an event is attributed to, with enough ancestry that a rule can ask
/// "did a descendant of the target's postinstall do this" without a second pass.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// Basename of the executable the process currently runs (`node`, `sh`, `curl`).
    #[serde(default)]
    pub exe: String,
    /// The lifecycle script this process descends from (`preinstall`, `install`,
    /// `postinstall`, `prepare`, `setup.py`, ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// Short descriptions of the ancestors, oldest first, ending with this process,
    /// e.g. `["npm install", "sh -c node install.js", "node install.js", "curl"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

/// Who acted: whose code made an event happen. Computed over the whole trace by
/// `airlock_rules::attribution` (process ancestry, lifecycle scripts, the argv of each
/// exec, the files written during the run, the harness paths); stored traces without it
/// get it when they are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The package's own files, or processes they started.
    Package,
    /// A file the package wrote or downloaded during the run, and its processes.
    Dropped,
    /// The package manager or build toolchain (npm, node-gyp, gyp, make, compilers, pip,
    /// setuptools, build backends, git run by the package manager), acting on its own.
    Toolchain,
    /// airlock's own machinery in the sandbox: phase runner, import/exercise scripts,
    /// preloads and hooks, the decoy runner process, run-structure events.
    Harness,
}

impl Actor {
    /// The package's own code acted (its files or files it dropped).
    pub fn is_package(self) -> bool {
        matches!(self, Actor::Package | Actor::Dropped)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Package => "package",
            Actor::Dropped => "dropped",
            Actor::Toolchain => "toolchain",
            Actor::Harness => "harness",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the trace, from 0, strictly increasing.
    pub seq: u64,
    /// Unix seconds with microseconds.
    pub ts: f64,
    /// `static`, `install`, `import`, ... (or `run` for events outside any phase).
    pub phase: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc: Option<ProcRef>,
    /// Who acted (see [`Actor`]); absent in traces written before attribution existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Result of a syscall-like action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Failed with this errno name (`ENOENT`, `ECONNREFUSED`, ...).
    Err(String),
    /// The trace ended before the result was seen.
    Unknown,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// An HTTP header as sent (names keep their case; order is kept).
pub type Headers = Vec<(String, String)>;

/// Everything that can happen. The serialized `type` is the dotted name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    // ---- run structure -------------------------------------------------------
    #[serde(rename = "phase.start")]
    PhaseStart { name: String, command: Vec<String> },
    #[serde(rename = "phase.end")]
    PhaseEnd {
        name: String,
        status: PhaseStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        duration_ms: u64,
        /// Last lines of the phase's output, for the report.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output_tail: String,
        #[serde(default)]
        output_bytes: u64,
    },
    /// A limit was hit (pids, memory, disk, output, time).
    #[serde(rename = "limit.hit")]
    LimitHit { limit: String, detail: String },

    // ---- processes -----------------------------------------------------------
    /// A new process (fork/clone/vfork) appeared; it runs its parent's image.
    #[serde(rename = "process.start")]
    ProcessStart { pid: u32, ppid: u32 },
    /// A process replaced its image.
    #[serde(rename = "process.exec")]
    ProcessExec {
        path: String,
        argv: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        /// Selected environment (lifecycle and CI variables, names of the rest).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        /// Number of environment variables passed.
        #[serde(default)]
        env_count: u32,
        outcome: Outcome,
    },
    #[serde(rename = "process.exit")]
    ProcessExit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
    },
    /// A process accessed another process (ptrace, /proc/<pid>/mem|environ|maps).
    #[serde(rename = "process.access")]
    ProcessAccess {
        target_pid: u32,
        how: String,
        outcome: Outcome,
    },

    // ---- files ---------------------------------------------------------------
    #[serde(rename = "file.open")]
    FileOpen {
        path: String,
        /// Open flags as strace prints them (`O_WRONLY|O_CREAT|O_TRUNC`).
        flags: String,
        write: bool,
        create: bool,
        outcome: Outcome,
    },
    #[serde(rename = "file.write")]
    FileWrite { path: String, bytes: u64 },
    #[serde(rename = "file.unlink")]
    FileUnlink { path: String, outcome: Outcome },
    #[serde(rename = "file.rename")]
    FileRename {
        from: String,
        to: String,
        outcome: Outcome,
    },
    #[serde(rename = "file.chmod")]
    FileChmod {
        path: String,
        mode: u32,
        outcome: Outcome,
    },
    #[serde(rename = "file.symlink")]
    FileSymlink {
        target: String,
        link: String,
        outcome: Outcome,
    },
    #[serde(rename = "file.mkdir")]
    FileMkdir { path: String, outcome: Outcome },
    /// A change seen by the filesystem diff after a phase.
    #[serde(rename = "fs.change")]
    FsChange {
        path: String,
        change: FsChangeKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        /// True when the path is inside the package's own install directory.
        #[serde(default)]
        in_package: bool,
    },

    // ---- network (syscall view) ------------------------------------------------
    #[serde(rename = "net.socket")]
    NetSocket {
        family: String,
        socktype: String,
        outcome: Outcome,
    },
    #[serde(rename = "net.connect")]
    NetConnect {
        family: String,
        addr: String,
        port: u16,
        /// Name the sink resolved to this address, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        outcome: Outcome,
    },
    #[serde(rename = "net.bind")]
    NetBind {
        family: String,
        addr: String,
        port: u16,
        outcome: Outcome,
    },
    #[serde(rename = "net.listen")]
    NetListen { fd: i32 },
    #[serde(rename = "net.sendto")]
    NetSendto {
        family: String,
        addr: String,
        port: u16,
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dns: Option<DnsQuestion>,
    },
    /// dup2/dup3 of a socket onto stdin/stdout/stderr (reverse shell shape).
    #[serde(rename = "net.socket_dup")]
    NetSocketDup { socket: String, target_fd: i32 },

    // ---- network (sink view) ---------------------------------------------------
    #[serde(rename = "dns.query")]
    DnsQuery {
        name: String,
        qtype: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        answers: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rcode: Option<String>,
    },
    /// A connection the sink accepted.
    #[serde(rename = "net.connection")]
    NetConnection {
        conn_id: u64,
        dst_addr: String,
        dst_port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `http`, `tls`, `raw`, ...
        protocol: String,
        bytes_sent: u64,
        bytes_received: u64,
        duration_ms: u64,
        /// How it ended: `closed`, `reset`, `timeout`, `cap`.
        end: String,
    },
    #[serde(rename = "tls.handshake")]
    TlsHandshake {
        conn_id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sni: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        alpn: Vec<String>,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    #[serde(rename = "http.request")]
    HttpRequest {
        conn_id: u64,
        method: String,
        /// Full URL as the client meant it (`https://host/path?query`).
        url: String,
        host: String,
        path: String,
        headers: Headers,
        /// Body decoded (chunked/gzip/deflate) as UTF-8 when it is text, else base64
        /// prefixed with `base64:`; cut at the capture cap.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        body: String,
        body_bytes: u64,
        tls: bool,
        /// Status the sink answered with.
        #[serde(default)]
        response_status: u16,
    },
    /// Bytes on a connection that was neither HTTP nor TLS.
    #[serde(rename = "net.data")]
    NetData {
        conn_id: u64,
        dst_addr: String,
        dst_port: u16,
        hex: String,
        printable: String,
        bytes: u64,
    },

    // ---- bait and analysis -------------------------------------------------------
    /// A canary file, or another process's memory/environment, was read.
    #[serde(rename = "secret.read")]
    SecretRead {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canary_id: Option<String>,
        path: String,
        via: String,
    },
    /// A canary value was found in captured traffic or in a file the package wrote.
    #[serde(rename = "canary.leaked")]
    CanaryLeaked {
        canary_id: String,
        kind: String,
        encoding: String,
        /// `https://host/path`, `dns:name`, `tcp:addr:port`, `file:/path`.
        destination: String,
        /// seq of the event whose bytes held the canary.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        carrier_seq: Option<u64>,
    },
    /// The package looked at something only a sandbox-aware program looks at.
    #[serde(rename = "probe")]
    Probe { what: String, path: String },

    // ---- in-process hooks --------------------------------------------------------
    #[serde(rename = "hook")]
    Hook {
        /// `python` or `node`.
        runtime: String,
        /// Audit event name (`subprocess.Popen`, `exec`, `socket.connect`, ...).
        event: String,
        #[serde(default)]
        args: serde_json::Value,
    },

    // ---- static pass ---------------------------------------------------------------
    #[serde(rename = "static.signal")]
    StaticSignal {
        /// Stable kebab-case signal id (`obfuscation`, `decode-eval`, `install-script`).
        signal: String,
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
        detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
    },

    /// Something a human should know about the run (e.g. trace truncated).
    #[serde(rename = "note")]
    Note { message: String },
}

impl EventKind {
    /// The dotted type name, as serialized.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::PhaseStart { .. } => "phase.start",
            EventKind::PhaseEnd { .. } => "phase.end",
            EventKind::LimitHit { .. } => "limit.hit",
            EventKind::ProcessStart { .. } => "process.start",
            EventKind::ProcessExec { .. } => "process.exec",
            EventKind::ProcessExit { .. } => "process.exit",
            EventKind::ProcessAccess { .. } => "process.access",
            EventKind::FileOpen { .. } => "file.open",
            EventKind::FileWrite { .. } => "file.write",
            EventKind::FileUnlink { .. } => "file.unlink",
            EventKind::FileRename { .. } => "file.rename",
            EventKind::FileChmod { .. } => "file.chmod",
            EventKind::FileSymlink { .. } => "file.symlink",
            EventKind::FileMkdir { .. } => "file.mkdir",
            EventKind::FsChange { .. } => "fs.change",
            EventKind::NetSocket { .. } => "net.socket",
            EventKind::NetConnect { .. } => "net.connect",
            EventKind::NetBind { .. } => "net.bind",
            EventKind::NetListen { .. } => "net.listen",
            EventKind::NetSendto { .. } => "net.sendto",
            EventKind::NetSocketDup { .. } => "net.socket_dup",
            EventKind::DnsQuery { .. } => "dns.query",
            EventKind::NetConnection { .. } => "net.connection",
            EventKind::TlsHandshake { .. } => "tls.handshake",
            EventKind::HttpRequest { .. } => "http.request",
            EventKind::NetData { .. } => "net.data",
            EventKind::SecretRead { .. } => "secret.read",
            EventKind::CanaryLeaked { .. } => "canary.leaked",
            EventKind::Probe { .. } => "probe",
            EventKind::Hook { .. } => "hook",
            EventKind::StaticSignal { .. } => "static.signal",
            EventKind::Note { .. } => "note",
        }
    }

    /// The file the event is about, with a line when it names one (static signals).
    pub fn file(&self) -> Option<(&str, Option<u32>)> {
        let p = match self {
            EventKind::FileOpen { path, .. }
            | EventKind::FileWrite { path, .. }
            | EventKind::FileUnlink { path, .. }
            | EventKind::FileChmod { path, .. }
            | EventKind::FileMkdir { path, .. }
            | EventKind::FsChange { path, .. }
            | EventKind::SecretRead { path, .. }
            | EventKind::ProcessExec { path, .. } => path,
            EventKind::FileRename { to, .. } => to,
            EventKind::FileSymlink { link, .. } => link,
            EventKind::StaticSignal { file, line, .. } => return Some((file, *line)),
            _ => return None,
        };
        Some((p, None))
    }
}

/// A DNS question decoded from a datagram sent to port 53.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsQuestion {
    pub name: String,
    pub qtype: String,
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseStatus {
    /// The command ran to its end with exit code 0.
    Ok,
    /// The command ran to its end with a non-zero exit code.
    Failed,
    /// The phase exceeded its time limit and was killed.
    TimedOut,
    /// Not run (an earlier phase made it pointless).
    Skipped,
    /// The sandbox failed around the phase.
    Error,
}

impl fmt::Display for PhaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhaseStatus::Ok => "ok",
            PhaseStatus::Failed => "failed",
            PhaseStatus::TimedOut => "timed out",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::Error => "error",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsChangeKind {
    Added,
    Modified,
    Deleted,
}

/// Errors reading a trace.
#[derive(Debug)]
pub enum TraceError {
    Io(std::io::Error),
    /// A line that is not a valid record: 1-based line number and the reason.
    Parse {
        line: u64,
        message: String,
    },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "reading trace: {e}"),
            TraceError::Parse { line, message } => write!(f, "trace line {line}: {message}"),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<std::io::Error> for TraceError {
    fn from(e: std::io::Error) -> Self {
        TraceError::Io(e)
    }
}

/// Streams records from JSON Lines without holding the trace in memory.
pub struct TraceReader<R> {
    inner: R,
    line: u64,
    buf: String,
}

impl<R: BufRead> TraceReader<R> {
    pub fn new(inner: R) -> Self {
        TraceReader {
            inner,
            line: 0,
            buf: String::new(),
        }
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.inner.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
            self.line += 1;
            let text = self.buf.trim();
            if text.is_empty() {
                continue;
            }
            return Some(serde_json::from_str(text).map_err(|e| TraceError::Parse {
                line: self.line,
                message: e.to_string(),
            }));
        }
    }
}

/// Writes records as JSON Lines and numbers events.
pub struct TraceWriter<W: Write> {
    out: W,
    next_seq: u64,
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W) -> Self {
        TraceWriter { out, next_seq: 0 }
    }

    pub fn header(&mut self, header: &TraceHeader) -> std::io::Result<()> {
        self.line(&Record::Header(header.clone()))
    }

    /// Writes an event, replacing its `seq` with the next number; returns that number.
    pub fn event(&mut self, mut event: Event) -> std::io::Result<u64> {
        event.seq = self.next_seq;
        self.next_seq += 1;
        let seq = event.seq;
        self.line(&Record::Event(event))?;
        Ok(seq)
    }

    pub fn footer(&mut self, mut footer: TraceFooter) -> std::io::Result<()> {
        footer.events = self.next_seq;
        self.line(&Record::Footer(footer))?;
        self.out.flush()
    }

    pub fn events_written(&self) -> u64 {
        self.next_seq
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, record: &Record) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }
}

/// A whole trace in memory; convenient for small traces, tests and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub header: TraceHeader,
    pub events: Vec<Event>,
    pub footer: Option<TraceFooter>,
}

impl Trace {
    /// Reads a complete trace; the first record must be a header.
    pub fn read<R: BufRead>(input: R) -> Result<Trace, TraceError> {
        let mut header = None;
        let mut events = Vec::new();
        let mut footer = None;
        for (i, rec) in TraceReader::new(input).enumerate() {
            match rec? {
                Record::Header(h) if i == 0 => header = Some(h),
                Record::Header(_) => {
                    return Err(TraceError::Parse {
                        line: i as u64 + 1,
                        message: "second header".into(),
                    })
                }
                Record::Event(e) => events.push(e),
                Record::Footer(f) => footer = Some(f),
            }
        }
        let header = header.ok_or(TraceError::Parse {
            line: 1,
            message: "trace does not start with a header record".into(),
        })?;
        Ok(Trace {
            header,
            events,
            footer,
        })
    }

    /// Writes the trace as JSON Lines (events renumbered in order).
    pub fn write<W: Write>(&self, out: W) -> std::io::Result<()> {
        let mut w = TraceWriter::new(out);
        w.header(&self.header)?;
        for e in &self.events {
            w.event(e.clone())?;
        }
        if let Some(f) = &self.footer {
            w.footer(f.clone())?;
        }
        Ok(())
    }

    pub fn is_complete(&self) -> bool {
        self.footer.as_ref().is_some_and(|f| f.complete)
    }
}

impl Event {
    /// A new event with `seq` 0 (the writer numbers it).
    pub fn new(ts: f64, phase: impl Into<String>, source: Source, kind: EventKind) -> Event {
        Event {
            seq: 0,
            ts,
            phase: phase.into(),
            source,
            proc: None,
            actor: None,
            kind,
        }
    }

    pub fn with_proc(mut self, proc: ProcRef) -> Event {
        self.proc = Some(proc);
        self
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.pid)
    }
}

/// Current time as unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystem_names_round_trip() {
        for e in [Ecosystem::Npm, Ecosystem::Pypi] {
            assert_eq!(e.to_string().parse::<Ecosystem>(), Ok(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{e}\""));
        }
        assert_eq!(
            "cargo".parse::<Ecosystem>().unwrap_err().to_string(),
            "unknown ecosystem \"cargo\""
        );
        assert_eq!(Ecosystem::default(), Ecosystem::Npm);
    }

    fn header() -> TraceHeader {
        TraceHeader {
            schema_version: SCHEMA_VERSION,
            run_id: "r1".into(),
            started_at: 1.0,
            package: PackageRef {
                ecosystem: Some(Ecosystem::Npm),
                name: "x".into(),
                version: "1.0.0".into(),
                ..Default::default()
            },
            tool_version: "0".into(),
            image: None,
            persona: None,
            home: None,
            package_dir: None,
            canaries: vec![],
            notes: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trip_and_type_names() {
        let ev = Event::new(
            2.5,
            "install",
            Source::Strace,
            EventKind::NetConnect {
                family: "AF_INET".into(),
                addr: "1.2.3.4".into(),
                port: 443,
                name: None,
                outcome: Outcome::Err("ECONNREFUSED".into()),
            },
        )
        .with_proc(ProcRef {
            pid: 7,
            exe: "curl".into(),
            ..Default::default()
        });
        let trace = Trace {
            header: header(),
            events: vec![ev.clone(), ev],
            footer: Some(TraceFooter {
                events: 0,
                ended_at: 3.0,
                complete: true,
                gaps: vec![],
            }),
        };
        let mut buf = Vec::new();
        trace.write(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .contains(r#""type":"net.connect""#),
            "{text}"
        );
        assert!(text.contains(r#""record":"footer""#));
        let back = Trace::read(&buf[..]).unwrap();
        assert_eq!(back.events.len(), 2);
        assert_eq!(back.events[1].seq, 1);
        assert_eq!(back.footer.unwrap().events, 2);
        assert_eq!(back.events[0].kind.type_name(), "net.connect");
    }

    #[test]
    fn reader_reports_line_numbers() {
        let input = "{\"record\":\"header\"}\n\nnot json\n";
        let err = Trace::read(input.as_bytes()).unwrap_err();
        assert!(matches!(err, TraceError::Parse { line: 1, .. }), "{err}");
        let mut buf = Vec::new();
        TraceWriter::new(&mut buf).header(&header()).unwrap();
        buf.extend_from_slice(b"\nnot json\n");
        match Trace::read(&buf[..]).unwrap_err() {
            TraceError::Parse { line, .. } => assert_eq!(line, 3),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let line = r#"{"record":"event","seq":0,"ts":1.0,"phase":"install","source":"strace","type":"note","message":"m","added_later":1}"#;
        let rec: Record = serde_json::from_str(line).unwrap();
        assert!(matches!(
            rec,
            Record::Event(Event {
                kind: EventKind::Note { .. },
                ..
            })
        ));
    }
}
