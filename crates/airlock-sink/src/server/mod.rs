//! The listeners and the per-connection logic: accept every redirected TCP connection,
//! recover its original destination, sniff TLS / HTTP / raw, terminate TLS with the
//! run's CA, serve HTTP/1.1 (keep-alive, Content-Length and chunked bodies, gzip and
//! deflate decoding), capture raw bytes up to the per-connection cap while counting
//! totals, answer DNS over UDP (and TCP on port 53), and record other UDP datagrams.
//! Under flood everything stays bounded (issue 19): open connections ([`ConnTable`]),
//! captured bytes past the heads ([`MemPool`]) and the record ([`crate::budget`]);
//! every request's head and the first bytes of its body are recorded whatever the rest.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_events::{EventKind, Headers};
use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bait::BaitConfig;
use crate::budget::{BodyVerdict, Budgets};
use crate::ca::{CaPair, CertAuthority};
use crate::dns::{DnsResponder, NameMap};
use crate::io::{BoxIo, Counted, Counters};
use crate::origdst;
use crate::pressure::{ConnTable, Facts, MemPool, Reservation, Slot};
use crate::record::EventLog;
use crate::respond::{self, RequestView, Responder};
use crate::SinkError;

mod http;
mod protocols;
mod udp;
mod wire;

use http::serve_http;
use protocols::*;
use udp::{dns_loop, udp_loop};
use wire::*;

/// Per-connection limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes captured (kept in events) per connection; totals are counted beyond it.
    pub capture_cap: usize,
    /// Bytes a client may send on one connection before the sink closes it (`end: cap`).
    pub max_conn_bytes: u64,
    /// A connection silent this long is closed (`end: timeout`).
    pub idle_timeout: Duration,
    /// How long to wait for a client's first bytes before sending a server banner on
    /// ports whose protocol starts with the server (SSH, SMTP, FTP, ...).
    pub banner_wait: Duration,
    /// Raw bytes are coalesced into one `net.data` event until this much quiet.
    pub raw_flush: Duration,
    /// Connections open at once; one more closes the least recently active (`end:
    /// evicted`).
    pub max_connections: usize,
    /// Body bytes of each request captured without drawing on `capture_memory` (so at
    /// most `max_connections` times this).
    pub capture_free: usize,
    /// Memory for captured body bytes past `capture_free`, shared by all connections.
    pub capture_memory: u64,
    /// The record's byte budget and heads.
    pub budgets: Budgets,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            capture_cap: 1 << 20,
            max_conn_bytes: 256 << 20,
            idle_timeout: Duration::from_secs(120),
            banner_wait: Duration::from_millis(1500),
            raw_flush: Duration::from_millis(200),
            max_connections: 1024,
            capture_free: 64 << 10,
            capture_memory: 32 << 20,
            budgets: Budgets::default(),
        }
    }
}

/// Everything [`Sink::start`] needs.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Address the listeners bind (the REDIRECT target is 127.0.0.1 in the namespace;
    /// the default 0.0.0.0 also covers it).
    pub listen: IpAddr,
    /// 0 for an ephemeral port.
    pub tcp_port: u16,
    pub dns_port: u16,
    /// Catch-all for UDP that is not DNS; `None` to not listen.
    pub udp_port: Option<u16>,
    /// The run's CA; without one TLS connections are recorded but not terminated.
    pub ca: Option<CaPair>,
    pub bait: BaitConfig,
    pub limits: Limits,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            listen: IpAddr::from([0, 0, 0, 0]),
            tcp_port: crate::DEFAULT_TCP_PORT,
            dns_port: crate::DEFAULT_DNS_PORT,
            udp_port: Some(crate::DEFAULT_UDP_PORT),
            ca: None,
            bait: BaitConfig::default(),
            limits: Limits::default(),
        }
    }
}

struct Shared {
    log: EventLog,
    dns: DnsResponder,
    ca: Option<CertAuthority>,
    responder: Responder,
    limits: Limits,
    next_conn: AtomicU64,
    active: AtomicUsize,
    shutdown: watch::Receiver<bool>,
    conns: ConnTable,
    pool: MemPool,
}

