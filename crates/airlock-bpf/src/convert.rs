//! From a kernel record to the call the strace recorder understands: the syscall's
//! strace name, its arguments shaped as the strace lexer shapes them (symbolic open
//! flags, `{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("…")}`
//! sockaddrs, directory fds annotated with their path as `-yy` prints them) and its
//! result with the errno's name. `airlock_recorder::Recorder::feed_call` then makes the
//! same events from it as from a strace line, so rules see no difference.

use std::net::{Ipv4Addr, Ipv6Addr};

use airlock_recorder::lexer::Value;
use airlock_recorder::CallResult;

use crate::raw::{RawRecord, FLAG_ENV_CUT};

const AT_FDCWD: i64 = -100;

/// A call ready for `Recorder::feed_call`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: &'static str,
    pub args: Vec<Value>,
    pub result: CallResult,
}

fn s(bytes: Vec<u8>) -> Value {
    Value::Str {
        bytes,
        truncated: false,
    }
}

fn atom(x: impl ToString) -> Value {
    Value::Atom(x.to_string())
}

fn named(n: &str, v: Value) -> Value {
    Value::Named(n.into(), Box::new(v))
}

/// A dirfd argument: `AT_FDCWD`, or the fd annotated with the directory the kernel
/// side walked (when the path was relative to it).
fn dirfd(fd: i64, walked: Option<String>) -> Value {
    let fd = fd as i32;
    Value::Fd {
        fd: if i64::from(fd) == AT_FDCWD {
            "AT_FDCWD".into()
        } else {
            fd.to_string()
        },
        annotation: walked.unwrap_or_default(),
    }
}

fn result(ret: i64) -> CallResult {
    CallResult {
        ret,
        errno: (ret < 0).then(|| errno_name(-ret)),
        annotation: None,
    }
}

/// The syscall number's strace name, for the calls the kernel side records.
pub fn syscall_name(nr: u32) -> Option<&'static str> {
    Some(match nr {
        2 => "open",
        21 => "access",
        33 => "dup2",
        41 => "socket",
        42 => "connect",
        44 => "sendto",
        46 => "sendmsg",
        49 => "bind",
        50 => "listen",
        56 => "clone",
        57 => "fork",
        58 => "vfork",
        59 => "execve",
        80 => "chdir",
        81 => "fchdir",
        82 => "rename",
        83 => "mkdir",
        85 => "creat",
        87 => "unlink",
        88 => "symlink",
        90 => "chmod",
        91 => "fchmod",
        101 => "ptrace",
        257 => "openat",
        258 => "mkdirat",
        263 => "unlinkat",
        264 => "renameat",
        266 => "symlinkat",
        268 => "fchmodat",
        269 => "faccessat",
        292 => "dup3",
        307 => "sendmmsg",
        310 => "process_vm_readv",
        311 => "process_vm_writev",
        316 => "renameat2",
        322 => "execveat",
        435 => "clone3",
        437 => "openat2",
        439 => "faccessat2",
        452 => "fchmodat2",
        _ => return None,
    })
}

