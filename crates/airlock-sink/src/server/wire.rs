//! [`Wire`]: one connection's byte stream, read in bounded chunks with the sink's
//! timeouts, its totals counted, and drained briefly when the connection is told to stop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::io::{BoxIo, Counters};
use crate::pressure::Slot;

use super::*;

/// Bytes asked of the socket per read: what an idle connection holds.
pub(super) const READ_CHUNK: usize = 16 * 1024;
/// What a connection told to stop may still read of what already arrived, and how long
/// it waits for it.
pub(super) const DRAIN_BYTES: usize = 16 * 1024;
pub(super) const DRAIN_WAIT: Duration = Duration::from_millis(50);

/// A buffered reader over a boxed stream with the sink's timeouts and limits.
pub(super) struct Wire {
    pub(super) io: BoxIo,
    pub(super) buf: Vec<u8>,
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
    pub(super) fn new(io: BoxIo, prefix: Vec<u8>, ctx: &ConnCtx, shared: &Shared) -> Wire {
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
    pub(super) async fn fill(&mut self, wait: Duration) -> Result<usize, End> {
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

    pub(super) async fn read_some(&mut self, wait: Duration, max: usize) -> Result<usize, End> {
        Self::read_into(&mut self.io, &mut self.buf, wait, max).await
    }

    /// One read of at most `max` bytes into the buffer's spare room (no per-read
    /// allocation held while idle; a buffer grown by a big head is given back once
    /// drained).
    pub(super) async fn read_into(
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

    pub(super) async fn fill_idle(&mut self) -> Result<usize, End> {
        self.fill(self.idle).await
    }

    pub(super) fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    pub(super) async fn write(&mut self, data: &[u8]) -> Result<(), End> {
        self.io
            .write_all(data)
            .await
            .map_err(|e| End::from_io(&e))?;
        self.io.flush().await.map_err(|e| End::from_io(&e))
    }
}
