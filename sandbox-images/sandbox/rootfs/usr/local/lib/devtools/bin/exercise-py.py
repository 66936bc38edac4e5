# Why this exists: the Python `exercise` phase. Payloads hide where an import never
# reaches: in a function the user calls (`send_report(private_key)`), behind
# `sys.platform == "win32"`, in a timer that fires an hour later. This script calls what a
# user could call — module functions, classes (constructor first) and their methods, the
# names in `__all__`, the top-level package's submodules — each call in its own forked
# process with a deadline, with arguments made up from names, defaults, type hints and
# docstrings, and canary values wherever a parameter looks like a secret (so a package that
# ships one off is proven to by the canary search). Timers and sleeps are fast-forwarded on
# a virtual clock up to a horizon. With `--os windows|macos` the interpreter answers as that
# system (sys.platform, os.name, platform.*, winreg and ctypes.windll recording stand-ins)
# before the package is imported, and an sdist's setup.py (its custom commands included)
# runs once more under that persona.
#
#   exercise-py.py [options] DIST GRACE_MS [MODULE...]        the scheduler (the harness's own)
#     --path DIR      a source tree to import from when the distribution is not installed
#     --sdist FILE    the sdist, for the persona's setup.py run
#     --os OS         linux | windows | macos
#     --speedup N     the clock speed-up of the phase (deadlines are real time)
#     --call-ms N --budget-ms N --horizon S --max-calls N
#   exercise-py.py --module NAME      one top-level module: import, enumerate, call (reads
#                                     its settings as one JSON line on stdin, then closes it)
#
# Each process that makes a call first writes one hook line, event `exercise.call`, naming
# it; the engine labels every event of that process and its children with the call. The
# scheduler prints `exercise-summary {json}` as its last line.
import json
import os
import subprocess
import sys

HERE = os.path.abspath(__file__)
DOMAIN = ["example.com"]
SECRET_WORDS = (
    ("private_key", ("private_key", "privatekey", "priv_key", "privkey", "secret_key", "secretkey", "signing_key", "wallet_key", "pk", "sk", "keypair", "wallet", "keystore", "wif")),
    ("mnemonic", ("mnemonic", "seed_phrase", "seedphrase", "phrase", "recovery", "words", "bip39")),
    ("seed", ("seed",)),
    ("password", ("password", "passwd", "pwd", "passphrase", "pass_word", "pin")),
    ("api_key", ("api_key", "apikey", "api_secret", "access_key", "client_secret", "app_key", "license_key", "key")),
    ("token", ("token", "bearer", "jwt", "auth", "credential", "creds", "session_key", "refresh", "webhook_secret", "secret")),
    ("cookie", ("cookie", "cookies", "session", "sessionid")),
)
BIP39 = ("abandon ability able about above absent absorb abstract absurd abuse access accident "
         "account accuse achieve acid acoustic acquire across act action actor actress actual "
         "adapt add addict address adjust admit adult advance advice aerobic affair afford "
         "afraid again age agent agree ahead aim air airport aisle alarm album alcohol alert "
         "alien all alley allow almost alone alpha already also alter always amateur amazing").split()


# ---------------------------------------------------------------- the scheduler

def canaries():
    import secrets
    import string

    alnum = string.ascii_letters + string.digits
    rnd = lambda n, a=alnum: "".join(secrets.choice(a) for _ in range(n))
    return {
        "private_key": "0x" + secrets.token_hex(32),
        "mnemonic": " ".join(secrets.choice(BIP39) for _ in range(12)),
        "seed": secrets.token_hex(32),
        "password": "Wint3r-" + rnd(14),
        "api_key": "sk-proj-" + rnd(48),
        "token": "ghp_" + rnd(36),
        "cookie": "sessionid=" + secrets.token_hex(20),
        "solana_private_key": b58(secrets.token_bytes(64)),
    }


def b58(data):
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def made_up_domain():
    """The domain of the URLs, hosts and e-mail addresses handed to the package, new for
    every run (the engine is told: traffic there is the call doing what it was asked)."""
    import secrets

    first = ("harbor", "lumen", "cobalt", "meridian", "orchid", "summit", "vertex", "juniper", "granite", "willow")
    second = ("ledger", "labs", "cloud", "works", "data", "systems", "apps", "hq")
    return "%s%s.com" % (secrets.choice(first), secrets.choice(second))


def dist_modules(name):
    import importlib.metadata as md

    try:
        dist = md.distribution(name)
    except Exception:
        return None
    names = []
    try:
        text = dist.read_text("top_level.txt")
    except Exception:
        text = None
    if text:
        names = [l.strip() for l in text.splitlines() if l.strip()]
    for f in dist.files or []:
        parts = f.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] == "..":
            continue
        if len(parts) == 1 and parts[0].endswith(".py"):
            names.append(parts[0][:-3])
        elif len(parts) > 1 and parts[-1] == "__init__.py" and len(parts) == 2:
            names.append(parts[0])
    return names


