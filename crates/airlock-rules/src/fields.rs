//! Field paths (`argv[0]`, `proc.lifecycle`, `headers.authorization`, `args.source`) and
//! how they read values out of an event. Paths are checked at load time against the
//! fields the step's event types really have, so a typo is a load error, not a rule that
//! silently never matches.

use serde_json::Value;

/// Fields every event has.
const COMMON: &[&str] = &["type", "seq", "ts", "phase", "source", "proc", "actor"];
/// Fields of `proc`.
const PROC: &[&str] = &["pid", "ppid", "exe", "lifecycle", "chain"];

/// Fields per event type, including computed ones (`cmdline`, `domain`).
pub const EVENT_FIELDS: &[(&str, &[&str])] = &[
    ("phase.start", &["name", "command"]),
    (
        "phase.end",
        &[
            "name",
            "status",
            "exit_code",
            "duration_ms",
            "output_tail",
            "output_bytes",
        ],
    ),
    ("limit.hit", &["limit", "detail"]),
    ("process.start", &["pid", "ppid"]),
    (
        "process.exec",
        &[
            "path",
            "argv",
            "cwd",
            "env",
            "env_count",
            "outcome",
            "cmdline",
        ],
    ),
    ("process.exit", &["code", "signal"]),
    ("process.access", &["target_pid", "how", "outcome"]),
    (
        "file.open",
        &["path", "flags", "write", "create", "outcome"],
    ),
    ("file.write", &["path", "bytes"]),
    ("file.unlink", &["path", "outcome"]),
    ("file.rename", &["from", "to", "outcome"]),
    ("file.chmod", &["path", "mode", "outcome"]),
    ("file.symlink", &["target", "link", "outcome"]),
    ("file.mkdir", &["path", "outcome"]),
    (
        "fs.change",
        &["path", "change", "sha256", "size", "mode", "in_package"],
    ),
    ("net.socket", &["family", "socktype", "outcome"]),
    (
        "net.connect",
        &["family", "addr", "port", "name", "outcome", "domain"],
    ),
    ("net.bind", &["family", "addr", "port", "outcome"]),
    ("net.listen", &["fd"]),
    (
        "net.sendto",
        &["family", "addr", "port", "bytes", "dns", "domain"],
    ),
    ("net.socket_dup", &["socket", "target_fd"]),
    (
        "dns.query",
        &["name", "qtype", "answers", "rcode", "domain"],
    ),
    (
        "net.connection",
        &[
            "conn_id",
            "dst_addr",
            "dst_port",
            "name",
            "protocol",
            "bytes_sent",
            "bytes_received",
            "duration_ms",
            "end",
            "domain",
        ],
    ),
    (
        "tls.handshake",
        &["conn_id", "sni", "alpn", "ok", "error", "domain"],
    ),
    (
        "http.request",
        &[
            "conn_id",
            "method",
            "url",
            "host",
            "path",
            "headers",
            "body",
            "body_bytes",
            "tls",
            "response_status",
            "domain",
        ],
    ),
    (
        "net.data",
        &[
            "conn_id",
            "dst_addr",
            "dst_port",
            "hex",
            "printable",
            "bytes",
        ],
    ),
    ("secret.read", &["canary_id", "path", "via"]),
    (
        "canary.leaked",
        &[
            "canary_id",
            "kind",
            "encoding",
            "destination",
            "carrier_seq",
            "domain",
        ],
    ),
    ("probe", &["what", "path"]),
    ("hook", &["runtime", "event", "args"]),
    (
        "static.signal",
        &["signal", "file", "line", "detail", "value"],
    ),
    ("note", &["message"]),
];

/// Top-level fields under which any sub-path is accepted (free-form maps).
const OPEN_MAPS: &[&str] = &["env", "args", "headers"];

pub fn known_type(t: &str) -> bool {
    type_index(t).is_some()
}

