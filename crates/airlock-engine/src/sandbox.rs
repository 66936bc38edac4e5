//! The engine's view of a sandbox, as traits: what a run needs from the container side
//! (create, stage files, exec, run a traced phase, snapshot and hash files, copy out,
//! destroy) and from the network sink. airlock-sandbox implements them with Docker; the
//! engine's unit tests implement them with a fake, so the phase loop is tested without
//! a container engine. Plain request and result types keep Docker's out of here.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A backend error, boxed (the Docker backend's is `airlock_sandbox::SandboxError`).
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The unprivileged user a sandbox runs the package as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// How the sandbox reaches the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// Loopback only.
    None,
    /// The network namespace of the sink container with this id.
    Sink(String),
}

/// What to create.
#[derive(Debug, Clone)]
pub struct SandboxRequest {
    pub run_id: String,
    pub image: String,
    pub user: User,
    pub network: Network,
    pub hostname: String,
    /// `host:container[:ro]` bind mounts.
    pub binds: Vec<String>,
    /// strace records inside the container (it needs `SYS_PTRACE`); false when the eBPF
    /// recorder watches from the host.
    pub ptrace: bool,
}

/// The network sink to start.
#[derive(Debug, Clone)]
pub struct SinkRequest {
    pub run_id: String,
    pub image: String,
    /// The binary that runs as the sink (`airlock sink`).
    pub binary: PathBuf,
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    pub hostname: String,
}

/// One traced phase to run.
#[derive(Debug, Clone)]
pub struct PhaseRequest {
    pub name: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// The recorder's command line, which runs the phase command (none for the
    /// benchmark baseline), and the file in the sandbox it writes.
    pub tracer: Option<Vec<String>>,
    pub trace_file: Option<String>,
}

/// What a phase did, as the backend saw it.
#[derive(Debug, Clone, Default)]
pub struct PhaseResult {
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// The last lines of its output.
    pub output_tail: String,
    pub output_bytes: u64,
    /// The recorder's raw output on the host, when traced.
    pub trace_path: Option<PathBuf>,
    /// Limits the phase ran into: (limit, detail).
    pub limits_hit: Vec<(String, String)>,
}

/// A command's exit and the end of its output.
#[derive(Debug, Clone, Default)]
pub struct ExecResult {
    pub exit_code: Option<i64>,
    /// The last lines of its output (stdout and stderr).
    pub output_tail: String,
}

/// Creates sandboxes and sinks.
pub trait Backend: Send + Sync {
    type Sandbox: Sandbox;
    type Sink: Sink;
    /// Whether its sandboxes can be recorded from the host by the eBPF recorder (real
    /// containers with a cgroup); fakes say no and get strace's trace files.
    fn host_recording(&self) -> bool {
        false
    }
    /// The image to run (built when missing).
    fn ensure_image(&self) -> impl Future<Output = Result<String, BackendError>> + Send;
    /// Starts the sink's container; it may not be ready yet ([`Sink::ready`]).
    fn start_sink(
        &self,
        req: &SinkRequest,
    ) -> impl Future<Output = Result<Self::Sink, BackendError>> + Send;
    fn create(
        &self,
        req: SandboxRequest,
    ) -> impl Future<Output = Result<Self::Sandbox, BackendError>> + Send;
}

/// A running network sink.
pub trait Sink: Send + Sync {
    /// What a sandbox joins ([`Network::Sink`]).
    fn id(&self) -> &str;
    /// Waits until the sink records (its listeners and routing are in place). The
    /// sandbox can be created before; no phase runs before this returned `Ok`.
    fn ready(&self) -> impl Future<Output = Result<(), BackendError>> + Send {
        async { Ok(()) }
    }
    /// Where the sink's events are on the host once it stopped.
    fn events_file(&self) -> PathBuf;
    fn stop(self) -> impl Future<Output = ()> + Send;
}

/// A running sandbox.
pub trait Sandbox: Send + Sync {
    /// Extracts a tar stream at `dest`, owned by `owner` (`uid:gid`).
    fn upload_tar(
        &self,
        dest: &str,
        tar: Vec<u8>,
        owner: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Runs an untraced command as `owner` and waits for it.
    fn exec(
        &self,
        argv: &[String],
        owner: &str,
    ) -> impl Future<Output = Result<ExecResult, BackendError>> + Send;
    /// Starts a command in the background.
    fn spawn(
        &self,
        argv: &[String],
        owner: &str,
        env: &[(String, String)],
        cwd: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Where the recorder of `phase` writes inside the sandbox.
    fn trace_file_for(&self, phase: &str) -> String;
    /// The container's id, for the eBPF recorder to find its cgroup.
    fn container_id(&self) -> Option<String> {
        None
    }
    /// Runs one traced phase with its limits.
    fn run_phase(
        &self,
        req: &PhaseRequest,
        work: &Path,
    ) -> impl Future<Output = Result<PhaseResult, BackendError>> + Send;
    /// `fs-snapshot` output for `roots` (see `airlock_recorder::fsdiff`).
    fn snapshot(
        &self,
        roots: &[String],
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
    /// sha256 of each path that is a regular file.
    fn hash_files(
        &self,
        paths: &[String],
    ) -> impl Future<Output = Result<HashMap<String, String>, BackendError>> + Send;
    /// The first `cap` bytes of each path.
    fn read_files(
        &self,
        paths: &[String],
        cap: u64,
    ) -> impl Future<Output = Result<HashMap<String, Vec<u8>>, BackendError>> + Send;
    /// Copies one file out to the host.
    fn copy_out(
        &self,
        path: &str,
        dest: &Path,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Removes the sandbox (always called, also after errors).
    fn destroy(self) -> impl Future<Output = ()> + Send;
}
