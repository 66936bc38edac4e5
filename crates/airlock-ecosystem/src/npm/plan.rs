//! The npm install plan: the project and the offline cache the host prepared go into the
//! sandbox; the install phase is the image's `install-npm` helper (`npm ci` offline with
//! scripts off, then the target's own lifecycle scripts), the import phase `import-npm.js`.

use crate::npm::PreparedProject;
use crate::plan::{InstallPlan, PhaseFailure, PhasePlan, PlanContext, Stage};

/// The helpers in the sandbox image (`sandbox-images/sandbox/rootfs/opt/airlock/bin`).
const INSTALL: &str = "/opt/airlock/bin/install-npm";
const IMPORT: &str = "/opt/airlock/bin/import-npm.js";

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
        path_prepend: Vec::new(),
        phases: vec![
            PhasePlan {
                name: "install".into(),
                argv: vec![INSTALL.into(), name.into()],
                // Nothing to load when the install failed.
                on_failure: PhaseFailure::SkipRest,
            },
            PhasePlan {
                name: "import".into(),
                // Settling time after the import is on the package's (sped-up) clock.
                argv: vec![
                    "node".into(),
                    IMPORT.into(),
                    name.into(),
                    ctx.import_settle_ms.to_string(),
                ],
                on_failure: PhaseFailure::Continue,
            },
        ],
        toolchain_paths: vec![npm_cache],
    }
}
