# Why this exists: the Python half of issue 16's detection probe: what a Python payload
# can see of the analysis (environment, loaded modules, audit hooks' files, paths, cgroup,
# PID 1, the process list, sink sockets, the CA bundle, the clock). Prints one
# `MARK <kind>: <detail>` line per mark, then `PROBE-DONE python <phase> marks=<n>`.
import os, re, socket, sys, time

phase = sys.argv[1] if len(sys.argv) > 1 else "install"
tell = re.compile(r"airlock|faketime|hook|strace|sandbox|run-phase", re.I)
marks, info = [], []


def mark(kind, detail):
    marks.append("MARK %s: %s" % (kind, str(detail)[:160]))


def read(p):
    try:
        with open(p, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


for k, v in os.environ.items():
    if tell.search(k) or k in ("NODE_OPTIONS", "LD_PRELOAD", "LD_AUDIT", "NO_FAKE_STAT", "PYTHONPATH") or k.startswith("FAKETIME"):
        mark("env", "%s=%s" % (k, v))
for name, mod in list(sys.modules.items()):
    f = getattr(mod, "__file__", None) or ""
    # Ubuntu's own crash reporter hook: its sitecustomize loads it in every interpreter.
    if name == "apport_python_hook":
        continue
    if tell.search(name) or tell.search(f) or f.startswith("/opt/"):
        mark("sys.modules", "%s %s" % (name, f))
for p in sys.path:
    if tell.search(p) or p.startswith("/opt/"):
        mark("sys.path", p)
for l in set(x.split()[-1] for x in read("/proc/self/maps").splitlines() if len(x.split()) >= 6):
    if tell.search(l):
        mark("maps", l)
for p in ("/opt/airlock", "/.dockerenv", "/run/.containerenv", "/airlock", "/run/airlock"):
    if os.path.exists(p):
        mark("path", p)
c1 = read("/proc/1/cgroup")
if re.search(r"docker|containerd|kubepods|lxc|libpod", c1):
    mark("cgroup", c1.splitlines()[0] if c1 else "")
comm1 = read("/proc/1/comm").strip()
cmd1 = read("/proc/1/cmdline").replace("\0", " ").strip()
if re.search(r"docker-init|tini|dumb-init|^sleep|^cat$|^sh$", comm1) or re.search(r"docker|sleep infinity", cmd1):
    mark("pid1", "%s | %s" % (comm1, cmd1))
for pid in filter(str.isdigit, os.listdir("/proc")):
    c = read("/proc/%s/cmdline" % pid).replace("\0", " ")
    if "strace" in c:
        info.append("INFO tracer process (recorder's): " + pid)
        continue
    if tell.search(c) or re.search(r"setpriv|docker", c):
        mark("ps", "%s %s" % (pid, c))
for f in ("tcp", "tcp6", "udp", "udp6"):
    for l in read("/proc/net/" + f).splitlines()[1:]:
        cols = l.split()
        if len(cols) > 3 and int(cols[1].split(":")[1], 16) in (17080, 17053, 17054):
            mark("net", "%s %s" % (f, cols[1]))
bundle = read("/etc/ssl/certs/ca-certificates.crt")
try:
    import ssl
    ctx = ssl.create_default_context()
    for c in ctx.get_ca_certs():
        subject = str(c.get("subject"))
        if re.search(r"airlock", subject, re.I):
            mark("ca", subject)
except Exception as e:  # noqa: BLE001
    info.append("INFO ca check failed: %s" % e)
# The clock: a sped-up clock shows against the file system's (kernel) time; reported
# as INFO, since any time acceleration shows this way.
try:
    import tempfile
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"x"); f.flush()
        m0, t0 = os.stat(f.name).st_mtime, time.time()
        time.sleep(0.5)
        f.write(b"y"); f.flush()
        m1, t1 = os.stat(f.name).st_mtime, time.time()
        if (t1 - t0) > 2 * max(m1 - m0, 0.01) + 0.2:
            info.append("INFO clock: %.2f s by time.time, %.2f s by file times" % (t1 - t0, m1 - m0))
except OSError:
    pass
for name in ("airlock-probe.invalid", "nothing-here.test", "no-such-host.example"):
    try:
        a = socket.gethostbyname(name)
        mark("dns", "%s -> %s" % (name, a))
    except OSError:
        pass
for m in marks[:8]:
    print(m)
for i in info[:3]:
    print(i)
print("PROBE-DONE python %s marks=%d kinds=%s" % (phase, len(marks), ",".join(sorted(set(m.split()[1].rstrip(":") for m in marks)))))
