//! One sandbox: a hardened container (a root file system only root can write to,
//! size-limited tmpfs areas, no capabilities for the package's processes,
//! no-new-privileges, memory/CPU/pids limits, no Docker socket), optionally joined to a
//! network-sink container that owns its network namespace. Phases run through `docker
//! exec` as root under the tracer, which drops to the unprivileged user with `setpriv`
//! (uid/gid switch, empty bounding and inheritable capability sets) before the package's
//! code runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::container::{Config, LogOutput, StartContainerOptions};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{HostConfig, ResourcesUlimits};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

mod trace_stream;

use crate::docker::{create_owned, labels, remove_container, Tracker};
use crate::error::SandboxError;

/// Resource limits of one sandbox.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: i64,
    /// CPUs in units of 1e-9.
    pub nano_cpus: i64,
    pub pids: i64,
    /// Sizes (bytes) of the writable areas.
    pub home_bytes: u64,
    pub work_bytes: u64,
    pub tmp_bytes: u64,
    /// Bytes of trace kept on the host per phase. The tracer's output streams out of the
    /// container as it is written (it never fills an area inside), repetitive lines are
    /// folded into counts on the way ([`airlock_recorder::fold`]), and past this size the
    /// rest is counted, not kept, and the phase reports the `trace` limit (the trace is
    /// then incomplete). Also the size of the root-only area for the hook log.
    pub trace_bytes: u64,
    /// Output kept per phase (stdout+stderr), the rest only counted.
    pub output_cap: usize,
}

/// Lowers the sandbox's memory limit (MiB, at least 256, never above the default): for
/// tests and small hosts. A package cannot set it: it is read by airlock on the host.
pub const MEMORY_ENV: &str = "AIRLOCK_SANDBOX_MEMORY_MIB";

const DEFAULT_MEMORY: i64 = 3 << 30;

fn memory_limit() -> i64 {
    std::env::var(MEMORY_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|mib| (mib.max(256) << 20).min(DEFAULT_MEMORY))
        .unwrap_or(DEFAULT_MEMORY)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: memory_limit(),
            nano_cpus: 2_000_000_000,
            pids: 512,
            home_bytes: 1 << 30,
            work_bytes: 1 << 30,
            tmp_bytes: 256 << 20,
            trace_bytes: 512 << 20,
            output_cap: 256 << 10,
        }
    }
}

/// The unprivileged user the package runs as (it exists in the image).
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

impl Default for UserSpec {
    fn default() -> Self {
        UserSpec {
            name: "runner".into(),
            uid: 1001,
            gid: 1001,
            home: "/home/runner".into(),
        }
    }
}

/// How the sandbox reaches (or does not reach) a network.
#[derive(Debug, Clone)]
pub enum NetworkSpec {
    /// `--network none`: only loopback.
    None,
    /// Join the network namespace of this (sink) container.
    Container(String),
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub run_id: String,
    pub image: String,
    pub limits: Limits,
    pub user: UserSpec,
    pub network: NetworkSpec,
    /// Hostname (ignored when joining another container's network, which sets it).
    pub hostname: String,
    /// Extra read-only bind mounts `host:container`. A host *file* is copied in at start
    /// instead (root's, mode 0644): a bind mount shows its host path, which names the
    /// tool's work directory, in the package's /proc/self/mountinfo (issue 16).
    pub binds: Vec<String>,
    /// Grant `SYS_PTRACE` for strace inside; off when the eBPF recorder watches from the
    /// host (then nothing in the container can trace).
    pub ptrace: bool,
}

/// What a phase runs.
#[derive(Debug, Clone)]
pub struct PhaseSpec {
    pub name: String,
    /// The command the package's user runs (argv).
    pub argv: Vec<String>,
    pub cwd: String,
    /// Environment of the package's processes.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Tracer argv prefix ending just before the command (e.g. `strace … -o FILE --`);
    /// `None` runs untraced.
    pub tracer: Option<Vec<String>>,
    /// Where the tracer writes inside the container (collected after the phase).
    pub trace_file: Option<String>,
}

