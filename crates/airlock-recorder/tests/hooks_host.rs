//! Runs the in-sandbox hook scripts (`/usr/local/lib/devtools/python`, `/usr/local/lib/devtools/node`) on the
//! host with harmless code only, fd 3 redirected to a temp file, and checks that the
//! lines they write parse into hook events and that program output is unchanged.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airlock_events::EventKind;
use airlock_recorder::hooks::{parse_hook_record, HookRecord};

fn hooks_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sandbox-images/sandbox/rootfs/usr/local/lib/devtools");
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// Runs `argv` through `sh` with fd 3 appended to `chan` and the given env.
fn run_with_fd3(argv: &[&str], chan: &Path, env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"f="$1"; shift; exec "$@" 3>>"$f""#)
        .arg("sh")
        .arg(chan)
        .args(argv)
        .env_remove("AIRLOCK_HOOK_FD")
        .env_remove("AIRLOCK_HOOK_PATH")
        .env_remove("NODE_OPTIONS")
        .env_remove("PYTHONPATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Debian's and Ubuntu's own `/etc/python3.X/sitecustomize.py`, which loads the hook in
/// the sandbox (the image installs it as `apport_python_hook` in the stdlib directory).
const DEBIAN_SITECUSTOMIZE: &str = "# install the apport exception handler if available\ntry:\n    import apport_python_hook\nexcept ImportError:\n    pass\nelse:\n    apport_python_hook.install()\n";

/// A `PYTHONPATH` standing in for the image's stdlib directory: Debian's sitecustomize
/// (in `dir/site`) and the hook.
fn python_path(dir: &Path) -> String {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("sitecustomize.py"), DEBIAN_SITECUSTOMIZE).unwrap();
    format!(
        "{}:{}",
        site.display(),
        hooks_dir().join("python").display()
    )
}

fn records(chan: &Path) -> Vec<HookRecord> {
    let text = std::fs::read_to_string(chan).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        out.push(parse_hook_record(line).unwrap_or_else(|| panic!("unparsable line: {line}")));
    }
    out
}

fn events<'a>(recs: &'a [HookRecord], name: &str) -> Vec<&'a serde_json::Value> {
    recs.iter()
        .filter_map(|r| match &r.kind {
            EventKind::Hook { event, args, .. } if event == name => Some(args),
            _ => None,
        })
        .collect()
}

fn sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

const PY: &str = r#"
import subprocess, sys
subprocess.run(["true"])
print(eval(compile("40+2", "<dyn>", "eval")))
import collections, dataclasses, json
collections.namedtuple("P", "a b")
sys.stdout.write("done\n")
"#;

#[test]
fn python_audit_hook_reports_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("hooks.jsonl");
    let pp = python_path(dir.path());
    let plain = run_with_fd3(&["python3", "-c", PY], &chan, &[]);
    assert!(plain.status.success());
    assert_eq!(
        std::fs::read_to_string(&chan).unwrap(),
        "",
        "no env, no lines"
    );

    let hooked = run_with_fd3(
        &["python3", "-c", PY],
        &chan,
        &[("PYTHONPATH", pp), ("AIRLOCK_HOOK_FD", "3".into())],
    );
    assert!(hooked.status.success());
    assert_eq!(hooked.stdout, plain.stdout);
    assert_eq!(String::from_utf8_lossy(&hooked.stderr), "");
    assert_eq!(String::from_utf8_lossy(&hooked.stdout), "42\ndone\n");

    let recs = records(&chan);
    assert!(recs
        .iter()
        .all(|r| matches!(&r.kind, EventKind::Hook { runtime, .. } if runtime == "python")));
    assert_eq!(events(&recs, "airlock.loaded").len(), 1);
    let popen = events(&recs, "subprocess.Popen");
    assert_eq!(popen.len(), 1, "{recs:?}");
    assert_eq!(popen[0]["argv"], serde_json::json!(["true"]));
    let compiles = events(&recs, "compile");
    let dyn_compile = compiles
        .iter()
        .find(|a| a["filename"] == "<dyn>")
        .unwrap_or_else(|| panic!("{compiles:?}"));
    assert_eq!(dyn_compile["sha256"], sha256("40+2"));
    assert_eq!(dyn_compile["size"], 4);
    assert_eq!(dyn_compile["preview"], "40+2");
    // namedtuple's internal eval and the eval of the already-reported code object are
    // not reported.
    assert!(compiles
        .iter()
        .all(|a| !a["preview"].as_str().unwrap_or("").contains("lambda")));
    assert!(events(&recs, "exec").is_empty(), "{recs:?}");
    let pid = recs[0].pid;
    assert!(pid > 0 && recs.iter().all(|r| r.pid == pid && r.ts > 1.6e9));
}

