//! The PyPI install plan: the artifact into the project and the wheelhouse next to it; a
//! virtual environment made before tracing starts (it is the user's, not the package's)
//! with the dependency wheels, the audit hook and the system CA bundle in it
//! (`install-py prepare`, which also asks the interpreter where its site-packages are);
//! the install phase is `install-py install` (pip, then `setup.py install` when pip
//! fails on an sdist), the import phase `import-py.py`, the exercise phase
//! `exercise-py.py` (calls of what a user could call), and one more exercise phase per
//! persona pass (`exercise@windows`: the same calls with the interpreter answering as
//! Windows, and an sdist's setup.py run once more under it).

use std::path::{Path, PathBuf};

use crate::plan::{
    phase_name, InstallPlan, PhaseFailure, PhasePlan, PlanContext, RuntimeProbe, SetupFailure,
    SetupStep, Stage, TargetOs,
};
use crate::pypi::Wheelhouse;

/// The helpers in the sandbox image (`sandbox-images/sandbox/rootfs/usr/local/lib/devtools/bin`).
const INSTALL: &str = "/usr/local/lib/devtools/bin/install-py";
const IMPORT: &str = "/usr/local/lib/devtools/bin/import-py.py";
const EXERCISE: &str = "/usr/local/lib/devtools/bin/exercise-py.py";

/// The plan variable `install-py prepare` sets: the venv's site-packages directory.
pub const SITE_PACKAGES: &str = "site_packages";

/// What the host prepared for a Python distribution.
#[derive(Debug, Clone)]
pub struct PreparedWheels {
    pub wheelhouse: Wheelhouse,
    /// The file name pip needs for the artifact (a wheel must end in `.whl`).
    pub install_name: String,
    /// The distribution's importable top-level names.
    pub top_level: Vec<String>,
    pub normalized_name: String,
}

