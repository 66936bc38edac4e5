//! Proof of theft: finds planted canary values in what the sink captured (HTTP URLs,
//! headers and bodies, DNS names, raw TCP bytes, TLS SNI) and in files the package
//! wrote, through the encodings stealers use, and turns each find into a
//! `canary.leaked` event.
//!
//! How: every canary is expanded once into its encoded forms (plain, hex, URL-encoded,
//! JSON-escaped, reversed, and standard and URL-safe base64 at each of the three byte
//! alignments a substring of a larger base64 stream can have, without the edge
//! characters that depend on neighbouring bytes). One Aho-Corasick automaton finds all
//! of them in a single pass. Then candidate blobs are decoded — base64/base32/hex runs,
//! percent- and JSON-escapes, gzip/zlib/raw deflate/zip members, and the reversed
//! bytes — and rescanned, up to [`Limits::max_depth`] layers and within a byte and blob
//! budget per carrier, so `base64(gzip(json))` or URL-encoded base64 are found and
//! named as such. DNS queries to one parent domain are also concatenated (labels left of
//! the registrable domain, in order) because stealers split data over many lookups.

use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, MatchKind};
use airlock_events::{Canary, Event, EventKind, Source};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

mod decode;

use decode::*;

/// Canary values shorter than this are not searched: short strings match by chance.
pub const MIN_CANARY_LEN: usize = 20;

/// Bounds on the work spent on one carrier (one event or one file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Decoding layers below the carrier's own bytes (`base64(gzip(x))` is two).
    pub max_depth: usize,
    /// Bytes scanned in all, over the carrier and everything decoded from it.
    pub max_bytes: usize,
    /// Distinct blobs scanned.
    pub max_blobs: usize,
    /// Output cap of one decompression.
    pub max_inflated: usize,
    /// Shortest base64/base32 run worth decoding.
    pub min_base64_run: usize,
    /// Shortest hex run worth decoding.
    pub min_hex_run: usize,
    /// DNS queries to one parent domain that are concatenated.
    pub max_dns_group: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 3,
            max_bytes: 64 << 20,
            max_blobs: 20_000,
            max_inflated: 16 << 20,
            min_base64_run: 16,
            min_hex_run: 32,
            max_dns_group: 2048,
        }
    }
}

/// One encoding step, named as it appears in `encoding` (`base64(gzip)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Base64,
    Base64Url,
    Base32,
    Hex,
    Url,
    Json,
    Reversed,
    Gzip,
    Zlib,
    Deflate,
    Zip,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Base64 => "base64",
            Layer::Base64Url => "base64url",
            Layer::Base32 => "base32",
            Layer::Hex => "hex",
            Layer::Url => "url",
            Layer::Json => "json",
            Layer::Reversed => "reversed",
            Layer::Gzip => "gzip",
            Layer::Zlib => "zlib",
            Layer::Deflate => "deflate",
            Layer::Zip => "zip",
        }
    }
}

/// Layers outermost first → `plain`, `base64`, `base64(gzip)`, `url(base64(gzip))`.
fn encoding_name(layers: &[Layer]) -> String {
    match layers.split_first() {
        None => "plain".to_string(),
        Some((l, [])) => l.name().to_string(),
        Some((l, rest)) => format!("{}({})", l.name(), encoding_name(rest)),
    }
}

/// Searches captured bytes for a run's canaries. Build once per run (it precomputes an
/// automaton over every encoded form), then feed it events and files.
pub struct LeakSearcher {
    canaries: Vec<Canary>,
    /// Per pattern: the canary index and the encoding the pattern is (None = plain).
    patterns: Vec<(usize, Option<Layer>)>,
    pattern_bytes: Vec<Vec<u8>>,
    ac: Option<AhoCorasick>,
    ignored: Vec<String>,
    min_blob: usize,
    plus_is_space: bool,
    limits: Limits,
}

impl std::fmt::Debug for LeakSearcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakSearcher")
            .field("canaries", &self.canaries.len())
            .field("patterns", &self.patterns.len())
            .field("ignored", &self.ignored)
            .finish()
    }
}

impl LeakSearcher {
    /// A searcher for these canaries with default [`Limits`]. Canaries shorter than
    /// [`MIN_CANARY_LEN`] are ignored (see [`LeakSearcher::ignored`]).
    pub fn new(canaries: &[Canary]) -> Self {
        Self::with_limits(canaries, Limits::default())
    }

