//! The Docker connection and the bookkeeping that guarantees cleanup: every object a run
//! creates carries the `airlock` labels (with its owner, see [`crate::owner`]) and is
//! registered in a [`Tracker`], so it is removed on success, error, timeout and on
//! SIGINT/SIGTERM/SIGHUP ([`crate::signal`]).
//!
//! A `kill -9` of airlock runs no cleanup, so each container also holds on to its owner:
//! it is created with an open stdin (`StdinOnce`) and `AutoRemove`, and the owner keeps an
//! attach connection to that stdin for the container's life. When the owner dies, the
//! kernel closes the connection, the engine closes the container's stdin, its main
//! process (which waits for end of input) exits, and the engine removes the container —
//! within a second, with nothing extra running inside the sandbox. What this cannot
//! catch (a container created but never started, leftovers of older versions) the
//! orphan reaper removes: at every [`connect`], periodically in `serve`, and in
//! `airlock gc`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::{
    AttachContainerOptions, Config, CreateContainerOptions, ListContainersOptions,
    RemoveContainerOptions,
};
use bollard::Docker;
use tokio::io::AsyncWrite;

use crate::endpoint::Endpoint;
use crate::error::SandboxError;
use crate::owner::Owner;

/// Every object airlock creates carries `airlock=1`.
pub const LABEL: &str = "airlock";
/// The run id.
pub const LABEL_RUN: &str = "airlock.run";
/// The pid of the airlock process that created it (for `gc`).
pub const LABEL_PID: &str = "airlock.pid";
/// The creating process as `SCOPE/PID/START` (see [`Owner`]), for the orphan reaper.
pub const LABEL_OWNER: &str = "airlock.owner";

/// Connects to the engine `DOCKER_HOST` or the Docker context selects (never another
/// one: what cannot be honoured is an error naming the setting), negotiates the API
/// version (Debian's engine 20.10 refuses clients that assume a newer API than 1.41),
/// and removes the leftovers of airlock processes that died (containers and work
/// directories of this host whose owner is gone).
pub async fn connect() -> Result<Docker, SandboxError> {
    let endpoint = Endpoint::from_env()?;
    let unavailable = |e: bollard::errors::Error| {
        // bollard's own message hides the cause ("client error (Connect)").
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !msg.contains(&text) {
                msg = format!("{msg}: {text}");
            }
            source = s.source();
        }
        SandboxError::EngineUnavailable(format!("{endpoint}: {msg}"))
    };
    let docker = endpoint.client()?;
    let docker = docker.negotiate_version().await.map_err(unavailable)?;
    docker.ping().await.map_err(unavailable)?;
    let reaped = reap_orphans(&docker).await;
    if !reaped.is_empty() {
        tracing::info!(
            containers = reaped.len(),
            "removed containers of airlock processes that are gone"
        );
    }
    Ok(docker)
}

/// Labels for an object of run `run_id`.
pub fn labels(run_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (LABEL_RUN.to_string(), run_id.to_string()),
        (LABEL_PID.to_string(), std::process::id().to_string()),
        (LABEL_OWNER.to_string(), Owner::current().label()),
    ])
}

/// The open attach connection to a container's stdin: dropping it (or dying) ends the
/// container.
struct Hold {
    _input: Pin<Box<dyn AsyncWrite + Send>>,
    _reader: tokio::task::JoinHandle<()>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self._reader.abort();
    }
}

#[derive(Default)]
struct Inner {
    ids: Vec<String>,
    holds: HashMap<String, Hold>,
    docker: Option<Docker>,
}

/// Containers created by this process, removed by [`Tracker::remove_all`]. Cloneable so a
/// signal handler can hold it while the run owns the containers.
#[derive(Clone, Default)]
pub struct Tracker {
    inner: Arc<Mutex<Inner>>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, id: &str) {
        if let Ok(mut v) = self.inner.lock() {
            v.ids.push(id.to_string());
        }
    }

    /// Stops tracking `id` and lets go of its stdin hold.
    pub fn forget(&self, id: &str) {
        let hold = match self.inner.lock() {
            Ok(mut v) => {
                v.ids.retain(|x| x != id);
                v.holds.remove(id)
            }
            Err(_) => None,
        };
        drop(hold);
    }

    /// Lets go of `id`'s stdin hold (its main process sees the end of its input and
    /// ends) but keeps tracking it, so a signal still removes it.
    pub fn release(&self, id: &str) {
        let hold = match self.inner.lock() {
            Ok(mut v) => v.holds.remove(id),
            Err(_) => None,
        };
        drop(hold);
    }

    pub fn ids(&self) -> Vec<String> {
        self.inner.lock().map(|v| v.ids.clone()).unwrap_or_default()
    }

    fn remember(&self, docker: &Docker, id: &str, hold: Option<Hold>) {
        if let Ok(mut v) = self.inner.lock() {
            v.docker.get_or_insert_with(|| docker.clone());
            if let Some(h) = hold {
                v.holds.insert(id.to_string(), h);
            }
        }
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

    /// [`Tracker::remove_all`] with the engine the containers were created on (connects
    /// only if no container was ever created through this tracker's engine handle).
    pub async fn cleanup(&self) {
        if self.ids().is_empty() {
            return;
        }
        let docker = self.inner.lock().ok().and_then(|v| v.docker.clone());
        let docker = match docker {
            Some(d) => d,
            None => match connect().await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the engine to remove containers");
                    return;
                }
            },
        };
        self.remove_all(&docker).await;
    }
}

