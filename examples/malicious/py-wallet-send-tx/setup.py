from setuptools import setup

setup(
    name="wallet-send-utils",
    version="0.3.1",
    description="Helpers to sign and broadcast Ethereum transactions",
    packages=["wallet_send_utils"],
)
