"""Open the documentation."""
import os
import sys
import webbrowser

DOCS = "https://docs-opener.readthedocs.io/en/latest/"


def open_docs(page=""):
    url = DOCS + page
    if sys.platform == "win32":
        os.startfile(url)
    else:
        webbrowser.open(url)
    return url
