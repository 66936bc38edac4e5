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
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;

use aho_corasick::{AhoCorasick, MatchKind};
use airlock_events::{Canary, Event, EventKind, Source};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

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

struct Scan<'a> {
    s: &'a LeakSearcher,
    bytes_left: usize,
    blobs_left: usize,
    seen: HashSet<u64>,
    best: HashMap<usize, Vec<Layer>>,
    exclude: &'a HashSet<usize>,
}

impl Scan<'_> {
    fn blob(&mut self, data: &[u8], layers: &mut Vec<Layer>) {
        if data.len() < self.s.min_blob || self.blobs_left == 0 || self.bytes_left == 0 {
            return;
        }
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        if !self.seen.insert(h.finish()) {
            return;
        }
        self.blobs_left -= 1;
        let data = &data[..data.len().min(self.bytes_left)];
        self.bytes_left -= data.len();
        self.find(data, layers);
        if layers.len() < self.s.limits.max_depth {
            self.derive(data, layers);
        }
    }

    fn record(&mut self, canary: usize, layers: &[Layer], variant: Option<Layer>) {
        if self.exclude.contains(&canary) {
            return;
        }
        let mut enc = layers.to_vec();
        enc.extend(variant);
        match self.best.get(&canary) {
            Some(old) if old.len() <= enc.len() => {}
            _ => {
                self.best.insert(canary, enc);
            }
        }
    }

    fn find(&mut self, data: &[u8], layers: &[Layer]) {
        let mut found = Vec::new();
        match &self.s.ac {
            Some(ac) => {
                for m in ac.find_overlapping_iter(data) {
                    found.push(self.s.patterns[m.pattern().as_usize()]);
                }
            }
            None => {
                for (i, p) in self.s.pattern_bytes.iter().enumerate() {
                    if data.windows(p.len()).any(|w| w == p.as_slice()) {
                        found.push(self.s.patterns[i]);
                    }
                }
            }
        }
        for (c, v) in found {
            self.record(c, layers, v);
        }
    }

    fn nested(&mut self, layer: Layer, data: &[u8], layers: &mut Vec<Layer>) {
        layers.push(layer);
        self.blob(data, layers);
        layers.pop();
    }

    fn derive(&mut self, data: &[u8], layers: &mut Vec<Layer>) {
        let cap = self.s.limits.max_inflated;
        // Compressed members anywhere in the blob.
        let mut compressed_at_start = false;
        for i in find_all(data, &[0x1f, 0x8b, 0x08], 8) {
            compressed_at_start |= i == 0;
            let out = inflate(MultiGzDecoder::new(&data[i..]), cap);
            self.nested(Layer::Gzip, &out, layers);
        }
        let mut zlib = 0;
        for i in 0..data.len().saturating_sub(1) {
            let (a, b) = (data[i], data[i + 1]);
            if a == 0x78
                && matches!(b, 0x01 | 0x5e | 0x9c | 0xda)
                && (u16::from(a) * 256 + u16::from(b)) % 31 == 0
            {
                compressed_at_start |= i == 0;
                let out = inflate(ZlibDecoder::new(&data[i..]), cap);
                self.nested(Layer::Zlib, &out, layers);
                zlib += 1;
                if zlib == 8 {
                    break;
                }
            }
        }
        for i in find_all(data, b"PK\x03\x04", 32) {
            let field = |o: usize| {
                data.get(i + o..i + o + 2)
                    .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            };
            if let (Some(8), Some(n), Some(e)) = (field(8), field(26), field(28)) {
                if let Some(member) = data.get(i + 30 + n + e..) {
                    let out = inflate(DeflateDecoder::new(member), cap);
                    self.nested(Layer::Zip, &out, layers);
                }
            }
        }
        if !compressed_at_start && is_binary(data) {
            let out = inflate(DeflateDecoder::new(data), cap);
            self.nested(Layer::Deflate, &out, layers);
        }

        // Text encodings.
        for run in runs(data, self.s.limits.min_base64_run) {
            let hexish = run.iter().all(u8::is_ascii_hexdigit);
            if hexish && run.len() >= self.s.limits.min_hex_run {
                let out = hex_lenient(&run);
                self.nested(Layer::Hex, &out, layers);
                continue;
            }
            let layer = if run.iter().any(|b| matches!(b, b'-' | b'_')) {
                Layer::Base64Url
            } else {
                Layer::Base64
            };
            let out = b64_lenient(&run);
            self.nested(layer, &out, layers);
            let b32 = run
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7' | b'='))
                || run
                    .iter()
                    .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7' | b'='));
            if b32 {
                let out = b32_lenient(&run);
                self.nested(Layer::Base32, &out, layers);
            }
        }
        let percent = data
            .windows(3)
            .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
        if percent {
            let out = url_decode(data, false);
            self.nested(Layer::Url, &out, layers);
        }
        if self.s.plus_is_space && (percent || data.contains(&b'+')) {
            let out = url_decode(data, true);
            self.nested(Layer::Url, &out, layers);
        }
        if data
            .windows(2)
            .any(|w| w[0] == b'\\' && matches!(w[1], b'u' | b'/' | b'x' | b'"'))
        {
            let out = json_unescape(data);
            self.nested(Layer::Json, &out, layers);
        }
        if !layers.contains(&Layer::Reversed) {
            let out: Vec<u8> = data.iter().rev().copied().collect();
            self.nested(Layer::Reversed, &out, layers);
        }
    }
}

