//! The phase loop: carries out an install plan in a sandbox that exists — stages the
//! files, runs the untraced set-up, starts the hook reader and the persona's decoy, then
//! each phase under the recorder with its deadline, a filesystem diff after each (files
//! written outside the package searched for canaries), and the phase's end in the trace.
//! Ecosystem-blind: everything npm- or PyPI-specific is in the plan.

use std::path::Path;
use std::time::Instant;

use airlock_ecosystem::{InstallPlan, PhaseFailure, SetupFailure};
use airlock_events::{Event, EventKind, PhaseStatus, Source, TraceHeader};
use airlock_recorder::fsdiff;

use crate::record::record_trace;
use crate::sandbox::{PhaseRequest, Sandbox, User};
use crate::timing::Timing;
use crate::{merge, EngineError, ScanOptions};

use crate::fschanges::STAGED_FILES_MAX;

/// One run's fixed context.
pub struct Run<'a, S: Sandbox> {
    pub sandbox: &'a S,
    pub user: &'a User,
    /// The project directory (the phases' working directory).
    pub project: &'a str,
    pub bait: Option<&'a airlock_bait::BaitPlan>,
    pub opts: &'a ScanOptions,
    pub work: &'a Path,
    /// The eBPF recorder watching the sandbox from the host; `None`: strace inside.
    pub kernel: Option<&'a airlock_bpf::Session>,
}

fn sandbox_err(e: crate::sandbox::BackendError) -> EngineError {
    EngineError::Sandbox(e)
}

/// Stages the plan's files with the home skeleton and the bait, runs the set-up, and
/// returns the plan with the set-up's captured variables filled in.
pub async fn prepare<S: Sandbox>(
    run: &Run<'_, S>,
    plan: InstallPlan,
) -> Result<InstallPlan, EngineError> {
    let (sandbox, user) = (run.sandbox, run.user);
    let owner = format!("{}:{}", user.uid, user.gid);
    // Everything the user's side holds before the install — the home skeleton, the bait,
    // the offline caches, the project — goes in as one tar stream (one exec).
    let mut staging = crate::staging::Staging::new();
    crate::staging::home_skeleton(&mut staging, &user.home)?;
    if let Some(bait) = run.bait {
        crate::staging::bait_files(&mut staging, bait)?;
        // The decoy's working directory goes in with the rest (one exec fewer).
        if let Some(decoy) = bait.decoy.as_ref().filter(|d| under_home(&d.cwd, user)) {
            staging.dir(&decoy.cwd, 0o755)?;
        }
    }
    for s in &plan.stage {
        staging.stage(s)?;
    }
    sandbox
        .upload_tar("/", staging.finish()?, &owner)
        .await
        .map_err(sandbox_err)?;
    let mut plan = plan;
    for step in plan.setup.clone() {
        let out = sandbox
            .exec(&step.argv, &owner)
            .await
            .map_err(sandbox_err)?;
        if out.exit_code != Some(0) {
            match step.on_failure {
                SetupFailure::Abort => {
                    return Err(EngineError::Setup(format!(
                        "{} failed: {}",
                        step.what, out.output_tail
                    )))
                }
                SetupFailure::Warn => {
                    tracing::warn!("{} failed: {}", step.what, out.output_tail)
                }
            }
        }
        if let Some(var) = &step.capture {
            match out.output_tail.lines().rev().find(|l| !l.trim().is_empty()) {
                Some(value) => plan = plan.with_variable(var, value.trim()),
                None => tracing::warn!(var, "{} printed nothing to capture", step.what),
            }
        }
    }
    Ok(plan)
}

