//! The network-sink container: started first, with `--network none`, IPv6 disabled and
//! only NET_ADMIN/NET_RAW, it runs the sink (the `airlock` binary itself, mounted
//! read-only) which routes everything over `lo` and redirects every TCP connection and
//! DNS datagram to its listeners. The sandbox then joins this network namespace with no
//! capabilities, so the package can neither change the rules nor reach any other
//! network. The sink writes its record to a host directory the sandbox never sees. Like
//! the sandbox, it stops by itself when its airlock is gone (it watches its stdin, which
//! airlock holds open; see `docker::create_owned`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::container::{
    Config, KillContainerOptions, LogOutput, LogsOptions, StartContainerOptions,
    WaitContainerOptions,
};
use bollard::models::HostConfig;
use bollard::Docker;
use futures_util::StreamExt;

use crate::docker::{create_owned, labels, remove_container, Tracker};
use crate::error::SandboxError;

/// How to start a sink.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    pub run_id: String,
    pub image: String,
    /// The host binary that runs the sink (`airlock`, called as `airlock sink …`).
    pub binary: PathBuf,
    /// Host directory with `ca.pem`, `ca.key` and `bait.json` (mounted read-only).
    pub input_dir: PathBuf,
    /// Host directory the sink writes `events.jsonl` into.
    pub output_dir: PathBuf,
    /// Hostname of the namespace (the sandbox inherits it).
    pub hostname: String,
}

/// A running sink. [`SinkContainer::stop`] ends it gracefully so it writes its footer.
pub struct SinkContainer {
    docker: Docker,
    id: String,
    tracker: Tracker,
    pub events_file: PathBuf,
}

const BIN: &str = "/opt/airlock-host/airlock";
const IN: &str = "/airlock/sink-in";
const OUT: &str = "/airlock/sink-out";

impl SinkContainer {
    /// Starts the sink and waits until it is ready.
    pub async fn start(
        docker: &Docker,
        spec: &SinkSpec,
        tracker: &Tracker,
    ) -> Result<SinkContainer, SandboxError> {
        let sink = Self::launch(docker, spec, tracker).await?;
        if let Err(e) = sink.ready().await {
            sink.stop().await;
            return Err(e);
        }
        Ok(sink)
    }

