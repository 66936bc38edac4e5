//! Where data would go and what it would take: URLs and IPs, request-catching and paste
//! services, cryptocurrency wallets and clipboard access.

use std::collections::BTreeSet;

use crate::ids;
use crate::text::{clip, Lines};
use crate::Signal;

use super::*;

/// Hosts of request-catching, tunnelling and paste services that exfiltration favours.
pub(super) const EXFIL_HOSTS: &[&str] = &[
    "webhook.site",
    "pipedream.net",
    "pipedream.com",
    "requestbin",
    "requestcatcher.com",
    "hookbin.com",
    "beeceptor.com",
    "ngrok.io",
    "ngrok-free.app",
    "ngrok.app",
    "interact.sh",
    "oast.fun",
    "oast.pro",
    "oast.live",
    "oast.site",
    "oast.online",
    "oast.me",
    "burpcollaborator.net",
    "oastify.com",
    "canarytokens.com",
    "dnslog.cn",
    "ceye.io",
    "transfer.sh",
    "pastebin.com",
    "hastebin.com",
    "paste.ee",
    "trycloudflare.com",
    "serveo.net",
    "loca.lt",
    "localtunnel.me",
    "api.telegram.org",
    "discord.com/api/webhooks",
    "discordapp.com/api/webhooks",
    "ipinfo.io",
    "ifconfig.me",
    "api.ipify.org",
    "icanhazip.com",
    "checkip.amazonaws.com",
    "bit.ly",
    "temp.sh",
    "file.io",
    "anonfiles.com",
    "gofile.io",
];

/// The host part of a URL (lowercase, without port or credentials).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let host = if let Some(stripped) = hostport.strip_prefix('[') {
        stripped.split(']').next()?
    } else {
        hostport.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

pub(crate) fn exfil_service(url_lower: &str, host: &str) -> Option<&'static str> {
    EXFIL_HOSTS.iter().copied().find(|h| {
        if h.contains('/') {
            url_lower.contains(h)
        } else {
            host == *h || host.ends_with(&format!(".{h}")) || (!h.contains('.') && host.contains(h))
        }
    })
}

/// Classifies an IPv4 address: public addresses matter most.
pub(super) fn ip_is_public(ip: &str) -> bool {
    let o: Vec<u8> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    if o.len() != 4 {
        return false;
    }
    !(o[0] == 0
        || o[0] == 10
        || o[0] == 127
        || o[0] >= 224
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..128).contains(&o[1])))
}

pub(super) fn endpoints(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let mut hosts = BTreeSet::new();
    let mut ips = BTreeSet::new();
    // Only lines with a `://` or a digit-dot-digit can hold an endpoint: find those in
    // one pass over the file instead of visiting each of typescript's 300k lines.
    let b = src.as_bytes();
    let mut candidates: Vec<u32> = src
        .match_indices("://")
        .map(|(i, _)| lines.line_of(i))
        .collect();
    for i in 1..b.len().saturating_sub(1) {
        if b[i] == b'.' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit() {
            candidates.push(lines.line_of(i));
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    for lineno in candidates {
        let line = lines.text(src, lineno);
        if is_comment_line(line) || line.len() > 100_000 && !line.contains("://") {
            continue;
        }
        let has_url = line.contains("://");
        let has_quad = line
            .as_bytes()
            .windows(3)
            .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit());
        if !has_url && !has_quad {
            continue;
        }
        if let Some(re) = RE_URL.as_ref().filter(|_| has_url) {
            for m in re.find_iter(line) {
                let url = m.as_str().trim_end_matches(['.', ',', ';', ':']);
                let Some(host) = url_host(url) else { continue };
                if !hosts.insert(host.clone()) {
                    continue;
                }
                let lower = url.to_ascii_lowercase();
                if let Some(svc) = exfil_service(&lower, &host) {
                    out.push(Signal::new(
                        ids::ENDPOINT_EXFIL_SERVICE,
                        rel,
                        Some(lineno),
                        format!("{svc}: {}", clip(url, 200)),
                    ));
                }
                let is_ip = host.parse::<std::net::Ipv4Addr>().is_ok();
                out.push(
                    Signal::new(ids::ENDPOINT_URL, rel, Some(lineno), clip(url, 200))
                        .with_value(if is_ip { 1.0 } else { 0.0 }),
                );
            }
        }
        if let Some(re) = RE_IPV4.as_ref().filter(|_| has_quad) {
            for c in re.captures_iter(line) {
                let Some(ip) = c.get(1) else { continue };
                let ip = ip.as_str();
                // Version-like quads (1.2.3.4 in a changelog) are ruled out by requiring
                // the address to sit in a string, URL or assignment context.
                let ctx_ok = line.contains(&format!("\"{ip}"))
                    || line.contains(&format!("'{ip}"))
                    || line.contains(&format!("`{ip}"))
                    || line.contains(&format!("//{ip}"))
                    || line.contains(&format!("@{ip}"));
                if !ctx_ok || !ips.insert(ip.to_string()) {
                    continue;
                }
                let public = ip_is_public(ip);
                out.push(
                    Signal::new(
                        ids::ENDPOINT_IP,
                        rel,
                        Some(lineno),
                        format!(
                            "{ip} ({})",
                            if public {
                                "public"
                            } else {
                                "private or reserved"
                            }
                        ),
                    )
                    .with_value(if public { 1.0 } else { 0.0 }),
                );
            }
        }
    }
}

/// Literals the wallet and hook regexes need (each pattern contains one of them).
pub(super) const PREFILTER_LITERALS: &[&str] = &[
    "{40}",
    "HJ-NP",
    "1-9A-HJ",
    "a-km-z",
    "bc1",
    "[13][",
    "{33}",
    "{34}",
    "[L",
    "ltc1",
    "ethereum",
    "solana",
    "XMLHttpRequest",
    "fetch",
];

/// Which [`PREFILTER_LITERALS`] occur in `src`, found in one pass (aho-corasick inside
/// a literal `RegexSet`) instead of one search per literal.
pub(super) fn literals_in(src: &str) -> Vec<&'static str> {
    static SET: std::sync::LazyLock<Option<regex::RegexSet>> = std::sync::LazyLock::new(|| {
        regex::RegexSet::new(PREFILTER_LITERALS.iter().map(|l| regex::escape(l))).ok()
    });
    match &*SET {
        Some(set) => set
            .matches(src)
            .into_iter()
            .map(|i| PREFILTER_LITERALS[i])
            .collect(),
        // Cannot happen (escaped literals); fall back to "everything may be there".
        None => PREFILTER_LITERALS.to_vec(),
    }
}

