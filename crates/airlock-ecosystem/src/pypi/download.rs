//! Filling a wheelhouse on the host: `pip download --only-binary=:all:` (wheels only, so
//! no `setup.py` runs here) of an artifact's build and runtime requirements, through
//! the [`WheelCache`] when a set was resolved recently.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::RegistryError;

// ---- wheelhouse ------------------------------------------------------------------

/// Wheels for an offline install in the sandbox.
#[derive(Debug, Clone)]
pub struct Wheelhouse {
    /// Directory holding the wheels; hand it to `pip install --no-index --find-links`.
    pub dir: PathBuf,
    /// The wheel files in `dir`, sorted.
    pub files: Vec<PathBuf>,
    /// Requirements that could not be had as wheels (or were refused, e.g. direct URL
    /// references), each with the reason. Not fatal: the install may still fail on them.
    pub missing: Vec<String>,
    /// Requirement sets served from the [`WheelCache`] without running pip.
    pub cached_sets: usize,
    /// `pip download` runs it took.
    pub pip_runs: usize,
}

/// Options for [`prepare_wheelhouse`].
#[derive(Debug, Clone, Default)]
pub struct WheelhouseOptions {
    /// pip's download cache (`--cache-dir`); `None` keeps pip's default
    /// (`~/.cache/pip`). It saves the downloads, not pip's start and resolution.
    pub cache_dir: Option<PathBuf>,
    /// The Python that runs `pip download` (default `python3`).
    pub python: Option<String>,
    /// airlock's cache of resolved requirement sets; `None`: pip runs for every set.
    pub wheel_cache: Option<WheelCache>,
    /// The sandbox's Python the wheels are for (its version and glibc).
    pub target: crate::runtime::PythonRuntime,
}

/// Why a requirement string is not passed to pip, if it is not. Only plain
/// `name[extras] specifier ; marker` requirements go through: no options (`-i …`),
/// no direct URL or path references, and none that only apply to an extra.
pub fn refuse_requirement(req: &str) -> Option<&'static str> {
    let req = req.trim();
    if req.is_empty() {
        return Some("empty");
    }
    if req.contains(['\n', '\r', '\0']) {
        return Some("contains a line break");
    }
    if !req.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("does not start with a project name");
    }
    let (spec, marker) = match req.split_once(';') {
        Some((s, m)) => (s, Some(m)),
        None => (req, None),
    };
    if spec.contains('@') || spec.contains("://") {
        return Some("direct reference (URL or path) refused: it would fetch from anywhere");
    }
    if let Some(m) = marker {
        if m.contains("extra") {
            return Some("only for an extra");
        }
    }
    if !spec.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '.' | '-'
                    | '_'
                    | '['
                    | ']'
                    | ','
                    | '<'
                    | '>'
                    | '='
                    | '!'
                    | '~'
                    | '*'
                    | ' '
                    | '('
                    | ')'
                    | '+'
            )
    }) {
        return Some("unexpected characters");
    }
    None
}

pub(super) fn pip_download(
    reqs: &[String],
    index: &str,
    dest: &Path,
    opts: &WheelhouseOptions,
) -> Result<(), String> {
    let python = opts.python.clone().unwrap_or_else(|| "python3".into());
    let ((major, minor), glibc) = (opts.target.minor(), opts.target.glibc_minor());
    let (version, abi) = (format!("{major}.{minor}"), format!("cp{major}{minor}"));
    let platform = format!("manylinux_2_{glibc}_x86_64");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "download", "--only-binary=:all:", "--dest"])
        .arg(dest)
        .args([
            "--python-version",
            version.as_str(),
            "--implementation",
            "cp",
            "--abi",
            abi.as_str(),
            "--abi",
            "abi3",
            "--abi",
            "none",
            "--platform",
            platform.as_str(),
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux2010_x86_64",
            "--platform",
            "manylinux1_x86_64",
            "--platform",
            "linux_x86_64",
            "--platform",
            "any",
            "--index-url",
        ])
        .arg(format!("{}/simple/", index.trim_end_matches('/')))
        .args([
            "--timeout",
            "30",
            "--retries",
            "1",
            "--progress-bar",
            "off",
            "-q",
        ])
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS");
    match &opts.cache_dir {
        Some(c) => {
            cmd.arg("--cache-dir").arg(c);
        }
        None => {
            cmd.env_remove("PIP_NO_CACHE_DIR");
        }
    }
    // The operator's CA for the index (pip's own `cert`, given to the wrapper).
    if let Some(ca) = crate::http::extra_ca_files().first() {
        cmd.arg("--cert").arg(ca);
    }
    cmd.arg("--").args(reqs);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {python} -m pip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(tail[tail.len().saturating_sub(3)..].join(" / "))
    }
}

