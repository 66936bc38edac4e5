//! The conversion without a kernel: raw records the live test recorded
//! (tests/fixtures/live_python.rec, re-recorded with `AIRLOCK_RECORD_FIXTURES=1`) replayed
//! through the phase splitter must tell the same story as live; hand-made records cover
//! what that run does not do (dirfd-relative paths, socket dups, ptrace, another
//! process's memory, signals, threads, refused forks, cut and unreadable records).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_bpf::raw::{RawRecord, KIND_EXEC_ARGS, KIND_EXIT, KIND_FORK};
use airlock_bpf::{read_dump, Splitter};
use airlock_events::{Event, EventKind, Outcome, Source};
use airlock_recorder::RecorderConfig;

mod common;

fn cfg() -> RecorderConfig {
    let mut cfg = RecorderConfig::new("install");
    cfg.initial_cwd = Some("/".into());
    cfg.source = Source::Ebpf;
    cfg
}

#[test]
fn recorded_python_run_replays_to_the_same_story() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live_python.rec"),
    )
    .unwrap();
    let records = read_dump(&bytes);
    assert!(records.len() > 100, "{} records", records.len());
    let argv: Vec<String> = ["python3", "-c", common::PY]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut sp = Splitter::new(0.0);
    sp.begin_phase(cfg(), &argv);
    for r in &records {
        sp.feed_bytes(r);
    }
    assert_eq!(sp.malformed, 0);
    let rec = sp.take_phase("install", true);
    assert!(rec.root_seen);
    let stats = rec.stats.unwrap();
    assert!(!stats.truncated);
    let ev: Vec<&Event> = rec.events.iter().collect();
    assert!(ev
        .iter()
        .all(|e| e.source == Source::Ebpf && e.phase == "install"));
    assert!(
        !ev.iter().any(|e| matches!(&e.kind,
            EventKind::ProcessExec { argv, .. } if argv.first().is_some_and(|a| a == "ls"))),
        "the harness's `ls` before the phase is left out"
    );
    common::assert_story(&ev, &argv);
}

/// A record of the phase's root process (tgid 10).
fn rec(kind: u32, ret: i64, a: [u64; 4], segs: [&[u8]; 4]) -> RawRecord {
    RawRecord {
        kind,
        tgid: 10,
        tid: 10,
        ppid: 1,
        ts_ns: 1_000_000_000,
        ret,
        a,
        flags: 0,
        segs: segs.map(<[u8]>::to_vec),
    }
}

fn started() -> Splitter {
    let mut sp = Splitter::new(1000.0);
    sp.begin_phase(cfg(), &["node".to_string(), "x.js".to_string()]);
    // Not the phase's command: nobody's.
    sp.feed(rec(
        KIND_EXEC_ARGS,
        0,
        [0; 4],
        [b"/bin/ls\0", b"ls\0", b"", b""],
    ));
    sp.feed(rec(59, 0, [0; 4], [b"", b"", b"", b""]));
    // The command: the tree's root.
    sp.feed(rec(
        KIND_EXEC_ARGS,
        0,
        [(-100i64) as u64, 2, 0, 59],
        [
            b"/usr/bin/node\0",
            b"node\0x.js\0",
            b"npm_lifecycle_event=postinstall\0HOME=/home/runner\0",
            b"project\0work\0",
        ],
    ));
    sp.feed(rec(59, 0, [0; 4], [b"", b"", b"", b""]));
    sp
}

fn kinds(sp: &mut Splitter) -> Vec<Event> {
    sp.take_phase("install", true).events
}

#[test]
fn exec_carries_argv_env_cwd_and_lifecycle() {
    let mut sp = started();
    let ev = kinds(&mut sp);
    assert_eq!(ev.len(), 1, "{ev:?}");
    let e = &ev[0];
    assert_eq!(e.ts, 1001.0);
    let EventKind::ProcessExec {
        path,
        argv,
        cwd,
        env,
        env_count,
        outcome,
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    assert_eq!(path, "/usr/bin/node");
    assert_eq!(argv, &["node", "x.js"]);
    assert_eq!(cwd.as_deref(), Some("/work/project"));
    assert_eq!(env.get("HOME").map(String::as_str), Some("/home/runner"));
    assert_eq!(*env_count, 2);
    assert_eq!(*outcome, Outcome::Ok);
    let p = e.proc.as_ref().unwrap();
    assert_eq!(p.exe, "node");
    assert_eq!(p.lifecycle.as_deref(), Some("postinstall"));
}

#[test]
fn dirfd_relative_paths_resolve_against_the_walked_directory() {
    let mut sp = started();
    // unlinkat(5</home/runner/.ssh>, "id_rsa", 0) = 0
    sp.feed(rec(
        263,
        0,
        [0, 5, 0, 0],
        [b"id_rsa\0", b"", b".ssh\0runner\0home\0", b""],
    ));
    // openat(AT_FDCWD, "out.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC) = -13
    sp.feed(rec(
        257,
        -13,
        [0o2001101, (-100i64) as u64, 0, 0],
        [b"out.txt\0", b"", b"", b""],
    ));
    let ev = kinds(&mut sp);
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileUnlink { path, outcome: Outcome::Ok } if path == "/home/runner/.ssh/id_rsa")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileOpen { path, flags, write: true, create: true, outcome: Outcome::Err(err) }
            if path == "/work/project/out.txt"
                && flags == "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
                && err == "EACCES")));
}

