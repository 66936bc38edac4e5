//! `overhead`: a small package's whole `airlock scan` against the plain install it
//! stands for — `docker run --rm --network none <the sandbox image>` running
//! `npm install --offline <tarball>` (or `pip install --no-index --no-deps <wheel>`) with
//! the same file mounted read-only — pair by pair in the same run (issue 17's first
//! target: ≤ 1.3×). Unlike `latency`, whose baseline is `airlock scan --bare` (which
//! keeps airlock's own orchestration), this baseline has none of airlock in it. The
//! inputs are real registry files pinned by sha256; with `--also BIN` a second airlock
//! build (e.g. the one before a change) runs in the same rotation, so before and after
//! see the same load.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::perf::{components, load_average, Timed};
use crate::runner::Airlock;
use crate::stats::{median, ratio};

#[derive(clap::Args, Debug)]
pub struct OverheadArgs {
    /// Timed rounds per input (each round: the baseline and every airlock binary once,
    /// the order rotating from round to round), after the warm-up round.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Untimed warm-up rounds per input (page the image and the binaries in).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Only these inputs (keys of the pinned list, e.g. `wrappy,mdurl`).
    #[arg(long, value_delimiter = ',')]
    pub inputs: Vec<String>,
    /// Another airlock binary to time in the same rotation (e.g. a build from before a
    /// change), labelled with its file name.
    #[arg(long)]
    pub also: Vec<PathBuf>,
    /// Where the pinned files are looked for first (the evaluation's download cache).
    #[arg(long, default_value = "/work/evalrun/cache")]
    pub cache: PathBuf,
    /// Results directory (default target/airlock-bench/overhead).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Extra arguments for every `airlock scan` (after `--`).
    #[arg(last = true)]
    pub scan_args: Vec<String>,
}

/// One pinned input: a registry file, small, with no dependencies.
struct Pinned {
    key: &'static str,
    ecosystem: &'static str,
    /// `name@version` (npm) or `name==version` (PyPI).
    spec: &'static str,
    file: &'static str,
    sha256: &'static str,
    what: &'static str,
}

const PINNED: &[Pinned] = &[
    Pinned {
        key: "wrappy",
        ecosystem: "npm",
        spec: "wrappy@1.0.2",
        file: "wrappy-1.0.2.tgz",
        sha256: "aff3730d91b7b1e143822956d14608f563163cf11b9d0ae602df1fe1e430fdfb",
        what: "1.7 KB, one export, no scripts, no dependencies",
    },
    Pinned {
        key: "is-number",
        ecosystem: "npm",
        spec: "is-number@7.0.0",
        file: "is-number-7.0.0.tgz",
        sha256: "7b75c1057198cf97696909a9bee176c9c5e9bcb5b03bf3ecef2f484defadd51e",
        what: "3.7 KB, no scripts, no dependencies",
    },
    Pinned {
        key: "postinstall-postinstall",
        ecosystem: "npm",
        spec: "postinstall-postinstall@2.1.0",
        file: "postinstall-postinstall-2.1.0.tgz",
        sha256: "d6441041e6968d64d85268dd69c4ace5d2d6896c733471df3d7869d9987ac175",
        what: "1.6 KB, a postinstall script, no dependencies",
    },
    Pinned {
        key: "mdurl",
        ecosystem: "pypi",
        spec: "mdurl==0.1.2",
        file: "mdurl-0.1.2-py3-none-any.whl",
        sha256: "84008a41e51615a49fc9966191ff91509e3c40b939176e643fd50a5c2196b8f8",
        what: "10 KB wheel, no dependencies",
    },
    Pinned {
        key: "pyperclip",
        ecosystem: "pypi",
        spec: "pyperclip==1.11.0",
        file: "pyperclip-1.11.0-py3-none-any.whl",
        sha256: "299403e9ff44581cb9ba2ffeed69c7aa96a008622ad0c46cb575ca75b5b84273",
        what: "11 KB wheel, no dependencies, platform branches",
    },
];

/// The pinned file on disk: from `cache` (`<cache>/<npm|pypi>/...`), else from our own
/// download directory, else fetched with `npm pack` / `pip download`; its sha256 checked.
fn locate(p: &Pinned, cache: &Path, downloads: &Path) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(cache.join(p.ecosystem)) {
        for d in dirs.flatten() {
            candidates.push(d.path().join(p.file));
        }
    }
    candidates.push(downloads.join(p.file));
    for c in &candidates {
        if c.is_file() && sha256_of(c)? == p.sha256 {
            return Ok(c.clone());
        }
    }
    std::fs::create_dir_all(downloads)?;
    let status = if p.ecosystem == "npm" {
        Command::new("npm")
            .args(["pack", p.spec, "--silent", "--pack-destination"])
            .arg(downloads)
            .status()
    } else {
        Command::new("pip")
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                p.spec,
                "-d",
            ])
            .arg(downloads)
            .status()
    }
    .with_context(|| format!("fetching {}", p.spec))?;
    let got = downloads.join(p.file);
    if !status.success() || !got.is_file() {
        bail!("could not fetch {} into {}", p.spec, downloads.display());
    }
    let sum = sha256_of(&got)?;
    if sum != p.sha256 {
        bail!(
            "{} has sha256 {sum}, pinned {}: the registry served other bytes",
            got.display(),
            p.sha256
        );
    }
    Ok(got)
}

