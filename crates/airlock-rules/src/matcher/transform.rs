//! Transforms applied to an event field's values before an operator compares them:
//! path parts, DNS labels, layered decoding (base64, hex, base32, gzip/zlib, URL), env-dump
//! key counts, length and entropy.

use std::collections::HashSet;

use base64::Engine as _;
use regex::Regex;

use crate::fields::Leaf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    Lower,
    Basename,
    Dirname,
    DnsParent,
    DnsSub,
    DnsLabels,
    Words,
    TryDecode,
    Decode,
    UrlDecode,
    EnvKeys,
    EnvKnown,
    Length,
    Entropy,
    Count,
}

pub const TRANSFORM_NAMES: &[&str] = &[
    "lower",
    "basename",
    "dirname",
    "dns_parent",
    "dns_sub",
    "dns_labels",
    "words",
    "try_decode",
    "decode",
    "url_decode",
    "env_keys",
    "env_known",
    "length",
    "entropy",
    "count",
];

impl Transform {
    pub fn parse(s: &str) -> Option<Transform> {
        Some(match s {
            "lower" => Transform::Lower,
            "basename" => Transform::Basename,
            "dirname" => Transform::Dirname,
            "dns_parent" => Transform::DnsParent,
            "dns_sub" => Transform::DnsSub,
            "dns_labels" => Transform::DnsLabels,
            "words" => Transform::Words,
            "try_decode" => Transform::TryDecode,
            "decode" => Transform::Decode,
            "url_decode" => Transform::UrlDecode,
            "env_keys" => Transform::EnvKeys,
            "env_known" => Transform::EnvKnown,
            "length" => Transform::Length,
            "entropy" => Transform::Entropy,
            "count" => Transform::Count,
            _ => return None,
        })
    }
}

// ---- transforms ---------------------------------------------------------------------

const SECOND_LEVEL: &[&str] = &["co", "com", "net", "org", "gov", "ac", "edu"];

