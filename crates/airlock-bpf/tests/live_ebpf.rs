//! The eBPF recorder on a real sandbox container (root, Docker and the sandbox image
//! needed; skipped otherwise): a python command that makes a directory, writes a file,
//! connects, sends a DNS question, runs npm and a failing shell — every act comes back as
//! the typed events strace would give, with argv and paths, `source: ebpf`, attributed
//! to the phase's tree only, while the package reads `TracerPid: 0`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use airlock_bpf::Session;
use airlock_events::{EventKind, Source};
use airlock_recorder::RecorderConfig;

mod common;
use common::PY;

fn sandbox_image() -> Option<String> {
    let out = Command::new("docker")
        .args([
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "airlock-sandbox",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

#[test]
fn live_ebpf_records_a_python_command_in_a_container() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("not root; skipping");
        return;
    }
    let Some(image) = sandbox_image() else {
        eprintln!("no docker or no airlock-sandbox image; skipping");
        return;
    };
    // AIRLOCK_RECORD_FIXTURES=1 re-records tests/fixtures/live_python.rec (the raw
    // records tests/recorded.rs converts without root).
    let session = if std::env::var_os("AIRLOCK_RECORD_FIXTURES").is_some() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live_python.rec");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        Session::start_dumping(&path)
    } else {
        Session::start()
    }
    .expect("the eBPF recorder loads as root");
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            "--label",
            "airlock.test=live_ebpf",
            &image,
            "sleep",
            "120",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let _c = Container(id.clone());
    session.watch_container(&id).unwrap();

    // Harness noise before the phase: not recorded.
    Command::new("docker")
        .args(["exec", &id, "ls", "/"])
        .output()
        .unwrap();
    let argv: Vec<String> = ["python3", "-c", PY]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut cfg = RecorderConfig::new("install");
    cfg.initial_cwd = Some("/".into());
    cfg.source = Source::Ebpf;
    session.begin_phase(cfg, &argv);
    let out = Command::new("docker")
        .args(["exec", "-u", "1000:1000", &id])
        .args(&argv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("TracerPid:\t0"),
        "no tracer in the container: {stdout}"
    );
    let taken = session.end_phase("install").unwrap();
    let fin = session.finish().unwrap();
    let rec = taken.recording;
    assert!(rec.root_seen);
    assert_eq!(taken.lost, 0);
    let ev: Vec<_> = rec.events.iter().chain(fin.late.iter()).collect();
    for e in &ev {
        eprintln!("{}", serde_json::to_string(e).unwrap());
    }
    assert!(ev
        .iter()
        .all(|e| e.source == Source::Ebpf && e.phase == "install"));
    assert!(
        !ev.iter()
            .any(|e| matches!(&e.kind, EventKind::ProcessExec { argv, .. } if argv.first().is_some_and(|a| a == "ls"))),
        "the harness's exec before the phase is not the phase's"
    );
    common::assert_story(&ev, &argv);
}
