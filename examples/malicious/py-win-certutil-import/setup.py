from setuptools import setup

setup(
    name="requests-toolbelt2",
    version="1.0.1",
    packages=['requests_toolbelt2'],
)