#[test]
fn socket_dup_ptrace_and_memory_reads() {
    let mut sp = started();
    // dup2(3<TCP:[10.0.0.2:40000->6.6.6.6:4444]>, 0) = 0
    let peer = [2u8, 0, 0x11, 0x5c, 6, 6, 6, 6, 0, 0, 0, 0, 0, 0, 0, 0];
    let local = [2u8, 0, 0x9c, 0x40, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
    sp.feed(rec(33, 0, [3, 0, 6, 0], [&peer, &local, b"", b""]));
    // ptrace(PTRACE_ATTACH, 77) = -1 EPERM
    sp.feed(rec(101, -1, [16, 77, 0, 0], [b"", b"", b"", b""]));
    // process_vm_readv(77, ...) = 4096
    sp.feed(rec(310, 4096, [77, 0, 0, 0], [b"", b"", b"", b""]));
    // open("/proc/77/environ", O_RDONLY) = 4
    sp.feed(rec(
        2,
        4,
        [0, (-100i64) as u64, 0, 0],
        [b"/proc/77/environ\0", b"", b"", b""],
    ));
    let ev = kinds(&mut sp);
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::NetSocketDup { socket, target_fd: 0 } if socket == "TCP:[10.0.0.2:40000->6.6.6.6:4444]")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::ProcessAccess { target_pid: 77, how, outcome: Outcome::Err(err) }
            if how == "ptrace-attach" && err == "EPERM")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::SecretRead { path, via, .. } if path == "/proc/77/mem" && via == "process_vm_readv")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::SecretRead { path, via, .. } if path == "/proc/77/environ" && via == "proc-environ")));
}

#[test]
fn forks_threads_signals_and_refusals() {
    let mut sp = started();
    // A thread (child tgid = ours), then a child process that is killed.
    sp.feed(rec(KIND_FORK, 0, [11, 10, 0, 0], [b"", b"", b"", b""]));
    sp.feed(rec(KIND_FORK, 0, [12, 12, 0, 0], [b"", b"", b"", b""]));
    let mut child_exit = rec(KIND_EXIT, 0, [9, 0, 0, 0], [b"", b"", b"", b""]);
    child_exit.tgid = 12;
    child_exit.tid = 12;
    sp.feed(child_exit);
    // A connect of the thread, attributed to the process.
    let mut c = rec(
        42,
        -115,
        [5, 0, 0, 0],
        [
            &[2u8, 0, 0x01, 0xbb, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0],
            b"",
            b"",
            b"",
        ],
    );
    c.tid = 11;
    sp.feed(c);
    // clone() = -EAGAIN
    sp.feed(rec(56, -11, [0; 4], [b"", b"", b"", b""]));
    let rec_ = sp.take_phase("install", true);
    assert_eq!(rec_.fork_refused, 1);
    let ev = rec_.events;
    let starts: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProcessStart { pid, .. } => Some(*pid),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![12], "a thread is not a process");
    assert!(ev.iter().any(|e| e.pid() == Some(12)
        && matches!(&e.kind, EventKind::ProcessExit { signal: Some(s), code: None } if s == "SIGKILL")));
    assert!(ev.iter().any(|e| e.pid() == Some(10)
        && matches!(&e.kind,
            EventKind::NetConnect { addr, port: 443, outcome: Outcome::Ok, .. } if addr == "1.2.3.4")),
        "EINPROGRESS is an attempt under way; the thread's act is its process's");
}

#[test]
fn dns_over_a_connected_udp_socket() {
    let mut sp = started();
    let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03c2c\x04evil\x03com\x00\x00\x01\x00\x01";
    // sendmmsg's first message, the destination being the connected socket's peer.
    let peer = [2u8, 0, 0, 53, 127, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0];
    sp.feed(rec(307, 2, [3, q.len() as u64, 2, 0], [&peer, q, b"", b""]));
    let ev = kinds(&mut sp);
    let dns = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NetSendto {
                addr,
                port: 53,
                bytes,
                dns,
                ..
            } if addr == "127.0.0.11" => {
                assert_eq!(*bytes, q.len() as u64);
                dns.clone()
            }
            _ => None,
        })
        .expect("the question");
    assert!(format!("{dns:?}").contains("c2c.evil.com"));
}

#[test]
fn unreadable_records_are_counted_not_fatal() {
    let mut sp = started();
    sp.feed_bytes(&[1, 2, 3]);
    let mut b = rec(2, 0, [0; 4], [b"/x\0", b"", b"", b""]).to_bytes();
    b.truncate(b.len() - 1);
    sp.feed_bytes(&b);
    assert_eq!(sp.malformed, 2);
    assert_eq!(read_dump(&[5, 0, 0, 0, 1, 2]).len(), 0, "a cut dump record");
}