    /// Creates and starts the sink's container without waiting for the sink to be
    /// ready, so the sandbox can be created meanwhile (its network namespace exists from
    /// the start: loopback only, nothing can leave before or after the sink's rules are
    /// in place). Call [`SinkContainer::ready`] before any phase runs.
    pub async fn launch(
        docker: &Docker,
        spec: &SinkSpec,
        tracker: &Tracker,
    ) -> Result<SinkContainer, SandboxError> {
        let bind = |host: &Path, container: &str, mode: &str| {
            format!("{}:{container}:{mode}", host.display())
        };
        let mut cmd = vec![
            BIN.to_string(),
            "sink".into(),
            "--setup-net".into(),
            "--out".into(),
            format!("{OUT}/events.jsonl"),
            "--stop-on-stdin-eof".into(),
        ];
        if spec.input_dir.join("ca.pem").exists() {
            cmd.extend([
                "--ca-cert".into(),
                format!("{IN}/ca.pem"),
                "--ca-key".into(),
                format!("{IN}/ca.key"),
            ]);
        }
        if spec.input_dir.join("bait.json").exists() {
            cmd.extend(["--config".into(), format!("{IN}/bait.json")]);
        }
        let host_config = HostConfig {
            network_mode: Some("none".into()),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([
                (
                    "/run".to_string(),
                    "rw,nosuid,nodev,size=16777216".to_string(),
                ),
                (
                    "/tmp".to_string(),
                    "rw,nosuid,nodev,size=16777216".to_string(),
                ),
            ])),
            sysctls: Some(HashMap::from([
                (
                    "net.ipv6.conf.all.disable_ipv6".to_string(),
                    "1".to_string(),
                ),
                (
                    "net.ipv6.conf.default.disable_ipv6".to_string(),
                    "1".to_string(),
                ),
            ])),
            memory: Some(512 << 20),
            memory_swap: Some(512 << 20),
            pids_limit: Some(256),
            binds: Some(vec![
                bind(&spec.binary, BIN, "ro"),
                bind(&spec.input_dir, IN, "ro"),
                bind(&spec.output_dir, OUT, "rw"),
            ]),
            ..Default::default()
        };
        // Root (for the namespace's rules) without CAP_DAC_OVERRIDE: it reaches the run's
        // private files through the group of the input directory (airlock's own group),
        // so they need no permission for others.
        let gid = std::os::unix::fs::MetadataExt::gid(
            &std::fs::metadata(&spec.input_dir).map_err(|e| SandboxError::Io {
                path: spec.input_dir.clone(),
                source: e,
            })?,
        );
        let config = Config {
            image: Some(spec.image.clone()),
            cmd: Some(cmd),
            user: Some(format!("0:{gid}")),
            hostname: Some(spec.hostname.clone()),
            labels: Some(labels(&spec.run_id)),
            env: Some(vec!["AIRLOCK_SINK_LOG=warn".into()]),
            host_config: Some(host_config),
            ..Default::default()
        };
        let name = format!("airlock-{}-sink", spec.run_id);
        let id = create_owned(docker, &name, config, tracker).await?;
        let sink = SinkContainer {
            docker: docker.clone(),
            id,
            tracker: tracker.clone(),
            events_file: spec.output_dir.join("events.jsonl"),
        };
        let started = docker
            .start_container(&sink.id, None::<StartContainerOptions<String>>)
            .await
            .map_err(SandboxError::docker(format!(
                "starting sink container {name}"
            )));
        // A sink that does not start is removed here, not left behind as `Created`.
        if let Err(e) = started {
            sink.stop().await;
            return Err(e);
        }
        Ok(sink)
    }

    /// Waits (at most 20 s) for the sink's `READY` line: its listeners are up and the
    /// namespace's routing sends everything to them.
    pub async fn ready(&self) -> Result<(), SandboxError> {
        self.wait_ready(Duration::from_secs(20)).await
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the sink's `READY` line; a sink that exits first is an error with its
    /// output.
    async fn wait_ready(&self, limit: Duration) -> Result<(), SandboxError> {
        let opts = LogsOptions::<String> {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut logs = self.docker.logs(&self.id, Some(opts));
        let mut seen = String::new();
        let result = tokio::time::timeout(limit, async {
            while let Some(chunk) = logs.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => {
                        seen.push_str(&String::from_utf8_lossy(&message));
                        if seen.lines().any(|l| l.starts_with("READY ")) {
                            return true;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            false
        })
        .await;
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(SandboxError::Container {
                container: self.id.clone(),
                message: format!(
                    "the network sink stopped before it was ready: {}",
                    seen.trim()
                ),
            }),
            Err(_) => Err(SandboxError::Container {
                container: self.id.clone(),
                message: format!(
                    "the network sink was not ready after {} s: {}",
                    limit.as_secs(),
                    seen.trim()
                ),
            }),
        }
    }

    /// Asks the sink to finish (SIGTERM: it records open connections and its footer),
    /// waits up to 5 s for it to end, then removes the container. The stdin hold goes at
    /// the same time: the sink stops at either, and its runtime can only exit once the
    /// blocking read of that stdin returns — with the hold kept, every stop used to wait
    /// the full 5 s and end in a forced removal.
    pub async fn stop(self) {
        let _ = self
            .docker
            .kill_container(&self.id, Some(KillContainerOptions { signal: "SIGTERM" }))
            .await;
        self.tracker.release(&self.id);
        let wait = async {
            let mut w = self.docker.wait_container(
                &self.id,
                Some(WaitContainerOptions {
                    condition: "not-running",
                }),
            );
            // Ends with the exit (or an error: already gone, removed by AutoRemove).
            let _ = w.next().await;
        };
        if tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .is_err()
        {
            tracing::warn!(container = %self.id, "the network sink did not stop within 5 s");
        }
        remove_container(&self.docker, &self.id).await;
        self.tracker.forget(&self.id);
    }
}
