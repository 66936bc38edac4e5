"""Placeholder module of the pypirc-courier test package."""

VERSION = "0.3.1"
