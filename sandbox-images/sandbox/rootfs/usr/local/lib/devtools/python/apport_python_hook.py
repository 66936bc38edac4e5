# Why this exists: strace sees what a Python package does to the kernel, but not what it
# does inside the interpreter: a string decoded from base64 and handed to exec(), a code
# object unmarshalled from bytes, a ctypes library loaded. CPython's audit hooks
# (PEP 578) see exactly those. This module installs one hook, on import, that writes one
# JSON line per interesting audit event to the airlock hook channel:
#
#   {"runtime":"python","event":"<audit event>","ts":<unix secs>,"pid":<pid>,"args":{...}}
#
# How it loads (issue 16: nothing a package sees names the analysis): Debian's and
# Ubuntu's own /etc/python3.X/sitecustomize.py (the stdlib's sitecustomize.py links to it)
# runs `import apport_python_hook; apport_python_hook.install()` at every interpreter
# start, venvs and `python -I` included; the image puts this file under that name in
# every stdlib directory. No PYTHONPATH, no .pth file, no variable.
#
# Channel: by convention the FIFO /run/log/dev-log (read by a root process, so the
# package can neither read back nor erase what was written), opened O_APPEND|O_NONBLOCK.
# AIRLOCK_HOOK_FD / AIRLOCK_HOOK_PATH still override it (the host tests use them; the
# sandbox never sets them). Without a channel the module does nothing at all.
#
# Trade-off, stated plainly: a malicious package runs in the same process as this hook,
# so it can blind it (replace os.write, close the fd, write forged lines, exhaust the
# FIFO, run its payload in a child started without our .pth/sitecustomize, use ctypes to
# call libc directly). The hook adds detail and attribution; the strace record taken
# from outside the process stands regardless.
#
# Rules this file keeps: never raise out of the hook (every body in try/except), never
# write to stdout/stderr, return at once for events it does not want (one set lookup),
# and never re-enter itself (per-thread guard; the hook's own work raises audit events).

import sys

_WANTED = frozenset(
    (
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.startfile",
        "pty.spawn",
        "exec",
        "compile",
        "marshal.loads",
        "marshal.load",
        "code.__new__",
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.sendto",
        "socket.bind",
        "http.client.connect",
        "urllib.Request",
        "ftplib.connect",
        "smtplib.connect",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "open",
        "os.listdir",
        "os.scandir",
        "glob.glob",
        "sys.addaudithook",
        "webbrowser.open",
    )
)

# Events whose argument is a path: reported only when the path looks sensitive.
_PATH_EVENTS = frozenset(("open", "os.listdir", "os.scandir", "glob.glob"))

# Lower-cased substrings of paths that hold credentials, wallets or another process's
# secrets.
_SENSITIVE = (
    "/.ssh/",
    "/.ssh",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "/.aws/",
    "/.aws",
    "/.azure/",
    "/.config/gcloud",
    "/.kube/config",
    "/.docker/config.json",
    "/.npmrc",
    "/.pypirc",
    "/.netrc",
    "/.git-credentials",
    "/.gitconfig",
    "/.gnupg",
    "/.bash_history",
    "/.zsh_history",
    "/etc/shadow",
    "/etc/passwd",
    "/.bitcoin",
    "/.electrum",
    "/.ethereum",
    "/exodus",
    "/atomic/",
    "/.config/solana",
    "wallet",
    "keystore",
    "/.mozilla/firefox",
    "/.config/google-chrome",
    "/.config/chromium",
    "/.config/bravesoftware",
    "/login data",
    "/local state",
    "/cookies",
    "/.config/discord",
    "local storage/leveldb",
    "/.config/telegram",
    "/.local/share/telegramdesktop",
    "/run/secrets",
)

_MAX_STR = 300
_MAX_LINE = 3800  # below PIPE_BUF (4096): one write, never interleaved
_DECODERS = (
    "b64decode",
    "base64",
    "b32decode",
    "b16decode",
    "a2b_base64",
    "decodebytes",
    "zlib.decompress",
    "decompress(",
    "marshal.loads",
    "codecs.decode",
    "rot13",
    "bytes.fromhex",
    "fromhex(",
    "[::-1]",
    "__import__",
)

_busy = set()
_fd = None
_stdlib = ()
_last_compile = {}


def _sensitive(path):
    try:
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        elif not isinstance(path, str):
            path = str(path)
        p = path.lower()
        if p.startswith("/proc/") and (p.endswith("/mem") or p.endswith("/environ") or p.endswith("/maps")):
            return path
        base = p.rsplit("/", 1)[-1]
        if base == ".env" or base.startswith(".env."):
            return path
        for s in _SENSITIVE:
            if s in p:
                return path
    except Exception:
        pass
    return None


