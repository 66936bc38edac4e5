//! The search inside one carrier: its bytes scanned for every encoded form of every
//! canary, then candidate blobs decoded (base64, base32, hex, percent- and JSON-escapes,
//! gzip/zlib/deflate/zip, reversed) and rescanned, layer by layer, within the budget.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

use super::*;

pub(super) struct Scan<'a> {
    pub(super) s: &'a LeakSearcher,
    pub(super) bytes_left: usize,
    pub(super) blobs_left: usize,
    pub(super) seen: HashSet<u64>,
    pub(super) best: HashMap<usize, Vec<Layer>>,
    pub(super) exclude: &'a HashSet<usize>,
}

impl Scan<'_> {
    pub(super) fn blob(&mut self, data: &[u8], layers: &mut Vec<Layer>) {
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
pub(super) fn variants(v: &[u8]) -> Vec<(Option<Layer>, Vec<u8>)> {
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
pub(super) fn b64_aligned(v: &[u8], k: usize) -> Option<String> {
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

pub(super) fn url_encode(v: &[u8], upper: bool) -> Vec<u8> {
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

pub(super) fn url_decode(data: &[u8], plus_is_space: bool) -> Vec<u8> {
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

pub(super) fn json_unescape(data: &[u8]) -> Vec<u8> {
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

pub(super) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub(super) fn hex_pair(h: &[u8]) -> Option<u8> {
    Some(hex_val(h[0])? << 4 | hex_val(h[1])?)
}

/// Hex pairs decoded until the first non-pair.
pub(super) fn hex_lenient(data: &[u8]) -> Vec<u8> {
    data.chunks_exact(2).map_while(hex_pair).collect()
}

/// Base64 in either alphabet, whitespace skipped, stopping at `=` or a foreign byte;
/// a trailing partial group is dropped.
pub(super) fn b64_lenient(data: &[u8]) -> Vec<u8> {
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
pub(super) fn b32_lenient(data: &[u8]) -> Vec<u8> {
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

pub(super) fn is_b64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// Maximal runs of base64-alphabet bytes (line breaks inside a run are dropped, as in
/// wrapped `base64` output; up to two `=` end a run), at least `min` long.
pub(super) fn runs(data: &[u8], min: usize) -> Vec<Vec<u8>> {
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

pub(super) fn find_all(data: &[u8], needle: &[u8], max: usize) -> Vec<usize> {
    data.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .take(max)
        .collect()
}

/// Decompressed bytes up to `cap`; a truncated or corrupt stream gives what came out
/// before the damage (captures are cut at a cap).
pub(super) fn inflate<R: Read>(mut r: R, cap: usize) -> Vec<u8> {
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
pub(super) fn is_binary(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    let odd = head
        .iter()
        .filter(|&&b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\n' | b'\r' | b'\t')))
        .count();
    odd * 10 > head.len()
}
