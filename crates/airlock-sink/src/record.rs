//! Where the sink's events go: a JSON Lines file flushed after every line (a run can be
//! killed at any moment, and what was written must survive), optionally mirrored in
//! memory for tests; plus [`read_events`], the host-side reader that tolerates a last
//! line cut in the middle.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use airlock_events::{Event, EventKind, Record, Source, TraceFooter};

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
}

struct Inner {
    file: Option<File>,
    memory: Option<Vec<Event>>,
    next_seq: u64,
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
            })),
            path,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Records one event now (source `sink`, phase [`SINK_PHASE`]).
    pub fn emit(&self, kind: EventKind) {
        self.emit_event(Event::new(
            airlock_events::now(),
            SINK_PHASE,
            Source::Sink,
            kind,
        ));
    }

    /// Records a prepared event, numbering it with the sink's own counter.
    pub fn emit_event(&self, mut event: Event) {
        let Ok(mut g) = self.inner.lock() else {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        event.seq = g.next_seq;
        g.next_seq += 1;
        tracing::debug!(event = event.kind.type_name(), seq = event.seq, "event");
        if let Some(file) = g.file.as_mut() {
            if write_record(file, &Record::Event(event.clone())).is_err() {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(mem) = g.memory.as_mut() {
            mem.push(event);
        }
    }

    /// Writes the footer (after a last `note` summarising the run), flushing the file.
    pub fn finish(&self, gaps: Vec<String>) {
        let s = &self.stats;
        let summary = format!(
            "sink summary: {} dns queries, {} connections, {} http requests, {} tls ok, {} tls failed, {} udp datagrams, {} capped connections",
            s.dns_queries.load(Ordering::Relaxed),
            s.connections.load(Ordering::Relaxed),
            s.http_requests.load(Ordering::Relaxed),
            s.tls_ok.load(Ordering::Relaxed),
            s.tls_failed.load(Ordering::Relaxed),
            s.udp_datagrams.load(Ordering::Relaxed),
            s.capped.load(Ordering::Relaxed),
        );
        self.emit(EventKind::Note { message: summary });
        let mut gaps = gaps;
        let capped = s.capped.load(Ordering::Relaxed);
        if capped > 0 {
            gaps.push(format!(
                "sink: {capped} connection(s) exceeded the capture cap"
            ));
        }
        let errors = s.write_errors.load(Ordering::Relaxed);
        if errors > 0 {
            gaps.push(format!("sink: {errors} event(s) could not be written"));
        }
        let Ok(mut g) = self.inner.lock() else { return };
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

fn write_record(file: &mut File, record: &Record) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    // One write per line: O_APPEND keeps lines whole; the page cache survives a kill.
    file.write_all(&line)?;
    file.flush()
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