pub(super) fn wallet_and_clipboard(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let mut coins = Vec::new();
    let mut first = None;
    // Each pattern needs one of its literals; checking those first skips the regexes
    // (several start with `[`, which every JavaScript file is full of).
    let present = literals_in(src);
    let has = |words: &[&str]| words.iter().any(|w| present.contains(w));
    for (coin, re, words) in [
        ("ETH", &*RE_WALLET_ETH, &["{40}"][..]),
        (
            "base58 (BTC/SOL/TRX)",
            &*RE_WALLET_BASE58,
            &["HJ-NP", "1-9A-HJ", "a-km-z"][..],
        ),
        ("BTC bech32", &*RE_WALLET_BTC, &["bc1", "[13]["][..]),
        ("TRX", &*RE_WALLET_TRX, &["{33}", "{34}"][..]),
        ("LTC", &*RE_WALLET_LTC, &["[L", "ltc1"][..]),
    ] {
        if !has(words) {
            continue;
        }
        if let Some(m) = re.as_ref().and_then(|r| r.find(src)) {
            coins.push(coin);
            first = Some(first.map_or(m.start(), |f: usize| f.min(m.start())));
        }
    }
    if !coins.is_empty() && coins != ["LTC"] {
        out.push(
            Signal::new(
                ids::WALLET_REGEX,
                rel,
                first.map(|o| lines.line_of(o)),
                format!("wallet address patterns: {}", coins.join(", ")),
            )
            .with_value(coins.len() as f64),
        );
    }
    let mut addrs = 0;
    let mut first_addr = None;
    for re in [&*RE_ETH_ADDR, &*RE_BECH32_ADDR].into_iter().flatten() {
        for m in re.find_iter(src) {
            addrs += 1;
            first_addr.get_or_insert((m.start(), m.as_str().to_string()));
        }
    }
    if let Some((off, a)) = first_addr {
        out.push(
            Signal::new(
                ids::WALLET_ADDRESS,
                rel,
                Some(lines.line_of(off)),
                format!("{addrs} wallet addresses, first {a}"),
            )
            .with_value(addrs as f64),
        );
    }
    // Every alternative of the hook regex names one of these; most files name none.
    let hook_words = ["ethereum", "solana", "XMLHttpRequest", "fetch"];
    let maybe_hook = hook_words.iter().any(|w| present.contains(w));
    if let Some(re) = RE_WALLET_HOOK.as_ref().filter(|_| maybe_hook) {
        let found: BTreeSet<String> = re
            .find_iter(src)
            .map(|m| m.as_str().trim().to_string())
            .collect();
        if let Some(m) = re.find(src) {
            out.push(
                Signal::new(
                    ids::WALLET_HOOK,
                    rel,
                    Some(lines.line_of(m.start())),
                    format!(
                        "hooks or wallet APIs: {}",
                        clip(&found.into_iter().collect::<Vec<_>>().join(", "), 200)
                    ),
                )
                .with_value(re.find_iter(src).count() as f64),
            );
        }
    }
    if let Some(re) = &*RE_CLIPBOARD {
        if let Some(m) = re.find(src) {
            out.push(Signal::new(
                ids::CLIPBOARD_ACCESS,
                rel,
                Some(lines.line_of(m.start())),
                format!("clipboard access: {}", m.as_str()),
            ));
        }
    }
}
