//! Long encoded runs in text: base64/hex blobs (decoded and checked for executables and
//! shell), padded lines, and PowerShell `-EncodedCommand` droppers.

use base64::Engine;

use crate::ids;
use crate::text::{clip, entropy, Lines};
use crate::Signal;

use super::*;

pub(super) fn blobs(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
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
pub(super) fn encoded_shell(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
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
pub(super) fn decode_powershell(src: &str, end: usize) -> String {
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
pub(super) struct Run<'s> {
    src: &'s str,
    start: usize,
    end: usize,
}

impl<'s> Run<'s> {
    pub(super) fn start(&self) -> usize {
        self.start
    }
    pub(super) fn end(&self) -> usize {
        self.end
    }
    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }
    pub(super) fn as_str(&self) -> &'s str {
        self.src.get(self.start..self.end).unwrap_or("")
    }
}

/// Maximal runs of ASCII bytes in `class` at least `min` long, optionally followed by
/// up to two `=` (base64 padding).
pub(super) fn runs(
    src: &str,
    class: impl Fn(u8) -> bool,
    min: usize,
    padded: bool,
) -> Vec<Run<'_>> {
    runs_in(src, 0, src.len(), &class, min, padded)
}

/// [`runs`] within `src[from..to]` (padding may extend past `to`).
pub(super) fn runs_in<'s>(
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
pub(super) fn blob_spans(src: &str) -> Vec<Run<'_>> {
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
pub(super) fn base64_runs<'s>(src: &'s str, spans: &[Run<'s>]) -> Vec<Run<'s>> {
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
pub(super) fn padding(b: &[u8]) -> Option<(usize, usize)> {
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

pub(super) fn pad16(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v.resize(v.len().max(64), 0);
    v
}

pub(super) fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}
