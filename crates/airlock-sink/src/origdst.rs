//! Recovering where a redirected connection was really going. TCP: the kernel's
//! `SO_ORIGINAL_DST` socket option (through `nix`, so no `unsafe` here); when it fails
//! (no NAT happened, e.g. in tests on loopback) the socket's local address is the
//! destination. UDP has no such option, so for datagrams we look the flow up in the
//! namespace's `/proc/net/nf_conntrack` (best effort; `None` when unavailable).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;

use nix::sys::socket::{getsockopt, sockopt};

/// Original destination of an accepted TCP connection, or `fallback` (its local address).
pub fn tcp_original_dst<F: AsFd>(sock: &F, fallback: SocketAddr) -> SocketAddr {
    if let Ok(sin) = getsockopt(sock, sockopt::OriginalDst) {
        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        return SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port));
    }
    if let Ok(sin6) = getsockopt(sock, sockopt::Ip6tOriginalDst) {
        let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
        return SocketAddr::new(IpAddr::V6(ip), u16::from_be(sin6.sin6_port));
    }
    fallback
}

/// Finds, in `/proc/net/nf_conntrack` text, the original destination of the UDP flow
/// from `peer` that was redirected to `local_port`.
pub fn udp_original_dst_in(
    conntrack: &str,
    peer: SocketAddr,
    local_port: u16,
) -> Option<SocketAddr> {
    let peer_ip = peer.ip().to_string();
    let peer_port = peer.port().to_string();
    let local_port = local_port.to_string();
    for line in conntrack.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !fields.contains(&"udp") {
            continue;
        }
        let values = |key: &str| -> Vec<&str> {
            fields.iter().filter_map(|f| f.strip_prefix(key)).collect()
        };
        let (src, dst, sport, dport) = (
            values("src="),
            values("dst="),
            values("sport="),
            values("dport="),
        );
        // Two tuples: original (src, dst, sport, dport) then reply.
        if src.len() < 2 || dst.len() < 2 || sport.len() < 2 || dport.len() < 2 {
            continue;
        }
        if src[0] == peer_ip && sport[0] == peer_port && sport[1] == local_port {
            let ip: IpAddr = dst[0].parse().ok()?;
            let port: u16 = dport[0].parse().ok()?;
            return Some(SocketAddr::new(ip, port));
        }
    }
    None
}

/// [`udp_original_dst_in`] over the live conntrack table of this namespace.
pub fn udp_original_dst(peer: SocketAddr, local_port: u16) -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/proc/net/nf_conntrack").ok()?;
    udp_original_dst_in(&text, peer, local_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_line_gives_the_original_destination() {
        let table = "\
ipv4     2 tcp      6 117 TIME_WAIT src=127.0.0.1 dst=1.2.3.4 sport=5555 dport=80 src=127.0.0.1 dst=127.0.0.1 sport=17080 dport=5555 [ASSURED] mark=0 zone=0 use=2
ipv4     2 udp      17 29 src=127.0.0.1 dst=10.9.8.7 sport=40000 dport=123 src=127.0.0.1 dst=127.0.0.1 sport=17054 dport=40000 mark=0 zone=0 use=2
";
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(
            udp_original_dst_in(table, peer, 17054),
            Some("10.9.8.7:123".parse().unwrap())
        );
        assert_eq!(udp_original_dst_in(table, peer, 17055), None);
        let other: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(
            udp_original_dst_in(table, other, 17080),
            None,
            "tcp lines are ignored"
        );
    }

    #[test]
    fn tcp_falls_back_to_the_local_address_without_nat() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let local = server.local_addr().unwrap();
        // Without a NAT entry the kernel either reports the real tuple or fails; both
        // must give the address we connected to.
        assert_eq!(tcp_original_dst(&server, local), addr);
    }
}
