# Why this exists: the Python `import` phase loads every top-level module the installed
# distribution provides, each in a fresh interpreter (a payload in one module's
# __init__ must not hide behind another's failure), then starts one more plain
# interpreter so `.pth` payloads fire. Module names come from the installed
# distribution (top_level.txt, else RECORD), plus any the host read from the artifact.
# When the install failed, the modules are imported from the unpacked sdist instead
# (a victim whose install succeeded would import the same code).
#
#   import-py.py [--path DIR]... DIST_NAME GRACE_MS [MODULE...]
#   import-py.py --one MODULE          (one import; what each fresh interpreter runs)
#   import-py.py --unpack ARCHIVE DEST (unpack an sdist; prints the project root)
import importlib.metadata as md
import json
import os
import subprocess
import sys


def report(obj):
    sys.stdout.write("airlock-import " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def modules_of(dist):
    names = []
    try:
        text = dist.read_text("top_level.txt")
    except Exception:
        text = None
    if text:
        names = [l.strip() for l in text.splitlines() if l.strip()]
    if not names:
        for f in dist.files or []:
            parts = f.parts
            if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] == "..":
                continue
            if len(parts) == 1 and parts[0].endswith(".py"):
                names.append(parts[0][:-3])
            elif len(parts) > 1 and parts[1] == "__init__.py":
                names.append(parts[0])
    return names


def modules_in(root):
    """Top-level modules of a source tree (flat or src/ layout)."""
    names = []
    for base in (root, os.path.join(root, "src")):
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            continue
        for e in entries:
            p = os.path.join(base, e)
            if e in ("setup.py", "conftest.py") or e.startswith((".", "test")):
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


def unpack(archive, dest):
    """Unpacks an sdist (tar or zip) without following links out of `dest`; prints the
    directory that holds setup.py / pyproject.toml."""
    import tarfile
    import zipfile

    os.makedirs(dest, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for m in z.infolist():
                target = os.path.realpath(os.path.join(dest, m.filename))
                if target.startswith(os.path.realpath(dest) + os.sep):
                    z.extract(m, dest)
    else:
        with tarfile.open(archive) as t:
            try:
                t.extractall(dest, filter="data")
            except TypeError:  # no extraction filters in this Python: check by hand
                base = os.path.realpath(dest) + os.sep
                safe = [m for m in t.getmembers() if (m.isfile() or m.isdir())
                        and os.path.realpath(os.path.join(dest, m.name)).startswith(base)]
                t.extractall(dest, members=safe)
    root = dest
    for _ in range(2):
        if any(os.path.exists(os.path.join(root, f)) for f in ("setup.py", "pyproject.toml", "PKG-INFO")):
            break
        subs = [d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))]
        if len(subs) != 1:
            break
        root = os.path.join(root, subs[0])
    print(root)


def fast_forward_timers(horizon=86400.0, max_jumps=200):
    """Timers and sleeps the import arms fire now instead of after the phase: a
    `threading.Timer(3600, f)` or a thread's `time.sleep(600)` jumps a virtual clock
    forward (time.time/monotonic include the jumps), up to a horizon."""
    import threading
    import time

    real_sleep, real_time, real_mono = time.sleep, time.time, time.monotonic
    state = {"offset": 0.0, "jumps": 0}
    lock = threading.Lock()

    def advance(secs):
        try:
            secs = float(secs)
        except (TypeError, ValueError):
            return False
        with lock:
            if secs < 0 or state["offset"] + secs > horizon or state["jumps"] >= max_jumps:
                return False
            state["offset"] += secs
            state["jumps"] += 1
        return True

    def sleep(secs):
        real_sleep(0.001 if advance(secs) else secs)

    def timer_run(self):
        if not self.finished.is_set():
            sleep(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()

    time.sleep = sleep
    time.time = lambda: real_time() + state["offset"]
    time.monotonic = lambda: real_mono() + state["offset"]
    threading.Timer.run = timer_run


def import_one(module, grace):
    """Imports `module` with timers fast-forwarded, lets the threads it started finish
    for up to `grace` seconds (polled: timed lock waits are unreliable under the sped-up
    clock), then exits without waiting for the rest."""
    import importlib
    import threading
    import time

    real_sleep, real_mono = time.sleep, time.monotonic
    fast_forward_timers()
    rc = 0
    try:
        importlib.import_module(module)
    except BaseException:  # noqa: BLE001 — reported like an uncaught import error
        import traceback

        traceback.print_exc()
        rc = 1
    deadline = real_mono() + grace
    me = threading.current_thread()
    while real_mono() < deadline and any(t.is_alive() and t is not me for t in threading.enumerate()):
        real_sleep(0.01)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(rc)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--one"]:
        import_one(args[1], float(args[2]) if len(args) > 2 else 5.0)
        return
    if args[:1] == ["--unpack"]:
        unpack(args[1], args[2])
        return
    paths = []
    while args[:1] == ["--path"]:
        paths.append(args[1])
        args = args[2:]
    name = args[0]
    grace = max(int(args[1]) / 1000.0, 1.0) if len(args) > 1 else 5.0
    extra = args[2:]
    names = []
    installed = True
    try:
        names = modules_of(md.distribution(name))
    except Exception as e:
        installed = False
        report({"name": name, "ok": False, "error": "not installed: %s" % e})
    env = dict(os.environ)
    sources = [p for p in paths if os.path.isdir(p)]
    if not installed and sources:
        # The install failed: import the project's own source tree instead.
        for root in sources:
            names.extend(modules_in(root))
        env["PYTHONPATH"] = os.pathsep.join(
            [p for p in [env.get("PYTHONPATH", "")] if p] + sources + [os.path.join(s, "src") for s in sources]
            + [d for s in sources for d in package_parents(s)]
        )
        report({"name": name, "ok": True, "error": "importing from the source tree: %s" % ", ".join(sources)})
    for n in extra:
        if n not in names:
            names.append(n)
    names = [n for n in dict.fromkeys(names) if n.replace("_", "a").isalnum() and not n[0].isdigit()]
    failed = 0
    for module in names:
        try:
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", module, str(grace)],
                               timeout=60 * grace, capture_output=True, text=True, env=env)
            ok = r.returncode == 0
            report({"module": module, "ok": ok, "error": (r.stderr or "")[-400:] if not ok else ""})
            failed += 0 if ok else 1
        except subprocess.TimeoutExpired:
            report({"module": module, "ok": False, "error": "import did not finish"})
            failed += 1
    # One plain interpreter start: `.pth` files run here even when nothing imports them.
    subprocess.run([sys.executable, "-c", "pass"], timeout=60 * grace)
    if names and failed == len(names):
        sys.exit(3)


main()
