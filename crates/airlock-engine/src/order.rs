//! The trace's one numbering. The producers (recorder, sink, hooks, leak search) each
//! number their own events, so `seq` means nothing until the merged events are put in
//! time order; this is where that happens, once, and where a `canary.leaked`'s
//! `carrier_seq` (its carrier's position in the merged, unordered events) is mapped to
//! the carrier's final `seq`.

use airlock_events::{Event, EventKind};

/// Orders `events` by time (stable: a producer's own order is kept for equal
/// timestamps) and numbers them by their final position. A `carrier_seq` is read as the
/// carrier's index in `events` as given (what
/// [`airlock_bait::LeakSearcher::scan_positions`] produces) and becomes its new `seq`.
pub fn order_by_time(events: &mut Vec<Event>) {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| events[a].ts.total_cmp(&events[b].ts));
    let mut new_pos = vec![0u64; events.len()];
    for (rank, &old) in order.iter().enumerate() {
        new_pos[old] = rank as u64;
    }
    let mut slots: Vec<Option<Event>> = std::mem::take(events).into_iter().map(Some).collect();
    for (rank, old) in order.into_iter().enumerate() {
        let Some(mut e) = slots[old].take() else {
            continue;
        };
        e.seq = rank as u64;
        if let EventKind::CanaryLeaked {
            carrier_seq: Some(c),
            ..
        } = &mut e.kind
        {
            if let Some(&to) = usize::try_from(*c).ok().and_then(|c| new_pos.get(c)) {
                *c = to;
            }
        }
        events.push(e);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use airlock_events::Source;

    fn note(ts: f64, seq: u64) -> Event {
        let mut e = Event::new(
            ts,
            "install",
            Source::Sandbox,
            EventKind::Note {
                message: format!("at {ts}"),
            },
        );
        e.seq = seq;
        e
    }

    /// Regression test for 64fe576: the carrier is found by its position before the sort
    /// and the leak still names it after the sort, although producers' own seqs collide
    /// (here every event has seq 0) and the carrier moves.
    #[test]
    fn a_leak_follows_its_carrier_through_the_sort() {
        let mut events = vec![note(3.0, 0), note(1.0, 0), note(2.0, 0)];
        let carrier = 0; // the event at ts 3.0, last after the sort
        let mut leak = Event::new(
            3.0,
            "install",
            Source::Analysis,
            EventKind::CanaryLeaked {
                canary_id: "c1".into(),
                kind: "npm-token".into(),
                encoding: "plain".into(),
                destination: "https://evil.example/".into(),
                carrier_seq: Some(carrier),
            },
        );
        leak.seq = 0;
        events.push(leak);
        order_by_time(&mut events);
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3]);
        let ts: Vec<f64> = events.iter().map(|e| e.ts).collect();
        assert_eq!(ts, vec![1.0, 2.0, 3.0, 3.0]);
        let EventKind::CanaryLeaked { carrier_seq, .. } = &events[3].kind else {
            panic!("the leak is last (after its carrier, same time): {events:?}");
        };
        assert_eq!(*carrier_seq, Some(2));
        assert_eq!(events[2].ts, 3.0);
        assert!(matches!(events[2].kind, EventKind::Note { .. }));
    }
}
