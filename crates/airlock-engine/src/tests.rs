//! The phase loop against a fake sandbox: no Docker, every call recorded, each phase's
//! outcome scripted. Proves what the engine does with a plan — staging, set-up with its
//! failure policy and captured variables, phase order, skipping after a failure or a
//! timeout, the trace's phase events — independently of any container engine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use airlock_ecosystem::{InstallPlan, PhaseFailure, PhasePlan, SetupFailure, SetupStep, Stage};
use airlock_events::{EventKind, PackageRef, PhaseStatus, TraceHeader, SCHEMA_VERSION};

use crate::phases::{self, Run};
use crate::sandbox::*;
use crate::{EngineError, ScanOptions};

/// A sandbox that does nothing but remember what it was asked and answer from a script.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    /// Phase name → (exit code, timed out).
    phases: HashMap<String, (Option<i64>, bool)>,
    /// argv[0] → (exit code, output) of `exec`.
    execs: HashMap<String, (Option<i64>, String)>,
    uploaded: Mutex<Vec<String>>,
    /// The environment of the last phase.
    env: Mutex<Vec<(String, String)>>,
    /// What `copy_out` of the hook log gives.
    hooks: String,
}

impl Fake {
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Sandbox for Fake {
    async fn upload_tar(&self, dest: &str, tar: Vec<u8>, owner: &str) -> Result<(), BackendError> {
        let mut a = tar::Archive::new(std::io::Cursor::new(tar));
        for e in a.entries()? {
            let e = e?;
            self.uploaded
                .lock()
                .unwrap()
                .push(e.path()?.display().to_string());
        }
        self.log(format!("upload {dest} as {owner}"));
        Ok(())
    }

    async fn exec(&self, argv: &[String], owner: &str) -> Result<ExecResult, BackendError> {
        self.log(format!("exec {} as {owner}", argv.join(" ")));
        let (code, out) = self
            .execs
            .get(&argv[0])
            .cloned()
            .unwrap_or((Some(0), String::new()));
        Ok(ExecResult {
            exit_code: code,
            output_tail: out,
        })
    }

    async fn spawn(
        &self,
        argv: &[String],
        owner: &str,
        _env: &[(String, String)],
        _cwd: &str,
    ) -> Result<(), BackendError> {
        self.log(format!("spawn {} as {owner}", argv.join(" ")));
        Ok(())
    }

    fn trace_file_for(&self, phase: &str) -> String {
        format!("/trace/{phase}")
    }

    async fn run_phase(
        &self,
        req: &PhaseRequest,
        _work: &Path,
    ) -> Result<PhaseResult, BackendError> {
        self.log(format!("phase {}: {}", req.name, req.argv.join(" ")));
        *self.env.lock().unwrap() = req.env.clone();
        let (exit_code, timed_out) = self
            .phases
            .get(&req.name)
            .copied()
            .unwrap_or((Some(0), false));
        Ok(PhaseResult {
            exit_code,
            timed_out,
            duration_ms: 5,
            output_tail: format!("{} output", req.name),
            output_bytes: 9,
            trace_path: None,
            limits_hit: Vec::new(),
        })
    }

    async fn snapshot(&self, _roots: &[String]) -> Result<String, BackendError> {
        Ok(String::new())
    }

    async fn hash_files(&self, _paths: &[String]) -> Result<HashMap<String, String>, BackendError> {
        Ok(HashMap::new())
    }

    async fn read_files(
        &self,
        _paths: &[String],
        _cap: u64,
    ) -> Result<HashMap<String, Vec<u8>>, BackendError> {
        Ok(HashMap::new())
    }

    async fn copy_out(&self, path: &str, dest: &Path) -> Result<(), BackendError> {
        self.log(format!("copy_out {path}"));
        std::fs::write(dest, self.hooks.as_bytes())?;
        Ok(())
    }

    async fn destroy(self) {}
}

fn user() -> User {
    User {
        name: "runner".into(),
        uid: 1001,
        gid: 1001,
        home: "/home/runner".into(),
    }
}

fn opts() -> ScanOptions {
    ScanOptions {
        registry: String::new(),
        pypi_index: String::new(),
        phase_timeout: Duration::from_secs(7),
        no_import: false,
        no_network: true,
        persona: None,
        time_speedup: 1,
        bare: false,
        image: None,
        os: Default::default(),
        exercise: Default::default(),
        runtimes: Default::default(),
        recorder: Default::default(),
    }
}

fn header() -> TraceHeader {
    TraceHeader {
        schema_version: SCHEMA_VERSION,
        run_id: "r".into(),
        started_at: 0.0,
        package: PackageRef {
            ecosystem: None,
            name: "p".into(),
            version: "1".into(),
            sha256: None,
            integrity: None,
        },
        tool_version: "t".into(),
        image: None,
        persona: None,
        home: Some("/home/runner".into()),
        package_dir: None,
        canaries: Vec::new(),
        notes: Default::default(),
    }
}

fn plan(host: &Path, install_failure: PhaseFailure) -> InstallPlan {
    InstallPlan {
        package_dir: "${site}/pkg".into(),
        stage: vec![Stage::Tree {
            host: host.to_path_buf(),
            dest: "/work/project".into(),
        }],
        setup: vec![
            SetupStep {
                what: "making a place".into(),
                argv: vec!["mk".into(), "place".into()],
                on_failure: SetupFailure::Abort,
                capture: None,
            },
            SetupStep {
                what: "finding site".into(),
                argv: vec!["where".into()],
                on_failure: SetupFailure::Warn,
                capture: Some("site".into()),
            },
        ],
        env: vec![("VIRTUAL_ENV".into(), "/v".into())],
        path_prepend: vec!["/v/bin".into()],
        phases: vec![
            PhasePlan {
                name: "install".into(),
                argv: vec!["inst".into(), "${site}".into()],
                on_failure: install_failure,
            },
            PhasePlan {
                name: "import".into(),
                argv: vec!["imp".into()],
                on_failure: PhaseFailure::Continue,
            },
        ],
        toolchain_paths: Vec::new(),
        runtime_probes: Vec::new(),
    }
}

fn project_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("package.json"), b"{}").unwrap();
    d
}

