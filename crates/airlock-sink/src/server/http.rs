//! HTTP/1.1 on a sniffed stream: request heads, Content-Length and chunked bodies
//! (captured within the connection's cap and the shared capture memory), gzip and
//! deflate decoding, the request recorded (its head and the first bytes of its body
//! always, the rest as the record budget allows), the answer written, keep-alive and
//! CONNECT tunnels. Split from [`super`], whose connection plumbing it uses.

use super::*;

const MAX_HEAD: usize = 64 * 1024;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Head {
    method: String,
    target: String,
    minor: u8,
    headers: Headers,
    len: usize,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    for size in [64usize, 512] {
        let mut storage = vec![httparse::EMPTY_HEADER; size];
        let mut req = httparse::Request::new(&mut storage);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                return Ok(Some(Head {
                    method: req.method.unwrap_or("").to_string(),
                    target: req.path.unwrap_or("/").to_string(),
                    minor: req.version.unwrap_or(1),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    len,
                }))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("too many headers".into())
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The body as the client framed it: bytes kept (≤ cap) and the total length. The first
/// `free` bytes are kept whatever happens (bounded by the open connections); more only
/// with room in the shared capture memory, so a flood of big bodies cannot crowd out a
/// small one.
struct Body<'a> {
    kept: Vec<u8>,
    total: u64,
    free: usize,
    memory: Reservation<'a>,
    /// Bytes were dropped because the capture memory was short.
    short: bool,
}

impl<'a> Body<'a> {
    fn new(free: usize, pool: &'a MemPool) -> Body<'a> {
        Body {
            kept: Vec::new(),
            total: 0,
            free,
            memory: Reservation::new(pool),
            short: false,
        }
    }

    /// Adds bytes read off the wire, keeping what the connection's cap and the capture
    /// memory allow.
    fn push(&mut self, data: &[u8], ctx: &mut ConnCtx, cap: usize) {
        self.total += data.len() as u64;
        let mut keep = ctx.allow(data.len(), cap);
        let free = self.free.saturating_sub(self.kept.len()).min(keep);
        if keep > free && !self.short {
            if !self.memory.grow((keep - free) as u64) {
                self.short = true;
                keep = free;
            }
        } else if self.short {
            keep = free;
        }
        self.kept.extend_from_slice(&data[..keep]);
    }
}

async fn read_fixed(
    wire: &mut Wire,
    mut n: u64,
    out: &mut Body<'_>,
    ctx: &mut ConnCtx,
    cap: usize,
) -> Result<(), End> {
    while n > 0 {
        if wire.buf.is_empty() && wire.fill_idle().await? == 0 {
            return Err(End::Closed);
        }
        let take = (wire.buf.len() as u64).min(n) as usize;
        let data = wire.take(take);
        out.push(&data, ctx, cap);
        n -= take as u64;
    }
    Ok(())
}

async fn read_line(wire: &mut Wire) -> Result<String, End> {
    loop {
        if let Some(pos) = find(&wire.buf, b"\r\n") {
            let line = wire.take(pos + 2);
            return Ok(String::from_utf8_lossy(&line[..pos]).into_owned());
        }
        if wire.buf.len() > MAX_HEAD {
            return Err(End::Error("chunk header too long".into()));
        }
        if wire.fill_idle().await? == 0 {
            return Err(End::Closed);
        }
    }
}

async fn read_chunked(
    wire: &mut Wire,
    out: &mut Body<'_>,
    ctx: &mut ConnCtx,
    cap: usize,
) -> Result<(), End> {
    loop {
        let line = read_line(wire).await?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| End::Error(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                if read_line(wire).await?.is_empty() {
                    return Ok(());
                }
            }
        }
        read_fixed(wire, size, out, ctx, cap).await?;
        read_line(wire).await?;
    }
}

/// Decodes gzip / deflate (zlib or raw), at most `limit` bytes out; a truncated or
/// corrupt stream yields what decoded before the error.
pub(super) fn decode_body(encoding: &str, data: &[u8], limit: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let enc = encoding.trim().to_ascii_lowercase();
    let read_all = |mut r: Box<dyn Read + '_>| -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        while out.len() < limit {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n.min(limit - out.len())]),
            }
        }
        out
    };
    match enc.as_str() {
        "gzip" | "x-gzip" => Some(read_all(Box::new(flate2::read::MultiGzDecoder::new(data)))),
        "deflate" => {
            let z = read_all(Box::new(flate2::read::ZlibDecoder::new(data)));
            if z.is_empty() && !data.is_empty() {
                Some(read_all(Box::new(flate2::read::DeflateDecoder::new(data))))
            } else {
                Some(z)
            }
        }
        _ => None,
    }
}

