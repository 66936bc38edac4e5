//! The event budget of one phase: memory must stay bounded however much a package does,
//! but a package must not be able to push its real actions past the cap by doing a lot
//! of something harmless first (issue 19). So past the soft cap events are *summarised*,
//! not dropped: every event of a kind the rules decide on (processes, network, secret
//! reads, probes, successful opens, deletions, renames, chmods, limits, notes) is still
//! kept, and only the others (failed calls, socket creations, mkdirs) are counted per
//! type. Only past the hard cap (twice the soft one) are events dropped, and then the
//! caller must mark the trace incomplete.

use std::collections::BTreeMap;

use airlock_events::{Event, EventKind, Outcome, Source};

/// Caps and counters for one phase's events.
#[derive(Debug)]
pub struct EventBudget {
    soft: usize,
    hard: usize,
    kept: usize,
    summarised: BTreeMap<&'static str, u64>,
    dropped: u64,
}

impl EventBudget {
    /// A budget keeping everything up to `soft` events, then only the events that
    /// decide verdicts up to `2 * soft`.
    pub fn new(soft: usize) -> Self {
        EventBudget {
            soft,
            hard: soft.saturating_mul(2),
            kept: 0,
            summarised: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// Moves `fresh` into `out` within the budget (`fresh` is left empty).
    pub fn admit(&mut self, fresh: &mut Vec<Event>, out: &mut Vec<Event>) {
        for e in fresh.drain(..) {
            if self.kept < self.soft {
                self.kept += 1;
                out.push(e);
            } else if !decides(&e.kind) {
                *self.summarised.entry(e.kind.type_name()).or_insert(0) += 1;
            } else if self.kept < self.hard {
                self.kept += 1;
                out.push(e);
            } else {
                self.dropped += 1;
            }
        }
    }

    /// Events counted per type instead of kept.
    pub fn summarised(&self) -> u64 {
        self.summarised.values().sum()
    }

    /// Events lost past the hard cap (the trace is then incomplete).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// A `limit.hit` (`events`) saying what was summarised or dropped, if anything was.
    pub fn summary_event(&self, phase: &str, ts: f64) -> Option<Event> {
        if self.summarised.is_empty() && self.dropped == 0 {
            return None;
        }
        let counts: Vec<String> = self
            .summarised
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let mut detail = format!(
            "past {} events, {} more were counted, not kept ({})",
            self.soft,
            self.summarised(),
            counts.join(", ")
        );
        if self.dropped > 0 {
            detail.push_str(&format!(
                "; past {} events, {} were lost and the trace is incomplete",
                self.hard, self.dropped
            ));
        }
        Some(Event::new(
            ts,
            phase,
            Source::Strace,
            EventKind::LimitHit {
                limit: "events".into(),
                detail,
            },
        ))
    }
}

/// True for the events verdicts are made of, which the budget keeps past its soft cap.
fn decides(kind: &EventKind) -> bool {
    let ok = |o: &Outcome| o.is_ok();
    match kind {
        EventKind::FileOpen { outcome, .. } => ok(outcome),
        EventKind::FileUnlink { outcome, .. }
        | EventKind::FileRename { outcome, .. }
        | EventKind::FileChmod { outcome, .. }
        | EventKind::FileSymlink { outcome, .. } => ok(outcome),
        EventKind::FileMkdir { .. } | EventKind::NetSocket { .. } => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &str, write: bool, outcome: Outcome) -> Event {
        Event::new(
            1.0,
            "install",
            Source::Strace,
            EventKind::FileOpen {
                path: path.into(),
                flags: String::new(),
                write,
                create: write,
                outcome,
            },
        )
    }

    #[test]
    fn past_the_cap_reads_are_counted_and_decisive_events_kept() {
        let mut b = EventBudget::new(10);
        let mut out = Vec::new();
        let mut fresh: Vec<Event> = (0..100)
            .map(|i| open(&format!("/x/{i}"), false, Outcome::Err("ENOENT".into())))
            .collect();
        b.admit(&mut fresh, &mut out);
        assert!(fresh.is_empty());
        assert_eq!(out.len(), 10);
        assert_eq!(b.summarised(), 90);
        let mut later = vec![
            open("/home/runner/.aws/credentials", false, Outcome::Ok),
            open("/tmp/xmrig", true, Outcome::Ok),
            Event::new(
                2.0,
                "install",
                Source::Strace,
                EventKind::NetConnect {
                    family: "AF_INET".into(),
                    addr: "198.18.0.9".into(),
                    port: 3333,
                    name: None,
                    outcome: Outcome::Ok,
                },
            ),
        ];
        b.admit(&mut later, &mut out);
        assert_eq!(out.len(), 13);
        assert_eq!(b.dropped(), 0);
        let e = b.summary_event("install", 3.0).unwrap();
        match e.kind {
            EventKind::LimitHit { limit, detail } => {
                assert_eq!(limit, "events");
                assert!(detail.contains("file.open 90"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Past the hard cap even decisive events are lost, and that is said.
        let mut many: Vec<Event> = (0..20)
            .map(|i| open(&format!("/tmp/w{i}"), true, Outcome::Ok))
            .collect();
        b.admit(&mut many, &mut out);
        assert_eq!(out.len(), 20);
        assert_eq!(b.dropped(), 13);
    }
}
