//! The corpora the evaluation runs over, each sample with the verdict it should get:
//! the PyPI malware sample zip (entries copied out byte for byte with
//! `airlock_ecosystem::sample_zip`, never unpacked or run on the host), the `examples/`
//! packages with their `expected` files, and the pinned benign npm and PyPI lists
//! (scanned as `name@version` / `pypi:name==version`, or downloaded as an sdist first),
//! and the at-scale corpora (`tests/corpus/{hard,top}-*.txt`: hard cases and the most
//! downloaded packages, fetched once per `name@version` into a cache and scanned as files,
//! see [`crate::scale`]) with the second malware set (`pypi-malicious-2025-26`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One corpus.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Corpus {
    PypiMalware,
    Examples,
    BenignNpm,
    BenignPypi,
    /// Hard cases (native builds, binary downloads, bundles, credential readers).
    HardNpm,
    HardPypi,
    /// The most downloaded packages of the registries' rankings.
    TopNpm,
    TopPypi,
    /// `pypi-malicious-2025-26/samples.zip`.
    PypiMalware2026,
}

impl Corpus {
    pub const ALL: [Corpus; 4] = [
        Corpus::Examples,
        Corpus::BenignNpm,
        Corpus::BenignPypi,
        Corpus::PypiMalware,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Corpus::PypiMalware => "pypi-malware",
            Corpus::Examples => "examples",
            Corpus::BenignNpm => "benign-npm",
            Corpus::BenignPypi => "benign-pypi",
            Corpus::HardNpm => "hard-npm",
            Corpus::HardPypi => "hard-pypi",
            Corpus::TopNpm => "top-npm",
            Corpus::TopPypi => "top-pypi",
            Corpus::PypiMalware2026 => "pypi-malware-2025-26",
        }
    }

    /// A malware corpus (every sample expected malicious, split tuning/held-out).
    pub fn is_malware(self) -> bool {
        matches!(self, Corpus::PypiMalware | Corpus::PypiMalware2026)
    }

    pub fn ecosystem(self) -> &'static str {
        match self {
            Corpus::PypiMalware
            | Corpus::PypiMalware2026
            | Corpus::BenignPypi
            | Corpus::HardPypi
            | Corpus::TopPypi => "pypi",
            Corpus::Examples | Corpus::BenignNpm | Corpus::HardNpm | Corpus::TopNpm => "npm",
        }
    }
}

/// What a sample should get.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expected {
    /// `benign`, `suspicious` or `malicious`.
    pub verdict: String,
    /// Rules that must fire (examples only).
    #[serde(default)]
    pub rules: Vec<String>,
}

/// One sample of a corpus.
#[derive(Debug, Clone)]
pub struct Sample {
    pub corpus: Corpus,
    /// File-name-safe, unique within the corpus.
    pub id: String,
    /// What is passed to `airlock scan`.
    pub input: String,
    pub expected: Expected,
    /// PyPI malware: the distinct-`setup.py` group (see [`crate::pyinspect`]).
    pub group: Option<String>,
    /// At-scale corpora: the pinned artifact to fetch (into the cache) before the scan;
    /// `input` is then the cached file.
    pub fetch: Option<Fetch>,
    /// Malware corpora: `tuning` (even MANIFEST.tsv line) or `held-out` (odd line).
    pub split: Option<String>,
}

/// A pinned artifact of a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `npm pack name@version` (the registry tarball).
    Npm { name: String, version: String },
    /// `pip download name==version` (a wheel for CPython 3.11 manylinux x86_64 when
    /// there is one, else the sdist; only the sdist when `sdist`).
    Pypi {
        name: String,
        version: String,
        sdist: bool,
    },
}

/// Where the inputs are.
#[derive(Debug, Clone)]
pub struct Sources {
    pub repo: PathBuf,
    /// `../shared/corpus` next to the repository unless told otherwise.
    pub corpus_dir: PathBuf,
    pub zip_password: String,
    /// Where downloads (benign sdists) and extracted samples are kept.
    pub cache: PathBuf,
}

