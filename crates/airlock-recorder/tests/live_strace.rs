//! Runs the real `strace` with airlock's exact `strace_args` on a harmless shell
//! command (only when strace is installed), proving the flags are accepted by this
//! strace and that its output parses into the expected process story.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use airlock_events::EventKind;
use airlock_recorder::{parse_file, strace_args, RecorderConfig};

#[test]
fn live_strace_of_a_shell_chain() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace.txt");
    let args = strace_args(out.to_str().unwrap());
    let status = Command::new(&args[0])
        .args(&args[1..])
        .args(["sh", "-c", "mkdir sub && cd sub && touch f && (exit 3)"])
        .current_dir(dir.path())
        .env("npm_lifecycle_event", "preinstall")
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "strace returns the traced command's status"
    );
    let mut cfg = RecorderConfig::new("install");
    cfg.initial_cwd = Some(dir.path().to_str().unwrap().to_string());
    let (ev, stats) = parse_file(cfg, &out).unwrap();
    assert_eq!(stats.unparsed, 0, "{stats:?}");
    let base = dir.path().to_str().unwrap();
    assert!(ev.iter().any(
        |e| matches!(&e.kind, EventKind::FileMkdir { path, .. } if *path == format!("{base}/sub"))
    ));
    let touch = ev
        .iter()
        .find(|e| matches!(&e.kind, EventKind::FileOpen { path, create: true, .. } if *path == format!("{base}/sub/f")))
        .expect("touch creates sub/f, resolved against the cwd after cd");
    assert_eq!(
        touch.proc.as_ref().unwrap().lifecycle.as_deref(),
        Some("preinstall")
    );
    let root = ev[0].pid().unwrap();
    assert!(ev
        .iter()
        .any(|e| e.pid() == Some(root)
            && matches!(e.kind, EventKind::ProcessExit { code: Some(3), .. })));
}
