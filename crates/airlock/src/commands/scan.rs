//! `airlock scan`: fetch each input, run it in the sandbox, judge the trace, print the
//! report. SIGINT, SIGTERM and SIGHUP remove the containers and the work directory of the
//! run in flight before exiting with 128 + the signal's number.

use std::io::Write;

use airlock_events::Verdict;
use airlock_sandbox::Tracker;
use anyhow::{Context, Result};

use crate::{judging, pipeline};
use crate::{FailOn, Format, ScanArgs};
use airlock_ecosystem::Input;
use airlock_engine::ScanOptions;

/// The outcome of one input.
pub struct Outcome {
    pub verdict: Verdict,
    pub rendered: String,
    /// The analysis, for the verdict store.
    pub analyzed: Option<pipeline::Analyzed>,
}

pub async fn run(args: ScanArgs) -> u8 {
    let tracker = Tracker::new();
    let work = match airlock_sandbox::until_signal(&tracker, scan_all(&args, &tracker)).await {
        Ok(r) => r,
        Err(signal) => {
            eprintln!("airlock: {signal}: stopped; the sandbox and the work directory are removed");
            return signal.exit_code();
        }
    };
    match work {
        Ok(code) => code,
        Err(e) => {
            crate::commands::print_error(&e);
            if pipeline::is_engine_error(&e) {
                eprintln!(
                    "airlock: hint: run `sandbox-images/setup engine` (or start dockerd) and retry"
                );
            }
            2
        }
    }
}

async fn scan_all(args: &ScanArgs, tracker: &Tracker) -> Result<u8> {
    // Sample zips (usually encrypted with the password `infected`) hold one or more
    // packages: each is extracted as bytes and analyzed on its own.
    let mut inputs: Vec<Input> = Vec::new();
    let mut _extracted = Vec::new();
    for arg in &args.inputs {
        let path = std::path::Path::new(arg);
        if path.is_file() && airlock_ecosystem::sample_zip::looks_like_zip(path) {
            // An sdist .zip holds source files, not packages: it is not a sample zip.
            let listing = airlock_ecosystem::sample_zip::list(path).ok();
            if listing.is_some_and(|l| !l.entries.is_empty()) {
                let (dir, files) = airlock_ecosystem::sample_zip::extract_to_temp(
                    path,
                    args.zip_password.as_deref(),
                )?;
                eprintln!(
                    "airlock: {arg}: {} package(s) in the sample zip",
                    files.len()
                );
                inputs.extend(files.into_iter().map(|f| Input::Tarball(f.path)));
                _extracted.push(dir);
                continue;
            }
        }
        inputs.push(Input::classify(arg)?);
    }
    let opts = ScanOptions {
        no_import: args.no_import,
        no_network: args.no_network,
        bare: args.bare,
        persona: (!args.no_bait).then_some(args.sandbox.persona()),
        ..args
            .sandbox
            .scan_options(args.registry.clone(), args.pypi_index.clone())
    };
    let rules = judging::load_rules(args.rules.as_deref())?;
    // Before any sandbox starts: a broken waiver file is a tool error (exit 2).
    let waivers = args.waivers.load(&std::env::current_dir()?, &rules)?;
    let store = open_store(args);
    let docker = airlock_sandbox::connect().await?;
    let mut code = 0u8;
    let mut rendered = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let judge = (&rules, waivers.as_ref());
        let o = scan_one(&docker, tracker, input, &opts, args, judge, i).await?;
        if let (Some(store), Some(a)) = (&store, &o.analyzed) {
            if let Err(e) = crate::store_glue::record(store, a, rules.hash()) {
                eprintln!(
                    "airlock: warning: {}: not recorded in the store: {e:#}",
                    input.label()
                );
            }
        }
        let complete = o.analyzed.as_ref().is_none_or(|a| a.report.trace_complete);
        // The store keeps the verdict without this project's waivers (it is shared by
        // every project); the exit code and the report follow the waived one.
        code = code.max(run_exit_code(o.verdict, complete, args.fail_on));
        rendered.push(o.rendered);
    }
    let text = if args.format == Format::Json && rendered.len() > 1 {
        format!("[{}]\n", rendered.join(",\n"))
    } else {
        rendered.join("\n")
    };
    emit(&text, args.output.as_deref())?;
    Ok(code)
}