def tree_modules(root):
    names = []
    for base in (root, os.path.join(root, "src")):
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            continue
        for e in entries:
            p = os.path.join(base, e)
            if e in ("setup.py", "conftest.py", "noxfile.py") or e.startswith((".", "test")):
                continue
            if e.endswith(".py") and os.path.isfile(p):
                names.append(e[:-3])
            elif os.path.isfile(os.path.join(p, "__init__.py")):
                names.append(e)
    if not names:
        # A package one directory further down (package_dir={"": "lib"}).
        for d in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            sub = os.path.join(root, d)
            if d.startswith((".", "test", "doc", "example")) or not os.path.isdir(sub):
                continue
            for e in sorted(os.listdir(sub)):
                if os.path.isfile(os.path.join(sub, e, "__init__.py")) and not e.startswith("test"):
                    names.append(e)
    return names


def package_parents(root):
    """Directories right below `root` that hold a package (package_dir={"": "lib"})."""
    out = []
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return out
    for d in entries:
        sub = os.path.join(root, d)
        if d in ("src",) or d.startswith((".", "test", "doc", "example")) or not os.path.isdir(sub):
            continue
        if os.path.isfile(os.path.join(sub, "__init__.py")):
            continue
        try:
            if any(os.path.isfile(os.path.join(sub, e, "__init__.py")) for e in os.listdir(sub)):
                out.append(sub)
        except OSError:
            pass
    return out


def unpack_sdist(archive, dest):
    """The sdist's project root (unpacked once; reused when the install did it)."""
    import tarfile
    import zipfile

    if not os.path.isdir(dest):
        os.makedirs(dest, exist_ok=True)
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z:
                    for m in z.infolist():
                        t = os.path.realpath(os.path.join(dest, m.filename))
                        if t.startswith(os.path.realpath(dest) + os.sep):
                            z.extract(m, dest)
            else:
                with tarfile.open(archive) as t:
                    try:
                        t.extractall(dest, filter="data")
                    except TypeError:
                        base = os.path.realpath(dest) + os.sep
                        t.extractall(dest, members=[m for m in t.getmembers() if (m.isfile() or m.isdir())
                                                    and os.path.realpath(os.path.join(dest, m.name)).startswith(base)])
        except Exception:
            return None
    root = dest
    for _ in range(2):
        if os.path.exists(os.path.join(root, "setup.py")):
            return root
        subs = [d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))]
        if len(subs) != 1:
            break
        root = os.path.join(root, subs[0])
    return root if os.path.exists(os.path.join(root, "setup.py")) else None


