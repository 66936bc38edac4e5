//! airlock-recorder: turns what the kernel saw inside the sandbox into typed
//! [`airlock_events::Event`]s. No Docker, no async: the orchestrator runs the commands,
//! this crate says which commands and parses their output.
//!
//! Two sources:
//! - **strace** — the orchestrator runs `[strace_args(FILE)..., phase command...]` as root
//!   in the container (see [`invocation`] for every flag and why), fetches FILE, and feeds
//!   it to a [`Recorder`] (or [`parse_reader`]/[`parse_file`]). Events come out with
//!   `source: strace`, the caller's phase, and `seq` 0 (the trace writer numbers them).
//! - **filesystem diff** — [`fsdiff::find_args`] before and after a phase,
//!   [`fsdiff::Snapshot::parse`] both outputs, [`fsdiff::diff`], hash the files in
//!   [`fsdiff::paths_to_hash`], then [`fsdiff::fs_events`].
//!
//! ```no_run
//! use airlock_recorder::{parse_file, RecorderConfig};
//! let mut cfg = RecorderConfig::new("install");
//! cfg.home = Some("/home/runner".into());
//! cfg.canaries.insert("~/.npmrc".into(), "npm-token".into());
//! let (events, stats) = parse_file(cfg, "/tmp/strace.install.txt".as_ref())?;
//! assert!(!stats.truncated);
//! # let _ = events;
//! # Ok::<(), airlock_recorder::RecorderError>(())
//! ```
//!
//! Process model: every event carries a [`airlock_events::ProcRef`] for the thread group
//! that acted (threads are folded into their process): ppid, exe basename, `chain` (up
//! to 8 ancestors' `argv` summaries, oldest first, ending with the process) and
//! `lifecycle`. Lifecycle marks: `npm_lifecycle_event=<x>` in an `execve` environment
//! sets `<x>`; a python exec with an argument containing `_in_process.py` (pip's
//! PEP 517 hook runner) or `setup.py` sets `setup.py`; children inherit their parent's.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod budget;
pub mod dns;
pub mod fold;
pub mod fsdiff;
pub mod hooks;
pub mod invocation;
pub mod lexer;
mod recorder;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use airlock_events::Event;

pub use invocation::{strace_args, strace_args_for_user, TRACED_SYSCALLS};
pub use recorder::{
    default_probes, CallResult, ProbePath, Recorder, RecorderConfig, RecorderStats,
    CHAIN_ENTRY_MAX, CHAIN_MAX, FLOOD_EVENT_MIN, FOLD_NOTE_MIN, SELECTED_ENV,
};

/// Errors reading a strace output file.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("reading strace output {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading a stream that has no path (a pipe, a socket, a `docker cp` archive entry).
    #[error("reading strace output stream: {0}")]
    Stream(#[from] std::io::Error),
}

/// Parses a whole strace output stream. A last line without its newline marks the
/// trace truncated (strace was killed or the disk filled).
pub fn parse_reader<R: BufRead>(
    cfg: RecorderConfig,
    r: R,
) -> Result<(Vec<Event>, RecorderStats), RecorderError> {
    let mut out = Vec::new();
    let mut rec = Recorder::new(cfg);
    for_each_line(r, |line, complete| {
        if !complete {
            rec.mark_truncated();
        }
        rec.feed_line(line, &mut out);
    })?;
    let stats = rec.finish(&mut out);
    Ok((out, stats))
}

/// [`parse_reader`] over a file, with errors naming it.
pub fn parse_file(
    cfg: RecorderConfig,
    path: &Path,
) -> Result<(Vec<Event>, RecorderStats), RecorderError> {
    let wrap = |source| RecorderError::Read {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(wrap)?;
    parse_reader(cfg, BufReader::new(f)).map_err(|e| match e {
        RecorderError::Stream(source) => wrap(source),
        other => other,
    })
}

/// Calls `f(line, ended_with_newline)` for each line; bytes that are not UTF-8 are
/// replaced (strace escapes non-printable bytes, so this is rare).
pub fn for_each_line<R: BufRead>(mut r: R, mut f: impl FnMut(&str, bool)) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(8192);
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let complete = buf.last() == Some(&b'\n');
        let line = String::from_utf8_lossy(&buf);
        f(&line, complete);
    }
}