impl Shared {
    fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running sink.
pub struct Sink {
    pub tcp_addr: SocketAddr,
    pub dns_addr: SocketAddr,
    pub udp_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sink {
    /// Binds the listeners and starts serving on the current tokio runtime.
    pub async fn start(config: SinkConfig, log: EventLog) -> Result<Sink, SinkError> {
        let ca = match &config.ca {
            Some(pair) => Some(CertAuthority::from_pair(pair)?),
            None => None,
        };
        let bind_err = |what: &'static str, port: u16| {
            move |source| SinkError::Bind {
                what,
                addr: SocketAddr::new(config.listen, port),
                source,
            }
        };
        let tcp = listen_tcp(SocketAddr::new(config.listen, config.tcp_port))
            .map_err(bind_err("tcp", config.tcp_port))?;
        let dns = UdpSocket::bind((config.listen, config.dns_port))
            .await
            .map_err(bind_err("dns", config.dns_port))?;
        let udp = match config.udp_port {
            Some(p) => Some(
                UdpSocket::bind((config.listen, p))
                    .await
                    .map_err(bind_err("udp", p))?,
            ),
            None => None,
        };
        let local = |r: std::io::Result<SocketAddr>, what| {
            r.map_err(|source| SinkError::Bind {
                what,
                addr: SocketAddr::new(config.listen, 0),
                source,
            })
        };
        let tcp_addr = local(tcp.local_addr(), "tcp")?;
        let dns_addr = local(dns.local_addr(), "dns")?;
        let udp_addr = match &udp {
            Some(u) => Some(local(u.local_addr(), "udp")?),
            None => None,
        };
        let (stop, shutdown) = watch::channel(false);
        log.set_budgets(config.limits.budgets.clone());
        let shared = Arc::new(Shared {
            conns: ConnTable::new(config.limits.max_connections),
            pool: MemPool::new(config.limits.capture_memory),
            dns: DnsResponder::new(NameMap::new(), &config.bait),
            log,
            ca,
            responder: Responder::new(config.bait.clone()),
            limits: config.limits.clone(),
            next_conn: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            shutdown,
        });
        let mut tasks = vec![
            tokio::spawn(accept_loop(tcp, shared.clone())),
            tokio::spawn(dns_loop(dns, shared.clone())),
        ];
        if let Some(u) = udp {
            tasks.push(tokio::spawn(udp_loop(u, shared.clone())));
        }
        Ok(Sink {
            tcp_addr,
            dns_addr,
            udp_addr,
            shared,
            stop,
            tasks,
        })
    }

    /// The name ↔ address map the DNS side fills.
    pub fn names(&self) -> &NameMap {
        self.shared.dns.map()
    }

    pub fn log(&self) -> &EventLog {
        &self.shared.log
    }

