from setuptools import setup

setup(
    name="pywin-notify",
    version="2.1.0",
    packages=['pywin_notify'],
)