#[test]
fn python_children_without_the_fd_fall_back_to_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("hooks.jsonl");
    let pp = python_path(dir.path());
    // subprocess closes fd 3 in the child; the child finds the channel by path.
    let code = r#"
import subprocess, sys
subprocess.run([sys.executable, "-c", "import os; os.system('true')"], check=True)
"#;
    let out = run_with_fd3(
        &["python3", "-c", code],
        &chan,
        &[
            ("PYTHONPATH", pp),
            ("AIRLOCK_HOOK_FD", "3".into()),
            ("AIRLOCK_HOOK_PATH", chan.display().to_string()),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let recs = records(&chan);
    let system: Vec<&HookRecord> = recs
        .iter()
        .filter(|r| matches!(&r.kind, EventKind::Hook { event, .. } if event == "os.system"))
        .collect();
    assert_eq!(system.len(), 1, "{recs:?}");
    assert_ne!(system[0].pid, recs[0].pid, "reported by the child");
}

#[test]
fn python_hook_survives_a_closed_channel_and_a_fifo_without_reader() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("hooks.jsonl");
    let pp = python_path(dir.path());
    // The program closes fd 3 and opens its own file there: no hook line may land in it.
    let own = dir.path().join("own.txt");
    let code = format!(
        "import os, subprocess\nos.close(3)\nf = open({own:?}, 'w')\nassert f.fileno() == 3\nsubprocess.run(['true'])\nf.write('mine')\nf.close()\nprint('still fine')"
    );
    let code = code.as_str();
    let out = run_with_fd3(
        &["python3", "-c", code],
        &chan,
        &[("PYTHONPATH", pp.clone()), ("AIRLOCK_HOOK_FD", "3".into())],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "still fine\n");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "mine");
    let recs = records(&chan);
    assert_eq!(events(&recs, "subprocess.Popen").len(), 1, "{recs:?}");

    let fifo = dir.path().join("nobody-reads.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let start = std::time::Instant::now();
    let out = run_with_fd3(
        &[
            "python3",
            "-c",
            "import subprocess; subprocess.run(['true']); print('ok')",
        ],
        &chan,
        &[
            ("PYTHONPATH", pp),
            ("AIRLOCK_HOOK_PATH", fifo.display().to_string()),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "must not block"
    );
}

/// In a venv the system's sitecustomize (the stdlib's) still runs, so the hook loads
/// with nothing copied into the venv (here the stdlib directory is stood in for by
/// `PYTHONPATH`, as the host's Python may not be Debian's).
#[test]
fn the_hook_loads_in_a_venv_through_sitecustomize() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("v");
    let st = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(st.success());
    let chan = dir.path().join("hooks.jsonl");
    let py = venv.join("bin/python").display().to_string();
    let out = run_with_fd3(
        &[&py, "-c", "import socket, sys\ntry:\n socket.getaddrinfo('localhost', 9)\nexcept OSError:\n pass\nprint('x', hasattr(sys, '_airlock_audit_installed'))"],
        &chan,
        &[
            ("PYTHONPATH", python_path(dir.path())),
            ("AIRLOCK_HOOK_FD", "3".into()),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x False\n");
    assert!(out.stderr.is_empty(), "{out:?}");
    let recs = records(&chan);
    let gai = events(&recs, "socket.getaddrinfo");
    assert_eq!(gai.len(), 1, "{recs:?}");
    assert_eq!(gai[0]["host"], "localhost");
    assert_eq!(gai[0]["port"], 9);
    assert_eq!(events(&recs, "airlock.loaded").len(), 1, "installed once");
}

const JS: &str = r#"
const cp = require('child_process');
cp.execSync('true');
console.log(new Function('a', 'return a * 2')(21));
console.log(require('vm').runInThisContext('1 + 1'));
console.log(typeof require('util').promisify(cp.exec), cp.exec.name, (function () {}) instanceof Function);
"#;

#[test]
fn node_preload_reports_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("hooks.jsonl");
    let preload = hooks_dir().join("node/preload.js").display().to_string();
    let plain = run_with_fd3(&["node", "-e", JS], &chan, &[]);
    assert!(plain.status.success(), "{plain:?}");
    let hooked = run_with_fd3(
        &["node", "-e", JS],
        &chan,
        &[
            ("NODE_OPTIONS", format!("--require {preload}")),
            ("AIRLOCK_HOOK_FD", "3".into()),
        ],
    );
    assert!(hooked.status.success(), "{hooked:?}");
    assert_eq!(hooked.stdout, plain.stdout);
    assert_eq!(
        String::from_utf8_lossy(&hooked.stdout),
        "42\n2\nfunction exec true\n"
    );
    assert_eq!(String::from_utf8_lossy(&hooked.stderr), "");
    let recs = records(&chan);
    assert!(recs
        .iter()
        .all(|r| matches!(&r.kind, EventKind::Hook { runtime, .. } if runtime == "node")));
    let ex = events(&recs, "child_process.execSync");
    assert_eq!(ex.len(), 1, "{recs:?}");
    assert_eq!(ex[0]["command"], "true");
    assert!(ex[0]["caller"].as_str().unwrap().contains("[eval]"));
    let f = events(&recs, "Function");
    assert_eq!(f.len(), 1, "{recs:?}");
    assert_eq!(f[0]["sha256"], sha256("return a * 2"));
    let vm = events(&recs, "vm.runInThisContext");
    assert_eq!(vm[0]["preview"], "1 + 1");
    assert_eq!(events(&recs, "airlock.loaded").len(), 1);
}

/// Issue 16: what a program can ask of its own process does not show the preload.
#[test]
fn node_preload_leaves_no_mark_a_program_can_see() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("hooks.jsonl");
    let preload = hooks_dir().join("node/preload.js").display().to_string();
    let js = "const cp = require('child_process');\n\
              console.log(process.env.NODE_OPTIONS === undefined, process.execArgv.some((a) => a.startsWith('--r')),\n\
              Object.keys(require.cache).some((k) => k.includes('preload')),\n\
              String(cp.exec).includes('describe'), String(Function).includes('native code'),\n\
              String(Function.prototype.toString).includes('native code'),\n\
              Object.getOwnPropertyNames(cp.exec).some((n) => /airlock/.test(n)),\n\
              Object.getOwnPropertyNames(globalThis).some((n) => /airlock/.test(n)),\n\
              cp.execSync('echo ${NODE_OPTIONS:-none}').toString().trim());";
    let out = run_with_fd3(
        &["node", "-e", js],
        &chan,
        &[
            ("NODE_OPTIONS", format!("--require {preload}")),
            ("AIRLOCK_HOOK_FD", "3".into()),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "true false false false true true false false none\n"
    );
    assert_eq!(events(&records(&chan), "airlock.loaded").len(), 1);
    // A program's own NODE_OPTIONS stays.
    let out = run_with_fd3(
        &["node", "-p", "process.env.NODE_OPTIONS"],
        &chan,
        &[
            (
                "NODE_OPTIONS",
                format!("--require {preload} --max-old-space-size=200"),
            ),
            ("AIRLOCK_HOOK_FD", "3".into()),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--max-old-space-size=200\n"
    );
}

#[test]
fn node_preload_is_inert_without_a_channel() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("hooks.jsonl");
    let preload = hooks_dir().join("node/preload.js").display().to_string();
    let out = run_with_fd3(
        &["node", "-e", "console.log(require('child_process').exec.__airlockOriginal === undefined, globalThis.Function === (function(){}).constructor)"],
        &chan,
        &[("NODE_OPTIONS", format!("--require {preload}"))],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "true true\n");
    assert_eq!(std::fs::read_to_string(&chan).unwrap(), "");
}
