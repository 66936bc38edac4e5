//! One phase's kernel recording as trace events and gaps, held to the same bounds as a
//! strace trace (airlock_recorder::budget) and never silent about what it missed:
//! records the ring buffer could not take, records that could not be read, and a phase
//! whose command was never seen starting all become gaps (the trace is incomplete), the
//! first two also a `note` in the phase. Refused forks become the same `limit.hit` as
//! strace's `EAGAIN` clones.

use airlock_events::{Event, EventKind, Source};
use airlock_recorder::budget::EventBudget;

use crate::Taken;

/// The events of one phase (and late events of earlier phases) and its gaps.
#[derive(Debug, Default)]
pub struct PhaseEvents {
    pub events: Vec<Event>,
    pub gaps: Vec<String>,
}

/// Bounds and checks what [`crate::Session::end_phase`] returned for `phase`; at most
/// `max_events` events are kept one by one (past twice that they are lost and counted).
pub fn phase_events(taken: Taken, phase: &str, max_events: usize) -> PhaseEvents {
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    let mut budget = EventBudget::new(max_events);
    let mut fresh = taken.recording.events;
    let fork_refused = taken.recording.fork_refused;
    budget.admit(&mut fresh, &mut out);
    let mut late = taken.late;
    budget.admit(&mut late, &mut out);
    let last_ts = out
        .iter()
        .map(|e| e.ts)
        .reduce(f64::max)
        .unwrap_or_else(airlock_events::now);
    if let Some(mut e) = budget.summary_event(phase, last_ts) {
        e.source = Source::Ebpf;
        out.push(e);
    }
    if fork_refused > 0 {
        out.push(Event::new(
            last_ts,
            phase,
            Source::Sandbox,
            EventKind::LimitHit {
                limit: "pids".into(),
                detail: format!(
                    "process limit reached: {fork_refused} fork/clone calls refused (EAGAIN)"
                ),
            },
        ));
    }
    if budget.dropped() > 0 {
        gaps.push(format!(
            "{phase}: {} events lost past twice the {max_events}-event cap",
            budget.dropped()
        ));
    }
    if taken.lost > 0 || taken.malformed > 0 {
        let message = format!(
            "eBPF recorder lost {} of {} kernel records in this phase (ring buffer full){}; \
             the trace is cut",
            taken.lost,
            taken.lost + taken.written,
            if taken.malformed > 0 {
                format!(", {} unreadable", taken.malformed)
            } else {
                String::new()
            }
        );
        out.push(Event::new(
            last_ts,
            phase,
            Source::Ebpf,
            EventKind::Note {
                message: message.clone(),
            },
        ));
        gaps.push(format!("{phase}: {message}"));
    }
    if !taken.recording.root_seen {
        gaps.push(format!(
            "{phase}: the eBPF recorder did not see the phase's command start; nothing it did \
             was recorded"
        ));
    }
    PhaseEvents { events: out, gaps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhaseRecording;

    #[test]
    fn losses_and_a_missing_command_are_gaps() {
        let taken = Taken {
            recording: PhaseRecording {
                events: Vec::new(),
                stats: None,
                root_seen: false,
                fork_refused: 3,
            },
            late: Vec::new(),
            lost: 7,
            written: 93,
            malformed: 0,
        };
        let p = phase_events(taken, "install", 100);
        assert_eq!(p.gaps.len(), 2, "{:?}", p.gaps);
        assert!(p.gaps[0].contains("lost 7 of 100"));
        assert!(p.gaps[1].contains("did not see"));
        assert!(p.events.iter().any(|e| matches!(&e.kind,
            EventKind::LimitHit { limit, .. } if limit == "pids")));
        assert!(p
            .events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Note { .. }) && e.source == Source::Ebpf));
    }

    #[test]
    fn a_clean_phase_has_no_gap() {
        let taken = Taken {
            recording: PhaseRecording {
                root_seen: true,
                ..PhaseRecording::default()
            },
            ..Taken::default()
        };
        let p = phase_events(taken, "install", 100);
        assert!(p.gaps.is_empty());
        assert!(p.events.is_empty());
    }
}