/// The body text an `http.request` records: all of it when it fits in the head or the
/// record's body share takes it (see [`crate::budget::RecordBudget::body_verdict`]),
/// else its first `head` bytes (whole characters when it is text).
fn recorded_body(log: &EventLog, decoded: Vec<u8>, head: usize) -> String {
    if decoded.len() <= head {
        return body_text(&decoded);
    }
    let hash = log.hash_body(&decoded);
    // Text is recorded as is, anything else as base64 (4/3).
    let extra = (decoded.len() - head) as u64 * 4 / 3;
    match log.body_verdict(hash, extra) {
        BodyVerdict::Keep => body_text(&decoded),
        BodyVerdict::Duplicate | BodyVerdict::OverBudget => {
            let mut cut = head;
            if std::str::from_utf8(&decoded).is_ok() {
                while cut > 0 && (decoded[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
            }
            body_text(&decoded[..cut])
        }
    }
}

/// Text as is; anything else `base64:`-prefixed.
pub(super) fn body_text(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) if !s.contains('\0') => s.to_string(),
        _ => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(data)
        ),
    }
}

pub(super) fn serve_http<'a>(
    mut wire: Wire,
    ctx: &'a mut ConnCtx,
    shared: &'a Shared,
    protocol: &'a mut String,
    depth: u8,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = End> + Send + 'a>> {
    Box::pin(async move {
        let cap = shared.limits.capture_cap;
        loop {
            // Head.
            let head = loop {
                match parse_head(&wire.buf) {
                    Ok(Some(h)) => break h,
                    Ok(None) if wire.buf.len() > MAX_HEAD => {
                        return serve_raw(wire, ctx, shared).await;
                    }
                    Ok(None) => match wire.fill_idle().await {
                        Ok(0) => {
                            let rest = wire.take(wire.buf.len());
                            record_raw(shared, ctx, &rest);
                            return End::Closed;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let rest = wire.take(wire.buf.len());
                            record_raw(shared, ctx, &rest);
                            return e;
                        }
                    },
                    Err(_) => return serve_raw(wire, ctx, shared).await,
                }
            };
            let head_bytes = wire.take(head.len);
            ctx.allow(head_bytes.len(), cap);
            let headers = head.headers;
            // Body.
            if header(&headers, "Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                if let Err(e) = wire.write(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                    return e;
                }
            }
            let mut body = Body::new(shared.limits.capture_free, &shared.pool);
            let chunked = header(&headers, "Transfer-Encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            let framing = if chunked {
                read_chunked(&mut wire, &mut body, ctx, cap).await
            } else if let Some(len) =
                header(&headers, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok())
            {
                read_fixed(&mut wire, len, &mut body, ctx, cap).await
            } else {
                Ok(())
            };
            let body_total = body.total;
            let decoded = match header(&headers, "Content-Encoding")
                .and_then(|enc| decode_body(enc, &body.kept, cap))
            {
                Some(d) => d,
                None => std::mem::take(&mut body.kept),
            };
            // Where the client meant to go.
            let host_header = header(&headers, "Host").map(str::to_string);
            let host_only = host_header
                .as_deref()
                .map(strip_port)
                .or(ctx.sni.clone())
                .or(ctx.name.clone())
                .unwrap_or_else(|| ctx.dst.ip().to_string())
                .to_ascii_lowercase();
            let scheme = if ctx.tls { "https" } else { "http" };
            let default_port = if ctx.tls { 443 } else { 80 };
            let authority = host_header.clone().unwrap_or_else(|| {
                if ctx.dst.port() == default_port {
                    host_only.clone()
                } else {
                    format!("{host_only}:{}", ctx.dst.port())
                }
            });
            let (url, path) =
                if head.target.starts_with("http://") || head.target.starts_with("https://") {
                    let after = head.target.split_once("://").map(|(_, r)| r).unwrap_or("");
                    let path = after
                        .find('/')
                        .map(|i| after[i..].to_string())
                        .unwrap_or_else(|| "/".into());
                    (head.target.clone(), path)
                } else if head.method == "CONNECT" {
                    (format!("{scheme}://{}", head.target), head.target.clone())
                } else {
                    (
                        format!("{scheme}://{authority}{}", head.target),
                        head.target.clone(),
                    )
                };
            let response = if head.method == "CONNECT" {
                None
            } else {
                let view = RequestView {
                    method: &head.method,
                    host: &host_only,
                    path: &path,
                    headers: &headers,
                    body: &decoded,
                    dst: ctx.dst,
                    tls: ctx.tls,
                };
                Some(shared.responder.respond(&view))
            };
            let status = response.as_ref().map(|r| r.status).unwrap_or(200);
            shared
                .log
                .stats
                .http_requests
                .fetch_add(1, Ordering::Relaxed);
            if body.short {
                shared
                    .log
                    .stats
                    .bodies_cut_memory
                    .fetch_add(1, Ordering::Relaxed);
            }
            let body_text = recorded_body(&shared.log, decoded, shared.limits.budgets.body_head);
            // Captured bytes go back to the pool before anything waits on the client.
            drop(body);
            shared.log.emit(EventKind::HttpRequest {
                conn_id: ctx.id,
                method: head.method.clone(),
                url,
                host: host_only.clone(),
                path: path.clone(),
                headers: headers.clone(),
                body: body_text,
                body_bytes: body_total,
                tls: ctx.tls,
                response_status: status,
            });
            if let Err(e) = framing {
                return e;
            }
            let Some(response) = response else {
                // CONNECT: tunnel, then serve whatever comes inside as a new stream.
                if let Err(e) = wire
                    .write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                {
                    return e;
                }
                if depth > 0 || ctx.tls {
                    return serve_raw(wire, ctx, shared).await;
                }
                ctx.name = Some(strip_port(&head.target).to_ascii_lowercase());
                if let Some(port) = head
                    .target
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse().ok())
                {
                    ctx.dst = SocketAddr::new(ctx.dst.ip(), port);
                }
                let rest = std::mem::take(&mut wire.buf);
                *protocol = "empty".into();
                return serve(wire.io, rest, ctx, shared, protocol, 0).await;
            };
            let keep_alive = match header(&headers, "Connection").map(|v| v.to_ascii_lowercase()) {
                Some(v) if v.contains("close") => false,
                Some(v) if v.contains("keep-alive") => true,
                _ => head.minor >= 1,
            };
            let mut out = format!(
                "HTTP/1.1 {} {}\r\nServer: nginx\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
                response.status,
                respond::reason(response.status),
                response.content_type,
                if head.method == "HEAD" { 0 } else { response.body.len() },
                if keep_alive { "keep-alive" } else { "close" },
            );
            for (k, v) in &response.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            if head.method != "HEAD" {
                bytes.extend_from_slice(&response.body);
            }
            if let Err(e) = wire.write(&bytes).await {
                return e;
            }
            if !keep_alive {
                let _ = wire.io.shutdown().await;
                return End::Closed;
            }
        }
    })
}

pub(super) fn strip_port(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h.to_string(),
        _ => host.to_string(),
    }
}
