//! Keeps the sink's record bounded under flood (issue 19: 1,500 connections of junk made
//! a 2.3 GB record and hid the one request that mattered). The events file of a run gets
//! a byte budget, split in shares so that bulk cannot starve heads:
//!
//! * **heads** — every `http.request` with at most the first [`Budgets::body_head`]
//!   bytes of its body, the first [`Budgets::data_head`] raw bytes of every connection,
//!   DNS queries, notes — may use the whole budget. Past half of it, one destination
//!   (HTTP host, DNS parent, raw `addr:port`) gets at most [`Budgets::per_destination`]
//!   heads recorded one by one; its others are counted.
//! * **detail** — `net.connection` and `tls.handshake` events: up to a quarter.
//! * **bodies** — HTTP body bytes past the head: up to 3/8, only for bodies not already
//!   recorded (identical payloads are deduplicated by hash and counted), and one body may
//!   take at most 1/8 of what is left, so a few huge bodies cannot starve small ones.
//! * **bulk** — raw bytes past a connection's head: up to 1/8, with the same 1/8 rule.
//!
//! What does not fit is not lost silently: it is counted per destination, port and kind
//! in a [`Summary`] written at the end, and the footer says the record is incomplete.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};

/// The sink's record limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets {
    /// Bytes of events written per run (the final summary, limit and footer lines are
    /// written past it; they are bounded).
    pub max_record_bytes: u64,
    /// Body bytes of every HTTP request recorded whatever happens (until the whole
    /// budget is spent).
    pub body_head: usize,
    /// Raw bytes of every connection (and UDP flow) recorded the same way.
    pub data_head: usize,
    /// Past half the budget, heads recorded one by one per destination.
    pub per_destination: u64,
    /// A run with at least this many TCP connections is reported as a network flood.
    pub flood_connections: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            max_record_bytes: 64 << 20,
            body_head: 4096,
            data_head: 2048,
            per_destination: 64,
            flood_connections: 1000,
        }
    }
}

/// Which share of the budget an event draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Head,
    Detail,
    Body,
    Bulk,
}

impl Class {
    fn index(self) -> usize {
        self as usize
    }
}

/// What a summarised event is counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// `http.request`, `dns.query`, `net.data`, `tls.handshake`, or `conn:<protocol>`.
    pub kind: String,
    /// Host name or address.
    pub dest: String,
    pub port: u16,
}

impl Key {
    pub fn new(kind: impl Into<String>, dest: impl Into<String>, port: u16) -> Key {
        Key {
            kind: kind.into(),
            dest: dest.into(),
            port,
        }
    }
}

/// Counts of what was not recorded one by one. At most [`Summary::MAX_KEYS`] keys; the
/// rest is counted under one `other` key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    groups: HashMap<Key, (u64, u64)>,
    pub events: u64,
}

impl Summary {
    pub const MAX_KEYS: usize = 4096;

    /// Counts one event of `bytes` (its payload size on the wire) under `key`.
    pub fn add(&mut self, key: &Key, bytes: u64) {
        self.events += 1;
        let slot = if self.groups.contains_key(key) || self.groups.len() < Self::MAX_KEYS {
            self.groups.entry(key.clone()).or_default()
        } else {
            self.groups
                .entry(Key::new("other", "other", 0))
                .or_default()
        };
        slot.0 += 1;
        slot.1 += bytes;
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Distinct groups counted.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// One line per group, biggest counts first, at most `max` lines (then a total of the
    /// rest).
    pub fn lines(&self, max: usize) -> Vec<String> {
        let mut all: Vec<(&Key, &(u64, u64))> = self.groups.iter().collect();
        all.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        let mut out: Vec<String> = all
            .iter()
            .take(max)
            .map(|(k, (n, b))| format!("{} {}:{} ×{n} ({b} bytes)", k.kind, k.dest, k.port))
            .collect();
        if all.len() > max {
            let (n, b) = all[max..]
                .iter()
                .fold((0, 0), |acc, (_, (n, b))| (acc.0 + n, acc.1 + b));
            out.push(format!(
                "… {} more groups ×{n} ({b} bytes)",
                all.len() - max
            ));
        }
        out
    }
}

/// What happens to an HTTP body longer than its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyVerdict {
    /// Recorded in full.
    Keep,
    /// Identical to a body already recorded in full: only its head is written.
    Duplicate,
    /// The body share of the budget cannot take it: only its head is written.
    OverBudget,
}

/// Counters the final summary and the footer report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BudgetStats {
    pub duplicate_bodies: u64,
    pub bodies_cut: u64,
    pub data_cut_bytes: u64,
}

