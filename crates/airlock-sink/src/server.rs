//! The listeners and the per-connection logic: accept every redirected TCP connection,
//! recover its original destination, sniff TLS / HTTP / raw, terminate TLS with the
//! run's CA, serve HTTP/1.1 (keep-alive, Content-Length and chunked bodies, gzip and
//! deflate decoding), capture raw bytes up to the per-connection cap while counting
//! totals, answer DNS over UDP (and TCP on port 53), and record other UDP datagrams.
//! Under flood everything stays bounded (issue 19): open connections ([`ConnTable`]),
//! captured bytes past the heads ([`MemPool`]) and the record ([`crate::budget`]);
//! every request's head and the first bytes of its body are recorded whatever the rest.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_events::{EventKind, Headers};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::LazyConfigAcceptor;

use crate::bait::BaitConfig;
use crate::budget::{BodyVerdict, Budgets, Class, Key};
use crate::ca::{CaPair, CertAuthority};
use crate::dns::{DnsResponder, NameMap};
use crate::io::{hex_of, printable, BoxIo, Counted, Counters, Rewind};
use crate::origdst;
use crate::pressure::{ConnTable, Facts, MemPool, Reservation, Slot};
use crate::record::EventLog;
use crate::respond::{self, RequestView, Responder};
use crate::SinkError;

mod http;
use http::serve_http;

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

/// Bytes asked of the socket per read: what an idle connection holds.
const READ_CHUNK: usize = 16 * 1024;
/// What a connection told to stop may still read of what already arrived, and how long
/// it waits for it.
const DRAIN_BYTES: usize = 16 * 1024;
const DRAIN_WAIT: Duration = Duration::from_millis(50);

/// A buffered reader over a boxed stream with the sink's timeouts and limits.
struct Wire {
    io: BoxIo,
    buf: Vec<u8>,
    idle: Duration,
    max_bytes: u64,
    counters: Arc<Counters>,
    shutdown: watch::Receiver<bool>,
    evict: watch::Receiver<bool>,
    slot: Arc<Slot>,
    /// Set once told to stop: how it will end, and the bytes it may still read.
    drain: Option<(End, usize)>,
}