/// Splits a DNS name into (subdomain labels, parent domain), the parent being the last
/// two labels (three under `co.uk`-like suffixes).
pub fn dns_split(name: &str) -> (Vec<&str>, String) {
    let name = name.trim_end_matches('.');
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    let keep = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    let keep = keep.min(n);
    (
        labels[..n - keep].to_vec(),
        labels[n - keep..].join(".").to_ascii_lowercase(),
    )
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

fn printable_text(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let good = s
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    if s.chars().count() >= 4 && good * 10 >= s.chars().count() * 9 {
        Some(s.to_string())
    } else {
        None
    }
}

/// Bytes out of gzip or zlib, when `bytes` starts like one (capped at 1 MiB).
fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    const CAP: u64 = 1 << 20;
    let mut out = Vec::new();
    let ok = match bytes {
        [0x1f, 0x8b, ..] => flate2::read::MultiGzDecoder::new(bytes)
            .take(CAP)
            .read_to_end(&mut out)
            .is_ok(),
        [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => flate2::read::ZlibDecoder::new(bytes)
            .take(CAP)
            .read_to_end(&mut out)
            .is_ok(),
        _ => false,
    };
    (ok && !out.is_empty()).then_some(out)
}

/// Printable text out of decoded bytes, looking through one gzip/zlib layer.
fn decoded_text(bytes: &[u8]) -> Option<String> {
    printable_text(bytes).or_else(|| inflate(bytes).and_then(|b| printable_text(&b)))
}

/// RFC 4648 base32 in one case (DNS tunnels lowercase it), padding optional. `None` for
/// anything else, including strings that are not all one case.
fn base32_decode(t: &str) -> Option<Vec<u8>> {
    let t = t.trim_end_matches('=');
    let lower = t
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c));
    let upper = t
        .bytes()
        .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c));
    if !(lower || upper) || matches!(t.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(t.len() * 5 / 8);
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in t.bytes() {
        let v = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => c - b'a',
            c => c - b'2' + 26,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn try_decode_one(token: &str) -> Option<String> {
    let t = token.trim();
    if t.len() >= 16 && t.len().is_multiple_of(2) && t.chars().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(b) = hex::decode(t) {
            return decoded_text(&b);
        }
    }
    if t.len() >= 16 {
        if let Some(d) = base32_decode(t).and_then(|b| decoded_text(&b)) {
            return Some(d);
        }
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(t).ok().and_then(|b| decoded_text(&b)))
}

/// What one layer of decoding gives: the whole string (without a `base64:` prefix and
/// whitespace) and each long base64/hex token in it (at most 8).
fn decode_layer(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let body = s.strip_prefix("base64:").unwrap_or(s);
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(d) = try_decode_one(&compact) {
        out.push(d);
    }
    let mut tokens = 0;
    for tok in body.split(|c: char| !(c.is_ascii_alphanumeric() || "+/_-".contains(c))) {
        if tok.len() >= 24 && tok.len() != compact.trim_end_matches('=').len() {
            if let Some(d) = try_decode_one(tok) {
                out.push(d);
                tokens += 1;
                if tokens >= 8 {
                    break;
                }
            }
        }
    }
    out
}

/// Layers of encoding looked through: `base64(base64(base64(x)))` (the Nx "s1ngularity"
/// stealer) is three; gzip/zlib inside a layer does not count.
const DECODE_DEPTH: usize = 3;

/// Only what the string decodes to, through up to [`DECODE_DEPTH`] layers (each layer's
/// result is kept); empty when nothing decodes.
fn decoded_only(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut frontier = vec![s.to_string()];
    for _ in 0..DECODE_DEPTH {
        let next: Vec<String> = frontier.iter().flat_map(|f| decode_layer(f)).collect();
        if next.is_empty() {
            break;
        }
        out.extend(next.iter().cloned());
        frontier = next;
        if out.len() >= 32 {
            break;
        }
    }
    out
}

/// The string, plus what it decodes to when it (or a long token in it) is base64 or hex.
fn decode_variants(s: &str) -> Vec<String> {
    let mut out = vec![s.to_string()];
    out.extend(decoded_only(s));
    out
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Environment variable names that show a whole environment was serialised.
const WELL_KNOWN_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "SHELL",
    "PWD",
    "OLDPWD",
    "HOSTNAME",
    "LANG",
    "TERM",
    "LOGNAME",
    "TMPDIR",
    "NODE",
    "NODE_OPTIONS",
    "INIT_CWD",
    "SHLVL",
    "EDITOR",
    "MAIL",
    "LC_ALL",
    "NODE_ENV",
    "CI",
    "GITHUB_TOKEN",
    "NPM_TOKEN",
    "HOMEPATH",
    "USERNAME",
    "COMPUTERNAME",
    "USERPROFILE",
    "APPDATA",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "_",
];

fn env_key_candidates(s: &str) -> HashSet<String> {
    // `KEY=value` pairs and JSON `"KEY":` keys.
    static PATTERNS: std::sync::OnceLock<Option<(Regex, Regex)>> = std::sync::OnceLock::new();
    let Some((pair, json)) = PATTERNS
        .get_or_init(|| {
            Some((
                Regex::new(r#"(?:^|[\s&;,"'{(\[])([A-Za-z_][A-Za-z0-9_]{0,63})="#).ok()?,
                Regex::new(r#""([A-Za-z_][A-Za-z0-9_]{0,63})"\s*:"#).ok()?,
            ))
        })
        .as_ref()
    else {
        return HashSet::new();
    };
    pair.captures_iter(s)
        .chain(json.captures_iter(s))
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect()
}

fn looks_like_env_name(k: &str) -> bool {
    k.starts_with("npm_config_")
        || k.starts_with("npm_package_")
        || k.starts_with("npm_lifecycle_")
        || (k.len() >= 2
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && k.chars().any(|c| c.is_ascii_uppercase()))
}

fn apply_one(t: Transform, leaves: Vec<Leaf>) -> Vec<Leaf> {
    let strs = |f: &dyn Fn(&str) -> Vec<Leaf>| -> Vec<Leaf> {
        leaves.iter().flat_map(|l| f(&l.as_text())).collect()
    };
    match t {
        Transform::Lower => strs(&|s| vec![Leaf::Str(s.to_lowercase())]),
        Transform::Basename => strs(&|s| {
            vec![Leaf::Str(
                s.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(s)
                    .to_string(),
            )]
        }),
        Transform::Dirname => strs(&|s| {
            vec![Leaf::Str(
                s.trim_end_matches('/')
                    .rsplit_once('/')
                    .map(|(d, _)| d)
                    .unwrap_or("")
                    .to_string(),
            )]
        }),
        Transform::DnsParent => strs(&|s| vec![Leaf::Str(dns_split(s).1)]),
        Transform::DnsSub => strs(&|s| {
            let (sub, _) = dns_split(s);
            if sub.is_empty() {
                vec![]
            } else {
                vec![Leaf::Str(sub.join(".").to_ascii_lowercase())]
            }
        }),
        Transform::DnsLabels => strs(&|s| {
            dns_split(s)
                .0
                .into_iter()
                .map(|l| Leaf::Str(l.to_string()))
                .collect()
        }),
        Transform::Words => strs(&|s| {
            s.split_whitespace()
                .map(|w| Leaf::Str(w.to_string()))
                .collect()
        }),
        Transform::TryDecode => strs(&|s| decode_variants(s).into_iter().map(Leaf::Str).collect()),
        Transform::Decode => strs(&|s| decoded_only(s).into_iter().map(Leaf::Str).collect()),
        Transform::UrlDecode => strs(&|s| vec![Leaf::Str(url_decode(s))]),
        Transform::EnvKeys => strs(&|s| {
            let n = env_key_candidates(s)
                .iter()
                .filter(|k| looks_like_env_name(k))
                .count();
            vec![Leaf::Num(n as f64)]
        }),
        Transform::EnvKnown => strs(&|s| {
            let keys = env_key_candidates(s);
            let n = WELL_KNOWN_ENV.iter().filter(|k| keys.contains(**k)).count()
                + keys
                    .iter()
                    .filter(|k| k.starts_with("npm_config_"))
                    .count()
                    .min(3);
            vec![Leaf::Num(n as f64)]
        }),
        Transform::Length => strs(&|s| vec![Leaf::Num(s.chars().count() as f64)]),
        Transform::Entropy => strs(&|s| vec![Leaf::Num(entropy(s))]),
        Transform::Count => vec![Leaf::Num(leaves.len() as f64)],
    }
}

pub fn apply_transforms(mut leaves: Vec<Leaf>, ts: &[Transform]) -> Vec<Leaf> {
    for t in ts {
        leaves = apply_one(*t, leaves);
    }
    leaves
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transforms() {
        let s = |x: &str| vec![Leaf::Str(x.into())];
        assert_eq!(
            apply_transforms(s("a.b.evil.co.uk"), &[Transform::DnsParent]),
            s("evil.co.uk")
        );
        assert_eq!(
            apply_transforms(
                s("x1.y2.oast.fun"),
                &[Transform::DnsLabels, Transform::Count]
            ),
            vec![Leaf::Num(2.0)]
        );
        assert!(entropy("aaaa") < 0.01);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        let env = "PATH=/usr/bin&HOME=/root&USER=x&npm_config_cache=/c&lower=1";
        assert_eq!(
            apply_transforms(s(env), &[Transform::EnvKeys]),
            vec![Leaf::Num(4.0)]
        );
        let js = r#"{"PATH":"/usr/bin","HOME":"/root","SHELL":"/bin/sh","name":"x"}"#;
        assert_eq!(
            apply_transforms(s(js), &[Transform::EnvKnown]),
            vec![Leaf::Num(3.0)]
        );
        let dec = apply_transforms(
            s("base64:aGVsbG8gd29ybGQgZnJvbSBiYXNlNjQ="),
            &[Transform::TryDecode],
        );
        assert!(
            dec.contains(&Leaf::Str("hello world from base64".into())),
            "{dec:?}"
        );
        let tok = apply_transforms(
            s("exec(b64decode('aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImlkIik='))"),
            &[Transform::TryDecode],
        );
        assert!(
            tok.iter().any(|l| l.as_text().contains("os.system")),
            "{tok:?}"
        );
        assert_eq!(url_decode("a%3Db+c%"), "a=b c%");
    }

    #[test]
    fn decode_looks_through_layers_and_compression() {
        use base64::Engine;
        use std::io::Write;
        let s = |x: &str| vec![Leaf::Str(x.into())];
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // `decode` gives nothing for text that is not encoded
        assert!(apply_transforms(s("registry"), &[Transform::Decode]).is_empty());
        assert!(apply_transforms(s("a3f9c2e18b7d4f6a0c1e2d3b"), &[Transform::Decode]).is_empty());
        // hex of text in a DNS label
        let label = hex::encode("/home/u/project|runner");
        let d = apply_transforms(s(&label), &[Transform::Decode]);
        assert_eq!(d, s("/home/u/project|runner"));
        // lowercase base32 in a DNS label; ordinary long words do not decode
        let d = apply_transforms(
            s("oj2w43tfojage5ljnrsc2ylhmvxhiljqgixgyylofy"),
            &[Transform::Decode],
        );
        assert_eq!(d, s("runner@build-agent-02.lan."));
        assert!(
            apply_transforms(s("thisisaverylongsubdomainname"), &[Transform::Decode]).is_empty()
        );
        // base64(gzip(json)) inside a JSON body
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"HOME":"/home/u","PATH":"/usr/bin"}"#)
            .unwrap();
        let body = format!(r#"{{"content":"{}"}}"#, b64(&gz.finish().unwrap()));
        let d = apply_transforms(s(&body), &[Transform::TryDecode]);
        assert!(
            d.iter()
                .any(|l| l.as_text().contains(r#""HOME":"/home/u""#)),
            "{d:?}"
        );
        // three layers of base64
        let three = b64(b64(b64(b"token=npm_abcdefghijklmnop").as_bytes()).as_bytes());
        let d = apply_transforms(s(&three), &[Transform::Decode]);
        assert!(
            d.iter()
                .any(|l| l.as_text() == "token=npm_abcdefghijklmnop"),
            "{d:?}"
        );
    }
}