/// How a phase went, plus where its raw trace was copied on the host.
#[derive(Debug, Clone)]
pub struct PhaseOutcome {
    pub name: String,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub output: ExecOutput,
    pub trace_path: Option<PathBuf>,
    /// Bytes of trace collected.
    pub trace_bytes: u64,
    /// Limits the phase ran into (`pids`, `memory`, `oom`, `killed`, `output`, `trace`).
    pub limits_hit: Vec<(String, String)>,
    pub started_at: f64,
}

/// Output of an exec, capped.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// stdout and stderr interleaved as they came, up to the cap.
    pub text: Vec<u8>,
    pub total_bytes: u64,
    pub truncated: bool,
    /// The last bytes seen (up to 8 KiB), so the end of a long output is never lost.
    pub last: Vec<u8>,
}

const LAST_KEEP: usize = 8 << 10;

impl ExecOutput {
    fn push(&mut self, bytes: &[u8], cap: usize) {
        self.total_bytes += bytes.len() as u64;
        let room = cap.saturating_sub(self.text.len());
        if room < bytes.len() {
            self.truncated = true;
        }
        self.text.extend_from_slice(&bytes[..room.min(bytes.len())]);
        self.last
            .extend_from_slice(&bytes[bytes.len().saturating_sub(LAST_KEEP)..]);
        if self.last.len() > 2 * LAST_KEEP {
            self.last.drain(..self.last.len() - LAST_KEEP);
        }
    }

