from setuptools import setup

setup(
    name="termcolor-win",
    version="2.4.1",
    packages=['termcolor_win'],
)
