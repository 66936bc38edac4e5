//! Code aimed at another operating system: platform gating (`sys.platform == "win32"`,
//! `os.name == "nt"`, `platform.system() == "Windows"`, `process.platform === 'win32'`)
//! and that system's APIs and commands (winreg, `ctypes.windll`, PowerShell,
//! `%APPDATA%`; Keychain, LaunchAgents, `osascript`). Not a verdict: the engine reads
//! these signals to decide whether a run also makes a Windows or a macOS persona pass,
//! so a payload that only acts there is seen acting (`--os auto`).

use crate::text::regexes;
use crate::Signal;

/// Signal ids (see [`crate::ids`]).
pub const TARGETS_WINDOWS: &str = "targets-windows";
pub const TARGETS_MACOS: &str = "targets-macos";

regexes! {
    RE_WINDOWS = r#"(?x)
        sys\.platform\s*(?:==|!=)\s*['"](?:win32|cygwin)['"]
      | sys\.platform\.startswith\(\s*['"]win
      | ['"]win32['"]\s*(?:==|!=|in)\s*sys\.platform
      | os\.name\s*(?:==|!=)\s*['"]nt['"]
      | platform\.system\(\)\s*(?:==|!=)\s*['"]Windows['"]
      | platform\.system\(\)\.lower\(\)\s*(?:==|!=)\s*['"]windows['"]
      | process\.platform\s*(?:===?|!==?)\s*['"]win32['"]
      | os\.platform\(\)\s*(?:===?|!==?)\s*['"]win32['"]
      | os\.type\(\)\s*(?:===?|!==?)\s*['"]Windows_NT['"]
      | \b_?winreg\b
      | \bwindll\b | \bWinDLL\b | \boledll\b
      | \bpowershell(?:\.exe)?\b | \bpwsh(?:\.exe)?\b
      | \b(?:rundll32|regsvr32|schtasks|certutil|mshta|bitsadmin|wscript|cscript)(?:\.exe)?\b
      | \bcmd(?:\.exe)?\s+/[ck]\b
      | HKEY_(?:CURRENT_USER|LOCAL_MACHINE)
      | \bos\.startfile\b
      | \bCREATE_NO_WINDOW\b | \bSTARTUPINFO\b | \bStart-Process\b | \bpythonw(?:\.exe)?\b
      | %(?:APPDATA|LOCALAPPDATA|USERPROFILE|TEMP)%
      | ['"](?:APPDATA|LOCALAPPDATA|USERPROFILE)['"]
    "#;
    RE_MACOS = r#"(?x)
        sys\.platform\s*(?:==|!=)\s*['"]darwin['"]
      | sys\.platform\.startswith\(\s*['"]darwin
      | platform\.system\(\)\s*(?:==|!=)\s*['"]Darwin['"]
      | platform\.system\(\)\.lower\(\)\s*(?:==|!=)\s*['"]darwin['"]
      | process\.platform\s*(?:===?|!==?)\s*['"]darwin['"]
      | os\.platform\(\)\s*(?:===?|!==?)\s*['"]darwin['"]
      | \bosascript\b
      | \bLaunchAgents\b | \bLaunchDaemons\b
      | Library/Keychains
      | \bsecurity\s+(?:find|dump)-(?:generic|internet)-password
      | \blaunchctl\b
    "#;
}

/// One signal per system a file aims at, pointing at its first match, `value` = matches.
pub fn analyze(rel: &str, src: &str, out: &mut Vec<Signal>) {
    for (id, re) in [(TARGETS_WINDOWS, &*RE_WINDOWS), (TARGETS_MACOS, &*RE_MACOS)] {
        let Some(re) = re else { continue };
        let mut first: Option<(usize, &str)> = None;
        let mut count = 0usize;
        for m in re.find_iter(src) {
            count += 1;
            if first.is_none() {
                first = Some((m.start(), m.as_str()));
            }
            if count >= 1000 {
                break;
            }
        }
        if let Some((at, text)) = first {
            let line = src[..at].bytes().filter(|b| *b == b'\n').count() as u32 + 1;
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(80).collect();
            out.push(Signal::new(id, rel, Some(line), text).with_value(count as f64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        analyze("pkg/x.py", src, &mut out);
        out.into_iter().map(|s| s.signal).collect()
    }

    #[test]
    fn regexes_compile() {
        assert!(all_regexes().iter().all(|(_, ok)| *ok));
    }

    #[test]
    fn windows_gating_and_apis() {
        assert_eq!(
            ids("if sys.platform == 'win32':\n  pass\n"),
            [TARGETS_WINDOWS]
        );
        assert_eq!(ids("if os.name == \"nt\": x()"), [TARGETS_WINDOWS]);
        assert_eq!(ids("import winreg"), [TARGETS_WINDOWS]);
        assert_eq!(
            ids("ctypes.windll.user32.MessageBoxW(0)"),
            [TARGETS_WINDOWS]
        );
        assert_eq!(
            ids("if (process.platform === 'win32') spawn('rundll32', [dll])"),
            [TARGETS_WINDOWS]
        );
        assert_eq!(ids("p = os.getenv('APPDATA')"), [TARGETS_WINDOWS]);
    }

    #[test]
    fn macos_gating_and_apis() {
        assert_eq!(ids("if sys.platform == 'darwin': pass"), [TARGETS_MACOS]);
        assert_eq!(
            ids("subprocess.run(['security', 'find-generic-password', '-s', 'x'])"),
            Vec::<String>::new(),
            "a list of words is not the command line"
        );
        assert_eq!(ids("os.system('osascript -e x')"), [TARGETS_MACOS]);
    }

    #[test]
    fn plain_code_aims_nowhere() {
        assert!(ids("import os\nprint(os.name)\nwindow = 3\n").is_empty());
        assert!(ids("const cmd = 'ls'; process.platform").is_empty());
    }

    #[test]
    fn signal_points_at_the_first_line_and_counts() {
        let mut out = Vec::new();
        analyze(
            "a.py",
            "x = 1\nif os.name == 'nt':\n import winreg\n",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].line, Some(2));
        assert_eq!(out[0].value, Some(2.0));
    }
}
