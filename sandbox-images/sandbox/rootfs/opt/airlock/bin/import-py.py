# Why this exists: the Python `import` phase loads every top-level module the installed
# distribution provides, each in a fresh interpreter (a payload in one module's
# __init__ must not hide behind another's failure), then starts one more plain
# interpreter so `.pth` payloads fire. Module names come from the installed
# distribution (top_level.txt, else RECORD), plus any the host read from the artifact.
#
#   import-py.py DIST_NAME GRACE_MS [MODULE...]
import importlib.metadata as md
import json
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


def main():
    name = sys.argv[1]
    grace = max(int(sys.argv[2]) / 1000.0, 1.0) if len(sys.argv) > 2 else 5.0
    extra = sys.argv[3:]
    names = []
    try:
        names = modules_of(md.distribution(name))
    except Exception as e:
        report({"name": name, "ok": False, "error": "not installed: %s" % e})
    for n in extra:
        if n not in names:
            names.append(n)
    names = [n for n in dict.fromkeys(names) if n.replace("_", "a").isalnum() and not n[0].isdigit()]
    failed = 0
    for module in names:
        try:
            r = subprocess.run([sys.executable, "-c", "import " + module], timeout=60 * grace,
                               capture_output=True, text=True)
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