async fn run(
    fake: &Fake,
    plan: InstallPlan,
) -> Result<(InstallPlan, Vec<airlock_events::Event>, Vec<String>), EngineError> {
    let work = tempfile::tempdir().unwrap();
    let (u, o) = (user(), opts());
    let run = Run {
        sandbox: fake,
        user: &u,
        project: "/work/project",
        bait: None,
        opts: &o,
        work: work.path(),
        kernel: None,
    };
    let plan = phases::prepare(&run, plan).await?;
    let (mut events, mut gaps) = (Vec::new(), Vec::new());
    phases::run_phases(&run, &plan, &header(), &mut events, &mut gaps, &|_| {}).await?;
    Ok((plan, events, gaps))
}

fn phase_ends(events: &[airlock_events::Event]) -> Vec<(String, PhaseStatus, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PhaseEnd {
                name,
                status,
                output_tail,
                ..
            } => Some((name.clone(), *status, output_tail.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn stages_sets_up_and_runs_every_phase_in_order() {
    let dir = project_dir();
    let mut fake = Fake::default();
    fake.execs
        .insert("where".into(), (Some(0), "noise\n/v/lib/site\n".into()));
    let (plan, events, gaps) = run(&fake, plan(dir.path(), PhaseFailure::SkipRest))
        .await
        .unwrap();
    assert_eq!(plan.package_dir, "/v/lib/site/pkg", "the captured variable");
    assert!(gaps.is_empty(), "{gaps:?}");
    let calls = fake.calls();
    let expected_prefix = [
        "upload / as 1001:1001",
        "exec mk place as 1001:1001",
        "exec where as 1001:1001",
        "spawn /usr/local/lib/devtools/bin/hook-log /run/log/dev-log /run/log/journal/hooks.jsonl as 0:0",
        "phase install: inst /v/lib/site",
        "phase import: imp",
        "copy_out /run/log/journal/hooks.jsonl",
    ];
    assert_eq!(calls, expected_prefix, "{calls:#?}");
    let uploaded = fake.uploaded.lock().unwrap().clone();
    assert!(
        uploaded.iter().any(|p| p == "home/runner/.bashrc"),
        "{uploaded:?}"
    );
    assert!(
        uploaded.iter().any(|p| p == "work/project/package.json"),
        "{uploaded:?}"
    );
    assert_eq!(
        phase_ends(&events),
        vec![
            ("install".into(), PhaseStatus::Ok, "install output".into()),
            ("import".into(), PhaseStatus::Ok, "import output".into()),
        ]
    );
    let starts: Vec<Vec<String>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PhaseStart { command, .. } => Some(command.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            vec!["inst".to_string(), "/v/lib/site".into()],
            vec!["imp".into()]
        ]
    );
}

#[tokio::test]
async fn a_failed_install_skips_the_rest_only_when_the_plan_says_so() {
    let dir = project_dir();
    let mut fake = Fake::default();
    fake.phases.insert("install".into(), (Some(1), false));
    let (_, events, _) = run(&fake, plan(dir.path(), PhaseFailure::SkipRest))
        .await
        .unwrap();
    assert_eq!(
        phase_ends(&events),
        vec![
            (
                "install".into(),
                PhaseStatus::Failed,
                "install output".into()
            ),
            (
                "import".into(),
                PhaseStatus::Skipped,
                "not run: the install phase failed".into()
            ),
        ]
    );
    assert!(!fake.calls().iter().any(|c| c.starts_with("phase import")));

    let (_, events, _) = run(&fake, plan(dir.path(), PhaseFailure::Continue))
        .await
        .unwrap();
    assert_eq!(
        phase_ends(&events)[1].1,
        PhaseStatus::Ok,
        "Continue: import runs"
    );
}

#[tokio::test]
async fn a_timeout_is_a_gap_and_stops_the_run() {
    let dir = project_dir();
    let mut fake = Fake::default();
    fake.phases.insert("install".into(), (None, true));
    let (_, events, gaps) = run(&fake, plan(dir.path(), PhaseFailure::Continue))
        .await
        .unwrap();
    assert_eq!(gaps, vec!["install phase timed out after 7 s".to_string()]);
    let ends = phase_ends(&events);
    assert_eq!(ends[0].1, PhaseStatus::TimedOut);
    assert_eq!(ends[1].1, PhaseStatus::Skipped);
    assert_eq!(ends[1].2, "not run: the install phase timed out");
}

#[tokio::test]
async fn an_aborting_setup_step_is_an_error_and_no_phase_runs() {
    let dir = project_dir();
    let mut fake = Fake::default();
    fake.execs.insert("mk".into(), (Some(1), "no space".into()));
    let err = run(&fake, plan(dir.path(), PhaseFailure::Continue))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "making a place failed: no space");
    assert!(!fake.calls().iter().any(|c| c.starts_with("phase ")));
}

#[tokio::test]
async fn a_warning_setup_step_does_not_stop_the_run() {
    let dir = project_dir();
    let mut fake = Fake::default();
    fake.execs
        .insert("where".into(), (Some(1), "pip failed\n/s\n".into()));
    let (plan, events, _) = run(&fake, plan(dir.path(), PhaseFailure::Continue))
        .await
        .unwrap();
    assert_eq!(plan.package_dir, "/s/pkg");
    assert_eq!(phase_ends(&events).len(), 2);
}

#[tokio::test]
async fn plan_environment_goes_before_the_base_path() {
    let dir = project_dir();
    let fake = Fake::default();
    run(&fake, plan(dir.path(), PhaseFailure::Continue))
        .await
        .unwrap();
    let env = fake.env.lock().unwrap().clone();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("PATH").unwrap(),
        "/v/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(get("VIRTUAL_ENV").unwrap(), "/v");
    assert_eq!(get("APPDATA").unwrap(), "/home/runner/AppData/Roaming");
    // Nothing in the package's environment names the hooks (issue 16).
    for k in [
        "AIRLOCK_HOOK_PATH",
        "AIRLOCK_HOOK_FD",
        "NODE_OPTIONS",
        "PYTHONPATH",
    ] {
        assert_eq!(get(k), None, "{k}");
    }
    assert_eq!(
        phases::with_speedup(vec!["x".into()], 20)[..3],
        [
            "env".to_string(),
            "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1".into(),
            "FAKETIME=+0 x20".into()
        ]
    );
}

/// A child process starts late in the phase; its own sped-up clock began with it, so its
/// hook lines, undone from the phase start, would land before its exec and be taken for
/// its parent's (the exercise scheduler's: harness). They are placed after it instead.
#[tokio::test]
async fn hook_lines_never_precede_their_process() {
    use airlock_events::{Event, EventKind, Outcome, ProcRef, Source};
    let fake = Fake {
        hooks: r#"{"runtime":"python","event":"winreg.SetValueEx","ts":110.0,"pid":7,"args":{"key":"HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"}}"#.to_string() + "\n",
        ..Default::default()
    };
    let mut start = Event::new(
        100.0,
        "exercise@windows",
        Source::Sandbox,
        EventKind::PhaseStart {
            name: "exercise@windows".into(),
            command: vec![],
        },
    );
    start.seq = 0;
    let mut exec = Event::new(
        101.0,
        "exercise@windows",
        Source::Strace,
        EventKind::ProcessExec {
            path: "/venv/bin/python".into(),
            argv: vec!["python".into(), "--module".into(), "x".into()],
            cwd: None,
            env: Default::default(),
            env_count: 0,
            outcome: Outcome::Ok,
        },
    );
    exec.proc = Some(ProcRef {
        pid: 7,
        ppid: Some(6),
        exe: "python".into(),
        ..Default::default()
    });
    let mut events = vec![start, exec];
    let work = tempfile::tempdir().unwrap();
    crate::merge::collect_hooks(&fake, work.path(), &mut events, 20).await;
    let hook = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Hook { .. }))
        .unwrap();
    assert!(
        hook.ts > 101.0,
        "hook at {} before its exec at 101",
        hook.ts
    );
    assert_eq!(hook.pid(), Some(7));
}

