//! Parser for the in-sandbox hook channel: the python audit hook
//! (`/usr/local/lib/devtools/python/sitecustomize.py`) and the node preload
//! (`/usr/local/lib/devtools/node/preload.js`) write one JSON object per line,
//! `{"runtime":"python"|"node","event":"<name>","ts":<unix secs>,"pid":<pid>,"args":{...}}`
//! (see `sandbox-images/HOOKS.md`), and the recorder turns
//! each into an [`EventKind::Hook`]. It sits next to the strace parser because both turn
//! what the sandbox saw into trace events; the engine merges the two streams.

use airlock_events::EventKind;
use serde::Deserialize;

/// Longest hook line accepted; longer ones (a package spamming the channel) are dropped.
pub const MAX_HOOK_LINE: usize = 64 * 1024;

/// One parsed hook line with the fields the event itself does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRecord {
    /// Unix seconds, as the hook saw the clock.
    pub ts: f64,
    pub pid: u32,
    /// Always an [`EventKind::Hook`].
    pub kind: EventKind,
}

#[derive(Deserialize)]
struct Line {
    runtime: String,
    event: String,
    #[serde(default)]
    ts: f64,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    args: serde_json::Value,
}

/// Parses one hook line into its record; `None` for blank, oversized or malformed
/// lines and for runtimes other than `python` and `node`.
pub fn parse_hook_record(line: &str) -> Option<HookRecord> {
    let line = line.trim();
    if line.is_empty() || line.len() > MAX_HOOK_LINE {
        return None;
    }
    let l: Line = serde_json::from_str(line).ok()?;
    if !matches!(l.runtime.as_str(), "python" | "node") || l.event.is_empty() || l.event.len() > 128
    {
        return None;
    }
    let args = match l.args {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        a => a,
    };
    Some(HookRecord {
        ts: l.ts,
        pid: l.pid,
        kind: EventKind::Hook {
            runtime: l.runtime,
            event: l.event,
            args,
        },
    })
}

/// Parses one hook line into an [`EventKind::Hook`] (see [`parse_hook_record`]).
pub fn parse_hook_line(line: &str) -> Option<EventKind> {
    parse_hook_record(line).map(|r| r.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_and_node_lines() {
        let r = parse_hook_record(
            r#"{"runtime":"python","event":"subprocess.Popen","ts":1700000000.5,"pid":42,"args":{"executable":"/bin/sh","argv":["sh","-c","id"]}}"#,
        )
        .unwrap();
        assert_eq!((r.ts, r.pid), (1700000000.5, 42));
        match r.kind {
            EventKind::Hook {
                runtime,
                event,
                args,
            } => {
                assert_eq!(
                    (runtime.as_str(), event.as_str()),
                    ("python", "subprocess.Popen")
                );
                assert_eq!(args["argv"][2], "id");
            }
            other => panic!("{other:?}"),
        }
        let k =
            parse_hook_line(r#"{"runtime":"node","event":"dns.lookup","ts":1,"pid":7}"#).unwrap();
        assert_eq!(k.type_name(), "hook");
        assert!(matches!(k, EventKind::Hook { ref args, .. } if args.is_object()));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_hook_line("").is_none());
        assert!(parse_hook_line("not json").is_none());
        assert!(parse_hook_line(r#"{"runtime":"ruby","event":"x"}"#).is_none());
        assert!(parse_hook_line(r#"{"runtime":"python"}"#).is_none());
        assert!(parse_hook_line(r#"{"runtime":"python","event":""}"#).is_none());
        let big = format!(
            r#"{{"runtime":"python","event":"x","args":{{"s":"{}"}}}}"#,
            "a".repeat(MAX_HOOK_LINE)
        );
        assert!(parse_hook_line(&big).is_none());
    }
}
