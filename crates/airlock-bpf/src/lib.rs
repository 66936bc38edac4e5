//! airlock-bpf: the recorder that watches the sandbox from outside. BPF programs on the
//! host ([`kernel`], source in `src/bpf/recorder.bpf.c`) are attached to the raw syscall
//! tracepoints and to `sched_process_fork`/`exit`, keep only the sandbox container's
//! cgroup, and write one record per call strace would have traced. This side splits the
//! records into the phases' process trees ([`split`]), turns each into the call strace
//! would have printed ([`convert`]) and feeds it to the same
//! [`airlock_recorder::Recorder`] — so the events, and the rules over them, are the same
//! whichever backend recorded; only `source` says `ebpf`.
//!
//! Nothing of it lives in the package's PID namespace: the container needs no
//! `SYS_PTRACE`, no strace runs in it, and `TracerPid` stays 0. A separate crate because
//! its build needs clang and compiles libbpf: the crates that only parse stay light.
//!
//! ```no_run
//! use airlock_bpf::{RecorderChoice, Session};
//! let session = RecorderChoice::from_env().start()?; // None: strace records
//! if let Some(s) = &session {
//!     s.watch_container("3f9c…")?;
//!     s.begin_phase(airlock_recorder::RecorderConfig::new("install"), &["npm".into(), "ci".into()]);
//!     // ... run the phase ...
//!     let taken = s.end_phase("install")?;
//!     assert_eq!(taken.lost, 0);
//! }
//! # Ok::<(), airlock_bpf::BpfError>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cgroup;
pub mod convert;
pub mod kernel;
pub mod phase;
pub mod raw;
pub mod split;

use std::str::FromStr;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use airlock_recorder::RecorderConfig;

pub use kernel::Taken;
pub use phase::{phase_events, PhaseEvents};
pub use split::{PhaseRecording, Splitter};

/// Environment variable that picks the recorder (`auto`, `ebpf`, `strace`).
pub const RECORDER_ENV: &str = "AIRLOCK_RECORDER";

/// Why the eBPF recorder cannot record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BpfError {
    #[error("the eBPF recorder needs root (running as uid {0})")]
    NotRoot(u32),
    #[error(
        "the kernel has no BTF (/sys/kernel/btf/vmlinux missing), which the eBPF recorder needs"
    )]
    NoBtf,
    #[error("eBPF recorder: {0}")]
    Load(String),
    #[error("eBPF recorder: no cgroup v2 directory for container {container}: {reason}")]
    Cgroup { container: String, reason: String },
    #[error("eBPF recorder: its thread is gone ({0})")]
    Thread(String),
    #[error("unknown recorder {0:?} (expected auto, ebpf or strace)")]
    Choice(String),
}

/// Which recorder a scan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecorderChoice {
    /// eBPF when it loads (root, BTF, verifier), else strace.
    #[default]
    Auto,
    /// eBPF or an error.
    Ebpf,
    /// strace inside the container.
    Strace,
}

impl FromStr for RecorderChoice {
    type Err = BpfError;
    fn from_str(s: &str) -> Result<Self, BpfError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(RecorderChoice::Auto),
            "ebpf" | "bpf" => Ok(RecorderChoice::Ebpf),
            "strace" => Ok(RecorderChoice::Strace),
            other => Err(BpfError::Choice(other.to_string())),
        }
    }
}

impl RecorderChoice {
    /// From [`RECORDER_ENV`]; unset or unreadable is `auto`.
    pub fn from_env() -> RecorderChoice {
        match std::env::var(RECORDER_ENV) {
            Ok(v) => v.parse().unwrap_or_else(|e| {
                tracing::warn!("{e}; using auto");
                RecorderChoice::Auto
            }),
            Err(_) => RecorderChoice::Auto,
        }
    }

    /// Starts the eBPF session this choice asks for: `None` means strace records.
    /// `auto` falls back to strace (with a log line saying why); `ebpf` fails instead.
    pub fn start(self) -> Result<Option<Session>, BpfError> {
        match self {
            RecorderChoice::Strace => Ok(None),
            RecorderChoice::Ebpf => Session::start().map(Some),
            RecorderChoice::Auto => match Session::start() {
                Ok(s) => Ok(Some(s)),
                Err(e) => {
                    tracing::info!("{e}; recording with strace instead");
                    Ok(None)
                }
            },
        }
    }
}

/// A loaded recorder for one scan: its programs stay attached until it is dropped.
pub struct Session {
    cmds: mpsc::Sender<kernel::Cmd>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// How long a command may wait for the recorder's thread.
const REPLY: Duration = Duration::from_secs(30);

impl Session {
    /// Checks root and BTF, loads and attaches the programs.
    pub fn start() -> Result<Session, BpfError> {
        Session::start_inner(None)
    }

