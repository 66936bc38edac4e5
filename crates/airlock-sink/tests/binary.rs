//! The `airlock-sink` binary as the orchestrator drives it: `gen-ca`, start with
//! ephemeral ports, wait for `READY`, talk to it over loopback, stop it with SIGTERM,
//! read the output back.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use airlock_events::EventKind;
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};

#[test]
fn binary_reports_ready_serves_and_writes_footer_on_sigterm() {
    let exe = env!("CARGO_BIN_EXE_airlock-sink");
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(exe)
        .args(["gen-ca", "bin-test"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("events.jsonl");
    let bait = dir.path().join("bait.json");
    std::fs::write(&bait, r#"{"npm_username":"from-config"}"#).unwrap();
    let mut child = Command::new(exe)
        .args([
            "--listen",
            "127.0.0.1",
            "--tcp-port",
            "0",
            "--dns-port",
            "0",
            "--udp-port",
            "0",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--ca-cert")
        .arg(dir.path().join("ca.pem"))
        .arg("--ca-key")
        .arg(dir.path().join("ca.key"))
        .arg("--config")
        .arg(&bait)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"READY"), "{line:?}");
    let tcp: u16 = parts[1].parse().unwrap();
    let dns: u16 = parts[2].parse().unwrap();

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut q = Message::new();
    q.set_id(1).set_message_type(MessageType::Query);
    q.add_query(Query::query(
        Name::from_str("beacon.example.").unwrap(),
        RecordType::A,
    ));
    sock.send_to(&q.to_vec().unwrap(), ("127.0.0.1", dns))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(Message::from_vec(&buf[..n]).unwrap().answers().len(), 1);

    let mut s = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    s.write_all(b"GET /-/whoami HTTP/1.1\r\nHost: registry.npmjs.org\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.contains(r#""username":"from-config""#), "{resp}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");

    let got = airlock_sink::read_events(&out).unwrap();
    assert!(got.footer.is_some(), "footer written on SIGTERM");
    assert!(got
        .events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::DnsQuery { name, .. } if name == "beacon.example")));
    assert!(got.events.iter().any(|e| matches!(&e.kind, EventKind::HttpRequest { url, .. } if url == "http://registry.npmjs.org/-/whoami")));
}
