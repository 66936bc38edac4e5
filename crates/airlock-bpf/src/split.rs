//! Which phase a kernel record belongs to. The kernel side sees everything in the
//! sandbox's cgroup: the phase's processes, but also airlock's own — the phase runner and
//! its watchdog, the snapshot and hashing commands between phases, the hook reader, the
//! persona's decoy. A phase's tree starts at the first process that, while the phase
//! runs, successfully execs exactly the phase's command (after the root-side wrapper
//! dropped privileges, the same point from which strace's events counted); its forks join
//! the tree, and everything else is left out. Each phase has its own
//! [`airlock_recorder::Recorder`] (process table, chains, lifecycle marks, folding), so a
//! process the phase left running is still attributed to it, and its late events come
//! out with the next flush.

use std::collections::HashMap;

use airlock_events::Event;
use airlock_recorder::{Recorder, RecorderConfig, RecorderStats};

use crate::convert::{call_of, exec_call, exit_status};
use crate::raw::{RawRecord, KIND_EXEC_ARGS, KIND_EXIT, KIND_FORK};

/// What one phase's recording gave.
#[derive(Debug, Clone, Default)]
pub struct PhaseRecording {
    pub events: Vec<Event>,
    /// Set when the phase's recorder was finished (the last flush of a phase).
    pub stats: Option<RecorderStats>,
    /// The phase's command was seen starting (its tree was recorded).
    pub root_seen: bool,
    /// Fork/clone calls the kernel refused with EAGAIN (the pids limit).
    pub fork_refused: u64,
}

struct Phase {
    name: String,
    root_argv: Vec<Vec<u8>>,
    root: Option<u32>,
    recorder: Option<Recorder>,
    events: Vec<Event>,
    fork_refused: u64,
    /// Still waiting for its command (no tree adopted after it ended).
    open: bool,
}

/// Splits the records of one sandbox into phase trees and feeds each tree's calls to its
/// phase's recorder.
pub struct Splitter {
    /// Seconds to add to a CLOCK_MONOTONIC time to get Unix time.
    clock_offset: f64,
    phases: Vec<Phase>,
    /// Thread and process ids of phase trees → phase index.
    owner: HashMap<u32, usize>,
    /// Exec entry records waiting for their result, by thread group.
    pending_exec: HashMap<u32, RawRecord>,
    /// Records seen and records that could not be read.
    pub seen: u64,
    pub malformed: u64,
}

impl Splitter {
    pub fn new(clock_offset: f64) -> Self {
        Splitter {
            clock_offset,
            phases: Vec::new(),
            owner: HashMap::new(),
            pending_exec: HashMap::new(),
            seen: 0,
            malformed: 0,
        }
    }

    /// A phase starts: its tree is the first process that execs `argv` from now on.
    pub fn begin_phase(&mut self, cfg: RecorderConfig, argv: &[String]) {
        for p in &mut self.phases {
            p.open = false;
        }
        self.phases.push(Phase {
            name: cfg.phase.clone(),
            root_argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            root: None,
            recorder: Some(Recorder::new(cfg)),
            events: Vec::new(),
            fork_refused: 0,
            open: true,
        });
    }

    fn ts(&self, ns: u64) -> f64 {
        self.clock_offset + ns as f64 / 1e9
    }

    /// Feeds one raw record (bytes from the ring buffer).
    pub fn feed_bytes(&mut self, bytes: &[u8]) {
        self.seen += 1;
        match RawRecord::parse(bytes) {
            Ok(r) => self.feed(r),
            Err(_) => self.malformed += 1,
        }
    }

