//! Helpers shared by the integration tests: parse a fixture or a string, pick events.
#![allow(dead_code, clippy::unwrap_used)]

use airlock_events::{Event, EventKind};
use airlock_recorder::{parse_reader, RecorderConfig, RecorderStats};

pub fn parse_str(cfg: RecorderConfig, text: &str) -> (Vec<Event>, RecorderStats) {
    parse_reader(cfg, text.as_bytes()).unwrap()
}

pub fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap()
}

pub fn of_type<'a>(events: &'a [Event], t: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.kind.type_name() == t).collect()
}

pub fn exec_of<'a>(events: &'a [Event], exe: &str) -> &'a Event {
    events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ProcessExec { path, .. } if path.ends_with(&format!("/{exe}"))))
        .unwrap_or_else(|| panic!("no exec of {exe}"))
}