/// A finished call other than an exec (see [`exec_call`]), fork or exit; `None` for
/// records the recorder has no use for.
pub fn call_of(r: &RawRecord) -> Option<Call> {
    let name = syscall_name(r.kind)?;
    let path = |i: usize| s(r.string(i).unwrap_or_default());
    let dir = |fd_arg: usize, seg: usize| dirfd(r.arg_i64(fd_arg), r.walked(seg));
    let res = result(r.ret);
    let (name, args, res) = match name {
        "open" => (name, vec![path(0), atom(open_flags(r.a[0])), atom(0)], res),
        "creat" | "mkdir" | "chmod" => (name, vec![path(0), atom(r.a[0] & 0o7777)], res),
        "access" => (name, vec![path(0), atom(r.a[0])], res),
        "unlink" => (name, vec![path(0)], res),
        "openat" => (
            name,
            vec![dir(1, 2), path(0), atom(open_flags(r.a[0])), atom(0)],
            res,
        ),
        "openat2" => (
            name,
            vec![
                dir(1, 2),
                path(0),
                Value::Struct(vec![named("flags", atom(open_flags(r.a[0])))]),
                atom(24),
            ],
            res,
        ),
        "faccessat" | "faccessat2" => (name, vec![dir(1, 2), path(0), atom(r.a[0])], res),
        "unlinkat" => (name, vec![dir(1, 2), path(0), atom(r.a[0])], res),
        "mkdirat" => (name, vec![dir(1, 2), path(0), atom(r.a[0] & 0o7777)], res),
        "fchmodat" | "fchmodat2" => (
            "fchmodat",
            vec![dir(1, 2), path(0), atom(r.a[0] & 0o7777)],
            res,
        ),
        "fchmod" => (
            name,
            vec![dirfd(r.arg_i64(1), r.walked(2)), atom(r.a[0] & 0o7777)],
            res,
        ),
        "rename" => (name, vec![path(0), path(1)], res),
        "renameat" | "renameat2" => (name, vec![dir(1, 2), path(0), dir(2, 3), path(1)], res),
        "symlink" => (name, vec![path(0), path(1)], res),
        "symlinkat" => (name, vec![path(0), dir(1, 2), path(1)], res),
        "chdir" | "fchdir" => {
            // The kernel side walked the new working directory.
            let cwd = r.walked(3).unwrap_or_else(|| "/".into());
            ("chdir", vec![s(cwd.into_bytes())], res)
        }
        "socket" => (
            name,
            vec![atom(family(r.a[0])), atom(socket_type(r.a[1])), atom(0)],
            res,
        ),
        "connect" | "bind" => {
            let len = r.segs[0].len();
            (
                name,
                vec![atom(r.a[0]), sockaddr(&r.segs[0])?, atom(len)],
                res,
            )
        }
        "listen" => (name, vec![atom(r.a[0]), atom(0)], res),
        "sendto" | "sendmsg" | "sendmmsg" => {
            let dest = sockaddr(&r.segs[0])?;
            let len = if name == "sendto" { r.a[1] } else { 0 };
            let sent = match name {
                "sendmmsg" => CallResult::ok(r.a[1] as i64),
                _ if r.ret >= 0 => CallResult::ok(r.ret),
                _ => res,
            };
            (
                "sendto",
                vec![
                    atom(r.a[0]),
                    s(r.segs[1].clone()),
                    atom(len),
                    atom(0),
                    dest,
                    atom(r.segs[0].len()),
                ],
                sent,
            )
        }
        "dup2" | "dup3" => {
            let proto = if r.a[2] == 6 { "TCP" } else { "UDP" };
            let peer = sock_text(&r.segs[0]);
            let local = sock_text(&r.segs[1]);
            let v6 = r.segs[0].len() > 16;
            let annotation = format!(
                "{proto}{}:[{}->{}]",
                if v6 { "v6" } else { "" },
                local.unwrap_or_default(),
                peer.unwrap_or_default()
            );
            (
                name,
                vec![
                    Value::Fd {
                        fd: (r.a[0] as i32).to_string(),
                        annotation,
                    },
                    atom(r.a[1]),
                ],
                res,
            )
        }
        "ptrace" => (
            name,
            vec![atom(ptrace_request(r.a[0])), atom(r.a[1] as i32)],
            res,
        ),
        "process_vm_readv" | "process_vm_writev" => (name, vec![atom(r.a[0] as i32)], res),
        _ => return None,
    };
    Some(Call {
        name,
        args,
        result: res,
    })
}

