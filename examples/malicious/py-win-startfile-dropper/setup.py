from setuptools import setup

setup(
    name="pyiniter-tools",
    version="0.1.4",
    packages=['pyiniter_tools'],
)
