//! Typed entry points for a recorder that sees the kernel's calls directly (the eBPF
//! backend in `airlock-bpf`): a finished syscall with its decoded arguments, a fork, an
//! exit. They go through the same dispatch, process model, folding and canary/probe
//! checks as a parsed strace line, so both backends produce the same events.

use airlock_events::{Event, Outcome};

use crate::lexer::Value;

use super::{Recorder, Ret};

/// The result of a finished call as the kernel returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    /// The return value; negative values are `-errno`.
    pub ret: i64,
    /// The errno's name (`ENOENT`) when `ret` is negative.
    pub errno: Option<String>,
    /// What strace's `-yy` would print after a returned fd (`3</resolved/path>`).
    pub annotation: Option<String>,
}

impl CallResult {
    /// A successful call returning `ret`.
    pub fn ok(ret: i64) -> Self {
        CallResult {
            ret,
            errno: None,
            annotation: None,
        }
    }

    fn to_ret(&self) -> Ret {
        if self.ret < 0 {
            return Ret {
                outcome: Outcome::Err(self.errno.clone().unwrap_or_else(|| "EUNKNOWN".into())),
                num: Some(self.ret),
                value: None,
            };
        }
        Ret {
            outcome: Outcome::Ok,
            num: Some(self.ret),
            value: Some(Value::Fd {
                fd: self.ret.to_string(),
                annotation: self.annotation.clone().unwrap_or_default(),
            }),
        }
    }
}

impl Recorder {
    /// One finished call `name` (strace's name for it) of thread group `tgid`, its
    /// arguments shaped as the strace lexer shapes them (strings as [`Value::Str`],
    /// directory fds as [`Value::Fd`] with the directory as annotation, numbers and
    /// flags as [`Value::Atom`], sockaddrs as [`Value::Struct`]). A `Value::Fd` named
    /// `AT_FDCWD` with an absolute annotation also sets the process's working directory.
    pub fn feed_call(
        &mut self,
        tgid: u32,
        ts: f64,
        name: &str,
        args: &[Value],
        result: &CallResult,
        out: &mut Vec<Event>,
    ) {
        let before = out.len();
        self.stats.lines += 1;
        self.last_ts = self.last_ts.max(ts);
        let tgid = self.tgid(tgid, ts, out);
        self.refresh_cwd(tgid, args);
        if self.folder.is_some() {
            if let Some(line) = self.fold_line(tgid, ts, name, args, result) {
                if let Some(folder) = &mut self.folder {
                    if !folder.admit(&line) {
                        self.stats.events += (out.len() - before) as u64;
                        return;
                    }
                }
            }
        }
        let ret = result.to_ret();
        self.dispatch(name, tgid, ts, args, &ret, "", out);
        self.stats.events += (out.len() - before) as u64;
    }

    /// `parent` (a thread or process id) started `child`: a thread of its own group when
    /// `thread`, else a new process (`process.start`).
    pub fn feed_fork(
        &mut self,
        parent: u32,
        child: u32,
        thread: bool,
        ts: f64,
        out: &mut Vec<Event>,
    ) {
        let before = out.len();
        self.last_ts = self.last_ts.max(ts);
        let ptgid = self.tgid(parent, ts, out);
        if self.procs.contains_key(&child) || self.thread_of.contains_key(&child) {
            return;
        }
        if thread {
            self.thread_of.insert(child, ptgid);
        } else {
            self.spawn(ptgid, child, ts, out);
        }
        self.stats.events += (out.len() - before) as u64;
    }

    /// Thread or process `pid` ended, with an exit status or killed by `signal`
    /// (`SIGKILL`). A thread's end only drops it from the table.
    pub fn feed_exit(
        &mut self,
        pid: u32,
        code: Option<i32>,
        signal: Option<&str>,
        ts: f64,
        out: &mut Vec<Event>,
    ) {
        let before = out.len();
        self.last_ts = self.last_ts.max(ts);
        let rest = match (signal, code) {
            (Some(s), _) => format!("killed by {s} +++"),
            (None, Some(c)) => format!("exited with {c} +++"),
            (None, None) => "exited with 0 +++".to_string(),
        };
        self.exit(pid, ts, &rest, out);
        self.stats.events += (out.len() - before) as u64;
    }

    /// A strace-shaped line for the folder's key (syscall, result, path), for the calls
    /// it folds; `None` for the others.
    fn fold_line(
        &self,
        tgid: u32,
        ts: f64,
        name: &str,
        args: &[Value],
        result: &CallResult,
    ) -> Option<String> {
        let (dirfd, path_at, flags) = match name {
            "open" | "creat" | "access" | "unlink" | "mkdir" | "chmod" => (None, 0, args.get(1)),
            "openat" | "openat2" | "faccessat" | "faccessat2" | "unlinkat" | "mkdirat"
            | "fchmodat" => (args.first(), 1, args.get(2)),
            _ => return None,
        };
        let raw = args.get(path_at).and_then(Value::text)?;
        let path = self.resolve(tgid, dirfd, &raw);
        let flags = flags.and_then(Value::text).unwrap_or_default();
        let flags = if name == "creat" {
            "O_WRONLY|O_CREAT|O_TRUNC".to_string()
        } else {
            flags
        };
        let path = path.replace('\\', "\\\\").replace('"', "\\\"");
        let ret = match (&result.errno, result.ret < 0) {
            (Some(e), true) => format!("-1 {e}"),
            (None, true) => "-1 EUNKNOWN".to_string(),
            _ => result.ret.to_string(),
        };
        Some(format!(
            "{tgid} {ts:.6} {name}(\"{path}\", {flags}) = {ret}"
        ))
    }
}