async fn scan_one(
    docker: &airlock_sandbox::Docker,
    tracker: &Tracker,
    input: &Input,
    opts: &ScanOptions,
    args: &ScanArgs,
    (rules, waivers): (&airlock_rules::Ruleset, Option<&airlock_rules::Waivers>),
    index: usize,
) -> Result<Outcome> {
    let label = input.label();
    let shown = crate::commands::safe(&label);
    let progress = |step: &str| eprintln!("airlock: {shown}: {}", crate::commands::safe(step));
    let a = pipeline::analyze(docker, tracker, input, opts, rules, &progress).await?;
    if let Some(e) = &a.error {
        tracing::warn!(package = %a.package.name, error = %e, "the run was cut short");
    }
    if let Some(path) = &args.trace_out {
        let path = if index == 0 {
            path.clone()
        } else {
            path.with_extension(format!("{index}.jsonl"))
        };
        pipeline::write_trace(&a.trace, &path)?;
    }
    // Waivers are the project's: judged again with them only when one names this package.
    let waived = judging::rejudge_if_waived(rules, &a.trace, a.error.as_deref(), waivers);
    let (report, verdict) = match &waived {
        Some((report, verdict)) => (report, *verdict),
        None => (&a.report, a.verdict),
    };
    let rendered = judging::render(report, &a.trace, args.format, args.output.is_none())?;
    Ok(Outcome {
        verdict,
        rendered,
        analyzed: Some(a),
    })
}

/// The verdict store, unless `--no-store`; a store that cannot be opened is a warning
/// (the report still matters more than the cache).
fn open_store(args: &ScanArgs) -> Option<airlock_store::Store> {
    if args.no_store {
        return None;
    }
    match args.store.open() {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("airlock: warning: results will not be stored: {e:#}");
            None
        }
    }
}

/// Exit code for a verdict: errors are 2; a timed-out run cannot clear a package, so it
/// fails like a finding at any `--fail-on` level.
pub fn exit_code(verdict: Verdict, fail_on: FailOn) -> u8 {
    let threshold = match fail_on {
        FailOn::Suspicious => 1,
        FailOn::Malicious => 2,
    };
    match verdict {
        Verdict::Error => 2,
        Verdict::TimedOut => 1,
        v if v.rank() >= threshold => 1,
        _ => 0,
    }
}

/// [`exit_code`] for a run: one whose trace is incomplete (cut, summarised past its caps,
/// a phase killed by the OOM killer or SIGKILL) was not fully observed and can never clear
/// a package, so it fails like a finding at any `--fail-on` level, as a time-out does.
pub fn run_exit_code(verdict: Verdict, trace_complete: bool, fail_on: FailOn) -> u8 {
    let code = exit_code(verdict, fail_on);
    if trace_complete {
        code
    } else {
        code.max(1)
    }
}

/// Writes the rendered report to `path`, or stdout.
pub fn emit(text: &str, path: Option<&std::path::Path>) -> Result<()> {
    match path {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_trace_never_exits_0() {
        use Verdict::*;
        for fail_on in [FailOn::Malicious, FailOn::Suspicious] {
            for v in [Benign, Suspicious, Malicious, TimedOut] {
                assert!(run_exit_code(v, false, fail_on) >= 1, "{v:?} {fail_on:?}");
                assert_eq!(run_exit_code(v, true, fail_on), exit_code(v, fail_on));
            }
            assert_eq!(run_exit_code(Error, false, fail_on), 2);
        }
        assert_eq!(run_exit_code(Suspicious, true, FailOn::Malicious), 0);
    }
}