/// The position of an event type in [`EVENT_FIELDS`]: a small number the engine indexes
/// rules and step types by (there are fewer than 64 types).
pub fn type_index(t: &str) -> Option<usize> {
    EVENT_FIELDS.iter().position(|(n, _)| *n == t)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A checked field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldPath {
    /// `argv` joined with spaces.
    Cmdline,
    /// The host name a network event is about, whatever its type.
    Domain,
    /// `headers.<name>`: values of that header, any case.
    Header(String),
    /// `headers`: every header as `Name: value`.
    Headers,
    Plain(Vec<Seg>),
}

impl FieldPath {
    /// `proc.chain`, rendered with arrows in messages.
    pub fn is_chain(&self) -> bool {
        matches!(self, FieldPath::Plain(s) if s.len() == 2
            && s[0] == Seg::Key("proc".into()) && s[1] == Seg::Key("chain".into()))
    }

    /// Parses and checks `path` against the fields of `types` (all types when empty).
    pub fn parse(path: &str, types: &[String]) -> Result<FieldPath, String> {
        let segs = parse_segments(path)?;
        let Some(Seg::Key(first)) = segs.first() else {
            return Err(format!("field path `{path}` must start with a name"));
        };
        let first = first.clone();
        let candidates: Vec<&(&str, &[&str])> = if types.is_empty() {
            EVENT_FIELDS.iter().collect()
        } else {
            EVENT_FIELDS
                .iter()
                .filter(|(n, _)| types.iter().any(|t| t == n))
                .collect()
        };
        let known_top = COMMON.contains(&first.as_str())
            || candidates.iter().any(|(_, f)| f.contains(&first.as_str()));
        if !known_top {
            let mut all: Vec<&str> = COMMON.to_vec();
            for (_, f) in &candidates {
                for x in f.iter() {
                    if !all.contains(x) {
                        all.push(x);
                    }
                }
            }
            return Err(format!(
                "unknown field `{first}` for event type(s) {}; known: {}",
                if types.is_empty() {
                    "(any)".to_string()
                } else {
                    types.join(", ")
                },
                all.join(", ")
            ));
        }
        match first.as_str() {
            "cmdline" if segs.len() == 1 => return Ok(FieldPath::Cmdline),
            "domain" if segs.len() == 1 => return Ok(FieldPath::Domain),
            "headers" if segs.len() == 1 => return Ok(FieldPath::Headers),
            "headers" => {
                return match &segs[1..] {
                    [Seg::Key(k)] => Ok(FieldPath::Header(k.to_ascii_lowercase())),
                    _ => Err(format!("`{path}`: use headers.<name>")),
                }
            }
            "proc" => {
                if let Some(Seg::Key(k)) = segs.get(1) {
                    if !PROC.contains(&k.as_str()) {
                        return Err(format!(
                            "unknown field `proc.{k}`; known: {}",
                            PROC.iter()
                                .map(|p| format!("proc.{p}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
            "dns" => {
                if let Some(Seg::Key(k)) = segs.get(1) {
                    if k != "name" && k != "qtype" {
                        return Err(format!(
                            "unknown field `dns.{k}`; known: dns.name, dns.qtype"
                        ));
                    }
                }
            }
            f if OPEN_MAPS.contains(&f) => {}
            _ => {
                if segs[1..].iter().any(|s| matches!(s, Seg::Key(_))) {
                    return Err(format!("field `{first}` has no sub-fields (in `{path}`)"));
                }
            }
        }
        Ok(FieldPath::Plain(segs))
    }
}

fn parse_segments(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    if path.is_empty() {
        return Err("empty field path".into());
    }
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("bad field path `{path}`"));
        }
        segs.push(Seg::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
            let idx: usize = rest[1..close]
                .parse()
                .map_err(|_| format!("bad index in `{path}` (use a number, e.g. argv[0])"))?;
            segs.push(Seg::Index(idx));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("bad field path `{path}`"));
            }
        }
    }
    Ok(segs)
}

/// A scalar read from an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Leaf {
    /// The value as text, borrowed when it is a string.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Leaf::Str(s) => std::borrow::Cow::Borrowed(s),
            _ => std::borrow::Cow::Owned(self.as_text()),
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Leaf::Str(s) => s.clone(),
            Leaf::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Leaf::Num(n) => n.to_string(),
            Leaf::Bool(b) => b.to_string(),
        }
    }
}