/// Downloads, on the host and without executing anything, every build requirement (for
/// an sdist) and runtime requirement of `meta` — transitive ones included — as wheels
/// for the sandbox's CPython (`opts.target`) manylinux x86_64 into `work_dir/wheelhouse`, from `index`'s simple
/// API. Build and runtime requirements are resolved separately (pip's build isolation
/// installs the former into their own environment). When a set does not resolve as a
/// whole, each requirement is tried alone and the ones that fail are listed in
/// [`Wheelhouse::missing`]. `target` is the artifact itself; it is not copied.
pub fn prepare_wheelhouse(
    target: &Path,
    meta: &PyMeta,
    index: &str,
    work_dir: &Path,
    opts: &WheelhouseOptions,
) -> Result<Wheelhouse, RegistryError> {
    let dir = work_dir.join("wheelhouse");
    std::fs::create_dir_all(&dir).map_err(|e| RegistryError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let mut missing = Vec::new();
    let mut sets: Vec<Vec<String>> = Vec::new();
    let own = &meta.normalized_name;
    let accept = |reqs: &[String], missing: &mut Vec<String>| -> Vec<String> {
        let mut ok = Vec::new();
        for r in reqs {
            match refuse_requirement(r) {
                Some("only for an extra") => {}
                Some(why) => missing.push(format!("{r}: {why}")),
                None => {
                    let name_end = r
                        .find(|c: char| {
                            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                        })
                        .unwrap_or(r.len());
                    if normalize_name(&r[..name_end]) != *own {
                        ok.push(r.trim().to_string());
                    }
                }
            }
        }
        ok
    };
    if meta.kind.is_sdist() {
        let mut build = accept(&meta.build_requires, &mut missing);
        // setuptools' legacy backend asks for `wheel` at build time on older versions.
        let setuptools_backend = meta
            .build_backend
            .as_deref()
            .is_none_or(|b| b.starts_with("setuptools"));
        if setuptools_backend && !build.iter().any(|r| normalize_name(r).starts_with("wheel")) {
            build.push("wheel".into());
        }
        sets.push(build);
    }
    sets.push(accept(&meta.requires_dist, &mut missing));
    let mut counts = (0, 0);
    for set in sets.into_iter().filter(|s| !s.is_empty()) {
        if let Err(all_err) = download_set(&set, index, &dir, work_dir, opts, &mut counts) {
            tracing::debug!(target = %target.display(), "pip download of the whole set failed: {all_err}");
            if let [r] = set.as_slice() {
                missing.push(format!("{r}: {all_err}"));
                continue;
            }
            for r in &set {
                let one = std::slice::from_ref(r);
                if let Err(e) = download_set(one, index, &dir, work_dir, opts, &mut counts) {
                    missing.push(format!("{r}: {e}"));
                }
            }
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| RegistryError::Io {
            path: dir.clone(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    files.sort();
    Ok(Wheelhouse {
        dir,
        files,
        missing,
        cached_sets: counts.0,
        pip_runs: counts.1,
    })
}

/// Puts the wheels of one requirement set into `wheelhouse`: from the wheel cache when
/// it has a fresh, intact entry for the set, else with `pip download` into a directory
/// of its own under `work_dir` (so the set's wheels are known exactly, also those an
/// earlier set already brought), which are then cached and moved over. `counts` tallies
/// (sets from the cache, pip runs).
pub(super) fn download_set(
    reqs: &[String],
    index: &str,
    wheelhouse: &Path,
    work_dir: &Path,
    opts: &WheelhouseOptions,
    counts: &mut (usize, usize),
) -> Result<(), String> {
    if let Some(cache) = &opts.wheel_cache {
        match cache.lookup(reqs, index, &wheel_target(&opts.target)) {
            Ok(hit) => {
                let linked = hit.iter().try_for_each(|(file, blob)| {
                    let dest = wheelhouse.join(file);
                    if dest.exists() {
                        Ok(())
                    } else {
                        link_or_copy(blob, &dest)
                    }
                });
                match linked {
                    Ok(()) => {
                        counts.0 += 1;
                        tracing::debug!(?reqs, wheels = hit.len(), "wheel cache hit");
                        return Ok(());
                    }
                    Err(e) => tracing::debug!(?reqs, "wheel cache hit not usable: {e}"),
                }
            }
            Err(why) => tracing::debug!(?reqs, "wheel cache miss: {why}"),
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".pip-download-")
        .tempdir_in(work_dir)
        .map_err(|e| format!("temporary directory in {}: {e}", work_dir.display()))?;
    counts.1 += 1;
    pip_download(reqs, index, tmp.path(), opts)?;
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .map_err(|e| format!("{}: {e}", tmp.path().display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    wheels.sort();
    if let Some(cache) = &opts.wheel_cache {
        match cache.store(reqs, index, &wheel_target(&opts.target), &wheels) {
            Ok(()) => cache.prune(),
            Err(e) => tracing::warn!("wheel cache {}: {e}", cache.dir.display()),
        }
    }
    for w in &wheels {
        let Some(name) = w.file_name() else { continue };
        let dest = wheelhouse.join(name);
        if !dest.exists() {
            std::fs::rename(w, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
    }
    Ok(())
}
