"""A tiny pure-Python module: the benign control of the PyPI end-to-end tests."""


def add(a, b):
    return a + b
