//! Issue 16, "No marks": a probe package (`tests/packages/stealth-probe`) runs a node and
//! a python script at install and the node probe again inside the import harness's
//! process, each looking for every mark of analysis a package could check (environment,
//! argv, loaded modules, harness paths, `/.dockerenv`, cgroup, PID 1, the process list,
//! the sink's sockets, the CA's name, file times of the home, DNS of never-resolving
//! names). Each prints `MARK` lines and a last `PROBE-DONE <runtime> <phase> marks=N
//! kinds=a,b` line. Every probe must have run, and every kind it reports must be one of
//! [`REMAINING`], the marks not removed yet (the list only shrinks: each removed mark is
//! then a regression test). The evasion battery's samples that still see a mark
//! (`examples/evasion-gaps`) are checked by an ignored test here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// Marks still visible, by the probe's kind names (see probe.js / probe.py). Gone: the
/// hooks' `cmdline`/execArgv, `require.cache`, `stack`, `wrapped-source`, `global` and
/// `sys.path` marks (the hooks load without variables or paths naming them); `env`,
/// `proc-environ` and `maps` remain for libfaketime alone. Gone too: the container's
/// `path`s (/.dockerenv, /airlock), `cgroup` (a private cgroup namespace), `pid1` (the
/// image's /sbin/init as `systemd`), `home-times` (staged files dated over months) and
/// `mountinfo` (the CA bundle is copied in, not bind-mounted from the work directory),
/// and `ca` (the sink's root is a corporate TLS-inspection CA by name).
const REMAINING: &[&str] = &["env", "proc-environ", "maps", "ps", "net", "dns"];

fn assert_probe_clean(out: &str, runtime: &str, phase_name: &str) {
    let done = format!("PROBE-DONE {runtime} {phase_name} ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&done))
        .unwrap_or_else(|| panic!("the {runtime} probe did not finish in {phase_name}:\n{out}"));
    let kinds = line
        .split_once("kinds=")
        .map(|(_, k)| k.trim())
        .unwrap_or_default();
    let unexpected: Vec<&str> = kinds
        .split(',')
        .filter(|k| !k.is_empty() && !REMAINING.contains(k))
        .collect();
    // Within `env`/`proc-environ`/`maps`/`ps`, only libfaketime's names are left (in
    // `ps`: the phase command's `env LD_PRELOAD=… FAKETIME=…` prefix).
    for gone in [
        "AIRLOCK_",
        "NODE_OPTIONS",
        "PYTHONPATH",
        "/opt/airlock",
        "preload.js",
        "run-phase",
        "setpriv",
        "docker-init",
    ] {
        assert!(
            !out.lines()
                .any(|l| l.starts_with("MARK ") && l.contains(gone)),
            "{gone} is visible again to the {runtime} probe in {phase_name}:\n{out}"
        );
    }
    assert!(
        unexpected.is_empty(),
        "the {runtime} probe saw marks of analysis in {phase_name}: {unexpected:?}\n{out}"
    );
}

#[test]
fn a_package_sees_no_mark_of_analysis() {
    let dir = repo().join("tests/packages/stealth-probe");
    let (_, r, stderr) = scan_json(&[dir.to_str().unwrap(), "--os", "linux"]);
    let tail = |name: &str| {
        phase(&r, name)["output_tail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (install, import) = (tail("install"), tail("import"));
    eprintln!("install:\n{install}\nimport:\n{import}\nstderr:\n{stderr}");
    assert_probe_clean(&install, "node", "install");
    assert_probe_clean(&install, "python", "install");
    assert_probe_clean(&import, "node", "import");
}

/// The evasion battery's known gaps (examples/evasion-gaps): each must be judged
/// malicious once the mark it checks is gone; today each still sees its mark and stays
/// quiet.
#[test]
#[ignore = "issue 16 known gaps: libfaketime's variables and clock, the sink's listeners in the package's netns"]
fn the_evasion_gaps_are_caught() {
    let mut missed = Vec::new();
    for name in ["evade-env-vars", "evade-clock-skew", "evade-sink-ports"] {
        let dir = repo().join("examples/evasion-gaps").join(name);
        let (_, r, _) = scan_json(&[dir.to_str().unwrap(), "--os", "linux"]);
        if r["verdict"] != "malicious" {
            missed.push(format!("{name}: {}", r["verdict"]));
        }
    }
    assert!(missed.is_empty(), "still quiet: {missed:?}");
}
