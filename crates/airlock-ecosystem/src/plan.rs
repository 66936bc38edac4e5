//! The install plan: what an ecosystem wants done in the sandbox, as plain data. The
//! ecosystem writes it from an artifact and what the host prepared; airlock-engine
//! carries it out against any sandbox, without knowing which ecosystem it came from.
//! Keeping it data (serde) lets plans be snapshot-tested without Docker, stored with a
//! run, and later carry new phases (exercise, personas) without touching the engine.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the run's user lives in the sandbox (from the persona).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContext {
    /// The user's home directory.
    pub home: String,
    /// The project the package is installed into (the working directory of phases).
    pub project: String,
    /// How long the import helper keeps the process alive after loading the package, on
    /// the package's (possibly sped-up) clock, in milliseconds.
    pub import_settle_ms: u64,
}

/// Everything an ecosystem wants done in the sandbox for one artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallPlan {
    /// The package's own directory once installed: changes below it are its own files,
    /// not something it wrote elsewhere.
    pub package_dir: String,
    /// Host files and trees placed in the sandbox before anything runs (as the user).
    pub stage: Vec<Stage>,
    /// Untraced set-up commands run as the user after staging (a venv, the dependency
    /// wheels): the user's doing, not the package's.
    pub setup: Vec<SetupStep>,
    /// Environment variables set for every phase (they override the base environment).
    pub env: Vec<(String, String)>,
    /// Directories put first on `PATH` for every phase.
    pub path_prepend: Vec<String>,
    /// The traced phases, in order.
    pub phases: Vec<PhasePlan>,
    /// Paths whose changes are the toolchain's own (the package manager's cache): never
    /// searched for staged secrets.
    pub toolchain_paths: Vec<String>,
}

/// One host file or directory, placed at an absolute path in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stage {
    /// The host directory `host`, recursively, at `dest`.
    Tree { host: PathBuf, dest: String },
    /// The host file `host` at `dest`.
    File { host: PathBuf, dest: String },
}

/// An untraced command of the set-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupStep {
    /// What it does, for messages (`creating the virtual environment`).
    pub what: String,
    pub argv: Vec<String>,
    /// What a non-zero exit means.
    pub on_failure: SetupFailure,
    /// When set, the last line the step prints becomes this plan variable: `${name}` in
    /// [`InstallPlan::package_dir`], phase argv and environment values is replaced by it
    /// (the venv's site-packages, which only the sandbox's interpreter knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

/// What a failed set-up step means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupFailure {
    /// The run cannot go on: an error.
    Abort,
    /// Logged; the run goes on (best-effort steps).
    Warn,
}

/// One traced phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhasePlan {
    /// `install`, `import`, …
    pub name: String,
    pub argv: Vec<String>,
    /// What a non-zero exit of this phase means for the phases after it.
    pub on_failure: PhaseFailure,
}

/// What a failed phase means for the phases after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseFailure {
    /// The later phases still run (a Python import phase imports the unpacked sdist).
    Continue,
    /// The later phases are skipped, with the reason in the trace.
    SkipRest,
}

impl InstallPlan {
    /// The plan without the phase named `name` (`--no-import`).
    pub fn without_phase(mut self, name: &str) -> InstallPlan {
        self.phases.retain(|p| p.name != name);
        self
    }

    /// The plan with `${name}` replaced by `value` wherever a set-up step's output may
    /// appear (package dir, phase argv, environment values, toolchain paths).
    pub fn with_variable(mut self, name: &str, value: &str) -> InstallPlan {
        let var = format!("${{{name}}}");
        let sub = |s: &mut String| {
            if s.contains(&var) {
                *s = s.replace(&var, value);
            }
        };
        sub(&mut self.package_dir);
        for p in &mut self.phases {
            p.argv.iter_mut().for_each(sub);
        }
        for (_, v) in &mut self.env {
            sub(v);
        }
        self.path_prepend.iter_mut().for_each(sub);
        self.toolchain_paths.iter_mut().for_each(sub);
        self
    }

    /// Whether `${...}` placeholders are left (a capture that produced nothing).
    pub fn unresolved(&self) -> bool {
        self.package_dir.contains("${")
    }
}