fn sha256_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The plain install in a throwaway container of the same image.
fn baseline(image: &str, ecosystem: &str, file: &Path) -> Result<(u64, bool)> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let inside = format!("/tmp/{name}");
    let script = if ecosystem == "npm" {
        format!("npm install --offline --no-audit --no-fund --no-update-notifier {inside}")
    } else {
        format!(
            "pip install -q --no-index --no-deps --disable-pip-version-check --target /tmp/site {inside}"
        )
    };
    let start = Instant::now();
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-w", "/tmp", "-v"])
        .arg(format!("{}:{inside}:ro", file.display()))
        .args([image, "sh", "-c", &script])
        .output()
        .context("running docker")?;
    let ms = start.elapsed().as_millis() as u64;
    if !out.status.success() {
        eprintln!(
            "airlock-bench: baseline failed: {}",
            crate::runner::tail_lines(&String::from_utf8_lossy(&out.stderr), 3)
        );
    }
    Ok((ms, out.status.success()))
}

/// One timed run of either kind.
#[derive(Debug, Serialize)]
struct Sample {
    input: String,
    /// `baseline` or the airlock binary's label.
    kind: String,
    round: usize,
    wall_ms: u64,
    ok: bool,
    load: String,
    /// The airlock run's details (none for the baseline).
    scan: Option<Timed>,
}

pub fn run(airlock: &Airlock, args: &OverheadArgs) -> Result<u8> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out().join("overhead"));
    std::fs::create_dir_all(&out)?;
    let downloads = crate::default_out().join("downloads/overhead");
    let mut bins: Vec<(String, Airlock)> = vec![("airlock".into(), airlock.clone())];
    for b in &args.also {
        let label = b
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| b.display().to_string());
        bins.push((label, Airlock::locate(Some(b.clone()))?));
    }
    let inputs: Vec<&Pinned> = PINNED
        .iter()
        .filter(|p| args.inputs.is_empty() || args.inputs.iter().any(|k| k == p.key))
        .collect();
    if inputs.is_empty() {
        bail!(
            "no input matches; known: {}",
            PINNED.iter().map(|p| p.key).collect::<Vec<_>>().join(", ")
        );
    }
    let mut samples: Vec<Sample> = Vec::new();
    let mut image: Option<String> = None;
    let load_before = load_average();
    for p in &inputs {
        let file = locate(p, &args.cache, &downloads)?;
        let input = file.display().to_string();
        // The kinds of one round: the baseline, then each binary.
        let kinds: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..bins.len()).map(Some))
            .collect();
        for round in 0..args.warmup + args.runs {
            let timed = round >= args.warmup;
            let n = kinds.len();
            // Rotate the order so no kind always runs first (or right after another).
            let order: Vec<Option<usize>> = (0..n).map(|i| kinds[(i + round) % n]).collect();
            for kind in order {
                let load = load_average();
                let sample = match kind {
                    None => {
                        let Some(img) = image.clone() else {
                            // The image airlock uses is known after its first scan.
                            continue;
                        };
                        let (ms, ok) = baseline(&img, p.ecosystem, &file)?;
                        Sample {
                            input: p.key.into(),
                            kind: "baseline".into(),
                            round,
                            wall_ms: ms,
                            ok,
                            load,
                            scan: None,
                        }
                    }
                    Some(b) => {
                        let (label, bin) = &bins[b];
                        let (t, img) = crate::perf::timed_scan_with_image(
                            bin,
                            p.key,
                            &input,
                            false,
                            round,
                            &out,
                            &args.scan_args,
                        )?;
                        if image.is_none() {
                            image = img;
                        }
                        Sample {
                            input: p.key.into(),
                            kind: label.clone(),
                            round,
                            wall_ms: t.wall_ms,
                            ok: t.verdict != "error",
                            load,
                            scan: Some(t),
                        }
                    }
                };
                eprintln!(
                    "  {} round {round}{} {:<16} {:>6.2} s{}  (load {})",
                    p.key,
                    if timed { "" } else { " (warm-up)" },
                    sample.kind,
                    sample.wall_ms as f64 / 1000.0,
                    sample
                        .scan
                        .as_ref()
                        .map(|t| format!(" {}", t.verdict))
                        .unwrap_or_default(),
                    sample.load
                );
                if timed {
                    samples.push(sample);
                }
            }
        }
    }
    let Some(image) = image else {
        bail!("no scan reported its image");
    };
    let load_after = load_average();
    std::fs::write(
        out.join("overhead.json"),
        serde_json::to_vec_pretty(&samples)?,
    )?;
    let labels: Vec<&str> = bins.iter().map(|(l, _)| l.as_str()).collect();
    let md = render(
        &inputs,
        &samples,
        &labels,
        &image,
        args.runs,
        &load_before,
        &load_after,
    );
    std::fs::write(out.join("overhead.md"), &md)?;
    println!("{md}");
    Ok(0)
}

