//! The Docker connection and the bookkeeping that guarantees cleanup: every object a run
//! creates carries the `airlock` labels and is registered in a [`Tracker`], so it is
//! removed on success, error, timeout and Ctrl-C; `airlock gc` removes the leftovers of
//! runs that crashed (their owning process is gone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::container::{ListContainersOptions, RemoveContainerOptions};
use bollard::Docker;

use crate::error::SandboxError;

/// Every object airlock creates carries `airlock=1`.
pub const LABEL: &str = "airlock";
/// The run id.
pub const LABEL_RUN: &str = "airlock.run";
/// The pid of the airlock process that created it (for `gc`).
pub const LABEL_PID: &str = "airlock.pid";

/// Connects to the local engine and negotiates the API version (Debian's engine 20.10
/// refuses clients that assume a newer API than 1.41).
pub async fn connect() -> Result<Docker, SandboxError> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?;
    docker
        .ping()
        .await
        .map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?;
    Ok(docker)
}

/// Labels for an object of run `run_id`.
pub fn labels(run_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (LABEL_RUN.to_string(), run_id.to_string()),
        (LABEL_PID.to_string(), std::process::id().to_string()),
    ])
}

/// Containers created by this process, removed by [`Tracker::remove_all`]. Cloneable so a
/// signal handler can hold it while the run owns the containers.
#[derive(Clone, Default)]
pub struct Tracker {
    inner: Arc<Mutex<Vec<String>>>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, id: &str) {
        if let Ok(mut v) = self.inner.lock() {
            v.push(id.to_string());
        }
    }

    pub fn forget(&self, id: &str) {
        if let Ok(mut v) = self.inner.lock() {
            v.retain(|x| x != id);
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.inner.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Force-removes every tracked container (newest first: the sandbox before the sink
    /// whose network it joined). Errors are logged, not returned: cleanup must go on.
    pub async fn remove_all(&self, docker: &Docker) {
        let mut ids = self.ids();
        ids.reverse();
        for id in ids {
            remove_container(docker, &id).await;
            self.forget(&id);
        }
    }
}

pub(crate) async fn remove_container(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => tracing::debug!(container = id, "removed"),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => tracing::warn!(container = id, error = %e, "could not remove container"),
    }
}

/// Removes airlock's containers. With `all == false` only those whose creating process
/// is no longer alive (crashed runs); with `all == true` every airlock container.
/// Returns the ids removed.
pub async fn gc(docker: &Docker, all: bool) -> Result<Vec<String>, SandboxError> {
    let mut filters = HashMap::new();
    filters.insert("label".to_string(), vec![format!("{LABEL}=1")]);
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        }))
        .await
        .map_err(SandboxError::docker("listing airlock containers"))?;
    let mut removed = Vec::new();
    for c in list {
        let Some(id) = c.id else { continue };
        let owner_alive = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_PID))
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && process_alive(pid));
        if all || !owner_alive {
            remove_container(docker, &id).await;
            removed.push(id);
        }
    }
    Ok(removed)
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
