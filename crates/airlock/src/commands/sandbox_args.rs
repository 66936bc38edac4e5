//! The sandbox flags every command that runs analyses shares (`scan`, the wrappers,
//! `serve`): one definition, flattened into each command's arguments, so their names,
//! defaults and help never drift apart.

use std::time::Duration;

use airlock_ecosystem::{RuntimeCatalog, Runtimes};
use airlock_engine::{RecorderChoice, ScanOptions};

use crate::{OsArg, PersonaArg};

#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Time limit of each sandbox phase, in seconds.
    #[arg(long, default_value_t = 120)]
    pub phase_timeout: u64,
    /// Who the sandbox pretends to be: a GitHub Actions job or a developer laptop.
    #[arg(long, value_enum, default_value_t = PersonaArg::Ci)]
    pub persona: PersonaArg,
    /// Speed up the package's clock this many times, so payloads that wait act within
    /// the phase limit (1 = real time).
    #[arg(long, default_value_t = 20)]
    pub time_speedup: u32,
    /// Use this sandbox image instead of the built-in recipe's.
    #[arg(long, env = "AIRLOCK_IMAGE")]
    pub image: Option<String>,
    /// Besides Linux, also run as Windows or macOS (`auto`: when the static pass sees
    /// code aimed at them; `linux`: never).
    #[arg(long = "os", value_enum, default_value_t = OsArg::Auto)]
    pub os: OsArg,
    /// How far the exercise phase fast-forwards timers and sleeps, in seconds of
    /// virtual time.
    #[arg(long, default_value_t = 86_400)]
    pub time_horizon: u64,
    /// The Node.js the sandbox runs: 22 or 24 (also `v24.1.0`, `lts/*`, `lts/jod`).
    /// Default: what GitHub's ubuntu-latest runs (22); the wrappers otherwise follow the
    /// project's .nvmrc, .node-version or engines.node.
    #[arg(long, value_parser = parse_node)]
    pub node: Option<String>,
    /// The Python the sandbox runs (3.13). Default: 3.13; the pip wrapper otherwise
    /// follows the project's requires-python (pyproject.toml).
    #[arg(long, value_parser = parse_python)]
    pub python: Option<String>,
    /// What records the package's system calls: `ebpf` (programs on the host, nothing in
    /// the sandbox; needs root and BTF), `strace` (inside the sandbox), or `auto` (eBPF
    /// when it loads, else strace). The trace header's `recorder` note says which ran.
    #[arg(long, env = "AIRLOCK_RECORDER", default_value = "auto", value_parser = parse_recorder)]
    pub recorder: RecorderChoice,
}

fn parse_recorder(s: &str) -> Result<RecorderChoice, String> {
    s.parse::<RecorderChoice>().map_err(|e| e.to_string())
}

/// What the sandbox image holds (its recipe's runtimes.txt, compiled in).
pub fn catalog() -> Result<&'static RuntimeCatalog, String> {
    static CATALOG: std::sync::OnceLock<Result<RuntimeCatalog, String>> =
        std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| {
            RuntimeCatalog::parse(airlock_sandbox::image::RUNTIMES).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn parse_node(s: &str) -> Result<String, String> {
    catalog()?.node(Some(s)).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn parse_python(s: &str) -> Result<String, String> {
    catalog()?.python(Some(s)).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

impl SandboxArgs {
    /// The persona the flags ask for.
    pub fn persona(&self) -> airlock_bait::Persona {
        match self.persona {
            PersonaArg::Ci => airlock_bait::Persona::Ci,
            PersonaArg::Laptop => airlock_bait::Persona::Laptop,
        }
    }

    /// The runtimes `--node` and `--python` ask for (the image's defaults for what they
    /// leave out); the flags' parsers already refused what the image does not hold.
    pub fn runtimes(&self) -> Runtimes {
        catalog()
            .and_then(|c| {
                c.resolve(self.node.as_deref(), self.python.as_deref())
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|e| {
                tracing::warn!("runtimes: {e}; the image's defaults");
                Runtimes::default()
            })
    }

    /// The runtimes for a project the wrappers run in: `--node`/`--python` when given,
    /// else what the project's .nvmrc, .node-version, engines.node and requires-python
    /// ask for (each choice said on stderr), else the defaults.
    pub fn runtimes_for_project(&self, project: &std::path::Path) -> Runtimes {
        let mut r = self.runtimes();
        let Ok(cat) = catalog() else { return r };
        if self.node.is_none() {
            if let Some((node, why)) = cat.node_for_project(project) {
                eprintln!("airlock: Node.js {} in the sandbox: {why}", node.version);
                r.node = node;
            }
        }
        if self.python.is_none() {
            if let Some((python, why)) = cat.python_for_project(project) {
                eprintln!("airlock: Python {} in the sandbox: {why}", python.version);
                r.python = python;
            }
        }
        r
    }

    /// The engine's options for these flags, fetching from `registry` and `pypi_index`;
    /// every other option at its default (import on, network sink, bait).
    pub fn scan_options(&self, registry: String, pypi_index: String) -> ScanOptions {
        ScanOptions {
            registry,
            pypi_index,
            phase_timeout: Duration::from_secs(self.phase_timeout),
            no_import: false,
            no_network: false,
            persona: Some(self.persona()),
            time_speedup: self.time_speedup.max(1),
            bare: false,
            image: self.image.clone(),
            os: self.os.choice(),
            exercise: airlock_ecosystem::ExerciseLimits {
                horizon_secs: self.time_horizon,
                ..Default::default()
            },
            runtimes: self.runtimes(),
            recorder: self.recorder,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    /// `scan`, the wrappers and `serve` read the same sandbox flags the same way.
    #[test]
    fn scan_wrappers_and_serve_share_the_sandbox_flags() {
        let flags = [
            "--phase-timeout",
            "7",
            "--persona",
            "laptop",
            "--time-speedup",
            "3",
            "--image",
            "img:1",
            "--os",
            "windows",
            "--time-horizon",
            "3600",
            "--node",
            "24",
            "--python",
            "3.13",
        ];
        let parse = |head: &[&str], tail: &[&str]| {
            let argv = [&["airlock"], head, &flags, tail].concat();
            Cli::try_parse_from(argv).unwrap().command
        };
        let got: Vec<SandboxArgs> = vec![
            match parse(&["scan"], &["x.tgz"]) {
                Command::Scan(a) => a.sandbox,
                _ => panic!("scan"),
            },
            match parse(&["npm"], &["install"]) {
                Command::Npm(a) => a.opts.sandbox,
                _ => panic!("npm"),
            },
            match parse(&["pip"], &["install", "six"]) {
                Command::Pip(a) => a.opts.sandbox,
                _ => panic!("pip"),
            },
            match parse(&["serve"], &[]) {
                Command::Serve(a) => a.sandbox,
                _ => panic!("serve"),
            },
        ];
        for s in got {
            assert_eq!(s.phase_timeout, 7);
            assert!(matches!(s.persona, PersonaArg::Laptop));
            assert_eq!(s.time_speedup, 3);
            assert_eq!(s.image.as_deref(), Some("img:1"));
            let o = s.scan_options("r".into(), "i".into());
            assert_eq!(o.phase_timeout, Duration::from_secs(7));
            assert!(matches!(o.persona, Some(airlock_bait::Persona::Laptop)));
            assert_eq!(o.os, airlock_ecosystem::OsChoice::Windows);
            assert_eq!(o.exercise.horizon_secs, 3600);
            assert!(o.runtimes.node.version.starts_with("24."));
            assert_eq!(o.runtimes.python.interpreter, "python3.13");
        }
    }
}
