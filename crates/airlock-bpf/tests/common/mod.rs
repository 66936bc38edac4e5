//! What the live test runs in the container, shared with the replay of its recorded
//! records (tests/recorded.rs), and the story both must find in the events.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use airlock_events::{Event, EventKind, Outcome};

/// The phase's command (tests/recorded.rs replays its records).
pub const PY: &str = r#"
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

/// The acts of [`PY`] as events: its exec with argv and the walked cwd, the directory,
/// the relative open resolved after `chdir`, rename, chmod, connect, the DNS question,
/// npm as its child, the shell's exit 3 and its own exit 0.
pub fn assert_story(ev: &[&Event], argv: &[String]) {
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
