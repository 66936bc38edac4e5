//! airlock's ecosystem seam: everything that knows what an npm package or a Python
//! distribution is. One folder per ecosystem (`npm/`, `pypi/`); from the host it only ever
//! downloads and reads bytes — code from a package never runs here. What runs in the
//! sandbox is described as plain data (an install plan) for airlock-engine to carry out.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod approve;
pub mod artifact;
pub mod http;
pub mod limits;
pub mod lockfiles;
pub mod npm;
pub mod pinned;
pub mod plan;
pub mod pypi;
pub mod release_age;
pub mod runtime;
pub mod sample_zip;
pub mod seam;
#[cfg(test)]
mod testutil;
pub mod validate;

use std::path::PathBuf;

pub use artifact::{Artifact, Input, Kind, Sources};
pub use pinned::Pinned;
pub use plan::{
    phase_base, phase_name, phase_os, ExerciseLimits, InstallPlan, OsChoice, PhaseFailure,
    PhasePlan, PlanContext, PlatformHints, RuntimeProbe, SetupFailure, SetupStep, Stage, TargetOs,
};
pub use runtime::{NodeRuntime, PythonRuntime, RuntimeCatalog, RuntimeError, Runtimes};
pub use seam::{all, by_id, for_artifact, for_package_files, PackageEcosystem, Prepared};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// An input spec that names nothing airlock can analyze (the message says why).
    #[error("{0}")]
    Input(String),
    /// A name or version a package or a registry chose that is not valid where it is
    /// used (it would name a host path): the field, the value, why.
    #[error("{field} {value:?}: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: String,
    },
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
    #[error("{}: the zip is encrypted and the password `{password}` is wrong", path.display())]
    ZipPassword { path: PathBuf, password: String },
    #[error("{}: not a zip archive ({message})", path.display())]
    NotZip { path: PathBuf, message: String },
    #[error("{}: no package inside (looked for .tar.gz, .zip, .whl, .tgz; entries: {entries})", path.display())]
    NoPackage { path: PathBuf, entries: String },
    #[error("{}: unsafe entry path `{entry}` (absolute or with `..`); refusing the archive", path.display())]
    UnsafeEntry { path: PathBuf, entry: String },
    #[error("{}: no package metadata found ({looked_for})", path.display())]
    NoMetadata { path: PathBuf, looked_for: String },
}