/// The plan for the distribution `name` (its file at `artifact`).
pub fn plan(
    name: &str,
    artifact: &Path,
    prepared: &PreparedWheels,
    ctx: &PlanContext,
) -> InstallPlan {
    let venv = format!("{}/.venv", ctx.project);
    let wh = format!("{}/.cache/wheelhouse", ctx.home);
    let top = prepared
        .top_level
        .first()
        .cloned()
        .unwrap_or_else(|| prepared.normalized_name.replace('-', "_"));
    // The dependencies the host could get as wheels (one per project), installed before
    // tracing starts, like the venv: a wheel runs no code at install, and the install
    // phase's record is then the artifact's alone. Never the artifact's own project: a
    // seed wheel of it (setuptools when setuptools is scanned) would make pip skip the
    // artifact as installed. (PEP 503 names: case, `-`, `_` and `.` do not matter.)
    let norm = |n: &str| n.to_ascii_lowercase().replace(['_', '.'], "-");
    let own = norm(name);
    let mut prepare = vec![INSTALL.to_string(), "prepare".into(), venv.clone()];
    prepare.extend(
        wheel_choice(&prepared.wheelhouse.files)
            .into_iter()
            .filter(|f| norm(f.split('-').next().unwrap_or_default()) != own)
            .map(|f| format!("{wh}/{f}")),
    );
    // Where the install phase unpacks an sdist whose pip install failed (the name pip
    // itself gives its build directories).
    let src = "/tmp/pip-req-build-src".to_string();
    let mut import = vec![
        format!("{venv}/bin/python"),
        IMPORT.into(),
        "--path".into(),
        format!("{src}/root"),
        name.to_string(),
        ctx.import_settle_ms.to_string(),
    ];
    import.extend(prepared.top_level.iter().cloned());
    let exercise_for = |os: TargetOs| -> PhasePlan {
        let lim = &ctx.exercise;
        let mut argv = vec![
            format!("{venv}/bin/python"),
            EXERCISE.into(),
            "--path".into(),
            format!("{src}/root"),
            "--os".into(),
            os.to_string(),
            "--speedup".into(),
            ctx.time_speedup.max(1).to_string(),
            "--call-ms".into(),
            lim.call_ms.to_string(),
            "--budget-ms".into(),
            lim.budget_ms.to_string(),
            "--horizon".into(),
            lim.horizon_secs.to_string(),
            "--max-calls".into(),
            lim.max_calls.to_string(),
        ];
        if os != TargetOs::Linux && !prepared.install_name.ends_with(".whl") {
            argv.push("--sdist".into());
            argv.push(format!("{}/{}", ctx.project, prepared.install_name));
        }
        argv.push(name.to_string());
        argv.push(ctx.import_settle_ms.to_string());
        argv.extend(prepared.top_level.iter().cloned());
        PhasePlan {
            name: phase_name("exercise", os),
            argv,
            on_failure: PhaseFailure::Continue,
        }
    };
    let mut phases = vec![
        PhasePlan {
            name: "install".into(),
            argv: vec![
                INSTALL.into(),
                "install".into(),
                format!("{venv}/bin/python"),
                wh.clone(),
                prepared.install_name.clone(),
                src.clone(),
            ],
            // The import phase still runs: it imports the unpacked sdist.
            on_failure: PhaseFailure::Continue,
        },
        PhasePlan {
            name: "import".into(),
            argv: import,
            on_failure: PhaseFailure::Continue,
        },
        exercise_for(TargetOs::Linux),
    ];
    phases.extend(ctx.persona_passes().into_iter().map(exercise_for));
    InstallPlan {
        package_dir: format!("${{{SITE_PACKAGES}}}/{top}"),
        stage: vec![
            Stage::Tree {
                host: prepared.wheelhouse.dir.clone(),
                dest: wh.clone(),
            },
            Stage::File {
                host: artifact.to_path_buf(),
                dest: format!("{}/{}", ctx.project, prepared.install_name),
            },
        ],
        setup: vec![
            SetupStep {
                what: "creating the virtual environment".into(),
                // `--python`: the venv is made with the chosen interpreter.
                argv: vec![
                    ctx.runtimes.python.interpreter.clone(),
                    "-m".into(),
                    "venv".into(),
                    venv.clone(),
                ],
                on_failure: SetupFailure::Abort,
                capture: None,
            },
            SetupStep {
                what: "installing the dependency wheels".into(),
                argv: prepare,
                on_failure: SetupFailure::Warn,
                capture: Some(SITE_PACKAGES.into()),
            },
        ],
        // As in an activated virtual environment (how people work with one): the scripts
        // a distribution installs are on PATH, so a payload that runs its own console
        // script (`os.system('tool')`) reaches it.
        env: vec![("VIRTUAL_ENV".into(), venv.clone())],
        path_prepend: vec![format!("{venv}/bin")],
        phases,
        toolchain_paths: Vec::new(),
        runtime_probes: vec![RuntimeProbe {
            name: "python".into(),
            argv: vec![
                format!("{venv}/bin/python"),
                "-c".into(),
                "import sys; print(sys.version.split()[0])".into(),
            ],
        }],
    }
}

/// One wheel per project (the newest by version), as file names: installing two
/// versions of one project in one pip call is an error.
pub fn wheel_choice(files: &[PathBuf]) -> Vec<String> {
    let mut by_project: std::collections::BTreeMap<String, String> = Default::default();
    for f in files {
        let Some(name) = f.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !name.ends_with(".whl") {
            continue;
        }
        let project = name
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .replace('_', "-");
        let keep = by_project
            .get(&project)
            .is_none_or(|old| natural_newer(&name, old));
        if keep {
            by_project.insert(project, name);
        }
    }
    by_project.into_values().collect()
}

/// Compares two wheel file names by their version field, numerically where possible.
fn natural_newer(a: &str, b: &str) -> bool {
    let version = |n: &str| -> Vec<u64> {
        n.split('-')
            .nth(1)
            .unwrap_or_default()
            .split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    version(a) > version(b)
}
