//! Parses strace output recorded on a real host with airlock's own `strace_args`
//! (tests/fixtures/record.sh re-records them): a shell chain doing file operations, a
//! python script doing network and process actions, and node with threads and
//! child_process. These pin the parser to what strace 6.1 really prints.
#![allow(clippy::unwrap_used)]

mod common;

use airlock_events::{EventKind, Outcome, Source};
use airlock_recorder::RecorderConfig;
use common::*;

#[test]
fn shell_chain_file_operations() {
    let (ev, stats) = parse_str(RecorderConfig::new("install"), &fixture("fs.strace"));
    assert_eq!(stats.unparsed, 0, "{stats:?}");
    assert!(!stats.truncated);
    assert!(ev
        .iter()
        .all(|e| e.source == Source::Strace && e.phase == "install" && e.seq == 0));

    let renames: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileRename { from, to, outcome } => {
                Some((from.as_str(), to.as_str(), outcome.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(renames, vec![("/work/x.txt", "/work/y.txt", Outcome::Ok)]);
    assert!(ev.iter().any(|e| matches!(&e.kind, EventKind::FileChmod { path, mode: 0o755, .. } if path == "/work/y.txt")));
    assert!(ev.iter().any(|e| matches!(&e.kind, EventKind::FileSymlink { target, link, .. } if target == "y.txt" && link == "/work/z")));
    let unlinked: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileUnlink { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(unlinked, vec!["/work/y.txt", "/work/z"]);
    // `mkdir -p d1/d2` runs mkdir("d1"), fchdir(d1), mkdir("d2"): relative paths
    // resolved against the cwd, which fchdir moved.
    let dirs: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileMkdir { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(dirs, vec!["/work/d1", "/work/d1/d2"]);
    // The subshell did `cd d1`; cat opened "../d1/d2" relative to it.
    assert!(ev
        .iter()
        .any(|e| matches!(&e.kind, EventKind::FileOpen { path, .. } if path == "/work/d1/d2")));
    // The redirect `> x.txt` opened for writing with create.
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileOpen { path, write: true, create: true, outcome: Outcome::Ok, .. } if path == "/work/x.txt")));

    // Process model: every vfork child is started by the shell, exec'd, tagged with the
    // inherited lifecycle, and exits with its status.
    let mv = exec_of(&ev, "mv");
    let p = mv.proc.as_ref().unwrap();
    assert_eq!(p.ppid, Some(ev[0].pid().unwrap()));
    assert_eq!(p.exe, "mv");
    assert_eq!(p.lifecycle.as_deref(), Some("postinstall"));
    assert_eq!(p.chain.len(), 2);
    assert!(p.chain[0].starts_with("sh -c cd /tmp"));
    assert_eq!(p.chain[1], "mv /work/x.txt /work/y.txt");
    let starts = of_type(&ev, "process.start").len();
    assert_eq!(starts as u64 + 1, stats.processes);
    let exits: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProcessExit { code, .. } => {
                Some((e.proc.as_ref().unwrap().exe.clone(), *code))
            }
            _ => None,
        })
        .collect();
    assert_eq!(exits.len() as u64, stats.processes);
    assert!(exits.contains(&("ls".to_string(), Some(2))));
    assert!(exits.contains(&("cat".to_string(), Some(1))));
    // cat ran in a subshell (a fork of the shell): its parent is the subshell.
    let cat = exec_of(&ev, "cat").proc.as_ref().unwrap();
    let sub = cat.ppid.unwrap();
    assert!(ev
        .iter()
        .any(|e| matches!(e.kind, EventKind::ProcessStart { pid, .. } if pid == sub)));
    if let EventKind::ProcessExec {
        cwd,
        env,
        env_count,
        ..
    } = &exec_of(&ev, "cat").kind
    {
        assert_eq!(cwd.as_deref(), Some("/work/d1"));
        assert_eq!(
            env.get("npm_package_name").map(String::as_str),
            Some("fixture")
        );
        assert_eq!(env.get("CI").map(String::as_str), Some("true"));
        assert!(!env.contains_key("OLDPWD"), "unselected variables stay out");
        assert_eq!(*env_count, 7);
    }
}