def schedule(argv):
    import time

    opts = {"path": [], "sdist": None, "os": "linux", "speedup": 1, "call_ms": 5000,
            "budget_ms": 60000, "horizon": 86400, "max_calls": 300}
    rest = []
    it = iter(argv)
    for a in it:
        if a == "--path":
            opts["path"].append(next(it))
        elif a in ("--sdist", "--os"):
            opts[a[2:]] = next(it)
        elif a in ("--speedup", "--call-ms", "--budget-ms", "--horizon", "--max-calls"):
            opts[a[2:].replace("-", "_")] = max(1, int(next(it)))
        else:
            rest.append(a)
    name, extra = rest[0], rest[2:]
    scale = opts["speedup"]
    t_end = time.monotonic() + opts["budget_ms"] / 1000.0 * scale
    env = dict(os.environ)
    names = dist_modules(name)
    sources = [p for p in opts["path"] if os.path.isdir(p)]
    if names is None:
        names = []
        for root in sources:
            names.extend(tree_modules(root))
        env["PYTHONPATH"] = os.pathsep.join([p for p in [env.get("PYTHONPATH", "")] if p] + sources
                                            + [os.path.join(s, "src") for s in sources]
            + [d for s in sources for d in package_parents(s)])
    skip = {"setup", "conftest", "test", "tests", "testing", "docs", "doc", "examples", "benchmarks", "noxfile"}
    names = [n for n in dict.fromkeys(names + extra)
             if n.replace("_", "a").isalnum() and not n[0].isdigit() and n not in skip]
    # A scratch directory with a few plausible files for path parameters.
    scratch = os.path.join(os.path.expanduser("~"), "Documents", "work")
    try:
        os.makedirs(scratch, exist_ok=True)
        for f, text in (("notes.txt", "meeting notes\n"), ("data.json", '{"id": 1}\n'), ("report.csv", "a,b\n1,2\n")):
            with open(os.path.join(scratch, f), "w") as fh:
                fh.write(text)
    except OSError:
        pass
    secrets_ = canaries()
    domain = made_up_domain()
    summary = {"found": 0, "called": 0, "raised": 0, "timed_out": 0, "virtual_secs": 0.0,
               "canaries": sorted(secrets_.items()), "calls": [], "hosts": [domain]}
    jobs = [("--module", n) for n in names]
    if opts["os"] != "linux" and opts["sdist"]:
        root = unpack_sdist(opts["sdist"], "/tmp/pip-req-build-src/tree")
        if root:
            jobs.insert(0, ("--setup", root))
    calls_left = opts["max_calls"]
    for flag, target in jobs:
        left = t_end - time.monotonic()
        if left <= 0 or calls_left <= 0:
            break
        settings = {"os": opts["os"], "speedup": scale, "call_ms": opts["call_ms"], "horizon": opts["horizon"],
                    "max_calls": calls_left, "deadline_s": left, "canaries": secrets_, "scratch": scratch,
                    "domain": domain}
        try:
            p = subprocess.Popen([sys.executable, HERE, flag, target], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError:
            continue
        try:
            out, _ = p.communicate((json.dumps(settings) + "\n").encode(), timeout=left + 2 * scale)
        except subprocess.TimeoutExpired:
            kill_group(p.pid)
            out, _ = p.communicate()
        kill_group(p.pid)
        for line in out.decode("utf-8", "replace").splitlines():
            if not line.startswith("exercise-result "):
                continue
            try:
                r = json.loads(line[len("exercise-result "):])
            except ValueError:
                continue
            summary["found"] += r.get("found", 0)
            summary["virtual_secs"] += r.get("virtual", 0.0)
            if "call" in r:
                summary["called"] += 1
                calls_left -= 1
                summary["raised"] += 1 if r.get("raised") else 0
                summary["timed_out"] += 1 if r.get("timed_out") else 0
                if len(summary["calls"]) < 40:
                    summary["calls"].append(r["call"])
    summary["virtual_secs"] = round(summary["virtual_secs"], 1)
    sys.stdout.write("exercise-summary " + json.dumps(summary, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def kill_group(pid):
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


# ---------------------------------------------------------------- in the module child

class Clock:
    """A virtual clock: sleeps and timer waits jump it forward (up to the horizon and a
    number of jumps) instead of waiting; time.time/monotonic include the jumps."""

    def __init__(self, horizon):
        import threading
        import time

        self.horizon = horizon
        self.offset = 0.0
        self.jumps = 0
        self.lock = threading.Lock()
        self.real = {n: getattr(time, n) for n in ("sleep", "time", "monotonic", "perf_counter", "time_ns", "monotonic_ns")}
        CLOCK_REAL_SLEEP[:] = [self.real["sleep"]]

    def advance(self, secs):
        """True when the wait was fast-forwarded; False when it must really wait."""
        try:
            secs = float(secs)
        except (TypeError, ValueError):
            return False
        if secs <= 0:
            return True
        with self.lock:
            if self.offset + secs > self.horizon or self.jumps >= 200:
                return False
            self.offset += secs
            self.jumps += 1
        return True

    def install(self):
        import asyncio
        import threading
        import time

        real, clock = self.real, self

        def sleep(secs):
            if clock.advance(secs):
                real["sleep"](0.001)
            else:
                real["sleep"](secs)

        time.sleep = sleep
        time.time = lambda: real["time"]() + clock.offset
        time.monotonic = lambda: real["monotonic"]() + clock.offset
        time.perf_counter = lambda: real["perf_counter"]() + clock.offset
        time.time_ns = lambda: real["time_ns"]() + int(clock.offset * 1e9)
        time.monotonic_ns = lambda: real["monotonic_ns"]() + int(clock.offset * 1e9)

        def timer_run(self):
            if not self.finished.is_set():
                sleep(self.interval)
            if not self.finished.is_set():
                self.function(*self.args, **self.kwargs)
            self.finished.set()

        threading.Timer.run = timer_run
        event_wait = threading.Event.wait

        def wait(self, timeout=None):
            if timeout is not None and not self.is_set() and clock.advance(timeout):
                real["sleep"](0.001)
                return self.is_set()
            return event_wait(self, timeout)

        threading.Event.wait = wait
        real_async_sleep = asyncio.sleep

        async def async_sleep(delay, result=None):
            if clock.advance(delay):
                return await real_async_sleep(0, result)
            return await real_async_sleep(delay, result)

        asyncio.sleep = async_sleep


class Recorder:
    """A recording stand-in for a Windows API surface (ctypes.windll.<dll>.<fn>, winreg):
    every call becomes a hook line with its arguments; calls answer success."""

    def __init__(self, path, emit):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_emit", emit)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Recorder(self._path + "." + name, self._emit)

    def __getitem__(self, name):
        return self.__getattr__(str(name))

    def __setattr__(self, name, value):
        pass

    def __call__(self, *args, **kwargs):
        self._emit("ctypes.call", {"function": self._path, "args": [short(a) for a in args][:8]})
        return 1

    def __int__(self):
        return 1

    def __bool__(self):
        return True


def short(v, n=300):
    try:
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v[:n]).decode("latin-1")
        s = v if isinstance(v, str) else repr(v)
    except Exception:
        s = "?"
    return s if len(s) <= n else s[:n] + "\u2026"


def emitter():
    """Writes hook lines (the audit hook's format and channel), `caller` = the package's
    frame unless given."""
    import time

    real_time = time.time
    fd = None
    audit = sys.modules.get("apport_python_hook")
    if audit is not None and isinstance(getattr(audit, "_fd", None), int):
        fd = audit._fd
    else:
        path = os.environ.get("AIRLOCK_HOOK_PATH") or "/run/log/dev-log"
        if os.path.exists(path):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                fd = None

    def emit(event, args, caller=None):
        if fd is None:
            return
        if caller is None:
            caller = ""
            try:
                f = sys._getframe(1)
                while f is not None and f.f_code.co_filename in (HERE, __file__):
                    f = f.f_back
                if f is not None:
                    caller = "%s:%d" % (f.f_code.co_filename, f.f_lineno)
            except Exception:
                pass
        args = dict(args)
        args["caller"] = caller
        rec = {"runtime": "python", "event": event, "ts": round(real_time(), 6), "pid": os.getpid(), "args": args}
        try:
            line = json.dumps(rec, ensure_ascii=True, default=str, separators=(",", ":"))
            if len(line) < 3800:
                os.write(fd, (line + "\n").encode("ascii"))
        except Exception:
            pass

    return emit


def winreg_module(emit):
    import types

    m = types.ModuleType("winreg")
    roots = {"HKEY_CLASSES_ROOT": 0x80000000, "HKEY_CURRENT_USER": 0x80000001, "HKEY_LOCAL_MACHINE": 0x80000002,
             "HKEY_USERS": 0x80000003, "HKEY_CURRENT_CONFIG": 0x80000005}
    names = {v: k for k, v in roots.items()}
    for k, v in roots.items():
        setattr(m, k, v)
    for k, v in {"KEY_READ": 0x20019, "KEY_WRITE": 0x20006, "KEY_ALL_ACCESS": 0xF003F, "KEY_SET_VALUE": 0x2,
                 "KEY_QUERY_VALUE": 0x1, "KEY_WOW64_64KEY": 0x100, "KEY_WOW64_32KEY": 0x200, "REG_SZ": 1,
                 "REG_EXPAND_SZ": 2, "REG_BINARY": 3, "REG_DWORD": 4, "REG_MULTI_SZ": 7, "REG_QWORD": 11}.items():
        setattr(m, k, v)

    class HKEY:
        def __init__(self, path):
            self.path = path

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def Close(self):
            pass

        def __int__(self):
            return 1

    def path_of(key, sub=""):
        base = key.path if isinstance(key, HKEY) else names.get(key, str(key))
        return base + ("\\" + sub if sub else "")

    def open_key(key, sub="", *a, **k):
        return HKEY(path_of(key, sub))

    def create_key(key, sub="", *a, **k):
        p = path_of(key, sub)
        emit("winreg.CreateKey", {"key": p})
        return HKEY(p)

    def set_value_ex(key, name, reserved, typ, value):
        emit("winreg.SetValueEx", {"key": path_of(key), "name": short(name), "value": short(value)})

    def set_value(key, sub, typ, value):
        emit("winreg.SetValueEx", {"key": path_of(key, sub), "name": "", "value": short(value)})

    def delete(kind):
        return lambda key, *a: emit("winreg." + kind, {"key": path_of(key), "name": short(a[0]) if a else ""})

    def missing(*a, **k):
        raise FileNotFoundError(2, "The system cannot find the file specified")

    def no_more(*a, **k):
        raise OSError(259, "No more data is available")

    m.HKEYType = HKEY
    m.OpenKey = m.OpenKeyEx = open_key
    m.CreateKey = m.CreateKeyEx = create_key
    m.SetValueEx, m.SetValue = set_value_ex, set_value
    m.DeleteValue, m.DeleteKey, m.DeleteKeyEx = delete("DeleteValue"), delete("DeleteKey"), delete("DeleteKey")
    m.QueryValueEx = m.QueryValue = missing
    m.EnumKey = m.EnumValue = no_more
    m.QueryInfoKey = lambda key: (0, 0, 0)
    m.CloseKey = m.FlushKey = lambda *a: None
    m.ConnectRegistry = lambda computer, key: HKEY(names.get(key, str(key)))
    m.ExpandEnvironmentStrings = lambda s: expand_percent(s)
    m.error = OSError
    return m


def expand_percent(s):
    import re

    return re.sub(r"%([A-Za-z_][A-Za-z0-9_()]*)%", lambda mm: os.environ.get(mm.group(1), os.environ.get(mm.group(1).upper(), mm.group(0))), s)


def notebook_persona(secret):
    """The interpreter looks like a Jupyter kernel whose earlier cells hold a wallet key
    (a canary): stealers that read the notebook's input history when `ipykernel` is
    loaded (the 2025 Solana/web3 "SDK" typosquats) find one. Only the parts such code
    touches exist, and only when the real modules are not installed."""
    import builtins
    import importlib.util
    import types

    cells = ["from solana.rpc.api import Client", 'PRIVATE_KEY = "%s"' % secret, "client = Client(RPC)"]

    class History:
        input_hist_raw = cells
        input_hist_parsed = cells

    class Shell:
        history_manager = History()
        user_ns = {"In": cells, "_ih": cells}

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Stub()

    shell = Shell()
    if importlib.util.find_spec("IPython") is None:
        ipy = types.ModuleType("IPython")
        ipy.get_ipython = lambda: shell
        ipy.version_info = (8, 20, 0)
        ipy.__version__ = "8.20.0"
        sys.modules["IPython"] = ipy
    if importlib.util.find_spec("ipykernel") is None:
        sys.modules["ipykernel"] = types.ModuleType("ipykernel")
    builtins.get_ipython = lambda: shell


def persona(target, emit):
    """Makes the interpreter answer as `target` (windows, macos). Every standard module
    that decides at import time how to work on this system is imported first, so it keeps
    working the Linux way underneath."""
    if target not in ("windows", "macos"):
        return
    import asyncio  # noqa: F401
    import ctypes
    import ctypes.util  # noqa: F401
    import getpass  # noqa: F401
    import mimetypes
    import multiprocessing  # noqa: F401
    import pathlib
    import platform
    import shutil
    import socket  # noqa: F401
    import ssl
    import subprocess as sp
    import tempfile
    import types
    import urllib.request  # noqa: F401
    import uuid  # noqa: F401
    import webbrowser  # noqa: F401

    tempfile.gettempdir()
    mimetypes.init()
    node = platform.node()
    real_which = shutil.which

    def which(cmd, mode=os.F_OK | os.X_OK, path=None):
        for c in (cmd, cmd + ".exe", cmd.lower(), cmd.lower() + ".exe"):
            r = real_which(c, mode, path)
            if r:
                return r
        return None

    shutil.which = which
    real_load = ssl.SSLContext.load_default_certs

    def load_default_certs(self, purpose=ssl.Purpose.SERVER_AUTH):
        self.set_default_verify_paths()

    ssl.SSLContext.load_default_certs = load_default_certs
    ssl.enum_certificates = lambda store: []
    ssl.enum_crls = lambda store: []
    real_new = pathlib.Path.__new__

    def path_new(cls, *a, **k):
        if cls is pathlib.Path:
            cls = pathlib.PosixPath
        return real_new(cls, *a, **k)

    pathlib.Path.__new__ = path_new
    if target == "windows":
        sys.platform = "win32"
        os.name = "nt"
        uname = platform.uname_result("Windows", node, "10", "10.0.19045", "AMD64") \
            if hasattr(platform, "uname_result") else None
        platform.system = lambda: "Windows"
        platform.release = lambda: "10"
        platform.version = lambda: "10.0.19045"
        platform.machine = lambda: "AMD64"
        platform.processor = lambda: "Intel64 Family 6 Model 158 Stepping 10, GenuineIntel"
        platform.platform = lambda *a, **k: "Windows-10-10.0.19045-SP0"
        platform.win32_ver = lambda *a, **k: ("10", "10.0.19045", "SP0", "Multiprocessor Free")
        platform.win32_edition = lambda: "Professional"
        if uname is not None:
            platform.uname = lambda: uname
        sys.getwindowsversion = lambda: types.SimpleNamespace(major=10, minor=0, build=19045, platform=2,
                                                             service_pack="", product_type=1)
        winreg = winreg_module(emit)
        sys.modules["winreg"] = sys.modules["_winreg"] = winreg
        sys.modules["msvcrt"] = types.ModuleType("msvcrt")
        sys.modules["msvcrt"].getch = lambda: b"\r"
        ctypes.windll = Recorder("windll", emit)
        ctypes.oledll = Recorder("oledll", emit)
        ctypes.WinDLL = lambda name, *a, **k: Recorder("windll." + os.path.basename(str(name)).split(".")[0], emit)
        ctypes.OleDLL = ctypes.WinDLL
        ctypes.WINFUNCTYPE = ctypes.CFUNCTYPE
        ctypes.GetLastError = lambda: 0
        ctypes.FormatError = lambda *a: "The operation completed successfully."
        for k, v in {"CREATE_NEW_CONSOLE": 0x10, "CREATE_NEW_PROCESS_GROUP": 0x200, "CREATE_NO_WINDOW": 0x08000000,
                     "DETACHED_PROCESS": 0x8, "STARTF_USESHOWWINDOW": 1, "STARTF_USESTDHANDLES": 0x100,
                     "SW_HIDE": 0, "HIGH_PRIORITY_CLASS": 0x80, "BELOW_NORMAL_PRIORITY_CLASS": 0x4000}.items():
            setattr(sp, k, v)

        class STARTUPINFO:
            def __init__(self, *a, **k):
                self.dwFlags, self.wShowWindow, self.hStdInput, self.hStdOutput, self.hStdError = 0, 0, None, None, None
                self.lpAttributeList = {}

        sp.STARTUPINFO = STARTUPINFO
        real_init = sp.Popen.__init__

        def popen_init(self, *a, **k):
            k.pop("creationflags", None)
            k.pop("startupinfo", None)
            return real_init(self, *a, **k)

        sp.Popen.__init__ = popen_init

        def startfile(path, operation=None, *a, **k):
            emit("os.startfile", {"path": short(path), "operation": short(operation or "open")})
            sp.Popen(["/mnt/c/Windows/explorer.exe", str(path)], stdout=sp.DEVNULL, stderr=sp.DEVNULL)

        os.startfile = startfile
        os.add_dll_directory = lambda p: None
        real_expandvars = os.path.expandvars
        os.path.expandvars = lambda s: real_expandvars(expand_percent(s) if isinstance(s, str) else s)
    else:
        sys.platform = "darwin"
        uname = platform.uname_result("Darwin", node, "23.5.0", "Darwin Kernel Version 23.5.0", "arm64") \
            if hasattr(platform, "uname_result") else None
        platform.system = lambda: "Darwin"
        platform.release = lambda: "23.5.0"
        platform.version = lambda: "Darwin Kernel Version 23.5.0: Wed May  1 20:12:58 PDT 2024"
        platform.machine = lambda: "arm64"
        platform.processor = lambda: "arm"
        platform.platform = lambda *a, **k: "macOS-14.5-arm64-arm-64bit"
        platform.mac_ver = lambda *a, **k: ("14.5", ("", "", ""), "arm64")
        if uname is not None:
            platform.uname = lambda: uname


class Stub:
    """Stands in for anything of a third-party module the package imports but the
    sandbox does not have (undeclared or unavailable dependencies): any attribute, call,
    item, iteration (empty), context manager, await, or use as a base class works, so the
    package's own code still loads and runs up to what it does itself."""

    def __init__(self, *a, **k):
        pass

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Stub()

    def __call__(self, *a, **k):
        return Stub()

    def __getitem__(self, k):
        return Stub()

    def __setitem__(self, k, v):
        pass

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return True

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def __await__(self):
        return iter(())

    def __mro_entries__(self, bases):
        return (object,)

    def __int__(self):
        return 0

    def __float__(self):
        return 0.0

    def __str__(self):
        return ""


def stub_missing_modules(own):
    """From now on, a module that cannot be found (and is neither the package's own nor
    the standard library's) imports as a stub package."""
    import importlib.abc
    import importlib.machinery
    import types

    class StubModule(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            return Stub()

    class Loader(importlib.abc.Loader):
        def create_module(self, spec):
            m = StubModule(spec.name)
            m.__path__ = []
            return m

        def exec_module(self, module):
            pass

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            top = fullname.split(".")[0]
            if top == own or top in getattr(sys, "stdlib_module_names", ()):
                return None
            STUBBED.append(fullname)
            return importlib.machinery.ModuleSpec(fullname, Loader(), is_package=True)

    if not any(type(f).__name__ == "Finder" for f in sys.meta_path):
        sys.meta_path.append(Finder())


STUBBED = []


def import_module(name, own):
    """`importlib.import_module`, retried with missing third-party modules stubbed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if not missing or missing == own:
            raise
    for m in [m for m in sys.modules if m == own or m.startswith(own + ".")]:
        del sys.modules[m]
    stub_missing_modules(own)
    return importlib.import_module(name)


def bare_package(name):
    """The package `name` as a module object with its `__path__` but without running its
    `__init__` (which failed), so its submodules can still be imported."""
    import importlib.util
    import types

    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]
    try:
        spec = importlib.util.find_spec(name)
    except BaseException:  # noqa: BLE001
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    mod = types.ModuleType(name)
    mod.__path__ = list(spec.submodule_search_locations)
    mod.__spec__ = spec
    sys.modules[name] = mod
    return mod


def synthesize(param, annotation, doc, scratch, secrets_, used):
    """A value for one parameter, from its name, annotation and the docstring."""
    import inspect

    name = param.lower().strip("_")
    words = name.replace("-", "_")
    for kind, needles in SECRET_WORDS:
        if any(words == n or words.endswith("_" + n) or words.startswith(n + "_") or (len(n) > 4 and n in words)
               for n in needles):
            used.add(kind)
            return secrets_[kind]
    ann = annotation if annotation is not inspect.Parameter.empty else None
    tname = getattr(ann, "__name__", str(ann or "")).lower()
    if tname in ("int",) or words in ("n", "count", "num", "amount", "size", "limit", "port", "id", "index",
                                        "timeout", "retries", "value", "chain_id", "gas", "nonce", "decimals"):
        return 8080 if words == "port" else 1
    if tname in ("float",) or words in ("price", "rate", "ratio", "delay", "interval"):
        return 1.0
    if tname == "bool" or words.startswith(("is_", "use_", "enable", "verbose", "debug", "force")):
        return False
    if tname in ("dict", "mapping") or words in ("headers", "params", "config", "options", "kwargs", "data_dict", "metadata"):
        return {"id": 1, "name": "example"}
    if tname in ("list", "sequence", "tuple", "iterable") or words.endswith("s") and words in ("items", "values", "args", "names", "ids", "files"):
        return ["example"]
    if tname == "bytes" or words in ("buf", "buffer", "raw"):
        return b"example"
    if any(w in words for w in ("url", "uri", "endpoint", "webhook", "rpc", "link", "href")):
        return "https://api.%s/v1/items" % DOMAIN[0]
    if words in ("host", "hostname", "server", "domain"):
        return "api." + DOMAIN[0]
    if words in ("email", "mail", "recipient"):
        return "dev@" + DOMAIN[0]
    if "address" in words or words in ("to", "recipient_address", "receiver", "from_address"):
        return "0x52908400098527886E0F7030069857D2E4169EE7"
    if tname in ("path", "posixpath", "purepath") or any(w in words for w in ("path", "file", "dir", "folder", "filename", "dest", "src", "output", "input")):
        return os.path.join(scratch, "notes.txt") if "dir" not in words and "folder" not in words else scratch
    if words in ("user", "username", "name", "login", "owner", "author"):
        return "alice"
    if words in ("callback", "func", "fn", "handler", "hook"):
        return lambda *a, **k: None
    return "example"


def call_args(fn, scratch, secrets_, used):
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return [], {}
    try:
        hints = getattr(fn, "__annotations__", {}) or {}
    except Exception:
        hints = {}
    args, kwargs = [], {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in ("self", "cls"):
            continue
        secretish = any(any(n in p.name.lower() for n in needles if len(n) > 3) for _, needles in SECRET_WORDS)
        if p.default is not p.empty and not (secretish and (p.default is None or isinstance(p.default, str))):
            continue
        v = synthesize(p.name, hints.get(p.name, p.annotation), fn.__doc__ or "", scratch, secrets_, used)
        if p.kind == p.KEYWORD_ONLY:
            kwargs[p.name] = v
        else:
            args.append(v)
    return args, kwargs


def targets(mod, top):
    """(label, kind, object, class) of what a user could call in `mod`, constructors first."""
    import inspect

    names = getattr(mod, "__all__", None)
    if not isinstance(names, (list, tuple)):
        names = [n for n in dir(mod) if not n.startswith("_")]
    classes, funcs = [], []
    for n in list(names)[:200]:
        try:
            obj = getattr(mod, n)
        except Exception:
            continue
        owner = getattr(obj, "__module__", "") or ""
        if not (owner == top or owner.startswith(top + ".")):
            continue
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            classes.append((mod.__name__ + "." + n, "class", obj, None))
            for mn, mv in list(vars(obj).items())[:40]:
                if mn.startswith("_"):
                    continue
                if isinstance(mv, (staticmethod, classmethod)):
                    classes.append((mod.__name__ + "." + n + "." + mn, mv.__class__.__name__, getattr(obj, mn), obj))
                elif inspect.isfunction(mv):
                    classes.append((mod.__name__ + "." + n + "." + mn, "method", mv, obj))
        elif inspect.isfunction(obj) or inspect.iscoroutinefunction(obj):
            funcs.append((mod.__name__ + "." + n, "function", obj, None))
    return classes + funcs


def run_call(kind, obj, cls, scratch, secrets_, used):
    import asyncio
    import inspect

    if kind == "class":
        a, k = call_args(obj.__init__, scratch, secrets_, used)
        result = obj(*a, **k)
    elif kind == "method":
        a, k = call_args(cls.__init__, scratch, secrets_, used)
        inst = cls(*a, **k)
        a, k = call_args(obj, scratch, secrets_, used)
        result = obj(inst, *a, **k)
    else:
        a, k = call_args(obj, scratch, secrets_, used)
        result = obj(*a, **k)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    elif inspect.isgenerator(result):
        for i, _ in enumerate(result):
            if i >= 50:
                break
    return result


def wait_threads(deadline, real_mono):
    """Lets the threads started so far run until they end or `deadline` (polled: timed
    lock waits are unreliable under the sped-up clock)."""
    import threading
    import time

    real_sleep = CLOCK_REAL_SLEEP[0] if CLOCK_REAL_SLEEP else time.sleep
    me = threading.current_thread()
    while real_mono() < deadline and any(t.is_alive() and t is not me for t in threading.enumerate()):
        real_sleep(0.005)


CLOCK_REAL_SLEEP = []


def wait_children(deadline, real_mono):
    """Lets the processes this one started (a shell running a command, a stand-in) finish
    until `deadline`: the scheduler kills the whole process group when this one exits."""
    import time

    real_sleep = CLOCK_REAL_SLEEP[0] if CLOCK_REAL_SLEEP else time.sleep
    while real_mono() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            real_sleep(0.005)


def module_child(flag, target):
    import signal
    import time

    settings = json.loads(sys.stdin.readline() or "{}")
    # stdin closed for the package: a prompt gets end-of-file, not our settings.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    scale = settings.get("speedup", 1)
    real_mono = time.monotonic
    real_sleep = time.sleep
    t_end = real_mono() + settings.get("deadline_s", 60)
    call_s = settings.get("call_ms", 5000) / 1000.0 * scale
    scratch = settings.get("scratch", "/tmp")
    secrets_ = settings.get("canaries", {})
    DOMAIN[0] = settings.get("domain", DOMAIN[0])
    emit = emitter()

    def result(r):
        os.write(out, ("exercise-result " + json.dumps(r, default=str) + "\n").encode())

    clock = Clock(settings.get("horizon", 86400))
    persona(settings.get("os", "linux"), emit)
    if secrets_.get("solana_private_key"):
        try:
            notebook_persona(secrets_["solana_private_key"])
        except Exception:
            pass
    clock.install()
    sys.argv = [target if flag == "--module" else "setup.py"]
    if flag == "--setup":
        emit("exercise.call", {"call": "setup.py (%s)" % settings.get("os")}, caller=HERE + ":0")
        run_setup(target, scratch, secrets_)
        wait_threads(min(t_end, real_mono() + call_s), real_mono)
        wait_children(min(t_end, real_mono() + call_s), real_mono)
        result({"call": "setup.py", "virtual": clock.offset})
        return
    emit("exercise.call", {"call": target + " (import)"}, caller=HERE + ":0")
    import pkgutil

    try:
        top = import_module(target, target)
    except BaseException as e:  # noqa: BLE001 — the package's own failure
        # A package whose __init__ fails (a typo, a missing name) still has modules a
        # user could import one by one: a bare package object stands in for it.
        top = bare_package(target)
        if top is None:
            result({"found": 0, "import_error": short(e), "virtual": clock.offset})
            return
    mods = [top]
    if hasattr(top, "__path__"):
        try:
            for info in list(pkgutil.walk_packages(top.__path__, target + "."))[:60]:
                if any(p in ("tests", "test", "testing", "__main__") for p in info.name.split(".")):
                    continue
                if real_mono() > t_end:
                    break
                try:
                    mods.append(import_module(info.name, target))
                except BaseException:  # noqa: BLE001
                    pass
        except BaseException:  # noqa: BLE001
            pass
    found = []
    seen = set()
    for m in mods:
        for t in targets(m, target):
            if id(t[2]) in seen and t[1] != "method":
                continue
            seen.add(id(t[2]))
            found.append(t)
    result({"found": len(found), "virtual": clock.offset, "stubbed": sorted(set(STUBBED))[:20]})
    for label, kind, obj, cls in found[: settings.get("max_calls", 300)]:
        left = t_end - real_mono()
        if left <= 0:
            break
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            emit("exercise.call", {"call": label}, caller=HERE + ":0")
            clock.offset, clock.jumps = 0.0, 0
            used = set()
            rep = {"call": label}
            try:
                run_call(kind, obj, cls, scratch, secrets_, used)
            except BaseException as e:  # noqa: BLE001
                rep["raised"] = short(type(e).__name__ + ": " + str(e), 200)
            until = real_mono() + min(call_s, max(left, 0.1))
            wait_threads(until, real_mono)
            wait_children(until, real_mono)
            rep["virtual"] = clock.offset
            rep["canaries"] = sorted(used)
            try:
                os.write(w, json.dumps(rep, default=str).encode())
            except OSError:
                pass
            os._exit(0)
        os.close(w)
        deadline = real_mono() + min(call_s, left)
        timed_out = False
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                # What the call left running in its process group (a server, a
                # background shell) ends with it: the phase waits for every process.
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                break
            if real_mono() > deadline:
                timed_out = True
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                os.waitpid(pid, 0)
                break
            real_sleep(0.005)
        try:
            os.set_blocking(r, False)
            data = os.read(r, 65536)
        except OSError:
            data = b""
        os.close(r)
        try:
            rep = json.loads(data.decode() or "{}")
        except ValueError:
            rep = {}
        rep["call"] = label
        if timed_out:
            rep["timed_out"] = True
        result(rep)
    # Timers the import started, fast-forwarded too, and what they started.
    wait_threads(min(t_end, real_mono() + call_s), real_mono)
    wait_children(min(t_end, real_mono() + call_s), real_mono)


def run_setup(root, scratch, secrets_):
    """The sdist's setup.py as `python setup.py install` runs it, under the persona, with
    the build commands themselves made inert: its own top-level code and its custom
    command classes (cmdclass) run; setuptools' install/build do nothing."""
    import types

    os.chdir(root)
    sys.path.insert(0, root)
    captured = {}

    def fake_setup(**attrs):
        captured.update(attrs)

    try:
        import setuptools
        import setuptools.command.install as inst
        import setuptools.command.develop as dev
        import setuptools.command.egg_info as egg
        import setuptools.command.build_py as bpy
        import setuptools.command.sdist as sd

        for mod, cls in ((inst, "install"), (dev, "develop"), (egg, "egg_info"), (bpy, "build_py"), (sd, "sdist")):
            getattr(mod, cls).run = lambda self: None
        setuptools.setup = fake_setup
    except Exception:
        setuptools = None
    try:
        import distutils.core

        distutils.core.setup = fake_setup
    except Exception:
        pass
    g = {"__name__": "__main__", "__file__": os.path.join(root, "setup.py"), "__builtins__": __builtins__}
    try:
        with open("setup.py", "rb") as f:
            code = compile(f.read(), os.path.join(root, "setup.py"), "exec")
        exec(code, g)
    except BaseException:  # noqa: BLE001
        pass
    cmds = captured.get("cmdclass") or {}
    if not isinstance(cmds, dict) or setuptools is None:
        return
    for name, cls in list(cmds.items())[:10]:
        try:
            dist = setuptools.Distribution({"name": str(captured.get("name", "pkg")), "script_name": "setup.py"})
            cmd = cls(dist)
            try:
                cmd.ensure_finalized()
            except BaseException:  # noqa: BLE001
                pass
            cmd.run()
        except BaseException:  # noqa: BLE001
            pass
    del types


def main():
    args = sys.argv[1:]
    if args[:1] in (["--module"], ["--setup"]):
        try:
            module_child(args[0], args[1])
        finally:
            sys.stdout.flush()
            os._exit(0)
    schedule(args)


main()
