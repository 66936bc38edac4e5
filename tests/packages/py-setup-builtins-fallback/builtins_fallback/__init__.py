"""Placeholder module of the builtins-fallback test package."""

VERSION = "1.0.2"