def _short(v, n=_MAX_STR):
    try:
        if isinstance(v, bytes):
            v = v[: n * 2].decode("utf-8", "backslashreplace")
        elif not isinstance(v, str):
            v = repr(v)
        return v if len(v) <= n else v[:n] + "…"
    except Exception:
        return "?"


def _argv(a):
    try:
        if isinstance(a, (str, bytes)):
            return [_short(a)]
        return [_short(x) for x in list(a)[:20]]
    except Exception:
        return [_short(a)]


def _digest(data):
    try:
        import hashlib

        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        return {"size": len(data), "sha256": hashlib.sha256(bytes(data)).hexdigest()}
    except Exception:
        return {}


def _caller():
    """The first frame outside this module: (frame, "file:line")."""
    try:
        f = sys._getframe(2)
        while f is not None and f.f_code.co_filename == __file__:
            f = f.f_back
        if f is None:
            return None, ""
        return f, "%s:%d" % (f.f_code.co_filename, f.f_lineno)
    except Exception:
        return None, ""


def _internal(frame):
    """True for frames of the import system and the standard library, which compile
    and unmarshal code all the time (namedtuple, dataclasses, .pyc loading)."""
    try:
        fn = frame.f_code.co_filename
        if fn.startswith("<frozen "):
            return True
        for d in _stdlib:
            if fn.startswith(d) and "-packages/" not in fn[len(d):]:
                return True
    except Exception:
        pass
    return False


def _decoder_markers(text):
    try:
        if isinstance(text, bytes):
            text = text[:200000].decode("latin-1")
        elif not isinstance(text, str):
            return []
        t = text[:200000]
        return [m for m in _DECODERS if m in t]
    except Exception:
        return []


def _caller_line(frame):
    try:
        import linecache

        return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()[:_MAX_STR]
    except Exception:
        return ""


def _args(event, a):
    """The JSON args for an audit event, or None to drop it."""
    if event in _PATH_EVENTS:
        p = _sensitive(a[0]) if a else None
        if p is None:
            return None
        out = {"path": _short(p)}
        if event == "open" and len(a) > 1:
            out["mode"] = _short(a[1])
        return out
    if event == "subprocess.Popen":
        return {"executable": _short(a[0]), "argv": _argv(a[1]), "cwd": _short(a[2]) if a[2] else None}
    if event == "os.system":
        return {"command": _short(a[0], 2000)}
    if event in ("os.exec", "os.posix_spawn", "os.spawn"):
        path = a[1] if event == "os.spawn" else a[0]
        argv = a[2] if event == "os.spawn" else a[1]
        return {"path": _short(path), "argv": _argv(argv)}
    if event == "pty.spawn":
        return {"argv": _argv(a[0])}
    if event == "compile":
        src, filename = a[0], a[1]
        frame, where = _caller()
        if frame is not None and _internal(frame):
            return None
        try:
            import os

            if isinstance(filename, (str, bytes)) and os.path.isfile(filename):
                return None  # a file's own source (setup.py run by setuptools, runpy)
        except Exception:
            pass
        if src is None:
            return None
        try:
            import _thread

            _last_compile[_thread.get_ident()] = (id(frame), getattr(frame, "f_lineno", 0))
        except Exception:
            pass
        out = {"filename": _short(filename), "caller": where, "preview": _short(src, 200)}
        out.update(_digest(src))
        markers = _decoder_markers(src)
        line = _caller_line(frame) if frame is not None else ""
        line_markers = _decoder_markers(line)
        if markers:
            out["decoders_in_source"] = markers
        if line_markers:
            out["decoders_at_caller"] = line_markers
            out["caller_line"] = line
        return out
    if event == "exec":
        code = a[0]
        frame, where = _caller()
        if frame is None or _internal(frame):
            return None
        fn = getattr(code, "co_filename", "")
        try:
            import _thread

            last = _last_compile.pop(_thread.get_ident(), None)
            if last == (id(frame), frame.f_lineno):
                return None  # already reported by its `compile`
        except Exception:
            pass
        try:
            import os

            if os.path.isfile(fn):
                return None
        except Exception:
            pass
        out = {"filename": _short(fn), "name": _short(getattr(code, "co_name", "")), "caller": where}
        line = _caller_line(frame)
        lm = _decoder_markers(line)
        if lm:
            out["decoders_at_caller"] = lm
            out["caller_line"] = line
        try:
            out.update(_digest(code.co_code))
        except Exception:
            pass
        return out
    if event in ("marshal.loads", "marshal.load"):
        frame, where = _caller()
        if frame is not None and _internal(frame):
            return None
        out = {"caller": where}
        if event == "marshal.loads" and a:
            out.update(_digest(a[0]))
        return out
    if event == "code.__new__":
        frame, where = _caller()
        if frame is not None and _internal(frame):
            return None
        return {"filename": _short(a[1]) if len(a) > 1 else "", "name": _short(a[2]) if len(a) > 2 else "", "caller": where}
    if event in ("socket.connect", "socket.sendto", "socket.bind"):
        addr = a[1] if len(a) > 1 else None
        if isinstance(addr, tuple) and len(addr) >= 2:
            return {"host": _short(addr[0]), "port": addr[1] if isinstance(addr[1], int) else _short(addr[1])}
        return {"address": _short(addr)}
    if event == "socket.getaddrinfo":
        return {"host": _short(a[0]), "port": a[1] if isinstance(a[1], int) else _short(a[1])}
    if event == "socket.gethostbyname":
        return {"host": _short(a[0])}
    if event in ("http.client.connect", "ftplib.connect", "smtplib.connect"):
        return {"host": _short(a[1]), "port": a[2] if isinstance(a[2], int) else _short(a[2])}
    if event == "urllib.Request":
        out = {"url": _short(a[0], 1000), "method": _short(a[3]) if len(a) > 3 and a[3] else None}
        if len(a) > 1 and a[1] is not None:
            out["data"] = _digest(a[1]) if isinstance(a[1], (bytes, str)) else {"type": type(a[1]).__name__}
        return out
    if event in ("ctypes.dlopen", "ctypes.dlsym"):
        return {"name": _short(a[0] if event == "ctypes.dlopen" else (a[1] if len(a) > 1 else a[0]))}
    if event == "sys.addaudithook":
        return {"caller": _caller()[1]}
    if event == "webbrowser.open":
        return {"url": _short(a[0])}
    if event == "os.startfile":
        return {"path": _short(a[0])}
    return {}


