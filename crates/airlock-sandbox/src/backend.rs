//! The Docker implementation of airlock-engine's sandbox traits: [`DockerBackend`]
//! creates the hardened containers and the network sink through this crate's
//! [`Sandbox`] and [`SinkContainer`], registered with the run's [`Tracker`] so a signal
//! removes them. Only type conversions live here; the Docker work stays in sandbox.rs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use airlock_engine::sandbox as engine;
use airlock_engine::BackendError;
use bollard::Docker;

use crate::{
    NetworkSpec, PhaseSpec, Sandbox, SandboxConfig, SinkContainer, SinkSpec, Tracker, UserSpec,
};

/// Docker, as the engine's [`engine::Backend`].
pub struct DockerBackend<'a> {
    pub docker: &'a Docker,
    pub tracker: &'a Tracker,
}

fn boxed(e: crate::SandboxError) -> BackendError {
    Box::new(e)
}

impl engine::Backend for DockerBackend<'_> {
    type Sandbox = Sandbox;
    type Sink = SinkContainer;

    fn host_recording(&self) -> bool {
        true
    }

    async fn ensure_image(&self) -> Result<String, BackendError> {
        crate::ensure_image(self.docker).await.map_err(boxed)
    }

    async fn start_sink(&self, req: &engine::SinkRequest) -> Result<SinkContainer, BackendError> {
        let spec = SinkSpec {
            run_id: req.run_id.clone(),
            image: req.image.clone(),
            binary: req.binary.clone(),
            input_dir: req.input_dir.clone(),
            output_dir: req.output_dir.clone(),
            hostname: req.hostname.clone(),
        };
        SinkContainer::launch(self.docker, &spec, self.tracker)
            .await
            .map_err(boxed)
    }

    async fn create(&self, req: engine::SandboxRequest) -> Result<Sandbox, BackendError> {
        let cfg = SandboxConfig {
            run_id: req.run_id,
            image: req.image,
            limits: Default::default(),
            user: UserSpec {
                name: req.user.name,
                uid: req.user.uid,
                gid: req.user.gid,
                home: req.user.home,
            },
            network: match req.network {
                engine::Network::None => NetworkSpec::None,
                engine::Network::Sink(id) => NetworkSpec::Container(id),
            },
            hostname: req.hostname,
            binds: req.binds,
            ptrace: req.ptrace,
        };
        Sandbox::create(self.docker, cfg, self.tracker)
            .await
            .map_err(boxed)
    }
}

impl engine::Sink for SinkContainer {
    fn id(&self) -> &str {
        SinkContainer::id(self)
    }

    async fn ready(&self) -> Result<(), BackendError> {
        SinkContainer::ready(self).await.map_err(boxed)
    }

    fn events_file(&self) -> PathBuf {
        self.events_file.clone()
    }

    async fn stop(self) {
        SinkContainer::stop(self).await
    }
}

fn strs(argv: &[String]) -> Vec<&str> {
    argv.iter().map(String::as_str).collect()
}

impl engine::Sandbox for Sandbox {
    async fn upload_tar(&self, dest: &str, tar: Vec<u8>, owner: &str) -> Result<(), BackendError> {
        Sandbox::upload_tar(self, dest, tar, owner)
            .await
            .map_err(boxed)
    }

    async fn exec(&self, argv: &[String], owner: &str) -> Result<engine::ExecResult, BackendError> {
        let (code, out) = Sandbox::exec(self, &strs(argv), owner, None, 16 << 10)
            .await
            .map_err(boxed)?;
        Ok(engine::ExecResult {
            exit_code: code,
            output_tail: out.tail(5),
        })
    }

    async fn spawn(
        &self,
        argv: &[String],
        owner: &str,
        env: &[(String, String)],
        cwd: &str,
    ) -> Result<(), BackendError> {
        Sandbox::spawn(self, &strs(argv), owner, env, cwd)
            .await
            .map_err(boxed)
    }

    fn container_id(&self) -> Option<String> {
        Some(self.id().to_string())
    }

    fn trace_file_for(&self, phase: &str) -> String {
        Sandbox::trace_file_for(phase)
    }

    async fn run_phase(
        &self,
        req: &engine::PhaseRequest,
        work: &Path,
    ) -> Result<engine::PhaseResult, BackendError> {
        let spec = PhaseSpec {
            name: req.name.clone(),
            argv: req.argv.clone(),
            cwd: req.cwd.clone(),
            env: req.env.clone(),
            timeout: req.timeout,
            tracer: req.tracer.clone(),
            trace_file: req.trace_file.clone(),
        };
        let o = Sandbox::run_phase(self, &spec, work).await.map_err(boxed)?;
        Ok(engine::PhaseResult {
            exit_code: o.exit_code,
            timed_out: o.timed_out,
            duration_ms: o.duration_ms,
            output_tail: o.output.tail(30),
            output_bytes: o.output.total_bytes,
            trace_path: o.trace_path,
            limits_hit: o.limits_hit,
        })
    }

    async fn snapshot(&self, roots: &[String]) -> Result<String, BackendError> {
        Sandbox::snapshot(self, &strs(roots)).await.map_err(boxed)
    }

    async fn hash_files(&self, paths: &[String]) -> Result<HashMap<String, String>, BackendError> {
        Sandbox::hash_files(self, paths).await.map_err(boxed)
    }

    async fn read_files(
        &self,
        paths: &[String],
        cap: u64,
    ) -> Result<HashMap<String, Vec<u8>>, BackendError> {
        Sandbox::read_files(self, paths, cap).await.map_err(boxed)
    }

    async fn copy_out(&self, path: &str, dest: &Path) -> Result<(), BackendError> {
        Sandbox::copy_out(self, path, dest)
            .await
            .map(|_| ())
            .map_err(boxed)
    }

    async fn destroy(self) {
        Sandbox::destroy(self).await
    }
}
