//! Where the sink's events go: a JSON Lines file flushed after every line (a run can be
//! killed at any moment, and what was written must survive), optionally mirrored in
//! memory for tests, within the run's record budget (see [`crate::budget`]: what does not
//! fit is counted and summarised at the end, and the footer then says the record is
//! incomplete); plus [`read_events`], the host-side reader that tolerates a last line cut
//! in the middle.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::collections::HashSet;

use airlock_events::{Event, EventKind, Record, Source, TraceFooter};

use crate::budget::{BodyVerdict, Budgets, Class, Key, RecordBudget};
use crate::SinkError;

/// The phase name the sink stamps on its events: it does not know the phases; the
/// orchestrator re-assigns phases by timestamp when it merges traces.
pub const SINK_PHASE: &str = "run";

/// Counters for the final summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub dns_queries: AtomicU64,
    pub connections: AtomicU64,
    pub http_requests: AtomicU64,
    pub tls_ok: AtomicU64,
    pub tls_failed: AtomicU64,
    pub udp_datagrams: AtomicU64,
    /// Connections whose captured bytes hit the cap (totals still counted).
    pub capped: AtomicU64,
    pub write_errors: AtomicU64,
    /// Request bodies cut to their head because the capture memory ran short.
    pub bodies_cut_memory: AtomicU64,
    /// Connections closed to stay within the open-connection limit.
    pub evicted: AtomicU64,
    /// The most connections open at once.
    pub peak_open: AtomicU64,
    /// The flood was reported (one `limit.hit` per run).
    pub flood_reported: std::sync::atomic::AtomicBool,
    /// Connections still being served when the sink stopped (recorded as `unfinished`,
    /// without what they held).
    pub unrecorded_at_stop: AtomicU64,
}

/// Distinct destinations remembered for the flood report.
const MAX_DESTINATIONS: usize = 65_536;

struct Inner {
    file: Option<File>,
    memory: Option<Vec<Event>>,
    next_seq: u64,
    budget: RecordBudget,
    destinations: HashSet<String>,
}

/// How an event is counted when it does not fit: its summary key, the destination whose
/// heads are limited, and the payload bytes it stood for.
fn describe(kind: &EventKind) -> (Class, Key, Option<String>, u64) {
    match kind {
        EventKind::HttpRequest {
            host,
            url,
            body_bytes,
            ..
        } => {
            let port = url_port(url);
            (
                Class::Head,
                Key::new("http.request", host.clone(), port),
                Some(host.clone()),
                *body_bytes,
            )
        }
        EventKind::DnsQuery { name, .. } => {
            let parent = dns_parent(name);
            (
                Class::Head,
                Key::new("dns.query", parent.clone(), 53),
                Some(format!("dns:{parent}")),
                name.len() as u64,
            )
        }
        EventKind::NetData {
            dst_addr,
            dst_port,
            bytes,
            ..
        } => (
            Class::Head,
            Key::new("net.data", dst_addr.clone(), *dst_port),
            Some(format!("{dst_addr}:{dst_port}")),
            *bytes,
        ),
        EventKind::NetConnection {
            dst_addr,
            dst_port,
            name,
            protocol,
            bytes_sent,
            ..
        } => (
            Class::Detail,
            Key::new(
                format!("conn:{protocol}"),
                name.clone().unwrap_or_else(|| dst_addr.clone()),
                *dst_port,
            ),
            None,
            *bytes_sent,
        ),
        EventKind::TlsHandshake { sni, .. } => (
            Class::Detail,
            Key::new("tls.handshake", sni.clone().unwrap_or_default(), 443),
            None,
            0,
        ),
        other => (Class::Head, Key::new(other.type_name(), "", 0), None, 0),
    }
}

fn url_port(url: &str) -> u16 {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or("");
    let explicit = authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(']') || h.starts_with('['))
        .and_then(|(_, p)| p.parse().ok());
    explicit.unwrap_or(if scheme == "https" { 443 } else { 80 })
}

