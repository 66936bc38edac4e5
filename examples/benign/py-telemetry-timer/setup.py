from setuptools import setup

setup(
    name="fastcfg-loader",
    version="1.4.0",
    packages=['fastcfg_loader'],
)