    /// The last `n` lines as text (from the end of the output even when it was cut).
    pub fn tail(&self, n: usize) -> String {
        let s = String::from_utf8_lossy(if self.truncated {
            &self.last
        } else {
            &self.text
        });
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// A running sandbox container. Call [`Sandbox::destroy`] when done; the [`Tracker`]
/// given at creation also knows it, so an interrupted run can still be cleaned up.
pub struct Sandbox {
    docker: Docker,
    id: String,
    cfg: SandboxConfig,
    tracker: Tracker,
    pids_failures_before: u64,
    /// OOM kills counted when last looked (at creation, then after each phase): the
    /// next phase's "before", so a phase costs one counter read instead of two.
    oom_seen: std::sync::Mutex<Option<u64>>,
}

/// The phase runner in the image (`sandbox-images/sandbox/rootfs/…/bin/step`).
const STEP: &str = "/usr/local/lib/devtools/bin/step";

/// Root-only (0700) area for the trace and the hook log, where systemd keeps its
/// volatile journal: no path in the sandbox names the tool (issue 16).
const TRACE_DIR: &str = "/run/log/journal";

impl Sandbox {
    /// Creates and starts the sandbox container.
    pub async fn create(
        docker: &Docker,
        cfg: SandboxConfig,
        tracker: &Tracker,
    ) -> Result<Sandbox, SandboxError> {
        let l = &cfg.limits;
        let u = &cfg.user;
        let tmpfs = HashMap::from([
            (
                u.home.clone(),
                format!(
                    "rw,exec,nosuid,nodev,size={},uid={},gid={},mode=0750",
                    l.home_bytes, u.uid, u.gid
                ),
            ),
            (
                "/work".to_string(),
                format!(
                    "rw,exec,nosuid,nodev,size={},uid={},gid={},mode=0755",
                    l.work_bytes, u.uid, u.gid
                ),
            ),
            (
                "/tmp".to_string(),
                format!("rw,exec,nosuid,nodev,size={},mode=1777", l.tmp_bytes),
            ),
            (
                "/var/tmp".to_string(),
                format!("rw,exec,nosuid,nodev,size={},mode=1777", l.tmp_bytes / 4),
            ),
            (
                "/run".to_string(),
                "rw,exec,nosuid,nodev,size=16777216,mode=0755".to_string(),
            ),
            (
                TRACE_DIR.to_string(),
                format!("rw,nosuid,nodev,noexec,size={},mode=0700", l.trace_bytes),
            ),
        ]);
        let (network_mode, hostname) = match &cfg.network {
            NetworkSpec::None => ("none".to_string(), Some(cfg.hostname.clone())),
            NetworkSpec::Container(id) => (format!("container:{id}"), None),
        };
        let host_config = HostConfig {
            network_mode: Some(network_mode),
            cap_drop: Some(vec!["ALL".into()]),
            // Only for the root-side helpers (tracer, setpriv, snapshots). The package's
            // processes lose all of them: setpriv clears the bounding set before exec.
            // SYS_PTRACE lets the root tracer read the memory of the (other-uid) tracees
            // during the setuid→exec window, where it would otherwise print pointers.
            cap_add: Some(
                [
                    "SYS_PTRACE",
                    "SETUID",
                    "SETGID",
                    "SETPCAP",
                    "DAC_READ_SEARCH",
                ]
                .iter()
                .filter(|c| cfg.ptrace || **c != "SYS_PTRACE")
                .map(|c| c.to_string())
                .collect(),
            ),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            // Writable by root only (everything outside the tmpfs areas is root's, and the
            // package's user has no capability), so that `/.dockerenv` can be removed at
            // start: a read-only root is itself a container tell, and Docker puts that
            // file into every container's root (issue 16).
            readonly_rootfs: Some(false),
            // Its own cgroup namespace: /proc/*/cgroup reads `0::/`, not `/docker/<id>`.
            cgroupns_mode: Some(bollard::models::HostConfigCgroupnsModeEnum::PRIVATE),
            tmpfs: Some(tmpfs),
            memory: Some(l.memory_bytes),
            memory_swap: Some(l.memory_bytes),
            nano_cpus: Some(l.nano_cpus),
            pids_limit: Some(l.pids),
            // PID 1 is the image's /sbin/init (shim/init.c): reaps orphans, ends with its
            // input, and is `systemd` in ps — not `docker-init -- cat`.
            init: Some(false),
            binds: {
                let dirs: Vec<String> = cfg
                    .binds
                    .iter()
                    .filter(|b| !bind_is_file(b))
                    .cloned()
                    .collect();
                (!dirs.is_empty()).then_some(dirs)
            },
            ulimits: Some(vec![
                ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(4096),
                    hard: Some(4096),
                },
                ResourcesUlimits {
                    name: Some("core".into()),
                    soft: Some(0),
                    hard: Some(0),
                },
            ]),
            ..Default::default()
        };
        let config = Config {
            image: Some(cfg.image.clone()),
            // Ends at the end of its input: airlock holds the stdin open, so a container
            // whose airlock died stops and is removed by itself (docker::create_owned).
            cmd: Some(vec!["/sbin/init".to_string()]),
            user: Some("0:0".into()),
            hostname,
            labels: Some(labels(&cfg.run_id)),
            env: Some(vec!["LANG=C.UTF-8".into()]),
            working_dir: Some("/work".into()),
            network_disabled: None,
            host_config: Some(host_config),
            ..Default::default()
        };
        let name = format!("airlock-{}", cfg.run_id);
        let id = create_owned(docker, &name, config, tracker).await?;
        let mut sb = Sandbox {
            docker: docker.clone(),
            id,
            cfg,
            tracker: tracker.clone(),
            pids_failures_before: 0,
            oom_seen: std::sync::Mutex::new(None),
        };
        docker
            .start_container(&sb.id, None::<StartContainerOptions<String>>)
            .await
            .map_err(SandboxError::docker(format!(
                "starting sandbox container {name}"
            )))?;
        // Docker's mark in every container's root; the root is root's to change.
        sb.exec(&["rm", "-f", "/.dockerenv"], "0:0", None, 4096)
            .await?;
        for bind in sb.cfg.binds.clone().iter().filter(|b| bind_is_file(b)) {
            let mut parts = bind.splitn(3, ':');
            let (Some(host), Some(dest)) = (parts.next(), parts.next()) else {
                continue;
            };
            let bytes = std::fs::read(host).map_err(|e| SandboxError::Io {
                path: PathBuf::from(host),
                source: e,
            })?;
            let script = "cat > \"$1\" && chmod 0644 \"$1\"";
            let (code, out) = sb
                .exec(
                    &["sh", "-c", script, "copy-in", dest],
                    "0:0",
                    Some(bytes),
                    4096,
                )
                .await?;
            if code != Some(0) {
                return Err(SandboxError::Container {
                    container: sb.id.clone(),
                    message: format!("copying {host} to {dest} failed: {}", out.tail(3)),
                });
            }
        }
        let counters = sb.cgroup_counters().await;
        sb.pids_failures_before = counters.pids_refused.unwrap_or(0);
        sb.remember_oom(counters.oom_kills);
        Ok(sb)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.cfg
    }

    /// Runs a command inside the container and waits for it (no tracer, no user switch
    /// beyond `user`). Used for set-up and collection.
    pub async fn exec(
        &self,
        argv: &[&str],
        user: &str,
        stdin: Option<Vec<u8>>,
        cap: usize,
    ) -> Result<(Option<i64>, ExecOutput), SandboxError> {
        let (code, out, _) = self
            .exec_inner(
                argv.iter().map(|s| s.to_string()).collect(),
                user,
                vec![],
                "/",
                stdin,
                cap,
                None,
            )
            .await?;
        Ok((code, out))
    }

    /// Extracts a tar stream into `dest` as the given user (e.g. the home skeleton, the
    /// project, bait files). tmpfs mounts are invisible to Docker's archive API, so the
    /// stream goes through `tar -x` in the container.
    pub async fn upload_tar(
        &self,
        dest: &str,
        tar: Vec<u8>,
        user: &str,
    ) -> Result<(), SandboxError> {
        let (code, out) = self
            .exec(
                &["tar", "-x", "--no-same-owner", "-C", dest, "-f", "-"],
                user,
                Some(tar),
                16 << 10,
            )
            .await?;
        if code != Some(0) {
            return Err(SandboxError::Container {
                container: self.id.clone(),
                message: format!("unpacking into {dest} failed: {}", out.tail(5)),
            });
        }
        Ok(())
    }

    /// Runs one phase under the tracer with its time limit. The tracer writes into a FIFO
    /// that a root `cat` streams to `host_dir/<phase>.strace` while the phase runs
    /// ([`TraceStream`]), so a flood of calls can neither fill an area in the container nor
    /// leave the next phase untraced.
    pub async fn run_phase(
        &self,
        spec: &PhaseSpec,
        host_dir: &Path,
    ) -> Result<PhaseOutcome, SandboxError> {
        let oom_before = self.oom_seen.lock().ok().and_then(|g| *g);
        let stream = match &spec.trace_file {
            Some(file) => {
                let dest = host_dir.join(format!("{}.strace", spec.name));
                Some(self.stream_trace(file, dest).await?)
            }
            None => None,
        };
        let u = &self.cfg.user;
        // `step` (root) holds the in-container deadline and runs the tracer, if any, and
        // setpriv, which becomes the package's user with no capabilities left. Its own
        // settings travel in its environment (root's, unreadable to the package) and are
        // removed before the command runs: the command line every process can read is
        // the step's command alone (issue 16).
        let mut argv: Vec<String> = vec![STEP.to_string()];
        argv.extend(spec.argv.iter().cloned());
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend([
            format!("STEP_LIMIT={}", spec.timeout.as_secs().max(1)),
            format!("STEP_UID={}", u.uid),
            format!("STEP_GID={}", u.gid),
        ]);
        if let Some(tracer) = &spec.tracer {
            env.push(format!("STEP_TRACER={}", tracer.join(" ")));
        }
        let started_at = airlock_now();
        let t0 = Instant::now();
        // The host-side deadline is only a backstop for a watchdog the package killed.
        let (exit_code, output, host_timed_out) = self
            .exec_inner(
                argv,
                "0:0",
                env,
                &spec.cwd,
                None,
                self.cfg.limits.output_cap,
                Some(spec.timeout + Duration::from_secs(30)),
            )
            .await?;
        let timed_out = host_timed_out
            || (exit_code == Some(124)
                && t0.elapsed() + Duration::from_secs(1) >= spec.timeout
                && output.tail(3).contains("airlock-phase: time limit"));
        let duration_ms = t0.elapsed().as_millis() as u64;
        let mut limits_hit = Vec::new();
        if output.truncated {
            limits_hit.push((
                "output".to_string(),
                format!(
                    "phase printed {} bytes; kept the first {}",
                    output.total_bytes,
                    output.text.len()
                ),
            ));
        }
        let counters = self.cgroup_counters().await;
        self.remember_oom(counters.oom_kills);
        if let (Some(before), Some(after)) = (oom_before, counters.oom_kills) {
            if after > before {
                limits_hit.push((
                    "oom".to_string(),
                    format!(
                        "the kernel's OOM killer killed {} process(es) at the memory limit of {} MiB",
                        after - before,
                        self.cfg.limits.memory_bytes >> 20
                    ),
                ));
            }
        }
        if !timed_out && exit_code == Some(137) {
            limits_hit.push((
                "killed".to_string(),
                "the phase ended with exit status 137: a process in it was killed by SIGKILL"
                    .to_string(),
            ));
        }
        if let Some(failures) = counters.pids_refused {
            if failures > self.pids_failures_before {
                limits_hit.push((
                    "pids".to_string(),
                    format!(
                        "process limit of {} reached; {} fork attempts refused",
                        self.cfg.limits.pids,
                        failures - self.pids_failures_before
                    ),
                ));
            }
        }
        if let Some(mem) = counters.memory_hits {
            if mem > 0 {
                limits_hit.push((
                    "memory".to_string(),
                    format!(
                        "memory limit of {} MiB reached {mem} times",
                        self.cfg.limits.memory_bytes >> 20
                    ),
                ));
            }
        }
        let (trace_path, trace_bytes) = match stream {
            Some(stream) => {
                let (dest, got) = stream.finish(self).await?;
                tracing::debug!(
                    phase = %spec.name,
                    kept_bytes = got.kept_bytes,
                    folded_lines = got.folded_lines,
                    cut_lines = got.cut_lines,
                    "trace collected"
                );
                if !got.ended {
                    limits_hit.push((
                        "trace".to_string(),
                        format!(
                            "the trace stream did not end with the phase: {} bytes kept, \
                             the rest is lost; the trace is cut",
                            got.kept_bytes
                        ),
                    ));
                }
                if got.cut_lines > 0 {
                    limits_hit.push((
                        "trace".to_string(),
                        format!(
                            "trace past {} bytes on the host: {} more lines ({} bytes) counted, \
                             not kept; the trace is cut",
                            self.cfg.limits.trace_bytes, got.cut_lines, got.cut_bytes
                        ),
                    ));
                }
                (Some(dest), got.kept_bytes)
            }
            None => (None, 0),
        };
        Ok(PhaseOutcome {
            name: spec.name.clone(),
            exit_code,
            timed_out,
            duration_ms,
            output,
            trace_path,
            trace_bytes,
            limits_hit,
            started_at,
        })
    }

    fn remember_oom(&self, kills: Option<u64>) {
        if let Ok(mut g) = self.oom_seen.lock() {
            *g = kills;
        }
    }

    /// Path inside the container where a phase's trace should be written.
    pub fn trace_file_for(phase: &str) -> String {
        format!("{TRACE_DIR}/{phase}.strace")
    }

    /// Starts a long-running process (e.g. the bait's decoy) in the background as
    /// `user`, outside the tracer. It dies with the container.
    pub async fn spawn(
        &self,
        argv: &[&str],
        user: &str,
        env: &[(String, String)],
        cwd: &str,
    ) -> Result<(), SandboxError> {
        let what = argv.first().copied().unwrap_or_default().to_string();
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions::<String> {
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    user: Some(user.to_string()),
                    env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    working_dir: Some(cwd.to_string()),
                    attach_stdout: Some(false),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(SandboxError::docker(format!("exec {what}")))?;
        self.docker
            .start_exec(
                &exec.id,
                Some(bollard::exec::StartExecOptions {
                    detach: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(SandboxError::docker(format!("starting {what}")))?;
        Ok(())
    }

    /// Reads several files (each cut at `cap` bytes) in one exec, as root: path → bytes.
    /// Files that vanished or cannot be read are left out.
    pub async fn read_files(
        &self,
        paths: &[String],
        cap: u64,
    ) -> Result<HashMap<String, Vec<u8>>, SandboxError> {
        let mut result = HashMap::new();
        for chunk in paths.chunks(100) {
            // Each file as: path NUL length NUL bytes.
            let script = format!(
                "for f in \"$@\"; do [ -f \"$f\" ] || continue; n=$(head -c {cap} -- \"$f\" | wc -c); \
                 printf '%s\\0%s\\0' \"$f\" \"$n\"; head -c {cap} -- \"$f\"; done"
            );
            let mut argv = vec!["sh", "-c", script.as_str(), "read-files"];
            argv.extend(chunk.iter().map(String::as_str));
            let total = (cap as usize + 4096) * chunk.len();
            let (_, out) = self.exec(&argv, "0:0", None, total).await?;
            let mut rest = out.text.as_slice();
            while !rest.is_empty() {
                let Some(p) = rest.iter().position(|&b| b == 0) else {
                    break;
                };
                let path = String::from_utf8_lossy(&rest[..p]).into_owned();
                rest = &rest[p + 1..];
                let Some(q) = rest.iter().position(|&b| b == 0) else {
                    break;
                };
                let n: usize = String::from_utf8_lossy(&rest[..q])
                    .trim()
                    .parse()
                    .unwrap_or(0);
                rest = &rest[q + 1..];
                let n = n.min(rest.len());
                result.insert(path, rest[..n].to_vec());
                rest = &rest[n..];
            }
        }
        Ok(result)
    }

    /// Reads up to `cap` bytes of a file in the container (as root).
    pub async fn read_file(&self, path: &str, cap: u64) -> Result<Vec<u8>, SandboxError> {
        let cap_s = cap.to_string();
        let (_, out) = self
            .exec(
                &["head", "-c", &cap_s, "--", path],
                "0:0",
                None,
                cap as usize,
            )
            .await?;
        Ok(out.text)
    }

    /// Lists the writable areas (`fs-snapshot` format) for the filesystem diff.
    pub async fn snapshot(&self, roots: &[&str]) -> Result<String, SandboxError> {
        let mut argv = vec!["/usr/local/lib/devtools/bin/fs-snapshot"];
        argv.extend_from_slice(roots);
        let (_, out) = self.exec(&argv, "0:0", None, 64 << 20).await?;
        Ok(String::from_utf8_lossy(&out.text).into_owned())
    }

    /// sha256 of the given files (as root with DAC_READ_SEARCH), path → hex digest.
    pub async fn hash_files(
        &self,
        paths: &[String],
    ) -> Result<HashMap<String, String>, SandboxError> {
        let mut result = HashMap::new();
        for chunk in paths.chunks(200) {
            let mut argv = vec!["sha256sum", "--"];
            argv.extend(chunk.iter().map(|s| s.as_str()));
            let (_, out) = self.exec(&argv, "0:0", None, 8 << 20).await?;
            for line in String::from_utf8_lossy(&out.text).lines() {
                if let Some((digest, path)) = line.split_once("  ") {
                    if digest.len() == 64 {
                        result.insert(path.to_string(), digest.to_string());
                    }
                }
            }
        }
        Ok(result)
    }

    /// Reads a file from the container (as root) into a host file; returns its size.
    pub async fn copy_out(&self, path: &str, dest: &Path) -> Result<u64, SandboxError> {
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions::<String> {
                    cmd: Some(vec!["cat".into(), path.into()]),
                    user: Some("0:0".into()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(SandboxError::docker(format!("reading {path}")))?;
        let io = |e| SandboxError::Io {
            path: dest.to_path_buf(),
            source: e,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut n = 0u64;
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(SandboxError::docker(format!("reading {path}")))?
        {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message }) => {
                        n += message.len() as u64;
                        file.write_all(&message).await.map_err(io)?;
                    }
                    Ok(_) => {}
                    Err(e) => return Err(SandboxError::docker(format!("reading {path}"))(e)),
                }
            }
        }
        file.flush().await.map_err(io)?;
        Ok(n)
    }

    /// Refused forks (pids cgroup), memory-limit hits and OOM kills, read in one exec
    /// (cgroup v1 or v2). On v1 `memory.failcnt` can stay 0 while the OOM killer acts, so
    /// kills are read on their own: `oom_kill N` in v1's `memory.oom_control` (kernel
    /// 4.13+) or v2's `memory.events`.
    async fn cgroup_counters(&self) -> CgroupCounters {
        // An engine on this host: its cgroup files, read without an exec (~50-100 ms
        // each, two per phase before).
        if let Some(c) = host_cgroup_counters(std::path::Path::new(HOST_CGROUP_ROOT), &self.id) {
            return c;
        }
        let script = "echo pids $(sed -n 's/^max //p' /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/pids.events 2>/dev/null | head -1); \
                      echo mem $(cat /sys/fs/cgroup/memory/memory.failcnt 2>/dev/null || sed -n 's/^max //p' /sys/fs/cgroup/memory.events 2>/dev/null); \
                      echo oom $(sed -n 's/^oom_kill //p' /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events 2>/dev/null | head -1)";
        let Ok((_, out)) = self.exec(&["sh", "-c", script], "0:0", None, 4096).await else {
            return CgroupCounters::default();
        };
        let text = String::from_utf8_lossy(&out.text).into_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|n| n.trim().parse().ok()))
        };
        CgroupCounters {
            pids_refused: field("pids "),
            memory_hits: field("mem "),
            oom_kills: field("oom "),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn exec_inner(
        &self,
        argv: Vec<String>,
        user: &str,
        env: Vec<String>,
        cwd: &str,
        stdin: Option<Vec<u8>>,
        cap: usize,
        timeout: Option<Duration>,
    ) -> Result<(Option<i64>, ExecOutput, bool), SandboxError> {
        let what = argv.first().cloned().unwrap_or_default();
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions::<String> {
                    cmd: Some(argv),
                    user: Some(user.to_string()),
                    env: Some(env),
                    working_dir: Some(cwd.to_string()),
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(SandboxError::docker(format!("exec {what}")))?;
        let started = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(SandboxError::docker(format!("exec {what}")))?;
        let mut out = ExecOutput::default();
        let mut timed_out = false;
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            if let Some(data) = stdin {
                // Write stdin concurrently with reading output, so a chatty command
                // cannot deadlock us.
                let writer = tokio::spawn(async move {
                    let _ = input.write_all(&data).await;
                    let _ = input.shutdown().await;
                });
                while let Some(chunk) = output.next().await {
                    if let Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) = chunk
                    {
                        out.push(&message, cap);
                    }
                }
                let _ = writer.await;
            } else {
                let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
                loop {
                    let next = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, output.next()).await {
                            Ok(n) => n,
                            Err(_) => {
                                timed_out = true;
                                break;
                            }
                        },
                        None => output.next().await,
                    };
                    match next {
                        Some(Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message })) => {
                            out.push(&message, cap)
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            return Err(SandboxError::docker(format!("exec {what}"))(e))
                        }
                        None => break,
                    }
                }
                if timed_out {
                    self.kill_user_processes().await;
                    // Let the tracer see the deaths and finish writing.
                    let drain = tokio::time::timeout(Duration::from_secs(15), async {
                        while let Some(chunk) = output.next().await {
                            if let Ok(
                                LogOutput::StdOut { message } | LogOutput::StdErr { message },
                            ) = chunk
                            {
                                out.push(&message, cap);
                            }
                        }
                    })
                    .await;
                    if drain.is_err() {
                        tracing::warn!(container = %self.id, "phase did not end 15 s after the kill");
                    }
                }
            }
        }
        // The output ends a moment before the engine records the exit: look again soon
        // at first (most execs are short), then less often, for up to about 8 s.
        let mut code = None;
        for attempt in 0..100 {
            let info = self
                .docker
                .inspect_exec(&exec.id)
                .await
                .map_err(SandboxError::docker(format!("inspecting exec {what}")))?;
            if info.running != Some(true) {
                code = info.exit_code;
                break;
            }
            let pause = if attempt < 20 { 10 } else { 100 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Ok((code, out, timed_out))
    }

    /// Kills every process of the package's user (as that user: root here holds no
    /// CAP_KILL, and needs none for its own processes).
    async fn kill_user_processes(&self) {
        let user = format!("{}:{}", self.cfg.user.uid, self.cfg.user.gid);
        for _ in 0..3 {
            // Boxed: exec → exec_inner → here is a recursive async call chain.
            let _ = Box::pin(self.exec(&["kill", "-KILL", "-1"], &user, None, 1024)).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Removes the container. Always call this; errors are logged.
    pub async fn destroy(self) {
        remove_container(&self.docker, &self.id).await;
        self.tracker.forget(&self.id);
    }
}

/// Whether a `host:container[:opts]` bind names a regular file on the host.
fn bind_is_file(bind: &str) -> bool {
    bind.split(':')
        .next()
        .is_some_and(|host| Path::new(host).is_file())
}

fn airlock_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_counters_from_the_hosts_tree() {
        let root = tempfile::tempdir().unwrap();
        let id = "abc123";
        let v1 = |c: &str| root.path().join(c).join("docker").join(id);
        std::fs::create_dir_all(v1("pids")).unwrap();
        std::fs::create_dir_all(v1("memory")).unwrap();
        std::fs::write(v1("pids").join("pids.events"), "max 7\n").unwrap();
        std::fs::write(v1("memory").join("memory.failcnt"), "3\n").unwrap();
        std::fs::write(
            v1("memory").join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        let c = host_cgroup_counters(root.path(), id).unwrap();
        assert_eq!(
            (c.pids_refused, c.memory_hits, c.oom_kills),
            (Some(7), Some(3), Some(2))
        );
        // v2 under the systemd driver's scope
        let v2 = root.path().join("system.slice").join("docker-def.scope");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(v2.join("pids.events"), "max 0\n").unwrap();
        std::fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
        )
        .unwrap();
        let c = host_cgroup_counters(root.path(), "def").unwrap();
        assert_eq!(
            (c.pids_refused, c.memory_hits, c.oom_kills),
            (Some(0), Some(5), Some(1))
        );
        // another host's container: read inside instead
        assert!(host_cgroup_counters(root.path(), "elsewhere").is_none());
    }

    #[test]
    fn output_keeps_head_and_tail() {
        let mut o = ExecOutput::default();
        o.push(b"first line\n", 16);
        o.push(&vec![b'x'; 100_000], 16);
        o.push(b"\nthe end\n", 16);
        assert!(o.truncated);
        assert_eq!(o.text.len(), 16);
        assert_eq!(o.total_bytes, 11 + 100_000 + 9);
        assert!(o.tail(1).ends_with("the end"), "{}", o.tail(1));
        let mut short = ExecOutput::default();
        short.push(b"a\nb\nc\n", 1024);
        assert_eq!(short.tail(2), "b\nc");
    }
}

/// Where this host's cgroups are mounted.
const HOST_CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The container's cgroup counters from the host's cgroup tree under `root` (v1 with the
/// cgroupfs or systemd driver, or v2), or `None` when this host does not have them (a
/// remote or virtualised engine, another layout): then they are read inside.
fn host_cgroup_counters(root: &Path, id: &str) -> Option<CgroupCounters> {
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    let field = |text: &Option<String>, name: &str| -> Option<u64> {
        text.as_deref()?.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|n| n.trim().parse().ok())
        })
    };
    for dir in [
        format!("docker/{id}"),
        format!("system.slice/docker-{id}.scope"),
    ] {
        // v1: one tree per controller.
        let pids = read(root.join("pids").join(&dir).join("pids.events"));
        if pids.is_some() {
            let memory = root.join("memory").join(&dir);
            let failcnt = read(memory.join("memory.failcnt"));
            let oom = read(memory.join("memory.oom_control"));
            return Some(CgroupCounters {
                pids_refused: field(&pids, "max"),
                memory_hits: failcnt.and_then(|t| t.trim().parse().ok()),
                oom_kills: field(&oom, "oom_kill"),
            });
        }
        // v2: one tree.
        let unified = root.join(&dir);
        let pids = read(unified.join("pids.events"));
        if pids.is_some() {
            let events = read(unified.join("memory.events"));
            return Some(CgroupCounters {
                pids_refused: field(&pids, "max"),
                memory_hits: field(&events, "max"),
                oom_kills: field(&events, "oom_kill"),
            });
        }
    }
    None
}

/// Counters of the container's cgroups.
#[derive(Debug, Default)]
struct CgroupCounters {
    pids_refused: Option<u64>,
    memory_hits: Option<u64>,
    oom_kills: Option<u64>,
}
