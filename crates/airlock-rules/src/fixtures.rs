//! Reads the short fixture traces stored with rules. Fixture lines are trace events with
//! defaults filled in (`record`, `seq`, `ts`, `phase`, `source`, `outcome`, ...) so a
//! fixture says only what matters; a header is optional and merged over a default one.

use airlock_events::{Record, TraceHeader};
use serde_json::{json, Map, Value};

/// The header fixtures get unless they give their own fields.
pub fn default_header() -> Value {
    json!({
        "record": "header",
        "schema_version": airlock_events::SCHEMA_VERSION,
        "run_id": "fixture",
        "started_at": 1000.0,
        "package": {"ecosystem": "npm", "name": "fixture-pkg", "version": "1.0.0"},
        "tool_version": "fixture",
        "home": "/home/runner",
        "package_dir": "/home/runner/project/node_modules/fixture-pkg",
        "canaries": [{"id": "npm-token", "kind": "npm_token", "location": "file:/home/runner/.npmrc", "value": "npm_CANARYfixture0000000000000000000"}]
    })
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

fn default_source(ty: &str) -> &'static str {
    match ty {
        "dns.query" | "net.connection" | "tls.handshake" | "http.request" | "net.data" => "sink",
        "fs.change" => "fsdiff",
        "static.signal" => "static",
        "hook" => "hook",
        "secret.read" | "canary.leaked" => "analysis",
        "phase.start" | "phase.end" | "limit.hit" | "note" => "sandbox",
        _ => "strace",
    }
}

fn fill_event(o: &mut Map<String, Value>, seq: u64) {
    let ty = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("note")
        .to_string();
    let has_path = o.contains_key("path");
    let mut def = |k: &str, v: Value| {
        o.entry(k.to_string()).or_insert(v);
    };
    def("record", json!("event"));
    def("seq", json!(seq));
    def("ts", json!(1000.0 + seq as f64));
    def(
        "phase",
        json!(if ty == "static.signal" {
            "static"
        } else {
            "install"
        }),
    );
    def("source", json!(default_source(&ty)));
    def("outcome", json!("ok"));
    match ty.as_str() {
        "file.open" => {
            def("flags", json!("O_RDONLY"));
            def("write", json!(false));
            def("create", json!(false));
        }
        "net.connect" | "net.sendto" | "net.socket" | "net.bind" => {
            def("family", json!("AF_INET"));
            def("socktype", json!("SOCK_STREAM"));
            def("addr", json!("198.18.0.10"));
            def("port", json!(443));
            def("bytes", json!(0));
        }
        "process.exec" if !has_path => {
            let p = o
                .get("argv")
                .and_then(|a| a.get(0))
                .cloned()
                .unwrap_or(json!(""));
            o.insert("path".into(), p);
        }
        "http.request" => {
            let url = o
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let (host, path) = url
                .split_once("://")
                .map(|(_, r)| match r.find('/') {
                    Some(i) => (r[..i].to_string(), r[i..].to_string()),
                    None => (r.to_string(), "/".to_string()),
                })
                .unwrap_or_default();
            let mut def = |k: &str, v: Value| {
                o.entry(k.to_string()).or_insert(v);
            };
            def("conn_id", json!(seq));
            def("method", json!("GET"));
            def("host", json!(host));
            def("path", json!(path));
            def("headers", json!([]));
            def("tls", json!(url.starts_with("https")));
            let n = o
                .get("body")
                .and_then(Value::as_str)
                .map(str::len)
                .unwrap_or(0);
            o.entry("body_bytes".to_string()).or_insert(json!(n));
        }
        "net.connection" | "net.data" => {
            def("conn_id", json!(seq));
            def("dst_addr", json!("198.18.0.10"));
            def("dst_port", json!(443));
            def("protocol", json!("raw"));
            def("bytes_sent", json!(0));
            def("bytes_received", json!(0));
            def("duration_ms", json!(0));
            def("end", json!("closed"));
            def("hex", json!(""));
            def("bytes", json!(0));
        }
        "dns.query" => def("qtype", json!("A")),
        "tls.handshake" => {
            def("conn_id", json!(seq));
            def("ok", json!(true));
        }
        "canary.leaked" => {
            def("canary_id", json!("npm-token"));
            def("kind", json!("npm_token"));
            def("encoding", json!("plain"));
        }
        "secret.read" => def("via", json!("open")),
        "hook" => def("runtime", json!("node")),
        "static.signal" => def("detail", json!("")),
        "phase.end" => {
            def("duration_ms", json!(0));
        }
        "phase.start" => def("command", json!([])),
        _ => {}
    }
    if let Some(Value::Object(p)) = o.get_mut("proc") {
        p.entry("pid").or_insert(json!(100));
        p.entry("exe").or_insert(json!(""));
    }
}

/// Parses a fixture into a header and records. Lines starting with `#` or `//` are
/// comments.
pub fn parse_fixture(
    header: Option<&str>,
    events: &str,
) -> Result<(TraceHeader, Vec<Record>), String> {
    let mut h = default_header();
    if let Some(text) = header {
        let over: Value = serde_json::from_str(text).map_err(|e| format!("fixture header: {e}"))?;
        merge(&mut h, over);
    }
    let mut records = Vec::new();
    let mut seq = 0u64;
    for (i, line) in events.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
            continue;
        }
        let mut v: Value =
            serde_json::from_str(t).map_err(|e| format!("fixture line {}: {e}", i + 1))?;
        let Some(o) = v.as_object_mut() else {
            return Err(format!("fixture line {}: not a JSON object", i + 1));
        };
        match o.get("record").and_then(Value::as_str) {
            Some("header") => {
                o.remove("record");
                merge(&mut h, v);
                continue;
            }
            Some("footer") => {
                o.entry("events").or_insert(json!(seq));
                o.entry("ended_at").or_insert(json!(2000.0));
                o.entry("complete").or_insert(json!(true));
            }
            _ => {
                fill_event(o, seq);
                seq += 1;
            }
        }
        let rec: Record =
            serde_json::from_value(v).map_err(|e| format!("fixture line {}: {e}", i + 1))?;
        records.push(rec);
    }
    if !records.iter().any(|r| matches!(r, Record::Footer(_))) {
        records.push(Record::Footer(airlock_events::TraceFooter {
            events: seq,
            ended_at: 2000.0,
            complete: true,
            gaps: vec![],
        }));
    }
    let header: TraceHeader =
        serde_json::from_value(h).map_err(|e| format!("fixture header: {e}"))?;
    Ok((header, records))
}
