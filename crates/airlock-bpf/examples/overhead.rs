//! What recording costs an install, and what the eBPF recorder loses under load (issue
//! 16's measurement; numbers in BENCHMARKS.md). As root, with Docker and the sandbox
//! image: one container per recorder (`--cap-add SYS_PTRACE` only for strace), the same
//! offline `npm install` of a small package with a postinstall script, round-robin
//! none / strace (airlock's exact `strace_args`, writing inside the container) / eBPF
//! (the session converting events as a scan does), medians and ratios from the same run;
//! then a flood of failing opens under eBPF with the records lost counted.
//!
//!   cargo run -p airlock-bpf --example overhead -- [ROUNDS]

use std::process::Command;
use std::time::Instant;

use airlock_bpf::Session;
use airlock_recorder::RecorderConfig;

const SETUP: &str = r#"set -e
export HOME=/tmp/home && mkdir -p $HOME
mkdir -p /tmp/pkg /tmp/proj && cd /tmp/pkg
cat > package.json <<'EOF'
{"name":"tiny-postinstall","version":"1.0.0","scripts":{"postinstall":"node -e \"require('fs').writeFileSync('built.txt', String(Date.now()))\""}}
EOF
echo 'module.exports = 1' > index.js
npm pack --silent >/dev/null
cd /tmp/proj && echo '{"name":"proj","version":"1.0.0"}' > package.json
"#;

const INSTALL: &str = "export HOME=/tmp/home && cd /tmp/proj && rm -rf node_modules package-lock.json && \
    npm install --offline --no-audit --no-fund --loglevel=error /tmp/pkg/tiny-postinstall-1.0.0.tgz >/dev/null";

const FLOOD: &str = "import os\nfor i in range(300000):\n    try:\n        os.open('/nonexistent/%d' % i, 0)\n    except OSError:\n        pass\n";

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("running docker");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + &String::from_utf8_lossy(&out.stderr),
    )
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn container(image: &str, ptrace: bool) -> Container {
    let mut args = vec![
        "docker",
        "run",
        "-d",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "SETUID",
        "--cap-add",
        "SETGID",
        "--cap-add",
        "SETPCAP",
        "--tmpfs",
        "/tmp:exec,mode=1777",
    ];
    if ptrace {
        args.extend(["--cap-add", "SYS_PTRACE"]);
    }
    args.extend(["--label", "airlock.bench=overhead", image, "sleep", "3600"]);
    let (ok, id) = sh(&args);
    assert!(ok, "docker run: {id}");
    let c = Container(id.lines().next().unwrap_or_default().to_string());
    let (ok, out) = sh(&["docker", "exec", "-u", "1000:1000", &c.0, "sh", "-c", SETUP]);
    assert!(ok, "setup: {out}");
    c
}

