//! The sink's DNS: every name resolves (except a few that must not, see
//! [`BaitConfig::dns_nxdomain_suffixes`]) to a fake IPv4 address from 198.18.0.0/15
//! (RFC 2544 benchmarking space, never routed on the internet), stable per name for
//! the run. The [`NameMap`] remembers address → name so every later connection to that
//! address is attributed to the name the package looked up.
//!
//! Answers: A → fake address; AAAA → NODATA (NOERROR, no records), because IPv6 is
//! disabled in the sandbox and a v6 answer would only make clients fail or wait before
//! falling back to IPv4; TXT → `v=spf1 -all`; MX → `10 mail.<name>`; NS →
//! `ns1.<name>`; CNAME/SRV/others → NODATA (the name is canonical); PTR of a fake
//! address → its name; ANY → A. Each question becomes a `dns.query` event, so DNS
//! exfiltration through long or encoded labels is visible.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use airlock_events::EventKind;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, NS, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::bait::BaitConfig;

/// First fake address handed out.
pub const FAKE_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Number of addresses in 198.18.0.0/15.
const FAKE_SPAN: u32 = 1 << 17;
const TTL: u32 = 300;

/// True for addresses in 198.18.0.0/15.
pub fn is_fake(addr: Ipv4Addr) -> bool {
    u32::from(addr) & 0xfffe_0000 == u32::from(Ipv4Addr::new(198, 18, 0, 0))
}

#[derive(Default)]
struct Maps {
    by_name: HashMap<String, Ipv4Addr>,
    by_addr: HashMap<IpAddr, String>,
    next: u32,
}

/// Name ↔ fake address, shared by the DNS server and the TCP side.
#[derive(Clone, Default)]
pub struct NameMap {
    inner: Arc<Mutex<Maps>>,
}

/// Lower-case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl NameMap {
    pub fn new() -> NameMap {
        NameMap::default()
    }

    /// The address for `name`, allocating the next free fake address the first time.
    /// `None` when the range is exhausted.
    pub fn resolve(&self, name: &str) -> Option<Ipv4Addr> {
        let name = normalize(name);
        let mut m = self.inner.lock().ok()?;
        if let Some(a) = m.by_name.get(&name).copied() {
            // Pinned names (metadata, localhost) are attributed once actually resolved;
            // the latest name resolved to an address wins.
            m.by_addr.insert(IpAddr::V4(a), name);
            return Some(a);
        }
        let addr = loop {
            if m.next >= FAKE_SPAN - 2 {
                return None;
            }
            let candidate = Ipv4Addr::from(u32::from(FAKE_BASE) + m.next);
            m.next += 1;
            // Skip .0 and .255 host parts, which some clients treat as special.
            let last = candidate.octets()[3];
            if last != 0 && last != 255 {
                break candidate;
            }
        };
        m.by_name.insert(name.clone(), addr);
        m.by_addr.insert(IpAddr::V4(addr), name);
        Some(addr)
    }

    /// Fixes the answer for `name` (e.g. `metadata.google.internal` → 169.254.169.254).
    /// Connections to `addr` are attributed to `name` only once it has been resolved.
    pub fn pin(&self, name: &str, addr: Ipv4Addr) {
        if let Ok(mut m) = self.inner.lock() {
            m.by_name.insert(normalize(name), addr);
        }
    }

    /// The name a connection to `addr` is attributed to.
    pub fn name_of(&self, addr: IpAddr) -> Option<String> {
        self.inner.lock().ok()?.by_addr.get(&addr).cloned()
    }
}

/// Answers DNS datagrams and describes each question as an event.
#[derive(Clone)]
pub struct DnsResponder {
    map: NameMap,
    nxdomain_suffixes: Vec<String>,
}

/// What one datagram produced.
pub struct DnsAnswer {
    /// The wire response; `None` when the datagram was not a DNS query at all.
    pub response: Option<Vec<u8>>,
    pub events: Vec<EventKind>,
}

impl DnsResponder {
    pub fn new(map: NameMap, bait: &BaitConfig) -> DnsResponder {
        map.pin(
            "metadata.google.internal",
            Ipv4Addr::new(169, 254, 169, 254),
        );
        map.pin("metadata", Ipv4Addr::new(169, 254, 169, 254));
        map.pin("localhost", Ipv4Addr::LOCALHOST);
        DnsResponder {
            map,
            nxdomain_suffixes: bait
                .dns_nxdomain_suffixes
                .iter()
                .map(|s| normalize(s))
                .collect(),
        }
    }

