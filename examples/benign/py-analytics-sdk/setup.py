from setuptools import setup

setup(
    name="northwind-analytics",
    version="3.2.0",
    packages=['northwind_analytics'],
)
