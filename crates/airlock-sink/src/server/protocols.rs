//! What a connection speaks and how it is served: sniffing TLS, HTTP, DNS over TCP or
//! raw bytes from the first bytes; banners for silent-client ports; TLS terminated with
//! the run's CA; raw captures recorded up to the cap.

use std::sync::atomic::Ordering;
use std::time::Instant;

use airlock_events::EventKind;
use tokio_rustls::LazyConfigAcceptor;

use crate::budget::{Class, Key};
use crate::io::{hex_of, printable, BoxIo, Rewind};

use super::*;

pub(super) const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PROPFIND",
];

pub(super) enum Sniffed {
    Tls,
    Http,
    Dns,
    Raw,
    /// Client sent nothing before closing or timing out.
    Nothing(End),
}

pub(super) fn classify(buf: &[u8], dst_port: u16) -> Option<Sniffed> {
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
pub(super) fn banner(port: u16) -> Option<&'static [u8]> {
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
pub(super) async fn serve(
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

pub(super) fn serve_tls<'a>(
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

pub(super) fn record_tls_failure(
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
pub(super) fn record_raw(shared: &Shared, ctx: &mut ConnCtx, data: &[u8]) {
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

pub(super) async fn serve_raw(mut wire: Wire, ctx: &mut ConnCtx, shared: &Shared) -> End {
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

pub(super) async fn serve_dns_tcp(mut wire: Wire, ctx: &mut ConnCtx, shared: &Shared) -> End {
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