/// The phase command as the sandbox runs it: root drops to the package's user.
fn user_cmd(cmd: &str) -> Vec<String> {
    [
        "setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        "--",
        "sh",
        "-c",
        cmd,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Wall seconds of the command, and the CPU seconds it cost (container + this process).
fn run_cpu(id: &str, prefix: &[String], cmd: &str) -> (f64, f64) {
    let (c0, o0) = (container_cpu(id), own_cpu());
    let wall = run(id, prefix, cmd);
    (wall, container_cpu(id) - c0 + own_cpu() - o0)
}

fn run(id: &str, prefix: &[String], cmd: &str) -> f64 {
    let mut args: Vec<String> = vec!["exec".into(), "-u".into(), "0:0".into(), id.into()];
    args.extend(prefix.iter().cloned());
    args.extend(user_cmd(cmd));
    let t = Instant::now();
    let out = Command::new("docker")
        .args(&args)
        .output()
        .expect("docker exec");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

/// CPU seconds the container's processes used so far (cgroup v2 `cpu.stat`), which
/// counts the BPF programs (they run in those processes) and strace (it runs inside).
fn container_cpu(id: &str) -> f64 {
    for m in airlock_bpf::cgroup::cgroup2_mounts() {
        let f = m.join("docker").join(id).join("cpu.stat");
        if let Ok(t) = std::fs::read_to_string(&f) {
            if let Some(us) = t
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<f64>().ok())
            {
                return us / 1e6;
            }
        }
    }
    0.0
}

/// CPU seconds this process used (the eBPF recorder's user side runs here).
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the command name).
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// CPU seconds of 2M syscalls (`dd` copying 1M single bytes) by a host process outside
/// any sandbox: what the attached syscall tracepoints cost everything else on the host.
fn host_syscalls_cpu() -> f64 {
    let mut v: Vec<f64> = (0..5)
        .map(|_| {
            let out = Command::new("sh")
                .args([
                    "-c",
                    "dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null; cat /proc/$$/stat",
                ])
                .output()
                .expect("sh");
            let stat = String::from_utf8_lossy(&out.stdout).to_string();
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            let f: Vec<f64> = after
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            // cutime and cstime: fields 16 and 17 (13 and 14 after the name).
            (f.get(13).copied().unwrap_or(0.0) + f.get(14).copied().unwrap_or(0.0)) / 100.0
        })
        .collect();
    median(&mut v)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let (_, images) = sh(&[
        "docker",
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "airlock-sandbox",
    ]);
    let image = images
        .lines()
        .next()
        .expect("an airlock-sandbox image")
        .to_string();
    let tax_before = host_syscalls_cpu();
    let t_load = Instant::now();
    let session = Session::start().expect("the eBPF recorder loads (root)");
    let load_ms = t_load.elapsed().as_millis();
    let tax_after = host_syscalls_cpu();
    println!(
        "host process outside the sandbox, 2M syscalls: {tax_before:.2} s CPU without the \
         recorder, {tax_after:.2} s with it attached ({:+.0}%)",
        100.0 * (tax_after - tax_before) / tax_before.max(0.01)
    );
    let plain = container(&image, false);
    let traced = container(&image, true);
    let watched = container(&image, false);
    session.watch_container(&watched.0).expect("cgroup");
    let strace: Vec<String> = airlock_recorder::strace_args("/tmp/trace.strace");
    let (mut none, mut st, mut eb) = (Vec::new(), Vec::new(), Vec::new());
    let mut cpu: [Vec<f64>; 3] = Default::default();
    let (mut events, mut lost, mut written) = (0usize, 0u64, 0u64);
    for round in 0..=rounds {
        // Rotate the order each round so a background load spike hits all three alike.
        let (mut a, mut b, mut c, mut taken) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0), None);
        for k in 0..3 {
            match (round + k) % 3 {
                0 => a = run_cpu(&plain.0, &[], INSTALL),
                1 => b = run_cpu(&traced.0, &strace, INSTALL),
                _ => {
                    session.begin_phase(RecorderConfig::new("install"), &user_cmd(INSTALL)[5..]);
                    c = run_cpu(&watched.0, &[], INSTALL);
                    taken = Some(session.end_phase("install").expect("events"));
                }
            }
        }
        let taken = taken.expect("the eBPF run");
        if round == 0 {
            continue; // warm-up: npm cache, page cache
        }
        assert!(taken.recording.root_seen, "the install's tree was found");
        events += taken.recording.events.len();
        lost += taken.lost;
        written += taken.written;
        none.push(a.0);
        st.push(b.0);
        eb.push(c.0);
        cpu[0].push(a.1);
        cpu[1].push(b.1);
        cpu[2].push(c.1);
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (mn, ms, me) = (min(&none), min(&st), min(&eb));
    let (n, s, e) = (median(&mut none), median(&mut st), median(&mut eb));
    println!("rounds: {rounds} (after one warm-up); BPF load + attach: {load_ms} ms");
    println!("| recorder | median install (s) | vs none | fastest (s) | vs none |");
    println!("|---|---|---|---|---|");
    println!("| none | {n:.3} | 1.00x | {mn:.3} | 1.00x |");
    println!(
        "| strace | {s:.3} | {:.2}x ({:+.3} s) | {ms:.3} | {:.2}x ({:+.3} s) |",
        s / n,
        s - n,
        ms / mn,
        ms - mn
    );
    println!(
        "| eBPF | {e:.3} | {:.2}x ({:+.3} s) | {me:.3} | {:.2}x ({:+.3} s) |",
        e / n,
        e - n,
        me / mn,
        me - mn
    );
    let [c0, c1, c2] = &mut cpu;
    let (cn, cs, ce) = (median(c0), median(c1), median(c2));
    println!(
        "CPU per install (container + recorder), median: none {cn:.3} s, strace {cs:.3} s \
         ({:.2}x, {:+.3} s), eBPF {ce:.3} s ({:.2}x, {:+.3} s)",
        cs / cn,
        cs - cn,
        ce / cn,
        ce - cn
    );
    println!(
        "eBPF: {} events per install, {} kernel records written, {} lost",
        events / rounds.max(1),
        written / rounds as u64,
        lost
    );

    // Load: failing opens as fast as python makes them, one process and four at once.
    for procs in [1usize, 4] {
        let cmd = format!(
            "for i in $(seq {procs}); do python3 -c \"{}\" & done; wait",
            FLOOD.replace('"', "\\\"")
        );
        let argv = user_cmd(&cmd)[5..].to_vec();
        session.begin_phase(RecorderConfig::new("flood"), &argv);
        let e = run(&watched.0, &[], &cmd);
        let taken = session.end_phase("flood").expect("events");
        let n = run(&plain.0, &[], &cmd);
        let s = run(&traced.0, &strace, &cmd);
        println!(
            "flood, {procs} x 300k failing opens: none {n:.2} s, strace {s:.2} s ({:.2}x), eBPF {e:.2} s ({:.2}x); \
             eBPF records written {}, lost {} ({:.3}%), events kept after folding {}",
            s / n,
            e / n,
            taken.written,
            taken.lost,
            100.0 * taken.lost as f64 / (taken.lost + taken.written).max(1) as f64,
            taken.recording.events.len()
        );
    }
}
