//! A generator of large synthetic traces for the streaming test and the throughput
//! example: a busy install (file opens, DNS, connections, execs, deletions) produced
//! lazily, so nothing but the evaluator's own state is held in memory.

use airlock_events::{
    DnsQuestion, Ecosystem, Event, EventKind, Outcome, PackageRef, ProcRef, Record, Source,
    TraceFooter, TraceHeader, SCHEMA_VERSION,
};

/// A header for synthetic traces.
pub fn header() -> TraceHeader {
    TraceHeader {
        schema_version: SCHEMA_VERSION,
        run_id: "synthetic".into(),
        started_at: 1000.0,
        package: PackageRef {
            ecosystem: Some(Ecosystem::Npm),
            name: "synthetic".into(),
            version: "1.0.0".into(),
            ..Default::default()
        },
        tool_version: "synthetic".into(),
        image: None,
        persona: None,
        home: Some("/home/runner".into()),
        package_dir: Some("/home/runner/project/node_modules/synthetic".into()),
        canaries: vec![],
        notes: Default::default(),
    }
}

/// `n` events followed by a complete footer, generated on demand.
pub fn records(n: u64) -> impl Iterator<Item = Record> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..=n).map(move |i| {
        if i == n {
            return Record::Footer(TraceFooter {
                events: n,
                ended_at: 2000.0,
                complete: true,
                gaps: vec![],
            });
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let pid = 300 + (x % 50) as u32;
        let proc = ProcRef {
            pid,
            ppid: Some(300),
            exe: "node".into(),
            lifecycle: Some("postinstall".into()),
            chain: vec![
                "npm install".into(),
                "sh -c node build.js".into(),
                "node build.js".into(),
            ],
        };
        let kind = match i % 10 {
            0..=4 => EventKind::FileOpen {
                path: format!(
                    "/home/runner/project/node_modules/synthetic/src/f{}.js",
                    x % 5000
                ),
                flags: "O_RDONLY".into(),
                write: false,
                create: false,
                outcome: Outcome::Ok,
            },
            5 => EventKind::NetSendto {
                family: "AF_INET".into(),
                addr: "198.18.0.1".into(),
                port: 53,
                bytes: 40,
                dns: Some(DnsQuestion {
                    name: format!("h{:x}.cdn{}.example.com", x % 100_000, x % 7),
                    qtype: "A".into(),
                }),
            },
            6 => EventKind::NetConnect {
                family: "AF_INET".into(),
                addr: format!("198.18.{}.{}", (x >> 8) % 256, x % 256),
                port: 443,
                name: None,
                outcome: Outcome::Ok,
            },
            7 => EventKind::ProcessExec {
                path: "/usr/bin/cc".into(),
                argv: vec!["cc".into(), "-c".into(), format!("f{}.c", x % 100)],
                cwd: None,
                env: Default::default(),
                env_count: 20,
                outcome: Outcome::Ok,
            },
            8 => EventKind::FileOpen {
                path: format!("/tmp/build-{}/obj{}.o", x % 10, x % 1000),
                flags: "O_WRONLY|O_CREAT".into(),
                write: true,
                create: true,
                outcome: Outcome::Ok,
            },
            _ => EventKind::FileUnlink {
                path: format!("/tmp/build-{}/obj{}.o", x % 10, x % 1000),
                outcome: Outcome::Ok,
            },
        };
        // The compiler runs as its own short-lived process (a child of the build script),
        // so the script's processes stay the package's.
        let proc = if matches!(kind, EventKind::ProcessExec { .. }) {
            ProcRef {
                pid: 5000 + (i % 10_000) as u32,
                ppid: Some(pid),
                exe: "cc".into(),
                ..proc
            }
        } else {
            proc
        };
        let mut e =
            Event::new(1000.0 + i as f64 * 0.0001, "install", Source::Strace, kind).with_proc(proc);
        e.seq = i;
        Record::Event(e)
    })
}