/// An exec from its entry record (path, argv, environment, working directory) and its
/// result (the syscall's exit record's return value).
pub fn exec_call(args: &RawRecord, ret: i64) -> Call {
    let argv: Vec<Value> = args.list(1).into_iter().map(s).collect();
    let mut env: Vec<Value> = args.list(2).into_iter().map(s).collect();
    if args.flags & FLAG_ENV_CUT != 0 {
        // Entries past the kernel side's cap were counted, not read: keep the count.
        let total = usize::try_from(args.a[1]).unwrap_or(0).min(100_000);
        while env.len() < total {
            env.push(s(Vec::new()));
        }
    }
    let path = s(args.string(0).unwrap_or_default());
    let cwd = Value::Fd {
        fd: "AT_FDCWD".into(),
        annotation: args.walked(3).unwrap_or_default(),
    };
    let execveat = args.a[3] == 322;
    let mut v = Vec::new();
    if execveat {
        v.push(dirfd(args.arg_i64(0), None));
    }
    v.push(path);
    v.push(Value::Array(argv));
    v.push(Value::Array(env));
    if execveat {
        v.push(atom(args.a[2]));
    }
    v.push(cwd);
    Call {
        name: if execveat { "execveat" } else { "execve" },
        args: v,
        result: result(ret),
    }
}

/// `(code, signal)` of a `task_struct.exit_code`.
pub fn exit_status(code: u64) -> (Option<i32>, Option<&'static str>) {
    let sig = (code & 0x7f) as u32;
    if sig != 0 {
        (None, Some(signal_name(sig)))
    } else {
        (Some(((code >> 8) & 0xff) as i32), None)
    }
}

/// `O_RDONLY|O_CLOEXEC`-style flags, in strace's order.
pub fn open_flags(flags: u64) -> String {
    let mut parts = vec![match flags & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    }
    .to_string()];
    let mut rest = flags & !3;
    // O_TMPFILE includes O_DIRECTORY and O_SYNC includes O_DSYNC: test them first.
    const NAMED: &[(u64, &str)] = &[
        (0o100, "O_CREAT"),
        (0o200, "O_EXCL"),
        (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"),
        (0o4010000, "O_SYNC"),
        (0o10000, "O_DSYNC"),
        (0o20000, "O_ASYNC"),
        (0o40000, "O_DIRECT"),
        (0o100000, "O_LARGEFILE"),
        (0o20200000, "O_TMPFILE"),
        (0o200000, "O_DIRECTORY"),
        (0o400000, "O_NOFOLLOW"),
        (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"),
        (0o10000000, "O_PATH"),
    ];
    for (bits, n) in NAMED {
        if rest & bits == *bits {
            parts.push((*n).to_string());
            rest &= !bits;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#o}"));
    }
    parts.join("|")
}

fn family(f: u64) -> String {
    match f {
        0 => "AF_UNSPEC".into(),
        1 => "AF_UNIX".into(),
        2 => "AF_INET".into(),
        10 => "AF_INET6".into(),
        16 => "AF_NETLINK".into(),
        17 => "AF_PACKET".into(),
        n => n.to_string(),
    }
}

fn socket_type(t: u64) -> String {
    let mut parts = vec![match t & 0xf {
        1 => "SOCK_STREAM".to_string(),
        2 => "SOCK_DGRAM".into(),
        3 => "SOCK_RAW".into(),
        4 => "SOCK_RDM".into(),
        5 => "SOCK_SEQPACKET".into(),
        10 => "SOCK_PACKET".into(),
        n => n.to_string(),
    }];
    if t & 0o2000000 != 0 {
        parts.push("SOCK_CLOEXEC".into());
    }
    if t & 0o4000 != 0 {
        parts.push("SOCK_NONBLOCK".into());
    }
    parts.join("|")
}

fn port(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[2], b[3]])
}