/// Asks each runtime the plan's phases use for its version, untraced, as the user, with
/// the phases' `PATH` (one exec for all): `(name, version)` for the trace header. A
/// runtime that prints nothing is recorded as `unknown`.
pub async fn probe_runtimes<S: Sandbox>(
    run: &Run<'_, S>,
    plan: &InstallPlan,
) -> Result<Vec<(String, String)>, EngineError> {
    if plan.runtime_probes.is_empty() {
        return Ok(Vec::new());
    }
    let path = phase_path(run.user, plan);
    let mut script = String::new();
    for p in &plan.runtime_probes {
        let cmd: Vec<String> = p.argv.iter().map(|a| shell_quote(a)).collect();
        script.push_str(&format!(
            "printf '%s=%s\\n' {} \"$({} 2>/dev/null | tail -n 1)\"\n",
            shell_quote(&p.name),
            cmd.join(" ")
        ));
    }
    let argv = vec![
        "env".to_string(),
        format!("PATH={path}"),
        format!("HOME={}", run.user.home),
        "sh".into(),
        "-c".into(),
        script,
    ];
    let owner = format!("{}:{}", run.user.uid, run.user.gid);
    let out = run.sandbox.exec(&argv, &owner).await.map_err(sandbox_err)?;
    Ok(plan
        .runtime_probes
        .iter()
        .map(|p| {
            let prefix = format!("{}=", p.name);
            let v = out
                .output_tail
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .unwrap_or("unknown");
            (p.name.clone(), v.to_string())
        })
        .collect())
}

/// `'a'\''b'`: one shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The phases' `PATH`: the plan's directories before the base one.
fn phase_path(user: &User, plan: &InstallPlan) -> String {
    let base = base_env(user)
        .into_iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v)
        .unwrap_or_default();
    if plan.path_prepend.is_empty() {
        base
    } else {
        format!("{}:{base}", plan.path_prepend.join(":"))
    }
}

