//! The npm install plan: the project and the offline cache the host prepared go into the
//! sandbox; the install phase is the image's `install-npm` helper (`npm ci` offline with
//! scripts off, then the target's own lifecycle scripts), the import phase `import-npm.js`,
//! the exercise phase `exercise-npm.js` (every export called, timers fast-forwarded), then
//! the same harness in the browser persona (`exercise@browser`: the package's browser
//! entry in a page with an instrumented `fetch`, `XMLHttpRequest`, wallet…). A Windows or
//! macOS persona pass (`PlanContext::persona_passes`) runs the target's lifecycle scripts
//! again (`npm rebuild`), the import and the exercise as that system: the preload makes
//! node answer as it, the engine puts its command stand-ins on `PATH`.

use crate::npm::PreparedProject;
use crate::plan::{
    phase_name, InstallPlan, PhaseFailure, PhasePlan, PlanContext, RuntimeProbe, Stage, TargetOs,
};

/// The helpers in the sandbox image (`sandbox-images/sandbox/rootfs/usr/local/lib/devtools/bin`).
const INSTALL: &str = "/usr/local/lib/devtools/bin/install-npm";
const IMPORT: &str = "/usr/local/lib/devtools/bin/import-npm.js";
const REBUILD: &str = "/usr/local/lib/devtools/bin/rebuild-npm";
pub const EXERCISE: &str = "/usr/local/lib/devtools/bin/exercise-npm.js";
/// Where node keeps its module compile cache (`module.enableCompileCache()`, which npm
/// 10+ calls): `os.tmpdir()`'s `node-compile-cache`.
const NODE_COMPILE_CACHE: &str = "/tmp/node-compile-cache";
/// Real time one call's promise is awaited at most (the per-call deadline still bounds
/// synchronous code).
const AWAIT_MS: u64 = 1_500;
/// Real time a call that started I/O gets before the next call's marker, so the
/// connect it set going is labelled with it.
const SETTLE_MS: u64 = 50;
/// The phase of the browser persona (npm only; the phase's system is still Linux).
pub const BROWSER_PHASE: &str = "exercise@browser";

/// The plan for the npm package `name` whose project the host prepared.
pub fn plan(name: &str, prepared: &PreparedProject, ctx: &PlanContext) -> InstallPlan {
    // `npm --cache DIR` keeps its content in DIR/_cacache: DIR is ~/.npm.
    let npm_cache = format!("{}/.npm", ctx.home);
    InstallPlan {
        package_dir: format!("{}/node_modules/{name}", ctx.project),
        stage: vec![
            Stage::Tree {
                host: prepared.cache_dir.clone(),
                dest: npm_cache.clone(),
            },
            Stage::Tree {
                host: prepared.project_dir.clone(),
                dest: ctx.project.clone(),
            },
        ],
        setup: Vec::new(),
        env: Vec::new(),
        // `--node`: the chosen version's directory first, as actions/setup-node does; the
        // default version is the image's own node in /usr/local/bin.
        path_prepend: ctx.runtimes.node.bin_dir.iter().cloned().collect(),
        phases: phases(
            name,
            ctx,
            prepared.dependencies == 0 && prepared.skipped.is_empty(),
        ),
        // npm 10+ turns on node's module compile cache: ~500 files of node's own in
        // os.tmpdir() per npm run, which would use up the staged-file search's budget.
        toolchain_paths: vec![npm_cache, NODE_COMPILE_CACHE.into()],
        runtime_probes: vec![
            RuntimeProbe {
                name: "node".into(),
                argv: vec!["node".into(), "--version".into()],
            },
            RuntimeProbe {
                name: "npm".into(),
                argv: vec!["npm".into(), "--version".into()],
            },
        ],
    }
}

/// The install of a package with no dependencies: one offline `npm ci` with scripts on
/// (the tree is the package alone, so only its own lifecycle scripts run), instead of
/// the helper's scripts-off `npm ci` then `npm rebuild NAME` — one npm start fewer.
const INSTALL_ALONE: &[&str] = &[
    "npm",
    "ci",
    "--offline",
    "--no-audit",
    "--no-fund",
    "--foreground-scripts",
];

/// The phases: install, import, exercise, the browser persona, then each persona pass.
/// `alone`: the package has no dependencies.
fn phases(name: &str, ctx: &PlanContext, alone: bool) -> Vec<PhasePlan> {
    let import = |os| PhasePlan {
        name: phase_name("import", os),
        // Settling time after the import is on the package's (sped-up) clock.
        argv: vec![
            "node".into(),
            IMPORT.into(),
            name.into(),
            ctx.import_settle_ms.to_string(),
        ],
        on_failure: PhaseFailure::Continue,
    };
    let mut phases = vec![
        PhasePlan {
            name: "install".into(),
            argv: if alone {
                INSTALL_ALONE.iter().map(|a| a.to_string()).collect()
            } else {
                vec![INSTALL.into(), name.into()]
            },
            // Nothing to load when the install failed.
            on_failure: PhaseFailure::SkipRest,
        },
        import(TargetOs::Linux),
        exercise(name, "exercise".into(), ctx, None),
        exercise(name, BROWSER_PHASE.into(), ctx, Some("browser")),
    ];
    for os in ctx.persona_passes() {
        phases.push(PhasePlan {
            name: phase_name("install", os),
            // The target's own lifecycle scripts once more (the tree is installed); npm
            // itself keeps to Linux, the scripts' node processes answer as `os`.
            argv: vec![REBUILD.into(), name.into()],
            on_failure: PhaseFailure::Continue,
        });
        phases.push(import(os));
        phases.push(exercise(name, phase_name("exercise", os), ctx, None));
    }
    phases
}

/// The exercise harness's phase. Its limits are real time in the context; the harness
/// measures on the package's clock, which runs `import_settle_ms / 2000` times fast (the
/// settling time is two real seconds on that clock).
fn exercise(name: &str, phase: String, ctx: &PlanContext, persona: Option<&str>) -> PhasePlan {
    let speedup = (ctx.import_settle_ms / 2000).max(1);
    let limits = &ctx.exercise;
    let mut argv = vec![
        "node".into(),
        EXERCISE.into(),
        name.into(),
        format!("--budget-ms={}", limits.budget_ms.saturating_mul(speedup)),
        format!("--call-ms={}", limits.call_ms.saturating_mul(speedup)),
        // A promise that never settles (a server's `listen`, a client's reconnect loop)
        // is common in SDKs; what a call sends has reached the sink long before this.
        format!(
            "--await-ms={}",
            limits.call_ms.min(AWAIT_MS).saturating_mul(speedup)
        ),
        // After a call that set I/O going, before the next call's marker.
        format!("--settle-ms={}", SETTLE_MS.saturating_mul(speedup)),
        format!("--horizon-ms={}", limits.horizon_secs.saturating_mul(1000)),
        format!("--max-calls={}", limits.max_calls),
    ];
    if let Some(p) = persona {
        argv.push(format!("--persona={p}"));
    }
    PhasePlan {
        name: phase,
        argv,
        on_failure: PhaseFailure::Continue,
    }
}
