"""Test module: importing it reports the interpreter's version."""
import sys

VERSION = sys.version.split()[0]