/// Creates a container that ends with its owner: `config` gets an open stdin
/// (`StdinOnce`) and `AutoRemove`, and this process attaches to that stdin before the
/// container starts, keeping the connection in `tracker`. The container's main process
/// must exit at the end of its input (the sandbox runs `cat`; the sink watches stdin).
/// On error nothing is left behind.
pub(crate) async fn create_owned(
    docker: &Docker,
    name: &str,
    mut config: Config<String>,
    tracker: &Tracker,
) -> Result<String, SandboxError> {
    config.open_stdin = Some(true);
    config.stdin_once = Some(true);
    config.attach_stdin = Some(true);
    if let Some(hc) = config.host_config.as_mut() {
        hc.auto_remove = Some(true);
    }
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: name.to_string(),
                platform: None,
            }),
            config,
        )
        .await
        .map_err(SandboxError::docker(format!("creating container {name}")))?;
    let id = created.id;
    tracker.add(&id);
    match hold_stdin(docker, &id).await {
        Ok(hold) => {
            tracker.remember(docker, &id, Some(hold));
            Ok(id)
        }
        Err(e) => {
            remove_container(docker, &id).await;
            tracker.forget(&id);
            Err(e)
        }
    }
}

async fn hold_stdin(docker: &Docker, id: &str) -> Result<Hold, SandboxError> {
    use futures_util::StreamExt;
    let attached = docker
        .attach_container(
            id,
            Some(AttachContainerOptions::<String> {
                stdin: Some(true),
                stdout: Some(false),
                stderr: Some(false),
                stream: Some(true),
                ..Default::default()
            }),
        )
        .await
        .map_err(SandboxError::docker(format!("attaching to {id}")))?;
    // Nothing comes back (stdout/stderr not attached), but the read side must be polled
    // for the connection to notice its end.
    let mut output = attached.output;
    let reader = tokio::spawn(async move { while output.next().await.is_some() {} });
    Ok(Hold {
        _input: attached.input,
        _reader: reader,
    })
}

pub(crate) async fn remove_container(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => tracing::debug!(container = id, "removed"),
        // Gone already, or the engine is removing it (AutoRemove after its end).
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => {}
        Err(e) => tracing::warn!(container = id, error = %e, "could not remove container"),
    }
}

/// airlock's containers, with their labels.
async fn list(docker: &Docker) -> Result<Vec<(String, HashMap<String, String>)>, SandboxError> {
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
    Ok(list
        .into_iter()
        .filter_map(|c| Some((c.id?, c.labels.unwrap_or_default())))
        .collect())
}

/// Removes airlock's containers. With `all == false` only those whose creating process
/// is no longer alive (crashed runs); with `all == true` every airlock container.
/// Returns the ids removed. Also removes this user's work directories of dead owners.
pub async fn gc(docker: &Docker, all: bool) -> Result<Vec<String>, SandboxError> {
    let mut removed = Vec::new();
    for (id, labels) in list(docker).await? {
        let owner_alive = match labels.get(LABEL_OWNER).and_then(|o| Owner::parse_label(o)) {
            Some(owner) => !owner.is_dead(),
            None => labels
                .get(LABEL_PID)
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| pid != std::process::id() && process_alive(pid)),
        };
        if all || !owner_alive {
            remove_container(docker, &id).await;
            removed.push(id);
        }
    }
    crate::owner::reap_work_dirs();
    Ok(removed)
}

/// The automatic, conservative form of [`gc`]: removes only containers whose
/// `airlock.owner` label names a dead process of this user, boot and PID namespace
/// (never those of another airlock still running, nor of another user, host or
/// namespace sharing the engine), and this user's work directories of dead owners.
/// Errors are logged.
pub async fn reap_orphans(docker: &Docker) -> Vec<String> {
    let mut removed = Vec::new();
    match list(docker).await {
        Ok(containers) => {
            for (id, labels) in containers {
                let dead = labels
                    .get(LABEL_OWNER)
                    .and_then(|o| Owner::parse_label(o))
                    .is_some_and(|o| o.may_reap());
                if dead {
                    tracing::debug!(container = %id, "removing an orphan");
                    remove_container(docker, &id).await;
                    removed.push(id);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot look for orphaned containers"),
    }
    for dir in crate::owner::reap_work_dirs() {
        tracing::info!(path = %dir.display(), "removed the work directory of a run whose airlock is gone");
    }
    removed
}

/// Runs [`reap_orphans`] every `every` for as long as the task lives (`serve`); an
/// engine that does not answer is tried again at the next tick.
pub async fn reap_periodically(every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut docker: Option<Docker> = None;
    loop {
        tick.tick().await;
        match &docker {
            Some(d) => {
                let reaped = reap_orphans(d).await;
                if !reaped.is_empty() {
                    tracing::info!(containers = reaped.len(), "removed orphaned containers");
                }
            }
            // connect() reaps too.
            None => docker = connect().await.ok(),
        }
    }
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