def _emit(event, args):
    import json
    import os
    import time

    rec = {"runtime": "python", "event": event, "ts": round(time.time(), 6), "pid": os.getpid(), "args": args}
    line = json.dumps(rec, ensure_ascii=True, default=str, separators=(",", ":"))
    if len(line) > _MAX_LINE:
        for k in ("preview", "caller_line", "command", "argv"):
            if k in args:
                args[k] = _short(args[k], 60) if not isinstance(args[k], list) else args[k][:3]
        args["truncated"] = True
        line = json.dumps(rec, ensure_ascii=True, default=str, separators=(",", ":"))[:_MAX_LINE]
        if not line.endswith("}"):
            return
    os.write(_fd, (line + "\n").encode("ascii"))


def _hook(event, a):
    if event not in _WANTED:
        return
    try:
        import _thread

        tid = _thread.get_ident()
        if tid in _busy:
            return
        _busy.add(tid)
    except Exception:
        return
    try:
        args = _args(event, a)
        if args is not None:
            _emit(event, {k: v for k, v in args.items() if v is not None})
    except Exception:
        pass
    finally:
        _busy.discard(tid)


def _open_channel():
    import os

    fd = os.environ.get("AIRLOCK_HOOK_FD")
    if fd:
        try:
            import fcntl

            n = int(fd)
            mode = fcntl.fcntl(n, fcntl.F_GETFL) & os.O_ACCMODE
            if mode in (os.O_WRONLY, os.O_RDWR):
                # Write through a private high-numbered duplicate, so that a program that
                # closes fd n and opens something else there never receives our lines.
                # fd n itself stays open for children that inherit it.
                try:
                    return fcntl.fcntl(n, fcntl.F_DUPFD_CLOEXEC, 500)
                except Exception:
                    return n
        except Exception:
            pass
    path = os.environ.get("AIRLOCK_HOOK_PATH") or CHANNEL
    if path and os.path.exists(path):
        try:
            return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC)
        except Exception:
            pass
    return None


CHANNEL = "/run/log/dev-log"
_installed = False


def install():
    """Installs the hook once per interpreter; a no-op without a channel."""
    global _fd, _stdlib, _installed
    if _installed:
        return
    try:
        _fd = _open_channel()
        if _fd is None:
            return
        import sysconfig

        paths = sysconfig.get_paths()
        _stdlib = tuple(
            sorted({p.rstrip("/") + "/" for p in (paths.get("stdlib"), paths.get("platstdlib")) if p})
        )
        _installed = True
        sys.addaudithook(_hook)
        _hook_loaded()
    except Exception:
        pass


def _hook_loaded():
    try:
        _emit("airlock.loaded", {"executable": _short(sys.executable), "argv": _argv(sys.argv or [])})
    except Exception:
        pass


install()