/// The budget's state for one run. Not thread-safe by itself: the event log holds it
/// under its lock.
#[derive(Debug)]
pub struct RecordBudget {
    pub limits: Budgets,
    written: u64,
    used: [u64; 4],
    per_dest: HashMap<String, u64>,
    seen_bodies: HashSet<u64>,
    hasher: RandomState,
    pub summary: Summary,
    pub stats: BudgetStats,
}

/// Distinct body hashes remembered for deduplication.
const MAX_SEEN_BODIES: usize = 65_536;
/// Destinations whose head counts are remembered.
const MAX_DESTINATIONS: usize = 65_536;

impl RecordBudget {
    pub fn new(limits: Budgets) -> RecordBudget {
        RecordBudget {
            limits,
            written: 0,
            used: [0; 4],
            per_dest: HashMap::new(),
            seen_bodies: HashSet::new(),
            hasher: RandomState::new(),
            summary: Summary::default(),
            stats: BudgetStats::default(),
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The cap of a class's share.
    fn share(&self, class: Class) -> u64 {
        let b = self.limits.max_record_bytes;
        match class {
            Class::Head => b,
            Class::Detail => b / 4,
            Class::Body => b / 8 * 3,
            Class::Bulk => b / 8,
        }
    }

    /// Left in a class's share (and in the whole budget).
    pub fn remaining(&self, class: Class) -> u64 {
        let total_left = self.limits.max_record_bytes.saturating_sub(self.written);
        let share_left = self.share(class).saturating_sub(self.used[class.index()]);
        total_left.min(share_left)
    }

    /// Decides whether an event line of `line_len` bytes is written. `payload` is what the
    /// summary counts when it is not; `dest` is the destination whose heads are limited
    /// past half the budget (`None`: not limited). A refused event is added to the summary.
    pub fn admit(
        &mut self,
        class: Class,
        key: &Key,
        dest: Option<&str>,
        line_len: u64,
        payload: u64,
    ) -> bool {
        let mut ok = line_len <= self.remaining(class);
        if ok && class != Class::Body && class != Class::Bulk {
            if let Some(d) = dest {
                let n = self.per_dest.get(d).copied().unwrap_or(0);
                if self.written >= self.limits.max_record_bytes / 2
                    && n >= self.limits.per_destination
                {
                    ok = false;
                } else if self.per_dest.len() < MAX_DESTINATIONS || n > 0 {
                    *self.per_dest.entry(d.to_string()).or_default() += 1;
                }
            }
        }
        if ok {
            self.written += line_len;
            self.used[class.index()] += line_len;
        } else {
            self.summary.add(key, payload);
        }
        ok
    }

    /// Charges bytes written outside [`RecordBudget::admit`] (set-up notes, the summary).
    pub fn charge(&mut self, line_len: u64) {
        self.written += line_len;
    }

    /// Hashes a body for [`RecordBudget::body_verdict`] (keyed per process, so a package
    /// cannot craft a collision with a body it wants dropped).
    pub fn hash_body(&self, body: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(body);
        h.write_usize(body.len());
        h.finish()
    }

    /// Whether a body whose text beyond its head is `extra` bytes long is recorded in
    /// full: not when an identical body was (dedupe), and only while it takes at most an
    /// eighth of what is left of the body share. A kept body reserves `extra` bytes of
    /// that share.
    pub fn body_verdict(&mut self, hash: u64, extra: u64) -> BodyVerdict {
        if self.seen_bodies.contains(&hash) {
            self.stats.duplicate_bodies += 1;
            return BodyVerdict::Duplicate;
        }
        if extra > self.remaining(Class::Body) / 8 {
            self.stats.bodies_cut += 1;
            return BodyVerdict::OverBudget;
        }
        self.used[Class::Body.index()] += extra;
        if self.seen_bodies.len() < MAX_SEEN_BODIES {
            self.seen_bodies.insert(hash);
        }
        BodyVerdict::Keep
    }

    /// Whether a raw chunk of `len` bytes past a connection's head is recorded (at most
    /// an eighth of what is left of the bulk share); counted in the summary otherwise.
    pub fn bulk_ok(&mut self, key: &Key, len: u64) -> bool {
        if len * 3 > self.remaining(Class::Bulk) / 8 {
            self.stats.data_cut_bytes += len;
            self.summary.add(key, len);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Budgets {
        Budgets {
            max_record_bytes: 80_000,
            body_head: 100,
            data_head: 100,
            per_destination: 3,
            flood_connections: 10,
        }
    }

    #[test]
    fn detail_stops_at_its_share_and_heads_go_on() {
        let mut b = RecordBudget::new(small());
        let key = Key::new("conn:raw", "10.0.0.1", 80);
        let mut written = 0;
        while b.admit(Class::Detail, &key, None, 1000, 5) {
            written += 1;
        }
        assert_eq!(written, 20, "a quarter of 80 000 in lines of 1000");
        assert_eq!(b.summary.events, 1);
        // Heads still fit in the rest of the budget.
        let h = Key::new("http.request", "a.example", 80);
        assert!(b.admit(Class::Head, &h, Some("a.example"), 1000, 10));
        assert_eq!(b.written(), 21_000);
    }

    #[test]
    fn past_half_the_budget_one_destination_gets_a_few_heads() {
        let mut b = RecordBudget::new(small());
        let flood = Key::new("http.request", "junk.example", 80);
        // Below half: every head is written.
        for _ in 0..40 {
            assert!(b.admit(Class::Head, &flood, Some("junk.example"), 1000, 0));
        }
        assert!(b.written() >= 40_000);
        // Past half, junk.example already had its share: counted, not written.
        assert!(!b.admit(Class::Head, &flood, Some("junk.example"), 1000, 0));
        // A new destination still gets its heads.
        let exfil = Key::new("http.request", "collect.example", 443);
        for _ in 0..3 {
            assert!(b.admit(Class::Head, &exfil, Some("collect.example"), 1000, 0));
        }
        assert!(!b.admit(Class::Head, &exfil, Some("collect.example"), 1000, 0));
        // Undirected heads (notes) are limited only by the whole budget.
        let note = Key::new("note", "", 0);
        assert!(b.admit(Class::Head, &note, None, 30_000, 0));
        assert!(!b.admit(Class::Head, &note, None, 10_000, 0));
        assert_eq!(b.summary.events, 3);
        let lines = b.summary.lines(10);
        assert!(
            lines.contains(&"http.request junk.example:80 ×1 (0 bytes)".to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn identical_bodies_are_kept_once_and_big_ones_cannot_starve_small_ones() {
        let mut b = RecordBudget::new(Budgets {
            max_record_bytes: 8_000_000,
            ..small()
        });
        // The body share is 3 000 000 bytes; one body may take an eighth of what is left.
        let junk = b.hash_body(&[7u8; 1000]);
        assert_eq!(b.body_verdict(junk, 300_000), BodyVerdict::Keep);
        assert_eq!(b.body_verdict(junk, 300_000), BodyVerdict::Duplicate);
        assert_eq!(b.stats.duplicate_bodies, 1);
        let mut big_kept = 1;
        for i in 0u32..100 {
            let h = b.hash_body(&i.to_le_bytes());
            if b.body_verdict(h, 300_000) == BodyVerdict::Keep {
                big_kept += 1;
            }
        }
        // 300 000 fits an eighth of 3 000 000, 2 700 000 and 2 400 000; not of 2 100 000.
        assert_eq!(
            big_kept, 3,
            "big bodies stop once they would take over an eighth"
        );
        assert_eq!(b.stats.bodies_cut, 98);
        // A small body (an environment dump) still fits.
        let env = b.hash_body(b"{\"NPM_TOKEN\":\"npm_...\"}");
        assert_eq!(b.body_verdict(env, 5_000), BodyVerdict::Keep);
        // Hashes differ by content and by length.
        assert_ne!(b.hash_body(b"a"), b.hash_body(b"b"));
        assert_ne!(b.hash_body(b""), b.hash_body(b"\0"));
    }

    #[test]
    fn bulk_chunks_stop_at_an_eighth_of_their_share() {
        let mut b = RecordBudget::new(Budgets {
            max_record_bytes: 8_000_000,
            ..small()
        });
        let key = Key::new("net.data", "10.1.2.3", 9999);
        // Bulk share 1 000 000; a chunk of n bytes is ~3n in the record.
        assert!(b.bulk_ok(&key, 16_384));
        for _ in 0..100 {
            if b.bulk_ok(&key, 16_384) {
                assert!(b.admit(Class::Bulk, &key, None, 3 * 16_384, 16_384));
            }
        }
        assert!(b.remaining(Class::Bulk) < 8 * 3 * 16_384);
        assert!(b.stats.data_cut_bytes > 0);
        assert!(b.summary.events > 0);
    }

    #[test]
    fn the_summary_is_bounded() {
        let mut s = Summary::default();
        for i in 0..(Summary::MAX_KEYS + 10) {
            s.add(
                &Key::new("conn:raw", format!("10.0.{}.{}", i / 256, i % 256), 80),
                1,
            );
        }
        assert_eq!(s.groups(), Summary::MAX_KEYS + 1);
        assert_eq!(s.events, Summary::MAX_KEYS as u64 + 10);
        let lines = s.lines(5);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "other other:0 ×10 (10 bytes)");
        assert!(lines[5].starts_with("… 4092 more groups"), "{lines:?}");
    }
}