    /// [`Session::start`], also writing every raw record to `path` (each as a
    /// little-endian u32 length and the bytes; [`read_dump`] reads it back) — how the
    /// fixtures of the conversion tests are recorded.
    pub fn start_dumping(path: &std::path::Path) -> Result<Session, BpfError> {
        let f = std::fs::File::create(path)
            .map_err(|e| BpfError::Load(format!("creating {}: {e}", path.display())))?;
        Session::start_inner(Some(std::io::BufWriter::new(f)))
    }

    fn start_inner(dump: Option<std::io::BufWriter<std::fs::File>>) -> Result<Session, BpfError> {
        let uid = rustix::process::geteuid().as_raw();
        if uid != 0 {
            return Err(BpfError::NotRoot(uid));
        }
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            return Err(BpfError::NoBtf);
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("airlock-bpf".into())
            .spawn(move || kernel::run(ready_tx, cmd_rx, dump))
            .map_err(|e| BpfError::Thread(e.to_string()))?;
        match ready_rx.recv_timeout(REPLY) {
            Ok(Ok(())) => Ok(Session {
                cmds: cmd_tx,
                thread: Mutex::new(Some(thread)),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(e) => Err(BpfError::Thread(format!("no answer while loading: {e}"))),
        }
    }

    fn send(&self, cmd: kernel::Cmd) -> Result<(), BpfError> {
        self.cmds
            .send(cmd)
            .map_err(|_| BpfError::Thread("it stopped".into()))
    }

    /// Records the tasks of this cgroup (v2 id).
    pub fn watch_cgroup(&self, id: u64) -> Result<(), BpfError> {
        let (tx, rx) = mpsc::channel();
        self.send(kernel::Cmd::Watch(id, tx))?;
        rx.recv_timeout(REPLY)
            .map_err(|e| BpfError::Thread(e.to_string()))?
    }

    /// Records the tasks of this Docker container; returns its cgroup id.
    pub fn watch_container(&self, container_id: &str) -> Result<u64, BpfError> {
        let id = cgroup::container_cgroup_id(container_id)?;
        self.watch_cgroup(id)?;
        Ok(id)
    }

    /// A phase starts: `argv` is the command whose process tree is the phase's (the
    /// first process that execs exactly it from now on). Events get `source: ebpf`.
    pub fn begin_phase(&self, cfg: RecorderConfig, argv: &[String]) {
        let mut cfg = cfg;
        cfg.source = airlock_events::Source::Ebpf;
        let _ = self.send(kernel::Cmd::Begin(cfg, argv.to_vec()));
    }

    /// The phase ended: its events so far (its processes still running keep being
    /// recorded; their later events come with a later call).
    pub fn end_phase(&self, phase: &str) -> Result<Taken, BpfError> {
        let (tx, rx) = mpsc::channel();
        self.send(kernel::Cmd::Take {
            phase: phase.into(),
            finish: false,
            reply: tx,
        })?;
        rx.recv_timeout(REPLY)
            .map_err(|e| BpfError::Thread(e.to_string()))
    }

    /// Ends every phase's recorder (summaries of folded calls) and returns what is left.
    pub fn finish(&self) -> Result<Taken, BpfError> {
        let (tx, rx) = mpsc::channel();
        self.send(kernel::Cmd::FinishAll(tx))?;
        rx.recv_timeout(REPLY)
            .map_err(|e| BpfError::Thread(e.to_string()))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.cmds.send(kernel::Cmd::Stop);
        if let Ok(mut t) = self.thread.lock() {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

/// The records of a raw dump ([`Session::start_dumping`]), in order; a cut last record
/// is left out.
pub fn read_dump(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 4 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let start = at + 4;
        let Some(end) = start
            .checked_add(len as usize)
            .filter(|e| *e <= bytes.len())
        else {
            break;
        };
        out.push(&bytes[start..end]);
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_choices_parse() {
        assert_eq!("".parse::<RecorderChoice>(), Ok(RecorderChoice::Auto));
        assert_eq!("EBPF".parse::<RecorderChoice>(), Ok(RecorderChoice::Ebpf));
        assert_eq!(
            " strace ".parse::<RecorderChoice>(),
            Ok(RecorderChoice::Strace)
        );
        assert!(matches!(
            "ptrace".parse::<RecorderChoice>(),
            Err(BpfError::Choice(_))
        ));
        assert!(matches!(RecorderChoice::Strace.start(), Ok(None)));
    }

    #[test]
    fn dumps_read_back_record_by_record() {
        let mut d = Vec::new();
        for r in [&b"abc"[..], b"", b"defg"] {
            d.extend((r.len() as u32).to_le_bytes());
            d.extend(r);
        }
        assert_eq!(read_dump(&d), vec![&b"abc"[..], b"", b"defg"]);
    }
}
