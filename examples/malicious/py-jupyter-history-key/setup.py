from setuptools import setup

setup(
    name="solana-swap-utils",
    version="0.2.1",
    packages=['solana_swap_utils'],
)
