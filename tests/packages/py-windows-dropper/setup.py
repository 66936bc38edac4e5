# Plain setup.py of the Windows-dropper test package; the payload is in the module.
from setuptools import setup

setup(
    name="pythonlib-win",
    version="0.0.7",
    packages=["pythonlib_win"],
)
