//! The install plan: what an ecosystem wants done in the sandbox, as plain data. The
//! ecosystem writes it from an artifact and what the host prepared; airlock-engine
//! carries it out against any sandbox, without knowing which ecosystem it came from.
//! Keeping it data (serde) lets plans be snapshot-tested without Docker, stored with a
//! run, and later carry new phases (exercise, personas) without touching the engine.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the run's user lives in the sandbox (from the persona), which operating systems
/// the run pretends to be, and what the static pass saw that asks for them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContext {
    /// The user's home directory.
    pub home: String,
    /// The project the package is installed into (the working directory of phases).
    pub project: String,
    /// How long the import helper keeps the process alive after loading the package, on
    /// the package's (possibly sped-up) clock, in milliseconds.
    pub import_settle_ms: u64,
    /// How many times faster than real time the package's clock runs (libfaketime); the
    /// harnesses' real-time deadlines are multiplied by it. 0 and 1 mean real time.
    #[serde(default)]
    pub time_speedup: u32,
    /// `--os`: which persona passes the run makes besides Linux.
    #[serde(default)]
    pub os: OsChoice,
    /// What the static pass saw of code written for another operating system.
    #[serde(default)]
    pub platform: PlatformHints,
    /// Limits of the exercise phase (calls of what a user could call).
    #[serde(default)]
    pub exercise: ExerciseLimits,
    /// The Node.js and Python the phases run (`--node`, `--python`).
    #[serde(default)]
    pub runtimes: crate::runtime::Runtimes,
}

impl PlanContext {
    /// The operating systems the plan should make persona passes for, besides the Linux
    /// pass every plan makes: `--os windows|macos` always adds that one; `auto` adds the
    /// ones the static pass saw platform gating or platform APIs for; `linux` none.
    pub fn persona_passes(&self) -> Vec<TargetOs> {
        match self.os {
            OsChoice::Linux => Vec::new(),
            OsChoice::Windows => vec![TargetOs::Windows],
            OsChoice::Macos => vec![TargetOs::Macos],
            OsChoice::Auto => {
                let mut v = Vec::new();
                if !self.platform.windows.is_empty() {
                    v.push(TargetOs::Windows);
                }
                if !self.platform.macos.is_empty() {
                    v.push(TargetOs::Macos);
                }
                v
            }
        }
    }
}

/// The operating system a phase pretends to run on. The sandbox is always Linux; in a
/// Windows or macOS pass the runtime hooks answer the platform questions as that system
/// would, its `%APPDATA%`-style paths exist, and its commands (`powershell`, `cmd`,
/// `certutil`, `osascript`, …) are recording stand-ins on `PATH`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetOs {
    #[default]
    Linux,
    Windows,
    Macos,
}

impl TargetOs {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetOs::Linux => "linux",
            TargetOs::Windows => "windows",
            TargetOs::Macos => "macos",
        }
    }

    /// `linux`, `windows` or `macos` (also `win32`, `darwin`, `mac`).
    pub fn parse(s: &str) -> Option<TargetOs> {
        match s.to_ascii_lowercase().as_str() {
            "linux" => Some(TargetOs::Linux),
            "windows" | "win32" | "win" => Some(TargetOs::Windows),
            "macos" | "darwin" | "mac" | "osx" => Some(TargetOs::Macos),
            _ => None,
        }
    }
}

impl std::fmt::Display for TargetOs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--os linux|windows|macos|auto`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsChoice {
    /// Linux only.
    Linux,
    /// Linux, then a Windows pass.
    Windows,
    /// Linux, then a macOS pass.
    Macos,
    /// Linux, plus a pass for each system the static pass saw the package aim at.
    #[default]
    Auto,
}

/// What the static pass saw of code aimed at another operating system: one reason per
/// file (`pkg/__init__.py:12: sys.platform == "win32"`). Empty when nothing was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformHints {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub macos: Vec<String>,
}

/// Limits of the exercise phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExerciseLimits {
    /// Real time one call may take (its own timers included), in milliseconds.
    pub call_ms: u64,
    /// Real time the whole phase may spend calling, in milliseconds (the phase timeout
    /// still applies on top).
    pub budget_ms: u64,
    /// How far timers and sleeps are fast-forwarded by virtual time, in seconds.
    pub horizon_secs: u64,
    /// At most this many calls per phase.
    pub max_calls: u32,
}

impl Default for ExerciseLimits {
    fn default() -> Self {
        ExerciseLimits {
            call_ms: 5_000,
            budget_ms: 60_000,
            horizon_secs: 24 * 3600,
            max_calls: 300,
        }
    }
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
    /// The runtimes the phases use, each with the command that prints its version: the
    /// engine runs them untraced with the phases' `PATH` before the first phase and
    /// records what they print in the trace header (`runtime.node`, `runtime.python`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_probes: Vec<RuntimeProbe>,
}

/// A runtime a plan's phases use and how to ask it its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeProbe {
    /// `node`, `npm`, `python`: the header note is `runtime.<name>`.
    pub name: String,
    pub argv: Vec<String>,
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
///
/// A phase of a persona pass is named `<phase>@<os>` (`import@windows`,
/// `exercise@macos`): the engine puts that system's command stand-ins first on `PATH`
/// and its environment in place, and the harness the argv names makes the runtime answer
/// as that system. Rules see the phase name as is; [`phase_base`] strips the persona.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhasePlan {
    /// `install`, `import`, `exercise`, `import@windows`, …
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

/// `import` of `import@windows`: the phase without its persona.
pub fn phase_base(name: &str) -> &str {
    name.split_once('@').map_or(name, |(b, _)| b)
}

/// The operating system a phase name asks for (`exercise@windows` → Windows; no
/// suffix → Linux).
pub fn phase_os(name: &str) -> TargetOs {
    name.split_once('@')
        .and_then(|(_, os)| TargetOs::parse(os))
        .unwrap_or_default()
}

/// `import@windows` for (`import`, Windows); `import` for Linux.
pub fn phase_name(base: &str, os: TargetOs) -> String {
    match os {
        TargetOs::Linux => base.to_string(),
        os => format!("{base}@{os}"),
    }
}

impl PhasePlan {
    /// The phase without its persona suffix.
    pub fn base_name(&self) -> &str {
        phase_base(&self.name)
    }

    /// The operating system this phase pretends to run on.
    pub fn os(&self) -> TargetOs {
        phase_os(&self.name)
    }
}

impl InstallPlan {
    /// The plan without the phase named `name` (`--no-import`), in every persona pass.
    pub fn without_phase(mut self, name: &str) -> InstallPlan {
        self.phases.retain(|p| p.base_name() != name);
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
        for p in &mut self.runtime_probes {
            p.argv.iter_mut().for_each(sub);
        }
        self
    }

    /// Whether `${...}` placeholders are left (a capture that produced nothing).
    pub fn unresolved(&self) -> bool {
        self.package_dir.contains("${")
    }
}
