from setuptools import setup

setup(
    name="colourama-term",
    version="0.4.7",
    packages=['colourama_term'],
)