impl Sources {
    pub fn malware_zip(&self) -> PathBuf {
        self.corpus_dir
            .join("pypi-malicious-dev")
            .join("samples.zip")
    }
    pub fn malware_dir(&self, corpus: Corpus) -> PathBuf {
        self.corpus_dir.join(if corpus == Corpus::PypiMalware2026 {
            "pypi-malicious-2025-26"
        } else {
            "pypi-malicious-dev"
        })
    }
    /// `tests/corpus/NAME`.
    pub fn list(&self, name: &str) -> PathBuf {
        self.repo.join("tests").join("corpus").join(name)
    }
    pub fn benign_npm_list(&self) -> PathBuf {
        self.repo.join("examples").join("benign-npm-pinned.txt")
    }
    pub fn benign_pypi_list(&self) -> PathBuf {
        self.repo
            .join("tests")
            .join("corpus")
            .join("benign-pypi-pinned.txt")
    }
}

/// Makes a string safe as a file name.
pub fn safe_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '=' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The samples of `corpus`. PyPI malware entries are copied into `extract_dir`, which
/// the caller removes when done.
pub fn load(corpus: Corpus, src: &Sources, extract_dir: &Path) -> Result<Vec<Sample>> {
    match corpus {
        Corpus::PypiMalware | Corpus::PypiMalware2026 => pypi_malware(corpus, src, extract_dir),
        Corpus::HardNpm => scale_npm(corpus, &src.list("hard-npm.txt")),
        Corpus::TopNpm => scale_npm(corpus, &src.list("top-npm-1000.txt")),
        Corpus::HardPypi => scale_pypi(corpus, &src.list("hard-pypi.txt")),
        Corpus::TopPypi => scale_pypi(corpus, &src.list("top-pypi-300.txt")),
        Corpus::Examples => examples(&src.repo.join("examples")),
        Corpus::BenignNpm => benign_npm(&src.benign_npm_list()),
        Corpus::BenignPypi => benign_pypi(&src.benign_pypi_list(), &src.cache),
    }
}

fn pypi_malware(corpus: Corpus, src: &Sources, extract_dir: &Path) -> Result<Vec<Sample>> {
    let dir = src.malware_dir(corpus);
    let zip = dir.join("samples.zip");
    let splits = manifest_splits(&dir.join("MANIFEST.tsv"));
    let extract_dir = extract_dir.join(corpus.name());
    if !zip.is_file() {
        bail!(
            "the PyPI malware corpus is not at {} (use --corpus-dir)",
            zip.display()
        );
    }
    let got = airlock_ecosystem::sample_zip::extract(&zip, Some(&src.zip_password), &extract_dir)
        .with_context(|| format!("copying the entries of {}", zip.display()))?;
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in got {
        let mut id = safe_id(&e.entry.file_name);
        if !seen.insert(id.clone()) {
            id = format!("{}-{id}", e.entry.index);
            seen.insert(id.clone());
        }
        // Read in memory to hash its setup.py; never unpacked to disk, never run.
        let bytes =
            std::fs::read(&e.path).with_context(|| format!("reading {}", e.path.display()))?;
        let split = splits
            .iter()
            .find(|(path, _)| {
                e.entry.name.ends_with(path.as_str()) || path.ends_with(&e.entry.name)
            })
            .map(|(_, s)| s.clone())
            // Inert placeholders (nothing that can run) are reported apart in each half.
            .map(|s| {
                if crate::pyinspect::inert(&bytes) {
                    format!("{s}, inert")
                } else {
                    s
                }
            });
        out.push(Sample {
            corpus,
            id,
            input: e.path.display().to_string(),
            expected: Expected {
                verdict: "malicious".into(),
                rules: vec![],
            },
            group: Some(crate::pyinspect::group_key(&bytes)),
            fetch: None,
            split,
        });
    }
    out.sort_by_key(|s| s.id.to_lowercase());
    Ok(out)
}

/// The split of every sample path of a malware `MANIFEST.tsv`: counting the header as
/// line 1, a sample on an even line is `tuning`, on an odd line `held-out`.
pub fn manifest_splits(manifest: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return Vec::new();
    };
    text.lines()
        .enumerate()
        .skip(1)
        .filter_map(|(i, l)| {
            let path = l.split('\t').next()?.trim();
            (!path.is_empty()).then(|| (path.to_string(), split_of_line(i + 1).to_string()))
        })
        .collect()
}

/// `tuning` for even MANIFEST lines, `held-out` for odd ones (the header is line 1).
pub fn split_of_line(line: usize) -> &'static str {
    if line % 2 == 0 {
        "tuning"
    } else {
        "held-out"
    }
}

/// Parses an `expected` file: first word the verdict, then optionally a
/// comma-separated list of rules that must fire.
pub fn parse_expected(text: &str) -> Option<Expected> {
    // `#` lines are comments (the evasion battery's files say what each sample checks).
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut words = body.split_whitespace();
    let verdict = words.next()?.to_string();
    if !matches!(verdict.as_str(), "benign" | "suspicious" | "malicious") {
        return None;
    }
    let rules = words
        .next()
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(Expected { verdict, rules })
}

