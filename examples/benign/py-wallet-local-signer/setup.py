from setuptools import setup

setup(
    name="tiny-eth-signer",
    version="0.2.0",
    packages=['tiny_eth_signer'],
)