/// Collects the scalars of a JSON value: arrays are flattened, objects become their
/// JSON text (so `contains`/`regex` can search hook arguments).
pub fn leaves_of(v: &Value, out: &mut Vec<Leaf>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(Leaf::Bool(*b)),
        Value::Number(n) => out.push(Leaf::Num(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => out.push(Leaf::Str(s.clone())),
        Value::Array(a) => a.iter().for_each(|x| leaves_of(x, out)),
        Value::Object(_) => out.push(Leaf::Str(v.to_string())),
    }
}

fn host_of_url(u: &str) -> Option<&str> {
    let rest = u.split_once("://").map(|(_, r)| r)?;
    let auth = rest.split(['/', '?', '#']).next()?;
    let auth = auth.rsplit('@').next()?;
    let host = if auth.starts_with('[') {
        auth.split(']').next().map(|h| h.trim_start_matches('['))?
    } else {
        auth.split(':').next()?
    };
    Some(host)
}

/// The domain a network event is about.
pub fn domain_of(ev: &Value) -> Option<String> {
    let s = |k: &str| ev.get(k).and_then(Value::as_str);
    let ty = s("type")?;
    let d = match ty {
        "dns.query" => s("name"),
        "net.sendto" => ev
            .get("dns")
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str),
        "net.connect" | "net.connection" => s("name"),
        "tls.handshake" => s("sni"),
        "http.request" => s("host").map(|h| h.split(':').next().unwrap_or(h)),
        "canary.leaked" => s("destination").and_then(|d| {
            if let Some(n) = d.strip_prefix("dns:") {
                Some(n)
            } else if let Some(t) = d.strip_prefix("tcp:") {
                t.rsplit_once(':').map(|(a, _)| a)
            } else {
                host_of_url(d)
            }
        }),
        _ => None,
    }?;
    Some(d.trim_end_matches('.').to_ascii_lowercase())
}

/// Reads the values of `path` from the JSON form of an event.
pub fn extract(ev: &Value, path: &FieldPath) -> Vec<Leaf> {
    let mut out = Vec::new();
    match path {
        FieldPath::Cmdline => {
            if let Some(a) = ev.get("argv").and_then(Value::as_array) {
                let parts: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                out.push(Leaf::Str(parts.join(" ")));
            }
        }
        FieldPath::Domain => {
            if let Some(d) = domain_of(ev) {
                out.push(Leaf::Str(d));
            }
        }
        FieldPath::Headers | FieldPath::Header(_) => {
            if let Some(hs) = ev.get("headers").and_then(Value::as_array) {
                for h in hs {
                    let (Some(n), Some(v)) = (
                        h.get(0).and_then(Value::as_str),
                        h.get(1).and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    match path {
                        FieldPath::Header(want) if n.eq_ignore_ascii_case(want) => {
                            out.push(Leaf::Str(v.to_string()))
                        }
                        FieldPath::Headers => out.push(Leaf::Str(format!("{n}: {v}"))),
                        _ => {}
                    }
                }
            }
        }
        FieldPath::Plain(segs) => {
            let mut cur = ev;
            for s in segs {
                let next = match s {
                    Seg::Key(k) => cur.get(k.as_str()),
                    Seg::Index(i) => cur.get(*i),
                };
                match next {
                    Some(n) => cur = n,
                    None => return out,
                }
            }
            // `outcome` is `"ok"`, `"unknown"` or `{"err": "ENOENT"}`: read the errno.
            match cur.get("err").and_then(Value::as_str) {
                Some(errno) if cur.as_object().is_some_and(|o| o.len() == 1) => {
                    out.push(Leaf::Str(errno.to_string()))
                }
                _ => leaves_of(cur, &mut out),
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_fields_per_type() {
        let exec = vec!["process.exec".to_string()];
        assert!(FieldPath::parse("argv[0]", &exec).is_ok());
        assert!(FieldPath::parse("proc.lifecycle", &exec).is_ok());
        assert!(FieldPath::parse("env.NODE_OPTIONS", &exec).is_ok());
        assert!(FieldPath::parse("url", &exec)
            .unwrap_err()
            .contains("unknown field `url`"));
        assert!(FieldPath::parse("proc.cwd", &exec).is_err());
        assert!(FieldPath::parse("argv[x]", &exec).is_err());
        assert!(FieldPath::parse("path.x", &exec).is_err());
        assert!(FieldPath::parse("url", &[]).is_ok());
    }

    #[test]
    fn extracts_values() {
        let ev = serde_json::json!({
            "type": "http.request", "host": "Evil.example:8443", "url": "https://evil.example/x",
            "headers": [["Authorization", "Bearer t"], ["X", "y"]],
            "proc": {"pid": 3, "chain": ["a", "b"]}
        });
        let p = FieldPath::parse("headers.authorization", &[]).unwrap();
        assert_eq!(extract(&ev, &p), vec![Leaf::Str("Bearer t".into())]);
        let d = FieldPath::parse("domain", &[]).unwrap();
        assert_eq!(extract(&ev, &d), vec![Leaf::Str("evil.example".into())]);
        let c = FieldPath::parse("proc.chain[1]", &[]).unwrap();
        assert_eq!(extract(&ev, &c), vec![Leaf::Str("b".into())]);
        let leak = serde_json::json!({"type": "canary.leaked", "destination": "tcp:10.0.0.1:4444"});
        assert_eq!(domain_of(&leak).as_deref(), Some("10.0.0.1"));
    }
}