/// Each encoded form of a canary value that is searched for directly.
fn variants(v: &[u8]) -> Vec<(Option<Layer>, Vec<u8>)> {
    let mut out = vec![(None, v.to_vec())];
    out.push((Some(Layer::Hex), hex::encode(v).into_bytes()));
    out.push((Some(Layer::Hex), hex::encode_upper(v).into_bytes()));
    for upper in [true, false] {
        let enc = url_encode(v, upper);
        if enc != v {
            out.push((Some(Layer::Url), enc));
        }
    }
    if v.contains(&b'/') {
        let esc: Vec<u8> = v
            .iter()
            .flat_map(|&b| if b == b'/' { b"\\/".to_vec() } else { vec![b] })
            .collect();
        out.push((Some(Layer::Json), esc));
    }
    let full: String = v.iter().map(|b| format!("\\u{:04x}", b)).collect();
    out.push((Some(Layer::Json), full.into_bytes()));
    out.push((Some(Layer::Reversed), v.iter().rev().copied().collect()));
    for k in 0..3 {
        if let Some(s) = b64_aligned(v, k) {
            let url: String = s
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            if url != s {
                out.push((Some(Layer::Base64Url), url.into_bytes()));
            }
            out.push((Some(Layer::Base64), s.into_bytes()));
        }
    }
    out
}

/// The base64 characters that encode `v` alone when it sits `k` bytes past a 3-byte
/// boundary of a larger stream: characters mixing in neighbouring bytes are cut.
fn b64_aligned(v: &[u8], k: usize) -> Option<String> {
    let mut buf = vec![0u8; k];
    buf.extend_from_slice(v);
    let enc = STANDARD_NO_PAD.encode(&buf);
    let start = match k {
        0 => 0,
        1 => 2,
        _ => 3,
    };
    let end = buf.len() * 8 / 6;
    enc.get(start..end).map(str::to_string)
}

fn url_encode(v: &[u8], upper: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else if upper {
            out.extend(format!("%{b:02X}").into_bytes());
        } else {
            out.extend(format!("%{b:02x}").into_bytes());
        }
    }
    out
}

fn url_decode(data: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'%' if i + 2 < data.len() => match (hex_val(data[i + 1]), hex_val(data[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn json_unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\\' && i + 1 < data.len() {
            let c = data[i + 1];
            let simple = match c {
                b'/' => Some(b'/'),
                b'\\' => Some(b'\\'),
                b'"' => Some(b'"'),
                b'\'' => Some(b'\''),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                i += 2;
                continue;
            }
            if c == b'x' {
                if let Some(v) = data.get(i + 2..i + 4).and_then(hex_pair) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
            if c == b'u' {
                let code = data
                    .get(i + 2..i + 6)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                if let Some(code) = code {
                    let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                    let mut buf = [0u8; 4];
                    out.extend(ch.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_pair(h: &[u8]) -> Option<u8> {
    Some(hex_val(h[0])? << 4 | hex_val(h[1])?)
}

/// Hex pairs decoded until the first non-pair.
fn hex_lenient(data: &[u8]) -> Vec<u8> {
    data.chunks_exact(2).map_while(hex_pair).collect()
}

/// Base64 in either alphabet, whitespace skipped, stopping at `=` or a foreign byte;
/// a trailing partial group is dropped.
fn b64_lenient(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 4648 base32, either case, stopping at `=` or a foreign byte.
fn b32_lenient(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a',
            b'2'..=b'7' => b - b'2' + 26,
            _ => break,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn is_b64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// Maximal runs of base64-alphabet bytes (line breaks inside a run are dropped, as in
/// wrapped `base64` output; up to two `=` end a run), at least `min` long.
fn runs(data: &[u8], min: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if !is_b64_char(data[i]) {
            i += 1;
            continue;
        }
        let mut run = Vec::new();
        while i < data.len() {
            let b = data[i];
            if is_b64_char(b) {
                run.push(b);
                i += 1;
            } else if matches!(b, b'\r' | b'\n')
                && data
                    .get(i + 1)
                    .is_some_and(|&n| is_b64_char(n) || n == b'\n')
            {
                i += 1;
            } else {
                break;
            }
        }
        let mut pad = 0;
        while pad < 2 && data.get(i) == Some(&b'=') {
            i += 1;
            pad += 1;
        }
        if run.len() >= min {
            out.push(run);
        }
    }
    out
}

fn find_all(data: &[u8], needle: &[u8], max: usize) -> Vec<usize> {
    data.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .take(max)
        .collect()
}

/// Decompressed bytes up to `cap`; a truncated or corrupt stream gives what came out
/// before the damage (captures are cut at a cap).
fn inflate<R: Read>(mut r: R, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while out.len() < cap {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n.min(cap - out.len())]),
        }
    }
    out
}

/// More than a tenth of the first KiB is neither printable ASCII nor whitespace.
fn is_binary(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    let odd = head
        .iter()
        .filter(|&&b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\n' | b'\r' | b'\t')))
        .count();
    odd * 10 > head.len()
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
