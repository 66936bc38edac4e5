from setuptools import setup

setup(
    name="docs-opener",
    version="1.0.0",
    packages=['docs_opener'],
)
