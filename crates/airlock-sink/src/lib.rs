//! The airlock network sink: a process that owns the sandbox's network namespace,
//! answers every DNS query, TCP connection, HTTP request and TLS handshake plausibly,
//! records all of it as `airlock_events` (JSON Lines), and lets nothing leave.
//!
//! # Topology (wired by the orchestrator)
//!
//! Per run a sink container starts with `--network none`, `NET_ADMIN` and IPv6 disabled,
//! running `airlock-sink --setup-net --out /sink/events.jsonl --ca-cert .. --ca-key ..
//! --config bait.json` as root. The binary brings `lo` up, binds its listeners, installs
//! the redirect rules (see [`netsetup`] for the exact list), and prints
//! `READY <tcp_port> <dns_port>` on stdout. The sandbox container then joins the
//! namespace (`network_mode: container:<sink>`) without capabilities: every TCP
//! connection it opens, to any address and port (loopback included), lands on the
//! sink's TCP port; every UDP datagram to port 53 on the DNS port; other UDP on a
//! catch-all port that records it. `SIGTERM` makes the sink record still-open
//! connections, write a summary note and a footer, and exit.
//!
//! # What gets recorded
//!
//! * `dns.query` per question (name, type, answers, rcode) — see [`dns`].
//! * `net.connection` when a TCP connection ends: original destination (from
//!   `SO_ORIGINAL_DST`), the DNS name that address was handed out for (or the SNI),
//!   `protocol` (`http`, `https`, `tls` (handshake failed or non-HTTP inside), `dns`,
//!   `raw`, `empty`), `bytes_sent` = bytes the client sent, `bytes_received` = bytes
//!   the sink sent back (both at the wire, totals beyond the capture cap), duration,
//!   and `end` (`closed`, `reset`, `timeout`, `cap`, `shutdown`, `evicted` (closed to
//!   make room under flood), `unfinished` (still busy when the sink stopped; a footer
//!   gap), `error: ...`).
//! * `tls.handshake` with SNI, the client's ALPN list, and the error when a client
//!   (e.g. one that pins certificates) rejects the run CA's leaf.
//! * `http.request` with full URL, headers, decoded body and the status answered.
//! * `net.data` for bytes that are neither HTTP nor TLS (TCP, and UDP datagrams).
//! * `note`s: net setup steps, capped connections, the final summary (with the sink's
//!   peak memory).
//! * `limit.hit` with `limit: network` when the run flooded the sink (at least
//!   [`Budgets::flood_connections`] connections, connections closed to make room, or
//!   events (not bytes) only counted): "N connections to M destinations, K summarised",
//!   written as soon as the flood is one; the totals follow in a `sink flood totals` note.
//!
//! # Bounded under flood
//!
//! At most [`Limits::max_connections`] connections are served at once (a new one closes
//! the least recently active, `end: evicted`); bytes captured past each request's head
//! share [`Limits::capture_memory`]; the record has a byte budget ([`budget`]): every
//! request's head and the first [`Budgets::body_head`] bytes of its body, and the first
//! [`Budgets::data_head`] raw bytes of every connection, are recorded; bodies beyond
//! that are recorded while their share allows (identical ones once); what does not fit
//! is counted per kind, destination and port in a `sink flood summary` note, and the
//! footer's `gaps` say the record is incomplete.
//!
//! Events carry source `sink`, phase `run` and the sink's own `seq`; the orchestrator
//! renumbers and assigns phases by timestamp when it merges traces.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bait;
pub mod budget;
pub mod ca;
pub mod cli;
pub mod dns;
pub mod io;
pub mod netsetup;
pub mod origdst;
pub mod payloads;
pub mod pressure;
pub mod record;
pub mod respond;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use bait::BaitConfig;
pub use budget::Budgets;
pub use ca::{generate_ca, CaPair, CertAuthority};
pub use dns::NameMap;
pub use netsetup::{setup_net, NetPorts, NetSetupReport, SystemRunner};
pub use record::{read_events, EventLog, SinkOutput};
pub use server::{Limits, Sink, SinkConfig};

/// Default listener ports inside the namespace.
pub const DEFAULT_TCP_PORT: u16 = 17080;
pub const DEFAULT_DNS_PORT: u16 = 17053;
pub const DEFAULT_UDP_PORT: u16 = 17054;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot bind the {what} listener on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("sink output {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sink output {path} line {line}: {message}")]
    BadLine {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("sink config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("tls: {0}")]
    Tls(String),
}
