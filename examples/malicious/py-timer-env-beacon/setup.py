from setuptools import setup

setup(
    name="fastjsonlog",
    version="0.9.3",
    packages=['fastjsonlog'],
)