#[test]
fn python_network_and_process_actions() {
    let mut cfg = RecorderConfig::new("install");
    cfg.home = Some("/work/home".into());
    cfg.canaries.insert("~/.npmrc".into(), "npm-token".into());
    let (ev, stats) = parse_str(cfg, &fixture("net.strace"));
    assert_eq!(stats.unparsed, 0);

    let sendto: Vec<_> = of_type(&ev, "net.sendto");
    assert_eq!(sendto.len(), 1);
    match &sendto[0].kind {
        EventKind::NetSendto {
            family,
            addr,
            port,
            bytes,
            dns,
        } => {
            assert_eq!(
                (family.as_str(), addr.as_str(), *port, *bytes),
                ("AF_INET", "127.0.0.1", 53, 40)
            );
            let q = dns.as_ref().unwrap();
            assert_eq!(
                (q.name.as_str(), q.qtype.as_str()),
                ("evil-exfil.example.com", "TXT")
            );
        }
        k => panic!("{k:?}"),
    }
    let connects: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NetConnect {
                family,
                addr,
                port,
                outcome,
                ..
            } => Some((family.as_str(), addr.as_str(), *port, outcome.clone())),
            _ => None,
        })
        .collect();
    assert!(
        connects.contains(&("AF_INET6", "::1", 1, Outcome::Err("ECONNREFUSED".into()))),
        "{connects:?}"
    );
    assert!(connects.contains(&(
        "AF_UNIX",
        "/work/nonexistent.sock",
        0,
        Outcome::Err("ENOENT".into())
    )));
    assert!(connects
        .iter()
        .any(|c| c.0 == "AF_INET" && c.1 == "127.0.0.1" && c.3 == Outcome::Ok));
    assert!(ev.iter().any(|e| matches!(&e.kind, EventKind::NetBind { addr, port: 0, outcome: Outcome::Ok, .. } if addr == "127.0.0.1")));
    assert_eq!(of_type(&ev, "net.listen").len(), 1);
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::NetSocket { family, socktype, .. } if family == "AF_INET" && socktype == "SOCK_DGRAM")));
    // os.dup2(tcp_socket, 0)
    let dups = of_type(&ev, "net.socket_dup");
    assert_eq!(dups.len(), 1);
    assert!(
        matches!(&dups[0].kind, EventKind::NetSocketDup { socket, target_fd: 0 } if socket.starts_with("TCP:[127.0.0.1:"))
    );
    // The write-open of ~/.npmrc is not a read; the read-open is.
    let reads = of_type(&ev, "secret.read");
    assert_eq!(reads.len(), 1);
    assert!(matches!(&reads[0].kind,
        EventKind::SecretRead { canary_id: Some(id), path, via } if id == "npm-token" && path == "/work/home/.npmrc" && via == "open"));
    // /proc/1/cmdline of another process.
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::ProcessAccess { target_pid: 1, how, outcome: Outcome::Ok } if how == "proc-cmdline")));
    // The fork child exits with 3.
    let child = of_type(&ev, "process.start")[0];
    let EventKind::ProcessStart { pid: cpid, .. } = child.kind else {
        unreachable!()
    };
    assert!(ev
        .iter()
        .any(|e| e.pid() == Some(cpid)
            && matches!(e.kind, EventKind::ProcessExit { code: Some(3), .. })));
}

#[test]
fn node_threads_child_process_and_probes() {
    let (ev, stats) = parse_str(RecorderConfig::new("install"), &fixture("node.strace"));
    assert_eq!(stats.unparsed, 0);
    // node starts worker threads (clone3 with CLONE_THREAD): they are not processes.
    // Processes: node, /bin/sh, sh, and the two pipeline children.
    assert_eq!(stats.processes, 5, "{stats:?}");
    assert_eq!(of_type(&ev, "process.exit").len(), 5);
    let node_pid = ev[0].pid().unwrap();
    assert!(of_type(&ev, "process.start")
        .iter()
        .all(|e| e.pid() != Some(node_pid)
            || matches!(e.kind, EventKind::ProcessStart { ppid, .. } if ppid == node_pid)));

    assert!(ev.iter().any(|e| matches!(&e.kind, EventKind::Probe { what, path } if what == "container" && path == "/.dockerenv")));
    // Node reads /proc/self/cgroup and /proc/self/maps itself: neither is a probe nor access.
    assert_eq!(of_type(&ev, "probe").len(), 1);
    assert!(of_type(&ev, "process.access").is_empty());
    // Relative paths resolve against the cwd seen in AT_FDCWD</work>.
    assert!(ev.iter().any(|e| matches!(&e.kind, EventKind::FileOpen { path, write: true, .. } if path == "/work/out.txt")));
    assert!(ev
        .iter()
        .any(|e| matches!(&e.kind, EventKind::FileUnlink { path, .. } if path == "/work/out.txt")));
    // Non-blocking connect (EINPROGRESS) counts as an attempt under way.
    assert!(ev.iter().any(|e| matches!(
        &e.kind,
        EventKind::NetConnect {
            port: 1,
            outcome: Outcome::Ok,
            ..
        }
    )));
    // child_process stdio are UNIX socketpairs dup'd onto 0/1/2: not a reverse shell.
    assert!(of_type(&ev, "net.socket_dup").is_empty());

    let cat = exec_of(&ev, "cat").proc.as_ref().unwrap();
    assert_eq!(cat.lifecycle.as_deref(), Some("postinstall"));
    assert_eq!(
        cat.chain,
        vec![
            "node node.js",
            "sh -c sh -c \"echo hi | cat > /dev/null\"",
            "sh -c echo hi | cat > /dev/null",
            "cat"
        ]
    );
}