fn examples(dir: &Path) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for class in ["benign", "malicious"] {
        let class_dir = dir.join(class);
        let Ok(rd) = std::fs::read_dir(&class_dir) else {
            continue;
        };
        let mut pkgs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        pkgs.sort();
        for pkg in pkgs {
            let exp_file = pkg.join("expected");
            let Ok(text) = std::fs::read_to_string(&exp_file) else {
                continue;
            };
            let Some(expected) = parse_expected(&text) else {
                bail!("{}: first word must be a verdict", exp_file.display());
            };
            let name = pkg
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(Sample {
                corpus: Corpus::Examples,
                id: safe_id(&format!("{class}-{name}")),
                input: pkg.display().to_string(),
                expected,
                group: None,
                fetch: None,
                split: None,
            });
        }
    }
    if out.is_empty() {
        bail!("no examples/*/*/expected under {}", dir.display());
    }
    Ok(out)
}

/// Non-comment lines of a list file, first whitespace-separated word and the rest.
fn list_lines(path: &Path) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.splitn(2, char::is_whitespace);
            (
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("").trim().to_string(),
            )
        })
        .collect())
}

fn benign(corpus: Corpus, id: &str, input: String) -> Sample {
    Sample {
        corpus,
        id: safe_id(id),
        input,
        expected: Expected {
            verdict: "benign".into(),
            rules: vec![],
        },
        group: None,
        fetch: None,
        split: None,
    }
}

/// An at-scale npm list (`name@version  # why`): fetched with `npm pack` when scanned.
fn scale_npm(corpus: Corpus, list: &Path) -> Result<Vec<Sample>> {
    list_lines(list)?
        .into_iter()
        .map(|(spec, _)| {
            let Some((name, version)) = spec.rsplit_once('@').filter(|(n, _)| !n.is_empty()) else {
                bail!("{}: {spec} is not pinned (name@version)", list.display());
            };
            let mut s = benign(corpus, &spec, spec.clone());
            s.fetch = Some(Fetch::Npm {
                name: name.into(),
                version: version.into(),
            });
            Ok(s)
        })
        .collect()
}

/// An at-scale PyPI list (`name==version [sdist]  # why`): fetched with `pip download`
/// when scanned.
fn scale_pypi(corpus: Corpus, list: &Path) -> Result<Vec<Sample>> {
    list_lines(list)?
        .into_iter()
        .map(|(spec, rest)| {
            let Some((name, version)) = spec.split_once("==") else {
                bail!("{}: {spec} is not pinned (name==version)", list.display());
            };
            let sdist = rest.split_whitespace().any(|w| w == "sdist");
            let id = if sdist {
                format!("{spec}-sdist")
            } else {
                spec.clone()
            };
            let mut s = benign(corpus, &id, spec.clone());
            s.fetch = Some(Fetch::Pypi {
                name: name.into(),
                version: version.into(),
                sdist,
            });
            Ok(s)
        })
        .collect()
}

fn benign_npm(list: &Path) -> Result<Vec<Sample>> {
    list_lines(list)?
        .into_iter()
        .map(|(spec, _)| {
            if !spec[1..].contains('@') {
                bail!("{}: {spec} is not pinned (name@version)", list.display());
            }
            Ok(benign(Corpus::BenignNpm, &spec, spec.clone()))
        })
        .collect()
}

/// `name==version [sdist]`, downloaded with `pip download --no-deps` (pip only fetches;
/// no code runs on the host): `--no-binary :all:` for `sdist` entries, so their
/// `setup.py` runs in the sandbox, else a CPython 3.11 manylinux wheel (what the
/// sandbox's pip would pick), falling back to the sdist for sdist-only projects.
/// (`pypi:name==version` would do, but airlock's PyPI client fails on indexes that
/// answer with relative file URLs.)
fn benign_pypi(list: &Path, cache: &Path) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (spec, rest) in list_lines(list)? {
        let Some((name, version)) = spec.split_once("==") else {
            bail!("{}: {spec} is not pinned (name==version)", list.display());
        };
        let sdist = rest.split_whitespace().any(|w| w == "sdist");
        let file = fetch_pypi(name, version, sdist, &cache.join("benign-pypi"))?;
        let id = if sdist {
            format!("{spec}-sdist")
        } else {
            spec.clone()
        };
        out.push(benign(Corpus::BenignPypi, &id, file.display().to_string()));
    }
    Ok(out)
}