    /// Feeds one decoded record.
    pub fn feed(&mut self, r: RawRecord) {
        let ts = self.ts(r.ts_ns);
        match r.kind {
            KIND_EXEC_ARGS => {
                // Only the latest exec of a thread group can still be waiting.
                self.pending_exec.insert(r.tgid, r);
            }
            KIND_FORK => {
                let Some(&p) = self.owner.get(&r.tgid) else {
                    return;
                };
                let child = r.a[0] as u32;
                let thread = r.a[1] as u32 == r.tgid;
                self.owner.insert(child, p);
                let phase = &mut self.phases[p];
                if let Some(rec) = phase.recorder.as_mut() {
                    rec.feed_fork(r.tid, child, thread, ts, &mut phase.events);
                }
            }
            KIND_EXIT => {
                let Some(p) = self.owner.remove(&r.tid) else {
                    return;
                };
                let (code, signal) = exit_status(r.a[0]);
                let phase = &mut self.phases[p];
                if let Some(rec) = phase.recorder.as_mut() {
                    rec.feed_exit(r.tid, code, signal, ts, &mut phase.events);
                }
                self.pending_exec.remove(&r.tid);
            }
            59 | 322 => {
                let Some(args) = self.pending_exec.remove(&r.tgid) else {
                    return;
                };
                let p = match self.owner.get(&r.tgid) {
                    Some(&p) => p,
                    None => {
                        let Some(p) = self.adopt(&args, r.ret) else {
                            return;
                        };
                        self.owner.insert(r.tgid, p);
                        self.phases[p].root = Some(r.tgid);
                        p
                    }
                };
                let call = exec_call(&args, r.ret);
                let ts = self.ts(args.ts_ns);
                let phase = &mut self.phases[p];
                if let Some(rec) = phase.recorder.as_mut() {
                    rec.feed_call(
                        r.tgid,
                        ts,
                        call.name,
                        &call.args,
                        &call.result,
                        &mut phase.events,
                    );
                }
            }
            56 | 57 | 58 | 435 => {
                if let Some(&p) = self.owner.get(&r.tgid) {
                    self.phases[p].fork_refused += 1;
                }
            }
            _ => {
                let Some(&p) = self.owner.get(&r.tgid) else {
                    return;
                };
                let Some(call) = call_of(&r) else { return };
                let phase = &mut self.phases[p];
                if let Some(rec) = phase.recorder.as_mut() {
                    rec.feed_call(
                        r.tgid,
                        ts,
                        call.name,
                        &call.args,
                        &call.result,
                        &mut phase.events,
                    );
                }
            }
        }
    }

    /// The open phase whose command this successful exec is, if any.
    fn adopt(&self, args: &RawRecord, ret: i64) -> Option<usize> {
        if ret != 0 {
            return None;
        }
        let (i, phase) = self
            .phases
            .iter()
            .enumerate()
            .rev()
            .find(|(_, p)| p.open && p.root.is_none())?;
        (args.list(1) == phase.root_argv).then_some(i)
    }

    /// Takes what phase `name` recorded so far (its latest run); with `finish`, ends its
    /// recorder too (summaries of folded calls, notes of unfinished calls), so later
    /// records of its processes are no longer recorded.
    pub fn take_phase(&mut self, name: &str, finish: bool) -> PhaseRecording {
        let Some(p) = self.phases.iter_mut().rev().find(|p| p.name == name) else {
            return PhaseRecording::default();
        };
        p.open = false;
        let mut out = PhaseRecording {
            events: std::mem::take(&mut p.events),
            stats: None,
            root_seen: p.root.is_some(),
            fork_refused: std::mem::take(&mut p.fork_refused),
        };
        if finish {
            if let Some(rec) = p.recorder.take() {
                out.stats = Some(rec.finish(&mut out.events));
            }
        }
        out
    }

    /// Events of earlier phases' processes that were still running (each carries its
    /// own phase), taken out.
    pub fn take_late(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        for p in &mut self.phases {
            out.append(&mut p.events);
        }
        out
    }

    /// Finishes every phase's recorder and returns what is left.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = self.take_late();
        for p in &mut self.phases {
            if let Some(rec) = p.recorder.take() {
                rec.finish(&mut out);
            }
        }
        out
    }
}
