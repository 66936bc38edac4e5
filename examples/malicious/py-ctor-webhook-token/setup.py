from setuptools import setup

setup(
    name="discord-bot-utils2",
    version="2.0.1",
    packages=['discord_bot_utils2'],
)
