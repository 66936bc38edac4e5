//! The exact strace command line the orchestrator puts in front of each phase command.
//! It lives here, beside the parser, because the parser depends on every choice made
//! in it (timestamps, fd decoding, string length, which syscalls appear).
//!
//! Choices, and why:
//! - `-f` follow forks, vforks, clones (and threads: thread ids are folded into their
//!   process by the parser, which watches for `CLONE_THREAD`).
//! - `-ttt` absolute unix timestamps with microseconds (what [`airlock_events::Event::ts`] holds).
//! - `-yy` print paths behind fds and socket endpoints (`3</etc/passwd>`,
//!   `5<TCP:[10.0.0.2:41000->1.2.3.4:443]>`). It also annotates `AT_FDCWD</cwd>`,
//!   which keeps the parser's cwd tracking honest.
//! - `-v` unabbreviated structures: without it argv/envp of `execve` are elided.
//! - `-s 4096` strings up to 4 KiB: long enough for paths, argv entries (inline
//!   `sh -c`/`node -e` payloads), env values and DNS datagrams.
//! - `-q` suppress attach/detach chatter but keep `+++ exited with N +++` (`-qq` would
//!   drop the exit statuses).
//! - `--seccomp-bpf` only the traced syscalls stop the tracee, which keeps `npm install`
//!   fast (it is only valid with `-f`, which we use).
//! - `-e signal=none` drop `--- SIGCHLD ... ---` lines (noise; the parser skips them
//!   anyway).
//! - `-o FILE` so the traced program's own stdout/stderr stay separate from the trace.
//!   Put FILE in a directory only root can write (strace runs as root, the package as
//!   the unprivileged user), so the package cannot rewrite its own trace.
//!   The sandbox makes FILE a FIFO and streams it to the host while the phase runs, folding
//!   repetitive lines on the way ([`crate::fold`]): nothing fills up inside the container.
//!
//! Not traced, on purpose: `write`/`pwrite64` (strace prints each buffer, up to `-s`
//! bytes, so an `npm install` unpacking a tarball would copy every file into the trace;
//! what a phase wrote is recovered by the filesystem diff with content hashes instead),
//! and the `stat` family (node's module resolution makes tens of thousands of them, each
//! a long line with `-v`). Existence checks still show up through `access`/`faccessat`,
//! which sandbox probes like `fs.existsSync('/.dockerenv')` use.

/// Syscalls the parser understands, in the order of the brief.
pub const TRACED_SYSCALLS: &[&str] = &[
    "execve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "exit_group",
    "chdir",
    "fchdir",
    "open",
    "openat",
    "openat2",
    "creat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "chmod",
    "fchmod",
    "fchmodat",
    "symlink",
    "symlinkat",
    "mkdir",
    "mkdirat",
    "socket",
    "connect",
    "bind",
    "listen",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "dup2",
    "dup3",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "access",
    "faccessat",
    "faccessat2",
];

/// String length limit passed with `-s`.
pub const STRING_LIMIT: usize = 4096;

/// The argv prefix, starting with `strace` and ending with `--`, to run (as root, inside
/// the container) in front of a phase command: `[prefix..., cmd...]`.
pub fn strace_args(output_file: &str) -> Vec<String> {
    build(output_file, None)
}

/// Like [`strace_args`], but strace runs the command as `user` (`-u user`: its uid, gid
/// and supplementary groups) while strace itself stays root.
pub fn strace_args_for_user(output_file: &str, user: &str) -> Vec<String> {
    build(output_file, Some(user))
}

fn build(output_file: &str, user: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = [
        "strace",
        "-f",
        "-ttt",
        "-yy",
        "-v",
        "-s",
        &STRING_LIMIT.to_string(),
        "-q",
        "--seccomp-bpf",
        "-e",
        "signal=none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("-e".into());
    v.push(format!("trace={}", TRACED_SYSCALLS.join(",")));
    if let Some(u) = user {
        v.push("-u".into());
        v.push(u.into());
    }
    v.push("-o".into());
    v.push(output_file.into());
    v.push("--".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let a = strace_args("/tmp/t");
        assert_eq!(a[0], "strace");
        assert_eq!(a.last().map(String::as_str), Some("--"));
        let o = a.iter().position(|x| x == "-o").unwrap();
        assert_eq!(a[o + 1], "/tmp/t");
        assert!(a
            .iter()
            .any(|x| x.starts_with("trace=") && x.contains("execve,")));
        assert!(!a.iter().any(|x| x == "-qq"), "-qq hides exit statuses");
        let u = strace_args_for_user("/tmp/t", "runner");
        assert_eq!(u.len(), a.len() + 2);
        assert!(u.windows(2).any(|w| w[0] == "-u" && w[1] == "runner"));
    }
}