    pub fn map(&self) -> &NameMap {
        &self.map
    }

    fn nxdomain(&self, name: &str) -> bool {
        // Single-label names (`wpad`, search-domain probes) do not exist either.
        !name.contains('.')
            || self
                .nxdomain_suffixes
                .iter()
                .any(|s| name.ends_with(s.as_str()) || name == s.trim_start_matches('.'))
    }

    /// Answers one datagram.
    pub fn answer(&self, packet: &[u8]) -> DnsAnswer {
        let request = match Message::from_vec(packet) {
            Ok(m) if m.message_type() == MessageType::Query => m,
            Ok(_) => {
                return DnsAnswer {
                    response: None,
                    events: vec![],
                }
            }
            Err(e) => {
                tracing::debug!("undecodable dns datagram: {e}");
                return DnsAnswer {
                    response: None,
                    events: vec![],
                };
            }
        };
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_recursion_desired(request.recursion_desired())
            .set_recursion_available(true);
        let mut events = Vec::new();
        if request.op_code() != OpCode::Query {
            response.set_response_code(ResponseCode::NotImp);
            return DnsAnswer {
                response: response.to_vec().ok(),
                events,
            };
        }
        let mut rcode = ResponseCode::NoError;
        for q in request.queries() {
            response.add_query(q.clone());
            let (records, code) = self.answer_one(q);
            if code != ResponseCode::NoError {
                rcode = code;
            }
            events.push(EventKind::DnsQuery {
                name: normalize(&q.name().to_utf8()),
                qtype: q.query_type().to_string(),
                answers: records.iter().map(|r| r.data().to_string()).collect(),
                rcode: Some(code.to_str().to_string()),
            });
            for r in records {
                response.add_answer(r);
            }
        }
        response.set_response_code(rcode);
        DnsAnswer {
            response: response.to_vec().ok(),
            events,
        }
    }

    fn answer_one(&self, q: &Query) -> (Vec<Record>, ResponseCode) {
        let owner = q.name().clone();
        let name = normalize(&owner.to_utf8());
        if q.query_type() == RecordType::PTR {
            return match ptr_addr(&name).and_then(|a| self.map.name_of(a)) {
                Some(target) => match Name::from_str(&format!("{target}.")) {
                    Ok(n) => (
                        vec![Record::from_rdata(owner, TTL, RData::PTR(PTR(n)))],
                        ResponseCode::NoError,
                    ),
                    Err(_) => (vec![], ResponseCode::NXDomain),
                },
                None => (vec![], ResponseCode::NXDomain),
            };
        }
        if self.nxdomain(&name) {
            return (vec![], ResponseCode::NXDomain);
        }
        let sub = |prefix: &str| Name::from_str(&format!("{prefix}.{name}.")).ok();
        match q.query_type() {
            RecordType::A | RecordType::ANY => match self.map.resolve(&name) {
                Some(addr) => (
                    vec![Record::from_rdata(owner, TTL, RData::A(A(addr)))],
                    ResponseCode::NoError,
                ),
                None => (vec![], ResponseCode::ServFail),
            },
            RecordType::TXT => (
                vec![Record::from_rdata(
                    owner,
                    TTL,
                    RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
                )],
                ResponseCode::NoError,
            ),
            RecordType::MX => match sub("mail") {
                Some(n) => (
                    vec![Record::from_rdata(owner, TTL, RData::MX(MX::new(10, n)))],
                    ResponseCode::NoError,
                ),
                None => (vec![], ResponseCode::NoError),
            },
            RecordType::NS => match sub("ns1") {
                Some(n) => (
                    vec![Record::from_rdata(owner, TTL, RData::NS(NS(n)))],
                    ResponseCode::NoError,
                ),
                None => (vec![], ResponseCode::NoError),
            },
            _ => (vec![], ResponseCode::NoError),
        }
    }
}