/// Downloads (once) `name==version` into `dir`; returns the artifact's path. The file
/// is chosen from the index's PEP 691 JSON listing — the wheel pip would pick for
/// CPython 3.11 on manylinux x86_64 (glibc 2.36), else the sdist; only the sdist when
/// `sdist` — fetched with `curl` and checked against the listed sha256. Nothing is
/// unpacked or built on the host (`pip download` of an sdist prepares its metadata,
/// which runs the package's build backend and builds its build dependencies).
pub fn fetch_pypi(name: &str, version: &str, sdist: bool, dir: &Path) -> Result<PathBuf> {
    let dest = dir.join(format!(
        "{name}-{version}{}",
        if sdist { "-sdist" } else { "" }
    ));
    if let Some(f) = first_file(&dest) {
        return Ok(f);
    }
    std::fs::create_dir_all(&dest)?;
    let index = std::env::var("AIRLOCK_BENCH_PYPI_SIMPLE")
        .unwrap_or_else(|_| "https://pypi.org/simple".to_string());
    let listing = curl(
        &format!("{index}/{}/", pep503(name)),
        &["-H", "Accept: application/vnd.pypi.simple.v1+json"],
    )?;
    let listing: serde_json::Value = serde_json::from_slice(&listing)
        .with_context(|| format!("{name}: the index did not answer with JSON"))?;
    let files: Vec<(String, String, String)> = listing["files"]
        .as_array()
        .map(|a| {
            a.iter()
                // A yanked file still installs when pinned with `==`, as here.
                .filter_map(|f| {
                    Some((
                        f["filename"].as_str()?.to_string(),
                        f["url"].as_str()?.to_string(),
                        f["hashes"]["sha256"].as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let Some((file, url, sha)) = pick_pypi_file(&files, version, sdist) else {
        bail!("{name}=={version}: no sdist or compatible wheel in the index listing");
    };
    let url = if url.starts_with("http") {
        url
    } else {
        format!("{index}/{}/{url}", pep503(name))
    };
    let bytes = curl(&url, &[])?;
    use sha2::Digest;
    let got = hex::encode(sha2::Sha256::digest(&bytes));
    if !sha.is_empty() && got != sha {
        bail!("{file}: sha256 {got}, the index lists {sha}");
    }
    let part = dest.join(format!(".{file}.part"));
    std::fs::write(&part, &bytes)?;
    let path = dest.join(&file);
    std::fs::rename(&part, &path)?;
    Ok(path)
}

/// PEP 503 normalized project name.
fn pep503(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if matches!(c, '.' | '_' | '-') {
            '-'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

fn curl(url: &str, extra: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("curl")
        .args(["-fsSL", "--retry", "2", "--max-time", "600"])
        .args(extra)
        .arg(url)
        .output()
        .context("running curl")?;
    if !out.status.success() {
        bail!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The file of `version` pip would install on CPython 3.11, manylinux x86_64 (glibc
/// 2.36): the most specific compatible wheel, else the sdist (`sdist`: only the sdist).
/// `files` are (file name, url, sha256).
pub fn pick_pypi_file(
    files: &[(String, String, String)],
    version: &str,
    sdist: bool,
) -> Option<(String, String, String)> {
    let sdist_file = files
        .iter()
        .find(|(f, _, _)| {
            let stem = f.strip_suffix(".tar.gz").or_else(|| f.strip_suffix(".zip"));
            stem.and_then(|s| s.rsplit_once('-'))
                .is_some_and(|(_, v)| v == version)
        })
        .cloned();
    if sdist {
        return sdist_file;
    }
    let best = files
        .iter()
        .filter_map(|x| wheel_score(&x.0, version).map(|s| (s, x)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, x)| x.clone());
    best.or(sdist_file)
}

/// How well a wheel file name suits CPython 3.11 on manylinux x86_64 (higher is what
/// pip prefers), or `None` when it does not install there or is another version.
fn wheel_score(file: &str, version: &str) -> Option<(u8, u8, u8)> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 || parts[1] != version {
        return None;
    }
    let n = parts.len();
    let (py, abi, plat) = (parts[n - 3], parts[n - 2], parts[n - 1]);
    let py_minor = py
        .split('.')
        .filter_map(|t| match t {
            "py3" | "py2.py3" => Some(0),
            t => t
                .strip_prefix("cp3")
                .or_else(|| t.strip_prefix("py3"))
                .and_then(|m| m.parse::<u8>().ok())
                .filter(|m| *m <= 11),
        })
        .max()?;
    let abi_score = abi
        .split('.')
        .filter_map(|a| match a {
            "cp311" => Some(3),
            "abi3" => Some(2),
            "none" => Some(1),
            _ => None,
        })
        .max()?;
    if abi_score == 3 && !py.split('.').any(|t| t == "cp311") {
        return None;
    }
    let plat_score = plat
        .split('.')
        .filter_map(|p| {
            if p == "any" {
                return Some(1);
            }
            let rest = p.strip_suffix("_x86_64")?;
            let glibc_ok = match rest {
                "manylinux1" | "manylinux2010" | "manylinux2014" => true,
                r => r
                    .strip_prefix("manylinux_2_")
                    .and_then(|m| m.parse::<u32>().ok())
                    .is_some_and(|m| m <= 36),
            };
            glibc_ok.then_some(2)
        })
        .max()?;
    Some((plat_score, abi_score, py_minor))
}

fn first_file(dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.into_iter().next()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expected_files() {
        let e = parse_expected("malicious canary-leaked,secret-read-then-upload\n").unwrap();
        assert_eq!(e.verdict, "malicious");
        assert_eq!(e.rules, vec!["canary-leaked", "secret-read-then-upload"]);
        assert_eq!(
            parse_expected("benign\n").unwrap().rules,
            Vec::<String>::new()
        );
        assert!(parse_expected("maybe").is_none());
        assert!(parse_expected("").is_none());
    }

    #[test]
    fn the_wheel_pip_would_pick() {
        let f = |names: &[&str]| -> Vec<(String, String, String)> {
            names
                .iter()
                .map(|n| (n.to_string(), format!("https://x/{n}"), String::new()))
                .collect()
        };
        let grpc = f(&[
            "grpcio-1.85.1.tar.gz",
            "grpcio-1.85.1-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
            "grpcio-1.85.1-cp311-cp311-macosx_11_0_universal2.whl",
            "grpcio-1.85.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "grpcio-1.85.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "grpcio-1.85.1-cp311-cp311-musllinux_1_1_x86_64.whl",
            "grpcio-1.85.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        ]);
        let pick = |fs: &[(String, String, String)], v: &str, sdist: bool| {
            pick_pypi_file(fs, v, sdist).map(|x| x.0)
        };
        assert_eq!(
            pick(&grpc, "1.85.1", false).as_deref(),
            Some("grpcio-1.85.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        );
        assert_eq!(
            pick(&grpc, "1.85.1", true).as_deref(),
            Some("grpcio-1.85.1.tar.gz")
        );
        let pure = f(&[
            "python_dateutil-4.0.0-py3-none-any.whl",
            "python-dateutil-4.0.0.tar.gz",
        ]);
        assert_eq!(
            pick(&pure, "4.0.0", false).as_deref(),
            Some("python_dateutil-4.0.0-py3-none-any.whl")
        );
        assert_eq!(
            pick(&pure, "4.0.0", true).as_deref(),
            Some("python-dateutil-4.0.0.tar.gz")
        );
        let abi3 = f(&[
            "cryptography-50.0.2-cp37-abi3-manylinux_2_34_x86_64.whl",
            "cryptography-50.0.2-cp37-abi3-manylinux_2_38_x86_64.whl",
            "cryptography-50.0.2-cp311-abi3-win_amd64.whl",
        ]);
        assert_eq!(
            pick(&abi3, "50.0.2", false).as_deref(),
            Some("cryptography-50.0.2-cp37-abi3-manylinux_2_34_x86_64.whl")
        );
        let only_sdist = f(&["docopt-0.6.2.tar.gz"]);
        assert_eq!(
            pick(&only_sdist, "0.6.2", false).as_deref(),
            Some("docopt-0.6.2.tar.gz")
        );
        assert_eq!(pep503("Foo.Bar__baz"), "foo-bar-baz");
    }

    #[test]
    fn ids_are_file_names() {
        assert_eq!(safe_id("@swc/core@1.16.22"), "@swc_core@1.16.22");
        assert_eq!(safe_id("a b/c"), "a_b_c");
    }

    #[test]
    fn the_examples_load() {
        let s = examples(&crate::repo_root().join("examples")).unwrap();
        assert!(s.iter().any(|s| s.expected.verdict == "malicious"));
        assert!(s.iter().any(|s| s.expected.verdict == "benign"));
    }
}
