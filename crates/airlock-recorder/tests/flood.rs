//! The summariser on a real flood: `fixtures/flood.strace` is strace 6.1 in the sandbox
//! image, with airlock's exact `strace_args`, running node that makes 500 failed opens of
//! one shape, then reads a credential file, writes a script and runs it — a small model of
//! issue 19's flood (200k failed opens before a credential read and a dropped miner).
//! Recorded with: `docker run --rm --network none --cap-drop ALL --cap-add SYS_PTRACE
//! --cap-add DAC_OVERRIDE --tmpfs /home/runner --tmpfs /tmp <sandbox image> sh -c
//! '<strace_args /tmp/t> node flood.js'`, loader and locale lines removed.
#![allow(clippy::unwrap_used)]

mod common;

use airlock_events::{EventKind, Outcome};
use airlock_recorder::fold::{Folded, LineFolder, KEEP_FIRST};
use airlock_recorder::RecorderConfig;
use common::*;

fn cfg() -> RecorderConfig {
    let mut c = RecorderConfig::new("install");
    c.home = Some("/home/runner".into());
    c.canaries
        .insert("~/.aws/credentials".into(), "aws-credentials".into());
    c
}

fn failed_opens(events: &[airlock_events::Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::FileOpen { path, outcome: Outcome::Err(_), .. }
                if path.starts_with("/nonexistent/cache/"))
        })
        .count()
}

#[test]
fn the_flood_is_counted_and_what_follows_is_kept() {
    let text = fixture("flood.strace");
    let (ev, stats) = parse_str(cfg(), &text);
    assert_eq!(stats.unparsed, 0, "{stats:?}");
    assert!(!stats.truncated);
    assert_eq!(failed_opens(&ev), KEEP_FIRST as usize);
    assert_eq!(stats.folded, 500 - u64::from(KEEP_FIRST));
    // 400 folded calls are a small group: summed into one note.
    let note = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Note { message } if message.contains("were counted") => Some(message),
            _ => None,
        })
        .expect("a summary of the folded opens");
    assert!(note.starts_with("400 more calls in 1 group(s)"), "{note}");
    // Everything after the flood is there.
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::SecretRead { canary_id: Some(id), .. } if id == "aws-credentials")));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::FileOpen { path, write: true, .. } if path == "/tmp/.x/xmrig")));
    let exec = exec_of(&ev, "xmrig");
    assert!(
        matches!(&exec.kind, EventKind::ProcessExec { argv, .. } if argv[2] == "pool.minexmr.example:3333")
    );
}

#[test]
fn a_big_group_is_its_own_summary_naming_the_process() {
    // The fixture's 500 failed opens repeated 30 times before the credential read:
    // 14,900 folded calls of one shape, past FOLD_NOTE_MIN and FLOOD_EVENT_MIN.
    let text = fixture("flood.strace");
    let (flood, rest): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|l| l.contains("/nonexistent/cache/"));
    let at = rest
        .iter()
        .position(|l| l.contains(".aws/credentials"))
        .unwrap();
    let mut big = rest[..at].join("\n") + "\n";
    for _ in 0..30 {
        big.push_str(&flood.join("\n"));
        big.push('\n');
    }
    big.push_str(&rest[at..].join("\n"));
    big.push('\n');
    let (ev, stats) = parse_str(cfg(), &big);
    assert_eq!(stats.folded, 30 * 500 - u64::from(KEEP_FIRST));
    let flood = ev
        .iter()
        .find(|e| matches!(&e.kind, EventKind::LimitHit { limit, .. } if limit == "syscall-flood"))
        .expect("a syscall-flood summary");
    let EventKind::LimitHit { detail, .. } = &flood.kind else {
        unreachable!()
    };
    assert!(
        detail.starts_with(
            "14900 more openat calls (ENOENT) on paths shaped /nonexistent/cache/module-#/index.js"
        ),
        "{detail}"
    );
    // The summary names the node process that made the calls, although it has exited.
    assert_eq!(flood.proc.as_ref().unwrap().exe, "node");
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::SecretRead { canary_id: Some(id), .. } if id == "aws-credentials")));
}

#[test]
fn folding_off_keeps_every_line() {
    let mut c = cfg();
    c.fold_after = None;
    let (ev, stats) = parse_str(c, &fixture("flood.strace"));
    assert_eq!(failed_opens(&ev), 500);
    assert_eq!(stats.folded, 0);
}

#[test]
fn a_trace_folded_on_its_way_out_parses_to_the_same_events() {
    // What the sandbox's trace stream does: fold, then append the summary lines.
    let text = fixture("flood.strace");
    let mut folder = LineFolder::default();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if folder.admit(line) {
            out.push_str(line);
        }
    }
    out.push_str(&folder.summary_lines());
    assert!(out.len() < text.len());
    let summary = out.lines().last().unwrap();
    let f = Folded::parse(summary).unwrap();
    assert_eq!(
        (f.count, f.syscall.as_str(), f.result.as_str()),
        (400, "openat", "ENOENT")
    );

    let (direct, s1) = parse_str(cfg(), &text);
    let (streamed, s2) = parse_str(cfg(), &out);
    assert_eq!(s1.folded, s2.folded);
    assert_eq!(s2.unparsed, 0);
    let kinds = |v: &[airlock_events::Event]| {
        v.iter()
            .map(|e| e.kind.type_name())
            .collect::<Vec<_>>()
            .len()
    };
    assert_eq!(kinds(&direct), kinds(&streamed));
    assert_eq!(failed_opens(&streamed), KEEP_FIRST as usize);
}
