//! Where a run's wall time goes, for the benchmark breakdown (`airlock-bench overhead`,
//! `latency`): each step of the orchestration in milliseconds, written into the trace
//! header as `timing.<step>_ms` notes. Steps done one after the other add up to the
//! engine's wall time; steps that run at the same time as others (host-side resolution,
//! the static pass, the sink's start) are `timing.overlap.<step>_ms` and are not part of
//! that sum; `timing.total.engine_ms` is the engine's whole wall time.

use std::collections::BTreeMap;
use std::time::Instant;

/// The run's step timings (sums, when a step happens once per phase).
#[derive(Debug, Default)]
pub struct Timing {
    steps: Vec<(String, u128)>,
}

impl Timing {
    /// Adds the time since `since` to `step`.
    pub fn add(&mut self, step: &str, since: Instant) {
        self.add_ms(step, since.elapsed().as_millis());
    }

    /// Adds `ms` to `step`.
    pub fn add_ms(&mut self, step: &str, ms: u128) {
        match self.steps.iter_mut().find(|(s, _)| s == step) {
            Some((_, v)) => *v += ms,
            None => self.steps.push((step.to_string(), ms)),
        }
    }

    /// Records a step that ran alongside others (not part of the sequential sum).
    pub fn overlap(&mut self, step: &str, ms: u128) {
        self.add_ms(&format!("overlap.{step}"), ms);
    }

    /// The header notes: `timing.<step>_ms` → milliseconds.
    pub fn notes(&self) -> BTreeMap<String, String> {
        self.steps
            .iter()
            .map(|(k, v)| (format!("timing.{k}_ms"), v.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_sum_and_overlaps_are_marked() {
        let mut t = Timing::default();
        t.add_ms("fs_diff", 40);
        t.add_ms("fs_diff", 2);
        t.overlap("static_pass", 7);
        let n = t.notes();
        assert_eq!(n["timing.fs_diff_ms"], "42");
        assert_eq!(n["timing.overlap.static_pass_ms"], "7");
        assert_eq!(n.len(), 2);
    }
}
