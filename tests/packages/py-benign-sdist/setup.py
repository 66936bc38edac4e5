# Benign control package: setup() and nothing else.
from setuptools import setup

setup(
    name="tiny-arith",
    version="1.2.0",
    packages=["tiny_arith"],
)
