//! Running the `airlock` binary as a subprocess: one scan or judge with a wall-clock
//! limit, its output captured through files (no pipe can fill up and stall it), and a
//! small worker pool that keeps at most N of them going.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The airlock binary and what its `scan` understands.
#[derive(Debug, Clone)]
pub struct Airlock {
    pub bin: PathBuf,
    /// `scan --no-store` exists (keeps benchmark runs out of the user's verdict store).
    pub no_store: bool,
}

/// What one airlock invocation did.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit code; `None` when killed by a signal (also by our own time limit).
    pub exit_code: Option<i32>,
    pub wall_ms: u64,
    pub stdout: String,
    pub stderr: String,
    /// We killed it because it ran past the limit.
    pub killed: bool,
}

impl Run {
    /// The last `n` non-empty lines of stderr.
    pub fn stderr_tail(&self, n: usize) -> String {
        tail_lines(&self.stderr, n)
    }
}

/// The last `n` non-empty lines of `s`.
pub fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Airlock {
    /// Finds the binary: `explicit`, else `airlock` beside this executable, else the
    /// workspace's `target/release/airlock` or `target/debug/airlock`.
    pub fn locate(explicit: Option<PathBuf>) -> Result<Self> {
        let mut candidates = Vec::new();
        if let Some(p) = explicit {
            candidates.push(p);
        } else {
            if let Some(dir) = std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                candidates.push(dir.join("airlock"));
            }
            let target = crate::repo_root().join("target");
            candidates.push(target.join("debug").join("airlock"));
            candidates.push(target.join("release").join("airlock"));
        }
        let Some(bin) = candidates.iter().find(|p| p.is_file()) else {
            bail!(
                "no airlock binary (looked at {}); build it with `cargo build -p airlock` or pass --airlock",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let help = Command::new(bin)
            .args(["scan", "--help"])
            .output()
            .with_context(|| format!("running {} scan --help", bin.display()))?;
        let help = String::from_utf8_lossy(&help.stdout);
        Ok(Airlock {
            bin: bin.clone(),
            no_store: help.contains("--no-store"),
        })
    }

    /// `airlock scan INPUT --format json [--trace-out T] [--no-store] EXTRA...`.
    pub fn scan(
        &self,
        input: &str,
        trace_out: Option<&Path>,
        extra: &[String],
        limit: Duration,
    ) -> Result<Run> {
        let mut args: Vec<String> = vec![
            "scan".into(),
            input.into(),
            "--format".into(),
            "json".into(),
        ];
        if let Some(t) = trace_out {
            args.push("--trace-out".into());
            args.push(t.display().to_string());
        }
        if self.no_store {
            args.push("--no-store".into());
        }
        args.extend(extra.iter().cloned());
        self.run(&args, limit)
    }

    /// `airlock judge TRACE --format json`.
    pub fn judge(&self, trace: &Path, limit: Duration) -> Result<Run> {
        let args = vec![
            "judge".to_string(),
            trace.display().to_string(),
            "--format".into(),
            "json".into(),
        ];
        self.run(&args, limit)
    }

    /// Runs airlock with `args`, stopping it (SIGINT, then SIGKILL 30 s later) past
    /// `limit`. SIGINT lets airlock remove its containers.
    pub fn run(&self, args: &[String], limit: Duration) -> Result<Run> {
        let mut out = tempfile::tempfile().context("temporary file for stdout")?;
        let mut err = tempfile::tempfile().context("temporary file for stderr")?;
        let start = Instant::now();
        let mut child = Command::new(&self.bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(err.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let mut killed = false;
        let mut interrupted_at: Option<Instant> = None;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            let now = Instant::now();
            match interrupted_at {
                None if now.duration_since(start) > limit => {
                    killed = true;
                    let _ = Command::new("kill")
                        .args(["-INT", &child.id().to_string()])
                        .status();
                    interrupted_at = Some(now);
                }
                Some(t) if now.duration_since(t) > Duration::from_secs(30) => {
                    let _ = child.kill();
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let wall_ms = start.elapsed().as_millis() as u64;
        Ok(Run {
            exit_code: status.code(),
            wall_ms,
            stdout: read_all(&mut out)?,
            stderr: read_all(&mut err)?,
            killed,
        })
    }
}

fn read_all(f: &mut std::fs::File) -> Result<String> {
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Calls `f` on every item with at most `concurrency` calls at a time; results in item
/// order.
pub fn pool<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(i, item);
                if let Ok(mut g) = results.lock() {
                    g[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}
