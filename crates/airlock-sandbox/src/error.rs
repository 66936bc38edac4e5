//! Errors of the orchestrator. Each names the container, path or phase involved, so a
//! one-line message tells the user what failed.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the Docker engine does not answer ({0}); run sandbox-images/setup or start dockerd")]
    EngineUnavailable(String),
    /// An engine setting airlock cannot honour (a remote engine, ssh://, TLS without
    /// verification, a broken context): refused, never replaced by another engine.
    #[error("{endpoint}: {reason}")]
    EngineRefused { endpoint: String, reason: String },
    #[error("docker: {context}: {source}")]
    Docker {
        context: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building the sandbox image failed: {0}")]
    ImageBuild(String),
    #[error("container {container}: {message}")]
    Container { container: String, message: String },
    #[error("interrupted")]
    Interrupted,
}

impl SandboxError {
    pub(crate) fn docker(
        context: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> Self {
        let context = context.into();
        move |source| SandboxError::Docker { context, source }
    }
}