/// Runs the plan's phases (after [`prepare`]), appending events and gaps; returns the
/// exercise harnesses' summaries by phase.
pub async fn run_phases<S: Sandbox>(
    run: &Run<'_, S>,
    plan: &InstallPlan,
    header: &TraceHeader,
    events: &mut Vec<Event>,
    gaps: &mut Vec<String>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<(String, crate::persona::HarnessSummary)>, EngineError> {
    let mut timing = Timing::default();
    run_phases_timed(run, plan, header, events, gaps, progress, &mut timing).await
}

/// [`run_phases`], adding where the time went besides the phases themselves to
/// `timing`: `phase_setup` (decoy, hook reader, first snapshot), `phase_overhead` (a
/// phase's start and end around its command: trace stream, counters), `trace_parse`,
/// `fs_diff` (snapshots, hashes, staged-file reads) and `hooks`.
pub async fn run_phases_timed<S: Sandbox>(
    run: &Run<'_, S>,
    plan: &InstallPlan,
    header: &TraceHeader,
    events: &mut Vec<Event>,
    gaps: &mut Vec<String>,
    progress: &(dyn Fn(&str) + Sync),
    timing: &mut Timing,
) -> Result<Vec<(String, crate::persona::HarnessSummary)>, EngineError> {
    let t_setup = Instant::now();
    let (sandbox, user, opts) = (run.sandbox, run.user, run.opts);
    let hostname = run.bait.map_or("build-01", |b| b.hostname.as_str());
    let mut summaries = Vec::new();
    let owner = format!("{}:{}", user.uid, user.gid);
    let mut env = base_env(user);
    for (k, v) in env.iter_mut() {
        if k == "PATH" && !plan.path_prepend.is_empty() {
            *v = format!("{}:{v}", plan.path_prepend.join(":"));
        }
    }
    for (k, v) in &plan.env {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    if let Some(bait) = run.bait {
        for (k, v) in &bait.env {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
    }
    // The persona's decoy and the hook reader start together.
    let decoy = async {
        if let Some(decoy) = run.bait.and_then(|b| b.decoy.as_ref()) {
            if !under_home(&decoy.cwd, user) {
                let mkdir = ["mkdir".to_string(), "-p".into(), decoy.cwd.clone()];
                sandbox.exec(&mkdir, &owner).await.map_err(sandbox_err)?;
            }
            sandbox
                .spawn(&decoy.argv, &owner, &decoy.env, &decoy.cwd)
                .await
                .map_err(sandbox_err)?;
        }
        Ok::<(), EngineError>(())
    };
    let reader = async {
        if !opts.bare {
            let reader = [
                "/usr/local/lib/devtools/bin/hook-log".to_string(),
                merge::HOOK_FIFO.into(),
                merge::HOOK_LOG.into(),
            ];
            sandbox
                .spawn(&reader, "0:0", &[], "/")
                .await
                .map_err(sandbox_err)?;
            // No variable tells the hooks where to write or how to load (issue 16): they
            // find the FIFO by convention, node loads its preload through the image's
            // /etc/ld.so.preload library, Python through the system's own sitecustomize.
        }
        Ok::<(), EngineError>(())
    };
    tokio::try_join!(decoy, reader)?;
    let roots: Vec<String> = [user.home.as_str(), "/work", "/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut staged_budget = STAGED_FILES_MAX;
    let searcher =
        (!header.canaries.is_empty()).then(|| airlock_bait::LeakSearcher::new(&header.canaries));
    let mut before = snapshot(sandbox, &roots).await?;
    timing.add("phase_setup", t_setup);
    let mut stop: Option<String> = None;
    for phase_plan in &plan.phases {
        let phase = phase_plan.name.as_str();
        let argv = &phase_plan.argv;
        if let Some(why) = &stop {
            events.push(Event::new(
                airlock_events::now(),
                phase,
                Source::Sandbox,
                EventKind::PhaseEnd {
                    name: phase.into(),
                    status: PhaseStatus::Skipped,
                    exit_code: None,
                    duration_ms: 0,
                    output_tail: why.clone(),
                    output_bytes: 0,
                },
            ));
            continue;
        }
        progress(&format!("{phase} phase"));
        let trace_file = sandbox.trace_file_for(phase);
        let mut phase_env = env.clone();
        crate::persona::persona_env(&mut phase_env, phase_plan.os(), &user.home, hostname);
        let req = PhaseRequest {
            name: phase.into(),
            argv: with_speedup(argv.clone(), if opts.bare { 1 } else { opts.time_speedup }),
            cwd: run.project.to_string(),
            env: phase_env,
            timeout: opts.phase_timeout,
            tracer: (!opts.bare && run.kernel.is_none())
                .then(|| airlock_recorder::strace_args(&trace_file)),
            trace_file: (!opts.bare && run.kernel.is_none()).then_some(trace_file),
        };
        if let Some(k) = run.kernel {
            k.begin_phase(
                crate::record::recorder_config(header, run.project, phase),
                argv,
            );
        }
        let t_start = airlock_events::now();
        events.push(Event::new(
            t_start,
            phase,
            Source::Sandbox,
            EventKind::PhaseStart {
                name: phase.into(),
                command: argv.clone(),
            },
        ));
        let t_run = Instant::now();
        let outcome = sandbox
            .run_phase(&req, run.work)
            .await
            .map_err(sandbox_err)?;
        timing.add_ms(
            "phase_overhead",
            t_run
                .elapsed()
                .as_millis()
                .saturating_sub(u128::from(outcome.duration_ms)),
        );
        let t = Instant::now();
        match run.kernel {
            Some(k) => crate::record::record_kernel(k, &outcome, phase, events, gaps)?,
            None => record_trace(&outcome, header, run.project, phase, events, gaps)?,
        }
        timing.add("trace_parse", t);
        let t_diff = Instant::now();
        if let Some(summary) = crate::persona::harness_summary(&outcome.output_tail) {
            summaries.push((phase.to_string(), summary));
        }
        let after = snapshot(sandbox, &roots).await?;
        let deltas = fsdiff::diff(&before, &after);
        let collected = crate::fschanges::phase_changes(
            sandbox,
            &deltas,
            header.package_dir.as_deref(),
            &plan.toolchain_paths,
            searcher.as_ref(),
            &mut staged_budget,
            phase,
        )
        .await?;
        let (t_end, changes) = (collected.t_end, collected.changes);
        events.extend(collected.leaks);
        events.extend(changes);
        before = after;
        timing.add("fs_diff", t_diff);
        for (limit, detail) in &outcome.limits_hit {
            events.push(Event::new(
                t_end,
                phase,
                Source::Sandbox,
                EventKind::LimitHit {
                    limit: limit.clone(),
                    detail: detail.clone(),
                },
            ));
        }
        let status = if outcome.timed_out {
            PhaseStatus::TimedOut
        } else if outcome.exit_code == Some(0) {
            PhaseStatus::Ok
        } else {
            PhaseStatus::Failed
        };
        if outcome.timed_out {
            gaps.push(format!(
                "{phase} phase timed out after {} s",
                opts.phase_timeout.as_secs()
            ));
            stop = Some(format!("not run: the {phase} phase timed out"));
        } else if status == PhaseStatus::Failed && phase_plan.on_failure == PhaseFailure::SkipRest {
            stop = Some(format!("not run: the {phase} phase failed"));
        }
        events.push(Event::new(
            t_end,
            phase,
            Source::Sandbox,
            EventKind::PhaseEnd {
                name: phase.into(),
                status,
                exit_code: if outcome.timed_out {
                    None
                } else {
                    outcome.exit_code
                },
                duration_ms: outcome.duration_ms,
                output_tail: outcome.output_tail.clone(),
                output_bytes: outcome.output_bytes,
            },
        ));
    }
    let t = Instant::now();
    if let Some(k) = run.kernel {
        // Processes a phase left running, recorded until now; folded-call summaries.
        let rest = k.finish().map_err(|e| EngineError::Sandbox(Box::new(e)))?;
        events.extend(rest.late);
    }
    if !opts.bare {
        merge::collect_hooks(sandbox, run.work, events, opts.time_speedup.max(1)).await;
    }
    crate::persona::label_calls(events);
    crate::persona::decode_powershell(events);
    timing.add("hooks", t);
    Ok(summaries)
}

/// `path` is below the user's home (which [`prepare`] stages).
fn under_home(path: &str, user: &User) -> bool {
    fsdiff::is_under(path, &user.home) && path != user.home
}

async fn snapshot<S: Sandbox>(
    sandbox: &S,
    roots: &[String],
) -> Result<fsdiff::Snapshot, EngineError> {
    let raw = sandbox.snapshot(roots).await.map_err(sandbox_err)?;
    Ok(fsdiff::Snapshot::parse(&raw))
}

/// The environment of every phase before the plan's and the persona's additions.
pub fn base_env(user: &User) -> Vec<(String, String)> {
    let appdata = format!("{}/AppData/Roaming", user.home);
    let local = format!("{}/AppData/Local", user.home);
    [
        // Payloads written for Windows read these first and crash without them
        // (`os.environ["APPDATA"]`, `process.env.LOCALAPPDATA + ...`) before they reach
        // their download or theft; with them set, the attempt shows in the trace. Their
        // directories exist in the home skeleton.
        ("APPDATA", appdata.as_str()),
        ("LOCALAPPDATA", local.as_str()),
        ("USERPROFILE", user.home.as_str()),
        ("USERNAME", user.name.as_str()),
        ("HOME", user.home.as_str()),
        ("USER", user.name.as_str()),
        ("LOGNAME", user.name.as_str()),
        ("SHELL", "/bin/bash"),
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("LANG", "C.UTF-8"),
        ("TERM", "xterm-256color"),
        ("npm_config_update_notifier", "false"),
        ("npm_config_fund", "false"),
        ("npm_config_audit", "false"),
        ("npm_config_logs_max", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The phase command with the clock speed-up for the package's processes only: `env`
/// runs after setpriv dropped to the package's user, so libfaketime's shared state
/// belongs to that user, and the phase watchdog and the tracer keep real time.
pub fn with_speedup(argv: Vec<String>, speedup: u32) -> Vec<String> {
    if speedup <= 1 {
        return argv;
    }
    let mut v = vec![
        "env".to_string(),
        "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1".to_string(),
        format!("FAKETIME=+0 x{speedup}"),
        // File times stay real: faked stat() times put every file centuries into the
        // future and send make into an endless Makefile regeneration loop.
        "NO_FAKE_STAT=1".to_string(),
    ];
    v.extend(argv);
    v
}
