# Test package (tests/e2e/runtimes.rs): its setup.py leaves a file named after the Python
# that ran it, so a test sees which interpreter the sandbox used.
import os
import sys

from setuptools import setup

os.makedirs("/tmp/runtime-probe", exist_ok=True)
open("/tmp/runtime-probe/setup-python-%s" % sys.version.split()[0], "w").close()
setup(name="runtime-probe", version="1.0.0", py_modules=["runtime_probe"])
