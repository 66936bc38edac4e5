//! Install plans as snapshots: what the sandbox is asked to do for an npm package and
//! for a Python distribution, checked without Docker. A change to a recipe shows up here
//! as a reviewed snapshot diff.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use airlock_ecosystem::npm::PreparedProject;
use airlock_ecosystem::pypi::plan::PreparedWheels;
use airlock_ecosystem::pypi::Wheelhouse;
use airlock_ecosystem::{npm, pypi, PlanContext};

fn ctx() -> PlanContext {
    PlanContext {
        home: "/home/runner".into(),
        project: "/home/runner/work/app/app".into(),
        import_settle_ms: 40_000,
        ..Default::default()
    }
}

#[test]
fn npm_plan() {
    let prepared = PreparedProject {
        project_dir: "/host/prep/project".into(),
        cache_dir: "/host/prep/cache".into(),
        target_file: "evil-1.0.0.tgz".into(),
        dependencies: 3,
        skipped: Vec::new(),
        resolved_with_npm: true,
    };
    let plan = npm::plan::plan("@scope/evil", &prepared, &ctx());
    insta::assert_json_snapshot!(plan);
    let import_less = plan.without_phase("import");
    // install, exercise, exercise@browser
    assert_eq!(import_less.phases.len(), 3);
    // A Windows persona pass: the lifecycle scripts, the import and the exercise again.
    let windows = npm::plan::plan(
        "@scope/evil",
        &prepared,
        &PlanContext {
            os: airlock_ecosystem::OsChoice::Windows,
            ..ctx()
        },
    );
    let names: Vec<&str> = windows.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "install",
            "import",
            "exercise",
            "exercise@browser",
            "install@windows",
            "import@windows",
            "exercise@windows"
        ]
    );
}

/// A package with nothing to resolve installs with one npm call, scripts on (its own
/// are the only ones in the tree); one with dependencies, or with dependencies left out
/// of the host resolution, keeps the scripts-off install and the targeted rebuild.
#[test]
fn npm_plan_of_a_package_alone_installs_with_one_npm_call() {
    let alone = PreparedProject {
        project_dir: "/host/prep/project".into(),
        cache_dir: "/host/prep/cache".into(),
        target_file: "lone-1.0.0.tgz".into(),
        dependencies: 0,
        skipped: Vec::new(),
        resolved_with_npm: false,
    };
    let plan = npm::plan::plan("lone", &alone, &ctx());
    let install = &plan.phases[0];
    assert_eq!(install.name, "install");
    assert_eq!(install.argv[..2], ["npm", "ci"]);
    for flag in ["--offline", "--foreground-scripts"] {
        assert!(install.argv.iter().any(|a| a == flag), "{:?}", install.argv);
    }
    assert!(!install.argv.iter().any(|a| a == "--ignore-scripts"));
    let with_git_dep = PreparedProject {
        skipped: vec!["x: git+https://example.invalid/x.git (git)".into()],
        ..alone
    };
    let plan = npm::plan::plan("lone", &with_git_dep, &ctx());
    assert!(
        plan.phases[0].argv[0].ends_with("/install-npm"),
        "{:?}",
        plan.phases[0].argv
    );
}

#[test]
fn pypi_plan() {
    let wheels = [
        "/host/prep/wh/requests-2.31.0-py3-none-any.whl",
        "/host/prep/wh/requests-2.32.3-py3-none-any.whl",
        "/host/prep/wh/Evil_Pkg-0.9-py3-none-any.whl",
        "/host/prep/wh/six-1.16.0-py2.py3-none-any.whl",
        "/host/prep/wh/notes.txt",
    ];
    let prepared = PreparedWheels {
        wheelhouse: Wheelhouse {
            dir: "/host/prep/wh".into(),
            files: wheels.iter().map(PathBuf::from).collect(),
            missing: vec![],
            cached_sets: 0,
            pip_runs: 1,
        },
        install_name: "evil_pkg-1.0.tar.gz".into(),
        top_level: vec!["evil".into(), "evil_helpers".into()],
        normalized_name: "evil-pkg".into(),
    };
    let plan = pypi::plan::plan(
        "evil.pkg",
        "/host/work/evil_pkg-1.0.tar.gz".as_ref(),
        &prepared,
        &ctx(),
    );
    insta::assert_json_snapshot!(plan);
    // The site-packages directory comes from the sandbox's interpreter.
    let resolved = plan.with_variable(
        pypi::plan::SITE_PACKAGES,
        "/home/runner/work/app/app/.venv/lib/python3.11/site-packages",
    );
    assert_eq!(
        resolved.package_dir,
        "/home/runner/work/app/app/.venv/lib/python3.11/site-packages/evil"
    );
    assert!(!resolved.unresolved());
}

#[test]
fn specs_go_to_their_ecosystem() {
    let [npm_eco, pypi_eco] = airlock_ecosystem::all();
    assert!(npm_eco.parse_spec("left-pad@1.3.0").is_some());
    assert!(npm_eco.parse_spec("pypi:six").is_none());
    assert!(pypi_eco.parse_spec("pypi:six==1.16.0").is_some());
    assert!(pypi_eco.parse_spec("left-pad@1.3.0").is_none());
    assert!(npm_eco.lockfiles().contains(&"package-lock.json"));
}
