//! airlock's orchestrator: it owns the Docker side of a run and nothing else. It builds
//! or finds the sandbox image, creates the hardened containers (and the network sink's),
//! runs each phase under the tracer with its limits, hands back the raw artifacts (strace
//! output, filesystem snapshots, phase outcomes), and always removes what it created.
//! It never judges: parsing and rules live in other crates.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod docker;
pub mod endpoint;
pub mod error;
pub mod image;
pub mod owner;
pub mod sandbox;
pub mod signal;
pub mod sink;

pub use backend::DockerBackend;
pub use bollard::Docker;
pub use docker::{
    connect, gc, reap_orphans, reap_periodically, Tracker, LABEL, LABEL_OWNER, LABEL_PID, LABEL_RUN,
};
pub use endpoint::Endpoint;
pub use error::SandboxError;
pub use image::{ensure_image, image_tag};
pub use owner::{create_private_dir, create_work_dir, Owner};
pub use sandbox::{
    ExecOutput, Limits, NetworkSpec, PhaseOutcome, PhaseSpec, Sandbox, SandboxConfig, UserSpec,
};
pub use signal::{shutdown_signal, until_signal, Signal};
pub use sink::{SinkContainer, SinkSpec};
