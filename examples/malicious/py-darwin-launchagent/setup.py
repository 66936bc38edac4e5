from setuptools import setup

setup(
    name="macos-notifier-kit",
    version="1.2.0",
    packages=['macos_notifier_kit'],
)
