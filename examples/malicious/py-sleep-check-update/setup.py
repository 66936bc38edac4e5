from setuptools import setup

setup(
    name="chimera-sandbox-ext",
    version="0.0.4",
    packages=['chimera_sandbox_ext'],
)
