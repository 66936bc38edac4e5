#!/usr/bin/env python3
"""Writes the pinned benign corpora of the at-scale evaluation (tests/corpus/*.txt).

Why: the evaluation must run on packages nobody here chose, each at one exact version,
so a rerun measures the same bytes. The rankings and versions come from the package
listings of the workplace (`npm.tsv`: monthly downloads; `pypi.tsv`: rank among the
15,000 most downloaded). The version pinned is the listing's (the latest release on the
day the listing was made); the few entries without a version are resolved once with the
PyPI JSON API. Nothing is downloaded here: `airlock-bench eval` fetches each pinned
artifact when it first scans it.

Usage: python3 tests/corpus/pin_lists.py [PACKAGES_DIR]
"""
import json
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PKGS = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.library/env/packages")
NPM_TOP, PYPI_TOP = 1000, 300


def rows(path):
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            yield line.rstrip("\n").split("\t")


def pypi_latest(name):
    url = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)["info"]["version"]


def main():
    npm = {p[0]: (p[1], int(p[2])) for p in rows(PKGS / "npm.tsv") if len(p) >= 3 and p[2].isdigit()}
    pypi = {}
    for p in rows(PKGS / "pypi.tsv"):
        if len(p) >= 4 and p[3].isdigit():
            pypi[p[0].lower()] = (p[1], int(p[3]))
    resolved = {}

    def py_version(name):
        v = pypi[name][0]
        if not v:
            v = resolved.setdefault(name, pypi_latest(name))
        return v

    top = sorted(npm.items(), key=lambda kv: -kv[1][1])[:NPM_TOP]
    with open(HERE / "top-npm-1000.txt", "w") as f:
        f.write("# The 1,000 most downloaded npm packages (monthly downloads of the env listing),\n"
                "# each pinned to the listing's version. Written by tests/corpus/pin_lists.py.\n")
        for i, (name, (v, d)) in enumerate(top, 1):
            f.write(f"{name}@{v}  # rank {i}, {d} downloads/month\n")
    ptop = sorted(pypi.items(), key=lambda kv: kv[1][1])[:PYPI_TOP]
    with open(HERE / "top-pypi-300.txt", "w") as f:
        f.write("# The 300 most downloaded PyPI projects (rank of the env listing), each pinned;\n"
                "# fetched as pip would pick for CPython 3.11 on manylinux x86_64 (a wheel when\n"
                "# there is one, else the sdist). Written by tests/corpus/pin_lists.py.\n")
        for name, (_, rank) in ptop:
            f.write(f"{name}=={py_version(name)}  # rank {rank}\n")
    with open(HERE / "hard-npm.txt", "w") as f:
        f.write("# Hard cases, npm: packages that run code at install, build native code, download\n"
                "# binaries, ship bundled or minified code, spawn processes or read credentials for\n"
                "# a living. Pinned by tests/corpus/pin_lists.py from src/hard-npm.txt.\n")
        for line in open(HERE / "src" / "hard-npm.txt", encoding="utf-8"):
            name, why = line.rstrip("\n").split("\t", 1)
            f.write(f"{name}@{npm[name][0]}  # {why}\n")
    with open(HERE / "hard-pypi.txt", "w") as f:
        f.write("# Hard cases, PyPI: the same kinds (native builds from sdists marked `sdist`, which\n"
                "# run setup.py / the build backend in the sandbox). Pinned by\n"
                "# tests/corpus/pin_lists.py from src/hard-pypi.txt.\n")
        for line in open(HERE / "src" / "hard-pypi.txt", encoding="utf-8"):
            name, kind, why = line.rstrip("\n").split("\t", 2)
            spec = f"{name}=={py_version(name.lower())}"
            f.write(f"{spec}{' ' + kind if kind else ''}  # {why}\n")
    if resolved:
        print("resolved with the PyPI JSON API:", resolved)


if __name__ == "__main__":
    main()
