"""HTTP helpers."""


def get(url):
    return url