    /// Stops accepting, lets open connections record themselves (`end: shutdown`,
    /// waiting at most `grace`), then writes the summary and footer.
    pub async fn shutdown(self, grace: Duration, gaps: Vec<String>) {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + grace;
        // The TCP accept loop (the first task) drains the accept queue and ends.
        let mut tasks = self.tasks.into_iter();
        if let Some(mut accept) = tasks.next() {
            let _ = tokio::time::timeout_at(deadline.into(), &mut accept).await;
            accept.abort();
        }
        for t in tasks {
            t.abort();
        }
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stats = &self.shared.log.stats;
        // Connections still busy: recorded from what was known of them, and counted as a
        // gap (what they held is lost).
        let busy = self.shared.conns.take_open();
        stats
            .unrecorded_at_stop
            .store(busy.len() as u64, Ordering::Relaxed);
        for (id, f) in busy {
            self.shared.log.emit(EventKind::NetConnection {
                conn_id: id,
                dst_addr: f.dst.ip().to_string(),
                dst_port: f.dst.port(),
                name: f.name,
                protocol: "unknown".into(),
                bytes_sent: f.counters.from_client.load(Ordering::Relaxed),
                bytes_received: f.counters.to_client.load(Ordering::Relaxed),
                duration_ms: f.started.elapsed().as_millis() as u64,
                end: "unfinished".into(),
            });
        }
        stats.evicted.store(
            self.shared.conns.evicted.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        stats.peak_open.store(
            self.shared.conns.peak.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.shared.log.finish(gaps);
    }
}

/// Connections the kernel queues for the sink to accept (a flood waits there, not in
/// the sink's memory).
const ACCEPT_BACKLOG: u32 = 4096;

fn listen_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Accepts until shutdown, then keeps accepting what is already queued (so connections
/// waiting in the kernel's accept queue are recorded, not lost) until none comes for
/// [`DRAIN_WAIT`].
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Connections told to close still wind down; past this many tasks, new connections
    // wait in the kernel's accept queue (bounded work pending in the sink).
    let max_tasks = shared.limits.max_connections + shared.limits.max_connections / 4 + 1;
    let mut shutdown = shared.shutdown.clone();
    loop {
        while shared.active.load(Ordering::SeqCst) >= max_tasks {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stopping = *shutdown.borrow();
        let accepted = if stopping {
            match tokio::time::timeout(DRAIN_WAIT, listener.accept()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                r = listener.accept() => r,
                r = shutdown.changed() => match r {
                    Ok(()) => continue,
                    // The sink was dropped without a shutdown.
                    Err(_) => return,
                },
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                shared.active.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    handle_tcp(stream, peer, &shared).await;
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Closed,
    Reset,
    Timeout,
    Cap,
    Shutdown,
    /// Closed to make room for a new connection (the open-connection limit).
    Evicted,
    Error(String),
}

impl End {
    fn from_io(e: &std::io::Error) -> End {
        use std::io::ErrorKind::*;
        match e.kind() {
            ConnectionReset | ConnectionAborted | BrokenPipe => End::Reset,
            UnexpectedEof => End::Closed,
            _ => End::Error(e.to_string()),
        }
    }

    fn as_str(&self) -> String {
        match self {
            End::Closed => "closed".into(),
            End::Reset => "reset".into(),
            End::Timeout => "timeout".into(),
            End::Cap => "cap".into(),
            End::Shutdown => "shutdown".into(),
            End::Evicted => "evicted".into(),
            End::Error(e) => format!("error: {e}"),
        }
    }
}

/// Facts about one accepted connection.
struct ConnCtx {
    id: u64,
    dst: SocketAddr,
    /// Name from the DNS map (or a CONNECT target).
    name: Option<String>,
    sni: Option<String>,
    tls: bool,
    counters: Arc<Counters>,
    captured: usize,
    capped: bool,
    /// Raw bytes still recorded as this connection's head (see [`Budgets::data_head`]).
    data_head_left: usize,
    slot: Arc<Slot>,
}

impl ConnCtx {
    /// How many of `n` more bytes may still be captured.
    fn allow(&mut self, n: usize, cap: usize) -> usize {
        let left = cap.saturating_sub(self.captured);
        let take = n.min(left);
        self.captured += take;
        if take < n {
            self.capped = true;
        }
        take
    }
}

async fn handle_tcp(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let started = Instant::now();
    let local = stream.local_addr().unwrap_or(peer);
    let dst = origdst::tcp_original_dst(&stream, local);
    let counters = Arc::new(Counters::default());
    let id = shared.conn_id();
    let name = shared.dns.map().name_of(dst.ip());
    let slot = shared.conns.register(
        id,
        Some(Facts {
            dst,
            name: name.clone(),
            counters: counters.clone(),
            started,
        }),
    );
    let mut ctx = ConnCtx {
        id,
        dst,
        name,
        sni: None,
        tls: false,
        counters: counters.clone(),
        captured: 0,
        capped: false,
        data_head_left: shared.limits.budgets.data_head,
        slot: slot.clone(),
    };
    shared
        .log
        .count_connection(ctx.name.clone().unwrap_or_else(|| ctx.dst.ip().to_string()));
    if shared.conns.evicted.load(Ordering::Relaxed) > 0 {
        shared
            .log
            .report_flood("connections closed to stay within the open-connection limit");
    }
    tracing::debug!(conn = ctx.id, %peer, %dst, "accepted");
    let io: BoxIo = Box::new(Counted::new(stream, counters.clone()));
    let mut protocol = String::from("empty");
    // Reads see shutdown and eviction themselves and record what they hold (see
    // `Wire::fill`); these only stop a connection stuck elsewhere (a handshake, a write).
    let end = tokio::select! {
        end = serve(io, Vec::new(), &mut ctx, shared, &mut protocol, 0) => end,
        _ = signalled(shared.shutdown.clone(), Duration::from_millis(500)) => End::Shutdown,
        _ = signalled(slot.evicted(), Duration::from_millis(500)) => End::Evicted,
    };
    shared.conns.remove(id);
    if ctx.capped {
        shared.log.stats.capped.fetch_add(1, Ordering::Relaxed);
        shared.log.emit(EventKind::Note {
            message: format!(
                "connection {} to {}: capture cap of {} bytes reached; totals still counted",
                ctx.id, ctx.dst, shared.limits.capture_cap
            ),
        });
    }
    shared.log.emit(EventKind::NetConnection {
        conn_id: ctx.id,
        dst_addr: ctx.dst.ip().to_string(),
        dst_port: ctx.dst.port(),
        name: ctx.name.clone().or(ctx.sni.clone()),
        protocol,
        bytes_sent: counters.from_client.load(Ordering::Relaxed),
        bytes_received: counters.to_client.load(Ordering::Relaxed),
        duration_ms: started.elapsed().as_millis() as u64,
        end: end.as_str(),
    });
}

/// Resolves `after` the flag turns true; never when its sender is gone.
async fn signalled(mut flag: watch::Receiver<bool>, after: Duration) {
    if flag.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(after).await;
}

#[cfg(test)]
mod tests {
    use super::http::{body_text, decode_body, strip_port};
    use super::*;

    #[test]
    fn classify_needs_enough_bytes() {
        assert!(classify(b"", 80).is_none());
        assert!(classify(b"GE", 80).is_none());
        assert!(matches!(classify(b"GET /", 80), Some(Sniffed::Http)));
        assert!(matches!(classify(b"\x16\x03\x01", 443), Some(Sniffed::Tls)));
        assert!(matches!(classify(b"SSH-2.0", 22), Some(Sniffed::Raw)));
        assert!(matches!(classify(b"\x00\x1c", 53), Some(Sniffed::Dns)));
    }

    #[test]
    fn decoding_and_text() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello world").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_body("gzip", &gz, 100).unwrap(), b"hello world");
        assert_eq!(decode_body("gzip", &gz, 5).unwrap(), b"hello");
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(b"raw deflate").unwrap();
        assert_eq!(
            decode_body("deflate", &raw.finish().unwrap(), 100).unwrap(),
            b"raw deflate"
        );
        assert!(decode_body("br", b"x", 10).is_none());
        assert_eq!(body_text(b"abc"), "abc");
        assert_eq!(body_text(&[0xff, 0]), "base64:/wA=");
        assert_eq!(strip_port("a.example:8080"), "a.example");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