    pub fn with_limits(canaries: &[Canary], limits: Limits) -> Self {
        let mut kept = Vec::new();
        let mut ignored = Vec::new();
        for c in canaries {
            if c.value.len() >= MIN_CANARY_LEN {
                kept.push(c.clone());
            } else {
                ignored.push(c.id.clone());
            }
        }
        let mut seen: HashMap<Vec<u8>, ()> = HashMap::new();
        let mut patterns = Vec::new();
        let mut pattern_bytes = Vec::new();
        for (i, c) in kept.iter().enumerate() {
            for (variant, bytes) in variants(c.value.as_bytes()) {
                if bytes.len() < 16 || seen.insert(bytes.clone(), ()).is_some() {
                    continue;
                }
                patterns.push((i, variant));
                pattern_bytes.push(bytes);
            }
        }
        let ac = if pattern_bytes.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&pattern_bytes)
                .ok()
        };
        let min_blob = pattern_bytes
            .iter()
            .map(Vec::len)
            .min()
            .unwrap_or(16)
            .min(16);
        let plus_is_space = kept.iter().any(|c| c.value.contains(' '));
        LeakSearcher {
            canaries: kept,
            patterns,
            pattern_bytes,
            ac,
            ignored,
            min_blob,
            plus_is_space,
            limits,
        }
    }

    /// Ids of canaries too short to search.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Number of encoded forms searched for.
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Searches one sink event (`http.request`, `dns.query`, `net.data`,
    /// `tls.handshake`); other events give nothing. DNS data split over several queries
    /// is only found by [`LeakSearcher::scan_events`].
    pub fn scan_event(&self, ev: &Event) -> Vec<Event> {
        match self.event_hits(ev) {
            Some((dest, hits)) => self.leak_events(ev, ev.seq, &dest, hits),
            None => Vec::new(),
        }
    }

    /// Searches a sequence of events: each as [`LeakSearcher::scan_event`] does, plus
    /// the concatenated labels of the DNS queries to each parent domain. A canary found
    /// only across queries is reported once for that domain (`dns:<parent>`), carried by
    /// the first of its queries.
    pub fn scan_events<'a, I: IntoIterator<Item = &'a Event>>(&self, events: I) -> Vec<Event> {
        self.scan_with(events, |_, ev| ev.seq)
    }

    /// [`LeakSearcher::scan_events`] over a slice whose events are not numbered yet (each
    /// producer numbered its own): a leak's `carrier_seq` is its carrier's index in
    /// `events`, for the caller to map when it puts the trace in its final order.
    pub fn scan_positions(&self, events: &[Event]) -> Vec<Event> {
        self.scan_with(events, |i, _| i as u64)
    }

    /// The search of [`LeakSearcher::scan_events`]; `carrier_id` names a carrier (its
    /// position in `events` and the event) in the leaks' `carrier_seq`.
    fn scan_with<'a, I: IntoIterator<Item = &'a Event>>(
        &self,
        events: I,
        carrier_id: impl Fn(usize, &Event) -> u64,
    ) -> Vec<Event> {
        struct Group<'a> {
            first: &'a Event,
            first_id: u64,
            parent: String,
            names: Vec<Vec<String>>,
            seen: HashSet<String>,
            found: HashSet<usize>,
        }
        let mut out = Vec::new();
        let mut groups: Vec<Group<'a>> = Vec::new();
        // Per phase: each phase is a new session of the payload (the exercise phase and
        // its persona passes call the same function with other canaries), and numbered
        // chunks of two sessions would interleave.
        let mut by_parent: HashMap<(String, String), usize> = HashMap::new();
        for (i, ev) in events.into_iter().enumerate() {
            let id = carrier_id(i, ev);
            let hits = self.event_hits(ev);
            let found: Vec<usize> = hits
                .as_ref()
                .map(|(_, h)| h.iter().map(|(c, _)| *c).collect())
                .unwrap_or_default();
            if let Some((dest, hits)) = hits {
                out.extend(self.leak_events(ev, id, &dest, hits));
            }
            let EventKind::DnsQuery { name, .. } = &ev.kind else {
                continue;
            };
            let lower = name.trim_end_matches('.').to_ascii_lowercase();
            let (parent, left) = split_dns(name);
            if left.is_empty() {
                continue;
            }
            let gi = *by_parent
                .entry((parent.clone(), ev.phase.clone()))
                .or_insert_with(|| {
                    groups.push(Group {
                        first: ev,
                        first_id: id,
                        parent,
                        names: Vec::new(),
                        seen: HashSet::new(),
                        found: HashSet::new(),
                    });
                    groups.len() - 1
                });
            let g = &mut groups[gi];
            g.found.extend(found);
            if g.names.len() < self.limits.max_dns_group && g.seen.insert(lower) {
                g.names.push(left.iter().map(|s| s.to_string()).collect());
            }
        }
        for mut g in groups {
            if g.names.len() < 2 {
                continue;
            }
            // Chunks numbered in their first label are put in that order.
            let numbered: Option<Vec<u64>> = g
                .names
                .iter()
                .map(|l| l.first().and_then(|s| s.parse().ok()))
                .collect();
            if let Some(nums) = numbered {
                let mut paired: Vec<(u64, Vec<String>)> = nums.into_iter().zip(g.names).collect();
                paired.sort_by_key(|(n, _)| *n);
                g.names = paired.into_iter().map(|(_, l)| l).collect();
            }
            let all: String = g.names.iter().flatten().map(String::as_str).collect();
            // Without counters and without labels every query repeats (a session or
            // channel label), which would interleave with the data.
            let constant: HashSet<&String> = g.names[0]
                .iter()
                .filter(|l| g.names.iter().all(|n| n.contains(l)))
                .collect();
            let data: String = g
                .names
                .iter()
                .flatten()
                .filter(|l| !is_counter(l) && !constant.contains(l))
                .map(String::as_str)
                .collect();
            let parts = [all.into_bytes(), data.into_bytes()];
            let hits = self.search(parts.iter().map(Vec::as_slice), &g.found);
            out.extend(self.leak_events(g.first, g.first_id, &format!("dns:{}", g.parent), hits));
        }
        out
    }

    /// Searches a file the package wrote (staged loot), reported as `file:<path>`.
    /// Canaries planted in that very file are not reported for it.
    pub fn scan_file(&self, path: &str, bytes: &[u8], phase: &str, ts: f64) -> Vec<Event> {
        let location = format!("file:{path}");
        let exclude: HashSet<usize> = self
            .canaries
            .iter()
            .enumerate()
            .filter(|(_, c)| c.location == location)
            .map(|(i, _)| i)
            .collect();
        let hits = self.search([bytes], &exclude);
        hits.into_iter()
            .map(|(c, encoding)| {
                let canary = &self.canaries[c];
                Event::new(
                    ts,
                    phase,
                    Source::Analysis,
                    EventKind::CanaryLeaked {
                        canary_id: canary.id.clone(),
                        kind: canary.kind.clone(),
                        encoding,
                        destination: location.clone(),
                        carrier_seq: None,
                    },
                )
            })
            .collect()
    }

    /// The destination and the canaries found in one event.
    fn event_hits(&self, ev: &Event) -> Option<(String, Vec<(usize, String)>)> {
        let none = HashSet::new();
        let (dest, parts): (String, Vec<Vec<u8>>) = match &ev.kind {
            EventKind::HttpRequest {
                url,
                host,
                path,
                headers,
                body,
                tls,
                ..
            } => {
                let mut parts = vec![url.clone().into_bytes()];
                parts.extend(host_payloads(host));
                parts.extend(
                    headers
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}").into_bytes()),
                );
                match body.strip_prefix("base64:") {
                    Some(b64) => parts.push(
                        STANDARD
                            .decode(b64.trim())
                            .unwrap_or_else(|_| b64_lenient(b64.as_bytes())),
                    ),
                    None => parts.push(body.clone().into_bytes()),
                }
                (http_destination(url, host, path, *tls), parts)
            }
            EventKind::DnsQuery { name, .. } => {
                let mut parts = vec![name.clone().into_bytes()];
                parts.extend(host_payloads(name));
                (format!("dns:{}", name.trim_end_matches('.')), parts)
            }
            EventKind::NetData {
                dst_addr,
                dst_port,
                hex,
                ..
            } => {
                let even = &hex[..hex.len() - hex.len() % 2];
                let bytes = hex::decode(even).unwrap_or_else(|_| hex_lenient(even.as_bytes()));
                (format!("tcp:{dst_addr}:{dst_port}"), vec![bytes])
            }
            EventKind::TlsHandshake { sni: Some(sni), .. } => {
                let mut parts = vec![sni.clone().into_bytes()];
                parts.extend(host_payloads(sni));
                (format!("tls:{sni}"), parts)
            }
            _ => return None,
        };
        let hits = self.search(parts.iter().map(Vec::as_slice), &none);
        if hits.is_empty() {
            None
        } else {
            Some((dest, hits))
        }
    }

    /// One `canary.leaked` per hit, at the carrier's time, phase and process;
    /// `carrier_seq` is `carrier_id`.
    fn leak_events(
        &self,
        carrier: &Event,
        carrier_id: u64,
        dest: &str,
        hits: Vec<(usize, String)>,
    ) -> Vec<Event> {
        hits.into_iter()
            .map(|(c, encoding)| {
                let canary = &self.canaries[c];
                let mut e = Event::new(
                    carrier.ts,
                    carrier.phase.clone(),
                    Source::Analysis,
                    EventKind::CanaryLeaked {
                        canary_id: canary.id.clone(),
                        kind: canary.kind.clone(),
                        encoding,
                        destination: dest.to_string(),
                        carrier_seq: Some(carrier_id),
                    },
                );
                e.proc = carrier.proc.clone();
                e
            })
            .collect()
    }

    /// Canaries found in any of `parts` (one carrier), with the simplest encoding seen
    /// for each, in canary order.
    fn search<'p, I: IntoIterator<Item = &'p [u8]>>(
        &self,
        parts: I,
        exclude: &HashSet<usize>,
    ) -> Vec<(usize, String)> {
        let mut scan = Scan {
            s: self,
            bytes_left: self.limits.max_bytes,
            blobs_left: self.limits.max_blobs,
            seen: HashSet::new(),
            best: HashMap::new(),
            exclude,
        };
        for part in parts {
            let mut layers = Vec::new();
            scan.blob(part, &mut layers);
        }
        let mut hits: Vec<(usize, Vec<Layer>)> = scan.best.into_iter().collect();
        hits.sort_by_key(|(c, _)| *c);
        hits.into_iter()
            .map(|(c, l)| (c, encoding_name(&l)))
            .collect()
    }
}