/// `4.3.2.1.in-addr.arpa` → 1.2.3.4.
fn ptr_addr(name: &str) -> Option<IpAddr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut parts: Vec<&str> = rest.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts.reverse();
    Ipv4Addr::from_str(&parts.join(".")).ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x1234)
            .set_message_type(MessageType::Query)
            .set_recursion_desired(true);
        m.add_query(Query::query(Name::from_str(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn responder() -> DnsResponder {
        DnsResponder::new(NameMap::new(), &BaitConfig::default())
    }

    #[test]
    fn map_is_stable_and_attributes_addresses() {
        let map = NameMap::new();
        let a = map.resolve("Evil.Example.").unwrap();
        let b = map.resolve("other.example").unwrap();
        assert!(is_fake(a) && is_fake(b));
        assert_ne!(a, b);
        assert_eq!(map.resolve("evil.example"), Some(a));
        assert_eq!(map.name_of(IpAddr::V4(a)).as_deref(), Some("evil.example"));
        assert_eq!(map.name_of(IpAddr::V4(b)).as_deref(), Some("other.example"));
        assert_eq!(map.name_of(IpAddr::V4(Ipv4Addr::new(198, 18, 9, 9))), None);
        let md = Ipv4Addr::new(169, 254, 169, 254);
        map.pin("metadata.google.internal", md);
        assert_eq!(
            map.name_of(IpAddr::V4(md)),
            None,
            "not attributed before resolution"
        );
        assert_eq!(map.resolve("metadata.google.internal."), Some(md));
        assert_eq!(
            map.name_of(IpAddr::V4(md)).as_deref(),
            Some("metadata.google.internal")
        );
    }

    #[test]
    fn allocation_skips_network_and_broadcast_host_parts() {
        let map = NameMap::new();
        for i in 0..600 {
            let a = map.resolve(&format!("n{i}.example")).unwrap();
            assert!(is_fake(a));
            assert!(a.octets()[3] != 0 && a.octets()[3] != 255, "{a}");
        }
        assert!(!is_fake(Ipv4Addr::new(198, 20, 0, 1)));
        assert!(is_fake(Ipv4Addr::new(198, 19, 255, 254)));
    }

    #[test]
    fn a_query_answers_fake_address_and_records_it() {
        let r = responder();
        let ans = r.answer(&query("abcdef0123.attacker.example.", RecordType::A));
        let msg = Message::from_vec(&ans.response.unwrap()).unwrap();
        assert_eq!(msg.id(), 0x1234);
        assert_eq!(msg.response_code(), ResponseCode::NoError);
        let RData::A(A(addr)) = msg.answers()[0].data() else {
            panic!("not A")
        };
        assert!(is_fake(*addr));
        match &ans.events[0] {
            EventKind::DnsQuery {
                name,
                qtype,
                answers,
                rcode,
            } => {
                assert_eq!(name, "abcdef0123.attacker.example");
                assert_eq!(qtype, "A");
                assert_eq!(answers, &vec![addr.to_string()]);
                assert_eq!(rcode.as_deref(), Some("No Error"));
            }
            e => panic!("{e:?}"),
        }
        // PTR of that address names it back.
        let o = addr.octets();
        let ptr = format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0]);
        let msg =
            Message::from_vec(&r.answer(&query(&ptr, RecordType::PTR)).response.unwrap()).unwrap();
        assert_eq!(
            msg.answers()[0].data().to_string(),
            "abcdef0123.attacker.example."
        );
    }

    #[test]
    fn aaaa_is_nodata_and_nxdomain_suffixes_hold() {
        let r = responder();
        let msg = Message::from_vec(
            &r.answer(&query("x.example.", RecordType::AAAA))
                .response
                .unwrap(),
        )
        .unwrap();
        assert_eq!(msg.response_code(), ResponseCode::NoError);
        assert!(msg.answers().is_empty());
        for n in ["printer.local.", "wpad.", "x.invalid."] {
            let ans = r.answer(&query(n, RecordType::A));
            let msg = Message::from_vec(&ans.response.unwrap()).unwrap();
            assert_eq!(msg.response_code(), ResponseCode::NXDomain, "{n}");
        }
    }

    #[test]
    fn garbage_is_not_answered() {
        let r = responder();
        let ans = r.answer(b"\x00\x01hello");
        assert!(ans.response.is_none());
        assert!(ans.events.is_empty());
    }
}
