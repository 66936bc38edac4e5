//! airlock's registry side: everything that talks to npm or PyPI from the host, and only
//! ever downloads and reads bytes — code from a package never runs here.

pub mod npm;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{what} does not exist on {registry}")]
    NotFound { what: String, registry: String },
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("integrity check failed for {url}: {message}")]
    Integrity { url: String, message: String },
    #[error("{}: {message}", path.display())]
    BadArtifact { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("running {tool}: {message}")]
    Tool { tool: String, message: String },
    #[error("resolving dependencies failed:\n{message}")]
    Resolve { message: String },
}
