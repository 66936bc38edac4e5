//! The eBPF recorder on a real sandbox container (root, Docker and the sandbox image
//! needed; skipped otherwise): a python command that makes a directory, writes a file,
//! connects, sends a DNS question, runs npm and a failing shell — every act comes back as
//! the typed events strace would give, with argv and paths, `source: ebpf`, attributed
//! to the phase's tree only, while the package reads `TracerPid: 0`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use airlock_bpf::Session;
use airlock_events::{EventKind, Outcome, Source};
use airlock_recorder::RecorderConfig;

const PY: &str = r#"
import os, socket, subprocess
os.makedirs("/tmp/d/e", exist_ok=True)
os.chdir("/tmp/d")
with open("e/f.txt", "w") as f:
    f.write("hi")
os.rename("e/f.txt", "e/g.txt")
os.chmod("e/g.txt", 0o755)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("10.1.2.3", 8443))
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05exfil\x07example\x03com\x00\x00\x01\x00\x01"
try:
    u.sendto(q, ("10.9.9.9", 53))
except OSError:
    pass
subprocess.run(["npm", "--version"], stdout=subprocess.DEVNULL)
subprocess.run(["sh", "-c", "exit 3"])
print([l for l in open("/proc/self/status") if l.startswith("TracerPid")][0].strip())
"#;

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
    let session = Session::start().expect("the eBPF recorder loads as root");
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
    let root = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::ProcessExec { argv: a, cwd, .. } if *a == argv => {
                assert_eq!(
                    cwd.as_deref(),
                    Some("/work"),
                    "the walked working directory"
                );
                e.pid()
            }
            _ => None,
        })
        .expect("the phase's command with its argv");
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileMkdir { path, .. } if path == "/tmp/d/e")));
    assert!(
        ev.iter().any(|e| matches!(&e.kind,
            EventKind::FileOpen { path, create: true, write: true, flags, outcome: Outcome::Ok }
                if path == "/tmp/d/e/f.txt" && flags.contains("O_CREAT"))),
        "a relative open resolved against the cwd after chdir"
    );
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileRename { from, to, .. } if from == "/tmp/d/e/f.txt" && to == "/tmp/d/e/g.txt")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileChmod { path, mode: 0o755, .. } if path == "/tmp/d/e/g.txt")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::NetConnect { family, addr, port: 8443, .. } if family == "AF_INET" && addr == "10.1.2.3")));
    let dns = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NetSendto { port: 53, dns, .. } => dns.clone(),
            _ => None,
        })
        .expect("the DNS question");
    assert!(format!("{dns:?}").contains("exfil.example.com"), "{dns:?}");
    let npm = ev
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ProcessExec { argv, outcome: Outcome::Ok, .. } if argv.first().is_some_and(|a| a == "npm")))
        .expect("npm's exec");
    let npm_proc = npm.proc.as_ref().unwrap();
    assert_eq!(npm_proc.ppid, Some(root), "npm is the command's child");
    assert!(ev
        .iter()
        .any(|e| matches!(&e.kind, EventKind::ProcessExit { code: Some(3), .. })));
    assert!(ev
        .iter()
        .any(|e| e.pid() == Some(root)
            && matches!(e.kind, EventKind::ProcessExit { code: Some(0), .. })));
}