impl Wire {
    fn new(io: BoxIo, prefix: Vec<u8>, ctx: &ConnCtx, shared: &Shared) -> Wire {
        Wire {
            io,
            buf: prefix,
            idle: shared.limits.idle_timeout,
            max_bytes: shared.limits.max_conn_bytes,
            counters: ctx.counters.clone(),
            shutdown: shared.shutdown.clone(),
            evict: ctx.slot.evicted(),
            slot: ctx.slot.clone(),
            drain: None,
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF; `End::Shutdown` / `End::Evicted`
    /// when the sink stops or needs the room, so the caller records what it holds.
    async fn fill(&mut self, wait: Duration) -> Result<usize, End> {
        if self.counters.from_client.load(Ordering::Relaxed) > self.max_bytes {
            return Err(End::Cap);
        }
        if self.drain.is_none() {
            if *self.shutdown.borrow() {
                self.drain = Some((End::Shutdown, DRAIN_BYTES));
            } else if *self.evict.borrow() {
                self.drain = Some((End::Evicted, DRAIN_BYTES));
            }
        }
        // Told to stop: what already arrived (a request head waiting in the socket) is
        // still read, briefly and up to a few KiB, so it is recorded.
        if let Some((end, left)) = self.drain.clone() {
            if left == 0 {
                return Err(end);
            }
            return match self.read_some(DRAIN_WAIT, left).await {
                Ok(n) if n > 0 => {
                    self.drain = Some((end, left - n));
                    Ok(n)
                }
                _ => {
                    self.drain = Some((end.clone(), 0));
                    Err(end)
                }
            };
        }
        let told = tokio::select! {
            r = Self::read_into(&mut self.io, &mut self.buf, wait, 4 * READ_CHUNK) => {
                if let Ok(n) = r {
                    if n > 0 {
                        self.slot.touch();
                    }
                }
                return r;
            },
            Ok(_) = self.shutdown.wait_for(|s| *s) => End::Shutdown,
            Ok(_) = self.evict.wait_for(|s| *s) => End::Evicted,
        };
        self.drain = Some((told, DRAIN_BYTES));
        Box::pin(self.fill(wait)).await
    }

    async fn read_some(&mut self, wait: Duration, max: usize) -> Result<usize, End> {
        Self::read_into(&mut self.io, &mut self.buf, wait, max).await
    }

    /// One read of at most `max` bytes into the buffer's spare room (no per-read
    /// allocation held while idle; a buffer grown by a big head is given back once
    /// drained).
    async fn read_into(
        io: &mut BoxIo,
        buf: &mut Vec<u8>,
        wait: Duration,
        max: usize,
    ) -> Result<usize, End> {
        if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
            *buf = Vec::new();
        }
        buf.reserve(READ_CHUNK.min(max));
        let limit = (buf.capacity() - buf.len()).min(max);
        let mut limited = io.take(limit as u64);
        match tokio::time::timeout(wait, limited.read_buf(buf)).await {
            Err(_) => Err(End::Timeout),
            Ok(Err(e)) => Err(End::from_io(&e)),
            Ok(Ok(n)) => Ok(n),
        }
    }

    async fn fill_idle(&mut self) -> Result<usize, End> {
        self.fill(self.idle).await
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), End> {
        self.io
            .write_all(data)
            .await
            .map_err(|e| End::from_io(&e))?;
        self.io.flush().await.map_err(|e| End::from_io(&e))
    }
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PROPFIND",
];

enum Sniffed {
    Tls,
    Http,
    Dns,
    Raw,
    /// Client sent nothing before closing or timing out.
    Nothing(End),
}

fn classify(buf: &[u8], dst_port: u16) -> Option<Sniffed> {
    if buf.is_empty() {
        return None;
    }
    if buf[0] == 0x16 {
        return match buf.get(1) {
            None => None,
            Some(0x03) => Some(Sniffed::Tls),
            Some(_) => Some(Sniffed::Raw),
        };
    }
    if dst_port == 53 {
        return Some(Sniffed::Dns);
    }
    let mut maybe = false;
    for m in METHODS {
        let token = format!("{m} ");
        if buf.starts_with(token.as_bytes()) {
            return Some(Sniffed::Http);
        }
        if token.as_bytes().starts_with(buf) {
            maybe = true;
        }
    }
    if maybe {
        None
    } else {
        Some(Sniffed::Raw)
    }
}

/// Banner for protocols where the server speaks first.
fn banner(port: u16) -> Option<&'static [u8]> {
    match port {
        21 => Some(b"220 FTP server ready\r\n"),
        22 | 2222 => Some(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
        25 | 587 | 2525 => Some(b"220 mail.example ESMTP Postfix\r\n"),
        110 => Some(b"+OK POP3 server ready\r\n"),
        143 => Some(b"* OK IMAP4rev1 Service Ready\r\n"),
        _ => None,
    }
}

/// Sniffs and serves one stream (the TCP connection, or the inside of TLS or CONNECT).
async fn serve(
    io: BoxIo,
    prefix: Vec<u8>,
    ctx: &mut ConnCtx,
    shared: &Shared,
    protocol: &mut String,
    depth: u8,
) -> End {
    let mut wire = Wire::new(io, prefix, ctx, shared);
    let mut bannered = false;
    let kind = loop {
        if let Some(k) = classify(&wire.buf, ctx.dst.port()) {
            break k;
        }
        let wait = match (wire.buf.is_empty(), bannered, banner(ctx.dst.port())) {
            (true, false, Some(_)) => shared.limits.banner_wait,
            _ => shared.limits.idle_timeout,
        };
        match wire.fill(wait).await {
            Ok(0) if wire.buf.is_empty() => break Sniffed::Nothing(End::Closed),
            Ok(0) => break Sniffed::Raw,
            Ok(_) => {}
            Err(End::Timeout) if wire.buf.is_empty() && !bannered => match banner(ctx.dst.port()) {
                Some(b) => {
                    bannered = true;
                    if let Err(e) = wire.write(b).await {
                        break Sniffed::Nothing(e);
                    }
                }
                None => break Sniffed::Nothing(End::Timeout),
            },
            Err(End::Timeout) if !wire.buf.is_empty() => break Sniffed::Raw,
            Err(e) => break Sniffed::Nothing(e),
        }
    };
    match kind {
        Sniffed::Nothing(end) => end,
        Sniffed::Tls if depth == 0 => {
            *protocol = "tls".into();
            serve_tls(wire, ctx, shared, protocol).await
        }
        Sniffed::Http => {
            *protocol = if ctx.tls {
                "https".into()
            } else {
                "http".into()
            };
            serve_http(wire, ctx, shared, protocol, depth).await
        }
        Sniffed::Dns => {
            *protocol = "dns".into();
            serve_dns_tcp(wire, ctx, shared).await
        }
        Sniffed::Tls | Sniffed::Raw => {
            if protocol.as_str() == "empty" {
                *protocol = "raw".into();
            }
            serve_raw(wire, ctx, shared).await
        }
    }
}

fn serve_tls<'a>(
    wire: Wire,
    ctx: &'a mut ConnCtx,
    shared: &'a Shared,
    protocol: &'a mut String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = End> + Send + 'a>> {
    Box::pin(async move {
        let Some(ca) = shared.ca.as_ref() else {
            shared.log.stats.tls_failed.fetch_add(1, Ordering::Relaxed);
            shared.log.emit(EventKind::TlsHandshake {
                conn_id: ctx.id,
                sni: None,
                alpn: vec![],
                ok: false,
                error: Some("sink has no CA: TLS not terminated".into()),
            });
            return serve_raw(wire, ctx, shared).await;
        };
        let Wire { io, buf, .. } = wire;
        let rewound: BoxIo = Box::new(Rewind::new(buf, io));
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), rewound);
        let start = match tokio::time::timeout(shared.limits.idle_timeout, acceptor).await {
            Err(_) => return End::Timeout,
            Ok(Err(e)) => {
                record_tls_failure(shared, ctx, None, vec![], &e.to_string());
                return End::from_io(&e);
            }
            Ok(Ok(s)) => s,
        };
        let hello = start.client_hello();
        let sni = hello.server_name().map(str::to_string);
        let alpn: Vec<String> = hello
            .alpn()
            .map(|it| {
                it.map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        ctx.sni = sni.clone();
        let cert_name = sni
            .clone()
            .or_else(|| ctx.name.clone())
            .unwrap_or_else(|| ctx.dst.ip().to_string());
        let config = match ca.server_config(&cert_name) {
            Ok(c) => c,
            Err(e) => {
                record_tls_failure(shared, ctx, sni, alpn, &e.to_string());
                return End::Error(e.to_string());
            }
        };
        let stream =
            match tokio::time::timeout(shared.limits.idle_timeout, start.into_stream(config)).await
            {
                Err(_) => {
                    record_tls_failure(shared, ctx, sni, alpn, "handshake timed out");
                    return End::Timeout;
                }
                Ok(Err(e)) => {
                    record_tls_failure(shared, ctx, sni, alpn, &e.to_string());
                    return End::from_io(&e);
                }
                Ok(Ok(s)) => s,
            };
        shared.log.stats.tls_ok.fetch_add(1, Ordering::Relaxed);
        shared.log.emit(EventKind::TlsHandshake {
            conn_id: ctx.id,
            sni,
            alpn,
            ok: true,
            error: None,
        });
        ctx.tls = true;
        serve(Box::new(stream), Vec::new(), ctx, shared, protocol, 1).await
    })
}

fn record_tls_failure(
    shared: &Shared,
    ctx: &ConnCtx,
    sni: Option<String>,
    alpn: Vec<String>,
    error: &str,
) {
    shared.log.stats.tls_failed.fetch_add(1, Ordering::Relaxed);
    shared.log.emit(EventKind::TlsHandshake {
        conn_id: ctx.id,
        sni,
        alpn,
        ok: false,
        error: Some(error.to_string()),
    });
}

/// Records the bytes in `data` (already taken off the wire) as `net.data`, capturing
/// only what the cap allows: the connection's first [`Budgets::data_head`] bytes always
/// (as a head), the rest only while the record's bulk share allows (counted otherwise).
fn record_raw(shared: &Shared, ctx: &mut ConnCtx, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let keep = ctx.allow(data.len(), shared.limits.capture_cap);
    if keep == 0 {
        return;
    }
    let kept = &data[..keep];
    let head = kept.len().min(ctx.data_head_left);
    ctx.data_head_left -= head;
    let event = |part: &[u8], bytes: u64| EventKind::NetData {
        conn_id: ctx.id,
        dst_addr: ctx.dst.ip().to_string(),
        dst_port: ctx.dst.port(),
        hex: hex_of(part),
        printable: printable(part),
        bytes,
    };
    let rest = &kept[head..];
    // The event of the last part stands for the uncaptured bytes too.
    let uncaptured = (data.len() - keep) as u64;
    if head > 0 {
        let bytes = head as u64 + if rest.is_empty() { uncaptured } else { 0 };
        shared
            .log
            .emit_class(Class::Head, event(&kept[..head], bytes));
    }
    if !rest.is_empty() {
        let key = Key::new("net.data", ctx.dst.ip().to_string(), ctx.dst.port());
        if shared.log.bulk_ok(&key, rest.len() as u64) {
            shared
                .log
                .emit_class(Class::Bulk, event(rest, rest.len() as u64 + uncaptured));
        }
    }
}

async fn serve_raw(mut wire: Wire, ctx: &mut ConnCtx, shared: &Shared) -> End {
    let flush_size = 16 * 1024;
    let mut last_data = Instant::now();
    loop {
        // Coalesce bursts: wait briefly for more while something is pending.
        let wait = if wire.buf.is_empty() {
            shared.limits.idle_timeout
        } else {
            shared.limits.raw_flush
        };
        let r = wire.fill(wait).await;
        let pending_full = wire.buf.len() >= flush_size;
        match r {
            Ok(0) => {
                let data = wire.take(wire.buf.len());
                record_raw(shared, ctx, &data);
                return End::Closed;
            }
            Ok(_) => {
                last_data = Instant::now();
                if pending_full || ctx.capped {
                    let data = wire.take(wire.buf.len());
                    record_raw(shared, ctx, &data);
                }
            }
            Err(End::Timeout) if !wire.buf.is_empty() => {
                let data = wire.take(wire.buf.len());
                record_raw(shared, ctx, &data);
            }
            Err(End::Timeout) if last_data.elapsed() < shared.limits.idle_timeout => {}
            Err(e) => {
                let data = wire.take(wire.buf.len());
                record_raw(shared, ctx, &data);
                return e;
            }
        }
    }
}

async fn serve_dns_tcp(mut wire: Wire, ctx: &mut ConnCtx, shared: &Shared) -> End {
    loop {
        while wire.buf.len() >= 2 {
            let len = u16::from_be_bytes([wire.buf[0], wire.buf[1]]) as usize;
            if wire.buf.len() < 2 + len {
                break;
            }
            let msg = wire.take(2 + len);
            let ans = shared.dns.answer(&msg[2..]);
            for ev in ans.events {
                shared.log.stats.dns_queries.fetch_add(1, Ordering::Relaxed);
                shared.log.emit(ev);
            }
            match ans.response {
                Some(resp) => {
                    let mut framed = (resp.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&resp);
                    if let Err(e) = wire.write(&framed).await {
                        return e;
                    }
                }
                None => {
                    let rest = wire.take(wire.buf.len());
                    let mut all = msg;
                    all.extend_from_slice(&rest);
                    record_raw(shared, ctx, &all);
                    return serve_raw(wire, ctx, shared).await;
                }
            }
        }
        match wire.fill_idle().await {
            Ok(0) => {
                let rest = wire.take(wire.buf.len());
                record_raw(shared, ctx, &rest);
                return End::Closed;
            }
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

async fn dns_loop(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("dns recv: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let ans = shared.dns.answer(&buf[..n]);
        if ans.response.is_none() {
            shared.log.emit(EventKind::NetData {
                conn_id: shared.conn_id(),
                dst_addr: "?".into(),
                dst_port: 53,
                hex: hex_of(&buf[..n.min(4096)]),
                printable: printable(&buf[..n.min(4096)]),
                bytes: n as u64,
            });
        }
        for ev in ans.events {
            shared.log.stats.dns_queries.fetch_add(1, Ordering::Relaxed);
            shared.log.emit(ev);
        }
        if let Some(resp) = ans.response {
            if let Err(e) = sock.send_to(&resp, peer).await {
                tracing::warn!(%peer, "dns send: {e}");
            }
        }
    }
}

/// UDP flows remembered (bytes captured per source).
const MAX_UDP_FLOWS: usize = 16_384;

async fn udp_loop(sock: UdpSocket, shared: Arc<Shared>) {
    let local_port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut buf = vec![0u8; 65536];
    // Per source flow: conn id and bytes captured so far.
    let flows: Mutex<HashMap<SocketAddr, (u64, usize)>> = Mutex::new(HashMap::new());
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("udp recv: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        shared
            .log
            .stats
            .udp_datagrams
            .fetch_add(1, Ordering::Relaxed);
        let dst = origdst::udp_original_dst(peer, local_port);
        let (id, keep, in_head) = {
            let Ok(mut f) = flows.lock() else { continue };
            // A flood of source ports forgets old flows rather than growing without bound.
            if f.len() >= MAX_UDP_FLOWS && !f.contains_key(&peer) {
                f.clear();
            }
            let entry = f.entry(peer).or_insert_with(|| (shared.conn_id(), 0));
            let in_head = entry.1 < shared.limits.budgets.data_head;
            let keep = n.min(shared.limits.capture_cap.saturating_sub(entry.1));
            entry.1 += keep;
            (entry.0, keep, in_head)
        };
        if keep == 0 {
            continue;
        }
        let dst_addr = dst
            .map(|d| d.ip().to_string())
            .unwrap_or_else(|| "?".into());
        let dst_port = dst.map(|d| d.port()).unwrap_or(0);
        let class = if in_head {
            Class::Head
        } else if shared
            .log
            .bulk_ok(&Key::new("udp", dst_addr.clone(), dst_port), keep as u64)
        {
            Class::Bulk
        } else {
            continue;
        };
        shared.log.emit_class(
            class,
            EventKind::NetData {
                conn_id: id,
                dst_addr,
                dst_port,
                hex: hex_of(&buf[..keep]),
                printable: printable(&buf[..keep]),
                bytes: n as u64,
            },
        );
    }
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
