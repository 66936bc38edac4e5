//! The UDP listeners: DNS answered with fake addresses, and other datagrams recorded
//! per flow (bounded by [`MAX_UDP_FLOWS`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_events::EventKind;
use tokio::net::UdpSocket;

use crate::budget::{Class, Key};
use crate::io::{hex_of, printable};
use crate::origdst;

use super::*;

pub(super) async fn dns_loop(sock: UdpSocket, shared: Arc<Shared>) {
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
pub(super) const MAX_UDP_FLOWS: usize = 16_384;

pub(super) async fn udp_loop(sock: UdpSocket, shared: Arc<Shared>) {
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