/// A short all-digit label, as chunk counters are.
fn is_counter(label: &str) -> bool {
    !label.is_empty() && label.len() <= 5 && label.bytes().all(|b| b.is_ascii_digit())
}

/// Second-level labels under which registrations happen (`example.co.uk`).
const SECOND_LEVEL: &[&str] = &[
    "co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go",
];

/// Splits a DNS name into its registrable domain and the labels left of it.
fn split_dns(name: &str) -> (String, Vec<&str>) {
    let labels: Vec<&str> = name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .collect();
    let n = labels.len();
    let keep = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    if n <= keep {
        return (labels.join(".").to_ascii_lowercase(), Vec::new());
    }
    (
        labels[n - keep..].join(".").to_ascii_lowercase(),
        labels[..n - keep].to_vec(),
    )
}

/// The labels of a host left of its registrable domain, concatenated (with and without
/// counter labels), when there is more than one: data split over labels of one name.
fn host_payloads(host: &str) -> Vec<Vec<u8>> {
    let host = host.split(':').next().unwrap_or(host);
    let (_, left) = split_dns(host);
    if left.len() < 2 {
        return Vec::new();
    }
    let all: String = left.concat();
    let data: String = left.iter().filter(|l| !is_counter(l)).copied().collect();
    let mut out = vec![all.clone().into_bytes()];
    if data != all {
        out.push(data.into_bytes());
    }
    out
}

