"""Innocent-looking module of the .pth test package; the payload is in the .pth file."""

VERSION = "2.0.0"