/// A sockaddr's bytes as the strace lexer shapes `{sa_family=…, …}`; `None` without
/// at least a family.
pub fn sockaddr(b: &[u8]) -> Option<Value> {
    if b.len() < 2 {
        return None;
    }
    let fam = u16::from_le_bytes([b[0], b[1]]);
    let family = named("sa_family", atom(family(u64::from(fam))));
    Some(Value::Struct(match fam {
        2 if b.len() >= 8 => {
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            vec![
                family,
                named("sin_port", Value::Call("htons".into(), vec![atom(port(b))])),
                named(
                    "sin_addr",
                    Value::Call("inet_addr".into(), vec![s(ip.to_string().into_bytes())]),
                ),
            ]
        }
        10 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let ip = Ipv6Addr::from(a);
            vec![
                family,
                named(
                    "sin6_port",
                    Value::Call("htons".into(), vec![atom(port(b))]),
                ),
                Value::Call(
                    "inet_pton".into(),
                    vec![atom("AF_INET6"), s(ip.to_string().into_bytes())],
                ),
            ]
        }
        1 => {
            let p = &b[2..];
            let text = if p.first() == Some(&0) && p.len() > 1 {
                let end = p[1..]
                    .iter()
                    .position(|&c| c == 0)
                    .map_or(p.len(), |e| e + 1);
                let mut v = b"@".to_vec();
                v.extend_from_slice(&p[1..end]);
                v
            } else {
                let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
                p[..end].to_vec()
            };
            vec![family, named("sun_path", s(text))]
        }
        _ => vec![family],
    }))
}

/// `addr:port` (`[v6]:port`) of a sockaddr, for a `-yy`-style socket annotation.
fn sock_text(b: &[u8]) -> Option<String> {
    let fam = u16::from_le_bytes([*b.first()?, *b.get(1)?]);
    match fam {
        2 if b.len() >= 8 => Some(format!(
            "{}:{}",
            Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            port(b)
        )),
        10 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            Some(format!("[{}]:{}", Ipv6Addr::from(a), port(b)))
        }
        _ => None,
    }
}

fn ptrace_request(r: u64) -> String {
    match r {
        0 => "PTRACE_TRACEME".into(),
        1 => "PTRACE_PEEKTEXT".into(),
        2 => "PTRACE_PEEKDATA".into(),
        3 => "PTRACE_PEEKUSER".into(),
        4 => "PTRACE_POKETEXT".into(),
        5 => "PTRACE_POKEDATA".into(),
        6 => "PTRACE_POKEUSER".into(),
        7 => "PTRACE_CONT".into(),
        8 => "PTRACE_KILL".into(),
        9 => "PTRACE_SINGLESTEP".into(),
        12 => "PTRACE_GETREGS".into(),
        13 => "PTRACE_SETREGS".into(),
        16 => "PTRACE_ATTACH".into(),
        17 => "PTRACE_DETACH".into(),
        24 => "PTRACE_SYSCALL".into(),
        0x4200 => "PTRACE_SETOPTIONS".into(),
        0x4201 => "PTRACE_GETEVENTMSG".into(),
        0x4202 => "PTRACE_GETSIGINFO".into(),
        0x4204 => "PTRACE_GETREGSET".into(),
        0x4206 => "PTRACE_SEIZE".into(),
        0x4207 => "PTRACE_INTERRUPT".into(),
        0x4208 => "PTRACE_LISTEN".into(),
        n => format!("{n:#x}"),
    }
}

/// The errno's symbolic name (`ENOENT`), as strace prints it.
pub fn errno_name(e: i64) -> String {
    let n = match e {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        26 => "ETXTBSY",
        27 => "EFBIG",
        28 => "ENOSPC",
        29 => "ESPIPE",
        30 => "EROFS",
        31 => "EMLINK",
        32 => "EPIPE",
        36 => "ENAMETOOLONG",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        88 => "ENOTSOCK",
        89 => "EDESTADDRREQ",
        90 => "EMSGSIZE",
        93 => "EPROTONOSUPPORT",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        106 => "EISCONN",
        107 => "ENOTCONN",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        113 => "EHOSTUNREACH",
        114 => "EALREADY",
        115 => "EINPROGRESS",
        n => return format!("E{n}"),
    };
    n.to_string()
}

/// The signal's name (`SIGKILL`).
pub fn signal_name(sig: u32) -> &'static str {
    const NAMES: [&str; 32] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES.get(sig as usize).copied().unwrap_or("SIGRT")
}