/// The runtime probes run once, as the user, with the phases' `PATH` (the plan's
/// directory first), and what each prints becomes its version; one that prints nothing
/// is `unknown`.
#[tokio::test]
async fn runtime_probes_run_with_the_phase_path_and_report_versions() {
    let dir = project_dir();
    let mut fake = Fake::default();
    fake.execs.insert(
        "env".into(),
        (Some(0), "node=v24.22.3\nnpm=11.19.1\npython=\n".into()),
    );
    let mut p = plan(dir.path(), PhaseFailure::Continue);
    p.path_prepend = vec!["/opt/hostedtoolcache/node/24.22.3/x64/bin".into()];
    p.runtime_probes = ["node", "npm", "python"]
        .iter()
        .map(|n| airlock_ecosystem::RuntimeProbe {
            name: n.to_string(),
            argv: vec![n.to_string(), "--version".into()],
        })
        .collect();
    let work = tempfile::tempdir().unwrap();
    let (u, o) = (user(), opts());
    let run = Run {
        sandbox: &fake,
        user: &u,
        project: "/work/project",
        bait: None,
        opts: &o,
        work: work.path(),
        kernel: None,
    };
    let got = phases::probe_runtimes(&run, &p).await.unwrap();
    assert_eq!(
        got,
        vec![
            ("node".to_string(), "v24.22.3".to_string()),
            ("npm".into(), "11.19.1".into()),
            ("python".into(), "unknown".into()),
        ]
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "one exec for all probes: {calls:?}");
    assert!(
        calls[0].starts_with(
            "exec env PATH=/opt/hostedtoolcache/node/24.22.3/x64/bin:/usr/local/sbin:"
        ),
        "{calls:?}"
    );
    assert!(calls[0].ends_with("as 1001:1001"), "{calls:?}");
    assert!(calls[0].contains("'node' '--version'"), "{calls:?}");
}
