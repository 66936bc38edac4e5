//! One analysis, start to finish, as every frontend needs it (`scan`, the install
//! wrappers, the service): fetch and check the input, run it in the sandbox, judge the
//! trace, build the report. Frontends decide what to do with the verdict; this module
//! never prints a report.

use airlock_events::{PackageRef, Trace, Verdict};
use airlock_report::Report;
use airlock_rules::Ruleset;
use airlock_sandbox::{Docker, Tracker};
use anyhow::{Context, Result};

use crate::engine::{self, Input, ScanOptions};
use crate::judging;

/// The result of analyzing one input.
pub struct Analyzed {
    /// What was analyzed (ecosystem, name, version, sha256, integrity).
    pub package: PackageRef,
    pub trace: Trace,
    pub report: Report,
    pub verdict: Verdict,
    /// A sandbox error that cut the run short (the verdict is then `error` unless the
    /// part that ran already proved the package malicious).
    pub error: Option<String>,
}

/// Fetches, runs and judges one input. `progress` receives short human steps.
pub async fn analyze(
    docker: &Docker,
    tracker: &Tracker,
    input: &Input,
    opts: &ScanOptions,
    rules: &Ruleset,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Analyzed> {
    // 0700, named after this process so a later airlock can remove it if we are killed.
    let work = airlock_sandbox::create_work_dir().context("creating a work directory")?;
    let artifact = {
        let (input, opts, dir) = (input.clone(), opts.clone(), work.path().to_path_buf());
        tokio::task::spawn_blocking(move || engine::fetch(&input, &opts.sources(), &dir)).await??
    };
    let (trace, error) =
        engine::analyze_artifact(docker, tracker, &artifact, opts, work.path(), progress).await?;
    let (report, verdict) = judging::judge(rules, &trace, error.as_deref());
    Ok(Analyzed {
        package: trace.header.package.clone(),
        trace,
        report,
        verdict,
        error,
    })
}