/// The last two labels of a DNS name (enough to group a flood of random subdomains).
fn dns_parent(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.rsplitn(3, '.').collect();
    match labels.as_slice() {
        [tld, sld, _] => format!("{sld}.{tld}"),
        _ => name,
    }
}

/// Shared, cheap-to-clone event recorder.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
    path: Option<PathBuf>,
    pub stats: Arc<Stats>,
}

impl EventLog {
    /// Appends to `path` (created if missing).
    pub fn to_file(path: &Path) -> Result<EventLog, SinkError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| SinkError::Output {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(EventLog::build(Some(file), false, Some(path.to_path_buf())))
    }

    /// Keeps events in memory only (tests, embedding).
    pub fn memory() -> EventLog {
        EventLog::build(None, true, None)
    }

    /// Writes to `path` and also keeps a copy in memory.
    pub fn to_file_and_memory(path: &Path) -> Result<EventLog, SinkError> {
        let log = EventLog::to_file(path)?;
        if let Ok(mut g) = log.inner.lock() {
            g.memory = Some(Vec::new());
        }
        Ok(log)
    }

    fn build(file: Option<File>, memory: bool, path: Option<PathBuf>) -> EventLog {
        EventLog {
            inner: Arc::new(Mutex::new(Inner {
                file,
                memory: memory.then(Vec::new),
                next_seq: 0,
                budget: RecordBudget::new(Budgets::default()),
                destinations: HashSet::new(),
            })),
            path,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Sets the record budget (before the first event).
    pub fn set_budgets(&self, budgets: Budgets) {
        if let Ok(mut g) = self.inner.lock() {
            g.budget = RecordBudget::new(budgets);
        }
    }

    /// The record budget's limits.
    pub fn budgets(&self) -> Budgets {
        self.inner
            .lock()
            .map(|g| g.budget.limits.clone())
            .unwrap_or_default()
    }

    /// Records one event now (source `sink`, phase [`SINK_PHASE`]), within the budget:
    /// an event that does not fit is counted in the summary instead. True when written.
    pub fn emit(&self, kind: EventKind) -> bool {
        let (class, ..) = describe(&kind);
        self.emit_class(class, kind)
    }

    /// [`EventLog::emit`] drawing on an explicit share of the budget (raw bytes past a
    /// connection's head are [`Class::Bulk`]).
    pub fn emit_class(&self, class: Class, kind: EventKind) -> bool {
        self.emit_event_class(
            class,
            Event::new(airlock_events::now(), SINK_PHASE, Source::Sink, kind),
        )
    }

    /// Records a prepared event, numbering it with the sink's own counter.
    pub fn emit_event(&self, event: Event) -> bool {
        let (class, ..) = describe(&event.kind);
        self.emit_event_class(class, event)
    }

    fn emit_event_class(&self, class: Class, mut event: Event) -> bool {
        let Ok(mut g) = self.inner.lock() else {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let (_, key, dest, payload) = describe(&event.kind);
        event.seq = g.next_seq;
        let record = Record::Event(event);
        let mut line = match serde_json::to_vec(&record) {
            Ok(l) => l,
            Err(_) => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        line.push(b'\n');
        if !g
            .budget
            .admit(class, &key, dest.as_deref(), line.len() as u64, payload)
        {
            drop(g);
            // Too many events is a flood; too many bytes (a big upload) is only a gap.
            if matches!(class, Class::Head | Class::Detail) {
                self.report_flood("events counted instead of recorded");
            }
            return false;
        }
        g.next_seq += 1;
        let Record::Event(event) = record else {
            return false;
        };
        tracing::debug!(event = event.kind.type_name(), seq = event.seq, "event");
        if let Some(file) = g.file.as_mut() {
            if write_line(file, &line).is_err() {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(mem) = g.memory.as_mut() {
            mem.push(event);
        }
        true
    }

    /// Writes an event past the budget (the flood report and the final summary: few and
    /// bounded).
    fn write_forced(&self, g: &mut Inner, kind: EventKind) {
        let mut event = Event::new(airlock_events::now(), SINK_PHASE, Source::Sink, kind);
        event.seq = g.next_seq;
        g.next_seq += 1;
        let record = Record::Event(event);
        if let Some(file) = g.file.as_mut() {
            match write_record(file, &record) {
                Ok(n) => g.budget.charge(n),
                Err(_) => {
                    self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let (Some(mem), Record::Event(e)) = (g.memory.as_mut(), record) {
            mem.push(e);
        }
    }

    /// Reports the flood once, as soon as it is one (`reason`): a `limit.hit` with
    /// `limit: network` written right away, so it is in the record even if the sink is
    /// killed before its final summary.
    pub fn report_flood(&self, reason: &str) {
        if self.stats.flood_reported.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(mut g) = self.inner.lock() else { return };
        let detail = format!(
            "network flood: {} connections to {}{} destination(s), {} events summarised as counts so far ({reason}; the sink's final summary has the totals)",
            self.stats.connections.load(Ordering::Relaxed),
            g.destinations.len(),
            if g.destinations.len() >= MAX_DESTINATIONS { "+" } else { "" },
            g.budget.summary.events,
        );
        self.write_forced(
            &mut g,
            EventKind::LimitHit {
                limit: "network".into(),
                detail,
            },
        );
    }

    /// Counts a new connection (and its destination) for the flood report.
    pub fn count_connection(&self, dest: String) {
        let n = self.stats.connections.fetch_add(1, Ordering::Relaxed) + 1;
        self.count_destination(dest);
        let flood = self
            .inner
            .lock()
            .map(|g| g.budget.limits.flood_connections)
            .unwrap_or(u64::MAX);
        if n >= flood {
            self.report_flood(&format!("{flood} connections or more"));
        }
    }

    /// Counts a new connection's destination (for the flood report).
    pub fn count_destination(&self, dest: String) {
        if let Ok(mut g) = self.inner.lock() {
            if g.destinations.len() < MAX_DESTINATIONS {
                g.destinations.insert(dest);
            }
        }
    }

    /// A per-process keyed hash of a body, for [`EventLog::body_verdict`].
    pub fn hash_body(&self, body: &[u8]) -> u64 {
        self.inner
            .lock()
            .map(|g| g.budget.hash_body(body))
            .unwrap_or(0)
    }

    /// Whether a body whose text is `extra` bytes longer than its head is written in
    /// full (see [`RecordBudget::body_verdict`]).
    pub fn body_verdict(&self, hash: u64, extra: u64) -> BodyVerdict {
        self.inner
            .lock()
            .map(|mut g| g.budget.body_verdict(hash, extra))
            .unwrap_or(BodyVerdict::OverBudget)
    }

    /// Whether `len` raw bytes past a connection's head may be written (counted as
    /// `key` in the summary otherwise).
    pub fn bulk_ok(&self, key: &Key, len: u64) -> bool {
        self.inner
            .lock()
            .map(|mut g| g.budget.bulk_ok(key, len))
            .unwrap_or(false)
    }

    /// Bytes of events written so far.
    pub fn written(&self) -> u64 {
        self.inner.lock().map(|g| g.budget.written()).unwrap_or(0)
    }

    /// Writes the last events — the flood report when there was one, the summary of what
    /// was only counted, the sink's own summary — and the footer (bypassing the budget:
    /// these are bounded), flushing the file. `gaps` are the caller's.
    pub fn finish(&self, gaps: Vec<String>) {
        let s = &self.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut gaps = gaps;
        let Ok(mut g) = self.inner.lock() else { return };
        let limits = g.budget.limits.clone();
        let summary = g.budget.summary.clone();
        let bstats = g.budget.stats.clone();
        let destinations = g.destinations.len();
        let connections = load(&s.connections);
        let evicted = load(&s.evicted);
        let mem_cut = load(&s.bodies_cut_memory);
        let mut last: Vec<EventKind> = Vec::new();
        let flooded = connections >= limits.flood_connections
            || evicted > 0
            || s.flood_reported.load(Ordering::SeqCst);
        let totals = format!(
            "network flood: {connections} connections to {destinations}{} destination(s), {} events summarised as counts; {evicted} connections closed to stay within the open-connection limit; {} request bodies cut to their first {} bytes; {} duplicate bodies recorded once",
            if destinations >= MAX_DESTINATIONS { "+" } else { "" },
            summary.events,
            bstats.bodies_cut + mem_cut,
            limits.body_head,
            bstats.duplicate_bodies,
        );
        if flooded {
            if s.flood_reported.swap(true, Ordering::SeqCst) {
                last.push(EventKind::Note {
                    message: format!("sink flood totals: {totals}"),
                });
            } else {
                last.push(EventKind::LimitHit {
                    limit: "network".into(),
                    detail: totals,
                });
            }
        }
        if !summary.is_empty() {
            let lines = summary.lines(50);
            last.push(EventKind::Note {
                message: format!(
                    "sink flood summary: {} events counted per kind, destination and port instead of recorded ({} groups):\n{}",
                    summary.events,
                    summary.groups(),
                    lines.join("\n")
                ),
            });
        }
        last.push(EventKind::Note {
            message: format!(
                "sink summary: {} dns queries, {connections} connections ({} open at most, {evicted} closed to make room), {} http requests, {} tls ok, {} tls failed, {} udp datagrams, {} capped connections, {} record bytes of {}, peak memory {} KiB",
                load(&s.dns_queries),
                load(&s.peak_open),
                load(&s.http_requests),
                load(&s.tls_ok),
                load(&s.tls_failed),
                load(&s.udp_datagrams),
                load(&s.capped),
                g.budget.written(),
                limits.max_record_bytes,
                peak_rss_kib().map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
            ),
        });
        for kind in last {
            self.write_forced(&mut g, kind);
        }
        let capped = load(&s.capped);
        if capped > 0 {
            gaps.push(format!(
                "sink: {capped} connection(s) exceeded the capture cap"
            ));
        }
        if !summary.is_empty() {
            gaps.push(format!(
                "sink: record budget of {} bytes: {} events only counted (see the sink flood summary)",
                limits.max_record_bytes, summary.events
            ));
        }
        if bstats.bodies_cut + mem_cut > 0 {
            gaps.push(format!(
                "sink: {} request bodies cut to their first {} bytes ({} for the record budget, {mem_cut} for capture memory)",
                bstats.bodies_cut + mem_cut,
                limits.body_head,
                bstats.bodies_cut,
            ));
        }
        let unrecorded = load(&s.unrecorded_at_stop);
        if unrecorded > 0 {
            gaps.push(format!(
                "sink: {unrecorded} connection(s) still being served at shutdown were recorded as unfinished, without the data they held"
            ));
        }
        let errors = load(&s.write_errors);
        if errors > 0 {
            gaps.push(format!("sink: {errors} event(s) could not be written"));
        }
        let footer = TraceFooter {
            events: g.next_seq,
            ended_at: airlock_events::now(),
            complete: gaps.is_empty(),
            gaps,
        };
        if let Some(file) = g.file.as_mut() {
            if write_record(file, &Record::Footer(footer)).is_err() {
                tracing::error!(path = ?self.path, "could not write the sink footer");
            }
            let _ = file.sync_all();
        }
    }

    /// The events recorded so far, when the log keeps them in memory.
    pub fn snapshot(&self) -> Vec<Event> {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.memory.clone())
            .unwrap_or_default()
    }
}

/// Writes one record line; its length.
fn write_record(file: &mut File, record: &Record) -> std::io::Result<u64> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    write_line(file, &line)?;
    Ok(line.len() as u64)
}

fn write_line(file: &mut File, line: &[u8]) -> std::io::Result<()> {
    // One write per line: O_APPEND keeps lines whole; the page cache survives a kill.
    file.write_all(line)?;
    file.flush()
}

/// The process's peak resident set (`VmHWM`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// What [`read_events`] found in a sink output file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SinkOutput {
    pub events: Vec<Event>,
    /// Present when the sink shut down cleanly.
    pub footer: Option<TraceFooter>,
    /// True when the last line was cut (the sink was killed while writing).
    pub truncated: bool,
}

/// Reads a sink output file back on the host. A last line that is not valid JSON is
/// taken as cut by a kill and reported through [`SinkOutput::truncated`]; an invalid
/// line anywhere else is an error.
pub fn read_events(path: &Path) -> Result<SinkOutput, SinkError> {
    let file = File::open(path).map_err(|source| SinkError::Output {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines: Vec<String> = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|source| SinkError::Output {
            path: path.to_path_buf(),
            source,
        })?;
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    let mut out = SinkOutput::default();
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(Record::Event(e)) => out.events.push(e),
            Ok(Record::Footer(f)) => out.footer = Some(f),
            Ok(Record::Header(_)) => {}
            Err(e) if Some(i) == last => {
                tracing::warn!(path = %path.display(), "last line cut: {e}");
                out.truncated = true;
            }
            Err(e) => {
                return Err(SinkError::BadLine {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_tolerates_cut_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink.jsonl");
        let log = EventLog::to_file(&path).unwrap();
        log.emit(EventKind::Note {
            message: "one".into(),
        });
        log.emit(EventKind::Note {
            message: "two".into(),
        });
        let back = read_events(&path).unwrap();
        assert_eq!(back.events.len(), 2);
        assert_eq!(back.events[1].seq, 1);
        assert!(back.footer.is_none());
        assert!(!back.truncated);

        // Simulate a kill in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"record":"event","seq":2,"ts":1.0,"ph"#)
            .unwrap();
        let back = read_events(&path).unwrap();
        assert_eq!(back.events.len(), 2);
        assert!(back.truncated);
    }

    fn network_limits(log: &EventLog) -> Vec<String> {
        log.snapshot()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::LimitHit { limit, detail } if limit == "network" => Some(detail),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn too_many_events_is_a_flood_and_too_many_bytes_only_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        // A big raw upload: its bulk is counted, the record is incomplete, no flood.
        let path = dir.path().join("upload.jsonl");
        let log = EventLog::to_file_and_memory(&path).unwrap();
        log.set_budgets(Budgets {
            max_record_bytes: 20_000,
            ..Budgets::default()
        });
        let key = Key::new("net.data", "10.0.0.1", 9000);
        assert!(!log.bulk_ok(&key, 1 << 20));
        log.finish(vec![]);
        assert!(network_limits(&log).is_empty());
        let footer = read_events(&path).unwrap().footer.unwrap();
        assert!(!footer.complete);
        assert!(
            footer.gaps[0].contains("1 events only counted"),
            "{footer:?}"
        );

        // Queries past the budget: reported once, right away, then the totals.
        let log = EventLog::memory();
        log.set_budgets(Budgets {
            max_record_bytes: 20_000,
            ..Budgets::default()
        });
        let mut written = 0;
        for i in 0..200 {
            if log.emit(EventKind::DnsQuery {
                name: format!("q{i}.flood.example"),
                qtype: "A".into(),
                answers: vec![],
                rcode: Some("NOERROR".into()),
            }) {
                written += 1;
            }
        }
        assert!(written > 10 && written < 200, "{written}");
        assert_eq!(network_limits(&log).len(), 1);
        log.finish(vec![]);
        assert_eq!(network_limits(&log).len(), 1, "reported once");
        assert!(log.snapshot().iter().any(|e| matches!(&e.kind,
            EventKind::Note { message } if message.starts_with("sink flood totals: network flood: 0 connections"))));
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_and_footer_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink.jsonl");
        let log = EventLog::to_file(&path).unwrap();
        log.emit(EventKind::Note {
            message: "one".into(),
        });
        log.finish(vec![]);
        let back = read_events(&path).unwrap();
        let footer = back.footer.expect("footer");
        assert_eq!(footer.events, 2);
        assert!(footer.complete);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("garbage\n{text}")).unwrap();
        match read_events(&path) {
            Err(SinkError::BadLine { line, .. }) => assert_eq!(line, 1),
            other => panic!("{other:?}"),
        }
    }
}