/// `https://host/path` of a request, without query or fragment.
fn http_destination(url: &str, host: &str, path: &str, tls: bool) -> String {
    let cut = |s: &str| s.split(['?', '#']).next().unwrap_or("").to_string();
    if url.contains("://") {
        cut(url)
    } else {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{host}{}", cut(path))
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn aligned_base64_is_a_substring_of_any_embedding() {
        let v = b"npm_abcdefghijklmnopqrstuvwxyz0123456789";
        for prefix in 0..9 {
            let mut buf = vec![b'x'; prefix];
            buf.extend_from_slice(v);
            buf.extend_from_slice(b"trailing bytes");
            let enc = STANDARD.encode(&buf);
            let pat = b64_aligned(v, prefix % 3).unwrap();
            assert!(enc.contains(&pat), "prefix {prefix}: {pat} not in {enc}");
            assert!(pat.len() >= v.len() * 4 / 3 - 3);
        }
    }

    #[test]
    fn lenient_decoders() {
        assert_eq!(b64_lenient(b"aGVsbG8gd29ybGQ"), b"hello world");
        assert_eq!(b64_lenient(b"aGVs\nbG8_"), b64_lenient(b"aGVsbG8/"));
        assert_eq!(b32_lenient(b"nbswy3dp"), b"hello");
        assert_eq!(url_decode(b"a%2Fb+c%zz", false), b"a/b+c%zz");
        assert_eq!(url_decode(b"a+b%4", true), b"a b%4");
        assert_eq!(json_unescape(br#"a\/b\u0041\x42\""#), b"a/bAB\"");
        assert_eq!(
            encoding_name(&[Layer::Url, Layer::Base64, Layer::Gzip]),
            "url(base64(gzip))"
        );
        assert_eq!(encoding_name(&[]), "plain");
    }

    #[test]
    fn dns_split() {
        assert_eq!(
            split_dns("a.b.evil.com."),
            ("evil.com".to_string(), vec!["a", "b"])
        );
        assert_eq!(
            split_dns("x.evil.co.uk"),
            ("evil.co.uk".to_string(), vec!["x"])
        );
        assert_eq!(split_dns("evil.com").1.len(), 0);
    }
}
