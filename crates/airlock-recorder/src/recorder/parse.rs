//! Pieces of one strace line and small text helpers: the `PID TS` prefix, the return
//! value, socket addresses, `/proc/N` targets, paths and argv descriptions.

use airlock_events::Outcome;

use crate::lexer::{Lexer, Value};

use super::{Ret, CHAIN_ENTRY_MAX};

/// Splits `PID TS body` (the pid is absent when only one process was traced).
pub(crate) fn split_prefix(line: &str) -> Option<(u32, f64, &str)> {
    let line = line.trim_start();
    let (first, rest) = line.split_once(' ')?;
    let (pid, ts_and_body) = if first.bytes().all(|b| b.is_ascii_digit()) {
        (first.parse::<u32>().ok()?, rest.trim_start())
    } else {
        (0, line)
    };
    let (ts, body) = ts_and_body.split_once(' ')?;
    if !ts.contains('.') {
        return None;
    }
    Some((pid, ts.parse::<f64>().ok()?, body))
}

pub(super) fn parse_ret(result: Option<&str>) -> Ret {
    let Some(text) = result else {
        return Ret {
            outcome: Outcome::Unknown,
            num: None,
            value: None,
        };
    };
    let mut lx = Lexer::new(text);
    let value = lx.value();
    if matches!(&value, Value::Atom(a) if a == "?") {
        return Ret {
            outcome: Outcome::Unknown,
            num: None,
            value: None,
        };
    }
    let num = value.int();
    if num.is_some_and(|n| n < 0) {
        let errno = lx
            .rest()
            .split_whitespace()
            .next()
            .filter(|e| e.starts_with('E'))
            .unwrap_or("EUNKNOWN");
        return Ret {
            outcome: Outcome::Err(errno.to_string()),
            num,
            value: None,
        };
    }
    Ret {
        outcome: Outcome::Ok,
        num,
        value: Some(value),
    }
}

pub(super) fn is_fork_like(text: &str) -> bool {
    ["fork(", "vfork(", "clone(", "clone3("]
        .iter()
        .any(|p| text.starts_with(p))
}

/// Decodes a sockaddr struct into (family, address, port).
pub(crate) fn sockaddr(v: &Value) -> Option<(String, String, u16)> {
    let family = v.field("sa_family")?.text()?;
    let port = |f: &str| {
        v.field(f)
            .and_then(Value::int)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    };
    let (addr, port) = match family.as_str() {
        "AF_INET" => {
            let addr = v
                .call("inet_addr")
                .and_then(|a| a.first())
                .and_then(Value::text)
                .unwrap_or_default();
            (addr, port("sin_port"))
        }
        "AF_INET6" => {
            let addr = v
                .call("inet_pton")
                .and_then(|a| a.get(1))
                .and_then(Value::text)
                .unwrap_or_default();
            (addr, port("sin6_port"))
        }
        "AF_UNIX" => (
            v.field("sun_path")
                .and_then(Value::text)
                .unwrap_or_default(),
            0,
        ),
        _ => (String::new(), 0),
    };
    Some((family, addr, port))
}

/// The peer of a connected UDP socket from its `-yy` annotation
/// (`UDP:[10.0.0.2:40000->8.8.8.8:53]`, `UDPv6:[[::1]:5->[::1]:53]`).
pub(super) fn udp_peer(fd: &Value) -> Option<(String, String, u16)> {
    let a = fd.annotation()?;
    let (family, inner) = if let Some(r) = a.strip_prefix("UDPv6:[") {
        ("AF_INET6", r)
    } else if let Some(r) = a.strip_prefix("UDP:[") {
        ("AF_INET", r)
    } else {
        return None;
    };
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    let (_, peer) = inner.split_once("->")?;
    let (host, port) = peer.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((family.to_string(), host.to_string(), port.parse().ok()?))
}

pub(super) fn is_inet_socket(annotation: &str) -> bool {
    ["TCP:", "TCPv6:", "UDP:", "UDPv6:"]
        .iter()
        .any(|p| annotation.starts_with(p))
}

/// `/proc/<pid>/{mem,environ,maps,cmdline}` → (pid, what).
pub(super) fn proc_target(path: &str) -> Option<(u32, &str)> {
    let rest = path.strip_prefix("/proc/")?;
    let (pid, what) = rest.split_once('/')?;
    let pid = pid.parse::<u32>().ok()?;
    matches!(what, "mem" | "environ" | "maps" | "cmdline").then_some((pid, what))
}

pub(super) fn expand_home(path: &str, home: Option<&str>) -> String {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => format!("{}/{rest}", h.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Cuts to at most `max` characters, on a char boundary.
pub(super) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// One chain entry: the program's basename and its arguments, whitespace collapsed,
/// cut to [`CHAIN_ENTRY_MAX`] characters.
pub(super) fn describe(argv: &[String], exe: &str) -> String {
    let first = argv
        .first()
        .map(|a| basename(a))
        .filter(|a| !a.is_empty())
        .unwrap_or(exe);
    let mut words = vec![first];
    words.extend(argv.iter().skip(1).flat_map(|a| a.split_whitespace()));
    cut(&words.join(" "), CHAIN_ENTRY_MAX)
}

/// Lexically normalizes an absolute path (`.`, `..`, duplicate slashes).
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(split_prefix("12 1.5 x(1) = 0"), Some((12, 1.5, "x(1) = 0")));
        assert_eq!(split_prefix("1.5 x(1) = 0"), Some((0, 1.5, "x(1) = 0")));
        assert_eq!(split_prefix("12"), None);
        assert_eq!(split_prefix("12 abc x"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(normalize("/a/./b/../c//d/"), "/a/c/d");
        assert_eq!(normalize("/.."), "/");
        assert_eq!(proc_target("/proc/12/environ"), Some((12, "environ")));
        assert_eq!(proc_target("/proc/self/environ"), None);
        assert_eq!(expand_home("~/.npmrc", Some("/home/u/")), "/home/u/.npmrc");
    }

    #[test]
    fn describe_cuts_and_collapses() {
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            "node\n  install.js".into(),
        ];
        assert_eq!(describe(&argv, "sh"), "sh -c node install.js");
        let long = vec!["x".to_string(), "é".repeat(200)];
        assert_eq!(describe(&long, "x").chars().count(), CHAIN_ENTRY_MAX);
    }

    #[test]
    fn udp_peers() {
        let v = Value::Fd {
            fd: "3".into(),
            annotation: "UDPv6:[[::1]:5->[::1]:53]".into(),
        };
        assert_eq!(udp_peer(&v), Some(("AF_INET6".into(), "::1".into(), 53)));
        let v = Value::Fd {
            fd: "3".into(),
            annotation: "UDP:[23943]".into(),
        };
        assert_eq!(udp_peer(&v), None);
    }
}