fn render(
    inputs: &[&Pinned],
    samples: &[Sample],
    labels: &[&str],
    image: &str,
    runs: usize,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## Whole scan against a plain install in the same image\n\n\
         {runs} timed rounds per input after warm-up (a round: `docker run --rm --network none \
         {image}` installing the file, and each airlock binary's `scan --format json`, the \
         order rotating); load average {load_before} before, {load_after} after. Ratio = \
         scan / baseline of the same round.\n"
    );
    let _ = writeln!(
        m,
        "| input | binary | baseline median | scan median | pair ratios | **median ratio** | verdicts | load (1 min) |\n|---|---|---|---|---|---|---|---|"
    );
    let mut all_ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in inputs {
        let base: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.input == p.key && s.kind == "baseline")
            .collect();
        for label in labels {
            let scans: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.input == p.key && s.kind == *label)
                .collect();
            let ratios: Vec<f64> = scans
                .iter()
                .filter_map(|s| {
                    let b = base.iter().find(|b| b.round == s.round)?;
                    ratio(s.wall_ms as f64, b.wall_ms as f64)
                })
                .collect();
            all_ratios.entry(label).or_default().extend(&ratios);
            let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
            for s in &scans {
                if let Some(t) = &s.scan {
                    *verdicts.entry(t.verdict.as_str()).or_default() += 1;
                }
            }
            let loads: Vec<&str> = scans
                .iter()
                .filter_map(|s| s.load.split_whitespace().next())
                .collect();
            let _ = writeln!(
                m,
                "| {} `{}` ({}) | {label} | {:.2} s | {:.2} s | {} | **{}** | {} | {} |",
                p.ecosystem,
                p.spec,
                p.what,
                med(&base) / 1000.0,
                med(&scans) / 1000.0,
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                median(&ratios)
                    .map(|r| format!("{r:.2}×"))
                    .unwrap_or("–".into()),
                verdicts
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                loads.join(" / ")
            );
        }
    }
    for (label, r) in &all_ratios {
        let _ = writeln!(
            m,
            "\nAll inputs, {label}: median of {} pair ratios **{}**.",
            r.len(),
            median(r).map(|x| format!("{x:.2}×")).unwrap_or("–".into())
        );
    }
    for label in labels {
        let _ = writeln!(
            m,
            "\n### Where {label}'s time goes (medians over the rounds, ms)\n"
        );
        let mut names: Vec<String> = Vec::new();
        for s in samples.iter().filter(|s| s.kind == *label) {
            if let Some(t) = &s.scan {
                for (n, _) in components(t) {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        let _ = write!(m, "| component |");
        for p in inputs {
            let _ = write!(m, " {} |", p.key);
        }
        let _ = write!(m, "\n|---|");
        for _ in inputs {
            let _ = write!(m, "---|");
        }
        let _ = writeln!(m);
        for n in names.iter().chain(std::iter::once(&"wall".to_string())) {
            let _ = write!(m, "| {n} |");
            for p in inputs {
                let xs: Vec<f64> = samples
                    .iter()
                    .filter(|s| s.kind == *label && s.input == p.key)
                    .filter_map(|s| {
                        let t = s.scan.as_ref()?;
                        if n == "wall" {
                            return Some(t.wall_ms as f64);
                        }
                        components(t)
                            .into_iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| v as f64)
                    })
                    .collect();
                let _ = write!(
                    m,
                    " {} |",
                    median(&xs).map(|v| format!("{v:.0}")).unwrap_or("–".into())
                );
            }
            let _ = writeln!(m);
        }
    }
    m
}

fn med(xs: &[&Sample]) -> f64 {
    median(&xs.iter().map(|s| s.wall_ms as f64).collect::<Vec<_>>()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pinned_keys_are_unique_and_files_match_their_specs() {
        let mut keys: Vec<&str> = PINNED.iter().map(|p| p.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), PINNED.len());
        for p in PINNED {
            assert_eq!(p.sha256.len(), 64);
            let name = p.spec.split(['@', '=']).next().unwrap().replace('-', "_");
            assert!(
                p.file.replace('-', "_").starts_with(&name),
                "{} / {}",
                p.spec,
                p.file
            );
        }
    }

    #[test]
    fn a_round_pairs_each_scan_with_its_own_baseline() {
        let s = |kind: &str, round, wall_ms| Sample {
            input: "wrappy".into(),
            kind: kind.into(),
            round,
            wall_ms,
            ok: true,
            load: "1.0 1.0 1.0".into(),
            scan: None,
        };
        let samples = vec![
            s("baseline", 1, 1000),
            s("airlock", 1, 3000),
            s("baseline", 2, 2000),
            s("airlock", 2, 3000),
        ];
        let md = render(&[&PINNED[0]], &samples, &["airlock"], "img", 2, "0", "0");
        assert!(md.contains("| 3.00, 1.50 |"), "{md}");
        assert!(md.contains("**2.25×**"), "{md}");
    }
}
